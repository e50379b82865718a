#!/bin/sh
# Hostile archives and indexes through `acfetch mount`: every case of the hostile-input corpus
# (tests/casync/gen_hostile.c; catar cases are cut into an index and a store by catar_index) is
# either refused at mount time or mounted with the damaged part giving an error (EIO) when
# accessed, never a crash or a sanitizer report; the mount keeps serving the intact parts. Then a
# few corruptions made by hand in a casync archive, with the exact path that must fail.
set -eu
. "$SRCDIR/tests/mount/lib.sh"
mnt_init

"$GEN_HOSTILE" "$TEST_TMP/corpus" >/dev/null
mkdir -p "$TEST_TMP/mnt"

# walk DIR: touch everything a program could; prints how many operations failed.
walk() {
        _errs=0
        find "$1" >"$TEST_TMP/walk.list" 2>"$TEST_TMP/walk.err" || _errs=$((_errs + 1))
        while IFS= read -r f; do
                stat "$f" >/dev/null 2>&1 || _errs=$((_errs + 1))
                getfattr -h -d -m - "$f" >/dev/null 2>&1 || _errs=$((_errs + 1))
                if [ -L "$f" ]; then
                        readlink "$f" >/dev/null || _errs=$((_errs + 1))
                elif [ -f "$f" ]; then
                        cat "$f" >/dev/null 2>&1 || _errs=$((_errs + 1))
                elif [ -d "$f" ]; then
                        ls -la "$f" >/dev/null 2>&1 || _errs=$((_errs + 1))
                fi
        done <"$TEST_TMP/walk.list"
        echo $_errs
}

# try NAME INDEX [--store STORE]: mount and walk; records refused/errors/clean.
try() {
        _name=$1
        shift
        _log=$TEST_TMP/logs/$_name.log
        mkdir -p "$TEST_TMP/logs"
        "$A" --dir "$TEST_TMP/d" mount -f "$@" "$TEST_TMP/mnt" 2>"$_log" &
        _pid=$!
        MNT_PIDS="$MNT_PIDS $_pid"
        MNT_ALL="$MNT_ALL $TEST_TMP/mnt"
        i=0
        while ! is_mounted "$TEST_TMP/mnt" && kill -0 $_pid 2>/dev/null && [ $i -lt 200 ]; do
                sleep 0.05
                i=$((i + 1))
        done
        if ! is_mounted "$TEST_TMP/mnt"; then
                if kill -0 $_pid 2>/dev/null; then
                        kill $_pid
                        fail "$_name: neither mounted nor exited"
                fi
                _rc=0
                wait $_pid || _rc=$?
                [ $_rc = 254 ] || { cat "$_log" >&2; fail "$_name: refused with status $_rc"; }
                result=refused
        else
                e=$(walk "$TEST_TMP/mnt")
                mnt_umount "$TEST_TMP/mnt" || fail "$_name: cannot unmount"
                _rc=0
                wait $_pid || _rc=$?
                [ $_rc = 0 ] || { cat "$_log" >&2; fail "$_name: mount exited with $_rc"; }
                if [ "$e" -gt 0 ]; then result=errors; else result=clean; fi
        fi
        if grep -q 'Sanitizer\|runtime error\|AddressSanitizer' "$_log"; then
                cat "$_log" >&2
                fail "$_name: sanitizer report"
        fi
}

refused=0
errors=0
clean=""
while IFS="$(printf '\t')" read -r name input _; do
        path=$TEST_TMP/corpus/$input
        case $input in
        *.catar)
                mkdir -p "$TEST_TMP/idx/$name"
                "$CATAR_INDEX" "$path" "$TEST_TMP/idx/$name/default.castr" "$TEST_TMP/idx/$name/x.caidx" ||
                        fail "$name: catar_index"
                try "$name" "$TEST_TMP/idx/$name/x.caidx"
                ;;
        *.caidx)
                try "$name" "$path"
                ;;
        *) continue ;;
        esac
        case $result in
        refused) refused=$((refused + 1)) ;;
        errors) errors=$((errors + 1)) ;;
        clean) clean="$clean $name" ;;
        esac
done <"$TEST_TMP/corpus/cases.tsv"
echo "corpus: $refused refused at mount, $errors gave errors on access; clean:$clean"
[ -z "$clean" ] || fail "defects the mount did not notice:$clean"

# --- hand-made corruptions of a subdirectory's GOODBYE table in an archive made by casync
hm=$TEST_TMP/hand
mkdir -p "$hm/src/sub"
echo top >"$hm/src/a.txt"
for f in b c d e; do echo "$f" >"$hm/src/sub/$f"; done
echo zzz >"$hm/src/z.txt"
casync make --with=unix "$hm/ok.catar" "$hm/src" >/dev/null

