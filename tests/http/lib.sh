# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# HTTP test harness for acfetch: throwaway TLS certificates, a private nginx (HTTP, HTTPS with
# HTTP/2, and HTTPS ports with deliberately bad certificates or client-certificate checks), and the
# fault-injecting server (faultserver.c). POSIX sh. Sources tests/lib.sh (fail, pass, skip,
# TEST_TMP, at_exit, free_port, wait_until, nginx_launch/stop/sync, ...); call http_init.
#
#   . "$SRCDIR/tests/http/lib.sh"
#   require_root "runs a private nginx as root"
#   http_init
#   http_nginx_start "$root"                 # then use $NGINX_HTTPS_URL, $HTTP_CA, ...
#   "$ACFETCH" --dir "$TEST_TMP/d" extract --ca-cert "$HTTP_CA" "$NGINX_HTTPS_URL/x.caidx" out
#   [ "$(http_log_count '\.cacnk')" -eq 3 ]
#
# Functions (a setup error fails the test, as tests/lib.sh's fail does):
#
# http_init
#       Skip (77) unless nginx, openssl and curl are installed; test_init (TEST_TMP, removed at
#       exit with every nginx and the fault server stopped, ports released).
# http_make_certs
#       Create (once) in $TEST_TMP/certs, with P-256 keys, and set:
#         HTTP_CA                           the test CA certificate (trust this one)
#         HTTP_SERVER_CERT, HTTP_SERVER_KEY    server cert from HTTP_CA, SAN IP:127.0.0.1,
#                                              DNS:localhost, and made-up names to reach
#                                              through --connect-to: DNS:images.test,
#                                              DNS:example.com, DNS:*.example.com
#         HTTP_WRONGNAME_CERT, ..._KEY         from HTTP_CA but SAN DNS:wrong.example only
#         HTTP_UNTRUSTED_CA                    a second CA that nothing trusts
#         HTTP_UNTRUSTED_CERT, ..._KEY         server cert (127.0.0.1, localhost) from it
#         HTTP_CLIENT_CERT, HTTP_CLIENT_KEY    client cert (clientAuth) from HTTP_CA
#         HTTP_UNTRUSTED_CLIENT_CERT, ..._KEY  client cert from HTTP_UNTRUSTED_CA
# http_nginx_start [-n NAME] [-s SNIPPET_FILE] [-H HTTP_SNIPPET_FILE] ROOT
#       Start a private nginx (instance NAME, default "main"; several may run at once) serving
#       directory ROOT on 127.0.0.1, one worker, with a fresh set of reserved ports. If binding
#       fails (a port raced away) it retries with new ports. Sets, for the instance just started:
#         NGINX_HTTP_PORT   plain HTTP                 NGINX_HTTP_URL=http://127.0.0.1:PORT
#         NGINX_HTTPS_PORT  TLS+HTTP/2, good cert      NGINX_HTTPS_URL=https://127.0.0.1:PORT
#         NGINX_WRONGNAME_PORT   TLS, cert for wrong.example   (NGINX_WRONGNAME_URL)
#         NGINX_UNTRUSTED_PORT   TLS, cert from HTTP_UNTRUSTED_CA (NGINX_UNTRUSTED_URL)
#         NGINX_MTLS_PORT        TLS, good cert, requires a client cert from HTTP_CA; without
#                                one nginx answers 400 (NGINX_MTLS_URL)
#         NGINX_DIR         the instance's directory (nginx.conf, error.log)
#         NGINX_ACCESS_LOG  access log, one line per request:
#                           PORT "METHOD URI PROTOCOL" STATUS BODY_BYTES PROTOCOL
#                     e.g. 23456 "GET /default.castr/ab12/ab12....cacnk HTTP/2.0" 200 812 HTTP/2.0
#       SNIPPET_FILE is included in every server block (e.g. "location = /x { return 404; }"),
#       HTTP_SNIPPET_FILE in the http block (e.g. a limit_conn_zone).
#       Before inclusion these placeholders are replaced: @HTTP_PORT@ @HTTPS_PORT@
#       @WRONGNAME_PORT@ @UNTRUSTED_PORT@ @MTLS_PORT@ @ROOT@ @FAULT_PORT@ (the last only if the
#       fault server runs). GET /__sync answers 204 and is not logged.
#       Stop it with nginx_stop [NAME] (its access log stays readable until exit); nginx_sync
#       [NAME] makes every response a client has received appear in the access log.
#       NGINX_FIRST_PORT replaces the HTTP port on the first attempt (a test of the retry).
# http_log_count PATTERN [NAME]
#       nginx_sync (if the instance still runs), then print how many access-log lines match
#       the grep basic regex PATTERN (0 if none). Requests a client aborted mid-body may be
#       logged later than the sync; stop the instance first to count those too.
# http_faultserver_start ROOT
#       Start $FAULTSERVER (default $BUILDDIR/tests/http/faultserver) on ROOT. Sets FAULT_PORT,
#       FAULT_URL=http://127.0.0.1:PORT (append /ok/PATH, /503once/PATH, ...: see faultserver.c)
#       and FAULT_LOG (one "METHOD TARGET STATUS" line per request, written before the response).
# http_fault_count PATTERN
#       Print how many fault-server log lines match PATTERN (0 if none).
# http_faultserver_stop
#       SIGTERM the fault server and wait; fails if it did not exit 0 (a sanitizer report, say).

