#!/bin/sh
# A full file system (a small tmpfs) as the store of a fetch and as the destination of render
# and export: the command fails with one line naming the problem, nothing appears under a final
# name, the store still passes verify, and once there is room the rerun succeeds. And store
# permissions: a fetch under umask 000 leaves no world-writable path in the store.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
cr_init

# --- umask 000 -----------------------------------------------------------------------------------
(
        umask 000
        cr_fetch "$W/umask" "$CR_A"
)
ww=$(find "$W/umask" ! -type l -perm -0002 | head -n 5)
if [ -n "$ww" ]; then
        echo "FAIL: world-writable paths in a store fetched under umask 000" >&2
        echo "$ww" | sed 's/^/    /' >&2
        : >"$TEST_TMP/.failed"
else
        pass "umask 000: no world-writable path in the store"
fi

P=$F/prepared
cr_prepare "$P"
SMALL=$W/small
mkdir -p "$SMALL"
mount -t tmpfs -o size=1M,mode=0755 tmpfs "$SMALL" 2>/dev/null || skip "cannot mount a tmpfs here"
at_exit "umount -l '$SMALL'"

# full WHAT: the last command failed with exactly one line on stderr, naming the full disk.
full() {
        [ "$RC" -ne 0 ] || fail "$1 succeeded on a full file system"
        grep -qi 'no space left on device' "$ERR" || fail "$1: stderr does not say the disk is full" "$(cat "$ERR")"
        [ "$(grep -c . "$ERR")" = 1 ] || fail "$1: not one line on stderr" "$(cat "$ERR")"
}
room() {
        mount -o remount,size=64M "$SMALL" || fail "remount $SMALL"
}
nospace() {
        rm -rf "${SMALL:?}"/* "$SMALL"/.[!.]*
        mount -o remount,size=1M "$SMALL" || fail "remount $SMALL"
}

# --- the store on a full file system ---------------------------------------------------------
store_full() {
        acf --dir="$SMALL/store" fetch $NET --full "$CR_A"
        full "fetch into a full store"
        expect_store_clean "$SMALL/store" "a fetch into a full store"
        room
        cr_store_ok "$SMALL/store"
        cr_fetch "$SMALL/store" "$CR_A"
        cr_store_ok "$SMALL/store"
        cr_no_temps "after the rerun" "$SMALL"
}
# --- render and export into a full file system -------------------------------------------------
dest_full() { # render|export DEST
        acf --dir="$P" "$1" "$ID" "$2"
        full "$1 into a full file system"
        [ ! -e "$2" ] || fail "$1 left DEST on a full file system"
        cr_no_temps "by a failed $1" "$SMALL"
        room
        acf --dir="$P" "$1" "$ID" "$2"
        expect_rc 0 "$1 once there is room"
        cr_output_ok "$1" "$2"
}
cr_round "ENOSPC"
nospace
cr_check "store: a full file system fails cleanly and the rerun succeeds" store_full
nospace
cr_check "render: a full file system fails cleanly and the rerun succeeds" \
        dest_full render "$SMALL/tree"
nospace
cr_check "export: a full file system fails cleanly and the rerun succeeds" \
        dest_full export "$SMALL/a.aci"
cr_summary "ENOSPC"
