#!/bin/sh
# The command line a first-time user meets (issue 14): an unknown option names the command and
# the way to its help; every failure exits with rkt's status, 254; `export` keeps an existing
# file unless --overwrite and writes to stdout for '-'; `image rm NAME` with several stored
# versions lists them and removes none unless NAME:VERSION or --all; `image export|render|
# extract|gc` are the plain commands; `publish` warns without --sign or --pubkeys and refuses a
# --sign key gpg lacks before it writes anything.
# shellcheck disable=SC2086,SC2119 # $NET is an option list; fe_nginx_start takes no arguments
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init

# ---------------------------------------------------------------- options and exit status
D=$TEST_TMP/store
for cmd in fetch render export gc verify extract mtree make publish mount trust; do
        acf --dir="$D" "$cmd" --no-such-option
        expect_rc 254 "$cmd --no-such-option"
        expect_eq "$cmd --no-such-option: stderr" "$(cat "$ERR")" \
                "acfetch: error: $cmd: unrecognized option '--no-such-option'; see 'acfetch $cmd --help'"
done
acf --dir="$D" image list --bogus=1
expect_rc 254 "image list --bogus"
expect_err "image list: unrecognized option '--bogus'; see 'acfetch image list --help'"
acf --dir="$D" fetch --jobs
expect_rc 254 "fetch --jobs without a value"
expect_err "fetch: option '--jobs' needs a value; see 'acfetch fetch --help'"
acf --dir="$D" gc --dry-run=yes
expect_rc 254 "gc --dry-run=yes"
expect_err "gc: option '--dry-run' takes no value"
acf --dir="$D" no-such-command
expect_rc 254 "an unknown command"
acf --dir="$D" render
expect_rc 254 "render without operands"
pass "unknown options name the command and its help; exit status 254"

# ---------------------------------------------------------------- two versions of one name
host=cli.example.com
name=$host/app
img=$WWW/$host/img
fe_image "$SRC/v1" "$name" 512 version=1
fe_image "$SRC/v2" "$name" 512 version=2
fe_publish "$img/app-1.caidx" "$SRC/v1"
fe_publish "$img/app-2.caidx" "$SRC/v2"
fe_page "$WWW/$host" "$host" "https://$host/img/app-{version}.caidx"
fe_nginx_start

# Failures of the real work exit 254 as well.
acf --dir="$D" fetch $NET "$host/none:1"
expect_rc 254 "fetch of a name nobody serves"
acf --dir="$D" fetch $NET --full "$name:1"
expect_rc 0 "fetch v1"
id1=$(cat "$OUT")
acf --dir="$D" fetch $NET --full "$name:2"
expect_rc 0 "fetch v2"
id2=$(cat "$OUT")
k1=$(fe_key "$id1")
k2=$(fe_key "$id2")

# ---------------------------------------------------------------- export
out=$TEST_TMP/v1.aci
echo "precious" >"$out"
acf --dir="$D" export "$name:1" "$out"
expect_rc 254 "export onto an existing file"
expect_err "$out exists; export replaces it only with --overwrite"
expect_eq "the existing file after a refused export" "$(cat "$out")" precious
acf --dir="$D" export --overwrite "$name:1" "$out"
expect_rc 0 "export --overwrite"
expect_eq "sha512 of the overwritten file" "$(fe_key "sha512-$(sha512sum <"$out" | cut -d' ' -f1)")" "$id1"
acf --dir="$D" export "$name:2" -
expect_rc 0 "export to stdout"
expect_eq "sha512 of export -" "$(fe_key "sha512-$(sha512sum <"$OUT" | cut -d' ' -f1)")" "$id2"
pass "export refuses to overwrite without --overwrite; '-' is stdout"

# ---------------------------------------------------------------- image aliases, as in rkt
acf --dir="$D" image export "$name:2" "$TEST_TMP/alias.aci"
expect_rc 0 "image export"
expect_eq "sha512 of image export" "$(fe_key "sha512-$(sha512sum <"$TEST_TMP/alias.aci" | cut -d' ' -f1)")" \
        "$id2"
