# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# Helpers for the signature and trust tests (tests/trust/*.sh), on top of tests/http/lib.sh,
# tests/http/fetch_lib.sh and tests/fetch/lib.sh (nginx serving $WWW/<host>/, discovery pages,
# images). GnuPG makes the keys and signatures, in a private GNUPGHOME. POSIX sh.
#
# tr_init
#       fe_init (which skips unless gpg is installed), and: a GNUPGHOME under $TEST_TMP whose
#       agent is stopped at exit; KEYS (exported public keys), SYS and LOC (the --system-config
#       and --local-config of the tests, empty), TRUST ("--system-config=$SYS
#       --local-config=$LOC").
# tr_gpg ARGS...
#       gpg in batch mode, no passphrase.
# tr_key NAME ALGO UID [USAGE [EXPIRE [GPG OPTIONS...]]]
#       A new primary key (usage default "sign", expire default "never"); its fingerprint
#       (lower case) in $KEYS/NAME.fpr, its armored public key in $KEYS/NAME.asc.
# tr_subkey NAME ALGO
#       Adds a signing subkey to key NAME; its fingerprint in $KEYS/NAME.sub, and NAME.asc is
#       exported again.
# tr_export NAME
#       Exports key NAME again (after a revocation, say).
# tr_fpr NAME
#       The fingerprint of key NAME.
# tr_trust CONFIG root|PREFIX NAME
#       Installs $KEYS/NAME.asc as CONFIG/trustedkeys/root.d/FPR or prefix.d/PREFIX/FPR, the
#       way an administrator (or rkt trust) would.
# tr_sign SIGNER FILE [armor|binary] [GPG OPTIONS...]
#       Detached signature of FILE by SIGNER (a key name, or "sub:NAME" for its signing subkey)
#       into FILE.asc.
# tr_publish NAME [SIGNER [armor|binary]]
#       A small fresh image NAME, published as $WWW/images.test/NAME.caidx (casync), signed by
#       SIGNER when given. Sets IDX (its path). Needs the page tr_page writes.
# tr_nginx_start
#       fe_nginx_start, and NET without the --local-config of tests/fetch/lib.sh's test key:
#       these tests bring their own trust stores.
# tr_page
#       The discovery page for everything under example.com: https://images.test/{name}.caidx.
# tr_expect_rejected NAME MESSAGE [ACFETCH OPTIONS...]
#       Fetches NAME (with $NET $TRUST and the options): must fail, print MESSAGE (a grep
#       pattern) on stderr in one error line, request no chunk, and store no image.
# tr_expect_verified NAME USER_ID [ACFETCH OPTIONS...]
#       Fetches NAME: must succeed with "signature verified: USER_ID" on stderr, the signature
#       stored beside the index and the signer in image.json.

tr_init() {
        fe_init
        # A short path: the agent's socket lives there.
        GNUPGHOME=$TEST_TMP/g
        export GNUPGHOME
        mkdir -m 0700 "$GNUPGHOME" || fail "mkdir $GNUPGHOME"
        at_exit "gpgconf --kill all >/dev/null 2>&1 || true"
        KEYS=$TEST_TMP/keys
        SYS=$TEST_TMP/sys
        LOC=$TEST_TMP/local
        mkdir -p "$KEYS" "$SYS" "$LOC" || fail "mkdir"
        TRUST="--system-config=$SYS --local-config=$LOC"
        D=$TEST_TMP/store
}

tr_gpg() {
        gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@"
}

tr_fpr() {
        cat "$KEYS/$1.fpr"
}

tr_export() {
        tr_gpg --armor --export "$(tr_fpr "$1")" >"$KEYS/$1.asc" || fail "gpg --export $1"
}

