#!/bin/sh
# Seeds: an update with an empty chunk store but v1's rendered tree present downloads exactly the
# chunks v2 has and v1 lacks (the tree is chunked again as the image was); an explicit --seed
# directory does the same; an unchanged seed is not chunked again while its chunks are stored; a
# changed seed file is detected (the seed is chunked again) and its old chunks are not used.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init

host=seed.example.com
name=$host/app
img=$WWW/$host/img/$host

fe_image "$SRC/v1" "$name" 2048 version=1
cp -a "$SRC/v1" "$SRC/v2"
fe_manifest "$SRC/v2" "$name" version=2 "os=$HOST_OS" "arch=$HOST_ARCH"
head -c 262144 /dev/urandom | dd of="$SRC/v2/rootfs/f0" bs=1024 seek=600 conv=notrunc 2>/dev/null
fe_publish "$img/app-1.caidx" "$SRC/v1"
fe_publish "$img/app-2.caidx" "$SRC/v2"
fe_page "$WWW/$host" "$host" "https://$host/img/{name}-{version}.caidx"
caidx_ids "$img/app-1.caidx" | sort -u >"$TEST_TMP/v1.ids"
caidx_ids "$img/app-2.caidx" | sort -u >"$TEST_TMP/v2.ids"
comm -13 "$TEST_TMP/v1.ids" "$TEST_TMP/v2.ids" >"$TEST_TMP/new.ids"
expect_ge "chunks only v2 has" "$(wc -l <"$TEST_TMP/new.ids")" 2
expect_ge "chunks v1 and v2 share" "$(comm -12 "$TEST_TMP/v1.ids" "$TEST_TMP/v2.ids" | wc -l)" 40
fe_nginx_start

# --- the previous version's tree is a seed, with the chunk store emptied ----------------------
D=$TEST_TMP/store
acf --dir="$D" fetch $NET "$name:1"
expect_rc 0 "fetch v1"
rm -rf "$D/chunks"
log_mark
acf --dir="$D" --debug fetch $NET --full "$name:2"
expect_rc 0 "fetch v2 seeded by v1's tree"
fe_same_rootfs "$SRC/v2" "$D/trees/$(cat "$OUT")"
fe_chunk_requests | sort -u >"$TEST_TMP/req.ids"
expect_eq "chunks downloaded with v1's tree as the seed" "$(cat "$TEST_TMP/req.ids")" \
        "$(cat "$TEST_TMP/new.ids")"
expect_eq "repeated chunk requests" "$(fe_chunk_requests | wc -l)" "$(wc -l <"$TEST_TMP/req.ids")"
echo "ok: v1's tree supplied every chunk it could ($(wc -l <"$TEST_TMP/new.ids") downloaded)"

# --- an automatic seed that cannot supply anything is not read --------------------------------
# v1 fetched with its chunks local: v1's tree would give back only v1's chunks, all local, so
# the update to v2 downloads what v2 adds without cutting the tree (issue 14: cutting a large
# tree doubled a fast update).
DS=$TEST_TMP/store-skip
acf --dir="$DS" fetch $NET "$name:1"
expect_rc 0 "fetch v1 (skip)"
log_mark
acf --dir="$DS" --debug fetch $NET --full "$name:2"
expect_rc 0 "fetch v2 with every chunk of v1 local"
fe_same_rootfs "$SRC/v2" "$DS/trees/$(cat "$OUT")"
grep -q "seed $DS/trees/sha512-[0-9a-f]*: not read: it is the tree of an image whose [0-9]* chunks are all local" \
        "$ERR" || fail "the automatic seed was not skipped: $(grep seed "$ERR")"
! grep -q "cut into" "$ERR" || fail "the automatic seed was cut: $(grep seed "$ERR")"
[ -z "$(ls -A "$DS/seeds" 2>/dev/null)" ] || fail "a seed cut was recorded: $(ls "$DS/seeds")"
expect_eq "chunks downloaded with the seed skipped" "$(fe_chunk_requests | sort -u)" \
        "$(cat "$TEST_TMP/new.ids")"
echo "ok: an automatic seed that can supply nothing is skipped"

