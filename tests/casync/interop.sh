#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Interoperability with Debian's casync: casync makes archives of a tree holding every kind of
# node and attribute we know of, acfetch extracts them, and casync's own mtree of the source
# and of the result must be identical; acfetch's mtree must equal casync's, line for line.
# Parts needing root (devices, ownership, trusted.* xattrs, chattr, --with=best) are skipped
# with a message otherwise.

. "$(dirname "$0")/lib.sh"
ca_init interop
require_cmd python3 setfattr setfacl

ROOT=0
is_root && ROOT=1
[ $ROOT = 1 ] || echo "# not root: devices, ownership, trusted xattrs and chattr are left out"

T=$TEST_TMP/tree

# ---------------------------------------------------------------- the source tree

stamp() { touch -h -d "$1" "${@:2}"; }

make_tree() {
        mkdir -p "$T"
        cd "$T" || exit 1

        : >empty
        printf 'hello\n' >small.txt
        head -c $((5 * 1024 * 1024 + 123)) /dev/urandom >large.bin
        ln small.txt hardlink

        # Sparse: 32 MiB, mostly holes, with data islands (one unaligned, one at the very end).
        truncate -s 32M sparse.img
        printf 'island at 0' | dd of=sparse.img conv=notrunc status=none
        head -c 12288 /dev/urandom | dd of=sparse.img bs=4096 seek=1000 conv=notrunc status=none
        printf 'x' | dd of=sparse.img bs=1 seek=$((20 * 1024 * 1024 + 123)) conv=notrunc \
                status=none
        printf 'end' | dd of=sparse.img bs=1 seek=$((32 * 1024 * 1024 - 3)) conv=notrunc \
                status=none

        # Names: the longest allowed, UTF-8, and bytes mtree must escape.
        local long
        long=$(printf 'L%.0s' $(seq 255))
        echo long >"$long"
        echo u >"ümlaut"
        echo j >"日本語.txt"
        echo e >"emoji-🙂"
        echo s >"with space"
        echo h >"hash#name"
        echo b >'back\slash'
        echo n >$'new\nline'
        echo t >$'tab\tname'
        echo q >'quote"and'"'"
        mkdir "dir with space"
        echo x >"dir with space/.hidden"
        echo Z >"Zupper"

        # Deepest nesting casync accepts: 64 nodes from the root to the leaf (root included).
        local p=deep
        for _ in $(seq 61); do p=$p/d; done
        mkdir -p "$p"
        echo leaf >"$p/leaf"

        # Symlinks: relative, absolute, dangling, to a directory, long target.
        ln -s small.txt rel
        ln -s /etc/passwd abs
        ln -s does/not/exist dangling
        ln -s "dir with space" dirlink
        ln -s "$(printf 'x/%.0s' $(seq 1000))target" longtarget

        mkfifo fifo
        mkfifo -m 0600 fifo600
        python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock

        # Modes.
        echo suid >setuid && chmod 4755 setuid
        echo sgid >setgid && chmod 2711 setgid
        echo w >worldwrite && chmod 0666 worldwrite
        mkdir sticky && chmod 1777 sticky
        mkdir sgiddir && chmod 2775 sgiddir
        mkdir -p rodir/sub && echo c >rodir/child && echo c2 >rodir/sub/c2
        chmod 0555 rodir/sub rodir

        # Extended attributes and ACLs.
        setfattr -n user.zeta -v hello small.txt
        setfattr -n user.alpha -v 0x00ff01 small.txt
        setfattr -n user.empty small.txt
        setfattr -n user.dir -v d sticky
        head -c 4000 /dev/urandom >big.xattr
        setfattr -n user.big -v "0s$(base64 -w0 big.xattr)" empty
        rm big.xattr
        echo acl >acl_file
        setfacl -m u:1000:rw-,g:100:r--,u:nobody:r-- acl_file
        echo acl >acl_mask
        setfacl -m u:1001:rwx,m::r-- acl_mask
        mkdir acl_dir
        setfacl -d -m u:1000:rwx,g:100:r-x,o::--- acl_dir
        setfacl -m u:1002:r-x acl_dir
        echo inherited >acl_dir/child
        mkdir acl_dir/subdir

        if [ $ROOT = 1 ]; then
                # Unreadable by anyone but root: casync (and we) must still archive them.
                echo none >mode0000 && chmod 0000 mode0000
                mkdir nodir && echo inside >nodir/f && chmod 0000 nodir
                mknod chr c 1 3
                mknod blk b 7 200
                mknod bigdev c 4095 1048575
                setfattr -n trusted.t1 -v secret small.txt
                setfattr -n trusted.overlay.opaque -v y sticky
                echo owned >owned && chown 1234:5678 owned
                echo named >named && chown nobody:nogroup named
                mkdir owned_dir && chown 4321:4321 owned_dir
                ln -s small.txt owned_link && chown -h 777:888 owned_link
                chown 1000:100 setgid
                chmod 2711 setgid # chown clears it
                echo a >append
                echo A >noatime
                echo d >nodump
                mkdir appenddir
        fi

        # Times: nanoseconds, before 1980, the epoch's first second, beyond 2038.
        stamp '2001-02-03 04:05:06.123456789' small.txt rel abs
        stamp '1970-01-01 00:00:01 UTC' empty
        stamp '1975-06-07 08:09:10.5 UTC' dangling fifo
        stamp '2100-01-01 00:00:00.000000001 UTC' large.bin dirlink
        stamp '2038-01-19 03:14:08 UTC' sparse.img
        [ $ROOT = 1 ] && stamp '2010-10-10 10:10:10.101010101' chr owned_link
        # Directories last, deepest first, so children do not bump them again.
        find . -depth -type d -exec touch -d '2020-02-02 02:02:02.020202020' {} +
        touch -d '2019-09-09 09:09:09.999999999' "dir with space" deep/d/d
        # chattr last: append-only directories refuse new times.
        if [ $ROOT = 1 ]; then
                chattr +a append appenddir
                chattr +A noatime
                chattr +d nodump # excluded by casync's default (--exclude-nodump=yes)
        fi
        cd - >/dev/null || exit 1
}

