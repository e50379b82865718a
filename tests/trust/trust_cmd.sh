#!/bin/sh
# `acfetch trust` and trust on first use: keys discovered for a prefix (ac-discovery-pubkeys)
# and written to --local-config's trust store (dirs 0755, files 0644, named by fingerprint),
# the review (rkt's fingerprint layout; refused without a terminal unless
# --skip-fingerprint-review; "yes" on a pseudo-terminal), key files and https URLs, --root,
# the refusals (--root with --prefix, keys with neither, http URLs), --list (and --json),
# --remove; then `fetch --trust-keys-from-https` (and the global form) trusting the discovered
# key on first use only.
# $NET is a list of options, split on purpose.
# shellcheck disable=SC2086
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
# shellcheck source=tests/trust/lib.sh
. "$SRCDIR/tests/trust/lib.sh"
tr_init

pretty() { # the rkt layout of a fingerprint
        echo "$1" | tr a-f A-F | sed 's/\(....\)/\1 /g; s/ $//' |
                awk '{ for (i = 1; i <= 10; i++) printf "%s%s", $i, (i == 5 ? "  " : (i < 10 ? " " : "\n")) }'
}

tr_key hello ed25519 'Hello Signer <hello@example.com>'
tr_key extra nistp256 'Extra Signer <extra@example.com>'
tr_key rootkey rsa3072 'Root Signer <root@example.com>'
tr_key tofu ed25519 'Tofu Signer <tofu@example.com>'
tr_key late ed25519 'Late Signer <late@example.com>'

# example.com's page: images on images.test, keys beside the page.
mkdir -p "$WWW/example.com"
cat >"$WWW/example.com/index.html" <<'EOF'
<!DOCTYPE html>
<html><head>
<meta name="ac-discovery" content="example.com https://images.test/{name}.caidx">
<meta name="ac-discovery-pubkeys" content="example.com/hello https://example.com/keys/hello.asc">
<meta name="ac-discovery-pubkeys" content="example.com https://example.com/keys/tofu.asc">
</head><body></body></html>
EOF
mkdir -p "$WWW/example.com/keys"
cp "$KEYS/hello.asc" "$WWW/example.com/keys/hello.asc"
cp "$KEYS/tofu.asc" "$WWW/example.com/keys/tofu.asc"
cp "$KEYS/extra.asc" "$WWW/example.com/keys/extra.asc"
tr_publish example.com/hello hello
tr_publish example.com/tofu tofu
tr_publish example.com/late/app late
tr_nginx_start

hello=$(tr_fpr hello)
file=$LOC/trustedkeys/prefix.d/example.com/hello/$hello

# --- no terminal: refused without --skip-fingerprint-review, nothing written -----------------
acf --local-config="$LOC" trust $NET --prefix example.com/hello </dev/null
expect_rc 254 "trust without a terminal"
expect_err "not trusting key $hello: it must be reviewed, and there is no terminal"
expect_err "GPG key fingerprint is: $(pretty "$hello")\$"
expect_err 'Hello Signer <hello@example.com>'
[ ! -e "$file" ] || fail "a key was written without review"

# --- discovery for the prefix, --skip-fingerprint-review ----------------------------------------
acf --local-config="$LOC" trust $NET --prefix example.com/hello --skip-fingerprint-review
expect_rc 0 "trust --prefix (discovered)"
expect_eq "stdout" "$(cat "$OUT")" "$file"
expect_err "Added key for prefix \"example.com/hello\" at \"$file\""
[ -f "$file" ] || fail "$file was not written"
expect_eq "key file mode" "$(stat -c %a "$file")" 644
for d in trustedkeys trustedkeys/prefix.d trustedkeys/prefix.d/example.com \
        trustedkeys/prefix.d/example.com/hello; do
        expect_eq "$d mode" "$(stat -c %a "$LOC/$d")" 755
