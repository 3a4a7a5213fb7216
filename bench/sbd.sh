#!/usr/bin/env bash
# Benchmark: our `palisade-sbd watch` vs ClusterLabs sbd's `watch` (Debian /usr/sbin/sbd),
# each watching node1's slot on its own loop device (8 MiB image, 512-byte sectors, loop
# timeout 1 s, I/O timeout 3 s, the defaults), side by side on this machine.
#
#   sudo bash bench/sbd.sh     (BENCH_RUNS=40, BENCH_RESET_RUNS=5, BENCH_IDLE_SECS=60)
#
# Prints, ours vs theirs, with medians and ratios (ours / theirs):
#   * idle CPU (microseconds on CPU per second, every thread of the process tree, from
#     /proc/PID/task/*/schedstat; median of six windows over BENCH_IDLE_SECS), idle
#     wake-ups per second (times on a CPU, from the same file) and RSS (sum
#     of the tree: ours is one process, theirs an inquisitor plus one watcher per device);
#   * delivery: a `test` message written by `palisade-sbd message` (the same sender for
#     both) until the watcher has acted on it, i.e. cleared the mailbox (polled with
#     O_DIRECT reads every 2 ms, after the sender's write(2) of the mailbox showed up in
#     its /proc/PID/io or the message was seen: a watcher may clear it between two
#     polls); runs start at random phases of the watcher's loop;
#   * reset: a `reset` message until the watcher process has ended on its self-fence
#     decision (restarted for every run).
#   * floor (when a C compiler is there): a 30-line C program on a third loop device that
#     does only what any once-per-loop watcher must, a timer wake-up and one O_DIRECT read
#     of sectors 0-3 per second, measured in the same windows: the least a watcher that
#     reads once per loop costs on this machine, to read the two others against.
# Numbers only, no assertions; not part of the test suite. Both watchers read their
# mailbox once per loop, so delivery is uniform over one loop for both: expect medians
# near half a loop and maxima near one loop, with a spread of +-100 ms between runs.
#
# Both run without a watchdog (-w /dev/null), so neither pays for pets.
#
# Safety: ours runs under setpriv --bounding-set -sys_boot, without a watchdog and with
# the recording self-fence executor (PALISADE_FORBID_SELF_FENCE=1). Theirs
# runs through sbd/tests/fixtures/their_watch.sh, guarded as ../shared/PEERS.md says
# (-w /dev/null, -Z -Z: a self-fence only logs and exits, setpriv --bounding-set
# -sys_boot, SBD_PACEMAKER=no, -R, private mount namespace for its /dev/log); PEERS.md
# lists each of these guards as enough on its own to survive a reset message. Every
# process is stopped by its own PID; loop devices are detached at the end. Root only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-40}
RESET_RUNS=${BENCH_RESET_RUNS:-5}
IDLE_SECS=${BENCH_IDLE_SECS:-60}
THEIR_SBD=/usr/sbin/sbd
LOOP=tests/fixtures/sbd_loop.sh
THEIR_WATCH=sbd/tests/fixtures/their_watch.sh

[[ $(id -u) == 0 ]] || die "run as root (loop devices, setpriv, sbd)"
need_packages sbd python3
command -v setpriv >/dev/null && command -v unshare >/dev/null || die "util-linux missing"
build_release -p sbd --bin palisade-sbd
OURS=$PWD/target/release/palisade-sbd
DIR=$(mktemp -d /var/tmp/palisade-bench-sbd.XXXXXX) # not tmpfs: O_DIRECT
export SBD_LOOP_DIR=$DIR

OUR_PID= SINK_PID= FLOOR_PID=
stop_ours() {
    if [[ -n $OUR_PID ]]; then
        kill "$OUR_PID" 2>/dev/null || true
        wait "$OUR_PID" 2>/dev/null || true
        OUR_PID=
    fi
}
cleanup() {
    stop_ours
    bash "$THEIR_WATCH" stop "$DIR/their.pid" || true
    if [[ -n $SINK_PID ]]; then kill "$SINK_PID" 2>/dev/null || true; fi
    if [[ -n $FLOOR_PID ]]; then kill "$FLOOR_PID" 2>/dev/null || true; fi
    bash "$LOOP" detach floor || true
    bash "$LOOP" detach ours || true
    bash "$LOOP" detach theirs || true
    rm -rf "$DIR"
}
trap cleanup EXIT

