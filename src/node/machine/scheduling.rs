//! The hand-off to the scheduler, pure: what the machine keeps as the scheduler's
//! inputs and what it does with the plan. The decisions themselves are
//! [`crate::placement::schedule`]'s (where resources run) and
//! [`crate::node::transition`]'s (this node's ready steps of the plan).
//!
//! The inputs: the configuration with the admin's records ([`AdminTable`], merged from
//! every report; saving it is an [`Action::SaveAdmin`]), the membership as the machine
//! sees it (the authority on fencing: a node not confirmed fenced is never treated as
//! clean), what every node reports running with role, status and failcounts (a peer's
//! last report is kept while it is unclean), and this node's own instances. After every
//! change the plan is computed again ([`Input::Plan`], with the wall clock the admin
//! records and failcount ages are read against); this node's ready steps go to its
//! instances' guards, the coordinator's grants go into its report. A lost node that is
//! not yet fenced counts as never seen: it may have started something whose report was
//! lost, so no stopped primitive starts anywhere until it is fenced. Whether to plan at
//! all without quorum is [`super::no_quorum`]'s gate.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{Action, FailureRules, Gate, Local, NodeMachine, NodeStatus, Order};
use crate::cluster::quorum::NodeId;
use crate::fencer::duration::Moment;
use crate::node::admin::{AdminTable, CleanupRequest, Command};
use crate::node::cluster_state::{cluster_state, effective_config, unit_of, NodeFacts};
use crate::node::events::Event;
use crate::node::operations::primitive_of_instance;
use crate::node::report::{Failcount, Grant, Report, RunStatus, Running};
use crate::node::transition::{self, Held, Step};
use crate::placement::config::{Config, Role};
use crate::placement::state::Membership;
use crate::placement::{schedule, ActionKind, Plan, Score};

/// What the machine keeps for the scheduler.
#[derive(Debug)]
pub struct Scheduler {
    /// The admin records (replicated).
    admin: AdminTable,
    /// The last report of every peer (kept while the peer is unclean).
    reports: BTreeMap<NodeId, Report>,
    /// Nodes that have been members of an applied view.
    ever_member: BTreeSet<NodeId>,
    /// The configuration the last plan was computed with (admin records applied).
    config: Config,
    /// The last plan (None: not scheduling: no view, no quorum, probes running).
    plan: Option<Plan>,
    /// The starts this node's plan expects (what it grants as coordinator).
    grants: Vec<Grant>,
    /// Ready actions held back by a guard.
    held: Vec<Held>,
    /// The last decision logged per resource.
    decisions: BTreeMap<String, String>,
    /// An input of the plan changed: plan again.
    dirty: bool,
}

impl Scheduler {
    /// Fresh state with the admin records read at start.
    pub(super) fn new(config: &Config, admin: AdminTable) -> Scheduler {
        Scheduler {
            admin,
            reports: BTreeMap::new(),
            ever_member: BTreeSet::new(),
            config: config.clone(),
            plan: None,
            grants: Vec::new(),
            held: Vec::new(),
            decisions: BTreeMap::new(),
            dirty: true,
        }
    }

    /// The admin records.
    pub fn admin(&self) -> &AdminTable {
        &self.admin
    }

    /// The configuration the last plan was computed with (admin records applied).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The last plan (None: not scheduling).
    pub fn plan(&self) -> Option<&Plan> {
        self.plan.as_ref()
    }

    /// Ready actions held back by a guard.
    pub fn held(&self) -> &[Held] {
        &self.held
    }

    /// The starts and promotions this node's plan expects (its grants as coordinator).
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// Whether `node` has been a member of an applied view.
    pub fn ever_member(&self, node: NodeId) -> bool {
        self.ever_member.contains(&node)
    }
}

