#!/bin/sh
# A registry as a chunk store: an image is published to Debian's docker-registry (over https,
# htpasswd authentication, rkt's dockerAuth credentials in auth.d) with `publish --to oci://`, its
# page served by nginx; fetched (and mounted) by name the index, signature and chunks come from the
# registry; a --store oci:// serves an index from elsewhere; without credentials a clear error; a
# second version uploads and downloads only the chunks that changed; the registry's garbage
# collector keeps every chunk; a chunk blob changed in the registry is refused.
# shellcheck disable=SC2086 # $NET is an option list
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
# shellcheck source=tests/oci/registry_lib.sh
. "$SRCDIR/tests/oci/registry_lib.sh"
require_cmd docker-registry htpasswd python3
fe_init
fe_signing_key

OUTDIR=$WWW/example.com
mkdir -p "$OUTDIR"
registry_htpasswd "$TEST_TMP/htpasswd" pusher 's3cret-Passw0rd'
registry_start main "auth:
  htpasswd:
    realm: acfetch-test
    path: $TEST_TMP/htpasswd"
TO=oci://$REGISTRY_HOST/acfetch/app
mkdir -p "$FE_CONFIG/auth.d"
cat >"$FE_CONFIG/auth.d/registry.json" <<EOF
{"rktKind": "dockerAuth", "rktVersion": "v1", "registries": ["$REGISTRY_HOST"],
 "credentials": {"user": "pusher", "password": "s3cret-Passw0rd"}}
EOF

# ---------------------------------------------------------------- publish
mkdir -p "$SRC/app/etc" "$SRC/app/bin"
head -c 3000000 /dev/urandom >"$SRC/app/bin/big"
echo one >"$SRC/app/etc/version"
ln -s ../bin/big "$SRC/app/etc/link"
acf --local-config="$FE_CONFIG" publish "$SRC/app" --name example.com/app --label version=1.0 --sign "$FPR" \
        --pubkeys https://example.com/keys.asc "$OUTDIR" --to "$TO" --ca-cert "$HTTP_CA"
expect_rc 0 "publish --to $TO"
expect_eq "printed URL" "$(cat "$OUT")" "$TO:1.0-linux-$HOST_ARCH"
grep -q "ac-discovery.*oci://$REGISTRY_HOST/acfetch/app:{version}-{os}-{arch}" \
        "$OUTDIR/app/index.html" || fail "page template: $(cat "$OUTDIR/app/index.html")"
for t in "1.0-linux-$HOST_ARCH" "latest-linux-$HOST_ARCH"; do
        curl -sf -u pusher:s3cret-Passw0rd --cacert "$HTTP_CA" \
                -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
                "https://$REGISTRY_HOST/v2/acfetch/app/manifests/$t" >"$TEST_TMP/m.json" ||
                fail "tag $t missing"
done
N_CHUNKS=$(fe_index_chunks "$OUTDIR/app/1.0/linux-$HOST_ARCH.caidx" | sort -u | wc -l)
N_LAYERS=$(python3 -c 'import json,sys; print(sum(1 for l in json.load(open(sys.argv[1]))["layers"] if l["mediaType"] == "application/vnd.casync.cacnk.v1"))' "$TEST_TMP/m.json")
expect_eq "chunk layers in the manifest" "$N_LAYERS" "$N_CHUNKS"
pass "published: tags 1.0 and latest, one layer per chunk ($N_CHUNKS), page points at the registry"

# ---------------------------------------------------------------- fetched by name
fe_nginx_start
D=$TEST_TMP/store
acf --dir="$D" fetch $NET example.com/app:1.0 
expect_rc 0 "fetch example.com/app:1.0"
ID=$(cat "$OUT")
acf --dir="$D" render "$ID" "$TEST_TMP/r1"
expect_rc 0 "render"
fe_same_tree "$SRC/app" "$TEST_TMP/r1/rootfs"
expect_eq "chunk requests to nginx" "$(http_log_count '\.cacnk' fe)" 0
expect_eq "index requests to nginx" "$(http_log_count '\.caidx' fe)" 0
pass "fetched by name: page from nginx, index, signature and chunks from the registry"

# ---------------------------------------------------------------- an index from elsewhere
# The index is served by nginx; --store names the repository without a tag: the image is found
# by the index's digest.
D2=$TEST_TMP/store2
acf --dir="$D2" extract $NET --store "$TO" \
        "https://example.com/app/1.0/linux-$HOST_ARCH.caidx" "$TEST_TMP/x2"
expect_rc 0 "extract --store $TO"
fe_same_tree "$SRC/app" "$TEST_TMP/x2/rootfs"
expect_eq "chunk requests to nginx" "$(http_log_count '\.cacnk' fe)" 0
# The index URL itself may be the registry's.
acf --dir="$TEST_TMP/store3" extract $NET "$TO:1.0-linux-$HOST_ARCH" "$TEST_TMP/x3"
expect_rc 0 "extract $TO:1.0-linux-$HOST_ARCH"
fe_same_tree "$SRC/app" "$TEST_TMP/x3/rootfs"
pass "extract: --store oci://REPOSITORY finds the image by its index; an oci:// index URL"

# ---------------------------------------------------------------- mounted by name
# The lazy mount reads the same way: index, signature and chunks from the registry.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
        MP=$TEST_TMP/mnt
        mkdir -p "$MP"
        at_exit "fusermount3 -u '$MP' 2>/dev/null || true"
        acf --dir="$TEST_TMP/store-m" mount $NET --log="$TEST_TMP/mount.log" example.com/app:1.0 "$MP"
        expect_rc 0 "mount example.com/app:1.0"
        fe_same_tree "$SRC/app" "$MP"
        fusermount3 -u "$MP" || fail "unmount"
        pass "mounted by name from the registry"
