//! The same scenarios through ClusterLabs' `/usr/sbin/fence_redfish` (Debian package
//! `fence-agents`): each agent runs against its own fresh emulator, and exit codes,
//! result lines and the ResetTypes the BMC got must match. Where we differ on purpose
//! (an ambiguous Systems collection, a BMC refusing Nmi, `list`, `--method`) the test
//! pins down both behaviours.

#[macro_use]
mod common;
mod redfish_peer;

use std::path::PathBuf;

use common::*;
use redfish_peer::{system_uri, Setup, Sushy};

const CLUSTERLABS_REDFISH: &str = "/usr/sbin/fence_redfish";

/// ClusterLabs' agent when installed; a counted skip (never a failure) otherwise.
fn theirs() -> Option<PathBuf> {
    let path = PathBuf::from(CLUSTERLABS_REDFISH);
    if path.is_file() {
        Some(path)
    } else {
        testkit::skip::optional(format!(
            "{CLUSTERLABS_REDFISH} not installed (apt-get install fence-agents): side-by-side \
             comparison not possible"
        ));
        None
    }
}

/// One agent's run and the emulator it ran against.
struct Run {
    out: Outcome,
    bmc: Sushy,
}

/// Run the scenario through both agents (ours first), each on a fresh emulator.
fn both(setup: Setup, mode: Mode, options: impl Fn(&Sushy) -> Options) -> Option<(Run, Run)> {
    let theirs = theirs()?;
    let run = |agent: &PathBuf| {
        let bmc = Sushy::start(setup);
        let out = run_agent(agent, mode, &options(&bmc));
        Run { out, bmc }
    };
    let ours = run(&built_binary("fence_redfish"));
    let cl = run(&theirs);
    Some((ours, cl))
}

/// Same exit code, same result lines, same resets sent to every system.
fn same(ours: &Run, theirs: &Run, what: &str) {
    assert!(
        !ours.out.stderr.contains("panicked"),
        "{what}: {:#?}",
        ours.out
    );
    assert_eq!(
        ours.out.code, theirs.out.code,
        "{what}: exit codes differ\nours: {:#?}\nClusterLabs: {:#?}",
        ours.out, theirs.out
    );
    assert_eq!(
        ours.out.result_lines(),
        theirs.out.result_lines(),
        "{what}: stdout differs\nours: {:#?}\nClusterLabs: {:#?}",
        ours.out,
        theirs.out
    );
    assert_eq!(
        ours.bmc.all_resets().len(),
        theirs.bmc.all_resets().len(),
        "{what}: number of resets differs"
    );
    for n in 1..=ours.bmc.setup.systems {
        assert_eq!(
            ours.bmc.resets(n),
            theirs.bmc.resets(n),
            "{what}: resets of system {n} differ"
        );
    }
}

fn compare(setup: Setup, mode: Mode, action: &str, code: i32, what: &str) {
    let Some((ours, theirs)) = both(setup, mode, |b| b.options(action)) else {
        return;
    };
    same(&ours, &theirs, what);
    assert_eq!(ours.out.code, Some(code), "{what}: {:#?}", ours.out);
}

fn status_on(mode: Mode) {
    compare(Setup::default(), mode, "status", 0, "status on");
}
both_modes!(status_on_matches, status_on);

fn status_off(mode: Mode) {
    compare(Setup::off(), mode, "status", 2, "status off");
}
both_modes!(status_off_matches, status_off);

#[test]
fn off_matches() {
    compare(Setup::default(), Mode::Argv, "off", 0, "off");
}

#[test]
fn on_matches() {
    compare(Setup::off(), Mode::Stdin, "on", 0, "on");
}

#[test]
fn reboot_matches() {
    compare(Setup::default(), Mode::Stdin, "reboot", 0, "reboot");
}

#[test]
fn off_when_already_off_matches() {
    compare(Setup::off(), Mode::Argv, "off", 0, "off when off");
}

#[test]
fn monitor_matches() {
    compare(Setup::default(), Mode::Stdin, "monitor", 0, "monitor");
}

#[test]
fn discovery_of_the_only_system_matches() {
    let Some((ours, theirs)) = both(Setup::default(), Mode::Argv, |b| {
        b.base_options("off").flag("ssl_insecure")
    }) else {
        return;
    };
    same(&ours, &theirs, "off by discovery");
}

#[test]
fn wrong_password_fails_in_both() {
    let Some((ours, theirs)) = both(Setup::default(), Mode::Argv, |b| {
        b.options("off").set("password", "wrong")
    }) else {
        return;
    };
    same(&ours, &theirs, "wrong password");
    assert_eq!(ours.out.code, Some(1));
    assert!(ours.bmc.all_resets().is_empty());
}

