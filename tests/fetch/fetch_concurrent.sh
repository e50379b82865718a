#!/bin/sh
# Concurrent fetches of one image into one store download each chunk once: a chunk another
# process is downloading is waited for (its claim, locks/chunk-<id>.claim) and taken from the
# store, not requested again. Four fetches start together; nginx's access log must show at most
# 2% more chunk requests than the image has chunks, and every fetch must render the image.
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

host=together.example.com
fe_page "$WWW/$host" "$host" "https://$host/img/{name}.caidx"
# 16 MiB of random data: about a thousand chunks, so the fetches overlap for a while.
fe_image "$SRC/big" "$host/big" 16384
index=$WWW/$host/img/$host/big.caidx
fe_publish "$index" "$SRC/big"
fe_nginx_start
chunks=$(fe_index_chunks "$index" | wc -l)

D=$TEST_TMP/store
log_mark
fe_fetch_together "$D" "$host/big" "$host/big" "$host/big" "$host/big"
for i in 0 1 2 3; do
        fe_same_rootfs "$SRC/big" "$D/trees/$(cat "$TEST_TMP/together.$i.out")"
done

requests=$(fe_chunk_requests | wc -l)
distinct=$(fe_chunk_requests | uniq | wc -l)
echo "four concurrent fetches: $requests chunk requests for $distinct distinct chunks" \
        "($chunks in the image)" >&2
expect_eq "distinct chunks requested" "$distinct" "$chunks"
[ "$((requests * 100))" -le "$((chunks * 102))" ] ||
        fail "four concurrent fetches sent $requests chunk requests for $chunks chunks (> 2% more)"
expect_eq "claims left in locks/" "$(find "$D/locks" -name 'chunk-*.claim' | wc -l)" 0
acf --dir="$D" verify
expect_rc 0 "verify after concurrent fetches"
echo "ok: four concurrent fetches download each chunk once ($requests requests, $chunks chunks)"

echo "fetch_concurrent passed"
