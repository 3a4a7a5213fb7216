//! fence_apc_snmp and fence_ifmib end to end against a real SNMP agent: Debian's net-snmp
//! `snmpd` on 127.0.0.1 with the stateful pass_persist backend of
//! `tests/fixtures/snmp_pdu.sh` (an APC PDU and an IF-MIB switch). Every action via argv
//! and stdin, SNMP v1, v2c and v3 (authPriv SHA/AES and MD5/DES, authNoPriv), plugs by
//! number and by name, missing plugs, refused credentials within the timeout, and the
//! same scenarios through ClusterLabs' agents for exit codes and stdout lines.
//!
//! Each test starts its own snmpd on its own port (18600 and up) and stops it by PID.

mod common;
mod snmp_peer;

use common::{run_agent, run_raw, Mode, Options, AGENT_HARD_LIMIT, LOOPBACK};
use snmp_peer::{apc, clusterlabs, ifmib, run, same_as_clusterlabs, Peer, MODES};

const CLUSTERLABS_APC: &str = "/usr/sbin/fence_apc_snmp";
const CLUSTERLABS_IFMIB: &str = "/usr/sbin/fence_ifmib";
/// sysObjectID of an APC rack PDU (the fixture's default) and of an unknown unit.
const SYSOID_UNKNOWN: &str = ".1.3.6.1.4.1.318.1.3.4.99";
const RPDU_CONTROL: &str = ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.";
const MS_CONTROL: &str = ".1.3.6.1.4.1.318.1.1.4.4.2.1.3.";

#[test]
fn apc_v1_every_action_via_argv_and_stdin() {
    let peer = Peer::start();
    for mode in MODES {
        let what = |a: &str| format!("{mode:?} {a}");
        let plug = |o: Options| o.set("plug", 3);
        run(&apc(), mode, plug(peer.v1()), "status")
            .expect_code(0, &what("status"))
            .expect_line("Status: ON", &what("status"));
        run(&apc(), mode, plug(peer.v1()), "off")
            .expect_code(0, &what("off"))
            .expect_line("Success: Powered OFF", &what("off"));
        assert!(!peer.outlet_on(3));
        assert_eq!(peer.snmpget(".1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.3"), "2");
        run(&apc(), mode, plug(peer.v1()), "status")
            .expect_code(2, &what("status off"))
            .expect_line("Status: OFF", &what("status off"));
        run(&apc(), mode, plug(peer.v1()), "off")
            .expect_code(0, &what("off again"))
            .expect_line("Success: Already OFF", &what("off again"));
        run(&apc(), mode, plug(peer.v1()), "on")
            .expect_code(0, &what("on"))
            .expect_line("Success: Powered ON", &what("on"));
        assert!(peer.outlet_on(3));
        peer.reset();
        run(&apc(), mode, plug(peer.v1()), "reboot")
            .expect_code(0, &what("reboot"))
            .expect_line("Success: Rebooted", &what("reboot"));
        let control = |v| format!("outlet 3 {v} {RPDU_CONTROL}3");
        assert_eq!(peer.sets(), vec![control(2), control(1)], "{mode:?}");
        assert!(peer.outlet_on(3));
        let list = run(&apc(), mode, peer.v1(), "list");
        list.expect_code(0, &what("list"));
        let expected: Vec<String> = (1..=8).map(|i| format!("{i},Outlet {i}")).collect();
        assert_eq!(list.result_lines(), expected, "{mode:?}");
        peer.force_outlet_off(6);
        let list = run(&apc(), mode, peer.v1(), "list-status");
        list.expect_code(0, &what("list-status"));
        assert_eq!(list.result_lines()[5], "6,Outlet 6,OFF");
        assert_eq!(list.result_lines()[0], "1,Outlet 1,ON");
        run(&apc(), mode, peer.v1(), "monitor").expect_code(0, &what("monitor"));
        peer.reset();
    }
}

