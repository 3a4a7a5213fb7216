//! Running a plan: levels in order, the steps of a level one after another, each step's
//! attempts (`pcmk_<action>_retries`) within its budget (`pcmk_<action>_timeout`, capped
//! by the operation's deadline), fencing delays before the first attempt (extending the
//! deadline, so they never eat into the timeout; device and request delays together at
//! most `fencing-max-delay`), and success only on verified outcomes.

use std::time::Duration;

use super::{
    Action, AgentOutcome, AgentRun, AgentStatus, AttemptRecord, Budget, Execution, Fencer, Notice,
    Phase, Purpose, RunInfo,
};
use crate::fencer::device::AgentAction;
use crate::fencer::duration::{millis, Moment};
use crate::fencer::operation::{FailReason, OpId, OpResult, RunId};
use crate::fencer::plan::{fencing_delay, PlannedLevel, Step};

/// Proof that a step's action was carried out and confirmed. It can only be made from an
/// agent outcome that confirms it (the agent exits 0 only after it saw the requested power
/// state), so a step cannot count as done on anything weaker.
#[derive(Debug)]
pub(super) struct Verified(());

impl Verified {
    fn from_outcome(action: AgentAction, outcome: &AgentOutcome) -> Option<Verified> {
        match (action, &outcome.status) {
            (AgentAction::Off | AgentAction::On | AgentAction::Reboot, AgentStatus::Exited(0)) => {
                Some(Verified(()))
            }
            _ => None,
        }
    }
}

impl Fencer {
    /// Start running `plan` (no level at all: nothing can fence the target).
    pub(super) fn begin_execution(
        &mut self,
        id: OpId,
        plan: Vec<PlannedLevel>,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let plan: Vec<PlannedLevel> = plan.into_iter().filter(|l| !l.steps.is_empty()).collect();
        if plan.is_empty() {
            let reason = FailReason::NoDevice;
            self.finish(id, OpResult::Failed { reason }, now, out);
            return;
        }
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        op.phase = Phase::Executing(Execution {
            levels: plan,
            level: 0,
            step: 0,
            attempt: 1,
            step_deadline: op.deadline,
            run: None,
        });
        self.start_step(id, now, out);
    }

    fn current_step(&self, id: OpId) -> Option<(Step, u8, u32)> {
        let op = self.ops.get(&id)?;
        let Phase::Executing(exec) = &op.phase else {
            return None;
        };
        let level = exec.levels.get(exec.level)?;
        Some((
            level.steps.get(exec.step)?.clone(),
            level.index,
            exec.attempt,
        ))
    }

    /// Submit the current step's first attempt.
    fn start_step(&mut self, id: OpId, now: Moment, out: &mut Vec<Action>) {
        let Some((step, level, _)) = self.current_step(id) else {
            return;
        };
        let Some(device) = self.devices.get(&step.device) else {
            let error = format!("device {} is not registered", step.device);
            if let Some(op) = self.ops.get_mut(&id) {
                op.attempts.push(AttemptRecord {
                    level,
                    device: step.device.clone(),
                    action: step.action,
                    plug: None,
                    attempt: 1,
                    started: now,
                    finished: now,
                    ok: false,
                    outcome: "not registered".into(),
                });
            }
            self.fail_step(id, error, now, out);
            return;
        };
        let settings_timeout = device.action(step.action).timeout;
        let mut delay = Duration::ZERO;
        if step.is_fencing() {
            let random = self.random_permille();
            let max_delay = self.options.max_delay;
            if let (Some(op), Some(spec)) = (self.ops.get_mut(&id), self.devices.get(&step.device))
            {
                let pending = std::mem::take(&mut op.pending_delay);
                delay = fencing_delay(spec, &op.target, random, pending, max_delay);
            }
        }
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        // Delays do not eat into the timeout: the deadline moves by the delay. The step's
        // own budget starts when its first run is dispatched (time spent waiting for a
        // busy device only counts against the operation's deadline).
        op.deadline = op.deadline.after(delay);
        let budget = Budget::Span {
            timeout: settings_timeout,
            cap: op.deadline,
        };
        if let Phase::Executing(exec) = &mut op.phase {
            exec.step_deadline = op.deadline;
            exec.attempt = 1;
        }
        self.submit_step_run(id, &step, level, 1, delay, budget, now, out);
    }

    #[allow(clippy::too_many_arguments)]
    fn submit_step_run(
        &mut self,
        id: OpId,
        step: &Step,
        level: u8,
        attempt: u32,
        delay: Duration,
        budget: Budget,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let Some((target, op_deadline)) = self.ops.get(&id).map(|o| (o.target.clone(), o.deadline))
        else {
            return;
        };
        let run_id = self.new_run_id();
        let Some(device) = self.devices.get(&step.device) else {
            return;
        };
        let plug = device
            .host_argument
            .as_ref()
            .map(|_| device.plug_for(&target).to_string());
        let run = AgentRun {
            run: run_id,
            device: step.device.clone(),
            agent: device.agent.clone(),
            action: step.action,
            target: Some(target.clone()),
            stdin: device.stdin_lines(step.action, Some(&target)),
            delay,
            timeout: Duration::ZERO,
        };
        if let Some(Phase::Executing(exec)) = self.ops.get_mut(&id).map(|o| &mut o.phase) {
            exec.run = Some(run_id);
        }
        let info = RunInfo {
            purpose: Purpose::Step { op: id },
            device: step.device.clone(),
            queued: true,
            queue_deadline: op_deadline,
            budget,
            dispatched: now,
            run,
            level,
            attempt,
            plug,
        };
        self.submit_run(info, now, out);
    }

