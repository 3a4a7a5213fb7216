#!/usr/bin/env bash
# Benchmark: the cluster node (`palisade node`), release build.
#
#   bash bench/cluster.sh      (BENCH_RUNS=5, BENCH_NODES=32, BENCH_SECONDS=20)
#
# 1. Failover time at deadtime 1 s, keepalive 200 ms: BENCH_RUNS runs of
#    scripts/cluster_demo.sh in BENCH mode (3 nodes in network namespaces, two rings, each
#    node's power behind its own ipmi_sim BMC; the service is the classic HA group:
#    ext4 on per-node loop devices of one image -> IPaddr2 -> journaling web server; the
#    node running it has every cluster link cut; time from the cut to the web server
#    started on a survivor, the lost node being powered off through its BMC by
#    fence_ipmilan first: the group's three starts add about 0.7 s to the fence). Needs root, `ip
#    netns` and ipmi_sim (openipmi). ipmi_sim acts on a power-off at its next one-second
#    tick, which adds 0-1 s (about 0.5 s on average) to every run.
#    For comparison: corosync at its defaults needs token + consensus = 3 s + 3.6 s = about
#    6.6 s before a 2-node membership is even formed again, before any fencing.
# 2. Heartbeat cost: BENCH_NODES daemons on loopback (127.0.1.1..N, one ring, keepalive
#    200 ms, deadtime 1 s, no resources, fencing off), BENCH_SECONDS of steady state:
#    CPU % and RSS per daemon (median and max) from /proc. No root needed.
# Numbers only, no assertions; not part of the suite. Daemons are stopped by their PID.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-5}
NODES=${BENCH_NODES:-32}
SECONDS_STEADY=${BENCH_SECONDS:-20}
DIR=$(mktemp -d /tmp/palisade-bench-cluster.XXXXXX)
PIDS=()

cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$DIR"
}
trap cleanup EXIT

build_release -p palisade --bin palisade -p fence-agents --bin fence_ipmilan
PALISADE=$PWD/target/release/palisade
IPMILAN=$PWD/target/release/fence_ipmilan

echo "== failover time (3 nodes, deadtime 1s, keepalive 200ms, link cut -> fenced through the BMC -> service on a survivor)"
if [[ $(id -u) == 0 ]] && command -v ipmi_sim >/dev/null && bash tests/fixtures/cluster/lab.sh check 2>/dev/null; then
    for ((i = 0; i < RUNS; i++)); do
        BENCH=1 PALISADE_BIN=$PALISADE FENCE_IPMILAN=$IPMILAN bash scripts/cluster_demo.sh \
            | sed -n 's/^failover_ms=//p'
    done > "$DIR/failover"
    printf 'runs: %s ms\n' "$(tr '\n' ' ' < "$DIR/failover")"
    printf 'median: %s ms (target <= 3500 ms with the group's three starts; corosync defaults: ~6600 ms to re-form membership alone)\n' \
        "$(median '%.0f' < "$DIR/failover")"
else
    echo "skipped: needs root, ip netns and ipmi_sim (apt-get install openipmi)"
fi

echo "== heartbeat cost: $NODES nodes on loopback, keepalive 200ms, ${SECONDS_STEADY}s steady state"
head -c 32 /dev/urandom > "$DIR/key"
PORT=$((21000 + $$ % 10000))
{
    printf '[cluster]\nid = 9\nkey-file = "%s"\nport = %d\n\n' "$DIR/key" "$PORT"
    printf '[timers]\nkeepalive = "200ms"\ndeadtime = "1s"\ninitdead = "5s"\n\n[fencing]\nenabled = false\n\n'
    for ((i = 1; i <= NODES; i++)); do
        printf '[[node]]\nname = "n%d"\nid = %d\naddresses = ["127.0.1.%d"]\n\n' "$i" "$i" "$i"
    done
} > "$DIR/cluster.toml"
for ((i = 1; i <= NODES; i++)); do
    "$PALISADE" node --config "$DIR/cluster.toml" --node "n$i" > "$DIR/n$i.out" 2>&1 &
    PIDS+=($!)
done
sleep 6   # initdead, then every view agreed
quorate=$(cat "$DIR"/n*.out | grep -c "quorate: $NODES of $NODES" || true)
ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
declare -A before=()
for p in "${PIDS[@]}"; do before[$p]=$(cpu_ticks "$p"); done
sleep "$SECONDS_STEADY"
for p in "${PIDS[@]}"; do
    awk -v a="${before[$p]}" -v b="$(cpu_ticks "$p")" -v t="$ticks" -v s="$SECONDS_STEADY" \
        'BEGIN { printf "%.2f\n", (b - a) / t / s * 100 }'
done > "$DIR/cpu"
for p in "${PIDS[@]}"; do awk '/^VmRSS:/ { print $2 }' "/proc/$p/status"; done > "$DIR/rss"
dead=$(cat "$DIR"/n*.out | grep -c " dead: " || true)
echo "nodes that saw all $NODES quorate: $quorate; false 'dead' detections: $dead"
echo "CPU per daemon: median $(median '%.2f' < "$DIR/cpu") %, max $(sort -n "$DIR/cpu" | tail -n 1) %"
echo "RSS per daemon: median $(median '%.0f' < "$DIR/rss") KiB, max $(sort -n "$DIR/rss" | tail -n 1) KiB"
echo "datagrams: $((NODES * (NODES - 1) * 2 * 5)) per second in total (heartbeat + report, $((NODES - 1)) peers, 5/s)"
