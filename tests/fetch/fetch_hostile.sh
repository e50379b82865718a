#!/bin/sh
# `acfetch fetch NAME` against servers that serve the wrong thing: a manifest whose name or
# labels differ from the request (os/arch defaults included) is rejected unless
# --insecure-options=image; a tag prefix matches whole name components only; a template with a
# variable the request cannot fill is skipped; an http:// template, and a page only served
# over http, need --insecure-options=http; a discovery page over 1 MiB is refused; meta tags in comments,
# <script> and <textarea> do not count; an endpoint that is not a .caidx is an unsupported
# payload. Every rejection exits non-zero with one line on stderr, prints nothing on stdout and
# leaves no image and no tree in the store. Each rejection has a control that succeeds.
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

DB=$TEST_TMP/rejected # must stay without images and trees
DOK=$TEST_TMP/accepted

# reject WHAT STDERR_PATTERN FETCH_ARGS...: the fetch fails cleanly.
reject() {
        _rj_what=$1
        _rj_pat=$2
        shift 2
        acf --dir="$DB" fetch $NET "$@"
        [ "$RC" -ne 0 ] || fail "$_rj_what: the fetch succeeded: $(cat "$OUT")"
        [ ! -s "$OUT" ] || fail "$_rj_what: stdout: $(cat "$OUT")"
        expect_eq "$_rj_what: stderr lines" "$(wc -l <"$ERR")" 1
        [ -z "$_rj_pat" ] || grep -qi -- "$_rj_pat" "$ERR" ||
                fail "$_rj_what: stderr lacks '$_rj_pat': $(cat "$ERR")"
        expect_store_clean "$DB" "$_rj_what"
}

# accept WHAT SRC FETCH_ARGS...: the fetch succeeds and the tree is SRC's.
accept() {
        _ac_what=$1
        _ac_src=$2
        shift 2
        acf --dir="$DOK" fetch $NET --full "$@"
        expect_rc 0 "$_ac_what"
        expect_full_id
        fe_same_rootfs "$_ac_src" "$DOK/trees/$(cat "$OUT")"
}

# pub HOST PATH NAME [KEY=VALUE]...: an image of NAME (these labels, the host's os and arch
# unless PUB_RAW is set) at https://HOST/PATH; its source is $SRC/HOST/PATH.
pub() {
        _pb_host=$1
        _pb_path=$2
        _pb_name=$3
        shift 3
        _pb_src=$SRC/$_pb_host/$_pb_path
        fe_image "$_pb_src" "$_pb_name" 256 "$@"
        # Exactly these labels: without the host's os and arch.
        [ -z "${PUB_RAW:-}" ] || fe_manifest "$_pb_src" "$_pb_name" "$@"
        fe_publish "$WWW/$_pb_host/$_pb_path" "$_pb_src"
}

# --- h1: manifest name and labels ------------------------------------------------------------
h=h1.example.com
fe_page "$WWW/$h" "$h" "https://$h/img/{name}-{version}.caidx"
pub $h img/$h/named-1.0.caidx $h/other version=1.0
pub $h img/$h/labeled-1.0.caidx $h/labeled version=2.0
pub $h img/$h/chan-1.0.caidx $h/chan version=1.0
PUB_RAW=1 pub $h img/$h/noarch-1.0.caidx $h/noarch version=1.0 os=$HOST_OS
pub $h img/$h/good-1.0.caidx $h/good version=1.0 channel=beta

# --- h2: prefixes match whole components -------------------------------------------------------
h=h2.example.com
fe_page "$WWW/$h" "$h/foo" "https://$h/img/{name}.caidx"
pub $h img/$h/foo.caidx $h/foo
pub $h img/$h/foobar.caidx $h/foobar
pub $h img/$h/foo/bar.caidx $h/foo/bar

# --- h3: templates with a variable left over ----------------------------------------------------
h=h3.example.com
fe_page "$WWW/$h" "$h" "https://$h/img/{name}-{channel}.caidx"
fe_page "$WWW/$h/deep" "$h/deep" "https://$h/img/{name}-{flavor}.caidx"
pub $h img/$h/app-stable.caidx $h/app channel=stable
pub $h img/$h/deep-stable.caidx $h/deep channel=stable
pub $h img/$h/deep-x.caidx $h/deep channel=stable flavor=x

