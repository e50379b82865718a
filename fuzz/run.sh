#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs the fuzz targets, one at a time:
#   fuzz/run.sh SECONDS [TARGET...]        (TARGET: index, catar_decode, ...; default all)
# For each target: every input of fuzz/regressions/TARGET/ once, then SECONDS of fuzzing from
# the seed corpus (made by fuzz/make-corpus.sh on first use) and the corpus earlier runs grew.
# Prints one line per target (regressions, execs, cov, ft, corpus size, result) and ends with
# "N passed, N failed"; exits non-zero on any crash, leak, timeout or out-of-memory, keeping
# the input that did it in BUILD/fuzz-artifacts/TARGET/ (run the target on it to see why).
#
# BUILD is $FUZZ_BUILD (default build-fuzz): set up with clang, -Dfuzz=true and ASan+UBSan if
# it does not exist, and brought up to date. Seeds go to BUILD/fuzz-seeds, the grown corpus to
# BUILD/fuzz-corpus. FUZZ_JOBS>1 runs that many fuzzing processes per target (libFuzzer -fork).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
[ $# -ge 1 ] || {
        echo "usage: $0 SECONDS [TARGET...]" >&2
        exit 2
}
seconds=$1
shift
build=${FUZZ_BUILD:-build-fuzz}
# Default: every target, fuzz/fuzz_TARGET.c (fuzz_files.c is their shared helper).
all=$(for f in fuzz/fuzz_*.c; do
        t=$(basename "$f" .c)
        [ "$t" = fuzz_files ] || echo "${t#fuzz_}"
done)
targets=${*:-$all}
# Far above what any target needs for one input; an input that needs more is a finding.
# UBSan only reports and goes on by default: stop, so that libFuzzer keeps the input.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
rss_mb=2048
timeout_s=10

if [ ! -f "$build/build.ninja" ]; then
        CC=clang meson setup "$build" -Dwerror=true -Dfuzz=true -Db_sanitize=address,undefined \
                -Db_lundef=false -Dbuildtype=debugoptimized >"$build.setup.log" 2>&1 || {
                cat "$build.setup.log"
                exit 1
        }
fi
ninja -C "$build" $(for t in $targets; do echo "fuzz/fuzz_$t"; done) >/dev/null || {
        echo "fuzz: build failed (ninja -C $build)" >&2
        exit 1
}
seeds=$build/fuzz-seeds
if [ ! -d "$seeds" ]; then
        fuzz/make-corpus.sh "$seeds.tmp" >"$build/fuzz-seeds.log" 2>&1 || {
                cat "$build/fuzz-seeds.log"
                exit 1
        }
        mv "$seeds.tmp" "$seeds"
fi

# A target's dictionary: fuzz/TARGET.dict, else the one of its family (catar_* → catar.dict).
dict_of() {
        for d in "fuzz/$1.dict" "fuzz/${1%%_*}.dict"; do
                [ -f "$d" ] && {
                        echo "-dict=$d"
                        return
                }
        done
}

passed=0 failed=0
for t in $targets; do
        bin=$build/fuzz/fuzz_$t
        art=$build/fuzz-artifacts/$t
        corpus=$build/fuzz-corpus/$t
        mkdir -p "$art" "$corpus"
        log=$build/fuzz-$t.log
        result=ok

        reg=0
        if [ -d "fuzz/regressions/$t" ]; then
                set -- fuzz/regressions/"$t"/*
                reg=$#
                if ! "$bin" -close_fd_mask=3 -rss_limit_mb=$rss_mb -timeout=$timeout_s \
                        "$@" >"$log" 2>&1; then
                        result="FAILED on a regression input (see $log)"
                fi
        fi

        if [ "$result" = ok ]; then
                fork=
                [ "${FUZZ_JOBS:-1}" -gt 1 ] && fork="-fork=$FUZZ_JOBS"
                # shellcheck disable=SC2046
                "$bin" -max_total_time="$seconds" -rss_limit_mb=$rss_mb -timeout=$timeout_s \
                        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$art/" $fork \
                        $(dict_of "$t") "$corpus" "$seeds/$t" >"$log" 2>&1
                rc=$?
                if [ $rc -ne 0 ]; then
                        why=$(grep -o -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)[^(]*|runtime error: .*|deadly signal|timeout|out-of-memory' "$log" | head -n 1)
                        result="FAILED: ${why:-exit status $rc} (input kept in $art/, log $log)"
                fi
        fi
        # The last status line: "#N DONE cov: C ft: F corp: N/SIZE ...".
        line=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        [ -n "$execs" ] || execs=$(echo "$line" | sed -n 's/^#\([0-9]*\).*/\1/p')
        cov=$(echo "$line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
        ft=$(echo "$line" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
        corp=$(echo "$line" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
        printf 'fuzz %-18s regressions %s, %ss, execs %s, cov %s, ft %s, corpus %s: %s\n' "$t" \
                "$reg" "$seconds" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
        if [ "$result" = ok ]; then
                passed=$((passed + 1))
        else
                failed=$((failed + 1))
        fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
