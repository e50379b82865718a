#!/bin/sh
# Requests in flight adapt to the link: a server that admits only N requests at once (nginx's
# limit_conn, refusing the others with 429) sees at most N refusals and the fetch completes; over
# a long round trip (bench's delay proxy, 50 ms) the limit grows past the 16 requests acfetch
# used to keep in flight; --jobs pins the number.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init

www=$TEST_TMP/www
tree=$TEST_TMP/tree
fetch_make_tree "$tree" 2048 1024 1024
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
distinct=$(caidx_distinct "$index")
expect_ge "distinct chunks" "$distinct" 200
echo "image: $distinct distinct chunks"

# --- 1. a server that admits N requests at once ----------------------------------------------
# limit_rate keeps each chunk's response going for a while (16 KiB chunks at 32 KiB/s), so that
# requests overlap and the admission limit matters.
N=6
echo "limit_conn_zone \$server_port zone=perport:1m;" >"$TEST_TMP/http.conf"
cat >"$TEST_TMP/server.conf" <<CONF
location /default.castr/ {
        limit_conn perport $N;
        limit_conn_status 429;
        limit_rate 32k;
}
CONF
http_nginx_start -H "$TEST_TMP/http.conf" -s "$TEST_TMP/server.conf" "$www"
log_mark
acf --debug --dir="$TEST_TMP/d1" --insecure-options=http extract --json \
        "$NGINX_HTTP_URL/x.caidx" "$TEST_TMP/out1"
expect_rc 0 "a server admitting $N requests at once"
expect_same_tree "$tree" "$TEST_TMP/out1"
refused=$(log_count '\.cacnk HTTP/1\.1" 429 ')
echo "refused for load: $refused"
expect_ge "refusals (the limit must have probed past $N)" "$refused" 1
expect_le "refusals" "$refused" "$N"
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" "$distinct"
expect_err "127.0.0.1:$NGINX_HTTP_PORT: at most [0-9]* requests were in flight ($refused refused for load)"
cache_verify "$TEST_TMP/d1" "$index"
nginx_stop
echo "ok: at most $N refusals from a server admitting $N requests"

# --- 2. a long round trip --------------------------------------------------------------------
http_nginx_start "$www"
delay_proxy_start "$NGINX_HTTP_PORT" 50
pport=$PROXY_PORT
acf --debug --dir="$TEST_TMP/d2" --insecure-options=http extract --json \
        "http://127.0.0.1:$pport/x.caidx" "$TEST_TMP/out2"
expect_rc 0 "fetch over 50 ms"
expect_same_tree "$tree" "$TEST_TMP/out2"
peak=$(sed -n "s/.*127.0.0.1:$pport: at most \([0-9]*\) requests were in flight.*/\1/p" "$ERR")
echo "requests in flight at 50 ms: at most ${peak:-?}"
expect_ge "requests in flight at 50 ms" "${peak:-0}" 17
echo "ok: the limit grows past 16 over a 50 ms round trip"

# --- 3. --jobs pins it -----------------------------------------------------------------------
acf --debug --dir="$TEST_TMP/d3" --insecure-options=http extract --jobs=3 \
        "http://127.0.0.1:$pport/x.caidx" "$TEST_TMP/out3"
expect_rc 0 "fetch with --jobs=3"
expect_same_tree "$tree" "$TEST_TMP/out3"
expect_err "127.0.0.1:$pport: at most 3 requests were in flight"
echo "ok: --jobs=3 keeps 3 requests in flight"

echo "fetch_adaptive passed"
