# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# A throwaway S3 server for tests: a single-node Ceph (1 monitor, 1 OSD on memstore, radosgw)
# on loopback, under $TEST_TMP, gone at exit. No cephx, messenger v2 only, pools of size 1.
# POSIX sh; sources tests/lib.sh (fail, skip, test_init, at_exit, free_port, pid_gone, ...).
#
#   . "$SRCDIR/tests/ceph_lib.sh"
#   test_init mytest
#   ceph_start                               # about 15 s
#   ceph_bucket chunks                       # private; "ceph_bucket pub public-read" for anonymous GET
#   ceph_put f.cacnk chunks/default.castr/ab12/ab12....cacnk 'Cache-Control: max-age=60'
#   ceph_curl -f -o out "$CEPH_S3_URL/chunks/default.castr/ab12/ab12....cacnk"
#
# Functions (a setup error fails the test, as tests/lib.sh's fail does):
#
# ceph_start
#       Skip (77) unless Ceph's daemons and tools and curl are installed (tools/install-deps.sh,
#       group "cluster"). Call test_init first. Start the monitor, the OSD and radosgw on free
#       loopback ports (free_port: below the kernel's ephemeral range, reserved for this test),
#       register their stop with at_exit (SIGTERM, then SIGKILL after about 10 s), create an S3
#       user with a random key, and set:
#         CEPH_DIR       the cluster's directory: ceph.conf, log/ (daemon logs), run/ (sockets)
#         CEPH_CONF      its ceph.conf (for radosgw-admin -c "$CEPH_CONF" ...)
#         CEPH_S3_URL    http://127.0.0.1:PORT, radosgw's S3 endpoint (path-style buckets)
#         CEPH_S3_HOST   127.0.0.1:PORT
#         CEPH_KEY       the user's access key (20 characters, A-Z 0-9; never contains ':')
#         CEPH_SECRET    its secret key (40 characters, A-Z a-z 0-9)
#         CEPH_REGION    us-east-1 (radosgw accepts any region in a signature's scope, so a
#                        wrong-region bug cannot be caught against it)
# ceph_stop
#       Stop the daemons now (at exit otherwise): every pid is read before any is signalled.
# ceph_curl ARGS...
#       curl -sS with ARGS, signed with SigV4 as the test user, for requests without a body
#       (GET, HEAD, DELETE, LIST): adds "x-amz-content-sha256: UNSIGNED-PAYLOAD", which libcurl
#       7.88 does not send by itself and every S3 server requires. curl 7.88 does not sort a
#       query string: give parameters in sorted order, with '/' written as %2F.
# ceph_put FILE BUCKET/KEY [HEADER...]
#       Upload FILE, signed, with its hex SHA-256 as x-amz-content-sha256 (radosgw checks it
#       against the body) and each HEADER ("Name: value", e.g. Cache-Control or x-amz-acl).
#       Return 0 on a 2xx answer, else print the server's answer on stderr and return 1.
# ceph_bucket NAME [public-read]
#       Create bucket NAME: private, or readable by anyone with public-read. Fails the test if
#       radosgw refuses.

# shellcheck source=tests/lib.sh
. "$SRCDIR/tests/lib.sh"

CEPH_DIR=
CEPH_CONF=
CEPH_S3_URL=
CEPH_S3_HOST=
CEPH_KEY=
CEPH_SECRET=
CEPH_REGION=us-east-1

# Run COMMAND until it succeeds; give up after SECONDS (the Ceph CLI is slow, so a bound on
# time, not on tries).
_ceph_wait() { # SECONDS COMMAND...
        _cw_end=$(($(date +%s) + $1))
        shift
        while ! "$@"; do
                [ "$(date +%s)" -lt "$_cw_end" ] || return 1
                sleep 0.2
        done
}

_ceph_random() { # LENGTH CHARSET
        LC_ALL=C tr -dc "$2" </dev/urandom | head -c "$1"
}

_ceph_cli() {
        ceph -c "$CEPH_CONF" --connect-timeout 5 "$@"
}

_ceph_mon_up() {
        _ceph_cli mon stat >/dev/null 2>&1
}

_ceph_osd_up() {
        _ceph_cli osd stat 2>/dev/null | grep -q ' 1 up'
}

_ceph_rgw_up() {
        curl -s -o /dev/null "$CEPH_S3_URL/"
}

# Start one daemon in the foreground of a background job, so that its pid is known at once
# (a daemonized one writes its pid file later, and radosgw removes its own when it stops).
_ceph_daemon() { # NAME COMMAND...
        _cd_name=$1
        shift
        "$@" -c "$CEPH_CONF" -f </dev/null >"$CEPH_DIR/log/$_cd_name.out" 2>&1 &
        echo "$!" >>"$CEPH_DIR/pids"
}

