#!/bin/sh
# `acfetch fetch FILE.aci`: a local ACI (made here by GNU tar from a tree with files, symlinks, a
# hardlink and odd modes) is imported as rkt imports one: its signature FILE.aci.asc, over the
# file's bytes, must verify (with a key trusted for the manifest's name), --insecure-options=image
# skips that; the ID printed is the sha512 of what `export` writes; the rendered tree equals the
# source; gzip, xz and zstd compressed copies import to the same ID; the same tree published as
# an index and fetched by URL afterwards shares the imported chunks. Hostile tars are refused
# with one line and leave no image, no tree and nothing outside the store.
# shellcheck disable=SC2086 # $NET is an option list
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init
require_cmd tar gzip xz zstd python3

fe_image "$SRC/app" example.com/app 2048 version=1.0
R=$SRC/app/rootfs
build_tree "the image tree" sh -c "
        ln '$R/sub/deeper/note' '$R/hard'
        ln -s /etc/passwd '$R/abs-link'
        ln -s ../../f0 '$R/sub/deeper/up'
        mkdir -p '$R/odd/inner'
        echo x >'$R/odd/inner/x'
        chmod 0750 '$R/odd/inner'
        chmod 1777 '$R/odd'
        chmod 4711 '$R/sub/run.sh'
        chown 1000:100 '$R/odd/inner/x'
        mkfifo '$R/fifo'
"
# tar keeps whole seconds (ustar fields): the source gets whole-second times to compare.
find "$SRC/app" -exec touch -h -d '2020-02-03 04:05:06' {} +
touch -h -d '2001-01-01 00:00:01' "$R/abs-link" "$R/f0"
ACI=$TEST_TMP/app.aci
tar --format=pax -C "$SRC/app" -cf "$ACI" manifest rootfs || fail "GNU tar"
fe_sign "$ACI"
FILES=$WWW/example.com/files
mkdir -p "$FILES"
fe_nginx_start
NOKEY=$(echo "$NET" | sed "s|--local-config=$FE_CONFIG||")

# ---------------------------------------------------------------- import
D=$TEST_TMP/store
acf --dir="$D" fetch $NET --full "$ACI"
expect_rc 0 "fetch $ACI"
expect_full_id
ID=$(cat "$OUT")
expect_err "signature verified"
acf --dir="$D" export "$ID" "$TEST_TMP/export.aci"
expect_rc 0 "export"
expect_eq "sha512sum of the export" \
        "sha512-$(sha512sum <"$TEST_TMP/export.aci" | cut -c1-64)" "$ID"
fe_same_rootfs "$SRC/app" "$D/trees/$(fe_key "$ID")"
acf --dir="$D" image list --full
grep -q "example.com/app" "$OUT" || fail "image list lacks example.com/app: $(cat "$OUT")"
pass "a signed .aci is imported: ID = sha512 of its export, tree equals the source"

for c in gzip xz zstd; do
        "$c" -c <"$ACI" >"$TEST_TMP/app-$c.aci"
        fe_sign "$TEST_TMP/app-$c.aci"
        acf --dir="$D" fetch $NET --full "$TEST_TMP/app-$c.aci"
        expect_rc 0 "fetch the $c-compressed .aci"
        expect_eq "ID of the $c-compressed .aci" "$(cat "$OUT")" "$ID"
done
# A tar of "." ("./" prefixes, a root entry) and in GNU format is the same image.
tar --format=gnu -C "$SRC/app" -cf "$TEST_TMP/dot.aci" . || fail "GNU tar of ."
fe_sign "$TEST_TMP/dot.aci"
acf --dir="$D" fetch $NET --full "$TEST_TMP/dot.aci"
expect_rc 0 "fetch a tar of ."
expect_eq "ID of a GNU-format tar of ." "$(cat "$OUT")" "$ID"
pass "gzip, xz, zstd, GNU format and a tar of . import to the same ID"

# ---------------------------------------------------------------- signatures
cp "$ACI" "$TEST_TMP/unsigned.aci"
D2=$TEST_TMP/store2
acf --dir="$D2" fetch $NET "$TEST_TMP/unsigned.aci"
expect_rc 254 "fetch an unsigned .aci"
expect_err "no signature $TEST_TMP/unsigned.aci.asc"
expect_store_clean "$D2" "an unsigned .aci"
acf --dir="$D2" fetch $NET --insecure-options=image --full "$TEST_TMP/unsigned.aci"
expect_rc 0 "fetch an unsigned .aci with --insecure-options=image"
expect_eq "ID of the unsigned .aci" "$(cat "$OUT")" "$ID"
# Signed by a key trusted for another name only: refused once the manifest names the image.
FPR=$(cat "$FE_GNUPG/fpr")
mkdir -p "$TEST_TMP/conf-other/trustedkeys/prefix.d/example.com/other"
cp "$FE_CONFIG/trustedkeys/root.d/$FPR" "$TEST_TMP/conf-other/trustedkeys/prefix.d/example.com/other/"
D3=$TEST_TMP/store3
acf --dir="$D3" fetch $NOKEY --local-config="$TEST_TMP/conf-other" "$ACI"
expect_rc 254 "fetch a .aci signed by a key trusted for another name"
expect_store_clean "$D3" "a .aci signed for another name"
# A signature over other bytes.
cp "$ACI" "$TEST_TMP/tampered.aci"
cp "$TEST_TMP/app-gzip.aci.asc" "$TEST_TMP/tampered.aci.asc"
acf --dir="$D3" fetch $NET "$TEST_TMP/tampered.aci"
expect_rc 254 "fetch a .aci whose signature is of other bytes"
expect_store_clean "$D3" "a bad signature"
pass "unsigned refused (--insecure-options=image takes it), signer must be trusted for the name"

