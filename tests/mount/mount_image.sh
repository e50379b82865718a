#!/bin/sh
# `acfetch mount ID|NAME`: an image fetched by name (discovery, nginx, the image store) mounts by
# name and by ID prefix and shows its rootfs/ exactly (casync mtree, contents); with the store's
# chunks removed, the mount fetches them again from default.castr beside the image's index URL
# (the record's index_url), and fills <dir>/chunks so that `acfetch verify` passes afterwards.
# shellcheck disable=SC2086
set -eu
. "$SRCDIR/tests/http/lib.sh"
. "$SRCDIR/tests/http/fetch_lib.sh"
. "$SRCDIR/tests/fetch/lib.sh"
. "$SRCDIR/tests/mount/lib.sh"
mnt_init
fe_init

name=example.com/mnt/app
src=$SRC/app
fe_image "$src" "$name" 2048 version=1.0
index=$WWW/images.test/example.com/mnt/app-1.0.caidx
fe_publish "$index" "$src"
fe_page "$WWW/example.com" example.com 'https://images.test/{name}-{version}.caidx'
fe_nginx_start
D=$TEST_TMP/store
# (unsigned: signatures are not what this test is about)
acf --dir="$D" fetch $NET --insecure-options=image "$name:1.0"
expect_rc 0 "fetch"
id=$(cat "$OUT")
mkdir -p "$TEST_TMP/mnt"

for arg in "$name:1.0" "$(echo "$id" | cut -c1-20)"; do
        mnt_start "$TEST_TMP/m.log" --dir "$D" mount -f $NET "$arg" "$TEST_TMP/mnt"
        fe_same_tree "$src/rootfs" "$TEST_TMP/mnt" strict
        [ ! -e "$TEST_TMP/mnt/manifest" ] || fail "the mount shows the archive root, not rootfs/"
        mnt_stop
done

# Chunks gone from the store: the mount fetches what reads need, and the prefetch the rest.
rm -rf "$D/chunks"
log_mark
mnt_start "$TEST_TMP/m2.log" --dir "$D" mount -f $NET "$name:1.0" "$TEST_TMP/mnt"
(cd "$src/rootfs" && find . -type f -exec sha256sum {} + | sort) >"$TEST_TMP/src.sums"
(cd "$TEST_TMP/mnt" && find . -type f -exec sha256sum {} + | sort) >"$TEST_TMP/mnt.sums"
cmp "$TEST_TMP/src.sums" "$TEST_TMP/mnt.sums" || fail "contents differ after refetching"
i=0
while ! grep -q 'chunks are local now' "$TEST_TMP/m2.log" && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
done
grep -q 'chunks are local now' "$TEST_TMP/m2.log" || { cat "$TEST_TMP/m2.log" >&2; fail "prefetch"; }
mnt_stop
expect_ge "chunks fetched again from the image's store" "$(log_count "$CHUNK_RE")" 1
acf --dir="$D" verify
expect_rc 0 "verify after the mount refilled the store"
echo PASS
