#!/bin/sh
# A second `acfetch mount` on a mount point where acfetch is mounted already is refused (exit
# 254, one line naming what is mounted there and how to unmount it), in the foreground and as a
# daemon, and leaves the first mount alone; so is a mount over one whose process died (the
# point then fails stat(2) with ENOTCONN). Once unmounted, the point takes a new mount.
set -eu
. "$SRCDIR/tests/mount/lib.sh"
mnt_init

src=$TEST_TMP/src
mkdir -p "$src" "$TEST_TMP/mnt"
echo hello >"$src/a.txt"
head -c 300000 /dev/urandom >"$src/big"
casync make --store="$TEST_TMP/default.castr" "$TEST_TMP/a.caidx" "$src" >/dev/null ||
        fail "casync make"
mp=$TEST_TMP/mnt
acfetch_mounts() { # how many acfetch FUSE mounts sit on $mp
        awk -v d="$mp" '$5 == d { for (i = 7; $i != "-"; i++) ; if ($(i + 1) == "fuse.acfetch") n++ }
                END { print n + 0 }' /proc/self/mountinfo
}

# Whatever a failing run stacked on the point goes too.
# shellcheck disable=SC2317 # run by at_exit
unstack() { while is_mounted "$mp"; do mnt_umount "$mp" || break; done; }
at_exit unstack
mnt_start "$TEST_TMP/first.log" --dir="$TEST_TMP/d" mount -f "$TEST_TMP/a.caidx" "$mp"
for mode in "" -f; do
        rc=0
        # The daemon first: a mount that is not refused returns at once. In the foreground it
        # would serve until unmounted: bounded.
        # shellcheck disable=SC2086 # $mode is one option or none
        timeout 60 "$A" --dir="$TEST_TMP/d" mount $mode "$TEST_TMP/a.caidx" "$mp" >"$TEST_TMP/out" \
                2>"$TEST_TMP/err" || rc=$?
        expect_eq "second mount ${mode:-(daemon)}: exit status" "$rc" 254
        expect_eq "second mount ${mode:-(daemon)}: stderr" "$(cat "$TEST_TMP/err")" \
                "acfetch: error: $mp: acfetch has mounted $TEST_TMP/a.caidx there already; unmount it first ('fusermount3 -u $mp')"
        expect_eq "acfetch mounts on the point" "$(acfetch_mounts)" 1
        expect_eq "the first mount's file" "$(cat "$mp/a.txt")" hello
done
pass "a second mount on a live acfetch mount is refused"

kill -9 "$MNT_PID"
wait "$MNT_PID" 2>/dev/null || true
stat "$mp" >/dev/null 2>&1 && fail "the dead mount still answers stat"
rc=0
timeout 60 "$A" --dir="$TEST_TMP/d" mount "$TEST_TMP/a.caidx" "$mp" 2>"$TEST_TMP/err" || rc=$?
expect_eq "mount over a dead mount: exit status" "$rc" 254
grep -q "acfetch has mounted $TEST_TMP/a.caidx there already; unmount it first" "$TEST_TMP/err" ||
        fail "mount over a dead mount: $(cat "$TEST_TMP/err")"
mnt_umount "$mp"
pass "a mount over a dead acfetch mount is refused"

mnt_start "$TEST_TMP/again.log" --dir="$TEST_TMP/d" mount -f "$TEST_TMP/a.caidx" "$mp"
expect_eq "the new mount's file" "$(cat "$mp/a.txt")" hello
mnt_stop
pass "once unmounted, the point takes a new mount"
finish
