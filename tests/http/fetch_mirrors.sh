#!/bin/sh
# Several remote stores are mirrors: downloads are spread over them by what each delivers. With
# one mirror far slower (400 ms round trip through bench's delay proxy), the fetch completes
# sooner than from the slow one alone, most chunks come from the fast one, and every chunk is
# verified and kept once. A download far slower than its peers (the fault server's /lag/ holds one
# chunk in four back for 3 s) is asked of the other store too: the first verified copy wins, and
# the duplicate is never stored (each chunk file is renamed into the store once).
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init
require_cmd strace

www=$TEST_TMP/www
tree=$TEST_TMP/tree
fetch_make_tree "$tree" 2048 1024 1024
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
distinct=$(caidx_distinct "$index")
expect_ge "distinct chunks" "$distinct" 200
echo "image: $distinct distinct chunks"
mv "$www/default.castr" "$www/fast.castr"
cp -a "$www/fast.castr" "$www/slow.castr"
cp -a "$www/fast.castr" "$www/lag.castr"

http_nginx_start "$www"
delay_proxy_start "$NGINX_HTTP_PORT" 400
fast=$NGINX_HTTP_URL/fast.castr
slow=http://127.0.0.1:$PROXY_PORT/slow.castr
url=$NGINX_HTTP_URL/x.caidx

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- 1. one mirror far slower ------------------------------------------------------------------
t0=$(now_ms)
acf --dir="$TEST_TMP/d1" --insecure-options=http extract --json --store="$slow" "$url" \
        "$TEST_TMP/out1"
slow_ms=$(($(now_ms) - t0))
expect_rc 0 "the slow mirror alone"
expect_same_tree "$tree" "$TEST_TMP/out1"

log_mark
t0=$(now_ms)
acf --debug --dir="$TEST_TMP/d2" --insecure-options=http extract --json --store="$slow" \
        --store="$fast" "$url" "$TEST_TMP/out2"
both_ms=$(($(now_ms) - t0))
expect_rc 0 "both mirrors"
expect_same_tree "$tree" "$TEST_TMP/out2"
from_fast=$(log_count '/fast.castr/.*\.cacnk HTTP/1\.1" 200 ')
from_slow=$(log_count '/slow.castr/.*\.cacnk HTTP/1\.1" 200 ')
echo "slow mirror alone: $slow_ms ms; both: $both_ms ms ($from_fast chunks from the fast one, $from_slow from the slow one)"
expect_le "time with both mirrors (ms), against the slow one alone" "$both_ms" "$slow_ms"
expect_ge "chunks from the fast mirror, against the slow one" "$from_fast" "$((from_slow + 1))"
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" "$distinct"
cache_verify "$TEST_TMP/d2" "$index"
echo "ok: two mirrors, one far slower: sooner than the slow one alone, mostly from the fast one"

# --- 2. a mirror with slow moments: hedged downloads ----------------------------------------------
http_faultserver_start "$www"
# Every rename into the store's chunks/ is traced (the store renames a chunk's temporary file to
# its name, relative to its directory): a chunk kept twice would be renamed twice.
# LeakSanitizer cannot run under ptrace: no leak check for this one run (ASan builds).
ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
        strace -f -qq -e trace=rename,renameat,renameat2 -o "$TEST_TMP/renames" \
        "$A" --debug --dir="$TEST_TMP/d3" --insecure-options=http extract --json \
        --store="$FAULT_URL/lag/lag.castr" --store="$fast" "$url" "$TEST_TMP/out3" \
        >"$OUT" 2>"$ERR" || fail "fetch with a lagging mirror: $(tail -n 3 "$ERR")"
expect_same_tree "$tree" "$TEST_TMP/out3"
hedged=$(grep -c 'no answer after [0-9]* ms; asking ' "$ERR") || true
lagged=$(http_fault_count '^GET /lag/lag.castr/.*\.cacnk 200$')
echo "downloads from the lagging mirror: $lagged; hedged: $hedged"
expect_ge "hedged downloads" "$hedged" 1
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" "$distinct"
kept=$(grep -c 'renameat2([0-9]*, "[^"]*", [0-9]*, "[0-9a-f]\{64\}\.cacnk"' \
        "$TEST_TMP/renames") || true
expect_eq "chunk files renamed into the store" "$kept" "$distinct"
cache_verify "$TEST_TMP/d3" "$index"
expect_eq "temporary files in d3/chunks" "$(cache_tmp "$TEST_TMP/d3")" ""
echo "ok: slow downloads are asked of the other mirror too, and each chunk is kept once"

echo "fetch_mirrors passed"
