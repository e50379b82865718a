#!/bin/sh
# Benchmark: `acfetch extract` against `casync extract` from the same local chunk store, on a
# Debian minbase rootfs (debootstrap). Prints wall-time ratio and each peak RSS.
# Usage: bench/extract.sh [BUILD_DIR]   (default: build). Needs root (debootstrap, ownership).
# Targets (issue 2): ratio <= 0.5, acfetch peak RSS <= 64 MiB.
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

# measure NAME CMD...: runs CMD $runs times, prints the median wall seconds and max RSS (KiB).
measure() {
        name=$1
        shift
        : >"$work/$name.times"
        i=0
        while [ $i -lt "$runs" ]; do
                rm -rf "$work/out"
                sync
                echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
                /usr/bin/time -f "%e %M" -o "$work/$name.one" "$@" >/dev/null 2>"$work/$name.err" ||
                        { cat "$work/$name.err"; exit 1; }
                cat "$work/$name.one" >>"$work/$name.times"
                i=$((i + 1))
        done
        rm -rf "$work/out"
        sort -n "$work/$name.times" | awk -v n="$runs" 'NR == int((n + 1) / 2) { t = $1 }
                { if ($2 > m) m = $2 } END { print t, m }'
}

set -- $(measure casync casync extract --store="$work/rootfs.castr" "$work/rootfs.caidx" "$work/out")
ct=$1 cm=$2
set -- $(measure acfetch "$acfetch" --quiet extract --store="$work/rootfs.castr" "$work/rootfs.caidx" "$work/out")
at=$1 am=$2

echo "tree: debian bookworm minbase, $size bytes, $chunks chunks; median of $runs runs, cold cache"
echo "casync extract:  ${ct}s  peak RSS $((cm / 1024)) MiB"
echo "acfetch extract: ${at}s  peak RSS $((am / 1024)) MiB"
awk -v a="$at" -v c="$ct" 'BEGIN { printf "ratio acfetch/casync wall time: %.3f (target <= 0.5)\n", a / c }'