build_tree "source tree" make_tree
pass "source tree built"

# casync's depth cap is what the tree relies on: one more level must be refused.
mkdir -p "$TEST_TMP/toodeep"
(cd "$TEST_TMP/toodeep" && p=.; for _ in $(seq 63); do p=$p/d; done; mkdir -p "$p" && echo x >"$p/x")
if $CASYNC make "$TEST_TMP/toodeep.catar" "$TEST_TMP/toodeep" >/dev/null 2>&1; then
        fail "casync refuses 65 nested nodes" "casync accepted a deeper tree than expected"
else
        pass "casync refuses 65 nested nodes (64 is its maximum)"
fi
rm -rf "$TEST_TMP/toodeep" "$TEST_TMP/toodeep.catar"

# ---------------------------------------------------------------- one variant

# run_variant NAME MAKE_OPTS MTREE_OPTS ATTRS [catar]
#   MAKE_OPTS go to casync make; MTREE_OPTS (the --with/--digest subset) to every mtree;
#   ATTRS=yes when the archive keeps xattrs, ACLs and chattr flags, which are then compared.
run_variant() {
        local name=$1 make_opts=$2 mtree_opts=$3 attrs=$4 kind=${5:-caidx}
        local d=$TEST_TMP/v-$name input store_args=() out err rc
        mkdir -p "$d"
        if [ "$kind" = catar ]; then
                input=$d/x.catar
        else
                input=$d/x.caidx
                # The default variant relies on casync's and acfetch's default store location.
                [ "$name" != default ] && store_args=(--store "$d/s.castr")
        fi
        # shellcheck disable=SC2086
        if ! $CASYNC make $make_opts "${store_args[@]}" "$input" "$T" >/dev/null 2>"$d/make.err"
        then
                fail "$name: casync make" "$(cat "$d/make.err")"
                return
        fi

        out=$d/out
        err=$d/extract.err
        "$ACFETCH" extract "${store_args[@]}" "$input" "$out" 2>"$err"
        rc=$?
        if [ $rc -ne 0 ]; then
                fail "$name: acfetch extract (exit $rc)" "$(head -n 20 "$err")"
        else
                pass "$name: acfetch extract"
                if grep -q 'error' "$err"; then
                        fail "$name: no error printed on success" "$(head -n 5 "$err")"
                fi
        fi
        check "$name: no temp left" test -z "$(leftover_temps "$d")"

        if [ $rc -eq 0 ]; then
                # shellcheck disable=SC2086
                $CASYNC mtree $mtree_opts "$T" >"$d/tree.mtree" 2>&1
                # shellcheck disable=SC2086
                $CASYNC mtree $mtree_opts "$out" >"$d/out.mtree" 2>&1
                diff_or_fail "$name: casync mtree of tree == of extraction" \
                        "$d/tree.mtree" "$d/out.mtree"
                check_sparse "$name" "$out/sparse.img"
                [ "$attrs" = yes ] && compare_attrs "$name" "$d"
        fi

        # acfetch mtree == casync mtree of the same index/archive, default digest and sha256.
        local dg
        for dg in "" --digest=sha256; do
                $CASYNC mtree $dg "${store_args[@]}" "$input" >"$d/casync.mtree" 2>&1
                if "$ACFETCH" mtree $dg "${store_args[@]}" "$input" >"$d/acfetch.mtree" \
                        2>"$d/acfetch-mtree.err"; then
                        diff_or_fail "$name: acfetch mtree ${dg:-(default digest)} == casync's" \
                                "$d/casync.mtree" "$d/acfetch.mtree"
                else
                        fail "$name: acfetch mtree $dg" "$(head -n 20 "$d/acfetch-mtree.err")"
                fi
        done

        # Keep the default variant for the tests below; drop the rest (the tree is big).
        if [ "$name" != default ]; then
                unpin "$d"
                rm -rf "$d"
        fi
}

