//! Cluster partition tests: real `palisade node` daemons, each in its own network
//! namespace (veth pairs to a bridge namespace, one bridge per ring), fencing through each
//! node's "power switch" (fence_dummy status file; power off kills every process in that
//! node's namespace), and a resource (the `palisade:Logger` OCF test agent) that logs
//! (node, epoch, time) on start, on every monitor and on stop. The checks: a lost node is
//! fenced BEFORE its resource starts elsewhere, no two nodes ever run the resource at once,
//! a node that lost one of two rings is not lost, a fenced node rejoins after power-on,
//! the two-node fence race is won by the node running the service, and an isolated node
//! with no-quorum-policy=fence self-fences (recording executor; no CAP_SYS_BOOT).
//!
//! Needs root and `ip netns`; otherwise each test prints a NOTICE and passes.

mod common_cluster;

use std::time::Duration;

use common_cluster::*;

#[test]
fn three_nodes_fence_before_failover_then_rejoin() {
    let dummy = std::path::Path::new("/usr/lib/ocf/resource.d/heartbeat/Dummy").is_file();
    if !dummy {
        eprintln!("NOTICE: resource-agents not installed: ocf:heartbeat:Dummy left out");
    }
    let Some(mut c) = lab(
        "a",
        Setup {
            with_dummy: dummy,
            ..Setup::default()
        },
    ) else {
        return;
    };
    let t0 = now_ms();
    c.start_all();
    let owner = wait_for_owner(&c, Duration::from_secs(15));
    println!("service started on node{owner} after {} ms", now_ms() - t0);
    if dummy {
        let state = c.dir.join(format!("run{owner}/dummy.state"));
        assert!(
            wait_until(Duration::from_secs(10), || state.exists()),
            "Dummy did not start with the service"
        );
    }

    // One ring lost: the node is still heard on the other; nothing is fenced or moved.
    let t_ring = now_ms();
    c.cut(owner, Some(0));
    std::thread::sleep(Duration::from_millis(2500));
    let steps = c.timeline();
    let after = |s: &&Step| s.at >= t_ring;
    assert!(
        steps
            .iter()
            .filter(after)
            .any(|s| s.text.contains(&format!("ring 0 to node{owner} silent"))),
        "the lost ring was not noticed:\n{}",
        c.timeline_text(t_ring)
    );
    assert!(
        !steps
            .iter()
            .filter(after)
            .any(|s| s.kind == "fence" || s.text.contains("dead")),
        "a redundant ring loss must not fence anyone:\n{}",
        c.timeline_text(t_ring)
    );
    assert_eq!(c.running_on(), vec![format!("node{owner}")]);
    c.heal(owner, Some(0));
    assert!(wait_until(Duration::from_secs(5), || c
        .timeline()
        .iter()
        .any(|s| s.at >= t_ring
            && s.text.contains(&format!(
                "ring 0 to node{owner} works again"
            )))));

    // Every link of the owner cut: the survivors fence it, then start the service.
    let cut = now_ms();
    c.cut(owner, None);
    let moved = wait_until(Duration::from_secs(15), || {
        c.log()
            .iter()
            .any(|l| l.event == "start" && l.at >= cut && l.node != format!("node{owner}"))
    });
    assert!(moved, "service did not move:\n{}", c.timeline_text(cut));
    std::thread::sleep(Duration::from_millis(300));
    let log = c.log();
    let start = log
        .iter()
        .find(|l| l.event == "start" && l.at >= cut)
        .expect("start after the cut")
        .clone();
    let poweroff = log
        .iter()
        .find(|l| l.event == "poweroff" && l.node == format!("node{owner}"))
        .unwrap_or_else(|| {
            panic!(
                "node{owner} was never powered off:\n{}",
                c.timeline_text(cut)
            )
        });
    assert!(
        poweroff.at <= start.at,
        "service started on {} at {} before node{owner} was fenced at {}",
        start.node,
        start.at,
        poweroff.at
    );
    assert_eq!(c.power(owner), "off");
    let steps = c.timeline();
    let fenced = steps
        .iter()
        .find(|s| {
            s.at >= cut && s.kind == "fence" && s.text.starts_with(&format!("node{owner} fenced"))
        })
        .unwrap_or_else(|| panic!("no fence confirmation:\n{}", c.timeline_text(cut)));
    let detected = steps
        .iter()
        .find(|s| s.at >= cut && s.text.starts_with(&format!("node{owner} dead")))
        .expect("detection line");
    let quorum = steps
        .iter()
        .find(|s| s.at >= detected.at && s.kind == "quorum" && s.node == fenced.node)
        .expect("quorum decision line");
    assert!(quorum.text.starts_with("quorate"), "{}", quorum.text);
    assert!(detected.at <= fenced.at && fenced.at <= start.at);
    // The cut node may notice its peers' loss one by one; a view it alone holds (not
    // agreed by the peer it still hears) must never make it fence a healthy node.
    assert!(
        !steps.iter().any(|s| s.at >= cut
            && s.node == format!("node{owner}")
            && s.text.starts_with("request")),
        "the cut node asked for a fence:\n{}",
        c.timeline_text(cut)
    );
    let failover = start.at - cut;
    println!(
        "timeline after the cut:\n{}\nfailover (cut -> started on {}): {failover} ms (detection {} ms, fence {} ms)",
        c.timeline_text(cut),
        start.node,
        detected.at - cut,
        fenced.at - detected.at
    );
    assert!(
        failover <= 3000,
        "failover took {failover} ms (deadtime 1 s)"
    );
    assert!(
        c.wait_exit(owner, Duration::from_secs(5)).is_some(),
        "the fenced daemon still runs"
    );
    let survivor = node_number(&start.node);

    // Heal and power on: the node rejoins; the service stays where it is.
    c.heal(owner, None);
    std::fs::write(c.power_file(owner), "on").expect("power on");
    let heal = now_ms();
    c.start(owner);
    let all = "members: node1 node2 node3";
    let rejoined = wait_until(Duration::from_secs(15), || {
        let steps = c.timeline();
        (1..=3).all(|n| {
            steps.iter().any(|s| {
                s.at >= heal
                    && s.node == format!("node{n}")
                    && s.kind == "quorum"
                    && s.text.contains(all)
            })
        })
    });
    assert!(
        rejoined,
        "node{owner} did not rejoin:\n{}",
        c.timeline_text(heal)
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        c.running_on(),
        vec![format!("node{survivor}")],
        "{}",
        c.timeline_text(heal)
    );
    if dummy {
        let running: Vec<usize> = (1..=3)
            .filter(|n| c.dir.join(format!("run{n}/dummy.state")).exists())
            .collect();
        assert_eq!(
            running,
            vec![survivor],
            "Dummy must run on the survivor only"
        );
    }
    assert_no_violations(&c);
    println!("after the heal:\n{}", c.timeline_text(heal));
    for n in 1..=3 {
        let status = c.stop(n).expect("daemon status");
        assert_eq!(status.code(), Some(0), "node{n} did not stop cleanly");
    }
    assert!(
        c.running_on().is_empty(),
        "resources are stopped with the daemons"
    );
}

