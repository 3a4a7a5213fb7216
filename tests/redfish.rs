//! Our `fence_redfish` end to end against a real Redfish peer: sushy-tools' emulator
//! (fake driver) over HTTPS with basic auth, one emulator per test on its own loopback
//! port (`redfish_peer/`, fixture `tests/fixtures/sushy.sh`).
//!
//! Every action is run through the command line and through stdin (pacemaker's way); the
//! power state is confirmed by curl and the emulator's record of the ResetTypes it got.
//! Failures (login, refused or silent port, untrusted certificate, ambiguous or unknown
//! system, a BMC refusing a reset) must be clear, exit 1 and never panic. The same
//! scenarios through ClusterLabs' `/usr/sbin/fence_redfish` are in `redfish_clusterlabs.rs`.

#[macro_use]
mod common;
mod redfish_peer;

use common::*;
use redfish_peer::{system_uri, Setup, Sushy};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

fn ours() -> PathBuf {
    built_binary("fence_redfish")
}

fn agent(mode: Mode, options: &Options) -> Outcome {
    run_agent(&ours(), mode, options)
}

const NONE: &[&str] = &[];

// ---- status ---------------------------------------------------------------------------

fn status_on(mode: Mode) {
    let bmc = Sushy::start(Setup::default());
    agent(mode, &bmc.options("status"))
        .expect_code(0, "status of a powered-on system")
        .expect_line("Status: ON", "status on");
    assert_eq!(bmc.resets(1), NONE, "status sent a reset");
}
both_modes!(status_on_is_exit_0, status_on);

fn status_off(mode: Mode) {
    let bmc = Sushy::start(Setup::off());
    agent(mode, &bmc.options("status"))
        .expect_code(2, "status of a powered-off system")
        .expect_line("Status: OFF", "status off");
    assert_eq!(bmc.resets(1), NONE, "status sent a reset");
}
both_modes!(status_off_is_exit_2, status_off);

// ---- off / on ---------------------------------------------------------------------------

fn off(mode: Mode) {
    let bmc = Sushy::start(Setup::default());
    agent(mode, &bmc.options("off"))
        .expect_code(0, "off")
        .expect_line("Success: Powered OFF", "off");
    assert_eq!(bmc.power(1), "Off", "curl still sees the system on");
    assert_eq!(bmc.resets(1), ["ForceOff"], "resets for off");
}
both_modes!(off_sends_force_off, off);

fn off_already(mode: Mode) {
    let bmc = Sushy::start(Setup::off());
    agent(mode, &bmc.options("off"))
        .expect_code(0, "off when already off")
        .expect_line("Success: Already OFF", "off when already off");
    assert_eq!(bmc.resets(1), NONE, "needless reset");
}
both_modes!(off_when_already_off, off_already);

fn on(mode: Mode) {
    let bmc = Sushy::start(Setup::off());
    agent(mode, &bmc.options("on"))
        .expect_code(0, "on")
        .expect_line("Success: Powered ON", "on");
    assert_eq!(bmc.power(1), "On");
    assert_eq!(bmc.resets(1), ["On"], "resets for on");
}
both_modes!(on_sends_on, on);

#[test]
fn on_when_already_on() {
    let bmc = Sushy::start(Setup::default());
    agent(Mode::Argv, &bmc.options("on"))
        .expect_code(0, "on when already on")
        .expect_line("Success: Already ON", "on when already on");
    assert_eq!(bmc.resets(1), NONE);
}

// ---- reboot -----------------------------------------------------------------------------

fn reboot(mode: Mode) {
    let bmc = Sushy::start(Setup::default());
    agent(mode, &bmc.options("reboot"))
        .expect_code(0, "reboot")
        .expect_line("Success: Rebooted", "reboot");
    assert_eq!(bmc.resets(1), ["ForceOff", "On"], "resets for reboot");
    assert_eq!(bmc.power(1), "On");
}
both_modes!(reboot_is_force_off_then_on, reboot);

