#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Makes the seed corpora of the fuzz targets: OUTDIR/<target>/ for each target of fuzz/.
#   fuzz/make-corpus.sh OUTDIR
# casync archives and indexes come from Debian's casync (a small tree with every node kind,
# made with several feature sets and compressions; devices, trusted.* xattrs and chattr flags
# only as root), OpenPGP keys and signatures from gpg (tests/openpgp/data, which gpg made, and a
# fresh key with a subkey), the rest is written here. Inputs that a target reads in two parts
# start with the first part's length (fuzz/fuzz.h, fuzz_split2).
set -eu
[ $# -eq 1 ] || {
        echo "usage: $0 OUTDIR" >&2
        exit 2
}
src=$(cd "$(dirname "$0")/.." && pwd)
out=$1
# Every target: fuzz/fuzz_TARGET.c (fuzz_files.c is their shared helper).
for f in "$src"/fuzz/fuzz_*.c; do
        t=$(basename "$f" .c)
        t=${t#fuzz_}
        [ "$t" = files ] || mkdir -p "$out/$t"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/acfetch-corpus.XXXXXX")
export GNUPGHOME=$work/gnupg
cleanup() {
        gpgconf --kill all >/dev/null 2>&1 || true
        find "$work" \( -type f -o -type d \) -exec chattr -f -i -a {} + 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=tests/publish/make_tree.sh
. "$src/tests/publish/make_tree.sh"

le16() { printf "$(printf '\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)))"; }
le32() {
        printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) \
                $(($1 >> 16 & 255)) $(($1 >> 24 & 255)))"
}
# two_part OUT FIRST SECOND: the first file's length, the first file, the second.
two_part() {
        { le16 "$(stat -c %s "$2")" && cat "$2" "$3"; } >"$1"
}

# ---------------------------------------------------------------- casync: archives, indexes, chunks
# mt_small_tree's variety plus what it leaves out: owners, xattrs, ACLs, devices, a hardlink.
tree=$work/tree
mt_small_tree "$tree"
(
        cd "$tree"
        setfattr -n user.note -v hello a.txt
        setfattr -n user.bin -v 0x00ff01 sub/r.bin
        setfacl -m u:1000:rw-,g:100:r--,u:4242:r-x a.txt
        setfacl -d -m u:1000:rwx,g:100:r-x,o::--- sub
        chown 1000:100 empty
        ln a.txt hard
        if [ "$MT_ROOT" = 1 ]; then
                mknod chr c 1 3
                mknod blk b 7 200
                setfattr -n trusted.t -v v empty
                chattr +a sub/deeper/x 2>/dev/null || true
        fi
        python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'
)
# An image: manifest and rootfs/, as fetch expects.
image=$work/image
mkdir -p "$image/rootfs/etc"
cp "$src/fuzz/seeds/manifest/"full.json "$image/manifest"
printf 'x\n' >"$image/rootfs/etc/hostname"
ln -s ../etc/hostname "$image/rootfs/link"

n=0
for with in "" --with=unix --with=fat "--without=acl --without=xattrs" --with=best; do
        n=$((n + 1))
        # shellcheck disable=SC2086
        casync make $with "$work/tree$n.catar" "$tree" >/dev/null
        for t in catar_decode catar_extract catar_seek; do
                cp "$work/tree$n.catar" "$out/$t/tree$n.catar"
        done
done
casync make "$work/image.catar" "$image" >/dev/null
for t in catar_decode catar_extract catar_seek; do
        cp "$work/image.catar" "$out/$t/image.catar"
done
# An empty root directory (the smallest valid archive).
mkdir "$work/empty"
casync make "$work/empty.catar" "$work/empty" >/dev/null
cp "$work/empty.catar" "$out/catar_decode/empty.catar"

for comp in zstd xz gzip; do
        casync make --compression=$comp --chunk-size=1024:2048:4096 --store="$work/$comp.castr" \
                "$work/$comp.caidx" "$tree" >/dev/null
        cp "$work/$comp.caidx" "$out/index/$comp.caidx"
        # A few chunks, each after its uncompressed size (what fuzz_chunk_codec reads first).
        find "$work/$comp.castr" -name '*.cacnk' | sort | head -n 4 | while read -r c; do
                case $comp in
                zstd) size=$(zstd -dc <"$c" | wc -c) ;;
                xz) size=$(xz -dc <"$c" | wc -c) ;;
                gzip) size=$(gzip -dc <"$c" | wc -c) ;;
                esac
                { le32 "$size" && cat "$c"; } >"$out/chunk_codec/$comp-$(basename "$c")"
        done
done
head -c 5000 /dev/urandom >"$work/blob"
casync make --chunk-size=1024:2048:4096 --store="$work/zstd.castr" "$work/blob.caibx" "$work/blob" >/dev/null
cp "$work/blob.caibx" "$out/index/blob.caibx"

