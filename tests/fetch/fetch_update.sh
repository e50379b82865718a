#!/bin/sh
# `acfetch fetch NAME` again after the image changed, and after it did not: v2 (v1 with one
# changed file) downloads exactly the chunks v1 lacks; an unchanged index is revalidated with
# If-None-Match, answered 304, and nothing is downloaded; while a Cache-Control max-age is fresh
# the index is not requested at all; --pull-policy=new uses the store first and the network only
# for a name it lacks; --pull-policy=never works with the server gone and fails for names (or
# labels, os/arch included) the store lacks.
# $NET is a list of options, split on purpose; fe_nginx_start takes no script arguments.
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init

host=upd.example.com
name=$host/app
img=$WWW/$host/img/$host
served=$img/app-latest.caidx
path=/img/$host/app-latest.caidx

fe_image "$SRC/v1" "$name" 2048
cp -a "$SRC/v1" "$SRC/v2"
# One changed file: 256 KiB in the middle of f0 rewritten (more than one maximal 64 KiB chunk).
head -c 262144 /dev/urandom | dd of="$SRC/v2/rootfs/f0" bs=1024 seek=900 conv=notrunc 2>/dev/null
touch -r "$SRC/v1/rootfs/f0" "$SRC/v2/rootfs/f0"
fe_publish "$img/app-v1.caidx" "$SRC/v1"
fe_publish "$img/app-v2.caidx" "$SRC/v2"
caidx_ids "$img/app-v1.caidx" | sort -u >"$TEST_TMP/v1.ids"
caidx_ids "$img/app-v2.caidx" | sort -u >"$TEST_TMP/v2.ids"
comm -13 "$TEST_TMP/v1.ids" "$TEST_TMP/v2.ids" >"$TEST_TMP/new.ids"
n_new=$(wc -l <"$TEST_TMP/new.ids")
expect_ge "chunks only v2 has" "$n_new" 2
expect_ge "chunks v1 and v2 share" "$(comm -12 "$TEST_TMP/v1.ids" "$TEST_TMP/v2.ids" | wc -l)" 60
cp "$img/app-v1.caidx" "$served"
cp "$img/app-v1.caidx.asc" "$served.asc"
# Published a while ago: an ETag is not kept for a document changed in its response's second
# (fetch_latest.sh), and these parts are about ETags that are.
now=$(date +%s)
touch -d "@$((now - 120))" "$served"

# Under /maxage/ every response says "Cache-Control: max-age=3600".
fe_image "$SRC/cached" "$host/cached" 512
fe_publish "$WWW/$host/maxage/$host/cached.caidx" "$SRC/cached"
fe_image "$SRC/fresh" "$host/fresh" 512
fe_publish "$img/fresh-latest.caidx" "$SRC/fresh"
fe_image "$SRC/twice" "$host/twice" 512
fe_publish "$img/twice-latest.caidx" "$SRC/twice"
touch -d "@$((now - 120))" "$img/twice-latest.caidx"
fe_page "$WWW/$host" \
        "$host/cached" "https://$host/maxage/{name}.caidx" \
        "$host" "https://$host/img/{name}-{version}.caidx"

fe_nginx_start
D=$TEST_TMP/store

etag() { # URL: the ETag nginx sends for it, without quotes
        # shellcheck disable=SC2086
        curl -sS -f $CURL_NET -D - -o /dev/null "$1" | tr -d '\r' |
                sed -n 's/^[Ee][Tt][Aa][Gg]: *"\(.*\)"$/\1/p'
}

# v2 is staged with a later mtime than v1's, so that nginx's ETag ("MTIME-SIZE" in hex) changes
# even if the sizes are equal.
etag1=$(etag "https://$host$path")
cp "$img/app-v2.caidx" "$TEST_TMP/v2.staged"
touch -d "@$((now - 60))" "$TEST_TMP/v2.staged"
etag2=$(printf '%x-%x' "$(stat -c %Y "$TEST_TMP/v2.staged")" "$(stat -c %s "$TEST_TMP/v2.staged")")
[ -n "$etag1" ] && [ "$etag1" != "$etag2" ] || fail "ETags: '$etag1' then '$etag2'"

