#!/bin/sh
# Seeds for `acfetch mount`, against indexes made by Debian's casync and served by nginx. Nothing
# reads the mount until it logs that every chunk is local, so the chunk requests nginx logged are
# what the seeds left to the prefetch, plus what the mount itself reads to check its root before
# it is up (measured first by a mount without seed and prefetch):
#  1. an index URL mounted with --seed DIR (v1's tree) into an empty --dir: exactly the chunks v2
#     has and v1 lacks are downloaded (besides those read before the mount was up), each once;
#     the mount shows v2 (casync mtree); reading it all afterwards downloads nothing; an offline
#     extract from <dir>/chunks alone gives v2.
#  2. an image mounted by NAME with the store's chunks removed: the newest rendered tree of the
#     name (v1's; v2 was fetched with --no-render) is a seed, so only the chunks v2 alone has are
#     downloaded; with --no-auto-seed every chunk is; once v2 is rendered, its own tree supplies
#     everything. After each, <dir>/chunks holds v2's chunks, each intact; `acfetch verify`
#     passes at the end (v1 fetched again).
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
# shellcheck source=tests/mount/lib.sh
. "$SRCDIR/tests/mount/lib.sh"
mnt_init
fe_init
trap 'mnt_cleanup_all' EXIT
mnt_cleanup_all() {
        rc=$?
        for d in $MNT_ALL; do
                if is_mounted "$d"; then mnt_umount "$d" || true; fi
        done
        for p in $MNT_PIDS; do
                kill "$p" 2>/dev/null || true
        done
        _fe_gpg_stop
        http_cleanup
        [ "${KEEP:-0}" = 1 ] || rm -rf "$MT"
        exit $rc
}
command -v zstd >/dev/null 2>&1 || fail "zstd is not installed (it checks the chunk files)"

# ------------------------------------------------------------------------------ helpers

ids() { # INDEX OUT: the distinct chunk IDs of INDEX, sorted
        caidx_ids "$1" | sort -u >"$2"
}

# wait_local LOG: until the mount logs that every chunk is local (a minute at most).
wait_local() {
        _wl_i=0
        while ! grep -q 'chunks are local now' "$1" && [ $_wl_i -lt 600 ]; do
                if ! kill -0 "$MNT_PID" 2>/dev/null; then
                        cat "$1" >&2
                        fail "the mount process exited before its chunks were local"
                fi
                sleep 0.1
                _wl_i=$((_wl_i + 1))
        done
        grep -q 'chunks are local now' "$1" || {
                cat "$1" >&2
                fail "the mount never logged that all chunks are local"
        }
}

# startup_chunks OUT ARGS...: the chunks a mount with ARGS (no prefetch, no seed, an empty chunk
# store) downloads before it is up, i.e. what it reads to check its root: into OUT, sorted.
startup_chunks() {
        _sc_out=$1
        shift
        log_mark
        mnt_start "$MT/startup.log" "$@"
        mnt_stop
        fe_chunk_requests | sort -u >"$_sc_out"
        expect_ge "chunks read to mount $*" "$(wc -l <"$_sc_out")" 1
}

# expect_mount_downloads WHAT EXPECTED_IDS STARTUP_IDS: since log_mark, each chunk of
# EXPECTED_IDS (what no seed holds), some of STARTUP_IDS (what the mount reads before it is up and
# seeds are applied) was requested once, and nothing else.
expect_mount_downloads() {
        fe_chunk_requests >"$MT/req.all"
        sort -u "$MT/req.all" >"$MT/req.ids"
        sort -u "$2" "$3" >"$MT/want.ids"
        # Every chunk no seed holds, and beyond those only chunks the mount may read before its
        # seeds run (whether the kernel's first lookups come before or after them is timing).
        if [ -n "$(comm -23 "$2" "$MT/req.ids")" ] ||
                [ -n "$(comm -13 "$MT/want.ids" "$MT/req.ids")" ]; then
                echo "chunk IDs expected only (<) and downloaded only (>):" >&2
                diff "$MT/want.ids" "$MT/req.ids" | grep '^[<>]' | head -n 20 >&2 || true
                fail "$1: $(wc -l <"$MT/req.ids") chunks downloaded, expected $(wc -l <"$2")" \
                        "no seed holds and the $(wc -l <"$3") read before the mount was up" \
                        "($(wc -l <"$MT/want.ids") in all)"
        fi
        expect_eq "$1: repeated chunk requests" "$(wc -l <"$MT/req.all")" \
                "$(wc -l <"$MT/req.ids")"
        echo "ok: $1 ($(wc -l <"$MT/req.ids") chunks downloaded, $(comm -23 "$MT/req.ids" "$2" |
                wc -l) of them only because the mount read them before it was up)"
}

