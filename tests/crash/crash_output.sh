#!/bin/sh
# SIGKILL at random points of `render` and `export`: after each kill the store passes verify,
# nothing is left outside the store and DEST but DEST's own temporary siblings (.DEST.acfetch-*:
# only the next render or export to DEST knows to reclaim them, checked after the rerun),
# DEST, if it exists, is complete (the tree equals the source; the file's SHA-512 is the image
# ID), the rerun succeeds and equals the source, and no temporary file remains.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
cr_init

P=$F/prepared
cr_prepare "$P"
S=$W/store
max_render=$(cr_time "$A" --dir="$P" render "$ID" "$F/measure.tree")
max_export=$(cr_time "$A" --dir="$P" export "$ID" "$F/measure.aci")
echo "# an unkilled render takes $max_render ms, an export $max_export ms"

# DEST, if the kill left it, is complete.
complete() { [ ! -e "$W/$dest" ] || cr_output_ok "$cmd" "$W/$dest"; }
rerun() {
        rm -rf "${W:?}/$dest"
        acf --dir="$S" "$cmd" "$ID" "$W/$dest"
        expect_rc 0 "$cmd"
        cr_output_ok "$cmd" "$W/$dest"
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
                temps="$(dirname "$dest")/.$(basename "$dest").acfetch-*"
                cr_listing "$W" store "$dest" "$temps" >"$TEST_TMP/before"
                cr_kill "$max" "$A" --dir="$S" "$cmd" "$ID" "$W/$dest"
                cr_round "$cmd kill $i/$CRASH_N at $CR_KILL_MS ms"
                cr_count_mid
                cr_check "verify passes and rendered trees equal their source" cr_store_ok "$S"
                cr_check "nothing left outside the store, DEST and its temporary siblings" \
                        cr_same_listing "$TEST_TMP/before" "$W" store "$dest" "$temps"
                cr_check "an existing DEST is complete" complete
                cr_check "the rerun succeeds and equals the source" rerun
                cr_check "no temporary files after the rerun" cr_no_temps "after the rerun" "$W"
                i=$((i + 1))
        done
        cr_summary "$cmd"
done
