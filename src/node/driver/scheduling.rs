//! Where resources run: the driver's link to the scheduler. Part of [`super`]; the
//! decisions are [`crate::placement::schedule`]'s and [`crate::node::transition`]'s.
//!
//! The inputs: the configuration with the admin's records ([`AdminTable`], merged from
//! every report and kept in the state file), the membership as the node machine sees it
//! (the authority on fencing: a node not confirmed fenced is never treated as clean), what every node reports running with role, status and failcounts
//! (a peer's last report is kept while it is unclean), and this node's own resources.
//! After every change the plan is computed again; this node carries out its own ready
//! actions and tells its peers at once. A lost node that is not yet fenced counts as
//! never seen: it may have started something whose report was lost, so no stopped
//! primitive starts anywhere until it is fenced. Whether to plan at all without quorum
//! is the machine's [`crate::node::machine::Gate`] (no-quorum-policy).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::Runner;
use crate::cluster::quorum::NodeId;
use crate::fencer::duration::Moment;
use crate::node::admin::{AdminTable, CleanupRequest};
use crate::node::cluster_state::{cluster_state, effective_config, unit_of, NodeFacts};
use crate::node::events::Event;
use crate::node::machine::{Gate, Input, NodeStatus, Order};
use crate::node::operations::primitive_of_instance;
use crate::node::report::{Failcount, Grant, Report};
use crate::node::status::FenceLine;
use crate::node::transition::{self, Held, Step};
use crate::placement::config::Config;
use crate::placement::state::Membership;
use crate::placement::{schedule, ActionKind, Plan};

/// How many fences `palisade status` remembers.
const FENCE_LOG: usize = 10;

/// The scheduling state of the driver.
pub(super) struct Scheduling {
    /// The admin records (replicated).
    pub(super) admin: AdminTable,
    /// Where they are kept.
    pub(super) admin_file: PathBuf,
    /// The last report of every peer (kept while the peer is unclean).
    pub(super) reports: BTreeMap<NodeId, Report>,
    /// Nodes that have been members of an applied view.
    pub(super) ever_member: BTreeSet<NodeId>,
    /// The configuration the last plan was computed with (admin records applied).
    pub(super) config: Config,
    /// The last plan (None: not scheduling: no view, no quorum, probes running).
    pub(super) plan: Option<Plan>,
    /// The starts this node's plan expects (what it grants as coordinator).
    pub(super) grants: Vec<Grant>,
    /// Ready actions held back by a guard.
    pub(super) held: Vec<Held>,
    /// The last decision logged per resource.
    pub(super) decisions: BTreeMap<String, String>,
    /// Recent fencing, for `palisade status`.
    pub(super) fence_log: VecDeque<FenceLine>,
    /// An input changed: plan again.
    pub(super) dirty: bool,
    /// Something peers should know now: send a report at once.
    pub(super) send_now: bool,
}

/// The admin state file of node `node` of cluster `cluster` in `dir`.
pub(super) fn admin_file(dir: &Path, cluster: u32, node: &str) -> PathBuf {
    dir.join(format!("cluster-{cluster}-{node}.admin.json"))
}

