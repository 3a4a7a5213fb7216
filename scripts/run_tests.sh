#!/usr/bin/env bash
# palisade's test runner: every test binary of the workspace (already built by
# scripts/test.sh), in two lanes, then the doc tests. scripts/test.sh runs it; by hand:
#
#   bash scripts/run_tests.sh     TEST_JOBS=N: light binaries at once (3)
#                                 TEST_ONLY=PATTERN: only the binaries whose id matches
#                                 (ids as printed: `./cli_agents`, `sbd/daemon`, ...)
#                                 TEST_SERIAL=1: one binary at a time, the light ones
#                                 after the heavy ones (to rule out interference)
#
# Lanes. The heavy labs (HEAVY below: network namespaces with clusters of our node,
# corosync + pacemaker and its stand-alone fencer, the fault campaign, the cluster demo,
# the status page's cluster) have timers that a starved CPU trips and share host resources (loop devices,
# /dev/shm, the one pacemaker-fenced of a host), so they run one after another, at
# normal priority, as `cargo test` ran them. Every other binary is light: it runs beside
# the heavy lane, TEST_JOBS at a time, under `nice` (its peers inherit it), so the heavy
# lab gets the CPU first. Their tests keep the harness' own threads (one per core); they
# wait on peers far more than they compute.
#
# A binary runs as `cargo test` would run it: from its package's directory, with CARGO
# (SAFETY: the real self-fence executor refuses to act wherever CARGO is set; the
# watchdog crate's production_guard test checks it) and CARGO_MANIFEST_DIR/_PATH set;
# PALISADE_SKIP_LOG and every other variable pass through (testkit's skip policy is
# unchanged). Its output goes to a file: one line per binary when it passes, its whole
# output when it fails (after both lanes are done). At the end, the slowest binaries;
# exit 1 if any binary failed.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
# The lists below hold patterns: never expand them as file names.
set -f

# Heavy lab binaries, `package/target` with shell patterns (the package is its directory
# name, `.` for palisade itself).
HEAVY="
    ./pcmk_*
    ./cluster_*
    ./chaos
    ./demo
    ./status_page
    ./fencer_pacemaker
"
# Light binaries that take longest start first, so the light lane does not end on one.
LIGHT_FIRST="
    ./cli_agents
    ./redfish
    ./snmp_devices
    ./aws
    ./xvm
    ./redfish_clusterlabs
    sbd/daemon
    ./cli_agents_clusterlabs
    ./fence_sbd
    ./snmp
    ./package
"
JOBS=${TEST_JOBS:-3}
ONLY=${TEST_ONLY:-*}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "run_tests.sh: TEST_JOBS must be a number >= 1" >&2; exit 2; }
# What cargo exports to the tests it runs, the self-fence guard first.
CARGO=${CARGO:-$(command -v cargo)}
[[ -n $CARGO ]] || { echo "run_tests.sh: cargo not found" >&2; exit 1; }
export CARGO

work=$(mktemp -d /tmp/palisade-tests.XXXXXX)
trap 'rm -rf "$work"' EXIT

# package-dir <TAB> kind <TAB> target name <TAB> executable, for every test binary.
cargo test --workspace --locked --no-run --message-format=json 2>"$work/build.err" |
    python3 -c '
import json, os, sys
root = sys.argv[1]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    if not m["profile"]["test"]:
        continue
    pkg = os.path.relpath(os.path.dirname(m["manifest_path"]), root)
    t = m["target"]
    print("\t".join([pkg, t["kind"][0], t["name"], m["executable"]]))
' "$root" >"$work/binaries" || {
    cat "$work/build.err" >&2
    echo "run_tests.sh: cannot list the test binaries" >&2
    exit 1
}

# matches ID PATTERNS...: whether ID matches one of the shell patterns.
matches() {
    local id=$1 p
    shift
    for p in "$@"; do
        # shellcheck disable=SC2053 # a pattern on purpose
        [[ $id == $p ]] && return 0
    done
    return 1
}

