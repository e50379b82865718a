# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# The library every shell test sources, directly or through its folder's lib.sh (which keeps only
# what is specific to that folder). POSIX sh; bash tests source it too. Meson's environment gives
# ACFETCH, SRCDIR and BUILDDIR.
#
# Outcomes. Each word has one meaning in every test:
# fail MESSAGE [DETAIL...]
#       The test failed: print "FAIL: MESSAGE" (each DETAIL line indented below it) on stderr and
#       exit 1 at once. In a subshell ($(...), a pipeline) only the subshell ends, but the failure
#       is recorded in $TEST_TMP and the test still exits 1 (test_cleanup sees to it).
#       TEST_KEEP_GOING=1 in the environment (to debug an implementation): print and record, but
#       go on; the test still exits 1 at the end.
# pass MESSAGE [NOTE...]
#       A check held: print "PASS: MESSAGE" (NOTE lines indented below it) and go on.
# skip WHY
#       A prerequisite is missing: print "SKIP: WHY" and exit 77 (meson counts the test skipped).
# skip_part NAME WHY
#       One part of the test cannot run here: print "SKIP: NAME (WHY)" and go on.
# check NAME COMMAND...
#       pass NAME if COMMAND succeeds, else fail NAME.
# expect_eq WHAT ACTUAL EXPECTED / expect_ge WHAT ACTUAL MIN
#       fail unless ACTUAL is the string EXPECTED / the integer ACTUAL is at least MIN.
# finish
#       For tests made of pass/skip_part lines: print the counts; exit 77 if nothing passed
#       (every part was skipped), else 0.
# build_tree WHAT FUNCTION [ARGS...]
#       Run FUNCTION ARGS (a tree builder) in a subshell with "set -e", so that its first failing
#       step stops it, and fail "WHAT: ..." if it did: a missing tool or an unsupported
#       attribute cannot silently leave a smaller tree. (Builders call it this way, not behind
#       "||" or "if", where the shell would ignore set -e.)
# is_root / require_root WHY / require_cmd CMD...
#       Whether running as root / skip unless root / skip unless every CMD is installed.
#
# Scratch directory and cleanup:
# test_init NAME
#       Create TEST_TMP (mode 0755: an unprivileged child may read inputs there), removed at exit
#       unless KEEP=1, and install the EXIT, INT and TERM traps that run test_cleanup. A second
#       call does nothing, so several folder libraries may each call it.
# at_exit COMMAND
#       Run COMMAND (a string, eval'ed) at exit, before TEST_TMP is removed; the last registered
#       runs first. For processes, mounts and agents a test starts.
# test_cleanup
#       Run the at_exit commands, stop every nginx started here, release reserved ports, remove
#       TEST_TMP. Idempotent; the EXIT trap calls it and keeps the exit status (1 if a fail was
#       recorded).
#
# Waiting, ports, processes:
# wait_until COMMAND [ARGS...]
#       Run COMMAND every 50 ms until it succeeds; return 1 after about 10 s. For conditions a
#       correct peer makes true promptly (a file reaching a size), never as a delay.
# pid_gone PID
#       Succeed if PID no longer runs (an unreaped zombie counts as gone).
# free_port
#       Print a loopback TCP port nothing listens on, below the kernel's ephemeral range, and
#       reserve it for this test (an atomic mkdir lock under /tmp/acfetch-http-ports, released at
#       exit, reclaimed from dead owners) so that concurrent tests never pick the same one.
#
# nginx instances (several may run at once, each in $TEST_TMP/nginx.NAME):
# nginx_launch NAME NPORTS CONF_FUNCTION
#       Reserve NPORTS ports, call "CONF_FUNCTION DIR PORT..." to write DIR/nginx.conf, and start
#       nginx on it; when a port raced away, retry with new ports. The first port must answer
#       "GET /__sync" (plain HTTP, not logged): nginx_sync uses it. Writes DIR/ports (the ports,
#       in order) and sets NGINX_LAST=NAME. NGINX_FIRST_PORT, when set, replaces the first port
#       on the first attempt (a test hook for the retry).
# nginx_stop [NAME]
#       Gracefully stop the instance (default NGINX_LAST), wait until its processes are gone.
# nginx_sync [NAME]
#       One request to the instance, answered: its only worker serves requests in order, so every
#       response a client has fully received is in the access log afterwards.

