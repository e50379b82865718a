#!/bin/bash
# Benchmark: a seeded update over HTTP. v1 = the Debian minbase rootfs (bench/work/rootfs), v2 = v1
# with some files changed and 8 MiB added (as bench/fetch.sh makes its v2); both indexes in one
# store served by nginx on loopback. v2 is extracted with a copy of v1 as the seed:
#   casync           casync extract --seed=V1
#   acfetch, first   acfetch extract --seed=V1 with an empty --dir (the seed is cut)
#   acfetch, cached  the same with the seed's cut in <dir>/seeds from an earlier run on the same
#                    seed directory, and <dir>/chunks emptied (chunks still come from the seed)
# and without a seed for reference (casync, acfetch --no-auto-seed). Each run starts on a fresh
# ext4 file system (bench/lib.sh) holding the seed copy, the output and acfetch's --dir, with a
# cold page cache. Per case: median wall seconds, peak RSS, and the chunk requests and bytes nginx
# served; each tool's output is checked against v2 (casync digest) on the first run of each case.
# Usage: bench/seed.sh [BUILD_DIR]   (default: build). Needs root (debootstrap, nginx, mounts).
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
[ "$(id -u)" = 0 ] || { echo "bench/seed.sh must run as root"; exit 1; }

if [ ! -f "$work/rootfs.done" ]; then
        rm -rf "$work/rootfs"
        debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 ||
                { tail "$work/debootstrap.log"; exit 1; }
        touch "$work/rootfs.done"
fi
srv=$work/seed-srv
if [ ! -f "$srv/v2.digest" ]; then
        rm -rf "$srv" "$work/seed-v2"
        mkdir -p "$srv"
        casync make --store="$srv/default.castr" "$srv/v1.caidx" "$work/rootfs" >/dev/null
        # v2: a copy with some files rewritten and a new 8 MiB file, as a small update would be.
        cp -a "$work/rootfs" "$work/seed-v2"
        echo "v2" >>"$work/seed-v2/etc/debian_version"
        head -c $((8 << 20)) /dev/urandom >"$work/seed-v2/usr/lib/v2-blob"
        find "$work/seed-v2/usr/share/doc" -name copyright | sed -n 1,50p |
                while read -r f; do echo "v2" >>"$f"; done
        casync make --store="$srv/default.castr" "$srv/v2.caidx" "$work/seed-v2" >/dev/null
        casync digest "$work/seed-v2" >"$srv/v2.digest"
        rm -rf "$work/seed-v2"
fi
want=$(cat "$srv/v2.digest")

port=20000
while ss -ltn "sport = :$port" | grep -q LISTEN; do port=$((port + 1)); done
ngx=$work/nginx-seed
rm -rf "$ngx"
mkdir -p "$ngx/logs" "$ngx/tmp"
cat >"$ngx/nginx.conf" <<EOF
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log;
events { worker_connections 1024; }
http {
        log_format bytes '\$request \$status \$body_bytes_sent';
        access_log $ngx/logs/access.log bytes;
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
EOF
chmod -R a+rX "$srv"
nginx -p "$ngx" -c "$ngx/nginx.conf"
trap 'kill "$(cat "$ngx/nginx.pid")" 2>/dev/null || true; drop_fs "$fs"' EXIT
sleep 0.3
url=http://127.0.0.1:$port/v2.caidx
acf=("$acfetch" --quiet --dir="$fs/dir" --insecure-options=http extract)

# one CASE: one measured run on a fresh file system; appends "seconds KiB cpu requests bytes" to
# $work/seed-CASE.times. On the case's first run the output is checked against v2.
one() {
        local c=$1 first=$2
        fresh_fs "$fs"
        case $c in
        *-seed | *-cached) cp -a "$work/rootfs" "$fs/v1" ;;
        esac
        if [ "$c" = acfetch-cached ]; then
                # Warm-up on this very seed directory (the cut's cache key holds its path, inodes
                # and ctimes); keep <dir>/seeds, drop the chunks it produced and the output.
                "${acf[@]}" --seed="$fs/v1" "$url" "$fs/warm" >/dev/null 2>"$work/seed-$c.err" ||
                        { cat "$work/seed-$c.err"; exit 1; }
                [ -n "$(ls -A "$fs/dir/seeds" 2>/dev/null)" ] ||
                        { echo "acfetch-cached: the warm-up left nothing in <dir>/seeds"; exit 1; }
                rm -rf "$fs/dir/chunks" "$fs/warm"
        fi
        local cmd
        case $c in
        casync-seed) cmd=(casync extract --seed="$fs/v1" "$url" "$fs/out") ;;
        casync-none) cmd=(casync extract "$url" "$fs/out") ;;
        acfetch-seed | acfetch-cached) cmd=("${acf[@]}" --json --seed="$fs/v1" "$url" "$fs/out") ;;
        acfetch-none) cmd=("${acf[@]}" --json --no-auto-seed "$url" "$fs/out") ;;
        esac
        cold_cache
        : >"$ngx/logs/access.log"
        /usr/bin/time -f "%e %M %U %S" -o "$work/seed-$c.one" "${cmd[@]}" >"$work/seed-$c.out" \
                2>"$work/seed-$c.err" || { cat "$work/seed-$c.err"; exit 1; }
        sleep 0.3
        local reqs bytes
        reqs=$(awk '$2 ~ /\.cacnk$/ { n++ } END { print n + 0 }' "$ngx/logs/access.log")
        bytes=$(awk '$2 ~ /\.cacnk$/ { s += $5 } END { print s + 0 }' "$ngx/logs/access.log")
        awk -v r="$reqs" -v b="$bytes" '{ printf "%s %s %.2f %s %s\n", $1, $2, $3 + $4, r, b }' \
                "$work/seed-$c.one" >>"$work/seed-$c.times"
        if [ "$first" = 1 ]; then
                local got
                got=$(casync digest "$fs/out" 2>/dev/null) || got="(casync digest failed)"
                [ "$got" = "$want" ] ||
                        { echo "$c: output differs from v2: digest $got, want $want"; exit 1; }
        fi
}

