#!/bin/sh
# The image store under concurrency, crashes and corruption: `image rm` then `gc` keeps exactly
# the chunks of the remaining images (and they still render), `gc --dry-run` removes nothing;
# gc in a loop while a fetch runs; eight fetches of images sharing chunks into one store at
# once; a fetch killed with SIGKILL leaves a store that `verify` passes and a rerun completes; a
# corrupted chunk is found and removed by `verify` and the next fetch repairs it.
# $NET is a list of options, split on purpose; fe_nginx_start takes no script arguments.
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init

host=store.example.com
fe_page "$WWW/$host" "$host" "https://$host/img/{name}.caidx"
head -c $((1024 * 1024)) /dev/urandom >"$TEST_TMP/common"
# image NAME KIB [shared]: $SRC/NAME published as $host/NAME; "shared" adds the common MiB.
image() {
        fe_image "$SRC/$1" "$host/$1" "$2"
        [ "${3:-}" != shared ] || cp "$TEST_TMP/common" "$SRC/$1/rootfs/common"
        fe_publish "$WWW/$host/img/$host/$1.caidx" "$SRC/$1"
}
ix() { echo "$WWW/$host/img/$host/$1.caidx"; }
image a 256 shared
image b 256 shared
image c 512
image e 1536
image k 3072
for i in 0 1 2 3 4 5 6 7; do
        image "p$i" 128 shared
done
# Sixty tiny images: two of their IDs share the first two hex digits but for a chance of 0.1%.
tiny=
i=0
while [ "$i" -lt 60 ]; do
        image "t$i" 1
        tiny="$tiny $host/t$i"
        i=$((i + 1))
done
fe_nginx_start

# fetch_key D NAME [OPTIONS]: fetch $host/NAME into D, set KEY to its store key.
fetch_key() {
        _fk_d=$1
        _fk_n=$2
        shift 2
        acf --dir="$_fk_d" fetch $NET --full "$@" "$host/$_fk_n"
        expect_rc 0 "fetch $_fk_n"
        expect_full_id
        KEY=$(cat "$OUT")
}
# snapshot D: every path in D but locks/ and tmp/, with sizes
snapshot() {
        find "$1" \( -path "$1/locks" -o -path "$1/tmp" \) -prune -o -printf '%P %s\n' | sort
}
expect_chunks() { # D WHAT INDEX...: D/chunks holds exactly the union of the indexes' chunks
        _ec_d=$1
        _ec_what=$2
        shift 2
        fe_chunks "$_ec_d" >"$TEST_TMP/chunks.got"
        fe_index_chunks "$@" >"$TEST_TMP/chunks.want"
        if ! cmp -s "$TEST_TMP/chunks.got" "$TEST_TMP/chunks.want"; then
                echo "only in the store: $(comm -23 "$TEST_TMP/chunks.got" "$TEST_TMP/chunks.want" | wc -l)," \
                        "missing: $(comm -13 "$TEST_TMP/chunks.got" "$TEST_TMP/chunks.want" | wc -l)" >&2
                fail "$_ec_what: the chunk store is not the union of the indexes' chunks"
        fi
        expect_eq "$_ec_what: temporary files in chunks/" "$(cache_tmp "$_ec_d")" ""
}
expect_verify_ok() { # D WHAT
        acf --dir="$1" verify
        expect_rc 0 "verify after $2"
}

# --- image rm, gc --dry-run, gc -----------------------------------------------------------------
D=$TEST_TMP/store
fetch_key "$D" a
ka=$KEY
fetch_key "$D" b
kb=$KEY
fetch_key "$D" c
kc=$KEY
expect_chunks "$D" "three images" "$(ix a)" "$(ix b)" "$(ix c)"
expect_verify_ok "$D" "three fetches"
acf --dir="$D" image rm "$host/b"
expect_rc 0 "image rm by name"
expect_eq "images after rm" "$(fe_images "$D" | tr '\n' ' ')" "$(printf '%s\n' "$ka" "$kc" | sort | tr '\n' ' ')"
acf --dir="$D" image list --full
expect_rc 0 "image list"
! grep -q "$kb" "$OUT" || fail "image list still shows the removed image"
acf --dir="$D" image rm "$host/b"
[ "$RC" -ne 0 ] || fail "image rm of a removed image succeeded"
snapshot "$D" >"$TEST_TMP/snap.before"
acf --dir="$D" gc --dry-run --grace=0
expect_rc 0 "gc --dry-run"
snapshot "$D" >"$TEST_TMP/snap.after"
cmp -s "$TEST_TMP/snap.before" "$TEST_TMP/snap.after" || fail "gc --dry-run changed the store"
[ "$(fe_index_chunks "$(ix a)" "$(ix c)" | wc -l)" -lt "$(fe_chunks "$D" | wc -l)" ] ||
        fail "b has no chunks of its own: the gc check below would prove nothing"
