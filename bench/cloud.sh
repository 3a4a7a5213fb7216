#!/usr/bin/env bash
# Benchmark: our fence_cisco_mds, fence_aws and fence_xvm vs ClusterLabs' agents of the same
# names, each pair against the same peer:
#   fence_cisco_mds  snmpd + the Cisco MDS backend (tests/fixtures/snmp_pdu.sh, SW_KIND=fc)
#   fence_aws        moto's EC2 server (tests/fixtures/moto_aws.sh) in a namespace of ours
#                    (loopback only, no route out; our agent gets --endpoint-url)
#   fence_xvm        Debian's fence_virtd on libvirt's test driver
#                    (tests/fixtures/fence_virtd.sh) in a namespace of ours (multicast on lo)
#   fence_virt       a second fence_virtd with its TCP listener (-T 127.0.0.1) in the same
#                    namespace
#
#   bash bench/cloud.sh            (BENCH_RUNS=N to change the 20 runs per case)
#
# Prints the median wall time (ms) of `-o status` and the peak RSS (KiB) per agent, and
# the ratios ours/ClusterLabs beside the targets (time <= 1/10, RSS <= 1/4). The namespace
# cases run every command through `ip netns exec`; its own cost is printed as a baseline.
# No assertions: numbers only. Not part of the test suite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-20}
DIR=/tmp/palisade-bench-cloud
RSS_FILE=$DIR/rss
BIN=${BENCH_BIN:-target/release}
NS_AWS=pal-bench-aws
NS_XVM=pal-bench-xvm
mkdir -p "$DIR"

need_packages snmpd snmp fence-agents fence-virtd fence-virt libvirt-daemon libvirt-clients
if [[ -z ${BENCH_BIN:-} ]]; then
    build_release -p fence-agents --bin fence_cisco_mds --bin fence_aws --bin fence_xvm \
        --bin fence_virt
fi

cleanup() {
    SNMP_PORT=18591 SNMP_DIR=$DIR/snmpd bash tests/fixtures/snmp_pdu.sh stop >/dev/null 2>&1 || true
    MOTO_DIR=$DIR/moto MOTO_NETNS=$NS_AWS bash tests/fixtures/moto_aws.sh stop >/dev/null 2>&1 || true
    FVD_DIR=$DIR/fvd FVD_NETNS=$NS_XVM bash tests/fixtures/fence_virtd.sh stop >/dev/null 2>&1 || true
    FVD_DIR=$DIR/fvd-tcp FVD_NETNS=$NS_XVM bash tests/fixtures/fence_virtd.sh stop >/dev/null 2>&1 || true
    ip netns del "$NS_AWS" 2>/dev/null || true
    ip netns del "$NS_XVM" 2>/dev/null || true
}
trap cleanup EXIT
cleanup

row_header() {
    printf '%-34s %9s %11s %7s %10s %12s %7s\n' "status" "ours ms" "theirs ms" ratio \
        "ours KiB" "theirs KiB" ratio
}
row() {  # row NAME OURS_CMD... -- THEIRS_CMD...
    local name=$1; shift
    local ours=() theirs=()
    while [[ $1 != -- ]]; do ours+=("$1"); shift; done
    shift
    theirs=("$@")
    local ot tt orss trss
    ot=$(median_ms "${ours[@]}")
    tt=$(median_ms "${theirs[@]}")
    orss=$(peak_rss_kb "${ours[@]}")
    trss=$(peak_rss_kb "${theirs[@]}")
    printf '%-34s %9s %11s %7s %10s %12s %7s\n' "$name" "$ot" "$tt" "$(ratio "$ot" "$tt")" \
        "$orss" "$trss" "$(ratio "$orss" "$trss")"
}

echo "runs per case: $RUNS   ours: $BIN/fence_*   theirs: /usr/sbin/fence_* (fence-agents $(dpkg-query -W -f='${Version}' fence-agents), fence-virt $(dpkg-query -W -f='${Version}' fence-virt))"
echo
row_header

# fence_cisco_mds
SNMP_PORT=18591 SNMP_DIR=$DIR/snmpd SW_KIND=fc \
    SNMP_SYSOBJECTID=.1.3.6.1.4.1.9.12.3.1.3.719 bash tests/fixtures/snmp_pdu.sh start >/dev/null
mds=(-a 127.0.0.1 -u 18591 -d 2c -c private -n fc1/3 -o status)
row "fence_cisco_mds (snmpd v2c)" "$BIN/fence_cisco_mds" "${mds[@]}" -- /usr/sbin/fence_cisco_mds "${mds[@]}"

# fence_aws
ip netns add "$NS_AWS"; ip -n "$NS_AWS" link set lo up
MOTO_DIR=$DIR/moto MOTO_NETNS=$NS_AWS bash tests/fixtures/moto_aws.sh start >/dev/null
node1=$(awk '$1=="node1"{print $2}' "$DIR/moto/instances")
mapfile -t aws_env < <(MOTO_DIR=$DIR/moto bash tests/fixtures/moto_aws.sh env)
in_aws=(ip netns exec "$NS_AWS" env -u AWS_CA_BUNDLE "${aws_env[@]}" HOME="$DIR/moto")
keys=(--region=us-east-1 --access-key=testing --secret-key=testing -n "$node1" -o status)
row "fence_aws (moto, in netns)" "${in_aws[@]}" "$BIN/fence_aws" --endpoint-url=http://127.0.0.1:15500 "${keys[@]}" \
    -- "${in_aws[@]}" /usr/sbin/fence_aws "${keys[@]}"

# fence_xvm
ip netns add "$NS_XVM"
ip -n "$NS_XVM" link set lo multicast on; ip -n "$NS_XVM" link set lo up
ip -n "$NS_XVM" route add 224.0.0.0/4 dev lo
FVD_DIR=$DIR/fvd FVD_NETNS=$NS_XVM bash tests/fixtures/fence_virtd.sh start >/dev/null
xvm=(-k "$DIR/fvd/fence_xvm.key" -n node1 -o status)
row "fence_xvm (fence_virtd, in netns)" ip netns exec "$NS_XVM" "$BIN/fence_xvm" "${xvm[@]}" \
    -- ip netns exec "$NS_XVM" /usr/sbin/fence_xvm "${xvm[@]}"

# fence_virt (TCP listener)
FVD_DIR=$DIR/fvd-tcp FVD_NETNS=$NS_XVM FVD_LISTENER=tcp FVD_PORT=1230 \
    bash tests/fixtures/fence_virtd.sh start >/dev/null
virt=(-T 127.0.0.1 -p 1230 -k "$DIR/fvd-tcp/fence_xvm.key" -n node1 -o status)
row "fence_virt (fence_virtd tcp, netns)" ip netns exec "$NS_XVM" "$BIN/fence_virt" "${virt[@]}" \
    -- ip netns exec "$NS_XVM" /usr/sbin/fence_virt "${virt[@]}"

printf '%-34s %9s\n' "baseline: ip netns exec true" "$(median_ms ip netns exec "$NS_XVM" true)"
echo
echo "targets: time ours/ClusterLabs <= 0.100, peak RSS <= 0.250"
