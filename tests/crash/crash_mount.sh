#!/bin/sh
# SIGKILL of a whole process group, a `mount` of an index URL (downloading, rate-limited, into
# an empty store) and a reader walking the mount, at random points: after each kill and unmount
# the store passes verify, nothing appeared outside the store and the mount point, a rerun
# mounts and shows the source, and no temporary file remains once it has ended.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
# shellcheck source=tests/mount/lib.sh
. "$SRCDIR/tests/mount/lib.sh"
cr_init
mnt_init
URL=https://$CR_HOST/img/$CR_HOST/a.caidx
S=$W/store
M=$W/mnt
RATE=--rate-limit=4M

# The killed command: the mount and a reader of every file, in one process group.
cat >"$TEST_TMP/mount-and-read" <<EOS
#!/bin/sh
"$A" --dir="\$1" mount -f $NET $RATE "$URL" "\$2" &
i=0
while ! awk -v d="\$2" '\$2 == d { f = 1 } END { exit !f }' /proc/self/mounts; do
        i=\$((i + 1)); [ \$i -lt 300 ] || exit 1; sleep 0.02
done
casync mtree "\$2" >/dev/null
wait
EOS
chmod +x "$TEST_TMP/mount-and-read"

# An unkilled mount: from its start until every chunk is local.
all_local() { grep -q 'are local now' "$F/measure.log"; }
mkdir -p "$F/measure.mnt"
t0=$(date +%s%3N)
mnt_start "$F/measure.log" --dir="$F/measure" mount -f $NET $RATE "$URL" "$F/measure.mnt"
wait_until all_local || fail "the mount did not fetch every chunk" "$(cat "$F/measure.log")"
max=$(($(date +%s%3N) - t0))
mnt_stop
echo "# an unkilled mount takes $max ms until every chunk is local"

# The kernel lets go of a killed FUSE daemon's connection as the daemon's exit completes (slow
# under ASan): retry.
unmounted() {
        if is_mounted "$M"; then mnt_umount "$M" || true; fi
        ! is_mounted "$M"
}
unmount() {
        wait_until unmounted || fail "cannot unmount $M" "$(grep " $M " /proc/self/mounts)"
}
rerun() {
        mnt_start "$TEST_TMP/rerun.log" --dir="$S" mount -f $NET "$URL" "$M"
        fe_same_tree "$SRC/a" "$M" strict
        mnt_stop
}

i=1
while [ "$i" -le "$CRASH_N" ]; do
        rm -rf "$S"
        mkdir -p "$M"
        cr_listing "$W" store mnt >"$TEST_TMP/before"
        cr_kill "$max" "$TEST_TMP/mount-and-read" "$S" "$M"
        cr_round "mount kill $i/$CRASH_N at $CR_KILL_MS ms"
        cr_count_mid
        cr_check "the dead mount unmounts" unmount
        cr_check "verify passes" cr_store_ok "$S"
        cr_check "nothing new outside the store and the mount point" \
                cr_same_listing "$TEST_TMP/before" "$W" store mnt
        cr_check "the rerun mounts and shows the source" rerun
        cr_check "no temporary files after the rerun" cr_no_temps "after the rerun" "$W"
        i=$((i + 1))
done
cr_summary mount
