#!/bin/sh
# What `acfetch fetch` takes besides names, as rkt does: an https:// URL of an index (http://
# with --insecure-options=http), a local index path, a local .aci file (imported), and
# `docker://` refused with one line. A URL
# or path never goes to discovery; the signature beside the index (+ .asc) must verify with a key
# trusted for the name the manifest gives (prefix-trusted here, so a key trusted for another name
# is refused); chunks come from default.castr beside the index or --store; a URL is revalidated
# with its ETag like a discovered index.
# shellcheck disable=SC2086 # $NET is an option list
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init

fe_image "$SRC/app" example.com/app 300 version=1.0
FILES=$WWW/example.com/files
fe_publish "$FILES/app.caidx" "$SRC/app"
# Published a while ago: the ETag of a document changed in its response's second is not kept.
touch -d "@$(($(date +%s) - 60))" "$FILES/app.caidx"
URL=https://example.com/files/app.caidx
FPR=$(cat "$FE_GNUPG/fpr")
fe_nginx_start
# The test key trusted for example.com/app only (not root.d), and for another name only.
key_for() { # CONFIG PREFIX
        mkdir -p "$1/trustedkeys/prefix.d/$2"
        cp "$FE_CONFIG/trustedkeys/root.d/$FPR" "$1/trustedkeys/prefix.d/$2/$FPR"
}
key_for "$TEST_TMP/conf-app" example.com/app
key_for "$TEST_TMP/conf-other" example.com/other
NOKEY=$(echo "$NET" | sed "s|--local-config=$FE_CONFIG||")
APP="$NOKEY --local-config=$TEST_TMP/conf-app"
OTHER="$NOKEY --local-config=$TEST_TMP/conf-other"

# ---------------------------------------------------------------- an https URL
D=$TEST_TMP/store
log_mark
acf --dir="$D" fetch $APP --full "$URL"
expect_rc 0 "fetch $URL"
expect_full_id
ID=$(cat "$OUT")
expect_err "signature verified"
expect_eq "discovery requests for a URL" "$(log_count 'ac-discovery')" 0
fe_same_rootfs "$SRC/app" "$D/trees/$(fe_key "$ID")"
acf --dir="$D" export "$ID" "$TEST_TMP/app.aci"
expect_rc 0 "export"
expect_eq "sha512sum of the export" \
        "sha512-$(sha512sum <"$TEST_TMP/app.aci" | cut -c1-64)" "$ID"
acf --dir="$D" image list --full
grep -q "example.com/app" "$OUT" || fail "image list lacks example.com/app: $(cat "$OUT")"
pass "fetch $URL: no discovery, signature verified for the manifest's name, tree equals the source"

log_mark
acf --dir="$D" fetch $APP --full --json "$URL"
expect_rc 0 "fetch $URL again"
expect_eq "changed" "$(json_val changed)" false
expect_eq "chunk requests" "$(log_count "$CHUNK_RE")" 0
expect_eq "index revalidated with If-None-Match" \
        "$(log_count '"GET /files/app.caidx HTTP/[0-9.]*" 304 .* inm=.')" 1
pass "the URL is revalidated with its ETag: 304, no chunk requested"

log_mark
acf --dir="$D" fetch $APP --full --pull-policy=never "$URL"
expect_rc 0 "fetch --pull-policy=never $URL"
expect_eq "ID from the store" "$(cat "$OUT")" "$ID"
expect_eq "requests with --pull-policy=never" "$(log_count 'GET')" 0
acf --dir="$TEST_TMP/empty" fetch $APP --pull-policy=never "$URL"
expect_rc 254 "fetch --pull-policy=never $URL into an empty store"
pass "--pull-policy=never: the image stored from that URL, no request"

D2=$TEST_TMP/store-other
acf --dir="$D2" fetch $OTHER "$URL"
expect_rc 254 "fetch $URL with the key trusted for another name"
expect_err "trusted for example.com/other only, not for example.com/app"
[ ! -d "$D2/trees" ] || [ -z "$(ls "$D2/trees")" ] || fail "a tree was stored"
acf --dir="$D2" fetch $NOKEY --local-config="$TEST_TMP/none" "$URL"
expect_rc 254 "fetch $URL without any trusted key"
expect_err "unknown key"
pass "the signer must be trusted for the name in the manifest"

