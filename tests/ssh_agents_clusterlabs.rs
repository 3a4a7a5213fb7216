//! Side by side: the same scenarios through ClusterLabs' `/usr/sbin/fence_virsh` and
//! `/usr/sbin/fence_ilo_ssh` (Debian `fence-agents`, ssh driven by pexpect) and through
//! ours, against the same test sshd and stand-in device from the same starting state.
//! Both must give the same exit code and stdout result lines, leave the device in the
//! same state and send it the same power commands.
//!
//! Both agents get the same `--ssh-options`: host keys unchecked and nothing written to
//! root's known_hosts (and, for virsh, ClusterLabs' own default remote shell).
//! Skipped with a printed notice (not a failure) when ClusterLabs' agents are absent.

mod common;
mod ssh_peer;

use common::*;
use ssh_peer::*;
use std::path::{Path, PathBuf};

/// What one agent did, the part that must agree between the two.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    code: Option<i32>,
    lines: Vec<String>,
    changes: Vec<String>,
    state_after: String,
}

fn clusterlabs(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from("/usr/sbin").join(name);
    if path.is_file() {
        Some(path)
    } else {
        testkit::skip::optional(format!(
            "{} not installed (apt-get install fence-agents): side-by-side not possible",
            path.display()
        ));
        None
    }
}

