#!/bin/bash
# Cluster benchmark (issue 16): N nodes pull one image at once, through the shared nginx chunk
# cache of deploy/nginx/acfetch-cache.conf and straight from the origin. Run by hand as root
# (the full form) and, in its small form, by tests/cluster/cluster_small.sh.
#
# What it builds, all in network namespaces it creates and removes (the host's own network is
# not touched): a switch namespace holding a Linux bridge; N node namespaces, an origin and a
# cache namespace, each joined to the bridge by a veth pair whose two ends are capped with
# `tc tbf` (the node's download and upload). The origin runs a static nginx (bench/lib.sh's
# bench_nginx_conf: its access log records $body_bytes_sent per request) serving the signed
# image and its discovery page as http://example.com/; the cache runs nginx with
# deploy/nginx/acfetch-cache.conf, as shipped, its placeholders filled in. Round-trip time, when
# asked for, comes from bench/delay_proxy in front of the origin (every request the cache or a
# node sends to the origin pays it) and in front of the cache.
#
# Rounds (each node has its own store on a fresh ext4 file system per round; nodes fetch by name,
# `acfetch fetch example.com/debian:V`, with --connect-to pointing example.com at the cache or
# at the origin):
#   with cache:    all N nodes fetch v1 at once into empty stores, through a cache started
#                  empty; then all update to v2 at once (the cache keeps what it has).
#   without cache: the same two steps, the nodes straight to the origin.
#   one node alone, the same two steps, through an empty cache and straight to the origin.
# Every node's rendered tree is compared with its index (casync mtree, independent of acfetch).
# Report, one line per figure, ratios from this run: the chunk bytes the origin sent against the
# image's distinct chunk bytes (cold) and against the bytes of the chunks v1 lacks (update), with
# and without the cache; per-node wall time p50 and p99 (nearest rank) against the node alone,
# with and without the cache; beside each, the issue's goal (origin egress <= 1.05x, p99 <=
# 1.5x one node). The origin's other bytes (pages, indexes, signatures: passed through the cache
# uncached by design) are printed apart. To tell what bounds the times: the link floor (the
# seconds the links need: each node's chunk bytes over its own link, or all nodes' over the
# shared server's link, the slower) for N nodes against one, and the CPU seconds the nodes used
# against the step's wall time on this machine's CPUs (N nodes on a few cores measure the CPUs).
# The cache's access log ($BENCH_WORK/cluster/cache/logs) has each request's cache status and
# time.
#
# Usage: bench/cluster.sh [BUILD_DIR]   (default: build; root; ip, tc, nsenter, nginx, casync,
# gpg, bc; debootstrap for the full form)
# Full form (the Debian minbase rootfs of the other benchmarks, 8 nodes):
#   bench/cluster.sh build      (BENCH_WORK=DIR to reuse another bench's rootfs and key)
# Environment (defaults):
#   CLUSTER_SMALL       1: N=3 and a generated ~6 MiB image, no debootstrap (the CI form) (0)
#   CLUSTER_NODES       N (8; 3 when small)
#   CLUSTER_NODE_RATE   each node's link, both ways, tc's units (200mbit)
#   CLUSTER_ORIGIN_RATE the origin's link (1gbit)
#   CLUSTER_CACHE_RATE  the cache's link (10gbit: it serves every node, so it needs N x the
#                       node rate; at 1gbit, 8 nodes' 1.6 Gbit/s would make it the bound)
#   CLUSTER_ORIGIN_RTT  ms added to every connection to the origin, by bench/delay_proxy: the
#                       origin is farther away than the cache (10; 0: no proxy)
#   CLUSTER_CACHE_RTT   ms added to every connection to the cache (0; 0: no proxy)
#   CLUSTER_CACHE_CONF  the cache configuration (deploy/nginx/acfetch-cache.conf)
#   BENCH_WORK          the cached rootfs, images and signing key (bench/work); the run's
#                       servers, logs and per-node outputs go to BENCH_WORK/cluster
set -euo pipefail
shopt -s inherit_errexit
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
acfetch=$build/fetcher/acfetch
proxy=$build/bench/delay_proxy
work=${BENCH_WORK:-$top/bench/work}
small=${CLUSTER_SMALL:-0}
if [ "$small" = 1 ]; then nodes=${CLUSTER_NODES:-3}; else nodes=${CLUSTER_NODES:-8}; fi
node_rate=${CLUSTER_NODE_RATE:-200mbit}
origin_rate=${CLUSTER_ORIGIN_RATE:-1gbit}
cache_rate=${CLUSTER_CACHE_RATE:-10gbit}
origin_rtt=${CLUSTER_ORIGIN_RTT:-10}
cache_rtt=${CLUSTER_CACHE_RTT:-0}
cache_conf=${CLUSTER_CACHE_CONF:-$top/deploy/nginx/acfetch-cache.conf}
. "$top/bench/lib.sh"

