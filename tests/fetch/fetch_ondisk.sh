#!/bin/sh
# Trees that stay what was fetched (rkt's ondisk check). A runtime writes into a stored tree
# (appends to a log, adds a file, removes one, chmods one, touches one keeping its size, rewrites
# one and puts its mtime back, adds one beside rootfs/): the next fetch notices, and renders the
# tree again from the chunk store without requesting a chunk; with --insecure-options=ondisk it
# hands the tree out untouched; `verify` reports it (exit 254) and leaves it, `verify --repair`
# renders it again. A tree without its record (an older acfetch's) is rendered again by fetch,
# and given a record by verify when its content is intact. A modified tree whose chunks went
# missing is rendered again after the missing chunks, and only those, are downloaded.
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

host=ondisk.example.com
fe_page "$WWW/$host" "$host" "https://$host/img/{name}.caidx"
fe_image "$SRC/a" "$host/a" 256
mkdir -p "$SRC/a/rootfs/etc" "$SRC/a/rootfs/var/log"
echo "nameserver 192.0.2.1" >"$SRC/a/rootfs/etc/resolv.conf"
echo "first line" >"$SRC/a/rootfs/var/log/x"
echo "other" >"$SRC/a/rootfs/var/log/y"
INDEX=$WWW/$host/img/$host/a.caidx
fe_publish "$INDEX" "$SRC/a"
fe_nginx_start

D=$TEST_TMP/store
# fetch_a WHAT [OPTIONS]: fetch $host/a into D; KEY, TREE.
fetch_a() {
        _fa_what=$1
        shift
        acf --dir="$D" fetch $NET --full "$@" "$host/a"
        expect_rc 0 "$_fa_what"
        expect_full_id
        KEY=$(fe_key "$(cat "$OUT")")
        TREE=$D/trees/$KEY
}
# listing: every entry of the tree with what a change would move.
listing() {
        find "$TREE" -printf '%P %y %m %s %T@ %C@ %i\n' | sort
}
# change NAME: what a runtime does to the tree.
change() {
        case $1 in
        append) echo "written by the runtime" >>"$TREE/rootfs/var/log/x" ;;
        add) echo "nameserver 198.51.100.1" >"$TREE/rootfs/etc/resolv.conf.new" ;;
        remove) rm "$TREE/rootfs/var/log/y" ;;
        chmod) chmod 0600 "$TREE/rootfs/etc/resolv.conf" ;;
        touch) touch "$TREE/rootfs/etc/resolv.conf" ;;
        rewrite)
                touch -r "$TREE/rootfs/var/log/x" "$TEST_TMP/stamp"
                printf 'F' | dd of="$TREE/rootfs/var/log/x" bs=1 count=1 conv=notrunc 2>/dev/null
                touch -r "$TEST_TMP/stamp" "$TREE/rootfs/var/log/x"
                ;;
        top) echo "pod notes" >"$TREE/notes" ;;
        esac
}

fetch_a "first fetch"
fe_same_rootfs "$SRC/a" "$TREE"

for c in append add remove chmod touch rewrite top; do
        change "$c"
        # ondisk: handed out as it is, not even looked at.
        listing >"$TEST_TMP/before"
        fetch_a "fetch --insecure-options=ondisk after $c" --insecure-options=ondisk
        listing >"$TEST_TMP/after"
        cmp -s "$TEST_TMP/before" "$TEST_TMP/after" ||
                fail "--insecure-options=ondisk after $c: the tree was changed"
        # verify: reported, left as it is.
        acf --dir="$D" verify
        expect_rc 254 "verify after $c"
        expect_err "its tree was modified since it was rendered"
        expect_err "verify --repair"
        listing >"$TEST_TMP/after"
        cmp -s "$TEST_TMP/before" "$TEST_TMP/after" || fail "verify after $c changed the tree"
        # fetch: rendered again from the chunk store, no chunk requested.
        log_mark
        fetch_a "fetch after $c"
        expect_err "modified since it was rendered; rendering it again"
        fe_same_rootfs "$SRC/a" "$TREE"
        [ ! -e "$TREE/notes" ] || fail "after $c: the added notes are still there"
        expect_eq "chunk requests of the fetch after $c" "$(fe_chunk_requests | wc -l)" 0
        expect_eq "work files left after $c" "$(ls -A "$D/tmp")" ""
        acf --dir="$D" verify
        expect_rc 0 "verify after the fetch after $c"
        # And the next fetch hands it out without rendering it.
        fetch_a "second fetch after $c"
        expect_no_err "rendering it again"
done
echo "ok: modified trees are noticed by fetch and verify, and left alone with ondisk"

# --- verify --repair ------------------------------------------------------------------------------
change append
change remove
acf --dir="$D" verify --repair
expect_rc 254 "verify --repair"
expect_err "rendered it again"
fe_same_rootfs "$SRC/a" "$TREE"
acf --dir="$D" verify
expect_rc 0 "verify after verify --repair"
expect_eq "work files left after verify --repair" "$(ls -A "$D/tmp")" ""
echo "ok: verify --repair renders a modified tree again"

# --- a tree without a record (rendered by an older acfetch) ------------------------------------------
[ -f "$TREE/rendered.stat" ] || fail "the tree has no record"
rm "$TREE/rendered.stat"
fetch_a "fetch of a tree without a record"
expect_err "older acfetch"
[ -f "$TREE/rendered.stat" ] || fail "the tree rendered again has no record"
fe_same_rootfs "$SRC/a" "$TREE"
rm "$TREE/rendered.stat"
listing >"$TEST_TMP/before"
acf --dir="$D" verify
expect_rc 0 "verify of an intact tree without a record"
[ -f "$TREE/rendered.stat" ] || fail "verify did not record an intact tree"
listing | grep -v '^rendered.stat ' >"$TEST_TMP/after"
grep -v '^ ' "$TEST_TMP/before" >"$TEST_TMP/before.x" || true
grep -v '^ ' "$TEST_TMP/after" >"$TEST_TMP/after.x" || true
cmp -s "$TEST_TMP/before.x" "$TEST_TMP/after.x" || fail "verify changed an intact tree"
fetch_a "fetch after verify recorded the tree"
expect_no_err "rendering it again"
echo "ok: a tree without a record is rendered again by fetch, recorded by verify"

# --- modified, and a chunk missing: only that chunk is downloaded ----------------------------------
one=$(caidx_ids "$INDEX" | head -n 1)
rm "$D/chunks/$(chunk_rel "$one")"
change append
log_mark
fetch_a "fetch of a modified tree with a chunk missing"
expect_err "chunks are missing from the store"
expect_err "rendering it again"
expect_eq "chunks requested" "$(fe_chunk_requests)" "$one"
fe_same_rootfs "$SRC/a" "$TREE"
acf --dir="$D" verify
expect_rc 0 "verify after the repair"
echo "ok: a modified tree with a chunk missing: the chunk is fetched, the tree rendered again"

pass "trees that stay what was fetched"
