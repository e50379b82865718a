#!/bin/sh
# Checks the HTTP test harness itself with the curl CLI: nginx over HTTP, HTTPS/2 and the bad-cert
# and client-cert ports, snippets, the access log, port retry, and every fault-server mode.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
require_root "runs a private nginx as root"
http_init

# curl's status line summary: "HTTP_CODE SIZE". Never fails the script on curl errors.
fetch() { # OUTFILE URL [CURL ARGS...]
        _out=$1
        shift
        curl -sS -o "$_out" -w '%{http_code} %{size_download}' "$@" 2>"$TEST_TMP/curl.err" ||
                true
}

# curl's exit status for a request.
curl_rc() {
        _rc=0
        curl -sS -o /dev/null "$@" 2>"$TEST_TMP/curl.err" || _rc=$?
        echo "$_rc"
}

www=$TEST_TMP/www
chunk=default.castr/ab12/ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12.cacnk
gone=default.castr/ab12/ab12000000000000000000000000000000000000000000000000000000000000.cacnk
mkdir -p "$www/default.castr/ab12"
head -c 100001 /dev/urandom >"$www/file.bin"
head -c 4000 /dev/urandom >"$www/$chunk"
cp "$www/$chunk" "$www/$gone"
printf 'tiny\n' >"$www/tiny"
size=100001
half=50000

# --- fault server ------------------------------------------------------------------------------
http_faultserver_start "$www"
[ -n "$FAULT_PORT" ] || fail "no fault server port"

expect_eq "ok" "$(fetch "$TEST_TMP/o" "$FAULT_URL/ok/file.bin")" "200 $size"
cmp -s "$TEST_TMP/o" "$www/file.bin" || fail "ok: body differs"
expect_eq "ok HEAD" "$(fetch /dev/null "$FAULT_URL/ok/file.bin" -I)" "200 0"
expect_eq "unknown fault" "$(fetch /dev/null "$FAULT_URL/nosuch/file.bin")" "404 10"
expect_eq "missing file" "$(fetch /dev/null "$FAULT_URL/ok/none.bin")" "404 10"
expect_eq "dot-dot" "$(fetch /dev/null "$FAULT_URL/ok/../file.bin" --path-as-is)" "404 10"

expect_eq "503once first" "$(fetch /dev/null "$FAULT_URL/503once/file.bin")" "503 20"
expect_eq "503once second" "$(fetch "$TEST_TMP/o" "$FAULT_URL/503once/file.bin")" "200 $size"
cmp -s "$TEST_TMP/o" "$www/file.bin" || fail "503once: body differs"
expect_eq "503once other path" "$(fetch /dev/null "$FAULT_URL/503once/$chunk")" "503 20"

curl -sS -D "$TEST_TMP/h" -o /dev/null "$FAULT_URL/429once/file.bin" || true
grep -q '^HTTP/1.1 429 ' "$TEST_TMP/h" || fail "429once: no 429"
grep -qi '^Retry-After: 0' "$TEST_TMP/h" || fail "429once: no Retry-After: 0"
expect_eq "429once second" "$(fetch /dev/null "$FAULT_URL/429once/file.bin")" "200 $size"

expect_eq "truncate" "$(fetch "$TEST_TMP/o" "$FAULT_URL/truncate/file.bin")" "200 $half"
grep -q 'transfer closed with' "$TEST_TMP/curl.err" || fail "truncate: curl saw no short body"
expect_eq "truncate rc" "$(curl_rc "$FAULT_URL/truncate/file.bin")" 18
head -c $half "$www/file.bin" | cmp -s - "$TEST_TMP/o" || fail "truncate: wrong half"

expect_eq "corrupt" "$(fetch "$TEST_TMP/o" "$FAULT_URL/corrupt/file.bin")" "200 $size"
expect_eq "corrupt diff" "$(cmp -l "$www/file.bin" "$TEST_TMP/o" | awk '{print $1}')" \
        $((size / 2 + 1))

