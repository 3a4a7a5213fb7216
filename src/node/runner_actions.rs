//! Carrying out what the failover machine decided (fence requests, starts and stops of
//! this node's resources, self-fence), following the resource actors' reports, and the
//! orderly stop at the end of a run. Part of [`super`]: nothing is decided here.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use watchdog::FenceKind;

use super::{ms, Ending, Local, Runner};
use crate::cluster::failover::{Decision, Event};
use crate::node::fencing::FenceOutcome;
use crate::node::resources::{ResourceEvent, What};
use crate::node::timeline::Kind;

impl Runner {
    pub(super) fn execute(&mut self, decisions: Vec<Decision>) {
        for d in decisions {
            match d {
                Decision::Fence {
                    node,
                    delay,
                    reason,
                } => {
                    self.emit(
                        Kind::Fence,
                        &format!(
                            "request {} {} via {} (delay {}): {reason}",
                            self.fencer.action().as_str(),
                            self.name(node),
                            self.fencer.describe(node),
                            ms(delay)
                        ),
                    );
                    self.fencer.spawn(node, delay, self.fence_tx.clone());
                }
                Decision::Blocked {
                    resource,
                    until_fenced,
                } => {
                    if self.blocked.insert(resource.clone(), until_fenced) != Some(until_fenced) {
                        self.emit(
                            Kind::Place,
                            &format!(
                                "{resource} waits until {} is fenced",
                                self.name(until_fenced)
                            ),
                        );
                    }
                }
                Decision::Start { resource, node } => {
                    self.blocked.remove(&resource);
                    if self.placed.insert(resource.clone(), node) != Some(node) {
                        self.emit(Kind::Place, &format!("{resource} -> {}", self.name(node)));
                    }
                    if node == self.cfg.me {
                        self.start_local(&resource);
                    }
                }
                Decision::Stop { resource } => {
                    self.placed.remove(&resource);
                    self.stop_local(&resource, if self.quorate { "fenced" } else { "no quorum" });
                }
                Decision::SelfFence { reason } => self.self_fence(&reason),
            }
        }
    }

    pub(super) fn start_local(&mut self, resource: &str) {
        let view = self.view.clone().unwrap_or_default();
        if let Some(other) = self.book.running_elsewhere(resource, &view) {
            self.emit(
                Kind::Warn,
                &format!(
                    "not starting {resource}: {} reports it running",
                    self.name(other)
                ),
            );
            return;
        }
        match self.local.get(resource).copied() {
            Some(Local::Stopped) => {
                if let Some(h) = self.handles.get(resource) {
                    self.emit(Kind::Resource, &format!("start {resource}"));
                    self.local.insert(resource.to_string(), Local::Starting);
                    h.start();
                }
            }
            // Started once the probe (and cleanup) is over, if still placed here.
            Some(Local::Probing | Local::Cleaning) => {
                self.pending_start.insert(resource.to_string());
            }
            _ => {}
        }
    }

    pub(super) fn stop_local(&mut self, resource: &str, why: &str) {
        let state = self.local.get(resource).copied();
        if matches!(
            state,
            Some(Local::Starting | Local::Running | Local::Unknown)
        ) {
            if let Some(h) = self.handles.get(resource) {
                self.emit(Kind::Resource, &format!("stop {resource} ({why})"));
                self.local.insert(resource.to_string(), Local::Stopping);
                h.stop();
            }
        }
    }

    pub(super) fn self_fence(&mut self, reason: &str) {
        self.emit(Kind::Fence, &format!("SELF-FENCE: {reason}"));
        let result = match self.self_fence.as_mut() {
            Some(exec) => exec.self_fence(FenceKind::Reboot, true, reason),
            None => Err(watchdog::SelfFenceError::Refused(
                "no self-fence executor configured",
            )),
        };
        match result {
            Ok(()) => {
                self.emit(
                    Kind::Fence,
                    "self-fence recorded (test executor): stopping resources and exiting",
                );
                self.ending = Some(Ending::SelfFenced);
            }
            Err(e) => {
                self.emit(
                    Kind::Warn,
                    &format!("self-fence did not happen: {e}; stopping resources and exiting"),
                );
                self.ending = Some(Ending::SelfFenceFailed);
            }
        }
    }

    pub(super) fn fence_outcome(&mut self, out: FenceOutcome, now: Instant) {
        let node = self.name(out.node);
        if out.ok {
            self.emit(
                Kind::Fence,
                &format!("{node} fenced: {} in {}", out.detail, ms(out.elapsed)),
            );
            self.book.fenced_by_us(out.node);
        } else {
            self.emit(
                Kind::Fence,
                &format!(
                    "fencing {node} FAILED after {}: {}",
                    ms(out.elapsed),
                    out.detail
                ),
            );
        }
        let decisions = self.machine.handle(
            Event::Fenced {
                node: out.node,
                ok: out.ok,
            },
            now,
        );
        self.execute(decisions);
    }

    pub(super) fn resource_event(&mut self, ev: ResourceEvent) {
        let r = ev.resource;
        let (state, text) = match ev.what {
            What::ProbedStopped(rc) => (
                Local::Stopped,
                format!("probe {r}: not running here ({rc})"),
            ),
            What::ProbedRunning => (
                Local::Cleaning,
                format!("probe {r}: left running from before, stopping it"),
            ),
            What::Started(d) => (Local::Running, format!("{r} started in {}", ms(d))),
            What::StartFailed(rc, n) => (
                Local::Starting,
                format!("start {r} failed ({rc}), attempt {n}"),
            ),
            What::Stopped(d) => (Local::Stopped, format!("{r} stopped in {}", ms(d))),
            What::StopFailed(rc) => (
                Local::Unknown,
                format!("stop {r} FAILED ({rc}): state unknown"),
            ),
            What::MonitorFailed(rc, n) => (
                Local::Stopping,
                format!("monitor {r} failed ({rc}), failure {n}: restarting"),
            ),
            What::GaveUp(n) => (Local::Stopped, format!("{r}: {n} failures, left stopped")),
        };
        let before = self.local.insert(r.clone(), state);
        self.emit(Kind::Resource, &text);
        // A resource we run now but whose placement says elsewhere (or nowhere) is stopped.
        if state == Local::Running && self.placed.get(&r) != Some(&self.cfg.me) {
            self.stop_local(&r, "not placed here");
        }
        // The probe or cleanup is over: a start decided meanwhile happens now.
        let probe_over =
            matches!(before, Some(Local::Probing | Local::Cleaning)) && state == Local::Stopped;
        if probe_over && self.pending_start.remove(&r) && self.placed.get(&r) == Some(&self.cfg.me)
        {
            self.start_local(&r);
        }
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
    r.emit(
        Kind::Daemon,
        &format!("stopping ({ending:?}): stopping local resources"),
    );
    let names: Vec<String> = r.local.keys().cloned().collect();
    for n in &names {
        r.placed.remove(n);
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
                r.resource_event(ev);
                // a probe that finds it stopped, or a start finishing: stop again
                let pending: Vec<String> = r
                    .local
                    .iter()
                    .filter(|(_, s)| matches!(s, Local::Running | Local::Starting))
                    .map(|(n, _)| n.clone())
                    .collect();
                for n in pending {
                    r.stop_local(&n, "node stopping");
                }
            }
            _ => {
                r.emit(Kind::Warn, "resources did not all stop in time");
                break;
            }
        }
    }
    r.emit(Kind::Daemon, "stopped");
}