die() {
        echo "bench/cluster.sh: $*" >&2
        exit 1
}
for x in "$acfetch" "$proxy"; do
        [ -x "$x" ] || die "no $x: build first (meson setup build && ninja -C build)"
done
[ "$(id -u)" = 0 ] || die "must run as root"
case $small in 0 | 1) ;; *) die "CLUSTER_SMALL must be 0 or 1" ;; esac
case $nodes in '' | *[!0-9]* | 0) die "CLUSTER_NODES must be a number above 0" ;; esac
[ "$nodes" -le 200 ] || die "CLUSTER_NODES above 200 do not fit the bridge's /24"
for r in "$origin_rtt" "$cache_rtt"; do
        case $r in '' | *[!0-9]*) die "CLUSTER_ORIGIN_RTT and CLUSTER_CACHE_RTT are whole milliseconds" ;; esac
done
for r in "$node_rate" "$origin_rate" "$cache_rate"; do rate_bps "$r" >/dev/null || exit 1; done
[ -r "$cache_conf" ] || die "no cache configuration at $cache_conf"
tools="ip tc nsenter nginx casync gpg bc mkfs.ext4"
[ "$small" = 1 ] || tools+=" debootstrap"
for t in $tools; do
        command -v "$t" >/dev/null || die "needs $t"
done
[ -x /usr/bin/time ] || die "needs GNU time (/usr/bin/time)"
mkdir -p "$work"
work=$(cd "$work" && pwd)

# The image: v1 and v2, signed, with their discovery page, under $srv (served as example.com).
# small_images DIR: DIR/aci/srv as bench_images makes it, from a generated tree: v1 is 48 random
# files of 128 KiB and some small text files; v2 rewrites 4 KiB in 4 of them, edits 10 text files
# and adds a 512 KiB file.
small_images() {
        local aci=$1/aci i
        local srv=$aci/srv
        [ ! -f "$srv/debian-2.caidx" ] || return 0
        rm -rf "$aci"
        mkdir -p "$aci/v1/rootfs/etc" "$srv/debian"
        bench_manifest 1 >"$aci/v1/manifest"
        for ((i = 0; i < 48; i++)); do
                mkdir -p "$aci/v1/rootfs/usr/d$((i / 8))"
                head -c 131072 /dev/urandom >"$aci/v1/rootfs/usr/d$((i / 8))/f$i"
        done
        for ((i = 0; i < 40; i++)); do
                seq "$i" $((i + 2000)) >"$aci/v1/rootfs/etc/t$i"
        done
        cp -a "$aci/v1" "$aci/v2"
        bench_manifest 2 >"$aci/v2/manifest"
        for i in 3 17 29 41; do
                head -c 4096 /dev/urandom | dd of="$aci/v2/rootfs/usr/d$((i / 8))/f$i" bs=1024 seek=40 \
                        conv=notrunc 2>/dev/null
        done
        for ((i = 0; i < 10; i++)); do echo v2 >>"$aci/v2/rootfs/etc/t$i"; done
        head -c 524288 /dev/urandom >"$aci/v2/rootfs/usr/v2-blob"
        casync make --store="$srv/default.castr" "$srv/debian-1.caidx" "$aci/v1" >/dev/null
        casync make --store="$srv/default.castr" "$srv/debian-2.caidx" "$aci/v2" >/dev/null
        rm -rf "$aci/v1" "$aci/v2"
}
if [ "$small" = 1 ]; then
        imgdir=$work/cluster-small
        small_images "$imgdir"
        bench_trust "$work" "$acfetch"
        bench_publish "$imgdir"
        what="a generated tree"