# run_one ID NICE DIR EXE...: run one binary (or command), its output to $work/out/ID,
# then one result line to $work/results: "rc seconds ID".
mkdir -p "$work/out"
run_one() {
    local id=$1 niceness=$2 dir=$3 log t0 rc
    shift 3
    log=$work/out/${id//\//_}
    t0=$SECONDS
    (cd "$dir" && CARGO_MANIFEST_DIR=$PWD CARGO_MANIFEST_PATH=$PWD/Cargo.toml \
        nice -n "$niceness" "$@") >"$log" 2>&1
    rc=$?
    local summary
    summary=$(grep -h '^test result:' "$log" | awk '{p+=$4; f+=$6; i+=$8} END {printf "%d passed, %d failed, %d ignored", p, f, i}')
    printf '%-3s %4d s  %-40s %s\n' "$([[ $rc == 0 ]] && echo ok || echo FAIL)" \
        $((SECONDS - t0)) "$id" "$summary"
    echo "$rc $((SECONDS - t0)) $id" >>"$work/results"
}

heavy=() first=() light=()
while IFS=$'\t' read -r pkg kind name exe; do
    id=$pkg/$name
    [[ $kind == test ]] || id="$pkg/$name($kind)"
    # shellcheck disable=SC2053 # a pattern on purpose
    [[ $id == $ONLY ]] || continue
    entry=$id$'\t'$pkg$'\t'$exe
    # shellcheck disable=SC2086 # the lists are word lists of patterns
    if [[ $kind == test ]] && matches "$id" $HEAVY; then
        heavy+=("$entry")
    elif matches "$id" $LIGHT_FIRST; then
        first+=("$entry")
    else
        light+=("$entry")
    fi
done <"$work/binaries"
light=("${first[@]}" "${light[@]}")
if [[ ${TEST_SERIAL:-0} == 1 ]]; then
    echo "${#heavy[@]} heavy lab binaries, then ${#light[@]} others, one at a time"
else
    echo "${#heavy[@]} heavy lab binaries one at a time; ${#light[@]} others beside them, $JOBS at a time"
fi

heavy_lane() {
    local entry id pkg exe
    for entry in "${heavy[@]}"; do
        IFS=$'\t' read -r id pkg exe <<<"$entry"
        run_one "$id" 0 "$root/$pkg" "$exe"
    done
    echo "--- heavy lane done ($((SECONDS - t0)) s)"
}

light_lane() {
    local entry id pkg exe
    for entry in "${light[@]}"; do
        while (($(jobs -rp | wc -l) >= JOBS)); do wait -n; done
        IFS=$'\t' read -r id pkg exe <<<"$entry"
        run_one "$id" 10 "$root/$pkg" "$exe" &
    done
    wait
    # The doc tests last: rustdoc compiles each example, which wants the cores.
    # shellcheck disable=SC2053 # a pattern on purpose
    if [[ doc-tests == $ONLY ]]; then
        run_one "doc-tests" 10 "$root" cargo test --workspace --locked --doc
    fi
    echo "--- light lane done ($((SECONDS - t0)) s)"
}

t0=$SECONDS
if [[ ${TEST_SERIAL:-0} == 1 ]]; then
    JOBS=1
    heavy_lane
    light_lane
else
    heavy_lane &
    heavy_pid=$!
    light_lane &
    light_pid=$!
    wait "$heavy_pid"
    wait "$light_pid"
fi

echo
echo "slowest binaries (wall seconds; both lanes took $((SECONDS - t0)) s):"
sort -k2,2nr "$work/results" | head -12 | awk '{printf "  %4d s  %s\n", $2, $3}'

failed=$(awk '$1 != 0 {print $3}' "$work/results")
if [[ -n $failed ]]; then
    for id in $failed; do
        printf '\n===== output of %s (FAILED)\n' "$id"
        cat "$work/out/${id//\//_}"
    done
    printf '\nfailed test binaries:'
    printf ' %s' $failed
    echo
    exit 1
fi
echo "all $(wc -l <"$work/results") test binaries passed"
