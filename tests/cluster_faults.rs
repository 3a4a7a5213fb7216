//! More faults against real `palisade node` daemons in network namespaces (same lab as
//! `cluster_netns.rs`): a crashed daemon (kill -9), a frozen one (SIGSTOP), a node that
//! never shows up (startup fencing), and a 5-node cluster split 3|2 (the majority fences
//! the minority, which stops on its own for lack of quorum). Every fault must end with the
//! lost node fenced BEFORE the service starts elsewhere and never two nodes running it;
//! each test prints the faults injected, the violations (0) and the failover times.
//!
//! Needs root and `ip netns`; otherwise each test prints a NOTICE and passes.

mod common_cluster;

use std::time::Duration;

use common_cluster::*;

/// Inject `fault` on the owner; wait for the service to start elsewhere; check the fence
/// came first. Returns (new owner, failover ms).
fn failover(c: &mut Cluster, owner: usize, fault: impl FnOnce(&mut Cluster)) -> (usize, u64) {
    let t = now_ms();
    fault(c);
    let victim = format!("node{owner}");
    let moved = wait_until(Duration::from_secs(15), || {
        c.log()
            .iter()
            .any(|l| l.event == "start" && l.at >= t && l.node != victim)
    });
    assert!(moved, "service did not move:\n{}", c.timeline_text(t));
    let log = c.log();
    let start = log
        .iter()
        .find(|l| l.event == "start" && l.at >= t && l.node != victim)
        .expect("start")
        .clone();
    let off = log
        .iter()
        .rev()
        .find(|l| l.event == "poweroff" && l.node == victim)
        .unwrap_or_else(|| panic!("{victim} not fenced:\n{}", c.timeline_text(t)));
    assert!(
        off.at >= t && off.at <= start.at,
        "start before fence:\n{}",
        c.timeline_text(t)
    );
    assert_eq!(c.power(owner), "off");
    assert!(c.wait_exit(owner, Duration::from_secs(5)).is_some());
    println!("{}", c.timeline_text(t));
    (node_number(&start.node), start.at - t)
}

/// Power node `i` on again (links up, daemon started) and wait until all see it.
fn power_on(c: &mut Cluster, i: usize) {
    c.heal(i, None);
    std::fs::write(c.power_file(i), "on").expect("power on");
    let t = now_ms();
    c.start(i);
    let n = c.setup.nodes;
    let all: Vec<String> = (1..=n).map(|j| format!("node{j}")).collect();
    let members = format!("members: {}", all.join(" "));
    let ok = wait_until(Duration::from_secs(15), || {
        let steps = c.timeline();
        all.iter().all(|node| {
            steps.iter().any(|s| {
                s.at >= t && &s.node == node && s.kind == "quorum" && s.text.contains(&members)
            })
        })
    });
    assert!(ok, "node{i} did not rejoin:\n{}", c.timeline_text(t));
}

