//! The daemon's core task: it owns the [`Fencer`] state machine and is the only place
//! that feeds it. Commands from API connections, agent completions and deadline ticks go
//! in; the machine's actions come out and are carried out here: agent runs are spawned
//! (delay, then the executor), cancelled runs are killed, notices go to subscribers and
//! metrics, finished operations go to the journal thread, and replies to fencing
//! requests are sent only after their operation is durably journaled.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use super::journal::JournalJob;
use super::registry;
use super::Shared;
use crate::api::protocol::{
    ApiError, ErrorCode, EventLine, FenceResult, QueryResult, Request, Response, PROTOCOL_VERSION,
};
use crate::fencer::agent_input::{check_target, check_value};
use crate::fencer::device::AgentAction;
use crate::fencer::dryrun::DryRunRequest;
use crate::fencer::duration::{millis, Moment};
use crate::fencer::executor::{resolve_agent, run_agent, Caller};
use crate::fencer::history::{HealthEntry, HealthKind, HistoryEntry, JournalLine, HISTORY_VERSION};
use crate::fencer::machine::{
    Action, AgentOutcome, AgentRun, AgentStatus, Event, Fencer, Notice, Reply,
};
use crate::fencer::operation::{FenceAction, FenceRequest, QueryRequest, RequestId, RunId};

/// A request for the core, with where to send the answer.
#[derive(Debug)]
pub struct Command {
    /// The request (fence, query and registry requests only).
    pub request: Request,
    /// Its `id`, echoed in the response.
    pub id: Value,
    /// Who asks (for the history).
    pub requester: String,
    /// Where the response goes.
    pub reply: oneshot::Sender<Response>,
}

/// Milliseconds since the Unix epoch at start, advanced by a monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
    start_ms: u64,
}

impl Clock {
    /// Anchor now.
    pub fn start() -> Clock {
        let start_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(millis)
            .unwrap_or(0);
        Clock {
            start: Instant::now(),
            start_ms,
        }
    }

    /// The current moment.
    pub fn now(&self) -> Moment {
        Moment(self.start_ms.saturating_add(millis(self.start.elapsed())))
    }

    /// The instant of a moment (for timers).
    pub fn instant(&self, at: Moment) -> Instant {
        self.start + Duration::from_millis(at.0.saturating_sub(self.start_ms))
    }
}

#[derive(Debug)]
enum PendingKind {
    Fence { target: String, action: FenceAction },
    Query { target: String },
    DryRun,
}

#[derive(Debug)]
struct Pending {
    id: Value,
    reply: oneshot::Sender<Response>,
    kind: PendingKind,
}

#[derive(Debug)]
struct RunningAgent {
    cancel: watch::Sender<bool>,
    device: String,
    action: AgentAction,
    started: Instant,
}

/// The core task's state.
pub struct Core {
    fencer: Fencer,
    shared: Arc<Shared>,
    clock: Clock,
    pending: HashMap<RequestId, Pending>,
    next_request: u64,
    runs: HashMap<RunId, RunningAgent>,
    done_tx: mpsc::UnboundedSender<(RunId, AgentOutcome)>,
    done_rx: mpsc::UnboundedReceiver<(RunId, AgentOutcome)>,
    journal: std::sync::mpsc::Sender<JournalJob>,
    /// The health generation last copied into the shared view.
    health_shown: Option<u64>,
}