acf --dir="$D" gc --grace=0
expect_rc 0 "gc"
expect_chunks "$D" "rm b, gc" "$(ix a)" "$(ix c)"
expect_eq "trees after gc" "$(fe_trees "$D" | tr '\n' ' ')" "$(printf '%s\n' "$ka" "$kc" | sort | tr '\n' ' ')"
acf --dir="$D" render "$ka" "$TEST_TMP/ra"
expect_rc 0 "render a after gc"
fe_same_tree "$SRC/a" "$TEST_TMP/ra"
acf --dir="$D" render "$host/c" "$TEST_TMP/rc"
expect_rc 0 "render c after gc"
fe_same_tree "$SRC/c" "$TEST_TMP/rc"
# By ID prefix this time.
acf --dir="$D" image rm "$(echo "$kc" | cut -c1-20)"
expect_rc 0 "image rm by ID prefix"
acf --dir="$D" gc --grace=0
expect_rc 0 "second gc"
expect_chunks "$D" "rm c, gc" "$(ix a)"
expect_eq "images after the second gc" "$(fe_images "$D")" "$ka"
expect_eq "trees after the second gc" "$(fe_trees "$D")" "$ka"
expect_verify_ok "$D" "rm and gc"
log_mark
fetch_key "$D" c
expect_eq "c's key after a refetch" "$KEY" "$kc"
expect_eq "chunk requests of the refetch of c" "$(log_count "$CHUNK_RE")" "$(caidx_distinct "$(ix c)")"
fe_same_rootfs "$SRC/c" "$D/trees/$kc"
echo "ok: image rm, gc --dry-run, gc"

# --- gc in a loop while a fetch runs -------------------------------------------------------------
rm -f "$TEST_TMP/fetch.done"
(
        n=0
        bad=0
        while [ ! -f "$TEST_TMP/fetch.done" ]; do
                "$A" --dir="$D" gc --grace=0 >>"$TEST_TMP/gc.out" 2>&1 || bad=$((bad + 1))
                n=$((n + 1))
        done
        echo "$n $bad" >"$TEST_TMP/gc.result"
) &
gc_loop=$!
acf --dir="$D" fetch $NET --full --rate-limit=1M "$host/e"
touch "$TEST_TMP/fetch.done"
wait "$gc_loop" || fail "the gc loop failed"
expect_rc 0 "fetch e while gc runs"
ke=$(cat "$OUT")
read -r gc_runs gc_bad <"$TEST_TMP/gc.result"
grep -q -e 'Sanitizer' -e 'runtime error:' "$TEST_TMP/gc.out" && fail "sanitizer report from gc: $(cat "$TEST_TMP/gc.out")"
expect_eq "failed gc runs (of $gc_runs): $(tail -n 3 "$TEST_TMP/gc.out")" "$gc_bad" 0
expect_ge "gc runs during the fetch" "$gc_runs" 1
fe_same_rootfs "$SRC/e" "$D/trees/$ke"
expect_verify_ok "$D" "fetch and gc at once"
acf --dir="$D" gc --grace=0
expect_rc 0 "gc after the fetch"
expect_chunks "$D" "fetch during gc" "$(ix a)" "$(ix c)" "$(ix e)"
echo "ok: fetch and gc at once ($gc_runs gc runs)"

# --- eight fetches at once into one store ------------------------------------------------------
D3=$TEST_TMP/store8
# shellcheck disable=SC2046 # one name per image
fe_fetch_together "$D3" $(for i in 0 1 2 3 4 5 6 7; do echo "$host/p$i"; done)
for i in 0 1 2 3 4 5 6 7; do
        k=$(cat "$TEST_TMP/together.$i.out")
        echo "$k" | grep -qx 'sha512-[0-9a-f]\{64\}' || fail "p$i printed '$k'"
        fe_same_rootfs "$SRC/p$i" "$D3/trees/$k"
