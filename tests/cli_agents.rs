//! Our CLI power agents end to end against stand-in device command lines
//! (tests/fixtures/cli_device.py) behind a real OpenSSH sshd and a real GNU inetutils
//! telnetd on loopback: fence_apc, fence_wti, fence_drac5 (DRAC 5 and CMC) over telnet
//! (their default) and SSH (`--ssh`), fence_cyberpower_ssh over SSH, fence_rsa,
//! fence_bladecenter and fence_hpblade.
//!
//! Covered: status/on/off/reboot/list/list-status/monitor via argv and stdin, plugs that
//! do not exist (an error before anything is switched), WTI plug groups, a refused
//! telnet login, and a device that spoils one status read after every power change (an
//! error answer, or a truncated answer without its prompt): the agent still succeeds.
//! The side-by-side comparison with ClusterLabs' agents is `cli_agents_clusterlabs.rs`.

mod cli_peer;
mod common;

use cli_peer::*;
use common::*;

fn agent(device: Device) -> std::path::PathBuf {
    built_binary(device.agent())
}

/// status, off, status, on, reboot and an unknown plug on one outlet-based device.
fn power_cycle_of_plug_2(peer: &CliPeer) {
    let a = agent(peer.device);
    let opts = |action: &str| peer.options(action).set("plug", "2").set("power_wait", 0);
    peer.all_on();
    run_agent(&a, Mode::Argv, &opts("status"))
        .expect_code(0, "status on")
        .expect_line("Status: ON", "status on");
    run_agent(&a, Mode::Stdin, &opts("off"))
        .expect_code(0, "off")
        .expect_line("Success: Powered OFF", "off");
    assert_eq!(peer.outlet("2"), "off");
    run_agent(&a, Mode::Argv, &opts("status"))
        .expect_code(2, "status off")
        .expect_line("Status: OFF", "status off");
    run_agent(&a, Mode::Argv, &opts("off"))
        .expect_code(0, "off again")
        .expect_line("Success: Already OFF", "off again");
    run_agent(&a, Mode::Stdin, &opts("on"))
        .expect_code(0, "on")
        .expect_line("Success: Powered ON", "on");
    assert_eq!(peer.outlet("2"), "on");
    peer.clear_log();
    run_agent(&a, Mode::Argv, &opts("reboot"))
        .expect_code(0, "reboot")
        .expect_line("Success: Rebooted", "reboot");
    assert_eq!(peer.outlet("2"), "on");
    assert_eq!(peer.changes().len(), 2, "{:?}", peer.commands());
    peer.clear_log();
    let out = run_agent(&a, Mode::Stdin, &peer.options("off").set("plug", "9"));
    out.expect_code(1, "unknown plug");
    assert!(out.stderr.contains('9'), "{out:#?}");
    assert!(peer.changes().is_empty(), "{:?}", peer.commands());
    assert_eq!(peer.states(), "1=on 2=on 3=on 4=on");
}

fn lists(peer: &CliPeer, list: &[&str], list_status: &[&str]) {
    let a = agent(peer.device);
    let out = run_agent(&a, Mode::Argv, &peer.options("list"));
    out.expect_code(0, "list");
    assert_eq!(out.result_lines(), list, "{out:#?}");
    let out = run_agent(&a, Mode::Stdin, &peer.options("list-status"));
    out.expect_code(0, "list-status");
    assert_eq!(out.result_lines(), list_status, "{out:#?}");
    run_agent(&a, Mode::Argv, &peer.options("monitor")).expect_code(0, "monitor");
}