# shellcheck source=tests/lib.sh
. "$SRCDIR/tests/lib.sh"

FAULTSERVER=${FAULTSERVER:-${BUILDDIR:-.}/tests/http/faultserver}
_http_fault_pid=

http_init() {
        require_cmd nginx openssl curl
        test_init http
        at_exit "_http_faultserver_end || true"
}

_http_openssl() {
        openssl "$@" >>"$HTTP_CERTS/openssl.log" 2>&1 ||
                fail "openssl $1 failed" "$(tail -n 5 "$HTTP_CERTS/openssl.log")"
}

# _http_issue NAME CA_NAME EXT_SECTION SUBJECT_CN: key and certificate NAME.{key,pem}.
_http_issue() {
        _http_openssl req -new -config "$HTTP_CERTS/openssl.cnf" -newkey ec \
                -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$HTTP_CERTS/$1.key" \
                -out "$HTTP_CERTS/$1.csr" -subj "/CN=$4" || return 1
        _http_openssl x509 -req -in "$HTTP_CERTS/$1.csr" -CA "$HTTP_CERTS/$2.pem" \
                -CAkey "$HTTP_CERTS/$2.key" -CAcreateserial -days 30 \
                -extfile "$HTTP_CERTS/openssl.cnf" -extensions "$3" -out "$HTTP_CERTS/$1.pem"
}

_http_make_ca() { # NAME CN
        _http_openssl req -x509 -new -config "$HTTP_CERTS/openssl.cnf" -extensions ca \
                -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
                -keyout "$HTTP_CERTS/$1.key" -out "$HTTP_CERTS/$1.pem" -subj "/CN=$2"
}

http_make_certs() {
        HTTP_CERTS=$TEST_TMP/certs
        HTTP_CA=$HTTP_CERTS/ca.pem
        HTTP_SERVER_CERT=$HTTP_CERTS/server.pem
        HTTP_SERVER_KEY=$HTTP_CERTS/server.key
        HTTP_WRONGNAME_CERT=$HTTP_CERTS/wrongname.pem
        HTTP_WRONGNAME_KEY=$HTTP_CERTS/wrongname.key
        HTTP_UNTRUSTED_CA=$HTTP_CERTS/untrusted-ca.pem
        HTTP_UNTRUSTED_CERT=$HTTP_CERTS/untrusted.pem
        HTTP_UNTRUSTED_KEY=$HTTP_CERTS/untrusted.key
        HTTP_CLIENT_CERT=$HTTP_CERTS/client.pem
        HTTP_CLIENT_KEY=$HTTP_CERTS/client.key
        HTTP_UNTRUSTED_CLIENT_CERT=$HTTP_CERTS/untrusted-client.pem
        HTTP_UNTRUSTED_CLIENT_KEY=$HTTP_CERTS/untrusted-client.key
        if [ -f "$HTTP_CERTS/done" ]; then
                return 0
        fi
        mkdir -p "$HTTP_CERTS" || return 1
        # Our own config, so the system openssl.cnf's defaults cannot change the certificates.
        cat >"$HTTP_CERTS/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:images.test, DNS:example.com, DNS:*.example.com
authorityKeyIdentifier = keyid
[wrongname]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF
        _http_make_ca ca "acfetch test CA" &&
                _http_make_ca untrusted-ca "acfetch untrusted CA" &&
                _http_issue server ca server localhost &&
                _http_issue wrongname ca wrongname wrong.example &&
                _http_issue untrusted untrusted-ca server localhost &&
                _http_issue client ca client "acfetch test client" &&
                _http_issue untrusted-client untrusted-ca client "acfetch untrusted client" ||
                return 1
        : >"$HTTP_CERTS/done"
}

