#!/usr/bin/env bash
# Benchmark: the seeded fault campaign on the classic HA workload (issue 16,
# docs/chaos.md): `tests/chaos.rs`'s ignored `campaign` test, one campaign per cluster
# size, side by side.
#
#   bash bench/chaos.sh     (CHAOS_FAULTS=1000 in all, CHAOS_NODES="2 3 5",
#                            CHAOS_MINUTES=30, CHAOS_SEED=16, CHAOS_RELEASE=0)
#
# Each campaign runs the group Filesystem -> IPaddr2 -> journaling web server on a lab
# cluster (network namespaces, ipmi_sim BMCs, fence_ipmilan through palisade daemon),
# a client requesting through the virtual IP, and its share of the faults: link cut,
# one-way link, 30 % loss, kill -9, SIGSTOP, BMC down, disk stall, daemon restart, in the
# seed's order, overlapping on different nodes, each healed after its hold time and the
# node powered on again. It stops injecting after CHAOS_MINUTES and prints, per
# campaign and in all: faults injected, violations, group order breaks (violations
# too, also counted apart), failover time p50/p95/max,
# requests acknowledged, fsck checks. A violation prints its seed and the timeline to
# replay it (also to CHAOS_VIOLATION_LOG.<N>nodes when set). Every violation is counted;
# CHAOS_STOP_ON_VIOLATION=1 stops a campaign at its first. No ClusterLabs tool runs this
# workload here, so there is no ratio. Needs root; debug build unless CHAOS_RELEASE=1.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

[[ $(id -u) == 0 ]] || die "the campaign needs root (network namespaces, loop devices)"
need_packages openipmi resource-agents e2fsprogs kmod python3-fusepy iptables curl

export CHAOS_FAULTS=${CHAOS_FAULTS:-1000}
export CHAOS_NODES=${CHAOS_NODES:-2 3 5}
export CHAOS_MINUTES=${CHAOS_MINUTES:-30}
export CHAOS_SEED=${CHAOS_SEED:-16}
profile=()
[[ ${CHAOS_RELEASE:-0} == 1 ]] && profile=(--release)

# The binaries the lab runs next to the test (fence_ipmilan, palisade-sbd).
cargo build "${profile[@]}" --locked --workspace --bins >&2
start=$EPOCHREALTIME
out=$(mktemp /tmp/palisade-bench-chaos.XXXXXX)
set +e
cargo test "${profile[@]}" --locked --test chaos campaign -- --ignored --nocapture >"$out" 2>&1
status=$?
set -e
grep -E '^(CHAOS|faults by kind|resource starts|group order|VIOLATION|  \[)' "$out" || true
printf 'CHAOS wall time: %.0f s (full output: %s)\n' "$(echo "$EPOCHREALTIME - $start" | bc)" "$out"
exit "$status"
