//! The SNMP agents of other PDU and blade-chassis vendors end to end against a real SNMP
//! agent: net-snmp `snmpd` on 127.0.0.1 whose pass_persist backend
//! (tests/fixtures/snmp_pdu_backend.py) shows the same eight outlets through each vendor's
//! MIB — Eaton Managed and Switched ePDUs, IBM iPDU, Emerson MPX, Intel Modular Server,
//! IBM BladeCenter, Lindy PDU. Per agent: every action via argv and stdin, the exact
//! objects written (from the backend's SET log), plugs by number and by name, missing
//! plugs, and the same scenarios through ClusterLabs' agent for exit codes and stdout
//! lines — which shows the backend speaks the MIB as ClusterLabs knows the device.
//!
//! Each test starts its own snmpd on its own port and stops it by PID.

mod common;
mod snmp_peer;

use common::{built_binary, Mode, Options};
use snmp_peer::{clusterlabs, run, same_as_clusterlabs, Peer, MODES};
use std::path::{Path, PathBuf};

const EATON_MANAGED: &str = ".1.3.6.1.4.1.534.6.6.6";
const EATON_SWITCHED: &str = ".1.3.6.1.4.1.20677.1";
const LINDY: &str = ".1.3.6.1.4.1.17420";

fn ours(name: &str) -> PathBuf {
    built_binary(name)
}

fn theirs(name: &str) -> Option<PathBuf> {
    clusterlabs(&format!("/usr/sbin/{name}"))
}

/// status / off / status / off again / on / reboot through `agent` on `plug`, in both
/// input modes; the outlet ends on. `outlet` is the backend's outlet behind the plug.
fn every_action(peer: &Peer, agent: &Path, opts: &Options, plug: &str, outlet: u32) {
    for mode in MODES {
        peer.reset();
        let what = |a: &str| format!("{} {mode:?} {a}", agent.display());
        let o = || opts.clone().set("plug", plug).set("power_wait", 0);
        run(agent, mode, o(), "status")
            .expect_code(0, &what("status"))
            .expect_line("Status: ON", &what("status"));
        run(agent, mode, o(), "off")
            .expect_code(0, &what("off"))
            .expect_line("Success: Powered OFF", &what("off"));
        assert!(!peer.outlet_on(outlet), "{}", what("off"));
        run(agent, mode, o(), "status")
            .expect_code(2, &what("status off"))
            .expect_line("Status: OFF", &what("status off"));
        run(agent, mode, o(), "off")
            .expect_code(0, &what("off again"))
            .expect_line("Success: Already OFF", &what("off again"));
        run(agent, mode, o(), "on")
            .expect_code(0, &what("on"))
            .expect_line("Success: Powered ON", &what("on"));
        assert!(peer.outlet_on(outlet), "{}", what("on"));
        run(agent, mode, o(), "reboot")
            .expect_code(0, &what("reboot"))
            .expect_line("Success: Rebooted", &what("reboot"));
        assert!(peer.outlet_on(outlet), "{}", what("reboot"));
        run(agent, mode, opts.clone(), "monitor").expect_code(0, &what("monitor"));
    }
}

/// A plug the device does not have: exit 1, nothing on stdout, nothing switched.
fn missing(peer: &Peer, agent: &Path, opts: &Options, plug: &str) {
    let before = peer.sets().len();
    for action in ["status", "off"] {
        let out = run(agent, Mode::Argv, opts.clone().set("plug", plug), action);
        out.expect_code(1, &format!("{action} of missing plug {plug}"));
        assert!(out.result_lines().is_empty(), "{plug}: {out:#?}");
        assert!(out.stderr.contains("does not exist"), "{plug}: {out:#?}");
    }
    assert_eq!(peer.sets().len(), before, "nothing switched for {plug}");
}

fn list(agent: &Path, opts: Options) -> Vec<String> {
    let out = run(agent, Mode::Argv, opts, "list");
    out.expect_code(0, "list");
    out.result_lines()
}

/// Each scenario through ClusterLabs' agent and ours, from the same device state.
fn side_by_side(peer: &Peer, name: &str, cases: Vec<(Options, &str)>) {
    let Some(clusterlabs) = theirs(name) else {
        return;
    };
    for (opts, action) in cases {
        same_as_clusterlabs(peer, &ours(name), &clusterlabs, opts, action);
    }
}

