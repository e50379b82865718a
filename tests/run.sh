#!/bin/sh
# Builds acfetch twice (plain, and with ASan+UBSan) and runs the whole test suite on both.
# Ends with one line "N passed, N failed[, N skipped]". Exit status: 0 only if nothing failed.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
passed=0 failed=0 skipped=0

run_suite() { # build-dir, meson setup options...
        dir=$1
        shift
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 ||
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

run_suite build
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