# --- v1, then v2 within the same second (as a quick publisher and client will) ---------------
# Start early in a second: nothing may rely on one-second timestamps to tell v1 from v2.
while [ "$(date +%N | cut -c1)" != 0 ]; do
        sleep 0.01
done
log_mark
acf --dir="$D" fetch $NET --full "$name"
expect_rc 0 "fetch v1"
expect_full_id
key1=$(cat "$OUT")
fe_chunk_requests >"$TEST_TMP/v1.requests"
cp -p "$TEST_TMP/v2.staged" "$served"
cp "$img/app-v2.caidx.asc" "$served.asc"
log_mark
acf --dir="$D" fetch $NET --json "$name"
expect_rc 0 "fetch v2"
json_check
id2=$(json_str id)
key2=$(fe_key "$id2")
[ "$key2" != "$key1" ] || fail "v2 has v1's ID"
expect_eq "v2 json changed" "$(json_val changed)" true
expect_eq "v2 chunk requests (exactly the chunks v1 lacks)" "$(fe_chunk_requests | tr '\n' ' ')" \
        "$(tr '\n' ' ' <"$TEST_TMP/new.ids")"
expect_eq "v2 json chunks_downloaded" "$(json_val chunks_downloaded)" "$n_new"
expect_eq "v2 json chunks" "$(json_val chunks)" "$(caidx_ids "$img/app-v2.caidx" | wc -l)"
expect_eq "v2 json chunks_local" "$(json_val chunks_local)" \
        $(($(caidx_ids "$img/app-v2.caidx" | wc -l) - n_new))
# The v1 ETag went along and did not match.
expect_eq "v2 index request with v1's ETag, answered 200" \
        "$(log_count "\"GET $path HTTP/[0-9.]*\" 200 .* inm=.*$etag1")" 1
expect_eq "v2 index requests" "$(log_count "\"GET $path ")" 1
expect_eq "v2's ETag as nginx sends it" "$(etag "https://$host$path")" "$etag2"
expect_eq "v1 chunk requests" "$(tr '\n' ' ' <"$TEST_TMP/v1.requests")" "$(tr '\n' ' ' <"$TEST_TMP/v1.ids")"
fe_same_rootfs "$SRC/v2" "$D/trees/$key2"
fe_same_rootfs "$SRC/v1" "$D/trees/$key1"
echo "ok: v2 downloads only the $n_new new chunks"

# --- nothing changed: If-None-Match, 304, no chunk ---------------------------------------------
log_mark
acf --dir="$D" fetch $NET --json "$name"
expect_rc 0 "fetch unchanged"
json_check
expect_eq "unchanged json id" "$(json_str id)" "$id2"
expect_eq "unchanged json changed" "$(json_val changed)" false
expect_eq "unchanged json chunks_downloaded" "$(json_val chunks_downloaded)" 0
expect_eq "unchanged json bytes_downloaded" "$(json_val bytes_downloaded)" 0
expect_eq "unchanged: discovery requests that found the page" \
        "$(log_count '"GET /?ac-discovery=1 HTTP/[0-9.]*" 200 ')" 1
expect_eq "unchanged: index requests" "$(log_count "\"GET $path ")" 1
expect_eq "unchanged: a 304 for If-None-Match with v2's ETag $etag2 (v1's: $etag1; requests: $(_fetch_since fe | grep -- "$path" | tr '\n' ' '))" \
        "$(log_count "\"GET $path HTTP/[0-9.]*\" 304 .* inm=.*$etag2")" 1
expect_eq "unchanged: chunk requests" "$(log_count "$CHUNK_RE")" 0
acf --dir="$D" fetch $NET "$name"
expect_rc 0 "fetch unchanged, short"
expect_eq "short ID" "$(cat "$OUT")" "$(echo "$id2" | cut -c1-39)"
echo "ok: an unchanged index is revalidated (304) and nothing downloaded"

