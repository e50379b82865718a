#!/bin/sh
# gc while `acfetch mount` of an index URL is up. The mount pins its index in the image store and
# lets go of the store lock: gc returns without waiting for it, keeps every chunk the mount has
# fetched, and reading the whole mount afterwards downloads nothing more (each chunk exactly
# once over the mount's life). Once the mount has ended, nothing pins the chunks and gc
# collects them (no image references them).
set -eu
. "$SRCDIR/tests/http/lib.sh"
. "$SRCDIR/tests/http/fetch_lib.sh"
. "$SRCDIR/tests/mount/lib.sh"
mnt_init
http_init
fetch_init

# About 6 MiB of incompressible files in a few directories: some hundred chunks.
src=$TEST_TMP/src
build_src() {
        mkdir -p "$src/a/b" "$src/c"
        for n in 1 2 3; do
                head -c 1000000 /dev/urandom >"$src/a/f$n"
                head -c 700000 /dev/urandom >"$src/a/b/g$n"
                head -c 300000 /dev/urandom >"$src/c/h$n"
        done
        echo small >"$src/c/s"
}
build_tree "source tree" build_src
www=$TEST_TMP/www
mkdir -p "$www"
casync make --store="$www/default.castr" "$www/x.caidx" "$src" >/dev/null ||
        fail "casync make"
n_chunks=$(caidx_distinct "$www/x.caidx")
expect_ge "distinct chunks in the index" "$n_chunks" 50
http_nginx_start "$www"
url=$NGINX_HTTPS_URL/x.caidx
d=$TEST_TMP/d
mnt=$TEST_TMP/mnt
mkdir -p "$mnt"

chunk_files() { find "$d/chunks" -name '*.cacnk' | wc -l; }

log_mark
mnt_start "$TEST_TMP/mount.log" --dir "$d" mount -f --ca-cert="$HTTP_CA" "$url" "$mnt"
# The prefetch brings every chunk into <dir>/chunks.
wait_local() { grep -q 'chunks are local now' "$TEST_TMP/mount.log"; }
i=0
while ! wait_local && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
done
wait_local || fail "the mount never logged that all chunks are local" "$(cat "$TEST_TMP/mount.log")"
expect_eq "chunk files once the mount is local" "$(chunk_files)" "$n_chunks"
expect_eq "chunks downloaded by the mount" "$(log_count '\.cacnk')" "$n_chunks"

# gc must neither wait for the mount (it holds no store lock) nor delete its chunks (pinned;
# --grace=0, so that their age does not keep them).
# It would wait forever if the mount held the lock: bound it.
timeout 60 "$A" --dir "$d" gc --grace=0 2>"$TEST_TMP/gc.log" ||
        fail "gc during the mount (exit $?)" "$(cat "$TEST_TMP/gc.log")"
! grep -q 'waiting for other acfetch processes' "$TEST_TMP/gc.log" ||
        fail "gc waited for the mount"
grep -q 'gc: 0 chunks' "$TEST_TMP/gc.log" ||
        fail "gc removed chunks the mount serves" "$(cat "$TEST_TMP/gc.log")"
expect_eq "chunk files after gc during the mount" "$(chunk_files)" "$n_chunks"
pass "gc during the mount returns at once and keeps the mount's chunks"

# Reading everything now needs no download: every chunk was fetched exactly once.
log_mark
tar -C "$mnt" -cf - . | cmp -s - /dev/null && fail "reading the mount gave nothing"
(cd "$src" && find . -type f | sort | xargs sha256sum) >"$TEST_TMP/want.sums"
(cd "$mnt" && find . -type f | sort | xargs sha256sum) >"$TEST_TMP/got.sums"
cmp -s "$TEST_TMP/want.sums" "$TEST_TMP/got.sums" || fail "the mount's files differ from the source"
expect_eq "chunks downloaded again after gc" "$(log_count '\.cacnk')" 0
pass "reading the whole mount after gc downloads nothing"
mnt_stop

# The mount is gone: its pin with it. Nothing references the chunks any more.
"$A" --dir "$d" gc --grace=0 2>"$TEST_TMP/gc2.log" || fail "gc after the mount" "$(cat "$TEST_TMP/gc2.log")"
expect_eq "chunk files after gc once the mount ended" "$(chunk_files)" 0
pass "once the mount ended, gc collects its chunks"
