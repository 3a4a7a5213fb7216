//! Per-device concurrency (`pcmk_action_limit`): runs beyond the limit wait in a FIFO
//! queue; a queued run whose budget ends before a slot frees up fails as timed out.
//! Also the one place where runs are dispatched, cancelled and expired.

use std::collections::{BTreeMap, VecDeque};

use super::{Action, AgentOutcome, AgentStatus, Budget, Fencer, Notice, Phase, Purpose, RunInfo};
use crate::fencer::duration::Moment;
use crate::fencer::operation::{OpId, RunId};

#[derive(Debug, Default)]
struct DeviceSlot {
    running: u32,
    queue: VecDeque<RunId>,
}

/// Running counts and waiting queues per device.
#[derive(Debug, Default)]
pub(super) struct Slots {
    per_device: BTreeMap<String, DeviceSlot>,
}

impl Slots {
    /// Take a slot if the device has one free (`None` limit = unlimited).
    fn try_acquire(&mut self, device: &str, limit: Option<u32>) -> bool {
        let slot = self.per_device.entry(device.to_string()).or_default();
        if limit.is_some_and(|l| slot.running >= l) {
            return false;
        }
        slot.running += 1;
        true
    }

    /// Queue `run`, ahead of the first queued run for which `behind` holds.
    fn enqueue(&mut self, device: &str, run: RunId, behind: impl Fn(RunId) -> bool) {
        let queue = &mut self.per_device.entry(device.to_string()).or_default().queue;
        match queue.iter().position(|r| behind(*r)) {
            Some(at) => queue.insert(at, run),
            None => queue.push_back(run),
        }
    }

    /// Give a slot back.
    pub(super) fn release(&mut self, device: &str) {
        if let Some(slot) = self.per_device.get_mut(device) {
            slot.running = slot.running.saturating_sub(1);
            if slot.running == 0 && slot.queue.is_empty() {
                self.per_device.remove(device);
            }
        }
    }

    /// Next queued run, taking a slot for it, if the limit allows.
    fn pop_next(&mut self, device: &str, limit: Option<u32>) -> Option<RunId> {
        let slot = self.per_device.get_mut(device)?;
        if slot.queue.is_empty() || limit.is_some_and(|l| slot.running >= l) {
            return None;
        }
        let run = slot.queue.pop_front()?;
        slot.running += 1;
        Some(run)
    }

    fn remove_queued(&mut self, device: &str, run: RunId) {
        if let Some(slot) = self.per_device.get_mut(device) {
            slot.queue.retain(|r| *r != run);
        }
    }
}

impl Fencer {
    fn limit_of(&self, device: &str) -> Option<u32> {
        // An unregistered device's leftover runs drain one at a time.
        self.devices.get(device).map_or(Some(1), |d| d.action_limit)
    }

    /// Register a run and start it now, or queue it behind the device's limit. Health
    /// checks give way to everything else: another run queues ahead of queued checks,
    /// and a running check on a full device is killed (its slot goes to the new run;
    /// the check counts as skipped), so a hung `monitor` never holds a fence back.
    pub(super) fn submit_run(&mut self, mut info: RunInfo, now: Moment, out: &mut Vec<Action>) {
        info.queued = true;
        let id = info.run.run;
        let device = info.device.clone();
        let limit = self.limit_of(&device);
        let check = info.purpose == Purpose::HealthCheck;
        self.runs.insert(id, info);
        if self.slots.try_acquire(&device, limit) {
            self.dispatch(id, now, out);
            return;
        }
        if check {
            self.slots.enqueue(&device, id, |_| false);
            return;
        }
        let runs = &self.runs;
        let is_check = |r: RunId| {
            runs.get(&r)
                .is_some_and(|i| i.purpose == Purpose::HealthCheck)
        };
        self.slots.enqueue(&device, id, is_check);
        let running_check = self
            .runs
            .iter()
            .find(|(_, r)| r.device == device && !r.queued && r.purpose == Purpose::HealthCheck)
            .map(|(id, _)| *id);
        if let Some(check_run) = running_check {
            if let Some(info) = self.runs.get_mut(&check_run) {
                info.purpose = Purpose::Abandoned;
            }
            self.health_check_preempted(&device, now);
            out.push(Action::CancelRun(check_run));
        }
    }

