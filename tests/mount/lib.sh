# shellcheck shell=sh
# shellcheck disable=SC2034
# Helpers for the `acfetch mount` tests (tests/mount/*.sh). POSIX sh; source after setting
# ACFETCH, SRCDIR and BUILDDIR (meson does). Sources tests/lib.sh (fail, skip, TEST_TMP,
# at_exit, ...).
#
# mnt_init
#       Skip (77) with a message unless root with casync and a usable /dev/fuse (a trivial
#       archive is mounted once to find out). test_init (TEST_TMP, removed at exit unless KEEP=1)
#       and A=$ACFETCH. At exit, whatever mnt_start mounted is unmounted and its process killed.
# mnt_start LOG ACFETCH-ARGS...
#       Run "acfetch ACFETCH-ARGS" (a "mount -f ... SRC MOUNTPOINT" command line whose last
#       argument is the mount point) in the background, stderr to LOG, and wait until the mount
#       point is mounted. Sets MNT_PID and MNT_DIR. Fails if the process exits first.
# mnt_stop
#       Unmount MNT_DIR (fusermount3 -u, else umount), wait for the process: it must exit 0 and
#       its log must hold no sanitizer report.
# is_mounted DIR / mnt_umount DIR
#       Whether DIR is a mount point / unmount it (lazily as a last resort).

# shellcheck source=tests/lib.sh
. "$SRCDIR/tests/lib.sh"

# is_mounted DIR: DIR is a mount point (whether or not the file system answers).
is_mounted() {
        awk -v d="$1" '$2 == d { f = 1 } END { exit !f }' /proc/self/mounts
}

mnt_umount() { # DIR
        fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
}

_mnt_cleanup() {
        for _mc_d in $MNT_ALL; do
                if is_mounted "$_mc_d"; then mnt_umount "$_mc_d" || true; fi
        done
        for _mc_p in $MNT_PIDS; do
                kill "$_mc_p" 2>/dev/null || true
        done
}

mnt_init() {
        require_root "the mount tests need root"
        require_cmd casync
        [ -c /dev/fuse ] || skip "/dev/fuse is missing"
        A=$ACFETCH
        MNT_ALL=
        MNT_PIDS=
        test_init mount
        at_exit _mnt_cleanup
        _mp=$TEST_TMP/probe
        mkdir -p "$_mp/src" "$_mp/mnt"
        echo probe >"$_mp/src/f"
        casync make --store="$_mp/default.castr" "$_mp/p.caidx" "$_mp/src" \
                >/dev/null 2>&1 || fail "casync make failed"
        "$A" --dir "$_mp/d" mount -f "$_mp/p.caidx" "$_mp/mnt" 2>"$_mp/log" &
        p=$!
        i=0
        while ! is_mounted "$_mp/mnt" && kill -0 $p 2>/dev/null && [ $i -lt 100 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        if ! is_mounted "$_mp/mnt"; then
                kill $p 2>/dev/null
                wait $p 2>/dev/null
                sed 's/^/  /' "$_mp/log"
                skip "FUSE cannot mount here (above: the probe's log)"
        fi
        mnt_umount "$_mp/mnt"
        wait $p || fail "probe mount exited with $?"
}

mnt_start() { # LOG ARGS...
        _log=$1
        shift
        for MNT_DIR; do :; done
        "$A" "$@" 2>"$_log" &
        MNT_PID=$!
        MNT_PIDS="$MNT_PIDS $MNT_PID"
        MNT_ALL="$MNT_ALL $MNT_DIR"
        MNT_LOG=$_log
        i=0
        while ! is_mounted "$MNT_DIR"; do
                if ! kill -0 $MNT_PID 2>/dev/null || [ $i -ge 300 ]; then
                        cat "$_log" >&2
                        fail "acfetch $* did not mount"
                fi
                sleep 0.05
                i=$((i + 1))
        done
}

mnt_stop() {
        mnt_umount "$MNT_DIR" || fail "cannot unmount $MNT_DIR"
        _rc=0
        wait $MNT_PID || _rc=$?
        if grep -q 'Sanitizer\|runtime error' "$MNT_LOG"; then
                cat "$MNT_LOG" >&2
                fail "sanitizer report from the mount"
        fi
        [ $_rc = 0 ] || { cat "$MNT_LOG" >&2; fail "mount process exited with $_rc"; }
}
