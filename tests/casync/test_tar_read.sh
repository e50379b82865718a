#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The tar reader (what `acfetch fetch FILE.aci` imports) against GNU tar: a tree with every
# entry kind a tar carries, archived in each of GNU tar's formats (ustar where names fit, pax,
# gnu, oldgnu), plain and compressed (gzip, xz, zstd, concatenated gzip members), must be listed
# exactly as the tree is, whatever size the pieces it is fed in; hostile archives (traversal,
# absolute paths, over-long names, huge sizes, truncation, bad checksums, lone zero blocks,
# sparse files, bzip2, oversized pax headers) must be refused with one line each.

. "$(dirname "$0")/lib.sh"

require_cmd tar gzip xz zstd python3 bzip2
: "${TAR_LIST:=$BUILDDIR/tests/casync/tar_list}"
[ -x "$TAR_LIST" ] || fail "tar_list not found at $TAR_LIST"
test_init tar_read

T=$TEST_TMP/tree
A=$TEST_TMP/a
mkdir -p "$A"

make_tree() {
        mkdir -p "$T/rootfs/etc" "$T/rootfs/odd"
        cd "$T" || exit 1
        echo '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/t"}' >manifest
        cd rootfs || exit 1
        : >empty
        printf 'hello\n' >etc/hello
        head -c 511 /dev/urandom >b511
        head -c 512 /dev/urandom >b512
        head -c $((1024 * 1024 + 3)) /dev/urandom >big
        ln etc/hello hard
        ln -s ../etc/hello etc/rel
        ln -s /etc/passwd abs
        ln -s "$(printf 't%.0s' $(seq 150))" longtarget
        mkfifo fifo
        local d
        d=$(printf 'd%.0s' $(seq 120))
        mkdir "$d"
        echo deep >"$d/$(printf 'n%.0s' $(seq 200))"
        echo x >odd/x
        chmod 4755 b511
        chmod 0700 odd
        chmod 1777 etc
        touch -h -d '2001-02-03 04:05:06' abs etc/rel
        touch -d '1999-12-31 23:59:59' big odd
}
build_tree "make the tree" make_tree
if is_root; then
        mknod "$T/rootfs/null" c 1 3
        mknod "$T/rootfs/loop" b 7 200
        chown 1000:100 "$T/rootfs/empty"
fi
setfattr -n user.note -v hi "$T/rootfs/etc/hello" 2>/dev/null || true

