#!/bin/sh
# The main job, end to end, as far as acfetch goes today: build acfetch, make a sample appc
# image tree (manifest + rootfs/), publish it as a casync archive index and chunk store (with
# Debian's casync until `acfetch publish` lands), serve it with nginx on loopback, fetch it over
# HTTP into acfetch's local chunk store and render it, then check the result against the source
# with `casync mtree`. Fetch by appc name (discovery) arrives with issue 4.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
acfetch=$top/build/fetcher/acfetch

work=$(mktemp -d /tmp/acfetch-demo.XXXXXX)
chmod 0755 "$work" # nginx workers (nobody) read the published files
cleanup() {
        [ -f "$work/nginx/nginx.pid" ] && kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null
        rm -rf "$work"
}
trap cleanup EXIT

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

# Publish: an index and its chunk store, side by side, as casync lays them out.
mkdir -p "$work/srv"
casync make --store="$work/srv/default.castr" "$work/srv/hello.caidx" "$img" >/dev/null

# Serve them on a free loopback port.
port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 20000) }')
while ss -ltn "sport = :$port" 2>/dev/null | grep -q LISTEN; do port=$((port + 1)); done
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 64; }
http {
        access_log $work/nginx/access.log;
        client_body_temp_path $work/nginx/tmp;
        proxy_temp_path $work/nginx/tmp;
        fastcgi_temp_path $work/nginx/tmp;
        uwsgi_temp_path $work/nginx/tmp;
        scgi_temp_path $work/nginx/tmp;
        server { listen 127.0.0.1:$port; root $work/srv; }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
sleep 0.3

# Fetch and render. Plain http needs the explicit opt-in (https is verified by default).
url=http://127.0.0.1:$port/hello.caidx
"$acfetch" --dir="$work/store" --insecure-options=http extract "$url" "$work/rendered"
echo "again, with every chunk already in the local store:" >&2
"$acfetch" --dir="$work/store" --insecure-options=http extract "$url" "$work/rendered2"

casync mtree "$img" >"$work/want"
casync mtree "$work/rendered" >"$work/got"
if diff -u "$work/want" "$work/got" >&2; then
        echo "rendered image matches its source (casync mtree, $(wc -l <"$work/want") nodes)" >&2
        cat "$work/rendered/manifest"
else
        echo "rendered image differs from its source" >&2
        exit 1
fi