# --- h4: an http:// template --------------------------------------------------------------------
h=h4.example.com
fe_page "$WWW/$h" "$h" "http://$h/img/{name}.caidx"
pub $h img/$h/app.caidx $h/app

# The page only over plain http: https answers 404 under /httponly/.
fe_page "$WWW/$h/httponly/app" "$h/httponly/app" "http://$h/img/{name}.caidx"
pub $h img/$h/httponly/app.caidx $h/httponly/app

# --- h5: page size ------------------------------------------------------------------------------
h=h5.example.com
# page DIR SIZE: a discovery page of exactly SIZE bytes, its tag first.
sized_page() {
        mkdir -p "$1"
        {
                printf '<html><head><meta name="ac-discovery" content="%s %s"></head><body><p>' \
                        "$h" "https://$h/img/{name}.caidx"
        } >"$1/index.html"
        tail_='</p></body></html>'
        pad=$(($2 - $(wc -c <"$1/index.html") - ${#tail_}))
        head -c "$pad" /dev/zero | tr '\0' a >>"$1/index.html"
        printf '%s' "$tail_" >>"$1/index.html"
        expect_eq "size of $1/index.html" "$(wc -c <"$1/index.html")" "$2"
}
sized_page "$WWW/$h/big" 1048577
sized_page "$WWW/$h/max" 1048576
pub $h img/$h/big.caidx $h/big
pub $h img/$h/max.caidx $h/max

# --- h6: meta tags that are not elements -------------------------------------------------------
h=h6.example.com
hidden_tags() { # NAME: tags inside a comment, a script and a textarea, all for evil-NAME
        evil="$h https://$h/img/evil-$1.caidx"
        echo "<!-- <meta name=\"ac-discovery\" content=\"$evil\"> -->"
        echo "<script>document.write('<meta name=\"ac-discovery\" content=\"$evil\">');</script>"
        echo "<textarea><meta name=\"ac-discovery\" content=\"$evil\"></textarea>"
}
mkdir -p "$WWW/$h/hidden" "$WWW/$h/mixed"
{
        echo '<html><head><title>x</title>'
        hidden_tags hidden
        echo '</head><body></body></html>'
} >"$WWW/$h/hidden/index.html"
{
        echo '<html><head><title>x</title>'
        hidden_tags mixed
        echo "<meta name=\"ac-discovery\" content=\"$h https://$h/img/good-mixed.caidx\">"
        echo '</head><body></body></html>'
} >"$WWW/$h/mixed/index.html"
pub $h img/evil-hidden.caidx $h/hidden
pub $h img/evil-mixed.caidx $h/mixed
pub $h img/good-mixed.caidx $h/mixed

# --- h7: payloads that are not a .caidx ----------------------------------------------------------
h=h7.example.com
fe_page "$WWW/$h" \
        "$h/aci" "https://$h/img/{name}.{ext}" \
        "$h/catar" "https://$h/img/app.catar" \
        "$h/caibx" "https://$h/img/app.caibx" \
        "$h/ok" "https://$h/img/ok.caidx"
pub $h img/ok.caidx $h/ok
fe_image "$SRC/h7" $h/aci 256
mkdir -p "$WWW/$h/img/$h"
tar -C "$SRC/h7" -cf "$WWW/$h/img/$h/aci.aci" manifest rootfs
casync make "$WWW/$h/img/app.catar" "$SRC/h7" >/dev/null || fail "casync make .catar"
casync make --store="$WWW/$h/img/default.castr" "$WWW/$h/img/app.caibx" "$SRC/h7/rootfs/f0" \
        >/dev/null || fail "casync make .caibx"

fe_nginx_start

# --- name and label mismatches -------------------------------------------------------------------
h=h1.example.com
accept "control: matching name and labels" "$SRC/$h/img/$h/good-1.0.caidx" "$h/good:1.0,channel=beta"
reject "manifest name differs" "$h/other" "$h/named:1.0"
reject "manifest version differs" version "$h/labeled:1.0"
reject "manifest lacks a requested label" channel "$h/chan:1.0,channel=beta"
reject "manifest lacks the host's arch (a default label)" arch "$h/noarch:1.0"
accept "name mismatch with --insecure-options=image" "$SRC/$h/img/$h/named-1.0.caidx" \
        --insecure-options=image "$h/named:1.0"
accept "label mismatch with --insecure-options=image" "$SRC/$h/img/$h/labeled-1.0.caidx" \
        --insecure-options=image "$h/labeled:1.0"
echo "ok: name and label checks"

# --- prefix confusion --------------------------------------------------------------------------
h=h2.example.com
accept "control: prefix equal to the name" "$SRC/$h/img/$h/foo.caidx" "$h/foo"
accept "control: prefix one component up" "$SRC/$h/img/$h/foo/bar.caidx" "$h/foo/bar"
log_mark
reject "prefix $h/foo for $h/foobar" "" "$h/foobar"
expect_eq "index requests for $h/foobar" "$(log_count '\.caidx')" 0
echo "ok: prefixes match whole components"

# --- unrendered variables ------------------------------------------------------------------------
h=h3.example.com
log_mark
reject "template needs {channel}, request has none" "" "$h/app"
expect_eq "index requests for a skipped template" "$(log_count '\.caidx')" 0
expect_eq "braces requested" "$(log_count '[{}]\|%7[BbDd]')" 0
accept "control: the label is given" "$SRC/$h/img/$h/app-stable.caidx" "$h/app,channel=stable"
# The deeper page's tag needs {flavor}: skipped, and the walk goes on up to the host's page.
log_mark
accept "a skipped tag moves the walk up" "$SRC/$h/img/$h/deep-stable.caidx" "$h/deep,channel=stable"
expect_eq "deep-x requests" "$(log_count 'deep-x')" 0
accept "control: the deeper tag with {flavor} given" "$SRC/$h/img/$h/deep-x.caidx" \
        "$h/deep,channel=stable,flavor=x"
echo "ok: templates with unrendered variables are skipped"

# --- http:// templates -------------------------------------------------------------------------
h=h4.example.com
log_mark
reject "http:// template without --insecure-options=http" "" "$h/app"
expect_eq "plain http requests" "$(log_count "^$NGINX_HTTP_PORT ")" 0
log_mark
accept "http:// template with --insecure-options=http" "$SRC/$h/img/$h/app.caidx" \
        --insecure-options=http "$h/app"
expect_eq "index over plain http" "$(log_count "^$NGINX_HTTP_PORT \"GET /img/$h/app.caidx ")" 1
log_mark
reject "a page only over http, without --insecure-options=http" "" "$h/httponly/app"
expect_eq "plain http requests" "$(log_count "^$NGINX_HTTP_PORT ")" 0
log_mark
accept "a page only over http, with --insecure-options=http" "$SRC/$h/img/$h/httponly/app.caidx" \
        --insecure-options=http "$h/httponly/app"
expect_eq "the page over plain http" \
        "$(log_count "^$NGINX_HTTP_PORT \"GET /httponly/app?ac-discovery=1 HTTP/1.1\" 200 ")" 1
expect_eq "the page over https first" \
        "$(log_count "^$NGINX_HTTPS_PORT \"GET /httponly/app?ac-discovery=1 [^\"]*\" 404 ")" 1
