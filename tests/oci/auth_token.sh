#!/bin/sh
# Registry authentication in the transfer engine (TRANSFER_REGISTRY), against Debian's
# docker-registry over https on loopback: one with token auth, whose tokens come from
# token_server.py (RS256 JWTs the registry verifies against the signing key's certificate), and
# one with htpasswd (Basic). tests/fetcher/test_registry_auth pushes a blob (POST, PUT), HEADs and
# GETs it, and GETs it from many threads at once, with the right credentials in auth.d's
# dockerAuth (works; one request to the token service for all the parallel GETs), with wrong
# ones (an error naming the token service) and without (an error saying to add a dockerAuth
# entry). No password, credential or token appears in any --debug output.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/oci/registry_lib.sh
. "$SRCDIR/tests/oci/registry_lib.sh"
require_cmd docker-registry htpasswd curl openssl /usr/bin/python3
/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null ||
        skip "python3-jwt and python3-cryptography are needed (tools/install-deps.sh, oci)"
http_init
http_make_certs

TR=${TEST_REGISTRY_AUTH:-$BUILDDIR/tests/fetcher/test_registry_auth}
SECRET=s3cret-Pa55word
T=$TEST_TMP
CA=$HTTP_CA
REPO=acfetch/test

# ---------------------------------------------------------------- the token service
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=acfetch-test-token-signer \
        -keyout "$T/sign.key" -out "$T/sign.pem" >"$T/openssl.log" 2>&1 ||
        fail "signing key" "$(cat "$T/openssl.log")"
TPORT=$(free_port)
TLOG=$T/token.log
: >"$TLOG"
/usr/bin/python3 "$SRCDIR/tests/oci/token_server.py" "$TPORT" "$HTTP_SERVER_CERT" \
        "$HTTP_SERVER_KEY" "$T/sign.key" acfetch-test-issuer alice "$SECRET" "$TLOG" \
        2>"$T/token.err" &
TPID=$!
at_exit "kill $TPID 2>/dev/null || true"
answers() { curl -so /dev/null --cacert "$CA" "$1"; }
wait_until answers "https://127.0.0.1:$TPORT/token" ||
        fail "the token service did not start" "$(cat "$T/token.err")"
: >"$TLOG"
: >"$TLOG.tokens"
token_requests() { wc -l <"$TLOG" | tr -d ' '; }

# ---------------------------------------------------------------- the registries
# registry NAME AUTH_YAML: start docker-registry NAME with that auth section; sets RPORT.
registry() {
        registry_start "$1" "auth:
$2"
        RPORT=$REGISTRY_PORT
}
registry token "  token:
    realm: https://127.0.0.1:$TPORT/token
    service: acfetch-test-registry
    issuer: acfetch-test-issuer
    rootcertbundle: $T/sign.pem"
TOKEN_URL=https://127.0.0.1:$RPORT
TOKEN_HOST=127.0.0.1:$RPORT
# A registry whose token service is plain http: refused without --insecure-options=http.
HPORT=$(free_port)
registry httprealm "  token:
    realm: http://127.0.0.1:$HPORT/token
    service: acfetch-test-registry
    issuer: acfetch-test-issuer
    rootcertbundle: $T/sign.pem"
HTTPREALM_URL=https://127.0.0.1:$RPORT
htpasswd -Bbc "$T/htpasswd" alice "$SECRET" >/dev/null 2>&1 || fail "htpasswd"
registry basic "  htpasswd:
    realm: acfetch-basic
    path: $T/htpasswd"
BASIC_URL=https://127.0.0.1:$RPORT
BASIC_HOST=127.0.0.1:$RPORT

# auth.d directories: the right password, a wrong one, and (for the Basic registry) the right
# one as an auth.d "basic" entry rather than a dockerAuth one.
docker_auth() { # DIR PASSWORD HOSTS...
        mkdir -p "$1/auth.d"
        _da_dir=$1
        _da_pw=$2
        shift 2
        _da_list=
        for _da_h; do
                _da_list="$_da_list${_da_list:+,}\"$_da_h\""
        done
        printf '{"rktKind":"dockerAuth","rktVersion":"v1","registries":[%s],"credentials":{"user":"alice","password":"%s"}}\n' \
                "$_da_list" "$_da_pw" >"$_da_dir/auth.d/docker.json"
}
docker_auth "$T/good" "$SECRET" "$TOKEN_HOST" "$BASIC_HOST"
docker_auth "$T/bad" wrong-password "$TOKEN_HOST" "$BASIC_HOST"
mkdir -p "$T/plain/auth.d"
printf '{"rktKind":"auth","rktVersion":"v1","domains":["%s"],"type":"basic","credentials":{"user":"alice","password":"%s"}}\n' \
        "$BASIC_HOST" "$SECRET" >"$T/plain/auth.d/basic.json"

