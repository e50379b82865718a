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

# measure NAME OUT CMD...: runs CMD $runs times writing into OUT, prints the median wall seconds
# and max RSS (KiB). The previous output is removed and synced first: on a file system mounted
# with `discard`, freeing 200 MB otherwise slows whatever runs next.
measure() {
        name=$1
        out=$2
        shift 2
        : >"$work/$name.times"
        i=0
        while [ $i -lt "$runs" ]; do
                rm -rf "$out"
                sync
                sleep 2
                echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
                /usr/bin/time -f "%e %M" -o "$work/$name.one" "$@" >/dev/null 2>"$work/$name.err" ||
                        { cat "$work/$name.err"; exit 1; }
                cat "$work/$name.one" >>"$work/$name.times"
                i=$((i + 1))
        done
        rm -rf "$out"
        sort -n "$work/$name.times" | awk -v n="$runs" 'NR == int((n + 1) / 2) { t = $1 }
                { if ($2 > m) m = $2 } END { print t, m }'
}

report() { # label casync-result acfetch-result
        set -- $2 $3 "$1"
        echo "$5: casync ${1}s (peak RSS $(($2 / 1024)) MiB), acfetch ${3}s (peak RSS" \
                "$(($4 / 1024)) MiB), ratio $(awk -v a="$3" -v c="$1" 'BEGIN { printf "%.3f", a / c }')" \
                "(target <= 0.5)"
}

echo "tree: debian bookworm minbase, $size bytes, $chunks chunks; median of $runs runs, cold cache"
for target in disk tmpfs; do
        if [ $target = disk ]; then
                out=$work/out
        else
                mkdir -p /dev/shm/acfetch-bench
                out=/dev/shm/acfetch-bench/out
        fi
        c=$(measure casync "$out" casync extract --store="$work/rootfs.castr" "$work/rootfs.caidx" "$out")
        a=$(measure acfetch "$out" "$acfetch" --quiet extract --store="$work/rootfs.castr" \
                "$work/rootfs.caidx" "$out")
        report "extract to $target" "$c" "$a"
done
rm -rf /dev/shm/acfetch-bench
