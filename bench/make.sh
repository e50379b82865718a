#!/bin/sh
# Benchmark: `acfetch make` against `casync make` of a Debian minbase rootfs (debootstrap, kept
# in bench/work) into a fresh chunk store, same options (the defaults). Prints the median wall
# time of each, the ratio, and checks that both made the same index and the same chunk set.
# Usage: bench/make.sh [BUILD_DIR]   (default: build). Needs root (debootstrap, mounts).
# Target (issue 6): ratio <= 0.5 on 2 cores.
# Each run writes into a fresh ext4 file system (see bench/lib.sh); the source is read once from
# a cold page cache ("cold") and once after a warm-up read ("warm"); the two tools alternate.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
acfetch=$build/fetcher/acfetch
work=${BENCH_WORK:-$top/bench/work}
runs=${BENCH_RUNS:-3}
mkdir -p "$work"

[ -x "$acfetch" ] || { echo "build acfetch first (meson setup build && ninja -C build)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/make.sh must run as root"; exit 1; }

if [ ! -f "$work/rootfs.done" ]; then
        rm -rf "$work/rootfs"
        debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1 ||
                { tail "$work/debootstrap.log"; exit 1; }
        touch "$work/rootfs.done"
fi
size=$(du -sb "$work/rootfs" | cut -f1)
files=$(find "$work/rootfs" | wc -l)

. "$top/bench/lib.sh"
fs=$work/fs-make
trap 'drop_fs "$fs"' EXIT

# one NAME CACHE CMD...: one run into a fresh file system; appends "seconds rss" to NAME.CACHE.
one() {
        name=$1
        cache=$2
        shift 2
        fresh_fs "$fs"
        if [ "$cache" = cold ]; then
                cold_cache
        else
                tar -C "$work/rootfs" -cf - . >/dev/null
        fi
        /usr/bin/time -f "%e %M" -o "$work/make-$name.one" "$@" >"$work/make-$name.out" \
                2>"$work/make-$name.err" || { cat "$work/make-$name.err"; exit 1; }
        cat "$work/make-$name.one" >>"$work/make-$name.$cache"
}

median() { # FILE: median seconds, max RSS KiB
        sort -n "$1" | awk -v n="$runs" 'NR == int((n + 1) / 2) { t = $1 }
                { if ($2 > m) m = $2 } END { print t, m }'
}

report() { # label casync-result acfetch-result
        set -- $2 $3 "$1"
        echo "$5: casync ${1}s (peak RSS $(($2 / 1024)) MiB), acfetch ${3}s (peak RSS" \
                "$(($4 / 1024)) MiB), ratio $(awk -v a="$3" -v c="$1" 'BEGIN { printf "%.3f", a / c }')" \
                "(target <= 0.5)"
}

echo "tree: debian bookworm minbase, $size bytes, $files nodes; default options (16K:64K:256K," \
        "zstd, sha512-256); median of $runs runs; each run into a fresh ext4 file system;" \
        "$(nproc) CPUs"
for cache in cold warm; do
        rm -f "$work/make-casync.$cache" "$work/make-acfetch.$cache"
        i=0
        while [ $i -lt "$runs" ]; do
                one casync $cache casync make --store="$fs/c.castr" "$fs/c.caidx" "$work/rootfs"
                cp "$fs/c.caidx" "$work/make-casync.caidx"
                (cd "$fs/c.castr" && find . -name '*.cacnk' -printf '%f\n' | sort) >"$work/make-casync.ids"
                one acfetch $cache "$acfetch" --quiet make --store="$fs/a.castr" "$fs/a.caidx" \
                        "$work/rootfs"
                cmp "$fs/a.caidx" "$work/make-casync.caidx" ||
                        { echo "FAIL: the indexes differ"; exit 1; }
                (cd "$fs/a.castr" && find . -name '*.cacnk' -printf '%f\n' | sort) |
                        cmp - "$work/make-casync.ids" ||
                        { echo "FAIL: the stores hold different chunks"; exit 1; }
                i=$((i + 1))
        done
        report "make ($cache source)" "$(median "$work/make-casync.$cache")" \
                "$(median "$work/make-acfetch.$cache")"
done
# casync always prints the archive digest; acfetch only with --print-digest (one more pass of
# SHA-512/256 over the stream), checked once, unmeasured.
fresh_fs "$fs"
"$acfetch" --quiet make --print-digest --store="$fs/a.castr" "$fs/a.caidx" "$work/rootfs" \
        >"$work/make-acfetch.digest"
cmp -s "$work/make-casync.out" "$work/make-acfetch.digest" ||
        { echo "FAIL: the archive digests differ"; exit 1; }
chunks=$(( ($(stat -c %s "$work/make-casync.caidx") - 104) / 40 ))
echo "outputs: identical index ($chunks chunks) and chunk set every run; same archive digest" \
        "($(cat "$work/make-acfetch.digest"))"
