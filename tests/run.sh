#!/bin/sh
# Builds acfetch twice (plain with gcc, and with ASan+UBSan with clang, whose UBSan catches more
# than gcc's) and runs the whole test suite on both, then every fuzz target briefly
# (fuzz/run.sh: its regression inputs, then FUZZ_SECONDS of fuzzing each, default 20).
# Ends with one line "N passed, N failed[, N skipped]". Exit status: 0 only if nothing failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
passed=0 failed=0 skipped=0

run_suite() { # compiler, build-dir, meson setup options...
        cc=$1 dir=$2
        shift 2
        # A directory set up earlier with another compiler is made again.
        if [ -f "$dir/build.ninja" ] && ! grep -q "^C compiler for the host machine: $cc " \
                "$dir/meson-logs/meson-log.txt"; then
                rm -rf "$dir"
        fi
        if [ ! -f "$dir/build.ninja" ]; then
                CC=$cc meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 ||
                        { cat "$dir.setup.log"; failed=$((failed + 1)); return; }
        fi
        ninja -C "$dir" || { failed=$((failed + 1)); return; }
        meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir.test.log" 2>&1
        cat "$dir.test.log"
        ok=$(sed -n 's/^Ok:[[:space:]]*\([0-9]*\).*/\1/p' "$dir.test.log" | tail -n 1)
        ko=$(sed -n 's/^Fail:[[:space:]]*\([0-9]*\).*/\1/p' "$dir.test.log" | tail -n 1)
        to=$(sed -n 's/^Timeout:[[:space:]]*\([0-9]*\).*/\1/p' "$dir.test.log" | tail -n 1)
        sk=$(sed -n 's/^Skipped:[[:space:]]*\([0-9]*\).*/\1/p' "$dir.test.log" | tail -n 1)
        if [ -z "$ok" ]; then
                failed=$((failed + 1))
                return
        fi
        passed=$((passed + ok))
        failed=$((failed + ${ko:-0} + ${to:-0}))
        skipped=$((skipped + ${sk:-0}))
}

run_suite gcc build
run_suite clang build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

# Each fuzz target counts as one test: its regressions and a short run found nothing.
fuzz/run.sh "${FUZZ_SECONDS:-20}" >build-fuzz.test.log 2>&1
cat build-fuzz.test.log
fz=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' build-fuzz.test.log | tail -n 1)
if [ -z "$fz" ]; then
        failed=$((failed + 1))
else
        passed=$((passed + ${fz% *}))
        failed=$((failed + ${fz#* }))
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
