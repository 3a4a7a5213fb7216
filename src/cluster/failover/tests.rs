//! Fence-before-failover scenarios, checked one by one and as a golden transcript
//! (`golden/failover.txt`; regenerate with UPDATE_GOLDEN=1 and review the diff).

use super::*;

fn settings() -> Settings {
    Settings {
        fencing_enabled: true,
        no_quorum_policy: NoQuorumPolicy::Stop,
        race_delay: Duration::from_secs(5),
        fence_retry: Duration::from_secs(10),
        startup_fencing: false,
    }
}

fn resources() -> BTreeMap<ResourceId, Resource> {
    let mut r = BTreeMap::new();
    r.insert(
        "db".to_string(),
        Resource {
            allowed: vec![1, 2, 3],
            priority: 10,
        },
    );
    r.insert(
        "web".to_string(),
        Resource {
            allowed: vec![2, 3, 1],
            priority: 1,
        },
    );
    r
}

fn view(members: &[NodeId], quorate: bool) -> Event {
    Event::View {
        members: members.iter().copied().collect(),
        quorate,
    }
}

fn starts(d: &[Decision]) -> Vec<(String, NodeId)> {
    d.iter()
        .filter_map(|d| match d {
            Decision::Start { resource, node } => Some((resource.clone(), *node)),
            _ => None,
        })
        .collect()
}

#[test]
fn lost_node_is_fenced_before_its_resource_moves() {
    let t = Instant::now();
    let mut m = FailoverMachine::new(2, [1, 2, 3], resources(), settings());
    let d = m.handle(view(&[1, 2, 3], true), t);
    assert_eq!(starts(&d), vec![("db".into(), 1), ("web".into(), 2)]);
    // node 1 (running db) disappears; node 2 is now the coordinator
    let d = m.handle(view(&[2, 3], true), t);
    assert!(matches!(d[0], Decision::Fence { node: 1, delay, .. } if delay.is_zero()));
    assert!(d.contains(&Decision::Blocked {
        resource: "db".into(),
        until_fenced: 1
    }));
    assert!(
        starts(&d).is_empty(),
        "nothing moves before the fence: {d:?}"
    );
    // the fence fails: still blocked, retried after fence_retry only
    let d = m.handle(Event::Fenced { node: 1, ok: false }, t);
    assert!(starts(&d).is_empty());
    assert!(m
        .handle(Event::Tick, t + Duration::from_secs(5))
        .iter()
        .all(|d| !matches!(d, Decision::Fence { .. })));
    let d = m.handle(Event::Tick, t + Duration::from_secs(10));
    assert!(matches!(d[0], Decision::Fence { node: 1, .. }), "{d:?}");
    // confirmed: db starts on the next allowed member
    let d = m.handle(
        Event::Fenced { node: 1, ok: true },
        t + Duration::from_secs(11),
    );
    assert_eq!(starts(&d), vec![("db".into(), 2)]);
}

#[test]
fn only_the_coordinator_asks_for_the_fence() {
    let t = Instant::now();
    let mut m = FailoverMachine::new(3, [1, 2, 3], resources(), settings());
    m.handle(view(&[1, 2, 3], true), t);
    let d = m.handle(view(&[2, 3], true), t);
    assert!(
        d.iter().all(|d| !matches!(d, Decision::Fence { .. })),
        "{d:?}"
    );
    let d = m.handle(Event::Fenced { node: 1, ok: true }, t);
    assert_eq!(starts(&d), vec![("db".into(), 2)]);
}

#[test]
fn minority_stops_its_resources_and_fences_nobody() {
    let t = Instant::now();
    let mut m = FailoverMachine::new(1, [1, 2, 3], resources(), settings());
    m.handle(view(&[1, 2, 3], true), t);
    let d = m.handle(view(&[1], false), t);
    assert_eq!(
        d,
        vec![Decision::Stop {
            resource: "db".into()
        }]
    );
    assert!(m.handle(view(&[1], false), t).is_empty(), "stopped once");
}

#[test]
fn no_quorum_policy_fence_self_fences_and_freeze_keeps_running() {
    let t = Instant::now();
    let mut s = settings();
    s.no_quorum_policy = NoQuorumPolicy::Fence;
    let mut m = FailoverMachine::new(1, [1, 2, 3], resources(), s.clone());
    m.handle(view(&[1, 2, 3], true), t);
    assert!(matches!(
        m.handle(view(&[1], false), t)[..],
        [Decision::SelfFence { .. }]
    ));
    s.no_quorum_policy = NoQuorumPolicy::Freeze;
    let mut m = FailoverMachine::new(1, [1, 2, 3], resources(), s);
    m.handle(view(&[1, 2, 3], true), t);
    assert!(m.handle(view(&[1], false), t).is_empty());
}

