#!/usr/bin/env bash
# Benchmark: our fence_ipmilan vs ClusterLabs' fence_ipmilan vs bare ipmitool, all
# against one simulated BMC (tests/fixtures/ipmi_sim.sh) on 127.0.0.1.
#
#   bash bench/ipmilan.sh            (BENCH_RUNS=N to change the 20 runs per case)
#
# Prints the median wall time (ms) of `-o status` and `-o reboot --power-wait 0` per tool,
# the ratios ours/theirs and ours/ipmitool beside the targets, and peak RSS
# (/usr/bin/time -f %M). No assertions: numbers only. Not part of the test suite.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${BENCH_RUNS:-20}
PORT=${BENCH_PORT:-16624}
USER_=admin
PASS=bench-secret
DIR=/tmp/palisade-bench-bmc
OURS=${BENCH_AGENT:-target/release/fence_ipmilan}
THEIRS=/usr/sbin/fence_ipmilan
FIXTURE=tests/fixtures/ipmi_sim.sh
export IPMISIM_ADDR=127.0.0.1 IPMISIM_PORT=$PORT IPMISIM_USER=$USER_ IPMISIM_PASS=$PASS \
    IPMISIM_DIR=$DIR IPMISIM_POWER=1

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

for p in openipmi ipmitool fence-agents time; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        [[ $(id -u) == 0 ]] || die "package $p missing; run as root"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q && apt-get install -y -q --no-install-recommends "$p"
    fi
done
if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
if [[ -z ${BENCH_AGENT:-} ]]; then
    command -v cargo >/dev/null || die "cargo not found"
    cargo build --release --locked -p fence-agents --bin fence_ipmilan >&2
fi
[[ -x $OURS ]] || die "$OURS missing"

trap 'bash "$FIXTURE" stop' EXIT
bash "$FIXTURE" start >/dev/null

conn=(-a 127.0.0.1 -u "$PORT" -l "$USER_" -p "$PASS" --lanplus -C 3)
ipmitool_cmd=(ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$PORT" -U "$USER_" -P "$PASS"
    chassis power status)

# time_ms <cmd...>: wall time of one run in ms (bash's clock, no extra fork)
time_ms() {
    local t0=$EPOCHREALTIME t1 rc=0
    "$@" >/dev/null 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    # status of a powered-on node is 0; anything else means the run is not comparable
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

# peak_rss_kb <cmd...>: the largest max-RSS over 5 runs
peak_rss_kb() {
    local i
    for ((i = 0; i < 5; i++)); do
        /usr/bin/time -f '%M' -o "$DIR/rss" "$@" >/dev/null 2>&1 || true
        tail -n 1 "$DIR/rss"
    done | sort -n | tail -n 1
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

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
