#!/bin/sh
# Seeds for `acfetch extract`, against indexes made by Debian's casync and served by nginx; every
# check counts the chunk requests nginx logged (unique IDs, none requested twice):
#  a. --seed DIR (v1's tree) for v2.caidx into an empty --dir: exactly the chunks v2 has and v1
#     lacks are downloaded, and the result is v2 (casync mtree).
#  b. the same seed again with <dir>/chunks emptied but <dir>/seeds kept: not chunked again
#     (--debug says "unchanged"), same downloads; a seed whose file changed with its size and
#     mtime kept is detected (chunked again) and supplies only what it really holds.
#  c. --seed X.caidx, its tree at X (desync's convention): same downloads as (a); after a file of
#     X changed (size and mtime kept), the chunks it covered are downloaded, and the result is
#     still v2.
#  d. --in-place over a copy of v1: the destination is a seed (only the new chunks come); with
#     --no-auto-seed every chunk is downloaded.
#  e. blobs (.caibx): an existing destination file holding the previous version is a seed; so
#     are --seed FILE and --seed X.caibx (its data at X); a changed --seed FILE is detected.
#  f. errors: a missing --seed path, an index seed without its data, --seed with --no-cache;
#     and every chunk file any run left in a <dir>/chunks decompresses to its ID.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
fetch_init
command -v zstd >/dev/null 2>&1 || fail "zstd is not installed (it checks the chunk files)"

W=$TEST_TMP
www=$W/www
mkdir -p "$www"

# ------------------------------------------------------------------------------ helpers

# still_valid DATA INDEX: the IDs of INDEX whose byte range in the stream DATA (a .catar or the
# blob itself) still hashes to the ID, sorted.
still_valid() {
        python3 "$SRCDIR/tests/chunk_check.py" still-valid "$1" "$2" || fail "still_valid $2"
}

ids() { # INDEX OUT: the distinct chunk IDs of INDEX, sorted
        caidx_ids "$1" | sort -u >"$2"
}

mark() {
        nginx_sync || fail "nginx sync"
        MARK=$(wc -l <"$NGINX_ACCESS_LOG")
}

# requests: the chunk IDs requested since mark, sorted, repeats kept.
requests() {
        nginx_sync || fail "nginx sync"
        tail -n +$((MARK + 1)) "$NGINX_ACCESS_LOG" |
                sed -n 's|.*"GET [^ ]*/\([0-9a-f]\{64\}\)\.cacnk .*|\1|p' | sort
}

# expect_downloads WHAT EXPECTED_IDS_FILE: the chunks requested since mark are exactly those,
# each once.
expect_downloads() {
        requests >"$W/req.all"
        sort -u "$W/req.all" >"$W/req.ids"
        if ! cmp -s "$W/req.ids" "$2"; then
                echo "chunk IDs expected only (<) and downloaded only (>):" >&2
                diff "$2" "$W/req.ids" | grep '^[<>]' | head -n 20 >&2 || true
                fail "$1: $(wc -l <"$W/req.ids") chunks downloaded, expected the" \
                        "$(wc -l <"$2") of $2"
        fi
        expect_eq "$1: repeated chunk requests" "$(wc -l <"$W/req.all")" \
                "$(wc -l <"$W/req.ids")"
        echo "ok: $1 ($(wc -l <"$2") chunks downloaded)"
}

expect_fail() { # WHAT: the last acf must have failed
        [ "$RC" -ne 0 ] || fail "$1: acfetch exited 0, expected a failure"
}

# check_chunk_files D: D/chunks holds only sound chunk files (cache_bad_files).
check_chunk_files() {
        _cc_bad=$(cache_bad_files "$1")
        [ -z "$_cc_bad" ] || fail "bad chunk files in $1/chunks: $(echo "$_cc_bad" | head -n 5)"
}

# ------------------------------------------------------------------------------ inputs

