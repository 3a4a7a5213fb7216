#!/usr/bin/env bash
# palisade cluster demo: three `palisade node` daemons, each in its own network namespace
# (two rings through a bridge namespace), each node's power behind its own BMC: OpenIPMI's
# ipmi_sim on a separate management network, whose power-on boots the node's daemon in a
# fresh PID namespace and whose power-off kills every process of the node
# (tests/fixtures/cluster/{lab,bmc,node_power,node_boot}.sh, the same lab the tests use).
# The nodes fence each other through the BMCs with our fence_ipmilan. The demo:
#   1. powers the three nodes on through their BMCs and waits for the service (the
#      palisade:Logger OCF test agent, which logs where and when it runs),
#   2. cuts every cluster link of the node running it,
#   3. prints the timeline: detection, quorum decision, fencing through the BMC, service
#      start on a survivor,
#   4. heals the links, powers the node on through its BMC and shows it rejoin,
#   5. checks the resource log (never two nodes at once) and cleans up by PID.
# Needs root, `ip netns` (iproute2) and ipmi_sim (apt-get install openipmi). Nothing leaves
# the namespaces it creates.
# Knobs: DEADTIME (default 1s), KEEPALIVE (200ms), KEEP=1 keeps the work directory,
# PALISADE_BIN / FENCE_IPMILAN (use these binaries, no build; FENCE_IPMILAN defaults to
# the fence_ipmilan next to FENCE_DUMMY when only that is given), BENCH=1 (print only
# `failover_ms=N` and stop after the failover; bench/cluster.sh uses it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=$ROOT/tests/fixtures/cluster
DEADTIME=${DEADTIME:-1s}
KEEPALIVE=${KEEPALIVE:-200ms}
P=pcd$$
W=$(mktemp -d /tmp/palisade-cluster-demo.XXXXXX)
NODES=(1 2 3)

