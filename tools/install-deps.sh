#!/bin/sh
# Installs what acfetch needs to build and test on Debian 12. Idempotent; run as root.
set -eu
build="meson ninja-build pkg-config gcc libcurl4-openssl-dev libxml2-dev libzstd-dev libssl-dev
       libjansson-dev liblzma-dev zlib1g-dev libisal-dev libfuse3-dev"
# At run time: fusermount3, which `acfetch mount --help` tells users to unmount with (and
# which lets libfuse mount without root).
run="fuse3"
tests="casync nginx gnupg attr acl debootstrap util-linux e2fsprogs xxd zstd xz-utils time curl openssl
       iproute2 libcap2-bin strace tmux"
# The benchmarks (bench/*.sh, run by hand): bc for their arithmetic; fuser, with which
# bench/link.sh waits for the mount daemon to let go of its store.
bench="bc psmisc"
# The source checks (tools/check-layers.sh, tools/check-format.sh).
checks="python3 clang-format"
# The ASan+UBSan build is made with clang; the fuzz targets need clang's libFuzzer
# (libclang_rt.fuzzer, in libclang-rt-14-dev on Debian 12).
clang="clang libclang-rt-14-dev"
# Shared chunk caches and S3 stores (tests/deploy/, bench/cluster.sh): a throwaway single-node
# Ceph radosgw as the S3 server (tests/ceph_lib.sh), nginx's njs module (deploy/nginx signs
# requests to a private bucket), and varnish and squid (the other caches deploy/ ships).
cluster="radosgw ceph-mon ceph-osd ceph-common libnginx-mod-http-js varnish squid"
# OCI images (tests/oci/): umoci builds and unpacks the images publish oci:DIR is compared with,
# skopeo converts them to other transports, and golang-go with golang-github-appc-spec-dev
# build appc's actool offline, which validates the manifests made from their configs;
# docker-registry (CNCF distribution) is the registry images are published to and fetched from,
# with apache2-utils' htpasswd for its bcrypt password file. Registry authentication
# (tests/oci/auth_token.sh): python3-jwt and python3-cryptography make the test's token service
# and the RS256 tokens docker-registry verifies.
oci="umoci skopeo golang-go golang-github-appc-spec-dev docker-registry apache2-utils python3-jwt
     python3-cryptography"
missing=""
for p in $build $run $tests $bench $checks $clang $cluster $oci; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
                missing="$missing $p"
done
if [ -n "$missing" ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $missing
fi