v1=$W/v1
v2=$W/v2
fetch_make_mixed_tree "$v1"
cp -a "$v1" "$v2"
overwrite_at "$v2/c/change.bin" 400000 200000
head -c 300000 /dev/urandom >"$v2/a/b/new.bin"
casync make --chunk-size=16K --store="$www/default.castr" "$www/v1.caidx" "$v1" >/dev/null ||
        fail "casync make v1.caidx"
casync make --chunk-size=16K --store="$www/default.castr" "$www/v2.caidx" "$v2" >/dev/null ||
        fail "casync make v2.caidx"
ids "$www/v1.caidx" "$W/v1.ids"
ids "$www/v2.caidx" "$W/v2.ids"
comm -13 "$W/v1.ids" "$W/v2.ids" >"$W/new.ids"
n_new=$(wc -l <"$W/new.ids")
echo "v2: $(wc -l <"$W/v2.ids") distinct chunks, $n_new of them not in v1"
expect_ge "chunks only v2 has" "$n_new" 5
expect_ge "chunks v1 and v2 share" "$(comm -12 "$W/v1.ids" "$W/v2.ids" | wc -l)" 100

# Blobs: b2 is b1 with 100 kB in the middle replaced.
blob=$W/blob
mkdir -p "$blob"
head -c 3000000 /dev/urandom >"$blob/file1"
cp "$blob/file1" "$blob/file2"
overwrite_at "$blob/file2" 1500000 100000
casync make --chunk-size=16K --store="$www/default.castr" "$www/b1.caibx" "$blob/file1" \
        >/dev/null || fail "casync make b1.caibx"
casync make --chunk-size=16K --store="$www/default.castr" "$www/b2.caibx" "$blob/file2" \
        >/dev/null || fail "casync make b2.caibx"
ids "$www/b1.caibx" "$W/b1.ids"
ids "$www/b2.caibx" "$W/b2.ids"
comm -13 "$W/b1.ids" "$W/b2.ids" >"$W/bnew.ids"
n_bnew=$(wc -l <"$W/bnew.ids")
echo "b2: $(wc -l <"$W/b2.ids") distinct chunks, $n_bnew of them not in b1"
expect_ge "chunks only b2 has" "$n_bnew" 2
expect_ge "chunks b1 and b2 share" "$(comm -12 "$W/b1.ids" "$W/b2.ids" | wc -l)" 100

http_nginx_start "$www"
URL=$NGINX_HTTPS_URL
NET="--ca-cert=$HTTP_CA"

# ------------------------------------------------------------------------------ a. --seed DIR

mark
acf --dir="$W/d-a" extract $NET --json --seed="$v1" "$URL/v2.caidx" "$W/out-a"
expect_rc 0 "a: extract v2 with --seed v1"
expect_same_tree "$v2" "$W/out-a"
expect_downloads "a: --seed DIR" "$W/new.ids"
expect_eq "a: chunks_seeded in --json" "$(json_int chunks_seeded)" \
        "$(comm -12 "$W/v1.ids" "$W/v2.ids" | wc -l)"
[ -n "$(ls -A "$W/d-a/seeds" 2>/dev/null)" ] || fail "a: nothing cached in <dir>/seeds"

# ------------------------------------------------------------------------------ b. seed cache

rm -rf "$W/d-a/chunks"
mark
acf --dir="$W/d-a" --debug extract $NET --seed="$v1" "$URL/v2.caidx" "$W/out-b"
expect_rc 0 "b: extract v2 again with the same seed"
grep -q unchanged "$ERR" || fail "b: the unchanged seed was chunked again (no \"unchanged\" in --debug)"
expect_same_tree "$v2" "$W/out-b"
expect_downloads "b: --seed DIR, cached" "$W/new.ids"

