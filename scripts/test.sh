#!/usr/bin/env bash
# palisade's one test command (README, CI): bash scripts/test.sh
#
# On a fresh Debian 12 machine, as root, it installs the peers the tests run against
# (skipped when they are all present), builds the whole workspace once, then runs
# rustfmt, clippy and the complete test suite. Exits non-zero if any step fails.
# Every test talks to 127.0.0.1 only and stops only processes it started itself.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the suite needs. Later work appends its peers here
# (sbd, pacemaker, snmpd snmp, openssh-server, python3-pip ...).
TEST_PACKAGES="
    openipmi
    ipmitool
    fence-agents
    corosync
    gcc
    libc6-dev
    pkg-config
    sbd
    openssl
    curl
    snmpd
    snmp
    pacemaker
    pacemaker-cli-utils
    openssh-server
    libssl-dev
    resource-agents
    iproute2
    iptables
    python3-fusepy
    chromium
    kmod
    e2fsprogs
    fence-virtd
    fence-virt
    libvirt-daemon
    libvirt-clients
    inetutils-telnetd
    systemd
    inetutils-telnet
"
# Python packages installed with pip when listed (e.g. sushy-tools).
PIP_PACKAGES="sushy-tools moto[server] boto3"

log() { printf '\n=== %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

install_packages() {
    local missing=() p
    for p in $TEST_PACKAGES; do
        installed "$p" || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "packages: all present ($(echo $TEST_PACKAGES))"
    else
        log "packages: installing ${missing[*]}"
        [[ $(id -u) == 0 ]] || die "missing packages ${missing[*]}; run as root or install them"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q || die "apt-get update failed"
        apt-get install -y -q --no-install-recommends "${missing[@]}" || die "apt-get install failed"
    fi
    if [[ -n $PIP_PACKAGES ]]; then
        installed python3-pip || {
            apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-pip
        } || die "cannot install python3-pip"
        for p in $PIP_PACKAGES; do
            python3 -m pip show -q "${p%%\[*}" >/dev/null 2>&1 && continue
            log "pip: installing $p"
            python3 -m pip install -q --break-system-packages "$p" || die "pip install $p failed"
        done
    fi
}

find_cargo() {
    if ! command -v cargo >/dev/null && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/cargo ]]; then
        export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    fi
    command -v cargo >/dev/null || die "cargo not found: install Rust >= 1.80 (https://rustup.rs), then rerun"
    cargo fmt --version >/dev/null 2>&1 || die "rustfmt missing: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 || die "clippy missing: rustup component add clippy"
    log "toolchain: $(cargo --version)"
}

failed=()
step() {
    local name=$1
    shift
    log "$name: $*"
    local t0=$SECONDS
    if "$@"; then
        echo "--- $name ok ($((SECONDS - t0)) s)"
    else
        echo "--- $name FAILED ($((SECONDS - t0)) s)"
        failed+=("$name")
        return 1
    fi
}

install_packages
find_cargo
[[ -f Cargo.lock ]] || die "Cargo.lock is not committed"

step fmt cargo fmt --all --check
# One build of everything (bins included: the tests run the built agents).
if step build cargo build --workspace --all-targets --locked; then
    step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
    # Tests that cannot run here append `SKIPPED: <test>: <reason>` lines to this file
    # (testkit::skip); under CI=true or as root a missing required peer fails instead.
    # Every test binary and the doc tests, as `cargo test --workspace --no-fail-fast`
    # would run them, the heavy labs one at a time and the rest beside them
    # (scripts/run_tests.sh).
    skip_log=$(mktemp)
    PALISADE_SKIP_LOG=$skip_log step test bash scripts/run_tests.sh
fi

if [[ -n ${skip_log:-} ]]; then
    # One test may report several skipped parts: count tests, list every reason.
    skipped=$(sed -n 's/^SKIPPED: \([^:]*\(::[^:]*\)*\): .*/\1/p' "$skip_log" | sort -u | wc -l)
    log "skipped tests: $skipped"
    sed 's/^/  /' "$skip_log"
    rm -f "$skip_log"
fi

if ((${#failed[@]})); then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "all steps passed (fmt, build, clippy, test; ${skipped:-0} tests skipped)"
