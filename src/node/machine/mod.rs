//! The node machine, pure: `handle(input, now) -> Vec<Action>`. It owns what the node
//! decides about the cluster: membership (heartbeat timers, challenge proofs, ring
//! liveness) and the peer book (view gating, one-sided and partial links, fences
//! learned from peers), the agreement of a quorate view before it is applied, quorum
//! with the tie-breakers' answers, fencing (who, when, the two-node race, startup
//! fencing, retries) and no-quorum-policy ([`no_quorum`], the one place it is applied).
//! No sockets, files, threads, processes or clock: the driver ([`super::driver`])
//! decodes datagrams, polls the tie-breakers when asked, runs fences and feeds every
//! result back as an [`Input`]; every timeline line is an [`Action::Emit`].
//!
//! It also keeps this node's resource instances ([`instances`]: states, roles,
//! failcounts, maintenance, the guards of the plan's orders) and the scheduler's inputs
//! ([`scheduling`]); where resources run is [`crate::placement`]'s decision.
//!
//! Modules: [`membership`] (heartbeats in, timers, rings), [`view`] (agreement, quorum,
//! applying a view), [`fencing`] (fence decisions), [`leave`] (a clean leave: announced,
//! and taken from a peer instead of fencing it), [`no_quorum`], [`instances`],
//! [`scheduling`] (the hand-off to [`crate::placement`]: reports, admin records, the plan). The golden
//! transcripts in `machine/golden/` are the specification (see `golden.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::admin::AdminTable;
use super::config::NodeConfig;
use super::config::NodeEntry;
use super::events::Event;
use super::fencing::FenceResult;
use super::peers::PeerBook;
use super::report::{FenceRecord, Report};
use super::resources::What;
use crate::cluster::challenge::{Nonce, SEED_LEN};
use crate::cluster::membership::{Membership, Timers};
use crate::cluster::packet::Packet;
use crate::cluster::quorum::{ExternalTieBreakers, NodeId, QuorumConfig, WaitForAll};
use crate::fencer::duration::Moment;
use crate::placement::config::Config;

pub mod fencing;
pub mod instances;
mod leave;
mod membership;
pub mod no_quorum;
pub mod scheduling;
mod view;

pub use fencing::NodeStatus;
use fencing::{FenceDecision, Fencing};
pub use instances::{FailureRules, Instances, Local, Order};
pub use no_quorum::Gate;
pub use scheduling::Scheduler;

/// What the machine is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub me: NodeId,
    /// The cluster id (in this node's reports).
    pub cluster: u32,
    /// This run's incarnation.
    pub incarnation: u64,
    /// Every configured node's name.
    pub names: BTreeMap<NodeId, String>,
    /// Every configured node, in configuration order (names, attributes).
    pub nodes: Vec<NodeEntry>,
    /// The resources as configured (before the admin records apply).
    pub placement: Config,
    pub timers: Timers,
    pub quorum: QuorumConfig,
    /// Number of rings.
    pub rings: usize,
    pub fencing: fencing::Settings,
    /// Every primitive's priority (its weight in a fence race).
    pub priorities: BTreeMap<String, u32>,
    /// This node's resource instances (a primitive, or `NAME:N` for clone instances).
    pub instances: Vec<String>,
    /// Each instance -> the local instances that must be stopped before it stops (the
    /// members after it in its group, what a symmetrical order starts after it).
    pub stop_first: BTreeMap<String, BTreeSet<String>>,
    /// Each instance -> the local instances of the members before it in its group, which
    /// must be started before it starts.
    pub start_first: BTreeMap<String, BTreeSet<String>>,
}

impl Settings {
    /// The settings of `cfg` for the run `incarnation`.
    pub fn of(cfg: &NodeConfig, incarnation: u64) -> Settings {
        let instances: Vec<String> = super::operations::local_entries(cfg)
            .into_iter()
            .map(|e| e.name)
            .collect();
        Settings {
            me: cfg.me,
            cluster: cfg.cluster_id,
            incarnation,
            names: cfg.nodes.iter().map(|n| (n.id, n.name.clone())).collect(),
            nodes: cfg.nodes.clone(),
            placement: cfg.placement.clone(),
            timers: cfg.timers,
            quorum: cfg.quorum.clone(),
            rings: cfg.rings(),
            fencing: cfg.settings(),
            priorities: cfg.priorities(),
            stop_first: instances::stop_first(&cfg.placement, &instances),
            start_first: instances::start_first(&cfg.placement, &instances),
            instances,
        }
    }
}

