//! Dry runs: an operation that resolves its target exactly as a fence does (topology
//! levels, or capable devices found by `list`/`status`), then, in place of the plan's
//! steps, asks each device of the plan a [`ProbeAction`] (`monitor`, and `status` for the
//! target) through the same device slots, and answers which level would act. A probe
//! run is built only from a [`ProbeAction`] ([`probe_stdin`]), so no power action can
//! come out of this path; nothing is journaled.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{
    Action, AgentOutcome, AgentRun, Budget, Fencer, OpKind, Operation, Phase, Probing, Purpose,
    Reply, RunInfo, Waiter,
};
use crate::fencer::dryrun::{
    probe_stdin, worst_case, DeviceAnswer, DryRunReport, DryRunRequest, LevelVerdict, ProbeAction,
    ProbeAnswer, WouldAct,
};
use crate::fencer::duration::{millis, Moment};
use crate::fencer::operation::{FailReason, OpId, RunId};
use crate::fencer::plan::PlannedLevel;

impl Fencer {
    pub(super) fn on_dry_run(
        &mut self,
        request: DryRunRequest,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let id = self.new_op_id();
        let timeout = request
            .timeout
            .unwrap_or(self.options.timeout)
            .min(self.options.max_timeout);
        let op = Operation {
            id,
            kind: OpKind::DryRun(request.action),
            target: request.target.clone(),
            requests: vec![Waiter::first(request.id, String::new())],
            started: now,
            deadline: now.after(timeout),
            pending_delay: request.delay.min(self.options.max_delay),
            phase: Phase::Starting,
            attempts: Vec::new(),
            last_error: None,
            warnings: Vec::new(),
        };
        let refused = !self.allow_self_fence
            && request.action.is_fencing()
            && self
                .local_node
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(&request.target));
        self.ops.insert(id, op);
        if refused {
            let why = FailReason::SelfFenceRefused.to_string();
            self.answer_dry_run(id, &why, out);
            return;
        }
        self.start(id, now, out);
    }

    /// Ask every device of `plan` its probes (each device once, in plan order).
    pub(super) fn begin_probing(
        &mut self,
        id: OpId,
        plan: Vec<PlannedLevel>,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let plan: Vec<PlannedLevel> = plan.into_iter().filter(|l| !l.steps.is_empty()).collect();
        let Some((target, deadline)) = self.ops.get(&id).map(|o| (o.target.clone(), o.deadline))
        else {
            return;
        };
        let mut devices: Vec<String> = Vec::new();
        for level in &plan {
            for device in &level.devices {
                if !devices.contains(device) {
                    devices.push(device.clone());
                }
            }
        }
        let mut runs = Vec::new();
        for device in &devices {
            let Some(spec) = self.devices.get(device) else {
                continue;
            };
            for probe in ProbeAction::ALL {
                let run = AgentRun {
                    run: RunId(0),
                    device: device.clone(),
                    agent: spec.agent.clone(),
                    action: probe.agent_action(),
                    target: Some(target.clone()),
                    stdin: probe_stdin(spec, probe, &target),
                    delay: Duration::ZERO,
                    timeout: Duration::ZERO,
                };
                let timeout = spec.action(probe.agent_action()).timeout;
                let plug = spec
                    .host_argument
                    .as_ref()
                    .filter(|_| probe == ProbeAction::Status)
                    .map(|_| spec.plug_for(&target).to_string());
                runs.push((probe, run, timeout, plug));
            }
        }
        let mut pending = BTreeSet::new();
        let mut infos = Vec::new();
        for (probe, mut run, timeout, plug) in runs {
            run.run = self.new_run_id();
            pending.insert(run.run);
            infos.push(RunInfo {
                purpose: Purpose::Probe { op: id, probe },
                device: run.device.clone(),
                queued: true,
                queue_deadline: deadline,
                budget: Budget::Span {
                    timeout,
                    cap: deadline,
                },
                dispatched: now,
                run,
                level: 0,
                attempt: 1,
                plug,
            });
        }
        let done = pending.is_empty();
        if let Some(op) = self.ops.get_mut(&id) {
            op.phase = Phase::Probing(Probing {
                plan,
                pending,
                answers: BTreeMap::new(),
            });
        }
        if done {
            self.answer_dry_run(id, "no device can fence the target", out);
            return;
        }
        for info in infos {
            self.submit_run(info, now, out);
        }
    }

    /// A probe ended: keep its answer; when all are in, answer the dry run.
    pub(super) fn on_probe_done(
        &mut self,
        id: OpId,
        run: RunId,
        info: &RunInfo,
        probe: ProbeAction,
        outcome: &AgentOutcome,
        out: &mut Vec<Action>,
    ) {
        let Some(Phase::Probing(probing)) = self.ops.get_mut(&id).map(|o| &mut o.phase) else {
            return;
        };
        probing.pending.remove(&run);
        let answer = ProbeAnswer::from_outcome(probe, outcome);
        probing.answers.insert((info.device.clone(), probe), answer);
        if probing.pending.is_empty() {
            self.answer_dry_run(id, "", out);
        }
    }

    /// Answer a dry run with what is known; probes still out get `missing` as reason.
    pub(super) fn answer_dry_run(&mut self, id: OpId, missing: &str, out: &mut Vec<Action>) {
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        self.cancel_runs_of(id, out);
        let OpKind::DryRun(action) = op.kind else {
            return;
        };
        let (plan, answers, refused) = match op.phase {
            Phase::Probing(p) => {
                let refused = p.plan.is_empty().then(|| missing.to_string());
                (p.plan, p.answers, refused)
            }
            _ => (Vec::new(), BTreeMap::new(), Some(missing.to_string())),
        };
        let timeout = op.deadline.since(op.started);
        let (budgets, worst) = worst_case(
            &plan,
            &self.devices,
            &op.target,
            op.pending_delay,
            timeout,
            self.options.max_delay,
        );
        let mut devices: Vec<DeviceAnswer> = Vec::new();
        for level in &plan {
            for device in &level.devices {
                if devices.iter().any(|d| &d.device == device) {
                    continue;
                }
                let spec = self.devices.get(device);
                let probes: Vec<ProbeAnswer> = ProbeAction::ALL
                    .iter()
                    .map(|p| {
                        answers
                            .get(&(device.clone(), *p))
                            .cloned()
                            .unwrap_or_else(|| {
                                let why = if spec.is_none() {
                                    "device is not registered"
                                } else {
                                    missing
                                };
                                ProbeAnswer::missing(*p, why)
                            })
                    })
                    .collect();
                devices.push(DeviceAnswer {
                    device: device.clone(),
                    plug: spec.and_then(|s| {
                        s.host_argument
                            .as_ref()
                            .map(|_| s.plug_for(&op.target).to_string())
                    }),
                    ok: probes.iter().all(|p| p.ok),
                    probes,
                });
            }
        }
        let ok = |name: &String| devices.iter().any(|d| &d.device == name && d.ok);
        let levels: Vec<LevelVerdict> = plan
            .iter()
            .zip(budgets)
            .map(|(level, steps)| LevelVerdict {
                index: level.index,
                devices: level.devices.clone(),
                ok: level.devices.iter().all(ok),
                steps,
            })
            .collect();
        let would_act = levels.iter().find(|l| l.ok).map(|l| WouldAct {
            level: l.index,
            devices: l.devices.clone(),
        });
        let report = DryRunReport {
            target: op.target.clone(),
            action,
            would_act,
            levels,
            devices,
            worst_case_ms: millis(worst),
            refused,
        };
        for waiter in op.requests {
            out.push(Action::Reply {
                request: waiter.id,
                reply: Reply::DryRun(report.clone()),
            });
        }
    }
}
