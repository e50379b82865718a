# shellcheck shell=sh
# Variables set here are for the sourcing test to use.
# shellcheck disable=SC2034
# Helpers for the acfetch HTTP fetch tests (fetch_*.sh): images made by Debian's casync from
# random trees, one acfetch run at a time with its status, stdout and stderr kept, and counts
# from the nginx access log. POSIX sh; source lib.sh first, then this, then call fetch_init.
# fail, expect_eq and the rest of the shared helpers are tests/lib.sh's.
#
# fetch_init
#       Skip (77) unless root and casync is installed; http_init; set A=$ACFETCH.
# fetch_make_tree DIR KIB...
#       A tree with one file of KIB KiB of random data per argument (f0, f1, ...), a
#       subdirectory with a small file, an empty directory, a symlink and an executable.
# fetch_make_image ROOT NAME TREE
#       casync make ROOT/NAME.caidx of TREE with 16 KiB average chunks into ROOT/default.castr.
# caidx_ids INDEX        every chunk ID in index order, one per line (hex)
# caidx_distinct INDEX   how many distinct chunks INDEX lists
# chunk_rel ID           the chunk's path inside a store: "abcd/abcd....cacnk"
# CHUNK_RE, ID_RE        grep regexes for such a path and for an ID
# fetch_make_mixed_tree DIR   a few MB in subdirectories, with owners, modes and a symlink
# overwrite_at FILE OFFSET BYTES   random bytes in place
# cache_bad_files D      the files in D/chunks that are not sound chunk files, one per line
# acf ARGS...
#       Run acfetch with ARGS. Sets RC; stdout is in $OUT, stderr in $ERR (also copied to the
#       test log). Fails the test at once on a sanitizer report.
# expect_rc N WHAT       RC must be N
# expect_err PATTERN     $ERR must match the grep basic regex PATTERN
# expect_no_err PATTERN  $ERR must not match PATTERN
# json_int KEY           the integer KEY from acfetch --json output in $OUT
# expect_same_tree TREE DEST
#       casync mtree of both must be identical.
# cache_count D          how many chunk files D/chunks holds
# cache_tmp D            temporary files left in D/chunks, one per line
# cache_verify D INDEX
#       D/chunks must hold exactly the distinct chunks of INDEX, each one decompressing to its ID:
#       an offline acfetch extract and a casync extract from D/chunks alone both succeed.
# log_mark [NAME]        remember how long the instance's access log is now
# log_count PATTERN [NAME]
#       how many access-log lines since log_mark match PATTERN
# log_distinct PATTERN [NAME]
#       how many distinct request targets since log_mark match PATTERN

# Grep basic regexes: a chunk's path in a store, and a chunk ID.
CHUNK_RE='[0-9a-f]\{4\}/[0-9a-f]\{64\}\.cacnk'
ID_RE='[0-9a-f]\{64\}'

fetch_init() {
        require_root "runs a private nginx as root"
        require_cmd casync
        [ -x "${ACFETCH:-}" ] || fail "no acfetch binary at '${ACFETCH:-}'"
        http_init
        A=$ACFETCH
        OUT=$TEST_TMP/acf.stdout
        ERR=$TEST_TMP/acf.stderr
        _fetch_mark_file=$TEST_TMP/log-marks
        : >"$_fetch_mark_file"
}

fetch_make_tree() { # DIR KIB...
        _ft_d=$1
        shift
        mkdir -p "$_ft_d/sub/deeper" "$_ft_d/empty" || return 1
        _ft_i=0
        for _ft_kib in "$@"; do
                head -c $((_ft_kib * 1024)) /dev/urandom >"$_ft_d/f$_ft_i" || return 1
                _ft_i=$((_ft_i + 1))
        done
        echo "a small file" >"$_ft_d/sub/deeper/note"
        printf '#!/bin/sh\necho hi\n' >"$_ft_d/sub/run.sh"
        chmod 0755 "$_ft_d/sub/run.sh"
        ln -s sub/deeper/note "$_ft_d/link"
}

fetch_make_image() { # ROOT NAME TREE
        mkdir -p "$1" || return 1
        casync make --chunk-size=16K --store="$1/default.castr" "$1/$2.caidx" "$3" \
                >/dev/null || fail "casync make $1/$2.caidx failed"
}

