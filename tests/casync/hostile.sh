#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Hostile inputs: every case gen_hostile writes must make `acfetch extract` fail with exit 254
# (rkt's status for failures) and the expected message, leave neither DEST nor a temp
# directory, and change nothing beside DEST (a sentinel tree next to it, and /etc/passwd, which
# two cases aim at). `acfetch mtree` must fail on the same input. Then valid.catar cut at every
# length must fail cleanly, and the whole file must extract.
#
# Environment: GEN_HOSTILE (the generator), plus lib.sh's ACFETCH.

. "$(dirname "$0")/lib.sh"
: "${GEN_HOSTILE:=$BUILDDIR/tests/casync/gen_hostile}"
ca_init hostile

GEN=$TEST_TMP/gen
if ! "$GEN_HOSTILE" "$GEN" >"$TEST_TMP/gen.log" 2>&1; then
        fail "gen_hostile" "$(cat "$TEST_TMP/gen.log")"
fi
n_cases=$(wc -l <"$GEN/cases.tsv")
pass "gen_hostile wrote $n_cases cases"

# ---------------------------------------------------------------- the generator's valid archives

# casync itself must accept them, or the cases built from them prove nothing.
for v in valid.catar valid/x.caidx; do
        if $CASYNC mtree "$GEN/$v" >"$TEST_TMP/casync-valid.mtree" 2>"$TEST_TMP/casync-valid.err"; then
                pass "casync accepts $v"
        else
                fail "casync accepts $v" "$(cat "$TEST_TMP/casync-valid.err")"
                continue
        fi
        out=$TEST_TMP/valid-out-${v%%.*}
        if "$ACFETCH" extract "$GEN/$v" "$out" 2>"$TEST_TMP/valid.err"; then
                $CASYNC mtree --with=32bit-uids --with=nsec-time --with=permissions \
                        --with=symlinks --with=fifos --with=xattrs "$out" >"$TEST_TMP/valid-out.mtree"
                diff_or_fail "acfetch extracts $v as casync reads it" \
                        "$TEST_TMP/casync-valid.mtree" "$TEST_TMP/valid-out.mtree"
        else
                fail "acfetch extracts $v" "$(cat "$TEST_TMP/valid.err")"
        fi
done

# ---------------------------------------------------------------- one hostile case

passwd_state() {
        stat -c '%s %Y %Z %i %a %u %g' /etc/passwd
        sha256sum </etc/passwd
}
PASSWD_BEFORE=$(passwd_state)
mkdir -p "$TEST_TMP/log"
cp -a /etc/passwd "$TEST_TMP/passwd.backup"

# run_case NAME INPUT EXPECTED
run_case() {
        local name=$1 input=$GEN/$2 expect=$3
        local cw=$TEST_TMP/case/$name log=$TEST_TMP/log/$name problems=() rc before after
        mkdir -p "$cw/outside/sub"
        echo "sentinel of $name" >"$cw/outside/keep"
        ln -s keep "$cw/outside/link"
        touch -h -d @1000000000 "$cw/outside/keep" "$cw/outside/link" "$cw/outside/sub" \
                "$cw/outside"
        before=$(snapshot "$cw")

        "$ACFETCH" extract "$input" "$cw/dest" >"$log.stdout" 2>"$log.stderr"
        rc=$?
        [ $rc -eq 254 ] || problems+=("exit status $rc, expected 254")
        grep -qF -- "$expect" "$log.stderr" ||
                problems+=("stderr lacks \"$expect\"")
        { [ -e "$cw/dest" ] || [ -L "$cw/dest" ]; } && problems+=("DEST exists")
        [ -z "$(leftover_temps "$cw")" ] && [ -z "$(leftover_temps "$TEST_TMP/case")" ] ||
                problems+=("temp left: $(leftover_temps "$TEST_TMP/case" | head -n 3)")
        after=$(snapshot "$cw")
        [ "$before" = "$after" ] ||
                problems+=("work dir changed:" "$(diff <(echo "$before") <(echo "$after") |
                        head -n 10)")
        if [ "$(passwd_state)" != "$PASSWD_BEFORE" ]; then
                problems+=("/etc/passwd CHANGED")
                # Our payload landed there: put the real one back (only then, so a concurrent
                # legitimate change is never undone).
                if grep -qx pwned /etc/passwd; then
                        cp -a "$TEST_TMP/passwd.backup" /etc/passwd
                        problems+=("/etc/passwd held the archive's payload; restored")
                fi
                PASSWD_BEFORE=$(passwd_state)
        fi
        grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$log.stderr" &&
                problems+=("sanitizer report")

        "$ACFETCH" mtree "$input" >"$log.mtree.out" 2>"$log.mtree.err"
        rc=$?
        [ $rc -eq 254 ] || problems+=("mtree: exit status $rc, expected 254")
        grep -qF -- "$expect" "$log.mtree.err" ||
                problems+=("mtree: stderr lacks \"$expect\"")

        if [ ${#problems[@]} -eq 0 ]; then
                pass "$name"
                unpin "$cw"
                rm -rf "$cw" "$log".*
        else
                fail "$name" "${problems[@]}" "stderr: $(head -c 600 "$log.stderr")"
        fi
}

while IFS=$'\t' read -r name input expect; do
        run_case "$name" "$input" "$expect"
done <"$GEN/cases.tsv"

# ---------------------------------------------------------------- every truncation

VALID=$GEN/valid.catar
size=$(stat -c %s "$VALID")
CUT=$TEST_TMP/cut
mkdir -p "$CUT"
bad=()
for ((off = 0; off < size; off++)); do
        head -c $off "$VALID" >"$CUT/t.catar"
        "$ACFETCH" extract "$CUT/t.catar" "$CUT/dest" >/dev/null 2>"$CUT/err"
        rc=$?
        if [ $rc -ne 254 ] || [ -e "$CUT/dest" ] || [ -n "$(leftover_temps "$CUT")" ] ||
                ! grep -q 'error' "$CUT/err"; then
                bad+=("cut at $off: exit $rc, $(head -c 200 "$CUT/err")")
                unpin "$CUT/dest"
                rm -rf "$CUT/dest"
        fi
done
if [ ${#bad[@]} -eq 0 ]; then
        pass "valid.catar cut at each of its $size lengths: fails, leaves nothing"
else
        fail "valid.catar cut at each length (${#bad[@]} of $size wrong)" "${bad[@]:0:10}"
fi
if "$ACFETCH" extract "$VALID" "$CUT/dest" 2>"$CUT/err"; then
        pass "valid.catar uncut extracts"
else
        fail "valid.catar uncut extracts" "$(cat "$CUT/err")"
fi

finish
