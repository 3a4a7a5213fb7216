# shellcheck shell=bash
# Shared helpers of the bench/*.sh scripts: sourced (never run) after the script has
# changed into the repository root. Owns the package check, the release build, the timing
# loop and median, peak RSS through /usr/bin/time, and the ratio.
#
# Variables the helpers read from the sourcing script:
#   RUNS      timed runs per case (median_ms)
#   RSS_FILE  scratch file for /usr/bin/time's output (peak_rss_kb)

die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# need_packages <package...>: install the Debian packages that are missing (needs root).
need_packages() {
    local p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            [[ $(id -u) == 0 ]] || die "package $p missing; run as root"
            export DEBIAN_FRONTEND=noninteractive
            apt-get update -q && apt-get install -y -q --no-install-recommends "$p"
        fi
    done
}

# build_release <cargo build args...>: `cargo build --release --locked ...`, finding cargo
# under $CARGO_HOME (or ~/.cargo) when it is not on PATH.
build_release() {
    if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    command -v cargo >/dev/null || die "cargo not found"
    cargo build --release --locked "$@" >&2
}

# time_ms <cmd...>: wall time of one run in ms (bash's clock, no extra fork). Every
# benchmarked command reads a powered/running target and so exits 0 (or EXPECT_RC, set
# by median_fail_ms); anything else means the run is not comparable.
time_ms() {
    local t0=$EPOCHREALTIME t1 rc=0
    "$@" >/dev/null 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    ((rc == ${EXPECT_RC:-0})) || die "'$*' exited $rc, not ${EXPECT_RC:-0}"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
}

# median [FORMAT] < numbers: the median of the numbers on stdin, one a line; printed
# with the printf FORMAT when given, else as awk prints a number.
median() {
    sort -n | awk -v fmt="${1:-}" '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        if (fmt == "") print m; else printf fmt "\n", m }'
}

# median_ms <cmd...>: one warm-up, then RUNS timed runs; the median in ms.
median_ms() {
    "$@" >/dev/null 2>&1 || true
    local i
    for ((i = 0; i < RUNS; i++)); do time_ms "$@"; done | median '%.2f'
}

# median_fail_ms CODE <cmd...>: median_ms of a run that must fail with exit CODE (how
# long an agent takes to give up: a timeout, a refusal), over FAIL_RUNS runs (default 5).
median_fail_ms() {
    local EXPECT_RC=$1 RUNS=${FAIL_RUNS:-5}
    shift
    median_ms "$@"
}

# peak_rss_kb <cmd...>: the largest max-RSS (KiB) over 5 runs.
peak_rss_kb() {
    local i
    for ((i = 0; i < 5; i++)); do
        /usr/bin/time -f '%M' -o "$RSS_FILE" "$@" >/dev/null 2>&1 || true
        tail -n 1 "$RSS_FILE"
    done | sort -n | tail -n 1
}

# ratio A B: A / B with three decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
