use super::*;
use crate::fencer::duration::Moment;
use crate::node::admin::{AdminTable, Command};
use crate::node::cluster_state::{cluster_state, effective_config, NodeFacts};
use crate::node::operations::{instances, primitive_of_instance, CloneOf};
use crate::node::report::{RunStatus, Running};
use crate::placement::config::Role;
use crate::placement::schedule;
use crate::placement::state::Membership;

const CONFIG: &str = r#"
options = { resource-stickiness = 100 }
primitive = [
  { name = "vip", agent = "ocf:heartbeat:Dummy" },
  { name = "fs", agent = "ocf:heartbeat:Dummy" },
  { name = "httpd", agent = "ocf:heartbeat:Dummy" },
]
group = [{ name = "web", members = ["vip", "fs", "httpd"] }]
location = [{ id = "web-prefers-node1", resource = "web", node = "node1", score = 50 }]
"#;

/// A toy cluster whose nodes see each other's state at once: node -> instance ->
/// promoted, and the promotions intended (node, instance).
struct Toy {
    config: Config,
    admin: AdminTable,
    running: BTreeMap<String, BTreeMap<String, bool>>,
    intents: BTreeSet<(String, String)>,
    log: Vec<String>,
}

impl Toy {
    fn new() -> Toy {
        Toy::with(CONFIG)
    }

    fn with(config: &str) -> Toy {
        Toy {
            config: Config::from_toml_str(config).expect("config"),
            admin: AdminTable::default(),
            running: ["node1", "node2"]
                .into_iter()
                .map(|n| (n.to_string(), BTreeMap::new()))
                .collect(),
            intents: BTreeSet::new(),
            log: Vec::new(),
        }
    }

    fn ids() -> BTreeMap<String, NodeId> {
        [("node1".to_string(), 1), ("node2".to_string(), 2)].into()
    }