# What casync's mtree does not show: every xattr (ACLs are the system.posix_acl_* ones) and the
# chattr flags casync stores (lsattr letters a A c C d D i m S P), for the entries of the
# extraction, looked up under the same relative names in both trees. trusted.overlay.* is left
# out: by policy acfetch never restores it (it would steer overlayfs), with a warning.
attr_dump() {
        local dir=$1 list=$2
        (cd "$dir" && xargs -0 -a "$list" getfattr -h -d -m - -e hex --absolute-names 2>&1) |
                grep -v '^trusted\.overlay\.'
}

chattr_dump() {
        local dir=$1 list=$2
        (cd "$dir" && xargs -0 -a "$list" lsattr -d 2>&1) |
                awk '{ f = $1; g = "";
                       for (i = 1; i <= length(f); i++) {
                               c = substr(f, i, 1); if (index("aAcCdDimSP", c)) g = g c }
                       print g "|" substr($0, length(f) + 2) }'
}

compare_attrs() {
        local name=$1 d=$2
        (cd "$d/out" && find . -print0 | LC_ALL=C sort -z) >"$d/all.list"
        (cd "$d/out" && find . \( -type f -o -type d \) -print0 | LC_ALL=C sort -z) >"$d/fd.list"
        attr_dump "$T" "$d/all.list" >"$d/tree.xattr"
        attr_dump "$d/out" "$d/all.list" >"$d/out.xattr"
        diff_or_fail "$name: xattrs and ACLs identical" "$d/tree.xattr" "$d/out.xattr"
        if [ $ROOT = 1 ]; then
                chattr_dump "$T" "$d/fd.list" >"$d/tree.chattr"
                chattr_dump "$d/out" "$d/fd.list" >"$d/out.chattr"
                diff_or_fail "$name: chattr flags identical" "$d/tree.chattr" "$d/out.chattr"
        fi
}

# The extracted sparse file must have holes: allocated blocks far below its size.
check_sparse() {
        local f=$2 blocks size
        [ -f "$f" ] || return 0
        blocks=$(stat -c %b "$f")
        size=$(stat -c %s "$f")
        if [ $((blocks * 512)) -lt $((size / 4)) ]; then
                pass "$1: sparse file has holes"
        else
                fail "$1: sparse file has holes" "$((blocks * 512)) bytes allocated for $size"
        fi
}

