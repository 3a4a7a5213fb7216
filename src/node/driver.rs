//! The node's main loop, the one place where the pure parts meet I/O: datagrams and
//! ticks go into [`Membership`] and the [`PeerBook`]; a changed view goes through
//! [`quorum::evaluate`] into the [`FailoverMachine`], whose fence and self-fence
//! decisions are carried out by the [`Fencer`] and the configured executor; where
//! resources run is planned by the scheduler from the view, the reports and the admin
//! records ([`scheduling`]) and this node's share is carried out by the resource
//! actors; datagrams are taken in by [`receive`] and sent by [`send`];
//! the control socket is answered in [`control`]. Every step is a
//! timeline line. Nothing is decided here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::config::NodeConfig;
use super::events::{millis, DeadLimit, Event, Seen, TieBreakerAnswers};
use super::fencing::{FenceOutcome, Fencer};
use super::heartbeat::Rings;
use super::peers::PeerBook;
use super::resources::{self, AgentContext, ResourceHandle};
use super::timeline::Timeline;
use crate::cluster::challenge::SEED_LEN;
use crate::cluster::failover::{Event as MachineEvent, FailoverMachine};
use crate::cluster::membership::{Change, Membership};
use crate::cluster::packet::Key;
use crate::cluster::quorum::{self, ExternalTieBreakers, NodeId, WaitForAll};
use watchdog::SelfFence;

mod actions;
mod control;
mod instances;
mod receive;
use instances::Local;
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
    membership: Membership,
    book: PeerBook,
    machine: FailoverMachine,
    wfa: WaitForAll,
    view: Option<BTreeSet<NodeId>>,
    /// The members our last heartbeat announced.
    announced: BTreeSet<NodeId>,
    /// A quorate view waiting for agreement: (view, since, reported in the timeline).
    held: Option<(BTreeSet<NodeId>, Instant, bool)>,
    verdict: Option<(bool, String)>,
    quorate: bool,
    epoch: Arc<AtomicU64>,
    local: BTreeMap<String, Local>,
    handles: BTreeMap<String, ResourceHandle>,
    /// The scheduler's side: admin records, failcounts, reports, the plan.
    sched: scheduling::Scheduling,
    last_heard: BTreeMap<NodeId, Instant>,
    ring_heard: BTreeMap<(NodeId, usize), (Instant, bool)>,
    dropped: u64,
    /// Per peer: its heartbeats held as unproven ([`receive`]).
    unproven: BTreeMap<NodeId, receive::Unproven>,
    fencer: Fencer,
    fence_tx: mpsc::UnboundedSender<FenceOutcome>,
    self_fence: Option<Box<dyn SelfFence + Send>>,
    ending: Option<Ending>,
    /// Failed writes of the sbd health file (the first one is logged).
    dropped_health_reports: u64,
    /// The ping and disk tie-breakers, and their answers last given to quorum.
    tie_breakers: super::tie_breaker::TieBreakers,
    external: ExternalTieBreakers,
}

fn names(cfg: &NodeConfig, ids: &BTreeSet<NodeId>) -> Vec<String> {
    ids.iter().map(|n| cfg.name_of(*n)).collect()
}

impl Runner {
    fn name(&self, n: NodeId) -> String {
        self.cfg.name_of(n)
    }

    fn emit(&self, event: Event) {
        self.timeline.emit(&event);
    }

