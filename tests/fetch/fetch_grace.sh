#!/bin/sh
# gc does not throw an interrupted fetch's work away: the chunks a fetch downloaded before it
# failed (a chunk the server lacks) or was killed are listed by no stored image, yet `gc` keeps
# them (they are younger than the grace period, a day by default) and says so; the next fetch
# then downloads only what is still missing. `gc --grace=0` removes them all, `--grace=1d`
# removes the ones older than a day, `--dry-run` lists only what would go, and a bad duration
# is refused.
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

host=grace.example.com
fe_page "$WWW/$host" "$host" "https://$host/img/{name}.caidx"
fe_image "$SRC/big" "$host/big" 2048
INDEX=$WWW/$host/img/$host/big.caidx
fe_publish "$INDEX" "$SRC/big"
CASTR=$WWW/$host/img/$host/default.castr
fe_nginx_start
total=$(caidx_distinct "$INDEX")
expect_ge "chunks of big" "$total" 40

# --- a fetch that failed part-way ----------------------------------------------------------------
D=$TEST_TMP/store
last=$(caidx_ids "$INDEX" | tail -n 1)
mv "$CASTR/$(chunk_rel "$last")" "$TEST_TMP/held"
acf --dir="$D" fetch $NET --jobs=1 "$host/big"
[ "$RC" -ne 0 ] || fail "the fetch succeeded without one of its chunks"
have=$(fe_chunks "$D" | wc -l)
expect_ge "chunks stored by the failed fetch" "$have" 10
fe_chunks "$D" >"$TEST_TMP/chunks.before"

acf --dir="$D" gc --dry-run
expect_rc 0 "gc --dry-run"
expect_eq "what gc --dry-run lists" "$(cat "$OUT")" ""
acf --dir="$D" gc
expect_rc 0 "gc"
expect_err "$have unlisted chunks"
expect_err "within the grace period"
fe_chunks "$D" >"$TEST_TMP/chunks.after"
cmp -s "$TEST_TMP/chunks.before" "$TEST_TMP/chunks.after" ||
        fail "gc removed chunks of the interrupted fetch"

# Aged: those older than the grace go, the others stay.
cp -a "$D" "$TEST_TMP/aged"
old=$(head -n 5 "$TEST_TMP/chunks.before")
for id in $old; do
        touch -d '2 days ago' "$TEST_TMP/aged/chunks/$(chunk_rel "$id")"
done
acf --dir="$TEST_TMP/aged" gc --grace=1d
expect_rc 0 "gc --grace=1d"
fe_chunks "$TEST_TMP/aged" >"$TEST_TMP/chunks.aged"
expect_eq "chunks gc --grace=1d kept" "$(wc -l <"$TEST_TMP/chunks.aged")" $((have - 5))
for id in $old; do
        ! grep -q "$id" "$TEST_TMP/chunks.aged" || fail "gc --grace=1d kept a chunk 2 days old"
done

# --grace=0: everything unlisted goes.
cp -a "$D" "$TEST_TMP/zero"
acf --dir="$TEST_TMP/zero" gc --grace=0 --dry-run
expect_rc 0 "gc --grace=0 --dry-run"
expect_eq "chunks gc --grace=0 --dry-run lists" "$(grep -c '^chunks/' "$OUT")" "$have"
acf --dir="$TEST_TMP/zero" gc --grace=0
expect_rc 0 "gc --grace=0"
expect_eq "chunks left by gc --grace=0" "$(fe_chunks "$TEST_TMP/zero" | wc -l)" 0
expect_no_err "within the grace period"

for bad in -1 1w 12hh x ''; do
        acf --dir="$TEST_TMP/zero" gc --grace="$bad"
        expect_rc 254 "gc --grace=$bad"
done

# The next fetch downloads only what the failed one did not.
mv "$TEST_TMP/held" "$CASTR/$(chunk_rel "$last")"
log_mark
acf --dir="$D" fetch $NET "$host/big"
expect_rc 0 "fetch after the failed one"
expect_eq "chunks requested after gc" "$(fe_chunk_requests | sort -u | wc -l)" $((total - have))
echo "ok: a failed fetch's chunks survive gc"

# --- a killed fetch ------------------------------------------------------------------------------
K=$TEST_TMP/killed
"$A" --dir="$K" fetch $NET --jobs=1 --rate-limit=64K "$host/big" >/dev/null 2>&1 &
pid=$!
n=0
while [ "$(fe_chunks "$K" 2>/dev/null | wc -l)" -lt 5 ]; do
        kill -0 "$pid" 2>/dev/null || fail "the fetch to kill ended early"
        n=$((n + 1))
        [ "$n" -lt 600 ] || fail "the fetch to kill stored no chunk in 60 s"
        sleep 0.1
done
kill -KILL "$pid"
wait "$pid" || true
fe_chunks "$K" >"$TEST_TMP/killed.before"
kept=$(wc -l <"$TEST_TMP/killed.before")
acf --dir="$K" gc
expect_rc 0 "gc after a killed fetch"
fe_chunks "$K" >"$TEST_TMP/killed.after"
cmp -s "$TEST_TMP/killed.before" "$TEST_TMP/killed.after" ||
        fail "gc removed chunks of the killed fetch"
expect_err "$kept unlisted chunks"
acf --dir="$K" gc --grace=0
expect_rc 0 "gc --grace=0 after a killed fetch"
expect_eq "chunks after gc --grace=0" "$(fe_chunks "$K" | wc -l)" 0
expect_eq "temporary files after gc --grace=0" "$(cache_tmp "$K")" ""
echo "ok: a killed fetch's chunks survive gc, not gc --grace=0"

pass "gc keeps what an interrupted fetch downloaded"
