#!/bin/sh
# Sources that hold several images: an OCI image index of several platforms (as `skopeo copy
# --all` or `docker buildx` write it, with an attestation entry beside the images), and a
# docker-archive of two images (as `docker save a b` writes it). `publish oci:DIR:TAG` takes the
# platform --label os=/arch= name (this machine's without them) and refuses one the index lacks,
# naming those it has; `publish docker-archive:FILE:REF` takes the image REF names (a RepoTag,
# ":latest" when REF has no tag, or @N), and refuses an archive of several images without REF.
# Which image was taken is told by a file each image's rootfs holds, in the extracted index.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
require_cmd umoci skopeo python3
fetch_init

OUTDIR=$TEST_TMP/out
L=$TEST_TMP/layout
B=$TEST_TMP/bundle
u() { umoci "$@" >"$TEST_TMP/umoci.log" 2>&1 || fail "umoci $*: $(cat "$TEST_TMP/umoci.log")"; }

# ---------------------------------------------------------------- the images
u init --layout "$L"
for p in amd64 arm64; do
        u new --image "$L:$p"
        rm -rf "$B"
        u unpack --image "$L:$p" "$B"
        mkdir -p "$B/rootfs/etc"
        echo "$p" >"$B/rootfs/etc/built-for"
        u repack --image "$L:$p" "$B"
        u config --image "$L:$p" --os linux --architecture "$p" --config.cmd /bin/true
done
# The index "multi": both images with their platforms, and an attestation manifest (platform
# unknown/unknown) as buildx adds.
python3 - "$L" <<'PY' || fail "making the image index"
import hashlib, json, sys
L = sys.argv[1]
idx = json.load(open(L + "/index.json"))
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(L + "/blobs/sha256/" + d, "wb").write(data)
    return "sha256:" + d, len(data)
entries = []
for m in idx["manifests"]:
    arch = m["annotations"]["org.opencontainers.image.ref.name"]
    entries.append({"mediaType": m["mediaType"], "digest": m["digest"], "size": m["size"],
                    "platform": {"os": "linux", "architecture": arch}})
entries.append(dict(entries[0], platform={"os": "unknown", "architecture": "unknown"},
                    annotations={"vnd.docker.reference.type": "attestation-manifest"}))
d, n = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": entries}).encode())
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d,
                         "size": n, "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open(L + "/index.json", "w"))
PY

# built_for INDEX: the image's /etc/built-for, from the published index (casync, not acfetch).
built_for() {
        rm -rf "$TEST_TMP/x"
        casync extract "$1" "$TEST_TMP/x" >/dev/null 2>&1 || fail "casync extract $1"
        cat "$TEST_TMP/x/rootfs/etc/built-for"
}

# ---------------------------------------------------------------- an index of platforms
host_arch=$(uname -m)
case $host_arch in x86_64) host_arch=amd64 host_oci=amd64 ;; aarch64) host_oci=arm64 ;; *) host_oci= ;; esac
if [ -n "$host_oci" ]; then
        acf publish "oci:$L:multi" --name example.com/multi "$OUTDIR"
        expect_rc 0 "publish oci:multi (this machine's platform)"
        expect_eq "image taken" "$(built_for "$OUTDIR/multi/multi/linux-$host_arch.caidx")" "$host_oci"
        pass "an image index gives this machine's platform by default"
else
        skip_part "this machine's platform" "no image of $(uname -m) in the test's index"
fi
acf publish "oci:$L:multi" --name example.com/multi --label arch=aarch64 "$OUTDIR"
expect_rc 0 "publish oci:multi --label arch=aarch64"
expect_eq "image taken" "$(built_for "$OUTDIR/multi/multi/linux-aarch64.caidx")" arm64
grep -q '"value": "aarch64"' "$TEST_TMP/x/manifest" || fail "manifest arch: $(cat "$TEST_TMP/x/manifest")"
pass "--label arch=aarch64 takes the index's linux/arm64 image"

