#!/bin/sh
# Credentials from auth.d (rkt's format) and --connect-to: nginx wants basic auth (or a bearer
# token under /bearer/); acfetch gets 401 without auth.d and succeeds with credentials for the
# store's host:port; credentials never go over plain http, nor with a redirect to another host
# or port (libcurl drops the header), and never reach the log, even with --debug; --connect-to
# sends a made-up name to the test server, keeping that name for TLS and for auth.d.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init

www=$TEST_TMP/www
tree=$TEST_TMP/tree
fetch_make_tree "$tree" 256
fetch_make_image "$www" x "$tree"
index=$www/x.caidx
distinct=$(caidx_distinct "$index")
expect_ge "distinct chunks" "$distinct" 5

password='s3cret-Pw'
token='tok-Abc.123'
basic64=$(printf 'alice:%s' "$password" | base64)
printf 'alice:%s\n' "$(openssl passwd -apr1 "$password")" >"$TEST_TMP/htpasswd"

# Every server block: basic auth everywhere, a bearer token under /bearer/, and redirects that
# keep the host (/same/), change the host name (/to-localhost/) or the port (/to-other/).
auth_snippet() { # FILE [OTHER_HTTPS_PORT]
        cat >"$1" <<EOF
location / {
        auth_basic "acfetch test";
        auth_basic_user_file $TEST_TMP/htpasswd;
}
location ^~ /bearer/ {
        if (\$http_authorization != "Bearer $token") {
                return 401;
        }
        rewrite ^/bearer/(.*)\$ /\$1 break;
}
location ^~ /same/ {
        rewrite ^/same/(.*)\$ https://127.0.0.1:@HTTPS_PORT@/\$1 redirect;
}
location ^~ /to-localhost/ {
        rewrite ^/to-localhost/(.*)\$ https://localhost:@HTTPS_PORT@/\$1 redirect;
}
EOF
        if [ -n "${2:-}" ]; then
                cat >>"$1" <<EOF
location ^~ /to-other/ {
        rewrite ^/to-other/(.*)\$ https://127.0.0.1:$2/\$1 redirect;
}
EOF
        fi
}
auth_snippet "$TEST_TMP/snippet.other"
http_nginx_start -n other -s "$TEST_TMP/snippet.other" "$www"
other_port=$NGINX_HTTPS_PORT
auth_snippet "$TEST_TMP/snippet.main" "$other_port"
http_nginx_start -n main -s "$TEST_TMP/snippet.main" "$www"
port=$NGINX_HTTPS_PORT
base=$NGINX_HTTPS_URL
url=$base/x.caidx
error_log=$NGINX_DIR/error.log
other_error_log=$TEST_TMP/nginx.other/error.log

# conf DIR TYPE DOMAINS CREDENTIALS: DIR/auth.d/TYPE.json (DOMAINS: JSON strings, comma-separated)
conf() {
        mkdir -p "$1/auth.d"
        cat >"$1/auth.d/$2.json" <<EOF
{
        "rktKind": "auth",
        "rktVersion": "v1",
        "domains": [$3],
        "type": "$2",
        "credentials": $4
}
EOF
}
basic_creds="{\"user\": \"alice\", \"password\": \"$password\"}"
none=$TEST_TMP/none
# fetch CONFIG_DIR N ARGS...: extract into a fresh destination with an empty system config.
fetch() {
        _f_conf=$1
        _f_n=$2
        shift 2
        rm -rf "$TEST_TMP/out$_f_n" "$TEST_TMP/d$_f_n"
        acf --dir="$TEST_TMP/d$_f_n" --system-config="$none" --local-config="$_f_conf" extract \
                --ca-cert="$HTTP_CA" "$@" "$TEST_TMP/out$_f_n"
}
no_creds_sent() { # LOG: nginx's error log says how many requests came without credentials
        _http_count 'no user/password was provided for basic authentication' "$1"
}
expect_no_secrets() {
        expect_no_err "$password"
        expect_no_err "$basic64"
        expect_no_err "$token"
}

