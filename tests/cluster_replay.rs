//! Replayed heartbeats after a restart (issue #11 item 4): real `palisade node` daemons
//! in the cluster lab (`common_cluster`: one network namespace per node, two rings). Node3
//! runs no daemon: its namespace holds this test's recorder, a UDP socket per ring on
//! node3's addresses, so node2 sends it its heartbeats and reports as to any peer. Once
//! node1 and node2 form a view, node2's datagrams are recorded; node2 is killed (SIGKILL,
//! by PID) and node1 restarted; the recording is played back to node1 from node2's own
//! addresses (inside node2's namespace, at the recorded pace). The restarted node1 must
//! not count node2: `palisade status --json` shows node2 not online, the applied view
//! (`members`, the votes quorum counted) is node1 alone and not quorate, and the played
//! back heartbeats did reach node1 (counted as `unproven`). Then node2 really restarts
//! and rejoins.
//!
//! Traffic stays inside the namespaces this test created; the only processes ended are
//! the daemons it started, by PID; no self-fence can fire (`no-quorum-policy = stop`,
//! `setpriv --bounding-set -sys_boot`, `PALISADE_FORBID_SELF_FENCE`).
//!
//! Needs root and `ip netns`; otherwise a counted skip (`SKIPPED:` line), a failure under CI=true or as root.

mod common_cluster;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common_cluster::*;

/// The heartbeat port (the lab's configurations leave the default).
const PORT: u16 = 5405;
const RINGS: usize = 2;

fn ring_addr(ring: usize, node: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 77, ring as u8, node)), PORT)
}

/// A UDP socket bound to `addr` inside network namespace `netns` (made on a thread of
/// its own that enters the namespace; the socket stays in it).
fn socket_in(netns: &str, addr: SocketAddr) -> UdpSocket {
    let path = format!("/run/netns/{netns}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let ns = std::fs::File::open(&path).expect("open the namespace");
            // SAFETY: setns(2) on a valid namespace fd; CLONE_NEWNET moves this thread only.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {netns}: {}", std::io::Error::last_os_error());
            UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind {addr} in {netns}: {e}"))
        })
        .join()
        .expect("namespace thread")
    })
}

/// Node `i`'s status as JSON (None while it does not answer).
fn status(c: &Cluster, i: usize) -> Option<serde_json::Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["status", "--json", "--socket"])
        .arg(c.dir.join(format!("node{i}.sock")))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// The applied view of `s` (the members quorum counted).
fn members(s: &serde_json::Value) -> Vec<String> {
    s["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The line of node `name` in `s`.
fn node<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == name))
        .unwrap_or(&serde_json::Value::Null)
}

/// A datagram recorded: when, on which ring, the bytes.
type Recorded = (Instant, usize, Vec<u8>);

/// Record, on every ring's socket, the datagrams coming from node `from`'s address
/// from now on (what was queued before is dropped, its pace unknown) until `count` are
/// held (or `limit` passes).
fn record(sockets: &[UdpSocket], from: u8, count: usize, limit: Duration) -> Vec<Recorded> {
    let mut buf = vec![0u8; 65536];
    for socket in sockets {
        socket.set_nonblocking(true).expect("nonblocking");
        while socket.recv_from(&mut buf).is_ok() {}
        socket.set_nonblocking(false).expect("blocking");
    }
    let held: Arc<Mutex<Vec<Recorded>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = sockets
        .iter()
        .enumerate()
        .map(|(ring, socket)| {
            let socket = socket.try_clone().expect("clone socket");
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            let (held, stop) = (Arc::clone(&held), Arc::clone(&stop));
            let source = ring_addr(ring, from).ip();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((len, src)) = socket.recv_from(&mut buf) {
                        if src.ip() == source {
                            let mut h = held.lock().expect("lock");
                            h.push((Instant::now(), ring, buf[..len].to_vec()));
                        }
                    }
                }
            })
        })
        .collect();
    let full = wait_until(limit, || held.lock().expect("lock").len() >= count);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("recorder");
    }
    assert!(full, "recorded too few datagrams of node{from}");
    let mut out = std::mem::take(&mut *held.lock().expect("lock"));
    out.sort_by_key(|r| r.0);
    out
}

