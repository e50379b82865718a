# Shared by the benchmark scripts (sourced). Every measured run writes into a freshly made ext4
# file system on a loop device backed by a file on the same disk: on a file system that has just
# deleted tens of thousands of inodes, ext4's inode allocator spends most of its time skipping
# them (recently_deleted), which would measure the previous run's cleanup, not the tool.

# fresh_fs DIR [SIZE]: (re)creates an empty ext4 file system mounted at DIR, SIZE (truncate's
# units, default 4G) when its backing file is made. The previous run's data, written through
# the loop device into the backing file's page cache, is flushed before it returns: left to
# the kernel's writeback, it was written during the next measured run (0 ms fetches took 2.3
# to 4.3 s from one run to the next; 2.25 to 2.55 s with the flush).
fresh_fs() {
        mountpoint -q "$1" && umount "$1"
        mkdir -p "$1"
        [ -f "$1.img" ] || truncate -s "${2:-4G}" "$1.img"
        mkfs.ext4 -q -F "$1.img"
        mount -o loop "$1.img" "$1"
        sync
}

# fresh_tmpfs DIR: (re)mounts an empty tmpfs at DIR: no disk at all, for comparisons of the
# network side that the host disk's noise would hide.
fresh_tmpfs() {
        mountpoint -q "$1" && umount "$1"
        mkdir -p "$1"
        mount -t tmpfs -o size=4g tmpfs "$1"
}

# drop_fs DIR: unmounts and deletes it.
drop_fs() {
        mountpoint -q "$1" && umount "$1"
        rm -f "$1.img"
        rmdir "$1" 2>/dev/null || true
}

# cold_cache: the chunk store is read from disk, as on a machine that did not just write it.
cold_cache() {
        sync
        echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# timed CMD...: runs CMD, its output discarded, and prints the wall seconds it took; if it fails,
# shows its stderr and exits.
timed() {
        local t0 t1 err
        err=$(mktemp)
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>"$err" || { cat "$err" >&2; rm -f "$err"; exit 1; }
        t1=$(date +%s.%N)
        rm -f "$err"
        echo "$t1 - $t0" | bc
}

# median: the median of the numbers on stdin, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# rate_bps RATE: tc's rate (100mbit, 1gbit, ...) in bit/s.
rate_bps() {
        local n m
        case $1 in
        *[kK][bB][iI][tT]) n=${1%????} m=1000 ;;
        *[mM][bB][iI][tT]) n=${1%????} m=1000000 ;;
        *[gG][bB][iI][tT]) n=${1%????} m=1000000000 ;;
        *[bB][iI][tT]) n=${1%???} m=1 ;;
        *) n=$1 m=1 ;;
        esac
        case $n in '' | *[!0-9.]* | *.*.*) echo "not a rate: $1 (use bit, kbit, mbit or gbit)" >&2; return 1 ;; esac
        echo "$n * $m / 1" | bc
}

# tbf NETNS DEV RATE|none: caps the egress of DEV (in the network namespace NETNS) to RATE with
# `tc tbf`, a burst of 2 ms (at least 128 KiB, as segmentation offload hands tbf 64 KiB
# packets); none removes the cap.
tbf() {
        local bps burst
        tc -n "$1" qdisc del dev "$2" root 2>/dev/null || true
        [ "$3" != none ] || return 0
        bps=$(rate_bps "$3")
        burst=$(echo "b = $bps / 8 / 500; if (b < 131072) b = 131072; b" | bc)
        tc -n "$1" qdisc add dev "$2" root tbf rate "$3" burst "$burst" latency 100ms
}

# caidx_ids INDEX: the chunk IDs of a casync index, one a line, in order. Items start at byte 64:
# an 8-byte end offset and a 32-byte ID each; a 40-byte tail follows.
caidx_ids() {
        local n
        n=$((($(wc -c <"$1") - 104) / 40))
        [ "$n" -gt 0 ] || return 0
        od -An -v -tx1 -j64 -N$((n * 40)) "$1" | tr -d ' \n' | fold -w 80 | cut -c17-80
}

# chunk_bytes STORE: the total size of the chunk files of STORE named by the IDs on stdin.
chunk_bytes() {
        awk -v s="$1" '{ print s "/" substr($1, 1, 4) "/" $1 ".cacnk" }' | xargs -r stat -c %s |
                awk '{ s += $1 } END { printf "%d\n", s }'
}

# free_port [NETNS]: prints a TCP port no socket uses (in NETNS, a name from `ip netns`).
free_port() {
        local p ss=(ss)
        [ -z "${1:-}" ] || ss=(nsenter "--net=/run/netns/$1" ss)
        while :; do
                p=$((20000 + RANDOM % 30000))
                "${ss[@]}" -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
        done
}

# The Debian image of the fetch and link benchmarks, built once and cached in WORK.

# bench_rootfs WORK: WORK/rootfs, a Debian bookworm minbase with python3-minimal (for the time to
# a first exec of an interpreter through a lazy mount, bench/link.sh). Rebuilt if made before
# python3 was included.
bench_rootfs() {
        local work=$1
        [ ! -f "$work/rootfs.done" ] || [ -x "$work/rootfs/usr/bin/python3" ] || rm "$work/rootfs.done"
        [ ! -f "$work/rootfs.done" ] || return 0
        echo "building the Debian rootfs with debootstrap (once) into $work/rootfs" >&2
        rm -rf "$work/rootfs"
        debootstrap --variant=minbase --include=python3-minimal bookworm "$work/rootfs" \
                >"$work/debootstrap.log" 2>&1 || { tail "$work/debootstrap.log" >&2; return 1; }
        touch "$work/rootfs.done"
}