# A file of the seed changes, size and mtime kept (only its ctime and contents tell).
sdir=$W/seed-dir
cp -a "$v1" "$sdir"
mark
acf --dir="$W/d-b" extract $NET --seed="$sdir" "$URL/v2.caidx" "$W/out-b1"
expect_rc 0 "b: extract v2 with a copy of v1 as the seed"
expect_downloads "b: --seed DIR (a copy)" "$W/new.ids"
overwrite_at "$sdir/a/big1" 300000 50000
touch -r "$v1/a/big1" "$sdir/a/big1"
# What the changed seed can supply: its chunks, cut as casync cuts them.
casync make --chunk-size=16K --store="$W/chg.castr" "$W/chg.caidx" "$sdir" >/dev/null ||
        fail "casync make of the changed seed"
ids "$W/chg.caidx" "$W/chg.ids"
comm -23 "$W/v2.ids" "$W/chg.ids" >"$W/chg-need.ids"
expect_ge "b: chunks the changed seed no longer supplies" \
        "$(($(wc -l <"$W/chg-need.ids") - n_new))" 1
rm -rf "$W/d-b/chunks"
mark
acf --dir="$W/d-b" --debug extract $NET --seed="$sdir" "$URL/v2.caidx" "$W/out-b2"
expect_rc 0 "b: extract v2 with a changed seed"
! grep -q unchanged "$ERR" || fail "b: a changed seed was taken as unchanged: $(grep unchanged "$ERR")"
expect_same_tree "$v2" "$W/out-b2"
expect_downloads "b: changed --seed DIR" "$W/chg-need.ids"

# ------------------------------------------------------------------------------ c. --seed X.caidx

sidx=$W/sidx
mkdir -p "$sidx"
cp -a "$v1" "$sidx/v1"
cp "$www/v1.caidx" "$sidx/v1.caidx"
mark
acf --dir="$W/d-c1" extract $NET --seed="$sidx/v1.caidx" "$URL/v2.caidx" "$W/out-c1"
expect_rc 0 "c: extract v2 with --seed v1.caidx"
expect_same_tree "$v2" "$W/out-c1"
expect_downloads "c: --seed X.caidx" "$W/new.ids"

# The helper below, checked on the unchanged copy: every chunk of its index is still valid.
casync make "$W/sidx-v1.catar" "$sidx/v1" >/dev/null || fail "casync make of the seed's catar"
still_valid "$W/sidx-v1.catar" "$sidx/v1.caidx" >"$W/valid.ids"
cmp -s "$W/valid.ids" "$W/v1.ids" ||
        fail "c: slicing a catar of the copy of v1 at v1.caidx's offsets does not give v1's chunks"
rm -f "$W/sidx-v1.catar"

# The seed's data changes after its index was made: a part of a/big1 (which v2 has unchanged),
# size and mtime kept. What the index still describes correctly: slice a fresh archive of the
# changed tree at the index's offsets and hash each piece.
overwrite_at "$sidx/v1/a/big1" 500000 40000
touch -r "$v1/a/big1" "$sidx/v1/a/big1"
casync make "$W/sidx-v1.catar" "$sidx/v1" >/dev/null || fail "casync make of the changed seed's catar"
still_valid "$W/sidx-v1.catar" "$sidx/v1.caidx" >"$W/valid.ids"
comm -23 "$W/v1.ids" "$W/valid.ids" >"$W/stale.ids"
expect_ge "c: seed index chunks the change made stale" "$(wc -l <"$W/stale.ids")" 1
comm -12 "$W/stale.ids" "$W/v2.ids" | sort -u - "$W/new.ids" >"$W/c2-need.ids"
expect_ge "c: stale chunks v2 needs" "$(($(wc -l <"$W/c2-need.ids") - n_new))" 1
mark
acf --dir="$W/d-c2" extract $NET --seed="$sidx/v1.caidx" "$URL/v2.caidx" "$W/out-c2"
expect_rc 0 "c: extract v2 with a seed index whose data changed"
expect_same_tree "$v2" "$W/out-c2"
expect_downloads "c: --seed X.caidx with changed data" "$W/c2-need.ids"

# ------------------------------------------------------------------------------ d. --in-place

cp -a "$v1" "$W/inplace1"
mark
acf --dir="$W/d-d1" extract $NET --in-place "$URL/v2.caidx" "$W/inplace1"
expect_rc 0 "d: --in-place over v1"
expect_same_tree "$v2" "$W/inplace1"
expect_downloads "d: --in-place (the destination is a seed)" "$W/new.ids"