/// Play `recording` back at its pace through `sockets` (one per ring) to node `to`; stop
/// early when `stop` is set; `done` is set at the end.
fn play_back(
    recording: Vec<Recorded>,
    sockets: Vec<UdpSocket>,
    to: u8,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let (first, start) = (recording.first().map(|r| r.0), Instant::now());
        let mut sent = 0;
        for (at, ring, bytes) in &recording {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let due = start + first.map_or(Duration::ZERO, |f| at.duration_since(f));
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            if sockets[*ring].send_to(bytes, ring_addr(*ring, to)).is_ok() {
                sent += 1;
            }
        }
        done.store(true, Ordering::Relaxed);
        sent
    })
}

#[test]
fn recorded_heartbeats_do_not_bring_a_dead_node_back_after_a_restart() {
    let Some(mut c) = lab(
        "rp",
        Setup {
            nodes: 3,
            rings: RINGS,
            power_kills: false,
            // node2 never runs the service: killing it leaves no service behind
            allowed: vec![1],
            ..Setup::default()
        },
    ) else {
        return;
    };
    let mut report = Scenario::new("replayed heartbeats after a restart");
    // The recorder takes node3's place on every ring (node3 runs no daemon).
    let recorder: Vec<UdpSocket> = (0..RINGS)
        .map(|r| socket_in(&c.netns(3), ring_addr(r, 3)))
        .collect();
    c.start(1);
    c.start(2);
    let pair = vec!["node1".to_string(), "node2".to_string()];
    let formed = wait_until(Duration::from_secs(30), || {
        [1, 2]
            .iter()
            .all(|i| status(&c, *i).is_some_and(|s| members(&s) == pair))
    });
    assert!(
        formed,
        "node1 and node2 formed no view:\n{}",
        c.timeline_text(0)
    );

    // About 12 s of node2's datagrams (heartbeat and report, two rings, every 200 ms):
    // longer than the restarted node1 needs to apply its first view (initdead 4 s).
    let recording = record(&recorder, 2, 240, Duration::from_secs(40));
    drop(recorder);

    // node2 dies; node1 restarts without any state for it.
    c.signal(2, libc::SIGKILL);
    assert!(
        c.wait_exit(2, Duration::from_secs(10)).is_some(),
        "node2 did not die"
    );
    report.fault("node2 killed");
    c.stop(1);
    let t_restart = now_ms();
    c.start(1);
    report.fault("node1 restarted");

    // The recording, from node2's own addresses, to the new node1.
    let replayers: Vec<UdpSocket> = (0..RINGS)
        .map(|r| socket_in(&c.netns(2), ring_addr(r, 2)))
        .collect();
    let (stop, done) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let player = play_back(
        recording,
        replayers,
        1,
        Arc::clone(&stop),
        Arc::clone(&done),
    );
    report.fault("node2's recorded datagrams played back to node1");

    // node1 applies its first view while the playback goes on, and has taken the played
    // back heartbeats in (held as unproven, or — the defect — counted).
    let mut seen = None;
    let decided = wait_until(Duration::from_secs(30), || {
        seen = status(&c, 1).filter(|s| {
            let heard = node(s, "node2")["unproven"].as_u64() >= Some(5)
                || members(s).contains(&"node2".to_string());
            s["view"].as_u64().unwrap_or(0) > 0 && heard
        });
        seen.is_some()
    });
    let still_playing = !done.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    let sent = player.join().expect("player");
    let timeline = c.timeline_text(t_restart);
    assert!(decided, "node1 applied no view:\n{timeline}");
    assert!(
        still_playing,
        "the playback ended before node1 decided: the test proves nothing\n{timeline}"
    );
    let s = seen.expect("status");
    println!(
        "node1 after the restart, {sent} datagrams played back: {}",
        serde_json::to_string(&s).unwrap_or_default()
    );
    assert_eq!(
        members(&s),
        vec!["node1".to_string()],
        "a played-back node counted for quorum:\n{timeline}"
    );
    assert_eq!(s["quorate"], false, "{timeline}");
    assert_ne!(node(&s, "node2")["state"], "online", "{timeline}");

    // A real restart of node2 still joins at once.
    let t_rejoin = now_ms();
    c.start(2);
    let rejoined = wait_until(Duration::from_secs(20), || {
        [1, 2]
            .iter()
            .all(|i| status(&c, *i).is_some_and(|s| members(&s) == pair && s["quorate"] == true))
    });
    assert!(
        rejoined,
        "node2 did not rejoin after a real restart:\n{}",
        c.timeline_text(t_rejoin)
    );
    report.finish(&c);
}