acf --dir="$D" image export "$name:2" "$TEST_TMP/alias.aci"
expect_rc 254 "image export onto an existing file"
acf --dir="$D" image render --rootfs-only "$name:1" "$TEST_TMP/alias-render"
expect_rc 0 "image render"
fe_same_tree "$SRC/v1/rootfs" "$TEST_TMP/alias-render"
casync make --store="$TEST_TMP/x.castr" "$TEST_TMP/x.caidx" "$SRC/v2/rootfs" >/dev/null ||
        fail "casync make"
acf --dir="$D" image extract --store="$TEST_TMP/x.castr" "$TEST_TMP/x.caidx" \
        "$TEST_TMP/alias-extract"
expect_rc 0 "image extract"
fe_same_tree "$SRC/v2/rootfs" "$TEST_TMP/alias-extract"
acf --dir="$D" image gc --dry-run
expect_rc 0 "image gc --dry-run"
grep -q "^acfetch: gc --dry-run: " "$ERR" || fail "image gc: not gc's summary: $(cat "$ERR")"
acf --dir="$D" image render --no-such-option "$name:1" "$TEST_TMP/x"
expect_rc 254 "image render --no-such-option"
expect_err "render: unrecognized option '--no-such-option'; see 'acfetch render --help'"
pass "image export|render|extract|gc are the plain commands"

# ---------------------------------------------------------------- render's message
mkdir -p "$TEST_TMP/full"
: >"$TEST_TMP/full/x"
acf --dir="$D" render "$name:1" "$TEST_TMP/full"
expect_rc 254 "render into a populated directory"
expect_no_err "in-place"
expect_err "$TEST_TMP/full exists and is not empty"
pass "render into a populated directory does not suggest --in-place"

# ---------------------------------------------------------------- image rm
acf --dir="$D" image rm "$name"
expect_rc 254 "image rm of a name with two versions"
grep -q "$name names 2 stored images; nothing removed" "$ERR" ||
        fail "image rm: no list header: $(cat "$ERR")"
grep -q "^  $k1  $name:1\$" "$ERR" || fail "image rm: v1 not listed: $(cat "$ERR")"
grep -q "^  $k2  $name:2\$" "$ERR" || fail "image rm: v2 not listed: $(cat "$ERR")"
expect_eq "images after a refused rm" "$(fe_images "$D")" "$(printf '%s\n' "$k1" "$k2" | sort)"
acf --dir="$D" image rm --all "$name"
expect_rc 0 "image rm --all"
expect_eq "images after rm --all" "$(fe_images "$D")" ""
expect_eq "trees after rm --all" "$(fe_trees "$D")" ""
# With a version, that one goes; a name with one stored image needs nothing more.
acf --dir="$D" fetch $NET "$name:1"
acf --dir="$D" fetch $NET "$name:2"
acf --dir="$D" image rm "$name:2"
expect_rc 0 "image rm NAME:VERSION"
expect_eq "images after rm NAME:2" "$(fe_images "$D")" "$k1"
acf --dir="$D" image rm "$name"
expect_rc 0 "image rm of a name with one stored image"
expect_eq "images after rm NAME" "$(fe_images "$D")" ""
pass "image rm NAME lists several versions and removes none; --all removes them"

# ---------------------------------------------------------------- publish
: >"$TEST_TMP/dummy"
fe_sign "$TEST_TMP/dummy" # makes the test key
GNUPGHOME=$FE_GNUPG
export GNUPGHOME
PUB=$TEST_TMP/pub
acf publish "$SRC/v1" --name "$name" "$PUB"
expect_rc 0 "publish without --sign and --pubkeys"
expect_err "warning: no --sign: 'acfetch fetch' refuses an unsigned image"
expect_err "warning: no --pubkeys: "
acf publish "$SRC/v2" --name "$name" --sign "$(cat "$FE_GNUPG/fpr")" \
        --pubkeys "https://$host/keys.asc" "$PUB"
expect_rc 0 "publish with --sign and --pubkeys"
expect_no_err "warning"
PUB2=$TEST_TMP/pub2
acf publish "$SRC/v1" --name "$name" --sign no-such-key@example.com "$PUB2"
expect_rc 254 "publish with a --sign key gpg lacks"
expect_err "no-such-key@example.com: gpg has no secret key"
[ -z "$(find "$PUB2" -type f 2>/dev/null)" ] ||
        fail "publish with a missing key wrote: $(find "$PUB2" -type f | head -n 5)"
pass "publish warns without --sign and --pubkeys, and checks the --sign key first"
