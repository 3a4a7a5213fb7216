//! Our `fence_ipmilan` end to end against a real IPMI peer: OpenIPMI's `ipmi_sim` on
//! loopback (RMCP+, cipher suite 3), one simulator per test on its own port.
//!
//! Every action is checked through the command line and through stdin (pacemaker's
//! way); the power state is confirmed independently by the simulator's power file,
//! its request log, and `ipmitool -I lanplus -C 3`. Errors must be clear, exit 1 and
//! never a panic. The side-by-side comparison with ClusterLabs' agent lives in
//! `ipmilan_clusterlabs.rs`.

#[macro_use]
mod common;

use common::*;
use std::time::Duration;

/// The agent's own network timeout used in failure tests. That the agent gives up at it
/// rather than hanging is checked by outcome (exit 1, a "timed out" error): a hang is the
/// harness killing the agent at AGENT_HARD_LIMIT (no exit code); the time itself is
/// measured in bench/ipmilan.sh.
const TIMEOUT_S: u64 = 3;

const SET_OFF: &str = "0x20 set power 0";
const SET_ON: &str = "0x20 set power 1";

fn agent(mode: Mode, options: &Options) -> Outcome {
    run_agent(&our_ipmilan(), mode, options)
}

// ---- status -------------------------------------------------------------------------

fn status_on(mode: Mode) {
    let bmc = Bmc::start(true);
    agent(mode, &bmc.options("status"))
        .expect_code(0, "status of a powered-on node")
        .expect_line("Status: ON", "status on");
    assert!(bmc.power_file(), "status must not change power");
    assert_eq!(
        bmc.set_actions(),
        Vec::<String>::new(),
        "status sent a command"
    );
}
both_modes!(status_on_is_exit_0, status_on);

fn status_off(mode: Mode) {
    let bmc = Bmc::start(false);
    agent(mode, &bmc.options("status"))
        .expect_code(2, "status of a powered-off node")
        .expect_line("Status: OFF", "status off");
    assert!(!bmc.power_file(), "status must not change power");
    assert_eq!(
        bmc.set_actions(),
        Vec::<String>::new(),
        "status sent a command"
    );
}
both_modes!(status_off_is_exit_2, status_off);

// ---- off / on ---------------------------------------------------------------------------

fn off(mode: Mode) {
    let bmc = Bmc::start(true);
    agent(mode, &bmc.options("off").set("power_wait", 0))
        .expect_code(0, "off")
        .expect_line("Success: Powered OFF", "off");
    assert!(!bmc.power_file(), "power file still on after off");
    assert!(
        !bmc.ipmitool_power(),
        "ipmitool still sees power on after off"
    );
    assert_eq!(bmc.set_actions(), vec![SET_OFF], "BMC requests for off");
}
both_modes!(off_powers_off, off);

fn off_already(mode: Mode) {
    let bmc = Bmc::start(false);
    agent(mode, &bmc.options("off").set("power_wait", 0))
        .expect_code(0, "off when already off")
        .expect_line("Success: Already OFF", "off when already off");
    assert_eq!(
        bmc.set_actions(),
        Vec::<String>::new(),
        "needless power command"
    );
}
both_modes!(off_when_already_off, off_already);

fn on(mode: Mode) {
    let bmc = Bmc::start(false);
    agent(mode, &bmc.options("on").set("power_wait", 0))
        .expect_code(0, "on")
        .expect_line("Success: Powered ON", "on");
    assert!(bmc.power_file(), "power file still off after on");
    assert!(
        bmc.ipmitool_power(),
        "ipmitool still sees power off after on"
    );
    assert_eq!(bmc.set_actions(), vec![SET_ON], "BMC requests for on");
}
both_modes!(on_powers_on, on);

fn on_already(mode: Mode) {
    let bmc = Bmc::start(true);
    agent(mode, &bmc.options("on").set("power_wait", 0))
        .expect_code(0, "on when already on")
        .expect_line("Success: Already ON", "on when already on");
    assert_eq!(
        bmc.set_actions(),
        Vec::<String>::new(),
        "needless power command"
    );
}
both_modes!(on_when_already_on, on_already);

// ---- reboot ----------------------------------------------------------------------------

fn reboot_onoff(mode: Mode) {
    let bmc = Bmc::start(true);
    agent(mode, &bmc.options("reboot").set("power_wait", 0))
        .expect_code(0, "reboot (onoff)")
        .expect_line("Success: Rebooted", "reboot (onoff)");
    assert_eq!(bmc.set_actions(), vec![SET_OFF, SET_ON], "off then on");
    assert!(bmc.power_file(), "node not powered back on");
    assert!(
        bmc.ipmitool_power(),
        "ipmitool sees the node off after reboot"
    );
}
both_modes!(reboot_is_off_then_on, reboot_onoff);