/// A local status as a report status (None: not on this node).
fn run_status(state: Local) -> Option<RunStatus> {
    match state {
        Local::Probing | Local::Cleaning | Local::Stopped => None,
        Local::Starting => Some(RunStatus::Starting),
        Local::Running | Local::Demoting => Some(RunStatus::Running),
        Local::PromotePending | Local::Promoting => Some(RunStatus::Promoting),
        Local::Stopping => Some(RunStatus::Stopping),
        Local::Failed => Some(RunStatus::Failed),
        Local::StopFailed => Some(RunStatus::StopFailed),
    }
}

impl NodeMachine {
    // ---- what this node's report says ----

    /// This node's resource instances as its report lists them.
    pub fn local_running(&self) -> Vec<Running> {
        self.instances
            .states()
            .iter()
            .filter_map(|(name, state)| {
                run_status(*state).map(|status| Running {
                    name: name.clone(),
                    role: self.local_role(name),
                    status,
                })
            })
            .collect()
    }

    /// This node's failcounts as its report lists them, aged at `now`.
    pub fn local_failcounts(&self, now: Instant) -> Vec<Failcount> {
        self.instances
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

    /// The role a local instance is reported in: promoted while it is (or may be), and
    /// while it is being demoted; not while it is being promoted.
    fn local_role(&self, instance: &str) -> Role {
        let local = &self.instances;
        let promoted = local.promoted(instance) && local.state(instance) != Some(Local::Promoting);
        if promoted || local.state(instance) == Some(Local::Demoting) {
            Role::Promoted
        } else {
            Role::Started
        }
    }

    /// This node's transient attributes: `master-CHILD`, the best promotion score of its
    /// instances (pacemaker keeps one per node for an anonymous clone).
    pub fn local_attributes(&self) -> Vec<(String, String)> {
        let mut best: BTreeMap<String, (Score, String)> = BTreeMap::new();
        for (instance, value) in self.instances.scores() {
            let Ok(score) = Score::parse(value) else {
                continue;
            };
            let name = format!("master-{}", self.primitive_of(instance));
            if best.get(&name).is_none_or(|(s, _)| score > *s) {
                best.insert(name, (score, value.clone()));
            }
        }
        best.into_iter().map(|(k, (_, v))| (k, v)).collect()
    }

    /// The grants this node's report carries (only the coordinator's count).
    pub fn report_grants(&self) -> Vec<Grant> {
        if self.coordinator() == Some(self.s.me) {
            self.sched.grants.clone()
        } else {
            Vec::new()
        }
    }

    // ---- what the driver reads ----

    /// The scheduler's inputs and its last plan.
    pub fn scheduler(&self) -> &Scheduler {
        &self.sched
    }

    /// An input of the plan changed since the last [`super::Input::Plan`].
    pub fn plan_due(&self) -> bool {
        self.sched.dirty
    }

    /// The primitive of an instance name (a local one or a peer's; else the name).
    pub fn primitive_of(&self, instance: &str) -> String {
        primitive_of_instance(&self.s.placement, instance)
            .unwrap_or(instance)
            .to_string()
    }

    /// The migration-threshold of a primitive (0: never moves).
    pub fn threshold(&self, primitive: &str) -> u32 {
        let unit = unit_of(&self.s.placement, primitive);
        self.sched.config.effective_meta(&unit).migration_threshold
    }

    /// The failure rules of the primitive of local `instance` (from the configuration
    /// the last plan was computed with): what [`super::Input::Resource`] carries.
    pub fn failure_rules(&self, instance: &str) -> (String, FailureRules) {
        let primitive = self.primitive_of(instance);
        let rules = FailureRules {
            threshold: self.threshold(&primitive),
            start_failure_is_fatal: self.sched.config.options.start_failure_is_fatal,
            promotable: self
                .s
                .placement
                .clone_of(&primitive)
                .is_some_and(|c| c.promotable),
        };
        (primitive, rules)
    }

    /// The failure-timeout of every primitive with failures here (what
    /// [`super::Input::ExpireFailures`] carries).
    pub fn failure_timeouts(&self) -> BTreeMap<String, Duration> {
        self.instances
            .failcounts()
            .keys()
            .map(|p| {
                let timeout = self
                    .sched
                    .config
                    .effective_meta(&unit_of(&self.s.placement, p))
                    .failure_timeout;
                (p.clone(), timeout)
            })
            .collect()
    }

    /// How the scheduler sees node `id`.
    fn membership_of(&self, id: NodeId) -> Membership {
        if id == self.s.me {
            return Membership::Online;
        }
        match self.status(id) {
            // A member that announced its clean leave runs nothing and will start
            // nothing: nothing is placed there.
            Some(NodeStatus::Member) if self.left_cleanly().contains(&id) => Membership::Offline,
            Some(NodeStatus::Member) => Membership::Online,
            // Not confirmed fenced: whatever it may have started counts (see above).
            Some(NodeStatus::Unclean) => Membership::Unseen,
            Some(NodeStatus::Clean) | None => Membership::Offline,
        }
    }

    /// Every node's contribution to the cluster state at `now`.
    pub fn facts(&self, now: Instant) -> Vec<NodeFacts> {
        self.s
            .nodes
            .iter()
            .map(|n| {
                let membership = self.membership_of(n.id);
                let (running, failcounts, transient) = if n.id == self.s.me {
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

    /// Whether this node's resources are in maintenance (its own, or the cluster's).
    pub fn maintenance_here(&self) -> bool {
        let me = self.name(self.s.me);
        self.s.placement.options.maintenance_mode
            || self.sched.admin.maintenance_mode()
            || self.sched.admin.maintenance(&me)
    }

    // ---- inputs ----

    /// A view was applied: its members have been members.
    pub(super) fn view_members_seen(&mut self) {
        if let Some(view) = &self.view {
            self.sched.ever_member.extend(view.iter().copied());
        }
    }

    /// Something the plan reads changed.
    pub(super) fn plan_again(&mut self) {
        self.sched.dirty = true;
    }

    /// A peer's authenticated, current report: kept, its admin records merged (and
    /// saved), the cleanups they carry for this node carried out.
    pub(super) fn peer_report(&mut self, report: Report, out: &mut Vec<Action>) {
        let changed = self
            .sched
            .reports
            .get(&report.from)
            .is_none_or(|old| !old.same_content(&report));
        let (admin_changed, cleanups) = self.sched.admin.merge(&report.admin);
        if admin_changed {
            out.push(Action::Emit(Event::AdminMerged {
                peer: self.name(report.from),
            }));
            out.push(Action::SaveAdmin(self.sched.admin.to_json()));
        }
        for c in cleanups {
            self.cleanup_local(&c, out);
        }
        if changed || admin_changed {
            self.sched.dirty = true;
        }
        self.sched.reports.insert(report.from, report);
    }

    /// An admin command of this node's control socket, its names checked; `said` is its
    /// timeline line. None: nothing to change; else what the driver carries out.
    pub fn admin_command(
        &mut self,
        command: &Command,
        said: String,
        now: Instant,
    ) -> Result<Option<Vec<Action>>, String> {
        let (records, cleanup) = self
            .sched
            .admin
            .command(self.s.me, command)
            .map_err(|e| e.to_string())?;
        if records.is_empty() {
            return Ok(None);
        }
        let mut out = vec![
            Action::Emit(Event::Admin { said }),
            Action::SaveAdmin(self.sched.admin.to_json()),
        ];
        if let Some(c) = cleanup {
            self.cleanup_local(&c, &mut out);
        }
        self.sched.dirty = true;
        out.push(Action::SendNow);
        let timeouts = self.failure_timeouts();
        self.expire_failures(&timeouts, now, &mut out);
        self.mark(&out);
        Ok(Some(out))
    }

    /// Carry out a cleanup if it concerns this node: forget its failures of the resource
    /// (every member of a group, the child of a clone) and try a failed stop again.
    fn cleanup_local(&mut self, req: &CleanupRequest, out: &mut Vec<Action>) {
        let me = self.name(self.s.me);
        if req.node.as_ref().is_some_and(|n| *n != me) {
            return;
        }
        let config = &self.s.placement;
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
        self.cleanup(primitives, out);
    }

    /// The local instances `name` stands for: itself, or every instance of a primitive.
    fn instances_named(&self, name: &str) -> Vec<String> {
        let states = self.instances.states();
        if states.contains_key(name) {
            return vec![name.to_string()];
        }
        states
            .keys()
            .filter(|i| primitive_of_instance(&self.s.placement, i) == Some(name))
            .cloned()
            .collect()
    }

    // ---- the plan ----

    /// Tell fencing what runs where (its fence-race weights).
    fn feed_running(&mut self, facts: &[NodeFacts]) {
        let ids: BTreeMap<&str, NodeId> = self
            .s
            .nodes
            .iter()
            .map(|n| (n.name.as_str(), n.id))
            .collect();
        // Fencing knows primitives (instances of one count once per node).
        let placement = &self.s.placement;
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
        self.fencing.running(current);
    }

    /// Compute the plan again at `now` (`wall`: the wall clock) and hand this node's
    /// ready steps to its instances.
    pub(super) fn replan(&mut self, now: Instant, wall: Moment, out: &mut Vec<Action>) {
        self.sched.dirty = false;
        let facts = self.facts(now);
        self.feed_running(&facts);
        if self.view.is_none() || !self.instances.probed() {
            return;
        }
        let maintenance = self.maintenance_here();
        self.maintenance(maintenance, out);
        if !self.instances.probed() {
            return;
        }
        // no-quorum-policy (in maintenance nothing here is stopped for lack of quorum).
        match self.gate(self.maintenance_here()) {
            Gate::Plan => {}
            Gate::StopAll => {
                self.sched.plan = None;
                self.stop_all("no quorum", out);
                return;
            }
            Gate::Hold => {
                self.sched.plan = None;
                return;
            }
        }
        let names: Vec<String> = self.s.nodes.iter().map(|n| n.name.clone()).collect();
        let config = effective_config(&self.s.placement, &self.sched.admin, &names);
        let state = cluster_state(&config, &self.sched.admin, &facts, wall);
        let plan = schedule(&state, &config, wall);
        for e in &plan.explanations {
            if self.sched.decisions.get(&e.resource) != Some(&e.decision) {
                let target = plan
                    .actions
                    .iter()
                    .find(|a| {
                        a.kind == ActionKind::Start && a.resource.as_ref() == Some(&e.resource)
                    })
                    .map(|a| a.node.to_string());
                out.push(Action::Emit(Event::Placement {
                    resource: e.resource.clone(),
                    target,
                    decision: e.decision.clone(),
                }));
                self.sched
                    .decisions
                    .insert(e.resource.clone(), e.decision.clone());
            }
        }
        let ids: BTreeMap<String, NodeId> = self
            .s
            .nodes
            .iter()
            .map(|n| (n.name.clone(), n.id))
            .collect();
        let grants = self.confirm_grants(transition::grants(&plan, &ids), &ids);
        if self.coordinator() == Some(self.s.me) && grants != self.sched.grants {
            out.push(Action::SendNow);
        }
        self.sched.grants = grants;
        self.sched.config = config;
        self.execute_plan(&plan, &ids, now, out);
        self.sched.plan = Some(plan);
    }

    fn execute_plan(
        &mut self,
        plan: &Plan,
        ids: &BTreeMap<String, NodeId>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let members = self.view.clone().unwrap_or_default();
        let local = self.transition_local();
        let (elsewhere, promoted_elsewhere) = self.reported_elsewhere();
        let grants: Option<&[Grant]> = match self.coordinator() {
            Some(c) if c == self.s.me => None,
            Some(c) => Some(
                self.sched
                    .reports
                    .get(&c)
                    .map(|r| r.grants.as_slice())
                    .unwrap_or(&[]),
            ),
            None => Some(&[]),
        };
        let me = self.name(self.s.me);
        let unsettled = self.unsettled_view();
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
                out.push(Action::Emit(Event::Waiting {
                    action: h.action.clone(),
                    why: h.why.clone(),
                }));
            }
        }
        self.sched.held = held;
        let mut intents = BTreeSet::new();
        for step in steps {
            match step {
                Step::Intend { instance, reason } => {
                    intents.insert(instance.clone());
                    self.intend(instance, reason, out);
                }
                Step::Start { instance, reason } => self.order(instance, Order::Start, reason, out),
                Step::Stop { instance, reason } => self.order(instance, Order::Stop, reason, out),
                Step::Promote { instance, reason } => {
                    self.order(instance.clone(), Order::Promote, reason, out);
                    intents.insert(instance);
                }
                Step::Demote { instance, reason } => {
                    self.order(instance, Order::Demote, reason, out)
                }
                // A stop failed on `node`: fencing decides whether it is due.
                Step::Fence { node, reason } => {
                    if let Some(id) = ids.get(&node).copied() {
                        self.plan_fence(id, reason, now, out);
                    }
                }
            }
        }
        self.settle_intents(&intents, out);
    }

    /// What the other nodes (not offline) report: primitive -> a node reporting it, and
    /// primitive -> the nodes reporting an instance of it promoted or being promoted (in
    /// any state; a node once per instance).
    fn reported_elsewhere(&self) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
        let mut elsewhere: BTreeMap<String, String> = BTreeMap::new();
        let mut promoted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (node, report) in &self.sched.reports {
            if self.membership_of(*node) == Membership::Offline {
                continue;
            }
            for r in &report.running {
                let primitive = self.primitive_of(&r.name);
                if r.role == Role::Promoted || r.status == RunStatus::Promoting {
                    promoted
                        .entry(primitive.clone())
                        .or_default()
                        .push(self.name(*node));
                }
                elsewhere.insert(primitive, self.name(*node));
            }
        }
        (elsewhere, promoted)
    }

    /// The local instances as [`transition::next_steps`] reads them.
    fn transition_local(&self) -> BTreeMap<String, transition::Instance> {
        let instances = &self.instances;
        instances
            .states()
            .iter()
            .map(|(name, state)| {
                use transition::Local as T;
                let local = match state {
                    Local::Stopped => T::Stopped,
                    Local::Running | Local::Failed | Local::StopFailed => T::Running,
                    Local::Starting => T::Starting,
                    Local::Stopping => T::Stopping,
                    Local::PromotePending => T::PromotePending,
                    Local::Promoting => T::Promoting,
                    Local::Demoting => T::Demoting,
                    Local::Probing | Local::Cleaning => T::Busy,
                };
                let mut i = transition::Instance::new(&self.primitive_of(name), local);
                i.promoted = instances.promoted(name);
                i.failed = matches!(state, Local::Failed | Local::StopFailed);
                i.demote_failed = instances.demote_failed(name);
                (name.clone(), i)
            })
            .collect()
    }

    /// The coordinator's grants with its confirmations of other nodes' promotions
    /// ([`transition::confirm`]).
    fn confirm_grants(&self, mut grants: Vec<Grant>, ids: &BTreeMap<String, NodeId>) -> Vec<Grant> {
        let (_, mut promoted) = self.reported_elsewhere();
        let me = self.name(self.s.me);
        let local = &self.instances;
        for (name, state) in local.states() {
            let busy = matches!(state, Local::Promoting | Local::PromotePending);
            if busy || local.promoted(name) {
                promoted
                    .entry(self.primitive_of(name))
                    .or_default()
                    .push(me.clone());
            }
        }
        let mut intents: BTreeSet<(String, String)> = BTreeSet::new();
        for (node, report) in &self.sched.reports {
            if self.membership_of(*node) == Membership::Offline {
                continue;
            }
            for r in report
                .running
                .iter()
                .filter(|r| r.status == RunStatus::Promoting)
            {
                intents.insert((self.primitive_of(&r.name), self.name(*node)));
            }
        }
        transition::confirm(
            &mut grants,
            &self.sched.config,
            ids,
            self.s.me,
            &promoted,
            &intents,
        );
        grants
    }
}
