#!/bin/sh
# Access profiles of `acfetch mount`, against images published by `acfetch publish` (signed) and
# served by nginx. Every version's files are fresh random data, so each version's chunks are its
# own and are downloaded; the files read are deep in the archive (z/deep/), after 1.5 MiB of
# others (a/), so the prefetch in archive order reaches them last.
#  1. A mount of NAME:1 that lists a/ and reads z/deep/p1, z/deep/gone, "z/deep/sp ace%" and
#     z/deep/p2 records exactly those files (escaped), in that order, and exactly the chunks a
#     mount without profile downloads for the same reads, into <dir>/profiles/<sha256 of NAME>
#     (and --profile-out FILE); no message about the missing published profile. Mounted again
#     from an empty chunk cache, NAME:1 downloads those chunks first, and a mount nobody reads
#     leaves the profile alone. A mount killed with
#     SIGKILL has saved its profile while it ran. The first mount of NAME:2 (not in the store)
#     then downloads the chunks reading p1 and p2 needs (measured by a mount without profile
#     or prefetch) before any other chunk, but for what the other prefetch threads may have in
#     flight (the other two are not in version 2: skipped). Nothing else is said.
#  2. A store without a profile for the name: the profile published beside NAME:3's index
#     (publish --profile, signed) orders its prefetch the same way.
#  3. A corrupt profile in the store, a published one with a bad signature, and a signed one
#     with a ".." path: each is one warning naming the file or URL; the mount shows the image.
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
# shellcheck source=tests/mount/lib.sh
. "$SRCDIR/tests/mount/lib.sh"
mnt_init
fe_init
fe_signing_key

name=example.com/prof/app
OUTDIR=$WWW/example.com
MNT=$TEST_TMP/mnt
mkdir -p "$OUTDIR" "$MNT"
key=$(printf %s "$name" | sha256sum | cut -c1-64)

# ------------------------------------------------------------------------------ helpers

make_rootfs() { # DIR: fresh random files; the ones read are last in archive order
        mkdir -p "$1/a" "$1/z/deep"
        for i in 0 1 2 3 4 5; do
                head -c 262144 /dev/urandom >"$1/a/f$i"
        done
        head -c 204800 /dev/urandom >"$1/z/deep/p1"
        head -c 122880 /dev/urandom >"$1/z/deep/p2"
}

publish() { # VERSION [OPTIONS...]: publishes $SRC/rVERSION as NAME:VERSION, signed
        _pv=$1
        shift
        acf publish "$SRC/r$_pv" --name "$name" --label version="$_pv" --exec /bin/true \
                --sign "$FPR" --chunk-size=16K "$@" "$OUTDIR"
        expect_rc 0 "publish version $_pv"
}

# wait_local LOG: until the mount logs that every chunk is local (a minute at most).
wait_local() {
        _wl_i=0
        while ! grep -q 'chunks are local now' "$1" && [ $_wl_i -lt 600 ]; do
                kill -0 "$MNT_PID" 2>/dev/null || { cat "$1" >&2; fail "the mount exited"; }
                sleep 0.1
                _wl_i=$((_wl_i + 1))
        done
        grep -q 'chunks are local now' "$1" || { cat "$1" >&2; fail "the mount never got local"; }
}

# The chunk IDs requested since log_mark, in the order nginx logged them.
requests_in_order() {
        nginx_sync
        _fetch_since "$NGINX_LAST" | sed -n 's|.*"GET [^ ]*/\([0-9a-f]\{64\}\)\.cacnk .*|\1|p'
}

# reads_of D VERSION OUT: the chunks a mount of NAME:VERSION without profile or prefetch, over
# an empty chunk store, downloads to read z/deep/p1 and z/deep/p2 (sorted), into OUT.
reads_of() {
        rm -rf "$1/chunks"
        log_mark
        mnt_start "$TEST_TMP/reads.log" --dir "$1" mount -f $NET --no-prefetch --no-profile \
                --no-auto-seed "$name:$2" "$MNT"
        cat "$MNT/z/deep/p1" "$MNT/z/deep/p2" >/dev/null || fail "read the profiled files"
        mnt_stop
        fe_chunk_requests | sort -u >"$3"
        expect_ge "chunks read for p1 and p2" "$(wc -l <"$3")" 10
        rm -rf "$1/chunks"
}

# expect_first WHAT READS: since log_mark, every chunk of READS was downloaded, and before the
# last of them at most 4 other chunks (MOUNT_PREFETCH_JOBS: the other prefetch threads may
# finish a download of the archive order walk first).
expect_first() {
        requests_in_order >"$TEST_TMP/order"
        _ef=$(awk 'NR == FNR { want[$1] = 1; n++; next }
                $1 in seen { next }
                { seen[$1] = 1; if ($1 in want) { if (++found == n) { print other + 0; exit } } else other++ }
                END { if (found < n) print "missing", n - found }' "$2" "$TEST_TMP/order")
        case $_ef in
        [0-4]) echo "ok: $1 ($_ef other chunks came before the last profiled one)" ;;
        *) fail "$1: profiled chunks were not downloaded first: $_ef other chunks before the" \
                "last of the $(wc -l <"$2") profiled ones ($(wc -l <"$TEST_TMP/order") requests)" ;;
        esac
}