    fn plan(&self) -> (Config, Plan) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        let config = effective_config(&self.config, &self.admin, &names);
        let facts: Vec<NodeFacts> = self
            .running
            .iter()
            .map(|(n, set)| NodeFacts {
                name: n.clone(),
                membership: Membership::Online,
                running: set
                    .iter()
                    .map(|(p, promoted)| Running {
                        name: p.clone(),
                        role: if *promoted {
                            Role::Promoted
                        } else {
                            Role::Started
                        },
                        status: if self.intents.contains(&(n.clone(), p.clone())) {
                            RunStatus::Promoting
                        } else {
                            RunStatus::Running
                        },
                    })
                    .collect(),
                failcounts: Vec::new(),
                attributes: self.attributes(n),
            })
            .collect();
        let state = cluster_state(&config, &self.admin, &facts, Moment(0));
        let plan = schedule(&state, &config, Moment(0));
        (config, plan)
    }

    /// Every promotable child has the promotion score 5 everywhere.
    fn attributes(&self, _node: &str) -> BTreeMap<String, String> {
        self.config
            .clones
            .iter()
            .filter(|c| c.promotable)
            .map(|c| (format!("master-{}", c.child), "5".to_string()))
            .collect()
    }

    /// Node `me`'s instances as the driver sees them.
    fn local(&self, config: &Config, me: &str, index: usize) -> BTreeMap<String, Instance> {
        let mut out = BTreeMap::new();
        for p in &config.primitives {
            let clone = CloneOf::of(config, &p.name, 2);
            for (name, _) in instances(&p.name, clone.as_ref(), index) {
                let here = self.running[me].get(&name).copied();
                let intended = self.intents.contains(&(me.to_string(), name.clone()));
                let mut i = Instance::new(
                    &p.name,
                    match here {
                        Some(_) if intended => Local::PromotePending,
                        Some(_) => Local::Running,
                        None => Local::Stopped,
                    },
                );
                i.promoted = here == Some(true);
                out.insert(name, i);
            }
        }
        out
    }

    /// One round: every node does its ready steps (which succeed at once).
    fn round(&mut self) -> bool {
        let (config, plan) = self.plan();
        let ids = Toy::ids();
        let members: BTreeSet<NodeId> = ids.values().copied().collect();
        let mut coordinator_grants = grants(&plan, &ids);
        self.confirm(&config, &ids, &mut coordinator_grants);
        let mut acted = false;
        for (index, me) in ["node1", "node2"].into_iter().enumerate() {
            let local = self.local(&config, me, index);
            let mut elsewhere: BTreeMap<String, String> = BTreeMap::new();
            let mut promoted_elsewhere: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (n, set) in self.running.iter().filter(|(n, _)| n.as_str() != me) {
                for (name, promoted) in set {
                    let p = primitive_of_instance(&config, name).unwrap_or(name);
                    elsewhere.insert(p.to_string(), n.clone());
                    if *promoted || self.intents.contains(&(n.clone(), name.clone())) {
                        promoted_elsewhere
                            .entry(p.to_string())
                            .or_default()
                            .push(n.clone());
                    }
                }
            }
            let (steps, _) = next_steps(&Inputs {
                plan: &plan,
                config: &config,
                me,
                ids: &ids,
                members: &members,
                grants: (me != "node1").then_some(coordinator_grants.as_slice()),
                local: &local,
                reported_elsewhere: &elsewhere,
                promoted_elsewhere: &promoted_elsewhere,
                unsettled: None,
            });
            let mine = self.running.entry(me.into()).or_default();
            let mut kept = BTreeSet::new();
            for s in steps {
                acted = true;
                match s {
                    Step::Intend { instance, .. } => {
                        if self.intents.insert((me.to_string(), instance.clone())) {
                            self.log.push(format!("intend {instance} {me}"));
                        } else {
                            acted = false;
                        }
                        kept.insert(instance);
                    }
                    Step::Start { instance, .. } => {
                        self.log.push(format!("start {instance} {me}"));
                        mine.insert(instance, false);
                    }
                    Step::Stop { instance, .. } => {
                        self.log.push(format!("stop {instance} {me}"));
                        mine.remove(&instance);
                    }
                    Step::Promote { instance, .. } => {
                        self.log.push(format!("promote {instance} {me}"));
                        self.intents.remove(&(me.to_string(), instance.clone()));
                        mine.insert(instance, true);
                    }
                    Step::Demote { instance, .. } => {
                        self.log.push(format!("demote {instance} {me}"));
                        mine.insert(instance, false);
                    }
                    Step::Fence { node, .. } => self.log.push(format!("fence {node}")),
                }
            }
            let withdrawn: Vec<(String, String)> = self
                .intents
                .iter()
                .filter(|(n, i)| n == me && !kept.contains(i))
                .cloned()
                .collect();
            for w in withdrawn {
                acted = true;
                self.log.push(format!("withdraw {} {me}", w.1));
                self.intents.remove(&w);
            }
        }
        acted
    }

    /// The coordinator (node1) confirms the promotions it sees intended.
    fn confirm(&self, config: &Config, ids: &BTreeMap<String, NodeId>, grants: &mut [Grant]) {
        let mut promoted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, set) in &self.running {
            for (name, is) in set {
                if *is || self.intents.contains(&(n.clone(), name.clone())) {
                    let p = primitive_of_instance(config, name).unwrap_or(name);
                    promoted.entry(p.to_string()).or_default().push(n.clone());
                }
            }
        }
        let intents: BTreeSet<(String, String)> = self
            .intents
            .iter()
            .map(|(n, i)| {
                let p = primitive_of_instance(config, i).unwrap_or(i);
                (p.to_string(), n.clone())
            })
            .collect();
        confirm(grants, config, ids, 1, &promoted, &intents);
    }

    fn settle(&mut self) -> Vec<String> {
        for _ in 0..20 {
            if !self.round() {
                break;
            }
        }
        std::mem::take(&mut self.log)
    }

    /// Like [`Toy::settle`], one entry per round (what every node did in it).
    fn rounds(&mut self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for _ in 0..20 {
            if !self.round() {
                break;
            }
            out.push(std::mem::take(&mut self.log));
        }
        out
    }
}

