#!/usr/bin/env bash
# palisade cluster demo: three `palisade node` daemons, each in its own network namespace
# (two rings through a bridge namespace), one resource (the palisade:Logger OCF test agent,
# which logs where and when it runs) and one fence device per node (fence_dummy behind a
# "power switch" that kills every process in the node's namespace). The demo:
#   1. starts the cluster and waits for the resource to run on one node,
#   2. cuts every link of that node,
#   3. prints the timeline: detection, quorum decision, fence, start on a survivor,
#   4. heals the links, powers the node back on (restarts its daemon) and shows it rejoin,
#   5. checks the resource log (never two nodes at once) and cleans up by PID.
# Needs root and `ip netns` (iproute2). Nothing leaves the namespaces it creates.
# Knobs: DEADTIME (default 1s), KEEPALIVE (200ms), KEEP=1 keeps the work directory,
# PALISADE_BIN / FENCE_DUMMY (use these binaries, no build), BENCH=1 (print only
# `failover_ms=N` and stop after the failover; bench/cluster.sh uses it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=$ROOT/tests/fixtures/cluster
DEADTIME=${DEADTIME:-1s}
KEEPALIVE=${KEEPALIVE:-200ms}
P=pcd$$
W=$(mktemp -d /tmp/palisade-cluster-demo.XXXXXX)
declare -A PID=()