cp "$FILES/app.caidx" "$FILES/unsigned.caidx"
acf --dir="$D2" fetch $APP "https://example.com/files/unsigned.caidx"
expect_rc 254 "fetch an unsigned index URL"
expect_err "no signature at https://example.com/files/unsigned.caidx.asc"
acf --dir="$D2" fetch $APP --insecure-options=image "https://example.com/files/unsigned.caidx"
expect_rc 0 "fetch an unsigned index URL with --insecure-options=image"
expect_eq "ID of the unsigned copy" "$(cat "$OUT")" "$(echo "$ID" | cut -c1-39)"
pass "an unsigned URL is refused, --insecure-options=image takes it"

acf --dir="$D2" fetch $APP "http://example.com/files/app.caidx"
expect_rc 254 "fetch an http URL"
expect_err "plain http needs --insecure-options=http"
acf --dir="$D2" fetch $APP --insecure-options=http --full "http://example.com/files/app.caidx"
expect_rc 0 "fetch an http URL with --insecure-options=http"
expect_eq "ID over http" "$(cat "$OUT")" "$ID"
acf --dir="$D2" fetch $APP "https://example.com/files/app.aci"
expect_rc 254 "fetch a URL that is no index"
expect_err "unsupported payload"
pass "http:// needs --insecure-options=http; a URL must name an index"

# ---------------------------------------------------------------- a local index
LOCAL=$TEST_TMP/local
cp -a "$FILES" "$LOCAL"
D3=$TEST_TMP/store-local
log_mark
acf --dir="$D3" fetch $APP --full "$LOCAL/app.caidx"
expect_rc 0 "fetch $LOCAL/app.caidx"
expect_eq "ID of the local index" "$(cat "$OUT")" "$ID"
expect_err "signature verified"
fe_same_rootfs "$SRC/app" "$D3/trees/$(fe_key "$ID")"
expect_eq "requests for a local index" "$(log_count 'GET')" 0
rm -rf "$D3"
(cd "$TEST_TMP" && "$A" --dir="$D3" fetch $APP --full local/app.caidx >"$OUT" 2>"$ERR") ||
        fail "fetch local/app.caidx (relative): $(cat "$ERR")"
expect_eq "ID of the relative path" "$(cat "$OUT")" "$ID"
pass "a local index (absolute and relative path): same ID, chunks from default.castr beside it"

mv "$LOCAL/default.castr" "$TEST_TMP/elsewhere.castr"
rm -rf "$D3"
acf --dir="$D3" fetch $APP "$LOCAL/app.caidx"
expect_rc 254 "fetch a local index without its store"
acf --dir="$D3" fetch $APP --store="$TEST_TMP/elsewhere.castr" --full "$LOCAL/app.caidx"
expect_rc 0 "fetch a local index with --store"
expect_eq "ID with --store" "$(cat "$OUT")" "$ID"
rm "$LOCAL/app.caidx.asc"
rm -rf "$D3"
acf --dir="$D3" fetch $APP --store="$TEST_TMP/elsewhere.castr" "$LOCAL/app.caidx"
expect_rc 254 "fetch a local index without its signature"
expect_err "no signature $LOCAL/app.caidx.asc"
pass "a local index: --store, and its signature at PATH.asc required"

# ---------------------------------------------------------------- docker://
for arg in docker://busybox docker:busybox; do
        acf --dir="$D2" fetch $APP "$arg"
        expect_rc 254 "fetch $arg"
        expect_eq "lines on stderr for $arg" "$(wc -l <"$ERR")" 1
        expect_err "Docker images are not supported"
done
acf --dir="$D2" mount docker://busybox "$TEST_TMP"
expect_rc 254 "mount docker://busybox"
expect_err "Docker images are not supported"
acf --dir="$D2" fetch $APP ftp://example.com/app.caidx
expect_rc 254 "fetch ftp://"
expect_err "unsupported URL scheme"
pass "docker:// is refused with one line, other schemes too"

# A .aci file (here the export, signed) is imported (tests/fetch/fetch_aci.sh has the rest).
fe_sign "$TEST_TMP/app.aci"
D4=$TEST_TMP/store-aci
acf --dir="$D4" fetch $APP --full "$TEST_TMP/app.aci"
expect_rc 0 "fetch a .aci file"
expect_eq "ID of the imported export" "$(cat "$OUT")" "$ID"
expect_err "signature verified"
pass "a .aci file is imported: the export of an image imports to the same ID"

finish
