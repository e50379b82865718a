#!/bin/sh
# Benchmark: a fast update by name, `acfetch fetch NAME:2` with every chunk of version 1 local
# (fetched just before) and its tree rendered: the automatic seed (v1's tree) can supply
# nothing, so it should cost nothing (issue 14: cutting a 175 MB tree doubled such an update).
# v1: MIB MiB of random files (default 160) in 1,600 files; v2: v1 with 20 files rewritten and
# 2 MiB added; both made by casync make (default chunk sizes), signed, served by nginx over TLS
# on loopback. Per binary: median wall seconds of RUNS updates (default 3), each into a fresh
# store.
# Usage: bench/update.sh ACFETCH [ACFETCH...]   (root; casync, nginx, gpg: the fetch tests' kit)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
SRCDIR=$top
BUILDDIR=${BUILDDIR:-$top/build}
ACFETCH=$1
export SRCDIR BUILDDIR ACFETCH
# shellcheck source=tests/http/lib.sh
. "$top/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$top/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$top/tests/fetch/lib.sh"
fe_init
mib=${MIB:-160}
runs=${RUNS:-3}
host=bench.example.com
name=$host/app
img=$WWW/$host/img
mkdir -p "$SRC/v1/rootfs" "$img"
i=0
while [ $i -lt 1600 ]; do
        mkdir -p "$SRC/v1/rootfs/d$((i / 100))"
        head -c $((mib * 1024 * 1024 / 1600)) /dev/urandom >"$SRC/v1/rootfs/d$((i / 100))/f$i"
        i=$((i + 1))
done
fe_manifest "$SRC/v1" "$name" version=1 "os=$HOST_OS" "arch=$HOST_ARCH"
cp -a "$SRC/v1" "$SRC/v2"
fe_manifest "$SRC/v2" "$name" version=2 "os=$HOST_OS" "arch=$HOST_ARCH"
i=0
while [ $i -lt 20 ]; do
        f=$((i * 80 + 7))
        head -c 4096 /dev/urandom | dd of="$SRC/v2/rootfs/d$((f / 100))/f$f" bs=1024 seek=20 \
                conv=notrunc 2>/dev/null
        i=$((i + 1))
done
head -c $((2 << 20)) /dev/urandom >"$SRC/v2/rootfs/new"
for v in 1 2; do
        casync make --store="$img/default.castr" "$img/app-$v.caidx" "$SRC/v$v" >/dev/null
        fe_sign "$img/app-$v.caidx"
done
fe_page "$WWW/$host" "$host" "https://$host/img/app-{version}.caidx"
# shellcheck disable=SC2119 # it takes no arguments
fe_nginx_start
echo "v1: $(du -sm "$SRC/v1" | cut -f1) MiB; update to v2 with v1's chunks local; median of $runs"
for bin in "$@"; do
        : >"$TEST_TMP/times"
        r=0
        while [ $r -lt "$runs" ]; do
                D=$TEST_TMP/store-$r
                rm -rf "$D"
                # shellcheck disable=SC2086 # $NET is an option list
                "$bin" --quiet --dir="$D" fetch $NET "$name:1" >/dev/null || fail "fetch v1"
                sync
                t0=$(date +%s.%N)
                # shellcheck disable=SC2086
                "$bin" --quiet --dir="$D" fetch $NET "$name:2" >/dev/null || fail "fetch v2"
                t1=$(date +%s.%N)
                echo "$t1 - $t0" | bc >>"$TEST_TMP/times"
                rm -rf "$D"
                r=$((r + 1))
        done
        echo "$bin: $(sort -n "$TEST_TMP/times" | sed -n "$(((runs + 1) / 2))p") s (runs: $(tr '\n' ' ' <"$TEST_TMP/times"))"
done
