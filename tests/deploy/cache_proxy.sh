#!/bin/sh
# cache_proxy.sh nginx|varnish|squid: the shared chunk cache that deploy/ ships for that server,
# started from the shipped file with only its placeholders replaced, in front of an origin
# 200 ms away (the delay proxy), so that concurrent misses for one chunk overlap.
#   - 8 concurrent `acfetch fetch` by name, each with its own store, all through the cache:
#     each succeeds and renders the image, and the origin is asked for each chunk exactly once
#     (the cache coalesces concurrent misses);
#   - 8 more, warm: no chunk reaches the origin, but each index does (revalidated there, not
#     cached), as does a node's If-None-Match;
#   - a request's Authorization and Cookie never reach the origin, and a request carrying
#     them is still served from the cache;
#   - a 404 is not cached: a chunk published after a miss is served at once.
# DEPLOY_CACHE_CONF (a test hook) replaces the shipped file: a test of a broken config.
set -eu
# shellcheck source=tests/deploy/lib.sh
. "$SRCDIR/tests/deploy/lib.sh"
KIND=${1:?nginx, varnish or squid}
case $KIND in
nginx) ;;
varnish) require_cmd varnishd gcc ;;
squid) require_cmd squid ;;
*) echo "unknown cache $KIND" >&2 && exit 2 ;;
esac
deploy_init

# nginx: the shipped file is included in an http {} block next to a server for nginx_sync.
_nginx_conf() { # DIR SYNC_PORT PORT
        deploy_conf "$CONF_FILE" "$1/acfetch-cache.conf" "LISTEN=127.0.0.1:$3" \
                "ORIGIN=127.0.0.1:$ORIGIN_PORT" "CACHE_DIR=$1/cache"
        deploy_nginx_conf "$1" "$2" acfetch-cache.conf \
                '$request_method $uri $status $upstream_cache_status'
}

cache_start_nginx() {
        CONF_FILE=${DEPLOY_CACHE_CONF:-$DEPLOY_DIR/nginx/acfetch-cache.conf}
        nginx_launch cache 2 _nginx_conf
        read -r _sync CACHE_PORT <"$TEST_TMP/nginx.cache/ports" || fail "cache ports"
}

cache_start_varnish() {
        CONF_FILE=${DEPLOY_CACHE_CONF:-$DEPLOY_DIR/varnish/acfetch-cache.vcl}
        _d=$TEST_TMP/varnish
        mkdir -p "$_d"
        deploy_conf "$CONF_FILE" "$_d/acfetch-cache.vcl" "ORIGIN_HOST=127.0.0.1" \
                "ORIGIN_PORT=$ORIGIN_PORT"
        CACHE_PORT=$(free_port)
        # Foreground (-F) in a background job: its pid is known at once.
        varnishd -F -a "127.0.0.1:$CACHE_PORT" -f "$_d/acfetch-cache.vcl" -s malloc,64m \
                -n "$_d/work" -T none </dev/null >"$_d/varnishd.log" 2>&1 &
        _varnish_pid=$!
        at_exit "kill $_varnish_pid 2>/dev/null || true; wait $_varnish_pid 2>/dev/null || true"
        # It compiles the VCL with gcc first.
        wait_until _deploy_answers "http://127.0.0.1:$CACHE_PORT/__probe" ||
                fail "varnish did not start" "$(tail -n 30 "$_d/varnishd.log")"
}

cache_start_squid() {
        CONF_FILE=${DEPLOY_CACHE_CONF:-$DEPLOY_DIR/squid/acfetch-cache.conf}
        _d=$TEST_TMP/squid
        mkdir -p "$_d/cache"
        CACHE_PORT=$(free_port)
        deploy_conf "$CONF_FILE" "$_d/squid.conf" "LISTEN=127.0.0.1:$CACHE_PORT" \
                "ORIGIN_HOST=127.0.0.1" "ORIGIN_PORT=$ORIGIN_PORT" "CACHE_DIR=$_d/cache"
        # This machine's paths (Debian's defaults are under /var): appended, the file as shipped.
        cat >>"$_d/squid.conf" <<EOF
pid_filename $_d/squid.pid
access_log stdio:$_d/access.log
cache_log $_d/cache.log
cache_store_log none
coredump_dir $_d
netdb_filename none
shutdown_lifetime 1 seconds
EOF
        # squid drops root for the user proxy, which must write its files.
        chown -R proxy:proxy "$_d"
        squid -z -N -f "$_d/squid.conf" >"$_d/squid-z.log" 2>&1 ||
                fail "squid -z failed" "$(tail -n 20 "$_d/squid-z.log" "$_d/cache.log")"
        squid -N -f "$_d/squid.conf" </dev/null >"$_d/squid.log" 2>&1 &
        _squid_pid=$!
        at_exit "kill $_squid_pid 2>/dev/null || true; wait $_squid_pid 2>/dev/null || true"
        wait_until _deploy_answers "http://127.0.0.1:$CACHE_PORT/__probe" ||
                fail "squid did not start" "$(tail -n 30 "$_d/squid.log" "$_d/cache.log")"
}