OUR_DEV=$(bash "$LOOP" attach ours)
THEIR_DEV=$(bash "$LOOP" attach theirs)
TIMEOUTS=(-1 5 -2 1 -3 1 -4 10) # senders sleep msgwait in the background
"$OURS" -d "$OUR_DEV" "${TIMEOUTS[@]}" create >/dev/null 2>&1
"$OURS" -d "$OUR_DEV" allocate node1 >/dev/null
SBD_PACEMAKER=no "$THEIR_SBD" -R -w /dev/null -d "$THEIR_DEV" "${TIMEOUTS[@]}" create >/dev/null 2>&1
SBD_PACEMAKER=no "$THEIR_SBD" -R -w /dev/null -d "$THEIR_DEV" allocate node1 >/dev/null 2>&1

# Their syslog: a datagram socket, one timestamped line per message.
python3 - "$DIR/log.sock" "$DIR/syslog.txt" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write("%.3f %s\n" % (time.time(), s.recv(65536).decode("utf-8", "replace").rstrip()))
PY
SINK_PID=$!
for _ in $(seq 50); do [[ -S $DIR/log.sock ]] && break; sleep 0.1; done

start_ours() {
    rm -f "$DIR/record"
    : >"$DIR/ours.log"
    PALISADE_FORBID_SELF_FENCE=1 SBD_PACEMAKER=no \
        setpriv --bounding-set -sys_boot "$OURS" -d "$OUR_DEV" -n node1 \
        -w /dev/null "--self-fence=record:$DIR/record" watch 2>>"$DIR/ours.log" &
    OUR_PID=$!
    # With no watchdog (as theirs), the first healthy round logs this instead of arming.
    for _ in $(seq 100); do grep -q 'No watchdog configured' "$DIR/ours.log" && return; sleep 0.05; done
    die "our watcher did not start: $(tail -5 "$DIR/ours.log")"
}
start_theirs() {
    local before
    before=$(grep -c 'Monitoring slot' "$DIR/syslog.txt" || true)
    bash "$THEIR_WATCH" start "$THEIR_DEV" node1 "$DIR/log.sock" "$DIR/their.pid" >/dev/null 2>&1 ||
        die "their watcher did not start: $(tail -5 "$DIR/syslog.txt")"
    THEIR_PID=$(tr -dc 0-9 <"$DIR/their.pid")
    for _ in $(seq 100); do
        (($(grep -c 'Monitoring slot' "$DIR/syslog.txt" || true) > before)) && return
        sleep 0.05
    done
    die "their servant did not start: $(tail -5 "$DIR/syslog.txt")"
}