# run NAME ARGS...: test_registry_auth with the test CA; stdout in $T/NAME.out, stderr in
# $T/NAME.err; its exit status in RC.
run() {
        _r_name=$1
        shift
        RC=0
        "$TR" --ca "$CA" "$@" >"$T/$_r_name.out" 2>"$T/$_r_name.err" || RC=$?
}
expect_ok() { # NAME
        [ "$RC" -eq 0 ] || fail "$1: exit status $RC" "$(cat "$T/$1.out" "$T/$1.err")"
}
expect_failure() { # NAME TEXT: exit status 1 and TEXT among the messages
        [ "$RC" -eq 1 ] || fail "$1: exit status $RC, expected 1" "$(cat "$T/$1.out" "$T/$1.err")"
        grep -qF -- "$2" "$T/$1.err" || fail "$1: no \"$2\" in the messages" "$(cat "$T/$1.err")"
}

# ---------------------------------------------------------------- token auth
run token-push --config "$T/good" push "$TOKEN_URL" "$REPO" 300000 1
expect_ok token-push
DIGEST=$(cat "$T/token-push.out")
[ -s "$T/token-push.err" ] && fail "token-push: a 401 answered with a token is no message" \
        "$(cat "$T/token-push.err")"
# The HEAD gets a pull token; the POST, refused with it, one with push too; the rest reuse it.
expect_eq "requests to the token service for HEAD, POST, PUT, HEAD, GET" "$(token_requests)" 2
expect_eq "first token asked for" "$(sed -n 1p "$TLOG")" "200 alice scope=repository:$REPO:pull"
sed -n 2p "$TLOG" | grep -q "^200 alice scope=repository:$REPO:.*push" ||
        fail "token-push: the POST did not get a push token" "$(cat "$TLOG")"
pass "token auth: HEAD, POST, PUT, HEAD and GET of a blob with tokens from dockerAuth credentials"

n=$(token_requests)
run token-get --config "$T/good" --debug get "$TOKEN_URL" "$REPO" "$DIGEST" 200 48
expect_ok token-get
expect_eq "requests to the token service for 200 GETs from 48 threads" \
        "$(($(token_requests) - n))" 1
got=$(grep -c "HTTP status 401, the registry asks for a token" "$T/token-get.err" || true)
expect_ge "401s answered (each at --debug only)" "$got" 1
# Only the first wave (at most one per thread) meets a 401: the others send the token at once.
expect_le "401s for 200 GETs from 48 threads" "$got" 48
pass "one token for 200 parallel GETs; later requests send it at once"

# A token living 20 s is sent while it has over 5 s left and renewed once 10 s are left: GETs
# every half second for 18 s renew it before it ends, and none meets a 401 after the first.
echo 20 >"$TLOG.expires"
n=$(token_requests)
run token-renew --config "$T/good" --debug --pause-ms 500 get "$TOKEN_URL" "$REPO" "$DIGEST" 36 1
expect_ok token-renew
rm "$TLOG.expires"
expect_ge "requests to the token service over 18 s of 20 s tokens" "$(($(token_requests) - n))" 2
expect_eq "401s over 18 s of 20 s tokens" \
        "$(grep -c "HTTP status 401, the registry asks for a token" "$T/token-renew.err")" 1
pass "a token is renewed before its end, without a 401"

n=$(token_requests)
run token-wrong --config "$T/bad" --debug push "$TOKEN_URL" "$REPO" 1000 2
expect_failure token-wrong \
        "registry $TOKEN_HOST: the credentials were refused by the token service at 127.0.0.1:$TPORT"
expect_eq "requests to the token service with wrong credentials" "$(($(token_requests) - n))" 1
run token-wrong-get --config "$T/bad" get "$TOKEN_URL" "$REPO" "$DIGEST" 50 16
expect_failure token-wrong-get "were refused by the token service at 127.0.0.1:$TPORT"
expect_eq "messages for 50 refused GETs" "$(grep -c refused "$T/token-wrong-get.err")" 1
pass "wrong credentials: the token service's refusal, said once"

run token-none --debug get "$TOKEN_URL" "$REPO" "$DIGEST" 1 1
expect_failure token-none \
        "HTTP status 401 (registry UNAUTHORIZED): the registry wants credentials for $TOKEN_HOST: add a dockerAuth entry to auth.d"
run token-none-push push "$TOKEN_URL" "$REPO" 1000 3
expect_failure token-none-push "add a dockerAuth entry to auth.d"
! grep -q "retries" "$T/token-none.err" ||
        fail "token-none: sending a request again with a token is no retry" "$(cat "$T/token-none.err")"
pass "no credentials: an anonymous token is not enough, and the message says to add dockerAuth"

run token-unknown --config "$T/good" get "$TOKEN_URL" "$REPO" \
        sha256:0000000000000000000000000000000000000000000000000000000000000000 1 1
if [ "$RC" -ne 1 ] || ! grep -q "No such file" "$T/token-unknown.out"; then
        fail "a missing blob is -ENOENT" "$(cat "$T/token-unknown.out" "$T/token-unknown.err")"
