#!/bin/sh
# Dependencies: fetching an image whose manifest names dependencies (by name and labels) fetches
# them too and composes one tree: the image's own entries win over its dependencies' (files and
# directories: first writer wins; among dependencies the later one wins, as rkt orders them),
# entries only a dependency has appear, and a dependency's
# pathWhitelist drops its files that the list does not name. A dependency that cannot be found
# fails the fetch without a tree.
# $NET is a list of options, split on purpose; fe_nginx_start takes no script arguments.
# shellcheck disable=SC2086,SC2119
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
fe_init

host=dep.example.com
fe_page "$WWW/$host" "$host" "https://$host/img/{name}-{version}.caidx"
publish() { fe_publish "$WWW/$host/img/$host/$1-1.caidx" "$SRC/$1"; }
osarch="os=$HOST_OS arch=$HOST_ARCH"

# file ROOTFS PATH CONTENT [MODE]
file() {
        mkdir -p "$(dirname "$1/$2")"
        printf '%s\n' "$3" >"$1/$2"
        chmod "${4:-0644}" "$1/$2"
}

# base: a whitelist that leaves out usr/lib/drop and etc/also-dropped.
b=$SRC/base/rootfs
file "$b" etc/shared "from base"
file "$b" etc/both "from base"
file "$b" etc/base-only "base only"
file "$b" etc/also-dropped "not whitelisted"
file "$b" usr/lib/keep "kept"
file "$b" usr/lib/drop "dropped"
file "$b" bin/tool "#!/bin/sh" 0755
ln -s tool "$b/bin/tool-link"
head -c 300000 /dev/urandom >"$b/usr/lib/blob"
chmod 0755 "$b/etc"
FE_MANIFEST_EXTRA='"pathWhitelist":["/etc/shared","/etc/both","/etc/base-only","/usr/lib/keep","/usr/lib/blob","/bin/tool","/bin/tool-link"]'
# shellcheck disable=SC2086
fe_manifest "$SRC/base" "$host/base" version=1 $osarch
FE_MANIFEST_EXTRA=
publish base
printf '%s\n' /etc/shared /etc/both /etc/base-only /usr/lib/keep /usr/lib/blob /bin/tool /bin/tool-link \
        >"$TEST_TMP/base.whitelist"

# lib: no whitelist.
l=$SRC/lib/rootfs
file "$l" usr/lib/libx.so "lib"
file "$l" etc/lib.conf "lib conf"
file "$l" etc/shared "from lib"
file "$l" etc/both "from lib"
head -c 200000 /dev/urandom >"$l/usr/lib/libx.data"
# shellcheck disable=SC2086
fe_manifest "$SRC/lib" "$host/lib" version=1 $osarch
publish lib

# app: depends on both; its etc (mode 0750) and etc/shared win.
t=$SRC/app/rootfs
file "$t" etc/shared "from app"
file "$t" app-only "app only" 0600
mkdir -p "$t/usr"
chmod 0750 "$t/etc"
chmod 0700 "$t/usr"
deps='{"imageName":"'$host/base'","labels":[{"name":"version","value":"1"}]}'
deps=$deps,'{"imageName":"'$host/lib'","labels":[{"name":"version","value":"1"}]}'
FE_MANIFEST_EXTRA='"dependencies":['$deps']'
# shellcheck disable=SC2086
fe_manifest "$SRC/app" "$host/app" version=1 $osarch
publish app

# broken: depends on a name that nothing serves.
fe_image "$SRC/broken" "$host/broken" 64 version=1
FE_MANIFEST_EXTRA='"dependencies":[{"imageName":"'$host/missing'","labels":[{"name":"version","value":"1"}]}]'
# shellcheck disable=SC2086
fe_manifest "$SRC/broken" "$host/broken" version=1 $osarch
FE_MANIFEST_EXTRA=
publish broken

