#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# `acfetch make` against `casync make` (Debian's casync 2): for a tree with every kind of node
# and attribute and many option sets, the .catar files and the .caidx files must be identical
# byte for byte and the stores must hold the same chunk IDs; casync must read our archives from
# our stores (mtree, extract); our own decoder must accept them; blob indexes of random data
# must cut where casync cuts; a second run must store nothing new. Root-only parts (devices,
# owners, trusted.*/security.* xattrs, chattr flags) are left out with a message otherwise.

. "$(dirname "$0")/../casync/lib.sh"
. "$(dirname "$0")/make_tree.sh"
ca_init make-identity
require_cmd python3 setfattr setfacl
# Read-only directories of the tree would stop the cleanup of an unprivileged run.
at_exit 'chmod -R u+w "$TEST_TMP" 2>/dev/null || true'

[ "$MT_ROOT" = 1 ] || echo "# not root: devices, owners, trusted/security xattrs, chattr and the unprivileged comparison are left out"

T=$TEST_TMP/tree
build_tree "source tree" mt_make_tree "$T"
pass "source tree built"

# same_make NAME OPTS...: casync make and acfetch make of $T as .catar; identical bytes and
# digest, or both refuse.
same_catar() {
        local name=$1 d=$TEST_TMP/c
        shift
        rm -rf "$d" && mkdir -p "$d"
        $CASYNC make "$@" "$d/c.catar" "$T" >"$d/c.out" 2>"$d/c.err"
        local rc=$?
        "$ACFETCH" make --print-digest "$@" "$d/a.catar" "$T" >"$d/a.out" 2>"$d/a.err"
        local ra=$?
        if [ $rc -ne 0 ] || [ $ra -ne 0 ]; then
                if [ $rc -ne 0 ] && [ $ra -ne 0 ]; then
                        pass "$name: both refuse" "$(head -n 1 "$d/c.err")" "$(head -n 1 "$d/a.err")"
                else
                        fail "$name: casync exit $rc, acfetch exit $ra" "$(head -n 3 "$d/c.err" "$d/a.err")"
                fi
                return
        fi
        if cmp -s "$d/c.catar" "$d/a.catar" && cmp -s "$d/c.out" "$d/a.out"; then
                pass "$name: .catar and digest identical ($(stat -c %s "$d/a.catar") bytes)"
        else
                fail "$name: .catar differs" "$(cmp "$d/c.catar" "$d/a.catar" 2>&1)" \
                        "$(cat "$d/c.out" "$d/a.out")"
        fi
}

store_ids() {
        [ -d "$1" ] || return 0 # no chunk, no store directory (casync makes none)
        (cd "$1" && find . -name '*.cacnk' -printf '%f\n' | sort)
}

# same_caidx NAME TREE OPTS...: casync and acfetch make an index of TREE into separate stores:
# identical index bytes, identical chunk sets; casync reads ours; our decoder accepts it.
# $ACF_ONLY: options for acfetch alone (its own, e.g. --compression-level).
same_caidx() {
        local name=$1 tree=$2 d=$TEST_TMP/i
        shift 2
        rm -rf "$d" && mkdir -p "$d"
        if ! $CASYNC make "$@" --store="$d/c.castr" "$d/c.caidx" "$tree" >"$d/c.out" 2>"$d/c.err"; then
                fail "$name: casync make" "$(head -n 3 "$d/c.err")"
                return
        fi
        # shellcheck disable=SC2086
        if ! "$ACFETCH" make --print-digest "$@" ${ACF_ONLY:-} --store="$d/a.castr" "$d/a.caidx" "$tree" \
                >"$d/a.out" 2>"$d/a.err"; then
                fail "$name: acfetch make" "$(head -n 3 "$d/a.err")"
                return
        fi
        local n=$((($(stat -c %s "$d/a.caidx") - 104) / 40))
        if cmp -s "$d/c.caidx" "$d/a.caidx" && cmp -s "$d/c.out" "$d/a.out"; then
                pass "$name: .caidx identical ($n chunks)"
        else
                fail "$name: .caidx differs" "$(cmp "$d/c.caidx" "$d/a.caidx" 2>&1)"
        fi
        store_ids "$d/c.castr" >"$d/c.ids"
        store_ids "$d/a.castr" >"$d/a.ids"
        diff_or_fail "$name: same chunk IDs in both stores" "$d/c.ids" "$d/a.ids"
        # The mtree digest key follows --digest; casync reads the flags from the index.
        local dg=
        case " $* " in *" --digest=sha256 "*) dg=--digest=sha256 ;; esac
        $CASYNC mtree $dg --store="$d/a.castr" "$d/a.caidx" >"$d/a.mtree" 2>&1
        $CASYNC mtree $dg --store="$d/c.castr" "$d/c.caidx" >"$d/c.mtree" 2>&1
        diff_or_fail "$name: casync reads our index and store" "$d/c.mtree" "$d/a.mtree"
        "$ACFETCH" mtree $dg --store="$d/a.castr" "$d/a.caidx" >"$d/acf.mtree" 2>"$d/acf.err"
        diff_or_fail "$name: our decoder reads it as casync does" "$d/c.mtree" "$d/acf.mtree"
}