/// What the machine is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Time passed.
    Tick,
    /// An authenticated heartbeat on ring `ring`.
    Heartbeat { ring: usize, packet: Packet },
    /// A datagram refused by the transport.
    Dropped { ring: usize, reason: String },
    /// An authenticated status report of a peer.
    Report(Report),
    /// The tie-breakers' answers for the view of the last [`Action::AskTieBreakers`];
    /// `pending`: the disk has not decided the current tie yet.
    TieBreakers {
        answers: ExternalTieBreakers,
        pending: bool,
    },
    /// The plan asks to fence `node` (a stop failed there).
    PlanFence { node: NodeId, reason: String },
    /// A fence this node asked for ended.
    FenceDone {
        node: NodeId,
        result: FenceResult,
        elapsed: Duration,
    },
    /// What runs where now: (primitive, node) (the fence race's weights). [`Input::Plan`]
    /// sets them itself from every report and this node's instances; this input sets
    /// them alone (the transcripts of fence races).
    Running(BTreeSet<(String, NodeId)>),
    /// What the actor of `instance` (of `primitive`) reports, with the failure rules
    /// of its primitive.
    Resource {
        instance: String,
        primitive: String,
        what: What,
        rules: FailureRules,
    },
    /// A step of the plan for a local instance.
    Order {
        instance: String,
        order: Order,
        reason: String,
    },
    /// The plan intends to promote a local instance (the coordinator confirms it).
    Intend { instance: String, reason: String },
    /// The intents this round of the plan keeps (the others are withdrawn).
    SettleIntents(BTreeSet<String>),
    /// Whether maintenance applies on this node now.
    Maintenance(bool),
    /// A cleanup here: each primitive with its local instances.
    Cleanup(Vec<(String, Vec<String>)>),
    /// Forget failures older than the failure-timeout of their primitive.
    ExpireFailures(BTreeMap<String, Duration>),
    /// Stop every local instance (no quorum, or the node stopping); given again after
    /// each change until all are stopped.
    StopAll { reason: String },
    /// Compute the plan again (see [`scheduling`]); `wall`: the wall clock now.
    Plan { wall: Moment },
    /// This node ends: announce a clean leave if everything here is stopped ([`leave`]).
    Leave,
}

/// What the machine asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A timeline line.
    Emit(Event),
    /// Tell the tie-breakers the current view and answer with [`Input::TieBreakers`].
    AskTieBreakers {
        view: BTreeSet<NodeId>,
        wfa: WaitForAll,
    },
    /// Fence `node` after `delay`.
    Fence {
        node: NodeId,
        delay: Duration,
        reason: String,
    },
    /// Fence this node (no-quorum-policy=fence).
    SelfFence { reason: String },
    /// A view was applied (number `epoch`): plan again.
    ViewApplied { epoch: u64 },
    /// A fence is known (ours or a peer's): remember it for `palisade status`, plan again.
    FenceKnown {
        node: NodeId,
        ok: bool,
        detail: String,
    },
    /// Write the admin records (this JSON) to the state file.
    SaveAdmin(String),
    /// A peer fenced this very incarnation: stop everything and end.
    FencedByPeer,
    /// Send a heartbeat (and report) now: a challenge to send or echo, or a change of
    /// this node's resources peers plan with.
    SendNow,
    /// Tell the actor of `instance` to carry out `order`.
    Actor { instance: String, order: Order },
    /// Tell every actor whether maintenance applies (monitors pause; a probe after).
    ActorsMaintenance { on: bool },
    /// An input of the plan changed: plan again.
    Replan,
}

/// What the next heartbeat says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The members we see now (maybe not yet agreed).
    pub members: Vec<NodeId>,
    pub quorate: bool,
    pub challenges: Vec<(NodeId, Nonce)>,
    pub echoes: Vec<(NodeId, Nonce)>,
}

/// Heartbeats of one peer held as unproven.
#[derive(Debug, Clone, Copy, Default)]
struct Unproven {
    /// Held since this daemon started (shown by `palisade status`).
    count: u64,
    /// The current run of holds: (incarnation, since, said in the timeline).
    episode: Option<(u64, Instant, bool)>,
}

