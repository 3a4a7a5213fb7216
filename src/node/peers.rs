//! What this node knows about its peers beyond liveness, pure: the incarnation each one
//! runs, its last status report (resources it runs), and which nodes are known fenced.
//! From that it builds the view fed to the node machine:
//!
//! - a peer is in the view once it is alive (membership) AND has reported since it came
//!   up, so a rejoining node never places a resource before it knows where it runs;
//! - the first view waits until every peer is either reported or declared dead
//!   (initdead), so startup fencing never shoots a peer that is merely slow to appear;
//! - a fenced incarnation is refused: its heartbeats are dropped until the node restarts
//!   (a new incarnation), and the fence is advertised in our reports while the node stays
//!   out, so every member marks it clean and the fenced node itself learns of it;
//! - a known fence confirms the loss of a node ([`PeerBook::due_fences`]) only if it
//!   provably ended the incarnation this node lost: it names that incarnation (or a later
//!   one), or it started after this node last heard the node (never heard: after this
//!   node started, since when it heard no incarnation of it). A fence that ended an
//!   earlier run confirms nothing, however it reached us (a peer keeps advertising the
//!   fences of nodes out of its view). Fences travel with their age; a report without
//!   ages (version 3) confirms nothing;
//! - a peer we hear whose heartbeats keep announcing a view without us for longer than
//!   deadtime (it does not hear us: a one-sided link) is out of the view until it lists
//!   us again, so that the nodes it cannot hear agree on a view without it (and fence it)
//!   instead of waiting forever for it to agree. The time counts only while we send
//!   reports (a peer takes us in only after our report) and from the first announcement
//!   of an unbroken run without us: a peer that has just come up hears us within a
//!   keepalive or two and is never counted out for that;
//! - two peers we take in that do not list each other (a link lost one way between
//!   them: one stops hearing the other, which then counts it out as one-sided), unbroken
//!   for longer than deadtime, cannot both be in one agreed view: the view keeps the
//!   largest set of nodes that all list each other (ties: the set whose node ids, sorted,
//!   come first), computed from the announced views alone so every node keeping the
//!   others picks the same set, and leaves the rest out ([`PeerBook::partial_links`]); a
//!   peer of such a pair that leaves us out is the one left out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::report::{FenceRecord, Report};
use crate::cluster::membership::Change;
use crate::cluster::quorum::NodeId;

#[derive(Debug, Clone, Default)]
struct Peer {
    alive: bool,
    dead: bool,
    /// Incarnation of the last accepted heartbeat.
    incarnation: Option<u64>,
    /// When its last accepted heartbeat came.
    last_heard: Option<Instant>,
    /// (incarnation, seq) of the last accepted report.
    last_report: Option<(u64, u64)>,
    reported_since_up: bool,
    running: BTreeSet<String>,
    /// The members its last accepted heartbeat listed (its own view).
    announced: Option<BTreeSet<NodeId>>,
    /// When its announcements began to leave us out (unbroken since).
    excluding_since: Option<Instant>,
    /// Out of the view: it announced a view without us for longer than the limit.
    one_sided: bool,
    /// Out of the view: not in the largest fully connected set ([`PeerBook::partial_links`]).
    left_out: bool,
}

impl Peer {
    /// Forget what its announcements said (a restart, dead, fenced).
    fn forget_announcements(&mut self) {
        self.announced = None;
        self.excluding_since = None;
        self.one_sided = false;
        self.left_out = false;
    }
}

/// A peer left out of the view, or taken back, by [`PeerBook::partial_links`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkChange {
    /// The peer.
    pub node: NodeId,
    /// True: left out now; false: back (no longer cut from a member).
    pub out: bool,
    /// The members it does not list each other with, for longer than the limit.
    pub unlinked_from: BTreeSet<NodeId>,
    /// The largest fully connected set kept (with every node not in such a pair).
    pub kept: BTreeSet<NodeId>,
}

/// At most this many peers in unlinked pairs are weighed (2^N sets are tried); beyond
/// it nobody is left out by [`PeerBook::partial_links`] (the view stays unagreed).
const MAX_CONTESTED: usize = 16;

