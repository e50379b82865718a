#!/bin/sh
# `acfetch publish` end to end: a bare rootfs published as example.com/app 1.0 (generated
# manifest, signed with a fresh GnuPG key, ac-discovery-pubkeys tag) into the docroot a private
# nginx serves over TLS; `acfetch fetch example.com/app:1.0` discovers it, verifies the signature
# with the trusted key, and renders a tree equal to the source. Version 2.0
# published beside it stores only its new chunks and leaves 1.0 fetchable; the unversioned name
# gets the latest. An image directory holding manifest and rootfs/ publishes to exactly the
# index `casync make` makes of it; manifests that disagree with --name/--label are refused.
# shellcheck disable=SC2086 # $NET is an option list
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init
fe_signing_key
g() { gpg --batch --quiet "$@"; }
pass "signing key $FPR made and trusted"

OUTDIR=$WWW/example.com
mkdir -p "$OUTDIR"
D=$TEST_TMP/store
STORE=$OUTDIR/default.castr
nchunks() { find "$STORE" -name '*.cacnk' | wc -l; }

# ---------------------------------------------------------------- 1.0: a bare rootfs
V1=$SRC/v1
fetch_make_tree "$V1" 700 300 40
ln -s f0 "$V1/sub/link"
mkfifo "$V1/fifo"
acf publish "$V1" --name example.com/app --label version=1.0 --exec '/sub/run.sh --flag' \
        --user 1000 --group 1000 --sign "$FPR" --pubkeys https://example.com/keys.asc "$OUTDIR"
[ "$RC" = 0 ] || fail "publish 1.0"
expect_eq "printed URL" "$(cat "$OUT")" "https://example.com/app/1.0/$HOST_OS-$HOST_ARCH.caidx"
IDX1=$OUTDIR/app/1.0/$HOST_OS-$HOST_ARCH.caidx
[ -f "$IDX1" ] && [ -f "$IDX1.asc" ] || fail "index or signature missing"
[ "$(readlink "$OUTDIR/app/1.0/default.castr")" = ../../default.castr ] ||
        fail "default.castr beside the index is not a link to the shared store"
[ "$(readlink "$OUTDIR/app/latest")" = 1.0 ] || fail "latest does not point to 1.0"
grep -q '<meta name="ac-discovery" content="example.com/app https://example.com/app/{version}/{os}-{arch}.caidx">' \
        "$OUTDIR/app/index.html" || fail "discovery tag: $(cat "$OUTDIR/app/index.html")"
grep -q '<meta name="ac-discovery-pubkeys" content="example.com/app https://example.com/keys.asc">' \
        "$OUTDIR/app/index.html" || fail "pubkeys tag"
g --verify "$IDX1.asc" "$IDX1" 2>/dev/null || fail "gpg does not verify the signature"
pass "1.0 published: index, signature, store link, latest, discovery page"

# The generated manifest and the archive as casync reads it (through the link).
casync extract "$IDX1" "$TEST_TMP/x1" || fail "casync extract of the published index"
fe_same_tree "$V1" "$TEST_TMP/x1/rootfs" strict
if command -v python3 >/dev/null 2>&1; then
        python3 - "$TEST_TMP/x1/manifest" "$HOST_OS" "$HOST_ARCH" <<'EOF' || fail "generated manifest"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["acKind"] == "ImageManifest" and m["acVersion"] == "0.8.11", m
assert m["name"] == "example.com/app", m
assert m["labels"] == [{"name": "version", "value": "1.0"}, {"name": "os", "value": sys.argv[2]},
                       {"name": "arch", "value": sys.argv[3]}], m["labels"]
assert m["app"] == {"exec": ["/sub/run.sh", "--flag"], "user": "1000", "group": "1000"}, m["app"]
EOF
else
        grep -q '"name": "example.com/app"' "$TEST_TMP/x1/manifest" || fail "generated manifest"
