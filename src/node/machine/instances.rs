//! This node's resource instances as the machine keeps them: where each stands (as its
//! actor reported it), its role (promoted or not), the promotion score its agent set,
//! its failures (counted per primitive, with migration-threshold, start-failure-is-fatal
//! and failure-timeout), and maintenance (the actors pause their monitors; when it ends
//! every instance is probed again). The plan's orders (start, stop, promote, demote,
//! intend a promotion) pass the guards here: an order that does not fit the instance's
//! state is dropped, one that does changes the state and asks the driver to tell the
//! actor. The rules of failure counting that depend on the configuration
//! ([`FailureRules`]) come in with each report.
//!
//! Every stop, the plan's or stopping everything (no quorum, the node stopping:
//! [`super::Input::StopAll`]), keeps the order pacemaker keeps: an instance stops only once
//! everything that must stop before it
//! ([`stop_first`]: the members after it in its group, what a symmetrical order starts
//! after it) has stopped, so a group stops in reverse order, one member after the other; a
//! stop not finished holds back the stops of what it depends on, and a stop that failed
//! holds them back for good (the node is fenced: its file system is never unmounted
//! under a server still writing).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::{Action, NodeMachine};
use crate::node::events::{millis, Event, LeftStoppedCause, Op};
use crate::node::resources::What;
use crate::placement::config::Config;
use crate::placement::state::FAILCOUNT_INFINITY;

/// Where a local resource instance stands, as the actor reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// The startup probe runs.
    Probing,
    /// The probe found it running (left from before): being stopped before we join.
    Cleaning,
    Stopped,
    Starting,
    Running,
    Stopping,
    /// Running; its promotion is intended (reported as promoting) and waits for the
    /// coordinator's confirmation before the agent runs.
    PromotePending,
    /// Running, being promoted (reported promoting: not promoted for the plan until it
    /// is, promoted for every guard).
    Promoting,
    /// Promoted, being demoted (reported promoted until it is not).
    Demoting,
    /// A start or monitor failed: to be recovered (stopped) as the plan says.
    Failed,
    /// A stop failed: it may still run; the cluster fences this node.
    StopFailed,
}

/// What the driver asks of an instance's actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Start,
    Stop,
    Promote,
    Demote,
}

/// The configuration's rules for one instance's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureRules {
    /// migration-threshold of its primitive (0: never moves).
    pub threshold: u32,
    /// A failed start counts INFINITY.
    pub start_failure_is_fatal: bool,
    /// The instance belongs to a promotable clone.
    pub promotable: bool,
}

/// The local instances.
#[derive(Debug, Clone, Default)]
pub struct Instances {
    states: BTreeMap<String, Local>,
    /// Instances that are (or may be) promoted.
    promoted: BTreeSet<String>,
    /// Promoted instances whose last demote failed.
    demote_failed: BTreeSet<String>,
    /// Failed instances being demoted (still failed once demoted).
    failed_demoting: BTreeSet<String>,
    /// The promotion score each instance's agent set.
    scores: BTreeMap<String, String>,
    /// Failcounts: primitive -> (count, last failure).
    failcounts: BTreeMap<String, (u32, Instant)>,
    /// Whether the actors were told that maintenance applies here.
    maintenance: bool,
}

impl Instances {
    /// Every instance in `names`, probing.
    pub fn new(names: impl IntoIterator<Item = String>) -> Instances {
        Instances {
            states: names.into_iter().map(|n| (n, Local::Probing)).collect(),
            ..Instances::default()
        }
    }

    /// Every instance and its state.
    pub fn states(&self) -> &BTreeMap<String, Local> {
        &self.states
    }

    /// The state of `instance`.
    pub fn state(&self, instance: &str) -> Option<Local> {
        self.states.get(instance).copied()
    }

    /// Whether `instance` is (or may be) promoted.
    pub fn promoted(&self, instance: &str) -> bool {
        self.promoted.contains(instance)
    }