/// What a report changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOutcome {
    /// Dropped: from a peer not alive, another incarnation, or older than the last one.
    pub stale: bool,
    /// The sender says it fenced this very incarnation of us.
    pub fenced_me: bool,
    /// Resources the sender runs that it did not report before.
    pub newly_running: Vec<String>,
    /// The sender just became eligible for the view.
    pub first_since_up: bool,
}

/// A fence known of one node: what it proves (merged from every fence known of the
/// node, each field proven by one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Known {
    /// The highest incarnation fenced (0: fenced by a node that never heard it).
    incarnation: u64,
    /// When the latest fence started (on this node's clock, from the age reported).
    started: Instant,
}

/// The peer book of one node.
#[derive(Debug, Clone)]
pub struct PeerBook {
    me: NodeId,
    my_incarnation: u64,
    peers: BTreeMap<NodeId, Peer>,
    settled: bool,
    /// When this book (this run of the node) started.
    started: Instant,
    /// Node -> what the fences known of it prove.
    fenced: BTreeMap<NodeId, Known>,
    /// Fences already handed to the node machine.
    applied: BTreeMap<NodeId, Known>,
    /// Since when we send reports (peers can take us into their view only after that).
    reporting_since: Option<Instant>,
    /// Pairs of peers (lower id first) that do not both list each other, unbroken since.
    unlinked_since: BTreeMap<(NodeId, NodeId), Instant>,
}

impl PeerBook {
    /// A book for `me` (running `my_incarnation`, started at `now`) and the configured
    /// `peers`.
    pub fn new(
        me: NodeId,
        my_incarnation: u64,
        peers: impl IntoIterator<Item = NodeId>,
        now: Instant,
    ) -> Self {
        PeerBook {
            me,
            my_incarnation,
            started: now,
            peers: peers
                .into_iter()
                .filter(|p| *p != me)
                .map(|p| (p, Peer::default()))
                .collect(),
            settled: false,
            fenced: BTreeMap::new(),
            applied: BTreeMap::new(),
            reporting_since: None,
            unlinked_since: BTreeMap::new(),
        }
    }

    /// Whether a heartbeat from `from` at `incarnation` may be handed to the membership
    /// (false: unknown node, or an incarnation that was fenced).
    pub fn accepts(&self, from: NodeId, incarnation: u64) -> bool {
        if !self.peers.contains_key(&from) {
            return false;
        }
        match self.fenced.get(&from) {
            Some(known) if known.incarnation != 0 => incarnation > known.incarnation,
            _ => true,
        }
    }

    /// A heartbeat was accepted by the membership at `now`. True when it is a new incarnation of a
    /// peer this book had put out (fenced while still heard) and that the membership may
    /// never have seen silent (a node powered off and booted again within deadtime): it
    /// is alive again, and enters the view once it reports.
    pub fn heartbeat(&mut self, from: NodeId, incarnation: u64, now: Instant) -> bool {
        let Some(p) = self.peers.get_mut(&from) else {
            return false;
        };
        p.last_heard = Some(now);
        let mut revived = false;
        if p.incarnation.is_some_and(|known| known != incarnation) {
            // A restart: what it reported before is void.
            p.reported_since_up = false;
            p.running.clear();
            p.forget_announcements();
            revived = !p.alive;
            p.alive = true;
            p.dead = false;
        }
        p.incarnation = Some(incarnation);
        revived
    }

    /// A membership change.
    pub fn change(&mut self, change: &Change) {
        match change {
            Change::Up(n) => {
                if let Some(p) = self.peers.get_mut(n) {
                    p.alive = true;
                    p.dead = false;
                    p.reported_since_up = false;
                }
            }
            Change::Dead(n) => {
                if let Some(p) = self.peers.get_mut(n) {
                    p.alive = false;
                    p.dead = true;
                    p.reported_since_up = false;
                    p.running.clear();
                    p.forget_announcements();
                }
            }
            Change::Late(..)
            | Change::Replay(_)
            | Change::Unproven(_)
            | Change::Challenge(_)
            | Change::Asked(_) => {}
        }
    }

