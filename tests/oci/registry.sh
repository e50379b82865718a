#!/bin/sh
# A registry as a chunk store: an image is published to Debian's docker-registry (over https,
# htpasswd authentication) with `publish --to oci://`, its page served by nginx; fetched by name
# the index, signature and chunks come from the registry; a --store oci:// serves an index from
# elsewhere; without credentials a clear error; a second version uploads and downloads only the
# chunks that changed; the registry's garbage collector keeps every chunk.
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
{"rktKind": "auth", "rktVersion": "v1", "domains": ["$REGISTRY_HOST"], "type": "basic",
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