    /// Start queued runs of `device` while slots are free.
    pub(super) fn dispatch_queued(&mut self, device: &str, now: Moment, out: &mut Vec<Action>) {
        let limit = self.limit_of(device);
        while let Some(next) = self.slots.pop_next(device, limit) {
            self.dispatch(next, now, out);
        }
    }

    /// Emit the run with the time left in its budget (a run with none left fails at once).
    fn dispatch(&mut self, id: RunId, now: Moment, out: &mut Vec<Action>) {
        let Some(info) = self.runs.get_mut(&id) else {
            return;
        };
        info.queued = false;
        info.dispatched = now;
        let end = match info.budget {
            Budget::Until(end) => end,
            Budget::Span { timeout, cap } => cap.min(now.after(info.run.delay + timeout)),
        };
        info.budget = Budget::Until(end);
        let timeout = end.since(now.after(info.run.delay));
        info.run.timeout = timeout;
        if let Purpose::Step { op } = info.purpose {
            if let Some(Phase::Executing(exec)) = self.ops.get_mut(&op).map(|o| &mut o.phase) {
                if exec.run == Some(id) {
                    exec.step_deadline = end;
                }
            }
        }
        let Some(info) = self.runs.get(&id) else {
            return;
        };
        if timeout.is_zero() {
            let outcome = AgentOutcome {
                status: AgentStatus::NotStarted("no time left in the operation's budget".into()),
                stdout: String::new(),
                stderr: String::new(),
            };
            self.on_agent_done(id, outcome, now, out);
            return;
        }
        if let Purpose::Step { op } = info.purpose {
            out.push(Action::Notify(Notice::AttemptStarted {
                op,
                run: id,
                level: info.level,
                device: info.device.clone(),
                action: info.run.action,
                attempt: info.attempt,
            }));
        }
        out.push(Action::RunAgent(info.run.clone()));
    }

    /// Queued runs whose budget ran out while waiting fail as timed out.
    pub(super) fn expire_queued_runs(&mut self, now: Moment, out: &mut Vec<Action>) {
        let expired: Vec<(RunId, String)> = self
            .runs
            .iter()
            .filter(|(_, r)| r.queued && r.queue_deadline <= now)
            .map(|(id, r)| (*id, r.device.clone()))
            .collect();
        for (id, device) in expired {
            self.slots.remove_queued(&device, id);
            let outcome = AgentOutcome {
                status: AgentStatus::NotStarted(format!(
                    "timed out waiting for a free slot on device {device}"
                )),
                stdout: String::new(),
                stderr: String::new(),
            };
            self.on_agent_done(id, outcome, now, out);
        }
    }

    /// Drop a queued run from its device's queue (the caller forgets the run).
    pub(super) fn slots_forget_queued(&mut self, device: &str, run: RunId) {
        self.slots.remove_queued(device, run);
    }

    /// Drop the queued runs of an operation and kill its running ones.
    pub(super) fn cancel_runs_of(&mut self, op: OpId, out: &mut Vec<Action>) {
        let owned: Vec<RunId> = self
            .runs
            .iter()
            .filter(|(_, r)| {
                matches!(r.purpose, Purpose::Step { op: o } | Purpose::StatusCheck { op: o } | Purpose::Probe { op: o, .. } if o == op)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in owned {
            let Some(info) = self.runs.get_mut(&id) else {
                continue;
            };
            if info.queued {
                let device = info.device.clone();
                self.runs.remove(&id);
                self.slots.remove_queued(&device, id);
            } else {
                info.purpose = Purpose::Abandoned;
                out.push(Action::CancelRun(id));
            }
        }
    }
}
