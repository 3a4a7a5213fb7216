#!/usr/bin/env bash
# Benchmark: pacemaker failover through palisade's fence agents and sbd vs ClusterLabs'
# own, in a REAL corosync 3 + pacemaker 2.1 cluster (tests/fixtures/pcmk/lab.sh: 3 nodes
# in network namespaces, each node's power behind its own ipmi_sim BMC, token 1000 ms).
#
#   sudo bash bench/pcmk.sh        (BENCH_RUNS=5 faults per stack; BENCH_PARTS="agents sbd node";
#                                   BENCH_SBD_STACKS="ours theirs" for part sbd)
#
# Part "agents": for each fence_ipmilan one lab is started (ours: the release build
# bind-mounted over /usr/sbin/fence_ipmilan inside the nodes only; theirs: the node sees
# the host's ClusterLabs fence_ipmilan). Each run cuts the links of the node running
# ocf:pacemaker:Dummy, waits (bounded) until Dummy runs on a survivor, heals the cut node,
# waits until it rejoined and every resource runs again. Times after the cut:
#   loss       first survivor log "Node nodeK state is now lost" (corosync membership)
#   requested  "Requesting fencing (...) of node nodeK" (the DC's controller)
#   bmc-off    the victim's BMC receives "set power 0" (its chassis_control log)
#   confirmed  "Operation '...' targeting nodeK by ...: OK" (pacemaker-fenced)
#   started    "Result of start operation for dummy on nodeX: ok"
#
# Part "sbd": disk-based sbd (one shared image, a loop device per node, SBD_PACEMAKER=yes)
# with the topology level 1 fence_ipmilan, level 2 fence_sbd, for two stacks: ours
# (palisade-sbd over /usr/sbin/sbd with its pet-file watchdog and recording self-fence,
# our fence_ipmilan and fence_sbd) and theirs (Debian's sbd in its debug mode 2, -Z -Z,
# no watchdog, with ClusterLabs' fence_ipmilan and fence_sbd). A self-fence of either
# sbd powers the node off (lab.sh). Each run: the BMC of the Dummy node stops, its links
# are cut; level 1 fails, level 2's poison pill makes the node's sbd self-fence, pacemaker
# confirms after msgwait (10 s), Dummy starts on a survivor; then the BMC, links and
# node come back. Times after the fault: loss, requested (as above), level1-failed
# (pacemaker-fenced: fence_nodeK returned), pill (level 2 requested: fence_sbd starts and
# writes the pill at once), self-fenced (the victim's power went off), confirmed, started.
# Then, in each stack's lab: the RSS/PSS of every node's sbd processes and their CPU over
# an idle minute (% of one core), and three faults, each on its own node and observed for
# 40 s (self-fence? BMC fence? Dummy moved? still online?): pacemakerd SIGKILLed on the
# Dummy node; the CIB unreachable (pacemaker-based SIGSTOPped); the node's path to the
# sbd disk stalled (in this part every node's loop device goes through its own FUSE
# passthrough of the image, lab.sh STALL=1, which the stall stops).
#
# Part "node": the same link cut with `palisade node` instead of corosync + pacemaker, on
# the same kind of lab (3 nodes in namespaces, each node's power behind its own ipmi_sim
# BMC, fenced through our fence_ipmilan): BENCH_RUNS runs of scripts/cluster_demo.sh in
# BENCH mode (deadtime 1 s; its own lab, tests/fixtures/cluster), printed beside the
# pacemaker figures so an admin sees what each stack costs.
#
# Printed: the medians per stack and the ratio ours/theirs. Numbers only, no assertions;
# not part of the suite. Needs root. Every lab is ended on exit (lab.sh down).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

RUNS=${BENCH_RUNS:-5}
PARTS=${BENCH_PARTS:-agents sbd node}
LAB=$PWD/tests/fixtures/pcmk/lab.sh
DIR=$(mktemp -d /tmp/palisade-bench-pcmk.XXXXXX)
CURRENT=

