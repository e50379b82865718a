#!/bin/sh
# acfetch with several stores (mirrors: downloads are spread over them): a chunk missing from one
# store comes from the other; a corrupt chunk is downloaded three times, then rejected and taken
# from another store, and with no other store the fetch fails naming the chunk and caches nothing
# bad; 503 and 429 answers are retried.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init

www=$TEST_TMP/www
tree=$TEST_TMP/tree
fetch_make_tree "$tree" 2048 1024
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
items=$(caidx_ids "$index" | wc -l)
distinct=$(caidx_distinct "$index")
expect_ge "distinct chunks" "$distinct" 150
echo "image: $items chunks, $distinct distinct"
# Store a is casync's, store b a copy of it.
mv "$www/default.castr" "$www/a.castr"
cp -a "$www/a.castr" "$www/b.castr"

http_nginx_start "$www"
url=$NGINX_HTTPS_URL/x.caidx
store_a=$NGINX_HTTPS_URL/a.castr
store_b=$NGINX_HTTPS_URL/b.castr

# Three chunks from the middle of the index, so each is fetched among others in flight.
c_missing=$(caidx_ids "$index" | sed -n "$((items / 4))p")
c_corrupt=$(caidx_ids "$index" | sed -n "$((items / 2))p")
[ "$c_missing" != "$c_corrupt" ] || fail "test image: the chosen chunks coincide"

# --- 2. missing from the first store -----------------------------------------------------------
mv "$www/a.castr/$(chunk_rel "$c_missing")" "$TEST_TMP/missing.cacnk"
log_mark
acf --dir="$TEST_TMP/d1" extract --ca-cert="$HTTP_CA" --store="$store_a" --store="$store_b" \
        --json "$url" "$TEST_TMP/out1"
expect_rc 0 "chunk missing from the first store"
expect_same_tree "$tree" "$TEST_TMP/out1"
expect_no_err 'error:'
# The mirrors share the work; the chunk store a lacks came from b, after a 404 if it was asked of
# a first; no chunk is counted twice.
expect_le "404 from store a" \
        "$(log_count "\"GET /a.castr/$(chunk_rel "$c_missing") HTTP/[12][.0-9]*\" 404 ")" 1
expect_ge "200 from store b" \
        "$(log_count "\"GET /b.castr/$(chunk_rel "$c_missing") HTTP/[12][.0-9]*\" 200 ")" 1
expect_ge "chunk requests to both stores" \
        "$(($(log_count '/a.castr/') + $(log_count '/b.castr/')))" "$distinct"
expect_ge "chunk requests to store a" "$(log_count '/a.castr/')" 1
expect_ge "chunk requests to store b" "$(log_count '/b.castr/')" 1
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" "$distinct"
cache_verify "$TEST_TMP/d1" "$index"
mv "$TEST_TMP/missing.cacnk" "$www/a.castr/$(chunk_rel "$c_missing")"
echo "ok: a chunk missing from the first store comes from the second"

# --- 3. corrupt in the first store -------------------------------------------------------------
f=$www/a.castr/$(chunk_rel "$c_corrupt")
cp "$f" "$TEST_TMP/corrupt.orig"
size=$(wc -c <"$f")
# Invert one byte in the middle of the compressed file.
byte=$(od -An -tu1 -j $((size / 2)) -N1 "$f" | tr -d ' ')
printf '%b' "\\0$(printf %03o $((255 - byte)))" |
        dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s "$f" "$TEST_TMP/corrupt.orig" && fail "the chunk file did not change"

log_mark
acf --dir="$TEST_TMP/d2" extract --ca-cert="$HTTP_CA" --store="$store_a" --store="$store_b" \
        --json "$url" "$TEST_TMP/out2"
expect_rc 0 "corrupt chunk in the first store"
expect_same_tree "$tree" "$TEST_TMP/out2"
# Store a was asked for the chunk (three times, then it was rejected) or not at all: the mirrors
# share the work. Either way store b's copy is the one kept.
from_a=$(log_count "/a.castr/$(chunk_rel "$c_corrupt") ")
if [ "$from_a" != 0 ]; then
        expect_eq "corrupt chunk from store a" "$from_a" 3
        expect_err "^acfetch: warning: $store_a/$(chunk_rel "$c_corrupt"): the chunk is corrupt; downloading it again (attempt 2 of 3)\$"
        expect_err "^acfetch: warning: $store_a/$(chunk_rel "$c_corrupt"): rejected: the chunk was corrupt in 3 downloads\$"
