#!/usr/bin/env bash
# Benchmark: our fence_ipmilan vs ClusterLabs' fence_ipmilan vs bare ipmitool, all
# against one simulated BMC (tests/fixtures/ipmi_sim.sh) on 127.0.0.1.
#
#   bash bench/ipmilan.sh            (BENCH_RUNS=N to change the 20 runs per case)
#
# Prints the median wall time (ms) of `-o status` and `-o reboot --power-wait 0` per tool,
# the ratios ours/theirs and ours/ipmitool beside the targets, and peak RSS
# (/usr/bin/time -f %M); then how long each gives up on a BMC that never answers, with
# --login-timeout/--power-timeout 3 (BENCH_FAIL_RUNS=N, default 5; the tests check the
# outcome, these numbers the time). No assertions: numbers only. Not part of the test suite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-20}
FAIL_RUNS=${BENCH_FAIL_RUNS:-5}
PORT=${BENCH_PORT:-16624}
DEAD_PORT=$((PORT + 1))
USER_=admin
PASS=bench-secret
DIR=/tmp/palisade-bench-bmc
RSS_FILE=$DIR/rss
OURS=${BENCH_AGENT:-target/release/fence_ipmilan}
THEIRS=/usr/sbin/fence_ipmilan
FIXTURE=tests/fixtures/ipmi_sim.sh
export IPMISIM_ADDR=127.0.0.1 IPMISIM_PORT=$PORT IPMISIM_USER=$USER_ IPMISIM_PASS=$PASS \
    IPMISIM_DIR=$DIR IPMISIM_POWER=1

need_packages openipmi ipmitool fence-agents time
if [[ -z ${BENCH_AGENT:-} ]]; then
    build_release -p fence-agents --bin fence_ipmilan
fi
[[ -x $OURS ]] || die "$OURS missing"

trap 'bash "$FIXTURE" stop' EXIT
bash "$FIXTURE" start >/dev/null

conn=(-a 127.0.0.1 -u "$PORT" -l "$USER_" -p "$PASS" --lanplus -C 3)
ipmitool_cmd=(ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$PORT" -U "$USER_" -P "$PASS"
    chassis power status)

echo "runs per case: $RUNS   BMC: ipmi_sim on 127.0.0.1:$PORT (RMCP+, cipher suite 3)"
echo "ours:   $OURS"
echo "theirs: $THEIRS ($(dpkg-query -W -f='${Version}' fence-agents))"
echo "ipmitool: $(ipmitool -V)"
echo

ours_status=$(median_ms "$OURS" "${conn[@]}" -o status)
theirs_status=$(median_ms "$THEIRS" "${conn[@]}" -o status)
ipmitool_status=$(median_ms "${ipmitool_cmd[@]}")
ours_reboot=$(median_ms "$OURS" "${conn[@]}" -o reboot --power-wait 0)
theirs_reboot=$(median_ms "$THEIRS" "${conn[@]}" -o reboot --power-wait 0)
ours_rss=$(peak_rss_kb "$OURS" "${conn[@]}" -o status)
theirs_rss=$(peak_rss_kb "$THEIRS" "${conn[@]}" -o status)
ipmitool_rss=$(peak_rss_kb "${ipmitool_cmd[@]}")

printf '%-32s %12s %12s %12s\n' "median wall time (ms)" ours ClusterLabs ipmitool
printf '%-32s %12s %12s %12s\n' "status" "$ours_status" "$theirs_status" "$ipmitool_status"
printf '%-32s %12s %12s %12s\n' "reboot --power-wait 0" "$ours_reboot" "$theirs_reboot" "-"
printf '%-32s %12s %12s %12s\n' "peak RSS of status (KiB)" "$ours_rss" "$theirs_rss" "$ipmitool_rss"
echo
printf '%-32s %10s   %s\n' "ratio" value target
printf '%-32s %10s   %s\n' "status ours/ClusterLabs" "$(ratio "$ours_status" "$theirs_status")" "<= 0.050 (1/20)"
printf '%-32s %10s   %s\n' "status ours/ipmitool" "$(ratio "$ours_status" "$ipmitool_status")" "<= 0.500"
printf '%-32s %10s   %s\n' "reboot ours/ClusterLabs" "$(ratio "$ours_reboot" "$theirs_reboot")" "-"
printf '%-32s %10s   %s\n' "peak RSS ours/ClusterLabs" "$(ratio "$ours_rss" "$theirs_rss")" "<= 0.250 (1/4)"
echo
dead=(-a 127.0.0.1 -u "$DEAD_PORT" -l "$USER_" -p "$PASS" --lanplus -C 3 --login-timeout 3 --power-timeout 3)
printf '%-32s %12s %12s %8s\n' "median time to fail (ms)" ours ClusterLabs ratio
for action in status monitor; do
    ours=$(median_fail_ms 1 "$OURS" "${dead[@]}" -o "$action")
    theirs=$(median_fail_ms 1 "$THEIRS" "${dead[@]}" -o "$action")
    printf '%-32s %12s %12s %8s\n' "$action, no BMC, timeouts 3 s" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
done