acf publish "oci:$L:multi" --name example.com/multi --label arch=s390x --label version=2 "$OUTDIR"
[ "$RC" != 0 ] || fail "a platform the index lacks: accepted"
expect_eq "lines on stderr" "$(wc -l <"$ERR")" 1
expect_err "has no image for linux/s390x (it has linux/amd64, linux/aarch64)"
[ ! -e "$OUTDIR/multi/2" ] || fail "a refused publish wrote its version"
pass "a platform the index lacks is refused in one line naming those it has"

# ---------------------------------------------------------------- docker-archive of two images
skopeo copy --quiet "oci:$L:amd64" "docker-archive:$TEST_TMP/a.tar:example/amd:1.0" \
        >"$TEST_TMP/skopeo.log" 2>&1 || fail "skopeo copy: $(cat "$TEST_TMP/skopeo.log")"
skopeo copy --quiet "oci:$L:arm64" "docker-archive:$TEST_TMP/b.tar:example/arm:latest" \
        >"$TEST_TMP/skopeo.log" 2>&1 || fail "skopeo copy: $(cat "$TEST_TMP/skopeo.log")"
# One archive of both, as `docker save a b` writes it: manifest.json lists both images.
python3 - "$TEST_TMP/a.tar" "$TEST_TMP/b.tar" "$TEST_TMP/two.tar" <<'PY' || fail "merging the archives"
import io, json, sys, tarfile
seen, manifests = set(), []
out = tarfile.open(sys.argv[3], "w")
for name in sys.argv[1:3]:
    t = tarfile.open(name)
    for m in t.getmembers():
        if m.name == "manifest.json":
            manifests += json.load(t.extractfile(m))
        elif m.name not in seen:
            seen.add(m.name)
            out.addfile(m, t.extractfile(m) if m.isfile() else None)
data = json.dumps(manifests).encode()
info = tarfile.TarInfo("manifest.json")
info.size = len(data)
out.addfile(info, io.BytesIO(data))
out.close()
PY
acf publish "docker-archive:$TEST_TMP/two.tar" --name example.com/two "$OUTDIR"
[ "$RC" != 0 ] || fail "an archive of two images without REF: accepted"
expect_err "holds 2 images: say which one with docker-archive:FILE:REF"
acf publish "docker-archive:$TEST_TMP/two.tar:example/arm:latest" --name example.com/two "$OUTDIR"
expect_rc 0 "publish docker-archive:two.tar:example/arm:latest"
expect_eq "image taken" "$(built_for "$OUTDIR/two/latest/linux-aarch64.caidx")" arm64
acf publish "docker-archive:$TEST_TMP/two.tar:example/amd:1.0" --name example.com/two "$OUTDIR"
expect_rc 0 "publish docker-archive:two.tar:example/amd:1.0"
expect_eq "image taken" "$(built_for "$OUTDIR/two/1.0/linux-amd64.caidx")" amd64
rm -rf "$OUTDIR/two"
acf publish "docker-archive:$TEST_TMP/two.tar:example/arm" --name example.com/two "$OUTDIR"
expect_rc 0 "publish docker-archive:two.tar:example/arm (no tag: latest)"
expect_eq "image taken" "$(built_for "$OUTDIR/two/latest/linux-aarch64.caidx")" arm64
acf publish "docker-archive:$TEST_TMP/two.tar:@0" --name example.com/two --label version=0 "$OUTDIR"
expect_rc 0 "publish docker-archive:two.tar:@0"
expect_eq "image taken" "$(built_for "$OUTDIR/two/0/linux-amd64.caidx")" amd64
pass "docker-archive:FILE:REF takes the image a RepoTag, a bare name or @N names"

for ref in example/none:1 @2 @x; do
        acf publish "docker-archive:$TEST_TMP/two.tar:$ref" --name example.com/two "$OUTDIR"
        [ "$RC" != 0 ] || fail "REF $ref: accepted"
        expect_eq "lines on stderr for $ref" "$(wc -l <"$ERR")" 1
done
expect_err "no image @x: the archive holds 2 (@0 to @1)"
[ -z "$(find "$OUTDIR" -maxdepth 1 -name '.docker-archive*' -o -maxdepth 1 -name '.oci-rootfs*')" ] ||
        fail "unpacked archive left in OUTDIR"
pass "a REF the archive lacks is refused in one line; nothing left behind"
echo "# all platform checks passed"
