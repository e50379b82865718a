#!/bin/sh
# The main job, end to end, as far as acfetch goes today: build acfetch, make a sample appc
# image tree (manifest + rootfs/), publish it as a casync archive index and chunk store (with
# Debian's casync until `acfetch publish` lands), extract it with acfetch, and check the result
# against the source with `casync mtree`. Fetch by name over HTTP arrives with issues 3 and 4.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
acfetch=$top/build/fetcher/acfetch

work=$(mktemp -d /tmp/acfetch-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
img=$work/image
mkdir -p "$img/rootfs/bin" "$img/rootfs/etc"
cat >"$img/manifest" <<'JSON'
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/hello",
 "labels":[{"name":"version","value":"1.0"},{"name":"os","value":"linux"},
           {"name":"arch","value":"amd64"}],
 "app":{"exec":["/bin/hello"],"user":"0","group":"0"}}
JSON
printf '#!/bin/sh\necho hello\n' >"$img/rootfs/bin/hello"
chmod 0755 "$img/rootfs/bin/hello"
echo "hello-demo" >"$img/rootfs/etc/hostname"
head -c 3000000 /dev/urandom >"$img/rootfs/bin/blob"
ln -s hello "$img/rootfs/bin/hi"

mkdir -p "$work/srv"
casync make --store="$work/srv/default.castr" "$work/srv/hello.caidx" "$img" >/dev/null
echo "published: $(ls "$work/srv/default.castr" | wc -l) chunk directories, index $(stat -c %s "$work/srv/hello.caidx") bytes" >&2

"$acfetch" extract "$work/srv/hello.caidx" "$work/rendered"
casync mtree "$img" >"$work/want"
casync mtree "$work/rendered" >"$work/got"
if diff -u "$work/want" "$work/got" >&2; then
        echo "rendered image matches its source (casync mtree, $(wc -l <"$work/want") nodes)" >&2
        cat "$work/rendered/manifest"
else
        echo "rendered image differs from its source" >&2
        exit 1
fi