fi
# The fetch succeeded: a rejected copy that another store replaced is no error.
expect_no_err 'error:'
expect_eq "corrupt chunk from store b" "$(log_count "/b.castr/$(chunk_rel "$c_corrupt") ")" 1
expect_eq "json chunks_rejected" "$(json_int chunks_rejected)" "$from_a"
# Only verified chunks count as downloaded.
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" "$distinct"
cmp -s "$TEST_TMP/d2/chunks/$(chunk_rel "$c_corrupt")" "$TEST_TMP/corrupt.orig" ||
        fail "the cached copy of $c_corrupt is not store b's"
cache_verify "$TEST_TMP/d2" "$index"
echo "ok: a corrupt chunk is rejected and taken from the second store"

# No other store: the fetch fails, naming the chunk, and nothing corrupt is cached.
log_mark
acf --dir="$TEST_TMP/d3" extract --ca-cert="$HTTP_CA" --store="$store_a" "$url" "$TEST_TMP/out3"
expect_rc 254 "corrupt chunk, no other store"
expect_err "^acfetch: error: chunk $c_corrupt: no store has an intact copy"
expect_err "^acfetch: warning: $store_a/$(chunk_rel "$c_corrupt"): rejected: the chunk was corrupt in 3 downloads\$"
[ ! -e "$TEST_TMP/out3" ] || fail "a failed fetch created its destination"
[ ! -e "$TEST_TMP/d3/chunks/$(chunk_rel "$c_corrupt")" ] || fail "the corrupt chunk was cached"
expect_eq "temporary files in d3/chunks" "$(cache_tmp "$TEST_TMP/d3")" ""
expect_eq "requests for the corrupt chunk" "$(log_count "/$c_corrupt.cacnk ")" 3
cp "$TEST_TMP/corrupt.orig" "$f"
echo "ok: a corrupt chunk with no other store fails the fetch"

# --- 3. the fault server corrupts every chunk ---------------------------------------------------
http_faultserver_start "$www"
log_mark
acf --dir="$TEST_TMP/d4" --insecure-options=http extract --ca-cert="$HTTP_CA" \
        --store="$FAULT_URL/corrupt/a.castr" --store="$store_b" --json "$url" "$TEST_TMP/out4"
expect_rc 0 "every chunk corrupt in the first store"
expect_same_tree "$tree" "$TEST_TMP/out4"
expect_no_err 'error:'
# A chunk asked of store a was corrupt there (three times, unless store b was asked too because
# a was slow and answered first); every chunk came from store b.
corrupted=$(http_fault_count '^GET /corrupt/a.castr/.*\.cacnk 200$')
rejected=$(json_int chunks_rejected)
expect_ge "corrupted answers" "$corrupted" 3
expect_ge "json chunks_rejected" "$rejected" 3
expect_le "json chunks_rejected" "$rejected" "$corrupted"
expect_eq "requests to store b" "$(log_count '/b.castr/.*\.cacnk HTTP/[12][.0-9]*" 200 ')" "$distinct"
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" "$distinct"
cache_verify "$TEST_TMP/d4" "$index"
echo "ok: chunks the fault server corrupts come from the second store"

# --- 4. 503 once, 429 once ---------------------------------------------------------------------
for fault in 503once 429once; do
        status=$(echo "$fault" | cut -c1-3)
        : >"$FAULT_LOG"
        acf --dir="$TEST_TMP/d.$fault" --insecure-options=http extract --ca-cert="$HTTP_CA" \
                --store="$FAULT_URL/$fault/a.castr" --json "$url" "$TEST_TMP/out.$fault"
        expect_rc 0 "$fault"
        expect_same_tree "$tree" "$TEST_TMP/out.$fault"
        expect_no_err 'error:'
        expect_eq "$fault: $status answers" "$(http_fault_count "\\.cacnk $status\$")" "$distinct"
        expect_eq "$fault: 200 answers" "$(http_fault_count '\.cacnk 200$')" "$distinct"
        expect_eq "$fault: json http_retries" "$(json_int http_retries)" "$distinct"
        expect_eq "$fault: json http_requests" "$(json_int http_requests)" $((2 * distinct + 1))
        cache_verify "$TEST_TMP/d.$fault" "$index"
        echo "ok: $fault is retried"
done

echo "fetch_failover passed"