cleanup() {
    [[ -n $CURRENT ]] && bash "$LAB" down "$CURRENT" || true
    [[ -n ${BENCH_KEEP:-} ]] || rm -rf "$DIR"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || die "needs root (network namespaces, corosync, pacemaker)"
need_packages corosync pacemaker pacemaker-cli-utils fence-agents openipmi ipmitool resource-agents sbd
bash "$LAB" check >&2 || die "the pacemaker lab cannot run here"
build_release -p fence-agents --bin fence_ipmilan --bin fence_sbd -p sbd --bin palisade-sbd
[[ " $PARTS " != *" node "* ]] || build_release -p palisade --bin palisade
REL=$PWD/target/release
OURS=$REL/fence_ipmilan

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

# all_started LAB [N]: the N (default 4) resources of node1's crm_mon are Started, none
# failed.
all_started() {
    local xml
    xml=$(bash "$LAB" exec "$1" 1 crm_mon -1 --output-as=xml 2>/dev/null) || return 1
    [[ $(grep -c '<resource id=.*role="Started".*failed="false"' <<<"$xml") == "${2:-4}" ]]
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

# sf_time LAB K T0: when node K's self-fence powered it off (first at or after T0).
sf_time() {
    awk -v t0="$3" '$1 >= t0 { print $1; found = 1; exit } END { if (!found) print "nan" }' \
        "$1/n$2/selffence.log" 2>/dev/null || echo nan
}

# sbd_pids LAB K: host PIDs of node K's sbd processes (comm "sbd": ours is one process,
# ClusterLabs' an inquisitor and one servant per device and cluster input).
sbd_pids() {
    local p
    for p in $(ip netns pids "$(source "$1/env"; echo "$PREFIX")-n$2" 2>/dev/null); do
        [[ $(cat "/proc/$p/comm" 2>/dev/null) == sbd ]] && echo "$p"
    done
}

# cpu_ticks PID: the process's CPU time in clock ticks, its own (utime + stime, all
# threads) and its waited-for children's (cutime + cstime: ours runs crm_mon every loop).
cpu_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat"; }

# sbd_usage LAB NAME: per node, the sbd processes' RSS and PSS (KiB) and their CPU over
# an idle minute (% of one core, children included), appended to $DIR/NAME.usage as
# "node procs rss pss cpu".
sbd_usage() {
    local w=$1 name=$2 k p hz t1 t2
    hz=$(getconf CLK_TCK)
    declare -A before
    for k in 1 2 3; do
        before[$k]=0
        for p in $(sbd_pids "$w" "$k"); do
            before[$k]=$((before[$k] + $(cpu_ticks "$p")))
        done
    done
    t1=$EPOCHREALTIME
    sleep 60
    t2=$EPOCHREALTIME
    for k in 1 2 3; do
        local ticks=0 rss=0 pss=0 n=0
        local r
        for p in $(sbd_pids "$w" "$k"); do
            # a zombie (a servant that ended, not yet reaped) has no memory: skipped
            r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || r=
            [[ -n $r ]] || continue
            n=$((n + 1))
            ticks=$((ticks + $(cpu_ticks "$p")))
            rss=$((rss + r))
            pss=$((pss + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup")))
        done
        echo "$k $n $rss $pss $(awk -v a="$ticks" -v b="${before[$k]}" -v hz="$hz" -v t1="$t1" -v t2="$t2" \
            'BEGIN { printf "%.3f", (a - b) / hz / (t2 - t1) * 100 }')" >>"$DIR/$name.usage"
    done
}

# fault LAB NAME WHAT K OBSERVER: `lab.sh WHAT` on node K (kill-pacemakerd, stop-cib,
# stall-disk), watched 40 s from node OBSERVER (its crm_mon, crm_resource); one line
# "WHAT nodeK selffenced bmc_fenced dummy_moved still_online" to $DIR/NAME.faults
# (dummy_moved: Dummy runs elsewhere than before the fault).
fault() {
    local w=$1 name=$2 what=$3 victim=$4 k=$5 t0 sf=no bmc=no moved=no online=no before loc xml i
    before=$(located "$w" "$k") || before=
    t0=$(date +%s.%N)
    bash "$LAB" "$what" "$w" "$victim"
    sleep 40
    [[ $(sf_time "$w" "$victim" "$t0") != nan ]] && sf=yes
    [[ $(bmc_time "$w" "$victim" "set power 0" "$t0") != nan ]] && bmc=yes
    for i in 1 2 3 4 5; do # a loaded machine: crm_mon may time out once
        loc=$(located "$w" "$k") || loc=
        xml=$(bash "$LAB" exec "$w" "$k" crm_mon -1 --output-as=xml 2>/dev/null) || xml=
        [[ -n $loc && -n $xml ]] && break
        sleep 1
    done
    [[ -n $loc && $loc != "$before" ]] && moved=yes
    grep -Eq "<node name=\"node$victim\" [^>]*online=\"true\"" <<<"$xml" && online=yes
    echo "$what node$victim $sf $bmc $moved $online" >>"$DIR/$name.faults"
    echo "sbd $name: $(tail -n 1 "$DIR/$name.faults")" >&2
}

# faults LAB NAME: pacemakerd SIGKILLed on the Dummy node, then the CIB of a second node
# stopped (SIGSTOP of pacemaker-based), then the third node's path to the sbd disk
# stalled (its FUSE passthrough stopped), each watched 40 s; nothing is healed between
# them (each fault has its own node).
faults() {
    local w=$1 name=$2 a b c i
    a=$(located "$w" 1 | awk '{print $1}')
    a=${a#node}
    b=$(seq 3 | grep -vx "$a" | head -n 1)
    c=$(seq 3 | grep -vx "$a" | grep -vx "$b" | head -n 1)
    # observers: a node whose pacemakerd is dead has no crm_mon (it asks pacemakerd first)
    fault "$w" "$name" kill-pacemakerd "$a" "$b"
    fault "$w" "$name" stop-cib "$b" "$c"
    for i in $(seq 120); do # node b back (fenced and rebooted, if it was)
        bash "$LAB" exec "$w" "$c" crm_mon -1 --output-as=xml 2>/dev/null \
            | grep -Eq "<node name=\"node$b\" [^>]*online=\"true\"" && break
        sleep 1
    done
    fault "$w" "$name" stall-disk "$c" "$b"
}

# bench_sbd NAME SBD BIND SETTINGS: one disk-based sbd lab, RUNS BMC-down faults.
bench_sbd() {
    local name=$1 sbd=$2 bind=$3 settings=$4 w=$DIR/sbd-$1 run victim survivors t0 k i loc where
    CURRENT=$w
    mkdir -p "$w"
    printf '%s' "$settings" >"$w/default-sbd"
    bash "$LAB" mkdisk "$w/sbd.img" "$sbd" 5 10 >/dev/null 2>&1
    bash "$LAB" up "$w" 3 "pb$$${name:0:1}s" 10.79.251 "$bind" 1 "$w/sbd.img" 1
    bash "$LAB" wait-online "$w" 240
    bash "$LAB" configure "$w"
    for i in $(seq 240); do all_started "$w" 5 && break; sleep 0.5; done
    sbd_usage "$w" "$name"
    for ((run = 0; run < RUNS; run++)); do
        for i in $(seq 240); do all_started "$w" 5 && break; sleep 0.5; done
        victim=$(located "$w" 1 | awk '{print $1}')
        victim=${victim#node}
        [[ -n $victim ]] || die "$name: Dummy not located"
        survivors=$(seq 3 | grep -vx "$victim" | tr '\n' ' ')
        t0=$(date +%s.%N)
        bash "$LAB" bmc-stop "$w" "$victim"
        bash "$LAB" cut "$w" "$victim"
        where= k=${survivors%% *}
        for i in $(seq 960); do
            loc=$(located "$w" "$k")
            if [[ -n $loc && $loc != *"node$victim "* ]]; then where=$loc; break; fi
            sleep 0.25
        done
        [[ -n $where ]] || die "$name run $run: Dummy never moved off node$victim"
        sleep 1
        printf '%s %s %s %s %s %s %s %s\n' "$run" \
            "$(pl_time "$w" "$survivors" "Node node$victim state is now lost" "$t0")" \
            "$(pl_time "$w" "$survivors" "Requesting fencing \([a-z]+\) of node node$victim" "$t0")" \
            "$(pl_time "$w" "$survivors" "targeting node$victim using fence_node$victim returned" "$t0")" \
            "$(pl_time "$w" "$survivors" "perform '[a-z]+' action targeting node$victim using fence_sbd" "$t0")" \
            "$(sf_time "$w" "$victim" "$t0")" \
            "$(pl_time "$w" "$survivors" "Operation '[a-z]+' targeting node$victim by .*: OK" "$t0")" \
            "$(pl_time "$w" "$survivors" "Result of start operation for dummy on node[0-9]+: ok" "$t0")" |
            awk -v t0="$t0" '{ printf "%s", $1; for (i = 2; i <= NF; i++) printf " %.3f", ($i == "nan") ? -1 : $i - t0; print "" }' \
            >>"$DIR/sbd-$name.runs"
        echo "sbd $name run $((run + 1))/$RUNS: node$victim BMC down + cut -> $(tail -n 1 "$DIR/sbd-$name.runs" | cut -d' ' -f2-) s" >&2
        bash "$LAB" bmc-start "$w" "$victim"
        bash "$LAB" heal "$w" "$victim"
        bash "$LAB" boot "$w" "$victim"
        bash "$LAB" wait-online "$w" 120
    done
    for i in $(seq 240); do all_started "$w" 5 && break; sleep 0.5; done
    faults "$w" "$name"
    bash "$LAB" down "$w"
    CURRENT=
}

col() {
    [[ -s $DIR/$1.runs ]] || { echo nan; return; }
    awk -v c="$2" '$c >= 0 { print $c }' "$DIR/$1.runs" | median '%.2f'
}

if [[ " $PARTS " == *" agents "* ]]; then
    bench_agent ours "$OURS:/usr/sbin/fence_ipmilan"
    bench_agent theirs ""
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
fi

if [[ " $PARTS " == *" sbd "* ]]; then
    SETTINGS_COMMON='SBD_PACEMAKER=yes
SBD_STARTMODE=always
SBD_DELAY_START=no
SBD_DEVICE=/dev/sbd
SBD_WATCHDOG_TIMEOUT=5
SBD_TIMEOUT_ACTION=flush,reboot
SBD_MOVE_TO_ROOT_CGROUP=no
SBD_SYNC_RESOURCE_STARTUP=yes
'
    STACKS=${BENCH_SBD_STACKS:-ours theirs}
    [[ " $STACKS " != *" ours "* ]] || bench_sbd ours "$REL/palisade-sbd" \
        "$REL/palisade-sbd:/usr/sbin/sbd $OURS:/usr/sbin/fence_ipmilan $REL/fence_sbd:/usr/sbin/fence_sbd" \
        "${SETTINGS_COMMON}SBD_WATCHDOG_DEV=pet-file:/run/testdev/sbd.pets
SBD_OPTS=\"--self-fence=record:/run/testdev/sbd.record\"
"
    [[ " $STACKS " != *" theirs "* ]] || bench_sbd theirs /usr/sbin/sbd "" "${SETTINGS_COMMON}SBD_WATCHDOG_DEV=/dev/null
SBD_OPTS=\"-Z -Z\"
"
    echo "== disk-based sbd (SBD_PACEMAKER=yes, msgwait 10 s), topology: 1 fence_ipmilan, 2 fence_sbd;"
    echo "   the Dummy node's BMC is down and its links are cut; $RUNS runs each"
    echo "   ours = palisade-sbd + our agents; theirs = Debian's sbd 1.5.2 (-Z -Z) + ClusterLabs' agents"
    echo "   seconds after the fault (medians)    ours  theirs  ours/theirs"
    i=2
    for what in "membership lost" "fence requested" "level 1 failed" "level 2: poison pill" \
        "victim's sbd self-fenced" "fence confirmed" "Dummy started"; do
        o=$(col sbd-ours $i) t=$(col sbd-theirs $i)
        printf '   %-32s %6s  %6s  %s\n' "$what" "$o" "$t" "$(ratio "$o" "$t")"
        i=$((i + 1))
    done
    printf '   %-32s %6s  %6s  %s\n' "pill -> self-fence" \
        "$(awk '$5 >= 0 && $6 >= 0 { print $6 - $5 }' "$DIR/sbd-ours.runs" 2>/dev/null | median '%.2f')" \
        "$(awk '$5 >= 0 && $6 >= 0 { print $6 - $5 }' "$DIR/sbd-theirs.runs" 2>/dev/null | median '%.2f')" \
        "$(ratio "$(awk '$5 >= 0 && $6 >= 0 { print $6 - $5 }' "$DIR/sbd-ours.runs" | median)" \
            "$(awk '$5 >= 0 && $6 >= 0 { print $6 - $5 }' "$DIR/sbd-theirs.runs" | median)")"
    echo "   per run (run loss requested level1-failed pill self-fenced confirmed started):"
    sed 's/^/     ours   /' "$DIR/sbd-ours.runs" 2>/dev/null || true
    sed 's/^/     theirs /' "$DIR/sbd-theirs.runs" 2>/dev/null || true
    echo "   sbd processes per node, idle cluster (node procs RSS-KiB PSS-KiB CPU-%-of-a-core over 60 s,"
    echo "   children included: ours runs crm_mon after a CIB change and every 30 s):"
    sed 's/^/     ours   node/' "$DIR/ours.usage" 2>/dev/null || true
    sed 's/^/     theirs node/' "$DIR/theirs.usage" 2>/dev/null || true
    echo "   faults, each on its own node, 40 s later (fault node self-fenced BMC-fenced Dummy-moved still-online):"
    sed 's/^/     ours   /' "$DIR/ours.faults" 2>/dev/null || true
    sed 's/^/     theirs /' "$DIR/theirs.faults" 2>/dev/null || true
fi

if [[ " $PARTS " == *" node "* ]]; then
    if bash tests/fixtures/cluster/lab.sh check >/dev/null 2>&1; then
        for ((run = 0; run < RUNS; run++)); do
            BENCH=1 PALISADE_BIN=$REL/palisade FENCE_IPMILAN=$OURS bash scripts/cluster_demo.sh 2>/dev/null \
                | sed -n 's/^failover_ms=//p' | awk '{ printf "%.3f\n", $1 / 1000 }' >>"$DIR/node.runs"
            echo "node run $((run + 1))/$RUNS: $(tail -n 1 "$DIR/node.runs") s" >&2
        done
        echo "== the same link cut, each stack on the same kind of lab (3 nodes, one ipmi_sim BMC per node,"
        echo "   our fence_ipmilan), seconds from the cut to the resource started on a survivor (medians):"
        [[ -s $DIR/ours.runs ]] && printf '   %-44s %6s\n' "corosync + pacemaker (token 1000 ms), ours" "$(col ours 6)"
        [[ -s $DIR/theirs.runs ]] && printf '   %-44s %6s\n' "corosync + pacemaker, ClusterLabs' agent" "$(col theirs 6)"
        printf '   %-44s %6s   (runs: %s)\n' "palisade node (deadtime 1 s)" \
            "$(median '%.2f' <"$DIR/node.runs")" "$(tr '\n' ' ' <"$DIR/node.runs")"
    else
        echo "== palisade node: skipped (tests/fixtures/cluster/lab.sh check failed)"
    fi
fi

