//! One actor task per resource instance: it serializes the instance's operations and
//! runs its recurring monitor. Part of [`super::resources`]; decisions are the driver's.
//!
//! The actor first probes (a `monitor` with interval 0) and stops a leftover instance
//! (demoted first when it was found promoted); then it obeys Start, Stop, Promote and
//! Demote, one attempt each, each within its own timeout. While the instance runs it is
//! monitored by the monitor of its role ([`Operations::monitor_for`]): a promoted
//! instance must answer 8 (OCF_RUNNING_PROMOTED), any other must answer 0. Anything else
//! leaves it failed (and no longer monitored) until it is told to stop; an instance that
//! answered 8 or 9 when it should not have, or whose promote or demote failed, counts as
//! possibly promoted, so that nobody else is promoted before it is demoted or stopped. A
//! Stop of a promoted instance demotes it first (an agent may refuse to stop a promoted
//! instance, as `ocf:pacemaker:Stateful` does).
//!
//! Maintenance pauses the recurring monitor; when it ends the instance is probed again
//! and what runs then is reported ([`What::Reprobed`]), as pacemaker re-probes.
//!
//! After every operation of a promotable clone's instance the actor reads the promotion
//! score the agent left with `crm_attribute --promotion` ([`super::attributes`]) and
//! reports a change.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::agent_exec;
use super::attributes;
use super::config::ResourceEntry;
use super::operations::Monitor;
use super::resources::{AgentContext, OcfRc, Order, ResourceEvent, What};

/// Where the instance stands, as the actor knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Stopped,
    Running {
        promoted: bool,
    },
    /// An operation or monitor failed: not monitored, waits for a Stop (or Demote).
    Failed {
        promoted: bool,
    },
}

impl State {
    fn promoted(self) -> bool {
        matches!(
            self,
            State::Running { promoted: true } | State::Failed { promoted: true }
        )
    }
}

struct Actor {
    entry: ResourceEntry,
    ctx: AgentContext,
    events: mpsc::UnboundedSender<ResourceEvent>,
    state: State,
    maintenance: bool,
    /// The promotion score file of a promotable instance, and its last reported value.
    score_file: Option<PathBuf>,
    score: Option<String>,
}

impl Actor {
    fn send(&self, what: What) {
        let _ = self.events.send(ResourceEvent {
            resource: self.entry.name.clone(),
            what,
        });
    }

    fn promotable(&self) -> bool {
        self.entry.clone.as_ref().is_some_and(|c| c.promotable)
    }

    async fn op(&mut self, action: &str, interval: Duration) -> OcfRc {
        let (rc, stderr) = agent_exec::run_action(&self.entry, &self.ctx, action, interval).await;
        let expected = matches!(
            rc,
            OcfRc::Success | OcfRc::NotRunning | OcfRc::RunningPromoted
        );
        if !expected && !stderr.trim().is_empty() {
            let tail: String = stderr
                .trim()
                .lines()
                .last()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            eprintln!("palisade node: {} {action}: {rc}: {tail}", self.entry.name);
        }
        self.check_score();
        rc
    }

    /// Report the agent's promotion score when it changed.
    fn check_score(&mut self) {
        let Some(file) = &self.score_file else {
            return;
        };
        let now = attributes::read_score(file);
        if now != self.score {
            self.score = now.clone();
            self.send(What::PromotionScore(now));
        }
    }

    /// Demote a promoted instance; true if it worked.
    async fn demote(&mut self) -> bool {
        let t = Instant::now();
        let failed = matches!(self.state, State::Failed { .. });
        match self.op("demote", Duration::ZERO).await {
            OcfRc::Success => {
                self.state = if failed {
                    State::Failed { promoted: false }
                } else {
                    State::Running { promoted: false }
                };
                self.send(What::Demoted(t.elapsed()));
                true
            }
            rc => {
                self.state = State::Failed { promoted: true };
                self.send(What::DemoteFailed(rc));
                false
            }
        }
    }

    async fn stop(&mut self) {
        if self.state.promoted() {
            self.demote().await;
        }
        let promoted = self.state.promoted();
        let t = Instant::now();
        match self.op("stop", Duration::ZERO).await {
            OcfRc::Success | OcfRc::NotRunning => {
                self.state = State::Stopped;
                self.send(What::Stopped(t.elapsed()));
            }
            rc => {
                self.state = State::Failed { promoted };
                self.send(What::StopFailed(rc));
            }
        }
    }

    async fn start(&mut self) {
        let t = Instant::now();
        match self.op("start", Duration::ZERO).await {
            OcfRc::Success => {
                self.state = State::Running { promoted: false };
                self.send(What::Started(t.elapsed()));
            }
            rc => {
                self.state = State::Failed {
                    promoted: self.promotable() && rc.promoted(),
                };
                self.send(What::StartFailed(rc));
            }
        }
    }