caidx_ids() {
        _ci_n=$((($(wc -c <"$1") - 104) / 40))
        [ "$_ci_n" -gt 0 ] || return 0
        # Items start at 64; each is an 8-byte end offset and a 32-byte ID: 80 hex digits.
        od -An -v -tx1 -j64 -N$((_ci_n * 40)) "$1" | tr -d ' \n' | fold -w 80 | cut -c17-80
}

caidx_distinct() {
        caidx_ids "$1" | sort -u | wc -l
}

chunk_rel() {
        echo "$(echo "$1" | cut -c1-4)/$1.cacnk"
}

acf() {
        RC=0
        "$A" "$@" >"$OUT" 2>"$ERR" || RC=$?
        echo "+ acfetch $* -> $RC" >&2
        # Every chunk may log a line on failure: the head is enough to debug.
        sed -e 's/^/  | /' "$ERR" | head -n 20 >&2
        if grep -q -e 'Sanitizer' -e 'runtime error:' "$ERR"; then
                cat "$ERR" >&2
                fail "sanitizer report from acfetch $*"
        fi
}

expect_rc() { # N WHAT
        [ "$RC" -eq "$1" ] || fail "$2: acfetch exited with $RC, expected $1"
}

expect_err() {
        grep -q -- "$1" "$ERR" || fail "stderr lacks '$1'"
}

expect_no_err() {
        ! grep -q -- "$1" "$ERR" || fail "stderr has '$1': $(grep -- "$1" "$ERR" | head -n 3)"
}

