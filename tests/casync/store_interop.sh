#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Our store against casync's: chunks that casync wrote (zstd, xz, gzip; SHA-512/256 and SHA-256)
# are read and verified through ca_store_get, rewritten with ca_store_put into a fresh store, and
# casync must extract the same tree from the copy. A corrupted or missing chunk is named by ID.
#
# Usage: store_interop.sh STORE_COPY
set -euo pipefail

STORE_COPY=${1:?usage: store_interop.sh STORE_COPY}
# shellcheck source=tests/casync/lib.sh
. "$(dirname "$0")/lib.sh"
ca_init store-interop
tmp=$TEST_TMP

magic() { # first bytes of a file, as hex without spaces
        head -c "$2" "$1" | od -An -tx1 | tr -d ' \n'
}

# A tree with multi-chunk, small, empty and compressible files, a symlink and a subdirectory.
mkdir -p "$tmp/tree/sub/deeper"
head -c 3000000 /dev/urandom >"$tmp/tree/random.bin"
seq 1 200000 >"$tmp/tree/sub/numbers.txt"
echo hello >"$tmp/tree/sub/deeper/a.txt"
: >"$tmp/tree/empty"
ln -s sub/deeper/a.txt "$tmp/tree/link"
chmod 0750 "$tmp/tree/sub"

casync mtree "$tmp/tree" >"$tmp/tree.mtree"

# name, expected magic of casync's chunks, casync make options
variants=(
        "zstd 28b52ffd"
        "xz fd377a585a00 --compression=xz"
        "gzip 1f8b --compression=gzip"
        "sha256 28b52ffd --digest=sha256"
        "small 28b52ffd --chunk-size=4096"
)

for v in "${variants[@]}"; do
        read -r name want_magic opts <<<"$v"
        a="$tmp/A.$name.castr" b="$tmp/B.$name.castr" idx="$tmp/$name.caidx"
        # shellcheck disable=SC2086 # opts is a word list
        casync make $opts --store="$a" "$idx" "$tmp/tree" >/dev/null

        n_a=$(find "$a" -name '*.cacnk' | wc -l)
        [ "$n_a" -gt 1 ] || fail "$name: casync wrote only $n_a chunks"
        first=$(find "$a" -name '*.cacnk' -print -quit)
        got=$(magic "$first" $((${#want_magic} / 2)))
        [ "$got" = "$want_magic" ] || fail "$name: casync's chunk $first starts with $got"

        "$STORE_COPY" "$idx" "$a" "$b"

        # Every chunk of the copy is ours: zstd, read-only, in casync's layout.
        n_b=$(find "$b" -name '*.cacnk' | wc -l)
        [ "$n_b" -eq "$n_a" ] || fail "$name: copied $n_b chunk files of $n_a"
        while IFS= read -r f; do
                [ "$(magic "$f" 4)" = 28b52ffd ] || fail "$name: $f is not zstd"
                base=${f##*/}
                [ "${f%/*}" = "$b/${base:0:4}" ] || fail "$name: $f is in the wrong directory"
                [[ $base =~ ^[0-9a-f]{64}\.cacnk$ ]] || fail "$name: bad file name $base"
        done < <(find "$b" -type f)
        [ -z "$(find "$b" -name '*.tmp')" ] || fail "$name: temp files left in $b"

        casync extract --store="$b" "$idx" "$tmp/out.$name"
        casync mtree "$tmp/out.$name" >"$tmp/out.$name.mtree"
        diff -u "$tmp/tree.mtree" "$tmp/out.$name.mtree" || fail "$name: trees differ"
        echo "ok: $name ($n_a chunks)"
done

# A blob index (.caibx), whose chunks are raw file bytes.
casync make --store="$tmp/A.blob.castr" "$tmp/blob.caibx" "$tmp/tree/random.bin" >/dev/null
"$STORE_COPY" "$tmp/blob.caibx" "$tmp/A.blob.castr" "$tmp/B.blob.castr"
casync extract --store="$tmp/B.blob.castr" "$tmp/blob.caibx" "$tmp/blob.out"
cmp "$tmp/tree/random.bin" "$tmp/blob.out" || fail "blob: extracted bytes differ"
echo "ok: blob"

# One corrupted chunk in a (read-only) source store: reported by ID, left in place.
cp -a "$tmp/A.zstd.castr" "$tmp/A.bad.castr"
victim=$(find "$tmp/A.bad.castr" -name '*.cacnk' | sort | sed -n 1p)
id=${victim##*/}
id=${id%.cacnk}
chmod u+w "$victim"
size=$(stat -c %s "$victim")
printf '\xff\xff\xff\xff' | dd of="$victim" bs=1 seek=$((size / 2)) conv=notrunc status=none
if "$STORE_COPY" "$tmp/zstd.caidx" "$tmp/A.bad.castr" "$tmp/C.castr" 2>"$tmp/err"; then
        fail "corrupt chunk $id was accepted"
fi
cat "$tmp/err"
grep -q "store_copy: chunk $id" "$tmp/err" || fail "corrupt chunk $id not named"
[ -f "$victim" ] || fail "the read-only source store lost $victim"
echo "ok: corrupt chunk named"

# Same chunk replaced by a valid zstd stream of other data.
printf 'other data' | zstd -q -c >"$victim"
if "$STORE_COPY" "$tmp/zstd.caidx" "$tmp/A.bad.castr" "$tmp/D.castr" 2>"$tmp/err"; then
        fail "wrong-data chunk $id was accepted"
fi
cat "$tmp/err"
grep -q "store_copy: chunk $id" "$tmp/err" || fail "wrong-data chunk $id not named"
echo "ok: wrong-data chunk named"

# And removed outright: missing.
rm -f "$victim"
if "$STORE_COPY" "$tmp/zstd.caidx" "$tmp/A.bad.castr" "$tmp/E.castr" 2>"$tmp/err"; then
        fail "missing chunk $id was not reported"
fi
grep -q "store_copy: chunk $id" "$tmp/err" || fail "missing chunk $id not named"
echo "ok: missing chunk named"
