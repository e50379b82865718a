# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# Helpers for the end-to-end tests of `acfetch fetch NAME` and the image store commands
# (tests/fetch/*.sh). Builds on tests/http/lib.sh (certificates, ports, nginx instances, the
# access-log counters) and tests/http/fetch_lib.sh (acf, expect_*, caidx_ids, ...). POSIX sh.
#
#   . "$SRCDIR/tests/fetch/lib.sh"
#   fe_init                       # skips (77) unless root with casync, nginx and gpg
#   fe_nginx_start                # serves $WWW/<host>/... on HTTP and HTTPS
#   fe_page "$WWW/example.com" example.com 'https://example.com/img/{name}.caidx'
#   acf --dir="$D" fetch $NET example.com/app
#
# Served files: one docroot per Host, $WWW/<host>/. A request for /a/b serves /a/b/index.html
# when it exists (so https://example.com/a/b?ac-discovery=1 answers without a redirect), else
# the file /a/b. Everything under /maxage/ is sent with "Cache-Control: max-age=3600"; under
# /httponly/ the HTTPS port answers 404 to everything. nginx's ETag and If-None-Match handling
# are on (its defaults).
#
# fe_init
#       As fetch_init, and: nginx and gpg must be installed (skip otherwise); the test CA's server
#       certificate must name example.com, *.example.com and images.test. Sets WWW (docroot),
#       SRC (image sources), HOST_OS and HOST_ARCH (appc spelling), NET (empty until
#       fe_nginx_start).
# fe_nginx_start [NAME]
#       Start a private nginx (instance NAME, default "fe") on two fresh ports (tests/lib.sh's
#       nginx_launch); the NGINX_* variables of tests/http/lib.sh (NGINX_HTTP_PORT,
#       NGINX_HTTPS_PORT, NGINX_ACCESS_LOG) and the stop/sync/log helpers (nginx_stop,
#       log_mark, log_count, ...) work on it. The access log has tests/http/lib.sh's fields,
#       then the Host and the If-None-Match header:
#         PORT "METHOD URI PROTOCOL" STATUS BYTES PROTOCOL host=HOST inm=IF_NONE_MATCH
#       Sets NET: the acfetch fetch options that reach it with TLS verified for every host
#       that has a docroot in $WWW when it starts, and those in $FE_HOSTS (--ca-cert and one
#       --connect-to per host and port); CURL_NET: the same for curl.
# fe_page DIR PREFIX TEMPLATE [PREFIX TEMPLATE]...
#       Write DIR/index.html, a discovery page with one ac-discovery tag per pair.
# fe_manifest SRC NAME [KEY=VALUE]...
#       Write SRC/manifest for NAME with these labels (in order). $FE_MANIFEST_EXTRA, when set,
#       is raw JSON members appended to the object (e.g. '"pathWhitelist":["/a"]').
# fe_image SRC NAME KIB [KEY=VALUE]...
#       A fresh image source: SRC/rootfs is fetch_make_tree's tree (one random file of KIB
#       KiB), SRC/manifest from fe_manifest with os and arch of the host unless given.
# fe_publish INDEX SRC
#       casync make INDEX from SRC (16 KiB average chunks) into default.castr beside it, and
#       fe_sign INDEX.
# fe_sign FILE
#       FILE.asc: a detached signature of FILE by this run's test key (gpg makes it on first
#       use, in $FE_GNUPG). The key is trusted for every name in $FE_CONFIG (root.d), which NET
#       passes as --local-config, so fetches verify signatures as they do by default. A test
#       that copies an index elsewhere copies (or makes) its .asc too.
# fe_signing_key
#       The same key for gpg itself (publish --sign KEYID): made if needed, GNUPGHOME set to it
#       and exported, FPR its fingerprint.
# fe_same_tree EXPECTED ACTUAL [strict]
#       casync mtree of both must be equal, except for the top directory's own line and the
#       top-level "rendered" marker and "rendered.stat" record (unless "strict": every line
#       then counts).
# fe_same_rootfs SRC TREE
#       TREE is SRC composed: manifest byte-equal, rootfs equal by casync mtree (strict), and
#       TREE/rendered present.
# json_str KEY / json_val KEY
#       The string value (without quotes) / the bare value (number, true, false, null) of the
#       first "KEY" in $OUT. Tolerates whitespace and line breaks anywhere.
# json_vals KEY
#       Every bare value of "KEY" in $OUT, in order, one per line (for arrays of objects).
# json_check
#       When python3 or jq is available: $OUT must be valid JSON. Otherwise nothing.
# expect_short_id / expect_full_id
#       $OUT must be exactly one line: sha512- and 32 hex digits / 64 hex digits.
# fe_images D / fe_trees D
#       The directory names under D/images / D/trees, sorted, one per line.
# expect_store_clean D WHAT
#       D has no image and no tree.
# fe_chunks D
#       The chunk IDs in D/chunks, sorted.
# fe_index_chunks INDEX...
#       The union of the indexes' chunk IDs, sorted.
# fe_key ID
#       The store key (sha512- and the first 64 hex digits) of a full or key-length ID.
# fe_chunk_requests [NAME]
#       The chunk IDs requested from the instance since log_mark, sorted, repeats kept.
# fe_fetch_together D NAME...
#       One `acfetch --dir=D fetch $NET --full NAME` per NAME, all at once; waits for all. Each
#       must exit 0 without a sanitizer report; the Nth's (from 0) stdout and stderr are
#       $TEST_TMP/together.N.out and .err.

