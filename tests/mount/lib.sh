# shellcheck shell=sh
# shellcheck disable=SC2034
# Helpers for the `acfetch mount` tests (tests/mount/*.sh). POSIX sh; source after setting
# ACFETCH, SRCDIR and BUILDDIR (meson does).
#
# mnt_init
#       Skip (77) with a message unless root with casync and a usable /dev/fuse (a trivial
#       archive is mounted once to find out). Sets MT (scratch directory, removed at exit unless
#       KEEP=1) and A=$ACFETCH. Installs an EXIT trap that unmounts whatever mnt_start mounted.
# mnt_start LOG ACFETCH-ARGS...
#       Run "acfetch ACFETCH-ARGS" (a "mount -f ... SRC MOUNTPOINT" command line whose last
#       argument is the mount point) in the background, stderr to LOG, and wait until the mount
#       point is mounted. Sets MNT_PID and MNT_DIR. Fails if the process exits first.
# mnt_stop
#       Unmount MNT_DIR (fusermount3 -u, else umount), wait for the process: it must exit 0 and
#       its log must hold no sanitizer report.
# mnt_fail MESSAGE
#       Print "FAIL: MESSAGE" and exit 1.

mnt_fail() {
        echo "FAIL: $*" >&2
        exit 1
}

# is_mounted DIR: DIR is a mount point (whether or not the file system answers).
is_mounted() {
        awk -v d="$1" '$2 == d { f = 1 } END { exit !f }' /proc/self/mounts
}

mnt_umount() { # DIR
        fusermount3 -u "$1" 2>/dev/null || umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
}

mnt_cleanup() {
        rc=$?
        for d in $MNT_ALL; do
                if is_mounted "$d"; then mnt_umount "$d" || true; fi
        done
        for p in $MNT_PIDS; do
                kill "$p" 2>/dev/null || true
        done
        [ "${KEEP:-0}" = 1 ] || rm -rf "$MT"
        exit $rc
}

mnt_init() {
        [ "$(id -u)" = 0 ] || { echo "SKIP: the mount tests need root"; exit 77; }
        command -v casync >/dev/null || { echo "SKIP: casync is not installed"; exit 77; }
        [ -c /dev/fuse ] || { echo "SKIP: /dev/fuse is missing"; exit 77; }
        A=$ACFETCH
        MT=$(mktemp -d /tmp/acfetch-mount.XXXXXX)
        MNT_ALL=
        MNT_PIDS=
        trap mnt_cleanup EXIT
        trap 'exit 143' TERM
        trap 'exit 130' INT
        mkdir -p "$MT/probe/src" "$MT/probe/mnt"
        echo probe >"$MT/probe/src/f"
        casync make --store="$MT/probe/default.castr" "$MT/probe/p.caidx" "$MT/probe/src" \
                >/dev/null 2>&1 || mnt_fail "casync make failed"
        "$A" --dir "$MT/probe/d" mount -f "$MT/probe/p.caidx" "$MT/probe/mnt" \
                2>"$MT/probe/log" &
        p=$!
        i=0
        while ! is_mounted "$MT/probe/mnt" && kill -0 $p 2>/dev/null && [ $i -lt 100 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        if ! is_mounted "$MT/probe/mnt"; then
                kill $p 2>/dev/null
                wait $p 2>/dev/null
                echo "SKIP: FUSE cannot mount here:"
                sed 's/^/  /' "$MT/probe/log"
                exit 77
        fi
        mnt_umount "$MT/probe/mnt"
        wait $p || mnt_fail "probe mount exited with $?"
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
                        mnt_fail "acfetch $* did not mount"
                fi
                sleep 0.05
                i=$((i + 1))
        done
}

mnt_stop() {
        mnt_umount "$MNT_DIR" || mnt_fail "cannot unmount $MNT_DIR"
        _rc=0
        wait $MNT_PID || _rc=$?
        if grep -q 'Sanitizer\|runtime error' "$MNT_LOG"; then
                cat "$MNT_LOG" >&2
                mnt_fail "sanitizer report from the mount"
        fi
        [ $_rc = 0 ] || { cat "$MNT_LOG" >&2; mnt_fail "mount process exited with $_rc"; }
}
