//! The node's I/O driver, the one place where the pure parts meet I/O: datagrams,
//! ticks, tie-breaker answers, fence results, the resource actors' reports and the
//! plan's turn (with the wall clock) go into the [`NodeMachine`], which decides
//! membership, the view, quorum, fences and, through the scheduler
//! ([`crate::placement`]), what this node starts and stops; its actions are carried out
//! here (timeline lines, fence requests through the [`Fencer`], the self-fence executor,
//! orders to the resource actors, the admin state file: [`scheduling`]). Datagrams are
//! taken in by [`receive`] and sent by [`send`]; the control socket is answered in
//! [`control`]; the orderly stop at the end (and the clean leave) is in [`actions`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::config::NodeConfig;
use super::events::{millis, Event};
use super::fencing::{FenceOutcome, Fencer};
use super::heartbeat::Rings;
use super::machine::{Action, Input, NodeMachine, Order, Settings};
use super::resources::{self, AgentContext, ResourceHandle};
use super::timeline::Timeline;
use crate::cluster::challenge::SEED_LEN;
use crate::cluster::packet::Key;
use crate::cluster::quorum::{self, NodeId};
use watchdog::SelfFence;

mod actions;
mod control;
mod promotion;
mod receive;
mod scheduling;
mod send;

/// How the node's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// SIGTERM/SIGINT: resources stopped.
    Stopped,
    /// A peer fenced this incarnation (fencing-reaction=stop): resources stopped.
    FencedByPeer,
    /// A self-fence was recorded (test executor); resources stopped.
    SelfFenced,
    /// A self-fence was attempted and returned (no CAP_SYS_BOOT?).
    SelfFenceFailed,
}

/// Setup failures.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Sockets or key.
    #[error("{0}")]
    Transport(#[from] super::heartbeat::TransportError),
    /// The self-fence executor.
    #[error("{0}")]
    SelfFence(#[from] super::fencing::SelfFenceSetupError),
    /// The ping or disk tie-breaker.
    #[error("{0}")]
    TieBreaker(#[from] super::tie_breaker::StartError),
    /// No random seed for the heartbeat challenges.
    #[error("cannot read a random seed from /dev/urandom: {0}")]
    Random(std::io::Error),
}

struct Runner {
    cfg: NodeConfig,
    timeline: Timeline,
    key: Key,
    incarnation: u64,
    seq: u64,
    /// Every decision about the cluster: membership, view, quorum, fencing.
    machine: NodeMachine,
    /// The applied view's number, shared with the resource agents' environment.
    epoch: Arc<AtomicU64>,
    handles: BTreeMap<String, ResourceHandle>,
    /// Where the admin records are kept.
    admin_file: std::path::PathBuf,
    /// Recent fencing, for `palisade status`.
    fence_log: std::collections::VecDeque<super::status::FenceLine>,
    /// Plan again at the end of this turn of the loop (besides [`NodeMachine::plan_due`]).
    plan_now: bool,
    /// Something peers should know now: send a report at once.
    send_now: bool,
    fencer: Fencer,
    fence_tx: mpsc::UnboundedSender<FenceOutcome>,
    self_fence: Option<Box<dyn SelfFence + Send>>,
    ending: Option<Ending>,
    /// Failed writes of the sbd health file (the first one is logged).
    dropped_health_reports: u64,
    /// The ping and disk tie-breakers (their I/O; the machine asks them).
    tie_breakers: super::tie_breaker::TieBreakers,
}

impl Runner {
    fn name(&self, n: NodeId) -> String {
        self.cfg.name_of(n)
    }

    fn emit(&self, event: Event) {
        self.timeline.emit(&event);
    }

    /// Hand `input` to the machine and carry out what it asks, feeding back the
    /// tie-breakers' answers when it asks for them.
    fn feed(&mut self, input: Input, now: Instant) {
        let actions = self.machine.handle(input, now);
        self.carry_out(actions, now);
    }

    /// Carry out the machine's `actions`.
    fn carry_out(&mut self, actions: Vec<Action>, now: Instant) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Emit(event) => self.emit(event),
                Action::AskTieBreakers { view, wfa } => {
                    let (answers, events) = self.tie_breakers.poll(&self.cfg, &view, &wfa, now);
                    for event in events {
                        self.emit(event);
                    }
                    let pending = self.tie_breakers.pending(now);
                    queue.extend(
                        self.machine
                            .handle(Input::TieBreakers { answers, pending }, now),
                    );
                }
                Action::Fence {
                    node,
                    delay,
                    reason,
                } => {
                    self.emit(Event::FenceRequest {
                        target: self.name(node),
                        action: self.fencer.action().as_str().to_string(),
                        route: self.fencer.route(node),
                        delay_ms: millis(delay),
                        reason,
                    });
                    self.fencer.spawn(node, delay, self.fence_tx.clone());
                }
                Action::SelfFence { reason } => self.self_fence(&reason),
                Action::ViewApplied { epoch } => self.epoch.store(epoch, Ordering::Relaxed),
                Action::FenceKnown { node, ok, detail } => {
                    let name = self.name(node);
                    scheduling::log_fence(&mut self.fence_log, name, ok, detail);
                }
                Action::SaveAdmin(json) => self.save_admin(&json),
                Action::FencedByPeer => self.ending = Some(Ending::FencedByPeer),
                Action::SendNow => self.send_now = true,
                Action::Actor { instance, order } => {
                    if let Some(h) = self.handles.get(&instance) {
                        match order {
                            Order::Start => h.start(),
                            Order::Stop => h.stop(),
                            Order::Promote => h.promote(),
                            Order::Demote => h.demote(),
                        }
                    }
                }
                Action::ActorsMaintenance { on } => {
                    for h in self.handles.values() {
                        h.maintenance(on);
                    }
                }
                // The machine marks its plan due.
                Action::Replan => {}
            }
        }
    }
}