#[test]
fn unknown_system_fails_in_both() {
    let Some((ours, theirs)) = both(Setup::default(), Mode::Stdin, |b| {
        b.base_options("status")
            .flag("ssl_insecure")
            .set("systems_uri", "/redfish/v1/Systems/nosuch")
    }) else {
        return;
    };
    same(&ours, &theirs, "unknown system");
    assert_eq!(ours.out.code, Some(1));
}

#[test]
fn untrusted_certificate_fails_in_both() {
    let Some((ours, theirs)) = both(Setup::default(), Mode::Argv, |b| {
        b.base_options("status").set("systems_uri", system_uri(1))
    }) else {
        return;
    };
    same(&ours, &theirs, "untrusted certificate");
    assert_eq!(ours.out.code, Some(1));
}

#[test]
fn trusted_ca_works_in_both() {
    let Some(cl) = theirs() else { return };
    for (agent, env) in [
        (built_binary("fence_redfish"), "SSL_CERT_FILE"),
        (cl, "REQUESTS_CA_BUNDLE"),
    ] {
        let bmc = Sushy::start(Setup::default());
        let ca = bmc.ca().display().to_string();
        let opts = bmc.base_options("status").set("systems_uri", system_uri(1));
        run_raw(&agent, &opts.argv(), None, &[(env, &ca)])
            .expect_code(0, &format!("{} with {env}", agent.display()))
            .expect_line("Status: ON", "verified status");
    }
}

#[test]
fn refused_port_fails_in_both() {
    let Some(cl) = theirs() else { return };
    let port = redfish_peer::free_tcp_port();
    let opts = Options::new()
        .set("action", "status")
        .set("ip", LOOPBACK)
        .set("ipport", port)
        .set("username", BMC_USER)
        .set("password", BMC_PASS)
        .flag("ssl_insecure");
    let ours = run_agent(&built_binary("fence_redfish"), Mode::Argv, &opts);
    let theirs = run_agent(&cl, Mode::Argv, &opts);
    assert_eq!(ours.code, Some(1), "{ours:#?}");
    assert_eq!(theirs.code, Some(1), "{theirs:#?}");
    assert_eq!(ours.result_lines(), theirs.result_lines());
}

#[test]
fn ambiguous_collection_differs_on_purpose() {
    // ClusterLabs fences the LAST member of the Systems collection; we refuse to guess.
    let Some((ours, theirs)) = both(Setup::default().systems(2), Mode::Argv, |b| {
        b.base_options("off").flag("ssl_insecure")
    }) else {
        return;
    };
    assert_eq!(theirs.out.code, Some(0), "{:#?}", theirs.out);
    assert_eq!(
        theirs.bmc.resets(2),
        ["ForceOff"],
        "ClusterLabs fenced system 2"
    );
    assert_eq!(ours.out.code, Some(1), "{:#?}", ours.out);
    assert!(ours.bmc.all_resets().is_empty(), "we fenced nothing");
}

#[test]
fn refused_nmi_differs_on_purpose() {
    // The fake driver answers 501 to Nmi: ClusterLabs ignores the status and reports
    // success; we report the failure.
    let Some((ours, theirs)) = both(Setup::default(), Mode::Argv, |b| b.options("diag")) else {
        return;
    };
    assert_eq!(theirs.out.code, Some(0), "{:#?}", theirs.out);
    assert_eq!(theirs.out.result_lines(), ["Success: Rebooted"]);
    assert_eq!(ours.out.code, Some(1), "{:#?}", ours.out);
    assert_eq!(ours.bmc.resets(1), theirs.bmc.resets(1), "both sent Nmi");
}

#[test]
fn list_and_method_differ_on_purpose() {
    let Some(cl) = theirs() else { return };
    let bmc = Sushy::start(Setup::default());
    // list: both exit 0; ClusterLabs prints a NOTICE, we list the systems.
    let theirs = run_agent(&cl, Mode::Argv, &bmc.options("list"));
    assert_eq!(theirs.code, Some(0));
    assert_eq!(
        theirs.result_lines(),
        ["NOTICE: List option is not working on this device yet"]
    );
    // --method: ClusterLabs' fence_redfish has no such option; ours does.
    let cycle = bmc.options("reboot").set("method", "cycle");
    assert_eq!(run_agent(&cl, Mode::Argv, &cycle).code, Some(1));
    assert!(bmc.resets(1).is_empty());
    run_agent(&built_binary("fence_redfish"), Mode::Argv, &cycle)
        .expect_code(0, "our cycle")
        .expect_line("Success: Rebooted", "cycle");
    assert_eq!(bmc.resets(1), ["ForceRestart"]);
}