# --- no auth.d: 401 -----------------------------------------------------------------------------
log_mark
fetch "$none" 1 "$url"
expect_rc 1 "no credentials"
expect_err "^acfetch: error: $url: HTTP status 401\$"
expect_eq "401s" "$(log_count "^$port \"GET /x.caidx HTTP/2.0\" 401 ")" 1
[ ! -e "$TEST_TMP/out1" ] || fail "a refused fetch created its destination"
echo "ok: 401 without auth.d"

# --- basic credentials for 127.0.0.1:PORT, with --debug -------------------------------------------
conf "$TEST_TMP/basic" basic "\"127.0.0.1:$port\"" "$basic_creds"
log_mark
fetch "$TEST_TMP/basic" 2 --debug "$url"
expect_rc 0 "basic credentials"
expect_same_tree "$tree" "$TEST_TMP/out2"
expect_eq "chunk 200s" "$(log_count "^$port \"GET /default.castr/$CHUNK_RE HTTP/2.0\" 200 ")" \
        "$distinct"
expect_eq "401s" "$(log_count '" 401 ')" 0
expect_err 'auth.d: credentials for 1 domain$'
expect_no_secrets
echo "ok: basic credentials from --local-config's auth.d"

# The system directory is read too, and the local one overrides it per domain.
conf "$TEST_TMP/sysbasic" basic "\"127.0.0.1:$port\"" "$basic_creds"
conf "$TEST_TMP/badlocal" basic "\"127.0.0.1:$port\"" \
        '{"user": "alice", "password": "wrong-password"}'
rm -rf "$TEST_TMP/out3" "$TEST_TMP/d3"
acf --dir="$TEST_TMP/d3" --system-config="$TEST_TMP/sysbasic" --local-config="$none" extract \
        --ca-cert="$HTTP_CA" "$url" "$TEST_TMP/out3"
expect_rc 0 "basic credentials from --system-config"
expect_same_tree "$tree" "$TEST_TMP/out3"
rm -rf "$TEST_TMP/out3" "$TEST_TMP/d3"
log_mark
acf --dir="$TEST_TMP/d3" --system-config="$TEST_TMP/sysbasic" \
        --local-config="$TEST_TMP/badlocal" extract --ca-cert="$HTTP_CA" "$url" "$TEST_TMP/out3"
expect_rc 1 "wrong password in --local-config overriding a good one"
expect_err "^acfetch: error: $url: HTTP status 401\$"
grep -q 'password mismatch' "$error_log" || fail "nginx saw no wrong password"
expect_eq "401s" "$(log_count '" 401 ')" 1
echo "ok: --system-config's auth.d, overridden per domain by --local-config's"

# The port is part of the domain: credentials for 127.0.0.1 alone do not match 127.0.0.1:PORT.
conf "$TEST_TMP/noport" basic '"127.0.0.1", "LOCALHOST"' "$basic_creds"
fetch "$TEST_TMP/noport" 4 "$url"
expect_rc 1 "credentials for the host without the port"
expect_err "^acfetch: error: $url: HTTP status 401\$"
# Host names match in any case.
conf "$TEST_TMP/upper" basic "\"LocalHost:$port\"" "$basic_creds"
fetch "$TEST_TMP/upper" 4 "https://LOCALHOST:$port/x.caidx"
expect_rc 0 "credentials for LocalHost:PORT, URL with LOCALHOST"
expect_same_tree "$tree" "$TEST_TMP/out4"
echo "ok: domains are host:port, case-insensitive"

# --- bearer token -----------------------------------------------------------------------------
conf "$TEST_TMP/oauth" oauth "\"127.0.0.1:$port\"" "{\"token\": \"$token\"}"
log_mark
fetch "$TEST_TMP/oauth" 5 --debug "$base/bearer/x.caidx"
expect_rc 0 "bearer token"
expect_same_tree "$tree" "$TEST_TMP/out5"
expect_eq "chunk 200s" \
        "$(log_count "^$port \"GET /bearer/default.castr/$CHUNK_RE HTTP/2.0\" 200 ")" "$distinct"
