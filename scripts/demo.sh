#!/usr/bin/env bash
# palisade demo: fence a (simulated) server end to end with our fence_ipmilan.
#
#   bash scripts/demo.sh        (Debian 12, as root; installs what it needs: DEMO_PACKAGES)
#
# It builds the release agent, starts OpenIPMI's ipmi_sim as a BMC on 127.0.0.1 (the
# committed fixture tests/fixtures/ipmi_sim.sh), then: status -> reboot -> status, each
# with the agent's output and exit code, ipmitool's independent reading and the BMC's
# own log of what it was asked to do. The simulator is stopped by its PID at the end.
# Nothing leaves the loopback interface; no real machine is touched.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# ---- demo settings (override through the environment) ------------------------------
DEMO_ADDR=127.0.0.1
DEMO_PORT=${DEMO_PORT:-16623}
DEMO_USER=${DEMO_USER:-admin}
DEMO_PASS=${DEMO_PASS:-demo-secret}
DEMO_DIR=${DEMO_DIR:-/tmp/palisade-demo-bmc}
# The cluster part (scripts/cluster_demo.sh) also needs namespaces (iproute2) and its
# workload: Debian's Filesystem and IPaddr2 agents, ext4 tools, curl, python3.
DEMO_PACKAGES="openipmi ipmitool gcc libc6-dev iproute2 resource-agents e2fsprogs curl python3"

# DEMO_AGENT=<path> runs another agent instead (e.g. /usr/sbin/fence_ipmilan) and skips the build.
AGENT=${DEMO_AGENT:-target/release/fence_ipmilan}
FIXTURE=tests/fixtures/ipmi_sim.sh
export IPMISIM_ADDR=$DEMO_ADDR IPMISIM_PORT=$DEMO_PORT IPMISIM_USER=$DEMO_USER \
    IPMISIM_PASS=$DEMO_PASS IPMISIM_DIR=$DEMO_DIR IPMISIM_POWER=1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# ---- 1. prerequisites --------------------------------------------------------------
say "1. prerequisites"
missing=()
for p in $DEMO_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "missing packages ${missing[*]}; run as root"
    echo "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "present: $DEMO_PACKAGES"
fi
if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
command -v cargo >/dev/null || die "cargo not found: install Rust >= 1.80 (https://rustup.rs)"

# ---- 2. build ----------------------------------------------------------------------
say "2. building the release agent (cargo build --release -p fence-agents --bin fence_ipmilan)"
if [[ -n ${DEMO_AGENT:-} ]]; then
    echo "DEMO_AGENT set: using $AGENT, not building"
else
    cargo build --release --locked -p fence-agents --bin fence_ipmilan --bin fence_dummy
    cargo build --release --locked -p palisade --bin palisade
fi
ls -l "$AGENT"

# ---- 3. simulated BMC ----------------------------------------------------------------
say "3. starting a simulated BMC (ipmi_sim) on $DEMO_ADDR:$DEMO_PORT, power initially ON"
stop_bmc() {
    local pid
    pid=$(cat "$DEMO_DIR/ipmi_sim.pid" 2>/dev/null || true)
    if [[ -n $pid ]]; then
        bash "$FIXTURE" stop
        echo "simulator PID $pid stopped"
    fi
}
trap stop_bmc EXIT
bash "$FIXTURE" start
BMC_PID=$(cat "$DEMO_DIR/ipmi_sim.pid")

