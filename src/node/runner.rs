//! The node's main loop, the one place where the pure parts meet I/O: datagrams and
//! ticks go into [`Membership`] and the [`PeerBook`]; a changed view goes through
//! [`quorum::evaluate`] into the [`FailoverMachine`]; its decisions are carried out —
//! fence requests by the [`Fencer`], starts and stops (of this node's resources only) by
//! the resource actors, a self-fence by the configured executor — and every step is a
//! timeline line. Nothing is decided here.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::config::NodeConfig;
use super::fencing::{FenceOutcome, Fencer};
use super::heartbeat::{Incoming, Rings};
use super::peers::PeerBook;
use super::report::{self, Report};
use super::resources::{self, AgentContext, ResourceEvent, ResourceHandle, What};
use super::timeline::{Kind, Timeline};
use crate::cluster::failover::{Decision, Event, FailoverMachine};
use crate::cluster::membership::{Change, Heartbeat, Membership};
use crate::cluster::packet::{self, Key, Packet};
use crate::cluster::quorum::{self, ExternalTieBreakers, NodeId, WaitForAll};
use watchdog::{FenceKind, SelfFence};

/// How the node's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Where a local resource stands, as the actor reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    Probing,
    Stopped,
    Starting,
    Running,
    Stopping,
    /// A stop failed: unknown, counted as running.
    Unknown,
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
    verdict: Option<(bool, String)>,
    quorate: bool,
    epoch: Arc<AtomicU64>,
    local: BTreeMap<String, Local>,
    handles: BTreeMap<String, ResourceHandle>,
    placed: BTreeMap<String, NodeId>,
    blocked: BTreeMap<String, NodeId>,
    last_heard: BTreeMap<NodeId, Instant>,
    ring_heard: BTreeMap<(NodeId, usize), (Instant, bool)>,
    dropped: u64,
    fencer: Fencer,
    fence_tx: mpsc::UnboundedSender<FenceOutcome>,
    self_fence: Option<Box<dyn SelfFence + Send>>,
    ending: Option<Ending>,
}