# Folder libraries source this file too: once is enough (a second time would reset the state).
[ -z "${_test_lib_loaded:-}" ] || return 0
_test_lib_loaded=1
: "${BUILDDIR:=$(pwd)}"
: "${ACFETCH:=$BUILDDIR/fetcher/acfetch}"
TEST_TMP=${TEST_TMP:-}
TEST_PORT_LOCKS=/tmp/acfetch-http-ports
NGINX_LAST=
_test_exit_cmds=
_test_passed=0
_test_skipped=0

_test_details() {
        [ $# -gt 0 ] || return 0
        printf '%s\n' "$@" | sed 's/^/    /'
}

fail() {
        echo "FAIL: $1" >&2
        shift
        _test_details "$@" >&2
        if [ -n "$TEST_TMP" ] && [ -d "$TEST_TMP" ]; then
                : >"$TEST_TMP/.failed"
        fi
        [ -n "${TEST_KEEP_GOING:-}" ] || exit 1
}

pass() {
        _test_passed=$((_test_passed + 1))
        echo "PASS: $1"
        shift
        _test_details "$@"
}

skip() {
        echo "SKIP: $*"
        exit 77
}

skip_part() {
        _test_skipped=$((_test_skipped + 1))
        echo "SKIP: $1${2:+ ($2)}"
}

check() {
        _ck_name=$1
        shift
        if "$@"; then pass "$_ck_name"; else fail "$_ck_name"; fi
}

expect_eq() { # WHAT ACTUAL EXPECTED
        [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"
}

expect_ge() { # WHAT ACTUAL MIN
        [ "$2" -ge "$3" ] || fail "$1: got $2, expected at least $3"
}

expect_le() { # WHAT ACTUAL MAX
        [ "$2" -le "$3" ] || fail "$1: got $2, expected at most $3"
}

finish() {
        echo "# $_test_passed passed, $_test_skipped skipped"
        [ "$_test_passed" -gt 0 ] || exit 77
        exit 0
}

build_tree() {
        _bt_what=$1
        shift
        case $- in
        *e*) _bt_errexit=1 ;;
        *) _bt_errexit= ;;
        esac
        set +e
        (
                set -e
                "$@"
        )
        _bt_rc=$?
        [ -z "$_bt_errexit" ] || set -e
        [ "$_bt_rc" -eq 0 ] || fail "$_bt_what: a step failed (status $_bt_rc; its message is above)"
}

is_root() {
        [ "$(id -u)" = 0 ]
}

require_root() {
        is_root || skip "needs root: $*"
}

require_cmd() {
        for _rc_cmd; do
                command -v "$_rc_cmd" >/dev/null 2>&1 ||
                        skip "$_rc_cmd is not installed (tools/install-deps.sh)"
        done
}

test_init() {
        [ -z "$TEST_TMP" ] || return 0
        TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/acfetch-$1.XXXXXX") || exit 1
        chmod 0755 "$TEST_TMP"
        : >"$TEST_TMP/ports"
        trap '_test_rc=$?; test_cleanup; exit $_test_rc' EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
}

at_exit() {
        _test_exit_cmds="$1
$_test_exit_cmds"
}

