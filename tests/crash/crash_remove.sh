#!/bin/sh
# SIGKILL at random points of `image rm` and `gc`: after each kill the store passes verify and
# every tree `image list` reports rendered equals its source (a tree still marked rendered but
# missing files would be used as it is), nothing appeared outside the store, the rerun
# completes (the image is gone; gc leaves exactly the kept image's chunks) and no temporary file
# remains.
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
# On disk: tmpfs lists a directory newest first, so `rendered` (written last) would be removed
# first and a half-removed tree would never look rendered there.
CR_ON_DISK=1
cr_init

# rm: a store holding a and b, rendered; a is removed. gc: the same store without a's image
# record, so that gc removes a's tree (a tree of no image) as well as its chunks.
P=$F/prepared
cr_prepare "$P"
cr_fetch "$P" "$CR_B"
KB=$(fe_key "$CR_ID")
PG=$F/prepared-gc
cp -a "$P" "$PG"
rm -rf "${PG:?}/images/$(fe_key "$ID")"
S=$W/store
# The shortest of three runs: one slow start would put most kill points after the end.
shortest() { # STORE COMMAND...
        _st_p=$1
        shift
        _st_min=
        for _st_i in 1 2 3; do
                rm -rf "$F/m"
                cp -a "$_st_p" "$F/m"
                _st_t=$(cr_time "$A" --dir="$F/m" "$@")
                [ -n "$_st_min" ] && [ "$_st_min" -le "$_st_t" ] || _st_min=$_st_t
        done
        echo "$_st_min"
}
max_rm=$(shortest "$P" image rm "$ID")
max_gc=$(shortest "$PG" gc --grace=0)
echo "# an unkilled image rm takes $max_rm ms, a gc $max_gc ms"

# A fetch of a after the kill (on a copy of the store) renders a tree equal to the source: a
# tree left half-removed but still marked rendered would be taken as it is.
fetch_after() {
        rm -rf "$F/after"
        cp -a "$S" "$F/after"
        cr_fetch "$F/after" "$CR_A"
        cr_store_ok "$F/after"
}
# After the rerun a is gone for good and b is whole.
a_gone() {
        acf --dir="$S" image list --full
        expect_rc 0 "image list"
        ! grep -q "$ID" "$OUT" || fail "image a is still listed"
        [ ! -e "$S/trees/$(fe_key "$ID")" ] || fail "a's tree is still there"
        cr_store_ok "$S"
        fe_same_rootfs "$SRC/b" "$S/trees/$KB"
}
rerun_rm() {
        if "$A" --dir="$S" image list --full | grep -q "$ID"; then
                acf --dir="$S" image rm "$ID"
                expect_rc 0 "image rm"
        fi
        a_gone
}
rerun_gc() {
        acf --dir="$S" gc --grace=0
        expect_rc 0 "gc"
        a_gone
        fe_chunks "$S" >"$TEST_TMP/chunks.got"
        fe_index_chunks "$CR_IX_B" >"$TEST_TMP/chunks.want"
        cmp -s "$TEST_TMP/chunks.got" "$TEST_TMP/chunks.want" ||
                fail "the chunk store after gc is not b's chunks"
}

for cmd in rm gc; do
        i=1
        while [ "$i" -le "$CRASH_N" ]; do
                rm -rf "$S"
                if [ "$cmd" = rm ]; then
                        cp -a "$P" "$S"
                        set -- image rm "$ID"
                        label="image rm"
                        max=$max_rm
                else
                        cp -a "$PG" "$S"
                        set -- gc --grace=0
                        label=gc
                        max=$max_gc
                fi
                cr_listing "$W" store >"$TEST_TMP/before"
                cr_kill "$max" "$A" --dir="$S" "$@"
                cr_round "$label kill $i/$CRASH_N at $CR_KILL_MS ms"
                cr_count_mid
                cr_check "verify passes and rendered trees equal their source" cr_store_ok "$S"
                cr_check "nothing new outside the store" cr_same_listing "$TEST_TMP/before" "$W" store
                cr_check "a fetch of the image after the kill equals the source" fetch_after
                cr_check "the rerun completes" "rerun_$cmd"
                cr_check "no temporary files after the rerun" cr_no_temps "after the rerun" "$W"
                i=$((i + 1))
        done
        cr_summary "$label"
done
