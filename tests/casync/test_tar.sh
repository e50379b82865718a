#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The canonical tar sink against real tools: casync archives a tree holding every kind of node
# and attribute a tar can carry, catar_tar converts the .catar to tar, and GNU tar must list and
# restore it to a tree that casync's mtree (and getfattr, for xattrs, ACLs and capabilities)
# cannot tell from the source. The conversion must be deterministic, independent of how the
# input is split, and its on-the-fly SHA-512 must equal sha512sum of the file.
# Not compared: the root directory itself (it is not an entry of the tar) and sockets (tar cannot
# store them; the sink skips and counts them).

. "$(dirname "$0")/lib.sh"

require_root "devices, ownership, trusted xattrs"
require_cmd casync tar getfattr setfattr setfacl setcap
: "${CATAR_TAR:=$BUILDDIR/tests/casync/catar_tar}"
[ -x "$CATAR_TAR" ] || fail "catar_tar not found at $CATAR_TAR"
ca_init tar

T=$TEST_TMP/tree

make_tree() {
        mkdir -p "$T/rootfs"
        cd "$T" || exit 1
        echo '{"acKind":"ImageManifest"}' >manifest
        cd rootfs || exit 1

        : >empty
        printf 'hello\n' >small.txt
        head -c 511 /dev/urandom >b511
        head -c 512 /dev/urandom >b512
        head -c 513 /dev/urandom >b513
        head -c $((3 * 1024 * 1024 + 7)) /dev/urandom >large.bin
        truncate -s 16M sparse.img
        printf 'island' | dd of=sparse.img bs=4096 seek=1000 conv=notrunc status=none

        # Names: 255 bytes, UTF-8, paths over 100 bytes (splittable into prefix/name) and over
        # 255 bytes (pax path records), a directory name that is exactly at the limits.
        local long p
        long=$(printf 'L%.0s' $(seq 255))
        echo long >"$long"
        echo u >"ümlaut"
        echo j >"日本語.txt"
        echo n >$'new\nline'
        echo e >"with=equals and space"
        p=mid/$(printf 'm%.0s' $(seq 60))/$(printf 'n%.0s' $(seq 60))
        mkdir -p "$p" && echo x >"$p/$(printf 'f%.0s' $(seq 90))"
        p=deep
        for i in $(seq 30); do p=$p/dir$i; done
        mkdir -p "$p" && echo leaf >"$p/leaf" && echo l2 >"$p/$long"
        mkdir -p "$(printf 'D%.0s' $(seq 99))" # 99 bytes + '/' = exactly 100
        mkdir -p "$(printf 'E%.0s' $(seq 100))" # 101 with '/': no split possible

        ln -s small.txt rel
        ln -s /etc/passwd abs
        ln -s "$(printf 'x/%.0s' $(seq 60))target" long100
        ln -s "$(printf 'y/%.0s' $(seq 1000))target" longtarget
        mkfifo fifo
        python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock
        mknod chr c 1 3
        mknod blk b 7 200
        mknod bigdev c 4095 1048575

        echo suid >setuid && chmod 4755 setuid
        echo sgid >setgid && chown 1000:100 setgid && chmod 2711 setgid
        mkdir sticky && chmod 1777 sticky
        echo none >mode0000 && chmod 0000 mode0000
        echo owned >owned && chown 1234:5678 owned
        echo named >named && chown nobody:nogroup named
        echo big >bigid && chown 4000000000:4000000001 bigid
        mkdir bigdir && chown 3000000000:7 bigdir
        ln -s small.txt owned_link && chown -h 777:888 owned_link

        # xattrs: binary, empty, big, with '=' and '%' in the name, and value sizes that put the
        # pax record length right around 99/100/101 and 999/1000/1001 bytes.
        setfattr -n user.zeta -v hello small.txt
        setfattr -n user.alpha -v 0x00ff0a3d0a small.txt
        setfattr -n user.empty small.txt
        setfattr -n 'user.a=b%c' -v eq small.txt
        setfattr -n trusted.t1 -v secret small.txt
        head -c 4000 /dev/urandom >"$TEST_TMP/big.xattr"
        setfattr -n user.big -v "0s$(base64 -w0 "$TEST_TMP/big.xattr")" empty
        local v
        for v in 74 75 76 77 78 972 973 974 975 976; do
                echo "$v" >"len$v"
                setfattr -n user.b -v "$(head -c "$v" /dev/zero | tr '\0' v)" "len$v"
        done
        setfattr -n user.dir -v d sticky
        echo cap >capfile && setcap cap_net_raw+ep capfile
        echo acl >acl_file
        setfacl -m u:1000:rw-,g:100:r--,u:nobody:r-- acl_file
        echo acl >acl_mask
        setfacl -m u:1001:rwx,m::r-- acl_mask
        echo acl >acl_groupobj_only
        setfacl -m m::r-- acl_groupobj_only
        mkdir acl_dir
        setfacl -d -m u:1000:rwx,g:100:r-x,o::--- acl_dir
        setfacl -m u:1002:r-x acl_dir
        echo inherited >acl_dir/child
        mkdir acl_plain_default && setfacl -d -m o::r-x acl_plain_default

        # Times: nanoseconds, whole seconds, before 1970 is not storable; the epoch's first
        # second, beyond 2038 and beyond what 11 octal digits hold (year 2242+).
        stamp() { touch -h -d "$1" "${@:2}"; }
        stamp '2001-02-03 04:05:06.123456789 UTC' small.txt rel abs
        stamp '1970-01-01 00:00:01 UTC' empty
        stamp '1975-06-07 08:09:10.5 UTC' fifo
        stamp '2100-01-01 00:00:00.000000001 UTC' large.bin
        stamp '2300-01-01 00:00:00.999999999 UTC' b511
        stamp '2010-10-10 10:10:10.101010101' chr owned_link
        find "$T" -depth -type d -exec touch -d '2020-02-02 02:02:02.020202020' {} +
        touch -d '2019-09-09 09:09:09.999999999' deep/dir1
        cd / || exit 1
}

