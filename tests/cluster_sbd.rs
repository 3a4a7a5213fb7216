//! Poison-pill fencing end to end with real `palisade node` daemons in network namespaces
//! (harness `tests/common_arbitration/`, `poison_pill.rs`): three nodes, one shared sbd
//! disk on a loop device made by the test (watchdog 3 s, msgwait 6 s in its header), every
//! node fenced with our `fence_sbd` on it (`fence-agent = "fence_sbd"`), each node
//! watching its own slot. The node running the service is cut off; the survivors fence
//! it through the disk; the lost node's watcher reads the pill and self-fences (recorded,
//! never a real reset), after which the test kills every process of that node, as the
//! reset would have. The checks: the pill is read after the fence request and before the
//! service starts elsewhere; the survivors count the node fenced, and start the service,
//! no earlier than msgwait (read back from the disk header) after the request; the lost
//! node's slot holds `off` from a survivor; nobody else is fenced; no two nodes ever run
//! the service (shared resource log). Each scenario prints a SUMMARY line.
//!
//! Two watchers on the lost node: our `palisade-sbd watch` (pet-file watchdog,
//! `--self-fence=record:`), and ClusterLabs sbd (Debian), guarded by
//! `tests/fixtures/cluster_sbd/their_sbd.sh` (debug mode 2: a pill only logs and ends sbd;
//! no watchdog; no CAP_SYS_BOOT; sysrq covered in its own mount namespace).
//!
//! Every node runs under `setpriv --bounding-set -sys_boot` with
//! PALISADE_FORBID_SELF_FENCE=1. Needs root, `ip netns` and loop devices (and
//! /usr/sbin/sbd for the second test); otherwise a counted skip (`SKIPPED:` line), a failure under CI=true or as root.

mod common_arbitration;
#[allow(unused_imports)]
mod common_cluster;

use std::time::Duration;

use common_arbitration::*;
use common_cluster::{lab_unavailable, now_ms, table, wait_until, Ev, Scenario};

/// The node running the service at the cut (first in the default preference order).
const LOST: usize = 1;

/// A lab of three nodes and the shared disk, or None (a counted skip; a failure under
/// CI=true or as root) where either cannot be made. The disk is made first and so outlives the lab's processes.
fn pill_lab(tag: &str) -> Option<(LoopSbdDisk, Lab)> {
    if let Some(why) = lab_unavailable().or_else(loop_disk_unavailable) {
        testkit::skip::required(format!("poison-pill lab: {why}"));
        return None;
    }
    let disk = LoopSbdDisk::new(&format!("{}{tag}", std::process::id()), 3);
    let lab = lab(
        tag,
        Options {
            nodes: 3,
            fence_devices: false,
            health_file: true,
            ..Options::default()
        },
    )?;
    Some((disk, lab))
}

/// Start the three daemons, each node fenced by `fence_sbd` on the shared disk.
fn start_daemons(c: &mut Lab, disk: &LoopSbdDisk) {
    let device = disk.device.clone();
    let fence = move |node: &mut common_cluster::NodeSection| {
        node.fence_agent = Some("fence_sbd".into());
        node.fence_params = table(&[("devices", device.clone())]);
    };
    for i in 1..=3 {
        let config = c.config_fenced_by(i, &fence);
        c.start_configured(i, &config);
    }
}

/// The first event since `since` that `f` accepts (panics naming `what` if none).
fn event<'a>(events: &'a [Ev], since: u64, what: &str, f: impl Fn(&Ev) -> bool) -> &'a Ev {
    events
        .iter()
        .find(|e| e.at >= since && f(e))
        .unwrap_or_else(|| panic!("no {what} in the events"))
}