#[test]
fn eaton_managed_epdu_counts_outlets_from_zero() {
    let peer = Peer::start_as(Some(EATON_MANAGED));
    let eaton = ours("fence_eaton_snmp");
    // fence_eaton_snmp's defaults: SNMP v1, community private.
    every_action(&peer, &eaton, &peer.v1(), "3", 3);
    let set = |v| format!("outlet 3 {v} .1.3.6.1.4.1.534.6.6.6.1.2.2.1.3.2");
    assert_eq!(peer.sets(), [set(0), set(1), set(0), set(1)]);
    let expected: Vec<String> = (1..=8).map(|i| format!("{i},{i}")).collect();
    assert_eq!(list(&eaton, peer.v2c("private")), expected);
    peer.force_outlet_off(8);
    run(&eaton, Mode::Stdin, peer.v1().set("plug", 8), "status")
        .expect_code(2, "outlet 8 is row 7")
        .expect_line("Status: OFF", "outlet 8");
    peer.reset();
    for plug in ["0", "9", "Outlet 1"] {
        missing(&peer, &eaton, &peer.v1(), plug);
    }
    let v3 = || peer.v3_sha_aes("authpass123", "privpass123");
    side_by_side(
        &peer,
        "fence_eaton_snmp",
        vec![
            (peer.v1().set("plug", 3), "status"),
            (peer.v1().set("plug", 3), "off"),
            (peer.v1().set("plug", 3), "on"),
            (peer.v1().set("plug", 5), "reboot"),
            (peer.v1(), "list"),
            (v3().set("plug", 2), "off"),
            (peer.v1().set("plug", 9), "status"),
            (peer.v1().set("plug", 0), "status"),
            (peer.v2c("public").set("plug", 1), "off"),
        ],
    );
}

#[test]
fn eaton_switched_epdu_controls_behind_the_global_command() {
    let peer = Peer::start_as(Some(EATON_SWITCHED));
    let eaton = ours("fence_eaton_snmp");
    every_action(&peer, &eaton, &peer.v2c("private"), "3", 3);
    let set = |v| format!("outlet 3 {v} .1.3.6.1.4.1.20677.2.6.2.4.0");
    assert_eq!(peer.sets(), [set(2), set(1), set(2), set(1)]);
    // Status scalar 9 reads 0: an outlet the unit does not have, left out of the list.
    let expected: Vec<String> = (1..=8).map(|i| format!("{i},{i}")).collect();
    assert_eq!(list(&eaton, peer.v1()), expected);
    for plug in ["9", "99"] {
        missing(&peer, &eaton, &peer.v1(), plug);
    }
    side_by_side(
        &peer,
        "fence_eaton_snmp",
        vec![
            (peer.v1().set("plug", 4), "status"),
            (peer.v1().set("plug", 4), "off"),
            (peer.v1().set("plug", 4), "on"),
            (peer.v1().set("plug", 1), "reboot"),
            (peer.v1(), "list"),
            (peer.v1().set("plug", 9), "status"),
            (peer.v1().set("plug", 99), "status"),
        ],
    );
}

#[test]
fn eaton_refuses_a_unit_it_does_not_know() {
    let peer = Peer::start(); // sysObjectID of an APC rack PDU
    let out = run(
        &ours("fence_eaton_snmp"),
        Mode::Argv,
        peer.v1().set("plug", 1),
        "off",
    );
    out.expect_code(1, "APC unit");
    assert!(out.stderr.contains("not an Eaton"), "{out:#?}");
    assert!(peer.sets().is_empty());
    side_by_side(
        &peer,
        "fence_eaton_snmp",
        vec![(peer.v1().set("plug", 1), "status")],
    );
}

