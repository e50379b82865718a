# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# HTTP test harness for acfetch: throwaway TLS certificates, a private nginx (HTTP, HTTPS with
# HTTP/2, and HTTPS ports with deliberately bad certificates or client-certificate checks), and the
# fault-injecting server (faultserver.c). POSIX sh; source it, then call http_init.
#
#   . "$SRCDIR/tests/http/lib.sh"
#   http_require_root
#   http_init
#   http_nginx_start "$root"                 # then use $NGINX_HTTPS_URL, $HTTP_CA, ...
#   "$ACFETCH" --dir "$HTTP_TMP/d" extract --ca-cert "$HTTP_CA" "$NGINX_HTTPS_URL/x.caidx" out
#   [ "$(http_log_count '\.cacnk')" -eq 3 ]
#
# Functions (on a setup error they print "lib.sh: ..." to stderr and return non-zero; with
# "set -e" or "|| exit 1" that fails the test):
#
# http_require_root
#       Exit 77 (skip) with a message unless running as root.
# http_init
#       Create $HTTP_TMP (scratch directory, removed at exit) and install traps so that
#       http_cleanup runs on exit, SIGINT and SIGTERM, keeping the exit status. A test that needs
#       its own EXIT trap must call http_cleanup from it.
# http_cleanup
#       Stop every nginx and fault server this shell started, release reserved ports, remove
#       $HTTP_TMP. Idempotent.
# http_free_port
#       Print a loopback TCP port that nothing listens on, below the kernel's ephemeral range, and
#       reserve it for this test (an atomic mkdir lock under /tmp/acfetch-http-ports, released by
#       http_cleanup, reclaimed from dead owners) so that concurrent tests never pick the same.
# http_make_certs
#       Create (once) in $HTTP_TMP/certs, with P-256 keys, and set:
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
# http_nginx_start [-n NAME] [-s SNIPPET_FILE] ROOT
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
#       SNIPPET_FILE is included in every server block (e.g. "location = /x { return 404; }").
#       Before inclusion these placeholders are replaced: @HTTP_PORT@ @HTTPS_PORT@
#       @WRONGNAME_PORT@ @UNTRUSTED_PORT@ @MTLS_PORT@ @ROOT@ @FAULT_PORT@ (the last only if the
#       fault server runs). GET /__sync answers 204 and is not logged.
# http_nginx_stop [NAME]
#       Gracefully stop the instance (default: the last started) and wait until its processes are
#       gone; the access log stays readable until http_cleanup.
# http_nginx_sync [NAME]
#       Make one request to the instance and wait for the answer. Its only worker serves requests
#       in order, so afterwards every response a client has fully received is in the access log.
# http_log_count PATTERN [NAME]
#       http_nginx_sync (if the instance still runs), then print how many access-log lines match
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
# http_wait COMMAND [ARGS...]
#       Run COMMAND every 50 ms until it succeeds; fail after about 10 s. For conditions a correct
#       peer makes true promptly (a file reaching a size), never as a delay.
# http_pid_gone PID
#       Succeed if PID no longer runs (an unreaped zombie counts as gone).

HTTP_PORT_LOCKS=/tmp/acfetch-http-ports
FAULTSERVER=${FAULTSERVER:-${BUILDDIR:-.}/tests/http/faultserver}
HTTP_TMP=
_http_nginx_last=
_http_fault_pid=

_http_die() {
        echo "lib.sh: $*" >&2
        return 1
}

http_require_root() {
        if [ "$(id -u)" -ne 0 ]; then
                echo "SKIP: needs root (runs a private nginx as root)" >&2
                exit 77
        fi
}

http_init() {
        for _hi_cmd in nginx openssl curl; do
                command -v "$_hi_cmd" >/dev/null 2>&1 ||
                        _http_die "$_hi_cmd is not installed (tools/install-deps.sh)" || return 1
        done
        HTTP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/acfetch-http.XXXXXX") || return 1
        : >"$HTTP_TMP/ports"
        # shellcheck disable=SC2154
        trap '_http_rc=$?; http_cleanup; exit $_http_rc' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
}