    fn tick(&mut self, now: Instant) {
        for c in self.membership.tick(now) {
            let silent = |n: &NodeId| {
                self.last_heard
                    .get(n)
                    .map(|t| millis(now.saturating_duration_since(*t)))
            };
            match &c {
                Change::Late(n, _) => self.emit(Event::PeerLate {
                    peer: self.name(*n),
                    silent_ms: silent(n),
                    warntime_ms: millis(self.cfg.timers.warntime),
                }),
                Change::Dead(n) => {
                    let (limit, limit_ms) = if self.last_heard.contains_key(n) {
                        (DeadLimit::Deadtime, millis(self.cfg.timers.deadtime))
                    } else {
                        (DeadLimit::Initdead, millis(self.cfg.timers.initdead))
                    };
                    self.emit(Event::PeerDead {
                        peer: self.name(*n),
                        silent_ms: silent(n),
                        limit,
                        limit_ms,
                    });
                }
                // A new nonce: tell the peer now rather than at the next keepalive.
                Change::Challenge(_) => self.sched.send_now = true,
                _ => {}
            }
            self.book.change(&c);
        }
        // A peer that keeps leaving us out of its view does not hear us: a one-sided
        // link is no membership (the others agree on a view without it and fence it).
        // Peers can take us in only once we report, that is once every probe is over.
        if self.probed() {
            self.book.reporting(now);
        }
        let deadtime = self.cfg.timers.deadtime;
        for n in self.book.one_sided(now, deadtime) {
            self.emit(Event::OneSided {
                peer: self.name(n),
                for_ms: millis(deadtime),
            });
        }
        // Two peers that do not list each other (a link lost one way between them)
        // cannot both stay: the largest fully connected set does (`peers.rs`).
        for change in self.book.partial_links(now, deadtime) {
            let event = if change.out {
                Event::LeftOut {
                    peer: self.name(change.node),
                    unlinked_from: names(&self.cfg, &change.unlinked_from),
                    kept: names(&self.cfg, &change.kept),
                    for_ms: millis(deadtime),
                }
            } else {
                Event::TakenBack {
                    peer: self.name(change.node),
                }
            };
            self.emit(event);
        }
        self.watch_rings(now);
    }

    /// Feed a changed view (and fences learned from peers) to the machine. A quorate view
    /// is applied only once agreed (every member announces the same members); losing
    /// quorum is applied at once (stopping is always safe).
    fn refresh(&mut self, now: Instant) {
        if !self.book.settled() {
            return;
        }
        let view = self.book.view();
        // Exactly half: the tie-breakers' answers decide, and may change on their own.
        let (external, events) = self.tie_breakers.poll(&self.cfg, &view, &self.wfa, now);
        for event in events {
            self.emit(event);
        }
        let asked = quorum::asks_tie_breakers(&self.cfg.quorum, &view, &self.wfa);
        let pending = asked && self.tie_breakers.pending(now);
        let changed = self.view.as_ref() != Some(&view) || (asked && external != self.external);
        if changed && !pending {
            self.external = external;
            let verdict = quorum::evaluate(&self.cfg.quorum, &view, external, &mut self.wfa);
            let disagreeing = self.book.disagreeing(&view);
            if verdict.quorate && !disagreeing.is_empty() {
                self.hold(&view, &disagreeing, now);
            } else {
                self.held = None;
                // The answers the verdict was given with (none asked, or none configured).
                let answers = TieBreakerAnswers {
                    ping: external.ping,
                    disk: external.disk,
                };
                let answers = (asked && (answers.ping.is_some() || answers.disk.is_some()))
                    .then_some(answers);
                self.apply(view, verdict, answers, now);
            }
        }
        let applied = self.view.clone().unwrap_or_default();
        for n in self.book.due_fences(&applied) {
            self.emit(Event::FenceConfirmed {
                target: self.name(n),
            });
            self.sched
                .log_fence(self.name(n), true, "reported by a peer".into());
            let decisions = self
                .machine
                .handle(MachineEvent::Fenced { node: n, ok: true }, now);
            self.execute(decisions);
        }
        let decisions = self.machine.handle(MachineEvent::Tick, now);
        self.execute(decisions);
    }

    /// A quorate view not agreed yet: keep the last one; say so if it lasts.
    fn hold(
        &mut self,
        view: &BTreeSet<NodeId>,
        disagreeing: &[(NodeId, BTreeSet<NodeId>)],
        now: Instant,
    ) {
        let (since, logged) = match &self.held {
            Some((held, since, logged)) if held == view => (*since, *logged),
            _ => (now, false),
        };
        let long = now.saturating_duration_since(since) >= self.cfg.timers.keepalive * 2;
        if long && !logged {
            let theirs = disagreeing
                .iter()
                .map(|(n, seen)| Seen {
                    peer: self.name(*n),
                    sees: names(&self.cfg, seen),
                })
                .collect();
            self.emit(Event::NotAgreed {
                members: names(&self.cfg, view),
                waited_ms: millis(now.saturating_duration_since(since)),
                theirs,
            });
        }
        self.held = Some((view.clone(), since, logged || long));
    }