run_variant default "" "" yes
run_variant sha256 "--digest=sha256" "--digest=sha256" yes
run_variant xz "--compression=xz" "" yes
run_variant gzip "--compression=gzip" "" yes
run_variant chunk16k "--chunk-size=16K" "" yes
run_variant chunk4m "--chunk-size=4M" "" yes
if [ $ROOT = 1 ]; then
        run_variant best "--with=best" "--with=best" yes
        # Keeps the nodump file and its flag.
        run_variant nodump "--exclude-nodump=no" "--exclude-nodump=no" yes
else
        skip_part "best" "--with=best needs root"
fi
run_variant unix "--with=unix" "--with=unix" no
run_variant without-all "--without=all" "--without=all" no
run_variant sec-time "--with=unix --without=nsec-time --with=sec-time" \
        "--with=unix --without=nsec-time --with=sec-time" no
run_variant catar "" "" yes catar

# ---------------------------------------------------------------- the default index, again

D=$TEST_TMP/v-default
IDX=$D/x.caidx

# An explicit --store naming the default store gives the same tree.
if "$ACFETCH" extract --store "$D/default.castr" "$IDX" "$D/out2" 2>"$D/out2.err"; then
        $CASYNC mtree "$D/out2" >"$D/out2.mtree"
        diff_or_fail "explicit --store: same tree" "$D/tree.mtree" "$D/out2.mtree"
else
        fail "explicit --store" "$(head -n 10 "$D/out2.err")"
fi

# Extraction into an existing empty directory replaces it.
mkdir "$D/empty-dest"
if "$ACFETCH" extract "$IDX" "$D/empty-dest" 2>"$D/empty.err"; then
        $CASYNC mtree "$D/empty-dest" >"$D/empty.mtree"
        diff_or_fail "extract into an empty directory" "$D/tree.mtree" "$D/empty.mtree"
else
        fail "extract into an empty directory" "$(head -n 10 "$D/empty.err")"
fi

# --in-place over an earlier extraction of the same index (every entry replaced or reused).
# As casync, acfetch cannot replace append-only entries in place: unpin them first.
unpin "$D/out"
if "$ACFETCH" extract --in-place "$IDX" "$D/out" 2>"$D/inplace.err"; then
        $CASYNC mtree "$D/out" >"$D/inplace.mtree"
        diff_or_fail "--in-place over the same tree" "$D/tree.mtree" "$D/inplace.mtree"
else
        fail "--in-place over the same tree" "$(head -n 10 "$D/inplace.err")"
fi
# ... and over a different tree: stale content, a file where a directory belongs, symlinks
# where a file and a directory belong (pointing outside: they must be replaced, not followed).
O=$D/other
mkdir -p "$O/sub" "$D/trap"
echo old >"$O/small.txt"
echo file >"$O/sticky"
ln -s /etc "$O/rel"
ln -s "$D/trap" "$O/acl_dir"
ln -s "$D/trap/victim" "$O/worldwrite"
echo stale >"$O/sub/stale"
if "$ACFETCH" extract --in-place "$IDX" "$O" 2>"$D/inplace2.err"; then
        # Entries the archive does not name stay (as casync --delete=no); compare the rest.
        $CASYNC mtree "$O" | grep -v '^sub[ /]' >"$D/inplace2.mtree"
        diff_or_fail "--in-place over a different tree" "$D/tree.mtree" "$D/inplace2.mtree"
else
        fail "--in-place over a different tree" "$(head -n 10 "$D/inplace2.err")"
fi
check "--in-place: nothing written through replaced symlinks" test -z "$(ls -A "$D/trap")"

# A non-empty destination is refused and left alone.
mkdir "$D/full-dest" && echo keep >"$D/full-dest/keep"
before=$(snapshot "$D/full-dest")
if "$ACFETCH" extract "$IDX" "$D/full-dest" 2>"$D/full.err"; then
        fail "non-empty destination refused" "acfetch succeeded"