# ---------------------------------------------------------------- .catar, many option sets
same_catar "defaults"
same_catar "sha256" --digest=sha256
same_catar "without user-names" --without=user-names
same_catar "sec-time only" --with=sec-time
same_catar "usec-time, permissions, symlinks" --with=usec-time --with=permissions --with=symlinks
same_catar "2sec-time, read-only" --with=2sec-time --with=read-only
same_catar "nsec-time, permissions, symlinks (portable)" --with=nsec-time --with=permissions --with=symlinks
same_catar "unix set (16-bit uids)" --with=unix
same_catar "16bit-uids" --with=16bit-uids --with=nsec-time
same_catar "32bit-uids, user-names" --with=32bit-uids --with=user-names
same_catar "user-names without uids" --with=user-names --with=sec-time
same_catar "best without acl" --with=best --without=acl
same_catar "acl only" --with=acl
same_catar "without xattrs" --without=xattrs
same_catar "xattrs only" --with=xattrs
same_catar "fcaps only" --with=fcaps --with=permissions
same_catar "without selinux and fcaps" --without=selinux --without=fcaps
same_catar "selinux only" --with=selinux
same_catar "chattr flags" --with=flag-append --with=flag-noatime --with=flag-sync --with=flag-nodump --with=flag-immutable
same_catar "chattr set, no nodump exclusion" --with=chattr --exclude-nodump=no
same_catar "no nodump exclusion" --exclude-nodump=no
same_catar "fat set" --with=fat
same_catar "privileged set" --with=privileged
same_catar "fuse set" --with=fuse
same_catar "without all" --without=all
same_catar "no symlinks, devices, fifos, sockets" --without=symlinks --without=device-nodes --without=fifos --without=sockets
same_catar "exclude-submounts" --exclude-submounts=yes
same_catar "exclude-file=no" --exclude-file=no
same_catar "quota-projid and subvolume" --with=quota-projid --with=subvolume --with=subvolume-ro

# ---------------------------------------------------------------- .caidx and stores
same_caidx "caidx defaults" "$T"
same_caidx "caidx sha256" "$T" --digest=sha256
same_caidx "caidx xz" "$T" --compression=xz
same_caidx "caidx gzip, 4K chunks" "$T" --compression=gzip --chunk-size=4K
same_caidx "caidx 2000:8000:20000, sec-time" "$T" --chunk-size=2000:8000:20000 --with=sec-time
same_caidx "caidx 1M chunks, without user-names" "$T" --chunk-size=1M --without=user-names
ACF_ONLY=--compression-level=19 same_caidx "caidx fixed 4096, zstd level 19" "$T" \
        --chunk-size=4096:4096:4096

S=$TEST_TMP/small
build_tree "small tree" mt_small_tree "$S"
same_caidx "caidx tiny chunks 16:64:256" "$S" --chunk-size=16:64:256
same_caidx "caidx 1:1:1 (one byte per chunk)" "$S" --chunk-size=1:1:1 --without=all
same_caidx "caidx 48:100:200" "$S" --chunk-size=48:100:200

# casync extracts our archive from our store into the same tree (the tree without the 255-byte
# name: casync's own temporary names would exceed NAME_MAX there).
E=$TEST_TMP/extractable
mkdir -p "$E"
cp -a "$S" "$E/small"
cp -a "$T/acl_dir" "$T/excl" "$T/dir17" "$T/many" "$T/sparse.img" "$T/small.txt" "$T/hardlink" \
        "$T/rel" "$T/fifo" "$T/sticky" "$E/"
touch -d '2022-01-01 00:00:00' "$E"
rm -rf "$TEST_TMP/x" && mkdir -p "$TEST_TMP/x"
if "$ACFETCH" make --store="$TEST_TMP/x/s.castr" "$TEST_TMP/x/e.caidx" "$E" >/dev/null 2>"$TEST_TMP/x/err" &&
        $CASYNC extract --store="$TEST_TMP/x/s.castr" "$TEST_TMP/x/e.caidx" "$TEST_TMP/x/out" 2>"$TEST_TMP/x/err2"; then
        $CASYNC mtree "$E" >"$TEST_TMP/x/src.mtree"
        $CASYNC mtree "$TEST_TMP/x/out" >"$TEST_TMP/x/out.mtree"
        diff_or_fail "casync extract of our index reproduces the tree" "$TEST_TMP/x/src.mtree" "$TEST_TMP/x/out.mtree"
else
        fail "casync extract of our index" "$(cat "$TEST_TMP/x/err" "$TEST_TMP/x/err2")"
