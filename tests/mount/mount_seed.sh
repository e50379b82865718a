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
        mnt_start "$TEST_TMP/startup.log" "$@"
        mnt_stop
        fe_chunk_requests | sort -u >"$_sc_out"
        expect_ge "chunks read to mount $*" "$(wc -l <"$_sc_out")" 1
}

# expect_mount_downloads WHAT EXPECTED_IDS STARTUP_IDS: since log_mark, each chunk of
# EXPECTED_IDS (what no seed holds), some of STARTUP_IDS (what the mount reads before it is up and
# seeds are applied) was requested once, and nothing else.
expect_mount_downloads() {
        fe_chunk_requests >"$TEST_TMP/req.all"
        sort -u "$TEST_TMP/req.all" >"$TEST_TMP/req.ids"
        sort -u "$2" "$3" >"$TEST_TMP/want.ids"
        # Every chunk no seed holds, and beyond those only chunks the mount may read before its
        # seeds run (whether the kernel's first lookups come before or after them is timing).
        if [ -n "$(comm -23 "$2" "$TEST_TMP/req.ids")" ] ||
                [ -n "$(comm -13 "$TEST_TMP/want.ids" "$TEST_TMP/req.ids")" ]; then
                echo "chunk IDs expected only (<) and downloaded only (>):" >&2
                diff "$TEST_TMP/want.ids" "$TEST_TMP/req.ids" | grep '^[<>]' | head -n 20 >&2 || true
                fail "$1: $(wc -l <"$TEST_TMP/req.ids") chunks downloaded, expected $(wc -l <"$2")" \
                        "no seed holds and the $(wc -l <"$3") read before the mount was up" \
                        "($(wc -l <"$TEST_TMP/want.ids") in all)"
        fi
        expect_eq "$1: repeated chunk requests" "$(wc -l <"$TEST_TMP/req.all")" \
                "$(wc -l <"$TEST_TMP/req.ids")"
        echo "ok: $1 ($(wc -l <"$TEST_TMP/req.ids") chunks downloaded, $(comm -23 "$TEST_TMP/req.ids" "$2" |
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
v1=$TEST_TMP/v1
v2=$TEST_TMP/v2
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
ids "$raw/v1.caidx" "$TEST_TMP/v1.ids"
ids "$raw/v2.caidx" "$TEST_TMP/v2.ids"
comm -13 "$TEST_TMP/v1.ids" "$TEST_TMP/v2.ids" >"$TEST_TMP/new.ids"
echo "v2: $(wc -l <"$TEST_TMP/v2.ids") distinct chunks, $(wc -l <"$TEST_TMP/new.ids") of them not in v1"
expect_ge "chunks only v2 has" "$(wc -l <"$TEST_TMP/new.ids")" 5
expect_ge "chunks v1 and v2 share" "$(comm -12 "$TEST_TMP/v1.ids" "$TEST_TMP/v2.ids" | wc -l)" 100

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
ids "$img/app-1.caidx" "$TEST_TMP/i1.ids"
ids "$img/app-2.caidx" "$TEST_TMP/i2.ids"
comm -13 "$TEST_TMP/i1.ids" "$TEST_TMP/i2.ids" >"$TEST_TMP/inew.ids"
expect_ge "chunks only image v2 has" "$(wc -l <"$TEST_TMP/inew.ids")" 2
expect_ge "chunks image v1 and v2 share" "$(comm -12 "$TEST_TMP/i1.ids" "$TEST_TMP/i2.ids" | wc -l)" 100

fe_nginx_start
mkdir -p "$TEST_TMP/mnt"

# ------------------------------------------------------------------------------ 1. --seed DIR

startup_chunks "$TEST_TMP/startup1.ids" --dir "$TEST_TMP/d0" mount -f --no-prefetch $NET \
        https://images.test/raw/v2.caidx "$TEST_TMP/mnt"
log_mark
mnt_start "$TEST_TMP/m1.log" --dir "$TEST_TMP/d1" --debug mount -f $NET --seed="$v1" \
        https://images.test/raw/v2.caidx "$TEST_TMP/mnt"
wait_local "$TEST_TMP/m1.log"
expect_mount_downloads "mount --seed DIR" "$TEST_TMP/new.ids" "$TEST_TMP/startup1.ids"
fe_same_tree "$v2" "$TEST_TMP/mnt" strict
(cd "$v2" && find . -type f -exec sha256sum {} + | sort) >"$TEST_TMP/v2.sums"
(cd "$TEST_TMP/mnt" && find . -type f -exec sha256sum {} + | sort) >"$TEST_TMP/mnt.sums"
cmp -s "$TEST_TMP/v2.sums" "$TEST_TMP/mnt.sums" || fail "mount --seed DIR: file contents differ from v2"
expect_eq "chunk requests reading the whole mount once it is local" \
        "$(fe_chunk_requests | wc -l)" "$(wc -l <"$TEST_TMP/req.all")"
mnt_stop
check_store "$TEST_TMP/d1" "$TEST_TMP/v2.ids" "mount --seed DIR"
acf --dir="$TEST_TMP/d1" extract --store="$TEST_TMP/d1/chunks" "$raw/v2.caidx" "$TEST_TMP/out1"
expect_rc 0 "mount --seed DIR: offline extract from <dir>/chunks alone"
fe_same_tree "$v2" "$TEST_TMP/out1" strict
echo "ok: mount --seed DIR"

# ------------------------------------------------------------------------------ 2. NAME, auto seed

D=$TEST_TMP/store
acf --dir="$D" fetch $NET "$name:1"
expect_rc 0 "fetch image v1 (rendered)"
acf --dir="$D" fetch $NET --no-render "$name:2"
expect_rc 0 "fetch image v2 (not rendered)"
rm -rf "$D/chunks"
startup_chunks "$TEST_TMP/startup2.ids" --dir "$D" mount -f --no-prefetch --no-auto-seed $NET \
        "$name:2" "$TEST_TMP/mnt"
rm -rf "$D/chunks"
log_mark
mnt_start "$TEST_TMP/m2.log" --dir "$D" --debug mount -f $NET "$name:2" "$TEST_TMP/mnt"
wait_local "$TEST_TMP/m2.log"
expect_mount_downloads "mount NAME, v1's tree as the automatic seed" "$TEST_TMP/inew.ids" \
        "$TEST_TMP/startup2.ids"
fe_same_tree "$SRC/i2/rootfs" "$TEST_TMP/mnt" strict
mnt_stop
check_store "$D" "$TEST_TMP/i2.ids" "after the seeded mount"

rm -rf "$D/chunks"
log_mark
mnt_start "$TEST_TMP/m3.log" --dir "$D" mount -f $NET --no-auto-seed "$name:2" "$TEST_TMP/mnt"
wait_local "$TEST_TMP/m3.log"
fe_chunk_requests >"$TEST_TMP/req3.all"
expect_eq "mount NAME --no-auto-seed: distinct chunks downloaded" \
        "$(sort -u "$TEST_TMP/req3.all" | wc -l)" "$(wc -l <"$TEST_TMP/i2.ids")"
expect_eq "mount NAME --no-auto-seed: repeated chunk requests" "$(wc -l <"$TEST_TMP/req3.all")" \
        "$(wc -l <"$TEST_TMP/i2.ids")"
fe_same_tree "$SRC/i2/rootfs" "$TEST_TMP/mnt" strict
mnt_stop
check_store "$D" "$TEST_TMP/i2.ids" "after the unseeded mount"
echo "ok: mount NAME: --no-auto-seed"

# Once v2 is rendered too, its own tree is the newest: the mount downloads nothing it did not
# need before it was up.
acf --dir="$D" fetch $NET "$name:2"
expect_rc 0 "fetch image v2 again, rendered"
rm -rf "$D/chunks"
: >"$TEST_TMP/none.ids"
log_mark
mnt_start "$TEST_TMP/m4.log" --dir "$D" --debug mount -f $NET "$name:2" "$TEST_TMP/mnt"
wait_local "$TEST_TMP/m4.log"
expect_mount_downloads "mount NAME, its own rendered tree as the automatic seed" \
        "$TEST_TMP/none.ids" "$TEST_TMP/startup2.ids"
fe_same_tree "$SRC/i2/rootfs" "$TEST_TMP/mnt" strict
mnt_stop
check_store "$D" "$TEST_TMP/i2.ids" "after the mount seeded by its own tree"
acf --dir="$D" fetch $NET "$name:1"
expect_rc 0 "fetch image v1 again (its chunks were removed)"
acf --dir="$D" verify
expect_rc 0 "verify at the end"

echo "mount_seed passed"