fe_init() {
        require_root "runs a private nginx as root"
        # gpg signs the test images.
        require_cmd nginx gpg
        fetch_init
        FE_CONFIG=$TEST_TMP/fe-config
        FE_GNUPG=$TEST_TMP/fe-gpg
        at_exit _fe_gpg_stop
        http_make_certs || fail "test certificates"
        _fe_san=$(openssl x509 -in "$HTTP_SERVER_CERT" -noout -ext subjectAltName 2>/dev/null) ||
                true
        for _fe_n in DNS:example.com 'DNS:\*.example.com' DNS:images.test; do
                echo "$_fe_san" | grep -q "$_fe_n" ||
                        fail "tests/http/lib.sh's server certificate lacks $_fe_n: $_fe_san"
        done
        WWW=$TEST_TMP/www
        SRC=$TEST_TMP/src
        mkdir -p "$WWW" "$SRC"
        HOST_OS=linux
        case $(uname -m) in
        x86_64) HOST_ARCH=amd64 ;;
        i?86) HOST_ARCH=i386 ;;
        *) HOST_ARCH=$(uname -m) ;;
        esac
        NET=
}

_fe_nginx_conf() { # DIR HTTP_PORT HTTPS_PORT
        cat >"$1/common.conf" <<EOF
root "$WWW/\$host";
location = /__sync {
        access_log off;
        return 204;
}
location / {
        try_files \$uri/index.html \$uri =404;
}
location /httponly/ {
        if (\$scheme = https) {
                return 404;
        }
        try_files \$uri/index.html \$uri =404;
}
location /maxage/ {
        expires 1h;
        try_files \$uri/index.html \$uri =404;
}
location ~ ^/slow/.*[.]caidx\$ {
        limit_rate 256;
}
EOF
        cat >"$1/nginx.conf" <<EOF
user root;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log info;
events {
        worker_connections 1024;
}
http {
        types {
                text/html html;
                application/octet-stream caidx caibx cacnk catar aci;
        }
        default_type application/octet-stream;
        log_format fe '\$server_port "\$request" \$status \$body_bytes_sent \$server_protocol host=\$host inm=\$http_if_none_match';
        access_log $1/access.log fe;
        client_body_temp_path $1/tmp/body;
        proxy_temp_path $1/tmp/proxy;
        fastcgi_temp_path $1/tmp/fastcgi;
        uwsgi_temp_path $1/tmp/uwsgi;
        scgi_temp_path $1/tmp/scgi;
        sendfile on;
        server_tokens off;
        ssl_protocols TLSv1.2 TLSv1.3;
        server {
                listen 127.0.0.1:$2;
                include $1/common.conf;
        }
        server {
                listen 127.0.0.1:$3 ssl http2;
                ssl_certificate $HTTP_SERVER_CERT;
                ssl_certificate_key $HTTP_SERVER_KEY;
                include $1/common.conf;
        }
}
EOF
}