#[test]
fn ipdu_outlets_by_number_and_name_over_v3() {
    let peer = Peer::start();
    let ipdu = ours("fence_ipdu");
    let v3 = || peer.v3_sha_aes("authpass123", "privpass123");
    // fence_ipdu's default is SNMP v3: no --snmp-version needed.
    let v3_default = peer
        .base()
        .set("username", "md5user")
        .set("password", "md5pass123")
        .set("snmp_priv_passwd", "despass123");
    every_action(&peer, &ipdu, &v3_default, "2", 2);
    every_action(&peer, &ipdu, &peer.v2c("private"), "Outlet 6", 6);
    let set = |n, v| format!("outlet {n} {v} .1.3.6.1.4.1.2.6.223.8.2.2.1.11.{n}");
    assert_eq!(peer.sets(), [set(6, 0), set(6, 1), set(6, 0), set(6, 1)]);
    let expected: Vec<String> = (1..=8).map(|i| format!("{i},Outlet {i}")).collect();
    assert_eq!(list(&ipdu, v3()), expected);
    for plug in ["9", "No such outlet"] {
        missing(&peer, &ipdu, &v3(), plug);
    }
    side_by_side(
        &peer,
        "fence_ipdu",
        vec![
            (v3().set("plug", 2), "status"),
            (v3().set("plug", 2), "off"),
            (v3().set("plug", "Outlet 4"), "off"),
            (v3().set("plug", 2), "reboot"),
            (v3(), "list"),
            (peer.v2c("private").set("plug", 7), "off"),
            (
                peer.v2c("private").set("snmp_version", 1).set("plug", 7),
                "on",
            ),
            (v3_default.clone().set("plug", 3), "off"),
            (
                v3().set("password", "wrongpass123").set("plug", 1),
                "status",
            ),
        ],
    );
}

#[test]
fn emerson_receptacles_by_index_and_name() {
    let peer = Peer::start();
    let emerson = ours("fence_emerson");
    // No default SNMP version: v2c with a community, as ClusterLabs completes it.
    let c = || peer.base().set("community", "private");
    every_action(&peer, &emerson, &c(), "1.1.4", 4);
    let set = |v| format!("outlet 4 {v} .1.3.6.1.4.1.476.1.42.3.8.50.20.1.100.1.1.4");
    assert_eq!(peer.sets(), [set(0), set(1), set(0), set(1)]);
    run(&emerson, Mode::Stdin, c().set("plug", "Outlet 5"), "off")
        .expect_code(0, "off by name")
        .expect_line("Success: Powered OFF", "off by name");
    assert!(!peer.outlet_on(5));
    let expected: Vec<String> = (1..=8).map(|i| format!("1.1.{i},Outlet {i}")).collect();
    assert_eq!(list(&emerson, c()), expected);
    peer.reset();
    for plug in ["4", "1.1.9", "2.1.1"] {
        missing(&peer, &emerson, &c(), plug);
    }
    side_by_side(
        &peer,
        "fence_emerson",
        vec![
            (c().set("plug", "1.1.3"), "status"),
            (c().set("plug", "1.1.3").set("power_wait", 0), "off"),
            (c().set("plug", "1.1.3").set("power_wait", 0), "on"),
            (c().set("plug", "1.1.2"), "reboot"),
            (
                peer.v3_sha_aes("authpass123", "privpass123")
                    .set("plug", "1.1.8")
                    .set("power_wait", 0),
                "off",
            ),
        ],
    );
    // Deliberate difference: ClusterLabs lists names with net-snmp's quotes.
    if let Some(clusterlabs) = theirs("fence_emerson") {
        peer.reset();
        assert_eq!(list(&clusterlabs, c())[0], "1.1.1,\"Outlet 1\"");
    }
}

#[test]
fn intelmodular_blades_switch_with_2_and_3() {
    let peer = Peer::start();
    let intel = ours("fence_intelmodular");
    let c = || peer.base().set("community", "private");
    every_action(&peer, &intel, &c(), "5", 5);
    let set = |v| format!("outlet 5 {v} .1.3.6.1.4.1.343.2.19.1.2.10.202.1.1.6.5");
    assert_eq!(peer.sets(), [set(3), set(2), set(3), set(2)]);
    let expected: Vec<String> = (1..=8).map(|i| format!("{i},")).collect();
    assert_eq!(list(&intel, c()), expected);
    for plug in ["9", "blade-1"] {
        missing(&peer, &intel, &c(), plug);
    }
    let v3 = || peer.v3_sha_aes("authpass123", "privpass123");
    side_by_side(
        &peer,
        "fence_intelmodular",
        vec![
            (c().set("plug", 5), "status"),
            (c().set("plug", 5), "off"),
            (c().set("plug", 5), "on"),
            (v3().set("plug", 1), "reboot"),
            (v3(), "list"),
            (peer.base().set("plug", 1), "status"),
        ],
    );
}

