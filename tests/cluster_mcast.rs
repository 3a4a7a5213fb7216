//! Multicast rings (heartbeat's `mcast`): the heartbeats of a ring go once per keepalive to
//! a group joined on the ring address, instead of to every peer.
//!
//! - On loopback (no root needed): three daemons on 127.0.0.x share a group with
//!   IP_MULTICAST_LOOP and TTL 0 (nothing leaves the host), form one quorate view and see
//!   a stopped node go.
//! - In network namespaces (root, `ip netns`): three nodes whose only ring is multicast,
//!   with unicast on the cluster port dropped by iptables in every node (when iptables
//!   is there), so the cluster can only form over the group; the service starts, the
//!   owner is cut off, fenced, and the service moves — never on two nodes at once.

mod common_arbitration;
#[allow(unused_imports)]
mod common_cluster;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common_arbitration::*;
use common_cluster::{
    now_ms, read_events, violations, wait_until, Ev, FencingSection, NodeToml, RingSection,
    TimersSection,
};

/// Three daemons on loopback, in this process's namespace.
struct Loopback {
    dir: PathBuf,
    daemons: Vec<Child>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            if matches!(d.try_wait(), Ok(None)) {
                // SAFETY: kill(2) on the PID of a daemon this test started.
                unsafe { libc::kill(d.id() as i32, libc::SIGTERM) };
            }
            if !wait_until(Duration::from_secs(10), || {
                matches!(d.try_wait(), Ok(Some(_)))
            }) {
                let _ = d.kill();
                let _ = d.wait();
            }
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn timeline(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("timeline")).unwrap_or_default()
}

/// Whether `node` applied a quorate view of `votes` of 3 votes.
fn quorate_with(events: &[Ev], node: usize, votes: u64) -> bool {
    events.iter().any(|e| {
        e.is(&format!("node{node}"), "quorum")
            && e.flag("quorate")
            && e.u64("votes") == Some(votes)
            && e.u64("expected") == Some(3)
    })
}

#[test]
fn loopback_multicast_ring_forms_a_cluster() {
    let pid = std::process::id();
    let port = 30000 + (pid % 10000) as u16 * 2;
    let group = format!("239.255.{}.{}", 10 + pid % 200, 1 + (pid / 200) % 250);
    let dir = std::env::temp_dir().join(format!("palisade-mcast-lo-{pid}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("authkey"), b"palisade-mcast-loopback-key-0123").expect("key");
    let mut lo = Loopback {
        dir: dir.clone(),
        daemons: Vec::new(),
    };
    for i in 1..=3 {
        let mut config = NodeToml::lab(&dir, 3, i, 3, 1);
        config.cluster.ocf_root = None;
        config.cluster.port = Some(port);
        config.cluster.control_socket = Some(dir.join(format!("control{i}.sock")));
        config.timers = TimersSection {
            keepalive: "100ms".into(),
            deadtime: "600ms".into(),
            initdead: "2s".into(),
        };
        config.fencing = FencingSection {
            enabled: Some(false),
            ..FencingSection::default()
        };
        for node in &mut config.nodes {
            node.addresses = vec![format!("127.0.0.{}", 10 + node.id)];
        }
        config.rings = vec![RingSection {
            mcast_group: group.clone(),
            mcast_port: port + 1,
            mcast_ttl: Some(0),
            mcast_loop: Some(true),
        }];
        let path = dir.join(format!("node{i}.toml"));
        config.write(&path);
        let out = std::fs::File::create(dir.join(format!("node{i}.out"))).expect("out");
        let err = out.try_clone().expect("out");
        let child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["node", "--config"])
            .arg(&path)
            .env("PALISADE_FORBID_SELF_FENCE", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start palisade node");
        lo.daemons.push(child);
    }
    let events = || read_events(&dir.join("events"));
    let formed = wait_until(Duration::from_secs(15), || {
        let e = events();
        (1..=3).all(|i| quorate_with(&e, i, 3))
    });
    if !formed {
        let outs: String = (1..=3)
            .map(|i| std::fs::read_to_string(dir.join(format!("node{i}.out"))).unwrap_or_default())
            .collect();
        panic!("no 3-node view over the group:\n{}\n{outs}", timeline(&dir));
    }
    // A member leaves: the others notice over the group and stay quorate with two.
    let mut gone = lo.daemons.remove(2);
    // SAFETY: kill(2) on the PID of a daemon this test started.
    unsafe { libc::kill(gone.id() as i32, libc::SIGTERM) };
    let _ = gone.wait();
    let noticed = wait_until(Duration::from_secs(10), || {
        let e = events();
        (1..=2).all(|i| quorate_with(&e, i, 2))
    });
    assert!(noticed, "node3's departure not seen:\n{}", timeline(&dir));
    let dropped = events()
        .iter()
        .filter(|e| e.kind == "datagram_dropped")
        .count();
    assert_eq!(
        dropped,
        0,
        "our own looped datagrams must not count as forged:\n{}",
        timeline(&dir)
    );
}

#[test]
fn netns_cluster_over_a_multicast_ring_fails_over() {
    let Some(mut c) = lab(
        "m",
        Options {
            nodes: 3,
            rings: 1,
            rings_as: vec![RingSection {
                mcast_group: "239.255.77.1".into(),
                mcast_port: 5406,
                mcast_ttl: None,
                mcast_loop: None,
            }],
            ..Options::default()
        },
    ) else {
        return;
    };
    // Unicast to the cluster port is dropped in every node: only the group carries it.
    let blocked = (1..=3).all(|i| {
        c.exec(
            i,
            &[
                "iptables", "-A", "INPUT", "-p", "udp", "--dport", "5405", "-j", "DROP",
            ],
        )
    });
    if !blocked {
        testkit::skip::required("iptables not usable: unicast cannot be blocked in this run");
    }
    let t0 = now_ms();
    c.start_all();
    let started = wait_until(Duration::from_secs(20), || c.running_on().len() == 1);
    assert!(started, "service never started:\n{}", c.timeline_text(t0));
    assert!(
        (1..=3).all(|i| c
            .last_verdict(i, t0)
            .is_some_and(|v| v.u64("votes") == Some(3) && v.u64("expected") == Some(3))),
        "not every node saw all three:\n{}",
        c.timeline_text(t0)
    );
    let owner: usize = c.running_on()[0]
        .trim_start_matches("node")
        .parse()
        .expect("node number");
    let cut = now_ms();
    c.cut(owner);
    let moved = wait_until(Duration::from_secs(15), || {
        c.log()
            .iter()
            .any(|l| l.event == "start" && l.at >= cut && l.node != format!("node{owner}"))
    });
    assert!(moved, "service did not move:\n{}", c.timeline_text(cut));
    std::thread::sleep(Duration::from_millis(300));
    let log = c.log();
    let poweroff = log
        .iter()
        .find(|l| l.event == "poweroff" && l.node == format!("node{owner}"))
        .unwrap_or_else(|| panic!("node{owner} never fenced:\n{}", c.timeline_text(cut)));
    let start = log
        .iter()
        // The owner's own start may be logged in the very millisecond taken as the cut.
        .find(|l| l.event == "start" && l.at >= cut && l.node != format!("node{owner}"))
        .expect("start after the cut");
    assert!(poweroff.at <= start.at, "started before the fence");
    let v = violations(&log);
    assert!(
        v.is_empty(),
        "two nodes ran the service: {v:?}\n{}",
        c.timeline_text(t0)
    );
    println!(
        "multicast ring: failover in {} ms\n{}",
        start.at - cut,
        c.timeline_text(cut)
    );
}