/// The node machine.
#[derive(Debug)]
pub struct NodeMachine {
    s: Settings,
    membership: Membership,
    book: PeerBook,
    fencing: Fencing,
    wfa: WaitForAll,
    /// The applied view.
    view: Option<BTreeSet<NodeId>>,
    /// The members our last heartbeat announced.
    announced: BTreeSet<NodeId>,
    /// A quorate view waiting for agreement: (view, since, reported in the timeline).
    held: Option<(BTreeSet<NodeId>, Instant, bool)>,
    verdict: Option<(bool, String)>,
    quorate: bool,
    epoch: u64,
    /// The tie-breakers' answers last given to quorum.
    external: ExternalTieBreakers,
    last_heard: BTreeMap<NodeId, Instant>,
    ring_heard: BTreeMap<(NodeId, usize), (Instant, bool)>,
    dropped: u64,
    unproven: BTreeMap<NodeId, Unproven>,
    instances: Instances,
    /// Fences the plan asked for: node -> when the last attempt failed (None: pending).
    plan_fences: BTreeMap<NodeId, Option<Instant>>,
    /// The scheduler's inputs and its last plan.
    sched: Scheduler,
    /// This node announced its clean leave.
    leaving: bool,
    /// Peers that announced a clean leave, with the incarnation that leaves.
    leavers: BTreeMap<NodeId, u64>,
}

impl NodeMachine {
    /// A machine started at `now`; `seed` makes the heartbeat challenges (random).
    pub fn new(s: Settings, now: Instant, seed: [u8; SEED_LEN]) -> NodeMachine {
        let ids: Vec<NodeId> = s.names.keys().copied().collect();
        NodeMachine {
            membership: Membership::new(s.me, ids.clone(), s.timers, now, seed),
            book: PeerBook::new(s.me, s.incarnation, ids.clone(), now),
            fencing: Fencing::new(s.me, ids, s.priorities.clone(), s.fencing.clone()),
            wfa: WaitForAll::default(),
            view: None,
            announced: BTreeSet::new(),
            held: None,
            verdict: None,
            quorate: false,
            epoch: 0,
            external: ExternalTieBreakers::default(),
            last_heard: BTreeMap::new(),
            ring_heard: BTreeMap::new(),
            dropped: 0,
            unproven: BTreeMap::new(),
            instances: Instances::new(s.instances.clone()),
            plan_fences: BTreeMap::new(),
            sched: Scheduler::new(&s.placement, AdminTable::default()),
            leaving: false,
            leavers: BTreeMap::new(),
            s,
        }
    }

    /// The same with the admin records kept from an earlier run.
    pub fn with_admin(mut self, admin: AdminTable) -> NodeMachine {
        self.sched = Scheduler::new(&self.s.placement, admin);
        self
    }

