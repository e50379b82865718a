#!/bin/sh
# Regenerates tests/openpgp/data/: keys and detached signatures made by GnuPG for test_openpgp.c
# (which reads them as known answers: the fingerprints gpg prints, the user IDs, and
# signatures that must verify, or fail with a given error). Run by hand; the output is kept in
# the tree so that the unit test needs no gpg.
#   tests/openpgp/make-fixtures.sh [DIR]     (default: tests/openpgp/data)
set -eu
out=${1:-$(cd "$(dirname "$0")" && pwd)/data}
mkdir -p "$out"
GNUPGHOME=$(mktemp -d)
export GNUPGHOME
trap 'gpgconf --kill all >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
g() {
        gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@"
}
fpr_of() { # the primary key's fingerprint, lower case
        g --with-colons --list-keys "$1" | awk -F: '$1 == "fpr" { print tolower($10); exit }'
}
sub_fpr_of() { # the last subkey's fingerprint
        g --with-colons --list-keys "$1" | awk -F: '$1 == "sub" { s = 1 } $1 == "fpr" && s { f = $10 } END { print tolower(f) }'
}
printf 'acfetch signed data\n' >"$out/data"
: >"$out/fingerprints"

make_key() { # NAME ALGO UID [gpg options before the command]
        name=$1 algo=$2 uid=$3
        shift 3
        g "$@" --quick-gen-key "$uid" "$algo" sign never
        f=$(fpr_of "$uid")
        g --armor --export "$f" >"$out/$name.pub.asc"
        echo "$name $f $uid" >>"$out/fingerprints"
}

make_key rsa3072 rsa3072 'RSA Test <rsa@example.com>'
g -u rsa@example.com --armor --detach-sign -o "$out/rsa3072.sig.asc" "$out/data"
g -u rsa@example.com --detach-sign -o "$out/rsa3072.sig" "$out/data"
g -u rsa@example.com --digest-algo SHA1 --detach-sign -o "$out/rsa3072-sha1.sig" "$out/data"
g -u rsa@example.com --digest-algo SHA384 --detach-sign -o "$out/rsa3072-sha384.sig" "$out/data"

make_key p256 nistp256 'P256 Test <p256@example.com>'
g -u p256@example.com --armor --detach-sign -o "$out/p256.sig.asc" "$out/data"
make_key p384 nistp384 'P384 Test <p384@example.com>'
g -u p384@example.com --armor --detach-sign -o "$out/p384.sig.asc" "$out/data"
make_key p521 nistp521 'P521 Test <p521@example.com>'
g -u p521@example.com --armor --detach-sign -o "$out/p521.sig.asc" "$out/data"
make_key ed25519 ed25519 'Ed Test <ed@example.com>'
g -u ed@example.com --digest-algo SHA512 --armor --detach-sign -o "$out/ed25519.sig.asc" \
        "$out/data"

# A certification-only primary key with a signing subkey (and an encryption subkey).
g --quick-gen-key 'Sub Test <sub@example.com>' ed25519 cert never
f=$(fpr_of sub@example.com)
g --quick-add-key "$f" cv25519 encr never
g --quick-add-key "$f" rsa3072 sign never
s=$(sub_fpr_of sub@example.com)
g --armor --export "$f" >"$out/subkey.pub.asc"
echo "subkey $f Sub Test <sub@example.com>" >>"$out/fingerprints"
echo "subkey-signing $s" >>"$out/fingerprints"
g -u "$s!" --armor --detach-sign -o "$out/subkey.sig.asc" "$out/data"

# Revoked: the revocation certificate gpg keeps, imported.
make_key revoked ed25519 'Revoked Test <revoked@example.com>'
f=$(fpr_of revoked@example.com)
g -u revoked@example.com --armor --detach-sign -o "$out/revoked.sig.asc" "$out/data"
sed 's/^:-----BEGIN/-----BEGIN/' "$GNUPGHOME/openpgp-revocs.d/$(echo "$f" | tr a-f A-F).rev" |
        g --import
g --armor --export "$f" >"$out/revoked.pub.asc"

# Expired: made in 2020, valid one day.
g --faked-system-time 20200101T000000! --quick-gen-key 'Expired Test <expired@example.com>' \
        ed25519 sign 1d
f=$(fpr_of expired@example.com)
g --armor --export "$f" >"$out/expired.pub.asc"
echo "expired $f Expired Test <expired@example.com>" >>"$out/fingerprints"
g --faked-system-time 20200101T120000! -u expired@example.com --armor --detach-sign \
        -o "$out/expired.sig.asc" "$out/data"

# An expired signature by a key that is still valid.
g --faked-system-time 20200101T000000! --quick-gen-key 'Old Test <old@example.com>' ed25519 \
        sign never
f=$(fpr_of old@example.com)
g --armor --export "$f" >"$out/old.pub.asc"
echo "old $f Old Test <old@example.com>" >>"$out/fingerprints"
g --faked-system-time 20200101T120000! --default-sig-expire 1d -u old@example.com --armor \
        --detach-sign -o "$out/sigexpired.sig.asc" "$out/data"
echo "written to $out"
