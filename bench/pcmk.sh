#!/usr/bin/env bash
# Benchmark: pacemaker failover through palisade's fence_ipmilan vs ClusterLabs' own, in a
# REAL corosync 3 + pacemaker 2.1 cluster (tests/fixtures/pcmk/lab.sh: 3 nodes in network
# namespaces, each node's power behind its own ipmi_sim BMC, token 1000 ms).
#
#   sudo bash bench/pcmk.sh        (BENCH_RUNS=5 cuts per agent)
#
# For each agent one lab is started (ours: the release build bind-mounted over
# /usr/sbin/fence_ipmilan inside the nodes only; theirs: the node sees the host's
# ClusterLabs fence_ipmilan). Each run cuts the links of the node running
# ocf:pacemaker:Dummy, waits (bounded) until Dummy runs on a survivor, heals the cut node,
# waits until it rejoined and every resource runs again. Times after the cut:
#   loss       first survivor log "Node nodeK state is now lost" (corosync membership)
#   requested  "Requesting fencing (...) of node nodeK" (the DC's controller)
#   bmc-off    the victim's BMC receives "set power 0" (its chassis_control log)
#   confirmed  "Operation '...' targeting nodeK by ...: OK" (pacemaker-fenced)
#   started    "Result of start operation for dummy on nodeX: ok"
# Printed: the medians per agent and the ratio ours/theirs. Numbers only, no assertions;
# not part of the suite. Needs root. Every lab is ended on exit (lab.sh down).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-5}
LAB=$PWD/tests/fixtures/pcmk/lab.sh
DIR=$(mktemp -d /tmp/palisade-bench-pcmk.XXXXXX)
CURRENT=