fn reboot_from_off(mode: Mode) {
    let bmc = Bmc::start(false);
    agent(mode, &bmc.options("reboot").set("power_wait", 0))
        .expect_code(0, "reboot of an off node")
        .expect_line("Success: Rebooted", "reboot of an off node");
    assert_eq!(
        bmc.set_actions(),
        vec![SET_ON],
        "only the on phase is needed"
    );
    assert!(bmc.power_file(), "node not powered on");
}
both_modes!(reboot_of_off_node_only_powers_on, reboot_from_off);

fn reboot_cycle(mode: Mode) {
    let bmc = Bmc::start(true);
    let options = bmc
        .options("reboot")
        .set("method", "cycle")
        .set("power_wait", 0);
    agent(mode, &options)
        .expect_code(0, "reboot --method cycle")
        .expect_line("Success: Rebooted", "reboot --method cycle");
    // ipmi_sim implements `chassis power cycle` as off now, on about a second later.
    assert_eq!(
        bmc.set_actions().first().map(String::as_str),
        Some(SET_OFF),
        "cycle must reach the BMC as one power cycle: {:?}",
        bmc.actions()
    );
    assert!(
        bmc.wait_power(true, Duration::from_secs(5)),
        "node did not come back on after the cycle: {:?}",
        bmc.actions()
    );
    assert!(
        bmc.ipmitool_power(),
        "ipmitool sees the node off after cycle"
    );
}
both_modes!(reboot_method_cycle, reboot_cycle);

// ---- monitor / list / metadata / validate-all / help ------------------------------------

fn monitor(mode: Mode) {
    for power in [true, false] {
        let bmc = Bmc::start(power);
        let out = agent(mode, &bmc.options("monitor"));
        out.expect_code(0, "monitor of a reachable BMC");
        assert_eq!(
            out.result_lines(),
            Vec::<String>::new(),
            "monitor prints nothing"
        );
        assert_eq!(
            bmc.set_actions(),
            Vec::<String>::new(),
            "monitor sent a command"
        );
        assert_eq!(bmc.power_file(), power, "monitor changed power");
    }
}
both_modes!(monitor_is_silent_exit_0, monitor);

fn monitor_fails_when_unreachable(mode: Mode) {
    let port = free_udp_port();
    let options = Options::new()
        .set("action", "monitor")
        .set("ip", LOOPBACK)
        .set("ipport", port)
        .set("username", BMC_USER)
        .set("password", BMC_PASS)
        .flag("lanplus")
        .set("cipher", 3)
        .set("power_timeout", TIMEOUT_S)
        .set("login_timeout", TIMEOUT_S);
    let out = agent(mode, &options);
    out.expect_code(1, "monitor with nothing listening");
    assert!(out.stderr.contains("timed out"), "{out:#?}");
}
both_modes!(
    monitor_unreachable_is_exit_1,
    monitor_fails_when_unreachable
);

fn list(mode: Mode) {
    let bmc = Bmc::start(true);
    let out = agent(mode, &bmc.options("list"));
    out.expect_code(0, "list on a port-less agent");
    // ClusterLabs 4.12.1's fence_ipmilan prints the NOTICE; the generic library answer
    // for agents without plugs is N/A. Either is what pacemaker has seen from this agent.
    let lines = out.result_lines();
    assert!(
        lines == ["N/A"] || lines == ["NOTICE: List option is not working on this device yet"],
        "list output: {out:#?}"
    );
    assert_eq!(
        bmc.set_actions(),
        Vec::<String>::new(),
        "list sent a command"
    );
}
both_modes!(list_has_no_plugs, list);