curl -sS -D "$TEST_TMP/h" -o /dev/null "$FAULT_URL/redirect-http/$chunk" || true
grep -q '^HTTP/1.1 301 ' "$TEST_TMP/h" || fail "redirect-http: no 301"
expect_eq "redirect Location" "$(sed -n 's/^Location: \(.*\)\r$/\1/p' "$TEST_TMP/h")" \
        "http://127.0.0.1:$FAULT_PORT/ok/$chunk"
expect_eq "redirect followed" "$(fetch /dev/null -L "$FAULT_URL/redirect-http/$chunk")" "200 4000"

# Endless chunked body: take 3 MiB of it, then hang up.
got=$(curl -sS -D "$TEST_TMP/h" "$FAULT_URL/chunked-huge/anything" 2>/dev/null |
        head -c 3145728 | tr -d '\0' | wc -c)
expect_eq "chunked-huge nonzero bytes" "$got" 0
got=$(curl -sS "$FAULT_URL/chunked-huge/anything" 2>/dev/null | head -c 3145728 | wc -c)
expect_eq "chunked-huge length" "$got" 3145728
grep -qi '^Transfer-Encoding: chunked' "$TEST_TMP/h" || fail "chunked-huge: not chunked"
! grep -qi '^Content-Length' "$TEST_TMP/h" || fail "chunked-huge: has Content-Length"

# Stall: half the body arrives, then nothing; the transfer must still be open when we end it.
curl -sS -N -o "$TEST_TMP/stall" "$FAULT_URL/stall/file.bin" 2>/dev/null &
stall_pid=$!
stall_half() {
        [ "$(wc -c 2>/dev/null <"$TEST_TMP/stall" || echo 0)" -ge $half ]
}
wait_until stall_half || fail "stall: half the body never arrived"

# While that connection hangs, the server keeps serving many clients at once.
i=0
pids=
while [ $i -lt 40 ]; do
        curl -sS -o "$TEST_TMP/par.$i" "$FAULT_URL/ok/file.bin" &
        pids="$pids $!"
        i=$((i + 1))
done
for p in $pids; do
        wait "$p" || fail "parallel fetch failed"
done
i=0
while [ $i -lt 40 ]; do
        cmp -s "$TEST_TMP/par.$i" "$www/file.bin" || fail "parallel fetch $i differs"
        i=$((i + 1))
done

kill "$stall_pid" 2>/dev/null || fail "stall: transfer ended on its own"
wait "$stall_pid" || true
expect_eq "stall size" "$(wc -c <"$TEST_TMP/stall")" $half

# Slow: five bytes, one per 100 ms after the first, so at least 400 ms.
t0=$(date +%s%N)
expect_eq "slow" "$(fetch "$TEST_TMP/o" "$FAULT_URL/slow/tiny")" "200 5"
t1=$(date +%s%N)
cmp -s "$TEST_TMP/o" "$www/tiny" || fail "slow: body differs"
[ $(((t1 - t0) / 1000000)) -ge 400 ] || fail "slow: took only $(((t1 - t0) / 1000000)) ms"

# 500: every time, whether or not the file exists.
expect_eq "500" "$(fetch /dev/null "$FAULT_URL/500/file.bin")" "500 22"
expect_eq "500 again" "$(fetch /dev/null "$FAULT_URL/500/file.bin")" "500 22"
expect_eq "500 no file" "$(fetch /dev/null "$FAULT_URL/500/none.bin")" "500 22"

# ETag: the file with its tag; If-None-Match naming it (or "*") gets 304 without a body.
expect_eq "etag" "$(fetch "$TEST_TMP/o" "$FAULT_URL/etag/file.bin" -D "$TEST_TMP/h")" "200 $size"
cmp -s "$TEST_TMP/o" "$www/file.bin" || fail "etag: body differs"
etag=$(sed -n 's/^ETag: \(.*\)\r$/\1/p' "$TEST_TMP/h")
[ -n "$etag" ] || fail "etag: no ETag header"
grep -qi '^Cache-Control: max-age=60' "$TEST_TMP/h" || fail "etag: no Cache-Control"
expect_eq "etag 304" "$(fetch /dev/null "$FAULT_URL/etag/file.bin" -H "If-None-Match: $etag")" \
        "304 0"
