#!/bin/sh
# `acfetch publish oci:DIR:TAG`: an OCI image built with umoci (a base layer; a second layer
# that deletes a file and a directory and replaces a file by a directory, all as whiteouts; a
# third, made by hand, with an opaque directory, a hardlink to a file of the base layer and a
# symlink to one; a config with Entrypoint, Cmd, User by name, WorkingDir, Env, ExposedPorts,
# Volumes and a label) is published signed, fetched by name over https and renders the rootfs
# `umoci unpack` makes of the same image, with the manifest mapped from the config. The same
# layers compressed with zstd, or not at all, and the same image as a docker-archive (skopeo
# copy), give the same rootfs.
# shellcheck disable=SC2086 # $NET is an option list
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$SRCDIR/tests/fetch/lib.sh"
require_cmd umoci skopeo python3 zstd
fe_init
fe_signing_key

OUTDIR=$WWW/example.com
mkdir -p "$OUTDIR"
D=$TEST_TMP/store
L=$TEST_TMP/layout
B=$TEST_TMP/bundle
u() { umoci "$@" >"$TEST_TMP/umoci.log" 2>&1 || fail "umoci $*: $(cat "$TEST_TMP/umoci.log")"; }

# ---------------------------------------------------------------- the image
u init --layout "$L"
u new --image "$L:1.0"
u unpack --image "$L:1.0" "$B"
R=$B/rootfs
mkdir -p "$R/etc" "$R/keep" "$R/gone/sub" "$R/opq/lower" "$R/srv" "$R/replaced"
printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:4321:app:/srv:/bin/sh\n' >"$R/etc/passwd"
printf 'root:x:0:\napp:x:4321:\nstaff:x:50:\n' >"$R/etc/group"
echo base >"$R/keep/a"
echo deleted >"$R/keep/deleted"
echo g >"$R/gone/sub/f"
echo lower >"$R/opq/lower/f"
echo lower >"$R/opq/f"
echo file >"$R/replaced/x"
ln -s keep/a "$R/link"
chown 1234:4321 "$R/srv"
chmod 0750 "$R/srv"
setfattr -n user.k -v v "$R/keep/a" 2>/dev/null || true
u repack --image "$L:1.0" "$B"
# repack adds a layer to the image the bundle was unpacked from: a fresh bundle for layer 2.
rm -rf "$B"
u unpack --image "$L:1.0" "$B"
rm -f "$R/keep/deleted"
rm -r "$R/gone" "$R/replaced"
mkdir "$R/replaced"
echo now-a-dir >"$R/replaced/y"
u repack --image "$L:1.0" "$B"
python3 "$SRCDIR/tests/oci/make_tar.py" "$TEST_TMP/l3.tar" dir:opq file:opq/.wh..wh..opq: \
        file:opq/new:upper hardlink:keep/hl:keep/a symlink:link2:/keep/a
u raw add-layer --image "$L:1.0" "$TEST_TMP/l3.tar"
u config --image "$L:1.0" --os linux --architecture arm64 --config.entrypoint /bin/app \
        --config.entrypoint --serve --config.cmd /srv/www --config.user app \
        --config.workingdir /srv --config.env FOO=bar --config.env PATH=/bin \
        --config.exposedports 80/tcp --config.exposedports 53/udp --config.volume /data/db \
        --config.label org.example.Team=web
rm -rf "$B"
u unpack --image "$L:1.0" "$B"
[ ! -e "$R/keep/deleted" ] && [ ! -e "$R/opq/lower" ] && [ -d "$R/replaced" ] ||
        fail "umoci's own unpack is not what this test expects"
python3 - "$L" >"$TEST_TMP/layers" <<'PY' || fail "listing the layers"
import gzip, json, sys, tarfile, io
L = sys.argv[1]
idx = json.load(open(L + "/index.json"))
m = json.load(open(L + "/blobs/sha256/" + idx["manifests"][0]["digest"][7:]))
for l in m["layers"]:
    data = gzip.decompress(open(L + "/blobs/sha256/" + l["digest"][7:], "rb").read())
    print(" ".join(sorted(tarfile.open(fileobj=io.BytesIO(data)).getnames())))
PY
expect_eq "layers" "$(wc -l <"$TEST_TMP/layers")" 3
grep -q 'keep/.wh.deleted' "$TEST_TMP/layers" && grep -q '.wh.gone' "$TEST_TMP/layers" ||
        fail "umoci made no whiteouts: $(cat "$TEST_TMP/layers")"
