#!/bin/bash
# Benchmark over an emulated network link (run by hand as root; not part of the tests or CI).
# The client (acfetch, casync) runs in one network namespace, nginx and bench/delay_proxy in
# another, joined by a veth pair. Round-trip time comes from delay_proxy (the kernel may lack
# netem), which holds every byte for half the RTT in each direction; bandwidth from `tc tbf` on
# both ends of the veth pair. Everything measured in the same run, median of BENCH_RUNS:
#  1. cold fetch (empty store) of the Debian minbase image of bench/fetch.sh, `acfetch fetch NAME`
#     against `casync extract URL DIR`, at each RTT of BENCH_RTTS; ratios to 0 ms and to casync.
#     Also acfetch through delay_proxy at +0 ms against direct: the proxy's own cost, and the
#     CPU seconds the proxy used during each acfetch fetch (utime + stime from /proc/PID/stat).
#  2. cold `acfetch fetch NAME` at BENCH_RATE_RTT ms on links capped to each rate of BENCH_RATES:
#     seconds, bytes on the wire (nginx's $bytes_sent: bodies and response headers), link
#     utilization = bytes / (seconds x rate), and the floor = bytes / rate + 4 RTTs (connect,
#     discovery page, index and signature, first chunks).
#  3. time to a first exec through the lazy mount, from an empty store: `acfetch mount NAME MP`
#     (returns once mounted) then `chroot MP /usr/bin/python3 -c pass` (and `/bin/sh -c true`),
#     from the start of the mount to the end of the exec, and the bytes nginx had sent by then;
#     without and with a profile published beside the index (`acfetch publish --profile`,
#     recorded by a mount that ran both commands); against `acfetch fetch NAME` + chroot into the
#     rendered tree.
#  4. (only when asked: BENCH_PARTS=compare) builds or flags against each other: cold
#     `acfetch fetch NAME` by each variant of BENCH_COMPARE at each RTT of BENCH_RTTS, the
#     variants taking turns run by run (so that a slow spell of the machine hits them all);
#     medians, each RTT against the first, and each variant against the first.
# Usage: bench/link.sh [BUILD_DIR]   (default: build)
# Environment (defaults): BENCH_RUNS (3), BENCH_RTTS ("0 20 50"), BENCH_RATES ("100mbit 1gbit",
# tc's units), BENCH_RATE_RTT (20), BENCH_MOUNT_RTTS ("0 20"), BENCH_PARTS ("fetch rate mount"),
# BENCH_MOUNT_FORM (name: `acfetch mount NAME`; url: `acfetch mount INDEX-URL`, root MP/rootfs,
# which uses no published profile: no profile runs),
# BENCH_WORK (bench/work: the cached rootfs, images and key), BENCH_COMPARE (for part 4: variants
# separated by spaces, each BUILD_DIR or BUILD_DIR:FLAGS, FLAGS being acfetch fetch options
# separated by commas, e.g. "build build:--jobs=128 ../other/build"), BENCH_STORE (ext4: a fresh
# ext4 per run; tmpfs: a fresh tmpfs, which takes the disk out of the times), BENCH_LOGS (a
# directory: part 4 keeps each run's stderr, with the seconds since its start on each line, and
# nginx's log, as VARIANT-RTT-RUN.err and .log, VARIANT counting from 1).
set -euo pipefail
shopt -s inherit_errexit
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
acfetch=$build/fetcher/acfetch
proxy=$build/bench/delay_proxy
work=${BENCH_WORK:-$top/bench/work}
runs=${BENCH_RUNS:-3}
rtts=${BENCH_RTTS:-0 20 50}
rates=${BENCH_RATES:-100mbit 1gbit}
rate_rtt=${BENCH_RATE_RTT:-20}
mount_rtts=${BENCH_MOUNT_RTTS:-0 20}
parts=${BENCH_PARTS:-fetch rate mount}
form=${BENCH_MOUNT_FORM:-name}
compare=${BENCH_COMPARE:-}
store=${BENCH_STORE:-ext4}
logs=${BENCH_LOGS:-}
mkdir -p "$work"
. "$top/bench/lib.sh"