# _http_nginx_conf DIR HTTP HTTPS WRONGNAME UNTRUSTED MTLS: writes DIR/nginx.conf (nginx_launch
# calls it with the ports) serving $_hn_root with the snippet $_hn_snippet.
_http_nginx_conf() {
        _hnc_d=$1 _hn_http=$2 _hn_https=$3 _hn_wrong=$4 _hn_untrusted=$5 _hn_mtls=$6
        : >"$_hnc_d/snippet.conf"
        if [ -n "$_hn_snippet" ]; then
                sed -e "s|@HTTP_PORT@|$_hn_http|g" -e "s|@HTTPS_PORT@|$_hn_https|g" \
                        -e "s|@WRONGNAME_PORT@|$_hn_wrong|g" \
                        -e "s|@UNTRUSTED_PORT@|$_hn_untrusted|g" -e "s|@MTLS_PORT@|$_hn_mtls|g" \
                        -e "s|@ROOT@|$_hn_root|g" -e "s|@FAULT_PORT@|${FAULT_PORT:-}|g" \
                        "$_hn_snippet" >"$_hnc_d/snippet.conf" || return 1
        fi
        : >"$_hnc_d/http_snippet.conf"
        if [ -n "$_hn_http_snippet" ]; then
                cp "$_hn_http_snippet" "$_hnc_d/http_snippet.conf" || return 1
        fi
        cat >"$_hnc_d/common.conf" <<EOF
root "$_hn_root";
location = /__sync {
        access_log off;
        return 204;
}
include $_hnc_d/snippet.conf;
EOF
        _hnc_user=
        # Workers would otherwise run as nobody and could not read a 0700 test directory.
        if [ "$(id -u)" -eq 0 ]; then
                _hnc_user="user root;"
        fi
        cat >"$_hnc_d/nginx.conf" <<EOF
$_hnc_user
# One worker: it serves requests in order, which nginx_sync relies on.
worker_processes 1;
pid $_hnc_d/nginx.pid;
error_log $_hnc_d/error.log info;
events {
        worker_connections 1024;
}
http {
        types {
                application/octet-stream caidx caibx cacnk catar;
        }
        default_type application/octet-stream;
        log_format acfetch '\$server_port "\$request" \$status \$body_bytes_sent \$server_protocol';
        access_log $_hnc_d/access.log acfetch;
        client_body_temp_path $_hnc_d/tmp/body;
        proxy_temp_path $_hnc_d/tmp/proxy;
        fastcgi_temp_path $_hnc_d/tmp/fastcgi;
        uwsgi_temp_path $_hnc_d/tmp/uwsgi;
        scgi_temp_path $_hnc_d/tmp/scgi;
        sendfile on;
        server_tokens off;
        include $_hnc_d/http_snippet.conf;
        ssl_protocols TLSv1.2 TLSv1.3;

        server {
                listen 127.0.0.1:$_hn_http;
                include $_hnc_d/common.conf;
        }
        server {
                listen 127.0.0.1:$_hn_https ssl http2;
                ssl_certificate $HTTP_SERVER_CERT;
                ssl_certificate_key $HTTP_SERVER_KEY;
                include $_hnc_d/common.conf;
        }
        server {
                listen 127.0.0.1:$_hn_wrong ssl http2;
                ssl_certificate $HTTP_WRONGNAME_CERT;
                ssl_certificate_key $HTTP_WRONGNAME_KEY;
                include $_hnc_d/common.conf;
        }
        server {
                listen 127.0.0.1:$_hn_untrusted ssl http2;
                ssl_certificate $HTTP_UNTRUSTED_CERT;
                ssl_certificate_key $HTTP_UNTRUSTED_KEY;
                include $_hnc_d/common.conf;
        }
        server {
                listen 127.0.0.1:$_hn_mtls ssl http2;
                ssl_certificate $HTTP_SERVER_CERT;
                ssl_certificate_key $HTTP_SERVER_KEY;
                ssl_client_certificate $HTTP_CA;
                ssl_verify_client on;
                include $_hnc_d/common.conf;
        }
}
EOF
}

