//! The fencer's decision core, a sans-I/O state machine in the rustls style: the driver
//! feeds it [`Event`]s with the current [`Moment`] and carries out the [`Action`]s it
//! returns (run an agent, kill a run, answer a request, publish a notice, journal a
//! finished operation). It never sleeps, spawns or reads a clock, so every decision is
//! reproducible from a script of events (see the golden files in `golden/`).
//!
//! Submodules: [`types`] (events, actions, records), `resolve` (which devices can fence
//! the target, running `list`/`status` when needed), `execute` (levels, steps, attempts,
//! retries, verified success), `slots` (per-device `pcmk_action_limit` queues).

mod execute;
mod health;
mod probe;
mod resolve;
mod slots;
pub mod types;

#[cfg(test)]
mod golden;

use std::collections::{BTreeMap, VecDeque};

pub use types::*;

use super::config::{FencerConfig, FencingOptions};
use super::device::DeviceSpec;
use super::duration::Moment;
use super::operation::{FailReason, FenceRequest, OpId, OpResult, QueryRequest, RunId};
use super::targeting::ListCache;
use super::topology::{NodeAttributes, TargetSelector, Topology, TopologyError};
use slots::Slots;

/// A registry change that was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Unregistering a device that does not exist.
    #[error("no device named {0}")]
    UnknownDevice(String),
    /// A level the topology refuses.
    #[error("{0}")]
    Topology(#[from] TopologyError),
}

/// The fencer's state: registry (devices, topology, node attributes) and operations.
#[derive(Debug)]
pub struct Fencer {
    options: FencingOptions,
    devices: BTreeMap<String, DeviceSpec>,
    topology: Topology,
    nodes: NodeAttributes,
    local_node: Option<String>,
    allow_self_fence: bool,
    ops: BTreeMap<OpId, Operation>,
    /// Fence operations in flight by (lower-case target, action): the merge key.
    active: BTreeMap<(String, super::operation::FenceAction), OpId>,
    /// Fence operations waiting for their turn when `concurrent-fencing` is off.
    waiting: VecDeque<OpId>,
    runs: BTreeMap<RunId, RunInfo>,
    slots: Slots,
    list_cache: BTreeMap<String, ListCache>,
    next_op: u64,
    next_run: u64,
    rng: u64,
    /// Device health checks (off until [`Fencer::enable_health_checks`]).
    health: Option<super::health::HealthSchedule>,
    /// Targets' fenceability as last announced.
    announced_fenceable: BTreeMap<String, bool>,
    /// The latest moment an event came with (for registry changes, which have none).
    seen: Moment,
    /// Bumped whenever device health or the registry changes (see
    /// [`Fencer::health_generation`]).
    health_generation: u64,
}

impl Fencer {
    /// A fencer with no devices; `seed` feeds the `pcmk_delay_max` randomness.
    pub fn new(options: FencingOptions, seed: u64) -> Fencer {
        Fencer {
            options,
            devices: BTreeMap::new(),
            topology: Topology::default(),
            nodes: NodeAttributes::new(),
            local_node: None,
            allow_self_fence: false,
            ops: BTreeMap::new(),
            active: BTreeMap::new(),
            waiting: VecDeque::new(),
            runs: BTreeMap::new(),
            slots: Slots::default(),
            list_cache: BTreeMap::new(),
            next_op: 1,
            next_run: 1,
            rng: seed,
            health: None,
            announced_fenceable: BTreeMap::new(),
            seen: Moment(0),
            health_generation: 0,
        }
    }

    /// A fencer loaded from a configuration; `local_node` is this node's name.
    pub fn from_config(
        config: &FencerConfig,
        local_node: Option<String>,
        seed: u64,
    ) -> Result<Fencer, RegistryError> {
        let mut fencer = Fencer::new(config.options.clone(), seed);
        for device in &config.devices {
            fencer.register_device(device.clone());
        }
        fencer.topology = config.topology()?;
        fencer.nodes = config.nodes.clone();
        fencer.local_node = config.daemon.node_name.clone().or(local_node);
        fencer.allow_self_fence = config.daemon.allow_self_fence;
        Ok(fencer)
    }

    /// Number operations from `first` on (the daemon continues after the journal's
    /// entries, so operation numbers stay unique across restarts).
    pub fn number_operations_from(&mut self, first: u64) {
        self.next_op = self.next_op.max(first);
    }

