//! Multicast rings, tie-breakers and watchdog fencing in the node configuration: what is
//! accepted, the defaults, and every refusal.

use std::time::Duration;

use crate::node::config::{parse, NodeConfig, TieBreakers};

const BASE: &str = r#"
[cluster]
id = 5
key-file = "/k"
node = "a"
sbd-health-file = "/run/health"

[timers]
keepalive = "200ms"
deadtime = "1s"
initdead = "3s"

[quorum]
no-quorum-policy = "stop"

[fencing]
retry = "2s"

[[node]]
name = "a"
id = 1
addresses = ["10.0.0.1", "10.1.0.1"]
fence-agent = "fence_dummy"

[[node]]
name = "b"
id = 2
addresses = ["10.0.0.2", "10.1.0.2"]
fence-agent = "fence_dummy"
"#;

fn key(_: &std::path::Path) -> Result<Vec<u8>, String> {
    Ok(b"0123456789abcdef".to_vec())
}

/// BASE with `extra` lines added at the end of `section` (its header line).
fn with(section: &str, extra: &str) -> String {
    BASE.replacen(section, &format!("{section}\n{extra}"), 1)
}

fn ok(text: &str) -> NodeConfig {
    parse(text, None, key).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn err(text: &str) -> String {
    match parse(text, None, key) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn without_the_new_keys_nothing_changes() {
    let c = ok(BASE);
    assert_eq!(c.multicast, vec![None, None]);
    assert_eq!(c.tie_breakers, TieBreakers::default());
    assert_eq!(c.fencing.watchdog, None);
}

#[test]
fn a_multicast_ring_and_a_unicast_ring() {
    let text = format!(
        "{BASE}\n[[ring]]\nmcast-group = \"239.255.42.1\"\nmcast-ttl = 0\nmcast-loop = true\n\n[[ring]]\n"
    );
    let c = ok(&text);
    let m = c.multicast[0].clone().expect("ring 0 is multicast");
    assert_eq!(m.group.to_string(), "239.255.42.1");
    assert_eq!(
        (m.port, m.ttl, m.looped),
        (super::super::DEFAULT_PORT, 0, true)
    );
    assert_eq!(c.multicast[1], None);
    let text = format!("{BASE}\n[[ring]]\nmcast-group = \"239.1.1.1\"\nmcast-port = 6000\n");
    let m = ok(&text).multicast[0].clone().expect("multicast");
    assert_eq!((m.port, m.ttl, m.looped), (6000, 1, false));
}

#[test]
fn multicast_refusals() {
    let ring = |body: &str| format!("{BASE}\n[[ring]]\n{body}\n");
    let cases = [
        (ring("mcast-group = \"10.0.0.9\""), "not a multicast address"),
        (ring("mcast-group = \"ff02::1\""), "IPv6 multicast"),
        (ring("mcast-group = \"group\""), "not an IP address"),
        (ring("mcast-group = \"239.1.1.1\"\nmcast-ttl = 300"), "0-255"),
        (ring("mcast-group = \"239.1.1.1\"\nmcast-port = 0"), "above 0"),
        (ring("mcast-ttl = 2"), "mcast-group: missing"),
        (ring("mcast-group = \"239.1.1.1\"\nmcast-if = \"eth0\""), "mcast-if"),
        (
            format!("{BASE}\n[[ring]]\nmcast-group = \"239.1.1.1\"\n[[ring]]\nmcast-group = \"239.1.1.1\"\n"),
            "already used",
        ),
        (format!("{BASE}\n[[ring]]\n[[ring]]\n[[ring]]\n"), "3 [[ring]] sections"),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{e:?} lacks {want:?}");
    }
}

#[test]
fn ping_targets_with_heartbeat_defaults() {
    let c = ok(&with(
        "[quorum]",
        "ping-targets = [\"10.0.0.254\", \"fd00::1\"]",
    ));
    let ping = c.tie_breakers.ping.expect("ping");
    assert_eq!(ping.targets.len(), 2);
    assert_eq!(ping.interval, Duration::from_millis(200), "keepalive");
    assert_eq!(ping.deadtime, Duration::from_millis(500), "deadtime / 2");
    let c = ok(&with(
        "[quorum]",
        "ping-targets = [\"10.0.0.254\"]\nping-interval = \"100ms\"\nping-deadtime = \"900ms\"",
    ));
    let ping = c.tie_breakers.ping.expect("ping");
    assert_eq!(
        (ping.interval, ping.deadtime),
        (Duration::from_millis(100), Duration::from_millis(900))
    );
}

#[test]
fn the_disk_tie_breaker_with_its_settle_time() {
    let c = ok(&with("[quorum]", "tie-breaker-disk = \"/dev/sbd\""));
    let disk = c.tie_breakers.disk.expect("disk");
    assert_eq!(disk.path.to_str(), Some("/dev/sbd"));
    assert_eq!(
        disk.settle,
        Duration::from_secs(1),
        "4 x keepalive, at least 1s"
    );
    let c = ok(&with(
        "[quorum]",
        "tie-breaker-disk = \"/dev/sbd\"\ndisk-settle = \"3s\"",
    ));
    assert_eq!(
        c.tie_breakers.disk.expect("disk").settle,
        Duration::from_secs(3)
    );
}

#[test]
fn tie_breaker_refusals() {
    let q = |body: &str| with("[quorum]", body);
    let cases = [
        (q("ping-targets = [\"gateway\"]"), "not an IP address"),
        (q("ping-targets = []"), "empty"),
        (q("ping-interval = \"1s\""), "ping-targets: missing"),
        (
            q("ping-targets = [\"10.0.0.9\"]\nping-interval = \"500ms\"\nping-deadtime = \"500ms\""),
            "longer than ping-interval",
        ),
        (
            q("ping-targets = [\"10.0.0.9\"]\nping-deadtime = \"1s\""),
            "shorter than [timers] deadtime",
        ),
        (
            q("ping-targets = [\"10.0.0.9\"]\nping-interval = \"0s\""),
            "above zero",
        ),
        (q("disk-settle = \"1s\""), "tie-breaker-disk: missing"),
        (
            q("tie-breaker-disk = \"/d\"\ndisk-settle = \"10ms\""),
            "at least 100ms",
        ),
        (q("tie-breaker-disk = \"\""), "empty path"),
        (
            q("tie-breaker-disk = \"/d\"\nauto-tie-breaker = \"lowest\""),
            "auto-tie-breaker already decides",
        ),
        (
            q("ping-targets = [\"10.0.0.9\"]\ntwo-node = true"),
            "set two-node = false",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{e:?} lacks {want:?}");
    }
}

#[test]
fn watchdog_fencing_spares_the_fence_device() {
    let no_devices = BASE.replace("fence-agent = \"fence_dummy\"\n", "");
    let e = err(&no_devices);
    assert!(e.contains("every node needs a fence device"), "{e}");
    let text = no_devices.replacen("[fencing]", "[fencing]\nwatchdog-timeout = \"10s\"", 1);
    let w = ok(&text).fencing.watchdog.expect("watchdog fencing");
    assert_eq!(w.timeout, Duration::from_secs(10));
    assert_eq!(w.sbd_watchdog_timeout, Duration::from_secs(5));
    let text = no_devices.replacen(
        "[fencing]",
        "[fencing]\nwatchdog-timeout = \"auto\"\nsbd-watchdog-timeout = \"2s\"",
        1,
    );
    assert_eq!(
        ok(&text).fencing.watchdog.expect("auto").timeout,
        Duration::from_secs(4)
    );
    // With the disk: 2 x disk-settle (default 1s here) below the sbd watchdog (5s).
    let both = no_devices
        .replacen("[fencing]", "[fencing]\nwatchdog-timeout = \"10s\"", 1)
        .replacen("[quorum]", "[quorum]\ntie-breaker-disk = \"/d\"", 1);
    assert!(ok(&both).tie_breakers.disk.is_some());
    let off = no_devices.replacen("[fencing]", "[fencing]\nwatchdog-timeout = \"0s\"", 1);
    assert!(err(&off).contains("fence device"), "0 turns it off");
}

#[test]
fn watchdog_refusals() {
    let f = |body: &str| with("[fencing]", body);
    let cases = [
        (
            f("watchdog-timeout = \"5s\""),
            "longer than sbd-watchdog-timeout",
        ),
        (
            f("watchdog-timeout = \"3s\"\nsbd-watchdog-timeout = \"3s\""),
            "longer than sbd-watchdog-timeout",
        ),
        (f("watchdog-timeout = \"soon\""), "not a time span"),
        (
            BASE.replace("sbd-health-file = \"/run/health\"\n", "")
                .replacen("[fencing]", "[fencing]\nwatchdog-timeout = \"10s\"", 1),
            "needs [cluster] sbd-health-file",
        ),
        (
            with("[quorum]", "two-node = true").replacen(
                "[fencing]",
                "[fencing]\nwatchdog-timeout = \"10s\"",
                1,
            ),
            "not with two-node",
        ),
        (
            f("watchdog-timeout = \"10s\"\nfencer-socket = \"/run/f.sock\""),
            "only with direct fencing",
        ),
        (
            with(
                "[quorum]",
                "tie-breaker-disk = \"/d\"\ndisk-settle = \"3s\"",
            )
            .replacen("[fencing]", "[fencing]\nwatchdog-timeout = \"10s\"", 1),
            "2 x disk-settle must stay below",
        ),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.contains(want), "{e:?} lacks {want:?}");
    }
}

#[test]
fn the_tie_breaker_slot_name_is_reserved() {
    let text = BASE.replace("name = \"b\"", "name = \"palisade:tiebreak\"");
    assert!(err(&text).contains("reserved"));
}