test_cleanup() {
        [ -n "$TEST_TMP" ] && [ -d "$TEST_TMP" ] || return 0
        # Each command once, even if one of them exits.
        _tc_cmds=$_test_exit_cmds
        _test_exit_cmds=
        eval "$_tc_cmds"
        if [ -f "$TEST_TMP/nginx-instances" ]; then
                while read -r _tc_n; do
                        nginx_stop "$_tc_n"
                done <"$TEST_TMP/nginx-instances"
        fi
        _test_release_ports
        # A failure recorded in a subshell fails the test.
        if [ -f "$TEST_TMP/.failed" ] && [ "${_test_rc:-0}" -eq 0 ]; then
                _test_rc=1
        fi
        if [ "${KEEP:-0}" = 1 ]; then
                echo "# scratch directory kept: $TEST_TMP" >&2
        else
                rm -rf "$TEST_TMP"
        fi
        TEST_TMP=
}

wait_until() {
        _wu_i=0
        while ! "$@"; do
                _wu_i=$((_wu_i + 1))
                [ "$_wu_i" -lt 200 ] || return 1
                sleep 0.05
        done
}

pid_gone() {
        kill -0 "$1" 2>/dev/null || return 0
        # A daemon that has exited stays a zombie until init reaps it, which can take seconds.
        _pg_state=$(sed -n 's/^.*) \([A-Za-z]\) .*$/\1/p' "/proc/$1/stat" 2>/dev/null) || true
        [ "$_pg_state" = Z ] || [ "$_pg_state" = X ]
}

# Port range: below the ephemeral range, so outgoing connections never hold our ports.
_test_port_range() {
        _tpr_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) || true
        _tpr_low=${_tpr_low:-32768}
        if [ "$_tpr_low" -gt 12000 ]; then
                _test_port_min=10000
                _test_port_max=$((_tpr_low - 1))
        else
                _test_port_min=61000
                _test_port_max=65000
        fi
}

