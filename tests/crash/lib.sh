# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# The crash-consistency harness (issue 13): a command is killed with SIGKILL at a random point
# of its run, then the store's promises are checked (README, "The image store"). Builds on
# tests/fetch/lib.sh (nginx, signed images, fe_same_rootfs) and tests/http/fetch_lib.sh. POSIX sh.
#
# CRASH_N (environment, default 5): kills per command. CI runs 5; the long run is CRASH_N=100.
#
# cr_init
#       fe_init, then publish two signed images of a few MiB, many small files each (so removing
#       a tree takes long enough for a kill to land inside it): $CR_A (NAME crash.example.com/a,
#       source $SRC/a) and $CR_B (crash.example.com/b, $SRC/b); start nginx. Sets CR_IX_A and
#       CR_IX_B (their indexes in the docroot), F (scratch space on a tmpfs if one can be
#       mounted and CR_ON_DISK is empty, for stores the rounds copy), W (in F: the scratch area the commands write in;
#       the listing check covers all of it) and exports TMPDIR=$W/tmpdir so that anything a command
#       writes to a temporary directory is seen too.
# cr_fetch D NAME [OPTIONS]
#       Fetch NAME into store D (must succeed); sets CR_ID (full image ID).
# cr_prepare D
#       Fetch $CR_A into a fresh store D (the start of the render, export, rm and gc rounds);
#       sets ID (its full image ID).
# cr_output_ok render|export DEST
#       DEST, written by `render ID DEST` or `export ID DEST`, is image a whole: the tree equals
#       $SRC/a; the file's SHA-512 begins with the ID.
# cr_time COMMAND...
#       Run COMMAND (must succeed), print its wall time in ms (at least 1).
# cr_kill MAX_MS COMMAND...
#       Start COMMAND in a new session (setsid: its own process group), wait a random time in
#       [0, MAX_MS] ms, SIGKILL the whole group and reap it. CR_MID=1 if it still ran when
#       killed, 0 if it had finished (a kill after the end checks the same promises).
# cr_listing DIR EXCLUDE...
#       Every path under DIR but those at or below an EXCLUDE (paths relative to DIR), sorted.
# cr_temps DIR...
#       The temporary names acfetch writes (".NAME.acfetch-XXXXXX" and ".acfetch-<hex>" beside
#       a final name, "*.tmp" in chunks/, ".new-*" in images/, "work-*" in tmp/) found under
#       the DIRs, one per line.
# cr_check WHAT FUNCTION [ARGS...]
#       Run FUNCTION in a subshell; if it fails (or calls fail), print "FAIL: <round>: WHAT" with
#       its output and count WHAT as broken for this command. Never exits: every promise of
#       every kill is checked and counted. cr_round sets the round's name.
# cr_summary COMMAND
#       One line per promise: how many of the CRASH_N kills kept it. If any did not, print a
#       FAIL line and make the test fail at exit, but go on (the next command is checked too).
# cr_store_ok D
#       The store promises: `verify` exits 0; every image `image list --json` reports rendered
#       has a tree equal to its source; no world-writable path. (verify also compares each
#       tree with a fresh render; this checks them against the source too.)
# cr_no_temps WHAT DIR...
#       No temporary name under the DIRs (cr_temps).
# cr_same_listing BEFORE DIR EXCLUDE...
#       cr_listing DIR EXCLUDE... equals the file BEFORE: nothing new outside the excluded paths.

# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"

CRASH_N=${CRASH_N:-5}
CR_HOST=crash.example.com

# _cr_image NAME: $SRC/NAME, 2 MiB of random data and 1,000 small files, published signed.
_cr_image() {
        fe_image "$SRC/$1" "$CR_HOST/$1" 2048
        mkdir -p "$SRC/$1/rootfs/many" || fail "mkdir $SRC/$1/rootfs/many"
        _ci_i=0
        while [ "$_ci_i" -lt 1000 ]; do
                echo "$1 small file $_ci_i" >"$SRC/$1/rootfs/many/f$_ci_i"
                _ci_i=$((_ci_i + 1))
        done
        fe_publish "$WWW/$CR_HOST/img/$CR_HOST/$1.caidx" "$SRC/$1"
}

cr_init() {
        fe_init
        fe_page "$WWW/$CR_HOST" "$CR_HOST" "https://$CR_HOST/img/{name}.caidx"
        _cr_image a
        _cr_image b
        CR_A=$CR_HOST/a
        CR_B=$CR_HOST/b
        CR_IX_A=$WWW/$CR_HOST/img/$CR_HOST/a.caidx
        CR_IX_B=$WWW/$CR_HOST/img/$CR_HOST/b.caidx
        # shellcheck disable=SC2119 # it takes no script arguments
        fe_nginx_start
        # Rounds copy, compare and sync whole stores: on a tmpfs when we may mount one, so that a
        # busy disk does not stretch the suite (a SIGKILL keeps the page cache either way).
        F=$TEST_TMP/fast
        mkdir -p "$F" || fail "mkdir $F"
        if [ -z "${CR_ON_DISK:-}" ] &&
                mount -t tmpfs -o size=2G,mode=0755 tmpfs "$F" 2>/dev/null; then
                at_exit "umount -l '$F'"
        fi
        W=$F/w
        mkdir -p "$W/tmpdir" || fail "mkdir $W"
        TMPDIR=$W/tmpdir
        export TMPDIR
        echo "# CRASH_N=$CRASH_N kills per command"
}

