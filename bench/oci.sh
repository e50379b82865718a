#!/bin/bash
# Benchmark of issue 17's goals for OCI images (run by hand as root; not part of the tests or CI).
#  1. Converting and publishing: `acfetch publish oci:LAYOUT:v1` against `acfetch publish` of the
#     same tree as a directory (the rootfs umoci unpacks), each into a fresh OUTDIR on a fresh
#     file system; median wall seconds of BENCH_RUNS and their ratio (goal <= 1.5).
#  2. An update between two versions that share layers: v1 is the Debian image of
#     bench/fetch.sh as one layer plus an application layer (BENCH_APP_MIB MiB of files, 256 KiB
#     each); v2 changes a fifth of the application's files and adds one, two ways: as a third
#     layer holding only what changed (umoci repack: a registry's best case), and as the
#     application layer built again whole (what `COPY app /opt/app` in a Dockerfile does when a
#     file of it changes). Each is published (signed) and served by nginx over TLS; `acfetch
#     fetch` of v1, then of v2 into the same store: the bytes v2 downloads (its --json
#     "bytes_downloaded") against the bytes of v2's layers v1 lacks, what a registry pull of v2
#     costs.
# Usage: bench/oci.sh [BUILD_DIR]   (default: build; needs umoci, nginx, gpg, debootstrap)
# Environment (defaults): BENCH_RUNS (3), BENCH_APP_MIB (40), BENCH_WORK (bench/work: the cached
# rootfs).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
work=${BENCH_WORK:-$top/bench/work}
runs=${BENCH_RUNS:-3}
app_mib=${BENCH_APP_MIB:-40}
SRCDIR=$top
BUILDDIR=$build
ACFETCH=$build/fetcher/acfetch
export SRCDIR BUILDDIR ACFETCH
[ -x "$ACFETCH" ] || { echo "build first: meson setup build && ninja -C build"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench/oci.sh must run as root"; exit 1; }
for t in umoci nginx gpg debootstrap bc python3; do
        command -v "$t" >/dev/null || { echo "bench/oci.sh needs $t"; exit 1; }
done
mkdir -p "$work"
. "$top/bench/lib.sh"
bench_rootfs "$work"
set +u
# shellcheck source=tests/http/lib.sh
. "$top/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$top/tests/http/fetch_lib.sh"
# shellcheck source=tests/fetch/lib.sh
. "$top/tests/fetch/lib.sh"
set -u
fe_init
fe_signing_key
at_exit "drop_fs '$TEST_TMP/fs'"
u() { umoci "$@" >"$TEST_TMP/umoci.log" 2>&1 || { cat "$TEST_TMP/umoci.log"; exit 1; }; }

# ---------------------------------------------------------------- the images
L=$TEST_TMP/layout
B=$TEST_TMP/bundle
u init --layout "$L"
u new --image "$L:v1"
u unpack --image "$L:v1" "$B"
cp -a "$work/rootfs/." "$B/rootfs/"
u repack --image "$L:v1" "$B"
rm -rf "$B"
u unpack --image "$L:v1" "$B"
mkdir -p "$B/rootfs/opt/app"
n_files=$((app_mib * 4))
for i in $(seq 1 "$n_files"); do
        head -c 262144 /dev/urandom >"$B/rootfs/opt/app/f$i"
done
u repack --image "$L:v1" "$B"
rm -rf "$B"
u unpack --image "$L:v1" "$B"
cp -a "$L" "$TEST_TMP/layout-v1-only"
for i in $(seq 1 5 "$n_files"); do
        head -c 262144 /dev/urandom >"$B/rootfs/opt/app/f$i"
done
head -c 1048576 /dev/urandom >"$B/rootfs/opt/app/new"
cp -a "$B/rootfs/opt/app" "$TEST_TMP/app-v2"
u repack --image "$L:v2" "$B"
rm -rf "$B"
# v2 rebuilt: the base layer, then the application's files as one new layer.
python3 - "$L" "$TEST_TMP/app-v2" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
L, app = sys.argv[1], sys.argv[2]
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{L}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
idx = json.load(open(L + "/index.json"))
ref = lambda m: m.get("annotations", {}).get("org.opencontainers.image.ref.name")
v1 = next(m for m in idx["manifests"] if ref(m) == "v1")
man = json.load(open(L + "/blobs/sha256/" + v1["digest"][7:]))
cfg = json.load(open(L + "/blobs/sha256/" + man["config"]["digest"][7:]))
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    t.add(app, arcname="opt/app", filter=lambda i: (setattr(i, "mtime", 0), i)[1])
layer = gzip.compress(raw.getvalue(), 6, mtime=0)
ld, ls = blob(layer)
man["layers"][1] = {"mediaType": man["layers"][1]["mediaType"], "digest": ld, "size": ls}
cfg["rootfs"]["diff_ids"][1] = "sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()
cd, cs = blob(json.dumps(cfg).encode())
man["config"] = {"mediaType": man["config"]["mediaType"], "digest": cd, "size": cs}
md, ms = blob(json.dumps(man).encode())
idx["manifests"].append({"mediaType": v1["mediaType"], "digest": md, "size": ms,
                         "annotations": {"org.opencontainers.image.ref.name": "v2-rebuilt"}})
json.dump(idx, open(L + "/index.json", "w"))
PY
u unpack --image "$L:v1" "$B"
image_mib=$(du -sm "$B/rootfs" | cut -f1)
echo "images: v1 $image_mib MiB (Debian minbase + $app_mib MiB app layer); v2 rewrites a fifth of the app"

# ---------------------------------------------------------------- 1. publish
oci_t=() dir_t=()
for r in $(seq 1 "$runs"); do
        fresh_fs "$TEST_TMP/fs" 8G
        cold_cache
        oci_t+=("$(timed "$ACFETCH" publish "oci:$L:v1" --name example.com/deb "$TEST_TMP/fs/o")")
        fresh_fs "$TEST_TMP/fs" 8G
        cold_cache
        dir_t+=("$(timed "$ACFETCH" publish "$B/rootfs" --name example.com/deb --label version=v1 \
                "$TEST_TMP/fs/d")")
        echo "run $r: oci $(echo "${oci_t[-1]}" | xargs printf %.2f) s, directory $(echo "${dir_t[-1]}" | xargs printf %.2f) s"
done
oci_m=$(printf '%s\n' "${oci_t[@]}" | median)
dir_m=$(printf '%s\n' "${dir_t[@]}" | median)
printf 'publish: oci %.2f s, directory %.2f s (medians of %d): ratio %.2f (goal <= 1.5)\n' \
        "$oci_m" "$dir_m" "$runs" "$(echo "$oci_m / $dir_m" | bc -l)"
drop_fs "$TEST_TMP/fs"

# ---------------------------------------------------------------- 2. update
OUTDIR=$WWW/example.com
mkdir -p "$OUTDIR"
for v in v1 v2 v2-rebuilt; do
        "$ACFETCH" publish "oci:$L:$v" --name example.com/deb --sign "$FPR" "$OUTDIR" \
                >/dev/null 2>"$TEST_TMP/publish.log" || { cat "$TEST_TMP/publish.log"; exit 1; }
done
fe_nginx_start
fetch_json() { # STORE VERSION OUT
        # shellcheck disable=SC2086 # $NET is an option list
        "$ACFETCH" --dir="$1" fetch $NET --json "example.com/deb:$2" >"$3" \
                2>"$TEST_TMP/fetch.log" || { cat "$TEST_TMP/fetch.log"; exit 1; }
}
for v2 in v2 v2-rebuilt; do
        rm -rf "$TEST_TMP/store"
        fetch_json "$TEST_TMP/store" v1 "$TEST_TMP/v1.json"
        fetch_json "$TEST_TMP/store" "$v2" "$TEST_TMP/v2.json"
        python3 - "$L" "$TEST_TMP/v1.json" "$TEST_TMP/v2.json" "$v2" <<'PY'
import json, sys
L = sys.argv[1]
idx = json.load(open(L + "/index.json"))
def layers(tag):
    for m in idx["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            man = json.load(open(L + "/blobs/sha256/" + m["digest"][7:]))
            return {l["digest"]: l["size"] for l in man["layers"]}
v1, v2 = layers("v1"), layers(sys.argv[4])
changed = sum(s for d, s in v2.items() if d not in v1)
def downloaded(path):
    j = json.load(open(path))
    j = j[0] if isinstance(j, list) else j
    for k in ("bytes_downloaded",):
        if k in j:
            return j[k]
    for v in j.values():
        if isinstance(v, dict) and "bytes_downloaded" in v:
            return v["bytes_downloaded"]
    raise SystemExit("no bytes_downloaded in " + path)
d1, d2 = downloaded(sys.argv[2]), downloaded(sys.argv[3])
print("update v1 -> %s: acfetch downloaded %.1f MiB (v1 cold: %.1f MiB); v2's layers v1 lacks: "
      "%.1f MiB (a registry pull); ratio %.2f" %
      (sys.argv[4], d2 / 2**20, d1 / 2**20, changed / 2**20, d2 / changed))
PY
done