# expect_one_warning LOG WHAT NEEDLE: LOG holds exactly one message, a warning naming NEEDLE.
expect_one_warning() {
        _ow_n=$(grep -c '^acfetch: ' "$1" || true)
        if [ "$_ow_n" != 1 ] || ! grep -q "^acfetch: warning: .*$3" "$1"; then
                cat "$1" >&2
                fail "$2: expected one warning naming $3, got $_ow_n messages"
        fi
        echo "ok: $2: $(cat "$1")"
}

# mount_whole LOG D VERSION: mounts NAME:VERSION, waits until it is local, compares it with
# the source, unmounts.
mount_whole() {
        mnt_start "$1" --dir "$2" mount -f $NET --no-auto-seed "$name:$3" "$MNT"
        wait_local "$1"
        fe_same_tree "$SRC/r$3" "$MNT" strict
        mnt_stop
        grep -v 'chunks are local now' "$1" >"$1.msgs" || true
}

# ------------------------------------------------------------------------------ inputs

make_rootfs "$SRC/r1"
head -c 50000 /dev/urandom >"$SRC/r1/z/deep/gone"
head -c 1000 /dev/urandom >"$SRC/r1/z/deep/sp ace%"
make_rootfs "$SRC/r2"
publish 1
publish 2
fe_nginx_start

# ------------------------------------------------------------------------------ 1. recorded

D=$TEST_TMP/store
acf --dir="$D" fetch $NET --no-render "$name:1"
expect_rc 0 "fetch version 1"
mnt_start "$TEST_TMP/m1.log" --dir "$D" mount -f $NET --no-auto-seed \
        --profile-out "$TEST_TMP/out.profile" "$name:1" "$MNT"
# A listing reads only metadata: each entry of a/ is just before its file's data, in chunks no
# file read names.
ls -l "$MNT/a" >/dev/null || fail "list a/"
cat "$MNT/z/deep/p1" "$MNT/z/deep/gone" "$MNT/z/deep/sp ace%" "$MNT/z/deep/p2" >/dev/null ||
        fail "read v1's files"
mnt_stop
expect_eq "messages of the v1 mount" "$(grep -vc 'chunks are local now' "$TEST_TMP/m1.log")" 0
[ -f "$D/profiles/$key" ] || fail "no profile recorded in $D/profiles/$key"
expect_eq "the recorded profile's first line" "$(head -n 1 "$D/profiles/$key")" "acfetch-profile 2"
expect_eq "the recorded profile's files" "$(grep '^file ' "$D/profiles/$key")" "file z/deep/p1 0+204800
file z/deep/gone 0+50000
file z/deep/sp%20ace%25 0+1000
file z/deep/p2 0+122880"
cmp -s "$D/profiles/$key" "$TEST_TMP/out.profile" || fail "--profile-out differs from the store's"
cp "$D/profiles/$key" "$TEST_TMP/v1.profile"
# Its chunks: each once, and exactly those a mount without profile or prefetch downloads for
# the same reads (directory entries and goodbye tables included), from the root's on.
sed -n 's/^chunk //p' "$TEST_TMP/v1.profile" >"$TEST_TMP/v1.chunks"
expect_eq "lines of the recorded profile" "$(wc -l <"$TEST_TMP/v1.profile")" \
        $((1 + 4 + $(wc -l <"$TEST_TMP/v1.chunks")))
expect_eq "distinct recorded chunks" "$(sort -u "$TEST_TMP/v1.chunks" | wc -l)" \
        "$(wc -l <"$TEST_TMP/v1.chunks")"
rm -rf "$D/chunks"
log_mark
mnt_start "$TEST_TMP/reads1.log" --dir "$D" mount -f $NET --no-prefetch --no-profile \
        --no-auto-seed "$name:1" "$MNT"
ls -l "$MNT/a" >/dev/null || fail "list a/ again"
cat "$MNT/z/deep/p1" "$MNT/z/deep/gone" "$MNT/z/deep/sp ace%" "$MNT/z/deep/p2" >/dev/null ||
        fail "read v1's files again"
mnt_stop
expect_eq "recorded chunks against those the same reads download" \
        "$(sort "$TEST_TMP/v1.chunks" | tr '\n' ' ')" "$(fe_chunk_requests | sort -u | tr '\n' ' ')"
echo "ok: recorded ($(wc -l <"$TEST_TMP/v1.chunks") chunks)"

# The same version mounted again (chunks gone): the recorded chunks come first, those of a/'s
# listing too, which the files alone do not name.
rm -rf "$D/chunks"
log_mark
mnt_start "$TEST_TMP/m1b.log" --dir "$D" mount -f $NET --no-auto-seed "$name:1" "$MNT"
wait_local "$TEST_TMP/m1b.log"
mnt_stop
expect_first "version 1 again with its own profile" "$TEST_TMP/v1.chunks"
cmp -s "$D/profiles/$key" "$TEST_TMP/v1.profile" || fail "a mount nobody read changed the profile"