cases=(casync-seed acfetch-seed acfetch-cached casync-none acfetch-none)
for c in "${cases[@]}"; do : >"$work/seed-$c.times"; done
# Interleaved, so a drift of the machine over the run hits every case alike.
for ((i = 1; i <= runs; i++)); do
        for c in "${cases[@]}"; do one "$c" "$i"; done
done

# med CASE: median seconds, median CPU seconds, median requests, median bytes, max RSS (KiB),
# and whether the requests or bytes varied between runs.
med() {
        local f=$work/seed-$1.times k=$(((runs + 1) / 2)) col
        for col in 1 3 4 5; do cut -d' ' -f$col "$f" | sort -n | sed -n "${k}p"; done | tr '\n' ' '
        awk '{ if ($2 > m) m = $2 } END { printf "%d", m }' "$f"
        cut -d' ' -f4,5 "$f" | sort -n | sed -n '1p;$p' | tr '\n' ' ' |
                awk '{ if ($1 != $3 || $2 != $4) printf " (varied: %d..%d requests)", $1, $3 }'
        echo
}
ids() { # index -> chunk IDs, one per line
        local n=$((($(stat -c %s "$1") - 104) / 40))
        od -An -v -tx1 -j64 -N$((40 * n)) -w40 "$1" | tr -d ' ' | cut -c17-80
}
ids "$srv/v1.caidx" | sort -u >"$work/seed-v1.ids"
ids "$srv/v2.caidx" | sort -u >"$work/seed-v2.ids"
comm -13 "$work/seed-v1.ids" "$work/seed-v2.ids" >"$work/seed-new.ids"
new_bytes=0
while read -r id; do
        new_bytes=$((new_bytes + $(stat -c %s "$srv/default.castr/${id:0:4}/$id.cacnk")))
done <"$work/seed-new.ids"
all_bytes=0
while read -r id; do
        all_bytes=$((all_bytes + $(stat -c %s "$srv/default.castr/${id:0:4}/$id.cacnk")))
done <"$work/seed-v2.ids"

echo "v1: debian bookworm minbase, $(du -sb "$work/rootfs" | cut -f1) bytes; v2: $(wc -l \
        <"$work/seed-v2.ids") distinct chunks ($all_bytes bytes), of which $(wc -l \
        <"$work/seed-new.ids") ($new_bytes bytes) are not in v1; nginx on loopback; median of" \
        "$runs runs, each on a fresh ext4 with a cold cache; outputs checked against v2"
declare -A res
for c in "${cases[@]}"; do
        res[$c]=$(med "$c")
        read -r t u r b m v <<<"${res[$c]}"
        # With v1 as the seed, only the chunks v1 lacks should come over the network.
        case $c in
        *-none) ;;
        *) [ "$b" = "$new_bytes" ] || v="${v:-} (v1 lacks only $new_bytes bytes)" ;;
        esac
        printf '%-16s %6.2fs (CPU %5.2fs)  peak RSS %4d MiB  %5d chunk requests  %10d bytes%s\n' \
                "$c" "$t" "$u" $((m / 1024)) "$r" "$b" "${v:-}"
done
ratio() { # acfetch-case casync-case
        local at am ct cm
        read -r at _ _ _ am _ <<<"${res[$1]}"
        read -r ct _ _ _ cm _ <<<"${res[$2]}"
        awk -v a="$at" -v c="$ct" -v am="$am" -v cm="$cm" -v l="$1 / $2" \
                'BEGIN { printf "%-30s time %.3f  peak RSS %.3f\n", l, a / c, am / cm }'
}
ratio acfetch-seed casync-seed
ratio acfetch-cached casync-seed
ratio acfetch-none casync-none
for c in acfetch-seed acfetch-cached acfetch-none; do
        echo "$c --json (last run): $(cat "$work/seed-$c.out")"
done