expect_no_secrets
conf "$TEST_TMP/badtoken" oauth "\"127.0.0.1:$port\"" '{"token": "not-the-token"}'
fetch "$TEST_TMP/badtoken" 5 "$base/bearer/x.caidx"
expect_rc 1 "wrong bearer token"
expect_err "^acfetch: error: $base/bearer/x.caidx: HTTP status 401\$"
fetch "$TEST_TMP/basic" 5 "$base/bearer/x.caidx"
expect_rc 1 "basic credentials where a token is wanted"
echo "ok: bearer token"

# --- never over plain http ---------------------------------------------------------------------
conf "$TEST_TMP/plain" basic "\"127.0.0.1:$NGINX_HTTP_PORT\", \"127.0.0.1:$port\"" \
        "$basic_creds"
before=$(no_creds_sent "$error_log")
log_mark
fetch "$TEST_TMP/plain" 6 "$NGINX_HTTP_URL/x.caidx" --insecure-options=http
expect_rc 1 "credentials over plain http"
expect_err "^acfetch: error: $NGINX_HTTP_URL/x.caidx: HTTP status 401\$"
expect_eq "plain http 401s" "$(log_count "^$NGINX_HTTP_PORT \"GET /x.caidx HTTP/1.1\" 401 ")" 1
expect_eq "requests without credentials" "$(no_creds_sent "$error_log")" $((before + 1))
# The https index with a plain-http store: the index gets credentials, the chunks do not.
log_mark
fetch "$TEST_TMP/plain" 6 --store="$NGINX_HTTP_URL/default.castr" "$url" \
        --insecure-options=http
expect_rc 1 "plain http store"
expect_eq "index" "$(log_count "^$port \"GET /x.caidx HTTP/2.0\" 200 ")" 1
expect_ge "plain http chunk 401s" \
        "$(log_count "^$NGINX_HTTP_PORT \"GET /default.castr/$CHUNK_RE HTTP/1.1\" 401 ")" 1
expect_eq "plain http chunk 200s" "$(log_count "^$NGINX_HTTP_PORT .* 200 ")" 0
echo "ok: no credentials over plain http"

# --- redirects ----------------------------------------------------------------------------------
# Same host and port: libcurl keeps the header (index and every chunk are redirected).
log_mark
fetch "$TEST_TMP/basic" 7 "$base/same/x.caidx"
expect_rc 0 "redirect to the same host"
expect_same_tree "$tree" "$TEST_TMP/out7"
expect_eq "redirected chunks" "$(log_count '"GET /same/default.castr/.* 302 ')" "$distinct"
expect_eq "401s" "$(log_count '" 401 ')" 0

# Another host name for the same server: the header is dropped.
before=$(no_creds_sent "$error_log")
log_mark
fetch "$TEST_TMP/basic" 8 "$base/to-localhost/x.caidx"
expect_rc 1 "redirect to another host name"
expect_err "^acfetch: error: https://localhost:$port/x.caidx: HTTP status 401 (redirected from $base/to-localhost/x.caidx)\$"
expect_eq "redirects" "$(log_count "^$port \"GET /to-localhost/x.caidx HTTP/2.0\" 302 ")" 1
expect_eq "401s after the redirect" "$(log_count "^$port \"GET /x.caidx HTTP/2.0\" 401 ")" 1
expect_eq "requests without credentials" "$(no_creds_sent "$error_log")" $((before + 1))

# The same host on another port (the other nginx): dropped too.
before=$(no_creds_sent "$other_error_log")
log_mark other
fetch "$TEST_TMP/basic" 9 "$base/to-other/x.caidx"
expect_rc 1 "redirect to another port"
expect_err "^acfetch: error: https://127.0.0.1:$other_port/x.caidx: HTTP status 401 (redirected from $base/to-other/x.caidx)\$"
expect_eq "401s on the other port" \
        "$(log_count "^$other_port \"GET /x.caidx HTTP/2.0\" 401 " other)" 1