/// Verification after a power change survives a device whose first read after every
/// change fails (noSuchInstance, which before the change would mean "no such outlet"):
/// off, on and reboot succeed, each change followed by one failed read. A missing outlet
/// still fails at the first read, before any SET.
#[test]
fn apc_verification_survives_a_failed_read_after_every_change() {
    let peer = Peer::start();
    peer.make_flaky();
    let plug = || peer.v1().set("plug", 4).set("power_wait", 0);
    for mode in MODES {
        peer.reset();
        let _ = std::fs::remove_file(peer.dir.join("state.pending"));
        let what = |a: &str| format!("{mode:?} {a}");
        run(&apc(), mode, plug(), "off")
            .expect_code(0, &what("off"))
            .expect_line("Success: Powered OFF", &what("off"));
        assert!(!peer.outlet_on(4));
        run(&apc(), mode, plug(), "on")
            .expect_code(0, &what("on"))
            .expect_line("Success: Powered ON", &what("on"));
        run(&apc(), mode, plug(), "reboot")
            .expect_code(0, &what("reboot"))
            .expect_line("Success: Rebooted", &what("reboot"));
        assert!(peer.outlet_on(4));
        let control = |v| format!("outlet 4 {v} {RPDU_CONTROL}4");
        assert_eq!(
            peer.sets(),
            [control(2), control(1), control(2), control(1)],
            "{mode:?}"
        );
        assert_eq!(
            peer.flaky_reads(),
            ["outlet 4"; 4],
            "one failed read per change"
        );
        let ghost = run(&apc(), mode, peer.v1().set("plug", 99), "off");
        ghost.expect_code(1, &what("off of a missing outlet"));
        assert!(ghost.stderr.contains("does not exist"), "{ghost:#?}");
        assert_eq!(peer.sets().len(), 4, "nothing switched for outlet 99");
    }
}

#[test]
fn apc_plugs_by_name_and_missing_plugs() {
    let peer = Peer::start();
    for opts in [peer.v1(), peer.v2c("private")] {
        run(
            &apc(),
            Mode::Argv,
            opts.clone().set("plug", "Outlet 5"),
            "off",
        )
        .expect_code(0, "off by name")
        .expect_line("Success: Powered OFF", "off by name");
        assert!(!peer.outlet_on(5));
        run(
            &apc(),
            Mode::Stdin,
            opts.clone().set("plug", "Outlet 5"),
            "on",
        )
        .expect_code(0, "on by name")
        .expect_line("Success: Powered ON", "on by name");
        // A missing outlet is an error, not "Status: OFF" (ClusterLabs with v2c says OFF).
        for plug in ["99", "No such outlet", "2:3"] {
            let out = run(&apc(), Mode::Argv, opts.clone().set("plug", plug), "status");
            out.expect_code(1, plug);
            assert!(out.result_lines().is_empty(), "{plug}: {out:#?}");
            assert!(out.stderr.contains("does not exist"), "{plug}: {out:#?}");
        }
        let out = run(&apc(), Mode::Argv, opts.clone().set("plug", "99"), "off");
        out.expect_code(1, "off of a missing outlet");
    }
    assert!(peer.sets().iter().all(|s| !s.contains(" 99 ")));
}

#[test]
fn apc_v3_authpriv_sha_aes_md5_des_and_authnopriv() {
    let peer = Peer::start();
    for mode in MODES {
        let opts = || peer.v3_sha_aes("authpass123", "privpass123").set("plug", 2);
        run(&apc(), mode, opts(), "off")
            .expect_code(0, "v3 off")
            .expect_line("Success: Powered OFF", "v3 off");
        assert!(!peer.outlet_on(2));
        run(&apc(), mode, opts(), "status").expect_code(2, "v3 status off");
        run(&apc(), mode, opts(), "on")
            .expect_code(0, "v3 on")
            .expect_line("Success: Powered ON", "v3 on");
        let list = run(
            &apc(),
            mode,
            peer.v3_sha_aes("authpass123", "privpass123"),
            "list",
        );
        list.expect_code(0, "v3 list");
        assert_eq!(list.result_lines().len(), 8);
    }
    let md5_des = peer
        .base()
        .set("snmp_version", "3")
        .set("username", "md5user")
        .set("password", "md5pass123")
        .set("snmp_auth_prot", "MD5")
        .set("snmp_priv_prot", "DES")
        .set("snmp_priv_passwd", "despass123")
        .set("plug", 4);
    run(&apc(), Mode::Argv, md5_des, "reboot")
        .expect_code(0, "MD5/DES reboot")
        .expect_line("Success: Rebooted", "MD5/DES reboot");
    let auth_only = peer
        .base()
        .set("snmp_version", "3")
        .set("username", "authuser")
        .set("password", "authonly123")
        .set("snmp_auth_prot", "sha")
        .set("snmp_sec_level", "authNoPriv")
        .set("plug", 4);
    run(&apc(), Mode::Stdin, auth_only, "status")
        .expect_code(0, "authNoPriv status")
        .expect_line("Status: ON", "authNoPriv status");
}