expect_eq "etag 304 list" \
        "$(fetch /dev/null "$FAULT_URL/etag/file.bin" -H "If-None-Match: \"x\", $etag")" "304 0"
expect_eq "etag *" "$(fetch /dev/null "$FAULT_URL/etag/file.bin" -H 'If-None-Match: *')" "304 0"
expect_eq "etag other" "$(fetch /dev/null "$FAULT_URL/etag/file.bin" -H 'If-None-Match: "x"')" \
        "200 $size"

# Keep-alive: two requests on one connection.
curl -sv -o /dev/null -o /dev/null "$FAULT_URL/ok/tiny" "$FAULT_URL/ok/$chunk" 2>"$TEST_TMP/v" ||
        fail "keep-alive fetch"
grep -q 'Re-using existing connection' "$TEST_TMP/v" || fail "fault server: no keep-alive"

expect_eq "fault log 503" "$(http_fault_count '^GET /503once/file.bin 503$')" 1
expect_eq "fault log 503 then 200" "$(http_fault_count '^GET /503once/file.bin 200$')" 1
expect_eq "fault log stall" "$(http_fault_count '^GET /stall/file.bin 200$')" 1
expect_eq "fault log ok" "$(http_fault_count '^GET /ok/file.bin 200$')" 41

http_faultserver_stop

# --- nginx -------------------------------------------------------------------------------------
# Snippet: a redirect to plain HTTP and a 404 for one chunk that exists on disk.
cat >"$TEST_TMP/snippet" <<EOF
location = /moved.caidx {
        return 301 http://127.0.0.1:@HTTP_PORT@/file.bin;
}
location = /$gone {
        return 404;
}
EOF

# Hand nginx a port that is already in use: it must fail to bind and be restarted elsewhere.
http_faultserver_start "$www"
NGINX_FIRST_PORT=$FAULT_PORT # read by nginx_launch
http_nginx_start -s "$TEST_TMP/snippet" "$www" 2>"$TEST_TMP/ns"
unset NGINX_FIRST_PORT
grep -q 'retrying with new ports' "$TEST_TMP/ns" || fail "nginx: bind failure not retried"
[ "$NGINX_HTTP_PORT" != "$FAULT_PORT" ] || fail "nginx: kept the busy port"
http_faultserver_stop
nginx_pid=$(cat "$NGINX_DIR/nginx.pid")

expect_eq "http" "$(fetch "$TEST_TMP/o" "$NGINX_HTTP_URL/file.bin")" "200 $size"
cmp -s "$TEST_TMP/o" "$www/file.bin" || fail "http: body differs"

v=$(curl -sS --cacert "$HTTP_CA" -o "$TEST_TMP/o" -w '%{http_code} %{http_version}' \
        "$NGINX_HTTPS_URL/file.bin")
expect_eq "https+h2" "$v" "200 2"
cmp -s "$TEST_TMP/o" "$www/file.bin" || fail "https: body differs"
expect_eq "https by name" \
        "$(fetch /dev/null --cacert "$HTTP_CA" "https://localhost:$NGINX_HTTPS_PORT/tiny")" "200 5"
expect_eq "https untrusted by default" "$(curl_rc "$NGINX_HTTPS_URL/tiny")" 60