cleanup() {
    [[ -n $CURRENT ]] && bash "$LAB" down "$CURRENT" || true
    [[ -n ${BENCH_KEEP:-} ]] || rm -rf "$DIR"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || die "needs root (network namespaces, corosync, pacemaker)"
need_packages corosync pacemaker pacemaker-cli-utils fence-agents openipmi ipmitool resource-agents
bash "$LAB" check >&2 || die "the pacemaker lab cannot run here"
build_release -p fence-agents --bin fence_ipmilan
OURS=$PWD/target/release/fence_ipmilan

# pl_time LAB NODES REGEX T0: epoch of the first line matching REGEX at or after T0 in
# the pacemaker.log of NODES (pacemaker writes "Mon DD HH:MM:SS.mmm", local time).
pl_time() {
    local w=$1 nodes=$2 re=$3 t0=$4 k best= t line
    for k in $nodes; do
        while IFS= read -r line; do
            t=$(date -d "${line:0:19}" +%s.%N 2>/dev/null) || continue
            if awk -v t="$t" -v t0="$t0" 'BEGIN { exit !(t >= t0 - 0.001) }'; then
                if [[ -z $best ]] || awk -v t="$t" -v b="$best" 'BEGIN { exit !(t < b) }'; then best=$t; fi
                break
            fi
        done < <(grep -E "$re" "$w/n$k/log-pacemaker/pacemaker.log" || true)
    done
    echo "${best:-nan}"
}

# bmc_time LAB K WHAT T0: epoch of the first BMC action WHAT of node K at or after T0.
bmc_time() {
    awk -v t0="$4" -v what="$3" '{ w = $0; sub(/^[^ ]+ [^ ]+ /, "", w) }
        $1 >= t0 && w == what { print $1; found = 1; exit } END { if (!found) print "nan" }' \
        "$1/n$2/bmc/actions.log"
}

# located LAB K: the nodes node K's crm_resource sees running dummy.
located() {
    bash "$LAB" exec "$1" "$2" crm_resource --locate -r dummy --output-as=xml 2>/dev/null \
        | sed -n 's:.*<node>\(node[0-9]*\)</node>.*:\1:p' | tr '\n' ' '
}

# all_started LAB: every resource of node1's crm_mon is Started, none failed.
all_started() {
    local xml
    xml=$(bash "$LAB" exec "$1" 1 crm_mon -1 --output-as=xml 2>/dev/null) || return 1
    [[ $(grep -c '<resource id=.*role="Started".*failed="false"' <<<"$xml") == 4 ]]
}

bench_agent() {
    local name=$1 bind=$2 w=$DIR/$1 run victim survivors t0 k i loc where
    CURRENT=$w
    bash "$LAB" up "$w" 3 "pb$$${name:0:1}" 10.79.250 "$bind"
    bash "$LAB" wait-online "$w" 240
    bash "$LAB" configure "$w"
    for ((run = 0; run < RUNS; run++)); do
        for i in $(seq 240); do all_started "$w" && break; sleep 0.5; done
        victim=$(located "$w" 1 | awk '{print $1}')
        victim=${victim#node}
        [[ -n $victim ]] || die "$name: Dummy not located"
        survivors=$(seq 3 | grep -vx "$victim" | tr '\n' ' ')
        t0=$(date +%s.%N)
        bash "$LAB" cut "$w" "$victim"
        where= k=${survivors%% *}
        for i in $(seq 480); do
            loc=$(located "$w" "$k")
            if [[ -n $loc && $loc != *"node$victim "* ]]; then where=$loc; break; fi
            sleep 0.25
        done
        [[ -n $where ]] || die "$name run $run: Dummy never moved off node$victim"
        sleep 1 # the start result is logged just after crm_resource sees it
        printf '%s %s %s %s %s %s\n' "$run" \
            "$(pl_time "$w" "$survivors" "Node node$victim state is now lost" "$t0")" \
            "$(pl_time "$w" "$survivors" "Requesting fencing \([a-z]+\) of node node$victim" "$t0")" \
            "$(bmc_time "$w" "$victim" "set power 0" "$t0")" \
            "$(pl_time "$w" "$survivors" "Operation '[a-z]+' targeting node$victim by .*: OK" "$t0")" \
            "$(pl_time "$w" "$survivors" "Result of start operation for dummy on node[0-9]+: ok" "$t0")" |
            awk -v t0="$t0" '{ printf "%s", $1; for (i = 2; i <= NF; i++) printf " %.3f", ($i == "nan") ? -1 : $i - t0; print "" }' \
            >>"$DIR/$name.runs"
        echo "$name run $((run + 1))/$RUNS: node$victim cut -> $(tail -n 1 "$DIR/$name.runs" | cut -d' ' -f2-) s" >&2
        bash "$LAB" heal "$w" "$victim"
        bash "$LAB" wait-online "$w" 120
    done
    [[ $name == ours && -s $w/ipmitool.log ]] && die "ipmitool ran in the 'ours' lab: not our agent"
    [[ $name == theirs && ! -s $w/ipmitool.log ]] && die "no ipmitool run in the 'theirs' lab"
    bash "$LAB" down "$w"
    CURRENT=
}

bench_agent ours "$OURS:/usr/sbin/fence_ipmilan"
bench_agent theirs ""

col() { awk -v c="$2" '$c >= 0 { print $c }' "$DIR/$1.runs" | median '%.2f'; }
echo "== pacemaker 2.1 + corosync 3 (3 nodes, token 1000 ms): link cut of the Dummy node, $RUNS runs each"
echo "   seconds after the cut (medians)      ours  theirs  ours/theirs"
i=2
for what in "membership lost" "fence requested" "BMC power off" "fence confirmed" "Dummy started"; do
    o=$(col ours $i) t=$(col theirs $i)
    printf '   %-32s %6s  %6s  %s\n' "$what" "$o" "$t" "$(ratio "$o" "$t")"
    i=$((i + 1))
done
printf '   %-32s %6s  %6s  %s\n' "fence duration (requested->OK)" \
    "$(awk '$3 >= 0 && $5 >= 0 { print $5 - $3 }' "$DIR/ours.runs" | median '%.2f')" \
    "$(awk '$3 >= 0 && $5 >= 0 { print $5 - $3 }' "$DIR/theirs.runs" | median '%.2f')" \
    "$(ratio "$(awk '$3 >= 0 && $5 >= 0 { print $5 - $3 }' "$DIR/ours.runs" | median)" \
        "$(awk '$3 >= 0 && $5 >= 0 { print $5 - $3 }' "$DIR/theirs.runs" | median)")"
echo "   per run (run loss requested bmc-off confirmed started):"
sed 's/^/     ours   /' "$DIR/ours.runs"
sed 's/^/     theirs /' "$DIR/theirs.runs"
