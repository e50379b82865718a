#!/bin/sh
# acfetch fetching an image over HTTP(S) from nginx: a parallel HTTPS fetch reproduces the tree,
# over HTTP/1.1 and HTTP/2; plain http only with --insecure-options=http; a chunk used several
# times is requested once; a second fetch downloads nothing; two fetches into one --dir at once
# both succeed and leave a valid chunk store; --rate-limit slows the fetch down.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init

www=$TEST_TMP/www
tree=$TEST_TMP/tree
# 4.25 MiB of random data: about 270 distinct chunks of 16 KiB on average, so the 200 below
# holds with a wide margin (3.5 MiB once gave 199).
fetch_make_tree "$tree" 2560 1792
# A second copy of f0: the index lists its chunks twice.
cp -p "$tree/f0" "$tree/f0.copy"
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
items=$(caidx_ids "$index" | wc -l)
distinct=$(caidx_distinct "$index")
echo "image: $items chunks, $distinct distinct"
expect_ge "distinct chunks" "$distinct" 200
expect_ge "repeated chunks" "$((items - distinct))" 100

http_nginx_start "$www"
url=$NGINX_HTTPS_URL/x.caidx
chunk_req='\.cacnk HTTP'

# --- 1. parallel HTTPS over HTTP/1.1 --------------------------------------------------------------
log_mark
acf --dir="$TEST_TMP/d1" extract --ca-cert="$HTTP_CA" --jobs=8 --http-version=1.1 --json "$url" \
        "$TEST_TMP/out1"
expect_rc 0 "https fetch"
expect_same_tree "$tree" "$TEST_TMP/out1"
# Repeats of a chunk are read back from the chunk store once it is there.
expect_err "$url: $items chunks: $((items - distinct)) served locally, $distinct downloaded"
expect_eq "chunk requests" "$(log_count "$chunk_req")" "$distinct"
# Each distinct chunk exactly once, though the index names most of f0's chunks twice.
expect_eq "distinct chunk requests" "$(log_distinct "$chunk_req")" "$distinct"
expect_eq "chunk 200s over HTTP/1.1 on the HTTPS port" \
        "$(log_count "^$NGINX_HTTPS_PORT \"GET /default.castr/[^ ]*\.cacnk HTTP/1.1\" 200 ")" \
        "$distinct"
expect_eq "index requests" "$(log_count '"GET /x.caidx HTTP/1.1" 200')" 1
expect_eq "json chunks" "$(json_int chunks)" "$items"
expect_eq "json chunks_needed" "$(json_int chunks_needed)" "$distinct"
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" "$distinct"
expect_eq "json chunks_local" "$(json_int chunks_local)" $((items - distinct))
expect_eq "json chunks_rejected" "$(json_int chunks_rejected)" 0
expect_eq "json http_requests" "$(json_int http_requests)" $((distinct + 1))
expect_eq "json http_retries" "$(json_int http_retries)" 0
grep -q '"ok":true' "$OUT" || fail "json: not ok: $(cat "$OUT")"
expect_eq "json source" "$(sed -n 's/.*"source":"\([^"]*\)".*/\1/p' "$OUT")" "$url"
cache_verify "$TEST_TMP/d1" "$index"
echo "ok: parallel https fetch"

# --- 11. again into the same --dir: nothing to download ----------------------------------------
log_mark
acf --dir="$TEST_TMP/d1" extract --ca-cert="$HTTP_CA" --json "$url" "$TEST_TMP/out1b"
expect_rc 0 "second fetch"
expect_same_tree "$tree" "$TEST_TMP/out1b"
expect_eq "chunk requests of the second fetch" "$(log_count "$chunk_req")" 0
expect_eq "index requests of the second fetch" "$(log_count '/x.caidx HTTP')" 1
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" 0
expect_eq "json chunks_needed" "$(json_int chunks_needed)" 0
expect_eq "json chunks_local" "$(json_int chunks_local)" "$items"
expect_eq "json bytes_downloaded" "$(json_int bytes_downloaded)" 0
expect_err "$items chunks: $items served locally, 0 downloaded"
echo "ok: second fetch downloads nothing"

# --- 1. HTTP/2, the default over TLS -----------------------------------------------------------
log_mark
acf --dir="$TEST_TMP/d2" extract --ca-cert="$HTTP_CA" "$url" "$TEST_TMP/out2"
expect_rc 0 "http/2 fetch"
expect_same_tree "$tree" "$TEST_TMP/out2"
expect_eq "chunk 200s over HTTP/2" \
        "$(log_count "^$NGINX_HTTPS_PORT \"GET /default.castr/[^ ]*\.cacnk HTTP/2.0\" 200 ")" \
        "$distinct"
expect_eq "chunk requests over HTTP/2" "$(log_count "$chunk_req")" "$distinct"
expect_eq "HTTP/1.1 requests" "$(log_count 'HTTP/1.1$')" 0
echo "ok: http/2 fetch"

# --- 1. plain http -----------------------------------------------------------------------------
http_url=$NGINX_HTTP_URL/x.caidx
log_mark
acf --dir="$TEST_TMP/d3" extract "$http_url" "$TEST_TMP/out3"
expect_rc 254 "plain http without --insecure-options=http"
expect_err "^acfetch: error: $http_url: plain http needs --insecure-options=http"
[ ! -e "$TEST_TMP/out3" ] || fail "refused fetch created its destination"
expect_eq "requests of the refused fetch" "$(log_count .)" 0

# An https index does not make a plain-http store acceptable.
acf --dir="$TEST_TMP/d3" extract --ca-cert="$HTTP_CA" --store="$NGINX_HTTP_URL/default.castr" \
        "$url" "$TEST_TMP/out3"
expect_rc 254 "plain http store without --insecure-options=http"
needs_option='plain http needs --insecure-options=http'
expect_err "^acfetch: error: $NGINX_HTTP_URL/default.castr: $needs_option"
expect_eq "index requests of the refused fetch (refused before any transfer)" \
        "$(log_count '\.caidx')" 0
[ ! -e "$TEST_TMP/out3" ] || fail "refused fetch created its destination"
expect_eq "plain http requests" "$(log_count "^$NGINX_HTTP_PORT ")" 0
expect_eq "cached chunks after a refused fetch" "$(cache_count "$TEST_TMP/d3")" 0

log_mark
acf --dir="$TEST_TMP/d3" --insecure-options=http extract "$http_url" "$TEST_TMP/out3"
expect_rc 0 "plain http with --insecure-options=http"
expect_same_tree "$tree" "$TEST_TMP/out3"
expect_eq "plain http chunk requests" \
        "$(log_count "^$NGINX_HTTP_PORT \"GET /default.castr/[^ ]*\.cacnk HTTP/1.1\" 200 ")" \
        "$distinct"