    /// The cluster options in force.
    pub fn options(&self) -> &FencingOptions {
        &self.options
    }

    /// Add or replace a device (operations already using it keep their plan).
    pub fn register_device(&mut self, device: DeviceSpec) {
        self.list_cache.remove(&device.name);
        let name = device.name.clone();
        self.devices.insert(name.clone(), device);
        self.health_registry_changed(&name);
    }

    /// Remove a device; later steps that name it fail.
    pub fn unregister_device(&mut self, name: &str) -> Result<DeviceSpec, RegistryError> {
        self.list_cache.remove(name);
        let removed = self
            .devices
            .remove(name)
            .ok_or_else(|| RegistryError::UnknownDevice(name.to_string()))?;
        self.health_registry_changed(name);
        Ok(removed)
    }

    /// Registered devices by name.
    pub fn devices(&self) -> &BTreeMap<String, DeviceSpec> {
        &self.devices
    }

    /// Add or replace a topology level.
    pub fn register_level(
        &mut self,
        selector: TargetSelector,
        index: u32,
        devices: Vec<String>,
    ) -> Result<(), RegistryError> {
        self.topology.add_level(selector, index, devices)?;
        self.health_generation += 1;
        Ok(())
    }

    /// Remove a level (all levels of the selector when `index` is `None`).
    pub fn unregister_level(&mut self, selector: &TargetSelector, index: Option<u8>) -> bool {
        self.health_generation += 1;
        self.topology.remove_level(selector, index)
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The levels that apply to `target` (empty without topology).
    pub fn levels_for(&self, target: &str) -> Vec<crate::fencer::topology::Level> {
        self.topology
            .levels_for(target, &self.nodes)
            .map(|(_, levels)| levels)
            .unwrap_or_default()
    }

    /// This node's name, if known.
    pub fn local_node(&self) -> Option<&str> {
        self.local_node.as_deref()
    }

    /// Number of operations in flight.
    pub fn operations_in_flight(&self) -> usize {
        self.ops.len()
    }

    /// The earliest moment at which [`Event::Tick`] has something to do.
    pub fn poll_deadline(&self) -> Option<Moment> {
        let ops = self
            .ops
            .values()
            .flat_map(|o| std::iter::once(o.deadline).chain(o.next_waiter_deadline()));
        let queued = self
            .runs
            .values()
            .filter(|r| r.queued)
            .map(|r| r.queue_deadline);
        let health = self.health.as_ref().and_then(|h| h.next_due());
        ops.chain(queued).chain(health).min()
    }

    /// Feed one event; returns what to do, in order.
    pub fn handle(&mut self, event: Event, now: Moment) -> Vec<Action> {
        let mut out = Vec::new();
        self.seen = self.seen.max(now);
        match event {
            Event::Fence(request) => self.on_fence(request, now, &mut out),
            Event::Query(request) => self.on_query(request, now, &mut out),
            Event::DryRun(request) => self.on_dry_run(request, now, &mut out),
            Event::AgentDone { run, outcome } => self.on_agent_done(run, outcome, now, &mut out),
            Event::Tick => self.on_tick(now, &mut out),
            Event::Shutdown => self.on_shutdown(now, &mut out),
        }
        out
    }

    fn new_op_id(&mut self) -> OpId {
        let id = OpId(self.next_op);
        self.next_op += 1;
        id
    }

    fn new_run_id(&mut self) -> RunId {
        let id = RunId(self.next_run);
        self.next_run += 1;
        id
    }

    /// SplitMix64: a per-mille value for `pcmk_delay_max`.
    fn random_permille(&mut self) -> u32 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        u32::try_from(z % 1001).unwrap_or(0)
    }