    /// Whether the last demote of `instance` failed.
    pub fn demote_failed(&self, instance: &str) -> bool {
        self.demote_failed.contains(instance)
    }

    /// The promotion scores the agents set.
    pub fn scores(&self) -> &BTreeMap<String, String> {
        &self.scores
    }

    /// This node's failcounts: primitive -> (count, last failure).
    pub fn failcounts(&self) -> &BTreeMap<String, (u32, Instant)> {
        &self.failcounts
    }

    /// Every instance probed (and cleaned up).
    pub fn probed(&self) -> bool {
        !self
            .states
            .values()
            .any(|s| matches!(s, Local::Probing | Local::Cleaning))
    }

    /// Nothing runs here any more.
    pub fn all_stopped(&self) -> bool {
        self.states
            .values()
            .all(|s| matches!(s, Local::Stopped | Local::Probing))
    }

    /// The order's guard: whether `order` fits `state`.
    fn admits(order: Order, state: Option<Local>) -> bool {
        match order {
            Order::Start => state == Some(Local::Stopped),
            Order::Stop => matches!(
                state,
                Some(
                    Local::Starting
                        | Local::Running
                        | Local::PromotePending
                        | Local::Promoting
                        | Local::Demoting
                        | Local::Failed
                        | Local::StopFailed
                )
            ),
            Order::Promote => matches!(state, Some(Local::Running | Local::PromotePending)),
            Order::Demote => matches!(state, Some(Local::Running | Local::Failed)),
        }
    }

    /// One more failure of `primitive`: the new count, and the event when it stays
    /// stopped here (migration-threshold hit, or a fatal start failure).
    fn count_failure(
        &mut self,
        primitive: &str,
        start: bool,
        rules: FailureRules,
        now: Instant,
    ) -> (u32, Option<Event>) {
        let entry = self
            .failcounts
            .entry(primitive.to_string())
            .or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let threshold = rules.threshold;
        if start && rules.start_failure_is_fatal {
            entry.0 = FAILCOUNT_INFINITY;
            let event = (threshold > 0).then(|| Event::LeftStopped {
                resource: primitive.to_string(),
                cause: LeftStoppedCause::StartFailureIsFatal,
                failures: FAILCOUNT_INFINITY,
                threshold,
            });
            return (FAILCOUNT_INFINITY, event);
        }
        let n = entry.0;
        let reached = threshold > 0 && threshold < 1_000_000 && n >= threshold;
        let event = reached.then(|| Event::LeftStopped {
            resource: primitive.to_string(),
            cause: LeftStoppedCause::MigrationThreshold,
            failures: n,
            threshold,
        });
        (n, event)
    }
}

/// Stopped here (or never known here): what waits for it to stop may stop.
fn stopped(state: Option<Local>) -> bool {
    matches!(state, None | Some(Local::Stopped | Local::Probing))
}

impl NodeMachine {
    /// This node's instances.
    pub fn instances(&self) -> &Instances {
        &self.instances
    }

    /// A plan's order for `instance` (dropped when its state does not admit it).
    pub(super) fn order(
        &mut self,
        instance: String,
        order: Order,
        reason: String,
        out: &mut Vec<Action>,
    ) {
        if !Instances::admits(order, self.instances.state(&instance)) {
            return;
        }
        // A group member starts only once the members before it run here: a plan made
        // while one of them is still stopping (quorum lost and back) sees it running.
        if order == Order::Start
            && self.s.start_first.get(&instance).is_some_and(|first| {
                first.iter().any(|f| {
                    !matches!(
                        self.instances.state(f),
                        Some(
                            Local::Running
                                | Local::PromotePending
                                | Local::Promoting
                                | Local::Demoting
                        )
                    )
                })
            })
        {
            return;
        }
        // A member stops only once what must stop before it (the members after it in its
        // group, what an order starts after it) is stopped here: a plan made while a later
        // member still starts does not know it runs yet, and would stop (unmount) what it
        // needs under it. The plan made once that start ends stops it first.
        if order == Order::Stop
            && self
                .s
                .stop_first
                .get(&instance)
                .is_some_and(|first| first.iter().any(|f| !stopped(self.instances.state(f))))
        {
            return;
        }
        let (op, state) = match order {
            Order::Start => (Op::Start, Local::Starting),
            Order::Stop => (Op::Stop, Local::Stopping),
            Order::Promote => (Op::Promote, Local::Promoting),
            Order::Demote => (Op::Demote, Local::Demoting),
        };
        out.push(Action::Emit(Event::ResourceAction {
            action: op,
            resource: instance.clone(),
            reason,
        }));
        if order == Order::Demote && self.instances.state(&instance) == Some(Local::Failed) {
            self.instances.failed_demoting.insert(instance.clone());
        }
        self.instances.states.insert(instance.clone(), state);
        out.push(Action::SendNow);
        out.push(Action::Actor { instance, order });
    }