    async fn promote(&mut self) {
        let t = Instant::now();
        match self.op("promote", Duration::ZERO).await {
            OcfRc::Success => {
                self.state = State::Running { promoted: true };
                self.send(What::Promoted(t.elapsed()));
            }
            rc => {
                // It may have gone half way: count it promoted until demoted or stopped.
                self.state = State::Failed { promoted: true };
                self.send(What::PromoteFailed(rc));
            }
        }
    }

    async fn probe(&mut self) {
        let rc = self.op("monitor", Duration::ZERO).await;
        let promoted = self.promotable() && rc.promoted();
        if rc == OcfRc::Success || promoted {
            self.send(What::ProbedRunning { promoted });
            self.state = State::Running { promoted };
            self.stop().await;
        } else {
            self.send(What::ProbedStopped(rc));
        }
    }

    /// Probe again after maintenance: adopt what runs now.
    async fn reprobe(&mut self) {
        let rc = self.op("monitor", Duration::ZERO).await;
        let promotable = self.promotable();
        let (state, running, failed) = match &rc {
            OcfRc::Success => (State::Running { promoted: false }, Some(false), false),
            OcfRc::RunningPromoted if promotable => {
                (State::Running { promoted: true }, Some(true), false)
            }
            OcfRc::NotRunning => (State::Stopped, None, false),
            other => {
                let promoted = promotable && other.promoted();
                (State::Failed { promoted }, Some(promoted), true)
            }
        };
        self.state = state;
        self.send(What::Reprobed {
            rc,
            running,
            failed,
        });
    }

    /// The recurring monitor due now, if any.
    fn monitor(&self) -> Option<Monitor> {
        match self.state {
            State::Running { promoted } if !self.maintenance => {
                self.entry.ops.monitor_for(promoted)
            }
            _ => None,
        }
    }

    async fn run_monitor(&mut self, m: Monitor) {
        let promoted = self.state.promoted();
        let rc = self.op("monitor", m.interval).await;
        let expected = if promoted {
            OcfRc::RunningPromoted
        } else {
            OcfRc::Success
        };
        // The state may have changed meanwhile only through this task: still running.
        if rc != expected {
            let maybe_promoted = promoted || (self.promotable() && rc.promoted());
            self.state = State::Failed {
                promoted: maybe_promoted,
            };
            self.send(What::MonitorFailed {
                rc,
                promoted: maybe_promoted,
            });
        }
    }

    async fn command(&mut self, order: Order) {
        match order {
            Order::Start if self.state == State::Stopped => self.start().await,
            Order::Stop if self.state != State::Stopped => self.stop().await,
            Order::Promote if self.state == (State::Running { promoted: false }) => {
                self.promote().await
            }
            Order::Demote if self.state.promoted() => {
                self.demote().await;
            }
            Order::Maintenance(on) if on != self.maintenance => {
                self.maintenance = on;
                if !on {
                    self.reprobe().await;
                }
            }
            _ => {}
        }
    }
}

/// The actor's life: probe, then orders and monitors until the driver drops its handle.
pub(super) async fn run(
    entry: ResourceEntry,
    ctx: AgentContext,
    events: mpsc::UnboundedSender<ResourceEvent>,
    mut commands: mpsc::UnboundedReceiver<Order>,
) {
    let promotable = entry.clone.as_ref().is_some_and(|c| c.promotable);
    let score_file = ctx
        .promotion
        .as_ref()
        .filter(|_| promotable)
        .and_then(|d| attributes::score_file(&d.scores, &entry.name));
    let mut actor = Actor {
        entry,
        ctx,
        events,
        state: State::Stopped,
        maintenance: false,
        score_file,
        score: None,
    };
    actor.probe().await;
    let mut current = actor.monitor();
    let mut next_monitor =
        tokio::time::Instant::now() + current.map_or(Duration::ZERO, |m| m.interval);
    loop {
        // A new role (or maintenance) means another monitor, timed from now.
        let wanted = actor.monitor();
        if wanted != current {
            current = wanted;
            next_monitor =
                tokio::time::Instant::now() + current.map_or(Duration::ZERO, |m| m.interval);
        }
        let due = async {
            match current {
                Some(_) => tokio::time::sleep_until(next_monitor).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            order = commands.recv() => match order {
                None => return,
                Some(order) => actor.command(order).await,
            },
            _ = due => {
                if let Some(m) = current {
                    actor.run_monitor(m).await;
                    next_monitor = tokio::time::Instant::now() + m.interval;
                }
            }
        }
    }
}
