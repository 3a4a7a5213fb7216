#!/usr/bin/env bash
# palisade cluster demo: three `palisade node` daemons, each in its own network namespace
# (two rings through a bridge namespace), each node's power behind its own BMC: OpenIPMI's
# ipmi_sim on a separate management network, whose power-on boots the node's daemon in a
# fresh PID namespace and whose power-off kills every process of the node
# (tests/fixtures/cluster/{lab,bmc,node_power,node_boot}.sh, the same lab the tests use).
# The nodes fence each other through the BMCs with our fence_ipmilan.
#
# The service is the classic HA workload of the fault campaign (docs/chaos.md; its agents
# and web server in tests/fixtures/chaos/): a group `ha` = `fs` (Debian's
# ocf:heartbeat:Filesystem: an ext4 image mounted in the node's own mount namespace) ->
# `vip` (ocf:heartbeat:IPaddr2, 10.77.0.100 on ring 0) -> `web` (web.py on the VIP: every
# request's number is appended to a journal on that file system with fsync before the
# answer, which names the node that served it). Each node has its own loop device (direct
# I/O) over the one image file, as hosts see one SAN LUN: two mounts at once would be two
# superblocks, the real corruption fencing prevents. A client in its own namespace
# requests the page through the VIP every ~100 ms. The demo:
#   1. powers the three nodes on through their BMCs and waits for the page,
#   2. cuts every cluster link of the node serving it,
#   3. prints the timeline and milestones: detection, quorum decision, fencing through the
#      BMC, the group's starts on a survivor, the first page from it; the page's answers
#      (which node served them) and how long the page was unavailable,
#   4. heals the links, powers the node on through its BMC and shows it rejoin,
#   5. stops the client and the nodes, then checks: every acknowledged request is in the
#      journal exactly once, `e2fsck -fn` clean (at every start of `fs` and at the end),
#      no resource (the file system above all) ever active on two nodes at once (from the
#      resources' own log), every answer from a node whose log shows web active then. The
#      result is a JSON summary (W/summary.json, and SUMMARY=FILE); exit 1 on a violation. Everything is cleaned up by PID, loop devices detached by name.
# Needs root, `ip netns` (iproute2), ipmi_sim (openipmi), resource-agents, e2fsprogs, curl,
# python3. Nothing leaves the namespaces it creates.
# Knobs: DEADTIME (default 1s), KEEPALIVE (200ms), KEEP=1 keeps the work directory,
# SUMMARY=FILE (also write the JSON summary there),
# PALISADE_BIN / FENCE_IPMILAN (use these binaries, no build; FENCE_IPMILAN defaults to
# the fence_ipmilan next to FENCE_DUMMY when only that is given), BENCH=1 (no client;
# print only `failover_ms=N`, the cut -> `web` started on a survivor, and stop after the
# failover; bench/cluster.sh uses it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FIX=$ROOT/tests/fixtures/cluster
CHAOS=$ROOT/tests/fixtures/chaos
DEADTIME=${DEADTIME:-1s}
KEEPALIVE=${KEEPALIVE:-200ms}
P=pcd$$
NODES=(1 2 3)
VIP=10.77.0.100
CLIENT_ADDR=10.77.0.250

