//! fence_cisco_mds end to end against a real SNMP agent: Debian's net-snmp `snmpd` whose
//! pass_persist backend (tests/fixtures/snmp_pdu_backend.py with SW_KIND=fc) plays a Cisco
//! MDS switch: ports `fc1/N` in the IF-MIB (plus a non-FC `mgmt0`) and their admin status
//! in the FC-MGMT-MIB at the instance ClusterLabs computes. Every action via argv and
//! stdin, the exact objects written, `list`, missing and mangled ports, a switch whose
//! first read after every change fails, and the same scenarios through ClusterLabs'
//! fence_cisco_mds for exit codes and stdout lines.
//!
//! Each test starts its own snmpd on its own loopback port and stops it by PID.

mod common;
mod snmp_peer;

use common::{built_binary, Mode, Options};
use snmp_peer::{clusterlabs, run, same_as_clusterlabs, Peer, MODES};
use std::path::PathBuf;

const ADMIN: &str = ".1.3.6.1.2.1.75.1.2.2.1.1";

fn ours() -> PathBuf {
    built_binary("fence_cisco_mds")
}

fn private(peer: &Peer) -> Options {
    peer.v2c("private")
}

#[test]
fn mds_ports_every_action_list_and_missing_ports() {
    let peer = Peer::start_fc_switch();
    let mds = ours();
    for mode in MODES {
        peer.reset();
        let what = |a: &str| format!("{mode:?} {a}");
        let o = || private(&peer).set("plug", "fc1/3");
        run(&mds, mode, o(), "status")
            .expect_code(0, &what("status"))
            .expect_line("Status: ON", &what("status"));
        run(&mds, mode, o(), "off")
            .expect_code(0, &what("off"))
            .expect_line("Success: Powered OFF", &what("off"));
        assert!(!peer.port_up(3), "{}", what("off"));
        assert_eq!(peer.snmpget(&format!("{ADMIN}.22.2")), "2");
        run(&mds, mode, o(), "status")
            .expect_code(2, &what("status off"))
            .expect_line("Status: OFF", &what("status off"));
        run(&mds, mode, o(), "off")
            .expect_code(0, &what("off again"))
            .expect_line("Success: Already OFF", &what("off again"));
        run(&mds, mode, private(&peer).set("plug", "FC1/3"), "on")
            .expect_code(0, &what("on"))
            .expect_line("Success: Powered ON", &what("on"));
        assert!(peer.port_up(3), "{}", what("on"));
        // The default action of a fabric agent is off; reboot is not one of its actions.
        run(&mds, mode, o(), "reboot").expect_code(1, &what("reboot"));
        run(&mds, mode, private(&peer), "monitor").expect_code(0, &what("monitor"));
        let set = |v| format!("port 3 {v} {ADMIN}.22.2");
        assert_eq!(peer.sets(), [set(2), set(1)], "{mode:?}");
    }
    let list = run(&mds, Mode::Argv, private(&peer), "list");
    list.expect_code(0, "list");
    let expected: Vec<String> = (1..=8).map(|i| format!("fc1/{i},node{i}")).collect();
    assert_eq!(list.result_lines(), expected, "mgmt0 is not an FC port");
    peer.reset();
    for plug in ["fc1/9", "fc2/1"] {
        for action in ["status", "off"] {
            let out = run(&mds, Mode::Argv, private(&peer).set("plug", plug), action);
            out.expect_code(1, &format!("{action} of missing port {plug}"));
            assert!(out.result_lines().is_empty(), "{plug}: {out:#?}");
            assert!(out.stderr.contains("does not exist"), "{plug}: {out:#?}");
        }
    }
    for plug in ["eth1/1", "fc1/0", "fc1"] {
        let out = run(&mds, Mode::Stdin, private(&peer).set("plug", plug), "off");
        out.expect_code(1, &format!("mangled port {plug}"));
        assert!(out.stderr.contains("Mangled port number"), "{out:#?}");
    }
    assert!(peer.sets().is_empty(), "nothing switched");
}

/// Verification after a change survives a switch whose first read after every change
/// fails (noSuchInstance): off and on succeed with one failed read each; a missing port
/// still fails at its first read, before any SET.
#[test]
fn mds_verification_survives_a_failed_read_after_every_change() {
    let peer = Peer::start_fc_switch();
    peer.make_flaky();
    for mode in MODES {
        peer.reset();
        let _ = std::fs::remove_file(peer.dir.join("state.pending"));
        let o = || private(&peer).set("plug", "fc1/4");
        run(&ours(), mode, o(), "off")
            .expect_code(0, "off")
            .expect_line("Success: Powered OFF", "off");
        assert!(!peer.port_up(4));
        run(&ours(), mode, o(), "on")
            .expect_code(0, "on")
            .expect_line("Success: Powered ON", "on");
        assert!(peer.port_up(4));
        assert_eq!(
            peer.flaky_reads(),
            ["port 4"; 2],
            "one failed read per change"
        );
        let ghost = run(&ours(), mode, private(&peer).set("plug", "fc1/99"), "off");
        ghost.expect_code(1, "off of a missing port");
        assert!(ghost.stderr.contains("does not exist"), "{ghost:#?}");
        assert_eq!(peer.sets().len(), 2, "nothing switched for fc1/99");
    }
}

#[test]
fn mds_same_as_clusterlabs() {
    let peer = Peer::start_fc_switch();
    let Some(theirs) = clusterlabs("/usr/sbin/fence_cisco_mds") else {
        return;
    };
    let v3 = || peer.v3_sha_aes("authpass123", "privpass123");
    let cases = vec![
        (private(&peer).set("plug", "fc1/2"), "status"),
        (private(&peer).set("plug", "fc1/2"), "off"),
        (private(&peer).set("plug", "fc1/2"), "on"),
        (private(&peer).set("plug", "FC1/5"), "off"),
        (private(&peer), "list"),
        (private(&peer), "monitor"),
        (v3().set("plug", "fc1/7"), "off"),
        (v3(), "list"),
        (
            peer.v1().set("community", "private").set("plug", "fc1/1"),
            "off",
        ),
        (private(&peer).set("plug", "fc1/2"), "reboot"),
        (private(&peer).set("plug", "eth1/1"), "off"),
        (
            v3().set("password", "wrongpass123").set("plug", "fc1/1"),
            "status",
        ),
    ];
    for (opts, action) in cases {
        same_as_clusterlabs(&peer, &ours(), &theirs, opts, action);
    }
    // Deliberate difference: ClusterLabs reads a port the switch does not have as OFF.
    peer.reset();
    run(
        &theirs,
        Mode::Argv,
        private(&peer).set("plug", "fc1/9"),
        "status",
    )
    .expect_code(2, "ClusterLabs: missing port")
    .expect_line("Status: OFF", "ClusterLabs: missing port");
    run(
        &ours(),
        Mode::Argv,
        private(&peer).set("plug", "fc1/9"),
        "status",
    )
    .expect_code(1, "ours: missing port");
}
