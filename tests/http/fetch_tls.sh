#!/bin/sh
# acfetch's TLS policy: a redirect from https to http is refused even with
# --insecure-options=http (https to https is followed); an unknown CA and a wrong host name fail
# verification unless --insecure-options=tls; a server that wants a client certificate gets one
# with --client-cert/--client-key and refuses the fetch without.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init

www=$TEST_TMP/www
tree=$TEST_TMP/tree
fetch_make_tree "$tree" 384
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
distinct=$(caidx_distinct "$index")
expect_ge "distinct chunks" "$distinct" 10

# /down/P redirects to plain http, /up/P to https (both on this instance).
cat >"$TEST_TMP/snippet" <<'EOF'
location ^~ /down/ {
        rewrite ^/down/(.*)$ http://127.0.0.1:@HTTP_PORT@/$1 permanent;
}
location ^~ /up/ {
        rewrite ^/up/(.*)$ https://127.0.0.1:@HTTPS_PORT@/$1 permanent;
}
EOF
http_nginx_start -s "$TEST_TMP/snippet" "$www"
url=$NGINX_HTTPS_URL/x.caidx

expect_refused() { # DEST D
        [ ! -e "$1" ] || fail "a refused fetch created $1"
        expect_eq "cached chunks after a refused fetch" "$(cache_count "$2")" 0
}

# --- 6. https → http redirects -----------------------------------------------------------------
log_mark
acf --dir="$TEST_TMP/d1" --insecure-options=http extract --ca-cert="$HTTP_CA" \
        "$NGINX_HTTPS_URL/down/x.caidx" "$TEST_TMP/out1"
expect_rc 1 "index redirected to http"
expect_err "^acfetch: error: $NGINX_HTTPS_URL/down/x.caidx: .*redirect"
expect_eq "redirects" "$(log_count "^$NGINX_HTTPS_PORT \"GET /down/x.caidx HTTP/2.0\" 301 ")" 1
expect_eq "plain http requests" "$(log_count "^$NGINX_HTTP_PORT ")" 0
expect_refused "$TEST_TMP/out1" "$TEST_TMP/d1"

log_mark
acf --dir="$TEST_TMP/d1" --insecure-options=http extract --ca-cert="$HTTP_CA" \
        --store="$NGINX_HTTPS_URL/down/default.castr" "$url" "$TEST_TMP/out1"
expect_rc 1 "store redirected to http"
expect_err "^acfetch: error: $NGINX_HTTPS_URL/down/default.castr/$CHUNK_RE: .*redirect"
expect_err "^acfetch: error: chunk $ID_RE: could not be downloaded from any store"
expect_ge "redirected chunk requests" "$(log_count '"GET /down/default.castr/.* 301 ')" 1
expect_eq "plain http requests" "$(log_count "^$NGINX_HTTP_PORT ")" 0
expect_refused "$TEST_TMP/out1" "$TEST_TMP/d1"
echo "ok: https to http redirects are refused"

# https → https is followed, for the index and for every chunk.
log_mark
acf --dir="$TEST_TMP/d2" extract --ca-cert="$HTTP_CA" --store="$NGINX_HTTPS_URL/up/default.castr" \
        "$NGINX_HTTPS_URL/up/x.caidx" "$TEST_TMP/out2"
expect_rc 0 "https to https redirects"
expect_same_tree "$tree" "$TEST_TMP/out2"
expect_eq "redirected chunk requests" "$(log_count '"GET /up/default.castr/.* 301 ')" "$distinct"
expect_eq "chunk requests" "$(log_count '"GET /default.castr/.* 200 ')" "$distinct"
echo "ok: https to https redirects are followed"