# check_store D IDS WHAT: D/chunks holds only sound chunk files (cache_bad_files), and every
# chunk of the file IDS. (Not `acfetch verify`: the store keeps v1, whose chunks were removed.)
check_store() {
        _cs_bad=$(cache_bad_files "$1")
        [ -z "$_cs_bad" ] || fail "$3: bad chunk files in $1/chunks: $(echo "$_cs_bad" | head -n 5)"
        _cs_missing=$(while read -r _cs_id; do
                [ -f "$1/chunks/$(chunk_rel "$_cs_id")" ] || echo "$_cs_id"
        done <"$2" | wc -l)
        expect_eq "$3: chunks missing from $1/chunks" "$_cs_missing" 0
}

# ------------------------------------------------------------------------------ inputs

# 1. Two trees and their indexes, at https://images.test/raw/.
v1=$MT/v1
v2=$MT/v2
fetch_make_mixed_tree "$v1"
cp -a "$v1" "$v2"
overwrite_at "$v2/c/change.bin" 400000 200000
head -c 300000 /dev/urandom >"$v2/a/b/new.bin"
raw=$WWW/images.test/raw
mkdir -p "$raw"
casync make --chunk-size=16K --store="$raw/default.castr" "$raw/v1.caidx" "$v1" >/dev/null ||
        fail "casync make v1.caidx"
casync make --chunk-size=16K --store="$raw/default.castr" "$raw/v2.caidx" "$v2" >/dev/null ||
        fail "casync make v2.caidx"
ids "$raw/v1.caidx" "$MT/v1.ids"
ids "$raw/v2.caidx" "$MT/v2.ids"
comm -13 "$MT/v1.ids" "$MT/v2.ids" >"$MT/new.ids"
echo "v2: $(wc -l <"$MT/v2.ids") distinct chunks, $(wc -l <"$MT/new.ids") of them not in v1"
expect_ge "chunks only v2 has" "$(wc -l <"$MT/new.ids")" 5
expect_ge "chunks v1 and v2 share" "$(comm -12 "$MT/v1.ids" "$MT/v2.ids" | wc -l)" 100

# 2. Two versions of an image, found by discovery.
name=example.com/seed/app
img=$WWW/images.test/example.com/seed
fe_image "$SRC/i1" "$name" 3072 version=1
cp -a "$SRC/i1" "$SRC/i2"
fe_manifest "$SRC/i2" "$name" version=2 "os=$HOST_OS" "arch=$HOST_ARCH"
overwrite_at "$SRC/i2/rootfs/f0" 1000000 262144
fe_publish "$img/app-1.caidx" "$SRC/i1"
fe_publish "$img/app-2.caidx" "$SRC/i2"
fe_page "$WWW/example.com" example.com 'https://images.test/{name}-{version}.caidx'
ids "$img/app-1.caidx" "$MT/i1.ids"
ids "$img/app-2.caidx" "$MT/i2.ids"
comm -13 "$MT/i1.ids" "$MT/i2.ids" >"$MT/inew.ids"
expect_ge "chunks only image v2 has" "$(wc -l <"$MT/inew.ids")" 2
expect_ge "chunks image v1 and v2 share" "$(comm -12 "$MT/i1.ids" "$MT/i2.ids" | wc -l)" 100

fe_nginx_start
mkdir -p "$MT/mnt"

# ------------------------------------------------------------------------------ 1. --seed DIR

startup_chunks "$MT/startup1.ids" --dir "$MT/d0" mount -f --no-prefetch $NET \
        https://images.test/raw/v2.caidx "$MT/mnt"