expect_eq "wrong name" "$(curl_rc --cacert "$HTTP_CA" "$NGINX_WRONGNAME_URL/tiny")" 60
grep -qi 'subject' "$TEST_TMP/curl.err" || fail "wrong name: $(cat "$TEST_TMP/curl.err")"
# Same certificate reached under its own name is fine: only the name is wrong.
expect_eq "wrong name, right host" "$(curl_rc --cacert "$HTTP_CA" \
        --connect-to "wrong.example:443:127.0.0.1:$NGINX_WRONGNAME_PORT" \
        https://wrong.example/tiny)" 0

expect_eq "untrusted CA" "$(curl_rc --cacert "$HTTP_CA" "$NGINX_UNTRUSTED_URL/tiny")" 60
expect_eq "untrusted CA trusted" \
        "$(curl_rc --cacert "$HTTP_UNTRUSTED_CA" "$NGINX_UNTRUSTED_URL/tiny")" 0

expect_eq "mtls no cert" \
        "$(fetch /dev/null --cacert "$HTTP_CA" "$NGINX_MTLS_URL/tiny" | cut -d' ' -f1)" 400
expect_eq "mtls" "$(fetch /dev/null --cacert "$HTTP_CA" --cert "$HTTP_CLIENT_CERT" \
        --key "$HTTP_CLIENT_KEY" "$NGINX_MTLS_URL/tiny")" "200 5"
expect_eq "mtls untrusted client" "$(fetch /dev/null --cacert "$HTTP_CA" \
        --cert "$HTTP_UNTRUSTED_CLIENT_CERT" --key "$HTTP_UNTRUSTED_CLIENT_KEY" \
        "$NGINX_MTLS_URL/tiny" | cut -d' ' -f1)" 400

curl -sS --cacert "$HTTP_CA" -D "$TEST_TMP/h" -o /dev/null "$NGINX_HTTPS_URL/moved.caidx"
grep -q '^HTTP/2 301' "$TEST_TMP/h" || fail "snippet redirect: no 301"
expect_eq "snippet Location" "$(sed -n 's/^location: \(.*\)\r$/\1/p' "$TEST_TMP/h")" \
        "http://127.0.0.1:$NGINX_HTTP_PORT/file.bin"
expect_eq "snippet 404" "$(fetch /dev/null --cacert "$HTTP_CA" "$NGINX_HTTPS_URL/$gone" |
        cut -d' ' -f1)" 404
expect_eq "chunk" "$(fetch /dev/null --cacert "$HTTP_CA" "$NGINX_HTTPS_URL/$chunk")" "200 4000"
expect_eq "chunk over http" "$(fetch /dev/null "$NGINX_HTTP_URL/$chunk")" "200 4000"

expect_eq "log chunk requests" "$(http_log_count '\.cacnk')" 3
expect_eq "log chunk 404" "$(http_log_count "\"GET /$gone HTTP/2.0\" 404")" 1
expect_eq "log chunk h2 200" \
        "$(http_log_count "^$NGINX_HTTPS_PORT \"GET /$chunk HTTP/2.0\" 200 4000 HTTP/2.0\$")" 1
expect_eq "log sync not logged" "$(http_log_count '__sync')" 0

# A second instance runs beside the first, on other ports.
http_nginx_start -n second "$www"
[ "$NGINX_HTTP_PORT" != "$(cut -d' ' -f1 "$TEST_TMP/nginx.main/ports")" ] ||
        fail "second instance shares a port"
expect_eq "second" "$(fetch /dev/null "$NGINX_HTTP_URL/tiny")" "200 5"
expect_eq "second log" "$(http_log_count tiny second)" 1
nginx_stop second

nginx_stop main
pid_gone "$nginx_pid" || fail "nginx still running after stop"
expect_eq "log after stop" "$(http_log_count '\.cacnk' main)" 3
tmp=$TEST_TMP
test_cleanup
[ ! -d "$tmp" ] || fail "cleanup left $tmp"
for f in /proc/[0-9]*/cmdline; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$f") || continue
        case $cmd in
        *"$tmp"*) fail "process left behind: $f: $cmd" ;;
        esac
done
echo "harness smoke test passed"
