#!/usr/bin/env bash
# Benchmark: our fence_apc_snmp / fence_ifmib vs ClusterLabs' (which fork net-snmp's
# snmpget/snmpwalk per call) vs one bare snmpget, all against one snmpd
# (tests/fixtures/snmp_pdu.sh) on 127.0.0.1.
#
#   bash bench/snmp.sh            (BENCH_RUNS=N to change the 20 runs per case)
#
# Prints the median wall time (ms) of `-o status` per tool and protocol version, and the
# ratios ours/ClusterLabs beside the target (<= 1/20). No assertions: numbers only.
# Not part of the test suite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${BENCH_RUNS:-20}
PORT=${BENCH_PORT:-18590}
DIR=/tmp/palisade-bench-snmpd
APC=${BENCH_APC:-target/release/fence_apc_snmp}
IFMIB=${BENCH_IFMIB:-target/release/fence_ifmib}
FIXTURE=tests/fixtures/snmp_pdu.sh
export SNMP_PORT=$PORT SNMP_DIR=$DIR

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for p in snmpd snmp fence-agents; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        [[ $(id -u) == 0 ]] || die "package $p missing; run as root"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q && apt-get install -y -q --no-install-recommends "$p"
    fi
done
if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
if [[ -z ${BENCH_APC:-} ]]; then
    command -v cargo >/dev/null || die "cargo not found"
    cargo build --release --locked -p fence-agents --bin fence_apc_snmp --bin fence_ifmib >&2
fi
[[ -x $APC && -x $IFMIB ]] || die "$APC or $IFMIB missing"

trap 'bash "$FIXTURE" stop >/dev/null' EXIT
bash "$FIXTURE" start >/dev/null

addr=(-a 127.0.0.1 -u "$PORT")
v1=("${addr[@]}" -n 3)
v2c=("${addr[@]}" -d 2c -c private -n 3)
v3=("${addr[@]}" -d 3 -l fenceuser -p authpass123 -b SHA -E authPriv -B AES -P privpass123 -n 3)
snmpget_cmd=(snmpget -m '' -On -v2c -c private "127.0.0.1:$PORT" .1.3.6.1.2.1.2.2.1.7.3)

# time_ms <cmd...>: wall time of one run in ms (bash's clock, no extra fork)
time_ms() {
    local t0=$EPOCHREALTIME t1 rc=0
    "$@" >/dev/null 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    # status of an outlet that is on is 0; anything else means the run is not comparable
    ((rc == 0)) || die "'$*' exited $rc"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
}

# median_ms <cmd...>: one warm-up, then RUNS timed runs
median_ms() {
    "$@" >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < RUNS; i++)); do time_ms "$@"; done |
        sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f\n", m }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo "runs per case: $RUNS   agent: snmpd $(snmpd -v 2>/dev/null | awk '/version/ {print $NF; exit}') on udp 127.0.0.1:$PORT (pass_persist backend)"
echo "ours:   $APC, $IFMIB"
echo "theirs: /usr/sbin/fence_apc_snmp, /usr/sbin/fence_ifmib ($(dpkg-query -W -f='${Version}' fence-agents))"
echo

printf '%-40s %10s %12s %8s\n' "median wall time of status (ms)" ours ClusterLabs ratio
row() {
    local name=$1 ours theirs
    shift
    local agent=$1
    shift
    ours=$(median_ms "target/release/$agent" "$@")
    theirs=$(median_ms "/usr/sbin/$agent" "$@")
    printf '%-40s %10s %12s %8s\n' "$name" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
}
row "fence_apc_snmp v1 (rPDU)" fence_apc_snmp "${v1[@]}" -o status
row "fence_apc_snmp v2c" fence_apc_snmp "${v2c[@]}" -o status
row "fence_apc_snmp v3 authPriv SHA/AES" fence_apc_snmp "${v3[@]}" -o status
row "fence_ifmib v2c" fence_ifmib "${v2c[@]}" -o status
row "fence_ifmib v3 authPriv SHA/AES" fence_ifmib "${v3[@]}" -o status
printf '%-40s %10s\n' "one bare snmpget (v2c)" "$(median_ms "${snmpget_cmd[@]}")"
echo
echo "target: status ours/ClusterLabs <= 0.050 (1/20)"
