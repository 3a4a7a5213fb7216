//! Promotable clones and several instances per node: promotion with the coordinator's
//! confirmation, demotion first, the guards. Uses the toy cluster of the parent module.

use super::*;

const PROMOTABLE: &str = r#"
primitive = [{ name = "state", agent = "ocf:pacemaker:Stateful" }]
clone = [{ name = "state-clone", resource = "state", promotable = true }]
"#;

#[test]
fn a_promotable_clone_is_promoted_once_and_demoted_before_it_moves() {
    let mut toy = Toy::with(PROMOTABLE);
    assert_eq!(
        toy.rounds(),
        vec![
            vec!["start state node1".to_string(), "start state node2".into()],
            vec!["promote state node1".into()],
        ]
    );
    toy.admin
        .command(
            2,
            &Command::Standby {
                node: "node1".into(),
                on: true,
            },
        )
        .expect("standby");
    // Demoted (and stopped) on node1 before node2 is promoted: never two at once; node2
    // (not the coordinator) declares its intent, promotes once it is confirmed.
    assert_eq!(
        toy.rounds(),
        vec![
            vec!["demote state node1".to_string()],
            vec!["stop state node1".into(), "intend state node2".into()],
            vec!["promote state node2".into()],
        ]
    );
}

#[test]
fn the_coordinator_confirms_an_intent_only_within_promoted_max() {
    let config = Config::from_toml_str(PROMOTABLE).expect("config");
    let ids = Toy::ids();
    let grant = |node: NodeId| Grant {
        promote: true,
        confirmed: false,
        resource: "state-clone".into(),
        node,
    };
    let promoted = |nodes: &[&str]| -> BTreeMap<String, Vec<String>> {
        [(
            "state".to_string(),
            nodes.iter().map(|n| n.to_string()).collect(),
        )]
        .into()
    };
    let intent: BTreeSet<(String, String)> = [("state".to_string(), "node2".to_string())].into();
    // node2 intends, nothing else promoted: confirmed.
    let mut g = vec![grant(2)];
    confirm(&mut g, &config, &ids, 1, &promoted(&["node2"]), &intent);
    assert!(g[0].confirmed);
    // No intent reported yet: not confirmed (the grant may be on its way).
    let mut g = vec![grant(2)];
    confirm(&mut g, &config, &ids, 1, &promoted(&[]), &BTreeSet::new());
    assert!(!g[0].confirmed);
    // The coordinator itself (or anyone) still promoted: not confirmed.
    let mut g = vec![grant(2)];
    confirm(
        &mut g,
        &config,
        &ids,
        1,
        &promoted(&["node1", "node2"]),
        &intent,
    );
    assert!(!g[0].confirmed);
    // The coordinator's own promotions need no confirmation.
    let mut g = vec![grant(1)];
    confirm(&mut g, &config, &ids, 1, &promoted(&[]), &BTreeSet::new());
    assert!(!g[0].confirmed);
}

#[test]
fn several_instances_per_node_start_one_at_a_time() {
    let mut toy = Toy::with(
        r#"primitive = [{ name = "ping", agent = "ocf:pacemaker:Dummy" }]
clone = [{ name = "ping-clone", resource = "ping", clone-node-max = 2, clone-max = 3 }]"#,
    );
    let all: Vec<String> = toy.rounds().concat();
    assert_eq!(
        all,
        vec![
            "start ping:0 node1",
            "start ping:2 node2",
            "start ping:1 node1"
        ],
        "3 of 3 instances, two on node1"
    );
    assert!(toy.settle().is_empty(), "converged");
}

fn promotable_plan(config: &Config, node2_promoted: bool) -> Plan {
    let facts = |n: &str, role: Option<Role>| NodeFacts {
        name: n.into(),
        membership: Membership::Online,
        running: role
            .map(|role| Running {
                name: "state".into(),
                role,
                status: RunStatus::Running,
            })
            .into_iter()
            .collect(),
        failcounts: Vec::new(),
        attributes: [("master-state".to_string(), "5".to_string())].into(),
    };
    let role = if node2_promoted {
        Role::Promoted
    } else {
        Role::Started
    };
    let state = cluster_state(
        config,
        &AdminTable::default(),
        &[
            facts("node1", Some(Role::Started)),
            facts("node2", Some(role)),
        ],
        Moment(0),
    );
    schedule(&state, config, Moment(0))
}

fn promotable_steps(
    plan: &Plan,
    config: &Config,
    me: &str,
    instance: Instance,
    promoted_elsewhere: &[(&str, &str)],
) -> (Vec<Step>, Vec<Held>) {
    let ids = Toy::ids();
    let members: BTreeSet<NodeId> = [1, 2].into();
    let local: BTreeMap<String, Instance> = [("state".to_string(), instance)].into();
    let mut elsewhere: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (p, n) in promoted_elsewhere {
        elsewhere
            .entry(p.to_string())
            .or_default()
            .push(n.to_string());
    }
    next_steps(&Inputs {
        plan,
        config,
        me,
        ids: &ids,
        members: &members,
        grants: None,
        local: &local,
        reported_elsewhere: &BTreeMap::new(),
        promoted_elsewhere: &elsewhere,
        unsettled: None,
    })
}

#[test]
fn no_promotion_while_another_node_reports_one_promoted() {
    let config = Config::from_toml_str(PROMOTABLE).expect("config");
    let plan = promotable_plan(&config, false);
    assert!(plan
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::Promote && a.node == "node1"));
    let running = Instance::new("state", Local::Running);
    let (steps, _) = promotable_steps(&plan, &config, "node1", running.clone(), &[]);
    assert!(matches!(&steps[..], [Step::Promote { .. }]), "{steps:?}");
    // node1's inputs lag: node2 still reports a promoted instance (being demoted).
    let (steps, held) = promotable_steps(&plan, &config, "node1", running, &[("state", "node2")]);
    assert!(steps.is_empty(), "{steps:?}");
    assert!(held[0].why.contains("still promoted on node2"), "{held:?}");
    // An instance being promoted here is that promotion: nothing more.
    let promoting = Instance::new("state", Local::Promoting);
    let (steps, held) = promotable_steps(&plan, &config, "node1", promoting, &[]);
    assert!(steps.is_empty() && held.is_empty(), "{steps:?} {held:?}");
}

#[test]
fn a_demote_that_failed_is_carried_out_by_a_stop() {
    let config = Config::from_toml_str(PROMOTABLE).expect("config");
    // node2 promoted and failed: the plan demotes it (then recovers it).
    let mut plan = promotable_plan(&config, true);
    plan.actions.retain(|a| a.node == "node2");
    plan.after = vec![Vec::new(); plan.actions.len()];
    let mut failed = Instance::new("state", Local::Running);
    failed.promoted = true;
    failed.failed = true;
    let demote = Action {
        kind: ActionKind::Demote,
        resource: Some("state-clone".into()),
        node: "node2".into(),
        reason: "failed".into(),
    };
    let plan = Plan {
        actions: vec![demote],
        after: vec![Vec::new()],
        ..plan
    };
    let (steps, _) = promotable_steps(&plan, &config, "node2", failed.clone(), &[]);
    assert!(matches!(&steps[..], [Step::Demote { .. }]), "{steps:?}");
    failed.demote_failed = true;
    let (steps, _) = promotable_steps(&plan, &config, "node2", failed, &[]);
    assert!(
        matches!(&steps[..], [Step::Stop { reason, .. }] if reason.contains("demote failed")),
        "{steps:?}"
    );
}
