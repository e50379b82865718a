# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# A private OCI registry for tests: Debian's docker-registry (CNCF distribution 2.8) on
# 127.0.0.1 over https, with a certificate from tests/http/lib.sh's CA (http_make_certs first),
# its storage in $TEST_TMP. Sources nothing; the test sources tests/lib.sh and tests/http/lib.sh.
#
# registry_start NAME [AUTH_YAML]
#       Start registry NAME (its directory $TEST_TMP/registry.NAME) on a free port; AUTH_YAML is
#       the config's "auth:" block (none: no authentication). Sets REGISTRY_PORT,
#       REGISTRY_HOST=127.0.0.1:PORT, REGISTRY_DIR and REGISTRY_CONFIG. Stopped at exit, or by
#       registry_stop NAME.
# registry_htpasswd FILE USER PASSWORD
#       Write an htpasswd file (bcrypt, which distribution requires) with one user.
# registry_gc NAME
#       Stop registry NAME, run its garbage collector (the output in $REGISTRY_DIR/gc.log),
#       start it again on the same port.

registry_htpasswd() {
        htpasswd -Bbn "$2" "$3" >"$1" 2>"$1.err" || fail "htpasswd: $(cat "$1.err")"
}

_registry_config() { # DIR PORT AUTH
        cat >"$1/config.yml" <<EOF
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: $1/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
  secret: acfetch-test-secret
  tls:
    certificate: $HTTP_SERVER_CERT
    key: $HTTP_SERVER_KEY
$3
EOF
}

_registry_up() { # PORT
        curl -s -o /dev/null --cacert "$HTTP_CA" "https://127.0.0.1:$1/v2/"
}

_registry_launch() { # NAME
        _rl_d=$TEST_TMP/registry.$1
        docker-registry serve "$_rl_d/config.yml" >>"$_rl_d/registry.log" 2>&1 &
        echo $! >"$_rl_d/pid"
        wait_until _registry_up "$(cat "$_rl_d/port")" ||
                fail "registry $1 did not start: $(tail -n 5 "$_rl_d/registry.log")"
}

registry_start() { # NAME [AUTH]
        require_cmd docker-registry curl htpasswd
        REGISTRY_DIR=$TEST_TMP/registry.$1
        mkdir -p "$REGISTRY_DIR/data"
        REGISTRY_PORT=$(free_port)
        echo "$REGISTRY_PORT" >"$REGISTRY_DIR/port"
        REGISTRY_HOST=127.0.0.1:$REGISTRY_PORT
        REGISTRY_CONFIG=$REGISTRY_DIR/config.yml
        _registry_config "$REGISTRY_DIR" "$REGISTRY_PORT" "${2:-}"
        at_exit "registry_stop $1"
        _registry_launch "$1"
}

registry_stop() { # NAME
        _rs_pid=$(cat "$TEST_TMP/registry.$1/pid" 2>/dev/null) || return 0
        kill "$_rs_pid" 2>/dev/null || true
        wait_until pid_gone "$_rs_pid" || kill -9 "$_rs_pid" 2>/dev/null || true
        rm -f "$TEST_TMP/registry.$1/pid"
}

registry_gc() { # NAME
        registry_stop "$1"
        docker-registry garbage-collect "$TEST_TMP/registry.$1/config.yml" \
                >"$TEST_TMP/registry.$1/gc.log" 2>&1 ||
                fail "registry garbage-collect: $(tail -n 5 "$TEST_TMP/registry.$1/gc.log")"
        _registry_launch "$1"
}