fe_nginx_start() {
        _fn_name=${1:-fe}
        nginx_launch "$_fn_name" 2 _fe_nginx_conf
        # The variables of tests/http/lib.sh's instances (the ports it does not have stay empty).
        _http_nginx_vars "$TEST_TMP/nginx.$_fn_name" || fail "nginx ports"
        # Every host with a docroot, and those in $FE_HOSTS.
        _fn_hosts=$(find "$WWW" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)
        _fn_hosts="$_fn_hosts ${FE_HOSTS:-}"
        NET="--ca-cert=$HTTP_CA --local-config=$FE_CONFIG"
        for _fn_h in $_fn_hosts; do
                NET="$NET --connect-to=$_fn_h:443:127.0.0.1:$NGINX_HTTPS_PORT"
                NET="$NET --connect-to=$_fn_h:80:127.0.0.1:$NGINX_HTTP_PORT"
        done
        # The same routes for curl, to check the harness itself.
        CURL_NET="--cacert $HTTP_CA"
        for _fn_h in $_fn_hosts; do
                CURL_NET="$CURL_NET --connect-to $_fn_h:443:127.0.0.1:$NGINX_HTTPS_PORT"
                CURL_NET="$CURL_NET --connect-to $_fn_h:80:127.0.0.1:$NGINX_HTTP_PORT"
        done
}

fe_page() { # DIR PREFIX TEMPLATE [PREFIX TEMPLATE]...
        _fp_d=$1
        shift
        mkdir -p "$_fp_d" || fail "mkdir $_fp_d"
        {
                echo '<!DOCTYPE html>'
                echo '<html><head><title>discovery</title>'
                while [ $# -ge 2 ]; do
                        echo "<meta name=\"ac-discovery\" content=\"$1 $2\">"
                        shift 2
                done
                echo '</head><body>images</body></html>'
        } >"$_fp_d/index.html"
}

fe_manifest() { # SRC NAME [KEY=VALUE]...
        _fm_src=$1
        _fm_name=$2
        shift 2
        _fm_labels=
        for _fm_kv in "$@"; do
                _fm_l="{\"name\":\"${_fm_kv%%=*}\",\"value\":\"${_fm_kv#*=}\"}"
                _fm_labels=${_fm_labels:+$_fm_labels,}$_fm_l
        done
        mkdir -p "$_fm_src" || fail "mkdir $_fm_src"
        {
                printf '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"%s"' "$_fm_name"
                printf ',"labels":[%s]' "$_fm_labels"
                printf ',"app":{"exec":["/sub/run.sh"],"user":"0","group":"0"}'
                [ -z "${FE_MANIFEST_EXTRA:-}" ] || printf ',%s' "$FE_MANIFEST_EXTRA"
                printf '}\n'
        } >"$_fm_src/manifest"
}

fe_image() { # SRC NAME KIB [KEY=VALUE]...
        _fi_src=$1
        _fi_name=$2
        _fi_kib=$3
        shift 3
        rm -rf "$_fi_src"
        fetch_make_tree "$_fi_src/rootfs" "$_fi_kib" || fail "fetch_make_tree $_fi_src"
        _fi_os=os=$HOST_OS
        _fi_arch=arch=$HOST_ARCH
        for _fi_kv in "$@"; do
                case $_fi_kv in
                os=*) _fi_os= ;;
                arch=*) _fi_arch= ;;
                esac
        done
        # shellcheck disable=SC2086 # empty os/arch arguments vanish on purpose
        fe_manifest "$_fi_src" "$_fi_name" "$@" $_fi_os $_fi_arch
}

