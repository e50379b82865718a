# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
# Helpers for the shell tests of the casync core (sourced, not run; bash tests source it too).
# Sources tests/lib.sh (fail, pass, skip, skip_part, check, finish, TEST_TMP, at_exit, ...) and
# adds what the casync tests share: ca_init, clearing immutable flags before removal, and tree
# snapshots for "nothing else changed".
#
# Environment (from meson's test_env): ACFETCH, SRCDIR, BUILDDIR.
#
# ca_init NAME
#       Skip (77) unless casync ($CASYNC) is installed; test_init NAME; TEST_TMP's immutable and append-only flags are cleared at exit so that it can go.
# unpin DIR
#       Clear the immutable and append-only flags of the files and directories below DIR.
# snapshot DIR
#       One sorted line per entry below DIR with everything that could change.
# leftover_temps DIR
#       Print any extraction temp below DIR (there should be none).
# diff_or_fail NAME EXPECTED_FILE GOT_FILE
#       pass NAME if the files are identical, else fail NAME with the first diff lines.

set -u

: "${SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
# shellcheck source=tests/lib.sh
. "$SRCDIR/tests/lib.sh"

: "${CASYNC:=casync}"

# Immutable and append-only files (ours or extracted) would make rm fail: clear those flags on
# regular files and directories only (chattr opens its argument; fifos would block).
unpin() {
        [ -d "$1" ] || return 0
        find "$1" \( -type f -o -type d \) -exec chattr -f -i -a {} + 2>/dev/null || true
}

ca_init() {
        require_cmd "$CASYNC"
        test_init "$1"
        at_exit 'unpin "$TEST_TMP"'
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
        if _dof=$(diff -u "$2" "$3" 2>&1); then
                pass "$1"
        else
                fail "$1" "$(printf '%s\n' "$_dof" | head -n 40)"
        fi
}