#[test]
fn reboot_of_an_off_system_only_powers_on() {
    let bmc = Sushy::start(Setup::off());
    agent(Mode::Stdin, &bmc.options("reboot"))
        .expect_code(0, "reboot of an off system")
        .expect_line("Success: Rebooted", "reboot");
    assert_eq!(bmc.resets(1), ["On"]);
}

fn cycle(mode: Mode) {
    let bmc = Sushy::start(Setup::default());
    agent(mode, &bmc.options("reboot").set("method", "cycle"))
        .expect_code(0, "reboot --method cycle")
        .expect_line("Success: Rebooted", "cycle");
    assert_eq!(bmc.resets(1), ["ForceRestart"], "one ForceRestart");
    assert!(bmc.wait_power(1, "On", Duration::from_secs(5)));
}
both_modes!(cycle_is_one_force_restart, cycle);

#[test]
fn a_slow_bmc_is_polled_until_the_state_arrives() {
    let bmc = Sushy::start(Setup::default().delay(2));
    let out = agent(Mode::Argv, &bmc.options("off"));
    out.expect_code(0, "off on a BMC that takes 1-2 s")
        .expect_line("Success: Powered OFF", "slow off");
    assert_eq!(bmc.resets(1), ["ForceOff"], "the command is sent once");
    // Polled, not trusted: after the reset the emulator served the system's state more
    // than once (at least one read still "On", then "Off").
    let log = bmc.log();
    let reset = log
        .find("POST ")
        .unwrap_or_else(|| panic!("no reset in the emulator's log:\n{log}"));
    let polls = log[reset..]
        .matches(&format!("\"GET {} HTTP", system_uri(1)))
        .count();
    assert!(polls >= 2, "{polls} status reads after the reset:\n{log}");
}

#[test]
fn a_bmc_slower_than_power_timeout_fails() {
    let bmc = Sushy::start(Setup::default().delay(6));
    let out = agent(Mode::Argv, &bmc.options("off").set("power_timeout", 2));
    out.expect_code(1, "off that never arrives");
    assert!(
        out.stderr.contains("Timed out waiting to power OFF"),
        "{out:#?}"
    );
    // Giving up at power_timeout rather than hanging: a hang is the harness killing the
    // agent (AGENT_HARD_LIMIT, no exit code); the time is in bench/redfish.sh.
    assert_eq!(bmc.resets(1), ["ForceOff"], "the command is sent once");
}

// ---- diag, monitor, list -----------------------------------------------------------------

#[test]
fn diag_sends_nmi_and_reports_the_bmc_refusal() {
    // The fake driver does not implement Nmi (HTTP 501): that is a failure, not success.
    let bmc = Sushy::start(Setup::default());
    let out = agent(Mode::Argv, &bmc.options("diag"));
    out.expect_code(1, "diag refused by the BMC");
    assert!(out.stdout.trim().is_empty(), "{out:#?}");
    assert!(
        out.stderr.contains("501") && out.stderr.contains("Nmi"),
        "{out:#?}"
    );
    assert_eq!(bmc.resets(1), ["Nmi"]);
    assert_eq!(bmc.power(1), "On");
}

#[test]
fn monitor_is_silent_and_exit_0() {
    let bmc = Sushy::start(Setup::off());
    let out = agent(Mode::Stdin, &bmc.options("monitor"));
    out.expect_code(0, "monitor");
    assert!(out.stdout.trim().is_empty(), "{out:#?}");
}

#[test]
fn list_prints_every_system_even_where_discovery_is_ambiguous() {
    // ClusterLabs prints a NOTICE here; ours lists the Systems collection: `uri,name`.
    let bmc = Sushy::start(Setup::default().systems(2));
    let out = agent(Mode::Argv, &bmc.base_options("list").flag("ssl_insecure"));
    out.expect_code(0, "list");
    let lines = out.result_lines();
    assert_eq!(lines.len(), 2, "one line per system: {out:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("/Systems/") && l.contains(',')),
        "{out:#?}"
    );
}

// ---- choosing the system ----------------------------------------------------------------

