//! `schedule` on generated states: whatever the nodes and resources look like, the plan
//! never starts anything on a node that cannot take it, never touches what runs on an
//! unclean node, never runs a primitive twice, keeps mandatory colocations and group
//! order, is deterministic, and converges (scheduling again after it ran does nothing).

use std::collections::BTreeMap;

use super::config::Role;
use super::simulate::apply;
use super::state::{Health, Instance, Membership, NodeState};
use super::*;

const CONFIG: &str = r#"
options = { resource-stickiness = 10 }
primitive = [
  { name = "vip", agent = "ocf:heartbeat:IPaddr2" },
  { name = "fs", agent = "ocf:heartbeat:Filesystem" },
  { name = "httpd", agent = "lsb:httpd", meta = { migration-threshold = 2 } },
  { name = "db", agent = "ocf:heartbeat:pgsql" },
  { name = "ping", agent = "ocf:pacemaker:ping" },
  { name = "drbd", agent = "ocf:linbit:drbd" },
  { name = "report", agent = "systemd:report" },
]
group = [{ name = "web", members = ["vip", "fs", "httpd"] }]
clone = [
  { name = "ping-clone", resource = "ping", clone-node-max = 2, clone-max = 5 },
  { name = "drbd-clone", resource = "drbd", promotable = true, clone-max = 2 },
]
location = [
  { id = "web-prefers-n1", resource = "web", node = "n1", score = 50 },
  { id = "db-avoids-n4", resource = "db", node = "n4", score = -20 },
  { id = "drbd-n2", resource = "drbd-clone", role = "promoted", node = "n2", score = 100 },
  { id = "pingd", resource = "db", rule = { score = "-INFINITY", expressions = ["pingd lte 0"] } },
]
colocation = [
  { id = "db-on-promoted", resource = "db", with = "drbd-clone", with-role = "promoted", score = "INFINITY" },
  { id = "web-away-from-db", resource = "web", with = "db", score = -100 },
]
order = [
  { id = "promote-then-db", first = "drbd-clone", first-action = "promote", then = "db" },
  { id = "db-then-report", first = "db", then = "report", kind = "optional" },
]
"#;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const NODES: [&str; 4] = ["n1", "n2", "n3", "n4"];

fn random_state(rng: &mut Rng) -> ClusterState {
    let mut state = ClusterState::default();
    for name in NODES {
        let mut node = NodeState::online();
        node.membership = match rng.below(8) {
            0 => Membership::Offline,
            1 => Membership::Unclean,
            2 if rng.below(3) == 0 => Membership::Unseen,
            _ => Membership::Online,
        };
        node.standby = rng.below(6) == 0;
        node.maintenance = rng.below(12) == 0;
        if rng.below(4) > 0 {
            node.attributes
                .insert("pingd".into(), rng.below(3).to_string());
        }
        if rng.below(2) == 0 {
            node.attributes
                .insert("master-drbd-clone".into(), (rng.below(5) * 10).to_string());
        }
        state.nodes.insert(name.into(), node);
    }
    let health = |rng: &mut Rng| match rng.below(10) {
        0 => Health::Failed,
        1 => Health::StopFailed,
        _ => Health::Ok,
    };
    for unit in ["vip", "fs", "httpd", "db", "report"] {
        if rng.below(2) == 0 {
            let node = NODES[rng.below(4) as usize].to_string();
            let h = health(rng);
            state
                .running
                .entry(unit.into())
                .or_default()
                .push(Instance {
                    node,
                    role: Role::Started,
                    health: h,
                });
        }
    }
    for unit in ["ping-clone", "drbd-clone"] {
        for _ in 0..rng.below(4) {
            let node = NODES[rng.below(4) as usize].to_string();
            let role = if unit == "drbd-clone" && rng.below(3) == 0 {
                Role::Promoted
            } else {
                Role::Started
            };
            let h = health(rng);
            state
                .running
                .entry(unit.into())
                .or_default()
                .push(Instance {
                    node,
                    role,
                    health: h,
                });
        }
    }
    for _ in 0..rng.below(3) {
        let node = NODES[rng.below(4) as usize];
        state.record_failure("httpd", node, Moment::default());
    }
    state
}