cr_fetch() { # D NAME [OPTIONS]
        _cf_d=$1
        _cf_n=$2
        shift 2
        # shellcheck disable=SC2086 # NET is a list of options
        acf --dir="$_cf_d" fetch $NET --full "$@" "$_cf_n"
        expect_rc 0 "fetch $_cf_n"
        CR_ID=$(cat "$OUT")
}

cr_prepare() { # D
        cr_fetch "$1" "$CR_A"
        ID=$CR_ID
}

cr_output_ok() { # render|export DEST
        case $1 in
        render) fe_same_tree "$SRC/a" "$2" ;;
        export) expect_eq "SHA-512 of $2" "sha512-$(sha512sum "$2" | cut -c1-64)" "$ID" ;;
        *) fail "cr_output_ok: unknown command $1" ;;
        esac
}

_cr_now_ms() {
        date +%s%3N
}

cr_time() { # COMMAND...
        _ct_t0=$(_cr_now_ms)
        "$@" >"$TEST_TMP/cr_time.out" 2>&1 ||
                fail "unkilled run of $* failed" "$(tail -n 5 "$TEST_TMP/cr_time.out")"
        _ct_ms=$(($(_cr_now_ms) - _ct_t0))
        [ "$_ct_ms" -gt 0 ] || _ct_ms=1
        echo "$_ct_ms"
}

cr_kill() { # MAX_MS COMMAND...
        _ck_max=$1
        shift
        _ck_r=$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')
        _ck_ms=$((_ck_r % (_ck_max + 1)))
        # A background job of a non-interactive shell is no group leader: setsid runs the
        # command itself (no fork), so its pid is the new process group's id.
        setsid "$@" >"$TEST_TMP/cr_kill.out" 2>&1 &
        _ck_pid=$!
        # Until setsid has run there is no group to kill: a kill then would reach only the
        # shell child, and the command it went on to start would outlive the "kill".
        wait_until _cr_leads_group "$_ck_pid" || fail "$1 did not start its process group"
        sleep "$(printf '%d.%03d' $((_ck_ms / 1000)) $((_ck_ms % 1000)))"
        CR_MID=0
        if ! pid_gone "$_ck_pid"; then
                CR_MID=1
                # No "--": dash's kill takes it for a pid, fails, and only the leader died.
                kill -KILL "-$_ck_pid" 2>/dev/null || kill -KILL "$_ck_pid" 2>/dev/null || true
        fi
        wait "$_ck_pid" 2>/dev/null || true
        # Children the command started (a mount's daemon) are in the group: wait until they go.
        wait_until _cr_group_gone "$_ck_pid" ||
                fail "processes of group $_ck_pid survive SIGKILL" \
                        "$(ps -o pid,pgid,sid,stat,wchan:32,args -s "$_ck_pid" 2>&1)"
        CR_KILL_MS=$_ck_ms
        ! grep -q -e 'Sanitizer' -e 'runtime error:' "$TEST_TMP/cr_kill.out" ||
                fail "sanitizer report before the kill of $*" "$(cat "$TEST_TMP/cr_kill.out")"
}

_cr_leads_group() { # PID: it leads its own process group (setsid ran), or it is gone
        [ -e "/proc/$1/stat" ] || return 0
        awk -v p="$1" '{ sub(/^.*\) /, ""); exit !($3 == p) }' "/proc/$1/stat" 2>/dev/null
}

_cr_group_gone() { # PGID
        ! awk -v g="$1" '{ sub(/^.*\) /, ""); if ($3 == g && $1 != "Z") f = 1 } END { exit !f }' \
                /proc/[0-9]*/stat 2>/dev/null
}

cr_listing() { # DIR EXCLUDE...
        _cl_d=$1
        shift
        _cl_prune=
        for _cl_x; do
                _cl_prune="$_cl_prune -path $_cl_d/$_cl_x -prune -o"
        done
        # One find argument per word; an EXCLUDE may be a pattern, for find, not the shell.
        set -f
        # shellcheck disable=SC2086
        find "$_cl_d" $_cl_prune -printf '%P\n' | sort
        set +f
}

cr_temps() { # DIR...
        find "$@" \( -name '.*.acfetch-*' -o -name '.acfetch-*' -o -path '*/chunks/*.tmp' \
                -o -path '*/images/.new-*' -o -path '*/tmp/work-*' \) -prune -print 2>/dev/null
}