    /// Stop every local instance whose turn it is: what must stop before it has stopped
    /// (given again after each change, it stops the rest in order). A failed stop is not
    /// tried again here.
    pub(super) fn stop_all(&mut self, reason: &str, out: &mut Vec<Action>) {
        let ready: Vec<String> = self
            .instances
            .states
            .iter()
            .filter(|(_, s)| **s != Local::StopFailed)
            .map(|(n, _)| n.clone())
            .collect();
        for n in ready {
            self.order(n, Order::Stop, reason.to_string(), out);
        }
    }

    /// Declare the intent to promote `instance` (reported as promoting): the
    /// coordinator confirms it before the agent runs.
    pub(super) fn intend(&mut self, instance: String, reason: String, out: &mut Vec<Action>) {
        if self.instances.state(&instance) != Some(Local::Running) {
            return;
        }
        out.push(Action::Emit(Event::PromotionIntended {
            resource: instance.clone(),
            reason,
        }));
        self.instances
            .states
            .insert(instance, Local::PromotePending);
        out.push(Action::SendNow);
    }

    /// Withdraw the intents this round's steps no longer carry.
    pub(super) fn settle_intents(&mut self, kept: &BTreeSet<String>, out: &mut Vec<Action>) {
        let withdrawn: Vec<String> = self
            .instances
            .states
            .iter()
            .filter(|(n, s)| **s == Local::PromotePending && !kept.contains(*n))
            .map(|(n, _)| n.clone())
            .collect();
        for n in withdrawn {
            out.push(Action::Emit(Event::PromotionWithdrawn {
                resource: n.clone(),
            }));
            self.instances.states.insert(n, Local::Running);
            out.push(Action::SendNow);
        }
    }

    /// Maintenance applies here or not: tell the actors when that changes; when it ends
    /// what runs here is unknown until the probes answer.
    pub(super) fn maintenance(&mut self, on: bool, out: &mut Vec<Action>) {
        if on == self.instances.maintenance {
            return;
        }
        self.instances.maintenance = on;
        out.push(Action::Emit(Event::Maintenance { on }));
        out.push(Action::ActorsMaintenance { on });
        if !on {
            for state in self.instances.states.values_mut() {
                *state = Local::Probing;
            }
            out.push(Action::SendNow);
        }
    }

    /// A cleanup of `primitives` here: a failed stop is tried again, failures forgotten.
    pub(super) fn cleanup(
        &mut self,
        primitives: Vec<(String, Vec<String>)>,
        out: &mut Vec<Action>,
    ) {
        let mut cleared = Vec::new();
        for (p, instances) in primitives {
            for i in instances {
                if self.instances.state(&i) == Some(Local::StopFailed) {
                    self.order(i, Order::Stop, "cleanup".into(), out);
                }
            }
            if self.instances.failcounts.remove(&p).is_some() {
                cleared.push(p);
            }
        }
        if !cleared.is_empty() {
            out.push(Action::Emit(Event::Cleanup { resources: cleared }));
            out.push(Action::Replan);
            out.push(Action::SendNow);
        }
    }

