#!/bin/sh
# Signed images end to end: GnuPG signs each index (<index URL>.asc), nginx serves them, and
# `acfetch fetch` must accept exactly the signatures a trusted key made: RSA-3072, ECDSA P-256
# and Ed25519 keys, armored and binary signatures, a signing subkey, a key trusted for a parent
# prefix, a key in root.d. Every other case is refused with its own message, one error line, no
# chunk requested and nothing stored: a key trusted for another prefix (example.com/other; and
# example.com/foo, which must not cover example.com/foobar), an unknown key, an expired key, an
# expired signature, a revoked key, a revoked subkey, a masked key, an index changed by one
# byte, a signature over other bytes, an empty or garbage .asc, SHA-1, no .asc at all, and a
# key file named by another fingerprint. --insecure-options=image fetches an unsigned image
# with one warning.
# $NET and $TRUST are lists of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
# shellcheck source=tests/trust/lib.sh
. "$SRCDIR/tests/trust/lib.sh"
tr_init

# --- keys ---------------------------------------------------------------------------------------
tr_key rsa rsa3072 'RSA Test <rsa@example.com>'
tr_key p256 nistp256 'P256 Test <p256@example.com>'
tr_key ed ed25519 'Ed Test <ed@example.com>'
tr_key sub ed25519 'Sub Test <sub@example.com>' cert
tr_subkey sub ed25519
tr_key parent ed25519 'Parent Test <parent@example.com>'
tr_key root ed25519 'Root Test <root@example.com>'
tr_key other ed25519 'Other Test <other@example.com>'
tr_key foo ed25519 'Foo Test <foo@example.com>'
tr_key unknown ed25519 'Unknown Test <unknown@example.com>'
tr_key masked ed25519 'Masked Test <masked@example.com>'
tr_key expired ed25519 'Expired Test <expired@example.com>' sign 1d \
        --faked-system-time 20200101T000000!
tr_key old ed25519 'Old Test <old@example.com>' sign never --faked-system-time 20200101T000000!
tr_key revoked ed25519 'Revoked Test <revoked@example.com>'
tr_key revsub ed25519 'RevSub Test <revsub@example.com>' cert
tr_subkey revsub ed25519

# --- images and signatures ----------------------------------------------------------------------
tr_page
tr_publish example.com/rsa rsa armor
tr_publish example.com/p256 p256 binary
tr_publish example.com/ed ed armor
tr_publish example.com/sub sub:sub armor
tr_publish example.com/team/app parent
tr_publish example.com/anything root binary
tr_publish example.com/victim other
tr_publish example.com/foobar foo
tr_publish example.com/unknown unknown
tr_publish example.com/masked masked
tr_publish example.com/expired
tr_sign expired "$IDX" armor --faked-system-time 20200101T120000!
tr_publish example.com/sigexpired
tr_sign old "$IDX" armor --faked-system-time 20200101T120000! --default-sig-expire 1d
tr_publish example.com/revoked revoked
tr_publish example.com/revsub sub:revsub
tr_publish example.com/t/changed rsa
# One byte of a chunk ID changed after signing: still a well-formed index.
_off=$((64 + 8 + 5))
_b=$(od -An -tu1 -j$_off -N1 "$IDX" | tr -d ' ')
printf '%b' "$(printf '\\%03o' $(((_b + 1) % 256)))" |
        dd of="$IDX" bs=1 seek=$_off count=1 conv=notrunc 2>/dev/null
tr_publish example.com/t/otherbytes
head -c 1000 /dev/urandom >"$TEST_TMP/other.bytes"
tr_sign rsa "$TEST_TMP/other.bytes"
cp "$TEST_TMP/other.bytes.asc" "$IDX.asc"
tr_publish example.com/t/empty
: >"$IDX.asc"
tr_publish example.com/t/garbage
echo '<html><body>Not here</body></html>' >"$IDX.asc"
tr_publish example.com/t/sha1 rsa
tr_sign rsa "$IDX" armor --digest-algo SHA1
tr_publish example.com/t/missing
tr_publish example.com/t/unsigned

# Revocations happen after the signatures were made, as they would.
sed 's/^:-----BEGIN/-----BEGIN/' \
        "$GNUPGHOME/openpgp-revocs.d/$(tr_fpr revoked | tr a-f A-F).rev" | tr_gpg --import ||
        fail "gpg: import the revocation"
tr_export revoked
printf 'key 1\nrevkey\ny\n0\n\ny\nsave\n' |
        gpg --batch --pinentry-mode loopback --passphrase '' --command-fd 0 \
                --edit-key "$(tr_fpr revsub)" >/dev/null 2>&1 || fail "gpg: revoke the subkey"
tr_export revsub

# --- the trust store ----------------------------------------------------------------------------
tr_trust "$LOC" example.com/rsa rsa
tr_trust "$LOC" example.com/p256 p256
tr_trust "$SYS" example.com/ed ed
tr_trust "$LOC" example.com/sub sub
tr_trust "$LOC" example.com/team parent
tr_trust "$SYS" root root
tr_trust "$LOC" example.com/other other
tr_trust "$LOC" example.com/foo foo
tr_trust "$SYS" example.com/masked masked
mkdir -p "$LOC/trustedkeys/prefix.d/example.com/masked"
: >"$LOC/trustedkeys/prefix.d/example.com/masked/$(tr_fpr masked)"
tr_trust "$LOC" example.com/expired expired
tr_trust "$LOC" example.com/sigexpired old
tr_trust "$LOC" example.com/revoked revoked
tr_trust "$LOC" example.com/revsub revsub
tr_trust "$LOC" example.com/t rsa