/// Cut the lost node, wait for its watcher's self-fence (`fired`: when it happened, Unix
/// ms), reset it, wait for the service on a survivor and check the poison-pill rules.
fn cut_and_fence(
    c: &mut Lab,
    disk: &LoopSbdDisk,
    report: &mut Scenario,
    fired: &dyn Fn(&Lab) -> Option<u64>,
) {
    let msgwait = disk.msgwait_ms();
    assert_eq!(msgwait, u64::from(PILL_MSGWAIT_S) * 1000);
    std::thread::sleep(Duration::from_millis(500));
    let cut = now_ms();
    c.cut(LOST);
    let mut pill_read = None;
    let read = wait_until(Duration::from_secs(15), || {
        pill_read = fired(c);
        pill_read.is_some()
    });
    assert!(
        read,
        "node{LOST}'s watcher never self-fenced:\n{}",
        c.timeline_text(cut)
    );
    // What the reset would do: the node and everything on it are gone.
    c.reset(LOST);
    let pill_read = pill_read.unwrap_or_default();
    let lost = format!("node{LOST}");
    let started = |c: &Lab| {
        c.log()
            .into_iter()
            .find(|l| l.event == "start" && l.at >= cut && l.node != lost)
    };
    let moved = wait_until(Duration::from_secs(15), || started(c).is_some());
    assert!(moved, "service did not move:\n{}", c.timeline_text(cut));
    let start = started(c).expect("start on a survivor");
    let events = c.events();
    let request = event(&events, cut, "fence request", |e| {
        e.kind == "fence_request"
            && e.str("action") == "off"
            && e.str("target") == lost
            && e.str("via") == "agent"
            && e.str("agent") == "fence_sbd"
    });
    let asked = request.at + request.u64("delay_ms").expect("delay_ms");
    let fenced = event(&events, cut, "fence confirmation", |e| {
        e.kind == "fenced" && e.str("target") == lost
    });
    let timeline = c.timeline_text(cut);
    // fence_sbd wrote the pill; the fence counts once msgwait passed (checked below).
    assert_eq!(fenced.str("how"), "poison_pill", "{timeline}");
    assert!(
        fenced.at >= asked + msgwait,
        "{lost} counted fenced {} ms after the request, before msgwait {msgwait} ms:\n{timeline}",
        fenced.at - asked
    );
    assert!(
        start.at >= asked + msgwait && start.at >= fenced.at,
        "service started on {} {} ms after the fence request, before msgwait {msgwait} ms:\n{timeline}",
        start.node,
        start.at - asked
    );
    assert!(
        pill_read >= request.at && pill_read <= start.at,
        "{lost} read the pill at {pill_read}: not between the request {} and the start {}:\n{timeline}",
        request.at,
        start.at
    );
    // The lost node had stopped (no quorum) or was reset before the survivor started.
    assert!(
        c.log().iter().any(|l| l.node == lost
            && (l.event == "stop" || l.event == "poweroff")
            && l.at >= cut
            && l.at <= start.at),
        "{lost} still ran the service when {} started it:\n{timeline}",
        start.node
    );
    // The sender is the survivor host's uname -n, as with ClusterLabs' fence_sbd (the
    // lab's nodes share the host's).
    let slot = disk.slot(&lost);
    assert!(slot.contains("\toff\t"), "{lost}'s slot: {slot:?}");
    assert!(
        !events.iter().any(|e| e.at >= cut
            && e.kind == "fence_request"
            && (e.str("target") != lost || e.str("action") != "off")),
        "a survivor was fenced:\n{timeline}"
    );
    for i in (1..=3).filter(|i| *i != LOST) {
        assert!(
            !c.sbd_record(i).exists() && !c.ended(i, "sbd"),
            "node{i}'s watcher self-fenced or ended:\n{}",
            std::fs::read_to_string(c.dir.join(format!("sbd{i}.out"))).unwrap_or_default()
        );
    }
    println!(
        "{timeline}\nmsgwait {msgwait} ms; after the cut: fence request +{} ms (delay {} ms), \
         pill read +{} ms, fence confirmed +{} ms ({} ms after the request), service on {} +{} ms",
        request.at - cut,
        asked - request.at,
        pill_read - cut,
        fenced.at - cut,
        fenced.at - asked,
        start.node,
        start.at - cut
    );
    report.failover("link cut, poison pill", start.at - cut);
}

/// Every node watches its slot with our `palisade-sbd watch`.
#[test]
fn a_poison_pill_fences_the_lost_node_before_its_service_moves() {
    let Some((disk, mut c)) = pill_lab("s") else {
        return;
    };
    let mut report = Scenario::new("3 nodes + sbd disk: poison pill, our watcher");
    for i in 1..=3 {
        c.start_disk_watcher(i, &disk.device);
    }
    let t0 = now_ms();
    start_daemons(&mut c, &disk);
    let up = wait_until(Duration::from_secs(20), || {
        c.running_on() == vec![format!("node{LOST}")] && (1..=3).all(|i| c.pet_file(i).exists())
    });
    assert!(
        up,
        "service not on node{LOST} or watchers not armed:\n{}",
        c.timeline_text(t0)
    );
    let record = c.sbd_record(LOST);
    cut_and_fence(&mut c, &disk, &mut report, &|_| {
        let modified = std::fs::metadata(&record).and_then(|m| m.modified()).ok()?;
        let at = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(at.as_millis() as u64)
    });
    let recorded = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(recorded.starts_with("off "), "recorded: {recorded:?}");
    let out = std::fs::read_to_string(c.dir.join(format!("sbd{LOST}.out"))).unwrap_or_default();
    println!("node{LOST}'s watcher:\n{out}");
    report.finish_log(&c.log(), &c.timeline_text(t0));
}

/// The lost node's slot is watched by ClusterLabs sbd, the survivors' by ours.
#[test]
fn clusterlabs_sbd_reads_our_poison_pill_on_the_lost_node() {
    if let Some(why) = their_sbd_unavailable() {
        testkit::skip::required(format!("ClusterLabs sbd watcher: {why}"));
        return;
    }
    let Some((disk, mut c)) = pill_lab("t") else {
        return;
    };
    let mut report =
        Scenario::new("3 nodes + sbd disk: poison pill, ClusterLabs sbd on the lost node");
    let sink = SyslogSink::bind(c.dir.join(format!("their-log{LOST}.sock")));
    let their = TheirSbd::start(&c, LOST, &disk.device, &sink);
    for i in (1..=3).filter(|i| *i != LOST) {
        c.start_disk_watcher(i, &disk.device);
    }
    let t0 = now_ms();
    start_daemons(&mut c, &disk);
    let up = wait_until(Duration::from_secs(20), || {
        c.running_on() == vec![format!("node{LOST}")]
            && (1..=3)
                .filter(|i| *i != LOST)
                .all(|i| c.pet_file(i).exists())
            && sink.seen("Monitoring slot").is_some()
    });
    assert!(
        up,
        "service not on node{LOST} or watchers not up:\n{}\ntheir log:\n{}",
        c.timeline_text(t0),
        sink.text()
    );
    cut_and_fence(&mut c, &disk, &mut report, &|_| {
        sink.seen("requested a shutoff")
    });
    let log = sink.text();
    println!("ClusterLabs sbd on node{LOST}:\n{log}");
    assert!(log.contains("Received command off from"), "{log}");
    assert!(
        log.contains("Shutting down SBD instead of panicking the node"),
        "{log}"
    );
    assert!(
        their.wait_gone(Duration::from_secs(5)),
        "their sbd still runs"
    );
    report.finish_log(&c.log(), &c.timeline_text(t0));
}