BENCH=${BENCH:-0}
say() { [[ $BENCH == 1 ]] || printf '\n=== %s\n' "$*"; }
show() { if [[ $BENCH == 1 ]]; then cat >/dev/null; else cat; fi; }
die() { echo "cluster_demo: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }

[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (apt-get install iproute2)"
bash "$FIX/lab.sh" check 2>/dev/null || die "network namespaces / veth / bridges do not work here"

if [[ -n ${PALISADE_BIN:-} && -n ${FENCE_DUMMY:-} ]]; then
    BIN=$PALISADE_BIN DUMMY=$FENCE_DUMMY
else
    say "building palisade and fence_dummy"
    (cd "$ROOT" && cargo build -q -p palisade --bin palisade && cargo build -q -p fence-agents --bin fence_dummy)
    BIN=$ROOT/target/debug/palisade
    DUMMY=$ROOT/target/debug/fence_dummy
fi

cleanup() {
    set +e
    for i in "${!PID[@]}"; do
        kill -TERM "${PID[$i]}" 2>/dev/null
    done
    for i in "${!PID[@]}"; do
        for _ in $(seq 1 50); do kill -0 "${PID[$i]}" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "${PID[$i]}" 2>/dev/null
    done
    bash "$FIX/lab.sh" down "$P"
    if [[ ${KEEP:-0} == 1 ]]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

head -c 32 /dev/urandom > "$W/authkey"
LOG=$W/resource.log
: > "$LOG"
for i in 1 2 3; do
    mkdir -p "$W/run$i"
    echo on > "$W/power$i"
done

node_block() { # I
    local i=$1
    cat <<EOF
[[node]]
name = "node$i"
id = $i
addresses = ["10.77.0.$i", "10.77.1.$i"]
fence-agent = "$FIX/fence_power.sh"
fence-params = { dummy = "$DUMMY", status_file = "$W/power$i", netns = "$P-n$i", volatile = "$W/run$i", log = "$LOG" }

EOF
}

write_config() { # I
    local i=$1
    {
        cat <<EOF
[cluster]
id = 7
key-file = "$W/authkey"
node = "node$i"
ocf-root = "$FIX/ocf"
timeline = "$W/timeline"

[timers]
keepalive = "$KEEPALIVE"
deadtime = "$DEADTIME"
initdead = "5s"

[quorum]
no-quorum-policy = "stop"

[fencing]
action = "off"
timeout = "20s"

EOF
        for j in 1 2 3; do node_block "$j"; done
        cat <<EOF
[[resource]]
name = "service"
agent = "ocf:palisade:Logger"
params = { log = "$LOG", state = "$W/run$i/service.state" }
priority = 10
monitor-interval = "500ms"
EOF
    } > "$W/node$i.toml"
}

start_node() { # I
    local i=$1
    write_config "$i"
    ip netns exec "$P-n$i" setpriv --bounding-set -sys_boot \
        env PALISADE_FORBID_SELF_FENCE=1 "$BIN" node --config "$W/node$i.toml" \
        >>"$W/node$i.out" 2>&1 &
    PID[$i]=$!
    disown "${PID[$i]}"   # a fenced node dies by SIGKILL: no job-control noise
}

wait_for() { # SECONDS COMMAND...
    local limit=$1; shift
    local end=$(( $(now_ms) + limit * 1000 ))
    while (( $(now_ms) < end )); do "$@" && return 0; sleep 0.05; done
    return 1
}

runs_on() { # -> node name running the service now (last start/stop/poweroff line per node)
    awk '{ if ($3=="start"||$3=="monitor") on[$2]=1; if ($3=="stop"||$3=="poweroff") on[$2]=0 }
         END { for (n in on) if (on[n]) print n }' "$LOG"
}

timeline_since() { # UNIX_MS
    awk -v t="$1" '{ split($1, a, "."); if (a[1] * 1000 + a[2] >= t) print }' "$W/timeline" | sort -n -s -k1,1
}

say "starting a 3-node cluster in namespaces $P-n1..3 (rings 10.77.0.0/24 and 10.77.1.0/24)"
bash "$FIX/lab.sh" up "$P" 3 2
T0=$(now_ms)
for i in 1 2 3; do start_node "$i"; done
wait_for 20 grep -q ' start ' "$LOG" || die "the service never started (see $W/node*.out)"
OWNER=$(runs_on)
echo "service runs on: $OWNER (after $(( $(now_ms) - T0 )) ms)" | show
timeline_since "$T0" | show

VICTIM=${OWNER#node}
sleep 1
say "cutting every link of node$VICTIM (ip link set down in its namespace)"
CUT=$(now_ms)
bash "$FIX/lab.sh" cut "$P" "$VICTIM"
echo "$(date +%s.%3N) demo  fault    every link of node$VICTIM cut" >> "$W/timeline"
started_elsewhere() { awk -v v="node$VICTIM" -v t="$CUT" '$3=="start" && $2!=v { split($1,a,"."); if (a[1]*1000+a[2] >= t) f=1 } END { exit !f }' "$LOG"; }
wait_for 30 started_elsewhere || die "the service did not move (see $W/timeline)"
STARTED=$(awk -v v="node$VICTIM" '$3=="start" && $2!=v { l=$1 } END { print l }' "$LOG")
START_MS=$(( ${STARTED%.*} * 1000 + 10#${STARTED#*.} ))
if [[ $BENCH == 1 ]]; then
    [[ $(cat "$W/power$VICTIM") == off ]] || die "node$VICTIM was not fenced"
    echo "failover_ms=$(( START_MS - CUT ))"
    exit 0
fi
sleep 0.5
say "timeline after the cut (all nodes, merged)"
timeline_since "$CUT"
echo "power of node$VICTIM: $(cat "$W/power$VICTIM")"
echo "failover time (link cut -> service started on $(runs_on)): $(( START_MS - CUT )) ms"

say "healing node$VICTIM's links and powering it on (its daemon restarts)"
bash "$FIX/lab.sh" heal "$P" "$VICTIM"
echo on > "$W/power$VICTIM"
HEAL=$(now_ms)
echo "$(date +%s.%3N) demo  fault    links of node$VICTIM healed, node$VICTIM powered on" >> "$W/timeline"
start_node "$VICTIM"
rejoined() { [[ $(timeline_since "$HEAL" | grep -c 'quorum .*members: node1 node2 node3') -ge 3 ]]; }
wait_for 20 rejoined || die "node$VICTIM did not rejoin (see $W/timeline)"
sleep 1
timeline_since "$HEAL"
echo "service runs on: $(runs_on)"

say "checking the resource log: never two nodes at once"
awk '
    { split($1, a, "."); t = a[1] * 1000 + a[2] }
    $3 == "start"   { if (on[$2] == 0) { for (n in on) if (on[n] && n != $2) { print "VIOLATION at " $1 ": " $2 " starts while " n " runs"; bad++ } } on[$2] = 1 }
    $3 == "monitor" { for (n in on) if (on[n] && n != $2) { print "VIOLATION at " $1 ": " $2 " runs while " n " runs"; bad++ } on[$2] = 1 }
    $3 == "stop" || $3 == "poweroff" { on[$2] = 0 }
    END { printf "%d log lines, %d violation(s)\n", NR, bad; exit bad > 0 }
' "$LOG"
say "done; stopping the daemons by PID and deleting the namespaces"