# tree PID: the PID and its children (their inquisitor forks one watcher per device).
tree() {
    local pid=$1 p
    echo "$pid"
    for p in /proc/[0-9]*; do
        [[ -r $p/stat ]] || continue
        awk -v want="$pid" '{ sub(/.*\) /, ""); if ($2 == want) exit 0; exit 1 }' "$p/stat" 2>/dev/null &&
            echo "${p#/proc/}"
    done
}
cpu_ns() { # nanoseconds on CPU of the given PIDs, all their threads (schedstat)
    local t=0 pid f
    for pid in "$@"; do
        for f in /proc/"$pid"/task/*/schedstat; do
            [[ -r $f ]] && t=$((t + $(cut -d' ' -f1 "$f")))
        done
    done
    echo "$t"
}
timeslices() { # times the given PIDs' threads got on a CPU (schedstat)
    local t=0 pid f
    for pid in "$@"; do
        for f in /proc/"$pid"/task/*/schedstat; do
            [[ -r $f ]] && t=$((t + $(cut -d' ' -f3 "$f")))
        done
    done
    echo "$t"
}
rss_kb() {
    local t=0 pid
    for pid in "$@"; do
        t=$((t + $(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo "$t"
}

# measure MODE DEV PID: ms from launching the sender until the watcher acted.
#   test:  the mailbox of slot 0 (sector 2) went back to clear
#   reset: PID has ended
measure() {
    python3 - "$1" "$2" "$3" "$OURS" <<'PY'
import mmap, os, subprocess, sys, time
mode, dev, pid, ours = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)
def command():
    os.preadv(fd, [memoryview(buf)[:512]], 2 * 512)
    return buf[0]
def sender_wrote(sender):
    # The sender's only write(2) is the mailbox sector: once /proc/PID/io counts one,
    # the message is on the disk (a watcher may clear it before a poll ever sees it).
    if sender.poll() is not None:
        return True
    try:
        with open("/proc/%d/io" % sender.pid) as f:
            return any(l.startswith("syscw:") and int(l.split()[1]) > 0 for l in f)
    except OSError:
        return False
def alive():
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[1][0] not in "ZX"
    except OSError:
        return False
start = time.monotonic()
sender = subprocess.Popen([ours, "-d", dev, "-n", "node2", "message", "node1", mode],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
seen = False
result = None
while time.monotonic() - start < 10:
    if mode == "test":
        written = seen or sender_wrote(sender)
        c = command()
        seen = written or c == 1
        if seen and c == 0:
            result = time.monotonic() - start
            break
    elif not alive():
        result = time.monotonic() - start
        break
    time.sleep(0.002)
print("%.1f" % (result * 1000) if result is not None else "timeout")
PY
}

random_pause() { sleep "0.$(printf '%03d' $((RANDOM % 1000)))"; }

# The floor: a timer wake-up and one 2 KiB O_DIRECT read per second, nothing else.
start_floor() {
    command -v cc >/dev/null || return 0
    cat >"$DIR/floor.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int fd = open(argv[1], O_RDONLY | O_DIRECT);
    void *buf;
    if (fd < 0 || posix_memalign(&buf, 4096, 4096) != 0) return 1;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        next.tv_sec += 1;
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (pread(fd, buf, 2048, 0) != 2048) return 1;
    }
}
C
    cc -O2 -o "$DIR/floor" "$DIR/floor.c" || return 0
    local dev
    dev=$(bash "$LOOP" attach floor)
    "$DIR/floor" "$dev" &
    FLOOR_PID=$!
}

start_ours
start_theirs
start_floor
sleep 3 # let all settle after start-up
mapfile -t OUR_TREE < <(tree "$OUR_PID")
mapfile -t THEIR_TREE < <(tree "$THEIR_PID")
# Idle CPU in WINDOWS windows (this machine is shared: single windows are noisy); the
# median window of each, in microseconds on CPU per second of wall time.
WINDOWS=6
window=$((IDLE_SECS / WINDOWS))
: >"$DIR/ours.cpu" && : >"$DIR/theirs.cpu" && : >"$DIR/floor.cpu"
FLOOR_TREE=("${FLOOR_PID:-0}")
os0=$(timeslices "${OUR_TREE[@]}") ts0=$(timeslices "${THEIR_TREE[@]}")
for ((w = 0; w < WINDOWS; w++)); do
    o0=$(cpu_ns "${OUR_TREE[@]}") t0=$(cpu_ns "${THEIR_TREE[@]}") f0=$(cpu_ns "${FLOOR_TREE[@]}")
    sleep "$window"
    o1=$(cpu_ns "${OUR_TREE[@]}") t1=$(cpu_ns "${THEIR_TREE[@]}") f1=$(cpu_ns "${FLOOR_TREE[@]}")
    awk -v d=$((o1 - o0)) -v s="$window" 'BEGIN { printf "%.1f\n", d / 1000 / s }' >>"$DIR/ours.cpu"
    awk -v d=$((t1 - t0)) -v s="$window" 'BEGIN { printf "%.1f\n", d / 1000 / s }' >>"$DIR/theirs.cpu"
    awk -v d=$((f1 - f0)) -v s="$window" 'BEGIN { printf "%.1f\n", d / 1000 / s }' >>"$DIR/floor.cpu"
done
our_cpu=$(median '%.1f' <"$DIR/ours.cpu")
their_cpu=$(median '%.1f' <"$DIR/theirs.cpu")
floor_cpu=$(median '%.1f' <"$DIR/floor.cpu")
if [[ -n $FLOOR_PID ]]; then
    kill "$FLOOR_PID" 2>/dev/null || true
    wait "$FLOOR_PID" 2>/dev/null || true
    FLOOR_PID=
fi
our_rss=$(rss_kb "${OUR_TREE[@]}") their_rss=$(rss_kb "${THEIR_TREE[@]}")
os1=$(timeslices "${OUR_TREE[@]}") ts1=$(timeslices "${THEIR_TREE[@]}")
our_wakes=$(awk -v d=$((os1 - os0)) -v s=$((window * WINDOWS)) 'BEGIN { printf "%.1f", d / s }')
their_wakes=$(awk -v d=$((ts1 - ts0)) -v s=$((window * WINDOWS)) 'BEGIN { printf "%.1f", d / s }')

: >"$DIR/ours.test" && : >"$DIR/theirs.test"
for ((i = 0; i < RUNS; i++)); do
    random_pause
    measure test "$OUR_DEV" "$OUR_PID" >>"$DIR/ours.test"
    random_pause
    measure test "$THEIR_DEV" "$THEIR_PID" >>"$DIR/theirs.test"
done
for side in ours theirs; do
    if grep -q timeout "$DIR/$side.test"; then
        [[ $side == ours ]] && tail -n 20 "$DIR/ours.log" >&2
        die "$side: a test message was not acted on within 10 s ($(grep -c timeout "$DIR/$side.test") of $RUNS)"
    fi
done
our_test=$(median '%.1f' <"$DIR/ours.test")
their_test=$(median '%.1f' <"$DIR/theirs.test")
our_test_max=$(sort -n "$DIR/ours.test" | tail -n 1)
their_test_max=$(sort -n "$DIR/theirs.test" | tail -n 1)

: >"$DIR/ours.reset" && : >"$DIR/theirs.reset"
for ((i = 0; i < RESET_RUNS; i++)); do
    ((i == 0)) || { start_ours; start_theirs; sleep 1; }
    random_pause
    measure reset "$OUR_DEV" "$OUR_PID" >>"$DIR/ours.reset"
    wait "$OUR_PID" 2>/dev/null || true
    OUR_PID=
    grep -q '^reboot flush reset message' "$DIR/record" || die "our watcher ended without recording a reset"
    random_pause
    measure reset "$THEIR_DEV" "$THEIR_PID" >>"$DIR/theirs.reset"
done
for side in ours theirs; do
    grep -q timeout "$DIR/$side.reset" && die "$side: a reset was not acted on within 10 s"
done
our_reset=$(median '%.1f' <"$DIR/ours.reset")
their_reset=$(median '%.1f' <"$DIR/theirs.reset")

printf '\nsbd watch, one loop device each, loop timeout 1 s (%s idle s, %s test runs, %s reset runs)\n' \
    "$IDLE_SECS" "$RUNS" "$RESET_RUNS"
printf '%-34s %12s %12s %8s\n' "" "ours" "ClusterLabs" "ratio"
printf '%-34s %12s %12s %8s\n' "idle CPU, us per s (median window)" "$our_cpu" "$their_cpu" \
    "$(ratio "$our_cpu" "$their_cpu")"
if [[ -n ${FLOOR_TREE[0]#0} ]]; then
    printf '%-34s %12s %12s %8s\n' "  floor: timer + 1 read/s (C)" "$floor_cpu" "$their_cpu" \
        "$(ratio "$floor_cpu" "$their_cpu")"
fi
printf '%-34s %12s %12s %8s\n' "idle wake-ups per s (all threads)" "$our_wakes" "$their_wakes" \
    "$(ratio "$our_wakes" "$their_wakes")"
printf '%-34s %12s %12s %8s\n' "idle RSS, KiB (${#OUR_TREE[@]} vs ${#THEIR_TREE[@]} processes)" \
    "$our_rss" "$their_rss" "$(ratio "$our_rss" "$their_rss")"
printf '%-34s %12s %12s %8s\n' "test -> acted, median ms" "$our_test" "$their_test" "$(ratio "$our_test" "$their_test")"
printf '%-34s %12s %12s\n' "test -> acted, max ms" "$our_test_max" "$their_test_max"
printf '%-34s %12s %12s %8s\n' "reset -> watcher ended, median ms" "$our_reset" "$their_reset" \
    "$(ratio "$our_reset" "$their_reset")"
printf '(theirs runs with -R: no mlockall, no realtime priority; in production its RSS is locked and larger)\n'
