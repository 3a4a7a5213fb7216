#!/usr/bin/env bash
# Benchmark: the palisade fencer running many fencing operations at once vs one.
#
#   bash bench/fencer.sh          (BENCH_SIZES="64 256", BENCH_RUNS=5, BENCH_AGENT_SLEEP=1)
#
# One release `palisade daemon` with one device per target, of two kinds:
#   dummy-<i>  our fence_dummy (a status file: the fencer's own overhead dominates)
#   slow-<i>   a script agent that answers after BENCH_AGENT_SLEEP seconds, like a BMC
#              that takes a while (so a serial fencer would need N x that time)
# For each kind it prints the median time of one fence and of N fences sent at once on
# one connection, and the ratio (target: N at once <= 3x one). Then a fallback: level 1
# an agent that hangs (killed at its 1 s pcmk_reboot_timeout), level 2 our fence_dummy;
# the median time of that fence beside the step timeout (the tests check that it ends
# "timed out" at level 1 and done at level 2; this is how long it takes). Then the
# daemon's idle RSS and CPU with all devices registered. Numbers only, no assertions; not part of the suite.
# Everything runs on this machine; the daemon is stopped by its PID.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

SIZES=${BENCH_SIZES:-"64 256"}
RUNS=${BENCH_RUNS:-5}
SLEEP=${BENCH_AGENT_SLEEP:-1}
DIR=$(mktemp -d /tmp/palisade-bench-fencer.XXXXXX)
MAX=0
for n in $SIZES; do ((n > MAX)) && MAX=$n; done

command -v python3 >/dev/null || die "python3 is needed for the socket client"
build_release -p palisade --bin palisade -p fence-agents --bin fence_dummy
PALISADE=$PWD/target/release/palisade
DUMMY=$PWD/target/release/fence_dummy

DAEMON_PID=
cleanup() {
    if [[ -n $DAEMON_PID ]]; then
        kill "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT

cat >"$DIR/fence_slow" <<SCRIPT
#!/bin/sh
cat >/dev/null
sleep $SLEEP
exit 0
SCRIPT
chmod 755 "$DIR/fence_slow"
cat >"$DIR/fence_hang" <<'SCRIPT'
#!/bin/sh
case "$(cat)" in *action=monitor*|*action=metadata*) exit 0 ;; esac
exec sleep 300
SCRIPT
chmod 755 "$DIR/fence_hang"

# pcmk_monitor_interval = 0: no device health checks, like the stand-alone pacemaker-fenced
# it is compared with (there, monitors are scheduled by pacemaker-controld, absent here).
{
    printf '[daemon]\nsocket = "%s"\nhistory = "%s"\nnode-name = "bench-self"\n\n' \
        "$DIR/fencer.sock" "$DIR/history.jsonl"
    for ((i = 0; i < MAX; i++)); do
        printf 'on' >"$DIR/node$i"
        printf '[[device]]\nname = "dummy-%d"\nagent = "%s"\nparams = { status_file = "%s", pcmk_host_list = "dummy%d", pcmk_monitor_interval = "0" }\n' \
            "$i" "$DUMMY" "$DIR/node$i" "$i"
        printf '[[device]]\nname = "slow-%d"\nagent = "%s"\nparams = { pcmk_host_list = "slow%d", pcmk_monitor_interval = "0" }\n' \
            "$i" "$DIR/fence_slow" "$i"
    done
    printf 'on' >"$DIR/fallback"
    printf '[[device]]\nname = "hang-0"\nagent = "%s"\nparams = { pcmk_host_list = "fallback0", pcmk_reboot_timeout = "1s", pcmk_monitor_interval = "0" }\n' \
        "$DIR/fence_hang"
    printf '[[device]]\nname = "fallback-dummy-0"\nagent = "%s"\nparams = { status_file = "%s", pcmk_host_list = "fallback0", pcmk_monitor_interval = "0" }\n' \
        "$DUMMY" "$DIR/fallback"
    printf '[[level]]\nindex = 1\ntarget = "fallback0"\ndevices = ["hang-0"]\n'
    printf '[[level]]\nindex = 2\ntarget = "fallback0"\ndevices = ["fallback-dummy-0"]\n'
} >"$DIR/palisade.toml"

"$PALISADE" daemon --config "$DIR/palisade.toml" 2>"$DIR/daemon.log" &
DAEMON_PID=$!
for _ in $(seq 100); do
    [[ -S $DIR/fencer.sock ]] && "$PALISADE" devices --socket "$DIR/fencer.sock" >/dev/null 2>&1 && break
    sleep 0.1
done
[[ -S $DIR/fencer.sock ]] || die "daemon did not start: $(cat "$DIR/daemon.log")"

# fire KIND COUNT -> seconds for COUNT fences (targets KIND0..KIND<COUNT-1>) sent at once
fire() {
    python3 - "$DIR/fencer.sock" "$1" "$2" <<'PY'
import json, socket, sys, time
path, kind, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX)
s.connect(path)
start = time.monotonic()
s.sendall("".join(json.dumps({"id": i, "request": "fence", "target": f"{kind}{i}", "action": "reboot"}) + "\n"
                  for i in range(count)).encode())
f = s.makefile()
failed = 0
for _ in range(count):
    reply = json.loads(f.readline())
    if not reply.get("ok") or reply["result"]["status"] != "done":
        failed += 1
took = time.monotonic() - start
if failed:
    print(f"{failed} of {count} fences failed", file=sys.stderr)
    sys.exit(1)
print(f"{took:.4f}")
PY
}

printf '\n%-8s %6s %12s %12s %8s\n' kind N "one (ms)" "N at once" ratio
for kind in dummy slow; do
    one=$(for ((r = 0; r < RUNS; r++)); do fire "$kind" 1; done | median)
    for n in $SIZES; do
        many=$(for ((r = 0; r < RUNS; r++)); do fire "$kind" "$n"; done | median)
        awk -v k="$kind" -v n="$n" -v one="$one" -v many="$many" \
            'BEGIN {printf "%-8s %6d %12.1f %10.1fms %7.2fx  (target <= 3x)\n", k, n, one*1000, many*1000, many/one}'
    done
done

fallback=$(for ((r = 0; r < RUNS; r++)); do fire fallback 1; done | median)
awk -v t="$fallback" 'BEGIN {printf "\nfallback past a hanging level 1 (step timeout 1000 ms): %.1f ms\n", t*1000}'

sleep 2
rss=$(awk '/VmRSS/ {print $2}' "/proc/$DAEMON_PID/status")
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat")
sleep 10
cpu1=$(awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat")
awk -v rss="$rss" -v d="$((cpu1 - cpu0))" -v t="$ticks" -v n="$((2 * MAX))" \
    'BEGIN {printf "\nidle daemon with %d devices: RSS %.1f MiB, CPU %.2f%% over 10 s\n", n, rss/1024, 100*d/t/10}'
echo "history entries written: $(wc -l <"$DIR/history.jsonl")"