    fn on_fence(&mut self, request: FenceRequest, now: Moment, out: &mut Vec<Action>) {
        let key = (request.target.to_ascii_lowercase(), request.action);
        // Defence in depth: the API and the configuration refuse requests beyond the
        // limits; whatever gets here is held to them.
        let timeout = request
            .timeout
            .unwrap_or(self.options.timeout)
            .min(self.options.max_timeout);
        let delay = request.delay.min(self.options.max_delay);
        if let Some(op_id) = self.active.get(&key).copied() {
            if let Some(op) = self.ops.get_mut(&op_id) {
                // A merged request ends with the operation or at its own timeout
                // (after its own delay), whichever comes first: an operation that
                // waits out a long delay cannot hold a later request past its budget.
                op.requests.push(Waiter {
                    id: request.id,
                    requester: request.requester.clone(),
                    deadline: Some(now.after(delay).after(timeout)),
                    answered: false,
                });
                out.push(Action::Notify(Notice::Merged {
                    op: op_id,
                    request: request.id,
                    requester: request.requester,
                }));
                return;
            }
        }
        let id = self.new_op_id();
        let op = Operation {
            id,
            kind: OpKind::Fence(request.action),
            target: request.target.clone(),
            requests: vec![Waiter::first(request.id, request.requester.clone())],
            started: now,
            deadline: now.after(timeout),
            pending_delay: delay,
            phase: Phase::Starting,
            attempts: Vec::new(),
            last_error: None,
            warnings: Vec::new(),
        };
        out.push(Action::Notify(Notice::Started {
            op: id,
            target: request.target.clone(),
            action: request.action,
            requester: request.requester,
            timeout,
        }));
        let refused = !self.allow_self_fence
            && request.action.is_fencing()
            && self
                .local_node
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&request.target));
        self.ops.insert(id, op);
        if refused {
            let result = OpResult::Failed {
                reason: FailReason::SelfFenceRefused,
            };
            self.finish(id, result, now, out);
            return;
        }
        self.active.insert(key, id);
        let busy = !self.options.concurrent
            && self
                .ops
                .values()
                .any(|o| o.id != id && o.is_fence() && !matches!(o.phase, Phase::Starting));
        if busy {
            self.waiting.push_back(id);
        } else {
            self.start(id, now, out);
        }
    }

    fn on_query(&mut self, request: QueryRequest, now: Moment, out: &mut Vec<Action>) {
        let id = self.new_op_id();
        let timeout = request
            .timeout
            .unwrap_or(self.options.timeout)
            .min(self.options.max_timeout);
        let op = Operation {
            id,
            kind: OpKind::Query,
            target: request.target,
            requests: vec![Waiter::first(request.id, String::new())],
            started: now,
            deadline: now.after(timeout),
            pending_delay: std::time::Duration::ZERO,
            phase: Phase::Starting,
            attempts: Vec::new(),
            last_error: None,
            warnings: Vec::new(),
        };
        self.ops.insert(id, op);
        self.start(id, now, out);
    }

    /// Begin an operation: use the topology if one applies, else find capable devices.
    fn start(&mut self, id: OpId, now: Moment, out: &mut Vec<Action>) {
        let Some(op) = self.ops.get(&id) else { return };
        let kind = op.kind;
        let levels = kind.planned_action().and_then(|action| {
            self.topology
                .levels_for(&op.target, &self.nodes)
                .map(|(_, levels)| {
                    let levels: Vec<(u8, Vec<String>)> =
                        levels.into_iter().map(|l| (l.index, l.devices)).collect();
                    super::plan::plan_topology(&levels, action)
                })
        });
        match (levels, kind) {
            (Some(plan), OpKind::DryRun(_)) => self.begin_probing(id, plan, now, out),
            (Some(plan), _) => self.begin_execution(id, plan, now, out),
            (None, _) => self.begin_resolution(id, now, out),
        }
    }

    /// End an operation: reply to every merged request, journal it, start a waiting one.
    fn finish(&mut self, id: OpId, result: OpResult, now: Moment, out: &mut Vec<Action>) {
        self.record_abandoned_attempt(id, &result, now);
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        self.cancel_runs_of(id, out);
        match op.kind {
            OpKind::Query | OpKind::DryRun(_) => {}
            OpKind::Fence(action) => {
                let key = (op.target.to_ascii_lowercase(), action);
                if self.active.get(&key) == Some(&id) {
                    self.active.remove(&key);
                }
                let mut result = result;
                if let OpResult::Done { warnings, .. } = &mut result {
                    warnings.extend(op.warnings.iter().cloned());
                }
                for waiter in op.requests.iter().filter(|w| !w.answered) {
                    out.push(Action::Reply {
                        request: waiter.id,
                        reply: Reply::Fence {
                            op: id,
                            result: result.clone(),
                        },
                    });
                }
                out.push(Action::Notify(Notice::Finished {
                    op: id,
                    target: op.target.clone(),
                    action,
                    result: result.clone(),
                }));
                out.push(Action::Record(OperationRecord {
                    op: id,
                    target: op.target,
                    action,
                    requesters: op.requests.into_iter().map(|w| w.requester).collect(),
                    started: op.started,
                    finished: now,
                    result,
                    attempts: op.attempts,
                }));
                self.start_waiting(now, out);
            }
        }
    }

    fn start_waiting(&mut self, now: Moment, out: &mut Vec<Action>) {
        if self.options.concurrent {
            return;
        }
        let running = self
            .ops
            .values()
            .any(|o| o.is_fence() && !matches!(o.phase, Phase::Starting));
        if running {
            return;
        }
        if let Some(next) = self.waiting.pop_front() {
            self.start(next, now, out);
        }
    }

    fn on_tick(&mut self, now: Moment, out: &mut Vec<Action>) {
        self.run_health_checks(now, out);
        self.expire_queued_runs(now, out);
        self.expire_merged_requests(now, out);
        let expired: Vec<OpId> = self
            .ops
            .values()
            .filter(|o| o.deadline <= now)
            .map(|o| o.id)
            .collect();
        for id in expired {
            self.fail_or_answer_timed_out(id, now, out);
        }
    }

    /// Answer `timed-out` to merged requests whose own deadline passed.
    fn expire_merged_requests(&mut self, now: Moment, out: &mut Vec<Action>) {
        for op in self.ops.values_mut() {
            for waiter in &mut op.requests {
                if waiter.answered || waiter.deadline.is_none_or(|d| d > now) {
                    continue;
                }
                waiter.answered = true;
                out.push(Action::Reply {
                    request: waiter.id,
                    reply: Reply::Fence {
                        op: op.id,
                        result: OpResult::Failed {
                            reason: FailReason::TimedOut,
                        },
                    },
                });
                out.push(Action::Notify(Notice::MergedTimedOut {
                    op: op.id,
                    request: waiter.id,
                }));
            }
        }
    }

    fn fail_or_answer_timed_out(&mut self, id: OpId, now: Moment, out: &mut Vec<Action>) {
        let Some(op) = self.ops.get(&id) else { return };
        if op.kind == OpKind::Query {
            self.waiting.retain(|w| *w != id);
            self.answer_query(id, now, out);
        } else if matches!(op.kind, OpKind::DryRun(_)) {
            self.answer_dry_run(id, "no answer before the deadline", out);
        } else {
            self.waiting.retain(|w| *w != id);
            let reason = FailReason::TimedOut;
            self.finish(id, OpResult::Failed { reason }, now, out);
        }
    }

    fn on_shutdown(&mut self, now: Moment, out: &mut Vec<Action>) {
        let ids: Vec<OpId> = self.ops.keys().copied().collect();
        for id in ids {
            let reason = FailReason::Cancelled;
            let kind = self.ops.get(&id).map(|o| o.kind);
            if kind == Some(OpKind::Query) {
                self.answer_query(id, now, out);
            } else if matches!(kind, Some(OpKind::DryRun(_))) {
                self.answer_dry_run(id, "the daemon is stopping", out);
            } else {
                self.finish(id, OpResult::Failed { reason }, now, out);
            }
        }
        self.waiting.clear();
        self.stop_health_checks(out);
    }

    fn on_agent_done(
        &mut self,
        run: RunId,
        outcome: AgentOutcome,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let Some(info) = self.runs.remove(&run) else {
            return;
        };
        match info.purpose {
            Purpose::ListRefresh => self.on_list_done(&info.device, &outcome, now, out),
            Purpose::StatusCheck { op } => {
                self.on_status_check_done(op, &info.device, &outcome, now, out)
            }
            Purpose::Step { op } => self.on_step_done(op, run, &info, &outcome, now, out),
            Purpose::Probe { op, probe } => {
                self.on_probe_done(op, run, &info, probe, &outcome, out)
            }
            Purpose::HealthCheck => self.on_health_done(&info.device, &outcome, now, out),
            Purpose::Abandoned => {}
        }
        // The slot is given back after the result is handled, so a retry queues behind
        // runs that were already waiting for this device.
        if !info.queued {
            self.slots.release(&info.device);
            self.dispatch_queued(&info.device, now, out);
        }
        if info.purpose == Purpose::HealthCheck {
            self.run_health_checks(now, out);
        }
    }
}