fn names(cfg: &NodeConfig, ids: &BTreeSet<NodeId>) -> String {
    ids.iter()
        .map(|n| cfg.name_of(*n))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

impl Runner {
    fn name(&self, n: NodeId) -> String {
        self.cfg.name_of(n)
    }

    fn emit(&self, kind: Kind, text: &str) {
        self.timeline.emit(kind, text);
    }

    /// Heartbeat and report to every peer on every ring.
    async fn send(&mut self, rings: &Rings) {
        self.seq += 1;
        let members: Vec<NodeId> = self.view.clone().unwrap_or_default().into_iter().collect();
        let hb = packet::encode(
            &Packet {
                cluster: self.cfg.cluster_id,
                from: self.cfg.me,
                incarnation: self.incarnation,
                seq: self.seq,
                quorate: self.quorate,
                members,
            },
            &self.key,
        );
        let view = self.view.clone().unwrap_or_default();
        let running = self
            .local
            .iter()
            .filter(|(_, s)| {
                matches!(
                    s,
                    Local::Starting | Local::Running | Local::Stopping | Local::Unknown
                )
            })
            .map(|(r, _)| r.clone())
            .collect();
        let rep = report::encode(
            &Report {
                cluster: self.cfg.cluster_id,
                from: self.cfg.me,
                incarnation: self.incarnation,
                seq: self.seq,
                running,
                fenced: self.book.advertised_fences(&view),
            },
            &self.cfg.key,
        );
        rings.send_all(&[&hb, &rep]).await;
    }

    fn incoming(&mut self, msg: Incoming, now: Instant) {
        match msg {
            Incoming::Dropped { ring, reason } => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    self.emit(
                        Kind::Warn,
                        &format!(
                            "dropped datagram #{} on ring {ring}: {reason}",
                            self.dropped
                        ),
                    );
                }
            }
            Incoming::Heartbeat { ring, packet } => {
                if !self.book.accepts(packet.from, packet.incarnation) {
                    return;
                }
                let changes = self.membership.heard(
                    Heartbeat {
                        from: packet.from,
                        incarnation: packet.incarnation,
                        seq: packet.seq,
                    },
                    now,
                );
                let accepted = !changes.iter().any(|c| matches!(c, Change::Replay(_)));
                // The same heartbeat on the second ring is a replay for the membership,
                // but it proves that ring works.
                self.ring_alive(packet.from, ring, now);
                if accepted {
                    self.book.heartbeat(packet.from, packet.incarnation);
                    self.last_heard.insert(packet.from, now);
                }
                for c in changes {
                    if let Change::Up(n) = c {
                        self.emit(
                            Kind::Detect,
                            &format!("{} up (incarnation {})", self.name(n), packet.incarnation),
                        );
                    }
                    self.book.change(&c);
                }
            }
            Incoming::Report { report, .. } => {
                let out = self.book.report(&report);
                if out.stale {
                    return;
                }
                if out.fenced_me {
                    self.emit(
                        Kind::Fence,
                        &format!(
                            "{} reports it fenced this node (incarnation {}): stopping everything",
                            self.name(report.from),
                            self.incarnation
                        ),
                    );
                    self.ending = Some(Ending::FencedByPeer);
                    return;
                }
                for r in out.newly_running {
                    if self.cfg.resources.iter().any(|e| e.name == r) {
                        self.machine.handle(
                            Event::Running {
                                resource: r,
                                node: report.from,
                            },
                            now,
                        );
                    }
                }
            }
        }
    }

    fn ring_alive(&mut self, from: NodeId, ring: usize, now: Instant) {
        let was_down = self
            .ring_heard
            .get(&(from, ring))
            .is_some_and(|(_, down)| *down);
        self.ring_heard.insert((from, ring), (now, false));
        if was_down && self.cfg.rings() > 1 {
            self.emit(
                Kind::Detect,
                &format!("ring {ring} to {} works again", self.name(from)),
            );
        }
    }

    fn watch_rings(&mut self, now: Instant) {
        if self.cfg.rings() < 2 {
            return;
        }
        let deadtime = self.cfg.timers.deadtime;
        let members = self.membership.members();
        let mut newly_down = Vec::new();
        // Only a ring to a node still heard on another ring is reported (and later its
        // recovery); a node that is silent everywhere is the membership's business.
        for ((node, ring), (at, down)) in self.ring_heard.iter_mut() {
            if !*down && members.contains(node) && now.saturating_duration_since(*at) >= deadtime {
                *down = true;
                newly_down.push((*node, *ring));
            }
        }
        for (node, ring) in newly_down {
            self.emit(
                Kind::Detect,
                &format!(
                    "ring {ring} to {} silent for {} (node still heard on the other ring)",
                    self.name(node),
                    ms(deadtime)
                ),
            );
        }
    }

    fn tick(&mut self, now: Instant) {
        for c in self.membership.tick(now) {
            let silent = |n: &NodeId| {
                self.last_heard
                    .get(n)
                    .map(|t| ms(now.saturating_duration_since(*t)))
                    .unwrap_or_else(|| "since start".into())
            };
            match &c {
                Change::Late(n, _) => self.emit(
                    Kind::Detect,
                    &format!(
                        "{} late: silent for {} (warntime {})",
                        self.name(*n),
                        silent(n),
                        ms(self.cfg.timers.warntime)
                    ),
                ),
                Change::Dead(n) => {
                    let limit = if self.last_heard.contains_key(n) {
                        format!("deadtime {}", ms(self.cfg.timers.deadtime))
                    } else {
                        format!("initdead {}", ms(self.cfg.timers.initdead))
                    };
                    self.emit(
                        Kind::Detect,
                        &format!("{} dead: silent for {} ({limit})", self.name(*n), silent(n)),
                    );
                }
                _ => {}
            }
            self.book.change(&c);
        }
        self.watch_rings(now);
    }

    /// Feed a changed view (and fences learned from peers) to the machine.
    fn refresh(&mut self, now: Instant) {
        if !self.book.settled() {
            return;
        }
        let view = self.book.view();
        if self.view.as_ref() != Some(&view) {
            self.epoch.fetch_add(1, Ordering::Relaxed);
            let verdict = quorum::evaluate(
                &self.cfg.quorum,
                &view,
                ExternalTieBreakers::default(),
                &mut self.wfa,
            );
            let state = (verdict.quorate, verdict.reason.clone());
            let text = format!(
                "{}: {} (members: {}; view {})",
                if verdict.quorate {
                    "quorate"
                } else {
                    "NOT quorate"
                },
                verdict.reason,
                names(&self.cfg, &view),
                self.epoch.load(Ordering::Relaxed)
            );
            let policy = if verdict.quorate {
                String::new()
            } else {
                format!(
                    " -> no-quorum-policy={:?}",
                    self.cfg.quorum.no_quorum_policy
                )
                .to_lowercase()
            };
            if self.verdict.as_ref() != Some(&state) || self.view.is_none() {
                self.emit(Kind::Quorum, &format!("{text}{policy}"));
            } else {
                self.emit(Kind::Quorum, &format!("view changed, still {text}"));
            }
            self.verdict = Some(state);
            self.quorate = verdict.quorate;
            self.view = Some(view.clone());
            let decisions = self.machine.handle(
                Event::View {
                    members: view.clone(),
                    quorate: verdict.quorate,
                },
                now,
            );
            self.execute(decisions);
        }
        for n in self.book.due_fences(&view) {
            self.emit(
                Kind::Fence,
                &format!("{} confirmed fenced (reported by a peer)", self.name(n)),
            );
            let decisions = self
                .machine
                .handle(Event::Fenced { node: n, ok: true }, now);
            self.execute(decisions);
        }
        let decisions = self.machine.handle(Event::Tick, now);
        self.execute(decisions);
    }

    fn execute(&mut self, decisions: Vec<Decision>) {
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

    fn start_local(&mut self, resource: &str) {
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
        let state = self.local.get(resource).copied();
        if matches!(state, Some(Local::Stopped | Local::Probing)) {
            if let Some(h) = self.handles.get(resource) {
                self.emit(Kind::Resource, &format!("start {resource}"));
                self.local.insert(resource.to_string(), Local::Starting);
                h.start();
            }
        }
    }

    fn stop_local(&mut self, resource: &str, why: &str) {
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

    fn self_fence(&mut self, reason: &str) {
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

    fn fence_outcome(&mut self, out: FenceOutcome, now: Instant) {
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

    fn resource_event(&mut self, ev: ResourceEvent) {
        let r = ev.resource;
        let (state, text) = match ev.what {
            What::ProbedStopped(rc) => (
                Local::Stopped,
                format!("probe {r}: not running here ({rc})"),
            ),
            What::ProbedRunning => (
                Local::Stopping,
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
        // A probe that ends after a start was ordered does not override it.
        let current = self.local.get(&r).copied();
        let keep = matches!(current, Some(Local::Starting))
            && matches!(state, Local::Stopped)
            && text.starts_with("probe");
        if !keep {
            self.local.insert(r.clone(), state);
        }
        self.emit(Kind::Resource, &text);
        // A resource we run now but whose placement says elsewhere (or nowhere) is stopped.
        if state == Local::Running && self.placed.get(&r) != Some(&self.cfg.me) {
            self.stop_local(&r, "not placed here");
        }
    }

    fn all_stopped(&self) -> bool {
        self.local
            .values()
            .all(|s| matches!(s, Local::Stopped | Local::Probing))
    }
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
    let rings = Rings::bind(&cfg).await?;
    let (net_tx, mut net_rx) = mpsc::unbounded_channel();
    rings.spawn_receivers(&cfg, net_tx)?;
    let (fence_tx, mut fence_rx) = mpsc::unbounded_channel();
    let (res_tx, mut res_rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let ids: Vec<NodeId> = cfg.nodes.iter().map(|n| n.id).collect();
    let me_name = cfg.name_of(cfg.me);
    let epoch = Arc::new(AtomicU64::new(0));
    let ctx = AgentContext {
        ocf_root: cfg.ocf_root.clone(),
        node_name: me_name.clone(),
        epoch: Arc::clone(&epoch),
    };
    let mut handles = BTreeMap::new();
    let mut local = BTreeMap::new();
    for entry in &cfg.resources {
        local.insert(entry.name.clone(), Local::Probing);
        handles.insert(
            entry.name.clone(),
            resources::spawn(entry.clone(), ctx.clone(), res_tx.clone()),
        );
    }
    let incarnation = incarnation();
    let mut r = Runner {
        timeline: Timeline::new(&me_name, cfg.timeline_file.clone()),
        key,
        incarnation,
        seq: 0,
        membership: Membership::new(cfg.me, ids.clone(), cfg.timers, now),
        book: PeerBook::new(cfg.me, incarnation, ids.clone()),
        machine: FailoverMachine::new(cfg.me, ids, cfg.machine_resources(), cfg.settings()),
        wfa: WaitForAll::default(),
        view: None,
        verdict: None,
        quorate: false,
        epoch,
        local,
        handles,
        placed: BTreeMap::new(),
        blocked: BTreeMap::new(),
        last_heard: BTreeMap::new(),
        ring_heard: BTreeMap::new(),
        dropped: 0,
        fencer: Fencer::new(&cfg),
        fence_tx,
        self_fence,
        ending: None,
        cfg,
    };
    r.emit(
        Kind::Daemon,
        &format!(
            "start: cluster {} incarnation {} pid {} rings {} keepalive {} deadtime {} initdead {}",
            r.cfg.cluster_id,
            r.incarnation,
            std::process::id(),
            r.cfg.rings(),
            ms(r.cfg.timers.keepalive),
            ms(r.cfg.timers.deadtime),
            ms(r.cfg.timers.initdead)
        ),
    );
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
            _ = beat.tick() => r.send(&rings).await,
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
            Some(ev) = res_rx.recv() => r.resource_event(ev),
        }
    };
    shutdown(&mut r, &mut res_rx, ending).await;
    Ok(ending)
}

/// Stop every local resource (bounded by the longest operation timeout), keep
/// heartbeating meanwhile is not needed: the node is leaving.
async fn shutdown(
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