#[test]
fn refused_credentials_fail_within_the_timeout() {
    // Where the agent must give up at login_timeout (a silent peer), a hang would be
    // caught by the harness (AGENT_HARD_LIMIT kills the agent: no exit code, so
    // expect_code fails); how long it takes is measured in bench/snmp.sh.
    let peer = Peer::start();
    // Wrong community: the agent stays silent; we give up at login_timeout.
    let out = run(
        &apc(),
        Mode::Argv,
        peer.v2c("wrong").set("plug", 1).set("login_timeout", 1.5),
        "status",
    );
    out.expect_code(1, "wrong community");
    assert!(out.stderr.contains("timed out"), "{out:#?}");
    let out = run(
        &ifmib(),
        Mode::Stdin,
        peer.v2c("wrong")
            .set("plug", 1)
            .set("login_timeout", 1)
            .set("shell_timeout", 0.5),
        "status",
    );
    out.expect_code(1, "ifmib wrong community");
    assert!(out.stderr.contains("timed out"), "{out:#?}");
    // Wrong v3 auth password: the agent reports usmStatsWrongDigests at once, not at a
    // timeout: with a login_timeout beyond the harness's limit, waiting for it would be
    // a killed agent.
    let patient = AGENT_HARD_LIMIT.as_secs() * 5;
    let out = run(
        &apc(),
        Mode::Argv,
        peer.v3_sha_aes("wrongpass123", "privpass123")
            .set("plug", 1)
            .set("login_timeout", patient),
        "off",
    );
    out.expect_code(1, "wrong v3 password");
    assert!(out.stderr.contains("authentication"), "{out:#?}");
    assert!(!out.stderr.contains("timed out"), "{out:#?}");
    // Wrong privacy password: the agent drops what it cannot decrypt.
    let out = run(
        &apc(),
        Mode::Stdin,
        peer.v3_sha_aes("authpass123", "wrongpriv123")
            .set("plug", 1)
            .set("login_timeout", 1.5),
        "off",
    );
    out.expect_code(1, "wrong v3 privacy password");
    assert!(out.stderr.contains("timed out"), "{out:#?}");
    assert!(peer.outlet_on(1) && peer.sets().is_empty(), "{out:#?}");
    // Unknown user.
    let out = run(
        &ifmib(),
        Mode::Argv,
        peer.v3_sha_aes("authpass123", "privpass123")
            .set("username", "nobody")
            .set("plug", 1),
        "off",
    );
    out.expect_code(1, "unknown v3 user");
    // Read-only community: the SET is refused, nothing changes.
    let out = run(&apc(), Mode::Argv, peer.v2c("public").set("plug", 1), "off");
    out.expect_code(1, "read-only community");
    assert!(out.stderr.contains("privileges"), "{out:#?}");
    assert!(peer.outlet_on(1) && peer.sets().is_empty());
}

#[test]
fn apc_unknown_model_falls_back_to_the_masterswitch_table() {
    let peer = Peer::start_as(Some(SYSOID_UNKNOWN));
    run(&apc(), Mode::Argv, peer.v1().set("plug", 7), "off")
        .expect_code(0, "MasterSwitch off")
        .expect_line("Success: Powered OFF", "MasterSwitch off");
    assert_eq!(peer.sets(), vec![format!("outlet 7 2 {MS_CONTROL}7")]);
    let list = run(&apc(), Mode::Argv, peer.v1(), "list");
    assert_eq!(list.result_lines()[6], "7,Outlet 7");
    run(
        &apc(),
        Mode::Argv,
        peer.v1().set("plug", "Outlet 7"),
        "status",
    )
    .expect_code(2, "status");
}

#[test]
fn ifmib_ports_by_index_descr_and_name() {
    let peer = Peer::start();
    let opts = || peer.base().set("community", "private");
    for mode in MODES {
        // Default action of a fabric agent: off.
        run_agent(&ifmib(), mode, &opts().set("plug", 3))
            .expect_code(0, "default off")
            .expect_line("Success: Powered OFF", "default off");
        assert!(!peer.port_up(3));
        run(
            &ifmib(),
            mode,
            opts().set("plug", "GigabitEthernet1/0/3"),
            "status",
        )
        .expect_code(2, "status by ifDescr")
        .expect_line("Status: OFF", "status by ifDescr");
        run(&ifmib(), mode, opts().set("plug", "Gi1/0/3"), "on")
            .expect_code(0, "on by ifName")
            .expect_line("Success: Powered ON", "on by ifName");
        assert!(peer.port_up(3));
        let list = run(&ifmib(), mode, opts(), "list");
        list.expect_code(0, "list");
        let expected: Vec<String> = (1..=8)
            .map(|i| format!("GigabitEthernet1/0/{i},node{i}"))
            .collect();
        assert_eq!(list.result_lines(), expected);
        let out = run(&ifmib(), mode, opts().set("plug", 99), "status");
        out.expect_code(1, "missing port");
        assert!(out.result_lines().is_empty(), "{out:#?}");
        let out = run(&ifmib(), mode, opts().set("plug", 3), "reboot");
        out.expect_code(1, "reboot is no fabric action");
        assert!(
            out.stderr.contains("Unrecognised action 'reboot'"),
            "{out:#?}"
        );
    }
    run(&ifmib(), Mode::Argv, opts().set("plug", 5), "off").expect_code(0, "off 5");
    let list = run(&ifmib(), Mode::Argv, opts(), "list-status");
    assert_eq!(list.result_lines()[4], "GigabitEthernet1/0/5,node5,OFF");
    // As pacemaker-fenced calls it: no argv, `port=` and `nodename=` on stdin.
    let stdin = format!(
        "action=on\nip={LOOPBACK}\nipport={}\ncommunity=private\nport=5\nnodename=node5\n",
        peer.port
    );
    let out = run_raw(&ifmib(), &[], Some(&stdin), &[]);
    out.expect_code(0, "pacemaker stdin")
        .expect_line("Success: Powered ON", "pacemaker stdin");
    assert!(peer.port_up(5));
    let set = |v| format!("port 5 {v} .1.3.6.1.2.1.2.2.1.7.5");
    assert!(peer.sets().ends_with(&[set(2), set(1)]));
}

