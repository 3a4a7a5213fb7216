#!/usr/bin/env bash
# Benchmark: our fence_redfish vs ClusterLabs' fence_redfish vs one bare curl request, all
# against one emulated Redfish BMC (tests/fixtures/sushy.sh: sushy-tools, HTTPS, basic
# auth) on 127.0.0.1.
#
#   bash bench/redfish.sh            (BENCH_RUNS=N to change the 20 runs per case)
#
# Prints the median wall time (ms) of `-o status` (with --systems-uri: one GET each) and
# of `-o reboot` (ForceOff, poll, On, poll), the ratios ours/ClusterLabs and ours/curl,
# peak RSS (/usr/bin/time -f %M) and our binary's size; then how long each gives up
# (BENCH_FAIL_RUNS=N, default 5) on a refused port and on a silent one at login_timeout
# 2 s (the tests check the outcome, these numbers the time; ClusterLabs' hangs there). No assertions: numbers only.
# Not part of the test suite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-20}
FAIL_RUNS=${BENCH_FAIL_RUNS:-5}
PORT=${BENCH_PORT:-18499}
REFUSED_PORT=$((PORT + 1))
SILENT_PORT=$((PORT + 2))
USER_=admin
PASS=bench-secret
OURS=${BENCH_AGENT:-target/release/fence_redfish}
THEIRS=/usr/sbin/fence_redfish
FIXTURE=tests/fixtures/sushy.sh
SYSTEM=/redfish/v1/Systems/00000000-0000-0000-0000-000000000001
export SUSHY_DIR=/tmp/palisade-bench-sushy SUSHY_USER=$USER_ SUSHY_PASS=$PASS SUSHY_SYSTEMS=1 \
    SUSHY_POWER=On SUSHY_DELAY=0 SUSHY_TLS=1
RSS_FILE=$SUSHY_DIR/rss

need_packages fence-agents time openssl curl
"${SUSHY_PYTHON:-python3}" -c 'import sushy_tools, bcrypt' 2>/dev/null ||
    die "sushy-tools missing: python3 -m pip install sushy-tools"
if [[ -z ${BENCH_AGENT:-} ]]; then
    build_release -p fence-agents --bin fence_redfish
fi
[[ -x $OURS ]] || die "$OURS missing"

SILENT_PID=
cleanup() {
    [[ -z $SILENT_PID ]] || kill "$SILENT_PID" 2>/dev/null || true
    bash "$FIXTURE" stop >/dev/null
}
trap cleanup EXIT
bash "$FIXTURE" start "$PORT" >/dev/null
# A port that accepts TCP (the kernel's backlog) but never answers.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(86400)' "$SILENT_PORT" &
SILENT_PID=$!

conn=(-a 127.0.0.1 -u "$PORT" -l "$USER_" -p "$PASS" --ssl-insecure --systems-uri "$SYSTEM")
curl_cmd=(curl -sfk -o /dev/null -u "$USER_:$PASS" -H "OData-Version: 4.0"
    -H "Accept: application/json" "https://127.0.0.1:$PORT$SYSTEM")

echo "runs per case: $RUNS   BMC: sushy-emulator (fake driver) on https://127.0.0.1:$PORT"
echo "ours:   $OURS ($(stat -c %s "$OURS") bytes)"
echo "theirs: $THEIRS ($(dpkg-query -W -f='${Version}' fence-agents))"
echo "curl:   $(curl --version | head -n 1)"
echo

ours_status=$(median_ms "$OURS" "${conn[@]}" -o status)
theirs_status=$(median_ms "$THEIRS" "${conn[@]}" -o status)
curl_status=$(median_ms "${curl_cmd[@]}")
ours_reboot=$(median_ms "$OURS" "${conn[@]}" -o reboot)
theirs_reboot=$(median_ms "$THEIRS" "${conn[@]}" -o reboot)
ours_rss=$(peak_rss_kb "$OURS" "${conn[@]}" -o status)
theirs_rss=$(peak_rss_kb "$THEIRS" "${conn[@]}" -o status)
curl_rss=$(peak_rss_kb "${curl_cmd[@]}")

printf '%-32s %12s %12s %12s\n' "median wall time (ms)" ours ClusterLabs curl
printf '%-32s %12s %12s %12s\n' "status" "$ours_status" "$theirs_status" "$curl_status"
printf '%-32s %12s %12s %12s\n' "reboot" "$ours_reboot" "$theirs_reboot" "-"
printf '%-32s %12s %12s %12s\n' "peak RSS of status (KiB)" "$ours_rss" "$theirs_rss" "$curl_rss"
echo
printf '%-32s %10s\n' "ratio" value
printf '%-32s %10s\n' "status ours/ClusterLabs" "$(ratio "$ours_status" "$theirs_status")"
printf '%-32s %10s\n' "status ours/curl" "$(ratio "$ours_status" "$curl_status")"
printf '%-32s %10s\n' "reboot ours/ClusterLabs" "$(ratio "$ours_reboot" "$theirs_reboot")"
printf '%-32s %10s\n' "peak RSS ours/ClusterLabs" "$(ratio "$ours_rss" "$theirs_rss")"
echo
printf '%-32s %12s %12s %8s\n' "median time to fail (ms)" ours ClusterLabs ratio
fail_row() {
    local name=$1 ours theirs
    shift
    ours=$(median_fail_ms 1 "$OURS" "$@")
    theirs=$(median_fail_ms 1 "$THEIRS" "$@")
    printf '%-32s %12s %12s %8s\n' "$name" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
}
fail_row "refused port" -a 127.0.0.1 -u "$REFUSED_PORT" -l "$USER_" -p "$PASS" --ssl-insecure -o status
# ClusterLabs' fence_redfish (4.12) does not bound a silent port by login_timeout: it
# hangs, so it gets one run under `timeout 10` (exit 124 = still waiting at 10 s).
silent=(-a 127.0.0.1 -u "$SILENT_PORT" -l "$USER_" -p "$PASS" --ssl-insecure --login-timeout 2 -o status)
ours=$(median_fail_ms 1 "$OURS" "${silent[@]}")
rc=0
t0=$EPOCHREALTIME
timeout 10 "$THEIRS" "${silent[@]}" >/dev/null 2>&1 || rc=$?
theirs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", (b - a) * 1000 }')
((rc != 124)) || theirs="hung>10s"
printf '%-32s %12s %12s %8s\n' "silent port, login_timeout 2 s" "$ours" "$theirs" "-"