host=cached.example.com
# 1 MiB of random data: about 64 chunks.
deploy_image "$host" app 1024
chunks=$(fe_index_chunks "$IMAGE_INDEX" | wc -l)
deploy_origin_start "$WWW/$host" 200
"cache_start_$KIND"
pass "$KIND started from $(basename "$CONF_FILE") (origin 200 ms away)"

origin_mark
deploy_fetch_round cold 8 "$host/app" "$CACHE_PORT"
origin_chunks >"$TEST_TMP/cold.chunks"
requests=$(wc -l <"$TEST_TMP/cold.chunks")
distinct=$(uniq <"$TEST_TMP/cold.chunks" | wc -l)
echo "cold: 8 fetches through $KIND sent $requests chunk requests to the origin for" \
        "$distinct distinct chunks ($chunks in the image)"
fe_index_chunks "$IMAGE_INDEX" >"$TEST_TMP/image.chunks"
cmp -s "$TEST_TMP/image.chunks" "$TEST_TMP/cold.chunks" ||
        fail "8 cold fetches through $KIND: the origin was asked for $requests chunks ($distinct distinct), not each of the image's $chunks chunks once" \
                "$(uniq -c "$TEST_TMP/cold.chunks" | awk '$1 > 1' | head -n 5)"
pass "8 concurrent cold fetches: each of the $chunks chunks reached the origin exactly once"

origin_mark
deploy_fetch_round warm 8 "$host/app" "$CACHE_PORT"
expect_eq "chunk requests at the origin in the warm round" "$(origin_chunks | wc -l)" 0
expect_eq "index requests at the origin in the warm round" \
        "$(origin_count '^GET /img/[^ ]*/app\.caidx ')" 8
pass "8 warm fetches: no chunk reached the origin, every index did"

# A node revalidating its index: the If-None-Match reaches the origin, which answers 304.
origin_mark
A=$ACFETCH
acf --dir="$TEST_TMP/node.warm.0" fetch --local-config="$FE_CONFIG" --insecure-options=http \
        --connect-to="$host:80:127.0.0.1:$CACHE_PORT" \
        --connect-to="$host:443:127.0.0.1:$(free_port)" "$host/app"
expect_rc 0 "fetch again (revalidation)"
expect_eq "revalidations answered 304 by the origin" \
        "$(origin_count '^GET /img/[^ ]*/app\.caidx 304 .* inm=[^-]')" 1
pass "a node's revalidation of the index reaches the origin (304)"

# Credentials and cookies stay at the cache; a chunk requested with them is still a hit.
origin_mark
chunk_url=http://127.0.0.1:$CACHE_PORT$IMAGE_STORE_PATH/$(chunk_rel "$(head -n 1 "$TEST_TMP/image.chunks")")
index_url=http://127.0.0.1:$CACHE_PORT/img/$host/app.caidx
curl -sS -f -o "$TEST_TMP/chunk" -H 'Authorization: Basic bm9kZTpzZWNyZXQ=' \
        -H 'Cookie: session=secret' "$chunk_url" || fail "a chunk requested with credentials"
curl -sS -f -o "$TEST_TMP/index" -H 'Authorization: Basic bm9kZTpzZWNyZXQ=' \
        -H 'Cookie: session=secret' "$index_url" || fail "the index requested with credentials"
cmp -s "$TEST_TMP/index" "$IMAGE_INDEX" || fail "the index through $KIND differs"
expect_eq "chunk requests at the origin for a request with credentials" \
        "$(origin_chunks | wc -l)" 0
expect_eq "index requests at the origin" "$(origin_count '^GET /img/[^ ]*/app\.caidx 200 ')" 1
expect_eq "requests that brought credentials or cookies to the origin" \
        "$(origin_count 'auth=[^- ]|cookie=[^- ]')" 0
pass "a request's Authorization and Cookie stay at the cache; with them a chunk is still a hit"

# A 404 is not cached: the chunk published right after the miss is served.
missing=$(printf '%064d' 0 | tr 0 e)
missing_url=http://127.0.0.1:$CACHE_PORT$IMAGE_STORE_PATH/eeee/$missing.cacnk
code=$(curl -sS -o /dev/null -w '%{http_code}' "$missing_url")
expect_eq "a missing chunk through $KIND" "$code" 404
mkdir -p "$IMAGE_STORE/eeee"
echo "published late" >"$IMAGE_STORE/eeee/$missing.cacnk"
code=$(curl -sS -o "$TEST_TMP/late" -w '%{http_code}' "$missing_url")
expect_eq "the same chunk once published" "$code" 200
expect_eq "its body" "$(cat "$TEST_TMP/late")" "published late"
pass "a 404 is not cached"

echo "cache_proxy $KIND passed"