else
        after=$(snapshot "$D/full-dest")
        if [ "$before" = "$after" ] && [ -z "$(leftover_temps "$D")" ]; then
                pass "non-empty destination refused, untouched"
        else
                fail "non-empty destination refused, untouched" "$(cat "$D/full.err")"
        fi
fi

# A missing chunk: the extraction fails, names the chunk, leaves neither DEST nor a temp.
cp -a "$D/default.castr" "$D/broken.castr"
victim=$(find "$D/broken.castr" -name '*.cacnk' | sort | sed -n 5p)
victim_id=$(basename "$victim" .cacnk)
rm -f "$victim"
if "$ACFETCH" extract --store "$D/broken.castr" "$IDX" "$D/broken-out" 2>"$D/broken.err"; then
        fail "missing chunk fails" "acfetch succeeded"
else
        if [ -e "$D/broken-out" ]; then
                fail "missing chunk: no DEST" "$(find "$D/broken-out" | head)"
        elif [ -n "$(leftover_temps "$D")" ]; then
                fail "missing chunk: no temp left" "$(leftover_temps "$D")"
        elif ! grep -q "$victim_id" "$D/broken.err"; then
                fail "missing chunk: error names the chunk" "$(cat "$D/broken.err")"
        else
                pass "missing chunk fails, names the chunk, leaves nothing"
        fi
fi
rm -rf "$D/broken.castr"

# Temporary roots left by interrupted runs (kill -9) are reclaimed by the next extraction to the
# same DEST: their names say which process made them (pid and start time), and it is gone. Never
# one whose maker runs, one that a live extraction holds (flock: a maker in another pid namespace)
# or one of another form.
sleep 600 &
dead=$!
dead_start=$(cut -d' ' -f22 "/proc/$dead/stat")
kill "$dead"
wait "$dead" || true
live_start=$(cut -d' ' -f22 "/proc/$$/stat")
gone=.stale-out.acfetch-$dead-$dead_start
mkdir "$D/$gone-AAAAAA" "$D/$gone-BBBBBB" "$D/.stale-out.acfetch-$$-$live_start-CCCCCC" \
        "$D/.stale-out.acfetch-DDDDDD"
echo junk >"$D/$gone-AAAAAA/f"
exec 9<"$D/$gone-BBBBBB" # this shell stands for a live extraction holding it
flock -n 9
if "$ACFETCH" extract "$IDX" "$D/stale-out" 2>"$D/stale.err"; then
        check "stale temporary root reclaimed" test ! -e "$D/$gone-AAAAAA"
        check "locked temporary root kept" test -d "$D/$gone-BBBBBB"
        check "live maker's temporary root kept" test -d "$D/.stale-out.acfetch-$$-$live_start-CCCCCC"
        check "temporary root of another form kept" test -d "$D/.stale-out.acfetch-DDDDDD"
else
        fail "extract next to stale temporary roots" "$(head -n 10 "$D/stale.err")"
fi
exec 9<&-
rm -rf "$D"/.stale-out.acfetch-* # stale-out itself holds +a/+i files: lib cleanup clears them

# The destination must not appear while the stream is incomplete: feed a .catar through a FIFO,
# stop halfway, look, then finish. A writer process reports "half" on a control FIFO once half
# the archive went into the pipe (the pipe holds at most 1 MiB, so acfetch has consumed and
# extracted most of it) and then waits for "go"; acfetch's exit is reported on the same
# control FIFO, so an early exit cannot hang the test. No timing is involved.
CAT=$TEST_TMP/stream-src.catar
$CASYNC make "$CAT" "$T" >/dev/null
FIFO=$TEST_TMP/stream.catar
mkfifo "$FIFO" "$TEST_TMP/ctl" "$TEST_TMP/go"
exec 4<>"$TEST_TMP/ctl" 5<>"$TEST_TMP/go"
size=$(stat -c %s "$CAT")
half=$((size / 2))
("$ACFETCH" extract "$FIFO" "$TEST_TMP/stream-out" 2>"$TEST_TMP/stream.err"; echo "exit $?" >&4) &
apid=$!
(
        exec 3>"$FIFO"
        head -c $half "$CAT" >&3 || exit 0
        echo half >&4
        read -r _ <&5
        tail -c +$((half + 1)) "$CAT" >&3
) &
wpid=$!
read -r msg <&4
if [ "$msg" = half ]; then
        if [ -e "$TEST_TMP/stream-out" ]; then
                fail "DEST absent while extracting" "$(find "$TEST_TMP/stream-out" | head -n 5)"
        else
                pass "DEST absent while extracting"
        fi
        [ -n "$(leftover_temps "$TEST_TMP")" ] &&
                echo "# (meanwhile a private temp directory exists, as expected)"
        echo go >&5
        read -r msg <&4