    /// Forget failures older than their failure-timeout (`timeouts`: per primitive;
    /// zero or absent: never).
    pub(super) fn expire_failures(
        &mut self,
        timeouts: &BTreeMap<String, Duration>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let expired: Vec<String> = self
            .instances
            .failcounts
            .iter()
            .filter(|(p, (_, last))| {
                timeouts
                    .get(*p)
                    .is_some_and(|t| !t.is_zero() && now.saturating_duration_since(*last) >= *t)
            })
            .map(|(p, _)| p.clone())
            .collect();
        for p in expired {
            self.instances.failcounts.remove(&p);
            out.push(Action::Emit(Event::FailuresExpired { resource: p }));
            out.push(Action::Replan);
            out.push(Action::SendNow);
        }
    }

    /// What an instance's actor reports.
    pub(super) fn resource(
        &mut self,
        r: String,
        primitive: &str,
        what: What,
        rules: FailureRules,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let mut extra = None;
        let promoted_before = self.instances.promoted.contains(&r);
        let done = |action: Op, d: Duration| Event::ResourceDone {
            action,
            resource: r.clone(),
            elapsed_ms: millis(d),
        };
        let inst = &mut self.instances;
        // (new state, promoted after, event)
        let (state, promoted, event) = match what {
            What::ProbedStopped(rc) => (
                Local::Stopped,
                false,
                Event::ProbedStopped {
                    resource: r.clone(),
                    rc,
                },
            ),
            What::ProbedRunning { promoted } => (
                Local::Cleaning,
                promoted,
                Event::ProbedRunning {
                    resource: r.clone(),
                    promoted,
                },
            ),
            What::Started(d) => (Local::Running, false, done(Op::Start, d)),
            What::StartFailed(rc) => {
                let (n, line) = inst.count_failure(primitive, true, rules, now);
                extra = line;
                (
                    Local::Failed,
                    rc.promoted() && rules.promotable,
                    Event::StartFailed {
                        resource: r.clone(),
                        rc,
                        failures: n,
                        infinity: n >= FAILCOUNT_INFINITY,
                    },
                )
            }
            What::Promoted(d) => (Local::Running, true, done(Op::Promote, d)),
            What::PromoteFailed(rc) => {
                let (n, line) = inst.count_failure(primitive, false, rules, now);
                extra = line;
                (
                    Local::Failed,
                    true,
                    Event::PromoteFailed {
                        resource: r.clone(),
                        rc,
                        failures: n,
                    },
                )
            }
            What::Demoted(d) => {
                inst.demote_failed.remove(&r);
                let was_failed = inst.failed_demoting.remove(&r);
                // A stop (or a leftover's cleanup) demotes first: it goes on; a failed
                // instance demoted is still failed (its recovery follows).
                let state = match inst.states.get(&r) {
                    Some(s @ (Local::Failed | Local::Stopping | Local::Cleaning)) => *s,
                    _ if was_failed => Local::Failed,
                    _ => Local::Running,
                };
                (state, false, done(Op::Demote, d))
            }
            What::DemoteFailed(rc) => {
                inst.demote_failed.insert(r.clone());
                inst.failed_demoting.remove(&r);
                let (n, line) = inst.count_failure(primitive, false, rules, now);
                extra = line;
                let state = match inst.states.get(&r) {
                    Some(s @ (Local::Stopping | Local::Cleaning)) => *s,
                    _ => Local::Failed,
                };
                (
                    state,
                    true,
                    Event::DemoteFailed {
                        resource: r.clone(),
                        rc,
                        failures: n,
                    },
                )
            }
            What::Stopped(d) => {
                inst.demote_failed.remove(&r);
                inst.failed_demoting.remove(&r);
                (Local::Stopped, false, done(Op::Stop, d))
            }
            What::StopFailed(rc) => (
                Local::StopFailed,
                promoted_before,
                Event::StopFailed {
                    resource: r.clone(),
                    rc,
                    fencing: self.s.fencing.fencing_enabled,
                },
            ),
            What::MonitorFailed { rc, promoted } => {
                let (n, line) = inst.count_failure(primitive, false, rules, now);
                let threshold_reached = line.is_some();
                extra = line;
                (
                    Local::Failed,
                    promoted,
                    Event::MonitorFailed {
                        resource: r.clone(),
                        rc,
                        failures: n,
                        threshold_reached,
                    },
                )
            }
            What::Reprobed {
                rc,
                running,
                failed,
            } => {
                let state = match (running, failed) {
                    (_, true) => Local::Failed,
                    (Some(_), false) => Local::Running,
                    (None, false) => Local::Stopped,
                };
                (
                    state,
                    running == Some(true),
                    Event::Reprobed {
                        resource: r.clone(),
                        rc,
                    },
                )
            }
            What::PromotionScore(score) => {
                match &score {
                    Some(s) => inst.scores.insert(r.clone(), s.clone()),
                    None => inst.scores.remove(&r),
                };
                out.push(Action::Emit(Event::PromotionScore {
                    resource: r.clone(),
                    score,
                }));
                out.push(Action::Replan);
                out.push(Action::SendNow);
                return;
            }
        };
        let inst = &mut self.instances;
        inst.states.insert(r.clone(), state);
        if promoted {
            inst.promoted.insert(r);
        } else {
            inst.promoted.remove(&r);
        }
        out.push(Action::Emit(event));
        if let Some(extra) = extra {
            out.push(Action::Emit(extra));
        }
        out.push(Action::Replan);
        out.push(Action::SendNow);
    }
}