# ---------------------------------------------------------------- chunks shared with an index
casync make --store="$FILES/default.castr" "$FILES/app.caidx" "$SRC/app" >/dev/null ||
        fail "casync make"
fe_sign "$FILES/app.caidx"
TOTAL=$(caidx_ids "$FILES/app.caidx" | sort -u | wc -l)
log_mark
acf --dir="$D" fetch $NET --full "https://example.com/files/app.caidx"
expect_rc 0 "fetch the published index after the import"
expect_eq "ID of the published tree" "$(cat "$OUT")" "$ID"
GOT=$(fe_chunk_requests | sort -u | wc -l)
[ "$GOT" -lt $((TOTAL / 2)) ] ||
        fail "the URL fetch requested $GOT of $TOTAL chunks: the import shared too few"
pass "the same tree by URL after the import: $GOT of $TOTAL chunks requested"

# ---------------------------------------------------------------- hostile tars
hostile() { # NAME PATTERN
        fe_sign "$TEST_TMP/h.aci"
        DH=$TEST_TMP/store-h
        rm -rf "$DH" /tmp/acfetch-aci-escape
        acf --dir="$DH" fetch $NET "$TEST_TMP/h.aci"
        expect_rc 254 "fetch $1"
        expect_eq "lines on stderr for $1" "$(wc -l <"$ERR")" 1
        expect_err "$2"
        expect_store_clean "$DH" "$1"
        expect_eq "chunks after $1" "$(fe_chunks "$DH" | wc -l)" 0
        [ ! -e /tmp/acfetch-aci-escape ] || fail "$1: something was written outside the store"
        expect_eq "work files left by $1" "$(find "$DH/tmp" -mindepth 1 2>/dev/null | wc -l)" 0
        pass "$1 refused: $(cat "$ERR")"
}
# mk ENTRY...: a pax tar of the image's manifest, then the entries: "f:PATH", "d:PATH",
# "l:PATH:TARGET" (symlink), "h:PATH:TARGET" (hardlink).
mk() {
        python3 - "$TEST_TMP/h.aci" "$SRC/app/manifest" "$@" <<'PY'
import io, sys, tarfile
out, manifest = sys.argv[1:3]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    data = open(manifest, "rb").read()
    i = tarfile.TarInfo("manifest"); i.size = len(data); t.addfile(i, io.BytesIO(data))
    for e in sys.argv[3:]:
        kind, rest = e.split(":", 1)
        if kind in "lh":
            path, target = rest.split(":", 1)
        else:
            path = rest
        i = tarfile.TarInfo(path)
        if kind == "f":
            i.size = 2
            t.addfile(i, io.BytesIO(b"x\n"))
            continue
        i.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE, "h": tarfile.LNKTYPE}[kind]
        if kind in "lh":
            i.linkname = target
        t.addfile(i)
PY
}
mk d:rootfs f:rootfs/../../../../../tmp/acfetch-aci-escape
hostile "a traversal entry" '".." component'
mk d:rootfs f:/tmp/acfetch-aci-escape
hostile "an absolute path" 'absolute path'
mk d:rootfs l:rootfs/l:/tmp f:rootfs/l/acfetch-aci-escape
hostile "an entry through a symlink" 'is not a directory (a symlink or a file)'
mk d:rootfs f:rootfs/a f:rootfs/a
hostile "a duplicate entry" 'holds it twice'
mk d:rootfs f:etc/passwd
hostile "an entry outside manifest and rootfs/" 'not part of an image'
mk d:rootfs h:rootfs/h:rootfs/missing
hostile "a hardlink to nothing" 'hardlink to'
mk d:rootfs h:rootfs/h:rootfs/no/such/dir
hostile "a hardlink below nothing" 'not in the archive before it'
head -c 300000 "$ACI" >"$TEST_TMP/h.aci"
hostile "a truncated tar" 'truncated'
python3 - "$ACI" "$TEST_TMP/h.aci" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
# The first ustar header after the pax one: a base-256 size of 2^61.
off = 0
while True:
    h = b[off:off + 512]
    size = int(h[124:136].strip(b"\0 ") or b"0", 8)
    if h[156:157] not in (b"x", b"g"):
        break
    off += 512 + (size + 511) // 512 * 512
h[124:136] = b"\x80" + b"\0" * 3 + b"\x20" + b"\0" * 7
h[148:156] = b" " * 8
h[148:156] = b"%06o\0 " % sum(h)
b[off:off + 512] = h
open(sys.argv[2], "wb").write(bytes(b))
PY
hostile "a huge size field" 'too large'
finish