else
        fail "DEST absent while extracting" "acfetch ended early: $msg"
        kill "$wpid" 2>/dev/null
fi
wait "$apid" "$wpid" 2>/dev/null
exec 4>&- 5>&-
if [ "$msg" = "exit 0" ]; then
        $CASYNC mtree "$TEST_TMP/stream-out" >"$TEST_TMP/stream.mtree"
        $CASYNC mtree "$T" >"$TEST_TMP/tree-default.mtree"
        diff_or_fail "FIFO-fed .catar extracts completely" "$TEST_TMP/tree-default.mtree" \
                "$TEST_TMP/stream.mtree"
else
        fail "FIFO-fed .catar extracts completely ($msg)" "$(head -n 10 "$TEST_TMP/stream.err")"
fi
check "FIFO: no temp left" test -z "$(leftover_temps "$TEST_TMP")"
unpin "$TEST_TMP/stream-out"
rm -rf "$TEST_TMP/stream-out" "$CAT" "$FIFO" "$TEST_TMP/ctl" "$TEST_TMP/go"

# ---------------------------------------------------------------- unprivileged extraction

if [ $ROOT = 1 ] && command -v setpriv >/dev/null; then
        U=$TEST_TMP/unpriv
        mkdir "$U" && chown 65534:65534 "$U" && chmod 0700 "$U"
        as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
        as_nobody "$ACFETCH" extract "$IDX" "$U/out" >"$TEST_TMP/unpriv.out" 2>"$TEST_TMP/unpriv.err"
        rc=$?
        # Informational lines (the transfer summary) are fine; warnings come as one line.
        nl=$(grep -c 'warning' "$TEST_TMP/unpriv.err")
        if [ $rc -ne 0 ]; then
                fail "unprivileged extract succeeds (exit $rc)" "$(head -n 20 "$TEST_TMP/unpriv.err")"
        elif [ "$nl" -ne 1 ] || grep -q 'error' "$TEST_TMP/unpriv.err"; then
                fail "unprivileged extract prints exactly one warning line ($nl)" \
                        "$(head -n 20 "$TEST_TMP/unpriv.err")"
        else
                pass "unprivileged extract: success, one warning:" \
                        "$(grep warning "$TEST_TMP/unpriv.err")"
        fi
        if [ $rc -eq 0 ]; then
                # What an unprivileged user can restore must be there: contents, modes (setuid
                # included: the files are its own), times, symlinks, fifos, user.* xattrs.
                opts="--without=all --with=permissions --with=nsec-time --with=symlinks"
                opts="$opts --with=fifos --with=sockets --with=xattrs"
                # shellcheck disable=SC2086
                $CASYNC mtree $opts "$T" >"$TEST_TMP/unpriv-tree.mtree"
                # shellcheck disable=SC2086
                $CASYNC mtree $opts "$U/out" >"$TEST_TMP/unpriv-out.mtree"
                diff_or_fail "unprivileged extract: unprivileged attributes restored" \
                        "$TEST_TMP/unpriv-tree.mtree" "$TEST_TMP/unpriv-out.mtree"
                check "unprivileged extract: files owned by the caller" \
                        test "$(stat -c %u "$U/out/owned")" = 65534
                check "unprivileged extract: device nodes skipped" test ! -e "$U/out/chr"
        fi
        check "unprivileged: no temp left" test -z "$(leftover_temps "$U")"
        unpin "$U"
else
        skip_part "unprivileged extraction" "needs root and setpriv to switch to uid 65534"
fi

finish