/// Unix time in milliseconds.
pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Scheduling {
    /// Fresh state; the admin records are read from `admin_file` (a warning if it cannot
    /// be read: the node then starts with what its peers tell it).
    pub(super) fn new(config: &Config, admin_file: PathBuf) -> (Scheduling, Option<String>) {
        let (admin, warning) = match std::fs::read_to_string(&admin_file) {
            Ok(text) => match AdminTable::from_json(&text) {
                Ok(t) => (t, None),
                Err(e) => (
                    AdminTable::default(),
                    Some(format!(
                        "{}: {e}; starting without it",
                        admin_file.display()
                    )),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (AdminTable::default(), None),
            Err(e) => (
                AdminTable::default(),
                Some(format!("cannot read {}: {e}", admin_file.display())),
            ),
        };
        let s = Scheduling {
            admin,
            admin_file,
            reports: BTreeMap::new(),
            ever_member: BTreeSet::new(),
            config: config.clone(),
            plan: None,
            grants: Vec::new(),
            held: Vec::new(),
            decisions: BTreeMap::new(),
            fence_log: VecDeque::new(),
            dirty: true,
            send_now: false,
        };
        (s, warning)
    }

    /// Remember a fence for `palisade status`.
    pub(super) fn log_fence(&mut self, node: String, ok: bool, detail: String) {
        if self.fence_log.len() == FENCE_LOG {
            self.fence_log.pop_front();
        }
        self.fence_log.push_back(FenceLine {
            node,
            at_ms: unix_ms(),
            ok,
            detail,
        });
    }
}

impl Runner {
    /// This node's failcounts as its report lists them.
    pub(super) fn local_failcounts(&self, now: Instant) -> Vec<Failcount> {
        self.machine
            .instances()
            .failcounts()
            .iter()
            .map(|(resource, (count, last))| Failcount {
                resource: resource.clone(),
                count: *count,
                age_ms: u64::try_from(now.saturating_duration_since(*last).as_millis())
                    .unwrap_or(u64::MAX),
            })
            .collect()
    }

    /// The coordinator of the applied view (its lowest node id).
    pub(super) fn coordinator(&self) -> Option<NodeId> {
        self.machine.coordinator()
    }

    /// How the scheduler sees node `id`.
    pub(super) fn membership_of(&self, id: NodeId) -> Membership {
        if id == self.cfg.me {
            return Membership::Online;
        }
        match self.machine.status(id) {
            Some(NodeStatus::Member) => Membership::Online,
            // Not confirmed fenced: whatever it may have started counts (see above).
            Some(NodeStatus::Unclean) => Membership::Unseen,
            Some(NodeStatus::Clean) | None => Membership::Offline,
        }
    }

    /// Every node's contribution to the cluster state.
    pub(super) fn facts(&self, now: Instant) -> Vec<NodeFacts> {
        self.cfg
            .nodes
            .iter()
            .map(|n| {
                let membership = self.membership_of(n.id);
                let (running, failcounts, transient) = if n.id == self.cfg.me {
                    (
                        self.local_running(),
                        self.local_failcounts(now),
                        self.local_attributes(),
                    )
                } else if membership == Membership::Offline {
                    (Vec::new(), Vec::new(), Vec::new())
                } else {
                    self.sched
                        .reports
                        .get(&n.id)
                        .map(|r| {
                            (
                                r.running.clone(),
                                r.failcounts.clone(),
                                r.attributes.clone(),
                            )
                        })
                        .unwrap_or_default()
                };
                let mut attributes = n.attributes.clone();
                attributes.extend(transient);
                NodeFacts {
                    name: n.name.clone(),
                    membership,
                    running,
                    failcounts,
                    attributes,
                }
            })
            .collect()
    }

    /// A peer's authenticated, current report.
    pub(super) fn peer_report(&mut self, report: Report) {
        let changed = self
            .sched
            .reports
            .get(&report.from)
            .is_none_or(|old| !old.same_content(&report));
        let (admin_changed, cleanups) = self.sched.admin.merge(&report.admin);
        if admin_changed {
            self.emit(Event::AdminMerged {
                peer: self.name(report.from),
            });
            self.save_admin();
        }
        for c in cleanups {
            self.cleanup_local(&c);
        }
        if changed || admin_changed {
            self.sched.dirty = true;
        }
        self.sched.reports.insert(report.from, report);
    }

    /// Carry out a cleanup if it concerns this node: forget its failures of the resource
    /// (every member of a group, the child of a clone) and try a failed stop again.
    pub(super) fn cleanup_local(&mut self, req: &CleanupRequest) {
        let me = self.name(self.cfg.me);
        if req.node.as_ref().is_some_and(|n| *n != me) {
            return;
        }
        let config = &self.cfg.placement;
        let primitives: Vec<String> = if let Some(g) = config.group(&req.resource) {
            g.members.clone()
        } else if let Some(c) = config.clone_named(&req.resource) {
            vec![c.child.clone()]
        } else {
            vec![req.resource.clone()]
        };
        // A stop that failed here (fencing disabled keeps it blocked) is tried again.
        let primitives = primitives
            .into_iter()
            .map(|p| {
                let instances = self.instances_named(&p);
                (p, instances)
            })
            .collect();
        self.feed(Input::Cleanup(primitives), Instant::now());
    }

    /// Write the admin records to the state file (atomically).
    pub(super) fn save_admin(&mut self) {
        let path = self.sched.admin_file.clone();
        let text = self.sched.admin.to_json();
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, text.as_bytes())?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            self.emit(Event::AdminStateUnwritable {
                path: path.display().to_string(),
                error: e.to_string(),
            });
        }
    }

    /// The migration-threshold of a primitive (0: never moves).
    pub(super) fn threshold(&self, primitive: &str) -> u32 {
        let unit = unit_of(&self.cfg.placement, primitive);
        self.sched.config.effective_meta(&unit).migration_threshold
    }

    /// Forget failures older than their failure-timeout.
    pub(super) fn expire_failures(&mut self, now: Instant) {
        let config = &self.sched.config;
        let placement = &self.cfg.placement;
        let timeouts = self
            .machine
            .instances()
            .failcounts()
            .keys()
            .map(|p| {
                let timeout = config
                    .effective_meta(&unit_of(placement, p))
                    .failure_timeout;
                (p.clone(), timeout)
            })
            .collect();
        self.feed(Input::ExpireFailures(timeouts), now);
    }

    /// Tell the machine what runs where (its fence-race weights).
    fn feed_running(&mut self, facts: &[NodeFacts], now: Instant) {
        let ids: BTreeMap<&str, NodeId> = self
            .cfg
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.id))
            .collect();
        // The machine knows primitives (instances of one count once per node).
        let placement = &self.cfg.placement;
        let current: BTreeSet<(String, NodeId)> = facts
            .iter()
            .filter_map(|f| ids.get(f.name.as_str()).map(|id| (f, *id)))
            .flat_map(|(f, id)| {
                f.running.iter().map(move |r| {
                    let primitive = primitive_of_instance(placement, &r.name).unwrap_or(&r.name);
                    (primitive.to_string(), id)
                })
            })
            .collect();
        self.feed(Input::Running(current), now);
    }

    /// Whether every local resource was probed (and cleaned up).
    pub(super) fn probed(&self) -> bool {
        self.machine.instances().probed()
    }

    /// Compute the plan again and carry out this node's ready actions.
    pub(super) fn replan(&mut self, now: Instant) {
        self.sched.dirty = false;
        let facts = self.facts(now);
        self.feed_running(&facts, now);
        if self.machine.applied_view().is_none() || !self.probed() {
            return;
        }
        let maintenance = self.maintenance_here();
        self.feed(Input::Maintenance(maintenance), now);
        if !self.probed() {
            return;
        }
        // no-quorum-policy (in maintenance nothing here is stopped for lack of quorum).
        match self.machine.gate(self.maintenance_here()) {
            Gate::Plan => {}
            Gate::StopAll => {
                self.sched.plan = None;
                self.feed(
                    Input::StopAll {
                        reason: "no quorum".into(),
                    },
                    now,
                );
                return;
            }
            Gate::Hold => {
                self.sched.plan = None;
                return;
            }
        }
        let names: Vec<String> = self.cfg.nodes.iter().map(|n| n.name.clone()).collect();
        let config = effective_config(&self.cfg.placement, &self.sched.admin, &names);
        let state = cluster_state(&config, &self.sched.admin, &facts, Moment(unix_ms()));
        let plan = schedule(&state, &config, Moment(unix_ms()));
        for e in &plan.explanations {
            if self.sched.decisions.get(&e.resource) != Some(&e.decision) {
                let target = plan
                    .actions
                    .iter()
                    .find(|a| {
                        a.kind == ActionKind::Start && a.resource.as_ref() == Some(&e.resource)
                    })
                    .map(|a| a.node.to_string());
                self.emit(Event::Placement {
                    resource: e.resource.clone(),
                    target,
                    decision: e.decision.clone(),
                });
                self.sched
                    .decisions
                    .insert(e.resource.clone(), e.decision.clone());
            }
        }
        let ids: BTreeMap<String, NodeId> = self
            .cfg
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.id))
            .collect();
        let grants = self.confirm_grants(transition::grants(&plan, &ids), &ids);
        if self.coordinator() == Some(self.cfg.me) && grants != self.sched.grants {
            self.sched.send_now = true;
        }
        self.sched.grants = grants;
        self.sched.config = config;
        self.execute_plan(&plan, &ids, now);
        self.sched.plan = Some(plan);
    }

    fn execute_plan(&mut self, plan: &Plan, ids: &BTreeMap<String, NodeId>, now: Instant) {
        let members = self.machine.applied_view().cloned().unwrap_or_default();
        let local = self.transition_local();
        let (elsewhere, promoted_elsewhere) = self.reported_elsewhere();
        let coordinator = self.coordinator();
        let grants: Option<&[Grant]> = match coordinator {
            Some(c) if c == self.cfg.me => None,
            Some(c) => Some(
                self.sched
                    .reports
                    .get(&c)
                    .map(|r| r.grants.as_slice())
                    .unwrap_or(&[]),
            ),
            None => Some(&[]),
        };
        let me = self.name(self.cfg.me);
        let unsettled = self.machine.unsettled_view();
        let (steps, held) = transition::next_steps(&transition::Inputs {
            plan,
            config: &self.sched.config,
            me: &me,
            ids,
            members: &members,
            grants,
            local: &local,
            reported_elsewhere: &elsewhere,
            promoted_elsewhere: &promoted_elsewhere,
            unsettled: unsettled.as_deref(),
        });
        for h in &held {
            if !self.sched.held.contains(h) {
                self.emit(Event::Waiting {
                    action: h.action.clone(),
                    why: h.why.clone(),
                });
            }
        }
        self.sched.held = held;
        let mut intents = BTreeSet::new();
        for step in steps {
            match step {
                Step::Intend { instance, reason } => {
                    intents.insert(instance.clone());
                    self.feed(Input::Intend { instance, reason }, now);
                }
                Step::Start { instance, reason } => {
                    self.order_local(&instance, Order::Start, &reason)
                }
                Step::Stop { instance, reason } => {
                    self.order_local(&instance, Order::Stop, &reason)
                }
                Step::Promote { instance, reason } => {
                    self.order_local(&instance, Order::Promote, &reason);
                    intents.insert(instance);
                }
                Step::Demote { instance, reason } => {
                    self.order_local(&instance, Order::Demote, &reason)
                }
                Step::Fence { node, reason } => self.plan_fence(&node, &reason, ids, now),
            }
        }
        self.feed(Input::SettleIntents(intents), now);
    }

    /// A fence the plan asks for (a stop failed on `node`): the machine decides whether
    /// it is due (not pending, or failed longer than fence-retry ago).
    fn plan_fence(
        &mut self,
        node: &str,
        reason: &str,
        ids: &BTreeMap<String, NodeId>,
        now: Instant,
    ) {
        if let Some(id) = ids.get(node).copied() {
            let reason = reason.to_string();
            self.feed(Input::PlanFence { node: id, reason }, now);
        }
    }
}
