#!/bin/sh
# acfetch against misbehaving servers: a stalled transfer times out, a trickling one falls under
# the speed floor and a trickled index past --max-time, a truncated body and an endless chunked
# body are rejected, a chunk corrupted once is downloaded again, an index that is not there (also
# behind a redirect to another host) and a store nobody listens on fail, each naming the URL. The
# image has a single chunk, so every request count is exact.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init

www=$TEST_TMP/www
tree=$TEST_TMP/tree
fetch_make_tree "$tree" 2
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
expect_eq "chunks in the small image" "$(caidx_ids "$index" | wc -l)" 1
id=$(caidx_ids "$index")
rel=$(chunk_rel "$id")
size=$(od -An -tu8 -j64 -N8 "$index" | tr -d ' ')

http_faultserver_start "$www"
# Every fetch here fails; each must leave neither DEST nor the chunk behind.
expect_nothing_left() { # D DEST
        [ ! -e "$2" ] || fail "a failed fetch created $2"
        [ ! -e "$1/chunks/$rel" ] || fail "a failed fetch cached chunk $id"
        expect_eq "temporary files in $1/chunks" "$(cache_tmp "$1")" ""
}

# --- 5. a stalled transfer ----------------------------------------------------------------------
url=$FAULT_URL/stall/default.castr/$rel
acf --dir="$TEST_TMP/d1" --insecure-options=http extract --stall-timeout=1 --retries=1 \
        --store="$FAULT_URL/stall/default.castr" "$FAULT_URL/ok/x.caidx" "$TEST_TMP/out1"
expect_rc 1 "stalled transfer"
expect_err "^acfetch: error: $url: .* (after retries)\$"
expect_err "^acfetch: error: chunk $id: could not be downloaded from any store\$"
expect_eq "stalled requests (first try and one retry)" \
        "$(http_fault_count "^GET /stall/default.castr/$rel 200\$")" 2
expect_nothing_left "$TEST_TMP/d1" "$TEST_TMP/out1"
echo "ok: a stalled transfer times out"

# --- 13. a trickling server --------------------------------------------------------------------
# /slow/ sends a byte every 100 ms: never silent, so only the speed floor ends it (the chunk would
# take minutes); two attempts of a 1 s period each.
url=$FAULT_URL/slow/default.castr/$rel
start=$(date +%s)
acf --dir="$TEST_TMP/d6" --insecure-options=http extract --stall-timeout=1 --speed-limit=1K \
        --retries=1 --store="$FAULT_URL/slow/default.castr" "$FAULT_URL/ok/x.caidx" "$TEST_TMP/out6"
expect_rc 1 "trickled chunk"
took=$(($(date +%s) - start))
[ "$took" -lt 15 ] || fail "the trickled fetch took $took s"
expect_err "^acfetch: error: $url: too slow: [0-9]* bytes in 1 s, under the floor of 1024 bytes/s (--speed-limit) (after retries)\$"
expect_eq "trickled requests" "$(http_fault_count "^GET /slow/default.castr/$rel 200\$")" 2
expect_nothing_left "$TEST_TMP/d6" "$TEST_TMP/out6"

# The index trickled too, with the floor off: --max-time ends it, naming it.
url=$FAULT_URL/slow/x.caidx
acf --dir="$TEST_TMP/d6" --insecure-options=http extract --speed-limit=0 --max-time=2 "$url" \
        "$TEST_TMP/out6"
expect_rc 1 "trickled index"
expect_err "^acfetch: error: $url: no complete response within 2 s (--max-time)\$"
[ ! -e "$TEST_TMP/out6" ] || fail "a failed fetch created its destination"
echo "ok: a trickling server is dropped (speed floor, deadline)"

# --- 13. a chunk corrupted once -----------------------------------------------------------------
acf --dir="$TEST_TMP/d7" --insecure-options=http extract \
        --store="$FAULT_URL/corrupt-once/default.castr" "$FAULT_URL/ok/x.caidx" "$TEST_TMP/out7"
expect_rc 0 "chunk corrupted once"
expect_err "^acfetch: warning: $FAULT_URL/corrupt-once/default.castr/$rel: the chunk is corrupt; downloading it again (attempt 2 of 3)\$"
expect_eq "requests for the chunk corrupted once" \
        "$(http_fault_count "^GET /corrupt-once/default.castr/$rel 200\$")" 2
expect_same_tree "$tree" "$TEST_TMP/out7"
echo "ok: a chunk corrupted once is downloaded again"

# --- 13. a 404 behind a redirect to another host ------------------------------------------------
acf --dir="$TEST_TMP/d8" --insecure-options=http extract \
        "$FAULT_URL/redirect-host/ok/nosuch.caidx" "$TEST_TMP/out8"