done
grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$file" || fail "$file is not armored"
# The image verifies with it.
acf --dir="$D" fetch $NET --local-config="$LOC" example.com/hello
expect_rc 0 "fetch with the discovered key"
expect_err 'signature verified: Hello Signer <hello@example.com>'

# --- refusals --------------------------------------------------------------------------------------
acf --local-config="$LOC" trust --root --prefix example.com "$KEYS/extra.asc"
expect_rc 254 "--root with --prefix"
expect_err "\\-\\-root and \\-\\-prefix exclude each other"
acf --local-config="$LOC" trust --skip-fingerprint-review "$KEYS/extra.asc"
expect_rc 254 "keys with neither --prefix nor --root"
expect_err "refusing to trust keys for every image implicitly"
acf --local-config="$LOC" trust
expect_rc 254 "neither --prefix nor --root nor keys"
acf --local-config="$LOC" trust --root
expect_rc 254 "--root without keys"
expect_err "\\-\\-root wants key files or URLs"
acf --local-config="$LOC" trust $NET --prefix example.com/x --skip-fingerprint-review \
        "http://example.com/keys/extra.asc"
expect_rc 254 "an http key URL"
expect_err "keys are fetched over https only"
acf --local-config="$LOC" trust --prefix https://example.com/x "$KEYS/extra.asc"
expect_rc 254 "a prefix with a scheme"
[ ! -e "$LOC/trustedkeys/root.d" ] || fail "root.d appeared"

# --- a key file, an https URL, --root ---------------------------------------------------------
acf --local-config="$LOC" trust --prefix example.com/files --skip-fingerprint-review \
        "$KEYS/extra.asc"
expect_rc 0 "trust a key file"
expect_eq "stdout" "$(cat "$OUT")" "$LOC/trustedkeys/prefix.d/example.com/files/$(tr_fpr extra)"
acf --local-config="$LOC" trust $NET --prefix example.com/urls --skip-fingerprint-review \
        https://example.com/keys/extra.asc
expect_rc 0 "trust a key URL"
expect_eq "stdout" "$(cat "$OUT")" "$LOC/trustedkeys/prefix.d/example.com/urls/$(tr_fpr extra)"
tr_gpg --export "$(tr_fpr rootkey)" >"$KEYS/rootkey.bin"
acf --local-config="$LOC" trust --root --skip-fingerprint-review "$KEYS/rootkey.bin"
expect_rc 0 "trust --root (a binary key)"
expect_eq "stdout" "$(cat "$OUT")" "$LOC/trustedkeys/root.d/$(tr_fpr rootkey)"

# --- "yes" on a terminal -----------------------------------------------------------------------
if command -v script >/dev/null 2>&1; then
        printf 'maybe\nyes\n' >"$TEST_TMP/answers"
        script -qec "$A --local-config='$LOC' trust --prefix example.com/asked '$KEYS/extra.asc'" \
                /dev/null <"$TEST_TMP/answers" >"$TEST_TMP/script.out" 2>&1 ||
                fail "trust on a terminal: $(cat "$TEST_TMP/script.out")"
        grep -q 'Please answer yes or no' "$TEST_TMP/script.out" ||
                fail "no second question: $(cat "$TEST_TMP/script.out")"
        [ -f "$LOC/trustedkeys/prefix.d/example.com/asked/$(tr_fpr extra)" ] ||
                fail "the key accepted on the terminal was not written"
        printf 'no\n' >"$TEST_TMP/answers"
        script -qec "$A --local-config='$LOC' trust --prefix example.com/denied '$KEYS/extra.asc'" \
                /dev/null <"$TEST_TMP/answers" >"$TEST_TMP/script.out" 2>&1 || true
        [ ! -e "$LOC/trustedkeys/prefix.d/example.com/denied/$(tr_fpr extra)" ] ||
                fail "the key refused on the terminal was written"
else
        echo "no script(1): the terminal review is not tested" >&2
fi