_ceph_fail_log() { # WHAT LOGNAME
        fail "ceph: $1" "$(tail -n 20 "$CEPH_DIR/log/$2" 2>/dev/null)"
}

ceph_stop() {
        [ -n "$CEPH_DIR" ] && [ -f "$CEPH_DIR/pids" ] || return 0
        _cs_pids=$(cat "$CEPH_DIR/pids")
        rm -f "$CEPH_DIR/pids"
        # shellcheck disable=SC2086 # one argument per pid
        kill -TERM $_cs_pids 2>/dev/null || true
        for _cs_p in $_cs_pids; do
                if ! wait_until pid_gone "$_cs_p"; then
                        echo "ceph_lib.sh: pid $_cs_p ignored SIGTERM, killing it" >&2
                        kill -KILL "$_cs_p" 2>/dev/null || true
                        wait_until pid_gone "$_cs_p" || true
                fi
        done
        # Reap the background jobs (they are this shell's children) so none stays a zombie.
        # shellcheck disable=SC2086
        wait $_cs_pids 2>/dev/null || true
}

_ceph_write_conf() { # FSID MONPORT RGWPORT
        cat >"$CEPH_CONF" <<EOF
[global]
fsid = $1
mon_host = v2:127.0.0.1:$2
ms_bind_msgr1 = false
public_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
run_dir = $CEPH_DIR/run
admin_socket = $CEPH_DIR/run/\$name.asok
log_file = $CEPH_DIR/log/\$name.log
pid_file = $CEPH_DIR/run/\$name.pid
keyring = $CEPH_DIR/keyring
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 1
mon_data_avail_crit = 0
osd_objectstore = memstore
memstore_device_bytes = 1073741824
osd_op_num_shards = 1
osd_op_num_threads_per_shard = 2
[mon.a]
mon_data = $CEPH_DIR/mon.a
[osd.0]
osd_data = $CEPH_DIR/osd.0
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$3
rgw_dns_name = 127.0.0.1
rgw_thread_pool_size = 16
rgw_enable_usage_log = false
rgw_data = $CEPH_DIR/rgw
# With auth none the monitor cannot do radosgw's default "secure" mode.
ms_mon_client_mode = crc
EOF
}

_ceph_make_mon() { # FSID MONPORT
        ceph-authtool --create-keyring "$CEPH_DIR/keyring" --gen-key -n mon. --cap mon 'allow *' &&
                ceph-authtool "$CEPH_DIR/keyring" --gen-key -n client.admin --cap mon 'allow *' \
                        --cap osd 'allow *' --cap mgr 'allow *' &&
                monmaptool --create --addv a "[v2:127.0.0.1:$2]" --fsid "$1" "$CEPH_DIR/monmap" &&
                ceph-mon -c "$CEPH_CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" \
                        --keyring "$CEPH_DIR/keyring"
}

