//! Carrying out the machine's self-fence, handing the resource actors' reports and
//! fence results to the machine, and the orderly stop at the end of
//! a run. Part of [`super`]: nothing is decided here.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use watchdog::FenceKind;

use super::{Ending, Runner};
use crate::node::events::Event;
use crate::node::fencing::FenceOutcome;
use crate::node::heartbeat::Rings;
use crate::node::machine::Input;
use crate::node::resources::ResourceEvent;

impl Runner {
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

    /// A fence this node asked for ended: the machine takes the result.
    pub(super) fn fence_outcome(&mut self, out: FenceOutcome, now: Instant) {
        self.feed(
            Input::FenceDone {
                node: out.node,
                result: out.result,
                elapsed: out.elapsed,
            },
            now,
        );
    }

    /// What a resource actor reports goes to the machine with the failure rules of
    /// its primitive (from the configuration the last plan was computed with).
    pub(super) fn resource_event(&mut self, ev: ResourceEvent, now: Instant) {
        let (primitive, rules) = self.machine.failure_rules(&ev.resource);
        self.feed(
            Input::Resource {
                instance: ev.resource,
                primitive,
                what: ev.what,
                rules,
            },
            now,
        );
    }
}

/// How many times the last report (the clean leave) is sent.
const LEAVE_SENDS: usize = 3;

/// Stop every local resource (bounded by the longest operation timeout). A clean stop
/// (SIGTERM) keeps sending heartbeats and reports every keepalive meanwhile, so the peers
/// keep it a member (and see its resources stopping, then stopped) instead of declaring
/// it dead and fencing it in the middle of its stops; a node fenced or self-fenced says
/// nothing more. After a clean stop the last reports announce the leave
/// ([`crate::node::machine`]'s `leave`).
pub(super) async fn shutdown(
    r: &mut Runner,
    res_rx: &mut mpsc::UnboundedReceiver<ResourceEvent>,
    rings: &Rings,
    ending: Ending,
) {
    let heartbeat = ending == Ending::Stopped;
    let mut beat = tokio::time::interval(r.cfg.timers.keepalive);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    r.emit(Event::Stopping { ending });
    let stop_all = || Input::StopAll {
        reason: "node stopping".into(),
    };
    r.feed(stop_all(), Instant::now());
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
    while !r.machine.instances().all_stopped() {
        let event = tokio::select! {
            ev = tokio::time::timeout_at(deadline, res_rx.recv()) => ev,
            _ = beat.tick(), if heartbeat => {
                r.send(rings).await;
                continue;
            }
        };
        match event {
            Ok(Some(ev)) => {
                r.resource_event(ev, Instant::now());
                // a stop done (the next may go), a probe that finds it running, or a
                // start finishing: stop again
                r.feed(stop_all(), Instant::now());
            }
            _ => {
                r.emit(Event::StopTimedOut);
                break;
            }
        }
    }
    if heartbeat {
        // What runs here now (nothing) and, when everything is stopped, the clean leave
        // (the machine decides): the peers learn it before we go silent, and drop this
        // node without fencing it. Sent a few times: a datagram can be lost (then the
        // peers fence this node, as they would without the leave).
        r.feed(Input::Leave, Instant::now());
        let gap = (r.cfg.timers.keepalive / 4)
            .clamp(Duration::from_millis(5), Duration::from_millis(100));
        for i in 0..LEAVE_SENDS {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            r.send(rings).await;
        }
    }
    r.emit(Event::Stopped);
}
