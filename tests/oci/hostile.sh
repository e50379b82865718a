#!/bin/sh
# `acfetch publish oci:...` of hostile layers (made with python3's tarfile, added with `umoci raw
# add-layer` so that every digest is right): "../x", an absolute path, a symlink out of the tree
# then a write through it (in one layer and across two), a whiteout naming ".." or "."; and a
# layer whose blob does not match its digest. Each is refused with one line, nothing is written
# outside the tree (canaries beside OUTDIR and in it stay as they were), nothing is published
# and the private unpack directory is gone.
set -eu
# shellcheck source=tests/http/lib.sh
. "$SRCDIR/tests/http/lib.sh"
# shellcheck source=tests/http/fetch_lib.sh
. "$SRCDIR/tests/http/fetch_lib.sh"
require_cmd umoci python3
fetch_init

OUTDIR=$TEST_TMP/www/example.com
CANARY=$TEST_TMP/canary
mkdir -p "$OUTDIR" "$CANARY"
echo keep >"$OUTDIR/keep"
echo keep >"$CANARY/keep"
u() { umoci "$@" >"$TEST_TMP/umoci.log" 2>&1 || fail "umoci $*: $(cat "$TEST_TMP/umoci.log")"; }
BASE=$TEST_TMP/base
u init --layout "$BASE"
u new --image "$BASE:t"
n=0

# layout LAYER-SPEC... ("--" between layers): a copy of the empty base with those layers.
layout() {
        n=$((n + 1))
        L=$TEST_TMP/l$n
        cp -a "$BASE" "$L"
        set -- "$@" --
        spec=
        for a in "$@"; do
                if [ "$a" = -- ]; then
                        # shellcheck disable=SC2086 # one word per entry
                        python3 "$SRCDIR/tests/oci/make_tar.py" "$TEST_TMP/layer.tar" $spec
                        u raw add-layer --image "$L:t" "$TEST_TMP/layer.tar"
                        spec=
                else
                        spec="$spec $a"
                fi
        done
}

# refused WHAT MESSAGE-PART: publishing $L fails with one line naming it; nothing escaped.
refused() {
        acf publish "oci:$L:t" --name example.com/bad "$OUTDIR"
        [ "$RC" != 0 ] || fail "$1: published"
        [ "$(wc -l <"$ERR")" = 1 ] || fail "$1: not one line: $(cat "$ERR")"
        expect_err "$2"
        [ "$(ls -A "$CANARY")" = keep ] && [ "$(cat "$CANARY/keep")" = keep ] ||
                fail "$1: something was written outside: $(ls -A "$CANARY")"
        [ "$(ls -A "$OUTDIR")" = keep ] || fail "$1: OUTDIR holds $(ls -A "$OUTDIR")"
        [ ! -e "$TEST_TMP/www/x" ] && [ ! -e "$TEST_TMP/x" ] || fail "$1: ../x was written"
        pass "$1: refused ($(cat "$ERR"))"
}

layout file:../x:evil
refused "../x" '"\.\." component'
layout "file:$CANARY/evil:evil"
refused "an absolute path" "absolute"
layout "symlink:esc:$CANARY" file:esc/evil:evil
refused "a symlink then a write through it" "refusing to write through it"
layout "symlink:esc:$CANARY" -- file:esc/evil:evil
refused "a symlink of an earlier layer, then a write through it" "refusing to write through it"
# The extraction keeps the last parent directory open: a directory written into, then replaced
# by a symlink in the same layer, is not written into again through the directory kept open.
layout dir:sub dir:sub/d file:sub/d/f:x "symlink:sub/d:$CANARY" file:sub/d/evil:evil
refused "a directory replaced by a symlink, then a write through it" "refusing to write through it"
layout dir:sub file:sub/f:x -- file:sub/.wh...:
refused "a whiteout naming .." 'a whiteout must name one file, not ".."'
layout file:f:x -- file:.wh...:
refused "a whiteout naming .. at the top" 'a whiteout must name one file, not ".."'
layout dir:sub -- file:sub/.wh..:
refused "a whiteout naming ." 'a whiteout must name one file, not "."'

