#!/usr/bin/env bash
# Benchmark: our fence_virsh / fence_ilo_ssh vs ClusterLabs' (ssh driven by pexpect) and
# vs one bare `ssh` of the same command, all against the test sshd with the stand-in
# devices (tests/fixtures/sshd.sh) on 127.0.0.1.
#
#   bash bench/ssh.sh            (BENCH_RUNS=N to change the 20 runs per case)
#
# Prints the median wall time (ms) of `-o status` (password login) per tool, of virsh
# status with key login, the ratios ours/ClusterLabs beside the target (<= 1/3), and
# peak RSS; then how long each gives up at login_timeout 1 s (BENCH_FAIL_RUNS=N, default
# 5) on a silent TCP port and on an iLO prompt that never comes (the tests check the
# outcome, these numbers the time). No assertions: numbers only. Not part of the test suite. Needs root (the
# fixture creates the local user palisade-test).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-20}
FAIL_RUNS=${BENCH_FAIL_RUNS:-5}
VPORT=${BENCH_PORT:-19590}
IPORT=$((VPORT + 1))
SPORT=$((VPORT + 2))
VDIR=/tmp/palisade-bench-sshd-virsh
IDIR=/tmp/palisade-bench-sshd-ilo
RSS_FILE=$VDIR/rss
OURS_DIR=${BENCH_DIR:-target/release}
FIXTURE=tests/fixtures/sshd.sh
USER_=palisade-test
PASS=palisade-bench-pw

need_packages openssh-server fence-agents time libssl-dev pkg-config
if [[ -z ${BENCH_DIR:-} ]]; then
    build_release -p fence-agents --bin fence_virsh --bin fence_ilo_ssh
fi
[[ -x $OURS_DIR/fence_virsh && -x $OURS_DIR/fence_ilo_ssh ]] || die "agents missing in $OURS_DIR"

sshd() { SSHD_PORT=$1 SSHD_DIR=$2 SSHD_MODE=$3 SSHD_PASS=$PASS bash "$FIXTURE" "$4"; }
SILENT_PID=
cleanup() {
    [[ -z $SILENT_PID ]] || kill "$SILENT_PID" 2>/dev/null || true
    sshd "$VPORT" "$VDIR" virsh stop
    sshd "$IPORT" "$IDIR" ilo stop
    rm -rf "$VDIR" "$IDIR"
}
trap cleanup EXIT
sshd "$VPORT" "$VDIR" virsh start >/dev/null
sshd "$IPORT" "$IDIR" ilo start >/dev/null
# A port that accepts TCP (the kernel's backlog) but never sends an SSH banner.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(86400)' "$SPORT" &
SILENT_PID=$!

NOCHECK='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
REMOTE_SHELL='-t '\''/bin/bash -c "PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc"'\'
virsh_pw=(-a 127.0.0.1 -u "$VPORT" -l "$USER_" -p "$PASS" -n vm1 -o status "--ssh-options=$NOCHECK $REMOTE_SHELL")
virsh_key=(-a 127.0.0.1 -u "$VPORT" -l "$USER_" -k "$VDIR/client_ed25519" -n vm1 -o status "--ssh-options=$NOCHECK $REMOTE_SHELL")
ilo_pw=(-a 127.0.0.1 -u "$IPORT" -l "$USER_" -p "$PASS" -x -o status "--ssh-options=$NOCHECK")
virsh_silent=(-a 127.0.0.1 -u "$SPORT" -l "$USER_" -p "$PASS" -n vm1 -o status --login-timeout 1 "--ssh-options=$NOCHECK")
ilo_noprompt=(-a 127.0.0.1 -u "$IPORT" -l "$USER_" -p "$PASS" -x -o status -c NEVER-SEEN'>' --login-timeout 1 "--ssh-options=$NOCHECK")
# One bare OpenSSH client run of the same remote command (key login; a floor for any agent).
bare_ssh=(ssh -q -p "$VPORT" -i "$VDIR/client_ed25519" -o StrictHostKeyChecking=no
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes "$USER_@127.0.0.1" virsh domstate vm1)