# Without the automatic seed, everything is downloaded.
D0=$TEST_TMP/store0
acf --dir="$D0" fetch $NET "$name:1"
rm -rf "$D0/chunks"
log_mark
acf --dir="$D0" fetch $NET --no-auto-seed "$name:2"
expect_rc 0 "fetch v2 without the seed"
expect_eq "chunks downloaded without a seed" "$(fe_chunk_requests | sort -u | wc -l)" \
        "$(wc -l <"$TEST_TMP/v2.ids")"
echo "ok: --no-auto-seed"

# --- an explicit --seed directory -------------------------------------------------------------
seed=$TEST_TMP/seed
cp -a "$SRC/v1" "$seed"
D2=$TEST_TMP/store2
log_mark
acf --dir="$D2" fetch $NET --json --seed="$seed" "$name:2"
expect_rc 0 "fetch v2 with --seed"
expect_eq "chunks downloaded with --seed" "$(fe_chunk_requests | sort -u)" "$(cat "$TEST_TMP/new.ids")"
expect_eq "chunks_seeded in --json" "$(json_int chunks_seeded)" \
        "$(comm -12 "$TEST_TMP/v1.ids" "$TEST_TMP/v2.ids" | wc -l)"
# Unchanged, with its chunks stored: not chunked again. v2 is removed with the chunks only v2
# has, so the next fetch needs them and asks the seed first.
acf --dir="$D2" image rm "$name:2"
expect_rc 0 "image rm v2"
while read -r id; do
        rm -f "$D2/chunks/$(chunk_rel "$id")"
done <"$TEST_TMP/new.ids"
log_mark
acf --dir="$D2" --debug fetch $NET --seed="$seed" --no-auto-seed "$name:2"
expect_rc 0 "fetch v2 again with an unchanged seed"
grep -q "unchanged since it was last chunked" "$ERR" ||
        fail "an unchanged seed was chunked again: $(cat "$ERR")"
expect_eq "chunks downloaded with the cached seed" "$(fe_chunk_requests | sort -u)" \
        "$(cat "$TEST_TMP/new.ids")"
echo "ok: --seed, and its cache"

# --- a changed seed file is detected and not trusted ------------------------------------------
acf --dir="$D2" image rm "$name:2"
rm -rf "$D2/chunks"
head -c 131072 /dev/urandom | dd of="$seed/rootfs/f0" bs=1024 seek=100 conv=notrunc 2>/dev/null
touch -d '2001-01-01' "$seed/rootfs/f0"
# What the changed seed can supply: its own chunks, cut as casync cuts them.
casync make --chunk-size=16K --store="$TEST_TMP/seed.castr" "$TEST_TMP/seed.caidx" "$seed" \
        >/dev/null || fail "casync make of the seed"
caidx_ids "$TEST_TMP/seed.caidx" | sort -u >"$TEST_TMP/seed.ids"
comm -23 "$TEST_TMP/v1.ids" "$TEST_TMP/seed.ids" >"$TEST_TMP/lacking.ids"
expect_ge "v1 chunks the changed seed lacks" "$(wc -l <"$TEST_TMP/lacking.ids")" 2
log_mark
acf --dir="$D2" --debug fetch $NET --seed="$seed" --no-auto-seed --no-render "$name:1"
expect_rc 0 "fetch v1 with a changed seed"
! grep -q "unchanged since it was last chunked" "$ERR" || fail "the changed seed was trusted"
expect_eq "chunks downloaded with the changed seed" "$(fe_chunk_requests | sort -u)" \
        "$(cat "$TEST_TMP/lacking.ids")"
acf --dir="$D2" verify
expect_rc 0 "verify after seeding"
echo "ok: a changed seed file is detected"

# --- gc drops seed cuts nobody used for 30 days, and only those -------------------------------
set -- "$D2"/seeds/*.caidx
expect_eq "seed cuts of the one --seed directory (older states dropped)" "$#" 1
cut=$1
: >"$D2/seeds/$(basename "$cut" .caidx)-stale.caidx"
touch -d '40 days ago' "$D2/seeds/$(basename "$cut" .caidx)-stale.caidx"
acf --dir="$D2" gc
expect_rc 0 "gc"
[ -f "$cut" ] || fail "gc removed the seed cut used just now"
[ ! -e "$D2/seeds/$(basename "$cut" .caidx)-stale.caidx" ] || fail "gc kept a cut unused for 40 days"
echo "ok: gc and seed cuts"

echo "fetch_seed passed"
