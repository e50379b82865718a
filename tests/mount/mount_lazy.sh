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
trap 'mnt_cleanup_all' EXIT
mnt_cleanup_all() {
        rc=$?
        for d in $MNT_ALL; do
                if is_mounted "$d"; then mnt_umount "$d" || true; fi
        done
        [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null
        http_cleanup
        [ "${KEEP:-0}" = 1 ] || rm -rf "$MT"
        exit $rc
}
# meson passes the delay proxy it built for this test (tests/mount/meson.build).
PROXY=${DELAY_PROXY:-}
[ -n "$PROXY" ] || mnt_fail "DELAY_PROXY is not set (meson test sets it)"
[ -x "$PROXY" ] || mnt_fail "no delay proxy at $PROXY"

# ~48 MiB of incompressible files, and the file to read in the middle, six levels down.
src=$MT/src
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
www=$MT/www
mkdir -p "$www"
casync make --store="$www/default.castr" "$www/x.caidx" "$src" >/dev/null
http_nginx_start "$www"
pport=$(http_free_port)
"$PROXY" "$pport" "$NGINX_HTTPS_PORT" 20 &
proxy_pid=$!
sleep 0.3
url=https://127.0.0.1:$pport/x.caidx
net="--ca-cert=$HTTP_CA"

now_ms() { date +%s%3N; }

# Full extract: the reference time.
t0=$(now_ms)
"$A" --dir "$MT/d0" extract $net "$url" "$MT/out0" 2>"$MT/extract.log" ||
        { cat "$MT/extract.log" >&2; mnt_fail "extract"; }
t_full=$(($(now_ms) - t0))

# Mount into an empty store and read the deep file.
mkdir -p "$MT/mnt"
t0=$(now_ms)
mnt_start "$MT/mount.log" --dir "$MT/d1" mount -f $net "$url" "$MT/mnt"
cmp "$MT/mnt/a/b/c/d/e/target" "$src/a/b/c/d/e/target" || mnt_fail "deep file differs"
t_read=$(($(now_ms) - t0))
echo "full extract ${t_full} ms; mount + read of a/b/c/d/e/target ${t_read} ms"
[ $((t_read * 3)) -lt "$t_full" ] ||
        mnt_fail "reading one file through the mount (${t_read} ms) is not clearly faster than a full extract (${t_full} ms)"
# The prefetch completes the store; the mount says so.
i=0
while ! grep -q 'chunks are local now' "$MT/mount.log" && [ $i -lt 600 ]; do
        sleep 0.1
        i=$((i + 1))
done
grep -q 'chunks are local now' "$MT/mount.log" || { cat "$MT/mount.log" >&2; mnt_fail "prefetch did not finish"; }
(cd "$MT/mnt" && find . -type f -exec sha256sum {} + | sort) >"$MT/mnt.sums"
(cd "$src" && find . -type f -exec sha256sum {} + | sort) >"$MT/src.sums"
cmp "$MT/mnt.sums" "$MT/src.sums" || mnt_fail "contents differ"
mnt_stop
rm -rf "$MT/out1"
mkdir -p "$MT/idx"
cp "$www/x.caidx" "$MT/idx/x.caidx"
"$A" --dir "$MT/d1" extract --store "$MT/d1/chunks" "$MT/idx/x.caidx" "$MT/out1" 2>"$MT/x1.log" ||
        { cat "$MT/x1.log" >&2; mnt_fail "offline extract after a complete prefetch"; }
diff -r "$src" "$MT/out1" >/dev/null || mnt_fail "offline extract differs"

# SIGKILL mid-prefetch.
mnt_start "$MT/mount2.log" --dir "$MT/d2" mount -f $net "$url" "$MT/mnt"
i=0
while [ "$(find "$MT/d2/chunks" -name '*.cacnk' 2>/dev/null | wc -l)" -lt 40 ] && [ $i -lt 300 ]; do
        sleep 0.02
        i=$((i + 1))
done
kill -KILL "$MNT_PID"
wait "$MNT_PID" 2>/dev/null || true
have=$(find "$MT/d2/chunks" -name '*.cacnk' | wc -l)
total=$(find "$www/default.castr" -name '*.cacnk' | wc -l)
echo "killed with $have of $total chunks in the store"
[ "$have" -lt "$total" ] || mnt_fail "the prefetch had already finished: nothing tested"
mnt_umount "$MT/mnt" || mnt_fail "cannot unmount after SIGKILL"
is_mounted "$MT/mnt" && mnt_fail "still mounted"
for f in $(find "$MT/d2/chunks" -name '*.cacnk'); do
        id=$(basename "$f" .cacnk)
        got=$(zstd -dcq "$f" | openssl dgst -sha512-256 -r | cut -d' ' -f1)
        [ "$got" = "$id" ] || mnt_fail "chunk $f is damaged after SIGKILL"
done
# Complete the store (a remote extract keeps its downloads), then offline from the store alone.
"$A" --dir "$MT/d2" extract $net "$url" "$MT/out2" 2>"$MT/x2.log" ||
        { cat "$MT/x2.log" >&2; mnt_fail "extract after SIGKILL"; }
"$A" --dir "$MT/d2" extract --store "$MT/d2/chunks" "$MT/idx/x.caidx" "$MT/out3" 2>"$MT/x3.log" ||
        { cat "$MT/x3.log" >&2; mnt_fail "offline extract after SIGKILL"; }
diff -r "$src" "$MT/out3" >/dev/null || mnt_fail "offline extract after SIGKILL differs"
echo PASS