#[test]
fn crashed_and_frozen_daemons_are_fenced_before_failover() {
    let Some(mut c) = lab("f", Setup::default()) else {
        return;
    };
    c.start_all();
    let mut owner = wait_for_owner(&c, Duration::from_secs(15));
    let mut times = Vec::new();
    let faults: [(&str, i32); 2] = [("kill -9", libc::SIGKILL), ("SIGSTOP", libc::SIGSTOP)];
    for (name, signal) in faults {
        std::thread::sleep(Duration::from_millis(500));
        let victim = owner;
        let (next, ms) = failover(&mut c, victim, |c| c.signal(victim, signal));
        println!("fault {name} on node{victim}: service on node{next} after {ms} ms");
        assert!(ms <= 3000, "{name}: failover took {ms} ms");
        times.push(ms);
        power_on(&mut c, victim);
        owner = next;
    }
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(c.running_on(), vec![format!("node{owner}")]);
    let violations = violations(&c.log());
    println!(
        "faults injected: {}, violations: {}, failover times (ms): {times:?}",
        faults.len(),
        violations.len()
    );
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn a_node_never_seen_is_fenced_before_anything_starts() {
    let Some(mut c) = lab("g", Setup::default()) else {
        return;
    };
    let t = now_ms();
    c.start(1);
    c.start(2);
    // node3 never comes: after initdead it is dead, unclean, and fenced first.
    let started = wait_until(Duration::from_secs(15), || !c.running_on().is_empty());
    assert!(started, "service never started:\n{}", c.timeline_text(t));
    let log = c.log();
    let off = log
        .iter()
        .find(|l| l.event == "poweroff" && l.node == "node3")
        .unwrap_or_else(|| panic!("node3 not fenced:\n{}", c.timeline_text(t)));
    let start = log.iter().find(|l| l.event == "start").expect("start");
    assert!(off.at <= start.at, "started before the startup fence");
    assert_eq!(c.power(3), "off");
    let steps = c.timeline();
    assert!(
        steps
            .iter()
            .any(|s| s.text.starts_with("node3 dead") && s.text.contains("initdead")),
        "{}",
        c.timeline_text(t)
    );
    println!(
        "startup fencing:\n{}\nservice started {} ms after the daemons",
        c.timeline_text(t),
        start.at - t
    );
}

#[test]
fn five_nodes_majority_fences_the_minority_partition() {
    let setup = Setup {
        nodes: 5,
        rings: 1,
        allowed: vec![4, 5, 1, 2, 3],
        ..Setup::default()
    };
    let Some(mut c) = lab("h", setup) else {
        return;
    };
    c.start_all();
    assert_eq!(wait_for_owner(&c, Duration::from_secs(15)), 4);
    std::thread::sleep(Duration::from_millis(500));
    let t = now_ms();
    c.split(&[4, 5]);
    let moved = wait_until(Duration::from_secs(15), || {
        c.log()
            .iter()
            .any(|l| l.event == "start" && l.at >= t && l.node == "node1")
    });
    assert!(
        moved,
        "service did not move to node1:\n{}",
        c.timeline_text(t)
    );
    let log = c.log();
    let start = log
        .iter()
        .find(|l| l.event == "start" && l.at >= t)
        .expect("start")
        .clone();
    for n in ["node4", "node5"] {
        let off = log
            .iter()
            .find(|l| l.event == "poweroff" && l.node == n)
            .unwrap_or_else(|| panic!("{n} not fenced:\n{}", c.timeline_text(t)));
        assert!(off.at <= start.at, "service started before {n} was fenced");
    }
    assert_eq!(
        (c.power(4), c.power(5)),
        ("off".to_string(), "off".to_string())
    );
    for n in 1..=3 {
        assert_eq!(c.power(n), "on");
    }
    let steps = c.timeline();
    let minority_lost_quorum = ["node4", "node5"].iter().all(|n| {
        steps
            .iter()
            .any(|s| s.at >= t && &s.node == n && s.text.starts_with("NOT quorate"))
    });
    let fenced_first = steps
        .iter()
        .any(|s| s.at >= t && s.node == "node4" && s.text.contains("stop service (no quorum)"));
    println!(
        "3|2 split:\n{}\nfailover {} ms; minority saw it lost quorum before being fenced: {}",
        c.timeline_text(t),
        start.at - t,
        minority_lost_quorum || fenced_first
    );
    c.join();
    let violations = violations(&c.log());
    println!("faults injected: 1, violations: {}", violations.len());
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn a_node_that_survived_its_fence_stops_when_it_learns_of_it() {
    // The power switch only records "off" (fence_dummy): the cut node keeps running.
    let setup = Setup {
        rings: 1,
        power_kills: false,
        ..Setup::default()
    };
    let Some(mut c) = lab("i", setup) else {
        return;
    };
    c.start_all();
    assert_eq!(wait_for_owner(&c, Duration::from_secs(15)), 1);
    std::thread::sleep(Duration::from_millis(500));
    let t = now_ms();
    c.cut(1, None);
    let moved = wait_until(Duration::from_secs(15), || {
        c.log()
            .iter()
            .any(|l| l.event == "start" && l.at >= t && l.node != "node1")
    });
    assert!(moved, "service did not move:\n{}", c.timeline_text(t));
    assert_eq!(c.power(1), "off");
    // node1 loses quorum and stops the service on its own (policy stop; it may notice a
    // little after the survivors: with a switch that does not really cut the power, the
    // two can overlap briefly, which is why real fencing powers the node off) ...
    let stopped = wait_until(Duration::from_secs(5), || {
        c.log()
            .iter()
            .any(|l| l.event == "stop" && l.node == "node1" && l.at >= t)
    });
    assert!(stopped, "{}", c.timeline_text(t));
    // ... and once the link is back it reads that it was fenced, and leaves.
    c.heal(1, None);
    let status = c.wait_exit(1, Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(20),
        "{}",
        c.timeline_text(t)
    );
    let steps = c.timeline();
    assert!(
        steps
            .iter()
            .any(|s| s.node == "node1" && s.text.contains("reports it fenced this node")),
        "{}",
        c.timeline_text(t)
    );
    // Its heartbeats were refused meanwhile: the survivors never took it back.
    assert!(
        !steps
            .iter()
            .any(|s| s.at >= t && s.node != "node1" && s.text.starts_with("node1 up")),
        "{}",
        c.timeline_text(t)
    );
    println!("fenced node learns of it:\n{}", c.timeline_text(t));
}

#[test]
fn a_failed_fence_keeps_the_service_where_it_was() {
    let setup = Setup {
        rings: 1,
        broken_fence: Some(1),
        ..Setup::default()
    };
    let Some(mut c) = lab("j", setup) else {
        return;
    };
    c.start_all();
    assert_eq!(wait_for_owner(&c, Duration::from_secs(15)), 1);
    std::thread::sleep(Duration::from_millis(500));
    let t = now_ms();
    c.cut(1, None);
    // Deadtime 1 s, retries every 2 s: by 6 s the fence has failed more than once.
    std::thread::sleep(Duration::from_secs(6));
    let steps = c.timeline();
    let failures = steps
        .iter()
        .filter(|s| s.at >= t && s.kind == "fence" && s.text.starts_with("fencing node1 FAILED"))
        .count();
    assert!(
        failures >= 2,
        "the fence should fail and be retried:\n{}",
        c.timeline_text(t)
    );
    assert!(
        !c.log().iter().any(|l| l.at >= t && l.event == "start"),
        "nothing may start elsewhere while node1 is not confirmed fenced:\n{}",
        c.timeline_text(t)
    );
    assert!(
        steps
            .iter()
            .any(|s| s.node == "node1" && s.text.contains("stop service (no quorum)")),
        "the cut node stops the service itself:\n{}",
        c.timeline_text(t)
    );
    println!(
        "failed fence: {failures} attempts, service kept blocked:\n{}",
        c.timeline_text(t)
    );
    assert_no_violations(&c);
}