fn metadata(mode: Mode) {
    for action in ["metadata", "meta-data"] {
        let out = agent(mode, &Options::new().set("action", action));
        out.expect_code(0, action);
        let xml = out.stdout.trim_start();
        assert!(xml.starts_with("<?xml"), "{action} is not XML: {out:#?}");
        assert!(
            xml.contains(r#"<resource-agent name="fence_ipmilan""#),
            "{action}: agent name"
        );
        for param in [
            "action",
            "ip",
            "ipport",
            "username",
            "password",
            "lanplus",
            "cipher",
            "method",
            "privlvl",
            "power_wait",
            "power_timeout",
            "delay",
        ] {
            assert!(
                xml.contains(&format!(r#"<parameter name="{param}""#)),
                "{action}: parameter {param} missing"
            );
        }
        for act in [
            "on",
            "off",
            "reboot",
            "status",
            "monitor",
            "metadata",
            "validate-all",
        ] {
            assert!(
                xml.contains(&format!(r#"<action name="{act}""#)),
                "{action}: action {act} missing"
            );
        }
        assert!(
            xml.trim_end().ends_with("</resource-agent>"),
            "{action}: truncated"
        );
    }
}
both_modes!(metadata_is_xml, metadata);

fn validate_all(mode: Mode) {
    let bmc = Bmc::start(true);
    let out = agent(mode, &bmc.options("validate-all"));
    out.expect_code(0, "validate-all with valid options");
    assert_eq!(
        out.result_lines(),
        Vec::<String>::new(),
        "validate-all is silent"
    );
    assert_eq!(
        bmc.actions(),
        Vec::<String>::new(),
        "validate-all contacted the BMC"
    );

    let no_address = Options::new()
        .set("action", "validate-all")
        .set("username", BMC_USER)
        .set("password", BMC_PASS);
    let out = agent(mode, &no_address);
    out.expect_code(1, "validate-all without an address");
    assert!(
        out.stderr.to_lowercase().contains("address"),
        "validate-all must name the missing address: {out:#?}"
    );
}
both_modes!(validate_all_checks_options_only, validate_all);

#[test]
fn help_prints_usage() {
    for flag in ["--help", "-h"] {
        let out = run_raw(&our_ipmilan(), &[flag.to_string()], None, &[]);
        out.expect_code(0, flag);
        for needle in [
            "Usage",
            "--ip",
            "--lanplus",
            "--cipher",
            "--action",
            "--power-wait",
        ] {
            assert!(
                out.stdout.contains(needle),
                "{flag}: {needle} missing: {out:#?}"
            );
        }
    }
}

// ---- failures ---------------------------------------------------------------------------

fn wrong_password(mode: Mode) {
    let bmc = Bmc::start(true);
    for action in ["status", "off", "reboot"] {
        let options = bmc
            .options(action)
            .set("password", "wrong")
            .set("power_wait", 0)
            .set("power_timeout", TIMEOUT_S);
        let out = agent(mode, &options);
        out.expect_code(1, "wrong password");
        let err = out.stderr.to_lowercase();
        assert!(
            err.contains("auth") || err.contains("login"),
            "{action} with a wrong password must say authentication/login failed: {out:#?}"
        );
        assert!(!out.stdout.contains("Success"), "claimed success: {out:#?}");
        assert!(
            !out.stdout.contains("Status:"),
            "claimed a status: {out:#?}"
        );
    }
    assert!(bmc.power_file(), "a refused login changed power");
    assert_eq!(
        bmc.set_actions(),
        Vec::<String>::new(),
        "commands without login"
    );
}
both_modes!(wrong_password_is_exit_1, wrong_password);

fn unreachable(mode: Mode) {
    let port = free_udp_port();
    for action in ["status", "off"] {
        let options = Options::new()
            .set("action", action)
            .set("ip", LOOPBACK)
            .set("ipport", port)
            .set("username", BMC_USER)
            .set("password", BMC_PASS)
            .flag("lanplus")
            .set("cipher", 3)
            .set("power_wait", 0)
            .set("power_timeout", TIMEOUT_S)
            .set("login_timeout", TIMEOUT_S);
        let out = agent(mode, &options);
        out.expect_code(1, "nothing listening");
        assert!(
            out.stderr.contains("timed out"),
            "{action} against nothing: {out:#?}"
        );
        assert!(!out.stdout.contains("Success"), "claimed success: {out:#?}");
        assert!(!out.stderr_clean().trim().is_empty(), "no error message");
    }
}
both_modes!(unreachable_fails_within_timeout, unreachable);

#[test]
fn bad_options_are_clear_errors() {
    let bmc = Bmc::start(true);
    let base = bmc.options("status");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--bogus".into()], "bogus"),
        (vec!["--power-wait=abc".into()], "power-wait"),
        (vec!["--ipport=abc".into()], "ipport"),
        (vec!["--action=frobnicate".into()], "frobnicate"),
        (vec!["--method=sideways".into()], "method"),
        (vec!["--cipher".into()], "cipher"),
    ];
    for (extra, needle) in cases {
        let mut argv = base.argv();
        argv.extend(extra.iter().cloned());
        let out = run_raw(&our_ipmilan(), &argv, None, &[]);
        out.expect_code(1, &format!("bad option {extra:?}"));
        assert!(
            out.stderr.to_lowercase().contains(needle),
            "error for {extra:?} must name {needle:?}: {out:#?}"
        );
    }
    assert_eq!(bmc.set_actions(), Vec::<String>::new());
}

#[test]
fn bad_stdin_is_a_clear_error() {
    let bmc = Bmc::start(true);
    // A bad value is fatal, as in argv mode.
    let out = agent(Mode::Stdin, &bmc.options("status").set("ipport", "abc"));
    out.expect_code(1, "ipport=abc on stdin");
    assert!(out.stderr.to_lowercase().contains("ipport"), "{out:#?}");
    let out = agent(Mode::Stdin, &bmc.options("frobnicate"));
    out.expect_code(1, "action=frobnicate on stdin");
    // An unknown name is only a warning; the action still runs.
    let out = agent(Mode::Stdin, &bmc.options("status").set("bogus", 1));
    out.expect_code(0, "unknown stdin option")
        .expect_line("Status: ON", "unknown stdin option");
    // Garbage lines and an empty stdin never panic.
    for text in ["this is not key value\n\u{0}\u{7f}==\n", "", "\n\n#\n"] {
        let out = run_raw(&our_ipmilan(), &[], Some(text), &[]);
        out.expect_code(1, &format!("stdin {text:?}"));
    }
}

#[test]
fn plug_without_port_as_ip_is_rejected_in_argv() {
    let bmc = Bmc::start(true);
    let mut argv = bmc.options("status").argv();
    argv.extend(["-n".to_string(), "node1".to_string()]);
    let out = run_raw(&our_ipmilan(), &argv, None, &[]);
    out.expect_code(1, "-n without --port-as-ip");
}

// ---- pacemaker and password_script --------------------------------------------------------

/// What pacemaker-fenced writes for a fencing action: old parameter names, quoted
/// values, `port=` and `nodename=` for the target, no argv, PCMK_service in the env.
fn pacemaker_stdin(bmc: &Bmc, action: &str) -> String {
    format!(
        "action={action}\nnodename=node1\nport=node1\nipaddr=127.0.0.1\nipport={}\n\
         login=admin\npasswd=\"secret\"\nlanplus=1\ncipher=3\npower_wait=0\n\n# comment\n",
        bmc.port
    )
}

#[test]
fn pacemaker_style_stdin() {
    let env = [("PCMK_service", "pacemaker-fenced")];
    let bmc = Bmc::start(true);
    let out = run_raw(
        &our_ipmilan(),
        &[],
        Some(&pacemaker_stdin(&bmc, "status")),
        &env,
    );
    out.expect_code(0, "pacemaker status")
        .expect_line("Status: ON", "pacemaker status");
    let out = run_raw(
        &our_ipmilan(),
        &[],
        Some(&pacemaker_stdin(&bmc, "reboot")),
        &env,
    );
    out.expect_code(0, "pacemaker reboot")
        .expect_line("Success: Rebooted", "pacemaker reboot");
    assert_eq!(bmc.set_actions(), vec![SET_OFF, SET_ON]);
    let out = run_raw(
        &our_ipmilan(),
        &[],
        Some(&pacemaker_stdin(&bmc, "off")),
        &env,
    );
    out.expect_code(0, "pacemaker off")
        .expect_line("Success: Powered OFF", "pacemaker off");
    assert!(!bmc.power_file());
    let out = run_raw(
        &our_ipmilan(),
        &[],
        Some(&pacemaker_stdin(&bmc, "status")),
        &env,
    );
    out.expect_code(2, "pacemaker status after off")
        .expect_line("Status: OFF", "pacemaker status after off");
}

fn password_script(mode: Mode) {
    let bmc = Bmc::start(true);
    let good = Options::new()
        .set("action", "status")
        .set("ip", LOOPBACK)
        .set("ipport", bmc.port)
        .set("username", BMC_USER)
        .set("password_script", format!("echo {BMC_PASS}"))
        .flag("lanplus")
        .set("cipher", 3);
    agent(mode, &good)
        .expect_code(0, "password_script")
        .expect_line("Status: ON", "password_script");
    let mut bad = good.clone();
    if let Some(o) = bad.0.iter_mut().find(|o| o.name == "password_script") {
        o.value = Some("echo not-the-password".into());
    }
    agent(mode, &bad.set("power_timeout", TIMEOUT_S)).expect_code(1, "wrong script");
}
both_modes!(password_script_supplies_password, password_script);
