//! Finding the devices that can fence a target when no topology applies (and for
//! queries): static lists answer at once; `dynamic-list` devices run `list` (one shared
//! run per device, cached for a minute, falling back to `status` when `list` fails);
//! `status` devices run `status` for the target (exit 0 or 2 = it can). Capable devices
//! are then tried alone, highest `priority` first.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{
    Action, AgentOutcome, AgentRun, AgentStatus, Budget, Fencer, OpKind, Phase, Purpose, Reply,
    RunInfo,
};
use crate::fencer::device::AgentAction;
use crate::fencer::duration::Moment;
use crate::fencer::operation::OpId;
use crate::fencer::plan::plan_devices;
use crate::fencer::targeting::{capability, parse_list_output, Capability, ListCache};

impl Fencer {
    /// Ask every device about the operation's target.
    pub(super) fn begin_resolution(&mut self, id: OpId, now: Moment, out: &mut Vec<Action>) {
        let Some(target) = self.ops.get(&id).map(|o| o.target.clone()) else {
            return;
        };
        let mut capable = BTreeSet::new();
        let mut need_list = Vec::new();
        let mut need_status = Vec::new();
        for (name, device) in &self.devices {
            match capability(device, &target, self.list_cache.get(name), now) {
                Capability::Yes => {
                    capable.insert(name.clone());
                }
                Capability::No => {}
                Capability::NeedList => need_list.push(name.clone()),
                Capability::NeedStatus => need_status.push(name.clone()),
            }
        }
        let pending: BTreeSet<String> = need_list.iter().chain(&need_status).cloned().collect();
        let done = pending.is_empty();
        if let Some(op) = self.ops.get_mut(&id) {
            op.phase = Phase::Resolving { pending, capable };
        }
        if done {
            self.complete_resolution(id, now, out);
            return;
        }
        for device in need_list {
            self.refresh_list(&device, now, out);
        }
        for device in need_status {
            self.check_status(id, &device, now, out);
        }
    }

    /// Start a `list` run for `device` unless one is already under way.
    fn refresh_list(&mut self, device: &str, now: Moment, out: &mut Vec<Action>) {
        let running = self
            .runs
            .values()
            .any(|r| r.purpose == Purpose::ListRefresh && r.device == device);
        if running {
            return;
        }
        let run_id = self.new_run_id();
        let Some(spec) = self.devices.get(device) else {
            return;
        };
        let timeout = spec.action(AgentAction::List).timeout;
        let run = AgentRun {
            run: run_id,
            device: device.to_string(),
            agent: spec.agent.clone(),
            action: AgentAction::List,
            target: None,
            stdin: spec.stdin_lines(AgentAction::List, None),
            delay: Duration::ZERO,
            timeout: Duration::ZERO,
        };
        let info = RunInfo {
            purpose: Purpose::ListRefresh,
            device: device.to_string(),
            queued: true,
            queue_deadline: now.after(timeout),
            budget: Budget::Span {
                timeout,
                cap: now.after(timeout + timeout),
            },
            dispatched: now,
            run,
            level: 0,
            attempt: 1,
            plug: None,
        };
        self.submit_run(info, now, out);
    }

    /// Start a `status` run asking whether `device` reaches the operation's target.
    fn check_status(&mut self, id: OpId, device: &str, now: Moment, out: &mut Vec<Action>) {
        let run_id = self.new_run_id();
        let (Some(op), Some(spec)) = (self.ops.get(&id), self.devices.get(device)) else {
            return;
        };
        let timeout = spec.action(AgentAction::Status).timeout;
        let run = AgentRun {
            run: run_id,
            device: device.to_string(),
            agent: spec.agent.clone(),
            action: AgentAction::Status,
            target: Some(op.target.clone()),
            stdin: spec.stdin_lines(AgentAction::Status, Some(&op.target)),
            delay: Duration::ZERO,
            timeout: Duration::ZERO,
        };
        let info = RunInfo {
            purpose: Purpose::StatusCheck { op: id },
            device: device.to_string(),
            queued: true,
            queue_deadline: op.deadline,
            budget: Budget::Span {
                timeout,
                cap: op.deadline,
            },
            dispatched: now,
            plug: spec
                .host_argument
                .as_ref()
                .map(|_| spec.plug_for(&op.target).to_string()),
            run,
            level: 0,
            attempt: 1,
        };
        self.submit_run(info, now, out);
    }