fn unavailable(state: &ClusterState, plan: &Plan, node: &str) -> bool {
    let fenced_here = plan
        .actions
        .iter()
        .any(|a| a.kind == ActionKind::Fence && a.node == node);
    fenced_here
        || state
            .nodes
            .get(node)
            .is_none_or(|n| n.unavailable().is_some())
}

fn check(state: &ClusterState, config: &Config, plan: &Plan, case: u64) {
    let ctx = format!("case {case}: {state:#?}\nplan:\n{}", plan.render_actions());
    for (i, a) in plan.actions.iter().enumerate() {
        let node = state.nodes.get(&a.node).expect("known node");
        match a.kind {
            ActionKind::Start | ActionKind::Promote => {
                assert!(
                    !unavailable(state, plan, &a.node),
                    "{a} on unavailable node\n{ctx}"
                );
            }
            ActionKind::Stop | ActionKind::Demote => {
                assert_ne!(
                    node.membership,
                    Membership::Unclean,
                    "{a}: touches an unclean node\n{ctx}"
                );
                assert_ne!(
                    node.membership,
                    Membership::Unseen,
                    "{a}: touches an unseen node\n{ctx}"
                );
                assert_ne!(
                    node.membership,
                    Membership::Offline,
                    "{a}: offline node\n{ctx}"
                );
                assert!(!node.maintenance, "{a}: node in maintenance\n{ctx}");
            }
            ActionKind::Fence => {}
        }
        // Nothing stopped starts while a node is unseen (it may run it already).
        if a.kind == ActionKind::Start
            && state
                .instances(a.resource.as_deref().unwrap_or(""))
                .is_empty()
            && config
                .primitive(a.resource.as_deref().unwrap_or(""))
                .is_some()
        {
            assert!(
                !state
                    .nodes
                    .values()
                    .any(|n| n.membership == Membership::Unseen),
                "{a} while a node is unseen\n{ctx}"
            );
        }
        // A primitive's stops all come before its starts.
        if a.kind == ActionKind::Stop
            && config
                .primitive(a.resource.as_deref().unwrap_or(""))
                .is_some()
        {
            let earlier_start = plan.actions[..i]
                .iter()
                .any(|b| b.kind == ActionKind::Start && b.resource == a.resource);
            assert!(
                !earlier_start,
                "{a} after a start of the same primitive\n{ctx}"
            );
        }
    }
    // Group order: vip starts before fs before httpd when they start in one plan.
    let pos = |r: &str, k: ActionKind| {
        plan.actions
            .iter()
            .position(|a| a.kind == k && a.resource.as_deref() == Some(r))
    };
    for (first, then) in [("vip", "fs"), ("fs", "httpd")] {
        if let (Some(f), Some(t)) = (pos(first, ActionKind::Start), pos(then, ActionKind::Start)) {
            assert!(f < t, "start {first} after start {then}\n{ctx}");
        }
        if let (Some(f), Some(t)) = (pos(first, ActionKind::Stop), pos(then, ActionKind::Stop)) {
            assert!(t < f, "stop {then} after stop {first}\n{ctx}");
        }
    }
    let after = apply(state, plan);
    for p in ["vip", "fs", "httpd", "db", "report"] {
        let movable: Vec<&Instance> = after
            .instances(p)
            .iter()
            .filter(|i| !unavailable(state, plan, &i.node))
            .collect();
        assert!(movable.len() <= 1, "{p} runs twice after the plan\n{ctx}");
    }
    // Never more promoted instances than promoted-max (1), counting those blocked on
    // unclean or unseen nodes, unless the state already had more; and no promotion while
    // a node is unseen (it may run a promoted instance).
    let promoted = |s: &ClusterState| {
        s.instances("drbd-clone")
            .iter()
            .filter(|i| i.role == Role::Promoted)
            .count()
    };
    if promoted(state) <= 1 {
        assert!(
            promoted(&after) <= 1,
            "promoted twice after the plan\n{ctx}"
        );
    }
    if plan.actions.iter().any(|a| a.kind == ActionKind::Promote) {
        assert!(
            !state
                .nodes
                .values()
                .any(|n| n.membership == Membership::Unseen),
            "promotion while a node is unseen\n{ctx}"
        );
    }
    // Mandatory colocations hold for what the plan started.
    for (dep, primary) in [("fs", "vip"), ("httpd", "fs")] {
        for i in after.instances(dep) {
            if pos(dep, ActionKind::Start).is_some() {
                assert!(
                    after.instances(primary).iter().any(|p| p.node == i.node),
                    "{dep} started away from {primary}\n{ctx}"
                );
            }
        }
    }
}