    /// The members listed in an accepted heartbeat of `from` (what it sees), heard at
    /// `now`. True when `from` was out of the view for leaving us out and lists us again
    /// (it is back in the view if it is alive and reported).
    pub fn announced(&mut self, from: NodeId, members: &[NodeId], now: Instant) -> bool {
        let Some(p) = self.peers.get_mut(&from) else {
            return false;
        };
        let theirs: BTreeSet<NodeId> = members.iter().copied().collect();
        let back = if theirs.contains(&self.me) {
            p.excluding_since = None;
            std::mem::replace(&mut p.one_sided, false)
        } else {
            p.excluding_since.get_or_insert(now);
            false
        };
        p.announced = Some(theirs);
        back
    }

    /// We sent a report at `now` (the first call starts the clock of [`Self::one_sided`]).
    pub fn reporting(&mut self, now: Instant) {
        self.reporting_since.get_or_insert(now);
    }

    /// Peers we hear that have announced views without us, unbroken, for `limit`
    /// (counted from when we began to send reports) as of `now`: they do not hear us, so
    /// they are out of the view until they list us again. Each is returned once.
    pub fn one_sided(&mut self, now: Instant, limit: Duration) -> Vec<NodeId> {
        let Some(reporting) = self.reporting_since else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (n, p) in self.peers.iter_mut() {
            let Some(since) = p.excluding_since else {
                continue;
            };
            if p.alive
                && !p.one_sided
                && now.saturating_duration_since(since.max(reporting)) >= limit
            {
                p.one_sided = true;
                out.push(*n);
            }
        }
        out
    }