ceph_start() {
        require_cmd ceph-mon ceph-osd radosgw radosgw-admin ceph ceph-authtool monmaptool curl
        [ -n "$TEST_TMP" ] || fail "ceph_start: test_init was not called"
        [ -z "$CEPH_DIR" ] || fail "ceph_start: Ceph is already running"
        CEPH_DIR=$TEST_TMP/ceph
        CEPH_CONF=$CEPH_DIR/ceph.conf
        mkdir -p "$CEPH_DIR/run" "$CEPH_DIR/log" "$CEPH_DIR/mon.a" "$CEPH_DIR/osd.0" ||
                fail "ceph: mkdir $CEPH_DIR"
        : >"$CEPH_DIR/pids"
        at_exit ceph_stop
        _cs_mon=$(free_port) || fail "ceph: no free port"
        _cs_rgw=$(free_port) || fail "ceph: no free port"
        CEPH_S3_HOST=127.0.0.1:$_cs_rgw
        CEPH_S3_URL=http://$CEPH_S3_HOST
        _cs_fsid=$(cat /proc/sys/kernel/random/uuid)
        _ceph_write_conf "$_cs_fsid" "$_cs_mon" "$_cs_rgw"

        # The monitor.
        if ! _ceph_make_mon "$_cs_fsid" "$_cs_mon" >"$CEPH_DIR/log/setup.out" 2>&1; then
                _ceph_fail_log "creating the monitor failed" setup.out
        fi
        _ceph_daemon mon ceph-mon -i a
        _ceph_wait 30 _ceph_mon_up || _ceph_fail_log "the monitor did not come up" mon.a.log

        # The OSD, in memory.
        _cs_uuid=$(cat /proc/sys/kernel/random/uuid)
        _cs_id=$(_ceph_cli osd new "$_cs_uuid" 2>>"$CEPH_DIR/log/setup.out") ||
                _ceph_fail_log "ceph osd new failed" setup.out
        [ "$_cs_id" = 0 ] || fail "ceph: the new OSD is osd.$_cs_id, expected osd.0"
        ceph-osd -c "$CEPH_CONF" -i 0 --mkfs --osd-uuid "$_cs_uuid" \
                >>"$CEPH_DIR/log/setup.out" 2>&1 || _ceph_fail_log "creating the OSD failed" setup.out
        _ceph_cli osd crush add osd.0 1.0 host=localhost root=default \
                >>"$CEPH_DIR/log/setup.out" 2>&1 || _ceph_fail_log "placing the OSD failed" setup.out
        _ceph_daemon osd ceph-osd -i 0
        _ceph_wait 30 _ceph_osd_up || _ceph_fail_log "the OSD did not come up" osd.0.log

        # radosgw, and its user.
        _ceph_daemon rgw radosgw -n client.rgw.a
        _ceph_wait 60 _ceph_rgw_up || _ceph_fail_log "radosgw did not answer" client.rgw.a.log
        CEPH_KEY=$(_ceph_random 20 'A-Z0-9')
        CEPH_SECRET=$(_ceph_random 40 'A-Za-z0-9')
        radosgw-admin -c "$CEPH_CONF" user create --uid=acfetch-test --display-name=acfetch-test \
                --access-key="$CEPH_KEY" --secret="$CEPH_SECRET" >>"$CEPH_DIR/log/setup.out" 2>&1 ||
                _ceph_fail_log "creating the S3 user failed" setup.out
}

ceph_curl() {
        curl -sS --aws-sigv4 "aws:amz:$CEPH_REGION:s3" --user "$CEPH_KEY:$CEPH_SECRET" \
                -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

# A signed request with a body (FILE, or empty if FILE is ""); prints the status code.
_ceph_send() { # METHOD FILE URL [HEADER...]
        _cx_method=$1 _cx_file=$2 _cx_url=$3
        shift 3
        if [ -z "$_cx_file" ]; then
                # A regular empty file: curl sends "Content-Length: 0" (from /dev/null it would
                # send a chunked body).
                _cx_file=$TEST_TMP/.ceph-empty
                : >"$_cx_file"
        fi
        _cx_sha=$(sha256sum <"$_cx_file" | cut -d' ' -f1) || return 1
        # Each HEADER becomes -H HEADER (POSIX sh has no arrays: rebuild "$@").
        _cx_n=$#
        for _cx_h; do
                set -- "$@" -H "$_cx_h"
        done
        shift "$_cx_n"
        curl -sS --aws-sigv4 "aws:amz:$CEPH_REGION:s3" --user "$CEPH_KEY:$CEPH_SECRET" \
                -H "x-amz-content-sha256: $_cx_sha" -X "$_cx_method" --upload-file "$_cx_file" \
                -o "$TEST_TMP/.ceph-answer" -w '%{http_code}' "$@" "$_cx_url"
}

_ceph_check_answer() { # WHAT CODE
        case $2 in
        2??) return 0 ;;
        esac
        {
                echo "ceph_lib.sh: $1: HTTP status ${2:-none}"
                cat "$TEST_TMP/.ceph-answer" 2>/dev/null
                echo
        } >&2
        return 1
}

ceph_put() { # FILE BUCKET/KEY [HEADER...]
        [ -f "$1" ] || fail "ceph_put: no file $1"
        _cp_file=$1 _cp_path=$2
        shift 2
        _cp_code=$(_ceph_send PUT "$_cp_file" "$CEPH_S3_URL/$_cp_path" "$@") || true
        _ceph_check_answer "PUT $_cp_path" "$_cp_code"
}

ceph_bucket() { # NAME [public-read]
        case ${2:-} in
        '') _cb_code=$(_ceph_send PUT "" "$CEPH_S3_URL/$1") || true ;;
        public-read)
                _cb_code=$(_ceph_send PUT "" "$CEPH_S3_URL/$1" 'x-amz-acl: public-read') || true
                ;;
        *) fail "ceph_bucket: unknown ACL '$2'" ;;
        esac
        _ceph_check_answer "creating bucket $1" "$_cb_code" || fail "ceph: creating bucket $1 failed"
}
