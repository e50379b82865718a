#!/bin/sh
# tests/ceph_lib.sh works: a throwaway radosgw starts, a signed client creates a private bucket,
# uploads an object and reads it back byte for byte, and an anonymous client is refused it
# (radosgw really checks signatures and ACLs, which the cache tests rely on).
# shellcheck source=tests/ceph_lib.sh
. "$SRCDIR/tests/ceph_lib.sh"
test_init ceph-smoke
ceph_start
pass "radosgw answers at $CEPH_S3_URL"

ceph_bucket smoke
head -c 300000 /dev/urandom >"$TEST_TMP/obj"
ceph_put "$TEST_TMP/obj" smoke/dir/obj 'Cache-Control: public, max-age=31536000, immutable' ||
        fail "signed PUT of an object"
ceph_curl -f -D "$TEST_TMP/headers" -o "$TEST_TMP/back" "$CEPH_S3_URL/smoke/dir/obj" ||
        fail "signed GET of the object"
cmp -s "$TEST_TMP/obj" "$TEST_TMP/back" || fail "the object read back differs from the one put"
grep -qi '^cache-control: public, max-age=31536000, immutable' "$TEST_TMP/headers" ||
        fail "radosgw did not keep the object's Cache-Control" "$(cat "$TEST_TMP/headers")"
pass "signed PUT and GET round-trip (with Cache-Control)"

code=$(curl -sS -o /dev/null -w '%{http_code}' "$CEPH_S3_URL/smoke/dir/obj")
expect_eq "anonymous GET of a private object" "$code" 403
# A wrong secret is refused too: the server verifies the signature, not only the key's name.
code=$(CEPH_SECRET=wrong$CEPH_SECRET ceph_curl -o /dev/null -w '%{http_code}' \
        "$CEPH_S3_URL/smoke/dir/obj")
expect_eq "GET signed with a wrong secret" "$code" 403
pass "anonymous and wrongly signed GETs are refused (403)"

# A body that does not match its declared SHA-256 is refused (the payload hash is checked).
head -c 1000 /dev/urandom >"$TEST_TMP/other"
code=$(curl -sS --aws-sigv4 "aws:amz:$CEPH_REGION:s3" --user "$CEPH_KEY:$CEPH_SECRET" \
        -H "x-amz-content-sha256: $(sha256sum <"$TEST_TMP/obj" | cut -d' ' -f1)" \
        -T "$TEST_TMP/other" -o /dev/null -w '%{http_code}' "$CEPH_S3_URL/smoke/bad")
case $code in
4??) pass "an upload whose body does not match its SHA-256 is refused ($code)" ;;
*) fail "an upload whose body does not match its SHA-256: got $code, expected 4xx" ;;
esac

ceph_bucket pub public-read
ceph_put "$TEST_TMP/obj" pub/obj 'x-amz-acl: public-read' || fail "PUT to the public bucket"
curl -sS -f -o "$TEST_TMP/back2" "$CEPH_S3_URL/pub/obj" ||
        fail "anonymous GET of a public-read object"
cmp -s "$TEST_TMP/obj" "$TEST_TMP/back2" || fail "the public object read back differs"
pass "a public-read object is served to anonymous clients"

pids=$(cat "$CEPH_DIR/pids")
ceph_stop
for p in $pids; do
        pid_gone "$p" || fail "Ceph daemon $p still runs after ceph_stop"
done
pass "ceph_stop ends every daemon"