fe_publish() { # INDEX SRC
        _fpub_d=$(dirname "$1")
        mkdir -p "$_fpub_d" || fail "mkdir $_fpub_d"
        casync make --chunk-size=16K --store="$_fpub_d/default.castr" "$1" "$2" >/dev/null ||
                fail "casync make $1"
        fe_sign "$1"
}

_fe_gpg_stop() {
        gpgconf --homedir "$FE_GNUPG" --kill all >/dev/null 2>&1 || true
}

_fe_gpg() {
        gpg --homedir "$FE_GNUPG" --batch --quiet --pinentry-mode loopback --passphrase '' "$@"
}

fe_sign() { # FILE
        if [ ! -s "$FE_GNUPG/fpr" ]; then
                [ -d "$FE_GNUPG" ] || mkdir -m 0700 "$FE_GNUPG" || fail "mkdir $FE_GNUPG"
                _fe_gpg --quick-gen-key 'acfetch fetch tests <fetch-tests@example.com>' ed25519 \
                        sign never || fail "gpg: the test key"
                _fe_gpg --with-colons --list-keys |
                        awk -F: '$1 == "fpr" { print tolower($10); exit }' >"$FE_GNUPG/fpr"
                mkdir -p "$FE_CONFIG/trustedkeys/root.d" || fail "mkdir $FE_CONFIG"
                _fe_gpg --armor --export \
                        >"$FE_CONFIG/trustedkeys/root.d/$(cat "$FE_GNUPG/fpr")" ||
                        fail "gpg: export the test key"
        fi
        rm -f "$1.asc"
        _fe_gpg --armor --detach-sign --output "$1.asc" "$1" || fail "gpg: sign $1"
}

fe_signing_key() {
        : >"$TEST_TMP/dummy"
        fe_sign "$TEST_TMP/dummy"
        GNUPGHOME=$FE_GNUPG
        export GNUPGHOME
        FPR=$(cat "$FE_GNUPG/fpr")
}

_fe_mtree() { # DIR OUT [strict]
        casync mtree "$1" >"$2.all" || fail "casync mtree $1"
        if [ "${3:-}" = strict ]; then
                mv "$2.all" "$2"
        else
                grep -v -e '^\. ' -e '^rendered ' -e '^rendered\.stat ' "$2.all" >"$2" || true
                rm -f "$2.all"
        fi
}

fe_same_tree() { # EXPECTED ACTUAL [strict]
        [ -d "$2" ] || fail "$2 does not exist"
        _fe_mtree "$1" "$TEST_TMP/mtree.want" "${3:-}"
        _fe_mtree "$2" "$TEST_TMP/mtree.got" "${3:-}"
        if ! cmp -s "$TEST_TMP/mtree.want" "$TEST_TMP/mtree.got"; then
                diff "$TEST_TMP/mtree.want" "$TEST_TMP/mtree.got" | head -n 20 >&2
                fail "$2 differs from $1 (casync mtree)"
        fi
}

fe_same_rootfs() { # SRC TREE
        [ -d "$2" ] || fail "tree $2 does not exist"
        cmp -s "$1/manifest" "$2/manifest" || fail "$2/manifest differs from $1/manifest"
        fe_same_tree "$1/rootfs" "$2/rootfs" strict
        [ -f "$2/rendered" ] || fail "$2/rendered is missing"
}

json_str() {
        # The first occurrence, so a member nested further on cannot shadow it.
        tr -d '\n' <"$OUT" | awk -v k="\"$1\"" '{
                i = index($0, k); if (i == 0) exit
                s = substr($0, i + length(k))
                if (!match(s, /^[ \t\r]*:[ \t\r]*"/)) exit
                s = substr(s, RLENGTH + 1); print substr(s, 1, index(s, "\"") - 1) }'
}

json_val() {
        # The first occurrence: a lazy match through the leading members.
        tr -d '\n' <"$OUT" | awk -v k="\"$1\"" '{
                i = index($0, k); if (i == 0) exit
                s = substr($0, i + length(k)); sub(/^[ \t\r]*:[ \t\r]*/, "", s)
                if (match(s, /^[^,}\] \t\r]*/)) print substr(s, 1, RLENGTH) }'
}