fi

# ---------------------------------------------------------------- refused
mv "$FE_CONFIG/auth.d/registry.json" "$TEST_TMP/registry.json"
acf --dir="$TEST_TMP/store4" fetch $NET example.com/app:1.0
expect_rc 254 "fetch without credentials"
grep -q "401.*dockerAuth" "$ERR" || fail "no 401 and hint named: $(cat "$ERR")"
[ "$(wc -l <"$ERR")" -le 3 ] || fail "more than a short message: $(cat "$ERR")"
acf --dir="$TEST_TMP/store4" extract $NET "oci+http://$REGISTRY_HOST/acfetch/app:1.0-linux-$HOST_ARCH" \
        "$TEST_TMP/x4"
expect_rc 254 "plain http without --insecure-options=http"
grep -q "insecure-options=http" "$ERR" || fail "no hint: $(cat "$ERR")"
# publish refuses it before anything is written.
acf --local-config="$FE_CONFIG" publish "$SRC/app" --name example.com/app --label version=1.0 \
        "$TEST_TMP/out-http" --to "oci+http://$REGISTRY_HOST/acfetch/app"
expect_rc 254 "publish --to oci+http:// without --insecure-options=http"
[ ! -e "$TEST_TMP/out-http" ] || fail "publish wrote OUTDIR before refusing plain http"
mv "$TEST_TMP/registry.json" "$FE_CONFIG/auth.d/registry.json"
acf --dir="$TEST_TMP/store4" extract $NET "$TO:9.9-linux-$HOST_ARCH" "$TEST_TMP/x4"
expect_rc 254 "a tag that is not there"
grep -q "9.9-linux-$HOST_ARCH.*not found" "$ERR" || fail "missing tag: $(cat "$ERR")"
pass "refused: no credentials (401), plain http, a missing tag"

# ---------------------------------------------------------------- a second version
echo two >"$SRC/app/etc/version"
head -c 200000 /dev/urandom >"$SRC/app/bin/new"
acf --local-config="$FE_CONFIG" publish "$SRC/app" --name example.com/app --label version=2.0 \
        --sign "$FPR" --pubkeys https://example.com/keys.asc "$OUTDIR" --to "$TO" \
        --ca-cert "$HTTP_CA"
expect_rc 0 "publish 2.0"
SENT=$(sed -n 's/.*: \([0-9]*\) blobs uploaded.*, \([0-9]*\) already there/\1 \2/p' "$ERR")
NEW=$(fe_index_chunks "$OUTDIR/app/2.0/linux-$HOST_ARCH.caidx" | sort -u >"$TEST_TMP/c2"
        fe_index_chunks "$OUTDIR/app/1.0/linux-$HOST_ARCH.caidx" | sort -u >"$TEST_TMP/c1"
        comm -23 "$TEST_TMP/c2" "$TEST_TMP/c1" | wc -l)
# The new chunks, the index, its signature and the config are new blobs.
expect_eq "blobs uploaded" "${SENT% *}" "$((NEW + 3))"
nginx_sync fe
acf --dir="$D" fetch $NET example.com/app:2.0
expect_rc 0 "fetch 2.0"
grep -q "downloaded .*: $NEW of $(fe_index_chunks "$OUTDIR/app/2.0/linux-$HOST_ARCH.caidx" | sort -u | wc -l) chunks" "$ERR" ||
        fail "2.0 downloaded more than its $NEW new chunks: $(cat "$ERR")"
acf --dir="$D" render "$(cat "$OUT")" "$TEST_TMP/r2"
fe_same_tree "$SRC/app" "$TEST_TMP/r2/rootfs"
pass "2.0: $NEW new chunks uploaded ($SENT uploaded/present), fetched over 1.0's store"

# ---------------------------------------------------------------- garbage collection
# The registry's collector deletes blobs no manifest references: every chunk must survive.
registry_gc main
grep -q "blobs marked, 0 blobs and 0 manifests eligible for deletion" "$REGISTRY_DIR/gc.log" ||
        fail "gc deletes blobs: $(grep eligible "$REGISTRY_DIR/gc.log" | head -n 3)"
acf --dir="$TEST_TMP/store5" fetch $NET example.com/app:1.0
expect_rc 0 "fetch 1.0 after gc"
acf --dir="$TEST_TMP/store5" fetch $NET example.com/app:2.0
expect_rc 0 "fetch 2.0 after gc"
pass "registry garbage-collect keeps every chunk of both versions"

# ---------------------------------------------------------------- a corrupt blob
# The registry serves what its storage holds: a chunk changed there is refused by its ID.
C=$(head -n 1 "$TEST_TMP/c1")
DIGEST=$(python3 -c 'import json,sys
for l in json.load(open(sys.argv[1]))["layers"]:
    if l.get("annotations", {}).get("org.casync.chunk.id") == sys.argv[2]: print(l["digest"][7:])' \
        "$TEST_TMP/m.json" "$C")
[ -n "$DIGEST" ] || fail "chunk $C not in the manifest"
BLOB=$(find "$REGISTRY_DIR/data" -path "*/blobs/sha256/*/$DIGEST/data")
[ -f "$BLOB" ] || fail "blob $DIGEST not in the registry's storage"
printf 'X' | dd of="$BLOB" bs=1 seek=20 conv=notrunc 2>/dev/null
acf --dir="$TEST_TMP/store6" fetch $NET example.com/app:1.0
expect_rc 254 "fetch with a corrupt chunk blob"
grep -q "chunk $C" "$ERR" || fail "the corrupt chunk is not named: $(cat "$ERR")"
pass "a chunk blob changed in the registry's storage is refused"
