#!/bin/sh
# `acfetch mount` of archives made by Debian's casync: the mount shows exactly what an extraction
# shows (casync mtree of the mount point = casync mtree of the source; same file contents, xattrs,
# ACLs, directory link counts, readdir order), reads at any offset return the right bytes,
# writes are refused, and the default (daemon) mode returns once the mount works.
set -eu
. "$SRCDIR/tests/mount/lib.sh"
mnt_init

src=$TEST_TMP/src
mkdir -p "$src"
(
        cd "$src"
        echo hello >a.txt
        : >empty
        head -c 3000000 /dev/urandom >big
        chmod 4755 big
        head -c 200000 /dev/urandom >mid
        mkdir -p d1/d2/d3/d4 d1/e1 emptydir
        echo deep >d1/d2/d3/d4/f
        ln -s a.txt link
        ln -s /nonexistent/target dangling
        mkfifo fifo
        mknod cdev c 1 3
        mknod bdev b 7 0
        setfattr -n user.foo -v bar a.txt
        setfattr -n user.bin -v 0sAAECAw== mid
        setfattr -n trusted.t -v x a.txt
        setfacl -m u:101:rw,g:102:r a.txt
        setfacl -d -m u:102:rx d1
        mkdir many
        i=0
        while [ $i -lt 400 ]; do
                echo $i >many/f$i
                i=$((i + 1))
        done
        printf 'x' >'many/.hidden'
        printf 'y' >"many/$(printf 'sp ace\tand\001ctl')"
        touch -h -d '2001-02-03 04:05:06.123456789' link
        touch -d '1999-12-31 23:59:59.5' d1/d2
        chown 1234:5678 mid
)

# per_file DIR CMD...: CMD on every node of DIR, in sorted order (traversal order differs).
per_file() {
        _d=$1
        shift
        (cd "$_d" && find . | LC_ALL=C sort | while IFS= read -r f; do
                "$@" "$f" 2>/dev/null || true
        done)
}

# stat_list DIR: what stat says of every node (directory sizes are the file system's own).
stat_list() {
        (cd "$1" && find . ! -type d -exec stat -c '%n %F %a %u %g %s %t:%T %.9Y' {} + &&
                find . -type d -exec stat -c '%n %F %a %u %g %h %.9Y' {} +) | LC_ALL=C sort
}

