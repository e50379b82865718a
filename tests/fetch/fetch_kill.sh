#!/bin/sh
# The store and the destinations of render and export when a process is killed with SIGKILL at a
# chosen system call (strace's syscall fault injection: every point, deterministically), when the
# destination's file system is full, and under umask 000:
# - `image rm` and gc's removal of a tree of no image, killed at every unlinkat: the store never
#   holds a tree marked rendered with files missing, and the next fetch hands out a whole tree;
#   what the killed process moved away is reclaimed by the next one.
# - export and render killed mid-write leave their temporary file or directory beside DEST; the
#   next run to the same DEST removes it (its maker is gone); a killed chunk write leaves a temp
#   file in the chunk store that the next write of that chunk, or gc, removes.
# - export and render into a full tmpfs: exit 254, one message "DEST: no space left on device (the
#   file system at MOUNT, SIZE)", nothing left behind.
# - a fetch and a publish under umask 000 create nothing writable by others.
# $NET is a list of options, split on purpose; fe_nginx_start takes no script arguments.
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init
require_cmd strace
# strace needs ptrace, which some sandboxes forbid.
strace -f -o /dev/null true 2>/dev/null || skip "strace cannot trace here (ptrace denied)"

host=kill.example.com
fe_page "$WWW/$host" "$host" "https://$host/img/{name}.caidx"
fe_image "$SRC/a" "$host/a" 512
fe_publish "$WWW/$host/img/$host/a.caidx" "$SRC/a"
fe_image "$SRC/big" "$host/big" 4096
fe_publish "$WWW/$host/img/$host/big.caidx" "$SRC/big"
fe_nginx_start

D=$TEST_TMP/store
# fetch_a: fetch $host/a into D; KEY is its store key, TREE its tree.
fetch_a() {
        acf --dir="$D" fetch $NET --full "$host/a"
        expect_rc 0 "fetch a"
        expect_full_id
        KEY=$(fe_key "$(cat "$OUT")")
        TREE=$D/trees/$KEY
}
# killed_at SYSCALL N CMD...: run CMD under strace, SIGKILLed at its Nth SYSCALL; RC is 137 when
# that happened, CMD's own status when it ended before.
killed_at() {
        _ka_sys=$1
        _ka_n=$2
        shift 2
        RC=0
        # LeakSanitizer cannot run under ptrace (it aborts); the other checks still do.
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -o /dev/null -e trace="$_ka_sys" -e inject="$_ka_sys:signal=KILL:when=$_ka_n" \
                "$@" >"$OUT" 2>"$ERR" || RC=$?
}
# expect_whole_or_gone WHAT: trees/KEY is either absent or whole and rendered, images/KEY either
# absent or complete; then a fetch hands out a whole tree, and the killed process's work
# directory has been reclaimed.
expect_whole_or_gone() {
        if [ -e "$TREE/rendered" ]; then
                fe_same_rootfs "$SRC/a" "$TREE"
        fi
        if [ -e "$D/images/$KEY" ]; then
                for f in index.caidx manifest image.json; do
                        [ -f "$D/images/$KEY/$f" ] || fail "$1: images/$KEY lacks $f"
                done
        fi
        acf --dir="$D" verify
        expect_rc 0 "$1: verify"
        fetch_a
        fe_same_rootfs "$SRC/a" "$TREE"
        expect_eq "$1: work directories left in tmp/" "$(ls -A "$D/tmp")" ""
}

# --- image rm killed at every unlinkat -----------------------------------------------------------
fetch_a
n=1
while :; do
        killed_at unlinkat "$n" "$A" --dir="$D" image rm "$KEY"
        [ "$RC" -eq 137 ] || break
        expect_whole_or_gone "image rm killed at unlinkat $n"
        n=$((n + 1))
done
expect_rc 0 "image rm, not killed"
expect_ge "unlinkat calls of image rm" "$n" 8
expect_eq "images after image rm" "$(fe_images "$D")" ""
expect_eq "trees after image rm" "$(fe_trees "$D")" ""
pass "image rm killed at each of $((n - 1)) unlinkat calls: no tree rendered but broken"

# --- gc of a tree of no image, killed at every unlinkat ------------------------------------------
# A copy of a's tree under the key of an image the store does not have (yet: a later fetch of it
# would take a tree marked rendered as it is).
fetch_a
ORPHAN=$D/trees/sha512-$(printf 'f%.0s' $(seq 64))
n=1
while :; do
        [ -e "$ORPHAN" ] || cp -a "$TREE" "$ORPHAN"
        killed_at unlinkat "$n" "$A" --dir="$D" gc
        [ "$RC" -eq 137 ] || break
        if [ -e "$ORPHAN/rendered" ]; then
                fe_same_rootfs "$SRC/a" "$ORPHAN"
        fi
        expect_whole_or_gone "gc killed at unlinkat $n"
        n=$((n + 1))
done
expect_rc 0 "gc, not killed"
expect_ge "unlinkat calls of gc" "$n" 8
pass "gc killed at each of $((n - 1)) unlinkat calls: no tree rendered but broken"

# --- export and render killed mid-write, then run again -----------------------------------------
acf --dir="$D" fetch $NET --full "$host/big"
expect_rc 0 "fetch big"
BIG=$(cat "$OUT")
X=$TEST_TMP/out
mkdir "$X"
temps() { find "$X" -mindepth 1 -maxdepth 1 -name ".$1.acfetch-*"; }
for i in 1 2; do
        killed_at write 3 "$A" --dir="$D" export "$BIG" "$X/big.aci"
        expect_rc 137 "export killed ($i)"
        [ -n "$(temps big.aci)" ] || fail "export killed mid-write left no temporary file to reclaim"