else
        imgdir=$work
        bench_debian "$work" "$acfetch"
        what="Debian bookworm minbase + python3-minimal"
fi
srv=$imgdir/aci/srv
store=$srv/default.castr

run=$work/cluster # this run's servers, logs, per-node outputs
fs=$run/fs        # the nodes' stores: a fresh ext4 per round
pre=acfcl$$       # namespace names: ${pre}sw (the bridge), ${pre}o, ${pre}c, ${pre}n1...
ns_sw=${pre}sw ns_o=${pre}o ns_c=${pre}c
ip_o=10.79.0.1 ip_c=10.79.0.2
made_ns=()

cleanup() {
        local rc=$? ns p
        set +e
        trap '' INT TERM # a second Ctrl-C must not leave half of it
        # Everything this script started runs in one of its namespaces: nginx, the delay proxies,
        # the nodes' acfetch.
        for ns in "${made_ns[@]}"; do
                for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
        done
        for ns in "${made_ns[@]}"; do
                for ((p = 0; p < 50; p++)); do
                        [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] || break
                        sleep 0.1
                done
                for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
                ip netns del "$ns" 2>/dev/null
        done
        wait 2>/dev/null
        drop_fs "$fs"
        rm -rf "$run/cache/cache" # the cached chunks; the logs stay
        gpgconf --kill gpg-agent 2>/dev/null # started by the signing
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The network.
in_ns() { # NETNS CMD...: CMD in NETNS (exec'd: $! of `in_ns ... &` is CMD)
        local ns=$1
        shift
        exec nsenter "--net=/run/netns/$ns" "$@"
}
new_ns() {
        ip netns add "$1"
        made_ns+=("$1")
        ip -n "$1" link set lo up
}
# join NETNS PORT IP RATE: NETNS's eth0 (IP) on the bridge through its port PORT, both ends
# capped to RATE.
join() {
        new_ns "$1"
        ip -n "$ns_sw" link add "$2" type veth peer name eth0 netns "$1"
        ip -n "$ns_sw" link set "$2" master br0 up
        ip -n "$1" addr add "$3/24" dev eth0
        ip -n "$1" link set eth0 up
        tbf "$1" eth0 "$4"
        tbf "$ns_sw" "$2" "$4"
}
node_ip() { echo "10.79.0.$((10 + $1))"; }
new_ns "$ns_sw"
ip -n "$ns_sw" link add br0 type bridge
ip -n "$ns_sw" link set br0 up
join "$ns_o" p-o "$ip_o" "$origin_rate"
join "$ns_c" p-c "$ip_c" "$cache_rate"
for ((i = 1; i <= nodes; i++)); do join "$pre"n$i p-n$i "$(node_ip "$i")" "$node_rate"; done

# Never rm -rf through the file system of a run killed before its cleanup.
! mountpoint -q "$fs" || umount "$fs"
rm -rf "$run"
mkdir -p "$run"
# Workers as root: they read (and the cache writes) under BENCH_WORK, which may be private.
as_root() { sed -i '1i user root;' "$1"; }

# delay NETNS IP RTT UPSTREAM: the port on IP that reaches 127.0.0.1:UPSTREAM in NETNS, through
# a delay proxy of RTT ms when RTT > 0.
delay() {
        if [ "$3" = 0 ]; then
                echo "$4"
                return
        fi
        (in_ns "$1" "$proxy" 80 "$4" "$3" "$2" </dev/null >>"$run/delay_proxy.log" 2>&1 &)
        echo 80
}
# wait_port NETNS IP PORT: waits (10 s at most) until IP:PORT accepts connections from NETNS.
wait_port() {
        local i
        for ((i = 0; i < 100; i++)); do
                nsenter "--net=/run/netns/$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
                sleep 0.1
        done
        die "nothing answers on $2:$3"
}

# The origin: nginx on 8080, reached on $ip_o:$port_o.
ngx_o=$run/origin
bench_nginx_conf "$ngx_o" "0.0.0.0:8080" "$srv"
as_root "$ngx_o/nginx.conf"
(in_ns "$ns_o" nginx -p "$ngx_o" -c "$ngx_o/nginx.conf")
port_o=$(delay "$ns_o" "$ip_o" "$origin_rtt" 8080)
log_o=$ngx_o/logs/access.log
wait_port "$ns_c" "$ip_o" "$port_o"

# The cache: nginx with the shipped configuration on 8080, reached on $ip_c:$port_c. Started
# empty by cache_start, stopped by cache_stop.
ngx_c=$run/cache
mkdir -p "$ngx_c/logs" "$ngx_c/tmp"
sed -e "s|@LISTEN@|0.0.0.0:8080|g" -e "s|@ORIGIN@|$ip_o:$port_o|g" -e "s|@CACHE_DIR@|$ngx_c/cache|g" \
        "$cache_conf" >"$ngx_c/acfetch-cache.conf"
cat >"$ngx_c/nginx.conf" <<EOF
worker_processes 2;
pid $ngx_c/nginx.pid;
error_log $ngx_c/logs/error.log;
events { worker_connections 8192; }
http {
	log_format cache '\$request \$status \$body_bytes_sent \$upstream_cache_status \$request_time';
	access_log $ngx_c/logs/access.log cache;
	client_body_temp_path $ngx_c/tmp;
	proxy_temp_path $ngx_c/tmp;
	include $ngx_c/acfetch-cache.conf;
}
EOF
as_root "$ngx_c/nginx.conf"
port_c=$(delay "$ns_c" "$ip_c" "$cache_rtt" 8080)
cache_stop() {
        local p i
        [ -f "$ngx_c/nginx.pid" ] || return 0
        p=$(cat "$ngx_c/nginx.pid")
        kill "$p" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
                kill -0 "$p" 2>/dev/null || break
                sleep 0.1
        done
        rm -f "$ngx_c/nginx.pid"
}
cache_start() {
        cache_stop
        rm -rf "$ngx_c/cache"
        (in_ns "$ns_c" nginx -p "$ngx_c" -c "$ngx_c/nginx.conf")
        wait_port "$ns_c" "$ip_c" "$port_c"
}

# Figures of the image.
caidx_ids "$srv/debian-1.caidx" | sort -u >"$run/ids1"
caidx_ids "$srv/debian-2.caidx" | sort -u >"$run/ids2"
distinct1=$(chunk_bytes "$store" <"$run/ids1")
missing2=$(comm -13 "$run/ids1" "$run/ids2" | chunk_bytes "$store")
nmissing2=$(comm -13 "$run/ids1" "$run/ids2" | wc -l)
for v in 1 2; do
        casync mtree --store="$store" "$srv/debian-$v.caidx" | grep -v '^\. ' >"$run/want$v.mtree" ||
                die "casync mtree of debian-$v.caidx failed"
done
tree_kib=$(awk '$0 ~ / size=/ { sub(/.* size=/, ""); sub(/ .*/, ""); s += $0 } END { printf "%d", s / 1024 }' \
        "$run/want1.mtree")
fs_size=$((nodes * tree_kib * 8 / 1024 / 1024 + 2))G # v1 and v2 trees, the chunks, room

# fetch_all TAG VERSION PORT_HOST PORT NODE...: the nodes fetch example.com/debian:VERSION at
# once from HOST:PORT; each node's wall seconds in $run/TAG/NODE.time, its CPU seconds (user,
# system) in NODE.cpu, its --json in NODE.json; the step's wall seconds in TAG/span. Then
# checks each node's rendered tree against the index.
fetch_all() {
        local tag=$1 v=$2 host=$3 port=$4 n t0 t1 tree pids=() s0 s1
        shift 4
        mkdir -p "$run/$tag"
        t0=$(date +%s.%N)
        for n in "$@"; do
                (
                        s0=$(date +%s.%N)
                        /usr/bin/time -f '%U %S' -o "$run/$tag/$n.cpu" nsenter "--net=/run/netns/${pre}n$n" "$acfetch" --quiet --dir="$fs/n$n" fetch \
                                --insecure-options=http --local-config="$work/trust" \
                                --connect-to="example.com:80:$host:$port" --json "example.com/debian:$v" \
                                >"$run/$tag/$n.json" 2>"$run/$tag/$n.err"
                        s1=$(date +%s.%N)
                        echo "$s1 - $s0" | bc >"$run/$tag/$n.time"
                ) &
                pids+=($!)
        done
        for n in "$@"; do
                if ! wait "${pids[0]}"; then
                        cat "$run/$tag/$n.err" >&2
                        die "$tag: node $n failed to fetch example.com/debian:$v"
                fi
                pids=("${pids[@]:1}")
        done
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc >"$run/$tag/span"
        for n in "$@"; do
                tree=$(grep -o '"tree": *"[^"]*"' "$run/$tag/$n.json" | sed 's/.*"\([^"]*\)"$/\1/')
                [ -d "$tree" ] || die "$tag: node $n's --json names no tree ($run/$tag/$n.json)"
                casync mtree "$tree" | grep -v -e '^\. ' -e '^rendered ' -e '^rendered\.stat ' \
                        >"$run/$tag/$n.mtree" || die "casync mtree $tree failed"
                if ! cmp -s "$run/want$v.mtree" "$run/$tag/$n.mtree"; then
                        diff "$run/want$v.mtree" "$run/$tag/$n.mtree" | head -n 20 >&2
                        die "$tag: node $n's tree $tree is not debian-$v.caidx (casync mtree)"
                fi
                trees_ok=$((trees_ok + 1))
        done
}
trees_ok=0
# origin_bytes: "CHUNK_BYTES OTHER_BYTES" the origin sent since its log was last emptied.
origin_bytes() {
        awk '$2 ~ /\.cacnk$/ { c += $5; next } { o += $5 } END { printf "%d %d\n", c, o }' "$log_o"
}
declare -A sent # "ROUND:STEP" -> origin_bytes
# round NAME HOST PORT NODE...: a fresh file system; the cold fetch of v1, then the update to v2.
round() {
        local name=$1 host=$2 port=$3
        shift 3
        fresh_fs "$fs" "$fs_size"
        : >"$log_o"
        fetch_all "$name-cold" 1 "$host" "$port" "$@"
        sent[$name:cold]=$(origin_bytes)
        : >"$log_o"
        fetch_all "$name-update" 2 "$host" "$port" "$@"
        sent[$name:update]=$(origin_bytes)
        umount "$fs"
}

all=$(seq 1 "$nodes")
echo "cluster: $nodes nodes at $node_rate, origin $origin_rate (+$origin_rtt ms RTT), cache" \
        "$cache_rate (+$cache_rtt ms RTT); image example.com/debian ($what, $((tree_kib / 1024)) MiB):" \
        "v1 $(wc -l <"$run/ids1") distinct chunks, $distinct1 bytes; v2 lacks $nmissing2 chunks of v1," \
        "$missing2 bytes; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
cache_start
# shellcheck disable=SC2086 # $all: node numbers
round cache "$ip_c" "$port_c" $all
cache_stop
# shellcheck disable=SC2086
round direct "$ip_o" "$port_o" $all
cache_start
round cache1 "$ip_c" "$port_c" 1
cache_stop
round direct1 "$ip_o" "$port_o" 1

# The report.
ratio() { echo "scale=6; r = $1 / $2; scale = 3; r / 1" | bc | sed 's/^\./0./'; }
# meets VALUE GOAL: "met" or "MISSED"
meets() { if [ "$(echo "$1 <= $2" | bc)" = 1 ]; then echo met; else echo MISSED; fi; }
# pct TAG Q: the Q-th percentile (nearest rank) of the nodes' times in round step TAG.
pct() {
        cat "$run/$1"/*.time | sort -n | awk -v q="$2" '{ v[NR] = $1 } END {
                r = int(q * NR / 100); if (r < q * NR / 100) r++; if (r < 1) r = 1; printf "%.3f", v[r] }'
}
echo
for r in cache direct; do
        for step in cold update; do
                read -r c o <<<"${sent[$r:$step]}"
                if [ "$step" = cold ]; then ref=$distinct1 of="the image's distinct chunk bytes"; else
                        ref=$missing2 of="the bytes of the chunks v1 lacks"
                fi
                x=$(ratio "$c" "$ref")
                if [ "$r" = cache ]; then
                        goal="goal <= 1.05x: $(meets "$x" 1.05)"
                        label="with cache"
                else
                        goal="no goal: each node fetches it, ${nodes}x expected"
                        label="without cache"
                fi
                printf 'origin egress, %s, %s: %d chunk bytes = %sx %s (%d)  [%s]; other bytes %d\n' \
                        "$label" "$step" "$c" "$x" "$of" "$ref" "$goal" "$o"
        done
done
for r in cache direct; do
        label="with cache"
        [ "$r" = cache ] || label="without cache"
        for step in cold update; do
                alone=$(pct "${r}1-$step" 100)
                p50=$(pct "$r-$step" 50)
                p99=$(pct "$r-$step" 99)
                printf 'node time, %s, %s: p50 %ss = %sx one node alone (%ss)\n' "$label" "$step" "$p50" \
                        "$(ratio "$p50" "$alone")" "$alone"
                x=$(ratio "$p99" "$alone")
                printf 'node time, %s, %s: p99 %ss = %sx one node alone (%ss)  [goal <= 1.5x: %s]\n' \
                        "$label" "$step" "$p99" "$x" "$alone" "$(meets "$x" 1.5)"
        done
done
# cpu TAG: the CPU seconds the nodes of round step TAG used in all.
cpu() { cat "$run/$1"/*.cpu | awk '{ s += $1 + $2 } END { printf "%.1f", s }'; }
# floor BYTES SHARED_RATE NODES: the seconds the links need for NODES nodes to get BYTES each
# through a server whose link is SHARED_RATE: the node's own link or the server's, the slower.
floor() {
        echo "a = $1 * 8 / $(rate_bps "$node_rate"); b = $3 * $1 * 8 / $(rate_bps "$2")
                if (b > a) a = b; scale = 3; a / 1" | bc -l | sed 's/^\./0./'
}
for r in cache direct; do
        label="with cache" shared=$cache_rate
        [ "$r" = cache ] || label="without cache" shared=$origin_rate
        for step in cold update; do
                bytes=$distinct1
                [ "$step" = cold ] || bytes=$missing2
                f1=$(floor "$bytes" "$shared" 1)
                fn=$(floor "$bytes" "$shared" "$nodes")
                printf 'link floor, %s, %s: %ss for %d nodes = %sx %ss for one (chunk bytes over %s per node, %s shared)\n' \
                        "$label" "$step" "$fn" "$nodes" "$(ratio "$fn" "$f1")" "$f1" "$node_rate" "$shared"
                span=$(cat "$run/$r-$step/span")
                c=$(cpu "$r-$step")
                printf 'cpu, %s, %s: the nodes used %s CPU s in %.1fs on %d CPUs (%d%% busy); one node alone %s CPU s\n' \
                        "$label" "$step" "$c" "$span" "$(nproc)" \
                        "$(echo "100 * $c / ($span * $(nproc))" | bc)" "$(cpu "${r}1-$step")"
        done
done
echo "images: all $trees_ok rendered trees equal their index (casync mtree)"
