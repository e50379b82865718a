#!/bin/sh
# Hostile archives and indexes through `acfetch mount`: every case of the hostile-input corpus
# (tests/casync/gen_hostile.c; catar cases are cut into an index and a store by catar_index) is
# either refused at mount time or mounted with the damaged part giving an error (EIO) when
# accessed, never a crash or a sanitizer report; the mount keeps serving the intact parts. Then a
# few corruptions made by hand in a casync archive, with the exact path that must fail.
set -eu
. "$SRCDIR/tests/mount/lib.sh"
mnt_init

"$GEN_HOSTILE" "$MT/corpus" >/dev/null
mkdir -p "$MT/mnt"

# walk DIR: touch everything a program could; prints how many operations failed.
walk() {
        _errs=0
        find "$1" >"$MT/walk.list" 2>"$MT/walk.err" || _errs=$((_errs + 1))
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
        done <"$MT/walk.list"
        echo $_errs
}

# try NAME INDEX [--store STORE]: mount and walk; records refused/errors/clean.
try() {
        _name=$1
        shift
        _log=$MT/logs/$_name.log
        mkdir -p "$MT/logs"
        "$A" --dir "$MT/d" mount -f "$@" "$MT/mnt" 2>"$_log" &
        _pid=$!
        MNT_PIDS="$MNT_PIDS $_pid"
        MNT_ALL="$MNT_ALL $MT/mnt"
        i=0
        while ! is_mounted "$MT/mnt" && kill -0 $_pid 2>/dev/null && [ $i -lt 200 ]; do
                sleep 0.05
                i=$((i + 1))
        done
        if ! is_mounted "$MT/mnt"; then
                if kill -0 $_pid 2>/dev/null; then
                        kill $_pid
                        mnt_fail "$_name: neither mounted nor exited"
                fi
                _rc=0
                wait $_pid || _rc=$?
                [ $_rc = 1 ] || { cat "$_log" >&2; mnt_fail "$_name: refused with status $_rc"; }
                result=refused
        else
                e=$(walk "$MT/mnt")
                mnt_umount "$MT/mnt" || mnt_fail "$_name: cannot unmount"
                _rc=0
                wait $_pid || _rc=$?
                [ $_rc = 0 ] || { cat "$_log" >&2; mnt_fail "$_name: mount exited with $_rc"; }
                if [ "$e" -gt 0 ]; then result=errors; else result=clean; fi
        fi
        if grep -q 'Sanitizer\|runtime error\|AddressSanitizer' "$_log"; then
                cat "$_log" >&2
                mnt_fail "$_name: sanitizer report"
        fi
}

refused=0
errors=0
clean=""
while IFS="$(printf '\t')" read -r name input _; do
        path=$MT/corpus/$input
        case $input in
        *.catar)
                mkdir -p "$MT/idx/$name"
                "$CATAR_INDEX" "$path" "$MT/idx/$name/default.castr" "$MT/idx/$name/x.caidx" ||
                        mnt_fail "$name: catar_index"
                try "$name" "$MT/idx/$name/x.caidx"
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
done <"$MT/corpus/cases.tsv"
echo "corpus: $refused refused at mount, $errors gave errors on access; clean:$clean"
[ -z "$clean" ] || mnt_fail "defects the mount did not notice:$clean"

# --- hand-made corruptions of a subdirectory's GOODBYE table in an archive made by casync
hm=$MT/hand
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
        [ "$(u64 "$1" "$2")" = "$3" ] || mnt_fail "could not write $3 at $2 of $1"
}
# The first goodbye tail marker in the stream ends sub/'s GOODBYE (its children come first).
marker=$(LC_ALL=C grep -obUaP '\x43\x29\x70\x33\xa5\x6f\x44\x57' "$hm/ok.catar" | head -n 1 | cut -d: -f1)
gb_size=$(u64 "$hm/ok.catar" $((marker - 8)))
gb=$((marker + 8 - gb_size))
[ "$gb_size" = $((16 + 24 * 5)) ] || mnt_fail "sub/'s GOODBYE not found (size $gb_size at $gb)"

# corrupt NAME: a copy of ok.catar to change, then check_bad NAME
check_bad() { # NAME
        mkdir -p "$hm/$1"
        "$CATAR_INDEX" "$hm/$1.catar" "$hm/$1/default.castr" "$hm/$1/x.caidx" || mnt_fail "$1: index"
        mnt_start "$hm/$1.log" --dir "$MT/d" mount -f "$hm/$1/x.caidx" "$MT/mnt"
        cmp "$MT/mnt/a.txt" "$hm/src/a.txt" || mnt_fail "$1: an intact file is unreadable"
        cmp "$MT/mnt/z.txt" "$hm/src/z.txt" || mnt_fail "$1: an intact file is unreadable"
        if ls "$MT/mnt/sub" >/dev/null 2>"$hm/$1.err"; then mnt_fail "$1: sub/ listed"; fi
        grep -q 'Input/output error' "$hm/$1.err" || { cat "$hm/$1.err" >&2; mnt_fail "$1: no EIO"; }
        if cat "$MT/mnt/sub/c" >/dev/null 2>&1; then mnt_fail "$1: sub/c read"; fi
        mnt_stop
        grep -q 'archive offset' "$hm/$1.log" || { cat "$hm/$1.log" >&2; mnt_fail "$1: no message"; }
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
echo PASS
