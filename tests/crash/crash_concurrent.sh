#!/bin/sh
# Concurrency on one store: 4 fetches of image a started together, while a gc loop, a loop that
# fetches and removes image b, and a mount of b's index (reading every file) run: every fetch
# succeeds with the same ID, verify passes, the trees equal their source, the mount shows b,
# and each of a's chunks is requested from nginx once (within 2%).
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/crash/lib.sh
. "$SRCDIR/tests/crash/lib.sh"
# shellcheck source=tests/mount/lib.sh
. "$SRCDIR/tests/mount/lib.sh"
cr_init
S=$W/store
M=$W/mnt
mkdir -p "$M"
FETCHES=4

# a's chunks that b does not list: only a's fetches request them.
fe_index_chunks "$CR_IX_A" >"$TEST_TMP/a.chunks"
fe_index_chunks "$CR_IX_B" >"$TEST_TMP/b.chunks"
comm -23 "$TEST_TMP/a.chunks" "$TEST_TMP/b.chunks" >"$TEST_TMP/a-only.chunks"
distinct=$(wc -l <"$TEST_TMP/a-only.chunks")
expect_ge "chunks of a alone" "$distinct" 50

have_mnt=1
# shellcheck disable=SC2015 # mnt_init skips the whole test: run it in a subshell to probe
(mnt_init >/dev/null 2>&1) || have_mnt=
log_mark
rm -f "$TEST_TMP/stop"
(
        while [ ! -f "$TEST_TMP/stop" ]; do
                "$A" --dir="$S" gc --grace=0 >>"$TEST_TMP/gc.log" 2>&1 || echo "gc failed" >>"$TEST_TMP/loops.bad"
        done
) &
gc_pid=$!
(
        while [ ! -f "$TEST_TMP/stop" ]; do
                "$A" --dir="$S" fetch $NET "$CR_B" >>"$TEST_TMP/b.log" 2>&1 ||
                        echo "fetch b failed" >>"$TEST_TMP/loops.bad"
                "$A" --dir="$S" image rm "$CR_B" >>"$TEST_TMP/b.log" 2>&1 ||
                        echo "image rm b failed" >>"$TEST_TMP/loops.bad"
        done
) &
rm_pid=$!
if [ -n "$have_mnt" ]; then
        MNT_ALL='' MNT_PIDS=''
        at_exit _mnt_cleanup
        mnt_start "$TEST_TMP/mount.log" --dir="$S" mount -f $NET "https://$CR_HOST/img/$CR_HOST/b.caidx" "$M"
fi
pids=
i=0
while [ "$i" -lt "$FETCHES" ]; do
        "$A" --dir="$S" fetch $NET --full "$CR_A" >"$TEST_TMP/f$i.out" 2>"$TEST_TMP/f$i.err" &
        pids="$pids $!"
        i=$((i + 1))
done
if [ -n "$have_mnt" ]; then
        check "the mount shows b while the fetches run" fe_same_tree "$SRC/b" "$M" strict
        mnt_stop
else
        skip_part "mount" "FUSE cannot mount here"
fi
i=0
for pid in $pids; do
        rc=0
        wait "$pid" || rc=$?
        ! grep -q -e 'Sanitizer' -e 'runtime error:' "$TEST_TMP/f$i.err" ||
                fail "sanitizer report from fetch $i" "$(cat "$TEST_TMP/f$i.err")"
        expect_eq "fetch $i of $FETCHES: $(tail -n 2 "$TEST_TMP/f$i.err")" "$rc" 0
        i=$((i + 1))
done
touch "$TEST_TMP/stop"
wait "$gc_pid" "$rm_pid" || true
[ ! -s "$TEST_TMP/loops.bad" ] ||
        fail "the gc and rm loops failed" "$(sort "$TEST_TMP/loops.bad" | uniq -c)" "$(tail -n 5 "$TEST_TMP/gc.log" "$TEST_TMP/b.log")"
pass "$FETCHES fetches of a, gc, fetch and rm of b, and a mount of b ran at once"
expect_eq "IDs the fetches printed" "$(cat "$TEST_TMP"/f*.out | sort -u | wc -l)" 1
check "verify passes and rendered trees equal their source" cr_store_ok "$S"
fe_same_rootfs "$SRC/a" "$S/trees/$(fe_key "$(cat "$TEST_TMP/f0.out")")"

# Each of a's chunks requested once: the fetches share their downloads.
# shellcheck disable=SC2119 # the default nginx instance
fe_chunk_requests >"$TEST_TMP/requests"
requests=$(grep -cxFf "$TEST_TMP/a-only.chunks" "$TEST_TMP/requests") || true
echo "# chunk GETs of a's $distinct chunks by $FETCHES concurrent fetches: $requests"
[ "$requests" -ge "$distinct" ] || fail "fewer requests ($requests) than chunks ($distinct)"
[ $((requests * 100)) -le $((distinct * 102)) ] ||
        fail "$FETCHES concurrent fetches of one image requested $requests chunks for $distinct distinct (more than 2% over)"
pass "each chunk requested once: $requests requests for $distinct chunks"