    /// A `list` run ended: cache it and let every waiting operation re-decide.
    pub(super) fn on_list_done(
        &mut self,
        device: &str,
        outcome: &AgentOutcome,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let targets = match outcome.status {
            AgentStatus::Exited(0) => Some(parse_list_output(&outcome.stdout)),
            _ => None,
        };
        let cache = ListCache { at: now, targets };
        self.list_cache.insert(device.to_string(), cache);
        let waiting: Vec<(OpId, String)> = self
            .ops
            .values()
            .filter(|o| matches!(&o.phase, Phase::Resolving { pending, .. } if pending.contains(device)))
            .map(|o| (o.id, o.target.clone()))
            .collect();
        for (id, target) in waiting {
            let answer = self.devices.get(device).map_or(Capability::No, |d| {
                capability(d, &target, self.list_cache.get(device), now)
            });
            match answer {
                Capability::NeedStatus => self.check_status(id, device, now, out),
                Capability::NeedList => {}
                yes_or_no => self.settle(id, device, yes_or_no == Capability::Yes, now, out),
            }
        }
    }

    /// A `status` run for an operation's target ended.
    pub(super) fn on_status_check_done(
        &mut self,
        id: OpId,
        device: &str,
        outcome: &AgentOutcome,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let reachable = matches!(outcome.status, AgentStatus::Exited(0 | 2));
        self.settle(id, device, reachable, now, out);
    }

    /// Record the answer for one device; when all are in, go on.
    fn settle(&mut self, id: OpId, device: &str, can: bool, now: Moment, out: &mut Vec<Action>) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let Phase::Resolving { pending, capable } = &mut op.phase else {
            return;
        };
        pending.remove(device);
        if can {
            capable.insert(device.to_string());
        }
        if pending.is_empty() {
            self.complete_resolution(id, now, out);
        }
    }

    /// Capable devices, highest priority first (then by name), still registered.
    fn ranked_capable(&self, id: OpId) -> Vec<String> {
        let Some(Phase::Resolving { capable, .. }) = self.ops.get(&id).map(|o| &o.phase) else {
            return Vec::new();
        };
        let mut ranked: Vec<(i32, &String)> = capable
            .iter()
            .filter_map(|n| self.devices.get(n).map(|d| (d.priority, n)))
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        ranked.into_iter().map(|(_, n)| n.clone()).collect()
    }

    fn complete_resolution(&mut self, id: OpId, now: Moment, out: &mut Vec<Action>) {
        let Some(kind) = self.ops.get(&id).map(|o| o.kind) else {
            return;
        };
        match kind {
            OpKind::Query => self.answer_query(id, now, out),
            OpKind::Fence(action) => {
                let plan = plan_devices(&self.ranked_capable(id), action);
                self.begin_execution(id, plan, now, out);
            }
            OpKind::DryRun(action) => {
                let plan = plan_devices(&self.ranked_capable(id), action);
                self.begin_probing(id, plan, now, out);
            }
        }
    }

    /// Reply to a query with what is known (all answers, or those in by its deadline).
    pub(super) fn answer_query(&mut self, id: OpId, _now: Moment, out: &mut Vec<Action>) {
        let devices = self.ranked_capable(id);
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        self.cancel_runs_of(id, out);
        for waiter in op.requests {
            out.push(Action::Reply {
                request: waiter.id,
                reply: Reply::Query {
                    devices: devices.clone(),
                },
            });
        }
    }
}
