#!/bin/bash
# Benchmark: fetching a Debian minbase rootfs over HTTP from nginx on loopback, acfetch against
# `casync extract`, at no added latency and at 20 ms round-trip time (bench/delay_proxy), then an
# update (v2 = v1 plus a few packages) fetched with v1's chunks in acfetch's local store.
# Usage: bench/http.sh [BUILD_DIR]   (default: build). Needs root (debootstrap, nginx, chroot).
# Targets (issue 3): wall time <= 0.3x casync at 0 ms and <= 0.07x at 20 ms; peak RSS <= 64 MiB;
# the update downloads exactly the chunks v1 lacks, plus the index.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
acfetch=$build/fetcher/acfetch
proxy=$build/bench/delay_proxy
work=${BENCH_WORK:-$top/bench/work}
runs=${BENCH_RUNS:-3}
rtt=${BENCH_RTT_MS:-20}
mkdir -p "$work"
. "$top/bench/lib.sh"
fs=$work/fs

[ -x "$acfetch" ] && [ -x "$proxy" ] || { echo "build first: meson setup build && ninja -C build"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/http.sh must run as root"; exit 1; }

bench_rootfs "$work"
# v2: the same rootfs with a few more packages, as an image update would be.
if [ ! -f "$work/rootfs2.done" ] || [ "$work/rootfs.done" -nt "$work/rootfs2.done" ]; then
        rm -rf "$work/rootfs2"
        cp -a "$work/rootfs" "$work/rootfs2"
        cp /etc/resolv.conf "$work/rootfs2/etc/resolv.conf"
        chroot "$work/rootfs2" apt-get -q update >"$work/v2.log" 2>&1
        chroot "$work/rootfs2" apt-get -q -y upgrade >>"$work/v2.log" 2>&1
        chroot "$work/rootfs2" apt-get -q -y install --no-install-recommends less netbase \
                procps >>"$work/v2.log" 2>&1
        chroot "$work/rootfs2" apt-get clean
        touch "$work/rootfs2.done"
fi
srv=$work/srv
if [ ! -f "$srv/v2.caidx" ] || [ "$work/rootfs2.done" -nt "$srv/v2.caidx" ]; then
        rm -rf "$srv"
        mkdir -p "$srv"
        casync make --store="$srv/default.castr" "$srv/v1.caidx" "$work/rootfs" >/dev/null
        casync make --store="$srv/default.castr" "$srv/v2.caidx" "$work/rootfs2" >/dev/null
fi

port=$(free_port)
pport=$(free_port)
tport=$(free_port)
tpport=$(free_port)
# A throwaway CA and server certificate for the TLS comparison of HTTP/1.1 and HTTP/2.
tls=$work/tls
if [ ! -f "$tls/server.pem" ]; then
        mkdir -p "$tls"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
                -subj /CN=bench-ca -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
                -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1\n' >"$tls/ext"
        openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
                -CAcreateserial -days 30 -extfile "$tls/ext" -out "$tls/server.pem" 2>/dev/null
fi
ngx=$work/nginx
rm -rf "$ngx"
mkdir -p "$ngx/logs"
cat >"$ngx/nginx.conf" <<EOF
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log;
events { worker_connections 1024; }
http {
        access_log $ngx/logs/access.log;
        sendfile on;
        tcp_nopush on;
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
        server {
                listen 127.0.0.1:$tport ssl http2;
                ssl_certificate $tls/server.pem;
                ssl_certificate_key $tls/server.key;
                                root $srv;
        }
}
EOF
nginx -p "$ngx" -c "$ngx/nginx.conf"
"$proxy" "$pport" "$port" "$rtt" &
proxy_pid=$!
"$proxy" "$tpport" "$tport" "$rtt" &
tproxy_pid=$!
cleanup() {
        kill "$proxy_pid" "$tproxy_pid" 2>/dev/null || true
        [ -f "$ngx/nginx.pid" ] && kill "$(cat "$ngx/nginx.pid")" 2>/dev/null || true
        drop_fs "$fs"
}
trap cleanup EXIT
sleep 0.5

# measure NAME CMD...: median wall seconds and max RSS (KiB) over $runs runs, each into a fresh
# file system (output tree and acfetch's store: see bench/lib.sh).
measure() {
        local name=$1
        shift
        : >"$work/$name.times"
        for ((i = 0; i < runs; i++)); do
                fresh_fs "$fs"
                /usr/bin/time -f "%e %M" -o "$work/$name.one" "$@" >"$work/$name.out" \
                        2>"$work/$name.err" || { cat "$work/$name.err"; exit 1; }
                cat "$work/$name.one" >>"$work/$name.times"
        done
        sort -n "$work/$name.times" | awk -v n="$runs" 'NR == int((n + 1) / 2) { t = $1 }
                { if ($2 > m) m = $2 } END { print t, m }'
}

report() { # label casync-result acfetch-result target
        local ct cm at am
        read -r ct cm <<<"$2"
        read -r at am <<<"$3"
        printf '%-22s casync %6.2fs (%3d MiB)   acfetch %6.2fs (%3d MiB)   ratio %.3f (target <= %s)\n' \
                "$1" "$ct" $((cm / 1024)) "$at" $((am / 1024)) \
                "$(awk -v a="$at" -v c="$ct" 'BEGIN { print a / c }')" "$4"
}

acf=("$acfetch" --quiet --dir="$fs/dir" --insecure-options=http extract)
fetch() { # URL [extra acfetch options]
        local url=$1
        shift
        "${acf[@]}" "$@" "$url" "$fs/out"
}

chunks=$((($(stat -c %s "$srv/v1.caidx") - 104) / 40))
echo "image: debian bookworm minbase, $(du -sb "$work/rootfs" | cut -f1) bytes, $chunks chunks;" \
        "nginx on loopback; median of $runs runs"

c0=$(measure casync0 casync extract "http://127.0.0.1:$port/v1.caidx" "$fs/out")
a0=$(measure acfetch0 "${acf[@]}" "http://127.0.0.1:$port/v1.caidx" "$fs/out")
report "0 ms added latency" "$c0" "$a0" 0.3

c20=$(measure casync20 casync extract "http://127.0.0.1:$pport/v1.caidx" "$fs/out")
a20=$(measure acfetch20 "${acf[@]}" "http://127.0.0.1:$pport/v1.caidx" "$fs/out")
report "$rtt ms round trip" "$c20" "$a20" 0.07

# HTTP/1.1 against HTTP/2 over TLS (acfetch only: this picks acfetch's default).
tls_fetch() { # NAME PORT VERSION
        measure "$1" "$acfetch" --quiet --dir="$fs/dir" extract --ca-cert="$tls/ca.pem" \
                --http-version="$3" "https://127.0.0.1:$2/v1.caidx" "$fs/out"
}
for p in "$tport:0 ms" "$tpport:$rtt ms"; do
        h1=$(tls_fetch tls-h1 "${p%%:*}" 1.1)
        h2=$(tls_fetch tls-h2 "${p%%:*}" 2)
        echo "https, ${p#*:}: HTTP/1.1 ${h1% *}s (${h1#* } KiB), HTTP/2 ${h2% *}s (${h2#* } KiB)"
done

# The update: v1 fetched into an empty store, then v2 with v1's chunks present.
fresh_fs "$fs"
fetch "http://127.0.0.1:$port/v1.caidx" >/dev/null
rm -rf "$fs/out"
: >"$ngx/logs/access.log"
kill -USR1 "$(cat "$ngx/nginx.pid")"
fetch "http://127.0.0.1:$port/v2.caidx" --json >"$work/update.json"
sleep 0.5

# What v2 needs beyond v1: the compressed sizes of its distinct chunks that v1 does not have.
ids() { # index -> chunk IDs, one per line
        local n=$((($(stat -c %s "$1") - 104) / 40))
        od -An -v -tx1 -j64 -N$((40 * n)) -w40 "$1" | tr -d ' ' | cut -c17-80
}
ids "$srv/v1.caidx" | sort -u >"$work/v1.ids"
ids "$srv/v2.caidx" | sort -u >"$work/v2.ids"
comm -13 "$work/v1.ids" "$work/v2.ids" >"$work/new.ids"
expect=0
while read -r id; do
        expect=$((expect + $(stat -c %s "$srv/default.castr/${id:0:4}/$id.cacnk")))
done <"$work/new.ids"
index_bytes=$(stat -c %s "$srv/v2.caidx")
got=$(awk '{ s += $10 } END { print s + 0 }' "$ngx/logs/access.log")
requests=$(grep -c '\.cacnk' "$ngx/logs/access.log" || true)
echo "update v1 -> v2: $(wc -l <"$work/new.ids") new chunks of $(wc -l <"$work/v2.ids");" \
        "expected $expect chunk bytes + $index_bytes index bytes = $((expect + index_bytes));" \
        "nginx sent $got bytes in $requests chunk requests"
echo "acfetch --json: $(cat "$work/update.json")"