u64() { # FILE OFFSET: the little-endian u64 there
        od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '
}
put_u64() { # FILE OFFSET VALUE
        _v=$3
        _b=
        for _k in 1 2 3 4 5 6 7 8; do
                _b="$_b\\$(printf '%03o' $((_v & 255)))"
                _v=$((_v >> 8))
        done
        # shellcheck disable=SC2059
        printf "$_b" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
        [ "$(u64 "$1" "$2")" = "$3" ] || fail "could not write $3 at $2 of $1"
}
# The first goodbye tail marker in the stream ends sub/'s GOODBYE (its children come first).
marker=$(LC_ALL=C grep -obUaP '\x43\x29\x70\x33\xa5\x6f\x44\x57' "$hm/ok.catar" | head -n 1 | cut -d: -f1)
gb_size=$(u64 "$hm/ok.catar" $((marker - 8)))
gb=$((marker + 8 - gb_size))
[ "$gb_size" = $((16 + 24 * 5)) ] || fail "sub/'s GOODBYE not found (size $gb_size at $gb)"

# corrupt NAME: a copy of ok.catar to change, then check_bad NAME
check_bad() { # NAME
        mkdir -p "$hm/$1"
        "$CATAR_INDEX" "$hm/$1.catar" "$hm/$1/default.castr" "$hm/$1/x.caidx" || fail "$1: index"
        mnt_start "$hm/$1.log" --dir "$TEST_TMP/d" mount -f "$hm/$1/x.caidx" "$TEST_TMP/mnt"
        cmp "$TEST_TMP/mnt/a.txt" "$hm/src/a.txt" || fail "$1: an intact file is unreadable"
        cmp "$TEST_TMP/mnt/z.txt" "$hm/src/z.txt" || fail "$1: an intact file is unreadable"
        if ls "$TEST_TMP/mnt/sub" >/dev/null 2>"$hm/$1.err"; then fail "$1: sub/ listed"; fi
        grep -q 'Input/output error' "$hm/$1.err" || { cat "$hm/$1.err" >&2; fail "$1: no EIO"; }
        if cat "$TEST_TMP/mnt/sub/c" >/dev/null 2>&1; then fail "$1: sub/c read"; fi
        mnt_stop
        grep -q 'archive offset' "$hm/$1.log" || { cat "$hm/$1.log" >&2; fail "$1: no message"; }
}
cp "$hm/ok.catar" "$hm/range.catar" # a child's offset points before the archive
put_u64 "$hm/range.catar" $((gb + 16)) 281474976710656
check_bad range
cp "$hm/ok.catar" "$hm/short.catar" # the table claims one item less (truncated table)
put_u64 "$hm/short.catar" $((marker - 8)) $((gb_size - 24))
check_bad short
cp "$hm/ok.catar" "$hm/overlap.catar" # an item's size makes children overlap
put_u64 "$hm/overlap.catar" $((gb + 16 + 24 + 8)) $(($(u64 "$hm/ok.catar" $((gb + 16 + 24 + 8))) + 1))
check_bad overlap
cp "$hm/ok.catar" "$hm/hash.catar" # items out of search-tree order (a hash changed)
put_u64 "$hm/hash.catar" $((gb + 16 + 16)) 0
check_bad hash
# Two children with one name: the child second in hash order takes the first one's name and hash
# (hash order stays valid, so only the duplicate is wrong; a lookup and a listing would disagree).
cp "$hm/ok.catar" "$hm/twice.catar"
for i in 0 1 2 3; do
        echo "$(u64 "$hm/ok.catar" $((gb + 16 + 24 * i + 16))) $i"
done | sort -n | head -n 2 | cut -d' ' -f2 >"$hm/pair"
a=$(sed -n 1p "$hm/pair")
b=$(sed -n 2p "$hm/pair")
name_at() { # ITEM: the archive offset of that child's one-letter name
        echo $((gb - $(u64 "$hm/ok.catar" $((gb + 16 + 24 * $1))) + 16))
}
copy_bytes() { # FROM TO COUNT: COUNT bytes of ok.catar at FROM go to twice.catar at TO
        dd if="$hm/ok.catar" of="$hm/twice.catar" bs=1 skip="$1" seek="$2" count="$3" \
                conv=notrunc 2>/dev/null
}
copy_bytes "$(name_at "$a")" "$(name_at "$b")" 1
copy_bytes $((gb + 16 + 24 * a + 16)) $((gb + 16 + 24 * b + 16)) 8
check_bad twice
grep -q 'names must be sorted and unique' "$hm/twice.log" || fail "twice: not refused as a duplicate"
echo PASS