# ---------------------------------------------------------------- OpenPGP
data=$src/tests/openpgp/data
cp "$data"/*.pub.asc "$out/openpgp_keys/"
mkdir -m 0700 "$GNUPGHOME"
g() { gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@"; }
g --quick-gen-key 'Fuzz Seed <fuzz@example.com>' ed25519 cert never
fpr=$(g --with-colons --list-keys fuzz@example.com | awk -F: '$1 == "fpr" { print $10; exit }')
g --quick-add-key "$fpr" ed25519 sign never
sub=$(g --with-colons --list-keys fuzz@example.com | awk -F: '$1 == "sub" { s = 1 } $1 == "fpr" && s { f = $10 } END { print f }')
g --quick-add-uid "$fpr" 'Second <second@example.com>'
g --armor --export "$fpr" >"$out/openpgp_keys/fuzz-subkey.asc"
g --export "$fpr" >"$out/openpgp_keys/fuzz-subkey.gpg"
# Signatures over tests/openpgp/data/data, which fuzz_openpgp_signature.c signs as its own.
g -u "$sub!" --armor --detach-sign -o "$work/fuzz.sig.asc" "$data/data"
two_part "$out/openpgp_signature/fuzz-subkey" "$out/openpgp_keys/fuzz-subkey.gpg" "$work/fuzz.sig.asc"
for sig in "$data"/*.sig "$data"/*.sig.asc; do
        name=$(basename "$sig")
        key=$data/${name%%.*}.pub.asc
        case $name in
        rsa3072*) key=$data/rsa3072.pub.asc ;;
        sigexpired*) key=$data/old.pub.asc ;;
        esac
        [ -f "$key" ] || continue
        two_part "$out/openpgp_signature/$name" "$key" "$sig"
done

# ---------------------------------------------------------------- tar_read: ACIs from GNU tar
# A small ACI tree with every entry kind, long names (GNU 'L'/'K', pax path/linkpath, ustar
# prefix) and an xattr, in each of GNU tar's formats, plain and compressed.
aci=$work/aci
mkdir -p "$aci/rootfs/d/$(printf 'p%.0s' $(seq 90))"
echo '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/fuzz"}' >"$aci/manifest"
printf 'hello\n' >"$aci/rootfs/d/f"
ln "$aci/rootfs/d/f" "$aci/rootfs/hard"
ln -s ../etc/passwd "$aci/rootfs/d/link"
ln -s "$(printf 't%.0s' $(seq 120))" "$aci/rootfs/longlink"
echo x >"$aci/rootfs/d/$(printf 'p%.0s' $(seq 90))/$(printf 'n%.0s' $(seq 60))"
mkfifo "$aci/rootfs/fifo"
setfattr -n user.note -v hi "$aci/rootfs/d/f" 2>/dev/null || true
for fmt in ustar pax gnu oldgnu; do
        t=$out/tar_read/$fmt.aci
        tar --format=$fmt --xattrs -C "$aci" -cf "$t" manifest rootfs 2>/dev/null ||
                tar --format=$fmt -C "$aci" -cf "$t" manifest rootfs 2>/dev/null || rm -f "$t"
done
tar --format=pax -C "$aci" -cf - manifest rootfs | gzip -9 >"$out/tar_read/pax.aci.gz"
tar --format=gnu -C "$aci" -cf - manifest rootfs | xz >"$out/tar_read/gnu.aci.xz"
tar --format=pax -C "$aci" -cf - . | zstd -q >"$out/tar_read/dot.aci.zst"
# gzip with every optional header field (FEXTRA, FNAME, FCOMMENT, FHCRC), then a second member.
tar --format=ustar -C "$aci" -cf "$work/fields.tar" manifest
python3 "$src/tests/casync/gzip_fields.py" "$work/fields.tar" "$out/tar_read/fields.tar.gz"
printf 'x' | gzip >>"$out/tar_read/fields.tar.gz"

# ---------------------------------------------------------------- written here
# Seeds kept as files, one input each.
for t in manifest discovery_page image_name auth_d image_record profile s3_error \
        registry_manifest registry_challenge registry_token registry_error; do
        cp "$src"/fuzz/seeds/$t/* "$out/$t/"
done
# oci_layout: index.json, then the manifest, then the config (fuzz_split2 twice).
for d in "$src"/fuzz/seeds/oci_layout/*/; do
        two_part "$work/oci-rest" "$d/manifest.json" "$d/config.json"
        two_part "$out/oci_layout/$(basename "$d")" "$d/index.json" "$work/oci-rest"
done
# docker_archive: manifest.json, then the config.
for d in "$src"/fuzz/seeds/docker_archive/*/; do
        two_part "$out/docker_archive/$(basename "$d")" "$d/manifest.json" "$d/config.json"
done
echo "corpora in $out: $(find "$out" -type f | wc -l) files"