#[test]
fn apc_over_telnet() {
    let Some(peer) = CliPeer::start(Device::Apc, Transport::Telnet) else {
        return;
    };
    power_cycle_of_plug_2(&peer);
    peer.set_outlet("3", false);
    lists(
        &peer,
        &["1,Outlet 1", "2,Outlet 2", "3,Outlet 3", "4,Outlet 4"],
        &[
            "1,Outlet 1,ON",
            "2,Outlet 2,ON",
            "3,Outlet 3,OFF",
            "4,Outlet 4,ON",
        ],
    );
    // list-status reads the states from the one listing.
    peer.clear_log();
    run_agent(
        &agent(peer.device),
        Mode::Argv,
        &peer.options("list-status"),
    )
    .expect_code(0, "list-status");
    // (The logout line may or may not arrive before the connection closes.)
    assert_eq!(peer.commands()[..2], ["login admin", "olStatus all"]);
}

#[test]
fn apc_over_ssh() {
    let Some(peer) = CliPeer::start(Device::Apc, Transport::Ssh) else {
        return;
    };
    power_cycle_of_plug_2(&peer);
    // The `switch:plug` notation of ClusterLabs' menus still names the outlet.
    run_agent(
        &agent(peer.device),
        Mode::Argv,
        &peer.options("status").set("plug", "1:3"),
    )
    .expect_code(0, "switch:plug")
    .expect_line("Status: ON", "switch:plug");
}

#[test]
fn apc_refused_telnet_login() {
    let Some(peer) = CliPeer::start(Device::Apc, Transport::Telnet) else {
        return;
    };
    let out = run_agent(
        &agent(peer.device),
        Mode::Argv,
        &peer
            .options("status")
            .set("plug", "1")
            .set("password", "wrong"),
    );
    out.expect_code(1, "wrong password");
    assert!(
        out.stderr.contains("Unable to connect/login"),
        "{}",
        out.stderr
    );
    assert_eq!(peer.commands(), vec!["login failed admin"]);
}

#[test]
fn wti_over_telnet_without_login_name_and_groups() {
    let Some(peer) = CliPeer::start(Device::Wti, Transport::Telnet) else {
        return;
    };
    power_cycle_of_plug_2(&peer);
    // A group is ON while any of its plugs is; switching it switches them all.
    let a = agent(peer.device);
    peer.set_outlet("3", false);
    run_agent(
        &a,
        Mode::Argv,
        &peer.options("status").set("plug", "cluster"),
    )
    .expect_code(0, "group status")
    .expect_line("Status: ON", "group status");
    run_agent(&a, Mode::Stdin, &peer.options("off").set("plug", "cluster"))
        .expect_code(0, "group off")
        .expect_line("Success: Powered OFF", "group off");
    assert_eq!(peer.states(), "1=on 2=on 3=off 4=off");
    lists(
        &peer,
        &[
            "1,outlet-1",
            "2,outlet-2",
            "3,outlet-3",
            "4,outlet-4",
            "cluster,cluster",
        ],
        &[
            "1,outlet-1,ON",
            "2,outlet-2,ON",
            "3,outlet-3,OFF",
            "4,outlet-4,OFF",
            "cluster,cluster,OFF",
        ],
    );
}

#[test]
fn wti_over_ssh() {
    let Some(peer) = CliPeer::start(Device::Wti, Transport::Ssh) else {
        return;
    };
    power_cycle_of_plug_2(&peer);
}

#[test]
fn drac5_over_telnet_needs_no_plug() {
    let Some(peer) = CliPeer::start(Device::Drac5, Transport::Telnet) else {
        return;
    };
    let a = agent(peer.device);
    run_agent(&a, Mode::Argv, &peer.options("status"))
        .expect_code(0, "status")
        .expect_line("Status: ON", "status");
    run_agent(&a, Mode::Stdin, &peer.options("off"))
        .expect_code(0, "off")
        .expect_line("Success: Powered OFF", "off");
    assert_eq!(peer.outlet("1"), "off");
    peer.clear_log();
    run_agent(&a, Mode::Argv, &peer.options("reboot"))
        .expect_code(0, "reboot from off")
        .expect_line("Success: Rebooted", "reboot from off");
    assert_eq!(peer.changes(), vec!["racadm serveraction powerup"]);
    run_agent(&a, Mode::Argv, &peer.options("monitor")).expect_code(0, "monitor");
}