BENCH=${BENCH:-0}
say() { [[ $BENCH == 1 ]] || printf '\n=== %s\n' "$*"; }
show() { if [[ $BENCH == 1 ]]; then cat >/dev/null; else cat; fi; }
die() { echo "cluster_demo: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
note() { echo "$(date +%s.%3N) demo  fault    $*" >>"$W/timeline"; }

[[ $(id -u) == 0 ]] || die "needs root (network namespaces)"
command -v ip >/dev/null || die "needs iproute2 (apt-get install iproute2)"
command -v ipmi_sim >/dev/null || die "needs ipmi_sim as the nodes' BMCs (apt-get install openipmi)"
bash "$FIX/lab.sh" check 2>/dev/null || die "network namespaces / veth / bridges do not work here"

if [[ -n ${PALISADE_BIN:-} && -n ${FENCE_IPMILAN:-${FENCE_DUMMY:-}} ]]; then
    BIN=$PALISADE_BIN
    IPMILAN=${FENCE_IPMILAN:-$(dirname "$FENCE_DUMMY")/fence_ipmilan}
else
    say "building palisade and fence_ipmilan"
    (cd "$ROOT" && cargo build -q -p palisade --bin palisade && cargo build -q -p fence-agents --bin fence_ipmilan)
    BIN=$ROOT/target/debug/palisade
    IPMILAN=$ROOT/target/debug/fence_ipmilan
fi
[[ -x $BIN && -x $IPMILAN ]] || die "missing $BIN or $IPMILAN"
# Absolute: the nodes run them from wherever their BMC was started.
BIN=$(realpath "$BIN") IPMILAN=$(realpath "$IPMILAN")

bmc_addr() { bash "$FIX/bmc.sh" addr "$1"; }
# Our fence_ipmilan against node I's BMC, from the management network (switch namespace).
bmc() { # I ACTION
    ip netns exec "$P-sw" "$IPMILAN" --ip "$(bmc_addr "$1")" --username admin --password secret \
        --lanplus --cipher 3 --power-wait 0 --action "$2"
}
# The host PID of node I's daemon, found in its namespace by its command line.
daemon_pid() { # I
    local p
    for p in $(ip netns pids "$P-n$1" 2>/dev/null); do
        if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "^$BIN node --config $W/node$1.toml"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
# The PID of node I's power (node_power.sh, which ipmi_sim started), checked by command line.
power_pid() { # I
    local p
    p=$(cat "$W/power$1.pid" 2>/dev/null) || return 1
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "node_power.sh $W $1" && echo "$p"
}

cleanup() {
    set +e
    local i p
    for i in "${NODES[@]}"; do
        p=$(daemon_pid "$i") && kill -TERM "$p"
    done
    for _ in $(seq 50); do
        p=
        for i in "${NODES[@]}"; do daemon_pid "$i" >/dev/null && p=1; done
        [[ -z $p ]] && break
        sleep 0.1
    done
    for i in "${NODES[@]}"; do
        p=$(power_pid "$i") && kill -TERM "$p"   # what the BMC does on power off
    done
    for i in "${NODES[@]}"; do
        for _ in $(seq 50); do power_pid "$i" >/dev/null || break; sleep 0.1; done
        bash "$FIX/bmc.sh" stop "$W" "$i"
    done
    bash "$FIX/lab.sh" down "$P"
    if [[ ${KEEP:-0} == 1 ]]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

head -c 32 /dev/urandom >"$W/authkey"
LOG=$W/resource.log
: >"$LOG"
: >"$W/timeline"
for i in "${NODES[@]}"; do
    mkdir -p "$W/run$i"
    echo off >"$W/power$i"
done

node_block() { # J
    local j=$1
    cat <<EOF
[[node]]
name = "node$j"
id = $j
addresses = ["10.77.0.$j", "10.77.1.$j"]
fence-agent = "$IPMILAN"
fence-params = { ip = "$(bmc_addr "$j")", ipport = "623", username = "admin", password = "secret", lanplus = "1", cipher = "3", power_wait = "0", stonith_status_sleep = "0.1", login_timeout = "2", power_timeout = "10" }

EOF
}

write_node() { # I: node I's configuration and what its BMC boots
    local i=$1
    {
        cat <<EOF
[cluster]
id = 7
key-file = "$W/authkey"
node = "node$i"
ocf-root = "$FIX/ocf"
timeline = "$W/timeline"
state-dir = "$W/state$i"
control-socket = "$W/node$i.sock"

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
        for j in "${NODES[@]}"; do node_block "$j"; done
        cat <<EOF
[[resource]]
name = "service"
agent = "ocf:palisade:Logger"
params = { log = "$LOG", state = "$W/run$i/service.state" }
priority = 10
monitor-interval = "500ms"
EOF
    } >"$W/node$i.toml"
    cat >"$W/node$i.env" <<EOF
NETNS=$P-n$i
NODE=node$i
PALISADE=$BIN
NODE_CONFIG=$W/node$i.toml
NODE_OUT=$W/node$i.out
NODE_EXIT=$W/node$i.exit
EOF
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

# The first timeline line since T (ms) matching an awk condition, as "+MS  line".
milestone() { # LABEL T AWK-CONDITION
    local line
    line=$(timeline_since "$2" | awk "$3" | head -n 1)
    [[ -n $line ]] || { printf '  %-26s (none)\n' "$1"; return; }
    local at=${line%% *}
    local ms=$(( ${at%.*} * 1000 + 10#${at#*.} - $2 ))
    printf '  %-26s +%5d ms  %s\n' "$1" "$ms" "$(cut -d' ' -f2- <<<"$line")"
}

say "a 3-node cluster in namespaces $P-n1..3 (rings 10.77.0.0/24, 10.77.1.0/24), BMCs on 10.78.0.0/24"
bash "$FIX/lab.sh" up "$P" 3 2
for i in "${NODES[@]}"; do
    write_node "$i"
    bash "$FIX/bmc.sh" start "$W" "$i" "$P"
done
echo "BMCs (ipmi_sim) listening on $(for i in "${NODES[@]}"; do printf '%s:623 ' "$(bmc_addr "$i")"; done)" | show
T0=$(now_ms)
for i in "${NODES[@]}"; do
    echo "node$i: $(bmc "$i" on)" | show   # the BMC boots the node: its daemon starts
done
wait_for 20 grep -q ' start ' "$LOG" || die "the service never started (see $W/node*.out)"
OWNER=$(runs_on)
echo "service runs on: $OWNER (after $(( $(now_ms) - T0 )) ms)" | show
timeline_since "$T0" | show

VICTIM=${OWNER#node}
if [[ $BENCH == 1 ]]; then
    # ipmi_sim acts on a power-off at its next one-second tick: cut at a random phase of
    # that tick, so that runs sample its 0-1 s evenly instead of one fixed delay.
    sleep "1.$(printf '%03d' $((RANDOM % 1000)))"
else
    sleep 1
fi
say "cutting every cluster link of node$VICTIM (ip link set down in its namespace; its BMC stays reachable)"
CUT=$(now_ms)
bash "$FIX/lab.sh" cut "$P" "$VICTIM"
note "every cluster link of node$VICTIM cut"
started_elsewhere() { awk -v v="node$VICTIM" -v t="$CUT" '$3=="start" && $2!=v { split($1,a,"."); if (a[1]*1000+a[2] >= t) f=1 } END { exit !f }' "$LOG"; }
wait_for 30 started_elsewhere || die "the service did not move (see $W/timeline)"
STARTED=$(awk -v v="node$VICTIM" '$3=="start" && $2!=v { l=$1 } END { print l }' "$LOG")
START_MS=$(( ${STARTED%.*} * 1000 + 10#${STARTED#*.} ))
if [[ $BENCH == 1 ]]; then
    [[ $(cat "$W/power$VICTIM") == off ]] || die "node$VICTIM was not powered off"
    echo "failover_ms=$(( START_MS - CUT ))"
    exit 0
fi
sleep 0.5
say "timeline after the cut (all nodes and BMCs, merged)"
timeline_since "$CUT"
say "milestones (from the cut)"
milestone "detection" "$CUT" "/ detect / && / node$VICTIM dead/"
milestone "quorum decision" "$CUT" "/ quorum / && \$2 != \"node$VICTIM\""
milestone "fence request" "$CUT" "/ fence / && / request /"
milestone "BMC cuts the power" "$CUT" "/^[0-9.]+ bmc$VICTIM power chassis off:/"
milestone "fence confirmed" "$CUT" "/ fence / && / node$VICTIM fenced/"
milestone "service start (survivor)" "$CUT" "/ resource / && / started in /"
echo "  (ipmi_sim acts on a power-off request at its next one-second tick: 0-1 s of the above)"
echo "power of node$VICTIM per its BMC: $(bmc "$VICTIM" status)"
echo "failover time (link cut -> service started on $(runs_on)): $(( START_MS - CUT )) ms"

say "healing node$VICTIM's links and powering it on through its BMC"
bash "$FIX/lab.sh" heal "$P" "$VICTIM"
HEAL=$(now_ms)
note "links of node$VICTIM healed"
if command -v ipmitool >/dev/null; then
    ip netns exec "$P-sw" ipmitool -I lanplus -C 3 -H "$(bmc_addr "$VICTIM")" -U admin -P secret chassis power on
else
    bmc "$VICTIM" on
fi
rejoined() { [[ $(timeline_since "$HEAL" | grep -c 'quorum .*members: node1 node2 node3') -ge 3 ]]; }
wait_for 20 rejoined || die "node$VICTIM did not rejoin (see $W/timeline)"
sleep 1
timeline_since "$HEAL"
echo "service runs on: $(runs_on)"

say "checking the resource log: never two nodes at once"
awk '
    $3 == "start"   { if (on[$2] == 0) { for (n in on) if (on[n] && n != $2) { print "VIOLATION at " $1 ": " $2 " starts while " n " runs"; bad++ } } on[$2] = 1 }
    $3 == "monitor" { for (n in on) if (on[n] && n != $2) { print "VIOLATION at " $1 ": " $2 " runs while " n " runs"; bad++ } on[$2] = 1 }
    $3 == "stop" || $3 == "poweroff" { on[$2] = 0 }
    END { printf "%d log lines, %d violation(s)\n", NR, bad; exit bad > 0 }
' "$LOG"
say "done; stopping the daemons by PID, powering the nodes off, stopping the BMCs, deleting the namespaces"