tr_nginx_start

# --- accepted -----------------------------------------------------------------------------------
tr_expect_verified example.com/rsa 'RSA Test <rsa@example.com>'
tr_expect_verified example.com/p256 'P256 Test <p256@example.com>'
tr_expect_verified example.com/ed 'Ed Test <ed@example.com>'
tr_expect_verified example.com/sub 'Sub Test <sub@example.com>'
grep -q "\"signerFingerprint\": \"$(tr_fpr sub)\"" "$D"/images/*/image.json ||
        fail "the subkey's primary key is not recorded as the signer"
tr_expect_verified example.com/team/app 'Parent Test <parent@example.com>'
tr_expect_verified example.com/anything 'Root Test <root@example.com>'

# The next fetch of a verified image revalidates its index: no second check is needed.
log_mark
acf --dir="$D" fetch $NET $TRUST example.com/rsa
expect_rc 0 "fetch example.com/rsa again"
expect_eq "requests for the .asc on revalidation" "$(log_count '\.asc ')" 0

# --- rejected -----------------------------------------------------------------------------------
tr_expect_rejected example.com/victim \
        "signed by key $(tr_fpr other), which is trusted for example.com/other only, not for example.com/victim"
tr_expect_rejected example.com/foobar \
        "signed by key $(tr_fpr foo), which is trusted for example.com/foo only, not for example.com/foobar"
tr_expect_rejected example.com/unknown "signed by unknown key $(tr_fpr unknown)"
tr_expect_rejected example.com/expired "which expired on 2020-01-02"
tr_expect_rejected example.com/sigexpired "the signature by key $(tr_fpr old) .* expired on 2020-01-02"
tr_expect_rejected example.com/revoked "signed by key $(tr_fpr revoked) (Revoked Test <revoked@example.com>), which is revoked"
tr_expect_rejected example.com/revsub "signed by subkey $(cat "$KEYS/revsub.sub") of key $(tr_fpr revsub) .*, which is revoked"
tr_expect_rejected example.com/masked \
        "signed by key $(tr_fpr masked), which is masked by $LOC/trustedkeys/prefix.d/example.com/masked/$(tr_fpr masked)"
tr_expect_rejected example.com/t/changed "BAD signature by key $(tr_fpr rsa)"
tr_expect_rejected example.com/t/otherbytes "BAD signature by key $(tr_fpr rsa)"
tr_expect_rejected example.com/t/empty "the signature file is empty"
tr_expect_rejected example.com/t/garbage "neither an armored OpenPGP signature nor a binary one"
tr_expect_rejected example.com/t/sha1 "the signature uses SHA-1, which acfetch refuses"
tr_expect_rejected example.com/t/missing "no signature at https://images.test/example.com/t/missing.caidx.asc (HTTP 404)"
tr_expect_rejected example.com/t/unsigned "no signature at"

# A key file named by another key's fingerprint breaks the store for the names it covers (a
# fresh store: a stored image is revalidated without a signature check).
D=$TEST_TMP/store2
mkdir -p "$LOC/trustedkeys/prefix.d/example.com/p256"
cp "$KEYS/rsa.asc" "$LOC/trustedkeys/prefix.d/example.com/p256/$(tr_fpr ed)"
tr_expect_rejected example.com/p256 "the file is named $(tr_fpr ed) but holds key $(tr_fpr rsa)"
rm "$LOC/trustedkeys/prefix.d/example.com/p256/$(tr_fpr ed)"
# So does a symlink.
ln -s "$KEYS/ed.asc" "$LOC/trustedkeys/prefix.d/example.com/p256/$(tr_fpr ed)"
tr_expect_rejected example.com/p256 "is a symlink; refusing it"
rm "$LOC/trustedkeys/prefix.d/example.com/p256/$(tr_fpr ed)"

D=$TEST_TMP/store

# --- unsigned, on purpose -----------------------------------------------------------------------
log_mark
acf --dir="$D" fetch $NET $TRUST --insecure-options=image example.com/t/unsigned
expect_rc 0 "fetch an unsigned image with --insecure-options=image"
expect_eq "warnings" "$(grep -c 'warning:' "$ERR")" 1
expect_err "warning: example.com/t/unsigned: the signature of .* is not checked (--insecure-options=image)"
expect_no_err 'signature verified'
expect_eq "requests for the .asc" "$(log_count '\.asc ')" 0
# Stored unverified: with verification on again, the index is not reused unchecked.
log_mark
acf --dir="$D" fetch $NET $TRUST example.com/t/unsigned
expect_rc 254 "fetch the unsigned image, stored unverified, with verification on"
expect_err "no signature at"
expect_eq "chunk requests" "$(log_count '\.cacnk')" 0
echo "ok"
