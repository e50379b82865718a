#!/bin/sh
# `acfetch fetch NAME` end to end: meta discovery walks up from example.com/team/app to the only
# page (example.com), the template's variables ({name} {version} {os} {arch} {ext} and a label)
# render to a .caidx on another host, the image lands in the store and its tree equals the
# source; stdout is exactly one ID per name (short, --full, --json); `image list`,
# `image cat-manifest`, `render` (also --rootfs-only) and `export` (sha512sum = the image ID,
# GNU tar extracts it to the source tree) agree; IDs resolve by prefix as rkt does.
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

name=example.com/team/app
src=$SRC/app
fe_image "$src" "$name" 1536 version=1.0 channel=beta
# A second copy of f0: the index lists its chunks twice, the second time served locally.
cp -p "$src/rootfs/f0" "$src/rootfs/f0.copy"
index_path=aci/beta/example.com/team/app-1.0-$HOST_OS-$HOST_ARCH.caidx
index=$WWW/images.test/$index_path
fe_publish "$index" "$src"
index_url=https://images.test/$index_path
items=$(caidx_ids "$index" | wc -l)
distinct=$(caidx_distinct "$index")
expect_ge "repeated chunks in the index" $((items - distinct)) 20

tool=example.com/team/tool
tool_src=$SRC/tool
fe_image "$tool_src" "$tool" 256
fe_publish "$WWW/images.test/example.com/team/tool-latest.caidx" "$tool_src"

# The only page, at the host: the walk must go up two levels. The first tag's prefix is
# another name; the second needs {channel} (the tool's request has none, so it is skipped for
# it); the third serves everything else.
fe_page "$WWW/example.com" \
        example.com/other 'https://images.test/other/{name}.caidx' \
        example.com 'https://images.test/{ext}/{channel}/{name}-{version}-{os}-{arch}.caidx' \
        example.com 'https://images.test/{name}-{version}.caidx'
# Decoys that a wrong walk or a wrong tag choice would hit.
mkdir -p "$WWW/images.test/other/example.com/team"
cp "$index" "$WWW/images.test/other/example.com/team/app.caidx"