expect_eq "requests without credentials" "$(no_creds_sent "$other_error_log")" $((before + 1))
echo "ok: redirects keep credentials on the same host:port only"

# --- --connect-to -------------------------------------------------------------------------------
conf "$TEST_TMP/images" basic '"images.test", "mirror.example.com:8443"' "$basic_creds"
log_mark
fetch "$TEST_TMP/images" 10 --connect-to="images.test:443:127.0.0.1:$port" \
        https://images.test/x.caidx
expect_rc 0 "--connect-to a made-up name"
expect_same_tree "$tree" "$TEST_TMP/out10"
expect_eq "chunk 200s" "$(log_count "^$port \"GET /default.castr/$CHUNK_RE HTTP/2.0\" 200 ")" \
        "$distinct"
# Credentials follow the URL's name, not the address connected to.
fetch "$TEST_TMP/basic" 10 --connect-to="images.test:443:127.0.0.1:$port" \
        https://images.test/x.caidx
expect_rc 1 "--connect-to with credentials for the address only"
expect_err "^acfetch: error: https://images.test/x.caidx: HTTP status 401\$"
# Empty fields: any host, the URL's port; a wildcard name in the certificate; repeatable.
fetch "$TEST_TMP/images" 11 --connect-to=other.test:443:127.0.0.1:1 \
        --connect-to="::127.0.0.1:$port" https://mirror.example.com:8443/x.caidx
expect_rc 0 "--connect-to with empty fields"
expect_same_tree "$tree" "$TEST_TMP/out11"
# The name is what TLS verifies: the wrong-name server does not pass for images.test.
fetch "$TEST_TMP/images" 12 --connect-to="images.test:443:127.0.0.1:$NGINX_WRONGNAME_PORT" \
        https://images.test/x.caidx
expect_rc 1 "--connect-to a server without the name in its certificate"
expect_err "^acfetch: error: images.test:443: TLS certificate does not match the name images.test (name mismatch) (fetching https://images.test/x.caidx)\$"
echo "ok: --connect-to"

for bad in images.test images.test:443:127.0.0.1 "images.test:443:127.0.0.1:$port:x" \
        images.test:0:127.0.0.1:1 images.test:65536:127.0.0.1:1 images.test:443:127.0.0.1:x \
        "images.test:443:127.0.0.1:0$port" "[::1:443:127.0.0.1:1" "a b:443:127.0.0.1:1"; do
        log_mark
        fetch "$TEST_TMP/images" 13 --connect-to="$bad" https://images.test/x.caidx
        expect_rc 1 "--connect-to=$bad"
        expect_err "^acfetch: error: --connect-to wants HOST:PORT:CONNECT-HOST:CONNECT-PORT"
        expect_eq "requests" "$(log_count .)" 0
done
echo "ok: bad --connect-to values are refused"

# --- a bad auth.d fails the fetch, naming the file, before any request ---------------------------
mkdir -p "$TEST_TMP/broken/auth.d"
printf '{"rktKind": "auth", "rktVersion": "v1", "domains": ["127.0.0.1:%s"], "type": "basic",
 "credentials": {"user": "", "password": "%s"}}\n' "$port" "$password" \
        >"$TEST_TMP/broken/auth.d/broken.json"
log_mark
fetch "$TEST_TMP/broken" 14 "$url"
expect_rc 1 "bad auth.d"
expect_err "^acfetch: error: $TEST_TMP/broken/auth.d/broken.json: "
expect_no_secrets
expect_eq "requests" "$(log_count .)" 0
ln -s ../../basic/auth.d/basic.json "$TEST_TMP/broken/auth.d/link.json"
rm "$TEST_TMP/broken/auth.d/broken.json"
fetch "$TEST_TMP/broken" 14 "$url"
expect_rc 1 "symlink in auth.d"
expect_err "^acfetch: error: $TEST_TMP/broken/auth.d/link.json: is a symbolic link"
echo "ok: a bad auth.d is an error"

echo "fetch_auth passed"