[ -x "$acfetch" ] && [ -x "$proxy" ] || { echo "build first: meson setup build && ninja -C build"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/link.sh must run as root"; exit 1; }
case $form in name | url) ;; *) echo "BENCH_MOUNT_FORM must be name or url"; exit 1 ;; esac
case $store in ext4 | tmpfs) ;; *) echo "BENCH_STORE must be ext4 or tmpfs"; exit 1 ;; esac
for t in ip tc nsenter nginx casync chroot fuser debootstrap gpg bc; do
        command -v "$t" >/dev/null || { echo "bench/link.sh needs $t"; exit 1; }
done
has() { [[ " $parts " == *" $1 "* ]]; }
if has compare; then
        [ -n "$compare" ] || { echo "BENCH_PARTS=compare needs BENCH_COMPARE (variants to compare)"; exit 1; }
        for v in $compare; do
                [ -x "${v%%:*}/fetcher/acfetch" ] || { echo "$v: no ${v%%:*}/fetcher/acfetch (build it first)"; exit 1; }
        done
fi

bench_debian "$work" "$acfetch"
srv=$work/aci/srv

fs=$work/link-fs        # a fresh ext4 per measured run: the store, the casync tree
mp=$work/link-mnt       # the lazy mount (outside $fs)
mkdir -p "$mp"
ngx=$work/link-nginx
srv_prof=$work/link-srv-profile # the image published again by acfetch, with a profile
pub=$work/link-publish          # its source: manifest, rootfs/ bind-mounted read-only
ns_c=acfb$$c ns_s=acfb$$s
ip_c=10.77.0.1 ip_s=10.77.0.2
pids=()

in_c() { nsenter "--net=/run/netns/$ns_c" "$@"; }
in_s() { nsenter "--net=/run/netns/$ns_s" "$@"; }

# wait_daemon: waits for the mount daemon to let go of $fs (it exits after the unmount, once it
# has written what it records); after 30 s, kills what still uses $fs (only this script's).
wait_daemon() {
        local i
        for i in $(seq 300); do
                fuser -sm "$fs" 2>/dev/null || return 0
                sleep 0.1
        done
        echo "the mount daemon did not exit 30 s after the unmount: killing it" >&2
        fuser -skm "$fs" 2>/dev/null || true
        sleep 0.5
}

unmount_mp() {
        mountpoint -q "$mp" || return 0
        umount "$mp" 2>/dev/null || umount -l "$mp"
}