fe_nginx_start
# The harness itself: the discovery page answers at the host level only, the index is there.
# shellcheck disable=SC2086
curl -sSf $CURL_NET -o /dev/null "https://example.com?ac-discovery=1" || fail "curl: page"
# shellcheck disable=SC2086
[ "$(curl -s $CURL_NET -o /dev/null -w '%{http_code}' "https://example.com/team?ac-discovery=1")" = 404 ] ||
        fail "curl: /team must be 404"
# shellcheck disable=SC2086
curl -sSf $CURL_NET -o "$TEST_TMP/curl.caidx" "$index_url" || fail "curl: index"
cmp -s "$TEST_TMP/curl.caidx" "$index" || fail "curl: index differs"

D=$TEST_TMP/store

# --- --json, into an empty store ---------------------------------------------------------------
log_mark
acf --dir="$D" fetch $NET --json "$name:1.0,channel=beta"
expect_rc 0 "fetch --json"
json_check
id=$(json_str id)
echo "$id" | grep -qx 'sha512-[0-9a-f]\{128\}' || fail "json id is not a full image ID: '$id'"
key=$(fe_key "$id")
expect_eq "json name" "$(json_str name)" "$name"
labels=$(tr -d '\n' <"$OUT" | sed -n 's/.*"labels"[[:space:]]*:[[:space:]]*{\([^}]*\)}.*/\1/p')
for kv in version=1.0 channel=beta os=$HOST_OS arch=$HOST_ARCH; do
        echo "$labels" | grep -q "\"${kv%%=*}\"[[:space:]]*:[[:space:]]*\"${kv#*=}\"" ||
                fail "json labels lack $kv: {$labels}"
done
expect_eq "json tree" "$(json_str tree)" "$D/trees/$key"
expect_eq "json index_url" "$(json_str index_url)" "$index_url"
expect_eq "json changed" "$(json_val changed)" true
expect_eq "json chunks" "$(json_val chunks)" "$items"
expect_eq "json chunks_downloaded" "$(json_val chunks_downloaded)" "$distinct"
expect_eq "json chunks_local" "$(json_val chunks_local)" $((items - distinct))
chunk_bytes=$(find "$D/chunks" -name '*.cacnk' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
bytes=$(json_val bytes_downloaded)
expect_ge "json bytes_downloaded (chunk files hold $chunk_bytes)" "$bytes" "$chunk_bytes"
expect_ge "json bytes_downloaded at most chunks + index + page" \
        $((chunk_bytes + $(wc -c <"$index") + 4096)) "$bytes"
# The walk: longest prefix first, up one component at a time, https only, then the index on the
# template's host, then each distinct chunk once.
nginx_sync
_fetch_since fe | sed -n 's/^[0-9]* "GET \([^ ]*ac-discovery=1\) [^"]*" \([0-9]*\) .*host=\([^ ]*\) .*/\3\1 \2/p' \
        >"$TEST_TMP/walk"
printf '%s\n' "example.com/team/app?ac-discovery=1 404" "example.com/team?ac-discovery=1 404" \
        "example.com/?ac-discovery=1 200" >"$TEST_TMP/walk.want"
if ! cmp -s "$TEST_TMP/walk" "$TEST_TMP/walk.want"; then
        diff "$TEST_TMP/walk.want" "$TEST_TMP/walk" >&2 || true
        fail "discovery requests differ from the walk up"
fi
expect_eq "index requests" "$(log_count "\"GET /$index_path HTTP/[0-9.]*\" 200 .*host=images.test ")" 1
expect_eq "decoy index requests" "$(log_count '/other/')" 0
expect_eq "plain http requests" "$(log_count "^$NGINX_HTTP_PORT ")" 0
expect_eq "chunk requests" "$(log_count "$CHUNK_RE")" "$distinct"
expect_eq "distinct chunk requests" "$(log_distinct "$CHUNK_RE")" "$distinct"
expect_eq "json http_requests (= requests in the access log)" "$(json_val http_requests)" \
        "$(log_count .)"
# The store layout.
expect_eq "images in the store" "$(fe_images "$D")" "$key"
expect_eq "trees in the store" "$(fe_trees "$D")" "$key"
for f in index.caidx manifest image.json; do
        [ -f "$D/images/$key/$f" ] || fail "$D/images/$key/$f is missing"
done
cmp -s "$D/images/$key/index.caidx" "$index" || fail "the stored index differs from the served one"
cmp -s "$D/images/$key/manifest" "$src/manifest" || fail "the stored manifest differs"
fe_same_rootfs "$src" "$D/trees/$key"
expect_eq "chunks in the store" "$(fe_chunks "$D" | tr '\n' ' ')" \
        "$(fe_index_chunks "$index" | tr '\n' ' ')"
echo "ok: fetch --json by name through the walk up"

# --- plain: exactly one short ID on stdout, nothing downloaded ---------------------------------
log_mark
acf --dir="$D" fetch $NET "$name:1.0,channel=beta"
expect_rc 0 "fetch"
expect_short_id
short=$(cat "$OUT")
expect_eq "short ID" "$short" "$(echo "$id" | cut -c1-39)"
expect_eq "chunk requests of the second fetch" "$(log_count "$CHUNK_RE")" 0
acf --dir="$D" fetch $NET --full "$name:1.0,channel=beta"
expect_rc 0 "fetch --full"
expect_full_id
expect_eq "--full ID" "$(cat "$OUT")" "$key"
# The same image whether os and arch are spelled out or defaulted.
acf --dir="$D" fetch $NET "$name:1.0,channel=beta,os=$HOST_OS,arch=$HOST_ARCH"
expect_rc 0 "fetch with os and arch given"
expect_eq "ID with os and arch given" "$(cat "$OUT")" "$short"
echo "ok: short and full IDs"

# --- two names: one ID line each, in order; the tool skips the {channel} tag -------------------
log_mark
acf --dir="$D" fetch $NET "$name:1.0,channel=beta" "$tool"
expect_rc 0 "fetch of two names"
expect_eq "stdout lines" "$(wc -l <"$OUT")" 2
expect_eq "first ID" "$(sed -n 1p "$OUT")" "$short"
tool_short=$(sed -n 2p "$OUT")
echo "$tool_short" | grep -qx 'sha512-[0-9a-f]\{32\}' || fail "second line is no short ID: $tool_short"
expect_eq "tool index requests" "$(log_count '"GET /example.com/team/tool-latest.caidx ')" 1
acf --dir="$D" fetch $NET --full "$tool"
expect_rc 0 "fetch --full tool"
tool_key=$(cat "$OUT")
fe_same_rootfs "$tool_src" "$D/trees/$tool_key"
echo "ok: two names"

# --- --no-render: stored, not rendered; render and a later fetch still work -------------------
D2=$TEST_TMP/store2
acf --dir="$D2" fetch $NET --no-render --json "$tool"
expect_rc 0 "fetch --no-render"
json_check
expect_eq "--no-render json id" "$(fe_key "$(json_str id)")" "$tool_key"
expect_eq "--no-render json tree" "$(json_val tree)" null
expect_eq "images after --no-render" "$(fe_images "$D2")" "$tool_key"
expect_eq "trees after --no-render" "$(fe_trees "$D2" | tr '\n' ' ')" ""
acf --dir="$D2" render "$tool" "$TEST_TMP/r0"
expect_rc 0 "render of an image fetched with --no-render"
fe_same_tree "$tool_src" "$TEST_TMP/r0"
log_mark
acf --dir="$D2" fetch $NET --full "$tool"
expect_rc 0 "fetch after --no-render"
fe_same_rootfs "$tool_src" "$D2/trees/$tool_key"
expect_eq "chunk requests of the fetch after --no-render" "$(log_count "$CHUNK_RE")" 0
echo "ok: --no-render"

# --- image list ---------------------------------------------------------------------------------
acf --dir="$D" image list
expect_rc 0 "image list"
grep "$name" "$OUT" | grep -q "$(echo "$id" | cut -c1-19)" ||
        fail "image list lacks $name with its ID: $(cat "$OUT")"
grep -q "$tool" "$OUT" || fail "image list lacks $tool: $(cat "$OUT")"
acf --dir="$D" image list --full
expect_rc 0 "image list --full"
grep "$name" "$OUT" | grep -q "$key" || fail "image list --full lacks $key: $(cat "$OUT")"
grep -q "$tool_key" "$OUT" || fail "image list --full lacks $tool_key"
acf --dir="$D" image list --json
expect_rc 0 "image list --json"
json_check
grep -q "\"$name\"" "$OUT" || fail "image list --json lacks $name"
grep -q "$key" "$OUT" || fail "image list --json lacks $key"
grep -q "$tool_key" "$OUT" || fail "image list --json lacks $tool_key"
echo "ok: image list"

# --- cat-manifest, by name and by ID prefixes ---------------------------------------------------
want_manifest=$(tr -d ' \n\t' <"$src/manifest")
for ref in "$name:1.0,channel=beta" "$name" "$short" "$key" "$id" "$(echo "$id" | cut -c1-9)"; do
        acf --dir="$D" image cat-manifest "$ref"
        expect_rc 0 "cat-manifest $ref"
        expect_eq "cat-manifest $ref" "$(tr -d ' \n\t' <"$OUT")" "$want_manifest"
done
acf --dir="$D" image cat-manifest "$tool_short"
expect_rc 0 "cat-manifest of the tool"
expect_eq "cat-manifest of the tool" "$(tr -d ' \n\t' <"$OUT")" "$(tr -d ' \n\t' <"$tool_src/manifest")"
# Not IDs (one hex digit, not hex, no such image), not a stored name.
bad_prefix=sha512-$(echo "$id" "$tool_key" | awk '{
        for (i = 0; i < 16; i++) { c = sprintf("%x", i)
                if (substr($1, 8, 1) != c && substr($2, 8, 1) != c) { print c c; exit } } }')
for ref in "$(echo "$id" | cut -c1-8)" sha512-zz "$bad_prefix" example.com/team/none; do
        acf --dir="$D" image cat-manifest "$ref"
        [ "$RC" -ne 0 ] || fail "cat-manifest $ref succeeded"
        [ ! -s "$OUT" ] || fail "cat-manifest $ref printed: $(cat "$OUT")"
        expect_eq "stderr lines of cat-manifest $ref" "$(wc -l <"$ERR")" 1
done
echo "ok: cat-manifest"

# --- render --------------------------------------------------------------------------------------
acf --dir="$D" render "$short" "$TEST_TMP/r1"
expect_rc 0 "render"
fe_same_tree "$src" "$TEST_TMP/r1"
[ ! -e "$TEST_TMP/r1/rendered" ] || [ -f "$TEST_TMP/r1/rendered" ] || fail "odd r1/rendered"
acf --dir="$D" render --rootfs-only "$name:1.0" "$TEST_TMP/r2"
expect_rc 0 "render --rootfs-only"
fe_same_tree "$src/rootfs" "$TEST_TMP/r2" strict
# An existing DIR with something in it is refused and left alone.
mkdir "$TEST_TMP/r3"
echo keep >"$TEST_TMP/r3/mine"
acf --dir="$D" render "$short" "$TEST_TMP/r3"
[ "$RC" -ne 0 ] || fail "render into a non-empty directory succeeded"
expect_eq "entries in the non-empty directory" "$(find "$TEST_TMP/r3" -mindepth 1 -printf '%P ')" "mine "
echo "ok: render"

# --- export --------------------------------------------------------------------------------------
acf --dir="$D" export "$name:1.0,channel=beta" "$TEST_TMP/app.aci"
expect_rc 0 "export"
expect_eq "sha512sum of the export" "sha512-$(sha512sum "$TEST_TMP/app.aci" | cut -c1-128)" "$id"
tar -tf "$TEST_TMP/app.aci" >"$TEST_TMP/aci.list" || fail "GNU tar cannot list the export"
expect_eq "first tar entries" "$(head -n 2 "$TEST_TMP/aci.list" | tr '\n' ' ')" "manifest rootfs/ "
mkdir "$TEST_TMP/x"
tar --numeric-owner -xpf "$TEST_TMP/app.aci" -C "$TEST_TMP/x" || fail "GNU tar cannot extract the export"
fe_same_tree "$src" "$TEST_TMP/x"
acf --dir="$D" export "$short" "$TEST_TMP/app2.aci"
expect_rc 0 "export by short ID"
cmp -s "$TEST_TMP/app.aci" "$TEST_TMP/app2.aci" || fail "two exports of one image differ"
acf --dir="$D" export "$tool_key" "$TEST_TMP/tool.aci"
expect_rc 0 "export of the tool"
expect_eq "tool export hash" "sha512-$(sha512sum "$TEST_TMP/tool.aci" | cut -c1-64)" "$tool_key"
echo "ok: export"

# --- the signature comes with the index -------------------------------------------------------
# A new index's signature is asked for while the index downloads, not after it: one round trip
# less before the first chunk. nginx sends an index under /slow/ at 256 bytes a second (its
# chunks and signature at full speed), so the index takes seconds and the signature, asked for at
# once, is logged (nginx logs a request when it ends) before it; asked for after the index, it
# would be logged after. --speed-limit=0: that slow is not a fault here.
fe_publish "$WWW/images.test/slow/tool.caidx" "$tool_src"
# At least 4 chunks (256 KiB, at most 64 KiB a chunk) and the index's header and tail: 300 bytes,
# over a second at that rate.
expect_ge "bytes of the slow index" "$(stat -c %s "$WWW/images.test/slow/tool.caidx")" 300
: >"$TEST_TMP/nginx.fe/access.log"
acf --dir="$TEST_TMP/store-slow" fetch $NET --speed-limit=0 https://images.test/slow/tool.caidx
expect_rc 0 "fetch of the slow index"
order=$(grep -o 'GET /slow/tool\.caidx[.a-z]*' "$TEST_TMP/nginx.fe/access.log" | tr '\n' ' ')
expect_eq "requests for the slow index, in the order they ended" "$order" \
        "GET /slow/tool.caidx.asc GET /slow/tool.caidx "
echo "ok: the signature is asked for with the index"

echo "fetch_name passed"