    /// Handle one input at `now`.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Tick => {
                let probed = self.instances.probed();
                self.tick(probed, now, &mut out);
                self.ask(&mut out);
            }
            Input::Heartbeat { ring, packet } => {
                self.heartbeat(ring, &packet, now, &mut out);
                self.ask(&mut out);
            }
            Input::Dropped { ring, reason } => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    out.push(Action::Emit(Event::DatagramDropped {
                        count: self.dropped,
                        ring,
                        reason,
                    }));
                }
                self.ask(&mut out);
            }
            Input::Report(report) => {
                self.report(report, now, &mut out);
                self.ask(&mut out);
            }
            Input::TieBreakers { answers, pending } => {
                self.refresh(answers, pending, now, &mut out)
            }
            Input::PlanFence { node, reason } => self.plan_fence(node, reason, now, &mut out),
            Input::FenceDone {
                node,
                result,
                elapsed,
            } => self.fence_done(node, result, elapsed, now, &mut out),
            Input::Running(running) => self.fencing.running(running),
            Input::Resource {
                instance,
                primitive,
                what,
                rules,
            } => self.resource(instance, &primitive, what, rules, now, &mut out),
            Input::Order {
                instance,
                order,
                reason,
            } => self.order(instance, order, reason, &mut out),
            Input::Intend { instance, reason } => self.intend(instance, reason, &mut out),
            Input::SettleIntents(kept) => self.settle_intents(&kept, &mut out),
            Input::Maintenance(on) => self.maintenance(on, &mut out),
            Input::Cleanup(primitives) => self.cleanup(primitives, &mut out),
            Input::ExpireFailures(timeouts) => self.expire_failures(&timeouts, now, &mut out),
            Input::StopAll { reason } => self.stop_all(&reason, &mut out),
            Input::Plan { wall } => self.replan(now, wall, &mut out),
            Input::Leave => self.leave(&mut out),
        }
        self.mark(&out);
        out
    }

    /// What actions mean for the scheduler: a view applied makes its members ever
    /// members; a view, a fence known or a change of the instances makes a plan due.
    fn mark(&mut self, out: &[Action]) {
        for a in out {
            match a {
                Action::ViewApplied { .. } => {
                    self.view_members_seen();
                    self.plan_again();
                }
                Action::FenceKnown { .. } | Action::Replan => self.plan_again(),
                _ => {}
            }
        }
    }

    fn name(&self, n: NodeId) -> String {
        self.s
            .names
            .get(&n)
            .cloned()
            .unwrap_or_else(|| format!("node{n}"))
    }

    fn names(&self, ids: &BTreeSet<NodeId>) -> Vec<String> {
        ids.iter().map(|n| self.name(*n)).collect()
    }

    fn fence(&self, d: FenceDecision, out: &mut Vec<Action>) {
        out.push(Action::Fence {
            node: d.node,
            delay: d.delay,
            reason: d.reason,
        });
    }

    /// A fence the plan asks for: asked once, again fence-retry after a failure.
    fn plan_fence(&mut self, node: NodeId, reason: String, now: Instant, out: &mut Vec<Action>) {
        let due = match self.plan_fences.get(&node) {
            None => true,
            Some(None) => false,
            Some(Some(failed)) => {
                now.saturating_duration_since(*failed) >= self.s.fencing.fence_retry
            }
        };
        if !due {
            return;
        }
        self.plan_fences.insert(node, None);
        out.push(Action::Fence {
            node,
            delay: Duration::ZERO,
            reason,
        });
    }

    fn fence_done(
        &mut self,
        node: NodeId,
        result: FenceResult,
        elapsed: Duration,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let target = self.name(node);
        let ok = matches!(result, FenceResult::Fenced { .. });
        if ok {
            self.plan_fences.remove(&node);
        } else if let Some(pending) = self.plan_fences.get_mut(&node) {
            *pending = Some(now);
        }
        let (event, detail) = match result {
            FenceResult::Fenced { how, detail } => {
                self.book
                    .fenced_by_us(node, now.checked_sub(elapsed).unwrap_or(now));
                let text = detail.clone();
                (
                    Event::Fenced {
                        target,
                        how,
                        detail,
                        elapsed_ms: super::events::millis(elapsed),
                    },
                    text,
                )
            }
            FenceResult::Failed { reason } => {
                let text = reason.clone();
                (
                    Event::FenceFailed {
                        target,
                        reason,
                        elapsed_ms: super::events::millis(elapsed),
                    },
                    text,
                )
            }
        };
        out.push(Action::FenceKnown { node, ok, detail });
        out.push(Action::Emit(event));
        self.fencing.fenced(node, ok, now);
    }

    // ---- what the driver reads ----

    /// The applied view (None: none yet).
    pub fn applied_view(&self) -> Option<&BTreeSet<NodeId>> {
        self.view.as_ref()
    }

    /// Whether the applied view is quorate.
    pub fn quorate(&self) -> bool {
        self.quorate
    }

    /// The last verdict: (quorate, why).
    pub fn verdict(&self) -> Option<&(bool, String)> {
        self.verdict.as_ref()
    }

    /// The number of the applied view.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The coordinator of the applied view (its lowest node id).
    pub fn coordinator(&self) -> Option<NodeId> {
        self.view.as_ref().and_then(|v| v.iter().next().copied())
    }

    /// How fencing sees `node`.
    pub fn status(&self, node: NodeId) -> Option<NodeStatus> {
        self.fencing.status(node)
    }

    /// Heartbeats of `node` held as unproven since start.
    pub fn unproven(&self, node: NodeId) -> u64 {
        self.unproven.get(&node).map_or(0, |u| u.count)
    }

    /// What the scheduling step does now (no-quorum-policy), with maintenance applying
    /// here or not.
    pub fn gate(&self, maintenance: bool) -> Gate {
        no_quorum::gate(self.s.quorum.no_quorum_policy, self.quorate, maintenance)
    }

    /// Quorate and agreed (no member announces another view): what the sbd health
    /// file says.
    pub fn healthy(&self) -> bool {
        let agreed = self
            .view
            .as_ref()
            .is_none_or(|v| self.book.disagreeing(v).is_empty());
        self.quorate && agreed
    }

    /// The members seen now differ from those last announced: send at once.
    pub fn announcement_due(&self) -> bool {
        self.book.view() != self.announced
    }

    /// What the next heartbeat says (remembered as announced).
    pub fn announce(&mut self) -> Announcement {
        let seen = self.book.view();
        let members = seen.iter().copied().collect();
        self.announced = seen;
        Announcement {
            members,
            quorate: self.quorate,
            challenges: self.membership.challenges(),
            echoes: self.membership.echoes(),
        }
    }

    /// Fences to advertise in our report at `now`: nodes fenced and out of what we see
    /// now (a member fenced after a failed stop leaves every peer's view at once).
    pub fn advertised_fences(&self, now: Instant) -> Vec<FenceRecord> {
        self.book.advertised_fences(&self.book.view(), now)
    }
}

#[cfg(test)]
mod golden;