done
expect_eq "images after eight fetches" "$(fe_images "$D3" | wc -l)" 8
# shellcheck disable=SC2046 # one argument per index
expect_chunks "$D3" "eight fetches" $(for i in 0 1 2 3 4 5 6 7; do ix "p$i"; done)
expect_verify_ok "$D3" "eight concurrent fetches"
echo "ok: eight concurrent fetches"

# --- SIGKILL mid-fetch -------------------------------------------------------------------------
D4=$TEST_TMP/killed
has_chunks() { [ "$(cache_count "$D4")" -ge 20 ]; }
# shellcheck disable=SC2086
"$A" --dir="$D4" fetch $NET --full --rate-limit=512K "$host/k" >"$TEST_TMP/k.out" 2>"$TEST_TMP/k.err" &
kpid=$!
wait_until has_chunks || fail "the rate-limited fetch stored no chunks: $(cat "$TEST_TMP/k.err")"
kill -KILL "$kpid"
wait "$kpid" 2>/dev/null || true
n=$(cache_count "$D4")
[ "$n" -lt "$(caidx_distinct "$(ix k)")" ] || fail "the fetch had finished before SIGKILL"
expect_store_clean "$D4" "SIGKILL mid-fetch"
expect_verify_ok "$D4" "SIGKILL"
log_mark
fetch_key "$D4" k
fe_same_rootfs "$SRC/k" "$D4/trees/$KEY"
expect_ge "chunks the rerun found stored" "$(caidx_distinct "$(ix k)")" "$(log_count "$CHUNK_RE")"
expect_chunks "$D4" "rerun after SIGKILL" "$(ix k)"
expect_verify_ok "$D4" "the rerun"
expect_eq "process directories left in tmp/" "$(find "$D4/tmp" -mindepth 1 -maxdepth 1 2>/dev/null)" ""
echo "ok: a fetch killed after $n chunks; verify passes, the rerun completes"

# --- a corrupted chunk ---------------------------------------------------------------------------
bad=$(caidx_ids "$(ix a)" | sed -n 5p)
badf=$D/chunks/$(chunk_rel "$bad")
[ -f "$badf" ] || fail "no chunk file $badf"
size=$(wc -c <"$badf")
head -c "$size" /dev/urandom >"$badf"
acf --dir="$D" verify
[ "$RC" -ne 0 ] || fail "verify passed a store with a corrupt chunk"
cat "$OUT" "$ERR" | grep -q "$(echo "$bad" | cut -c1-12)" ||
        fail "verify did not name the corrupt chunk $bad"
[ ! -e "$badf" ] || fail "verify left the corrupt chunk in place"
log_mark
fetch_key "$D" a
expect_eq "key of a after repair" "$KEY" "$ka"
expect_eq "requests for the removed chunk" "$(log_count "/$bad\.cacnk ")" 1
[ -f "$badf" ] || fail "the fetch did not restore the removed chunk"
expect_verify_ok "$D" "the repair"
acf --dir="$D" render "$host/a" "$TEST_TMP/ra2"
expect_rc 0 "render a after the repair"
fe_same_tree "$SRC/a" "$TEST_TMP/ra2"
echo "ok: verify finds a corrupt chunk, the next fetch repairs it"

# --- ID prefixes: unique ones resolve, ambiguous ones are refused -------------------------------
D5=$TEST_TMP/tiny
acf --dir="$D5" fetch $NET --full $tiny
expect_rc 0 "fetch of 60 tiny images"
expect_eq "IDs printed" "$(sort -u "$OUT" | wc -l)" 60
pair=$(cut -c1-9 "$OUT" | sort | uniq -d | head -n 1)
if [ -n "$pair" ]; then
        acf --dir="$D5" image cat-manifest "$pair"
        [ "$RC" -ne 0 ] || fail "cat-manifest $pair succeeded though two IDs start so"
        [ ! -s "$OUT" ] || fail "cat-manifest $pair printed a manifest"
        grep -qi ambiguous "$ERR" || fail "the error for $pair does not say ambiguous: $(cat "$ERR")"
        acf --dir="$D5" image rm "$pair"
        [ "$RC" -ne 0 ] || fail "image rm $pair succeeded though two IDs start so"
        expect_eq "images after a refused rm" "$(fe_images "$D5" | wc -l)" 60
        echo "ok: ambiguous ID prefix $pair refused"
else
        echo "no two of 60 IDs share two hex digits (p = 0.1%): ambiguity not checked"
fi

echo "fetch_store passed"
