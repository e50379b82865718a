#!/bin/sh
# The main job, end to end: build acfetch, make a sample appc image (manifest + rootfs/), make a
# signing key with gpg and trust it with `acfetch trust`, publish the image with `acfetch publish
# --sign` (a signed casync index, the shared chunk store and the appc discovery page), serve them
# over HTTPS with nginx on loopback (a CA made here with openssl), fetch the image by its name
# through meta discovery (the signature verified before any chunk is requested), render it, and
# check the result against the source with `casync mtree`.
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
        [ -d "$work/gnupg" ] && GNUPGHOME=$work/gnupg gpgconf --kill all 2>/dev/null
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

# A signing key made here (the index is the image's one signature: every chunk is checked against
# its ID in the index), trusted for example.com/hello in a local configuration.
export GNUPGHOME="$work/gnupg"
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
        --quick-gen-key 'acfetch demo signer <demo@example.com>' ed25519 sign never 2>/dev/null
gpg --batch --quiet --armor --export demo@example.com >"$work/demo-key.asc"
"$acfetch" --local-config="$work/config" trust --prefix example.com/hello \
        --skip-fingerprint-review "$work/demo-key.asc" >/dev/null

# Publish: the index (signed), the shared chunk store and the discovery page that
# https://example.com/hello?ac-discovery=1 answers with, in the web server's document root.
# The page names the public key too (--pubkeys), so that `acfetch trust --prefix` and rkt can
# find it there; it is served beside the image.
"$acfetch" publish --name example.com/hello --sign demo@example.com \
        --pubkeys=https://example.com/hello/pubkeys.gpg "$img" "$work/srv" >&2
cp "$work/demo-key.asc" "$work/srv/hello/pubkeys.gpg"
# A CA and a certificate for example.com, so TLS is verified as it would be in production.
tls=$work/tls
mkdir -p "$tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=demo CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem" -addext basicConstraints=critical,CA:true \
        2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=example.com" \
        -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:example.com\n' >"$tls/ext.cnf"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
        -days 1 -extfile "$tls/ext.cnf" -out "$tls/server.pem" 2>/dev/null

# Serve them over HTTPS on a free loopback port; pages are <path>/index.html (no redirect).
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
        server {
                listen 127.0.0.1:$port ssl;
                ssl_certificate $tls/server.pem;
                ssl_certificate_key $tls/server.key;
                root $work/srv;
                location / { try_files \$uri/index.html \$uri =404; }
        }
}
EOF
chmod -R a+rX "$work/srv"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
sleep 0.3

# Fetch by name. Image names cannot carry a port, so --connect-to sends example.com:443 to the
# demo server (as curl's option does); TLS is still verified for example.com, with the demo CA.
store=$work/store
net="--connect-to=example.com:443:127.0.0.1:$port --ca-cert=$tls/ca.pem --local-config=$work/config"
# shellcheck disable=SC2086
id=$("$acfetch" --dir="$store" fetch $net example.com/hello:1.0 2>"$work/fetch.log") ||
        { cat "$work/fetch.log" >&2; exit 1; }
cat "$work/fetch.log" >&2
grep -q '^acfetch: signature verified: acfetch demo signer <demo@example.com>$' "$work/fetch.log" ||
        { echo "the index signature was not verified" >&2; exit 1; }
echo "fetched example.com/hello:1.0: $id, rendered in $store/trees/" >&2
echo "fetched again: the index is revalidated (HTTP 304), no chunk is downloaded:" >&2
# shellcheck disable=SC2086
"$acfetch" --dir="$store" fetch $net --json example.com/hello:1.0 >&2
"$acfetch" --dir="$store" image list >&2
"$acfetch" --dir="$store" render "$id" "$work/rendered"

casync mtree "$img" >"$work/want"
casync mtree "$work/rendered" >"$work/got"
if diff -u "$work/want" "$work/got" >&2; then
        echo "rendered image matches its source (casync mtree, $(wc -l <"$work/want") nodes)" >&2
        cat "$work/rendered/manifest"
else
        echo "rendered image differs from its source" >&2
        exit 1
fi
