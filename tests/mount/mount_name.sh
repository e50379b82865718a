#!/bin/sh
# `acfetch mount NAME MOUNTPOINT` for an image the store does not have yet: discovery, the index
# and its signature as fetch checks them, then the manifest read from the archive's first entries;
# a refused image (unsigned, signed by a key not trusted for the name, a manifest naming another
# image) fails before anything is mounted, with fetch's one-line reason and exit status 254. A
# good one mounts at once (the mount equals the image), and once the prefetch completes it is
# recorded in the store as fetch records it: same ID, `image list` shows it, `render` downloads
# nothing, a later `fetch` revalidates it (304). In the foreground the ID is printed once recorded;
# a daemon exits 0 once mounted and logs the ID. Stopped before the prefetch completes, nothing is
# recorded. --pull-policy=never still needs a stored image.
# shellcheck disable=SC2086
set -eu
. "$SRCDIR/tests/http/lib.sh"
. "$SRCDIR/tests/http/fetch_lib.sh"
. "$SRCDIR/tests/fetch/lib.sh"
. "$SRCDIR/tests/mount/lib.sh"
mnt_init
fe_init

IMG=$WWW/images.test/example.com/mn
name=example.com/mn/app
fe_image "$SRC/app" "$name" 3000 version=1.0
fe_publish "$IMG/app-1.0.caidx" "$SRC/app"
# Published a while ago: the ETag of a document changed in its response's second is not kept.
touch -d "@$(($(date +%s) - 60))" "$IMG/app-1.0.caidx"
# Unsigned: the same image without its .asc.
fe_image "$SRC/unsigned" example.com/mn/unsigned 100 version=1.0
fe_publish "$IMG/unsigned-1.0.caidx" "$SRC/unsigned"
rm "$IMG/unsigned-1.0.caidx.asc"
# Signed (root.d trusts the key for every name), but its manifest names another image.
fe_image "$SRC/liar" example.com/mn/other 100 version=1.0
fe_publish "$IMG/liar-1.0.caidx" "$SRC/liar"
fe_page "$WWW/example.com" example.com 'https://images.test/{name}-{version}.caidx'
fe_nginx_start
FPR=$(cat "$FE_GNUPG/fpr")
# The test key trusted for another name only.
mkdir -p "$TEST_TMP/conf-other/trustedkeys/prefix.d/example.com/other"
cp "$FE_CONFIG/trustedkeys/root.d/$FPR" "$TEST_TMP/conf-other/trustedkeys/prefix.d/example.com/other/"
OTHER="$(echo "$NET" | sed "s|--local-config=$FE_CONFIG||") --local-config=$TEST_TMP/conf-other"
MP=$TEST_TMP/mnt
mkdir -p "$MP"

# The error lines of $ERR (without the progress line's carriage returns).
errors() { grep 'error:' "$ERR" | tr -d '\r'; }

# refused WHAT NAME OPTIONS...: mount is refused as fetch refuses the same image.
refused() {
        _what=$1
        _name=$2
        shift 2
        rm -rf "$TEST_TMP/fetch-store" "$TEST_TMP/mount-store"
        acf --dir="$TEST_TMP/fetch-store" fetch "$@" "$_name"
        expect_rc 254 "fetch of the $_what image"
        errors >"$TEST_TMP/fetch.err"
        [ -s "$TEST_TMP/fetch.err" ] || fail "fetch of the $_what image gave no error line"
        log_mark
        acf --dir="$TEST_TMP/mount-store" mount "$@" "$_name" "$MP"
        expect_rc 254 "mount of the $_what image"
        ! is_mounted "$MP" || { mnt_umount "$MP"; fail "the $_what image was mounted"; }
        errors >"$TEST_TMP/mount.err"
        cmp -s "$TEST_TMP/fetch.err" "$TEST_TMP/mount.err" ||
                fail "mount's reason differs from fetch's: $(cat "$TEST_TMP/mount.err") vs $(cat "$TEST_TMP/fetch.err")"
        [ ! -s "$OUT" ] || fail "mount of the $_what image printed $(cat "$OUT")"
        [ -z "$(ls "$TEST_TMP/mount-store/images" 2>/dev/null)" ] || fail "the $_what image was stored"
}

refused unsigned example.com/mn/unsigned:1.0 $NET
grep -q 'refusing the unsigned image' "$TEST_TMP/mount.err" || fail "unsigned: $(cat "$TEST_TMP/mount.err")"
expect_eq "chunk requests for the unsigned image" "$(log_count "$CHUNK_RE")" 0
refused "wrongly signed" "$name:1.0" $OTHER
refused "misnamed" example.com/mn/liar:1.0 $NET
grep -q 'refusing the image from' "$TEST_TMP/mount.err" || fail "misnamed: $(cat "$TEST_TMP/mount.err")"
pass "unsigned, wrongly signed and misnamed images are refused before mounting, as fetch refuses them"

# --pull-policy=never: only the store.
acf --dir="$TEST_TMP/empty" mount $NET --pull-policy=never "$name:1.0" "$MP"
expect_rc 254 "mount --pull-policy=never from an empty store"
expect_err "not in the store"
! is_mounted "$MP" || fail "mounted with --pull-policy=never"
pass "--pull-policy=never with an empty store fails"