#[test]
fn a_group_starts_in_order_and_moves_stop_first_across_nodes() {
    let mut toy = Toy::new();
    assert_eq!(
        toy.settle(),
        vec!["start vip node1", "start fs node1", "start httpd node1"]
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
    assert_eq!(
        toy.settle(),
        vec![
            "stop httpd node1",
            "stop fs node1",
            "stop vip node1",
            "start vip node2",
            "start fs node2",
            "start httpd node2"
        ]
    );
    // back online: stickiness keeps it on node2; a move sends it home
    toy.admin
        .command(
            1,
            &Command::Standby {
                node: "node1".into(),
                on: false,
            },
        )
        .expect("online");
    assert!(toy.settle().is_empty());
    toy.admin
        .command(
            1,
            &Command::Move {
                resource: "web".into(),
                node: "node1".into(),
            },
        )
        .expect("move");
    assert_eq!(toy.settle().len(), 6);
    assert!(toy.running["node1"].len() == 3 && toy.running["node2"].is_empty());
}

fn single(
    plan: &Plan,
    config: &Config,
    local: Local,
    elsewhere: &[(&str, &str)],
    grants: Option<&[Grant]>,
) -> (Vec<Step>, Vec<Held>) {
    single_in(plan, config, local, elsewhere, grants, None)
}

fn single_in(
    plan: &Plan,
    config: &Config,
    local: Local,
    elsewhere: &[(&str, &str)],
    grants: Option<&[Grant]>,
    unsettled: Option<&str>,
) -> (Vec<Step>, Vec<Held>) {
    let ids = Toy::ids();
    let members: BTreeSet<NodeId> = [1, 2].into();
    let local: BTreeMap<String, Instance> =
        [("vip".to_string(), Instance::new("vip", local))].into();
    let promoted_elsewhere = BTreeMap::new();
    let elsewhere: BTreeMap<String, String> = elsewhere
        .iter()
        .map(|(p, n)| (p.to_string(), n.to_string()))
        .collect();
    next_steps(&Inputs {
        plan,
        config,
        me: "node2",
        ids: &ids,
        members: &members,
        grants,
        local: &local,
        reported_elsewhere: &elsewhere,
        promoted_elsewhere: &promoted_elsewhere,
        unsettled,
    })
}

#[test]
fn starts_wait_for_other_reports_and_the_coordinators_grant() {
    let config = Config::from_toml_str(
        r#"primitive = [{ name = "vip", agent = "ocf:heartbeat:Dummy" }]
location = [{ id = "p", resource = "vip", node = "node2", score = 10 }]"#,
    )
    .expect("config");
    let facts = |n: &str| NodeFacts {
        name: n.into(),
        membership: Membership::Online,
        running: Vec::new(),
        failcounts: Vec::new(),
        attributes: BTreeMap::new(),
    };
    let state = cluster_state(
        &config,
        &AdminTable::default(),
        &[facts("node1"), facts("node2")],
        Moment(0),
    );
    let plan = schedule(&state, &config, Moment(0));
    let ids = Toy::ids();
    let granted = grants(&plan, &ids);
    assert_eq!(granted.len(), 1);
    let (steps, held) = single(&plan, &config, Local::Stopped, &[], Some(&granted));
    assert_eq!(steps.len(), 1, "{held:?}");
    let (steps, held) = single(&plan, &config, Local::Stopped, &[], Some(&[]));
    assert!(steps.is_empty());
    assert!(held[0].why.contains("coordinator"), "{held:?}");
    let (steps, held) = single(&plan, &config, Local::Stopped, &[("vip", "node1")], None);
    assert!(steps.is_empty());
    assert!(held[0].why.contains("node1 reports vip"), "{held:?}");
    let (steps, held) = single(&plan, &config, Local::Busy, &[], None);
    assert!(steps.is_empty() && held.is_empty());
}

#[test]
fn fences_are_requested_by_the_lowest_other_member() {
    assert_eq!(fence_executor(&[1, 2, 3].into(), 1), Some(2));
    assert_eq!(fence_executor(&[1, 2, 3].into(), 3), Some(1));
    assert_eq!(fence_executor(&[2].into(), 2), None);
}

#[test]
fn an_unsettled_view_holds_starts_and_fences_but_not_stops() {
    let unsettled = Some("view [node1 node2] not agreed: node1 sees [node1]");
    let facts = |n: &str, vip: Option<RunStatus>| NodeFacts {
        name: n.into(),
        membership: Membership::Online,
        running: vip
            .map(|status| Running {
                name: "vip".into(),
                role: Role::Started,
                status,
            })
            .into_iter()
            .collect(),
        failcounts: Vec::new(),
        attributes: BTreeMap::new(),
    };
    let plan_of = |config: &Config, facts: &[NodeFacts]| {
        let state = cluster_state(config, &AdminTable::default(), facts, Moment(0));
        schedule(&state, config, Moment(0))
    };
    // a start placed here
    let config = Config::from_toml_str(
        r#"primitive = [{ name = "vip", agent = "ocf:heartbeat:Dummy" }]
location = [{ id = "p", resource = "vip", node = "node2", score = 10 }]"#,
    )
    .expect("config");
    let plan = plan_of(&config, &[facts("node1", None), facts("node2", None)]);
    let (steps, held) = single_in(&plan, &config, Local::Stopped, &[], None, unsettled);
    assert!(steps.is_empty(), "{steps:?}");
    assert!(held[0].why.contains("not agreed"), "{held:?}");
    let (steps, _) = single_in(&plan, &config, Local::Stopped, &[], None, None);
    assert!(matches!(&steps[..], [Step::Start { .. }]), "{steps:?}");
    // a stop here (it moves away) goes on
    let config = Config::from_toml_str(
        r#"primitive = [{ name = "vip", agent = "ocf:heartbeat:Dummy" }]
location = [{ id = "p", resource = "vip", node = "node2", score = "-INFINITY" }]"#,
    )
    .expect("config");
    let plan = plan_of(
        &config,
        &[
            facts("node1", None),
            facts("node2", Some(RunStatus::Running)),
        ],
    );
    let (steps, _) = single_in(&plan, &config, Local::Running, &[], None, unsettled);
    assert!(matches!(&steps[..], [Step::Stop { .. }]), "{steps:?}");
    // a fence the plan asks this node for (a stop failed on node1) waits
    let plan = plan_of(
        &config,
        &[
            facts("node1", Some(RunStatus::StopFailed)),
            facts("node2", None),
        ],
    );
    let (steps, held) = single_in(
        &plan,
        &config,
        Local::Stopped,
        &[("vip", "node1")],
        None,
        unsettled,
    );
    assert!(steps.is_empty(), "{steps:?}");
    assert!(
        held.iter().any(|h| h.action.contains("fence")),
        "{held:?} in {plan:?}"
    );
    let (steps, _) = single_in(
        &plan,
        &config,
        Local::Stopped,
        &[("vip", "node1")],
        None,
        None,
    );
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Fence { node, .. } if node == "node1")),
        "{steps:?}"
    );
}

#[test]
fn an_order_across_nodes_waits_for_the_first_nodes_report() {
    let mut toy = Toy::with(
        r#"primitive = [
  { name = "db", agent = "ocf:heartbeat:Dummy" },
  { name = "web", agent = "ocf:heartbeat:Dummy" },
]
location = [
  { id = "db-on-node1", resource = "db", node = "node1", score = "INFINITY" },
  { id = "web-on-node2", resource = "web", node = "node2", score = "INFINITY" },
]
order = [{ id = "db-then-web", first = "db", then = "web" }]"#,
    );
    // node2's start of web is not ready in the round where node1 starts db: it waits
    // until db is reported running.
    assert_eq!(
        toy.rounds(),
        vec![
            vec!["start db node1".to_string()],
            vec!["start web node2".to_string()]
        ]
    );
    // stopping db (target-role) stops web first, then db, in two rounds
    toy.admin
        .command(
            1,
            &Command::TargetRole {
                resource: "db".into(),
                stopped: true,
            },
        )
        .expect("stop");
    assert_eq!(
        toy.rounds(),
        vec![
            vec!["stop web node2".to_string()],
            vec!["stop db node1".to_string()]
        ]
    );
}

mod promotable;
