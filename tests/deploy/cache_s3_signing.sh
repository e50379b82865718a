#!/bin/sh
# deploy/nginx/acfetch-cache-s3.conf with acfetch-s3-sign.js, as shipped (placeholders replaced
# with sed), in front of a PRIVATE bucket on a real radosgw (tests/ceph_lib.sh) that holds an
# image's index and chunk store:
#   - acfetch extract through the cache, with no credentials, succeeds and gives the tree;
#   - the same straight from radosgw, anonymously, is refused (403), so the cache's signature
#     is what lets it through;
#   - four concurrent extracts through the cache: each chunk reaches radosgw once (the
#     cache's log: a chunk request with an upstream address went to radosgw);
#   - a missing chunk is a 404 through the cache, not cached; HEAD works;
#   - the key may come from nginx's environment instead of the file;
#   - the key and the signatures appear in none of the cache's logs.
# DEPLOY_CACHE_CONF and DEPLOY_SIGN_JS (test hooks) replace the shipped files.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/ceph_lib.sh
. "$SRCDIR/tests/ceph_lib.sh"
# shellcheck source=tests/deploy/lib.sh
. "$SRCDIR/tests/deploy/lib.sh"
NJS=/usr/lib/nginx/modules/ngx_http_js_module.so
[ -f "$NJS" ] || skip "nginx's njs module is not installed (libnginx-mod-http-js)"
fetch_init
CONF_FILE=${DEPLOY_CACHE_CONF:-$DEPLOY_DIR/nginx/acfetch-cache-s3.conf}
SIGN_JS=${DEPLOY_SIGN_JS:-$DEPLOY_DIR/nginx/acfetch-s3-sign.js}