#[test]
fn two_node_race_is_won_by_the_node_running_the_service() {
    let setup = Setup {
        nodes: 2,
        rings: 1,
        two_node: true,
        race_delay: "3s",
        allowed: vec![1, 2],
        // a BMC that takes 0.5 s: both nodes see the other dead and decide
        fence_slowness: "0.5",
        ..Setup::default()
    };
    let Some(mut c) = lab("b", setup) else {
        return;
    };
    c.start_all();
    assert_eq!(wait_for_owner(&c, Duration::from_secs(15)), 1);
    std::thread::sleep(Duration::from_millis(500));
    let cut = now_ms();
    c.cut(1, None);
    let shot = wait_until(Duration::from_secs(10), || c.power(2) == "off");
    assert!(shot, "node1 did not fence node2:\n{}", c.timeline_text(cut));
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(
        c.power(1),
        "on",
        "node2 must lose the race:\n{}",
        c.timeline_text(cut)
    );
    assert_eq!(c.running_on(), vec!["node1".to_string()]);
    assert!(!c
        .log()
        .iter()
        .any(|l| l.node == "node2" && l.event == "start"));
    let steps = c.timeline();
    assert!(
        steps
            .iter()
            .any(|s| s.node == "node2" && s.kind == "fence" && s.text.contains("(delay 3000ms)")),
        "node2 should have delayed its fence:\n{}",
        c.timeline_text(cut)
    );
    assert!(steps
        .iter()
        .any(|s| s.node == "node1" && s.text.contains("fence at once")));
    println!("two-node race:\n{}", c.timeline_text(cut));
    assert_no_violations(&c);
}

#[test]
fn isolated_node_with_policy_fence_self_fences() {
    let setup = Setup {
        rings: 1,
        no_quorum_policy: "fence",
        power_kills: false,
        ..Setup::default()
    };
    let Some(mut c) = lab("c", setup) else {
        return;
    };
    c.start_all();
    assert_eq!(wait_for_owner(&c, Duration::from_secs(15)), 1);
    let cut = now_ms();
    c.cut(3, None);
    let status = c.wait_exit(3, Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(21),
        "node3 should record a self-fence and exit 21:\n{}",
        c.timeline_text(cut)
    );
    let record = std::fs::read_to_string(c.self_fence_record(3)).expect("self-fence record");
    assert!(record.starts_with("reboot flush "), "{record}");
    assert!(record.contains("lost quorum"), "{record}");
    assert!(
        wait_until(Duration::from_secs(5), || c.power(3) == "off"),
        "survivors fence node3 too"
    );
    for n in [1, 2] {
        assert!(!c.self_fence_record(n).exists(), "node{n} kept quorum");
    }
    assert_eq!(c.running_on(), vec!["node1".to_string()]);
    println!("policy fence:\n{}", c.timeline_text(cut));
}

#[test]
fn three_nodes_fencing_through_the_fencer_api() {
    let setup = Setup {
        rings: 1,
        via_fencer: true,
        ..Setup::default()
    };
    let Some(mut c) = lab("d", setup) else {
        return;
    };
    c.start_all();
    let owner = wait_for_owner(&c, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(500));
    let cut = now_ms();
    c.cut(owner, None);
    let moved = wait_until(Duration::from_secs(15), || {
        c.log()
            .iter()
            .any(|l| l.event == "start" && l.at >= cut && l.node != format!("node{owner}"))
    });
    assert!(moved, "service did not move:\n{}", c.timeline_text(cut));
    assert_eq!(c.power(owner), "off");
    let steps = c.timeline();
    let request = steps
        .iter()
        .find(|s| s.at >= cut && s.kind == "fence" && s.text.starts_with("request"))
        .expect("fence request");
    assert!(request.text.contains("via fencer API"), "{}", request.text);
    let coordinator = node_number(&request.node);
    let history = std::fs::read_to_string(c.fencer_history(coordinator)).unwrap_or_default();
    assert!(
        history.contains(&format!("node{owner}")) && history.contains("palisade-node"),
        "the fencer's history should record the request: {history}"
    );
    assert_no_violations(&c);
    println!("through the fencer API:\n{}", c.timeline_text(cut));
}
