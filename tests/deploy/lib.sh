# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# Helpers for the tests of deploy/ (shared chunk caches): a signed image published on a slow
# origin nginx, a cache started from the shipped configuration file (its placeholders replaced
# with sed, nothing else changed), and rounds of concurrent `acfetch fetch` through the cache.
# Builds on tests/fetch/lib.sh (fe_init, fe_image, fe_publish, fe_same_rootfs, ...). POSIX sh.
#
# deploy_init
#       fe_init (skips unless root with casync, nginx, gpg), and the delay proxy from meson's
#       DELAY_PROXY. Sets DEPLOY_DIR (the repository's deploy/).
# deploy_image HOST NAME KIB
#       A signed image HOST/NAME of KIB KiB of random data: a discovery page for HOST with the
#       template http://HOST/img/{name}.caidx, the index, its .asc and default.castr beside it
#       in $WWW/HOST. Sets IMAGE_SRC (the source, for fe_same_rootfs), IMAGE_INDEX, IMAGE_STORE
#       (the store's directory) and IMAGE_STORE_PATH (its URL path, /img/HOST/default.castr).
# deploy_origin_start DOCROOT RTT_MS
#       The origin: an nginx (instance "origin") serving DOCROOT whatever the Host header,
#       behind the delay proxy (RTT_MS round trip), so that each fill takes a while and
#       concurrent misses overlap. Sets ORIGIN_PORT (the delay proxy's: what a cache is given)
#       and ORIGIN_LOG (one line per request: METHOD URI STATUS auth=AUTHORIZATION
#       cookie=COOKIE inm=IF_NONE_MATCH).
# origin_mark / origin_count ERE
#       Remember the origin log's length / how many lines since the mark match ERE.
# origin_chunks
#       The chunk IDs requested from the origin since the mark, sorted, repeats kept.
# deploy_conf FILE OUT [PLACEHOLDER=VALUE]...
#       Copy FILE to OUT with each @PLACEHOLDER@ replaced; fail if one is left.
# deploy_nginx_conf DIR SYNC_PORT INCLUDE LOG_FORMAT [MAIN_LINES]
#       DIR/nginx.conf for the origin or a cache: MAIN_LINES (e.g. load_module) at the top, one worker,
#       logs and temp files in DIR, access log in LOG_FORMAT, a /__sync server on SYNC_PORT for
#       nginx_sync, and the deploy/ file INCLUDE (already in DIR) in http {}.
# deploy_fetch_round TAG N HOST/NAME CACHE_PORT
#       N concurrent `acfetch fetch` by name, each with its own --dir ($TEST_TMP/node.TAG.I),
#       every request for HOST on port 80 sent to 127.0.0.1:CACHE_PORT (https to HOST is
#       refused: plain http through the cache, with --insecure-options=http). Each must exit 0
#       without a sanitizer report and render exactly $IMAGE_SRC.

# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"

DEPLOY_DIR=$SRCDIR/deploy
_deploy_mark=0

deploy_init() {
        fe_init
        PROXY=${DELAY_PROXY:-}
        [ -n "$PROXY" ] || fail "DELAY_PROXY is not set (meson test sets it)"
        [ -x "$PROXY" ] || fail "no delay proxy at $PROXY"
}

deploy_image() { # HOST NAME KIB
        fe_page "$WWW/$1" "$1" "http://$1/img/{name}.caidx"
        IMAGE_SRC=$SRC/$2
        fe_image "$IMAGE_SRC" "$1/$2" "$3"
        IMAGE_INDEX=$WWW/$1/img/$1/$2.caidx
        IMAGE_STORE=$WWW/$1/img/$1/default.castr
        IMAGE_STORE_PATH=/img/$1/default.castr
        fe_publish "$IMAGE_INDEX" "$IMAGE_SRC"
}

_deploy_origin_conf() { # DIR SYNC_PORT PORT
        cat >"$1/origin.conf" <<EOF
default_type application/octet-stream;
server_tokens off;
server {
        listen 127.0.0.1:$3;
        root $_deploy_root;
        location / {
                try_files \$uri/index.html \$uri =404;
        }
}
EOF
        deploy_nginx_conf "$1" "$2" origin.conf \
                '$request_method $uri $status auth=$http_authorization cookie=$http_cookie inm=$http_if_none_match'
}

deploy_nginx_conf() { # DIR SYNC_PORT INCLUDE LOG_FORMAT [MAIN_LINES]
        cat >"$1/nginx.conf" <<EOF
${5:-}
user root;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log info;
events {
        worker_connections 1024;
}
http {
        log_format cache '$4';
        access_log $1/access.log cache;
        client_body_temp_path $1/tmp/body;
        proxy_temp_path $1/tmp/proxy;
        fastcgi_temp_path $1/tmp/fastcgi;
        uwsgi_temp_path $1/tmp/uwsgi;
        scgi_temp_path $1/tmp/scgi;
        server {
                listen 127.0.0.1:$2;
                location = /__sync {
                        access_log off;
                        return 204;
                }
        }
        include $1/$3;
}
EOF
}

