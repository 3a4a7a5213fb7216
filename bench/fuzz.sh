#!/usr/bin/env bash
# Long fuzzing run of every parser's property tests (issue #16): the same properties the
# test suite runs briefly, with many more cases each (proptest on stable Rust).
#
#   bash bench/fuzz.sh                 (FUZZ_CASES=20000 per property)
#   FUZZ_CASES=200000 bash bench/fuzz.sh
#   PROPTEST_RNG_SEED=7 bash bench/fuzz.sh   (another fixed seed; default is proptest's)
#
# Prints one line per property: cases tried and failures; a failing property also shows
# its minimal (shrunk) input. Exits non-zero when any property failed. The test profile's
# debug build (overflow checks on, as in the suite), so nothing is rebuilt twice.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CASES=${FUZZ_CASES:-20000}
# Targets: <cargo package> <test target: --test NAME or --lib> <name filter>.
TARGETS=(
    "palisade --test fuzz_parsers heartbeat,challenges,fencer,node,api"
    "sbd --test fuzz_format sectors"
    "fence-agents --test fuzz_parsers snmp,agent-options,ssh,cli-output"
    "fence-agents --lib fuzz_tests ipmi,redfish"
)

if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "fuzz.sh: cargo not found" >&2; exit 1; }

export PROPTEST_CASES=$CASES PALISADE_FUZZ_REPORT=1
report=$(mktemp)
trap 'rm -f "$report" "$report.one"' EXIT
status=0
for target in "${TARGETS[@]}"; do
    read -r package kind name _ <<<"$target"
    if [[ $kind == --lib ]]; then
        args=(--lib -- "$name")
    else
        args=(--test "$name")
    fi
    printf '\n=== %s %s %s (%s cases per property)\n' "$package" "$kind" "$name" "$CASES"
    # The FUZZ: lines go to stderr uncaptured (kept in the report); test output to stdout.
    : >"$report.one"
    cargo test --locked -q -p "$package" "${args[@]}" 2>"$report.one" \
        | grep -E 'panicked|minimal input|test result|FAILED|^----'
    rc=${PIPESTATUS[0]}
    grep '^FUZZ:' "$report.one" | sed 's/^FUZZ: /  /'
    if ((rc != 0)); then
        status=1
        grep -q '^FUZZ:' "$report.one" || tail -20 "$report.one"
    fi
    grep '^FUZZ:' "$report.one" >>"$report"
done
# Each property prints its line once (the runner counts the cases it ran).
printf '\n=== summary (cases tried, failures per property)\n'
grep '^FUZZ:' "$report" | sed 's/^FUZZ: /  /'
total=$(grep -c '^FUZZ:' "$report")
failed=$(grep '^FUZZ:' "$report" | grep -vc ', 0 failures$')
printf '  %s properties, %s failed\n' "$total" "$failed"
exit $((status || failed > 0))