expect_rc 1 "missing index behind a redirect"
expect_err "^acfetch: error: http://localhost:$FAULT_PORT/ok/nosuch.caidx: not found (HTTP 404) (redirected from $FAULT_URL/redirect-host/ok/nosuch.caidx)\$"
echo "ok: a redirected 404 names the URL that failed"

# --- 5. a truncated body -----------------------------------------------------------------------
url=$FAULT_URL/truncate/default.castr/$rel
acf --dir="$TEST_TMP/d2" --insecure-options=http extract --retries=1 \
        --store="$FAULT_URL/truncate/default.castr" "$FAULT_URL/ok/x.caidx" "$TEST_TMP/out2"
expect_rc 1 "truncated body"
expect_err "^acfetch: error: $url: the connection closed before the whole response arrived (after retries)\$"
expect_err "^acfetch: error: chunk $id: could not be downloaded from any store\$"
expect_eq "truncated requests" "$(http_fault_count "^GET /truncate/default.castr/$rel 200\$")" 2
expect_nothing_left "$TEST_TMP/d2" "$TEST_TMP/out2"
echo "ok: a truncated body is rejected"

# --- 5. an endless chunked body ----------------------------------------------------------------
# The cap for a chunk of n bytes is ca_chunk_compressed_size_max(n) = n + n/8 + 64 KiB.
url=$FAULT_URL/chunked-huge/default.castr/$rel
acf --dir="$TEST_TMP/d3" --insecure-options=http extract --retries=3 \
        --store="$FAULT_URL/chunked-huge/default.castr" "$FAULT_URL/ok/x.caidx" "$TEST_TMP/out3"
expect_rc 1 "endless chunked body"
expect_err "^acfetch: error: $url: response body exceeds $((size + size / 8 + 65536)) bytes\$"
expect_err "^acfetch: error: chunk $id: could not be downloaded from any store\$"
expect_eq "requests for the endless body (never retried)" \
        "$(http_fault_count "^GET /chunked-huge/default.castr/$rel 200\$")" 1
expect_nothing_left "$TEST_TMP/d3" "$TEST_TMP/out3"

# An index has its own cap: header, table header, 2^22 items of 40 bytes, tail.
url=$FAULT_URL/chunked-huge/x.caidx
acf --dir="$TEST_TMP/d3" --insecure-options=http extract "$url" "$TEST_TMP/out3"
expect_rc 1 "endless chunked index"
expect_err "^acfetch: error: $url: response body exceeds $((48 + 16 + 4194304 * 40 + 40)) bytes\$"
[ ! -e "$TEST_TMP/out3" ] || fail "a failed fetch created its destination"
echo "ok: an endless chunked body is cut off at the cap"

# --- 13. an index that is not there ------------------------------------------------------------
http_nginx_start "$www"
url=$NGINX_HTTPS_URL/nosuch.caidx
log_mark
acf --dir="$TEST_TMP/d4" extract --ca-cert="$HTTP_CA" "$url" "$TEST_TMP/out4"
expect_rc 1 "missing index"
expect_err "^acfetch: error: $url: not found (HTTP 404)\$"
expect_eq "error lines" "$(grep -c 'error:' "$ERR")" 1
expect_eq "requests for the missing index" "$(log_count '"GET /nosuch.caidx HTTP/[12][.0-9]*" 404')" 1
expect_eq "requests" "$(log_count .)" 1
[ ! -e "$TEST_TMP/out4" ] || fail "a failed fetch created its destination"
echo "ok: a missing index fails clearly"

# --- 13. a store on a port where nothing listens -----------------------------------------------
# The port is reserved for this test and nothing listens on it.
dead=https://127.0.0.1:$(free_port)
acf --dir="$TEST_TMP/d5" extract --ca-cert="$HTTP_CA" --retries=2 --store="$dead/store" \
        "$NGINX_HTTPS_URL/x.caidx" "$TEST_TMP/out5"
expect_rc 1 "store nobody listens on"
hostport=${dead#https://}
expect_err "^acfetch: error: $hostport: connection refused (fetching $dead/store/$rel, after retries)\$"
# Said once for the host, not once per chunk.
expect_eq "connection refused lines" "$(grep -c '^acfetch: error: .*connection refused' "$ERR")" 1
expect_err "^acfetch: error: chunk $id: could not be downloaded from any store\$"
expect_nothing_left "$TEST_TMP/d5" "$TEST_TMP/out5"

acf --dir="$TEST_TMP/d5" extract --ca-cert="$HTTP_CA" --retries=1 "$dead/x.caidx" "$TEST_TMP/out5"
expect_rc 1 "index nobody serves"
expect_err "^acfetch: error: $hostport: connection refused (fetching $dead/x.caidx, after retries)\$"
[ ! -e "$TEST_TMP/out5" ] || fail "a failed fetch created its destination"
echo "ok: a store nobody listens on fails after retries"

http_faultserver_stop
echo "fetch_faults passed"