_deploy_answers() { # URL
        curl -s -o /dev/null "$1"
}

deploy_origin_start() { # DOCROOT RTT_MS
        _deploy_root=$1
        nginx_launch origin 2 _deploy_origin_conf
        ORIGIN_LOG=$TEST_TMP/nginx.origin/access.log
        read -r _do_sync _do_port <"$TEST_TMP/nginx.origin/ports" || fail "origin ports"
        ORIGIN_PORT=$(free_port) || fail "no free port for the delay proxy"
        "$PROXY" "$ORIGIN_PORT" "$_do_port" "$2" </dev/null >"$TEST_TMP/delay_proxy.log" 2>&1 &
        _do_pid=$!
        at_exit "kill $_do_pid 2>/dev/null || true; wait $_do_pid 2>/dev/null || true"
        wait_until _deploy_answers "http://127.0.0.1:$ORIGIN_PORT/" ||
                fail "the delay proxy does not answer" "$(cat "$TEST_TMP/delay_proxy.log")"
}

origin_mark() {
        nginx_sync origin
        _deploy_mark=$(wc -l <"$ORIGIN_LOG")
}

_origin_since() {
        nginx_sync origin
        tail -n +$((_deploy_mark + 1)) "$ORIGIN_LOG"
}

origin_count() { # ERE
        _origin_since | grep -c -E "$1" || true
}

origin_chunks() {
        _origin_since | sed -n 's|^GET [^ ]*/\([0-9a-f]\{64\}\)\.cacnk .*|\1|p' | sort
}

deploy_conf() { # FILE OUT [PLACEHOLDER=VALUE]...
        _dc_in=$1 _dc_out=$2
        shift 2
        [ -f "$_dc_in" ] || fail "no configuration file $_dc_in"
        cp "$_dc_in" "$_dc_out" || fail "cp $_dc_in"
        for _dc_kv; do
                # Values are paths, addresses and keys: '|' is not in them.
                sed -i "s|@${_dc_kv%%=*}@|${_dc_kv#*=}|g" "$_dc_out" || fail "sed $_dc_out"
        done
        ! grep -n '@[A-Z_]*@' "$_dc_out" >&2 || fail "$_dc_out: a placeholder is left"
}

deploy_fetch_round() { # TAG N HOST/NAME CACHE_PORT
        _dr_tag=$1 _dr_n=$2 _dr_name=$3 _dr_cache=$4
        _dr_host=${_dr_name%%/*}
        _dr_dead=$(free_port) || fail "no free port"
        _dr_net="--local-config=$FE_CONFIG --insecure-options=http"
        _dr_net="$_dr_net --connect-to=$_dr_host:80:127.0.0.1:$_dr_cache"
        _dr_net="$_dr_net --connect-to=$_dr_host:443:127.0.0.1:$_dr_dead"
        _dr_pids=
        _dr_i=0
        while [ "$_dr_i" -lt "$_dr_n" ]; do
                # shellcheck disable=SC2086 # a list of options
                "$A" --dir="$TEST_TMP/node.$_dr_tag.$_dr_i" fetch --full $_dr_net "$_dr_name" \
                        >"$TEST_TMP/node.$_dr_tag.$_dr_i.out" \
                        2>"$TEST_TMP/node.$_dr_tag.$_dr_i.err" &
                _dr_pids="$_dr_pids $!"
                _dr_i=$((_dr_i + 1))
        done
        _dr_i=0
        _dr_failed=
        for _dr_pid in $_dr_pids; do
                _dr_rc=0
                wait "$_dr_pid" || _dr_rc=$?
                _dr_err=$TEST_TMP/node.$_dr_tag.$_dr_i.err
                ! grep -q -e 'Sanitizer' -e 'runtime error:' "$_dr_err" ||
                        fail "sanitizer report from fetch $_dr_tag.$_dr_i: $(cat "$_dr_err")"
                if [ "$_dr_rc" -ne 0 ]; then
                        sed "s/^/  | fetch $_dr_tag.$_dr_i: /" "$_dr_err" | head -n 10 >&2
                        _dr_failed="$_dr_failed $_dr_i"
                fi
                _dr_i=$((_dr_i + 1))
        done
        [ -z "$_dr_failed" ] || fail "round $_dr_tag: fetches$_dr_failed failed"
        _dr_i=0
        while [ "$_dr_i" -lt "$_dr_n" ]; do
                _dr_d=$TEST_TMP/node.$_dr_tag.$_dr_i
                fe_same_rootfs "$IMAGE_SRC" "$_dr_d/trees/$(cat "$_dr_d.out")"
                _dr_i=$((_dr_i + 1))
        done
}