/// The secret seed of this start's heartbeat challenges (`cluster::challenge`).
fn challenge_seed() -> Result<[u8; SEED_LEN], RunError> {
    use std::io::Read;
    let mut seed = [0u8; SEED_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(RunError::Random)?;
    Ok(seed)
}

fn incarnation() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(1)
}

/// Run the node until `stop` completes (or a fence or self-fence ends it).
pub async fn run(
    cfg: NodeConfig,
    forbid_self_fence: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Ending, RunError> {
    let self_fence = if cfg.quorum.no_quorum_policy == quorum::NoQuorumPolicy::Fence {
        Some(super::fencing::self_fencer(
            &cfg.fencing.self_fence,
            forbid_self_fence,
        )?)
    } else {
        None
    };
    let key = Key::new(&cfg.key).map_err(super::heartbeat::TransportError::from)?;
    let seed = challenge_seed()?;
    let rings = Rings::bind(&cfg).await?;
    let (net_tx, mut net_rx) = mpsc::unbounded_channel();
    rings.spawn_receivers(&cfg, net_tx)?;
    let (fence_tx, mut fence_rx) = mpsc::unbounded_channel();
    let (res_tx, mut res_rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let me_name = cfg.name_of(cfg.me);
    let epoch = Arc::new(AtomicU64::new(0));
    let (promotion, promotion_warning) = promotion::promotion_dirs(&cfg, &me_name);
    let ctx = AgentContext {
        ocf_root: cfg.ocf_root.clone(),
        node_name: me_name.clone(),
        epoch: Arc::clone(&epoch),
        classes: cfg.classes.clone(),
        promotion,
    };
    let mut handles = BTreeMap::new();
    for entry in super::operations::local_entries(&cfg) {
        handles.insert(
            entry.name.clone(),
            resources::spawn(entry, ctx.clone(), res_tx.clone()),
        );
    }
    let incarnation = incarnation();
    let tie_breakers = super::tie_breaker::TieBreakers::start(&cfg, incarnation)?;
    let admin_file = scheduling::admin_file(&cfg.state_dir, cfg.cluster_id, &me_name);
    let (admin, admin_warning) = scheduling::load_admin(&admin_file);
    let mut r = Runner {
        timeline: Timeline::new(&me_name, cfg.timeline_file.clone(), cfg.events_file.clone()),
        key,
        incarnation,
        seq: 0,
        machine: NodeMachine::new(Settings::of(&cfg, incarnation), now, seed).with_admin(admin),
        epoch,
        handles,
        admin_file,
        fence_log: std::collections::VecDeque::new(),
        plan_now: false,
        send_now: false,
        fencer: Fencer::new(&cfg),
        fence_tx,
        self_fence,
        ending: None,
        dropped_health_reports: 0,
        tie_breakers,
        cfg,
    };
    r.emit(Event::Start {
        cluster: r.cfg.cluster_id,
        incarnation: r.incarnation,
        pid: std::process::id(),
        rings: r.cfg.rings(),
        keepalive_ms: millis(r.cfg.timers.keepalive),
        deadtime_ms: millis(r.cfg.timers.deadtime),
        initdead_ms: millis(r.cfg.timers.initdead),
    });
    if let Some(error) = admin_warning {
        r.emit(Event::AdminStateUnreadable { error });
    }
    if let Some(w) = promotion_warning {
        r.emit(w);
    }
    // The control socket of `palisade status` & co. Without it the node still runs.
    let (control_tx, mut control_rx) = mpsc::unbounded_channel::<super::control::Envelope>();
    let control_socket = match super::control::bind(&r.cfg.control_socket) {
        Ok(listener) => {
            let serving = super::control::serve(listener, control_tx.clone());
            r.emit(Event::ControlSocket {
                path: r.cfg.control_socket.display().to_string(),
            });
            Some((r.cfg.control_socket.clone(), serving))
        }
        Err(e) => {
            r.emit(Event::NoControlSocket {
                error: e.to_string(),
            });
            None
        }
    };
    if let Some(event) = r.tie_breakers.describe(&r.cfg) {
        r.emit(event);
    }
    let tick_every =
        (r.cfg.timers.keepalive / 4).clamp(Duration::from_millis(5), Duration::from_millis(100));
    let mut tick = tokio::time::interval(tick_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut beat = tokio::time::interval(r.cfg.timers.keepalive);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // systemd (Type=notify): ready once the control socket is up; the watchdog is petted
    // from this loop, so a wedged loop stops petting.
    let watchdog = crate::systemd::watchdog_interval();
    let mut pet = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let _ = crate::systemd::notify(&[
        crate::systemd::State::Ready,
        crate::systemd::State::Status(format!("node {} running", r.cfg.name_of(r.cfg.me))),
    ]);
    tokio::pin!(stop);
    let ending = loop {
        if let Some(e) = r.ending {
            break e;
        }
        tokio::select! {
            _ = &mut stop => break Ending::Stopped,
            _ = pet.tick(), if watchdog.is_some() => {
                let _ = crate::systemd::notify(&[crate::systemd::State::Watchdog]);
            }
            _ = beat.tick() => {
                r.report_health();
                // failure-timeout is an input that changes with time alone
                let timeouts = r.machine.failure_timeouts();
                r.feed(Input::ExpireFailures(timeouts), Instant::now());
                r.plan_now = true;
                r.send(&rings).await
            }
            _ = tick.tick() => {
                r.feed(Input::Tick, Instant::now());
            }
            Some(msg) = net_rx.recv() => r.incoming(msg, Instant::now()),
            Some(out) = fence_rx.recv() => {
                r.fence_outcome(out, Instant::now());
                // Tell the peers at once.
                r.send(&rings).await;
            }
            Some(ev) = res_rx.recv() => r.resource_event(ev, Instant::now()),
            Some(envelope) = control_rx.recv() => {
                let answer = r.control(envelope.request, Instant::now());
                let _ = envelope.reply.send(answer);
            }
        }
        if (r.plan_now || r.machine.plan_due()) && r.ending.is_none() {
            r.plan_now = false;
            let wall = crate::fencer::duration::Moment(scheduling::unix_ms());
            r.feed(Input::Plan { wall }, Instant::now());
        }
        // What we see changed: tell the peers now rather than at the next keepalive, so
        // that a new view is agreed within a round trip; the same for a change of our
        // resources, failcounts, admin records or grants, which peers plan with.
        if r.machine.announcement_due() || r.send_now {
            r.send(&rings).await;
        }
    };
    drop(control_tx);
    let _ = crate::systemd::notify(&[crate::systemd::State::Stopping]);
    actions::shutdown(&mut r, &mut res_rx, &rings, ending).await;
    if let Some((path, serving)) = control_socket {
        drop(serving);
        let _ = std::fs::remove_file(path);
    }
    Ok(ending)
}