fi
[ -s "$T/token-unknown.err" ] && fail "a missing blob is not logged" "$(cat "$T/token-unknown.err")"
pass "a missing blob: -ENOENT, not logged"

run token-http-realm --config "$T/good" get "$HTTPREALM_URL" "$REPO" "$DIGEST" 4 4
expect_failure token-http-realm \
        "its token service at 127.0.0.1:$HPORT is plain http, which needs --insecure-options=http"
expect_eq "messages for a plain http token service" "$(grep -c . "$T/token-http-realm.err")" 1
pass "a token service over plain http is refused (credentials never go there)"

# ---------------------------------------------------------------- acfetch itself
# publish --to oci:// and extract from it through the token registry, with dockerAuth: one token
# for all of extract's requests (manifest, index and every chunk of one repository).
mkdir -p "$T/src/bin" "$T/out"
head -c 2000000 /dev/urandom >"$T/src/bin/big"
echo hello >"$T/src/hello"
APP=oci://$TOKEN_HOST/acfetch/app
ac() { # NAME ARGS...: acfetch with the test CA's trust; its exit status in RC
        _a_name=$1
        shift
        RC=0
        "$ACFETCH" "$@" >"$T/$_a_name.out" 2>"$T/$_a_name.err" || RC=$?
}
n=$(token_requests)
ac acf-publish --local-config="$T/good" publish "$T/src" --name example.com/app \
        --label version=1.0 "$T/out" --to "$APP" --ca-cert "$CA"
expect_ok acf-publish
# A pull token, then one with push; the registry's challenges spell that "pull,push" or
# "push,pull", the same access: one token for it.
tail -n "+$((n + 1))" "$TLOG" | sed 's/push,pull/pull,push/' | sort | uniq -d >"$T/dup"
[ ! -s "$T/dup" ] || fail "acf-publish: a token asked for twice" "$(cat "$TLOG")"
expect_le "requests to the token service for acfetch publish" "$(($(token_requests) - n))" 2
TAG=$(sed -n "s|^$APP:||p" "$T/acf-publish.out")
[ -n "$TAG" ] || fail "acf-publish: no oci:// URL printed" "$(cat "$T/acf-publish.out")"
n=$(token_requests)
ac acf-extract --debug --local-config="$T/good" --dir "$T/store" extract --ca-cert "$CA" \
        "$APP:$TAG" "$T/x"
expect_ok acf-extract
cmp -s "$T/src/bin/big" "$T/x/rootfs/bin/big" || fail "acf-extract: the rootfs differs"
expect_eq "requests to the token service for acfetch extract" "$(($(token_requests) - n))" 1
ac acf-extract-none --dir "$T/store-none" extract --ca-cert "$CA" "$APP:$TAG" "$T/x-none"
[ "$RC" -ne 0 ] || fail "acf-extract-none: extracted without credentials"
grep -qF "add a dockerAuth entry to auth.d" "$T/acf-extract-none.err" ||
        fail "acf-extract-none: no hint" "$(cat "$T/acf-extract-none.err")"
pass "acfetch publish --to oci:// and extract through token auth: one token; without: the hint"

# ---------------------------------------------------------------- Basic (htpasswd)
run basic-push --config "$T/good" --debug push "$BASIC_URL" "$REPO" 100000 4
expect_ok basic-push
BDIGEST=$(cat "$T/basic-push.out")
run basic-plain --config "$T/plain" get "$BASIC_URL" "$REPO" "$BDIGEST" 20 8
expect_ok basic-plain
pass "Basic: dockerAuth credentials, and an auth.d basic entry, sent where the registry asks"
run basic-wrong --config "$T/bad" --debug get "$BASIC_URL" "$REPO" "$BDIGEST" 1 1
expect_failure basic-wrong \
        "HTTP status 401 (registry UNAUTHORIZED): the credentials for $BASIC_HOST (auth.d) do not give access to this"
run basic-none get "$BASIC_URL" "$REPO" "$BDIGEST" 1 1
expect_failure basic-none "the registry wants credentials for $BASIC_HOST: add a dockerAuth entry"
pass "Basic: wrong and missing credentials said in words"

# ---------------------------------------------------------------- no secret in any output
B64=$(printf 'alice:%s' "$SECRET" | base64)
B64_WRONG=$(printf 'alice:%s' wrong-password | base64)
for f in "$T"/*.err "$T"/*.out; do
        for s in "$SECRET" wrong-password "$B64" "$B64_WRONG" Bearer; do
                ! grep -qF -- "$s" "$f" || fail "$(basename "$f") shows a credential ($s)"
        done
        while read -r tok; do
                # A token's signature is its secret part.
                ! grep -qF -- "${tok##*.}" "$f" || fail "$(basename "$f") shows a token"
        done <"$TLOG.tokens"
done
[ -s "$TLOG.tokens" ] || fail "no token was issued"
pass "no password, credential or token in any output, --debug included"