#[test]
fn ifmib_v3_authpriv() {
    let peer = Peer::start();
    let opts = || {
        peer.v3_sha_aes("authpass123", "privpass123")
            .set("plug", "Gi1/0/8")
    };
    run(&ifmib(), Mode::Stdin, opts(), "off").expect_code(0, "v3 off");
    assert!(!peer.port_up(8));
    run(&ifmib(), Mode::Argv, opts(), "on").expect_code(0, "v3 on");
    assert!(peer.port_up(8));
}

#[test]
fn bad_options_are_clear_errors() {
    let peer = Peer::start();
    let cases = [
        (
            peer.v1().set("plug", 1).set("snmp_version", "4"),
            "valid choice",
        ),
        (
            peer.v1().set("plug", 1).set("snmp_version", "3"),
            "login name",
        ),
        (
            peer.v1()
                .set("plug", 1)
                .set("snmp_version", "3")
                .set("username", "u")
                .set("snmp_sec_level", "authPriv"),
            "password",
        ),
        (
            peer.v1().set("plug", 1).set("ipport", 70000),
            "not a UDP port",
        ),
        (peer.v1(), "plug number"),
        (
            peer.v3_sha_aes("short", "privpass123").set("plug", 1),
            "shorter than 8",
        ),
    ];
    for (opts, words) in cases {
        let out = run(&apc(), Mode::Argv, opts, "status");
        out.expect_code(1, words);
        assert!(out.stderr.contains(words), "{words}: {out:#?}");
    }
    let out = run(&ifmib(), Mode::Argv, peer.base().set("plug", 1), "status");
    out.expect_code(1, "ifmib without community");
    assert!(out.stderr.contains("community"), "{out:#?}");
}

#[test]
fn side_by_side_with_clusterlabs() {
    let (Some(their_apc), Some(their_ifmib)) =
        (clusterlabs(CLUSTERLABS_APC), clusterlabs(CLUSTERLABS_IFMIB))
    else {
        return;
    };
    let peer = Peer::start();
    let v3 = || peer.v3_sha_aes("authpass123", "privpass123");
    for (opts, action) in [
        (peer.v1().set("plug", 3), "status"),
        (peer.v1().set("plug", 3), "off"),
        (peer.v1().set("plug", 3), "on"),
        (peer.v1().set("plug", 3), "reboot"),
        (peer.v1().set("plug", "Outlet 4"), "off"),
        (peer.v1(), "list"),
        (peer.v2c("private").set("plug", 2), "off"),
        (v3().set("plug", 6), "status"),
        (v3().set("plug", 6), "off"),
        (peer.v1().set("plug", "No such outlet"), "status"),
        (peer.v1().set("plug", 99), "status"),
        (
            v3().set("password", "wrongpass123").set("plug", 1),
            "status",
        ),
    ] {
        same_as_clusterlabs(&peer, &apc(), &their_apc, opts, action);
    }
    let sw = || peer.v2c("private");
    for (opts, action) in [
        (sw().set("plug", 2), "status"),
        (sw().set("plug", 2), "off"),
        (sw().set("plug", "GigabitEthernet1/0/2"), "off"),
        (sw().set("plug", 2), "on"),
        (sw(), "list"),
        (v3().set("plug", 7), "off"),
        (sw().set("plug", "no-such-port"), "status"),
        (sw().set("plug", 2), "reboot"),
    ] {
        same_as_clusterlabs(&peer, &ifmib(), &their_ifmib, opts, action);
    }
    // Deliberate difference: ClusterLabs reports a missing outlet/port as OFF over v2c.
    peer.reset();
    let theirs = run(
        &their_apc,
        Mode::Argv,
        peer.v2c("private").set("plug", 99),
        "status",
    );
    assert_eq!(theirs.result_lines(), vec!["Status: OFF".to_string()]);
    run(
        &apc(),
        Mode::Argv,
        peer.v2c("private").set("plug", 99),
        "status",
    )
    .expect_code(1, "missing outlet over v2c");
}