#[test]
fn two_node_race_the_more_important_side_fences_first() {
    let t = Instant::now();
    let mut res = resources();
    res.get_mut("web").unwrap().allowed = vec![2, 1];
    let mut a = FailoverMachine::new(1, [1, 2], res.clone(), settings());
    let mut b = FailoverMachine::new(2, [1, 2], res, settings());
    for m in [&mut a, &mut b] {
        m.handle(view(&[1, 2], true), t);
    }
    // split: both sides quorate (two_node)
    let da = a.handle(view(&[1], true), t);
    let db = b.handle(view(&[2], true), t);
    let delay = |d: &[Decision]| match &d[0] {
        Decision::Fence { delay, reason, .. } => (*delay, reason.clone()),
        other => panic!("{other:?}"),
    };
    let (delay_a, why_a) = delay(&da);
    let (delay_b, _) = delay(&db);
    assert!(delay_a.is_zero(), "node 1 runs db (priority 10): {why_a}");
    assert_eq!(delay_b, Duration::from_secs(5));
    assert!(why_a.contains("priority 10 vs 1"), "{why_a}");
}

#[test]
fn a_node_told_it_was_fenced_stops_everything() {
    let t = Instant::now();
    let mut m = FailoverMachine::new(2, [1, 2, 3], resources(), settings());
    m.handle(view(&[1, 2, 3], true), t);
    let d = m.handle(Event::FencedMe, t);
    assert_eq!(
        d,
        vec![Decision::Stop {
            resource: "web".into()
        }]
    );
}

#[test]
fn startup_fencing_blocks_starts_until_unseen_nodes_are_fenced() {
    let t = Instant::now();
    let mut s = settings();
    s.startup_fencing = true;
    let mut m = FailoverMachine::new(1, [1, 2, 3], resources(), s);
    let d = m.handle(view(&[1, 2], true), t);
    assert!(matches!(d[0], Decision::Fence { node: 3, .. }), "{d:?}");
    assert!(starts(&d).is_empty());
    let d = m.handle(Event::Fenced { node: 3, ok: true }, t);
    assert_eq!(starts(&d), vec![("db".into(), 1), ("web".into(), 2)]);
}

#[test]
fn fencing_disabled_assumes_lost_nodes_clean() {
    let t = Instant::now();
    let mut s = settings();
    s.fencing_enabled = false;
    let mut m = FailoverMachine::new(2, [1, 2, 3], resources(), s);
    m.handle(view(&[1, 2, 3], true), t);
    let d = m.handle(view(&[2, 3], true), t);
    assert_eq!(starts(&d), vec![("db".into(), 2)]);
}

/// A whole story as a transcript, compared with the golden file.
#[test]
fn golden_transcript() {
    let t0 = Instant::now();
    let mut m = FailoverMachine::new(2, [1, 2, 3], resources(), settings());
    let script: Vec<(u64, Event)> = vec![
        (0, view(&[1, 2, 3], true)),
        (
            1,
            Event::Running {
                resource: "db".into(),
                node: 1,
            },
        ),
        (2, view(&[2, 3], true)),
        (3, Event::Fenced { node: 1, ok: false }),
        (8, Event::Tick),
        (13, Event::Tick),
        (14, Event::Fenced { node: 1, ok: true }),
        (20, view(&[1, 2, 3], true)),
        (30, view(&[2], false)),
    ];
    let mut text = String::new();
    for (secs, event) in script {
        text.push_str(&format!("t={secs:>3}s  {event:?}\n"));
        for d in m.handle(event, t0 + Duration::from_secs(secs)) {
            text.push_str(&format!("        -> {d:?}\n"));
        }
    }
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cluster/golden/failover.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(text, golden, "transcript differs from {}", path.display());
}

#[test]
fn node_status_and_race_weights_follow_what_runs() {
    let t = Instant::now();
    // No node to start anything on: the scheduler places; the machine fences and weighs.
    let weights_only: BTreeMap<ResourceId, Resource> = resources()
        .into_iter()
        .map(|(name, r)| {
            (
                name,
                Resource {
                    allowed: Vec::new(),
                    priority: r.priority,
                },
            )
        })
        .collect();
    let mut m = FailoverMachine::new(1, [1, 2], weights_only.clone(), settings());
    assert!(starts(&m.handle(view(&[1, 2], true), t)).is_empty());
    assert_eq!(m.status(2), Some(NodeStatus::Member));
    assert_eq!(m.status(9), None);
    m.handle(
        Event::Running {
            resource: "db".into(),
            node: 2,
        },
        t,
    );
    // A split: node 2 runs db (priority 10), so this node waits in the race.
    let d = m.handle(view(&[1], true), t);
    assert!(
        matches!(d[0], Decision::Fence { node: 2, delay, .. } if delay == Duration::from_secs(5)),
        "{d:?}"
    );
    assert_eq!(m.status(2), Some(NodeStatus::Unclean));
    m.handle(Event::Fenced { node: 2, ok: true }, t);
    assert_eq!(m.status(2), Some(NodeStatus::Clean));
    // Once db stopped there, node 2 weighs nothing any more.
    let mut m = FailoverMachine::new(1, [1, 2], weights_only, settings());
    m.handle(view(&[1, 2], true), t);
    for event in [
        Event::Running {
            resource: "db".into(),
            node: 2,
        },
        Event::NotRunning {
            resource: "db".into(),
            node: 2,
        },
    ] {
        m.handle(event, t);
    }
    let d = m.handle(view(&[1], true), t);
    assert!(
        matches!(d[0], Decision::Fence { node: 2, delay, .. } if delay.is_zero()),
        "{d:?}"
    );
}
