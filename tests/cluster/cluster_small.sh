#!/bin/sh
# bench/cluster.sh in its small form (CLUSTER_SMALL=1: 3 nodes, a generated image of a few MiB)
# and the figures it reports that are not timings: through the shared nginx cache
# (deploy/nginx/acfetch-cache.conf, or CLUSTER_CACHE_CONF from the environment) the origin sends
# each chunk once: at most 1.05x the image's distinct chunk bytes when all nodes fetch it cold,
# and at most 1.05x the bytes of the chunks v1 lacks when all update to v2; without the cache,
# N times as much (each node fetches every chunk); every node's rendered tree equals its index.
# No timing is checked. A cache that stops coalescing concurrent misses (proxy_cache_lock off)
# fails the first two checks.
. "$SRCDIR/tests/lib.sh"
test_init cluster_small
require_root "bench/cluster.sh builds network namespaces"
require_cmd ip tc nsenter nginx casync gpg bc mkfs.ext4
probe=acfclprobe$$
if ! { ip netns add "$probe" && ip -n "$probe" link add br0 type bridge &&
        ip -n "$probe" link add p0 type veth peer name e0 &&
        tc -n "$probe" qdisc add dev e0 root tbf rate 1gbit burst 131072 latency 100ms; } 2>/dev/null; then
        ip netns del "$probe" 2>/dev/null
        skip "no network namespaces, bridges, veth pairs or tc tbf here"
fi
ip netns del "$probe"

nodes=3
# 40 ms to the origin (the script's default is 10): each fill then lasts long enough for the
# nodes' requests of the same chunk to overlap, so a cache without coalescing shows it every run
# (measured with proxy_cache_lock off: 1.6-1.8x cold; at 10 ms, 1.1-1.4x).
BENCH_WORK=$TEST_TMP/work CLUSTER_SMALL=1 CLUSTER_NODES=$nodes CLUSTER_ORIGIN_RTT=40 \
        bash "$SRCDIR/bench/cluster.sh" "$BUILDDIR" >"$TEST_TMP/report" 2>"$TEST_TMP/err"
rc=$?
cat "$TEST_TMP/report"
[ "$rc" = 0 ] || fail "bench/cluster.sh exited with $rc" "$(tail -n 20 "$TEST_TMP/err")"

# ratio LABEL: the ratio (the number before "x ") on the report line that starts with LABEL.
ratio() {
        r=$(grep "^$1: " "$TEST_TMP/report" | sed -n 's/.* = \([0-9.]*\)x .*/\1/p')
        [ -n "$r" ] || fail "no figure \"$1\" in the report"
        echo "$r"
}
# within LABEL MIN MAX
within() {
        r=$(ratio "$1")
        if [ "$(echo "$r >= $2 && $r <= $3" | bc)" = 1 ]; then
                pass "$1: ${r}x (between $2 and $3)"
        else
                fail "$1: ${r}x, not between $2 and $3"
        fi
}
within "origin egress, with cache, cold" 0.95 1.05
within "origin egress, with cache, update" 0.95 1.05
within "origin egress, without cache, cold" "$(echo "$nodes * 0.95" | bc)" "$(echo "$nodes * 1.05" | bc)"
within "origin egress, without cache, update" "$(echo "$nodes * 0.95" | bc)" "$(echo "$nodes * 1.05" | bc)"
# Four rounds (N nodes with and without the cache, one node alone both ways), two fetches each.
trees=$((2 * (2 * nodes + 2)))
expect_eq "trees checked" "$(sed -n 's/^images: all \([0-9]*\) rendered trees equal their index.*/\1/p' \
        "$TEST_TMP/report")" "$trees"
pass "all $trees rendered trees equal their index"