done
# The second run removed the first one's.
expect_eq "temporary files after 2 killed exports" "$(temps big.aci | wc -l)" 1
acf --dir="$D" export "$BIG" "$X/big.aci"
expect_rc 0 "export after the kills"
expect_eq "temporary files after the next export" "$(temps big.aci)" ""
expect_eq "exported file's SHA-512" "sha512-$(sha512sum "$X/big.aci" | cut -c1-64)" "$BIG"
pass "a killed export's temporary file is removed by the next export"

killed_at pwrite64 3 "$A" --dir="$D" render "$BIG" "$X/tree"
expect_rc 137 "render killed"
[ -n "$(temps tree)" ] || fail "render killed mid-write left no temporary directory"
[ ! -e "$X/tree" ] || fail "a killed render left DEST"
acf --dir="$D" render "$BIG" "$X/tree"
expect_rc 0 "render after the kill"
expect_eq "temporary directories after the next render" "$(temps tree)" ""
fe_same_tree "$SRC/big" "$X/tree"
pass "a killed render's temporary directory is removed by the next render"

# A chunk write killed between its temp file and the rename (the first renameat2 that leaves
# one: files of the image record are renamed too): gc removes the temp file.
D2=$TEST_TMP/store2
n=1
while [ "$n" -le 10 ]; do
        rm -rf "$D2"
        killed_at renameat2 "$n" "$A" --dir="$D2" fetch $NET "$host/a"
        expect_rc 137 "fetch killed at renameat2 $n"
        [ -z "$(cache_tmp "$D2")" ] || break
        n=$((n + 1))
done
[ -n "$(cache_tmp "$D2")" ] || fail "no killed fetch left a chunk temp file"
[ -n "$(find "$D2/locks" -name 'chunk-*.claim')" ] || fail "the killed fetch left no chunk claim"
# The rerun writes that chunk again and removes the dead writer's temp beside it.
acf --dir="$D2" fetch $NET "$host/a"
expect_rc 0 "fetch after the killed fetch"
expect_eq "chunk temp files after the rerun" "$(cache_tmp "$D2")" ""
expect_eq "chunk claims after the rerun" "$(find "$D2/locks" -name 'chunk-*.claim')" ""
pass "the next fetch removes the chunk temp file of a killed fetch"
# When no later fetch needs the chunk, gc removes the temp file.
rm -rf "$D2"
killed_at renameat2 "$n" "$A" --dir="$D2" fetch $NET "$host/a"
expect_rc 137 "fetch killed at renameat2 $n again"
[ -n "$(cache_tmp "$D2")" ] || fail "the killed fetch left no chunk temp file this time"
acf --dir="$D2" gc
expect_rc 0 "gc after the killed fetch"
expect_eq "chunk temp files after gc" "$(cache_tmp "$D2")" ""
expect_eq "chunk claims after gc" "$(find "$D2/locks" -name 'chunk-*.claim')" ""
pass "gc removes the chunk temp file and claim of a killed fetch"

# The same for publish, whose chunk store is OUTDIR's: the next publish removes the temp file.
O=$TEST_TMP/site
site_tmp() { [ -d "$O/default.castr" ] && find "$O/default.castr" -type f ! -name '*.cacnk'; }
n=1
while [ "$n" -le 20 ]; do
        rm -rf "$O"
        killed_at renameat2 "$n" "$A" publish "$SRC/a/rootfs" --name="$host/p" "$O"
        [ "$RC" -eq 137 ] || break
        [ -z "$(site_tmp)" ] || break
        n=$((n + 1))
done
[ -n "$(site_tmp)" ] || fail "no killed publish left a chunk temp file"
acf publish "$SRC/a/rootfs" --name="$host/p" "$O"
expect_rc 0 "publish after the killed publish"
expect_eq "chunk temp files after the next publish" "$(site_tmp)" ""
pass "the next publish removes the chunk temp file of a killed publish"

# --- a full file system --------------------------------------------------------------------------
F=$TEST_TMP/full
mkdir "$F"
if mount -t tmpfs -o size=1m tmpfs "$F" 2>/dev/null; then
        at_exit "umount '$F'"
        acf --dir="$D" export "$BIG" "$F/big.aci"
        expect_rc 254 "export into a full file system"
        expect_eq "messages of export into a full file system" "$(cat "$ERR")" \
                "acfetch: error: $F/big.aci: no space left on device (the file system at $F, 1.0 MiB)"
        expect_eq "files left by export into a full file system" "$(ls -A "$F")" ""
        acf --dir="$D" render "$BIG" "$F/tree"
        expect_rc 254 "render into a full file system"
        expect_eq "messages of render into a full file system" "$(cat "$ERR")" \
                "acfetch: error: $F/tree: no space left on device (the file system at $F, 1.0 MiB)"
        expect_eq "files left by render into a full file system" "$(ls -A "$F")" ""
        pass "export and render into a full file system: one message naming DEST, nothing left"
else
        skip_part "full file system" "cannot mount a tmpfs"
fi

# --- umask 000 -----------------------------------------------------------------------------------
D3=$TEST_TMP/store-umask
P=$TEST_TMP/published
(
        umask 000
        "$A" --dir="$D3" fetch $NET "$host/a" >"$OUT" 2>"$ERR" &&
                "$A" --dir="$D3" publish "$SRC/a/rootfs" --name example.com/umask "$P" >>"$OUT" 2>>"$ERR"
) || fail "fetch and publish under umask 000" "$(cat "$ERR")"
# The rootfs of a tree holds the image's own modes (a /tmp may be 1777): not the store's.
writable=$(find "$D3" "$P" -path '*/trees/*/rootfs' -prune -o -perm -0002 ! -type l -print)
expect_eq "files and directories writable by others after umask 000" "$writable" ""
pass "a fetch and a publish under umask 000 leave nothing writable by others"