cleanup() {
        local rc=$? p
        set +e
        trap '' INT TERM # a second Ctrl-C must not leave half of it
        unmount_mp
        mountpoint -q "$fs" && wait_daemon
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        [ -f "$ngx/nginx.pid" ] && kill "$(cat "$ngx/nginx.pid")" 2>/dev/null
        ! mountpoint -q "$pub/rootfs" || umount "$pub/rootfs"
        ip netns del "$ns_c" 2>/dev/null
        ip netns del "$ns_s" 2>/dev/null
        drop_fs "$fs"
        rmdir "$mp" 2>/dev/null
        gpgconf --kill gpg-agent 2>/dev/null # started by the signing
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The link: client and server namespaces, a veth pair between them.
ip netns add "$ns_c"
ip netns add "$ns_s"
ip link add "v$ns_c" type veth peer name "v$ns_s"
ip link set "v$ns_c" netns "$ns_c"
ip link set "v$ns_s" netns "$ns_s"
in_c ip addr add "$ip_c/24" dev "v$ns_c"
in_s ip addr add "$ip_s/24" dev "v$ns_s"
for n in c s; do
        "in_$n" ip link set lo up
        eval "in_$n ip link set v\$ns_$n up"
done

# link_rate RATE|none: tbf (bench/lib.sh) on the egress of both ends.
link_rate() {
        tbf "$ns_c" "v$ns_c" "$1"
        tbf "$ns_s" "v$ns_s" "$1"
}

# nginx serves the casync-made image (and, on a second port, the image published by acfetch with
# a profile); a delay proxy per RTT and upstream.
port=$(free_port "$ns_s")
port_prof=$(free_port "$ns_s")
while [ "$port_prof" = "$port" ]; do port_prof=$(free_port "$ns_s"); done
mkdir -p "$srv_prof"
bench_nginx_conf "$ngx" "0.0.0.0:$port" "$srv" "0.0.0.0:$port_prof" "$srv_prof"
in_s nginx -p "$ngx" -c "$ngx/nginx.conf"
log=$ngx/logs/access.log
declare -A endpoint # "RTT:UPSTREAM" -> port on $ip_s; RTT p0 is the proxy at +0 ms
declare -A proxy_pid # "RTT:UPSTREAM" -> the delay proxy's pid
proxy_to() {        # RTT UPSTREAM_PORT
        local key=$1:$2 p delay=${1#p}
        [ -z "${endpoint[$key]:-}" ] || return 0
        if [ "$1" = 0 ]; then
                endpoint[$key]=$2
                return
        fi
        p=$(free_port "$ns_s")
        # Not through in_s: $! must be the proxy (nsenter execs it).
        nsenter "--net=/run/netns/$ns_s" "$proxy" "$p" "$2" "$delay" "$ip_s" &
        pids+=($!)
        proxy_pid[$key]=$!
        endpoint[$key]=$p
}
proxy_cpu() { # RTT:UPSTREAM: the proxy's CPU seconds so far (0 without a proxy)
        local pid=${proxy_pid[$1]:-}
        [ -n "$pid" ] || { echo 0; return; }
        awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$pid/stat"
}
for r in $rtts $rate_rtt $mount_rtts 0 p0; do proxy_to "$r" "$port"; done
sleep 0.5
for k in "${!endpoint[@]}"; do
        in_c bash -c "exec 3<>/dev/tcp/$ip_s/${endpoint[$k]}" 2>/dev/null ||
                { echo "nothing answers on $ip_s:${endpoint[$k]} ($k)"; exit 1; }
done

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
# wire_bytes: what nginx sent (headers and bodies) since the log was last emptied.
wire_bytes() { awk '{ s += $6 } END { printf "%d\n", s }' "$log"; }
net() { # PORT: acfetch options reaching example.com through PORT
        echo "--insecure-options=http --local-config=$work/trust --connect-to=example.com:80:$ip_s:$1"
}
fresh() {
        unmount_mp
        mountpoint -q "$fs" && wait_daemon
        if [ "$store" = tmpfs ]; then fresh_tmpfs "$fs"; else fresh_fs "$fs"; fi
        : >"$log"
}
ratio() { if [ -n "$2" ] && [ "$2" != - ]; then printf '%.3f' "$(echo "scale=4; $1 / $2" | bc)"; else echo -; fi; }
med() { printf '%s' "$1" | median; }
mib() { echo "scale=1; $1 / 1048576" | bc; }

tree_mib=$(($(du -sk "$work/rootfs" | cut -f1) / 1024))
echo "image: example.com/debian:1, Debian bookworm minbase + python3-minimal, $tree_mib MiB;" \
        "$(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); median of $runs runs"

# 1. Cold fetch at each RTT, uncapped link.
if has fetch; then
        declare -A acf cas pcpu
        bytes='' check=''
        # The proxy's own cost, against the direct 0 ms: when 0 ms is measured.
        [[ " $rtts " != *" 0 "* ]] || check=p0
        for ((i = 0; i < runs; i++)); do
                for r in $rtts $check; do
                        p=${endpoint[$r:$port]}
                        if [ "$r" != p0 ]; then
                                fresh
                                t=$(timed in_c casync extract "http://$ip_s:$p/debian-1.caidx" "$fs/casync")
                                cas[$r]+="$t"$'\n'
                        fi
                        fresh
                        c0=$(proxy_cpu "$r:$port")
                        # shellcheck disable=SC2046
                        t=$(timed in_c "$acfetch" --dir="$fs/store" fetch $(net "$p") example.com/debian:1)
                        acf[$r]+="$t"$'\n'
                        pcpu[$r]+="$(echo "$(proxy_cpu "$r:$port") - $c0" | bc)"$'\n'
                        bytes=$(wire_bytes)
                done
        done
        echo
        echo "1. cold fetch, uncapped link ($(mib "$bytes") MiB on the wire for acfetch), seconds:"
        printf '%8s %9s %9s %15s %15s %10s\n' RTT acfetch casync acfetch/casync "acfetch/(0 ms)" "proxy CPU"
        a0=-
        [[ " $rtts " != *" 0 "* ]] || a0=$(med "${acf[0]}")
        for r in $rtts; do
                a=$(med "${acf[$r]}") c=$(med "${cas[$r]}")
                printf '%5s ms %9.3f %9.3f %15s %15s %9.2fs\n' "$r" "$a" "$c" "$(ratio "$a" "$c")" \
                        "$(ratio "$a" "$a0")" "$(med "${pcpu[$r]}")"
        done
        if [ -n "$check" ]; then
                pa=$(med "${acf[p0]}")
                pd=$(med "${acf[0]}")
                printf "   delay_proxy's own cost: acfetch through it at +0 ms %.3fs, direct %.3fs, ratio %s\n" \
                        "$pa" "$pd" "$(ratio "$pa" "$pd")"
        fi
fi

# 2. Capped links at $rate_rtt ms.
if has rate; then
        echo
        echo "2. cold acfetch fetch at $rate_rtt ms RTT on a capped link (tbf both ways):"
        printf '%10s %9s %11s %12s %9s %12s\n' rate seconds "MiB (wire)" utilization "floor s" seconds/floor
        p=${endpoint[$rate_rtt:$port]}
        for rate in $rates; do
                ts='' bs=''
                link_rate "$rate"
                for ((i = 0; i < runs; i++)); do
                        fresh
                        # shellcheck disable=SC2046
                        t=$(timed in_c "$acfetch" --dir="$fs/store" fetch $(net "$p") example.com/debian:1)
                        ts+="$t"$'\n'
                        bs+="$(wire_bytes)"$'\n'
                done
                link_rate none
                t=$(med "$ts") b=$(med "$bs") bps=$(rate_bps "$rate")
                floor=$(echo "scale=3; $b * 8 / $bps + 4 * $rate_rtt / 1000" | bc)
                printf '%10s %9.3f %11s %12s %9.3f %12s\n' "$rate" "$t" "$(mib "$b")" \
                        "$(printf %.3f "$(echo "scale=4; $b * 8 / ($t * $bps)" | bc)")" "$floor" "$(ratio "$t" "$floor")"
        done
fi

# 3. Time to the first exec through the lazy mount.
# mount_args PORT: the mount command's arguments (prints them, one a line); root: where the
# image's rootfs is in the mount.
mount_args() {
        if [ "$form" = name ]; then
                # shellcheck disable=SC2046
                printf '%s\n' $(net "$1") example.com/debian:1
        else
                printf '%s\n' --insecure-options=http "--local-config=$work/trust" \
                        "http://$ip_s:$1/$2"
        fi
}
root=$mp
[ "$form" = name ] || root=$mp/rootfs
mount_failed() {
        [ "$form" = url ] ||
                echo "acfetch mount failed (if this acfetch mounts only names already in the store," \
                        "BENCH_MOUNT_FORM=url mounts the index URL instead)" >&2
        exit 1
}
# first_exec PORT INDEX-PATH CMD...: prints "SECONDS BYTES", from an empty store.
first_exec() {
        local p=$1 idx=$2 t0 t b args
        shift 2
        fresh
        mapfile -t args < <(mount_args "$p" "$idx")
        t0=$(now)
        in_c "$acfetch" --quiet --dir="$fs/store" mount "${args[@]}" "$mp" || mount_failed
        chroot "$root" "$@" >/dev/null
        t=$(since "$t0")
        b=$(wire_bytes)
        unmount_mp
        echo "$t $b"
}
full_exec() { # PORT CMD...: fetch, then the command in the rendered tree
        local p=$1 t0 t tree
        shift
        fresh
        t0=$(now)
        # shellcheck disable=SC2046
        in_c "$acfetch" --quiet --dir="$fs/store" fetch $(net "$p") example.com/debian:1 >/dev/null
        tree=$(find "$fs/store/trees" -mindepth 2 -maxdepth 2 -name rootfs | head -n 1)
        chroot "$tree" "$@" >/dev/null
        t=$(since "$t0")
        echo "$t $(wire_bytes)"
}
py=(/usr/bin/python3 -c pass)
sh=(/bin/sh -c true)

# The published profile: recorded by a mount that ran both commands, published with the image.
profile_skip=
prof_idx=
make_profile() {
        local out=() f url
        if ! "$acfetch" publish --help | grep -q -- '--profile'; then
                profile_skip="acfetch publish --help has no --profile: this acfetch has no access profiles"
                return
        fi
        if [ "$form" = url ]; then
                profile_skip="an index-URL mount uses no published profile (BENCH_MOUNT_FORM=name does)"
                return
        fi
        "$acfetch" mount --help | grep -q -- '--profile-out' && out=(--profile-out "$work/link-profile")
        rm -f "$work/link-profile"
        fresh
        mapfile -t args < <(mount_args "$port" debian-1.caidx)
        in_c "$acfetch" --quiet --dir="$fs/store" mount "${out[@]}" "${args[@]}" "$mp" || mount_failed
        chroot "$root" "${py[@]}" >/dev/null
        chroot "$root" "${sh[@]}" >/dev/null
        unmount_mp
        wait_daemon
        if [ ! -s "$work/link-profile" ]; then
                f=$(find "$fs/store/profiles" -type f 2>/dev/null | head -n 1)
                [ -z "$f" ] || cp "$f" "$work/link-profile"
        fi
        if [ ! -s "$work/link-profile" ]; then
                profile_skip="the recording mount ($form form) left no profile in $fs/store/profiles"
                return
        fi
        ! mountpoint -q "$pub/rootfs" || umount "$pub/rootfs"
        ! mountpoint -q "$pub/rootfs" || { echo "$pub/rootfs is still mounted" >&2; exit 1; }
        rm -rf "$pub" "$srv_prof"
        mkdir -p "$pub/rootfs" "$srv_prof"
        bench_manifest 1 >"$pub/manifest"
        mount --bind -o ro "$work/rootfs" "$pub/rootfs"
        url=$("$acfetch" --quiet publish --name=example.com/debian --label=version=1 \
                --sign=bench@example.com --base-url=http://example.com/ \
                --profile="$work/link-profile" "$pub" "$srv_prof")
        umount "$pub/rootfs"
        chmod -R a+rX "$srv_prof"
        prof_idx=${url#http://example.com/}
}

if has mount; then
        for r in $mount_rtts; do proxy_to "$r" "$port_prof"; done
        make_profile
        echo
        echo "3. first exec through \`acfetch mount ${form^^}\` from an empty store (uncapped link):"
        [ -z "$profile_skip" ] || echo "   runs with a profile skipped: $profile_skip"
        printf '%8s  %-9s %-36s %8s %16s\n' RTT profile command seconds "MiB before exit"
        for r in $mount_rtts; do
                declare -A res=()
                for ((i = 0; i < runs; i++)); do
                        p=${endpoint[$r:$port]}
                        for c in py sh; do
                                declare -n cmd=$c
                                x=$(first_exec "$p" debian-1.caidx "${cmd[@]}")
                                res[none-$c]+="$x"$'\n'
                                if [ -z "$profile_skip" ]; then
                                        x=$(first_exec "${endpoint[$r:$port_prof]}" "$prof_idx" "${cmd[@]}")
                                        res[prof-$c]+="$x"$'\n'
                                fi
                                unset -n cmd
                        done
                        x=$(full_exec "$p" "${py[@]}")
                        res[full-py]+="$x"$'\n'
                done
                for k in none-py none-sh prof-py prof-sh full-py; do
                        [ -n "${res[$k]:-}" ] || continue
                        t=$(printf '%s' "${res[$k]}" | cut -d' ' -f1 | median)
                        b=$(printf '%s' "${res[$k]}" | cut -d' ' -f2 | median)
                        case $k in
                        none-*) what="mount, chroot" pr=none ;;
                        prof-*) what="mount, chroot" pr=published ;;
                        full-*) what="fetch, chroot TREE" pr=- ;;
                        esac
                        case $k in *-py) what+=" python3 -c pass" ;; *) what+=" sh -c true" ;; esac
                        printf '%5s ms  %-9s %-36s %8.3f %16s\n' "$r" "$pr" "$what" "$t" "$(mib "$b")"
                done
                unset res
        done