# --- --list, --json ----------------------------------------------------------------------------
acf --system-config="$SYS" --local-config="$LOC" trust --list
expect_rc 0 "trust --list"
grep -q "^example.com/hello  *$hello local  *Hello Signer <hello@example.com>\$" "$OUT" ||
        fail "--list lacks the hello key: $(cat "$OUT")"
grep -q "^(root)  *$(tr_fpr rootkey) local  *Root Signer <root@example.com>\$" "$OUT" ||
        fail "--list lacks the root key: $(cat "$OUT")"
acf --system-config="$SYS" --local-config="$LOC" trust --list --json
expect_rc 0 "trust --list --json"
json_check
tr -d '\n' <"$OUT" | grep -q "\"prefix\":\"example.com/hello\",\"fingerprint\":\"$hello\",\"userIDs\":\\[\"Hello Signer <hello@example.com>\"\\]" ||
        fail "--json lacks the hello key: $(cat "$OUT")"
tr -d '\n' <"$OUT" | grep -q "\"prefix\":null,\"fingerprint\":\"$(tr_fpr rootkey)\"" ||
        fail "--json lacks the root key: $(cat "$OUT")"

# --- --remove ----------------------------------------------------------------------------------
acf --local-config="$LOC" trust --remove "$(pretty "$(tr_fpr extra)")"
expect_rc 0 "trust --remove (rkt's layout of the fingerprint)"
for p in files urls asked; do
        [ ! -e "$LOC/trustedkeys/prefix.d/example.com/$p/$(tr_fpr extra)" ] ||
                fail "--remove left example.com/$p"
done
acf --local-config="$LOC" trust --remove "$(tr_fpr extra)"
expect_rc 254 "removing it twice"
expect_err "is not in the trust store"
acf --local-config="$LOC" trust --remove "$(tr_fpr rootkey)" --root
expect_rc 0 "trust --remove --root"
[ ! -e "$LOC/trustedkeys/root.d/$(tr_fpr rootkey)" ] || fail "--remove --root left the key"

# --- trust on first use ----------------------------------------------------------------------------
L2=$TEST_TMP/local2
log_mark
acf --dir="$D" fetch $NET --local-config="$L2" example.com/tofu
expect_rc 254 "fetch without a trusted key"
expect_err "signed by unknown key $(tr_fpr tofu): no key is trusted for example.com/tofu"
expect_eq "chunk requests" "$(log_count '\.cacnk')" 0
acf --dir="$D" fetch $NET --local-config="$L2" --trust-keys-from-https example.com/tofu
expect_rc 0 "fetch --trust-keys-from-https"
expect_err "warning: example.com/tofu: trusting key $(pretty "$(tr_fpr tofu)") (Tofu Signer <tofu@example.com>) from https://example.com/keys/tofu.asc on first use"
expect_err 'signature verified: Tofu Signer <tofu@example.com>'
[ -f "$L2/trustedkeys/prefix.d/example.com/tofu/$(tr_fpr tofu)" ] ||
        fail "the key trusted on first use was not written"
# Now trusted: no flag needed, no warning.
acf --dir="$TEST_TMP/store-b" fetch $NET --local-config="$L2" example.com/tofu
expect_rc 0 "fetch with the key trusted on first use"
expect_no_err 'warning:'
# The global option form; but a key trusted for a parent prefix means "not first use": the
# key discovery offers is not added.
tr_trust "$L2" example.com/late tofu
acf --dir="$D" --trust-keys-from-https --local-config="$L2" fetch $NET example.com/late/app
expect_rc 254 "fetch --trust-keys-from-https with a key already trusted for the prefix"
expect_err "signed by unknown key $(tr_fpr late)"
expect_no_err "trusting key"
rm -r "$L2/trustedkeys/prefix.d/example.com/late"
L3=$TEST_TMP/local3
acf --dir="$TEST_TMP/store-c" --trust-keys-from-https --local-config="$L3" fetch $NET \
        example.com/tofu
expect_rc 0 "the global --trust-keys-from-https"
expect_err "trusting key $(pretty "$(tr_fpr tofu)")"
echo "ok"