# bench_manifest VERSION: the image manifest of example.com/debian, version VERSION.
bench_manifest() {
        printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/debian",'
        printf '"labels":[{"name":"version","value":"%s"},{"name":"os","value":"linux"},' "$1"
        printf '{"name":"arch","value":"amd64"}],"app":{"exec":["/bin/sh"],"user":"0","group":"0"}}'
}

# bench_images WORK: WORK/aci/srv holds debian-1.caidx (manifest + the rootfs) and debian-2.caidx
# (v1 with a few files changed and an 8 MiB file added, as a small update would be), made by
# casync make into default.castr beside them. Remade when the rootfs is newer.
bench_images() {
        local work=$1 aci=$1/aci
        local srv=$aci/srv
        [ ! -f "$srv/debian-2.caidx" ] || [ "$work/rootfs.done" -nt "$srv/debian-2.caidx" ] || return 0
        # Never rm -rf through a bind mount of the real rootfs left by an interrupted run.
        ! mountpoint -q "$aci/v1/rootfs" || umount "$aci/v1/rootfs"
        rm -rf "$aci"
        mkdir -p "$aci/v1/rootfs" "$srv/debian"
        bench_manifest 1 >"$aci/v1/manifest"
        # rootfs/ is bind-mounted (read-only) rather than copied.
        mount --bind -o ro "$work/rootfs" "$aci/v1/rootfs"
        casync make --store="$srv/default.castr" "$srv/debian-1.caidx" "$aci/v1" >/dev/null
        umount "$aci/v1/rootfs"
        mkdir -p "$aci/v2"
        cp -a "$work/rootfs" "$aci/v2/rootfs"
        bench_manifest 2 >"$aci/v2/manifest"
        echo "v2" >>"$aci/v2/rootfs/etc/debian_version"
        head -c $((8 << 20)) /dev/urandom >"$aci/v2/rootfs/usr/lib/v2-blob"
        find "$aci/v2/rootfs/usr/share/doc" -name copyright | sed -n 1,50p |
                while read -r f; do echo "v2" >>"$f"; done
        casync make --store="$srv/default.castr" "$srv/debian-2.caidx" "$aci/v2" >/dev/null
        rm -rf "$aci/v2"
}

# bench_trust WORK ACFETCH: a signing key made once (GNUPGHOME=WORK/gnupg, exported), trusted as
# a root key in the acfetch config WORK/trust (pass --local-config=WORK/trust).
bench_trust() {
        export GNUPGHOME=$1/gnupg
        [ ! -f "$1/trust.done" ] || return 0
        rm -rf "$GNUPGHOME" "$1/trust"
        mkdir -m 0700 "$GNUPGHOME"
        gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
                --quick-gen-key 'acfetch bench <bench@example.com>' ed25519 sign never 2>/dev/null
        gpg --batch --quiet --armor --export bench@example.com >"$1/bench-key.asc"
        "$2" --local-config="$1/trust" trust --root --skip-fingerprint-review \
                "$1/bench-key.asc" >/dev/null 2>&1
        touch "$1/trust.done"
}

# bench_publish WORK: signs WORK/aci/srv's indexes (again when remade) and writes the discovery
# page of example.com/debian, for nginx serving WORK/aci/srv as http://example.com/.
bench_publish() {
        local srv=$1/aci/srv v
        for v in 1 2; do
                [ "$srv/debian-$v.caidx.asc" -nt "$srv/debian-$v.caidx" ] ||
                        gpg --batch --quiet --yes --armor --detach-sign --local-user bench@example.com \
                                --output "$srv/debian-$v.caidx.asc" "$srv/debian-$v.caidx"
        done
        cat >"$srv/debian/index.html" <<'HTML'
<html><head><meta name="ac-discovery" content="example.com/debian http://example.com/debian-{version}.caidx"></head></html>
HTML
        chmod -R a+rX "$srv"
}

# bench_debian WORK ACFETCH: all of the above; the document root is WORK/aci/srv.
bench_debian() {
        bench_rootfs "$1"
        bench_images "$1"
        bench_trust "$1" "$2"
        bench_publish "$1"
}

# bench_nginx_conf DIR LISTEN ROOT [LISTEN ROOT...]: writes DIR/nginx.conf for `nginx -p DIR -c
# DIR/nginx.conf`, a server per LISTEN (address:port) serving ROOT (DIR/index.html for DIR/).
# DIR/logs/access.log has a line per request:
#   METHOD URI PROTOCOL STATUS BODY_BYTES BYTES_SENT(with the headers) MSEC(when it ended)
bench_nginx_conf() {
        local dir=$1 t
        shift
        rm -rf "$dir"
        mkdir -p "$dir/logs" "$dir/tmp"
        {
                printf '%s\n' "worker_processes 2;" "pid $dir/nginx.pid;" \
                        "error_log $dir/logs/error.log;" "events { worker_connections 4096; }" "http {"
                printf '\t%s\n' "log_format bytes '\$request \$status \$body_bytes_sent \$bytes_sent \$msec';" \
                        "access_log $dir/logs/access.log bytes;" "sendfile on;" \
                        "keepalive_requests 100000;"
                for t in client_body proxy fastcgi uwsgi scgi; do
                        printf '\t%s\n' "${t}_temp_path $dir/tmp;"
                done
                while [ $# -ge 2 ]; do
                        printf '\t%s\n' "server {" "	listen $1;" "	root $2;" \
                                "	location / { try_files \$uri/index.html \$uri =404; }" "}"
                        shift 2
                done
                echo "}"
        } >"$dir/nginx.conf"
}
