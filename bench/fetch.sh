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

if [ ! -f "$work/rootfs.done" ]; then
        rm -rf "$work/rootfs"
        debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log" 2>&1
        touch "$work/rootfs.done"
fi

# Two images in the ACI layout. rootfs/ is bind-mounted (read-only) rather than copied.
aci=$work/aci
manifest() { # VERSION
        printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/debian",'
        printf '"labels":[{"name":"version","value":"%s"},{"name":"os","value":"linux"},' "$1"
        printf '{"name":"arch","value":"amd64"}],"app":{"exec":["/bin/sh"],"user":"0","group":"0"}}'
}
srv=$aci/srv
if [ ! -f "$srv/debian-2.caidx" ]; then
        # Never rm -rf through a bind mount of the real rootfs left by an interrupted run.
        ! mountpoint -q "$aci/v1/rootfs" || umount "$aci/v1/rootfs"
        rm -rf "$aci"
        mkdir -p "$aci/v1/rootfs" "$srv/debian"
        manifest 1 >"$aci/v1/manifest"
        mount --bind -o ro "$work/rootfs" "$aci/v1/rootfs"
        casync make --store="$srv/default.castr" "$srv/debian-1.caidx" "$aci/v1" >/dev/null
        umount "$aci/v1/rootfs"
        # v2: a copy with some files rewritten and a new 8 MiB file, as a small update would be.
        mkdir -p "$aci/v2"
        cp -a "$work/rootfs" "$aci/v2/rootfs"
        manifest 2 >"$aci/v2/manifest"
        echo "v2" >>"$aci/v2/rootfs/etc/debian_version"
        head -c $((8 << 20)) /dev/urandom >"$aci/v2/rootfs/usr/lib/v2-blob"
        find "$aci/v2/rootfs/usr/share/doc" -name copyright | sed -n 1,50p |
                while read -r f; do echo "v2" >>"$f"; done
        casync make --store="$srv/default.castr" "$srv/debian-2.caidx" "$aci/v2" >/dev/null
        rm -rf "$aci/v2"
fi
# Signatures are required, as in real use: a key made once, trusted in a config of the bench's.
export GNUPGHOME=$work/gnupg
if [ ! -f "$work/trust.done" ]; then
        rm -rf "$GNUPGHOME" "$work/trust"
        mkdir -m 0700 "$GNUPGHOME"
        gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
                --quick-gen-key 'acfetch bench <bench@example.com>' ed25519 sign never 2>/dev/null
        gpg --batch --quiet --armor --export bench@example.com >"$work/bench-key.asc"
        "$acfetch" --local-config="$work/trust" trust --root --skip-fingerprint-review \
                "$work/bench-key.asc" >/dev/null 2>&1
        touch "$work/trust.done"
fi
for v in 1 2; do
        [ -f "$srv/debian-$v.caidx.asc" ] ||
                gpg --batch --quiet --armor --detach-sign --local-user bench@example.com \
                        --output "$srv/debian-$v.caidx.asc" "$srv/debian-$v.caidx"
done
cat >"$srv/debian/index.html" <<'HTML'
<html><head><meta name="ac-discovery" content="example.com/debian http://example.com/debian-{version}.caidx"></head></html>
HTML

port=20000
while ss -ltn "sport = :$port" | grep -q LISTEN; do port=$((port + 1)); done
ngx=$work/nginx-fetch
rm -rf "$ngx"
mkdir -p "$ngx/logs"
cat >"$ngx/nginx.conf" <<EOF
worker_processes 2;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log;
events { worker_connections 1024; }
http {
        log_format bytes '\$request \$status \$body_bytes_sent';
        access_log $ngx/logs/access.log bytes;
        server {
                listen 127.0.0.1:$port;
                root $srv;
                location / { try_files \$uri/index.html \$uri =404; }
        }
}
EOF
chmod -R a+rX "$srv"
nginx -p "$ngx" -c "$ngx/nginx.conf"
trap 'kill "$(cat "$ngx/nginx.pid")" 2>/dev/null || true; drop_fs "$fs"' EXIT
sleep 0.3
net="--insecure-options=http --local-config=$work/trust --connect-to=example.com:80:127.0.0.1:$port"

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() { # prints seconds
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>"$work/fetch-bench.err" || { cat "$work/fetch-bench.err"; exit 1; }
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc
}

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
# Items start at byte 64: an 8-byte end offset and a 32-byte ID each; a 40-byte tail follows.
caidx_ids() {
        local n=$((($(wc -c <"$1") - 104) / 40))
        od -An -v -tx1 -j64 -N$((n * 40)) "$1" | tr -d ' \n' | fold -w 80 | cut -c17-80
}
caidx_ids "$srv/debian-1.caidx" | sort -u >"$work/ids1"
caidx_ids "$srv/debian-2.caidx" | sort -u >"$work/ids2"
expect=$(comm -13 "$work/ids1" "$work/ids2" | while read -r id; do
        stat -c %s "$srv/default.castr/${id:0:4}/$id.cacnk"
done | awk '{ s += $1; n++ } END { print n + 0, s + 0 }')
echo "update v1 -> v2: nginx sent $reqs chunks, $sent bytes; v2 lacks $(echo "$expect" | cut -d' ' -f1)" \
        "chunks of v1, $(echo "$expect" | cut -d' ' -f2) bytes; acfetch --json:" \
        "$(grep -o '"chunks_downloaded":[0-9]*,"bytes_downloaded":[0-9]*' "$work/v2.json")"