# --- max-age: no index request while fresh ------------------------------------------------------
cpath=/maxage/$host/cached.caidx
log_mark
acf --dir="$D" fetch $NET --full "$host/cached"
expect_rc 0 "fetch cached"
ckey=$(cat "$OUT")
expect_eq "cached: index requests" "$(log_count "\"GET $cpath HTTP/[0-9.]*\" 200 ")" 1
fe_same_rootfs "$SRC/cached" "$D/trees/$ckey"
# Another image behind the same URL: while max-age holds, acfetch must not even ask.
cp "$img/app-v2.caidx" "$WWW/$host$cpath"
log_mark
acf --dir="$D" fetch $NET --full "$host/cached"
expect_rc 0 "fetch cached again"
expect_eq "cached again: ID" "$(cat "$OUT")" "$ckey"
expect_eq "cached again: index requests" "$(log_count "$cpath")" 0
expect_eq "cached again: chunk requests" "$(log_count "$CHUNK_RE")" 0
echo "ok: max-age is honoured"

# --- one run, one image under two spellings: the second finds what the first stored ----------
log_mark
acf --dir="$TEST_TMP/store0" fetch $NET --json "$host/twice" "$host/twice,os=$HOST_OS"
expect_rc 0 "one image twice in one run"
json_check
expect_eq "json changed of both" "$(json_vals changed | tr '\n' ' ')" "true false "
expect_eq "json chunks_downloaded of both" "$(json_vals chunks_downloaded | tr '\n' ' ')" \
        "$(caidx_distinct "$img/twice-latest.caidx") 0 "
expect_eq "index requests answered 200" "$(log_count '"GET /img/[^ ]*/twice-latest.caidx HTTP/[0-9.]*" 200 ')" 1
expect_eq "index requests answered 304 (the ETag the first one saved)" \
        "$(log_count '"GET /img/[^ ]*/twice-latest.caidx HTTP/[0-9.]*" 304 ')" 1
echo "ok: a second name in the same run revalidates"

# --- --pull-policy=new ---------------------------------------------------------------------------
log_mark
acf --dir="$D" fetch $NET --pull-policy=new --full "$name"
expect_rc 0 "new, stored"
expect_eq "new, stored: ID (the latest import)" "$(cat "$OUT")" "$key2"
expect_eq "new, stored: requests" "$(log_count .)" 0
acf --dir="$D" fetch $NET --pull-policy=new --full "$host/fresh"
expect_rc 0 "new, not stored"
fkey=$(cat "$OUT")
fe_same_rootfs "$SRC/fresh" "$D/trees/$fkey"
expect_eq "new, not stored: index requests" "$(log_count '"GET /img/[^ ]*/fresh-latest.caidx ')" 1
echo "ok: --pull-policy=new"

# --- --pull-policy=never, with the server gone -------------------------------------------------
nginx_stop
acf --dir="$D" fetch $NET --pull-policy=never --full "$name"
expect_rc 0 "never, stored"
expect_eq "never: ID" "$(cat "$OUT")" "$key2"
acf --dir="$D" fetch $NET --pull-policy=never "$host/fresh,os=$HOST_OS,arch=$HOST_ARCH"
expect_rc 0 "never, os and arch spelled out"
expect_eq "never: fresh ID" "$(cat "$OUT")" "$(echo "$fkey" | cut -c1-39)"
other_arch=aarch64
[ "$HOST_ARCH" != aarch64 ] || other_arch=amd64
for ref in "$host/unknown" "$name,channel=beta" "$name:1.0" "$name,arch=$other_arch"; do
        acf --dir="$D" fetch $NET --pull-policy=never "$ref"
        [ "$RC" -ne 0 ] || fail "never: $ref succeeded: $(cat "$OUT")"
        [ ! -s "$OUT" ] || fail "never: $ref printed: $(cat "$OUT")"
        expect_eq "never: stderr lines for $ref" "$(wc -l <"$ERR")" 1
done
acf --dir="$D" fetch $NET --pull-policy=new "$name"
expect_rc 0 "new, stored, server gone"
acf --dir="$D" fetch $NET "$name"
[ "$RC" -ne 0 ] || fail "update with the server gone succeeded"
echo "ok: --pull-policy=never"

echo "fetch_update passed"