# A layer blob altered after the fact (same size): its digest no longer matches.
layout file:f:hello
blob=$(python3 -c 'import json,sys
L=sys.argv[1]
idx=json.load(open(L+"/index.json"))
m=json.load(open(L+"/blobs/sha256/"+idx["manifests"][0]["digest"][7:]))
print(L+"/blobs/sha256/"+m["layers"][0]["digest"][7:])' "$L")
python3 - "$blob" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0xff
open(sys.argv[1], "wb").write(bytes(b))
PY
acf publish "oci:$L:t" --name example.com/bad "$OUTDIR"
[ "$RC" != 0 ] || fail "corrupt layer: published"
expect_err "corrupt or altered"
[ "$(ls -A "$OUTDIR")" = keep ] || fail "corrupt layer: OUTDIR holds $(ls -A "$OUTDIR")"
pass "a layer whose blob does not match its digest is refused"

# docker-archive: a member climbing out of the archive, and a layer that is not its diff_id.
# darchive OUT CORRUPT EXTRA-MEMBER: one layer (f), the config named by its digest.
darchive() {
        python3 - "$@" <<'PY' || fail "making a docker-archive"
import hashlib, io, json, sys, tarfile
out, corrupt, extra = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
lb = io.BytesIO()
with tarfile.open(fileobj=lb, mode="w") as t:
    ti = tarfile.TarInfo("f"); ti.size = 5
    t.addfile(ti, io.BytesIO(b"hello"))
layer = lb.getvalue()
lid = hashlib.sha256(layer).hexdigest()
if corrupt:
    layer = layer[:600] + bytes([layer[600] ^ 0xff]) + layer[601:]
cfg = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:" + lid]}}).encode()
cid = hashlib.sha256(cfg).hexdigest()
man = json.dumps([{"Config": cid + ".json", "RepoTags": ["x:1"], "Layers": [lid + ".tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for name, data in [(cid + ".json", cfg), (lid + ".tar", layer), ("manifest.json", man)] + \
                      ([(extra, b"evil")] if extra else []):
        ti = tarfile.TarInfo(name); ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
PY
}
darchive "$TEST_TMP/ok.tar" 0 ""
acf publish "docker-archive:$TEST_TMP/ok.tar" --name example.com/docker "$OUTDIR"
expect_rc 0 "a benign docker-archive"
rm -rf "${OUTDIR:?}/docker" "$OUTDIR/default.castr"
darchive "$TEST_TMP/bad.tar" 0 ../x
acf publish "docker-archive:$TEST_TMP/bad.tar" --name example.com/bad "$OUTDIR"
[ "$RC" != 0 ] && [ "$(wc -l <"$ERR")" = 1 ] || fail "docker-archive with ../x: $(cat "$ERR")"
expect_err '"\.\." component'
[ "$(ls -A "$OUTDIR")" = keep ] && [ ! -e "$TEST_TMP/www/x" ] || fail "docker-archive ../x: $(ls -A "$OUTDIR")"
darchive "$TEST_TMP/corrupt.tar" 1 ""
acf publish "docker-archive:$TEST_TMP/corrupt.tar" --name example.com/bad "$OUTDIR"
[ "$RC" != 0 ] || fail "a docker-archive layer that is not its diff_id: published"
expect_err "corrupt or altered"
[ "$(ls -A "$OUTDIR")" = keep ] || fail "corrupt docker-archive: OUTDIR holds $(ls -A "$OUTDIR")"
pass "docker-archive: a member climbing out and a layer that is not its diff_id are refused"

# The same layers untouched publish: the refusals above are the hostile entries'.
layout file:f:hello dir:sub "symlink:sub/l:/etc" -- file:sub/g:x file:.wh.f: file:none/.wh.x:
acf publish "oci:$L:t" --name example.com/good --label os=linux --label arch=amd64 "$OUTDIR"
expect_rc 0 "a benign layout"
casync extract "$OUTDIR/good/t/linux-amd64.caidx" "$TEST_TMP/good" || fail "extract the benign image"
[ "$(cd "$TEST_TMP/good/rootfs" && find . | sort | tr '\n' ' ')" = ". ./sub ./sub/g ./sub/l " ] ||
        fail "benign image: $(cd "$TEST_TMP/good/rootfs" && find . | sort | tr '\n' ' ')"
pass "a benign layout of the same shape publishes: f whited out, no directory for a whiteout in none"
echo "# all hostile oci checks passed"
