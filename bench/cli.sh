#!/usr/bin/env bash
# Benchmark: our CLI agents (fence_apc, fence_wti, fence_drac5, fence_cyberpower_ssh) vs
# ClusterLabs' (/usr/bin/telnet or ssh driven by pexpect), against the same stand-in device
# command lines (tests/fixtures/cli_device.py) behind a real GNU inetutils telnetd
# (tests/fixtures/telnetd.sh) and a real OpenSSH sshd (tests/fixtures/sshd.sh) on 127.0.0.1.
#
#   bash bench/cli.sh            (BENCH_RUNS=N to change the 10 runs per case)
#
# Prints the median wall time (ms) of `-o status` per agent and transport, the ratios
# ours/ClusterLabs beside the target (<= 1/10), and peak RSS (target <= 1/4). Runs are
# spaced by BENCH_GAP seconds (0; it was 1.2 while inetutils-inetd started telnetd: that
# inetd slept a second whenever a session ended while it waited).
# The stand-ins are Python on a pty: their own start and line handling (about 60-100 ms a
# session) is in every figure, ours and ClusterLabs' alike. No assertions: numbers only.
# Not part of the test suite. Needs root (the fixtures create local users and run telnetd).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-10}
GAP=${BENCH_GAP:-0}
BASE=${BENCH_PORT:-19700}
DIR=/tmp/palisade-bench-cli
RSS_FILE=$DIR/rss
OURS_DIR=${BENCH_DIR:-target/release}
USER_=palisade-test
PASS=palisade-bench-pw

need_packages openssh-server fence-agents time libssl-dev pkg-config \
    inetutils-telnetd systemd inetutils-telnet
if [[ -z ${BENCH_DIR:-} ]]; then
    build_release -p fence-agents --bin fence_apc --bin fence_wti --bin fence_drac5 \
        --bin fence_cyberpower_ssh
fi
for a in fence_apc fence_wti fence_drac5 fence_cyberpower_ssh; do
    [[ -x $OURS_DIR/$a ]] || die "$a missing in $OURS_DIR"
done

telnet_peer() { TELNETD_PORT=$1 TELNETD_DIR=$DIR/telnet-$2 CLI_DEVICE=$2 bash tests/fixtures/telnetd.sh "$3"; }
ssh_peer() {
    SSHD_PORT=$1 SSHD_DIR=$DIR/ssh-$2 SSHD_MODE=cli SSHD_CLI_DEVICE=$2 SSHD_PASS=$PASS \
        bash tests/fixtures/sshd.sh "$3"
}
stop_all() {
    telnet_peer "$BASE" apc stop || true
    telnet_peer $((BASE + 1)) wti stop || true
    telnet_peer $((BASE + 2)) drac5 stop || true
    ssh_peer $((BASE + 3)) apc stop || true
    ssh_peer $((BASE + 4)) cyberpower stop || true
    rm -rf "$DIR"
}
trap stop_all EXIT
mkdir -p "$DIR"
telnet_peer "$BASE" apc start >/dev/null
telnet_peer $((BASE + 1)) wti start >/dev/null
telnet_peer $((BASE + 2)) drac5 start >/dev/null
ssh_peer $((BASE + 3)) apc start >/dev/null
ssh_peer $((BASE + 4)) cyberpower start >/dev/null

# median_spaced_ms <cmd...>: like median_ms, with GAP seconds before every run.
median_spaced_ms() {
    sleep "$GAP"
    "$@" >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < RUNS; i++)); do
        sleep "$GAP"
        time_ms "$@"
    done | median '%.2f'
}

NOCHECK='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
apc_tn=(-a 127.0.0.1 -u "$BASE" -l admin -p secret -n 2 -o status)
wti_tn=(-a 127.0.0.1 -u $((BASE + 1)) -p secret -n 2 -o status)
drac_tn=(-a 127.0.0.1 -u $((BASE + 2)) -l admin -p secret -o status)
apc_ssh=(-a 127.0.0.1 -u $((BASE + 3)) -l "$USER_" -p "$PASS" -x -n 2 -o status "--ssh-options=$NOCHECK")
cp_ssh=(-a 127.0.0.1 -u $((BASE + 4)) -l "$USER_" -p "$PASS" -x -n 2 -o status "--ssh-options=$NOCHECK")

echo "runs per case: $RUNS (spaced ${GAP} s)   telnetd (inetutils $(dpkg-query -W -f='${Version}' inetutils-telnetd)), sshd (OpenSSH $(dpkg-query -W -f='${Version}' openssh-server)) on 127.0.0.1:$BASE-$((BASE + 4))"
echo "ours:   $OURS_DIR/fence_{apc,wti,drac5,cyberpower_ssh}"
echo "theirs: /usr/sbin/fence_{apc,wti,drac5,cyberpower_ssh} ($(dpkg-query -W -f='${Version}' fence-agents))"
echo

declare -A ours theirs
run_case() { # name agent args...
    local name=$1 agent=$2
    shift 2
    ours[$name]=$(median_spaced_ms "$OURS_DIR/$agent" "$@")
    theirs[$name]=$(median_spaced_ms "/usr/sbin/$agent" "$@")
}
run_case "fence_apc status (telnet)" fence_apc "${apc_tn[@]}"
run_case "fence_apc status (ssh)" fence_apc "${apc_ssh[@]}"
run_case "fence_wti status (telnet)" fence_wti "${wti_tn[@]}"
run_case "fence_drac5 status (telnet)" fence_drac5 "${drac_tn[@]}"
run_case "fence_cyberpower_ssh status" fence_cyberpower_ssh "${cp_ssh[@]}"
sleep "$GAP"
ours_rss=$(peak_rss_kb "$OURS_DIR/fence_apc" "${apc_ssh[@]}")
theirs_rss=$(peak_rss_kb /usr/sbin/fence_apc "${apc_ssh[@]}")

printf '%-34s %12s %12s %10s   %s\n' "median wall time (ms)" ours ClusterLabs ratio "target"
for name in "fence_apc status (telnet)" "fence_apc status (ssh)" "fence_wti status (telnet)" \
    "fence_drac5 status (telnet)" "fence_cyberpower_ssh status"; do
    printf '%-34s %12s %12s %10s   %s\n' "$name" "${ours[$name]}" "${theirs[$name]}" \
        "$(ratio "${ours[$name]}" "${theirs[$name]}")" "<= 0.100 (1/10)"
done
printf '%-34s %12s %12s %10s   %s\n' "peak RSS fence_apc ssh (KiB)" "$ours_rss" "$theirs_rss" \
    "$(ratio "$ours_rss" "$theirs_rss")" "<= 0.250 (1/4)"
