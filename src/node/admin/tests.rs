use super::*;

fn standby(node: &str, on: bool) -> Command {
    Command::Standby {
        node: node.into(),
        on,
    }
}

#[test]
fn commands_write_versioned_records() {
    let mut t = AdminTable::default();
    let (recs, cleanup) = t.command(1, &standby("node2", true)).expect("standby");
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].version, 1);
    assert!(cleanup.is_none());
    assert!(t.standby("node2"));
    t.command(2, &standby("node2", false)).expect("online");
    assert!(!t.standby("node2"));
    assert_eq!(t.clock(), 2);
}

#[test]
fn move_ban_and_clear() {
    let mut t = AdminTable::default();
    let mv = |node: &str| Command::Move {
        resource: "web".into(),
        node: node.into(),
    };
    let ban = |node: &str| Command::Ban {
        resource: "web".into(),
        node: node.into(),
    };
    t.command(1, &ban("node2")).expect("ban");
    t.command(1, &ban("node3")).expect("ban");
    assert_eq!(t.bans("web"), vec!["node2", "node3"]);
    // moving to a banned node lifts that ban
    t.command(1, &mv("node2")).expect("move");
    assert_eq!(t.preferred("web").as_deref(), Some("node2"));
    assert_eq!(t.bans("web"), vec!["node3"]);
    // banning the preferred node drops the move
    t.command(1, &ban("node2")).expect("ban");
    assert_eq!(t.preferred("web"), None);
    t.command(1, &mv("node1")).expect("move");
    t.command(
        1,
        &Command::Clear {
            resource: "web".into(),
            node: Some("node3".into()),
        },
    )
    .expect("clear one");
    assert_eq!(t.bans("web"), vec!["node2"]);
    assert_eq!(t.preferred("web").as_deref(), Some("node1"));
    t.command(
        1,
        &Command::Clear {
            resource: "web".into(),
            node: None,
        },
    )
    .expect("clear all");
    assert!(t.bans("web").is_empty());
    assert_eq!(t.preferred("web"), None);
    let (moves, bans) = t.moves_and_bans();
    assert!(moves.is_empty() && bans.is_empty());
}

#[test]
fn merge_is_order_independent_and_highest_version_wins() {
    let mut a = AdminTable::default();
    let mut b = AdminTable::default();
    let (r1, _) = a.command(1, &standby("node3", true)).expect("a");
    let (r2, _) = b.command(2, &standby("node3", false)).expect("b");
    // same version 1: origin 2 wins the tie, on both sides
    let (changed, _) = a.merge(&r2);
    assert!(changed);
    let (changed, _) = b.merge(&r1);
    assert!(!changed);
    assert_eq!(a, b);
    assert!(!a.standby("node3"));
    // a later write from node 1 (version above what it has seen) wins everywhere
    let (r3, _) = a.command(1, &standby("node3", true)).expect("a again");
    assert_eq!(r3[0].version, 2);
    b.merge(&r3);
    assert!(b.standby("node3"));
    assert_eq!(a, b);
    // replaying old records changes nothing
    let (changed, _) = b.merge(&r1);
    assert!(!changed);
}

#[test]
fn cleanups_arrive_once_per_request() {
    let mut a = AdminTable::default();
    let mut b = AdminTable::default();
    let cmd = Command::Cleanup {
        resource: "db".into(),
        node: None,
    };
    let (recs, mine) = a.command(1, &cmd).expect("cleanup");
    assert_eq!(
        mine,
        Some(CleanupRequest {
            resource: "db".into(),
            node: None
        })
    );
    let (_, cleanups) = b.merge(&recs);
    assert_eq!(cleanups.len(), 1);
    let (_, again) = b.merge(&recs);
    assert!(again.is_empty(), "the same request is carried out once");
    let (recs, _) = a
        .command(
            1,
            &Command::Cleanup {
                resource: "db".into(),
                node: Some("node2".into()),
            },
        )
        .expect("cleanup node2");
    let (_, cleanups) = b.merge(&recs);
    assert_eq!(cleanups[0].node.as_deref(), Some("node2"));
}

#[test]
fn target_roles_and_limits() {
    let mut t = AdminTable::default();
    t.command(
        3,
        &Command::TargetRole {
            resource: "db".into(),
            stopped: true,
        },
    )
    .expect("stop");
    assert_eq!(t.stopped("db"), Some(true));
    assert_eq!(t.target_roles(), vec![("db".to_string(), true)]);
    let long = "x".repeat(300);
    assert!(matches!(
        t.command(1, &standby(&long, true)),
        Err(AdminError::TooLong(_))
    ));
    for i in 0..MAX_RECORDS - 1 {
        t.command(1, &standby(&format!("n{i}"), true))
            .expect("fill");
    }
    assert_eq!(
        t.command(1, &standby("one-more", true)),
        Err(AdminError::Full)
    );
    // rewriting an existing key is still possible
    t.command(1, &standby("n1", false)).expect("rewrite");
}

#[test]
fn state_file_round_trip() {
    let mut t = AdminTable::default();
    t.command(1, &standby("node2", true)).expect("standby");
    t.command(
        2,
        &Command::Move {
            resource: "web".into(),
            node: "node1".into(),
        },
    )
    .expect("move");
    let back = AdminTable::from_json(&t.to_json()).expect("parse");
    assert_eq!(back, t);
    assert!(AdminTable::from_json("{").is_err());
    assert!(AdminTable::from_json("{\"version\": 9, \"records\": []}").is_err());
}

#[test]
fn maintenance_of_a_node_and_of_the_cluster() {
    let mut t = AdminTable::default();
    assert!(!t.maintenance("node2") && !t.maintenance_mode());
    t.command(
        1,
        &Command::NodeMaintenance {
            node: "node2".into(),
            on: true,
        },
    )
    .expect("maintenance");
    t.command(1, &Command::MaintenanceMode { on: true })
        .expect("maintenance-mode");
    assert!(t.maintenance("node2") && !t.maintenance("node1") && t.maintenance_mode());
    // Replicated like every record: a peer merging them sees the same.
    let mut peer = AdminTable::default();
    let records: Vec<Record> = t.records().cloned().collect();
    peer.merge(&records);
    assert!(peer.maintenance("node2") && peer.maintenance_mode());
    peer.command(
        2,
        &Command::NodeMaintenance {
            node: "node2".into(),
            on: false,
        },
    )
    .expect("ready");
    peer.command(2, &Command::MaintenanceMode { on: false })
        .expect("off");
    let back: Vec<Record> = peer.records().cloned().collect();
    t.merge(&back);
    assert!(!t.maintenance("node2") && !t.maintenance_mode());
}