# The reference: fetch's ID of the image.
acf --dir="$TEST_TMP/ref" fetch $NET --no-render "$name:1.0"
expect_rc 0 "fetch into the reference store"
ID=$(cat "$OUT")

# A first mount in the foreground: the mount equals the image; the ID once recorded.
D=$TEST_TMP/store
mnt_start "$TEST_TMP/fg.log" --dir "$D" mount -f $NET "$name:1.0" "$MP" >"$TEST_TMP/fg.out"
fe_same_tree "$SRC/app/rootfs" "$MP" strict
[ ! -e "$MP/manifest" ] || fail "the mount shows the archive root, not rootfs/"
i=0
while ! grep -q 'stored as image' "$TEST_TMP/fg.log" && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
done
grep -q 'stored as image' "$TEST_TMP/fg.log" || { cat "$TEST_TMP/fg.log" >&2; fail "not recorded"; }
grep -q 'signature verified' "$TEST_TMP/fg.log" || fail "no 'signature verified' in the log"
expect_eq "stdout of the foreground mount" "$(cat "$TEST_TMP/fg.out")" "$ID"
mnt_stop
acf --dir="$D" image list
grep -q "$name" "$OUT" || fail "image list lacks $name: $(cat "$OUT")"
log_mark
acf --dir="$D" render "$name:1.0" "$TEST_TMP/rendered"
expect_rc 0 "render after the mount"
expect_eq "chunk requests of render" "$(log_count "$CHUNK_RE")" 0
fe_same_tree "$SRC/app/rootfs" "$TEST_TMP/rendered/rootfs" strict
acf --dir="$D" fetch $NET --no-render "$name:1.0"
expect_rc 0 "fetch after the mount"
expect_eq "ID fetched after the mount" "$(cat "$OUT")" "$ID"
expect_eq "chunk requests of the fetch" "$(log_count "$CHUNK_RE")" 0
expect_eq "index revalidated by ETag" \
        "$(log_count '"GET /example.com/mn/app-1.0.caidx HTTP/[0-9.]*" 304 .* inm=.')" 1
acf --dir="$D" verify
expect_rc 0 "verify after the mount"
pass "a first mount by name shows the image, records it once prefetched (ID on stdout)"

# Stored now: a daemon mount prints its ID once mounted.
acf --dir="$D" mount $NET "$name:1.0" "$MP"
MNT_ALL="$MNT_ALL $MP"
expect_rc 0 "daemon mount of the stored image"
is_mounted "$MP" || fail "not mounted"
expect_eq "stdout of the daemon mount of a stored image" "$(cat "$OUT")" "$ID"
mnt_umount "$MP"

# A first mount as a daemon: exits 0 once mounted, prints nothing, logs the ID when recorded.
acf --dir="$TEST_TMP/store2" mount $NET --log="$TEST_TMP/d.log" "$name:1.0" "$MP"
expect_rc 0 "daemon mount by name"
is_mounted "$MP" || fail "not mounted"
[ ! -s "$OUT" ] || fail "the daemon printed $(cat "$OUT") before the image was recorded"
fe_same_tree "$SRC/app/rootfs" "$MP" strict
wait_until grep -q 'stored as image' "$TEST_TMP/d.log" ||
        { sleep 20; grep -q 'stored as image' "$TEST_TMP/d.log"; } ||
        { cat "$TEST_TMP/d.log" >&2; fail "the daemon did not record the image"; }
grep -q "stored as image $ID" "$TEST_TMP/d.log" || fail "the log lacks the ID: $(cat "$TEST_TMP/d.log")"
mnt_umount "$MP"
# The daemon ends with the unmount; its log must hold no sanitizer report.
daemon_running() { pgrep -f -- "--log=$TEST_TMP/d.log" >/dev/null; }
i=0
while daemon_running && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
done
! daemon_running || fail "the daemon did not exit after the unmount"
! grep -q 'Sanitizer\|runtime error' "$TEST_TMP/d.log" || { cat "$TEST_TMP/d.log" >&2; fail "sanitizer report from the daemon"; }
acf --dir="$TEST_TMP/store2" image list
grep -q "$name" "$OUT" || fail "image list lacks $name after the daemon mount"
pass "a daemon mount by name returns once mounted and logs the ID when recorded"

# Stopped before the prefetch completes (here: no prefetch at all): nothing is recorded, but what
# reads fetched stays in the store.
D3=$TEST_TMP/store3
mnt_start "$TEST_TMP/np.log" --dir "$D3" mount -f --no-prefetch $NET "$name:1.0" "$MP" \
        >"$TEST_TMP/np.out"
fe_same_tree "$SRC/app/rootfs" "$MP" strict
mnt_stop
[ ! -s "$TEST_TMP/np.out" ] || fail "an ID was printed without a record: $(cat "$TEST_TMP/np.out")"
[ -z "$(ls "$D3/images" 2>/dev/null)" ] || fail "recorded without a complete prefetch"
expect_ge "chunks kept from the reads" "$(fe_chunks "$D3" | wc -l)" 1
pass "a mount stopped before its prefetch completes records nothing, keeps the chunks"
echo PASS
