#!/usr/bin/env bash
# Benchmark: our fence_apc_snmp / fence_ifmib vs ClusterLabs' (which fork net-snmp's
# snmpget/snmpwalk per call) vs one bare snmpget, all against one snmpd
# (tests/fixtures/snmp_pdu.sh) on 127.0.0.1.
#
#   bash bench/snmp.sh            (BENCH_RUNS=N to change the 20 runs per case)
#
# Prints the median wall time (ms) of `-o status` per tool and protocol version, and the
# ratios ours/ClusterLabs beside the target (<= 1/20); then how long each gives up on
# refused credentials (BENCH_FAIL_RUNS=N, default 5): a silent peer at login_timeout, a
# USM report at once (the tests check the outcome, these numbers the time). No
# assertions: numbers only.
# Not part of the test suite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-20}
FAIL_RUNS=${BENCH_FAIL_RUNS:-5}
PORT=${BENCH_PORT:-18590}
DIR=/tmp/palisade-bench-snmpd
APC=${BENCH_APC:-target/release/fence_apc_snmp}
IFMIB=${BENCH_IFMIB:-target/release/fence_ifmib}
FIXTURE=tests/fixtures/snmp_pdu.sh
export SNMP_PORT=$PORT SNMP_DIR=$DIR

need_packages snmpd snmp fence-agents
if [[ -z ${BENCH_APC:-} ]]; then
    build_release -p fence-agents --bin fence_apc_snmp --bin fence_ifmib
fi
[[ -x $APC && -x $IFMIB ]] || die "$APC or $IFMIB missing"

trap 'bash "$FIXTURE" stop >/dev/null' EXIT
bash "$FIXTURE" start >/dev/null

addr=(-a 127.0.0.1 -u "$PORT")
v1=("${addr[@]}" -n 3)
v2c=("${addr[@]}" -d 2c -c private -n 3)
v3=("${addr[@]}" -d 3 -l fenceuser -p authpass123 -b SHA -E authPriv -B AES -P privpass123 -n 3)
snmpget_cmd=(snmpget -m '' -On -v2c -c private "127.0.0.1:$PORT" .1.3.6.1.2.1.2.2.1.7.3)

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
printf '%-40s %10s %12s %8s\n' "median time to fail (ms)" ours ClusterLabs ratio
fail_row() {
    local name=$1 ours theirs
    shift
    local agent=$1
    shift
    ours=$(median_fail_ms 1 "target/release/$agent" "$@")
    theirs=$(median_fail_ms 1 "/usr/sbin/$agent" "$@")
    printf '%-40s %10s %12s %8s\n' "$name" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
}
fail_row "wrong community, login_timeout 1.5 s" fence_apc_snmp "${addr[@]}" -d 2c -c wrong -n 3 \
    --login-timeout 1.5 -o status
fail_row "wrong v3 auth password (USM report)" fence_apc_snmp "${addr[@]}" -d 3 -l fenceuser \
    -p wrongpass123 -b SHA -E authPriv -B AES -P privpass123 -n 3 -o status

echo
echo "target: status ours/ClusterLabs <= 0.050 (1/20); a refusal fails at once, silence at login_timeout"