_test_port_listening() {
        command -v ss >/dev/null 2>&1 || return 1
        [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

free_port() {
        [ -n "$TEST_TMP" ] || fail "free_port: test_init was not called"
        _test_port_range
        mkdir -p "$TEST_PORT_LOCKS" 2>/dev/null || true
        _fp_try=0
        while [ "$_fp_try" -lt 500 ]; do
                _fp_try=$((_fp_try + 1))
                _fp_r=$(od -An -N2 -tu2 /dev/urandom | tr -d ' \n')
                _fp_p=$((_test_port_min + _fp_r % (_test_port_max - _test_port_min + 1)))
                _fp_lock=$TEST_PORT_LOCKS/$_fp_p
                if ! mkdir "$_fp_lock" 2>/dev/null; then
                        # Held: reclaim it only if the holder is dead. If two tests reclaim
                        # the same lock at once, nginx's bind failure and retry sort it out.
                        _fp_owner=$(cat "$_fp_lock/owner" 2>/dev/null) || true
                        if [ -n "$_fp_owner" ] && ! kill -0 "$_fp_owner" 2>/dev/null; then
                                rm -rf "$_fp_lock"
                        fi
                        continue
                fi
                # $$ is the test's shell even inside $(...), so the owner outlives this call.
                echo "$$" >"$_fp_lock/owner"
                echo "$_fp_p" >>"$TEST_TMP/ports"
                _test_port_listening "$_fp_p" && continue
                echo "$_fp_p"
                return 0
        done
        echo "lib.sh: no free port found in $_test_port_min-$_test_port_max" >&2
        return 1
}

_test_release_ports() {
        [ -f "$TEST_TMP/ports" ] || return 0
        while read -r _trp_p; do
                _trp_owner=$(cat "$TEST_PORT_LOCKS/$_trp_p/owner" 2>/dev/null) || true
                if [ "$_trp_owner" = "$$" ]; then
                        rm -rf "${TEST_PORT_LOCKS:?}/$_trp_p"
                fi
        done <"$TEST_TMP/ports"
        : >"$TEST_TMP/ports"
}

_test_file_nonempty() {
        [ -s "$1" ]
}

nginx_launch() { # NAME NPORTS CONF_FUNCTION
        _nl_name=$1 _nl_n=$2 _nl_conf=$3
        _nl_d=$TEST_TMP/nginx.$_nl_name
        [ ! -f "$_nl_d/nginx.pid" ] || fail "nginx $_nl_name is already running"
        mkdir -p "$_nl_d/tmp" || fail "mkdir $_nl_d"
        _nl_attempt=0
        while :; do
                _nl_attempt=$((_nl_attempt + 1))
                _nl_ports=
                _nl_i=0
                while [ "$_nl_i" -lt "$_nl_n" ]; do
                        _nl_p=$(free_port) || fail "no free port for nginx $_nl_name"
                        if [ "$_nl_i" -eq 0 ] && [ "$_nl_attempt" -eq 1 ] &&
                                [ -n "${NGINX_FIRST_PORT:-}" ]; then
                                _nl_p=$NGINX_FIRST_PORT
                        fi
                        _nl_ports="$_nl_ports $_nl_p"
                        _nl_i=$((_nl_i + 1))
                done
                # shellcheck disable=SC2086 # one argument per port
                "$_nl_conf" "$_nl_d" $_nl_ports || fail "nginx $_nl_name: writing its config"
                # Daemon mode: nginx binds every port before it forks, so its exit status says
                # whether the ports were ours.
                if nginx -p "$_nl_d/" -e "$_nl_d/error.log" -c "$_nl_d/nginx.conf" \
                        >"$_nl_d/start.log" 2>&1; then
                        break
                fi
                if [ "$_nl_attempt" -lt 10 ] &&
                        grep -q 'Address already in use' "$_nl_d/start.log" "$_nl_d/error.log"
                then
                        echo "lib.sh: nginx $_nl_name: port taken, retrying with new ports" >&2
                        continue
                fi
                cat "$_nl_d/start.log" >&2
                fail "nginx $_nl_name failed to start (attempt $_nl_attempt)"
        done
        # The forked master writes its pid file a moment after the parent has exited.
        wait_until _test_file_nonempty "$_nl_d/nginx.pid" ||
                fail "nginx $_nl_name wrote no pid file"
        echo "${_nl_ports# }" >"$_nl_d/ports"
        echo "$_nl_name" >>"$TEST_TMP/nginx-instances"
        NGINX_LAST=$_nl_name
}

# Children of a pid, from /proc (nginx workers outlive a killed master). One cat and one awk:
# a process per /proc entry would take seconds.
_test_children() {
        # shellcheck disable=SC2016
        cat /proc/[0-9]*/stat 2>/dev/null |
                awk -v pp="$1" '{ pid = $1; sub(/^.*\) /, ""); if ($2 == pp) print pid }' ||
                true
}

nginx_stop() {
        _ns_name=${1:-$NGINX_LAST}
        _ns_d=$TEST_TMP/nginx.$_ns_name
        [ -f "$_ns_d/nginx.pid" ] || return 0
        _ns_pid=$(cat "$_ns_d/nginx.pid")
        _ns_kids=$(_test_children "$_ns_pid")
        # QUIT lets the worker finish and log what it is serving; stalled clients get cut off by
        # the escalation to KILL.
        kill -QUIT "$_ns_pid" 2>/dev/null || true
        if ! wait_until pid_gone "$_ns_pid"; then
                echo "lib.sh: nginx $_ns_name ignored SIGQUIT, killing it" >&2
                # shellcheck disable=SC2086
                kill -KILL "$_ns_pid" $_ns_kids 2>/dev/null || true
                wait_until pid_gone "$_ns_pid" || true
        fi
        for _ns_k in $_ns_kids; do
                wait_until pid_gone "$_ns_k" || kill -KILL "$_ns_k" 2>/dev/null || true
        done
        rm -f "$_ns_d/nginx.pid"
}

nginx_sync() {
        _ny_d=$TEST_TMP/nginx.${1:-$NGINX_LAST}
        read -r _ny_port _ny_rest <"$_ny_d/ports" || fail "nginx sync: no ports in $_ny_d"
        curl -sS -f -o /dev/null "http://127.0.0.1:$_ny_port/__sync" ||
                fail "nginx sync request failed"
}
