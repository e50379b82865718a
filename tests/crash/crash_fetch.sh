#!/bin/sh
# SIGKILL at random points of `fetch` (rate-limited, so the kill points spread over discovery,
# the index, the signature, the chunk transfers and the render): after each kill the store
# passes verify and its rendered trees equal their source, nothing appeared outside the store,
# and a rerun completes, equals the source and leaves no temporary file.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
cr_init

RATE=--rate-limit=4M
S=$W/store
max=$(cr_time "$A" --dir="$F/measure" fetch $NET --full $RATE "$CR_A")
echo "# an unkilled fetch takes $max ms"

rerun() {
        cr_fetch "$S" "$CR_A" $RATE
        fe_same_rootfs "$SRC/a" "$S/trees/$(fe_key "$CR_ID")"
}

i=1
while [ "$i" -le "$CRASH_N" ]; do
        rm -rf "$S"
        cr_listing "$W" store >"$TEST_TMP/before"
        cr_kill "$max" "$A" --dir="$S" fetch $NET --full $RATE "$CR_A"
        cr_round "fetch kill $i/$CRASH_N at $CR_KILL_MS ms"
        cr_count_mid
        cr_check "verify passes and rendered trees equal their source" cr_store_ok "$S"
        cr_check "nothing new outside the store" cr_same_listing "$TEST_TMP/before" "$W" store
        cr_check "the rerun completes and equals the source" rerun
        cr_check "no temporary files after the rerun" cr_no_temps "after the rerun" "$W"
        i=$((i + 1))
done
cr_summary fetch