pass "image built with umoci: 3 layers (whiteouts, opaque directory, cross-layer links)"

# ---------------------------------------------------------------- published, fetched by name
acf publish "oci:$L:1.0" --name example.com/oci --sign "$FPR" \
        --pubkeys https://example.com/keys.asc "$OUTDIR"
expect_rc 0 "publish oci:$L:1.0"
expect_eq "printed URL" "$(cat "$OUT")" "https://example.com/oci/1.0/linux-aarch64.caidx"
[ -z "$(find "$OUTDIR" -maxdepth 1 -name '.oci-rootfs*')" ] || fail "unpacked tree left in OUTDIR"
fe_nginx_start
acf --dir="$D" fetch $NET example.com/oci:1.0,os=linux,arch=aarch64
expect_rc 0 "fetch example.com/oci:1.0"
ID=$(cat "$OUT")
acf --dir="$D" render "$ID" "$TEST_TMP/r"
expect_rc 0 "render"
fe_same_tree "$R" "$TEST_TMP/r/rootfs"
# A catar holds no hardlinks: the second name is a copy, of the base layer's file.
[ "$(cat "$TEST_TMP/r/rootfs/keep/hl")" = base ] || fail "keep/hl is not keep/a's content"
pass "fetched by name: the rootfs equals umoci unpack's (casync mtree)"

python3 - "$TEST_TMP/r/manifest" <<'PY' || fail "manifest mapped from the config"
import json, sys
m = json.load(open(sys.argv[1]))
assert m["name"] == "example.com/oci", m
assert m["labels"] == [{"name": "version", "value": "1.0"}, {"name": "os", "value": "linux"},
                       {"name": "arch", "value": "aarch64"}], m["labels"]
app = m["app"]
assert app["exec"] == ["/bin/app", "--serve", "/srv/www"], app
assert app["user"] == "1234" and app["group"] == "4321", app
assert app["workingDirectory"] == "/srv", app
assert {"name": "FOO", "value": "bar"} in app["environment"], app
assert sorted(p["name"] for p in app["ports"]) == ["53-udp", "80-tcp"], app
assert {"name": "80-tcp", "protocol": "tcp", "port": 80} in app["ports"], app
assert app["mountPoints"] == [{"name": "volume-data-db", "path": "/data/db"}], app
assert {"name": "org.example.team", "value": "web"} in m["annotations"], m
PY
pass "manifest: exec, user/group resolved by name, workingDirectory, env, ports, mountPoints"

# --exec, --user and --group override the config; "user:group" names resolve.
u config --image "$L:1.0" --tag 1.1 --config.user app:staff
acf publish "oci:$L:1.1" --name example.com/oci "$OUTDIR"
expect_rc 0 "publish 1.1"
casync extract "$OUTDIR/oci/1.1/linux-aarch64.caidx" "$TEST_TMP/x11" || fail "extract 1.1"
grep -q '"group": "50"' "$TEST_TMP/x11/manifest" || fail "user:group: $(cat "$TEST_TMP/x11/manifest")"
acf publish "oci:$L:1.1" --name example.com/oci --label version=1.2 --exec '/bin/sh -c' \
        --user 7 --group 8 "$OUTDIR"
expect_rc 0 "publish 1.2"
casync extract "$OUTDIR/oci/1.2/linux-aarch64.caidx" "$TEST_TMP/x12" || fail "extract 1.2"
python3 - "$TEST_TMP/x12/manifest" <<'PY' || fail "overrides"
import json, sys
app = json.load(open(sys.argv[1]))["app"]
assert app["exec"] == ["/bin/sh", "-c"] and app["user"] == "7" and app["group"] == "8", app
PY
pass "User app:staff resolves both; --exec/--user/--group and --label version override"

# ---------------------------------------------------------------- zstd and uncompressed layers
# The same layers recompressed (zstd) and decompressed, with new digests in a copied layout.
for c in zstd none; do
        Z=$TEST_TMP/layout-$c
        cp -a "$L" "$Z"
        python3 - "$Z" "$c" <<'PY' || fail "recompressing the layers ($c)"
import gzip, hashlib, json, os, subprocess, sys
lay, comp = sys.argv[1], sys.argv[2]
def blob(d): return os.path.join(lay, "blobs", "sha256", d.split(":")[1])
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(blob(d), "wb").write(data)
    return d