# The image: 1 MiB of random data (about 64 chunks), published into a private bucket.
fetch_make_tree "$TEST_TMP/tree" 1024 || fail "fetch_make_tree"
fetch_make_image "$TEST_TMP/www" app "$TEST_TMP/tree"
index=$TEST_TMP/www/app.caidx
chunks=$(caidx_distinct "$index")
ceph_start
pass "radosgw started at $CEPH_S3_URL"
ceph_bucket images
prefix=images/cluster
ceph_put "$index" "$prefix/app.caidx" || fail "upload of the index"
n=0
for f in "$TEST_TMP/www/default.castr"/*/*.cacnk; do
        rel=${f#"$TEST_TMP/www/"}
        ceph_put "$f" "$prefix/$rel" 'Cache-Control: public, max-age=31536000, immutable' ||
                fail "upload of $rel"
        n=$((n + 1))
done
expect_eq "chunks uploaded" "$n" "$chunks"

# The key in the file (conf_key, conf_secret), or empty there and in nginx's environment
# (conf_main: lines for the main context).
conf_key=$CEPH_KEY conf_secret=$CEPH_SECRET conf_main=
_s3cache_conf() { # DIR SYNC_PORT PORT
        deploy_conf "$CONF_FILE" "$1/acfetch-cache-s3.conf" "LISTEN=127.0.0.1:$3" \
                "CACHE_DIR=$1/cache" "SIGN_JS=$1/acfetch-s3-sign.js" "S3_SCHEME=http" \
                "S3_HOST=$CEPH_S3_HOST" "S3_REGION=$CEPH_REGION" \
                "S3_BUCKET_PATH=/$prefix" "S3_ACCESS_KEY=$conf_key" "S3_SECRET_KEY=$conf_secret"
        cp "$SIGN_JS" "$1/acfetch-s3-sign.js"
        deploy_nginx_conf "$1" "$2" acfetch-cache-s3.conf \
                '$request_method $uri $status $upstream_cache_status up=$upstream_addr' \
                "load_module $NJS;
$conf_main"
}
nginx_launch s3cache 2 _s3cache_conf
read -r _sync cache_port <"$TEST_TMP/nginx.s3cache/ports" || fail "cache ports"
cache=http://127.0.0.1:$cache_port
cache_log=$TEST_TMP/nginx.s3cache/access.log
pass "the nginx cache started from $(basename "$CONF_FILE") and $(basename "$SIGN_JS")"

# Straight from radosgw without credentials: refused, for the index and for a chunk.
first=$(caidx_ids "$index" | head -n 1)
code=$(curl -sS -o /dev/null -w '%{http_code}' "$CEPH_S3_URL/$prefix/default.castr/$(chunk_rel "$first")")
expect_eq "an anonymous GET of a chunk from radosgw" "$code" 403
acf --dir="$TEST_TMP/direct" extract --insecure-options=http \
        --store="$CEPH_S3_URL/$prefix/default.castr" "$CEPH_S3_URL/$prefix/app.caidx" \
        "$TEST_TMP/out.direct"
[ "$RC" -ne 0 ] || fail "acfetch extract straight from the private bucket succeeded"
[ ! -e "$TEST_TMP/out.direct" ] || fail "a failed extract left $TEST_TMP/out.direct"
pass "without credentials, radosgw refuses the bucket (403) and acfetch extract fails"

# Through the cache, four at once, with no credentials.
pids=
for i in 0 1 2 3; do
        "$A" --dir="$TEST_TMP/node$i" extract --insecure-options=http \
                --store="$cache/default.castr" "$cache/app.caidx" "$TEST_TMP/out$i" \
                >"$TEST_TMP/node$i.out" 2>"$TEST_TMP/node$i.err" &
        pids="$pids $!"
done
i=0
for p in $pids; do
        rc=0
        wait "$p" || rc=$?
        ! grep -q -e 'Sanitizer' -e 'runtime error:' "$TEST_TMP/node$i.err" ||
                fail "sanitizer report from extract $i: $(cat "$TEST_TMP/node$i.err")"
        [ "$rc" -eq 0 ] || fail "extract $i through the cache failed ($rc)" \
                "$(head -n 10 "$TEST_TMP/node$i.err")"
        expect_same_tree "$TEST_TMP/tree" "$TEST_TMP/out$i"
        i=$((i + 1))
done
pass "4 concurrent acfetch extract through the cache, without credentials, give the tree"

nginx_sync s3cache
# Chunk requests the cache sent upstream: an upstream address is logged.
grep -E '^GET [^ ]+\.cacnk 200 ' "$cache_log" >"$TEST_TMP/chunk.lines" || true
upstream=$(grep -c -v ' up=-$' "$TEST_TMP/chunk.lines" || true)
total=$(wc -l <"$TEST_TMP/chunk.lines")
up_distinct=$(grep -v ' up=-$' "$TEST_TMP/chunk.lines" | cut -d' ' -f2 | sort -u | wc -l)
echo "4 extracts: $total chunk requests at the cache, $upstream sent to radosgw," \
        "$up_distinct distinct ($chunks in the image)"
expect_eq "chunk requests sent to radosgw" "$upstream" "$chunks"
expect_eq "distinct chunks sent to radosgw" "$up_distinct" "$chunks"
expect_eq "chunk requests at the cache" "$total" $((4 * chunks))
pass "each chunk reached radosgw once"

# A missing chunk: 404 through the cache (radosgw's NoSuchKey), and not cached.
missing=$(printf '%064d' 0 | tr 0 e)
code=$(curl -sS -o /dev/null -w '%{http_code}' "$cache/default.castr/eeee/$missing.cacnk")
expect_eq "a missing chunk through the cache" "$code" 404
echo "published late" >"$TEST_TMP/late"
ceph_put "$TEST_TMP/late" "$prefix/default.castr/eeee/$missing.cacnk" || fail "late upload"
code=$(curl -sS -o "$TEST_TMP/late.got" -w '%{http_code}' "$cache/default.castr/eeee/$missing.cacnk")
expect_eq "the same chunk once uploaded" "$code" 200
cmp -s "$TEST_TMP/late" "$TEST_TMP/late.got" || fail "the late chunk's body differs"
code=$(curl -sS -I -o /dev/null -w '%{http_code}' "$cache/app.caidx")
expect_eq "HEAD of the index through the cache" "$code" 200
code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE "$cache/app.caidx")
expect_eq "DELETE through the cache" "$code" 403
pass "a 404 passes through and is not cached; HEAD is signed as a GET; DELETE is refused"

# The key from nginx's environment, the placeholders left empty (the second way the file offers).
conf_key='' conf_secret='' conf_main='env AWS_ACCESS_KEY_ID; env AWS_SECRET_ACCESS_KEY;'
AWS_ACCESS_KEY_ID=$CEPH_KEY AWS_SECRET_ACCESS_KEY=$CEPH_SECRET
export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
nginx_launch s3env 2 _s3cache_conf
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
read -r _sync env_port <"$TEST_TMP/nginx.s3env/ports" || fail "cache ports"
grep -q "$CEPH_SECRET" "$TEST_TMP/nginx.s3env/acfetch-cache-s3.conf" &&
        fail "the secret is in the environment cache's file"
curl -sS -f -o "$TEST_TMP/index.env" "http://127.0.0.1:$env_port/app.caidx" ||
        fail "the index through the cache that takes its key from the environment"
cmp -s "$index" "$TEST_TMP/index.env" || fail "the index through the environment cache differs"
pass "the key may come from nginx's environment instead of the file"

nginx_stop s3env
nginx_stop s3cache
for f in "$TEST_TMP/nginx.s3cache/error.log" "$cache_log" "$TEST_TMP/nginx.s3env/error.log" \
        "$TEST_TMP/nginx.s3env/access.log"; do
        ! grep -q -e "$CEPH_SECRET" -e "$CEPH_KEY" -e 'Signature=' "$f" ||
                fail "$(basename "$f") holds the S3 key or a signature"
done
pass "the S3 key and the signatures appear in no log of the cache"

echo "cache_s3_signing passed"