#[test]
fn generated_states_keep_the_invariants_and_converge() {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut with_actions = 0;
    for case in 0..400 {
        let state = random_state(&mut rng);
        let now = Moment(1_000);
        let plan = schedule(&state, &config, now);
        assert_eq!(plan, schedule(&state, &config, now), "not deterministic");
        check(&state, &config, &plan, case);
        if !plan.actions.is_empty() {
            with_actions += 1;
        }
        // Carry the plan out (fences included) until nothing is left to do.
        let mut current = apply(&state, &plan);
        let mut rounds = 0;
        loop {
            let next = schedule(&current, &config, now);
            if next.actions.is_empty() {
                break;
            }
            check(&current, &config, &next, case);
            rounds += 1;
            assert!(
                rounds <= 3,
                "case {case} does not converge: {:#?}\n{}",
                current,
                next.render_actions()
            );
            current = apply(&current, &next);
        }
    }
    assert!(with_actions > 200, "generator too tame: {with_actions}");
}

#[test]
fn explain_answers_for_groups_members_and_clones() {
    let config = Config::from_toml_str(CONFIG).expect("config");
    let mut state = ClusterState::default();
    for n in NODES {
        state.nodes.insert(n.into(), NodeState::online());
    }
    let plan = schedule(&state, &config, Moment::default());
    let group = plan.explain("web").expect("group");
    for member in ["vip [", "fs [", "httpd ["] {
        assert!(group.contains(member), "{group}");
    }
    assert!(plan.explain("fs").is_some_and(|t| t.starts_with("fs [")));
    assert!(plan.explain("drbd-clone").is_some());
    assert_eq!(plan.explain("nope"), None);
}

#[test]
fn unclean_node_blocks_even_a_mandatory_dependent() {
    // db runs on an unclean node: it stays blocked; report (optional order) is unaffected.
    let config = Config::from_toml_str(CONFIG).expect("config");
    let mut state = ClusterState::default();
    for n in NODES {
        state.nodes.insert(n.into(), NodeState::online());
    }
    if let Some(n) = state.nodes.get_mut("n3") {
        n.membership = Membership::Unclean;
    }
    let running = |node: &str, role| Instance {
        node: node.into(),
        role,
        health: Health::Ok,
    };
    state.running = BTreeMap::from([
        ("db".to_string(), vec![running("n3", Role::Started)]),
        (
            "drbd-clone".to_string(),
            vec![running("n3", Role::Promoted)],
        ),
    ]);
    let plan = schedule(&state, &config, Moment::default());
    assert!(
        plan.actions
            .iter()
            .all(|a| a.resource.as_deref() != Some("db")),
        "{}",
        plan.render_actions()
    );
    assert!(
        !plan.actions.iter().any(|a| a.kind == ActionKind::Promote),
        "promoted elsewhere while n3 may still be promoted:\n{}",
        plan.render_actions()
    );
    let why = plan.explain("db").unwrap_or_default();
    assert!(why.contains("blocked on n3"), "{why}");
}
