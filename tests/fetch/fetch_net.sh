#!/bin/sh
# A user's first hour with the network: every transport failure says, once and in words, which
# host failed and why (a private CA without --ca-cert, with the hint; a name mismatch; a refused
# port; a name that does not resolve; a host that accepts connections and never answers), not
# once per step of the discovery walk; a silent host is retried with a line that says so, and
# given up within a bound under a minute by default; SSL_CERT_FILE and CURL_CA_BUNDLE are
# honoured as curl's tool honours them (--ca-cert wins); --insecure-options=tls warns once.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init
require_cmd python3
# The test decides which CAs are trusted.
unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE

name=example.com/team/app
fe_image "$SRC/app" "$name" 64
fe_publish "$WWW/images.test/example.com/team/app.caidx" "$SRC/app"
# The only page is at the host: the walk asks three levels.
fe_page "$WWW/example.com" example.com 'https://images.test/{name}.caidx'
fe_nginx_start
# $NET without --ca-cert: the test CA is a private one.
NOCA=$(echo "$NET" | sed 's/--ca-cert=[^ ]*//')
case $NOCA in *--ca-cert*) fail "NOCA still has --ca-cert: $NOCA" ;; esac
n=0
fresh() { # a store of its own for each fetch: nothing comes from a previous one
        n=$((n + 1))
        D=$TEST_TMP/store.$n
}
# expect_once PATTERN WHAT: exactly one stderr line matches (a line announcing a retry aside).
expect_once() {
        expect_eq "$2: lines matching '$1'" "$(grep -v ' retrying in ' "$ERR" | grep -c -- "$1" || true)" 1
}

# --- a private CA without --ca-cert ------------------------------------------------------------
fresh
acf --dir="$D" fetch $NOCA "$name"
expect_rc 1 "private CA without --ca-cert"
expect_once "^acfetch: error: example.com:443: TLS certificate not trusted.*--ca-cert" \
        "untrusted certificate"
expect_once "certificate" "untrusted certificate (said once, not per walk step)"
expect_no_err "Operation not permitted"
echo "ok: a private CA without --ca-cert is named once, with the hint"

# --- SSL_CERT_FILE and CURL_CA_BUNDLE, as curl's tool ------------------------------------------
fresh
SSL_CERT_FILE=$HTTP_CA acf --dir="$D" fetch $NOCA "$name"
expect_rc 0 "SSL_CERT_FILE names the private CA"
fresh
CURL_CA_BUNDLE=$HTTP_CA acf --dir="$D" fetch $NOCA "$name"
expect_rc 0 "CURL_CA_BUNDLE names the private CA"
# CURL_CA_BUNDLE before SSL_CERT_FILE; --ca-cert before both.
fresh
CURL_CA_BUNDLE=$HTTP_UNTRUSTED_CA SSL_CERT_FILE=$HTTP_CA acf --dir="$D" fetch $NOCA "$name"
expect_rc 1 "CURL_CA_BUNDLE wins over SSL_CERT_FILE"
expect_once "TLS certificate not trusted" "CURL_CA_BUNDLE's CA"
fresh
CURL_CA_BUNDLE=$HTTP_UNTRUSTED_CA SSL_CERT_FILE=$HTTP_UNTRUSTED_CA acf --dir="$D" fetch $NET "$name"
expect_rc 0 "--ca-cert wins over the environment"
echo "ok: SSL_CERT_FILE and CURL_CA_BUNDLE are honoured, --ca-cert first"

# --- --insecure-options=tls warns once ---------------------------------------------------------
fresh
acf --dir="$D" --insecure-options=tls fetch $NOCA "$name"
expect_rc 0 "--insecure-options=tls"
expect_once "^acfetch: warning: .*not verified (--insecure-options=tls)" "insecure tls warning"
echo "ok: --insecure-options=tls prints a warning"

# --- a certificate for another name ------------------------------------------------------------
fresh
acf --dir="$D" fetch $NET --connect-to="other.test:443:127.0.0.1:$NGINX_HTTPS_PORT" other.test/team/app
expect_rc 1 "name mismatch"
expect_once "^acfetch: error: other.test:443: TLS certificate does not match the name other.test" \
        "name mismatch"
expect_once "certificate" "name mismatch (said once)"
echo "ok: a name mismatch is named once"

# --- a port nothing listens on -----------------------------------------------------------------
port=$(free_port)
fresh
acf --dir="$D" fetch $NET --connect-to="refused.test:443:127.0.0.1:$port" refused.test/team/app
expect_rc 1 "refused"
expect_once "^acfetch: error: refused.test:443: connection refused" "refused (fetch)"
expect_once "connection refused" "refused (said once, not per walk step)"
fresh
acf --dir="$D" extract --ca-cert="$HTTP_CA" "https://127.0.0.1:$port/x.caidx" "$TEST_TMP/out"
expect_rc 1 "refused (extract)"
expect_once "^acfetch: error: 127.0.0.1:$port: connection refused" "refused (extract)"
expect_no_err "Input/output error"
echo "ok: a refused connection names host and port once"

# --- a name that does not resolve --------------------------------------------------------------
fresh
acf --dir="$D" fetch $NET nosuch.invalid/team/app
expect_rc 1 "unresolvable"
expect_once "^acfetch: error: nosuch.invalid: cannot resolve host name" "unresolvable"
expect_once "cannot resolve host name (fetching" "unresolvable (said once)"
expect_no_err "Input/output error"
echo "ok: an unresolvable name is said once"

# --- a host that accepts connections and never answers ----------------------------------------
sport=$(free_port)
cat >"$TEST_TMP/silent.py" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
open(sys.argv[3], "w").write("listening\n")
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    with open(sys.argv[2], "a") as f:
        f.write("accepted\n")
EOF
: >"$TEST_TMP/silent.count"
python3 "$TEST_TMP/silent.py" "$sport" "$TEST_TMP/silent.count" "$TEST_TMP/silent.ready" &
silent_pid=$!
at_exit "kill $silent_pid 2>/dev/null || true"
wait_until _test_file_nonempty "$TEST_TMP/silent.ready" || fail "the silent listener did not start"
fresh
start=$(date +%s)
acf --dir="$D" fetch $NET --connect-to="silent.test:443:127.0.0.1:$sport" silent.test/team/app
took=$(($(date +%s) - start))
expect_rc 1 "silent host"
[ "$took" -lt 90 ] || fail "a silent host held fetch for $took s"
# At the default level: one line says a retry comes, and why; the failure is said once.
expect_eq "retry lines" \
        "$(grep -c '^acfetch: silent.test:443: timed out: .*TLS handshake.*; retrying in ' "$ERR")" 1
expect_once "^acfetch: error: silent.test:443: timed out" "silent host"
# Two connections (one retry), not two per walk step.
expect_eq "connections to the silent host" "$(wc -l <"$TEST_TMP/silent.count")" 2
# Plain http: the time to the first byte is bounded by --stall-timeout.
fresh
acf --dir="$D" --insecure-options=http extract --stall-timeout=2 \
        "http://127.0.0.1:$sport/x.caidx" "$TEST_TMP/out"
expect_rc 1 "silent http host"
expect_once "^acfetch: error: 127.0.0.1:$sport: timed out: no response within 2 s (--stall-timeout)" \
        "no first byte"
echo "ok: a silent host is retried once, said once, and given up in $took s"

echo "fetch_net passed"