fi

# 4. Variants against each other, taking turns run by run.
# logged FILE CMD...: like timed, keeping CMD's stderr in FILE, each line after the seconds since
# the start (perl's clock: the lines arrive through a pipe as they are written). The pipe's
# reader is waited for, so FILE is whole when it is shown or copied.
logged() {
        local file=$1 t0 t rc=0
        shift
        t0=$(now)
        "$@" >/dev/null 2> >(perl -MTime::HiRes=time -ne \
                'BEGIN { $t0 = time } printf "%7.3f %s", time - $t0, $_' >"$file") || rc=$?
        t=$(since "$t0")
        wait $!
        [ "$rc" = 0 ] || { cat "$file" >&2; exit 1; }
        echo "$t"
}
if has compare; then
        echo
        echo "4. cold acfetch fetch by variant (taking turns run by run), seconds:"
        read -ra variants <<<"$compare"
        [ -z "$logs" ] || mkdir -p "$logs"
        declare -A took
        for ((i = 0; i < runs; i++)); do
                for k in "${!variants[@]}"; do
                        v=${variants[$k]} flags=()
                        [[ "$v" != *:* ]] || IFS=, read -ra flags <<<"${v#*:}"
                        for r in $rtts; do
                                fresh
                                read -ra to <<<"$(net "${endpoint[$r:$port]}")"
                                cmd=(in_c "${v%%:*}/fetcher/acfetch" --dir="$fs/store" fetch "${flags[@]}"
                                        "${to[@]}" example.com/debian:1)
                                if [ -n "$logs" ]; then
                                        name=$logs/$((k + 1))-$r-$((i + 1))
                                        t=$(logged "$name.err" "${cmd[@]}")
                                        cp "$log" "$name.log"
                                else
                                        t=$(timed "${cmd[@]}")
                                fi
                                took[$k:$r]+="$t"$'\n'
                        done
                done
        done
        read -ra rtt_list <<<"$rtts"
        first_rtt=${rtt_list[0]}
        printf '%3s %-40s' "" variant
        for r in $rtts; do printf ' %8s' "$r ms"; done
        for r in "${rtt_list[@]:1}"; do printf ' %14s' "$r/$first_rtt ms"; done
        for r in $rtts; do printf ' %10s' "vs 1 at $r"; done
        echo
        for k in "${!variants[@]}"; do
                printf '%3d %-40s' $((k + 1)) "${variants[$k]}"
                for r in $rtts; do printf ' %8.3f' "$(med "${took[$k:$r]}")"; done
                for r in "${rtt_list[@]:1}"; do
                        printf ' %14s' "$(ratio "$(med "${took[$k:$r]}")" "$(med "${took[$k:$first_rtt]}")")"
                done
                for r in $rtts; do
                        printf ' %10s' "$(ratio "$(med "${took[$k:$r]}")" "$(med "${took[0:$r]}")")"
                done
                echo
        done
fi