expect_eq "other requests" "$(log_count "^$NGINX_HTTPS_PORT ")" 0
echo "ok: plain http"

# --- 9. two fetches into one --dir at once -----------------------------------------------------
# A rate limit keeps both running long enough to overlap.
log_mark
"$A" --dir="$TEST_TMP/d4" extract --ca-cert="$HTTP_CA" --rate-limit=4M "$url" "$TEST_TMP/out4a" \
        2>"$TEST_TMP/err4a" &
pid_a=$!
"$A" --dir="$TEST_TMP/d4" extract --ca-cert="$HTTP_CA" --rate-limit=4M "$url" "$TEST_TMP/out4b" \
        2>"$TEST_TMP/err4b" &
pid_b=$!
rc_a=0
wait "$pid_a" || rc_a=$?
rc_b=0
wait "$pid_b" || rc_b=$?
cat "$TEST_TMP/err4a" "$TEST_TMP/err4b" >&2
expect_eq "first concurrent fetch" "$rc_a" 0
expect_eq "second concurrent fetch" "$rc_b" 0
expect_same_tree "$tree" "$TEST_TMP/out4a"
expect_same_tree "$tree" "$TEST_TMP/out4b"
n=$(log_count "$chunk_req")
expect_ge "chunk requests of two concurrent fetches" "$n" "$distinct"
expect_ge "at most two requests per chunk" $((2 * distinct)) "$n"
cache_verify "$TEST_TMP/d4" "$index"
echo "ok: two concurrent fetches into one --dir ($n chunk requests)"

# --- 12. --rate-limit ----------------------------------------------------------------------------
t0=$(date +%s%N)
acf --dir="$TEST_TMP/d5" extract --ca-cert="$HTTP_CA" --rate-limit=1M --json "$url" \
        "$TEST_TMP/out5"
t1=$(date +%s%N)
expect_rc 0 "rate-limited fetch"
expect_same_tree "$tree" "$TEST_TMP/out5"
bytes=$(json_int bytes_downloaded)
expect_ge "bytes downloaded" "$bytes" $((3 * 1024 * 1024))
ms=$(((t1 - t0) / 1000000))
# A lower bound only: the first quarter second may come as a burst.
expect_ge "milliseconds for $bytes bytes at 1 MiB/s" "$ms" 2000
echo "ok: rate limit ($bytes bytes in $ms ms)"

echo "fetch_basic passed"