    /// Pairs of peers we take in (alive and reported) where one's announced view leaves
    /// the other out, unbroken for `limit` as of `now`, cannot both stay: the view keeps
    /// the largest set of nodes without such a pair (us and every peer not in one always
    /// belong to it; among sets of the same size, the one whose sorted ids come first)
    /// and leaves the other peers of those pairs out. A pair's clock starts when we see
    /// it broken with both peers taken in, so a peer that has just joined, not yet listed
    /// by the others for a keepalive or two, is never left out for that. Returns the
    /// peers left out or taken back by this call.
    pub fn partial_links(&mut self, now: Instant, limit: Duration) -> Vec<LinkChange> {
        let taken: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.alive && p.reported_since_up)
            .map(|(n, _)| *n)
            .collect();
        let lists =
            |p: &Peer, other: NodeId| p.announced.as_ref().is_none_or(|a| a.contains(&other));
        let mut broken = BTreeSet::new();
        for (i, a) in taken.iter().enumerate() {
            for b in &taken[i + 1..] {
                let (pa, pb) = (&self.peers[a], &self.peers[b]);
                if !lists(pa, *b) || !lists(pb, *a) {
                    broken.insert((*a, *b));
                }
            }
        }
        self.unlinked_since.retain(|pair, _| broken.contains(pair));
        let mut unlinked: BTreeMap<NodeId, BTreeSet<NodeId>> = BTreeMap::new();
        for pair in broken {
            let since = *self.unlinked_since.entry(pair).or_insert(now);
            if now.saturating_duration_since(since) >= limit {
                unlinked.entry(pair.0).or_default().insert(pair.1);
                unlinked.entry(pair.1).or_default().insert(pair.0);
            }
        }
        let kept = self.largest_linked(&unlinked);
        let mut changes = Vec::new();
        for (n, p) in self.peers.iter_mut() {
            let out = unlinked.contains_key(n) && !kept.contains(n);
            if out != p.left_out {
                p.left_out = out;
                changes.push((*n, out));
            }
        }
        changes
            .into_iter()
            .map(|(node, out)| LinkChange {
                node,
                out,
                unlinked_from: unlinked.get(&node).cloned().unwrap_or_default(),
                kept: kept.clone(),
            })
            .collect()
    }

    /// The largest set of us and the peers in the view with no pair in `unlinked`; ties
    /// go to the set whose sorted ids come first. A peer whose announced view leaves us
    /// out (one-sided, or on its way to it) is unlinked from us, always kept: in a pair it
    /// is the one left out, so a node that hears nobody loses to its partners whatever
    /// the order its own views dropped them in.
    fn largest_linked(&self, unlinked: &BTreeMap<NodeId, BTreeSet<NodeId>>) -> BTreeSet<NodeId> {
        let eligible = |n: &NodeId| {
            self.peers.get(n).is_some_and(|p| {
                p.alive && p.reported_since_up && !p.one_sided && p.excluding_since.is_none()
            })
        };
        let mut kept: BTreeSet<NodeId> = self
            .peers
            .keys()
            .filter(|n| eligible(n) && !unlinked.contains_key(n))
            .copied()
            .collect();
        kept.insert(self.me);
        let contested: Vec<NodeId> = unlinked.keys().filter(|n| eligible(n)).copied().collect();
        if contested.len() > MAX_CONTESTED {
            kept.extend(contested);
            return kept;
        }
        let mut best: Option<Vec<NodeId>> = None;
        for mask in 0u32..(1u32 << contested.len()) {
            let chosen: Vec<NodeId> = contested
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect();
            let linked = chosen.iter().all(|a| {
                unlinked
                    .get(a)
                    .is_none_or(|cut| !chosen.iter().any(|b| cut.contains(b)))
            });
            let better = match &best {
                None => true,
                Some(b) => chosen.len() > b.len() || (chosen.len() == b.len() && chosen < *b),
            };
            if linked && better {
                best = Some(chosen);
            }
        }
        kept.extend(best.unwrap_or_default());
        kept
    }

    /// Members of `view` (other than us) whose own view, as last announced, differs from
    /// `view`. A view is agreed when this is empty: every member sees the same partition.
    /// Acting on a view not agreed lets a node that is itself cut off (and has not yet
    /// noticed all of it) fence a healthy peer with a majority that no longer exists.
    pub fn disagreeing(&self, view: &BTreeSet<NodeId>) -> Vec<(NodeId, BTreeSet<NodeId>)> {
        self.peers
            .iter()
            .filter(|(n, _)| view.contains(n))
            .filter_map(|(n, p)| match &p.announced {
                Some(theirs) if theirs == view => None,
                Some(theirs) => Some((*n, theirs.clone())),
                None => Some((*n, BTreeSet::new())),
            })
            .collect()
    }

    /// A verified report arrived at `now`.
    pub fn report(&mut self, r: &Report, now: Instant) -> ReportOutcome {
        let mut out = ReportOutcome::default();
        let Some(p) = self.peers.get_mut(&r.from) else {
            out.stale = true;
            return out;
        };
        let current = p.alive && p.incarnation == Some(r.incarnation);
        let newer = !matches!(p.last_report, Some(last) if (r.incarnation, r.seq) <= last);
        if !current || !newer {
            out.stale = true;
            return out;
        }
        p.last_report = Some((r.incarnation, r.seq));
        out.first_since_up = !p.reported_since_up;
        p.reported_since_up = true;
        let running: BTreeSet<String> = r.names().into_iter().collect();
        out.newly_running = running.difference(&p.running).cloned().collect();
        p.running = running;
        for f in &r.fenced {
            if f.node == self.me {
                out.fenced_me |= f.incarnation == self.my_incarnation;
                continue;
            }
            self.learn_fenced(f, now);
        }
        out
    }

    fn learn_fenced(&mut self, f: &FenceRecord, now: Instant) {
        let Some(peer) = self.peers.get(&f.node) else {
            return;
        };
        // A member fenced (a stop failed there): the incarnation we hear is the one
        // fenced, so it is out now, not only once its silence reaches deadtime.
        let member_fenced = peer.incarnation == Some(f.incarnation);
        // Without its age (a version 3 report) a fence proves nothing about the run we
        // lose: not kept, so it confirms nothing.
        if let Some(age) = f.age_ms {
            let started = now
                .checked_sub(Duration::from_millis(age))
                .unwrap_or(self.started);
            self.know_fenced(f.node, f.incarnation, started);
        }
        if member_fenced {
            self.leave(f.node);
        }
    }

    /// Merge a fence of `node` (of `incarnation`, started at `started`) into what we know.
    fn know_fenced(&mut self, node: NodeId, incarnation: u64, started: Instant) {
        let known = self.fenced.entry(node).or_insert(Known {
            incarnation,
            started,
        });
        known.incarnation = known.incarnation.max(incarnation);
        known.started = known.started.max(started);
    }

    /// Whether `known` proves the end of the run of `node` this node lost: it fenced the
    /// incarnation we last heard (or a later one), or it started after we last heard the
    /// node (never heard: after we started, and we heard no incarnation of it since).
    fn confirms(&self, node: NodeId, known: &Known) -> bool {
        let Some(p) = self.peers.get(&node) else {
            return false;
        };
        match (p.incarnation, p.last_heard) {
            (Some(heard), Some(last)) => {
                (known.incarnation != 0 && known.incarnation >= heard) || known.started > last
            }
            (Some(heard), None) => known.incarnation != 0 && known.incarnation >= heard,
            (None, _) => known.started > self.started,
        }
    }

    /// `node` is out of the view at once (fenced while still heard).
    fn leave(&mut self, node: NodeId) {
        if let Some(p) = self.peers.get_mut(&node) {
            p.alive = false;
            p.dead = true;
            p.reported_since_up = false;
            p.running.clear();
            p.forget_announcements();
        }
    }

    /// We fenced `node` ourselves, with a fence that started at `started` (the machine
    /// already knows).
    pub fn fenced_by_us(&mut self, node: NodeId, started: Instant) {
        let inc = self
            .peers
            .get(&node)
            .and_then(|p| p.incarnation)
            .unwrap_or(0);
        self.know_fenced(node, inc, started);
        if let Some(known) = self.fenced.get(&node).copied() {
            self.applied.insert(node, known);
        }
        self.leave(node);
    }

    /// True once every peer is in the view or declared dead (no view before that).
    pub fn settled(&mut self) -> bool {
        if !self.settled {
            self.settled = self
                .peers
                .values()
                .all(|p| p.dead || (p.alive && p.reported_since_up));
        }
        self.settled
    }

    /// The incarnation of `node` last heard (None: never heard).
    pub fn incarnation(&self, node: NodeId) -> Option<u64> {
        self.peers.get(&node).and_then(|p| p.incarnation)
    }

    /// This node and every alive peer that reported since it came up (and does not
    /// leave us out of its own view for too long: [`Self::one_sided`]).
    pub fn view(&self) -> BTreeSet<NodeId> {
        let mut v: BTreeSet<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.alive && p.reported_since_up && !p.one_sided && !p.left_out)
            .map(|(n, _)| *n)
            .collect();
        v.insert(self.me);
        v
    }

    /// Known fences not yet handed to the machine, for nodes outside `view`, that
    /// confirm the run of the node we lost ([`Self::confirms`]; a fence of an earlier
    /// run is no confirmation, and is looked at again when more is known).
    pub fn due_fences(&mut self, view: &BTreeSet<NodeId>) -> Vec<NodeId> {
        let due: Vec<(NodeId, Known)> = self
            .fenced
            .iter()
            .filter(|(n, k)| !view.contains(n) && self.applied.get(n) != Some(k))
            .filter(|(n, k)| self.confirms(**n, k))
            .map(|(n, k)| (*n, *k))
            .collect();
        for (n, k) in &due {
            self.applied.insert(*n, *k);
        }
        due.into_iter().map(|(n, _)| n).collect()
    }

    /// Fences to advertise as of `now`: nodes fenced and still outside `view`.
    pub fn advertised_fences(&self, view: &BTreeSet<NodeId>, now: Instant) -> Vec<FenceRecord> {
        self.fenced
            .iter()
            .filter(|(n, _)| !view.contains(n))
            .map(|(n, k)| FenceRecord {
                node: *n,
                incarnation: k.incarnation,
                age_ms: Some(super::events::millis(
                    now.saturating_duration_since(k.started),
                )),
            })
            .collect()
    }

    /// A member of `view` other than us that reports running `resource`.
    pub fn running_elsewhere(&self, resource: &str, view: &BTreeSet<NodeId>) -> Option<NodeId> {
        self.peers
            .iter()
            .find(|(n, p)| view.contains(n) && p.running.contains(resource))
            .map(|(n, _)| *n)
    }

    /// Peers whose heartbeats we heard but whose report has not come yet.
    pub fn awaiting_report(&self) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter(|(_, p)| p.alive && !p.reported_since_up)
            .map(|(n, _)| *n)
            .collect()
    }
}

#[cfg(test)]
mod tests;