# Two flavours: casync's default flags (names, ACLs, nanoseconds...) and a minimal set.
for flavour in best unix; do
        case $flavour in
        best) with= ;;
        unix) with=--with=unix ;;
        esac
        w=$TEST_TMP/$flavour
        mkdir -p "$w/mnt"
        # shellcheck disable=SC2086
        casync make $with --store="$w/default.castr" "$w/x.caidx" "$src" >/dev/null
        casync extract --store="$w/default.castr" "$w/x.caidx" "$w/ref" >/dev/null 2>&1
        mnt_start "$w/log" --dir "$w/d" mount -f "$w/x.caidx" "$w/mnt"

        casync mtree "$w/ref" >"$w/ref.mtree"
        casync mtree "$w/mnt" >"$w/mnt.mtree"
        diff "$w/ref.mtree" "$w/mnt.mtree" >&2 || fail "$flavour: mtree of the mount differs"
        [ "$flavour" = unix ] || diff "$w/ref.mtree" "$(casync mtree "$src" >"$w/src.mtree"; echo "$w/src.mtree")" >/dev/null ||
                fail "$flavour: casync's own extraction differs from the source"

        (cd "$w/ref" && find . -type f -exec sha256sum {} + | sort) >"$w/ref.sums"
        (cd "$w/mnt" && find . -type f -exec sha256sum {} + | sort) >"$w/mnt.sums"
        cmp "$w/ref.sums" "$w/mnt.sums" || fail "$flavour: file contents differ"
        per_file "$w/ref" getfattr -h -d -m - >"$w/ref.xattr"
        per_file "$w/mnt" getfattr -h -d -m - >"$w/mnt.xattr"
        diff "$w/ref.xattr" "$w/mnt.xattr" >&2 || fail "$flavour: xattrs differ"
        per_file "$w/ref" getfacl -P -n >"$w/ref.acl"
        per_file "$w/mnt" getfacl -P -n >"$w/mnt.acl"
        diff "$w/ref.acl" "$w/mnt.acl" >&2 || fail "$flavour: ACLs differ"
        if [ $flavour = best ]; then
                grep -q 'user:101:rw-' "$w/mnt.acl" || fail "named ACL entry missing"
                grep -q 'default:user:102:r-x' "$w/mnt.acl" || fail "default ACL missing"
        fi
        # stat: type, mode, ids, size, device numbers, ns mtime; link counts of directories
        stat_list "$w/ref" >"$w/ref.stat"
        stat_list "$w/mnt" >"$w/mnt.stat"
        diff "$w/ref.stat" "$w/mnt.stat" >&2 || fail "$flavour: stat differs"
        # readdir in archive order (strcmp of the names)
        ls -f "$w/mnt/many" | grep -v '^\.\.\?$' >"$w/mnt.order"
        (cd "$src/many" && ls -A | LC_ALL=C sort) >"$w/src.order"
        cmp "$w/mnt.order" "$w/src.order" || fail "$flavour: readdir order"
        [ "$(readlink "$w/mnt/dangling")" = /nonexistent/target ] || fail "readlink"
        # reads at odd offsets and sizes, crossing chunk boundaries
        for spec in 0:1 1:4095 65535:2 65536:131073 1000001:77777 2999999:1 2999990:100 \
                3000000:10; do
                off=${spec%:*}
                n=${spec#*:}
                a=$(dd if="$w/ref/big" iflag=skip_bytes,count_bytes skip="$off" count="$n" \
                        2>/dev/null | sha256sum)
                b=$(dd if="$w/mnt/big" iflag=skip_bytes,count_bytes skip="$off" count="$n" \
                        2>/dev/null | sha256sum)
                [ "$a" = "$b" ] || fail "$flavour: read of $n bytes at $off"
        done
        if (echo x >"$w/mnt/a.txt") 2>/dev/null; then fail "write allowed"; fi
        if touch "$w/mnt/new" 2>/dev/null; then fail "create allowed"; fi
        [ ! -e "$w/mnt/nonexistent" ] || fail "lookup of a missing name"
        mnt_stop
done

# Daemon mode: the command returns once the mount works; umount ends the daemon.
w=$TEST_TMP/best
"$A" --dir "$w/d" mount --log "$w/daemon.log" "$w/x.caidx" "$w/mnt" ||
        fail "daemon mount failed"
MNT_ALL="$MNT_ALL $w/mnt"
is_mounted "$w/mnt" || fail "not mounted when the command returned"
cmp "$w/mnt/big" "$src/big" || fail "daemon mount: content"
mnt_umount "$w/mnt" || fail "cannot unmount the daemon"
i=0
while pgrep -f "mount --log $w/daemon.log" >/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
done
pgrep -f "mount --log $w/daemon.log" >/dev/null && fail "daemon still running after umount"
if grep -q 'Sanitizer\|runtime error' "$w/daemon.log"; then
        cat "$w/daemon.log" >&2
        fail "sanitizer report from the daemon"
fi
# SIGTERM and SIGINT unmount cleanly (status 0).
for sig in TERM INT; do
        mnt_start "$w/sig.log" --dir "$w/d" mount -f "$w/x.caidx" "$w/mnt"
        kill -s $sig "$MNT_PID"
        rc=0
        wait "$MNT_PID" || rc=$?
        [ $rc = 0 ] || { cat "$w/sig.log" >&2; fail "SIG$sig: exit status $rc"; }
        is_mounted "$w/mnt" && fail "SIG$sig: still mounted"
done
# Errors before the mount are reported by the command itself.
if "$A" --dir "$w/d" mount "$w/nonexistent.caidx" "$w/mnt" 2>"$w/err"; then
        fail "mount of a missing index succeeded"
fi
grep -q nonexistent "$w/err" || fail "no message naming the missing index"
is_mounted "$w/mnt" && fail "mounted anyway"
echo "PASS"