# A mount that is killed has saved what it recorded within MOUNT_PROFILE_SAVE_SECONDS (5).
Dk=$TEST_TMP/store-killed
acf --dir="$Dk" fetch $NET --no-render "$name:1"
expect_rc 0 "fetch version 1 into another store"
mnt_start "$TEST_TMP/mk.log" --dir "$Dk" mount -f $NET --no-auto-seed "$name:1" "$MNT"
cat "$MNT/z/deep/p2" >/dev/null || fail "read p2"
i=0
while [ ! -f "$Dk/profiles/$key" ] && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
done
[ -f "$Dk/profiles/$key" ] || fail "no profile saved within 30 seconds while mounted"
kill -9 "$MNT_PID"
wait "$MNT_PID" 2>/dev/null || true
mnt_umount "$MNT" || fail "cannot unmount the killed mount"
expect_eq "the files of the profile a killed mount left" "$(grep -v '^chunk ' "$Dk/profiles/$key")" \
        "acfetch-profile 2
file z/deep/p2 0+122880"
expect_ge "the chunks of the profile a killed mount left" "$(grep -c '^chunk ' "$Dk/profiles/$key")" 3
echo "ok: saved while mounted"

# Version 2 is not in the store: mounted by name (resolved, verified, recorded after the prefetch).
reads_of "$D" 2 "$TEST_TMP/reads2"
log_mark
mnt_start "$TEST_TMP/m2.log" --dir "$D" mount -f $NET --no-auto-seed "$name:2" "$MNT"
wait_local "$TEST_TMP/m2.log"
expect_first "version 2 with the profile recorded on version 1" "$TEST_TMP/reads2"
fe_same_tree "$SRC/r2" "$MNT" strict
mnt_stop
expect_eq "messages of the v2 mount" \
        "$(grep -vc 'chunks are local now\|stored as image\|signature verified' "$TEST_TMP/m2.log")" 0

# ------------------------------------------------------------------------------ 2. published

make_rootfs "$SRC/r3"
publish 3 --profile "$TEST_TMP/v1.profile"
IDX3=$OUTDIR/prof/app/3/$HOST_OS-$HOST_ARCH.caidx
cmp -s "$IDX3.profile" "$TEST_TMP/v1.profile" || fail "the published profile differs"
gpg --batch --quiet --verify "$IDX3.profile.asc" "$IDX3.profile" 2>/dev/null ||
        fail "the published profile's signature does not verify"
D2=$TEST_TMP/store2
acf --dir="$D2" fetch $NET --no-render "$name:3"
expect_rc 0 "fetch version 3"
reads_of "$D2" 3 "$TEST_TMP/reads3"
log_mark
mnt_start "$TEST_TMP/m3.log" --dir "$D2" mount -f $NET --no-auto-seed "$name:3" "$MNT"
wait_local "$TEST_TMP/m3.log"
expect_first "version 3 with its published profile" "$TEST_TMP/reads3"
mnt_stop
expect_eq "messages of the v3 mount" "$(grep -vc 'chunks are local now' "$TEST_TMP/m3.log")" 0
expect_eq "published profile requests" "$(log_count '\.profile ')" 1
expect_eq "published profile signature requests" "$(log_count '\.profile\.asc ')" 1

# ------------------------------------------------------------------------------ 3. hostile

D3=$TEST_TMP/store3
acf --dir="$D3" fetch $NET --no-render "$name:3"
expect_rc 0 "fetch version 3 into a third store"
mkdir -p "$D3/profiles"
printf 'acfetch-profile 1\nz/deep/p1 0+204800\n../../etc/passwd 0+10\n' >"$D3/profiles/$key"
rm -rf "$D3/chunks"
mount_whole "$TEST_TMP/m4.log" "$D3" 3
expect_one_warning "$TEST_TMP/m4.log.msgs" "a corrupt profile in the store" "$D3/profiles/$key"

D4=$TEST_TMP/store4
acf --dir="$D4" fetch $NET --no-render "$name:3"
expect_rc 0 "fetch version 3 into a fourth store"
printf 'something else\n' >"$TEST_TMP/other"
fe_sign "$TEST_TMP/other"
cp "$TEST_TMP/other.asc" "$IDX3.profile.asc"
rm -rf "$D4/chunks"
mount_whole "$TEST_TMP/m5.log" "$D4" 3
expect_one_warning "$TEST_TMP/m5.log.msgs" "a published profile with a bad signature" \
        "https://example.com/prof/app/3/$HOST_OS-$HOST_ARCH.caidx.profile"

printf 'acfetch-profile 1\n../etc/passwd 0+10\n' >"$IDX3.profile"
fe_sign "$IDX3.profile"
D5=$TEST_TMP/store5
acf --dir="$D5" fetch $NET --no-render "$name:3"
expect_rc 0 "fetch version 3 into a fifth store"
rm -rf "$D5/chunks"
mount_whole "$TEST_TMP/m6.log" "$D5" 3
expect_one_warning "$TEST_TMP/m6.log.msgs" "a signed published profile with a .. path" \
        "https://example.com/prof/app/3/$HOST_OS-$HOST_ARCH.caidx.profile"

echo "mount_profile passed"