    fn apply(
        &mut self,
        view: BTreeSet<NodeId>,
        verdict: quorum::Verdict,
        tie_breakers: Option<TieBreakerAnswers>,
        now: Instant,
    ) {
        self.epoch.fetch_add(1, Ordering::Relaxed);
        let state = (verdict.quorate, verdict.reason.clone());
        let policy = (!verdict.quorate)
            .then(|| format!("{:?}", self.cfg.quorum.no_quorum_policy).to_lowercase());
        let still = self.verdict.as_ref() == Some(&state) && self.view.is_some();
        self.emit(Event::Quorum {
            quorate: verdict.quorate,
            reason: verdict.reason.clone(),
            votes: verdict.votes,
            expected: verdict.expected,
            needed: verdict.needed,
            members: names(&self.cfg, &view),
            view: self.epoch.load(Ordering::Relaxed),
            tie_breakers,
            policy,
            still,
        });
        self.verdict = Some(state);
        self.quorate = verdict.quorate;
        self.view = Some(view.clone());
        self.sched.ever_member.extend(view.iter().copied());
        self.sched.dirty = true;
        let decisions = self.machine.handle(
            MachineEvent::View {
                members: view,
                quorate: verdict.quorate,
            },
            now,
        );
        self.execute(decisions);
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
    let ids: Vec<NodeId> = cfg.nodes.iter().map(|n| n.id).collect();
    let me_name = cfg.name_of(cfg.me);
    let epoch = Arc::new(AtomicU64::new(0));
    let (promotion, promotion_warning) = instances::promotion_dirs(&cfg, &me_name);
    let ctx = AgentContext {
        ocf_root: cfg.ocf_root.clone(),
        node_name: me_name.clone(),
        epoch: Arc::clone(&epoch),
        classes: cfg.classes.clone(),
        promotion,
    };
    let mut handles = BTreeMap::new();
    let mut local = BTreeMap::new();
    for entry in instances::local_entries(&cfg) {
        local.insert(entry.name.clone(), Local::Probing);
        handles.insert(
            entry.name.clone(),
            resources::spawn(entry, ctx.clone(), res_tx.clone()),
        );
    }
    let incarnation = incarnation();
    let tie_breakers = super::tie_breaker::TieBreakers::start(&cfg, incarnation)?;
    let (scheduling, admin_warning) = scheduling::Scheduling::new(
        &cfg.placement,
        scheduling::admin_file(&cfg.state_dir, cfg.cluster_id, &me_name),
    );
    let mut r = Runner {
        timeline: Timeline::new(&me_name, cfg.timeline_file.clone(), cfg.events_file.clone()),
        key,
        incarnation,
        seq: 0,
        membership: Membership::new(cfg.me, ids.clone(), cfg.timers, now, seed),
        book: PeerBook::new(cfg.me, incarnation, ids.clone()),
        machine: FailoverMachine::new(cfg.me, ids, cfg.machine_resources(), cfg.settings()),
        wfa: WaitForAll::default(),
        view: None,
        held: None,
        announced: BTreeSet::new(),
        verdict: None,
        quorate: false,
        epoch,
        local,
        handles,
        sched: scheduling,
        last_heard: BTreeMap::new(),
        ring_heard: BTreeMap::new(),
        dropped: 0,
        unproven: BTreeMap::new(),
        fencer: Fencer::new(&cfg),
        fence_tx,
        self_fence,
        ending: None,
        dropped_health_reports: 0,
        tie_breakers,
        external: ExternalTieBreakers::default(),
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
    tokio::pin!(stop);
    let ending = loop {
        if let Some(e) = r.ending {
            break e;
        }
        tokio::select! {
            _ = &mut stop => break Ending::Stopped,
            _ = beat.tick() => {
                r.report_health();
                // failure-timeout is an input that changes with time alone
                r.expire_failures(Instant::now());
                r.sched.dirty = true;
                r.send(&rings).await
            }
            _ = tick.tick() => {
                let now = Instant::now();
                r.tick(now);
                r.refresh(now);
            }
            Some(msg) = net_rx.recv() => {
                let now = Instant::now();
                r.incoming(msg, now);
                r.refresh(now);
            }
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
        if r.sched.dirty && r.ending.is_none() {
            r.replan(Instant::now());
        }
        // What we see changed: tell the peers now rather than at the next keepalive, so
        // that a new view is agreed within a round trip; the same for a change of our
        // resources, failcounts, admin records or grants, which peers plan with.
        if r.book.view() != r.announced || r.sched.send_now {
            r.send(&rings).await;
        }
    };
    drop(control_tx);
    actions::shutdown(&mut r, &mut res_rx, ending).await;
    if let Some((path, serving)) = control_socket {
        drop(serving);
        let _ = std::fs::remove_file(path);
    }
    Ok(ending)
}