log_mark
mnt_start "$MT/m1.log" --dir "$MT/d1" --debug mount -f $NET --seed="$v1" \
        https://images.test/raw/v2.caidx "$MT/mnt"
wait_local "$MT/m1.log"
expect_mount_downloads "mount --seed DIR" "$MT/new.ids" "$MT/startup1.ids"
fe_same_tree "$v2" "$MT/mnt" strict
(cd "$v2" && find . -type f -exec sha256sum {} + | sort) >"$MT/v2.sums"
(cd "$MT/mnt" && find . -type f -exec sha256sum {} + | sort) >"$MT/mnt.sums"
cmp -s "$MT/v2.sums" "$MT/mnt.sums" || fail "mount --seed DIR: file contents differ from v2"
expect_eq "chunk requests reading the whole mount once it is local" \
        "$(fe_chunk_requests | wc -l)" "$(wc -l <"$MT/req.all")"
mnt_stop
check_store "$MT/d1" "$MT/v2.ids" "mount --seed DIR"
acf --dir="$MT/d1" extract --store="$MT/d1/chunks" "$raw/v2.caidx" "$MT/out1"
expect_rc 0 "mount --seed DIR: offline extract from <dir>/chunks alone"
fe_same_tree "$v2" "$MT/out1" strict
echo "ok: mount --seed DIR"

# ------------------------------------------------------------------------------ 2. NAME, auto seed

D=$HTTP_TMP/store
acf --dir="$D" fetch $NET "$name:1"
expect_rc 0 "fetch image v1 (rendered)"
acf --dir="$D" fetch $NET --no-render "$name:2"
expect_rc 0 "fetch image v2 (not rendered)"
rm -rf "$D/chunks"
startup_chunks "$MT/startup2.ids" --dir "$D" mount -f --no-prefetch --no-auto-seed $NET \
        "$name:2" "$MT/mnt"
rm -rf "$D/chunks"
log_mark
mnt_start "$MT/m2.log" --dir "$D" --debug mount -f $NET "$name:2" "$MT/mnt"
wait_local "$MT/m2.log"
expect_mount_downloads "mount NAME, v1's tree as the automatic seed" "$MT/inew.ids" \
        "$MT/startup2.ids"
fe_same_tree "$SRC/i2/rootfs" "$MT/mnt" strict
mnt_stop
check_store "$D" "$MT/i2.ids" "after the seeded mount"

rm -rf "$D/chunks"
log_mark
mnt_start "$MT/m3.log" --dir "$D" mount -f $NET --no-auto-seed "$name:2" "$MT/mnt"
wait_local "$MT/m3.log"
fe_chunk_requests >"$MT/req3.all"
expect_eq "mount NAME --no-auto-seed: distinct chunks downloaded" \
        "$(sort -u "$MT/req3.all" | wc -l)" "$(wc -l <"$MT/i2.ids")"
expect_eq "mount NAME --no-auto-seed: repeated chunk requests" "$(wc -l <"$MT/req3.all")" \
        "$(wc -l <"$MT/i2.ids")"
fe_same_tree "$SRC/i2/rootfs" "$MT/mnt" strict
mnt_stop
check_store "$D" "$MT/i2.ids" "after the unseeded mount"
echo "ok: mount NAME: --no-auto-seed"

# Once v2 is rendered too, its own tree is the newest: the mount downloads nothing it did not
# need before it was up.
acf --dir="$D" fetch $NET "$name:2"
expect_rc 0 "fetch image v2 again, rendered"
rm -rf "$D/chunks"
: >"$MT/none.ids"
log_mark
mnt_start "$MT/m4.log" --dir "$D" --debug mount -f $NET "$name:2" "$MT/mnt"
wait_local "$MT/m4.log"
expect_mount_downloads "mount NAME, its own rendered tree as the automatic seed" \
        "$MT/none.ids" "$MT/startup2.ids"
fe_same_tree "$SRC/i2/rootfs" "$MT/mnt" strict
mnt_stop
check_store "$D" "$MT/i2.ids" "after the mount seeded by its own tree"
acf --dir="$D" fetch $NET "$name:1"
expect_rc 0 "fetch image v1 again (its chunks were removed)"
acf --dir="$D" verify
expect_rc 0 "verify at the end"

echo "mount_seed passed"