_http_nginx_vars() { # DIR: load the instance's ports into the NGINX_* variables
        read -r NGINX_HTTP_PORT NGINX_HTTPS_PORT NGINX_WRONGNAME_PORT NGINX_UNTRUSTED_PORT \
                NGINX_MTLS_PORT <"$1/ports" || return 1
        NGINX_DIR=$1
        NGINX_ACCESS_LOG=$1/access.log
        NGINX_HTTP_URL=http://127.0.0.1:$NGINX_HTTP_PORT
        NGINX_HTTPS_URL=https://127.0.0.1:$NGINX_HTTPS_PORT
        NGINX_WRONGNAME_URL=https://127.0.0.1:$NGINX_WRONGNAME_PORT
        NGINX_UNTRUSTED_URL=https://127.0.0.1:$NGINX_UNTRUSTED_PORT
        NGINX_MTLS_URL=https://127.0.0.1:$NGINX_MTLS_PORT
}

http_nginx_start() {
        _hn_name=main
        _hn_snippet=
        _hn_http_snippet=
        OPTIND=1
        while getopts n:s:H: _hn_opt; do
                case $_hn_opt in
                n) _hn_name=$OPTARG ;;
                s) _hn_snippet=$OPTARG ;;
                H) _hn_http_snippet=$OPTARG ;;
                *) fail "usage: http_nginx_start [-n NAME] [-s SNIPPET] [-H HTTP_SNIPPET] ROOT" ;;
                esac
        done
        shift $((OPTIND - 1))
        [ $# -eq 1 ] || fail "usage: http_nginx_start [-n NAME] [-s SNIPPET] [-H HTTP_SNIPPET] ROOT"
        _hn_root=$(cd "$1" && pwd) || fail "no directory $1 to serve"
        if [ -n "$_hn_snippet" ] && [ ! -f "$_hn_snippet" ]; then
                fail "no snippet file $_hn_snippet"
        fi
        http_make_certs || fail "test certificates"
        nginx_launch "$_hn_name" 5 _http_nginx_conf
        _http_nginx_vars "$TEST_TMP/nginx.$_hn_name"
}

_http_count() { # PATTERN FILE
        _hcn=$(grep -c -- "$1" "$2" 2>/dev/null) || true
        echo "${_hcn:-0}"
}

http_log_count() {
        # A stopped instance has logged everything already.
        if [ -f "$TEST_TMP/nginx.${2:-$NGINX_LAST}/nginx.pid" ]; then
                nginx_sync "${2:-}"
        fi
        _http_count "$1" "$TEST_TMP/nginx.${2:-$NGINX_LAST}/access.log"
}

_http_fault_port_ready() {
        if [ -s "$TEST_TMP/faultserver/port" ]; then
                return 0
        fi
        # A dead server will never write it: stop waiting.
        ! kill -0 "$_http_fault_pid" 2>/dev/null
}

http_faultserver_start() {
        [ $# -eq 1 ] || fail "usage: http_faultserver_start ROOT"
        [ -z "$_http_fault_pid" ] || fail "fault server already running"
        [ -x "$FAULTSERVER" ] || fail "no fault server at $FAULTSERVER"
        _hf_d=$TEST_TMP/faultserver
        mkdir -p "$_hf_d" || fail "mkdir $_hf_d"
        rm -f "$_hf_d/port"
        FAULT_LOG=$_hf_d/requests.log
        "$FAULTSERVER" --root "$1" --port-file "$_hf_d/port" --log "$FAULT_LOG" \
                2>"$_hf_d/stderr" &
        _http_fault_pid=$!
        wait_until _http_fault_port_ready || true
        if [ ! -s "$_hf_d/port" ]; then
                cat "$_hf_d/stderr" >&2
                _http_faultserver_end || true
                fail "fault server did not start"
        fi
        read -r FAULT_PORT <"$_hf_d/port"
        FAULT_URL=http://127.0.0.1:$FAULT_PORT
}

http_fault_count() {
        _http_count "$1" "$FAULT_LOG"
}

# Stops the fault server; returns its exit status (0 if none ran).
_http_faultserver_end() {
        [ -n "$_http_fault_pid" ] || return 0
        kill -TERM "$_http_fault_pid" 2>/dev/null || true
        if wait "$_http_fault_pid"; then
                _hfs_rc=0
        else
                _hfs_rc=$?
        fi
        _http_fault_pid=
        return "$_hfs_rc"
}

http_faultserver_stop() {
        _http_faultserver_end && return 0
        _hfs_rc=$?
        cat "$TEST_TMP/faultserver/stderr" >&2
        fail "fault server exited with status $_hfs_rc"
}
