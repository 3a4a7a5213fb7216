//! Fencing decisions one by one (the golden transcripts of `machine/golden/` tell the
//! whole stories).

use super::*;

fn settings() -> Settings {
    Settings {
        fencing_enabled: true,
        race_delay: Duration::from_secs(5),
        fence_retry: Duration::from_secs(10),
        startup_fencing: false,
    }
}

fn priorities() -> BTreeMap<String, u32> {
    [("db".to_string(), 10), ("web".to_string(), 1)]
        .into_iter()
        .collect()
}

fn set(nodes: &[NodeId]) -> BTreeSet<NodeId> {
    nodes.iter().copied().collect()
}

fn running(pairs: &[(&str, NodeId)]) -> BTreeSet<(String, NodeId)> {
    pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
}

#[test]
fn the_coordinator_fences_a_lost_node_and_retries_after_fence_retry() {
    let t = Instant::now();
    let mut f = Fencing::new(2, [1, 2, 3], priorities(), settings());
    assert!(f
        .view(&set(&[1, 2, 3]), true, &BTreeSet::new(), t)
        .0
        .is_empty());
    let d = f.view(&set(&[2, 3]), true, &BTreeSet::new(), t).0;
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].node, d[0].delay), (1, Duration::ZERO));
    assert_eq!(f.status(1), Some(NodeStatus::Unclean));
    f.fenced(1, false, t);
    assert!(f.tick(t + Duration::from_secs(5)).is_empty());
    let d = f.tick(t + Duration::from_secs(10));
    assert_eq!(d.len(), 1);
    f.fenced(1, true, t + Duration::from_secs(11));
    assert_eq!(f.status(1), Some(NodeStatus::Clean));
    assert!(f.tick(t + Duration::from_secs(30)).is_empty());
}

#[test]
fn only_the_coordinator_asks_and_a_minority_fences_nobody() {
    let t = Instant::now();
    let mut f = Fencing::new(3, [1, 2, 3], priorities(), settings());
    f.view(&set(&[1, 2, 3]), true, &BTreeSet::new(), t);
    assert!(f
        .view(&set(&[2, 3]), true, &BTreeSet::new(), t)
        .0
        .is_empty());
    let mut f = Fencing::new(1, [1, 2, 3], priorities(), settings());
    f.view(&set(&[1, 2, 3]), true, &BTreeSet::new(), t);
    assert!(f.view(&set(&[1]), false, &BTreeSet::new(), t).0.is_empty());
    assert!(f.tick(t + Duration::from_secs(60)).is_empty());
}

#[test]
fn two_node_race_weighs_what_really_runs() {
    let t = Instant::now();
    let mut a = Fencing::new(1, [1, 2], priorities(), settings());
    let mut b = Fencing::new(2, [1, 2], priorities(), settings());
    for f in [&mut a, &mut b] {
        f.view(&set(&[1, 2]), true, &BTreeSet::new(), t);
        f.running(running(&[("db", 1), ("web", 2)]));
    }
    let da = a.view(&set(&[1]), true, &BTreeSet::new(), t).0;
    let db = b.view(&set(&[2]), true, &BTreeSet::new(), t).0;
    assert_eq!(da[0].delay, Duration::ZERO, "{}", da[0].reason);
    assert_eq!(db[0].delay, Duration::from_secs(5), "{}", db[0].reason);
    // A clone instance on both sides weighs on both: equal weights, the lower id wins.
    let mut a = Fencing::new(1, [1, 2], priorities(), settings());
    a.view(&set(&[1, 2]), true, &BTreeSet::new(), t);
    a.running(running(&[("db", 1), ("db", 2)]));
    assert_eq!(
        a.view(&set(&[1]), true, &BTreeSet::new(), t).0[0].delay,
        Duration::ZERO
    );
    let mut b = Fencing::new(2, [1, 2], priorities(), settings());
    b.view(&set(&[1, 2]), true, &BTreeSet::new(), t);
    b.running(running(&[("db", 1), ("db", 2)]));
    assert_eq!(
        b.view(&set(&[2]), true, &BTreeSet::new(), t).0[0].delay,
        Duration::from_secs(5)
    );
}

#[test]
fn startup_fencing_fences_unseen_nodes_and_disabled_fencing_assumes_clean() {
    let t = Instant::now();
    let mut s = settings();
    s.startup_fencing = true;
    let mut f = Fencing::new(1, [1, 2, 3], priorities(), s.clone());
    assert_eq!(f.status(3), Some(NodeStatus::Unclean));
    let d = f.view(&set(&[1, 2]), true, &BTreeSet::new(), t).0;
    assert_eq!(d.iter().map(|d| d.node).collect::<Vec<_>>(), vec![3]);
    s.fencing_enabled = false;
    let mut f = Fencing::new(1, [1, 2, 3], priorities(), s);
    assert!(f
        .view(&set(&[1, 2]), true, &BTreeSet::new(), t)
        .0
        .is_empty());
    assert_eq!(f.status(3), Some(NodeStatus::Clean));
    assert_eq!(f.status(9), None);
}

#[test]
fn a_member_that_left_cleanly_is_clean_not_fenced() {
    let t = Instant::now();
    let mut f = Fencing::new(2, [1, 2, 3], priorities(), settings());
    f.view(&set(&[1, 2, 3]), true, &BTreeSet::new(), t);
    let (fences, gone) = f.view(&set(&[2]), true, &set(&[1]), t);
    assert_eq!(gone, vec![1]);
    assert_eq!(f.status(1), Some(NodeStatus::Clean));
    // node 3 did not announce a leave: it is fenced as before
    assert_eq!(fences.iter().map(|d| d.node).collect::<Vec<_>>(), vec![3]);
    assert_eq!(f.status(3), Some(NodeStatus::Unclean));
}