fi
unpin "$TEST_TMP/x"
rm -rf "$TEST_TMP/x"

# ---------------------------------------------------------------- a second run stores nothing new
R=$TEST_TMP/rerun
mkdir -p "$R"
"$ACFETCH" make --store="$R/s.castr" "$R/1.caidx" "$S" >/dev/null
find "$R/s.castr" -name '*.cacnk' -printf '%f %T@\n' | sort >"$R/before"
"$ACFETCH" --debug make --store="$R/s.castr" "$R/2.caidx" "$S" >/dev/null 2>"$R/err"
find "$R/s.castr" -name '*.cacnk' -printf '%f %T@\n' | sort >"$R/after"
diff_or_fail "a second run rewrites no chunk" "$R/before" "$R/after"
if grep -q ' 0 new in the store' "$R/err" && cmp -s "$R/1.caidx" "$R/2.caidx"; then
        pass "a second run finds every chunk in the store and makes the same index"
else
        fail "a second run" "$(cat "$R/err")"
fi

# ---------------------------------------------------------------- blob indexes: chunk boundaries
B=$TEST_TMP/blob
mkdir -p "$B"
head -c $((7 * 1024 * 1024 + 4321)) /dev/urandom >"$B/random.bin"
dd if=/dev/zero bs=1M count=2 status=none >>"$B/random.bin"
head -c 1000000 /dev/urandom >>"$B/random.bin"
head -c 30 /dev/urandom >"$B/tiny.bin"
: >"$B/empty.bin"
for cs in auto 16K 1K 2000:8000:20000 60000:65536:262144 100:3000:5000 4096:4096:4096; do
        for f in random tiny empty; do
                rm -rf "$B/c.castr" "$B/a.castr"
                $CASYNC make --chunk-size=$cs --store="$B/c.castr" "$B/c.caibx" "$B/$f.bin" >"$B/c.out"
                "$ACFETCH" make --print-digest --chunk-size=$cs --store="$B/a.castr" "$B/a.caibx" "$B/$f.bin" >"$B/a.out"
                if cmp -s "$B/c.caibx" "$B/a.caibx" && cmp -s "$B/c.out" "$B/a.out" &&
                        [ "$(store_ids "$B/c.castr")" = "$(store_ids "$B/a.castr")" ]; then
                        pass "caibx $f.bin --chunk-size=$cs: same cuts, IDs and digest ($(( ($(stat -c %s "$B/a.caibx") - 104) / 40 )) chunks)"
                else
                        fail "caibx $f.bin --chunk-size=$cs differs"
                fi
        done
done
rm -f "$B/a.caibx" "$B/c.caibx"
$CASYNC make --chunk-size=16:32:47 --store="$B/c.castr" "$B/c.caibx" "$B/random.bin" >/dev/null 2>&1
rc=$?
"$ACFETCH" make --chunk-size=16:32:47 --store="$B/a.castr" "$B/a.caibx" "$B/random.bin" >/dev/null 2>&1
ra=$?
if [ $rc -ne 0 ] && [ $ra -ne 0 ] && [ ! -e "$B/a.caibx" ]; then
        pass "a maximum under 48 bytes is refused by both"
else
        fail "maximum under 48: casync exit $rc, acfetch exit $ra"
fi
if "$ACFETCH" make --chunk-size=2:3 "$B/a.caibx" "$B/tiny.bin" >/dev/null 2>&1; then
        fail "--chunk-size=2:3 accepted"
else
        pass "--chunk-size=2:3 refused, as by casync"
fi

# ---------------------------------------------------------------- unprivileged
if [ "$MT_ROOT" = 1 ] && command -v setpriv >/dev/null; then
        U=$TEST_TMP/unpriv
        mkdir -p "$U/out"
        build_tree "unprivileged tree" mt_small_tree "$U/tree"
        setfattr -n user.u -v v "$U/tree/a.txt" || fail "setfattr on the unprivileged tree"
        setfacl -m u:1000:r-- "$U/tree/a.txt" || fail "setfacl on the unprivileged tree"
        chmod -R a+rX "$U/tree" || fail "chmod the unprivileged tree"
        chown nobody "$U/out" || fail "chown $U/out"
        as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
        as_nobody $CASYNC make "$U/out/c.catar" "$U/tree" >"$U/c.out" 2>&1
        as_nobody "$ACFETCH" make --print-digest "$U/out/a.catar" "$U/tree" >"$U/a.out" 2>&1
        if cmp -s "$U/out/c.catar" "$U/out/a.catar" && cmp -s "$U/c.out" "$U/a.out"; then
                pass "as nobody: same .catar as casync as nobody"
        else
                fail "as nobody: .catar differs" "$(cat "$U/c.out" "$U/a.out")"
        fi
else
        skip_part "unprivileged comparison" "needs root and setpriv"
fi

finish