/// For each of `instances`, the instances among them of the members before its primitive
/// in its group (a group runs on one node: they start here first).
pub fn start_first(placement: &Config, instances: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let primitive_of = |i: &str| i.split(':').next().unwrap_or(i).to_string();
    instances
        .iter()
        .filter_map(|i| {
            let p = primitive_of(i);
            let g = placement.groups.iter().find(|g| g.members.contains(&p))?;
            let before: Vec<&String> = g.members.iter().take_while(|m| **m != p).collect();
            let local: BTreeSet<String> = instances
                .iter()
                .filter(|j| before.contains(&&primitive_of(j)))
                .cloned()
                .collect();
            (!local.is_empty()).then(|| (i.clone(), local))
        })
        .collect()
}

/// For each of `instances` (a primitive, or `NAME:N` of a clone), the instances among
/// them that must be stopped before it stops: the members after its primitive in its
/// group, and the resources a symmetrical order starts (or promotes) after it (groups and
/// clones stand for their primitives).
pub fn stop_first(placement: &Config, instances: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    fn primitives(placement: &Config, resource: &str, depth: usize) -> Vec<String> {
        if depth > 4 {
            return Vec::new();
        }
        if let Some(g) = placement.groups.iter().find(|g| g.name == resource) {
            return g.members.clone();
        }
        if let Some(c) = placement.clones.iter().find(|c| c.name == resource) {
            return primitives(placement, &c.child, depth + 1);
        }
        vec![resource.to_string()]
    }
    // primitive -> primitives that stop before it
    let mut first: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in &placement.groups {
        for (i, m) in g.members.iter().enumerate() {
            first
                .entry(m.clone())
                .or_default()
                .extend(g.members[i + 1..].iter().cloned());
        }
    }
    for o in placement.orders.iter().filter(|o| o.symmetrical) {
        let then = primitives(placement, &o.then, 0);
        for f in primitives(placement, &o.first, 0) {
            first.entry(f).or_default().extend(then.iter().cloned());
        }
    }
    let primitive_of = |i: &str| i.split(':').next().unwrap_or(i).to_string();
    instances
        .iter()
        .filter_map(|i| {
            let before = first.get(&primitive_of(i))?;
            let local: BTreeSet<String> = instances
                .iter()
                .filter(|j| *j != i && before.contains(&primitive_of(j)))
                .cloned()
                .collect();
            (!local.is_empty()).then(|| (i.clone(), local))
        })
        .collect()
}

#[cfg(test)]
mod tests;