idx = json.load(open(os.path.join(lay, "index.json")))
for desc in idx["manifests"]:
    man = json.load(open(blob(desc["digest"])))
    for l in man["layers"]:
        raw = gzip.decompress(open(blob(l["digest"]), "rb").read())
        if comp == "zstd":
            raw = subprocess.run(["zstd", "-q", "-c"], input=raw, stdout=subprocess.PIPE,
                                 check=True).stdout
            l["mediaType"] = "application/vnd.oci.image.layer.v1.tar+zstd"
        else:
            l["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
        l["digest"], l["size"] = put(raw), len(raw)
    data = json.dumps(man).encode()
    desc["digest"], desc["size"] = put(data), len(data)
json.dump(idx, open(os.path.join(lay, "index.json"), "w"))
PY
        acf publish "oci:$Z:1.0" --name "example.com/oci-$c" "$OUTDIR"
        expect_rc 0 "publish ($c layers)"
        rm -rf "$TEST_TMP/x-$c"
        casync extract "$OUTDIR/oci-$c/1.0/linux-aarch64.caidx" "$TEST_TMP/x-$c" ||
                fail "extract ($c)"
        fe_same_tree "$R" "$TEST_TMP/x-$c/rootfs"
done
pass "zstd and uncompressed layers give the same rootfs"

# ---------------------------------------------------------------- docker-archive
# The same image through skopeo as docker save writes it: the same rootfs, the tag as version.
skopeo copy --quiet "oci:$L:1.0" "docker-archive:$TEST_TMP/img.tar:example/oci:3.0" \
        >"$TEST_TMP/skopeo.log" 2>&1 || fail "skopeo copy: $(cat "$TEST_TMP/skopeo.log")"
acf publish "docker-archive:$TEST_TMP/img.tar" --name example.com/oci-docker "$OUTDIR"
expect_rc 0 "publish docker-archive"
expect_eq "printed URL" "$(cat "$OUT")" "https://example.com/oci-docker/3.0/linux-aarch64.caidx"
rm -rf "$TEST_TMP/xd"
casync extract "$OUTDIR/oci-docker/3.0/linux-aarch64.caidx" "$TEST_TMP/xd" ||
        fail "extract (docker-archive)"
fe_same_tree "$R" "$TEST_TMP/xd/rootfs"
grep -q '"user": "1234"' "$TEST_TMP/xd/manifest" || fail "docker-archive manifest"
[ -z "$(find "$OUTDIR" -maxdepth 1 -name '.docker-archive*' -o -maxdepth 1 -name '.oci-rootfs*')" ] ||
        fail "unpacked archive left in OUTDIR"
pass "docker-archive (skopeo copy) publishes the same rootfs, its tag as version"

# ---------------------------------------------------------------- appc's own validator
# actool, built offline from Debian's golang-github-appc-spec-dev, checks every generated manifest.
if command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/github.com/appc/spec/actool ] &&
        GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS= GOCACHE=$TEST_TMP/gocache \
                go build -o "$TEST_TMP/actool" github.com/appc/spec/actool >"$TEST_TMP/go.log" 2>&1; then
        for m in "$TEST_TMP/r/manifest" "$TEST_TMP/x11/manifest" "$TEST_TMP/x12/manifest" \
                "$TEST_TMP/x-zstd/manifest" "$TEST_TMP/xd/manifest"; do
                "$TEST_TMP/actool" validate --type=manifest "$m" >"$TEST_TMP/actool.log" 2>&1 ||
                        fail "actool validate $m: $(cat "$TEST_TMP/actool.log")"
        done
        echo '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Not Valid"}' >"$TEST_TMP/bad"
        ! "$TEST_TMP/actool" validate --type=manifest "$TEST_TMP/bad" >/dev/null 2>&1 ||
                fail "actool accepts an invalid manifest: the check above proves nothing"
        pass "appc's actool validates every generated manifest"
else
        skip_part "actool validate" "no go or golang-github-appc-spec-dev to build actool"
fi

# A layout with several images wants a tag; an unknown tag is named.
acf publish "oci:$L" --name example.com/oci "$OUTDIR"
[ "$RC" != 0 ] || fail "no tag in a layout of several images: accepted"
expect_err "say which one with oci:DIR:TAG"
acf publish "oci:$L:9.9" --name example.com/oci "$OUTDIR"
[ "$RC" != 0 ] || fail "unknown tag: accepted"
expect_err "no image tagged 9.9"
pass "a layout of several images wants its tag; an unknown tag is named"
echo "# all oci checks passed"