json_int() {
        _ji=$(sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p" "$OUT")
        [ -n "$_ji" ] || fail "no integer \"$1\" in the JSON output: $(cat "$OUT")"
        echo "$_ji"
}

expect_same_tree() { # TREE DEST
        [ -d "$2" ] || fail "$2 was not created"
        casync mtree "$1" >"$TEST_TMP/mtree.src" || fail "casync mtree $1"
        casync mtree "$2" >"$TEST_TMP/mtree.dst" || fail "casync mtree $2"
        if ! cmp -s "$TEST_TMP/mtree.src" "$TEST_TMP/mtree.dst"; then
                diff "$TEST_TMP/mtree.src" "$TEST_TMP/mtree.dst" | head -n 20 >&2
                fail "$2 differs from $1 (casync mtree)"
        fi
}

cache_count() {
        if [ ! -d "$1/chunks" ]; then
                echo 0
                return 0
        fi
        find "$1/chunks" -type f -name '*.cacnk' | wc -l
}

cache_tmp() {
        [ -d "$1/chunks" ] || return 0
        find "$1/chunks" -type f ! -name '*.cacnk'
}

cache_verify() { # D INDEX
        _cv_n=$(caidx_distinct "$2")
        expect_eq "chunk files in $1/chunks" "$(cache_count "$1")" "$_cv_n"
        expect_eq "temporary files in $1/chunks" "$(cache_tmp "$1")" ""
        _cv_missing=$(caidx_ids "$2" | sort -u | while read -r _cv_id; do
                [ -f "$1/chunks/$(chunk_rel "$_cv_id")" ] || echo "$_cv_id"
        done)
        expect_eq "chunks of $2 missing from $1/chunks" "$_cv_missing" ""
        rm -rf "$TEST_TMP/verify.acfetch" "$TEST_TMP/verify.casync" "$TEST_TMP/verify.d"
        # Offline: a local index and D/chunks as the only store, so every chunk is read and
        # verified from there.
        acf --dir="$TEST_TMP/verify.d" extract --store="$1/chunks" "$2" "$TEST_TMP/verify.acfetch"
        expect_rc 0 "offline extract from $1/chunks"
        casync extract --store="$1/chunks" "$2" "$TEST_TMP/verify.casync" ||
                fail "casync extract from $1/chunks failed"
        casync mtree "$TEST_TMP/verify.acfetch" >"$TEST_TMP/mtree.v1"
        casync mtree "$TEST_TMP/verify.casync" >"$TEST_TMP/mtree.v2"
        cmp -s "$TEST_TMP/mtree.v1" "$TEST_TMP/mtree.v2" ||
                fail "offline extracts from $1/chunks differ"
        rm -rf "$TEST_TMP/verify.acfetch" "$TEST_TMP/verify.casync" "$TEST_TMP/verify.d"
}

# fetch_make_mixed_tree DIR: a few MB of random files in subdirectories (one to change later,
# c/change.bin), owners, modes, a symlink, an empty directory and a dated file.
fetch_make_mixed_tree() {
        mkdir -p "$1/a/b" "$1/c" "$1/empty"
        head -c 1200000 /dev/urandom >"$1/a/big1"
        head -c 900000 /dev/urandom >"$1/a/b/big2"
        head -c 700000 /dev/urandom >"$1/c/big3"
        head -c 1000000 /dev/urandom >"$1/c/change.bin"
        seq 1 50000 >"$1/c/numbers.txt"
        echo "a small file" >"$1/a/b/note"
        printf '#!/bin/sh\necho hi\n' >"$1/a/run.sh"
        chmod 0755 "$1/a/run.sh"
        chmod 0640 "$1/c/big3"
        chown 1234:5678 "$1/c/big3"
        ln -s b/note "$1/a/link"
        touch -d '2020-01-02 03:04:05.123456789' "$1/a/big1"
}

# overwrite_at FILE OFFSET BYTES: BYTES random bytes at OFFSET, in place (the size stays).
overwrite_at() {
        head -c "$3" /dev/urandom | dd of="$1" bs=65536 seek="$2" oflag=seek_bytes conv=notrunc \
                iflag=fullblock status=none || fail "overwrite $1"
}

# cache_bad_files D: prints each file in D/chunks that is not ID.cacnk in its XXXX/ directory
# decompressing (zstd) to data whose SHA-512/256 is ID: left-over temp files, misplaced or
# damaged chunks. Prints nothing for a sound store.
cache_bad_files() {
        [ -d "$1/chunks" ] || return 0
        python3 "$SRCDIR/tests/chunk_check.py" store "$1" || echo "cannot check $1/chunks"
}

_fetch_log() {
        echo "$TEST_TMP/nginx.${1:-$NGINX_LAST}/access.log"
}

# shellcheck disable=SC2120 # NAME is optional
log_mark() {
        nginx_sync "${1:-}"
        _lm_name=${1:-$NGINX_LAST}
        _lm_n=$(wc -l <"$(_fetch_log "$_lm_name")")
        # One line per instance; the newest wins.
        echo "$_lm_name $_lm_n" >>"$_fetch_mark_file"
}

_fetch_since() { # NAME: the access-log lines since the instance's mark
        _fs_mark=$(awk -v n="$1" '$1 == n { m = $2 } END { print m + 0 }' "$_fetch_mark_file")
        tail -n +$((_fs_mark + 1)) "$(_fetch_log "$1")"
}

log_count() { # PATTERN [NAME]
        _lc_name=${2:-$NGINX_LAST}
        if [ -f "$TEST_TMP/nginx.$_lc_name/nginx.pid" ]; then
                nginx_sync "$_lc_name"
        fi
        _fetch_since "$_lc_name" | grep -c -- "$1" || true
}

log_distinct() { # PATTERN [NAME]
        _ld_name=${2:-$NGINX_LAST}
        if [ -f "$TEST_TMP/nginx.$_ld_name/nginx.pid" ]; then
                nginx_sync "$_ld_name"
        fi
        _fetch_since "$_ld_name" | grep -- "$1" | sed 's/^[0-9]* "[A-Z]* \([^ ]*\) .*/\1/' |
                sort -u | wc -l
}

# delay_proxy_start UPSTREAM_PORT RTT_MS: bench's delay proxy ($DELAY_PROXY, which meson test
# sets) on a free port in front of 127.0.0.1:UPSTREAM_PORT, adding RTT_MS of round trip; sets
# PROXY_PORT. It is stopped at exit. Checks that it delays: one request through it (a connect and
# a round trip, so two RTTs) takes at least RTT_MS.
delay_proxy_start() {
        [ -n "${DELAY_PROXY:-}" ] || fail "DELAY_PROXY is not set (meson test sets it)"
        [ -x "$DELAY_PROXY" ] || fail "no delay proxy at $DELAY_PROXY"
        PROXY_PORT=$(free_port)
        "$DELAY_PROXY" "$PROXY_PORT" "$1" "$2" &
        at_exit "kill $! 2>/dev/null || true"
        wait_until sh -c "ss -ltn 'sport = :$PROXY_PORT' | grep -q LISTEN" ||
                fail "the delay proxy did not start"
        _dp_t=$(curl -s -o /dev/null --max-time 60 -w '%{time_total}' \
                "http://127.0.0.1:$PROXY_PORT/") || fail "no answer through the delay proxy"
        awk -v t="$_dp_t" -v r="$2" 'BEGIN { exit !(t * 1000 >= r) }' ||
                fail "the delay proxy does not delay: a request took ${_dp_t}s at $2 ms round trip"
}