#[test]
fn ibmblade_reads_power_state_and_writes_power_on_off() {
    let peer = Peer::start();
    let blade = ours("fence_ibmblade");
    // SNMP v1 by default, and no default community.
    let c = || peer.base().set("community", "private");
    every_action(&peer, &blade, &c(), "6", 6);
    let set = |v| format!("outlet 6 {v} .1.3.6.1.4.1.2.3.51.2.22.1.6.1.1.7.6");
    assert_eq!(peer.sets(), [set(0), set(1), set(0), set(1)]);
    let expected: Vec<String> = (1..=8).map(|i| format!("{i},")).collect();
    assert_eq!(list(&blade, c()), expected);
    for plug in ["9", "blade-1"] {
        missing(&peer, &blade, &c(), plug);
    }
    let out = run(&blade, Mode::Argv, peer.base().set("plug", 1), "status");
    out.expect_code(1, "no community");
    assert!(out.stderr.contains("community"), "{out:#?}");
    side_by_side(
        &peer,
        "fence_ibmblade",
        vec![
            (c().set("plug", 6), "status"),
            (c().set("plug", 6), "off"),
            (c().set("plug", 6), "on"),
            (c().set("plug", 3), "reboot"),
            (c(), "list"),
            (peer.v2c("private").set("plug", 2), "off"),
            (
                peer.v3_sha_aes("authpass123", "privpass123").set("plug", 4),
                "off",
            ),
        ],
    );
}

#[test]
fn lindypdu_rewrites_the_state_string() {
    let peer = Peer::start_as(Some(LINDY));
    let lindy = ours("fence_lindypdu");
    // The default community (public) is read-only in the fixture: write with private.
    let c = || peer.base().set("community", "private");
    every_action(&peer, &lindy, &c(), "3", 3);
    let set = |v| format!("outlet 3 {v} .1.3.6.1.4.1.17420.1.2.9.1.13.0");
    assert_eq!(peer.sets(), [set(0), set(1), set(0), set(1)]);
    // Plugs as list prints them (switch:outlet) and by name; others keep their state.
    peer.force_outlet_off(7);
    every_action(&peer, &lindy, &c(), "1:2", 2);
    peer.force_outlet_off(7);
    run(&lindy, Mode::Stdin, c().set("plug", "Outlet 5"), "off")
        .expect_code(0, "off by name")
        .expect_line("Success: Powered OFF", "off by name");
    assert!(!peer.outlet_on(5) && !peer.outlet_on(7) && peer.outlet_on(4));
    let out = run(&lindy, Mode::Argv, c(), "list-status");
    out.expect_code(0, "list-status");
    assert_eq!(out.result_lines()[4], "1:5,Outlet 5,OFF");
    assert_eq!(out.result_lines()[3], "1:4,Outlet 4,ON");
    peer.reset();
    for plug in ["9", "2:1", "No such outlet"] {
        missing(&peer, &lindy, &c(), plug);
    }
    let out = run(
        &lindy,
        Mode::Argv,
        c().set("plug", 1).set("switch", "x"),
        "status",
    );
    out.expect_code(1, "bad switch");
    assert!(out.stderr.contains("--switch"), "{out:#?}");
    let expected: Vec<String> = (1..=8).map(|i| format!("1:{i},Outlet {i}")).collect();
    assert_eq!(list(&lindy, peer.base()), expected);
    side_by_side(
        &peer,
        "fence_lindypdu",
        vec![
            (c().set("plug", 3), "status"),
            (c().set("plug", 3), "off"),
            (c().set("plug", 3), "on"),
            (c().set("plug", 6), "reboot"),
            (peer.base(), "list"),
            (peer.base().set("plug", 3), "off"),
            (c().set("plug", 9), "status"),
        ],
    );
}