cp -a "$v1" "$W/inplace2"
mark
acf --dir="$W/d-d2" extract $NET --in-place --no-auto-seed "$URL/v2.caidx" "$W/inplace2"
expect_rc 0 "d: --in-place --no-auto-seed over v1"
expect_same_tree "$v2" "$W/inplace2"
expect_downloads "d: --in-place --no-auto-seed" "$W/v2.ids"

# ------------------------------------------------------------------------------ e. blobs

expect_same_file() { # EXPECTED ACTUAL WHAT
        [ -f "$2" ] || fail "$3: $2 is not a regular file"
        cmp -s "$1" "$2" || fail "$3: $2 differs from $1"
}

# The destination file holds b1: it is a seed (casync's --seed-output=yes).
cp "$blob/file1" "$W/bout-e1"
mark
acf --dir="$W/d-e1" extract $NET "$URL/b2.caibx" "$W/bout-e1"
expect_rc 0 "e: extract b2.caibx over b1's bytes"
expect_same_file "$blob/file2" "$W/bout-e1" "e: over b1's bytes"
expect_downloads "e: the existing destination blob as a seed" "$W/bnew.ids"

cp "$blob/file1" "$W/bout-e1n"
mark
acf --dir="$W/d-e1n" extract $NET --no-auto-seed "$URL/b2.caibx" "$W/bout-e1n"
expect_rc 0 "e: extract b2.caibx over b1's bytes, --no-auto-seed"
expect_same_file "$blob/file2" "$W/bout-e1n" "e: --no-auto-seed"
expect_downloads "e: --no-auto-seed over b1's bytes" "$W/b2.ids"

cp "$blob/file1" "$W/seedfile"
mark
acf --dir="$W/d-e2" extract $NET --seed="$W/seedfile" "$URL/b2.caibx" "$W/bout-e2"
expect_rc 0 "e: extract b2.caibx with --seed FILE"
expect_same_file "$blob/file2" "$W/bout-e2" "e: --seed FILE"
expect_downloads "e: --seed FILE" "$W/bnew.ids"

bidx=$W/bidx
mkdir -p "$bidx"
cp "$blob/file1" "$bidx/b1"
cp "$www/b1.caibx" "$bidx/b1.caibx"
mark
acf --dir="$W/d-e3" extract $NET --seed="$bidx/b1.caibx" "$URL/b2.caibx" "$W/bout-e3"
expect_rc 0 "e: extract b2.caibx with --seed b1.caibx"
expect_same_file "$blob/file2" "$W/bout-e3" "e: --seed X.caibx"
expect_downloads "e: --seed X.caibx" "$W/bnew.ids"

# The blob seed index's data changes (a part b2 has unchanged): those chunks are downloaded.
overwrite_at "$bidx/b1" 400000 20000
still_valid "$bidx/b1" "$bidx/b1.caibx" >"$W/bvalid.ids"
comm -23 "$W/b1.ids" "$W/bvalid.ids" >"$W/bstale.ids"
expect_ge "e: blob seed index chunks the change made stale" "$(wc -l <"$W/bstale.ids")" 1
comm -12 "$W/bstale.ids" "$W/b2.ids" | sort -u - "$W/bnew.ids" >"$W/e4-need.ids"
mark
acf --dir="$W/d-e4" extract $NET --seed="$bidx/b1.caibx" "$URL/b2.caibx" "$W/bout-e4"
expect_rc 0 "e: extract b2.caibx with a seed index whose data changed"
expect_same_file "$blob/file2" "$W/bout-e4" "e: --seed X.caibx with changed data"
expect_downloads "e: --seed X.caibx with changed data" "$W/e4-need.ids"