# Port range: below the ephemeral range, so outgoing connections never hold our ports.
_http_port_range() {
        _hpr_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || true
        _hpr_low=${_hpr_low:-32768}
        if [ "$_hpr_low" -gt 12000 ]; then
                _http_port_min=10000
                _http_port_max=$((_hpr_low - 1))
        else
                _http_port_min=61000
                _http_port_max=65000
        fi
}

_http_port_listening() {
        command -v ss >/dev/null 2>&1 || return 1
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

http_free_port() {
        [ -n "$HTTP_TMP" ] || _http_die "http_init was not called" || return 1
        _http_port_range
        mkdir -p "$HTTP_PORT_LOCKS" 2>/dev/null || true
        _hfp_try=0
        while [ "$_hfp_try" -lt 500 ]; do
                _hfp_try=$((_hfp_try + 1))
                _hfp_r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
                _hfp_p=$((_http_port_min + _hfp_r % (_http_port_max - _http_port_min + 1)))
                _hfp_lock=$HTTP_PORT_LOCKS/$_hfp_p
                if ! mkdir "$_hfp_lock" 2>/dev/null; then
                        # Held: reclaim it only if the holder is dead. If two tests reclaim
                        # the same lock at once, nginx's bind failure and retry sort it out.
                        _hfp_owner=$(cat "$_hfp_lock/owner" 2>/dev/null) || true
                        if [ -n "$_hfp_owner" ] && ! kill -0 "$_hfp_owner" 2>/dev/null; then
                                rm -rf "$_hfp_lock"
                        fi
                        continue
                fi
                # $$ is the test's shell even inside $(...), so the owner outlives this call.
                echo "$$" >"$_hfp_lock/owner"
                echo "$_hfp_p" >>"$HTTP_TMP/ports"
                _http_port_listening "$_hfp_p" && continue
                echo "$_hfp_p"
                return 0
        done
        _http_die "no free port found in $_http_port_min-$_http_port_max"
}

_http_release_ports() {
        [ -f "$HTTP_TMP/ports" ] || return 0
        while read -r _hrp_p; do
                _hrp_owner=$(cat "$HTTP_PORT_LOCKS/$_hrp_p/owner" 2>/dev/null) || true
                if [ "$_hrp_owner" = "$$" ]; then
                        rm -rf "${HTTP_PORT_LOCKS:?}/$_hrp_p"
                fi
        done <"$HTTP_TMP/ports"
        : >"$HTTP_TMP/ports"
}

_http_openssl() {
        openssl "$@" >>"$HTTP_CERTS/openssl.log" 2>&1 ||
                _http_die "openssl $1 failed: $(tail -n 5 "$HTTP_CERTS/openssl.log")"
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
        HTTP_CERTS=$HTTP_TMP/certs
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

# _http_nginx_conf DIR ROOT SNIPPET: writes DIR/nginx.conf for the ports in _hn_* variables.
_http_nginx_conf() {
        _hnc_d=$1
        mkdir -p "$_hnc_d/tmp" || return 1
        : >"$_hnc_d/snippet.conf"
        if [ -n "$3" ]; then
                sed -e "s|@HTTP_PORT@|$_hn_http|g" -e "s|@HTTPS_PORT@|$_hn_https|g" \
                        -e "s|@WRONGNAME_PORT@|$_hn_wrong|g" \
                        -e "s|@UNTRUSTED_PORT@|$_hn_untrusted|g" -e "s|@MTLS_PORT@|$_hn_mtls|g" \
                        -e "s|@ROOT@|$2|g" -e "s|@FAULT_PORT@|${FAULT_PORT:-}|g" \
                        "$3" >"$_hnc_d/snippet.conf" || return 1
        fi
        cat >"$_hnc_d/common.conf" <<EOF
root "$2";
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
# One worker: it serves requests in order, which http_nginx_sync relies on.
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

http_wait() { # COMMAND...
        _hw_i=0
        while ! "$@"; do
                _hw_i=$((_hw_i + 1))
                [ "$_hw_i" -lt 200 ] || return 1
                sleep 0.05
        done
}

_http_file_nonempty() {
        [ -s "$1" ]
}

http_nginx_start() {
        _hn_name=main
        _hn_snippet=
        OPTIND=1
        while getopts n:s: _hn_opt; do
                case $_hn_opt in
                n) _hn_name=$OPTARG ;;
                s) _hn_snippet=$OPTARG ;;
                *) _http_die "usage: http_nginx_start [-n NAME] [-s SNIPPET] ROOT" || return 1 ;;
                esac
        done
        shift $((OPTIND - 1))
        [ $# -eq 1 ] || _http_die "usage: http_nginx_start [-n NAME] [-s SNIPPET] ROOT" ||
                return 1
        _hn_root=$(cd "$1" && pwd) || return 1
        if [ -n "$_hn_snippet" ] && [ ! -f "$_hn_snippet" ]; then
                _http_die "no snippet file $_hn_snippet"
                return 1
        fi
        _hn_d=$HTTP_TMP/nginx.$_hn_name
        [ ! -f "$_hn_d/nginx.pid" ] || _http_die "nginx $_hn_name already running" || return 1
        http_make_certs || return 1
        mkdir -p "$_hn_d" || return 1

        _hn_attempt=0
        while :; do
                _hn_attempt=$((_hn_attempt + 1))
                _hn_http=$(http_free_port) && _hn_https=$(http_free_port) &&
                        _hn_wrong=$(http_free_port) && _hn_untrusted=$(http_free_port) &&
                        _hn_mtls=$(http_free_port) || return 1
                # Test hook: a busy port on the first attempt exercises the retry below.
                if [ "$_hn_attempt" -eq 1 ] && [ -n "${HTTP_NGINX_FIRST_PORT:-}" ]; then
                        _hn_http=$HTTP_NGINX_FIRST_PORT
                fi
                _http_nginx_conf "$_hn_d" "$_hn_root" "$_hn_snippet" || return 1
                # Daemon mode: nginx binds every port before it forks, so its exit status says
                # whether the ports were ours.
                if nginx -p "$_hn_d/" -e "$_hn_d/error.log" -c "$_hn_d/nginx.conf" \
                        >"$_hn_d/start.log" 2>&1; then
                        break
                fi
                if [ "$_hn_attempt" -lt 10 ] &&
                        grep -q 'Address already in use' "$_hn_d/start.log" "$_hn_d/error.log"
                then
                        echo "lib.sh: nginx $_hn_name: port taken, retrying with new ports" >&2
                        continue
                fi
                cat "$_hn_d/start.log" >&2
                _http_die "nginx $_hn_name failed to start (attempt $_hn_attempt)"
                return 1
        done
        # The forked master writes its pid file a moment after the parent has exited.
        http_wait _http_file_nonempty "$_hn_d/nginx.pid" ||
                _http_die "nginx $_hn_name wrote no pid file" || return 1
        echo "$_hn_http $_hn_https $_hn_wrong $_hn_untrusted $_hn_mtls" >"$_hn_d/ports"
        echo "$_hn_name" >>"$HTTP_TMP/nginx-instances"
        _http_nginx_last=$_hn_name
        _http_nginx_vars "$_hn_d"
}

# Children of a pid, from /proc (nginx workers outlive a killed master). One cat and one awk:
# a process per /proc entry would take seconds.
_http_children() {
        # shellcheck disable=SC2016
        cat /proc/[0-9]*/stat 2>/dev/null |
                awk -v pp="$1" '{ pid = $1; sub(/^.*\) /, ""); if ($2 == pp) print pid }' ||
                true
}

http_pid_gone() {
        kill -0 "$1" 2>/dev/null || return 0
        # A daemon that has exited stays a zombie until init reaps it, which can take seconds.
        _hpg_state=$(sed -n 's/^.*) \([A-Za-z]\) .*$/\1/p' "/proc/$1/stat" 2>/dev/null) || true
        [ "$_hpg_state" = Z ] || [ "$_hpg_state" = X ]
}

http_nginx_stop() {
        _hs_name=${1:-$_http_nginx_last}
        _hs_d=$HTTP_TMP/nginx.$_hs_name
        [ -f "$_hs_d/nginx.pid" ] || return 0
        _hs_pid=$(cat "$_hs_d/nginx.pid")
        _hs_kids=$(_http_children "$_hs_pid")
        # QUIT lets the worker finish and log what it is serving; stalled clients get cut off by
        # the escalation to KILL.
        kill -QUIT "$_hs_pid" 2>/dev/null || true
        if ! http_wait http_pid_gone "$_hs_pid"; then
                echo "lib.sh: nginx $_hs_name ignored SIGQUIT, killing it" >&2
                # shellcheck disable=SC2086
                kill -KILL "$_hs_pid" $_hs_kids 2>/dev/null || true
                http_wait http_pid_gone "$_hs_pid" || true
        fi
        for _hs_k in $_hs_kids; do
                http_wait http_pid_gone "$_hs_k" || kill -KILL "$_hs_k" 2>/dev/null || true
        done
        rm -f "$_hs_d/nginx.pid"
}

http_nginx_sync() {
        _hy_d=$HTTP_TMP/nginx.${1:-$_http_nginx_last}
        read -r _hy_port _hy_rest <"$_hy_d/ports" || return 1
        curl -sS -f -o /dev/null "http://127.0.0.1:$_hy_port/__sync" ||
                _http_die "nginx sync request failed"
}

_http_count() { # PATTERN FILE
        _hcn=$(grep -c -- "$1" "$2" 2>/dev/null) || true
        echo "${_hcn:-0}"
}

http_log_count() {
        # A stopped instance has logged everything already.
        if [ -f "$HTTP_TMP/nginx.${2:-$_http_nginx_last}/nginx.pid" ]; then
                http_nginx_sync "${2:-}" || return 1
        fi
        _http_count "$1" "$HTTP_TMP/nginx.${2:-$_http_nginx_last}/access.log"
}

_http_fault_port_ready() {
        if [ -s "$HTTP_TMP/faultserver/port" ]; then
                return 0
        fi
        # A dead server will never write it: stop waiting.
        ! kill -0 "$_http_fault_pid" 2>/dev/null
}

http_faultserver_start() {
        [ $# -eq 1 ] || _http_die "usage: http_faultserver_start ROOT" || return 1
        [ -z "$_http_fault_pid" ] || _http_die "fault server already running" || return 1
        [ -x "$FAULTSERVER" ] || _http_die "no fault server at $FAULTSERVER" || return 1
        _hf_d=$HTTP_TMP/faultserver
        mkdir -p "$_hf_d" || return 1
        rm -f "$_hf_d/port"
        FAULT_LOG=$_hf_d/requests.log
        "$FAULTSERVER" --root "$1" --port-file "$_hf_d/port" --log "$FAULT_LOG" \
                2>"$_hf_d/stderr" &
        _http_fault_pid=$!
        http_wait _http_fault_port_ready || true
        if [ ! -s "$_hf_d/port" ]; then
                cat "$_hf_d/stderr" >&2
                http_faultserver_stop
                _http_die "fault server did not start"
                return 1
        fi
        read -r FAULT_PORT <"$_hf_d/port"
        FAULT_URL=http://127.0.0.1:$FAULT_PORT
}

http_fault_count() {
        _http_count "$1" "$FAULT_LOG"
}

http_faultserver_stop() {
        [ -n "$_http_fault_pid" ] || return 0
        kill -TERM "$_http_fault_pid" 2>/dev/null || true
        if wait "$_http_fault_pid"; then
                _hfs_rc=0
        else
                _hfs_rc=$?
        fi
        _http_fault_pid=
        if [ "$_hfs_rc" -ne 0 ]; then
                cat "$HTTP_TMP/faultserver/stderr" >&2
                _http_die "fault server exited with status $_hfs_rc"
                return 1
        fi
}

http_cleanup() {
        [ -n "$HTTP_TMP" ] && [ -d "$HTTP_TMP" ] || return 0
        http_faultserver_stop || true
        if [ -f "$HTTP_TMP/nginx-instances" ]; then
                while read -r _hcl_n; do
                        http_nginx_stop "$_hcl_n"
                done <"$HTTP_TMP/nginx-instances"
        fi
        _http_release_ports
        rm -rf "$HTTP_TMP"
        HTTP_TMP=
}