#[test]
fn the_only_system_is_discovered() {
    let bmc = Sushy::start(Setup::off());
    let opts = bmc.base_options("on").flag("ssl_insecure");
    agent(Mode::Stdin, &opts)
        .expect_code(0, "on without systems_uri")
        .expect_line("Success: Powered ON", "discovered on");
    assert_eq!(bmc.resets(1), ["On"]);
}

fn ambiguous(mode: Mode) {
    let bmc = Sushy::start(Setup::default().systems(2));
    let out = agent(mode, &bmc.base_options("off").flag("ssl_insecure"));
    out.expect_code(1, "off with two systems and no systems_uri");
    assert!(
        out.stderr.contains(&system_uri(1))
            && out.stderr.contains(&system_uri(2))
            && out.stderr.contains("--systems-uri"),
        "the error must list the systems: {out:#?}"
    );
    assert!(bmc.all_resets().is_empty(), "nothing may be fenced");
}
both_modes!(an_ambiguous_collection_is_refused, ambiguous);

#[test]
fn the_second_system_by_uri_and_by_name_redirect() {
    let bmc = Sushy::start(Setup::default().systems(2));
    agent(Mode::Argv, &bmc.options_for("off", 2))
        .expect_code(0, "off of system 2")
        .expect_line("Success: Powered OFF", "off 2");
    assert_eq!(bmc.resets(2), ["ForceOff"]);
    assert_eq!(bmc.resets(1), NONE, "system 1 untouched");
    // /Systems/node2 answers 307 to the uuid URI: followed, credentials kept.
    let by_name = bmc
        .base_options("on")
        .flag("ssl_insecure")
        .set("systems_uri", "/redfish/v1/Systems/node2");
    agent(Mode::Stdin, &by_name)
        .expect_code(0, "on of system 2 by name")
        .expect_line("Success: Powered ON", "on by name");
    assert_eq!(bmc.resets(2), ["ForceOff", "On"]);
}

#[test]
fn an_unknown_system_is_named_in_the_error() {
    let bmc = Sushy::start(Setup::default());
    let opts = bmc
        .base_options("status")
        .flag("ssl_insecure")
        .set("systems_uri", "/redfish/v1/Systems/nosuch");
    let out = agent(Mode::Argv, &opts);
    out.expect_code(1, "status of an unknown system");
    assert!(
        out.stderr.contains("/redfish/v1/Systems/nosuch") && out.stderr.contains("404"),
        "{out:#?}"
    );
}

// ---- credentials, transport and TLS -------------------------------------------------------

fn wrong_password(mode: Mode) {
    let bmc = Sushy::start(Setup::default());
    let opts = bmc
        .base_options("off")
        .flag("ssl_insecure")
        .set("systems_uri", system_uri(1))
        .set("password", "not-the-password");
    let out = agent(mode, &opts);
    out.expect_code(1, "wrong password");
    assert!(
        out.stderr
            .contains("Unable to connect/login to fencing device"),
        "{out:#?}"
    );
    assert!(!out.stderr.contains("not-the-password"), "password leaked");
    assert!(bmc.all_resets().is_empty());
}
both_modes!(wrong_password_is_a_login_failure, wrong_password);

#[test]
fn the_password_never_reaches_a_log() {
    let bmc = Sushy::start(Setup::default());
    let debug = bmc.dir.join("debug.log");
    let out = agent(
        Mode::Argv,
        &bmc.options("reboot")
            .flag("verbose")
            .flag("verbose")
            .set("debug_file", debug.display()),
    );
    out.expect_code(0, "reboot with -vv");
    let file = std::fs::read_to_string(&debug).unwrap_or_default();
    assert!(file.contains("POST "), "requests are logged: {file}");
    assert!(!out.stderr.contains(BMC_PASS) && !file.contains(BMC_PASS));
}

#[test]
fn password_script_and_deprecated_names_on_stdin() {
    let bmc = Sushy::start(Setup::default());
    let stdin = format!(
        "action=status\nipaddr=127.0.0.1:{}\nlogin={BMC_USER}\n\
         passwd_script=echo {BMC_PASS}\nsystems-uri={}\nssl_insecure=1\nport=node1\n",
        bmc.port,
        system_uri(1)
    );
    let out = run_raw(&ours(), &[], Some(&stdin), &[]);
    out.expect_code(0, "pacemaker-style stdin")
        .expect_line("Status: ON", "stdin status");
}