# A --seed FILE that changed (size and mtime kept) since it was cached is chunked again.
overwrite_at "$W/seedfile" 700000 30000
touch -r "$blob/file1" "$W/seedfile"
casync make --chunk-size=16K --store="$W/bchg.castr" "$W/bchg.caibx" "$W/seedfile" >/dev/null ||
        fail "casync make of the changed seed file"
ids "$W/bchg.caibx" "$W/bchg.ids"
comm -23 "$W/b2.ids" "$W/bchg.ids" >"$W/e5-need.ids"
expect_ge "e: chunks the changed seed file no longer supplies" \
        "$(($(wc -l <"$W/e5-need.ids") - n_bnew))" 1
rm -rf "$W/d-e2/chunks"
mark
acf --dir="$W/d-e2" --debug extract $NET --seed="$W/seedfile" "$URL/b2.caibx" "$W/bout-e5"
expect_rc 0 "e: extract b2.caibx with a changed --seed FILE"
! grep -q unchanged "$ERR" || fail "e: a changed seed file was taken as unchanged: $(grep unchanged "$ERR")"
expect_same_file "$blob/file2" "$W/bout-e5" "e: changed --seed FILE"
expect_downloads "e: changed --seed FILE" "$W/e5-need.ids"

# ------------------------------------------------------------------------------ f. errors

acf --dir="$W/d-f" extract $NET --seed="$W/does-not-exist" "$URL/v2.caidx" "$W/out-f1"
expect_fail "f: --seed of a missing path"
[ ! -e "$W/out-f1" ] || fail "f: a failed extract (missing seed) created its destination"

cp "$www/v1.caidx" "$sidx/orphan.caidx"
acf --dir="$W/d-f" extract $NET --seed="$sidx/orphan.caidx" "$URL/v2.caidx" "$W/out-f2"
expect_fail "f: --seed X.caidx without X"
# The data path itself, not only the index's path (which it prefixes).
sed "s|$sidx/orphan\\.caidx||g" "$ERR" | grep -qF "$sidx/orphan" ||
        fail "f: the error does not name the missing data path $sidx/orphan"
[ ! -e "$W/out-f2" ] || fail "f: a failed extract (seed index without data) created its destination"

acf --dir="$W/d-f" extract $NET --no-cache --seed="$v1" "$URL/v2.caidx" "$W/out-f3"
expect_fail "f: --seed with --no-cache"
[ ! -e "$W/out-f3" ] || fail "f: a refused extract (--no-cache) created its destination"
echo "ok: f: errors"

# ------------------------------------------------------------------------------ g. gc waits

# An extract holds the store while it fills <dir>/chunks: a gc started meanwhile waits for it
# instead of deleting the chunks it (or its seeds) just stored.
"$A" --dir="$W/d-g" extract $NET --rate-limit=200K --seed="$v1" "$URL/v2.caidx" "$W/out-g" \
        2>"$W/g.err" &
gpid=$!
i=0
# Seeds store their chunks at once; the downloads then take a few seconds.
while [ -z "$(find "$W/d-g/chunks" -name '*.cacnk' 2>/dev/null | head -n 1)" ] && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
done
sleep 0.5
kill -0 "$gpid" 2>/dev/null || fail "g: the slow extract ended before gc could start"
acf --dir="$W/d-g" gc
expect_rc 0 "g: gc during an extract"
grep -q "waiting for other acfetch processes" "$ERR" || fail "g: gc did not wait for the extract"
# The extract lets go of the store when its work is done, then exits (joining its download
# workers; under ASan also the leak check): allow it a few seconds for that. A gc that had not
# waited would return while seconds of rate-limited downloads were still ahead of it.
i=0
while kill -0 "$gpid" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
done
kill -0 "$gpid" 2>/dev/null && fail "g: gc returned while the extract was still running"
wait "$gpid" || fail "g: the extract failed while gc waited: $(cat "$W/g.err")"
expect_same_tree "$v2" "$W/out-g"
echo "ok: g: gc waits for a running extract"

for d in "$W"/d-*; do
        check_chunk_files "$d"
done
echo "ok: f: every chunk file decompresses to its ID"

echo "extract_seed passed"