    /// A step's agent run ended.
    pub(super) fn on_step_done(
        &mut self,
        id: OpId,
        run: RunId,
        info: &RunInfo,
        outcome: &AgentOutcome,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let Phase::Executing(exec) = &mut op.phase else {
            return;
        };
        if exec.run != Some(run) {
            return;
        }
        exec.run = None;
        let step_deadline = exec.step_deadline;
        let verified = Verified::from_outcome(info.run.action, outcome);
        let summary = outcome.summary();
        op.attempts.push(AttemptRecord {
            level: info.level,
            device: info.device.clone(),
            action: info.run.action,
            plug: info.plug.clone(),
            attempt: info.attempt,
            started: info.dispatched,
            finished: now,
            ok: verified.is_some(),
            outcome: summary.clone(),
        });
        out.push(Action::Notify(Notice::AttemptFinished {
            op: id,
            run,
            device: info.device.clone(),
            action: info.run.action,
            ok: verified.is_some(),
            outcome: summary.clone(),
            elapsed_ms: millis(now.since(info.dispatched)),
        }));
        if let Some(proof) = verified {
            self.on_verified(id, proof, now, out);
            return;
        }
        let error = format!("{} {}: {summary}", info.device, info.run.action);
        let attempts_allowed = self
            .devices
            .get(&info.device)
            .map_or(1, |d| d.action(info.run.action).attempts);
        let timed_out = matches!(
            outcome.status,
            AgentStatus::TimedOut | AgentStatus::NotStarted(_)
        );
        if info.attempt < attempts_allowed && !timed_out && step_deadline > now {
            if let Some(op) = self.ops.get_mut(&id) {
                op.last_error = Some(error);
                if let Phase::Executing(exec) = &mut op.phase {
                    exec.attempt = info.attempt + 1;
                }
            }
            let Some((step, level, attempt)) = self.current_step(id) else {
                return;
            };
            let delay = Duration::ZERO;
            let budget = Budget::Until(step_deadline);
            self.submit_step_run(id, &step, level, attempt, delay, budget, now, out);
        } else {
            self.fail_step(id, error, now, out);
        }
    }

    /// The current step is verified; go on.
    fn on_verified(&mut self, id: OpId, _proof: Verified, now: Moment, out: &mut Vec<Action>) {
        self.advance_step(id, now, out);
    }

    /// Next step, or the level is complete and the operation done. Reached only through
    /// [`Self::on_verified`], or after a failed "on" step that follows verified "off" steps.
    fn advance_step(&mut self, id: OpId, now: Moment, out: &mut Vec<Action>) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let Phase::Executing(exec) = &mut op.phase else {
            return;
        };
        exec.step += 1;
        exec.attempt = 1;
        let Some(level) = exec.levels.get(exec.level) else {
            return;
        };
        if exec.step < level.steps.len() {
            self.start_step(id, now, out);
            return;
        }
        let result = OpResult::Done {
            level: level.index,
            devices: level.devices.clone(),
            warnings: Vec::new(),
        };
        self.finish(id, result, now, out);
    }

    /// The current step failed for good: its level failed, unless the target is already
    /// fenced (the "on" half of a remapped reboot), in which case only a warning remains.
    fn fail_step(&mut self, id: OpId, error: String, now: Moment, out: &mut Vec<Action>) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let deadline = op.deadline;
        let Phase::Executing(exec) = &mut op.phase else {
            return;
        };
        let after_fenced = exec
            .levels
            .get(exec.level)
            .and_then(|l| l.steps.get(exec.step))
            .is_some_and(|s| s.after_fenced);
        if after_fenced {
            op.warnings
                .push(format!("target is off, but powering it on failed: {error}"));
            self.advance_step(id, now, out);
            return;
        }
        exec.level += 1;
        exec.step = 0;
        exec.attempt = 1;
        let more = exec.level < exec.levels.len();
        op.last_error = Some(error.clone());
        if more && deadline > now {
            self.start_step(id, now, out);
            return;
        }
        let reason = if deadline <= now {
            FailReason::TimedOut
        } else {
            FailReason::AllLevelsFailed { last_error: error }
        };
        self.finish(id, OpResult::Failed { reason }, now, out);
    }
}

impl Fencer {
    /// When an operation ends with a step still running or queued (deadline, shutdown),
    /// journal that attempt as abandoned.
    pub(super) fn record_abandoned_attempt(&mut self, id: OpId, result: &OpResult, now: Moment) {
        let Some(Phase::Executing(exec)) = self.ops.get(&id).map(|o| &o.phase) else {
            return;
        };
        let Some(info) = exec.run.and_then(|run| self.runs.get(&run)) else {
            return;
        };
        let outcome = match result {
            OpResult::Failed { reason } => format!("abandoned: {reason}"),
            OpResult::Done { .. } => "abandoned".to_string(),
        };
        let record = AttemptRecord {
            level: info.level,
            device: info.device.clone(),
            action: info.run.action,
            plug: info.plug.clone(),
            attempt: info.attempt,
            started: info.dispatched,
            finished: now,
            ok: false,
            outcome,
        };
        if let Some(op) = self.ops.get_mut(&id) {
            op.attempts.push(record);
        }
    }
}
