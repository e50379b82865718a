# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Sourced by the make tests: mt_make_tree DIR builds a tree with every kind of node and attribute
# casync archives (devices, owners, trusted.* and security.* xattrs and chattr flags only as
# root), .caexclude files, and directories of many sizes (goodbye tables). MT_ROOT=1 when root.
# mt_small_tree DIR: a few KiB of the same variety, for tiny chunk sizes.

MT_ROOT=0
[ "$(id -u)" = 0 ] && MT_ROOT=1

mt_stamp() { touch -h -d "$1" "${@:2}"; }

mt_small_tree() {
        mkdir -p "$1/sub/deeper"
        (
                cd "$1" || exit 1
                printf 'hello\n' >a.txt
                : >empty
                head -c 3000 /dev/urandom >sub/r.bin
                echo x >sub/deeper/x
                ln -s a.txt link
                mkfifo fifo
                for i in $(seq 1 20); do echo "$i" >"sub/f$i"; done
                find . -depth -exec touch -h -d '2021-03-04 05:06:07.123456789' {} +
        )
}

mt_make_tree() {
        local t=$1 i
        mkdir -p "$t"
        (
                cd "$t" || exit 1
                : >empty
                printf 'hello\n' >small.txt
                head -c $((3 * 1024 * 1024 + 77)) /dev/urandom >large.bin
                ln small.txt hardlink
                ln large.bin hardlink-large
                # Sparse-ish: holes, islands, zeros.
                truncate -s 8M sparse.img
                printf 'island' | dd of=sparse.img bs=1 seek=4096000 conv=notrunc status=none
                head -c 70000 /dev/zero >zeros.bin
                head -c 300000 /dev/urandom | base64 >text.txt

                # Names: long, UTF-8, escapes, leading dots and dashes, sort-order traps.
                echo long >"$(printf 'L%.0s' $(seq 255))"
                echo u >"ümlaut"
                echo j >"日本語.txt"
                echo s >"with space"
                echo h >"hash#name"
                echo b >'back\slash'
                echo n >$'new\nline'
                echo t >$'tab\tname'
                echo q >'quote"and'"'"
                echo d >-dash
                echo Z >Zupper
                echo z >zlower
                echo dot >.hidden
                echo e >$'\x01ctrl'
                echo hi >$'\xff\xfe'

                # Nesting and directory sizes 0..40, plus one big directory.
                p=deep
                for _ in $(seq 30); do p=$p/d; done
                mkdir -p "$p" && echo leaf >"$p/leaf"
                for n in 0 1 2 3 4 5 6 7 8 9 10 11 12 13 15 16 17 31 32 33 40; do
                        mkdir "dir$n"
                        for i in $(seq 1 "$n"); do echo "$i" >"dir$n/e$i"; done
                done
                mkdir many
                for i in $(seq 1 1500); do : >"many/file-$i"; done

                # Symlinks: relative, absolute, dangling, to a directory, long target.
                ln -s small.txt rel
                ln -s /etc/passwd abs
                ln -s does/not/exist dangling
                ln -s dir3 dirlink
                ln -s "$(printf 'x/%.0s' $(seq 900))target" longtarget

                mkfifo fifo
                python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock

                # Modes.
                echo suid >setuid && chmod 4755 setuid
                echo sgid >setgid && chmod 2711 setgid
                echo ro >readonly && chmod 0444 readonly
                echo w >worldwrite && chmod 0666 worldwrite
                mkdir sticky && chmod 1777 sticky
                mkdir -p rodir/sub && echo c >rodir/child && chmod 0555 rodir/sub rodir

                # Extended attributes and ACLs.
                setfattr -n user.zeta -v hello small.txt
                setfattr -n user.alpha -v 0x00ff01 small.txt
                setfattr -n user.empty small.txt
                setfattr -n user.dir -v d sticky
                setfattr -n user.big -v "0s$(head -c 3000 /dev/urandom | base64 -w0)" empty
                echo acl >acl_file
                setfacl -m u:1000:rw-,g:100:r--,u:nobody:r--,u:4242:r-x acl_file
                echo acl >acl_mask
                setfacl -m u:1001:rwx,m::r-- acl_mask
                mkdir acl_dir
                setfacl -d -m u:1000:rwx,g:100:r-x,o::--- acl_dir
                setfacl -m u:1002:r-x acl_dir
                echo inherited >acl_dir/child
                mkdir acl_dir/subdir
                mkdir acl_defonly && setfacl -d -m u::rwx acl_defonly

                # .caexclude: patterns casync honours (the files themselves are archived).
                mkdir -p excl/keep excl/sub/build excl/sub/other excl/anch/x
                printf '*.o\n!keep.o\n/anch/x\nbuild/\n# comment\n\n  *.tmp  \n' \
                        >excl/.caexclude
                for f in a.o keep.o b.c x.tmp sub/c.o sub/build/f sub/other/g.o anch/x/y \
                        keep/z.o; do
                        echo "$f" >"excl/$f"
                done
                mkdir excl/sub/nested && printf 'g*\n' >excl/sub/.caexclude
                echo g >excl/sub/nested/gone && echo k >excl/sub/nested/kept

                if [ "$MT_ROOT" = 1 ]; then
                        echo none >mode0000 && chmod 0000 mode0000
                        mkdir nodir && echo inside >nodir/f && chmod 0000 nodir
                        mknod chr c 1 3
                        mknod blk b 7 200
                        mknod bigdev c 4095 1048575
                        setfattr -n trusted.t1 -v secret small.txt
                        setfattr -n trusted.overlay.opaque -v y sticky
                        setfattr -n trusted.fifo -v f fifo
                        setfattr -n user.notstored -v x fifo 2>/dev/null || true
                        setfattr -n security.selinux -v 'system_u:object_r:etc_t:s0' small.txt
                        setfattr -h -n security.selinux -v 'system_u:object_r:link_t:s0' rel
                        setfattr -n security.selinux -v 'system_u:object_r:fifo_t:s0' fifo
                        # File capabilities (setcap writes security.capability).
                        setfattr -n security.capability \
                                -v 0x0100000200200000000000000000000000000000 large.bin
                        setfattr -n security.capability \
                                -v 0x0100000201002000010020000000000000000000 setuid
                        echo owned >owned && chown 1234:5678 owned
                        echo named >named && chown nobody:nogroup named
                        echo big >bigid && chown 100000:200000 bigid
                        echo daemon >daemonfile && chown daemon:daemon daemonfile
                        mkdir owned_dir && chown 4321:4321 owned_dir
                        ln -s small.txt owned_link && chown -h 777:888 owned_link
                        mkfifo owned_fifo && chown 55:66 owned_fifo
                        chown 1000:100 setgid && chmod 2711 setgid
                        echo a >append
                        echo A >noatime
                        echo d >nodump
                        mkdir nodumpdir && echo inner >nodumpdir/f
                        mkdir appenddir
                        echo S >syncfile
                fi

                mt_stamp '2001-02-03 04:05:06.123456789' small.txt rel abs
                mt_stamp '1970-01-01 00:00:01 UTC' empty
                mt_stamp '1975-06-07 08:09:10.5 UTC' dangling fifo
                mt_stamp '2100-01-01 00:00:00.000000001 UTC' large.bin dirlink
                mt_stamp '2001-02-03 04:05:07.999999999' text.txt
                find . -depth -type d -exec touch -d '2020-02-02 02:02:03.020202020' {} +
                touch -d '2019-09-09 09:09:09.999999999' dir3 deep/d/d
                if [ "$MT_ROOT" = 1 ]; then
                        chattr +a append appenddir
                        chattr +A noatime
                        chattr +S syncfile
                        chattr +d nodump nodumpdir
                fi
        )
}