fi
[ "$(ls "$TEST_TMP/x1")" = "manifest
rootfs" ] || fail "the archive holds more than manifest and rootfs: $(ls "$TEST_TMP/x1")"
pass "casync extracts the published image: generated manifest, rootfs equal to the source"

# Republishing the same rootfs makes the same index (nothing depends on the time of publishing).
cp "$IDX1" "$TEST_TMP/idx1.copy"
acf publish "$V1" --name example.com/app --label version=1.0 --exec '/sub/run.sh --flag' \
        --user 1000 --group 1000 --sign "$FPR" --pubkeys https://example.com/keys.asc "$OUTDIR"
[ "$RC" = 0 ] && cmp -s "$IDX1" "$TEST_TMP/idx1.copy" || fail "republishing changed the index"
pass "republishing an unchanged rootfs gives the same index"

# ---------------------------------------------------------------- 2.0 beside it
V2=$SRC/v2
cp -a "$V1" "$V2"
head -c 200000 /dev/urandom >"$V2/f1"
echo new >"$V2/sub/new-file"
before=$(nchunks)
acf publish "$V2" --name example.com/app --label version=2.0 --exec /sub/run.sh --sign "$FPR" \
        "$OUTDIR"
[ "$RC" = 0 ] || fail "publish 2.0"
IDX2=$OUTDIR/app/2.0/$HOST_OS-$HOST_ARCH.caidx
after=$(nchunks)
new=$(caidx_ids "$IDX2" | sort -u | while read -r id; do
        caidx_ids "$IDX1" | grep -qx "$id" || echo "$id"
done | wc -l)
expect_eq "chunks added by 2.0" $((after - before)) "$new"
expect_ge "chunks 2.0 shares with 1.0" $(($(caidx_distinct "$IDX2") - new)) 3
[ -f "$IDX1" ] && [ "$(readlink "$OUTDIR/app/latest")" = 2.0 ] || fail "1.0 gone or latest not 2.0"
pass "2.0 added $new new chunks ($before -> $after), 1.0 kept, latest is 2.0"

# ---------------------------------------------------------------- served and fetched by name
fe_nginx_start
acf --dir="$D" fetch $NET example.com/app:1.0
[ "$RC" = 0 ] || fail "fetch example.com/app:1.0"
grep -q 'signature verified' "$ERR" || fail "no signature verification reported: $(cat "$ERR")"
ID1=$(cat "$OUT")
acf --dir="$D" render "$ID1" "$TEST_TMP/r1"
[ "$RC" = 0 ] || fail "render 1.0"
fe_same_tree "$V1" "$TEST_TMP/r1/rootfs" strict
cmp -s "$TEST_TMP/x1/manifest" "$TEST_TMP/r1/manifest" || fail "fetched manifest differs"
pass "fetch example.com/app:1.0 over https: signature verified, tree equals the source"

acf --dir="$D" fetch $NET example.com/app:2.0
[ "$RC" = 0 ] || fail "fetch example.com/app:2.0"
acf --dir="$D" render "$(cat "$OUT")" "$TEST_TMP/r2"
fe_same_tree "$V2" "$TEST_TMP/r2/rootfs" strict
acf --dir="$D" fetch $NET example.com/app
[ "$RC" = 0 ] || fail "fetch example.com/app (latest)"
acf --dir="$D" image cat-manifest "$(cat "$OUT")"
grep -q '"2.0"' "$OUT" || fail "the unversioned name did not give 2.0: $(cat "$OUT")"
pass "2.0 and the unversioned name (latest) fetch too"

# ---------------------------------------------------------------- an image directory
IMG=$SRC/img
mkdir -p "$IMG"
fetch_make_tree "$IMG/rootfs" 100
fe_manifest "$IMG" example.com/tool version=0.1 os=$HOST_OS arch=$HOST_ARCH
touch -d '2020-01-01 00:00:00' "$IMG"
acf publish "$IMG" --name example.com/tool --sign "$FPR" "$OUTDIR"
[ "$RC" = 0 ] || fail "publish an image directory"
IDXT=$OUTDIR/tool/0.1/$HOST_OS-$HOST_ARCH.caidx
casync make --store="$TEST_TMP/c.castr" "$TEST_TMP/c.caidx" "$IMG" >/dev/null
cmp -s "$IDXT" "$TEST_TMP/c.caidx" || fail "publish of an image directory differs from casync make of it"
pass "an image directory publishes to exactly the index casync make makes of it"

acf --dir="$D" fetch $NET example.com/tool:0.1
[ "$RC" = 0 ] || fail "fetch example.com/tool:0.1"
acf --dir="$D" render "$(cat "$OUT")" "$TEST_TMP/rt"
fe_same_tree "$IMG/rootfs" "$TEST_TMP/rt/rootfs" strict
cmp -s "$IMG/manifest" "$TEST_TMP/rt/manifest" || fail "tool's manifest differs"
pass "the image directory's image fetches by name"

# Extra entries in the image directory stay out; --manifest replaces the manifest.
echo stray >"$IMG/notes.txt"
fe_manifest "$TEST_TMP" example.com/tool version=0.2 os=$HOST_OS arch=$HOST_ARCH
acf publish "$IMG" --name example.com/tool --manifest "$TEST_TMP/manifest" --label version=0.2 \
        "$OUTDIR"
[ "$RC" = 0 ] || fail "publish with --manifest"
casync extract "$OUTDIR/tool/0.2/$HOST_OS-$HOST_ARCH.caidx" "$TEST_TMP/x2" ||
        fail "extract 0.2"
[ "$(ls "$TEST_TMP/x2")" = "manifest
rootfs" ] || fail "0.2 holds $(ls "$TEST_TMP/x2")"
cmp -s "$TEST_TMP/manifest" "$TEST_TMP/x2/manifest" || fail "--manifest not used"
pass "--manifest replaces the manifest; stray files stay out of the archive"

# ---------------------------------------------------------------- refusals
for args in "--name example.com/other" "--name example.com/tool --label version=9.9" \
        "--name example.com/tool --label channel=beta" "--name example.com/tool --exec /x" \
        "--name Bad_Name" "--name example.com/tool --store=/tmp/x"; do
        acf publish "$IMG" $args "$OUTDIR"
        [ "$RC" != 0 ] || fail "publish $args was accepted"
        grep -q 'error' "$ERR" || fail "publish $args: no error message"
done
[ ! -e "$OUTDIR/other" ] || fail "a refused publish left files"
pass "manifests that disagree with --name/--label, and bad arguments, are refused"

echo "# all publish checks passed"
