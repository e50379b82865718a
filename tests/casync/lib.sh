# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared helpers for the shell tests (sourced, not run). Provides a private work directory
# removed on exit, PASS/FAIL/SKIP bookkeeping, and tree snapshots for "nothing else changed".
#
# Environment (from meson's test_env): ACFETCH, SRCDIR, BUILDDIR.

set -u

LIB_FAILED=0
LIB_PASSED=0
LIB_SKIPPED=0
WORK=

: "${BUILDDIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
: "${ACFETCH:=$BUILDDIR/fetcher/acfetch}"
: "${CASYNC:=casync}"

# Immutable and append-only files (ours or extracted) would make rm fail: clear those flags on
# regular files and directories only (chattr opens its argument; fifos would block).
lib_unpin() {
        [ -d "$1" ] || return 0
        find "$1" \( -type f -o -type d \) -exec chattr -f -i -a {} + 2>/dev/null || true
}

lib_cleanup() {
        if [ -n "$WORK" ] && [ -d "$WORK" ]; then
                if [ -n "${KEEP_WORK:-}" ]; then
                        echo "# work directory kept: $WORK"
                        return
                fi
                lib_unpin "$WORK"
                rm -rf "$WORK"
        fi
}

# lib_init NAME: creates $WORK (mode 0755 so an unprivileged child can read inputs there).
lib_init() {
        if [ ! -x "$ACFETCH" ]; then
                echo "acfetch binary not found at $ACFETCH"
                exit 1
        fi
        if ! command -v "$CASYNC" >/dev/null; then
                echo "SKIP: casync is not installed"
                exit 77
        fi
        WORK=$(mktemp -d "${TMPDIR:-/tmp}/acfetch-$1.XXXXXX") || exit 1
        chmod 0755 "$WORK"
        trap lib_cleanup EXIT
        trap 'exit 130' INT TERM
}

lib_is_root() {
        [ "$(id -u)" = 0 ]
}

# pass NAME [NOTE...]: NOTE lines are indented under the PASS line.
pass() {
        local name=$1
        shift
        LIB_PASSED=$((LIB_PASSED + 1))
        echo "PASS: $name"
        [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'
        return 0
}

# fail NAME WHY...: WHY may span lines (diffs); each is indented under the FAIL line.
fail() {
        local name=$1
        shift
        LIB_FAILED=$((LIB_FAILED + 1))
        echo "FAIL: $name"
        [ $# -gt 0 ] && printf '%s\n' "$@" | sed 's/^/    /'
        return 0
}

skip() {
        LIB_SKIPPED=$((LIB_SKIPPED + 1))
        echo "SKIP: $1${2:+ ($2)}"
}

# check NAME COMMAND...: PASS when the command succeeds.
check() {
        local name=$1
        shift
        if "$@"; then pass "$name"; else fail "$name"; fi
}

lib_finish() {
        echo "# $LIB_PASSED passed, $LIB_FAILED failed, $LIB_SKIPPED skipped"
        [ "$LIB_FAILED" -eq 0 ] || exit 1
        [ "$LIB_PASSED" -gt 0 ] || exit 77
        exit 0
}

# snapshot DIR: one sorted line per entry below DIR with everything that could change (type,
# mode, owner, size, mtime, ctime, link target, content hash). DIR's own times are left out:
# creating and removing a temp inside it legitimately touches them.
snapshot() {
        (
                cd "$1" || exit 1
                find . -mindepth 1 -printf '%p|%y|%m|%U|%G|%s|%T@|%C@|%l\n'
                find . -mindepth 1 -type f -exec sha256sum {} +
        ) | LC_ALL=C sort
}

# leftover_temps DIR: prints any extraction temp below DIR (there should be none).
leftover_temps() {
        find "$1" -name '*.acfetch-*' -print 2>/dev/null
}

# diff_or_fail NAME EXPECTED_FILE GOT_FILE: PASS if identical, FAIL with the first diff lines.
diff_or_fail() {
        local d
        if d=$(diff -u "$2" "$3" 2>&1); then
                pass "$1"
        else
                fail "$1" "$(printf '%s\n' "$d" | head -n 40)"
        fi
}