# The tree as the reader must report it: hardlinks (h) are reported with their target's data.
expected() {
        (
                cd "$T" || exit 1
                find manifest rootfs -printf '%p|%y|%m|%U|%G|%s|%T@|%l|\n' | while IFS='|' read -r p y m u g s t l _; do
                        h=-
                        [ "$y" = f ] && h=$(sha256sum <"$p" | cut -d' ' -f1)
                        [ "$y" = f ] || s=0
                        dev=
                        case $y in c | b) dev="|$(stat -c '%t:%T' "$p" | { IFS=: read -r a b; echo "$((16#$a)):$((16#$b))"; })" ;; esac
                        echo "$p|$y|$m|$u|$g|$s|${t%.*}|$l|$h$dev"
                done
        ) | LC_ALL=C sort
}
# tar_list's output with hardlinks resolved and xattrs left out.
normalized() {
        awk -F'|' -v OFS='|' '
                { line[NR] = $0; path[NR] = $1; sha[$1] = $9; size[$1] = $6 }
                END {
                        for (i = 1; i <= NR; i++) {
                                n = split(line[i], f, "|")
                                if (f[2] == "h") { f[2] = "f"; f[6] = size[f[8]]; f[9] = sha[f[8]]; f[8] = "" }
                                out = f[1]
                                for (j = 2; j <= 9; j++) out = out OFS f[j]
                                if (n >= 11) out = out OFS f[11]
                                print out
                        }
                }' "$1" | LC_ALL=C sort
}
expected >"$TEST_TMP/expected"
# The hardlink's target must be reported as a regular file first; its mode is the file's.
grep -q '^rootfs/hard|f|' "$TEST_TMP/expected" || fail "expected listing lacks the hardlink"

list_ok() { # NAME FILE [--chunk=N]
        local name=$1 file=$2
        shift 2
        if ! "$TAR_LIST" "$@" "$file" >"$TEST_TMP/got.raw" 2>"$TEST_TMP/err"; then
                fail "$name: refused" "$(cat "$TEST_TMP/err")"
                return
        fi
        normalized "$TEST_TMP/got.raw" >"$TEST_TMP/got"
        diff_or_fail "$name" "$TEST_TMP/expected" "$TEST_TMP/got"
}

for fmt in pax gnu oldgnu; do
        tar --format=$fmt -C "$T" -cf "$A/$fmt.tar" manifest rootfs || fail "GNU tar --format=$fmt failed"
        list_ok "$fmt format" "$A/$fmt.tar"
done
list_ok "pax, fed a byte at a time" "$A/pax.tar" --chunk=1
list_ok "gnu, fed 513 bytes at a time" "$A/gnu.tar" --chunk=513
# ustar cannot store the long names: the tree without them.
tar --format=ustar -C "$T" -cf "$A/ustar.tar" manifest rootfs/etc rootfs/b512 rootfs/odd 2>/dev/null ||
        fail "GNU tar --format=ustar failed"
"$TAR_LIST" "$A/ustar.tar" >"$TEST_TMP/ustar" 2>"$TEST_TMP/err" || fail "ustar: refused" "$(cat "$TEST_TMP/err")"
grep -E '^(manifest|rootfs/(etc|b512|odd)(/|\|))' "$TEST_TMP/expected" >"$TEST_TMP/expected.ustar"
normalized "$TEST_TMP/ustar" >"$TEST_TMP/ustar.n"
diff_or_fail "ustar format" "$TEST_TMP/expected.ustar" "$TEST_TMP/ustar.n"
# A tar of "." has "./" prefixes and a root entry ".", reported as such.
tar --format=pax -C "$T" -cf "$A/dot.tar" . || fail "GNU tar of . failed"
"$TAR_LIST" "$A/dot.tar" >"$TEST_TMP/dot" 2>"$TEST_TMP/err" || fail "dot: refused" "$(cat "$TEST_TMP/err")"
check "a tar of . reports the root as \".\"" grep -q '^\.|d|' "$TEST_TMP/dot"
grep -v '^\.|' "$TEST_TMP/dot" >"$TEST_TMP/dot.rest"
normalized "$TEST_TMP/dot.rest" >"$TEST_TMP/dot.n"
diff_or_fail "a tar of . lists as the tree" "$TEST_TMP/expected" "$TEST_TMP/dot.n"

# Compressed: told by the magic, whatever the file name.
gzip -9 <"$A/pax.tar" >"$A/c1"
xz <"$A/pax.tar" >"$A/c2"
zstd -q <"$A/pax.tar" >"$A/c3"
for c in c1 c2 c3; do
        list_ok "compressed ($c)" "$A/$c"
        list_ok "compressed ($c), 7 bytes at a time" "$A/$c" --chunk=7
done
"$TAR_LIST" "$A/c2" 2>&1 >/dev/null | grep -q 'compression: xz' || fail "xz not reported as xz"
# Two gzip members (gzip -c a b), split inside the tar.
head -c 10240 "$A/pax.tar" | gzip >"$A/c4"
tail -c +10241 "$A/pax.tar" | gzip >>"$A/c4"
list_ok "two gzip members" "$A/c4"
# Pipelined (the tar read in a thread of its own, as publish oci: does): the same listings.
for c in pax.tar c1 c2 c3 c4; do
        list_ok "pipelined ($c)" "$A/$c" --pipeline
        list_ok "pipelined ($c), 7 bytes at a time" "$A/$c" --pipeline --chunk=7
done

# xattrs (pax SCHILY.xattr.*), where the file system has user xattrs.
if getfattr -n user.note "$T/rootfs/etc/hello" >/dev/null 2>&1; then
        tar --format=pax --xattrs -C "$T" -cf "$A/x.tar" manifest rootfs
        "$TAR_LIST" "$A/x.tar" >"$TEST_TMP/x" 2>"$TEST_TMP/err" || fail "xattrs: refused" "$(cat "$TEST_TMP/err")"
        check "pax xattrs are reported" grep -q '^rootfs/etc/hello|f|.*|user.note=6869$' "$TEST_TMP/x"
else
        skip_part "xattrs" "no user xattrs here"
fi

# ---------------------------------------------------------------- hostile archives
# refused NAME FILE PATTERN: the reader fails with one line matching PATTERN, pipelined too.
refused() {
        for _rf_mode in "" --pipeline; do
                # shellcheck disable=SC2086 # an empty mode is no argument
                if "$TAR_LIST" $_rf_mode "$2" >/dev/null 2>"$TEST_TMP/err"; then
                        fail "$1${_rf_mode:+ ($_rf_mode)}: accepted"
                        return
                fi
                grep -v '^compression:' "$TEST_TMP/err" >"$TEST_TMP/err1"
                if [ "$(wc -l <"$TEST_TMP/err1")" -ne 1 ] || ! grep -q -- "$3" "$TEST_TMP/err1"; then
                        fail "$1${_rf_mode:+ ($_rf_mode)}: not one line matching '$3'" \
                                "$(cat "$TEST_TMP/err1")"
                        return
                fi
        done
        pass "$1 refused: $(cat "$TEST_TMP/err1")"
}

# Python's tarfile writes what GNU tar will not (it strips "/" and refuses "..").
mk() { # OUT FORMAT NAME [TYPE [LINK]]
        python3 - "$@" <<'PY'
import io, sys, tarfile
out, fmt, name = sys.argv[1:4]
typ = sys.argv[4] if len(sys.argv) > 4 else "f"
fmt = {"pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT, "ustar": tarfile.USTAR_FORMAT}[fmt]
with tarfile.open(out, "w", format=fmt) as t:
    i = tarfile.TarInfo(name)
    data = b""
    if typ == "f":
        data = b"x\n"
        i.size = len(data)
    elif typ == "l":
        i.type = tarfile.SYMTYPE
        i.linkname = sys.argv[5]
    elif typ == "h":
        i.type = tarfile.LNKTYPE
        i.linkname = sys.argv[5]
    t.addfile(i, io.BytesIO(data))
PY
}
mk "$A/dotdot.tar" pax "rootfs/../../x"
refused "traversal" "$A/dotdot.tar" '"\.\." component'
mk "$A/abs.tar" pax "/etc/evil"
refused "absolute path" "$A/abs.tar" 'absolute path'
mk "$A/hl.tar" gnu "rootfs/h" h "../../etc/passwd"
refused "hardlink out of the tree" "$A/hl.tar" 'hardlink target'
mk "$A/long.tar" pax "rootfs/$(printf 'a%.0s' $(seq 256))"
refused "over-long file name" "$A/long.tar" 'longer than 255'
mk "$A/longpath.tar" pax "$(for i in $(seq 50); do printf 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij/'; done)f"
refused "over-long path" "$A/longpath.tar" 'path too long'
head -c 12000 "$A/pax.tar" >"$A/trunc.tar"
refused "truncated in a file's data" "$A/trunc.tar" 'truncated'
head -c 1536 "$A/pax.tar" | head -c 1024 >"$A/trunc2.tar"
refused "truncated before the end marker" "$A/trunc2.tar" 'truncated'
head -c 50000 "$A/c2" >"$A/trunc.xz"
refused "truncated xz" "$A/trunc.xz" 'truncated'
head -c 50000 "$A/c1" >"$A/trunc.gz"
refused "truncated gzip" "$A/trunc.gz" 'truncated'
# A gzip header with every optional field (FEXTRA, FNAME, FCOMMENT and its CRC-16, FHCRC), fed
# whole and a byte at a time; a wrong header CRC-16 is refused.
gzip_fields() { python3 "$SRCDIR/tests/casync/gzip_fields.py" "$@"; }
gzip_fields "$A/pax.tar" "$A/fields.gz" 0
gzip -t "$A/fields.gz" || fail "the test's gzip with header fields is not valid gzip"
list_ok "gzip with FEXTRA, FNAME, FCOMMENT, FHCRC" "$A/fields.gz"
list_ok "gzip with FEXTRA, FNAME, FCOMMENT, FHCRC, a byte at a time" "$A/fields.gz" --chunk=1
list_ok "gzip with header fields, pipelined" "$A/fields.gz" --pipeline --chunk=3
gzip_fields "$A/pax.tar" "$A/badhcrc.gz" 1
# gzip's own checks: the trailer's CRC-32 and size, the deflate data, what follows a member.
flip() { # FILE OFFSET-FROM-END OUT: a copy with that byte's bits inverted
        python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); i = len(b) - int(sys.argv[2]); b[i] ^= 0xff; open(sys.argv[3], "wb").write(b)' "$@"
}
flip "$A/c1" 8 "$A/badcrc.gz"
refused "gzip with a wrong CRC-32" "$A/badcrc.gz" 'gzip data is corrupt'
flip "$A/c1" 1 "$A/badsize.gz"
refused "gzip with a wrong size in its trailer" "$A/badsize.gz" 'gzip data is corrupt'
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[40:48] = b"\xff" * 8; open(sys.argv[2], "wb").write(b)' "$A/c1" "$A/baddeflate.gz"
refused "gzip with corrupt deflate data" "$A/baddeflate.gz" 'gzip data is corrupt'
{ cat "$A/c1"; printf 'these bytes after the member are not gzip'; } >"$A/trailing.gz"
refused "gzip followed by other bytes" "$A/trailing.gz" 'gzip data is corrupt'
refused "gzip with a wrong header CRC-16" "$A/badhcrc.gz" 'header checksum does not match'
: >"$A/empty"
refused "empty file" "$A/empty" 'empty'
bzip2 <"$A/pax.tar" >"$A/c.bz2"
refused "bzip2" "$A/c.bz2" 'bzip2'
# Header edits: a huge base-256 size, a bad checksum, a lone zero block before an entry.
python3 - "$A" <<'PY'
import sys
a = sys.argv[1]
def checksum(h):
    h[148:156] = b" " * 8
    s = sum(h)
    h[148:156] = b"%06o\0 " % s
def edit(src, dst, f):
    b = bytearray(open(src, "rb").read())
    f(b)
    open(dst, "wb").write(bytes(b))
def huge(b):
    b[124:136] = b"\x80" + b"\x00" * 3 + b"\x3f" + b"\xff" * 7
    h = b[0:512]; checksum(h); b[0:512] = h
edit(a + "/gnu.tar", a + "/huge.tar", huge)
def octal_huge(b):
    b[124:136] = b"77777777777\0"
    h = b[0:512]; checksum(h); b[0:512] = h
edit(a + "/gnu.tar", a + "/hugeoct.tar", octal_huge)
def badsum(b):
    b[0] ^= 1
edit(a + "/gnu.tar", a + "/badsum.tar", badsum)
def lone(b):
    b[0:0] = b"\0" * 512
edit(a + "/gnu.tar", a + "/lone.tar", lone)
def notar(b):
    b[257:265] = b"xxxxxxxx"
edit(a + "/gnu.tar", a + "/notar.tar", notar)
def sparse(b):
    b[156] = ord("S")
    h = b[0:512]; checksum(h); b[0:512] = h
edit(a + "/gnu.tar", a + "/sparse.tar", sparse)
# A pax header over 1 MiB.
rec = b"comment=" + b"c" * (1024 * 1024 + 10) + b"\n"
n = len(rec) + 8
body = b"%d %s" % (n, rec)
h = bytearray(512)
h[0:9] = b"PaxHeader"; h[100:108] = b"0000644\0"; h[108:116] = b"0000000\0"; h[116:124] = b"0000000\0"
h[124:136] = b"%011o\0" % len(body); h[136:148] = b"00000000000\0"; h[156] = ord("x")
h[257:263] = b"ustar\0"; h[263:265] = b"00"
checksum(h)
pad = (512 - len(body) % 512) % 512
open(a + "/bigpax.tar", "wb").write(bytes(h) + body + b"\0" * pad + b"\0" * 1024)
PY
refused "huge base-256 size" "$A/huge.tar" 'too large'
refused "huge octal size, data missing" "$A/hugeoct.tar" 'truncated'
refused "bad checksum" "$A/badsum.tar" 'checksum'
refused "lone zero block" "$A/lone.tar" 'lone zero block'
refused "not a tar" "$A/notar.tar" 'not a tar header'
refused "GNU sparse entry" "$A/sparse.tar" "type 'S'"
refused "pax header over 1 MiB" "$A/bigpax.tar" 'pax header of'
finish