BENCH=${BENCH:-0}
say() { [[ $BENCH == 1 ]] || printf '\n=== %s\n' "$*"; }
show() { if [[ $BENCH == 1 ]]; then cat >/dev/null; else cat; fi; }
die() { echo "cluster_demo: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
note() { echo "$(date +%s.%3N) demo  fault    $*" >>"$W/timeline"; }

[[ $(id -u) == 0 ]] || die "needs root (network namespaces, loop devices, mounts)"
command -v ip >/dev/null || die "needs iproute2 (apt-get install iproute2)"
command -v ipmi_sim >/dev/null || die "needs ipmi_sim as the nodes' BMCs (apt-get install openipmi)"
for agent in Filesystem IPaddr2; do
    [[ -x /usr/lib/ocf/resource.d/heartbeat/$agent ]] \
        || die "needs ocf:heartbeat:$agent (apt-get install resource-agents)"
done
for tool in mkfs.ext4 e2fsck debugfs losetup curl python3; do
    command -v "$tool" >/dev/null || die "needs $tool (apt-get install e2fsprogs util-linux curl python3)"
done
[[ -e /dev/loop-control ]] || modprobe loop 2>/dev/null || die "no loop devices (/dev/loop-control)"
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

W=$(realpath "$(mktemp -d /tmp/palisade-cluster-demo.XXXXXX)")   # real: the loop devices report it so
SAN=$W/san            # the image, the mount point, the fsck log
IMG=$SAN/san.img
LOG=$W/resource.log   # every start and stop of fs, vip, web (the agents' own lines)
CLIENT_LOG=$W/client.log
declare -A LOOP=()    # node -> its loop device over $IMG
CLIENT_PID=

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
# Whether the loop device DEV is still ours (backed by our image).
our_loop() { # DEV
    [[ $(cat "/sys/block/${1#/dev/}/loop/backing_file" 2>/dev/null) == "$IMG" ]]
}
# Our loop devices that hold a mounted ext4 now (one kernel sees every node's mounts).
mounted_loops() {
    local i
    for i in "${!LOOP[@]}"; do
        [[ -e /sys/fs/ext4/${LOOP[$i]#/dev/} ]] && printf '%s ' "${LOOP[$i]}"
    done
    return 0
}

stop_client() {
    if [[ -n $CLIENT_PID ]]; then
        touch "$W/client.stop"
        for _ in $(seq 50); do kill -0 "$CLIENT_PID" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$CLIENT_PID" 2>/dev/null || true
        wait "$CLIENT_PID" 2>/dev/null || true
        CLIENT_PID=
    fi
    return 0
}

# Every daemon stopped cleanly (SIGTERM: its resources stop in order, fs unmounted last),
# then every node powered off (every process of it killed), then the kernel's last
# unmounts awaited.
stop_nodes() {
    local i p
    for i in "${NODES[@]}"; do
        if p=$(daemon_pid "$i"); then kill -TERM "$p" 2>/dev/null || true; fi
    done
    for _ in $(seq 200); do
        p=
        for i in "${NODES[@]}"; do daemon_pid "$i" >/dev/null && p=1; done
        [[ -z $p ]] && break
        sleep 0.1
    done
    for i in "${NODES[@]}"; do
        if p=$(power_pid "$i"); then kill -TERM "$p" 2>/dev/null || true; fi   # what the BMC does on power off
    done
    for i in "${NODES[@]}"; do
        for _ in $(seq 50); do power_pid "$i" >/dev/null || break; sleep 0.1; done
    done
    for _ in $(seq 100); do [[ -z $(mounted_loops) ]] && break; sleep 0.1; done
    return 0
}

cleanup() {
    set +e
    local i
    stop_client
    ip netns del "$P-cl" 2>/dev/null
    stop_nodes
    for i in "${NODES[@]}"; do bash "$FIX/bmc.sh" stop "$W" "$i"; done
    bash "$FIX/lab.sh" down "$P"
    for i in "${!LOOP[@]}"; do
        # By name, only if it is still ours (a mount not yet gone: detached when released).
        our_loop "${LOOP[$i]}" && losetup -d "${LOOP[$i]}"
    done
    if [[ ${KEEP:-0} == 1 ]]; then echo "work directory kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT

head -c 32 /dev/urandom >"$W/authkey"
: >"$LOG"
: >"$W/timeline"
for i in "${NODES[@]}"; do
    mkdir -p "$W/run$i"
    echo off >"$W/power$i"
done

# The shared disk: one ext4 image, each node's own loop device over it (direct I/O: no
# page cache of the image file sits between the nodes; each device keeps its own cache,
# as each host does).
mkdir -p "$SAN/mnt"
truncate -s 32M "$IMG"
mkfs.ext4 -q -F -L demo "$IMG"
: >"$SAN/fsck.log"
for i in "${NODES[@]}"; do
    LOOP[$i]=$(losetup -f --show --direct-io=on "$IMG") || die "losetup failed"
done
# The OCF root the nodes use: the campaign's agents next to Debian's heartbeat agents.
mkdir -p "$W/ocf/resource.d"
ln -s "$CHAOS/ocf/resource.d/chaos" "$W/ocf/resource.d/chaos"
ln -s /usr/lib/ocf/resource.d/heartbeat "$W/ocf/resource.d/heartbeat"
ln -s /usr/lib/ocf/lib "$W/ocf/lib"

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
ocf-root = "$W/ocf"
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
[options]
resource-stickiness = 100

[[primitive]]
name = "fs"
agent = "ocf:chaos:SharedFs"
params = { device = "${LOOP[$i]}", directory = "$SAN/mnt", fstype = "ext4", log = "$LOG", image = "$IMG", fsck_log = "$SAN/fsck.log", san = "$SAN" }
op = [{ name = "monitor", interval = "2s", timeout = "10s" }, { name = "start", timeout = "40s" }, { name = "stop", timeout = "10s" }]

[[primitive]]
name = "vip"
agent = "ocf:chaos:Vip"
params = { ip = "$VIP", cidr_netmask = "24", nic = "r0", arp_count = "1", arp_bg = "false", log = "$LOG" }
op = [{ name = "monitor", interval = "2s", timeout = "10s" }]

[[primitive]]
name = "web"
agent = "ocf:chaos:Web"
params = { ip = "$VIP", port = "80", directory = "$SAN/mnt", state = "$W/run$i", log = "$LOG", out = "$W/web$i.out" }
op = [{ name = "monitor", interval = "1s", timeout = "5s" }, { name = "stop", timeout = "10s" }]

[[group]]
name = "ha"
members = ["fs", "vip", "web"]
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

runs_on() { # -> the node running web now (its last start/stop/poweroff line)
    awk '$4=="web" { if ($3=="start") on[$2]=1; if ($3=="stop") on[$2]=0 } $3=="poweroff" { on[$2]=0 }
         END { for (n in on) if (on[n]) print n }' "$LOG"
}

timeline_since() { # UNIX_MS
    awk -v t="$1" '{ split($1, a, "."); if (a[1] * 1000 + a[2] >= t) print }' "$W/timeline" | sort -n -s -k1,1
}

# The first timeline line since T (ms) matching an awk condition, as "+MS  line"; the
# milliseconds also go to $W/milestones for the summary.
milestone() { # LABEL T AWK-CONDITION KEY
    local line
    line=$(timeline_since "$2" | awk "$3" | head -n 1)
    [[ -n $line ]] || { printf '  %-26s (none)\n' "$1"; return; }
    local at=${line%% *}
    local ms=$(( ${at%.*} * 1000 + 10#${at#*.} - $2 ))
    printf '  %-26s +%5d ms  %s\n' "$1" "$ms" "$(cut -d' ' -f2- <<<"$line")"
    echo "$4 $ms" >>"$W/milestones"
}
# The unix ms of the first timeline line since T matching an awk condition.
first_ms() { # T AWK-CONDITION
    local line
    line=$(timeline_since "$1" | awk "$2" | head -n 1)
    [[ -n $line ]] || return 1
    local at=${line%% *}
    echo $(( ${at%.*} * 1000 + 10#${at#*.} ))
}

# The client: its own namespace on ring 0's switch; one request every ~100 ms through the
# VIP, each number once (no retries), one line per request in $CLIENT_LOG:
#   <sent, unix ms> <seq> <HTTP code, 000 = no answer> <node that answered, or -> <answered, unix ms>
client_loop() { # VIP LOG STOPFILE
    local seq=0 t0 out body code node
    while [[ ! -e $3 ]]; do
        seq=$((seq + 1))
        t0=${EPOCHREALTIME/./}
        out=$(curl -s --connect-timeout 0.3 -m 2 -w '\n%{http_code} %header{x-node}' \
            "http://$1/req?seq=$seq" 2>/dev/null) || true
        body=${out%%$'\n'*}
        read -r code node <<<"${out##*$'\n'}"
        [[ $code == 200 && $body == "ok $seq" ]] || code=000 node=
        echo "$((t0 / 1000)) $seq ${code:-000} ${node:--} $((${EPOCHREALTIME/./} / 1000))" >>"$2"
        sleep 0.1
    done
}
start_client() {
    ip netns add "$P-cl"
    ip -n "$P-cl" link set lo up
    ip link add c0 netns "$P-cl" type veth peer name clr0 netns "$P-sw"
    ip -n "$P-sw" link set clr0 master br0
    ip -n "$P-sw" link set clr0 up
    ip -n "$P-cl" addr add "$CLIENT_ADDR/24" dev c0
    ip -n "$P-cl" link set c0 up
    : >"$CLIENT_LOG"
    ip netns exec "$P-cl" bash -c "$(declare -f client_loop); client_loop $VIP $CLIENT_LOG $W/client.stop" &
    CLIENT_PID=$!
}
# The page's answers as runs: "requests A-B  answered by nodeX / no answer  (sent from
# S to E, in seconds from the cut)".
answer_runs() {
    awk -v t="$CUT" '
        function run() { printf "  requests %4s-%-4s  %-19s (sent %+6.2f s .. %+6.2f s)\n", from, prev, last, (t0 - t) / 1000, (t1 - t) / 1000 }
        { who = ($3 == "200") ? "answered by " $4 : "no answer"
          if (who != last && NR > 1) run()
          if (who != last) { from = $2; t0 = $1 }
          last = who; prev = $2; t1 = $1 }
        END { if (NR) run() }' "$CLIENT_LOG"
}
answered_by() { # NODE: whether an answer from NODE came after the cut
    awk -v n="$1" -v t="$CUT" '$3 == "200" && $4 == n && $5 >= t { f = 1 } END { exit !f }' "$CLIENT_LOG"
}

say "a 3-node cluster in namespaces $P-n1..3 (rings 10.77.0.0/24, 10.77.1.0/24), BMCs on 10.78.0.0/24"
bash "$FIX/lab.sh" up "$P" 3 2
for i in "${NODES[@]}"; do
    write_node "$i"
    bash "$FIX/bmc.sh" start "$W" "$i" "$P"
done
echo "BMCs (ipmi_sim) listening on $(for i in "${NODES[@]}"; do printf '%s:623 ' "$(bmc_addr "$i")"; done)" | show
dio() { [[ $(cat "/sys/block/${1#/dev/}/loop/dio" 2>/dev/null) == 1 ]] && echo "direct I/O" || echo "buffered: no O_DIRECT here"; }
echo "shared disk: $IMG (ext4, 32 MiB); each node its own loop device over it:$(for i in "${NODES[@]}"; do printf ' node%s %s (%s)' "$i" "${LOOP[$i]}" "$(dio "${LOOP[$i]}")"; done)" | show
echo "service: group ha = fs (ext4 on the node's loop device) -> vip ($VIP) -> web (port 80)" | show
T0=$(now_ms)
for i in "${NODES[@]}"; do
    echo "node$i: $(bmc "$i" on)" | show   # the BMC boots the node: its daemon starts
done
web_up() { first_ms "$T0" '/ resource / && / web started in /' >/dev/null; }
wait_for 40 web_up || die "the service never started (see $W/node*.out, $W/timeline)"
OWNER=$(runs_on)
[[ -n $OWNER ]] || die "no node runs web (see $LOG)"
echo "service runs on: $OWNER (after $(( $(now_ms) - T0 )) ms)" | show
timeline_since "$T0" | show

VICTIM=${OWNER#node}
if [[ $BENCH == 1 ]]; then
    # ipmi_sim acts on a power-off at its next one-second tick: cut at a random phase of
    # that tick, so that runs sample its 0-1 s evenly instead of one fixed delay.
    sleep "1.$(printf '%03d' $((RANDOM % 1000)))"
else
    say "a client in namespace $P-cl ($CLIENT_ADDR) requests http://$VIP/req?seq=N every ~100 ms"
    start_client
    first_page() { grep -q ' 200 ' "$CLIENT_LOG"; }
    wait_for 10 first_page || die "the client got no page (see $CLIENT_LOG)"
    sleep 1
fi
say "cutting every cluster link of node$VICTIM (ip link set down in its namespace; its BMC stays reachable)"
CUT=$(now_ms)
bash "$FIX/lab.sh" cut "$P" "$VICTIM"
note "every cluster link of node$VICTIM cut"
web_elsewhere() { first_ms "$CUT" "/ resource / && / web started in / && \$2 != \"node$VICTIM\"" >/dev/null; }
wait_for 60 web_elsewhere || die "the service did not move (see $W/timeline)"
START_MS=$(first_ms "$CUT" "/ resource / && / web started in / && \$2 != \"node$VICTIM\"")
SURVIVOR=$(timeline_since "$CUT" | awk "/ resource / && / web started in / && \$2 != \"node$VICTIM\" { print \$2; exit }")
# What the power-off did beyond the processes: the victim's addresses are gone with it.
if [[ $(cat "$W/power$VICTIM") == off ]]; then
    ip -n "$P-n$VICTIM" addr del "$VIP/24" dev r0 2>/dev/null && note "node$VICTIM is off: its VIP is gone with its power"
fi
if [[ $BENCH == 1 ]]; then
    [[ $(cat "$W/power$VICTIM") == off ]] || die "node$VICTIM was not powered off"
    echo "failover_ms=$(( START_MS - CUT ))"
    exit 0
fi
wait_for 10 answered_by "$SURVIVOR" || die "no page from $SURVIVOR (see $CLIENT_LOG)"
sleep 0.5
say "timeline after the cut (all nodes and BMCs, merged)"
timeline_since "$CUT"
say "milestones (from the cut)"
: >"$W/milestones"
milestone "detection" "$CUT" "/ detect / && / node$VICTIM dead/" detection
milestone "quorum decision" "$CUT" "/ quorum / && \$2 != \"node$VICTIM\"" quorum
milestone "fence request" "$CUT" "/ fence / && / request /" fence_request
milestone "BMC cuts the power" "$CUT" "/^[0-9.]+ bmc$VICTIM power chassis off:/" power_off
milestone "fence confirmed" "$CUT" "/ fence / && / node$VICTIM fenced/" fenced
milestone "fs started (survivor)" "$CUT" "/ resource / && / fs started in / && \$2 != \"node$VICTIM\"" fs_started
milestone "vip started (survivor)" "$CUT" "/ resource / && / vip started in / && \$2 != \"node$VICTIM\"" vip_started
milestone "web started (survivor)" "$CUT" "/ resource / && / web started in / && \$2 != \"node$VICTIM\"" web_started
FIRST_AFTER=$(awk -v n="$SURVIVOR" -v t="$CUT" '$3 == "200" && $4 == n && $5 >= t { print; exit }' "$CLIENT_LOG")
read -r _ seq _ _ at <<<"$FIRST_AFTER"
printf '  %-26s +%5d ms  request %s answered by %s\n' "first page (survivor)" $(( at - CUT )) "$seq" "$SURVIVOR"
echo "first_page $(( at - CUT ))" >>"$W/milestones"
echo "  (ipmi_sim acts on a power-off request at its next one-second tick: 0-1 s of the above;"
echo "   fs checks the image (e2fsck -fn on a copy) before it mounts)"
echo "power of node$VICTIM per its BMC: $(bmc "$VICTIM" status)"
echo "failover time (link cut -> web started on $SURVIVOR): $(( START_MS - CUT )) ms"
say "the page's answers (client in $P-cl)"
answer_runs
awk -v t="$CUT" -v n="$SURVIVOR" '
    $3 == "200" && $5 < t { last = $5 }
    $3 == "200" && $5 >= t && $4 == n && !first { first = $5 }
    END { printf "page unavailable for %d ms (last answer before the cut -> first answer from %s)\n", first - last, n }
' "$CLIENT_LOG"

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
REJOINED=true
wait_for 20 rejoined || REJOINED=false
sleep 1
timeline_since "$HEAL"
[[ $REJOINED == true ]] || echo "node$VICTIM did NOT rejoin"
echo "service runs on: $(runs_on); the page meanwhile:"
awk -v t="$HEAL" '$1 >= t' "$CLIENT_LOG" >"$W/client.after-heal"
CLIENT_LOG=$W/client.after-heal answer_runs

say "stopping the client and the nodes (SIGTERM: each stops its resources), then checking"
stop_client
stop_nodes
[[ -z $(mounted_loops) ]] || echo "WARNING: still mounted: $(mounted_loops)"
# The image as the next owner would find it: a copy, its journal replayed, then checked.
cp --sparse=always "$IMG" "$SAN/final.img"
e2fsck -E journal_only -y "$SAN/final.img" >/dev/null 2>&1 || true
FSCK_RC=0
e2fsck -fn "$SAN/final.img" >"$SAN/final-fsck.txt" 2>&1 || FSCK_RC=$?
debugfs -R "cat /journal" "$SAN/final.img" >"$SAN/journal" 2>/dev/null || true
CHECK_RC=0
python3 - "$W" "$CUT" "node$VICTIM" "$SURVIVOR" "$(( START_MS - CUT ))" "$FSCK_RC" "$REJOINED" \
    "${SUMMARY:-}" <<'PY' || CHECK_RC=$?
"""The demo's checks, from the logs: printed, and written as $W/summary.json."""
import json
import sys

w, cut, victim, survivor, failover, fsck_rc, rejoined, extra = sys.argv[1:]
cut, failover, fsck_rc = int(cut), int(failover), int(fsck_rc)

def lines(path):
    with open(path) as f:
        return [l.split() for l in f if l.strip()]

def ms(stamp):
    sec, _, frac = stamp.partition(".")
    return int(sec) * 1000 + int(frac or 0)

# Requests: <sent> <seq> <code> <node> <answered>
reqs = [(int(a), int(s), c, n, int(b)) for a, s, c, n, b in lines(f"{w}/client.log")]
acked = [r for r in reqs if r[2] == "200"]
by_node = {}
for r in acked:
    by_node[r[3]] = by_node.get(r[3], 0) + 1
before = [r for r in acked if r[4] < cut]
after = [r for r in acked if r[4] >= cut]
last_before = before[-1][4] if before else None
first_after = next((r[4] for r in after if r[3] == survivor), None)
unavailable = first_after - last_before if first_after and last_before else None

# The journal on the image: "<seq> <node>" per acknowledged-or-not request.
journal = {}
for parts in lines(f"{w}/san/journal"):
    if parts and parts[0].isdigit():
        journal[int(parts[0])] = journal.get(int(parts[0]), 0) + 1
missing = sorted(r[1] for r in acked if r[1] not in journal)
twice = sorted(s for s, k in journal.items() if k > 1)

# The resources' own log: "<time> <node> start|stop <resource>", "<time> <node> poweroff 0".
active = {}      # (resource, node) -> since
overlaps = {"fs": [], "vip": [], "web": []}
web_instances = []   # (node, from, to): web active there, from its start to its end
for parts in lines(f"{w}/resource.log"):
    t, node, what = ms(parts[0]), parts[1], parts[2]
    ended = []
    if what == "poweroff":
        ended = [k for k in active if k[1] == node]
    elif what in ("start", "stop"):
        res = parts[3]
        if what == "start":
            others = [n for (r, n) in active if r == res and n != node]
            if others and (res, node) not in active:
                overlaps.setdefault(res, []).append(
                    {"at": t, "node": node, "while_active_on": others})
            active.setdefault((res, node), t)
        elif (res, node) in active:
            ended = [(res, node)]
    for key in ended:
        since = active.pop(key)
        if key[0] == "web":
            web_instances.append((key[1], since, t))
web_instances += [(n, since, None) for (r, n), since in active.items() if r == "web"]

# Every answer came from a node whose log says web was active then (between the request
# sent and the answer received): the agents' log tells the truth, no server outlived its stop.
def logged_active(node, sent, answered):
    return any(n == node and a <= answered and (b is None or b >= sent)
               for n, a, b in web_instances)
unlogged = [{"seq": r[1], "node": r[3], "answered": r[4]}
            for r in acked if not logged_active(r[3], r[0], r[4])]

# chaos:SharedFs's checks before every start: "<time> <node> fsck <rc>", "mounted_elsewhere".
fsck_starts, mounted_elsewhere = [], 0
for parts in lines(f"{w}/san/fsck.log"):
    if parts[2] == "fsck":
        fsck_starts.append({"node": parts[1], "rc": int(parts[3])})
    elif parts[2] == "mounted_elsewhere":
        mounted_elsewhere += 1

milestones = {k: int(v) for k, v in lines(f"{w}/milestones")}
fs_two = len(overlaps["fs"]) + mounted_elsewhere
ok = (not missing and not twice and fsck_rc == 0 and all(f["rc"] == 0 for f in fsck_starts)
      and not any(overlaps.values()) and mounted_elsewhere == 0 and bool(acked) and not unlogged
      and rejoined == "true" and first_after is not None)
summary = {
    "ok": ok,
    "victim": victim,
    "survivor": survivor,
    "failover_ms": failover,
    "milestones_ms": milestones,
    "requests": {
        "sent": len(reqs),
        "acknowledged": len(acked),
        "by_node": by_node,
        "served_before_cut": sorted({r[3] for r in before}),
        "served_after_cut": sorted({r[3] for r in after}),
    },
    "unavailable_ms": unavailable,
    "journal": {"entries": sum(journal.values()), "acknowledged_missing": missing,
                "recorded_twice": twice},
    "fsck": {"final_rc": fsck_rc, "at_starts": fsck_starts},
    "two_nodes_at_once": {"overlaps": overlaps, "mounted_elsewhere": mounted_elsewhere},
    "answers_outside_logged_instances": unlogged,
    "rejoined": rejoined == "true",
}
text = json.dumps(summary, indent=2) + "\n"
for path in [f"{w}/summary.json"] + ([extra] if extra else []):
    with open(path, "w") as f:
        f.write(text)

print(f"requests: {len(reqs)} sent, {len(acked)} acknowledged "
      f"({', '.join(f'{n} {k}' for n, k in sorted(by_node.items()))})")
print(f"journal: {sum(journal.values())} entries; acknowledged but missing: {len(missing)}"
      f"{' ' + str(missing[:10]) if missing else ''}; recorded twice: {len(twice)}"
      f"{' ' + str(twice[:10]) if twice else ''}")
print(f"e2fsck -fn: {len(fsck_starts)} check(s) before the starts of fs, exit codes "
      f"{sorted({f['rc'] for f in fsck_starts})}; the image at the end: exit {fsck_rc}")
print(f"two nodes at once (resource log): fs {fs_two}, vip {len(overlaps['vip'])}, "
      f"web {len(overlaps['web'])}")
print(f"answers from a node whose log did not show web active then: {len(unlogged)}"
      f"{' ' + str(unlogged[:5]) if unlogged else ''}")
print("all checks passed" if ok else "CHECKS FAILED")
sys.exit(0 if ok else 1)
PY
echo "summary: $W/summary.json${SUMMARY:+ and $SUMMARY}"
say "done; powering the nodes off, stopping the BMCs, deleting the namespaces, detaching the loop devices"
exit "$CHECK_RC"