/// Set the starting state, run one agent, observe.
fn observe(
    agent: &Path,
    peer: &Sshd,
    setup: &dyn Fn(&Sshd),
    mode: Mode,
    opts: &Options,
) -> (Observed, Outcome) {
    setup(peer);
    peer.clear_logs();
    let out = run_agent(agent, mode, opts);
    assert!(!out.stderr.contains("panicked"), "panic: {out:#?}");
    let (changes, state_after) = match peer.device {
        Device::Virsh => (
            peer.virsh_changes(),
            ["vm1", "vm2", "vm3"]
                .iter()
                .map(|v| format!("{v}={}", peer.vm(v)))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Device::Ilo => (peer.ilo_changes(), peer.ilo_power()),
    };
    // ClusterLabs prints list-status states as the agent's device code spells them
    // (fence_virsh: lower case; fencing.py upper-cases only UNKNOWN). Ours always prints
    // ON/OFF/UNKNOWN, as the other agents do; the comparison ignores case there.
    let list_status = opts
        .0
        .iter()
        .any(|o| o.name == "action" && o.value.as_deref() == Some("list-status"));
    let lines = out
        .result_lines()
        .into_iter()
        .map(|l| {
            if list_status {
                l.to_ascii_uppercase()
            } else {
                l
            }
        })
        .collect();
    let observed = Observed {
        code: out.code,
        lines,
        changes,
        state_after,
    };
    (observed, out)
}

/// Run the scenario through both agents and compare.
fn compare(name: &str, peer: &Sshd, setup: &dyn Fn(&Sshd), mode: Mode, opts: &Options) {
    let (ours, theirs) = match peer.device {
        Device::Virsh => (built_binary("fence_virsh"), clusterlabs("fence_virsh")),
        Device::Ilo => (built_binary("fence_ilo_ssh"), clusterlabs("fence_ilo_ssh")),
    };
    let Some(theirs) = theirs else {
        return;
    };
    let (mut their_view, mut their_out) = observe(&theirs, peer, setup, mode, opts);
    let (our_view, our_out) = observe(&ours, peer, setup, mode, opts);
    if our_view != their_view {
        // ClusterLabs drives ssh through pexpect and, on a loaded 2-core machine, now and
        // then misreads a prompt (seen: fence_ilo_ssh "Status: OFF" on a powered-on iLO).
        // Their flake is not ours to fail on: ask them once more before comparing.
        eprintln!("{name}: ClusterLabs differed ({their_view:?}); running it once more");
        (their_view, their_out) = observe(&theirs, peer, setup, mode, opts);
    }
    assert_eq!(
        our_view, their_view,
        "{name}: ours differs from ClusterLabs\n--- ours: {our_out:#?}\n--- ClusterLabs: {their_out:#?}"
    );
    eprintln!(
        "{name}: both exit {:?} {:?}; ours {:?}, ClusterLabs {:?}",
        our_view.code, our_view.lines, our_out.elapsed, their_out.elapsed
    );
}

fn all_running(peer: &Sshd) {
    for vm in ["vm1", "vm2", "vm3"] {
        peer.set_vm(vm, "running");
    }
}

fn vm1_off(peer: &Sshd) {
    all_running(peer);
    peer.set_vm("vm1", "shut off");
}

#[test]
fn virsh_status_both_states_and_modes() {
    let peer = Sshd::start(Device::Virsh);
    for mode in [Mode::Argv, Mode::Stdin] {
        let opts = peer.password_options("status").set("plug", "vm1");
        compare("virsh status on", &peer, &all_running, mode, &opts);
        compare("virsh status off", &peer, &vm1_off, mode, &opts);
    }
}

#[test]
fn virsh_power_actions() {
    let peer = Sshd::start(Device::Virsh);
    let opts = |action: &str| peer.password_options(action).set("plug", "vm1");
    compare("virsh off", &peer, &all_running, Mode::Argv, &opts("off"));
    compare(
        "virsh off, already",
        &peer,
        &vm1_off,
        Mode::Stdin,
        &opts("off"),
    );
    compare("virsh on", &peer, &vm1_off, Mode::Stdin, &opts("on"));
    compare(
        "virsh on, already",
        &peer,
        &all_running,
        Mode::Argv,
        &opts("on"),
    );
    compare(
        "virsh reboot",
        &peer,
        &all_running,
        Mode::Argv,
        &opts("reboot"),
    );
    compare(
        "virsh reboot from off",
        &peer,
        &vm1_off,
        Mode::Stdin,
        &opts("reboot"),
    );
}

#[test]
fn virsh_lists() {
    let peer = Sshd::start(Device::Virsh);
    compare(
        "virsh list",
        &peer,
        &vm1_off,
        Mode::Argv,
        &peer.password_options("list"),
    );
    compare(
        "virsh list-status",
        &peer,
        &vm1_off,
        Mode::Stdin,
        &peer.password_options("list-status"),
    );
    compare(
        "virsh monitor",
        &peer,
        &vm1_off,
        Mode::Argv,
        &peer.password_options("monitor"),
    );
}

#[test]
fn virsh_unknown_domain_and_missing_as_off() {
    let peer = Sshd::start(Device::Virsh);
    let opts = peer.password_options("status").set("plug", "vm9");
    compare(
        "virsh unknown domain",
        &peer,
        &all_running,
        Mode::Argv,
        &opts,
    );
    compare(
        "virsh unknown domain, missing-as-off",
        &peer,
        &all_running,
        Mode::Stdin,
        &opts.clone().flag("missing_as_off"),
    );
    compare(
        "virsh off unknown domain, missing-as-off",
        &peer,
        &all_running,
        Mode::Argv,
        &peer
            .password_options("off")
            .set("plug", "vm9")
            .flag("missing_as_off"),
    );
}

#[test]
fn virsh_key_login_and_wrong_password() {
    let peer = Sshd::start(Device::Virsh);
    let key = peer
        .options("status", &peer.unchecked())
        .set("plug", "vm1")
        .set("identity_file", peer.key("client_ed25519").display());
    compare("virsh key login", &peer, &all_running, Mode::Argv, &key);
    let wrong = peer
        .options("status", &peer.unchecked())
        .set("plug", "vm1")
        .set("password", "wrong-password")
        .set("login_timeout", 2);
    compare(
        "virsh wrong password",
        &peer,
        &all_running,
        Mode::Argv,
        &wrong,
    );
}

fn ilo_on(peer: &Sshd) {
    peer.set_ilo_power(true);
}

fn ilo_off(peer: &Sshd) {
    peer.set_ilo_power(false);
}

#[test]
fn ilo_status_and_power_actions() {
    let peer = Sshd::start(Device::Ilo);
    let opts = |action: &str| peer.password_options(action).set("power_wait", 0);
    compare("ilo status on", &peer, &ilo_on, Mode::Argv, &opts("status"));
    compare(
        "ilo status off",
        &peer,
        &ilo_off,
        Mode::Stdin,
        &opts("status"),
    );
    compare("ilo off", &peer, &ilo_on, Mode::Argv, &opts("off"));
    compare("ilo on", &peer, &ilo_off, Mode::Stdin, &opts("on"));
    compare("ilo reboot", &peer, &ilo_on, Mode::Argv, &opts("reboot"));
    compare(
        "ilo reboot cycle",
        &peer,
        &ilo_on,
        Mode::Stdin,
        &opts("reboot").set("method", "cycle"),
    );
}