_cr_round=
_cr_broken=
cr_round() {
        _cr_round=$1
}

cr_check() { # WHAT FUNCTION [ARGS...]
        _cc_what=$1
        shift
        _cc_rc=0
        _cc_had=
        [ ! -f "$TEST_TMP/.failed" ] || _cc_had=1
        ("$@") >"$TEST_TMP/cr_check.out" 2>&1 || _cc_rc=$?
        # A fail in the subshell marked the test failed; cr_summary reports and fails instead.
        [ -n "$_cc_had" ] || rm -f "$TEST_TMP/.failed"
        if [ "$_cc_rc" -ne 0 ]; then
                echo "FAIL: $_cr_round: $_cc_what" >&2
                grep -v '^+ acfetch\|^  | ' "$TEST_TMP/cr_check.out" | head -n 12 |
                        sed 's/^/    /' >&2
                _cr_broken="$_cr_broken
$_cc_what"
        fi
        _cr_checked="${_cr_checked:-}
$_cc_what"
        return 0
}

cr_summary() { # COMMAND
        _cs_bad=0
        if [ -n "${CR_MID_COUNT:-}" ]; then
                echo "# $1: $CRASH_N kills ($CR_MID_COUNT while it ran, the rest after its end)"
        else
                echo "# $1:"
        fi
        printf '%s\n' "${_cr_checked:-}" | sed '/^$/d' | sort -u >"$TEST_TMP/cr_what"
        while read -r _cs_w; do
                _cs_n=$(printf '%s\n' "$_cr_broken" | grep -cxF "$_cs_w") || true
                _cs_all=$(printf '%s\n' "$_cr_checked" | grep -cxF "$_cs_w") || true
                echo "#   $((_cs_all - _cs_n))/$_cs_all held: $_cs_w"
                [ "$_cs_n" -eq 0 ] || _cs_bad=1
        done <"$TEST_TMP/cr_what"
        _cr_checked=
        _cr_broken=
        CR_MID_COUNT=
        if [ "$_cs_bad" -ne 0 ]; then
                # Recorded, not exiting: the next command's kills are still checked.
                echo "FAIL: $1: a promise did not hold after a kill (FAIL lines above)" >&2
                : >"$TEST_TMP/.failed"
                return 0
        fi
        pass "$1: every promise held after $CRASH_N kills"
}

# cr_count_mid: add this kill to the mid-run count cr_summary prints.
cr_count_mid() {
        CR_MID_COUNT=$((${CR_MID_COUNT:-0} + CR_MID))
}

# The sources by store key: $SRC/<name> for each image of the store's image list.
_cr_rendered_trees() { # D: "key name" of every image image list --json reports rendered
        "$A" --dir="$1" image list --json --full >"$TEST_TMP/cr_list.json" ||
                fail "image list --json failed"
        # One object per line; keys and names hold no quote or brace.
        sed 's/},{/}\n{/g' "$TEST_TMP/cr_list.json" | grep '"rendered":true' |
                sed -n 's/.*"key":"\([^"]*\)".*/\1/p' >"$TEST_TMP/cr_keys" || true
        sed 's/},{/}\n{/g' "$TEST_TMP/cr_list.json" | grep '"rendered":true' |
                sed -n 's/.*"name":"\([^"]*\)".*/\1/p' | paste -d ' ' "$TEST_TMP/cr_keys" - ||
                true
}

cr_store_ok() { # D
        "$A" --dir="$1" verify >"$TEST_TMP/cr_verify.out" 2>&1 ||
                fail "verify failed" "$(head -n 5 "$TEST_TMP/cr_verify.out")"
        _cr_rendered_trees "$1" >"$TEST_TMP/cr_trees"
        while read -r _cso_key _cso_name; do
                fe_same_rootfs "$SRC/${_cso_name##*/}" "$1/trees/$_cso_key"
        done <"$TEST_TMP/cr_trees"
        _cso_ww=$(find "$1" ! -type l -perm -0002 | head -n 5)
        [ -z "$_cso_ww" ] || fail "world-writable paths in the store" "$_cso_ww"
}

cr_no_temps() { # WHAT DIR...
        _cnt_what=$1
        shift
        _cnt=$(cr_temps "$@")
        [ -z "$_cnt" ] || fail "temporary files left $_cnt_what" "$_cnt"
}

cr_same_listing() { # BEFORE DIR EXCLUDE...
        _csl_before=$1
        shift
        cr_listing "$@" >"$TEST_TMP/cr_listing.now"
        cmp -s "$_csl_before" "$TEST_TMP/cr_listing.now" ||
                fail "new files outside the store and the destination" \
                        "$(diff "$_csl_before" "$TEST_TMP/cr_listing.now" | grep '^[<>]' | head -n 8)"
}
