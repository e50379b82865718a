#!/bin/sh
# SIGKILL at random points of `render` and `export`: after each kill the store passes verify,
# nothing is left outside the store and DEST once another acfetch process has run (verify),
# DEST, if it exists, is complete (the tree equals the source; the file's SHA-512 is the image
# ID), the rerun succeeds and equals the source, and no temporary file remains.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
cr_init

P=$TEST_TMP/prepared
cr_fetch "$P" "$CR_A"
ID=$CR_ID
S=$W/store
cr_time max_render "$A" --dir="$P" render "$ID" "$TEST_TMP/measure.tree"
cr_time max_export "$A" --dir="$P" export "$ID" "$TEST_TMP/measure.aci"
echo "# an unkilled render takes $max_render ms, an export $max_export ms"

tree_complete() { [ ! -e "$W/out/tree" ] || fe_same_tree "$SRC/a" "$W/out/tree"; }
# The ID is "sha512-" and the first 64 hex digits of the file's SHA-512.
aci_sum() { echo "sha512-$(sha512sum "$1" | cut -c1-64)"; }
aci_complete() { [ ! -e "$W/out/a.aci" ] || expect_eq "SHA-512 of $W/out/a.aci" "$(aci_sum "$W/out/a.aci")" "$ID"; }
rerun_render() {
        rm -rf "$W/out/tree"
        acf --dir="$S" render "$ID" "$W/out/tree"
        expect_rc 0 "render"
        fe_same_tree "$SRC/a" "$W/out/tree"
}
rerun_export() {
        acf --dir="$S" export "$ID" "$W/out/a.aci"
        expect_rc 0 "export"
        expect_eq "SHA-512 of the export" "$(aci_sum "$W/out/a.aci")" "$ID"
}

for cmd in render export; do
        i=1
        while [ "$i" -le "$CRASH_N" ]; do
                rm -rf "$S" "$W/out"
                cp -a "$P" "$S"
                mkdir "$W/out"
                if [ "$cmd" = render ]; then
                        dest=out/tree max=$max_render
                else
                        dest=out/a.aci max=$max_export
                fi
                cr_listing "$W" store "$dest" >"$TEST_TMP/before"
                cr_kill "$max" "$A" --dir="$S" "$cmd" "$ID" "$W/$dest"
                cr_round "$cmd kill $i/$CRASH_N at $CR_KILL_MS ms"
                cr_count_mid
                cr_check "verify passes and rendered trees equal their source" cr_store_ok "$S"
                cr_check "nothing left outside the store and DEST once verify ran" \
                        cr_same_listing "$TEST_TMP/before" "$W" store "$dest"
                if [ "$cmd" = render ]; then
                        cr_check "an existing DEST equals the source" tree_complete
                        cr_check "the rerun succeeds and equals the source" rerun_render
                else
                        cr_check "an existing FILE's SHA-512 is the image ID" aci_complete
                        cr_check "the rerun succeeds and its SHA-512 is the image ID" rerun_export
                fi
                cr_check "no temporary files after the rerun" cr_no_temps "after the rerun" "$W"
                i=$((i + 1))
        done
        cr_summary "$cmd"
done