json_vals() {
        tr -d '\n' <"$OUT" | grep -o "\"$1\"[[:space:]]*:[[:space:]]*[^],}[:space:]]*" |
                sed 's/^.*:[[:space:]]*//'
}

json_check() {
        if command -v python3 >/dev/null 2>&1; then
                python3 -c 'import json, sys; json.load(sys.stdin)' <"$OUT" ||
                        fail "stdout is not valid JSON: $(head -c 2000 "$OUT")"
        elif command -v jq >/dev/null 2>&1; then
                jq . <"$OUT" >/dev/null || fail "stdout is not valid JSON: $(head -c 2000 "$OUT")"
        fi
}

expect_short_id() {
        expect_eq "stdout lines" "$(wc -l <"$OUT")" 1
        grep -qx 'sha512-[0-9a-f]\{32\}' "$OUT" || fail "stdout is not one short ID: $(cat "$OUT")"
}

expect_full_id() {
        expect_eq "stdout lines" "$(wc -l <"$OUT")" 1
        grep -qx 'sha512-[0-9a-f]\{64\}' "$OUT" || fail "stdout is not one full ID: $(cat "$OUT")"
}

fe_images() {
        [ -d "$1/images" ] || return 0
        find "$1/images" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort
}

fe_trees() {
        [ -d "$1/trees" ] || return 0
        find "$1/trees" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort
}

expect_store_clean() { # D WHAT
        expect_eq "images in the store after $2" "$(fe_images "$1" | tr '\n' ' ')" ""
        expect_eq "trees in the store after $2" "$(fe_trees "$1" | tr '\n' ' ')" ""
}

fe_chunks() {
        [ -d "$1/chunks" ] || return 0
        find "$1/chunks" -type f -name '*.cacnk' -printf '%f\n' | sed 's/\.cacnk$//' | sort
}

fe_index_chunks() {
        for _fic in "$@"; do
                caidx_ids "$_fic"
        done | sort -u
}

fe_key() {
        echo "$1" | cut -c1-71
}

# The chunk IDs requested since log_mark, sorted (repeats kept).
fe_chunk_requests() {
        if [ -f "$TEST_TMP/nginx.${1:-$NGINX_LAST}/nginx.pid" ]; then
                nginx_sync "${1:-}"
        fi
        _fetch_since "${1:-$NGINX_LAST}" | sed -n 's|.*"GET [^ ]*/\([0-9a-f]\{64\}\)\.cacnk .*|\1|p' |
                sort
}

fe_fetch_together() { # D NAME...
        _ft_d=$1
        shift
        _ft_pids=
        _ft_i=0
        for _ft_n in "$@"; do
                # shellcheck disable=SC2086 # NET is a list of options
                "$A" --dir="$_ft_d" fetch $NET --full "$_ft_n" >"$TEST_TMP/together.$_ft_i.out" \
                        2>"$TEST_TMP/together.$_ft_i.err" &
                _ft_pids="$_ft_pids $!"
                _ft_i=$((_ft_i + 1))
        done
        _ft_i=0
        for _ft_pid in $_ft_pids; do
                _ft_rc=0
                wait "$_ft_pid" || _ft_rc=$?
                _ft_err=$TEST_TMP/together.$_ft_i.err
                sed "s/^/  | fetch $_ft_i: /" "$_ft_err" | head -n 5 >&2
                ! grep -q -e 'Sanitizer' -e 'runtime error:' "$_ft_err" ||
                        fail "sanitizer report from fetch $_ft_i: $(cat "$_ft_err")"
                expect_eq "concurrent fetch $_ft_i" "$_ft_rc" 0
                _ft_i=$((_ft_i + 1))
        done
}
