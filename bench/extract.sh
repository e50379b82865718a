#!/bin/sh
# Benchmark: `acfetch extract` against `casync extract` from the same local chunk store, on a
# Debian minbase rootfs (debootstrap). Prints wall-time ratio and each peak RSS.
# Usage: bench/extract.sh [BUILD_DIR]   (default: build). Needs root (debootstrap, ownership).
# Targets (issue 2): ratio <= 0.5, acfetch peak RSS <= 64 MiB.
# Each run extracts into a fresh ext4 file system (see bench/lib.sh) with a cold page cache.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
acfetch=$build/fetcher/acfetch
work=${BENCH_WORK:-$top/bench/work}
runs=${BENCH_RUNS:-3}
mkdir -p "$work"

[ -x "$acfetch" ] || { echo "build acfetch first (meson setup build && ninja -C build)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/extract.sh must run as root"; exit 1; }

if [ ! -f "$work/rootfs.done" ]; then
        rm -rf "$work/rootfs"
        debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 ||
                { tail "$work/debootstrap.log"; exit 1; }
        touch "$work/rootfs.done"
fi
if [ ! -f "$work/rootfs.caidx" ]; then
        rm -rf "$work/rootfs.castr"
        casync make --store="$work/rootfs.castr" "$work/rootfs.caidx" "$work/rootfs" >/dev/null
fi
chunks=$(( ($(stat -c %s "$work/rootfs.caidx") - 104) / 40 ))
size=$(du -sb "$work/rootfs" | cut -f1)

. "$top/bench/lib.sh"
fs=$work/fs
trap 'drop_fs "$fs"' EXIT

# measure NAME CMD...: runs CMD $runs times, each into a fresh file system with a cold cache;
# prints the median wall seconds and the max RSS (KiB).
measure() {
        name=$1
        shift
        : >"$work/$name.times"
        i=0
        while [ $i -lt "$runs" ]; do
                fresh_fs "$fs"
                cold_cache
                /usr/bin/time -f "%e %M" -o "$work/$name.one" "$@" >/dev/null 2>"$work/$name.err" ||
                        { cat "$work/$name.err"; exit 1; }
                cat "$work/$name.one" >>"$work/$name.times"
                i=$((i + 1))
        done
        sort -n "$work/$name.times" | awk -v n="$runs" 'NR == int((n + 1) / 2) { t = $1 }
                { if ($2 > m) m = $2 } END { print t, m }'
}

report() { # label casync-result acfetch-result
        set -- $2 $3 "$1"
        echo "$5: casync ${1}s (peak RSS $(($2 / 1024)) MiB), acfetch ${3}s (peak RSS" \
                "$(($4 / 1024)) MiB), ratio $(awk -v a="$3" -v c="$1" 'BEGIN { printf "%.3f", a / c }')" \
                "(target <= 0.5)"
}

echo "tree: debian bookworm minbase, $size bytes, $chunks chunks; median of $runs runs;" \
        "cold cache; each run into a fresh ext4 file system"
c=$(measure casync casync extract --store="$work/rootfs.castr" "$work/rootfs.caidx" "$fs/out")
a=$(measure acfetch "$acfetch" --quiet extract --store="$work/rootfs.castr" "$work/rootfs.caidx" \
        "$fs/out")
report "extract" "$c" "$a"
