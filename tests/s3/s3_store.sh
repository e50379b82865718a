#!/bin/sh
# S3 stores against a real radosgw (tests/ceph_lib.sh), which checks signatures, payload hashes
# and ACLs. A signed image is published into a private bucket named after the image's host
# (images.test: radosgw takes an unknown Host as the bucket, as S3 website hosting does), with
# `publish --to`, killed midway through its chunks and run again; then fetched by name
# (discovery page, index, signature and chunks all from the bucket, signed with auth.d's s3
# key), extracted from an s3+http index URL and from a local index with --store s3+http://,
# and the chunks are checked to carry the immutable Cache-Control. A wrong secret, an unknown
# key and no key at all each fail with the S3 error in words and leave no data; no output,
# --debug included, ever shows the key ID or the secret.
# shellcheck disable=SC2086 # $S3 is an option list
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
# shellcheck source=tests/ceph_lib.sh
. "$SRCDIR/tests/ceph_lib.sh"
# shellcheck source=tests/mount/lib.sh
. "$SRCDIR/tests/mount/lib.sh"
fe_init
fe_signing_key
ceph_start
ceph_bucket images.test
RGW_PORT=${CEPH_S3_HOST##*:}
pass "radosgw up at $CEPH_S3_URL, private bucket images.test"

# auth.d: the bucket's key for radosgw's address (s3+ URLs) and for the image's host (the
# discovery page, asked for by its plain URL).
mkdir -p "$FE_CONFIG/auth.d"
cat >"$FE_CONFIG/auth.d/s3.json" <<EOF
{"rktKind": "auth", "rktVersion": "v1", "domains": ["images.test", "$CEPH_S3_HOST"],
 "type": "s3", "credentials": {"accessKeyID": "$CEPH_KEY", "secretAccessKey": "$CEPH_SECRET"}}
EOF
# The same trust without auth.d, for the runs that must get their key elsewhere or none.
NOAUTH=$TEST_TMP/noauth-config
mkdir -p "$NOAUTH"
cp -r "$FE_CONFIG/trustedkeys" "$NOAUTH/"
S3="--insecure-options=http --local-config=$FE_CONFIG"
NAMEHOST="--connect-to=images.test:80:127.0.0.1:$RGW_PORT"
TO=s3+http://$CEPH_S3_HOST/images.test
IDX_URL=$TO/team/app/1.0-$HOST_OS-$HOST_ARCH.caidx

keys() { # all keys of the bucket, one per line
        ceph_curl "$CEPH_S3_URL/images.test?list-type=2&max-keys=1000" |
                sed -e 's/<Key>/\n<Key>/g' | sed -n 's/^<Key>\([^<]*\)<.*/\1/p'
}

# ---------------------------------------------------------------- publish --to, killed midway
V1=$SRC/v1
fetch_make_tree "$V1" 4000 3000 2000 900 300 40
OUTDIR=$TEST_TMP/site
# Uploads through the delay proxy (40 ms a round trip) take long enough to be killed midway.
delay_proxy_start "$RGW_PORT" 40
SLOW_TO=s3+http://127.0.0.1:$PROXY_PORT/images.test
env AWS_ACCESS_KEY_ID="$CEPH_KEY" AWS_SECRET_ACCESS_KEY="$CEPH_SECRET" \
        "$A" $S3 publish "$V1" --name images.test/team/app --label version=1.0 --sign "$FPR" \
        --base-url "$TO" --to "$SLOW_TO" "$OUTDIR" >"$TEST_TMP/pub1.out" 2>"$TEST_TMP/pub1.err" &
PUB=$!
n=0
until [ "$(keys | grep -c '\.cacnk$')" -ge 3 ]; do
        n=$((n + 1))
        [ $n -lt 600 ] || fail "no chunk reached the bucket"
        kill -0 $PUB 2>/dev/null || fail "publish ended before it could be killed" \
                "$(cat "$TEST_TMP/pub1.err")"
        sleep 0.05
done
kill -9 $PUB
wait $PUB 2>/dev/null || true
keys >"$TEST_TMP/keys.killed"
partial=$(grep -c '\.cacnk$' "$TEST_TMP/keys.killed" || true)
! grep -q -e '\.caidx' -e '^team/app$' "$TEST_TMP/keys.killed" ||
        fail "the bucket has the index or the page before all chunks:" "$(grep -v cacnk "$TEST_TMP/keys.killed")"
pass "publish killed after $partial chunks: no index or page in the bucket yet"

acf $S3 publish "$V1" --name images.test/team/app --label version=1.0 --sign "$FPR" --to "$TO" \
        "$OUTDIR"
expect_rc 0 "publish --to, run again"
expect_eq "printed URL" "$(cat "$OUT")" "$IDX_URL"
grep -q "[0-9]* chunks uploaded .*, [1-9][0-9]* already there" "$ERR" ||
        fail "the rerun did not find the chunks already uploaded: $(cat "$ERR")"
keys >"$TEST_TMP/keys.1"
for k in team/app team/app/index.html "team/app/1.0-$HOST_OS-$HOST_ARCH.caidx" \
        "team/app/1.0-$HOST_OS-$HOST_ARCH.caidx.asc" "team/app/latest-$HOST_OS-$HOST_ARCH.caidx"; do
        grep -qx "$k" "$TEST_TMP/keys.1" || fail "the bucket lacks $k" "$(grep -v cacnk "$TEST_TMP/keys.1")"
done
want=$(caidx_distinct "$OUTDIR/team/app/1.0/$HOST_OS-$HOST_ARCH.caidx")
expect_eq "chunks in the bucket" "$(grep -c '^team/app/default\.castr/.*\.cacnk$' "$TEST_TMP/keys.1")" "$want"
CHUNK=$(grep -m1 '\.cacnk$' "$TEST_TMP/keys.1")
ceph_curl -I "$CEPH_S3_URL/images.test/$CHUNK" | tr -d '\r' |
        grep -qi '^cache-control: public, max-age=31536000, immutable$' ||
        fail "a chunk lacks the immutable Cache-Control"
cmp -s "$OUTDIR/default.castr/${CHUNK#team/app/default.castr/}" \
        "$(ceph_curl -o "$TEST_TMP/chunk" "$CEPH_S3_URL/images.test/$CHUNK" && echo "$TEST_TMP/chunk")" ||
        fail "the uploaded chunk differs from the local one"
pass "rerun finished it: $want chunks (immutable), index, signature, latest, page"

# ---------------------------------------------------------------- fetch by name from the bucket
D=$TEST_TMP/store
acf $S3 --dir "$D" fetch $NAMEHOST images.test/team/app:1.0
expect_rc 0 "fetch by name from the bucket"
ID=$(cat "$OUT")
expect_no_err "not checked"
acf --dir "$D" render "$ID" "$TEST_TMP/r1"
expect_rc 0 "render"
fe_same_tree "$V1" "$TEST_TMP/r1/rootfs" strict
pass "fetched by name from the private bucket, signature verified: $ID"

# The index from an s3+ URL (its store beside it), and a local index with --store s3+http://.
acf $S3 --dir "$TEST_TMP/store-x" extract "$IDX_URL" "$TEST_TMP/x1"
expect_rc 0 "extract from an s3+http index URL"
fe_same_tree "$V1" "$TEST_TMP/x1/rootfs" strict
acf $S3 --dir "$TEST_TMP/store-y" extract "$OUTDIR/team/app/1.0/$HOST_OS-$HOST_ARCH.caidx" \
        --store "$TO/team/app/default.castr" "$TEST_TMP/x2"
expect_rc 0 "extract with --store s3+http://"
fe_same_tree "$V1" "$TEST_TMP/x2/rootfs" strict
pass "extract from an s3+ index URL and from --store s3+http://"

acf_env() { # KEY SECRET DIR ARGS...: acfetch with the environment's key (no auth.d)
        _k=$1 _s=$2 _d=$3
        shift 3
        RC=0
        env AWS_ACCESS_KEY_ID="$_k" AWS_SECRET_ACCESS_KEY="$_s" "$A" --debug \
                --insecure-options=http --local-config="$NOAUTH" --dir "$_d" "$@" \
                >"$OUT" 2>"$ERR" || RC=$?
        cat "$ERR" >>"$TEST_TMP/all-debug.log"
}
# Over TLS: nginx in front of radosgw (the path and the Host header as signed), the key from the
# environment, the CA from --ca-cert.
cat >"$TEST_TMP/s3tls.conf" <<EOF
location /images.test/ {
        proxy_pass http://127.0.0.1:$RGW_PORT;
        proxy_set_header Host \$http_host;
        proxy_http_version 1.1;
}
EOF
http_nginx_start -n s3tls -s "$TEST_TMP/s3tls.conf" "$WWW"
TLS_IDX=s3+https://127.0.0.1:$NGINX_HTTPS_PORT/images.test/team/app/1.0-$HOST_OS-$HOST_ARCH.caidx
acf_env "$CEPH_KEY" "$CEPH_SECRET" "$TEST_TMP/store-t" extract --ca-cert="$HTTP_CA" "$TLS_IDX" \
        "$TEST_TMP/x3"
[ "$RC" = 0 ] || fail "extract from an s3+https index URL" "$(head -n 5 "$ERR")"
fe_same_tree "$V1" "$TEST_TMP/x3/rootfs" strict
acf_env "$CEPH_KEY" "$CEPH_SECRET" "$TEST_TMP/store-t2" extract "$TLS_IDX" "$TEST_TMP/x4"
expect_rc 254 "s3+https without the test CA"
expect_err "not trusted"
pass "s3+https through TLS, verified against --ca-cert (refused without it)"

: the lazy mount reads the bucket too.
if [ -c /dev/fuse ] && command -v fusermount3 >/dev/null 2>&1; then
        MNT_ALL=
        MNT_PIDS=
        at_exit _mnt_cleanup
        MP=$TEST_TMP/mnt
        mkdir -p "$MP"
        mnt_start "$TEST_TMP/mount.log" $S3 --dir "$TEST_TMP/store-m" mount -f $NAMEHOST \
                images.test/team/app:1.0 "$MP"
        fe_same_tree "$V1" "$MP" strict
        mnt_stop
        pass "mounted by name from the bucket, equal to the source"
else
        skip_part "mount from the bucket" "no FUSE here"
fi

# ---------------------------------------------------------------- refusals, in words, no data
acf_env "$CEPH_KEY" "${CEPH_SECRET}x" "$TEST_TMP/store-w" extract "$IDX_URL" "$TEST_TMP/w1"
expect_rc 254 "a wrong secret"
expect_err "HTTP status 403 (S3 SignatureDoesNotMatch): the secret key does not match"
[ ! -e "$TEST_TMP/w1" ] || fail "a wrong secret left $TEST_TMP/w1"
acf_env "AKIANOSUCHKEY0000000" "$CEPH_SECRET" "$TEST_TMP/store-w" fetch "$IDX_URL"
expect_rc 254 "an unknown key"
expect_err "(S3 InvalidAccessKeyId): the server knows no such access key ID"
acf_env "" "" "$TEST_TMP/store-w" fetch "$IDX_URL"
expect_rc 254 "no key"
expect_err "(S3 AccessDenied)"
[ -z "$(ls "$TEST_TMP/store-w/images" 2>/dev/null)" ] || fail "a refused fetch stored an image"
pass "wrong secret, unknown key, no key: refused with the S3 error in words, nothing stored"

# The environment's key works alone, and with --debug nothing shows it.
acf_env "$CEPH_KEY" "$CEPH_SECRET" "$TEST_TMP/store-e" fetch "$IDX_URL"
expect_rc 0 "fetch with the environment's key"
"$A" --debug $S3 --dir "$TEST_TMP/store-d" fetch $NAMEHOST images.test/team/app:1.0 \
        >>"$TEST_TMP/all-debug.log" 2>&1 || fail "fetch by name with --debug"
cat "$TEST_TMP"/pub1.err "$TEST_TMP"/acf.stderr >>"$TEST_TMP/all-debug.log"
for secret in "$CEPH_SECRET" "$CEPH_KEY"; do
        ! grep -q "$secret" "$TEST_TMP/all-debug.log" ||
                fail "a credential appears in the output" "$(grep -m3 "$secret" "$TEST_TMP/all-debug.log")"
done
grep -q "SignatureDoesNotMatch" "$TEST_TMP/all-debug.log" || fail "the debug log is not the one of these runs"
pass "no key ID or secret in any output, --debug included ($(wc -l <"$TEST_TMP/all-debug.log") lines)"
finish
