//! Carrying out the machine's self-fence and the plan's starts and stops, following the
//! resource actors' reports (failcounts included), and the orderly stop at the end of a
//! run. Part of [`super`]: nothing is decided here.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use watchdog::FenceKind;

use super::{Ending, Local, Runner};
use crate::node::events::{millis, Event, LeftStoppedCause, Op};
use crate::node::fencing::{FenceOutcome, FenceResult};
use crate::node::machine::Input;
use crate::node::resources::{ResourceEvent, What};
use crate::placement::state::FAILCOUNT_INFINITY;

impl Runner {
    /// Start a local instance the plan places here (the plan's guards were checked).
    pub(super) fn start_local(&mut self, resource: &str, why: &str) {
        if self.local.get(resource) != Some(&Local::Stopped) {
            return;
        }
        if let Some(h) = self.handles.get(resource) {
            self.emit(Event::ResourceAction {
                action: Op::Start,
                resource: resource.to_string(),
                reason: why.to_string(),
            });
            self.local.insert(resource.to_string(), Local::Starting);
            self.sched.send_now = true;
            h.start();
        }
    }

    /// Stop a local instance (anything but stopped or already stopping; a promoted one
    /// is demoted first by its actor).
    pub(super) fn stop_local(&mut self, resource: &str, why: &str) {
        let state = self.local.get(resource).copied();
        if matches!(
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
        ) {
            if let Some(h) = self.handles.get(resource) {
                self.emit(Event::ResourceAction {
                    action: Op::Stop,
                    resource: resource.to_string(),
                    reason: why.to_string(),
                });
                self.local.insert(resource.to_string(), Local::Stopping);
                self.sched.send_now = true;
                h.stop();
            }
        }
    }

    pub(super) fn self_fence(&mut self, reason: &str) {
        self.emit(Event::SelfFence {
            reason: reason.to_string(),
        });
        let result = match self.self_fence.as_mut() {
            Some(exec) => exec.self_fence(FenceKind::Reboot, true, reason),
            None => Err(watchdog::SelfFenceError::Refused(
                "no self-fence executor configured",
            )),
        };
        match result {
            Ok(()) => {
                self.emit(Event::SelfFenceRecorded);
                self.ending = Some(Ending::SelfFenced);
            }
            Err(e) => {
                self.emit(Event::SelfFenceFailed {
                    error: e.to_string(),
                });
                self.ending = Some(Ending::SelfFenceFailed);
            }
        }
    }

    /// A fence this node asked for ended: a plan's fence is no longer pending (or is
    /// due again after fence-retry); the machine takes the result.
    pub(super) fn fence_outcome(&mut self, out: FenceOutcome, now: Instant) {
        match &out.result {
            FenceResult::Fenced { .. } => {
                self.sched.fence_requests.remove(&out.node);
            }
            FenceResult::Failed { .. } => {
                if let Some(pending) = self.sched.fence_requests.get_mut(&out.node) {
                    *pending = Some(now);
                }
            }
        }
        self.feed(
            Input::FenceDone {
                node: out.node,
                result: out.result,
                elapsed: out.elapsed,
            },
            now,
        );
    }

    /// One more failure of instance `r` (counted for its primitive): the count, and an
    /// event when migration-threshold is hit. A failed start with start-failure-is-fatal
    /// counts INFINITY: banned from this node at once.
    fn count_failure(&mut self, r: &str, start: bool, now: Instant) -> (u32, Option<Event>) {
        let primitive = self.primitive_of_local(r);
        let threshold = self.threshold(&primitive);
        let mut n = self.record_failure(&primitive, now);
        if start && self.sched.config.options.start_failure_is_fatal {
            if let Some(entry) = self.sched.failcounts.get_mut(&primitive) {
                entry.0 = FAILCOUNT_INFINITY;
                n = FAILCOUNT_INFINITY;
            }
            let event = (threshold > 0).then(|| Event::LeftStopped {
                resource: primitive.clone(),
                cause: LeftStoppedCause::StartFailureIsFatal,
                failures: n,
                threshold,
            });
            return (n, event);
        }
        let reached = threshold > 0 && threshold < 1_000_000 && n >= threshold;
        let event = reached.then(|| Event::LeftStopped {
            resource: primitive.clone(),
            cause: LeftStoppedCause::MigrationThreshold,
            failures: n,
            threshold,
        });
        (n, event)
    }