#[test]
fn a_refused_port_fails_at_once() {
    let port = redfish_peer::free_tcp_port();
    // "At once": with timeouts past the harness's limit, an agent that kept retrying
    // would be killed (no exit code).
    let patient = AGENT_HARD_LIMIT.as_secs() * 5;
    let opts = Options::new()
        .set("action", "off")
        .set("ip", LOOPBACK)
        .set("ipport", port)
        .set("username", BMC_USER)
        .set("password", BMC_PASS)
        .set("login_timeout", patient)
        .set("power_timeout", patient)
        .flag("ssl_insecure");
    let out = agent(Mode::Argv, &opts);
    out.expect_code(1, "nobody listening");
    assert!(out.stderr.contains("Connection refused"), "{out:#?}");
}

#[test]
fn a_silent_port_fails_within_the_login_timeout() {
    // Accepts TCP connections (kernel backlog) but never answers.
    let silent = TcpListener::bind((LOOPBACK, 0)).expect("bind a silent port");
    let port = silent.local_addr().expect("local addr").port();
    let opts = Options::new()
        .set("action", "off")
        .set("ip", LOOPBACK)
        .set("ipport", port)
        .set("username", BMC_USER)
        .set("password", BMC_PASS)
        .set("login_timeout", 2)
        .set("power_timeout", 3)
        .flag("ssl_insecure");
    let out = agent(Mode::Stdin, &opts);
    out.expect_code(1, "silent service");
    // Giving up at login_timeout rather than hanging: a hang is the harness killing the
    // agent (AGENT_HARD_LIMIT, no exit code); the time is in bench/redfish.sh.
    assert!(out.stderr.contains("Connection timed out"), "{out:#?}");
    drop(silent);
}

#[test]
fn an_untrusted_certificate_is_refused_without_ssl_insecure() {
    let bmc = Sushy::start(Setup::default());
    let opts = bmc.base_options("status").set("systems_uri", system_uri(1));
    let out = agent(Mode::Argv, &opts);
    out.expect_code(1, "certificate of an unknown CA");
    assert!(
        out.stderr.contains("certificate") && out.stderr.contains("--ssl-insecure"),
        "{out:#?}"
    );
    assert!(
        !bmc.log().contains("GET /redfish/v1/Systems"),
        "no request may be sent"
    );
}

#[test]
fn a_trusted_ca_verifies_without_ssl_insecure() {
    let bmc = Sushy::start(Setup::default());
    let ca = bmc.ca().display().to_string();
    let opts = bmc
        .base_options("status")
        .flag("ssl_secure")
        .set("systems_uri", system_uri(1));
    let out = run_raw(&ours(), &opts.argv(), None, &[("SSL_CERT_FILE", &ca)]);
    out.expect_code(0, "verified HTTPS")
        .expect_line("Status: ON", "verified status");
}

#[test]
fn plain_http_when_the_address_says_so() {
    let bmc = Sushy::start(Setup::default().plain_http());
    let opts = bmc.base_options("off").set("systems_uri", system_uri(1));
    agent(Mode::Stdin, &opts)
        .expect_code(0, "off over http://")
        .expect_line("Success: Powered OFF", "http off");
    assert_eq!(bmc.resets(1), ["ForceOff"]);
}

#[test]
fn https_to_a_plain_http_service_fails_cleanly() {
    let bmc = Sushy::start(Setup::default().plain_http());
    let opts = Options::new()
        .set("action", "status")
        .set("ip", LOOPBACK)
        .set("ipport", bmc.port)
        .set("username", BMC_USER)
        .set("password", BMC_PASS)
        .flag("ssl_insecure");
    let out = agent(Mode::Argv, &opts);
    out.expect_code(1, "TLS to a plain HTTP server");
    assert!(out.stderr.contains("Connection lost"), "{out:#?}");
}
