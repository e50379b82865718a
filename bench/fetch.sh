#!/bin/bash
# Benchmark: `acfetch fetch NAME` of a Debian minbase image (manifest + rootfs/) published with
# casync beside its discovery page and served by nginx on loopback, against `casync extract` of
# the same index, in the same run. Then the same fetch again with nothing changed (a 304), and an
# update v1 -> v2 (v2 = v1 with a few files changed and 8 MiB added, made here without network)
# with v1 in the store: the bytes downloaded must be exactly those of the chunks v1 lacks.
# Also the peak RSS of a cold fetch of each.
# Usage: bench/fetch.sh [BUILD_DIR]   (default: build). Needs root (debootstrap, nginx, mounts).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
acfetch=$build/fetcher/acfetch
work=${BENCH_WORK:-$top/bench/work}
runs=${BENCH_RUNS:-3}
mkdir -p "$work"
. "$top/bench/lib.sh"
fs=$work/fs

[ -x "$acfetch" ] || { echo "build first: meson setup build && ninja -C build"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/fetch.sh must run as root"; exit 1; }

bench_debian "$work" "$acfetch"
srv=$work/aci/srv

port=$(free_port)
ngx=$work/nginx-fetch
bench_nginx_conf "$ngx" "127.0.0.1:$port" "$srv"
nginx -p "$ngx" -c "$ngx/nginx.conf"
trap 'kill "$(cat "$ngx/nginx.pid")" 2>/dev/null || true; drop_fs "$fs"; gpgconf --kill gpg-agent' EXIT
sleep 0.3
net="--insecure-options=http --local-config=$work/trust --connect-to=example.com:80:127.0.0.1:$port"

cas=() acf=() again=()
for i in $(seq "$runs"); do
        fresh_fs "$fs"
        cas+=("$(timed casync extract "http://127.0.0.1:$port/debian-1.caidx" "$fs/casync")")
        fresh_fs "$fs"
        # shellcheck disable=SC2086
        acf+=("$(timed "$acfetch" --dir="$fs/store" fetch $net example.com/debian:1)")
        # shellcheck disable=SC2086
        again+=("$(timed "$acfetch" --dir="$fs/store" fetch $net example.com/debian:1)")
done
c=$(printf '%s\n' "${cas[@]}" | median)
a=$(printf '%s\n' "${acf[@]}" | median)
g=$(printf '%s\n' "${again[@]}" | median)
echo "fetch by name, cold store (median of $runs): casync extract ${c}s, acfetch fetch ${a}s," \
        "ratio $(echo "scale=3; $a / $c" | bc)"
echo "fetch again, nothing changed: ${g}s"

# Peak resident memory of one cold run each (GNU time, KiB).
rss() { # prints MiB
        /usr/bin/time -f %M -o "$work/fetch-bench.rss" "$@" >/dev/null 2>"$work/fetch-bench.err" ||
                { cat "$work/fetch-bench.err"; exit 1; }
        echo $(($(cat "$work/fetch-bench.rss") / 1024))
}
fresh_fs "$fs"
crss=$(rss casync extract "http://127.0.0.1:$port/debian-1.caidx" "$fs/casync")
fresh_fs "$fs"
# shellcheck disable=SC2086
arss=$(rss "$acfetch" --dir="$fs/store" fetch $net example.com/debian:1)
echo "peak RSS, cold fetch: casync ${crss} MiB, acfetch ${arss} MiB"

# The update: v1 in the store, then v2; what nginx sent must be what v2 lacks, plus the index.
fresh_fs "$fs"
# shellcheck disable=SC2086
"$acfetch" --dir="$fs/store" fetch $net example.com/debian:1 >/dev/null 2>&1
: >"$ngx/logs/access.log"
# shellcheck disable=SC2086
"$acfetch" --dir="$fs/store" fetch $net --json example.com/debian:2 >"$work/v2.json" 2>/dev/null
sync
sleep 0.5
sent=$(awk '$2 ~ /\.cacnk$/ { s += $5 } END { print s + 0 }' "$ngx/logs/access.log")
reqs=$(grep -c '\.cacnk' "$ngx/logs/access.log" || true)
caidx_ids "$srv/debian-1.caidx" | sort -u >"$work/ids1"
caidx_ids "$srv/debian-2.caidx" | sort -u >"$work/ids2"
expect=$(comm -13 "$work/ids1" "$work/ids2" | while read -r id; do
        stat -c %s "$srv/default.castr/${id:0:4}/$id.cacnk"
done | awk '{ s += $1; n++ } END { print n + 0, s + 0 }')
echo "update v1 -> v2: nginx sent $reqs chunks, $sent bytes; v2 lacks $(echo "$expect" | cut -d' ' -f1)" \
        "chunks of v1, $(echo "$expect" | cut -d' ' -f2) bytes; acfetch --json:" \
        "$(grep -o '"chunks_downloaded":[0-9]*,"bytes_downloaded":[0-9]*' "$work/v2.json")"
