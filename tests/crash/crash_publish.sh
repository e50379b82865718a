#!/bin/sh
# SIGKILL at random points of `publish --sign` into a document root: after each kill every index
# under its final name is complete (signed, and its chunks extract to the source), nothing
# appeared outside OUTDIR, the rerun succeeds and OUTDIR then serves an image that `fetch`
# verifies and renders equal to the source; no temporary file remains.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
# The published site is served as pub.example.com (a symlink in $WWW to OUTDIR).
FE_HOSTS=pub.example.com
cr_init
ln -s "$W/site" "$WWW/pub.example.com"
PUB=pub.example.com/app
GNUPGHOME=$FE_GNUPG
export GNUPGHOME
FPR=$(cat "$FE_GNUPG/fpr")

max=$(cr_time "$A" publish --sign="$FPR" "$SRC/a/rootfs" --name="$PUB" "$F/measure.site")
echo "# an unkilled publish takes $max ms"

# Every index under its final name has its signature and extracts, from the site's own store,
# to the source.
indexes_complete() {
        find "$W/site" -name '*.caidx' ! -name '.*' >"$TEST_TMP/indexes"
        while read -r ix; do
                [ -s "$ix.asc" ] || fail "$ix has no signature beside it"
                rm -rf "$F/x"
                acf --dir="$F/xstore" extract --store="$W/site/default.castr" "$ix" "$F/x"
                expect_rc 0 "extract $ix"
                fe_same_tree "$SRC/a/rootfs" "$F/x/rootfs" strict
        done <"$TEST_TMP/indexes"
}
rerun() {
        acf publish --sign="$FPR" "$SRC/a/rootfs" --name="$PUB" "$W/site"
        expect_rc 0 "publish"
        rm -rf "$F/fstore"
        cr_fetch "$F/fstore" "$PUB"
        fe_same_tree "$SRC/a/rootfs" "$F/fstore/trees/$(fe_key "$CR_ID")/rootfs" strict
}

i=1
while [ "$i" -le "$CRASH_N" ]; do
        rm -rf "$W/site"
        cr_listing "$W" site >"$TEST_TMP/before"
        cr_kill "$max" "$A" publish --sign="$FPR" "$SRC/a/rootfs" --name="$PUB" "$W/site"
        cr_round "publish kill $i/$CRASH_N at $CR_KILL_MS ms"
        cr_count_mid
        cr_check "indexes under their final names are complete" indexes_complete
        cr_check "nothing new outside OUTDIR" cr_same_listing "$TEST_TMP/before" "$W" site
        cr_check "the rerun succeeds and OUTDIR serves the image" rerun
        cr_check "no temporary files after the rerun" cr_no_temps "after the rerun" "$W"
        i=$((i + 1))
done
cr_summary publish