build_tree "source tree" make_tree
pass "source tree built"

# convert NAME MAKE_OPTS: casync make, then catar -> tar; leaves $TEST_TMP/NAME.{catar,tar,id}.
convert() {
        local name=$1 make_opts=$2
        # shellcheck disable=SC2086
        if ! casync make $make_opts "$TEST_TMP/$name.catar" "$T" >/dev/null 2>"$TEST_TMP/$name.err"; then
                fail "$name: casync make" "$(cat "$TEST_TMP/$name.err")"
                return 1
        fi
        if ! "$CATAR_TAR" "$TEST_TMP/$name.catar" "$TEST_TMP/$name.tar" 2>"$TEST_TMP/$name.id"; then
                fail "$name: catar_tar" "$(cat "$TEST_TMP/$name.id")"
                return 1
        fi
        pass "$name: converted"
}

# The tree's mtree without the root line and sockets, or an extraction's without the root.
mtree_of() {
        # shellcheck disable=SC2086
        casync mtree $2 "$1" | grep -v -e '^\. ' -e ' type=socket '
}

attr_dump() {
        (cd "$1" && find . -mindepth 1 ! -type s -print0 | LC_ALL=C sort -z |
                xargs -0 getfattr -h -d -m - -e hex --absolute-names 2>&1)
}