#[test]
fn cmc_over_ssh_powers_modules() {
    let Some(peer) = CliPeer::start(Device::Cmc, Transport::Ssh) else {
        return;
    };
    let a = agent(peer.device);
    let opts = |action: &str| peer.options(action).set("plug", "server-2");
    run_agent(&a, Mode::Argv, &opts("off"))
        .expect_code(0, "off")
        .expect_line("Success: Powered OFF", "off");
    assert_eq!(
        peer.states(),
        "server-1=on server-2=off server-3=on server-4=on"
    );
    run_agent(&a, Mode::Stdin, &opts("status"))
        .expect_code(2, "status")
        .expect_line("Status: OFF", "status");
    let out = run_agent(&a, Mode::Argv, &peer.options("list-status"));
    out.expect_code(0, "list-status");
    assert_eq!(
        out.result_lines(),
        vec![
            "Chassis,,ON",
            "server-1,,ON",
            "server-2,,OFF",
            "server-3,,ON",
            "server-4,,ON"
        ]
    );
    // A chassis needs the module.
    let out = run_agent(&a, Mode::Argv, &peer.options("status"));
    out.expect_code(1, "no module");
    assert!(out.stderr.contains("module name"), "{}", out.stderr);
}

#[test]
fn cyberpower_over_ssh() {
    let Some(peer) = CliPeer::start(Device::CyberPower, Transport::Ssh) else {
        return;
    };
    power_cycle_of_plug_2(&peer);
    lists(
        &peer,
        &["1,Outlet1", "2,Outlet2", "3,Outlet3", "4,Outlet4"],
        &[
            "1,Outlet1,ON",
            "2,Outlet2,ON",
            "3,Outlet3,ON",
            "4,Outlet4,ON",
        ],
    );
    // SSH only.
    let mut telnet = peer.options("status").set("plug", "1");
    telnet.0.retain(|o| o.name != "ssh");
    run_agent(&agent(peer.device), Mode::Argv, &telnet).expect_code(1, "without --ssh");
}

/// A device that spoils the first status read after every power change still gets
/// fenced; a plug that never existed still fails before anything is switched.
fn survives_one_failed_read(device: Device, transport: Transport, mode: &str) {
    let Some(peer) = CliPeer::start(device, transport) else {
        return;
    };
    peer.set_flaky(Some(mode));
    let a = agent(device);
    let plug = |o: Options| {
        if device == Device::Drac5 {
            o
        } else {
            o.set("plug", "2")
        }
    };
    let target = if device == Device::Drac5 { "1" } else { "2" };
    let fast = |action: &str| {
        plug(peer.options(action))
            .set("shell_timeout", 1)
            .set("power_timeout", 10)
            .set("power_wait", 0)
    };
    run_agent(&a, Mode::Argv, &fast("off"))
        .expect_code(0, "off on a flaky device")
        .expect_line("Success: Powered OFF", "off on a flaky device");
    assert_eq!(peer.outlet(target), "off");
    peer.clear_log();
    run_agent(&a, Mode::Stdin, &fast("reboot"))
        .expect_code(0, "reboot on a flaky device")
        .expect_line("Success: Rebooted", "reboot on a flaky device");
    assert_eq!(peer.outlet(target), "on");
    assert_eq!(peer.changes().len(), 1, "{:?}", peer.commands());
    if device != Device::Drac5 {
        peer.clear_log();
        run_agent(
            &a,
            Mode::Argv,
            &peer.options("off").set("plug", "9").set("shell_timeout", 1),
        )
        .expect_code(1, "unknown plug on a flaky device");
        assert!(peer.changes().is_empty());
    }
}

#[test]
fn flaky_apc_truncated_answer_over_telnet() {
    survives_one_failed_read(Device::Apc, Transport::Telnet, "truncated");
}

#[test]
fn flaky_wti_error_answer_over_ssh() {
    survives_one_failed_read(Device::Wti, Transport::Ssh, "error");
}