/// Longest wait for killed agents to report after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl Core {
    /// A core around `fencer`.
    pub fn new(
        fencer: Fencer,
        shared: Arc<Shared>,
        clock: Clock,
        journal: std::sync::mpsc::Sender<JournalJob>,
    ) -> Core {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Core {
            fencer,
            shared,
            clock,
            pending: HashMap::new(),
            next_request: 1,
            runs: HashMap::new(),
            done_tx,
            done_rx,
            journal,
            health_shown: None,
        }
    }

    /// Serve commands until `shutdown` completes; then cancel everything in flight.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        // systemd's watchdog (WatchdogSec=) is petted from this loop: a wedged core stops
        // petting and systemd restarts the daemon.
        let watchdog = crate::systemd::watchdog_interval();
        let mut pet = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        loop {
            let deadline = self.fencer.poll_deadline().map(|m| self.clock.instant(m));
            let tick = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                Some((run, outcome)) = self.done_rx.recv() => self.on_done(run, outcome),
                _ = tick => {
                    let actions = self.fencer.handle(Event::Tick, self.clock.now());
                    self.apply(actions);
                }
                _ = pet.tick(), if watchdog.is_some() => {
                    let _ = crate::systemd::notify(&[crate::systemd::State::Watchdog]);
                }
                _ = &mut shutdown => break,
            }
            self.update_gauges();
        }
        let actions = self.fencer.handle(Event::Shutdown, self.clock.now());
        self.apply(actions);
        let grace = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(grace);
        while !self.runs.is_empty() {
            tokio::select! {
                Some((run, outcome)) = self.done_rx.recv() => self.on_done(run, outcome),
                _ = &mut grace => break,
            }
        }
    }

    fn update_gauges(&mut self) {
        if let Ok(mut g) = self.shared.gauges.lock() {
            g.operations_in_flight = self.fencer.operations_in_flight();
            g.devices = self.fencer.devices().len();
            g.agents_running = self.runs.len();
        }
        let generation = self.fencer.health_generation();
        if self.health_shown == Some(generation) {
            return;
        }
        self.health_shown = Some(generation);
        let view = super::metrics::HealthView {
            devices: self
                .fencer
                .devices()
                .keys()
                .filter_map(|d| Some((d.clone(), self.fencer.device_health(d)?.clone())))
                .collect(),
            targets: self.fencer.fenceability(),
        };
        if let Ok(mut h) = self.shared.health.lock() {
            *h = view;
        }
    }

    fn on_command(&mut self, command: Command) {
        let Command {
            request,
            id,
            requester,
            reply,
        } = command;
        let now = self.clock.now();
        match request {
            Request::Fence {
                target,
                action,
                timeout_ms,
                delay_ms,
                ..
            } => {
                let timeout = timeout_ms.map(Duration::from_millis);
                let delay = Duration::from_millis(delay_ms);
                if let Err(message) = self.check_request(&target, Some(&requester), timeout, delay)
                {
                    let error = ApiError::new(ErrorCode::Invalid, message);
                    let _ = reply.send(Response::failure(id, error));
                    return;
                }
                let action = action.unwrap_or(self.fencer.options().action);
                let request_id = self.new_request_id();
                let kind = PendingKind::Fence {
                    target: target.clone(),
                    action,
                };
                self.pending.insert(request_id, Pending { id, reply, kind });
                let event = Event::Fence(FenceRequest {
                    id: request_id,
                    target,
                    action,
                    requester,
                    timeout,
                    delay,
                });
                let actions = self.fencer.handle(event, now);
                self.apply(actions);
            }
            Request::DryRun {
                target,
                action,
                timeout_ms,
                delay_ms,
            } => {
                let timeout = timeout_ms.map(Duration::from_millis);
                let delay = Duration::from_millis(delay_ms);
                if let Err(message) = self.check_request(&target, None, timeout, delay) {
                    let error = ApiError::new(ErrorCode::Invalid, message);
                    let _ = reply.send(Response::failure(id, error));
                    return;
                }
                let action = action.unwrap_or(self.fencer.options().action);
                let request_id = self.new_request_id();
                self.pending.insert(
                    request_id,
                    Pending {
                        id,
                        reply,
                        kind: PendingKind::DryRun,
                    },
                );
                let event = Event::DryRun(DryRunRequest {
                    id: request_id,
                    target,
                    action,
                    timeout,
                    delay,
                });
                let actions = self.fencer.handle(event, now);
                self.apply(actions);
            }
            Request::Query { target, timeout_ms } => {
                let timeout = timeout_ms.map(Duration::from_millis);
                if let Err(message) = self.check_request(&target, None, timeout, Duration::ZERO) {
                    let error = ApiError::new(ErrorCode::Invalid, message);
                    let _ = reply.send(Response::failure(id, error));
                    return;
                }
                let request_id = self.new_request_id();
                let kind = PendingKind::Query {
                    target: target.clone(),
                };
                self.pending.insert(request_id, Pending { id, reply, kind });
                let event = Event::Query(QueryRequest {
                    id: request_id,
                    target,
                    timeout,
                });
                let actions = self.fencer.handle(event, now);
                self.apply(actions);
            }
            other => {
                let (response, notice) =
                    registry::handle(&mut self.fencer, &self.shared.agent_dirs, other, id);
                if let Some(notice) = notice {
                    self.publish(notice, now);
                }
                let _ = reply.send(response);
                let actions = self.fencer.registry_changed();
                self.apply(actions);
            }
        }
    }

    /// Why a fence or query request is refused before it reaches the machine: a target or
    /// requester that could inject agent input, or a delay or timeout beyond the limits.
    fn check_request(
        &self,
        target: &str,
        requester: Option<&str>,
        timeout: Option<Duration>,
        delay: Duration,
    ) -> Result<(), String> {
        check_target(target).map_err(|e| e.to_string())?;
        if let Some(requester) = requester {
            check_value("requester", requester).map_err(|e| e.to_string())?;
        }
        self.fencer
            .options()
            .check_request(timeout, delay)
            .map_err(|e| e.to_string())
    }

    fn new_request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn on_done(&mut self, run: RunId, outcome: AgentOutcome) {
        if let Some(agent) = self.runs.remove(&run) {
            if let Ok(mut m) = self.shared.metrics.lock() {
                m.agent_finished(
                    &agent.device,
                    agent.action,
                    &outcome.status,
                    agent.started.elapsed(),
                );
            }
        }
        let actions = self
            .fencer
            .handle(Event::AgentDone { run, outcome }, self.clock.now());
        self.apply(actions);
    }

    /// Carry out the machine's actions. Replies in a batch that also finished operations
    /// wait until the journal thread has made those operations durable.
    fn apply(&mut self, actions: Vec<Action>) {
        let now = self.clock.now();
        let mut replies = Vec::new();
        let mut entries = Vec::new();
        for action in actions {
            match action {
                Action::RunAgent(run) => self.spawn_run(run),
                Action::CancelRun(run) => {
                    if let Some(agent) = self.runs.get(&run) {
                        let _ = agent.cancel.send(true);
                    }
                }
                Action::Reply { request, reply } => {
                    if let Some(p) = self.pending.remove(&request) {
                        let response = response_for(&self.fencer, p.id, p.kind, reply);
                        replies.push((p.reply, response));
                    }
                }
                Action::Notify(notice) => self.publish(notice, now),
                Action::Record(record) => {
                    if let Ok(mut m) = self.shared.metrics.lock() {
                        let took = record.finished.since(record.started);
                        m.operation_finished(record.action, &record.result, took);
                    }
                    entries.push(JournalLine::Operation(HistoryEntry {
                        v: HISTORY_VERSION,
                        node: self.shared.node.clone(),
                        record,
                    }));
                }
                Action::HealthChecked(record) => {
                    if let Ok(mut m) = self.shared.metrics.lock() {
                        m.health_checked(&record.device, record.ok);
                    }
                    entries.push(JournalLine::Health(HealthEntry {
                        v: HISTORY_VERSION,
                        node: self.shared.node.clone(),
                        kind: HealthKind::DeviceHealth,
                        record,
                    }));
                }
            }
        }
        if entries.is_empty() {
            for (tx, response) in replies {
                let _ = tx.send(response);
            }
            return;
        }
        let job = JournalJob { entries, replies };
        if let Err(std::sync::mpsc::SendError(job)) = self.journal.send(job) {
            tracing::error!("history journal thread is gone; replying without journaling");
            for (tx, response) in job.replies {
                let _ = tx.send(response);
            }
        }
    }

    fn publish(&self, notice: Notice, now: Moment) {
        if matches!(notice, Notice::Merged { .. }) {
            if let Ok(mut m) = self.shared.metrics.lock() {
                m.operation_merged();
            }
        }
        tracing::info!(?notice, "fencer");
        let _ = self.shared.events.send(EventLine {
            v: PROTOCOL_VERSION,
            at: now,
            notice,
        });
    }

    /// Start one agent run as its own task: wait out the delay, then run the agent; both
    /// phases end early when the run is cancelled.
    fn spawn_run(&mut self, run: AgentRun) {
        let (cancel, cancelled) = watch::channel(false);
        self.runs.insert(
            run.run,
            RunningAgent {
                cancel,
                device: run.device.clone(),
                action: run.action,
                started: Instant::now(),
            },
        );
        let done = self.done_tx.clone();
        let path = resolve_agent(&run.agent, &self.shared.agent_dirs);
        tracing::debug!(run = run.run.0, device = %run.device, action = %run.action,
            target = ?run.target, delay_ms = millis(run.delay), timeout_ms = millis(run.timeout),
            "starting agent");
        tokio::spawn(async move {
            let outcome = match path {
                Err(e) => AgentOutcome {
                    status: AgentStatus::SpawnFailed(e.to_string()),
                    stdout: String::new(),
                    stderr: String::new(),
                },
                Ok(path) => {
                    let waited = tokio::select! {
                        _ = tokio::time::sleep(run.delay) => true,
                        _ = cancelled_signal(cancelled.clone()) => false,
                    };
                    if waited {
                        run_agent(
                            &path,
                            &run.stdin,
                            run.timeout,
                            Caller::Fencer,
                            cancelled_signal(cancelled),
                        )
                        .await
                    } else {
                        AgentOutcome {
                            status: AgentStatus::NotStarted("cancelled during its delay".into()),
                            stdout: String::new(),
                            stderr: String::new(),
                        }
                    }
                }
            };
            let _ = done.send((run.run, outcome));
        });
    }
}

/// Completes when the run is cancelled (never if the core drops the sender without).
async fn cancelled_signal(mut rx: watch::Receiver<bool>) {
    loop {
        if *rx.borrow() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn response_for(fencer: &Fencer, id: Value, kind: PendingKind, reply: Reply) -> Response {
    match (kind, reply) {
        (PendingKind::Fence { target, action }, Reply::Fence { op, result }) => Response::success(
            id,
            &FenceResult {
                op,
                target,
                action,
                result,
            },
        ),
        (PendingKind::Query { target }, Reply::Query { devices }) => {
            let levels = fencer.levels_for(&target);
            let fenceable = fencer.target_fenceable(&target);
            Response::success(
                id,
                &QueryResult {
                    target,
                    devices,
                    levels,
                    fenceable,
                },
            )
        }
        (PendingKind::DryRun, Reply::DryRun(report)) => Response::success(id, &report),
        (_, _) => Response::failure(
            id,
            crate::api::protocol::ApiError::new(
                crate::api::protocol::ErrorCode::Internal,
                "reply does not match the request",
            ),
        ),
    }
}