run_variant() {
        local name=$1 make_opts=$2 attrs=$3 d
        convert "$name" "$make_opts" || return
        local tarf=$TEST_TMP/$name.tar

        # The on-the-fly hash is the file's hash.
        local want got
        want="sha512-$(sha512sum "$tarf" | cut -d' ' -f1)"
        got=$(head -n 1 "$TEST_TMP/$name.id")
        if [ "$want" = "$got" ]; then pass "$name: on-the-fly sha512 == sha512sum"
        else fail "$name: on-the-fly sha512 == sha512sum" "$want" "$got"; fi
        check "$name: one socket skipped" grep -qx 'sockets skipped: 1' "$TEST_TMP/$name.id"

        # Same bytes again, and when fed one byte at a time.
        "$CATAR_TAR" "$TEST_TMP/$name.catar" "$TEST_TMP/$name.2.tar" 2>/dev/null
        check "$name: second conversion byte-identical" cmp -s "$tarf" "$TEST_TMP/$name.2.tar"
        "$CATAR_TAR" --chunk=1 "$TEST_TMP/$name.catar" "$TEST_TMP/$name.3.tar" 2>/dev/null
        check "$name: 1-byte feeding byte-identical" cmp -s "$tarf" "$TEST_TMP/$name.3.tar"
        rm -f "$TEST_TMP/$name.2.tar" "$TEST_TMP/$name.3.tar"
        check "$name: ends with two zero blocks, no record padding" \
                test "$(tail -c 1024 "$tarf" | tr -d '\0' | wc -c)" = 0
        check "$name: whole blocks" test $(($(stat -c %s "$tarf") % 512)) = 0

        # GNU tar lists every entry but the root and the socket, in archive order.
        local n_tree n_tar
        n_tree=$(cd "$T" && find . -mindepth 1 ! -type s -printf x | wc -c)
        # (tar escapes the newline in a name: one line per entry.)
        if tar -tf "$tarf" >"$TEST_TMP/$name.list" 2>"$TEST_TMP/$name.tarerr"; then
                n_tar=$(wc -l <"$TEST_TMP/$name.list")
                if [ "$n_tar" = "$n_tree" ] && [ ! -s "$TEST_TMP/$name.tarerr" ]; then
                        pass "$name: tar -tf lists $n_tar entries"
                else
                        fail "$name: tar -tf lists $n_tree entries" "got $n_tar" \
                                "$(head "$TEST_TMP/$name.tarerr")"
                fi
        else
                fail "$name: tar -tf" "$(head "$TEST_TMP/$name.tarerr")"
        fi
        check "$name: tar -tvf" tar -tvf "$tarf" >/dev/null
        check "$name: top level is manifest and rootfs" \
                test "$(tar -tf "$tarf" | grep -v -c -e '^manifest$' -e '^rootfs/')" = 0
        if command -v bsdtar >/dev/null; then
                check "$name: bsdtar -tf" bsdtar -tf "$tarf" >/dev/null
        fi

        # GNU tar restores it: casync cannot tell the trees apart.
        d=$TEST_TMP/$name.out
        mkdir "$d"
        if tar --xattrs --xattrs-include='*' --acls --numeric-owner --warning=no-timestamp \
                -xpf "$tarf" -C "$d" \
                2>"$TEST_TMP/$name.xerr" && [ ! -s "$TEST_TMP/$name.xerr" ]; then
                pass "$name: GNU tar extracts it without a message"
        else
                fail "$name: GNU tar extracts it" "$(head "$TEST_TMP/$name.xerr")"
        fi
        mtree_of "$T" "$make_opts" >"$TEST_TMP/$name.tree.mtree"
        mtree_of "$d" "$make_opts" >"$TEST_TMP/$name.out.mtree"
        diff_or_fail "$name: casync mtree of tree == of tar's extraction" \
                "$TEST_TMP/$name.tree.mtree" "$TEST_TMP/$name.out.mtree"
        if [ "$attrs" = yes ]; then
                attr_dump "$T" >"$TEST_TMP/$name.tree.xattr"
                attr_dump "$d" >"$TEST_TMP/$name.out.xattr"
                diff_or_fail "$name: xattrs, ACLs and capabilities restored" \
                        "$TEST_TMP/$name.tree.xattr" "$TEST_TMP/$name.out.xattr"
        fi
        unpin "$d"
        rm -rf "$d"
}

run_variant default "" yes
run_variant best "--with=best" yes
# --with=unix alone means 16-bit ids, which cannot hold the big ids of the tree.
run_variant unix "--with=unix --with=32bit-uids" no
run_variant sec-time "--with=unix --with=32bit-uids --without=nsec-time --with=sec-time" no

# Facts of the default variant's tar, read back by GNU tar.
TV=$(tar --numeric-owner -tvf "$TEST_TMP/default.tar")
check "big uid/gid carried (pax)" grep -q ' 4000000000/4000000001 .* rootfs/bigid$' <<<"$TV"
check "user names carried" grep -q '^-rw-r--r-- nobody/nogroup .* rootfs/named$' \
        <<<"$(tar -tvf "$TEST_TMP/default.tar")"
check "device numbers" grep -q '^crw-r--r-- 0/0 *4095,1048575 .* rootfs/bigdev$' <<<"$TV"
# 29 counts the record's own two digits.
check "nanosecond mtime record" grep -q '^29 mtime=981173106\.123456789$' \
        <(tr '\0' '\n' <"$TEST_TMP/default.tar")
check "pax path record for a path over 255 bytes" \
        grep -q "^rootfs/deep/.*/$(printf 'L%.0s' $(seq 255))\$" <<<"$(tar -tf "$TEST_TMP/default.tar")"

# --without=all stores no times, names or modes beyond the basics: still a valid, stable tar.
if convert without-all "--without=all"; then
        check "without-all: tar -tf" tar -tf "$TEST_TMP/without-all.tar" >/dev/null
        "$CATAR_TAR" --chunk=7 "$TEST_TMP/without-all.catar" "$TEST_TMP/without-all.2.tar" 2>/dev/null
        check "without-all: deterministic" cmp -s "$TEST_TMP/without-all.tar" \
                "$TEST_TMP/without-all.2.tar"
fi

finish