#[test]
fn flaky_drac5_error_answer_over_telnet() {
    survives_one_failed_read(Device::Drac5, Transport::Telnet, "error");
}

#[test]
fn flaky_cyberpower_truncated_answer_over_ssh() {
    survives_one_failed_read(Device::CyberPower, Transport::Ssh, "truncated");
}

#[test]
fn rsa_over_telnet_one_server() {
    let Some(peer) = CliPeer::start(Device::Rsa, Transport::Telnet) else {
        return;
    };
    let a = agent(peer.device);
    run_agent(&a, Mode::Argv, &peer.options("status"))
        .expect_code(0, "status")
        .expect_line("Status: ON", "status");
    run_agent(&a, Mode::Stdin, &peer.options("reboot"))
        .expect_code(0, "reboot")
        .expect_line("Success: Rebooted", "reboot");
    assert_eq!(peer.changes(), vec!["power off", "power on"]);
    assert_eq!(peer.outlet("1"), "on");
}

#[test]
fn bladecenter_over_ssh_and_missing_blades() {
    let Some(peer) = CliPeer::start(Device::BladeCenter, Transport::Ssh) else {
        return;
    };
    power_cycle_of_plug_2(&peer);
    let a = agent(peer.device);
    let out = run_agent(&a, Mode::Argv, &peer.options("list"));
    out.expect_code(0, "list");
    assert_eq!(
        out.result_lines(),
        vec!["1,Blade-1", "2,Blade-2", "3,Blade-3", "4,Blade-4"]
    );
    // --missing-as-off: an empty bay reads as off and nothing is switched.
    peer.clear_log();
    run_agent(
        &a,
        Mode::Stdin,
        &peer
            .options("off")
            .set("plug", "7")
            .flag("missing_as_off")
            .set("power_wait", 0),
    )
    .expect_code(0, "missing blade as off")
    .expect_line("Success: Already OFF", "missing blade as off");
    assert!(peer.changes().is_empty());
}

#[test]
fn flaky_bladecenter_truncated_answer_over_telnet() {
    survives_one_failed_read(Device::BladeCenter, Transport::Telnet, "truncated");
}

#[test]
fn hpblade_over_telnet() {
    let Some(peer) = CliPeer::start(Device::HpBlade, Transport::Telnet) else {
        return;
    };
    power_cycle_of_plug_2(&peer);
    let a = agent(peer.device);
    peer.set_outlet("4", false);
    let out = run_agent(&a, Mode::Argv, &peer.options("list-status"));
    out.expect_code(0, "list-status");
    assert_eq!(
        out.result_lines(),
        vec!["1,node-1,ON", "2,node-2,ON", "3,node-3,ON", "4,node-4,OFF"]
    );
    run_agent(
        &a,
        Mode::Stdin,
        &peer
            .options("status")
            .set("plug", "8")
            .flag("missing_as_off"),
    )
    .expect_code(2, "empty bay as off")
    .expect_line("Status: OFF", "empty bay as off");
}

#[test]
fn flaky_hpblade_truncated_answer_over_ssh() {
    survives_one_failed_read(Device::HpBlade, Transport::Ssh, "truncated");
}

/// Under pacemaker (`disable_timeout`) a command has no limit of its own; the framework's
/// step deadline (power_timeout) still ends a read whose prompt never comes, and the
/// next poll confirms the change.
#[test]
fn truncated_read_under_disable_timeout_ends_at_the_step_deadline() {
    let Some(peer) = CliPeer::start(Device::Apc, Transport::Telnet) else {
        return;
    };
    peer.set_flaky(Some("truncated"));
    let opts = peer
        .options("off")
        .set("plug", "2")
        .set("disable_timeout", "true")
        .set("power_timeout", 2);
    run_agent(&agent(peer.device), Mode::Stdin, &opts)
        .expect_code(0, "off, one read cut, no own time limits")
        .expect_line(
            "Success: Powered OFF",
            "off, one read cut, no own time limits",
        );
    assert_eq!(peer.outlet("2"), "off");
}