tr_key() { # NAME ALGO UID [USAGE [EXPIRE [GPG OPTIONS...]]]
        _tk_name=$1 _tk_algo=$2 _tk_uid=$3 _tk_use=${4:-sign} _tk_exp=${5:-never}
        shift 3
        [ $# -gt 0 ] && shift
        [ $# -gt 0 ] && shift
        tr_gpg "$@" --quick-gen-key "$_tk_uid" "$_tk_algo" "$_tk_use" "$_tk_exp" ||
                fail "gpg: key $_tk_name"
        tr_gpg --with-colons --list-keys "=$_tk_uid" |
                awk -F: '$1 == "fpr" { print tolower($10); exit }' >"$KEYS/$_tk_name.fpr"
        [ -s "$KEYS/$_tk_name.fpr" ] || fail "no fingerprint for key $_tk_name"
        tr_export "$_tk_name"
}

tr_subkey() { # NAME ALGO
        tr_gpg --quick-add-key "$(tr_fpr "$1")" "$2" sign never || fail "gpg: subkey of $1"
        tr_gpg --with-colons --list-keys "$(tr_fpr "$1")" |
                awk -F: '$1 == "sub" { s = 1 } $1 == "fpr" && s { f = $10 } END { print tolower(f) }' \
                        >"$KEYS/$1.sub"
        tr_export "$1"
}

tr_trust() { # CONFIG root|PREFIX NAME
        if [ "$2" = root ]; then
                _tt_d=$1/trustedkeys/root.d
        else
                _tt_d=$1/trustedkeys/prefix.d/$2
        fi
        mkdir -p "$_tt_d" || fail "mkdir $_tt_d"
        cp "$KEYS/$3.asc" "$_tt_d/$(tr_fpr "$3")" || fail "cp key $3"
}

tr_sign() { # SIGNER FILE [armor|binary] [GPG OPTIONS...]
        _ts_who=$1 _ts_file=$2 _ts_form=${3:-armor}
        shift 2
        [ $# -gt 0 ] && shift
        case $_ts_who in
        sub:*) _ts_key="$(cat "$KEYS/${_ts_who#sub:}.sub")!" ;;
        *) _ts_key="$(tr_fpr "$_ts_who")!" ;;
        esac
        _ts_armor=
        [ "$_ts_form" = armor ] && _ts_armor=--armor
        rm -f "$_ts_file.asc"
        # shellcheck disable=SC2086
        tr_gpg "$@" $_ts_armor --local-user "$_ts_key" --detach-sign --output "$_ts_file.asc" \
                "$_ts_file" || fail "gpg: sign $_ts_file with $_ts_who"
}

tr_nginx_start() {
        fe_nginx_start
        NET=$(echo "$NET" | sed 's| --local-config=[^ ]*||')
}

tr_page() {
        fe_page "$WWW/example.com" example.com 'https://images.test/{name}.caidx'
}

tr_publish() { # NAME [SIGNER [armor|binary]]
        IDX=$WWW/images.test/$1.caidx
        fe_image "$SRC/$1" "$1" 48
        mkdir -p "$(dirname "$IDX")" || fail "mkdir for $IDX"
        casync make --chunk-size=16K --store="$(dirname "$IDX")/default.castr" "$IDX" \
                "$SRC/$1" >/dev/null || fail "casync make $IDX"
        rm -f "$IDX.asc"
        [ -z "${2:-}" ] || tr_sign "$2" "$IDX" "${3:-armor}"
}

_tr_store_has() { # NAME: is an image of that name in $D?
        grep -qs "\"name\": \"$1\"" "$D"/images/*/image.json
}

tr_expect_rejected() { # NAME MESSAGE [ACFETCH OPTIONS...]
        _tr_n=$1 _tr_m=$2
        shift 2
        log_mark
        # shellcheck disable=SC2086
        acf --dir="$D" fetch $NET $TRUST "$@" "$_tr_n"
        expect_rc 254 "fetch $_tr_n"
        expect_err "$_tr_m"
        expect_eq "error lines fetching $_tr_n" "$(grep -c 'error:' "$ERR")" 1
        expect_eq "chunk requests for the rejected $_tr_n" "$(log_count '\.cacnk')" 0
        ! _tr_store_has "$_tr_n" || fail "$_tr_n was stored although rejected"
}

tr_expect_verified() { # NAME USER_ID [ACFETCH OPTIONS...]
        _tr_n=$1 _tr_u=$2
        shift 2
        log_mark
        # shellcheck disable=SC2086
        acf --dir="$D" fetch $NET $TRUST "$@" "$_tr_n"
        expect_rc 0 "fetch $_tr_n"
        expect_short_id
        expect_err "signature verified: $_tr_u\$"
        expect_no_err 'warning:'
        _tr_key=$(fe_key "$(sed -n 1p "$OUT")")
        _tr_dir=$(find "$D/images" -maxdepth 1 -name "$_tr_key*" | head -n 1)
        [ -n "$_tr_dir" ] || fail "no image directory for $_tr_n"
        cmp -s "$_tr_dir/index.caidx.asc" "$WWW/images.test/$_tr_n.caidx.asc" ||
                fail "$_tr_n: the signature is not stored beside the index"
        grep -q "\"signer\": \"$_tr_u\"" "$_tr_dir/image.json" ||
                fail "$_tr_n: image.json lacks the signer: $(cat "$_tr_dir/image.json")"
        expect_ge "chunk requests for $_tr_n" "$(log_count '\.cacnk')" 1
}