# The expected composition, built by hand: the app's rootfs, then each dependency's entries
# that are not there yet (files only if whitelisted); directories keep the metadata of the image
# that wrote them first.
exp=$TEST_TMP/expected
cp -a "$t" "$exp"
: >"$TEST_TMP/dir-origins"
compose() { # ROOTFS [WHITELIST]
        (cd "$1" && find . -mindepth 1 | sort) | while read -r p; do
                p=${p#./}
                if [ -e "$exp/$p" ] || [ -L "$exp/$p" ]; then
                        continue
                fi
                if [ -d "$1/$p" ] && [ ! -L "$1/$p" ]; then
                        mkdir "$exp/$p"
                        chmod --reference="$1/$p" "$exp/$p"
                        chown --reference="$1/$p" "$exp/$p"
                        echo "$p $1" >>"$TEST_TMP/dir-origins"
                elif [ -z "${2:-}" ] || grep -qx "/$p" "$2"; then
                        cp -a "$1/$p" "$exp/$p"
                fi
        done
}
# rkt's order: the image, then its dependencies last first (each inserted right after its
# parent), so lib (the second) writes before base (the first).
compose "$l"
compose "$b" "$TEST_TMP/base.whitelist"
# Adding entries changed directory times: put back the writer's.
(cd "$exp" && find . -type d) | while read -r p; do
        p=${p#./}
        p=${p:-.}
        if [ -d "$t/$p" ]; then
                touch -r "$t/$p" "$exp/$p"
        else
                origin=$(awk -v p="$p" '$1 == p { print $2 }' "$TEST_TMP/dir-origins")
                touch -r "$origin/$p" "$exp/$p"
        fi
done
[ "$(cat "$exp/etc/shared")" = "from app" ] && [ ! -e "$exp/usr/lib/drop" ] &&
        [ -f "$exp/etc/lib.conf" ] && [ -f "$exp/usr/lib/keep" ] || fail "the expected tree is wrong"

fe_nginx_start
D=$TEST_TMP/store

# --- compose --------------------------------------------------------------------------------------
log_mark
acf --dir="$D" fetch $NET --full "$host/app:1"
expect_rc 0 "fetch of an image with dependencies"
expect_full_id
key=$(cat "$OUT")
tree=$D/trees/$key
[ -d "$tree" ] || fail "no tree $tree (trees: $(fe_trees "$D" | tr '\n' ' '))"
[ -f "$tree/rendered" ] || fail "$tree/rendered is missing"
cmp -s "$tree/manifest" "$SRC/app/manifest" || fail "the tree's manifest is not the app's"
for x in base lib; do
        expect_eq "index requests for $x" "$(log_count "\"GET /img/$host/$x-1.caidx HTTP/[0-9.]*\" 200 ")" 1
done
expect_eq "content of etc/shared (the image wins)" "$(cat "$tree/rootfs/etc/shared" 2>&1)" "from app"
expect_eq "content of etc/both (the later dependency wins, as in rkt)" \
        "$(cat "$tree/rootfs/etc/both" 2>&1)" "from lib"
[ -f "$tree/rootfs/etc/base-only" ] || fail "the dependency-only file etc/base-only is missing"
[ -f "$tree/rootfs/etc/lib.conf" ] || fail "the second dependency's etc/lib.conf is missing"
[ ! -e "$tree/rootfs/usr/lib/drop" ] || fail "usr/lib/drop is there though base's pathWhitelist lacks it"
[ ! -e "$tree/rootfs/etc/also-dropped" ] || fail "etc/also-dropped is there though not whitelisted"
expect_eq "mode of etc (the image's)" "$(stat -c %a "$tree/rootfs/etc")" 750
fe_same_tree "$exp" "$tree/rootfs" strict
acf --dir="$D" image list
expect_rc 0 "image list"
for x in app base lib; do
        grep -q "$host/$x" "$OUT" || fail "image list lacks $host/$x: $(cat "$OUT")"
done
echo "ok: dependencies composed"

# --- render and a second fetch -------------------------------------------------------------------
acf --dir="$D" render --rootfs-only "$host/app:1" "$TEST_TMP/r"
expect_rc 0 "render --rootfs-only of the composed image"
fe_same_tree "$exp" "$TEST_TMP/r" strict
log_mark
acf --dir="$D" fetch $NET --full "$host/app:1"
expect_rc 0 "second fetch"
expect_eq "second fetch: ID" "$(cat "$OUT")" "$key"
expect_eq "second fetch: chunk requests" "$(log_count "$CHUNK_RE")" 0
fe_same_tree "$exp" "$tree/rootfs" strict
# The dependency on its own is its own image with its own (uncomposed, whitelisted) tree.
acf --dir="$D" fetch $NET --full "$host/base:1"
expect_rc 0 "fetch of the dependency itself"
btree=$D/trees/$(cat "$OUT")
[ -f "$btree/rootfs/etc/shared" ] && [ ! -e "$btree/rootfs/etc/lib.conf" ] &&
        [ ! -e "$btree/rootfs/app-only" ] || fail "the dependency's own tree is composed with others"
echo "ok: render and refetch"

# --- a missing dependency ------------------------------------------------------------------------
D2=$TEST_TMP/store2
acf --dir="$D2" fetch $NET "$host/broken:1"
[ "$RC" -ne 0 ] || fail "a fetch with a missing dependency succeeded"
[ ! -s "$OUT" ] || fail "stdout of the failed fetch: $(cat "$OUT")"
grep -q "$host/missing" "$ERR" || fail "stderr does not name the missing dependency"
expect_eq "trees after a missing dependency" "$(fe_trees "$D2" | tr '\n' ' ')" ""
echo "ok: a missing dependency fails the fetch"

echo "fetch_deps passed"