echo "runs per case: $RUNS   sshd (OpenSSH $(dpkg-query -W -f='${Version}' openssh-server)) on 127.0.0.1:$VPORT (virsh) and :$IPORT (iLO)"
echo "ours:   $OURS_DIR/fence_virsh, $OURS_DIR/fence_ilo_ssh"
echo "theirs: /usr/sbin/fence_virsh, /usr/sbin/fence_ilo_ssh ($(dpkg-query -W -f='${Version}' fence-agents))"
echo

ours_v=$(median_ms "$OURS_DIR/fence_virsh" "${virsh_pw[@]}")
theirs_v=$(median_ms /usr/sbin/fence_virsh "${virsh_pw[@]}")
ours_vk=$(median_ms "$OURS_DIR/fence_virsh" "${virsh_key[@]}")
theirs_vk=$(median_ms /usr/sbin/fence_virsh "${virsh_key[@]}")
bare=$(median_ms "${bare_ssh[@]}")
ours_i=$(median_ms "$OURS_DIR/fence_ilo_ssh" "${ilo_pw[@]}")
theirs_i=$(median_ms /usr/sbin/fence_ilo_ssh "${ilo_pw[@]}")
ours_rss=$(peak_rss_kb "$OURS_DIR/fence_virsh" "${virsh_pw[@]}")
theirs_rss=$(peak_rss_kb /usr/sbin/fence_virsh "${virsh_pw[@]}")

printf '%-34s %12s %12s %12s\n' "median wall time (ms)" ours ClusterLabs "bare ssh"
printf '%-34s %12s %12s %12s\n' "fence_virsh status (password)" "$ours_v" "$theirs_v" "-"
printf '%-34s %12s %12s %12s\n' "fence_virsh status (key)" "$ours_vk" "$theirs_vk" "$bare"
printf '%-34s %12s %12s %12s\n' "fence_ilo_ssh status (password)" "$ours_i" "$theirs_i" "-"
printf '%-34s %12s %12s %12s\n' "peak RSS virsh status (KiB)" "$ours_rss" "$theirs_rss" "-"
echo
printf '%-34s %10s   %s\n' "ratio" value target
printf '%-34s %10s   %s\n' "virsh status ours/ClusterLabs" "$(ratio "$ours_v" "$theirs_v")" "<= 0.333 (1/3)"
printf '%-34s %10s   %s\n' "virsh status (key) ours/ClusterLabs" "$(ratio "$ours_vk" "$theirs_vk")" "<= 0.333 (1/3)"
printf '%-34s %10s   %s\n' "virsh status (key) ours/bare ssh" "$(ratio "$ours_vk" "$bare")" "-"
printf '%-34s %10s   %s\n' "ilo status ours/ClusterLabs" "$(ratio "$ours_i" "$theirs_i")" "<= 0.333 (1/3)"
printf '%-34s %10s   %s\n' "peak RSS ours/ClusterLabs" "$(ratio "$ours_rss" "$theirs_rss")" "-"
echo
printf '%-34s %12s %12s %8s\n' "median time to fail (ms)" ours ClusterLabs ratio
fail_row() {
    local name=$1 agent=$2 ours theirs
    shift 2
    ours=$(median_fail_ms 1 "$OURS_DIR/$agent" "$@")
    theirs=$(median_fail_ms 1 "/usr/sbin/$agent" "$@")
    printf '%-34s %12s %12s %8s\n' "$name" "$ours" "$theirs" "$(ratio "$ours" "$theirs")"
}
fail_row "virsh silent port, login 1 s" fence_virsh "${virsh_silent[@]}"
fail_row "iLO prompt never seen, login 1 s" fence_ilo_ssh "${ilo_noprompt[@]}"