    pub(super) fn resource_event(&mut self, ev: ResourceEvent, now: Instant) {
        let r = ev.resource;
        let mut extra = None;
        let promoted_before = self.sched.promoted.contains(&r);
        let done = |action: Op, d: Duration| Event::ResourceDone {
            action,
            resource: r.clone(),
            elapsed_ms: millis(d),
        };
        // (new state, promoted after, event)
        let (state, promoted, event) = match ev.what {
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
                let (n, line) = self.count_failure(&r, true, now);
                extra = line;
                (
                    Local::Failed,
                    rc.promoted() && self.promotable_local(&r),
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
                let (n, line) = self.count_failure(&r, false, now);
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
                self.sched.demote_failed.remove(&r);
                let was_failed = self.sched.failed_demoting.remove(&r);
                // A stop (or a leftover's cleanup) demotes first: it goes on; a failed
                // instance demoted is still failed (its recovery follows).
                let state = match self.local.get(&r) {
                    Some(s @ (Local::Failed | Local::Stopping | Local::Cleaning)) => *s,
                    _ if was_failed => Local::Failed,
                    _ => Local::Running,
                };
                (state, false, done(Op::Demote, d))
            }
            What::DemoteFailed(rc) => {
                self.sched.demote_failed.insert(r.clone());
                self.sched.failed_demoting.remove(&r);
                let (n, line) = self.count_failure(&r, false, now);
                extra = line;
                let state = match self.local.get(&r) {
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
                self.sched.demote_failed.remove(&r);
                self.sched.failed_demoting.remove(&r);
                (Local::Stopped, false, done(Op::Stop, d))
            }
            What::StopFailed(rc) => (
                Local::StopFailed,
                promoted_before,
                Event::StopFailed {
                    resource: r.clone(),
                    rc,
                    fencing: self.cfg.fencing.enabled,
                },
            ),
            What::MonitorFailed { rc, promoted } => {
                let (n, line) = self.count_failure(&r, false, now);
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
                    Some(s) => self.sched.scores.insert(r.clone(), s.clone()),
                    None => self.sched.scores.remove(&r),
                };
                self.emit(Event::PromotionScore {
                    resource: r.clone(),
                    score,
                });
                self.sched.dirty = true;
                self.sched.send_now = true;
                return;
            }
        };
        self.local.insert(r.clone(), state);
        if promoted {
            self.sched.promoted.insert(r.clone());
        } else {
            self.sched.promoted.remove(&r);
        }
        self.emit(event);
        if let Some(extra) = extra {
            self.emit(extra);
        }
        self.sched.dirty = true;
        self.sched.send_now = true;
    }

    /// Whether a local instance belongs to a promotable clone.
    fn promotable_local(&self, instance: &str) -> bool {
        let primitive = self.primitive_of_local(instance);
        self.cfg
            .placement
            .clone_of(&primitive)
            .is_some_and(|c| c.promotable)
    }

    pub(super) fn all_stopped(&self) -> bool {
        self.local
            .values()
            .all(|s| matches!(s, Local::Stopped | Local::Probing))
    }
}

/// Stop every local resource (bounded by the longest operation timeout), keep
/// heartbeating meanwhile is not needed: the node is leaving.
pub(super) async fn shutdown(
    r: &mut Runner,
    res_rx: &mut mpsc::UnboundedReceiver<ResourceEvent>,
    ending: Ending,
) {
    r.emit(Event::Stopping { ending });
    let names: Vec<String> = r.local.keys().cloned().collect();
    for n in &names {
        r.stop_local(n, "node stopping");
    }
    let limit = r
        .cfg
        .resources
        .iter()
        .map(|e| e.op_timeout)
        .max()
        .unwrap_or_default()
        .saturating_mul(3)
        + Duration::from_secs(1);
    let deadline = tokio::time::Instant::now() + limit;
    while !r.all_stopped() {
        match tokio::time::timeout_at(deadline, res_rx.recv()).await {
            Ok(Some(ev)) => {
                r.resource_event(ev, Instant::now());
                // a probe that finds it stopped, or a start finishing: stop again
                let pending: Vec<String> = r
                    .local
                    .iter()
                    .filter(|(_, s)| {
                        matches!(
                            s,
                            Local::Running
                                | Local::Starting
                                | Local::PromotePending
                                | Local::Promoting
                                | Local::Demoting
                        )
                    })
                    .map(|(n, _)| n.clone())
                    .collect();
                for n in pending {
                    r.stop_local(&n, "node stopping");
                }
            }
            _ => {
                r.emit(Event::StopTimedOut);
                break;
            }
        }
    }
    r.emit(Event::Stopped);
}