# --- 6. certificate verification --------------------------------------------------------------
for kind in untrusted wrongname; do
        if [ "$kind" = untrusted ]; then
                base=$NGINX_UNTRUSTED_URL
                port=$NGINX_UNTRUSTED_PORT
                why="TLS certificate not trusted: .*; for a private CA, pass --ca-cert=FILE"
        else
                base=$NGINX_WRONGNAME_URL
                port=$NGINX_WRONGNAME_PORT
                why="TLS certificate does not match the name 127.0.0.1 (name mismatch)"
        fi
        log_mark
        acf --dir="$TEST_TMP/d.$kind" extract --ca-cert="$HTTP_CA" "$base/x.caidx" \
                "$TEST_TMP/out.$kind"
        expect_rc 1 "$kind certificate"
        expect_err "^acfetch: error: 127.0.0.1:$port: $why (fetching $base/x.caidx)\$"
        expect_eq "$kind: requests that got through" "$(log_count "^$port ")" 0
        expect_refused "$TEST_TMP/out.$kind" "$TEST_TMP/d.$kind"

        # The index is trusted but the store on that port is not.
        acf --dir="$TEST_TMP/d.$kind" extract --ca-cert="$HTTP_CA" --store="$base/default.castr" \
                "$url" "$TEST_TMP/out.$kind"
        expect_rc 1 "$kind certificate on the store"
        expect_err "^acfetch: error: 127.0.0.1:$port: $why (fetching $base/default.castr/$CHUNK_RE)\$"
        # Once for the host, not once per chunk.
        expect_eq "$kind: certificate errors" "$(grep -c 'error: .*TLS certificate' "$ERR")" 1
        expect_eq "$kind: requests that got through" "$(log_count "^$port ")" 0
        expect_refused "$TEST_TMP/out.$kind" "$TEST_TMP/d.$kind"

        acf --dir="$TEST_TMP/d.$kind" --insecure-options=tls extract "$base/x.caidx" \
                "$TEST_TMP/out.$kind"
        expect_rc 0 "$kind certificate with --insecure-options=tls"
        expect_eq "--insecure-options=tls warnings" \
                "$(grep -c '^acfetch: warning: .*(--insecure-options=tls)$' "$ERR")" 1
        expect_same_tree "$tree" "$TEST_TMP/out.$kind"
        expect_eq "$kind: chunk requests" "$(log_count "^$port \"GET /default.castr/.* 200 ")" \
                "$distinct"
        echo "ok: $kind certificate refused, and accepted with --insecure-options=tls"
done

# Our CA is not in the system's bundle: without --ca-cert the good server is not trusted either.
acf --dir="$TEST_TMP/d3" extract "$url" "$TEST_TMP/out3"
expect_rc 1 "test CA without --ca-cert"
expect_err "^acfetch: error: 127.0.0.1:$NGINX_HTTPS_PORT: TLS certificate not trusted: .*; for a private CA, pass --ca-cert=FILE (fetching $url)\$"
expect_refused "$TEST_TMP/out3" "$TEST_TMP/d3"
echo "ok: the test CA is trusted only with --ca-cert"

# --- 7. client certificates --------------------------------------------------------------------
mtls=$NGINX_MTLS_URL/x.caidx
log_mark
acf --dir="$TEST_TMP/d4" extract --ca-cert="$HTTP_CA" --client-cert="$HTTP_CLIENT_CERT" \
        --client-key="$HTTP_CLIENT_KEY" "$mtls" "$TEST_TMP/out4"
expect_rc 0 "client certificate"
expect_same_tree "$tree" "$TEST_TMP/out4"
expect_eq "chunk requests with a client certificate" \
        "$(log_count "^$NGINX_MTLS_PORT \"GET /default.castr/.* 200 ")" "$distinct"

log_mark
acf --dir="$TEST_TMP/d5" extract --ca-cert="$HTTP_CA" "$mtls" "$TEST_TMP/out5"
expect_rc 1 "no client certificate"
expect_err "^acfetch: error: $mtls: HTTP status 400\$"
expect_eq "requests without a client certificate" "$(log_count "^$NGINX_MTLS_PORT .* 400 ")" 1
expect_refused "$TEST_TMP/out5" "$TEST_TMP/d5"

acf --dir="$TEST_TMP/d5" extract --ca-cert="$HTTP_CA" --client-cert="$HTTP_UNTRUSTED_CLIENT_CERT" \
        --client-key="$HTTP_UNTRUSTED_CLIENT_KEY" "$mtls" "$TEST_TMP/out5"
expect_rc 1 "client certificate from another CA"
expect_err "^acfetch: error: $mtls: HTTP status 400\$"
expect_refused "$TEST_TMP/out5" "$TEST_TMP/d5"

# The index from the open port, the chunks from the client-certificate port without one.
acf --dir="$TEST_TMP/d5" extract --ca-cert="$HTTP_CA" --store="$NGINX_MTLS_URL/default.castr" \
        "$url" "$TEST_TMP/out5"
expect_rc 1 "store wants a client certificate"
expect_err "^acfetch: error: $NGINX_MTLS_URL/default.castr/$CHUNK_RE: HTTP status 400\$"
expect_refused "$TEST_TMP/out5" "$TEST_TMP/d5"
echo "ok: client certificates"

echo "fetch_tls passed"