echo "ok: http:// templates and pages need the opt-in"

# --- page size -----------------------------------------------------------------------------------
h=h5.example.com
log_mark
reject "a page of 1 MiB + 1 byte" "" "$h/big"
expect_eq "index requests after a big page" "$(log_count '\.caidx')" 0
accept "control: a page of exactly 1 MiB" "$SRC/$h/img/$h/max.caidx" "$h/max"
echo "ok: pages over 1 MiB are refused"

# --- hidden meta tags ----------------------------------------------------------------------------
h=h6.example.com
log_mark
reject "only hidden tags" "" "$h/hidden"
log_mark
accept "hidden tags before a real one" "$SRC/$h/img/good-mixed.caidx" "$h/mixed"
expect_eq "requests for the hidden tags' URLs" "$(log_count 'evil-')" 0
echo "ok: tags in comments, scripts and textareas are ignored"

# --- payloads ------------------------------------------------------------------------------------
h=h7.example.com
accept "control: a .caidx" "$SRC/$h/img/ok.caidx" "$h/ok"
reject ".aci endpoint" "unsupported payload" "$h/aci"
reject ".catar endpoint" "unsupported payload" "$h/catar"
reject ".caibx endpoint" "unsupported payload" "$h/caibx"
echo "ok: only .caidx payloads"

echo "fetch_hostile passed"
