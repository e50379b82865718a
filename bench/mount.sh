#!/bin/bash
# Benchmark: `acfetch mount` against a full download (`acfetch extract` of the same index into an
# empty store) over HTTP from nginx on loopback, at no added latency and at 20 ms round-trip time
# (bench/delay_proxy). Measured from the command's start, into an empty chunk store each time:
#   first byte   until the first byte of the deepest file of the tree has been read
#   exec         until `chroot MOUNT /bin/true` has run (the loader, libc and /bin/true read)
#   full         the whole extract
# The tree is the Debian rootfs of bench/http.sh (bench/work/rootfs) when present, else a
# generated ~200 MB tree: a few host programs with their libraries, plus host /usr/share data.
# Usage: bench/mount.sh [BUILD_DIR]   (default: build). Needs root (FUSE, chroot, nginx).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
acfetch=$build/fetcher/acfetch
proxy=$build/bench/delay_proxy
work=${BENCH_WORK:-$top/bench/work}
runs=${BENCH_RUNS:-3}
mkdir -p "$work"
. "$top/bench/lib.sh"
[ -x "$acfetch" ] && [ -x "$proxy" ] || { echo "build first: meson setup build && ninja -C build"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/mount.sh must run as root"; exit 1; }

if [ -f "$work/rootfs.done" ]; then
        tree=$work/rootfs
else
        tree=$work/gen-rootfs
        if [ ! -f "$work/gen-rootfs.done" ]; then
                rm -rf "$tree"
                mkdir -p "$tree/usr/bin" "$tree/usr/lib" "$tree/usr/lib64" "$tree/usr/share"
                ln -s usr/bin "$tree/bin"
                ln -s usr/lib "$tree/lib"
                ln -s usr/lib64 "$tree/lib64"
                for p in sh dash bash true ls cat env; do
                        cp -L "/usr/bin/$p" "$tree/usr/bin/"
                        for l in $(ldd "/usr/bin/$p" | grep -o '/[^ ]*'); do
                                cp -L --parents "$l" "$tree/" 2>/dev/null || true
                                cp -L --parents "$(realpath "$l")" "$tree/" 2>/dev/null || true
                        done
                done
                # /lib* symlinks in the host paths must resolve inside the tree: copy under usr/
                for d in lib lib64; do
                        if [ -d "$tree/$d" ] && [ ! -L "$tree/$d" ]; then
                                cp -a "$tree/$d/." "$tree/usr/$d/" && rm -rf "${tree:?}/$d" &&
                                        ln -s "usr/$d" "$tree/$d"
                        fi
                done
                total=0
                for d in /usr/share/*/; do
                        [ "$total" -ge 200000 ] && break
                        cp -a "$d" "$tree/usr/share/" 2>/dev/null || true
                        total=$(du -sk "$tree" | cut -f1)
                done
                touch "$work/gen-rootfs.done"
        fi
fi
srv=$work/mount-srv
if [ ! -f "$srv/x.caidx" ] || [ "$tree/." -nt "$srv/x.caidx" ]; then
        rm -rf "$srv"
        mkdir -p "$srv"
        casync make --store="$srv/default.castr" "$srv/x.caidx" "$tree" >/dev/null
fi
deep=$(cd "$tree" && find . -type f -printf '%d %P\n' | sort -n | tail -n 1 | cut -d' ' -f2-)
size=$(du -sk "$tree" | cut -f1)
chunks=$(find "$srv/default.castr" -name '*.cacnk' | wc -l)

port=$(free_port)
pport=$(free_port)
ngx=$work/mount-nginx
rm -rf "$ngx"
mkdir -p "$ngx/logs" "$ngx/tmp"
cat >"$ngx/nginx.conf" <<NGX
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log;
events { worker_connections 1024; }
http {
        access_log off;
        sendfile on;
        keepalive_requests 100000;
        types { }
        default_type application/octet-stream;
        client_body_temp_path $ngx/tmp;
        proxy_temp_path $ngx/tmp;
        fastcgi_temp_path $ngx/tmp;
        uwsgi_temp_path $ngx/tmp;
        scgi_temp_path $ngx/tmp;
        server {
                listen 127.0.0.1:$port;
                root $srv;
        }
}
NGX
nginx -p "$ngx" -c "$ngx/nginx.conf"
"$proxy" "$pport" "$port" 20 &
proxy_pid=$!
mnt=$work/mount-mnt
mkdir -p "$mnt"
cleanup() {
        mountpoint -q "$mnt" && umount "$mnt"
        kill "$proxy_pid" 2>/dev/null || true
        [ -f "$ngx/nginx.pid" ] && kill "$(cat "$ngx/nginx.pid")" 2>/dev/null || true
}
trap cleanup EXIT
sleep 0.5

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# One mount into an empty store; runs CMD against it, prints seconds from mount start.
mounted_time() { # URL CMD...
        local url=$1 t0
        shift
        rm -rf "$work/mount-dir"
        t0=$(now)
        "$acfetch" --dir "$work/mount-dir" --insecure-options=http mount "$url" "$mnt"
        "$@" >/dev/null
        since "$t0"
        umount "$mnt"
        sleep 0.2 # the daemon exits after the unmount
}

echo "tree: $tree ($((size / 1024)) MiB, $chunks chunks); deepest file: /$deep"
for rtt in 0 20; do
        if [ $rtt = 0 ]; then url=http://127.0.0.1:$port/x.caidx; else url=http://127.0.0.1:$pport/x.caidx; fi
        fb=() ex=() full=()
        for ((i = 0; i < runs; i++)); do
                fb+=("$(mounted_time "$url" head -c 1 "$mnt/$deep")")
                ex+=("$(mounted_time "$url" chroot "$mnt" /bin/true)")
                rm -rf "$work/mount-dir" "$work/mount-out"
                t0=$(now)
                "$acfetch" --dir "$work/mount-dir" --insecure-options=http extract "$url" \
                        "$work/mount-out" 2>/dev/null
                full+=("$(since "$t0")")
        done
        f=$(printf '%s\n' "${fb[@]}" | median)
        e=$(printf '%s\n' "${ex[@]}" | median)
        x=$(printf '%s\n' "${full[@]}" | median)
        printf 'rtt %2d ms: first byte %6.3fs   exec /bin/true %6.3fs   full extract %6.3fs   (medians of %d)\n' \
                "$rtt" "$f" "$e" "$x" "$runs"
done
rm -rf "$work/mount-dir" "$work/mount-out"
