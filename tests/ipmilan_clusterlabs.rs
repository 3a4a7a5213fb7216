//! Side by side: the same scenarios through ClusterLabs' `/usr/sbin/fence_ipmilan`
//! (Debian `fence-agents`, the behaviour baseline) and through ours, on the same
//! simulated BMC from the same starting power state. Both must give the same exit code,
//! the same stdout result lines and send the BMC the same power commands.
//!
//! Skipped with a printed notice (not a failure) when ClusterLabs' agent is absent.

mod common;

use common::*;
use std::path::Path;

/// What one agent did to the BMC, the part that must agree between the two agents.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    code: Option<i32>,
    lines: Vec<String>,
    commands: Vec<String>,
    power_after: Option<bool>,
}

/// Run one scenario (argv or stdin text) with one agent from a given power state.
fn observe(
    agent: &Path,
    bmc: Option<&Bmc>,
    power: bool,
    args: &[String],
    stdin: Option<&str>,
) -> (Observed, Outcome) {
    if let Some(bmc) = bmc {
        bmc.set_power(power);
        bmc.clear_actions();
    }
    let out = run_raw(agent, args, stdin, &[]);
    assert!(!out.stderr.contains("panicked"), "panic: {out:#?}");
    let observed = Observed {
        code: out.code,
        lines: out.result_lines(),
        commands: bmc.map(Bmc::set_actions).unwrap_or_default(),
        power_after: bmc.map(Bmc::power_file),
    };
    (observed, out)
}

/// Run the scenario through both agents and compare.
fn compare(name: &str, bmc: Option<&Bmc>, power: bool, args: &[String], stdin: Option<&str>) {
    let Some(theirs) = clusterlabs_ipmilan() else {
        return;
    };
    let (their_view, their_out) = observe(&theirs, bmc, power, args, stdin);
    let (our_view, our_out) = observe(&our_ipmilan(), bmc, power, args, stdin);
    assert_eq!(
        our_view, their_view,
        "{name}: ours differs from ClusterLabs\n--- ours: {our_out:#?}\n--- ClusterLabs: {their_out:#?}"
    );
    eprintln!(
        "{name}: both exit {:?} {:?}; ours {:?}, ClusterLabs {:?}",
        our_view.code, our_view.lines, our_out.elapsed, their_out.elapsed
    );
}

/// ClusterLabs-documented command line plus `--power-wait 0` (separate-value form).
fn argv(bmc: &Bmc, action: &str, password: &str) -> Vec<String> {
    let mut v = bmc.short_argv(action, password);
    v.extend(["--power-wait".to_string(), "0".to_string()]);
    v
}

#[test]
fn same_status_on() {
    let bmc = Bmc::start(true);
    compare(
        "status on",
        Some(&bmc),
        true,
        &argv(&bmc, "status", BMC_PASS),
        None,
    );
}

#[test]
fn same_status_off() {
    let bmc = Bmc::start(false);
    compare(
        "status off",
        Some(&bmc),
        false,
        &argv(&bmc, "status", BMC_PASS),
        None,
    );
}

#[test]
fn same_off() {
    let bmc = Bmc::start(true);
    compare("off", Some(&bmc), true, &argv(&bmc, "off", BMC_PASS), None);
    compare(
        "off (already)",
        Some(&bmc),
        false,
        &argv(&bmc, "off", BMC_PASS),
        None,
    );
}

#[test]
fn same_on() {
    let bmc = Bmc::start(false);
    compare("on", Some(&bmc), false, &argv(&bmc, "on", BMC_PASS), None);
    compare(
        "on (already)",
        Some(&bmc),
        true,
        &argv(&bmc, "on", BMC_PASS),
        None,
    );
}

#[test]
fn same_reboot() {
    let bmc = Bmc::start(true);
    compare(
        "reboot",
        Some(&bmc),
        true,
        &argv(&bmc, "reboot", BMC_PASS),
        None,
    );
    compare(
        "reboot (from off)",
        Some(&bmc),
        false,
        &argv(&bmc, "reboot", BMC_PASS),
        None,
    );
}

#[test]
fn same_wrong_password() {
    let bmc = Bmc::start(true);
    for action in ["status", "off"] {
        let args = argv(&bmc, action, "wrong");
        compare(
            &format!("{action}, wrong password"),
            Some(&bmc),
            true,
            &args,
            None,
        );
    }
}

fn unreachable(action: &str) {
    let port = free_udp_port().to_string();
    let args: Vec<String> = [
        "-a",
        LOOPBACK,
        "-u",
        &port,
        "-l",
        BMC_USER,
        "-p",
        BMC_PASS,
        "-P",
        "-C",
        "3",
        "-o",
        action,
        "--power-wait",
        "0",
        "--power-timeout",
        "3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    compare(&format!("{action}, unreachable"), None, true, &args, None);
}

#[test]
fn same_unreachable_status() {
    unreachable("status");
}

#[test]
fn same_unreachable_off() {
    unreachable("off");
}

#[test]
fn same_pacemaker_stdin() {
    let bmc = Bmc::start(true);
    for (action, power) in [("status", true), ("status", false), ("reboot", true)] {
        let stdin = format!(
            "action={action}\nnodename=node1\nport=node1\nip={LOOPBACK}\nipport={}\n\
             username={BMC_USER}\npassword={BMC_PASS}\nlanplus=1\ncipher=3\npower_wait=0\n",
            bmc.port
        );
        compare(
            &format!("stdin {action}"),
            Some(&bmc),
            power,
            &[],
            Some(&stdin),
        );
    }
}

#[test]
fn same_bad_option() {
    let bmc = Bmc::start(true);
    let mut args = argv(&bmc, "status", BMC_PASS);
    args.push("--bogus".to_string());
    compare("bad option", Some(&bmc), true, &args, None);
}

/// `<parameter name="…"` values of a metadata document, in order.
fn parameter_names(xml: &str) -> Vec<String> {
    xml.split(r#"<parameter name=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

#[test]
fn same_metadata_parameters() {
    let Some(theirs) = clusterlabs_ipmilan() else {
        return;
    };
    let args = ["-o".to_string(), "metadata".to_string()];
    let their_xml = run_raw(&theirs, &args, None, &[]).stdout;
    let our_xml = run_raw(&our_ipmilan(), &args, None, &[]).stdout;
    let ours = parameter_names(&our_xml);
    let missing: Vec<String> = parameter_names(&their_xml)
        .into_iter()
        .filter(|p| !ours.contains(p))
        .collect();
    assert!(
        missing.is_empty(),
        "parameters ClusterLabs declares and ours does not: {missing:?}"
    );
}
