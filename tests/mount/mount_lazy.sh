#!/bin/sh
# Lazy fetching through `acfetch mount` from nginx behind 20 ms of added latency
# (bench/delay_proxy): reading one file deep in the tree returns well before a full extract
# would; the background prefetch fills <dir>/chunks until the mount is fully local (logged);
# SIGKILL in the middle of the prefetch leaves only intact chunks in the store (each one
# decompresses to its ID), the dead mount can be unmounted, and after completing the store an
# offline extract from <dir>/chunks alone gives the source tree.
set -eu
. "$SRCDIR/tests/http/lib.sh"
. "$SRCDIR/tests/mount/lib.sh"
mnt_init
http_init
# meson passes the delay proxy it built for this test (tests/mount/meson.build).
PROXY=${DELAY_PROXY:-}
[ -n "$PROXY" ] || fail "DELAY_PROXY is not set (meson test sets it)"
[ -x "$PROXY" ] || fail "no delay proxy at $PROXY"

# ~48 MiB of incompressible files, and the file to read in the middle, six levels down.
src=$TEST_TMP/src
mkdir -p "$src/a/b/c/d/e"
i=0
while [ $i -lt 24 ]; do
        head -c 2000000 /dev/urandom >"$src/f$i"
        i=$((i + 1))
done
head -c 100000 /dev/urandom >"$src/a/b/c/d/e/target"
i=0
while [ $i -lt 24 ]; do
        head -c 2000000 /dev/urandom >"$src/z$i"
        i=$((i + 1))
done
www=$TEST_TMP/www
mkdir -p "$www"
casync make --store="$www/default.castr" "$www/x.caidx" "$src" >/dev/null
http_nginx_start "$www"
pport=$(free_port)
"$PROXY" "$pport" "$NGINX_HTTPS_PORT" 20 &
proxy_pid=$!
at_exit "kill $proxy_pid 2>/dev/null || true"
sleep 0.3
url=https://127.0.0.1:$pport/x.caidx
net="--ca-cert=$HTTP_CA"

now_ms() { date +%s%3N; }

# Full extract: the reference time.
t0=$(now_ms)
"$A" --dir "$TEST_TMP/d0" extract $net "$url" "$TEST_TMP/out0" 2>"$TEST_TMP/extract.log" ||
        { cat "$TEST_TMP/extract.log" >&2; fail "extract"; }
t_full=$(($(now_ms) - t0))

# Mount into an empty store and read the deep file.
mkdir -p "$TEST_TMP/mnt"
t0=$(now_ms)
mnt_start "$TEST_TMP/mount.log" --dir "$TEST_TMP/d1" mount -f $net "$url" "$TEST_TMP/mnt"
cmp "$TEST_TMP/mnt/a/b/c/d/e/target" "$src/a/b/c/d/e/target" || fail "deep file differs"
t_read=$(($(now_ms) - t0))
echo "full extract ${t_full} ms; mount + read of a/b/c/d/e/target ${t_read} ms"
[ $((t_read * 3)) -lt "$t_full" ] ||
        fail "reading one file through the mount (${t_read} ms) is not clearly faster than a full extract (${t_full} ms)"
# The prefetch completes the store; the mount says so.
i=0
while ! grep -q 'chunks are local now' "$TEST_TMP/mount.log" && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
done
grep -q 'chunks are local now' "$TEST_TMP/mount.log" || { cat "$TEST_TMP/mount.log" >&2; fail "prefetch did not finish"; }
(cd "$TEST_TMP/mnt" && find . -type f -exec sha256sum {} + | sort) >"$TEST_TMP/mnt.sums"
(cd "$src" && find . -type f -exec sha256sum {} + | sort) >"$TEST_TMP/src.sums"
cmp "$TEST_TMP/mnt.sums" "$TEST_TMP/src.sums" || fail "contents differ"
mnt_stop
rm -rf "$TEST_TMP/out1"
mkdir -p "$TEST_TMP/idx"
cp "$www/x.caidx" "$TEST_TMP/idx/x.caidx"
"$A" --dir "$TEST_TMP/d1" extract --store "$TEST_TMP/d1/chunks" "$TEST_TMP/idx/x.caidx" "$TEST_TMP/out1" 2>"$TEST_TMP/x1.log" ||
        { cat "$TEST_TMP/x1.log" >&2; fail "offline extract after a complete prefetch"; }
diff -r "$src" "$TEST_TMP/out1" >/dev/null || fail "offline extract differs"

# SIGKILL mid-prefetch.
mnt_start "$TEST_TMP/mount2.log" --dir "$TEST_TMP/d2" mount -f $net "$url" "$TEST_TMP/mnt"
i=0
while [ "$(find "$TEST_TMP/d2/chunks" -name '*.cacnk' 2>/dev/null | wc -l)" -lt 40 ] && [ $i -lt 300 ]; do
        sleep 0.02
        i=$((i + 1))
done
kill -KILL "$MNT_PID"
wait "$MNT_PID" 2>/dev/null || true
have=$(find "$TEST_TMP/d2/chunks" -name '*.cacnk' | wc -l)
total=$(find "$www/default.castr" -name '*.cacnk' | wc -l)
echo "killed with $have of $total chunks in the store"
[ "$have" -lt "$total" ] || fail "the prefetch had already finished: nothing tested"
mnt_umount "$TEST_TMP/mnt" || fail "cannot unmount after SIGKILL"
is_mounted "$TEST_TMP/mnt" && fail "still mounted"
for f in $(find "$TEST_TMP/d2/chunks" -name '*.cacnk'); do
        id=$(basename "$f" .cacnk)
        got=$(zstd -dcq "$f" | openssl dgst -sha512-256 -r | cut -d' ' -f1)
        [ "$got" = "$id" ] || fail "chunk $f is damaged after SIGKILL"
done
# Complete the store (a remote extract keeps its downloads), then offline from the store alone.
"$A" --dir "$TEST_TMP/d2" extract $net "$url" "$TEST_TMP/out2" 2>"$TEST_TMP/x2.log" ||
        { cat "$TEST_TMP/x2.log" >&2; fail "extract after SIGKILL"; }
"$A" --dir "$TEST_TMP/d2" extract --store "$TEST_TMP/d2/chunks" "$TEST_TMP/idx/x.caidx" "$TEST_TMP/out3" 2>"$TEST_TMP/x3.log" ||
        { cat "$TEST_TMP/x3.log" >&2; fail "offline extract after SIGKILL"; }
diff -r "$src" "$TEST_TMP/out3" >/dev/null || fail "offline extract after SIGKILL differs"
echo PASS
