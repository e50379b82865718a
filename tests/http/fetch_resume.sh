#!/bin/sh
# acfetch resumes: after a fetch that failed (one chunk 404) or was killed (SIGKILL), the chunks
# already in <dir>/chunks are kept and a rerun downloads exactly the others.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init

www=$TEST_TMP/www
tree=$TEST_TMP/tree
fetch_make_tree "$tree" 3072 1024
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
items=$(caidx_ids "$index" | wc -l)
distinct=$(caidx_distinct "$index")
expect_ge "distinct chunks" "$distinct" 200
echo "image: $items chunks, $distinct distinct"
caidx_ids "$index" | sort -u >"$TEST_TMP/ids"

http_nginx_start "$www"
url=$NGINX_HTTPS_URL/x.caidx
chunk_req='\.cacnk HTTP'

cached_ids() { # D: the IDs of the chunk files in D/chunks, sorted
        find "$1/chunks" -type f -name '*.cacnk' | sed 's|.*/||; s|\.cacnk$||' | sort
}

requested_ids() { # [NAME]: the chunk IDs requested since log_mark, sorted
        nginx_sync "${1:-}"
        _fetch_since "${1:-$NGINX_LAST}" | grep -- "$chunk_req" |
                sed 's|.*/\([0-9a-f]\{64\}\)\.cacnk HTTP.*|\1|' | sort
}

# Every cached file must be a chunk of the image.
expect_cache_subset() { # D
        extra=$(cached_ids "$1" | comm -23 - "$TEST_TMP/ids")
        expect_eq "cached chunks the image does not have" "$extra" ""
}

# --- 8. a fetch that fails on a 404, then a rerun ----------------------------------------------
gone=$(caidx_ids "$index" | sed -n "$((items / 2))p")
mv "$www/default.castr/$(chunk_rel "$gone")" "$TEST_TMP/gone.cacnk"
log_mark
acf --dir="$TEST_TMP/d1" extract --ca-cert="$HTTP_CA" "$url" "$TEST_TMP/out1"
expect_rc 254 "fetch with a missing chunk"
expect_err "^acfetch: error: chunk $gone: not found in any store\$"
expect_eq "requests for the missing chunk" \
        "$(log_count "\"GET /default.castr/$(chunk_rel "$gone") HTTP/[12][.0-9]*\" 404 ")" 1
[ ! -e "$TEST_TMP/out1" ] || fail "a failed fetch created its destination"
expect_eq "destination leftovers" "$(find "$TEST_TMP" -maxdepth 1 -name '.out1*')" ""
kept=$(cache_count "$TEST_TMP/d1")
expect_ge "chunks kept from the failed fetch" "$kept" 1
expect_ge "chunks not fetched" "$((distinct - 1))" "$kept"
[ ! -e "$TEST_TMP/d1/chunks/$(chunk_rel "$gone")" ] || fail "the missing chunk is cached"
expect_eq "temporary files after the failed fetch" "$(cache_tmp "$TEST_TMP/d1")" ""
expect_cache_subset "$TEST_TMP/d1"
cached_ids "$TEST_TMP/d1" >"$TEST_TMP/c1"
# Every chunk the failed fetch downloaded was kept.
expect_eq "chunks downloaded but not kept" \
        "$(requested_ids | grep -v "^$gone\$" | comm -23 - "$TEST_TMP/c1")" ""
echo "failed fetch kept $kept of $distinct chunks"

mv "$TEST_TMP/gone.cacnk" "$www/default.castr/$(chunk_rel "$gone")"
log_mark
acf --dir="$TEST_TMP/d1" extract --ca-cert="$HTTP_CA" --json "$url" "$TEST_TMP/out1"
expect_rc 0 "rerun"
expect_same_tree "$tree" "$TEST_TMP/out1"
expect_eq "chunk requests of the rerun" "$(log_count "$chunk_req")" $((distinct - kept))
expect_eq "chunks requested again" "$(requested_ids | comm -12 - "$TEST_TMP/c1")" ""
expect_eq "json chunks_needed" "$(json_int chunks_needed)" $((distinct - kept))
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" $((distinct - kept))
cache_verify "$TEST_TMP/d1" "$index"
echo "ok: the rerun after a failed fetch downloaded the $((distinct - kept)) missing chunks"

# --- 8. a fetch killed with SIGKILL, then a rerun ----------------------------------------------
# The rate limit stretches the fetch to several seconds; it is killed once some chunks are in.
"$A" --dir="$TEST_TMP/d2" extract --ca-cert="$HTTP_CA" --rate-limit=512K "$url" \
        "$TEST_TMP/out2" 2>"$TEST_TMP/err2" &
pid=$!
some_cached() {
        [ "$(cache_count "$TEST_TMP/d2")" -ge 20 ]
}
wait_until some_cached || fail "the fetch cached no chunks: $(cat "$TEST_TMP/err2")"
kill -KILL "$pid"
rc=0
wait "$pid" || rc=$?
expect_eq "status of the killed fetch" "$rc" 137
[ ! -e "$TEST_TMP/out2" ] || fail "a killed fetch created its destination"
kept=$(cache_count "$TEST_TMP/d2")
expect_ge "chunks not fetched before the kill" "$((distinct - 1))" "$kept"
expect_cache_subset "$TEST_TMP/d2"
cached_ids "$TEST_TMP/d2" >"$TEST_TMP/c2"
cache_tmp "$TEST_TMP/d2" | sort >"$TEST_TMP/tmp-after-kill"
left=$(find "$TEST_TMP" -maxdepth 1 -name '.out2*')
echo "killed fetch kept $kept of $distinct chunks;" \
        "temporary files in d2/chunks: $(wc -l <"$TEST_TMP/tmp-after-kill");" \
        "beside the destination: ${left:-none}"

# The rerun goes to a second nginx on the same files, whose log has only the rerun's requests.
http_nginx_start -n rerun "$www"
acf --dir="$TEST_TMP/d2" extract --ca-cert="$HTTP_CA" --json "$NGINX_HTTPS_URL/x.caidx" \
        "$TEST_TMP/out2"
expect_rc 0 "rerun after the kill"
expect_same_tree "$tree" "$TEST_TMP/out2"
expect_eq "chunk requests of the rerun" "$(http_log_count "$chunk_req" rerun)" \
        $((distinct - kept))
expect_eq "chunks requested again" "$(requested_ids rerun | comm -12 - "$TEST_TMP/c2")" ""
expect_eq "json chunks_downloaded" "$(json_int chunks_downloaded)" $((distinct - kept))
# The rerun adds no temporary files of its own; a killed fetch's may remain.
cache_tmp "$TEST_TMP/d2" | sort >"$TEST_TMP/tmp-after-rerun"
expect_eq "temporary files the rerun left" \
        "$(comm -13 "$TEST_TMP/tmp-after-kill" "$TEST_TMP/tmp-after-rerun")" ""
expect_eq "chunk files after the rerun" "$(cache_count "$TEST_TMP/d2")" "$distinct"
echo "ok: the rerun after SIGKILL downloaded the $((distinct - kept)) missing chunks;" \
        "left from the killed fetch: $(wc -l <"$TEST_TMP/tmp-after-rerun") temporary chunk" \
        "files, $(find "$TEST_TMP" -maxdepth 1 -name '.out2*' | wc -l) temporary destinations"

echo "fetch_resume passed"