ipmitool_view() {
    ipmitool -I lanplus -C 3 -H "$DEMO_ADDR" -p "$DEMO_PORT" -U "$DEMO_USER" -P "$DEMO_PASS" \
        chassis power status 2>&1 || true
}
log_lines_seen=0
bmc_log() {
    # Only the requests since the previous call; drop the timestamp column.
    local lines
    mapfile -t lines < "$DEMO_DIR/actions.log"
    if ((${#lines[@]} > log_lines_seen)); then
        printf '%s\n' "${lines[@]:log_lines_seen}" | awk '{ $1 = ""; print "     " $0 }'
    else
        echo "      (no requests)"
    fi
    log_lines_seen=${#lines[@]}
}

declare -A rc_of ms_of
# run_agent <label> <how> : runs the agent, argv from the rest of the line, or stdin
run_agent() {
    local label=$1 how=$2
    shift 2
    local t0 rc=0
    t0=$(date +%s%N)
    if [[ $how == argv ]]; then
        echo "\$ $AGENT $*" | sed "s/$DEMO_PASS/****/"
        "$AGENT" "$@" 2>"$DEMO_DIR/agent.err" >"$DEMO_DIR/agent.out" || rc=$?
    else
        echo "\$ $AGENT  <<stdin (as pacemaker-fenced passes it)"
        sed 's/^password=.*/password=****/; s/^/    /' <<<"$1"
        "$AGENT" <<<"$1" 2>"$DEMO_DIR/agent.err" >"$DEMO_DIR/agent.out" || rc=$?
    fi
    rc_of[$label]=$rc
    ms_of[$label]=$(ms_since "$t0")
    echo "  agent stdout : $(tr '\n' ' ' <"$DEMO_DIR/agent.out")"
    if [[ -s $DEMO_DIR/agent.err ]]; then
        echo "  agent stderr : $(tr '\n' ' ' <"$DEMO_DIR/agent.err")"
    fi
    echo "  exit code    : $rc   (${ms_of[$label]} ms)"
    echo "  BMC log      : (what the BMC was asked to do)"
    bmc_log
    echo "  ipmitool     : $(ipmitool_view)   (independent reading)"
    log_lines_seen=$(wc -l <"$DEMO_DIR/actions.log")
}

common=(--ip="$DEMO_ADDR" --ipport="$DEMO_PORT" --username="$DEMO_USER" --password="$DEMO_PASS"
    --lanplus --cipher=3)

say "4. status (argv)"
run_agent status-before argv "${common[@]}" --action=status

say "5. reboot (stdin, the way pacemaker-fenced calls agents)"
run_agent reboot stdin "action=reboot
nodename=node1
port=node1
ip=$DEMO_ADDR
ipport=$DEMO_PORT
username=$DEMO_USER
password=$DEMO_PASS
lanplus=1
cipher=3
power_wait=1"

say "6. status again (argv)"
run_agent status-after argv "${common[@]}" --action=status

# ---- the fencer: palisade daemon on its embedded default configuration ---------------
PALISADE=${DEMO_PALISADE:-target/release/palisade}
if [[ -x $PALISADE && -z ${DEMO_AGENT:-} ]]; then
    say "7. palisade daemon on its embedded default config (level 1 = this BMC, level 2 = a dummy PDU)"
    "$PALISADE" daemon --show-default-config | grep -v '^#' | grep -v '^$' | sed 's/demo-secret/****/; s/^/    /'
    mkdir -p /run/palisade /var/lib/palisade
    echo on > /run/palisade/demo-node1.power
    "$PALISADE" daemon 2>"$DEMO_DIR/daemon.log" &
    DAEMON_PID=$!
    stop_daemon() { kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null; echo "daemon PID $DAEMON_PID stopped"; }
    trap 'stop_daemon; stop_bmc' EXIT
    for _ in $(seq 50); do [[ -S /run/palisade/fencer.sock ]] && break; sleep 0.1; done
    echo "\$ palisade query node1"
    "$PALISADE" query node1 | sed 's/^/    /'
    log_lines_seen=$(wc -l <"$DEMO_DIR/actions.log")

    say "8. palisade fence node1 (reboot through level 1, the BMC)"
    t0=$(date +%s%N)
    "$PALISADE" fence node1 --action reboot | sed 's/^/    /' && rc_of[fencer-bmc]=0 || rc_of[fencer-bmc]=$?
    ms_of[fencer-bmc]=$(ms_since "$t0")
    echo "  exit code    : ${rc_of[fencer-bmc]}   (${ms_of[fencer-bmc]} ms)"
    echo "  BMC log      :"
    bmc_log

    say "9. the BMC dies; palisade fence node1 --action off falls back to level 2"
    trap 'stop_daemon' EXIT
    stop_bmc
    t0=$(date +%s%N)
    "$PALISADE" fence node1 --action off | sed 's/^/    /' && rc_of[fencer-pdu]=0 || rc_of[fencer-pdu]=$?
    ms_of[fencer-pdu]=$(ms_since "$t0")
    echo "  exit code    : ${rc_of[fencer-pdu]}   (${ms_of[fencer-pdu]} ms)"
    echo "  PDU power    : $(cat /run/palisade/demo-node1.power)   (the dummy PDU's outlet)"
    echo "\$ palisade history node1 --limit 2"
    "$PALISADE" history node1 --limit 2 | sed 's/^/    /'
    trap - EXIT
    stop_daemon
else
    say "7. stopping the simulator (PID $BMC_PID)"
    trap - EXIT
    stop_bmc
    rc_of[fencer-bmc]=0
    rc_of[fencer-pdu]=0
fi
if kill -0 "$BMC_PID" 2>/dev/null; then echo "WARNING: PID $BMC_PID still alive"; fi

# ---- the cluster: three palisade nodes in network namespaces --------------------------
rc_of[cluster]=skipped
if [[ -z ${DEMO_AGENT:-} && -x $PALISADE ]] && ip netns list >/dev/null 2>&1; then
    say "10. a 3-node palisade cluster in network namespaces: cut the node serving the page (ext4 + VIP + web)"
    if PALISADE_BIN=$PALISADE FENCE_DUMMY=target/release/fence_dummy bash scripts/cluster_demo.sh; then
        rc_of[cluster]=0
    else
        rc_of[cluster]=$?
    fi
fi

say "summary"
printf '  %-14s exit %-3s %6s ms   (expect exit 0, "Status: ON")\n' status-before \
    "${rc_of[status-before]}" "${ms_of[status-before]}"
printf '  %-14s exit %-3s %6s ms   (expect exit 0, "Success: Rebooted"; BMC saw power 0 then 1)\n' \
    reboot "${rc_of[reboot]}" "${ms_of[reboot]}"
printf '  %-14s exit %-3s %6s ms   (expect exit 0, "Status: ON")\n' status-after \
    "${rc_of[status-after]}" "${ms_of[status-after]}"
printf '  %-14s exit %-3s %6s ms   (expect exit 0: fenced through level 1, the BMC)\n' \
    fencer-bmc "${rc_of[fencer-bmc]}" "${ms_of[fencer-bmc]:-}"
printf '  %-14s exit %-3s %6s ms   (expect exit 0: BMC down, fenced through level 2)\n' \
    fencer-pdu "${rc_of[fencer-pdu]}" "${ms_of[fencer-pdu]:-}"
printf '  %-14s exit %-3s            (expect exit 0: fenced before failover; the page moved; every acknowledged request journaled once, fsck clean, one mount at a time)\n' \
    cluster "${rc_of[cluster]}"
if [[ ${rc_of[status-before]} == 0 && ${rc_of[reboot]} == 0 && ${rc_of[status-after]} == 0 \
    && ${rc_of[fencer-bmc]} == 0 && ${rc_of[fencer-pdu]} == 0 && ${rc_of[cluster]} =~ ^(0|skipped)$ ]]; then
    echo "  the simulated node was fenced by $AGENT, then by the palisade fencer (BMC, then PDU fallback)"
else
    echo "  something failed: see the output above"
    exit 1
fi
