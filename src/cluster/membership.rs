//! Membership, pure: which peers are alive, from heartbeats heard and the clock, with
//! heartbeat's timers — keepalive (send interval), warntime (late heartbeat warning),
//! deadtime (declared dead), initdead (deadtime at startup, for slow boots) — and
//! replay protection: (incarnation, sequence) for a peer proven live, and before that a
//! challenge it must answer ([`super::challenge`]). A peer is proven live for one
//! incarnation by a heartbeat echoing our open nonce; until then its heartbeats are held
//! ([`Change::Unproven`]: not counted, never alive, no sequence recorded). A peer must
//! prove itself again when it was declared dead and when it shows a new incarnation, so
//! neither a receiver that has just started nor one that lost the peer can be fooled by a
//! recording. No sockets here: the driver feeds verified packets and ticks in, puts
//! [`Membership::challenges`] and [`Membership::echoes`] into its heartbeats, and carries
//! the actions out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::challenge::{Challenges, Nonce, SEED_LEN};
use super::packet::Packet;
use super::quorum::NodeId;

/// Heartbeat timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    pub keepalive: Duration,
    pub warntime: Duration,
    pub deadtime: Duration,
    pub initdead: Duration,
}

/// Why the timers cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimersError {
    /// A peer would be declared dead after missing fewer than two heartbeats.
    #[error("deadtime ({deadtime:?}) must be more than twice keepalive ({keepalive:?})")]
    DeadtimeTooShort {
        deadtime: Duration,
        keepalive: Duration,
    },
    /// warntime must lie between keepalive and deadtime.
    #[error("warntime ({0:?}) must be above keepalive and below deadtime")]
    Warntime(Duration),
    /// Startup would be less patient than steady state.
    #[error("initdead ({initdead:?}) must be at least deadtime ({deadtime:?})")]
    InitdeadTooShort {
        initdead: Duration,
        deadtime: Duration,
    },
    /// keepalive of zero.
    #[error("keepalive must be above zero")]
    ZeroKeepalive,
}

impl Timers {
    /// heartbeat's checks: deadtime > 2 × keepalive, keepalive < warntime < deadtime,
    /// initdead ≥ deadtime.
    pub fn validate(&self) -> Result<(), TimersError> {
        if self.keepalive.is_zero() {
            return Err(TimersError::ZeroKeepalive);
        }
        if self.deadtime <= self.keepalive * 2 {
            return Err(TimersError::DeadtimeTooShort {
                deadtime: self.deadtime,
                keepalive: self.keepalive,
            });
        }
        if self.warntime <= self.keepalive || self.warntime >= self.deadtime {
            return Err(TimersError::Warntime(self.warntime));
        }
        if self.initdead < self.deadtime {
            return Err(TimersError::InitdeadTooShort {
                initdead: self.initdead,
                deadtime: self.deadtime,
            });
        }
        Ok(())
    }
}

/// A heartbeat as the driver hands it over: already authenticated (HMAC checked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    pub from: NodeId,
    /// Bumped at every daemon start (so sequence numbers may restart).
    pub incarnation: u64,
    pub seq: u64,
    /// The nonce the sender challenges us with (we must echo it).
    pub challenge: Option<Nonce>,
    /// The nonce the sender echoes back to us (our challenge to it).
    pub echo: Option<Nonce>,
}

impl Heartbeat {
    /// The parts of a decoded packet that concern node `me`.
    pub fn from_packet(p: &Packet, me: NodeId) -> Heartbeat {
        let mine = |list: &[(NodeId, Nonce)]| list.iter().find(|(n, _)| *n == me).map(|e| e.1);
        Heartbeat {
            from: p.from,
            incarnation: p.incarnation,
            seq: p.seq,
            challenge: mine(&p.challenges),
            echo: mine(&p.echoes),
        }
    }
}

/// What the membership tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A peer was heard (first time, or again after being dead).
    Up(NodeId),
    /// A peer is late (warntime passed).
    Late(NodeId, Duration),
    /// A peer is dead (deadtime, or initdead at startup, passed).
    Dead(NodeId),
    /// A packet replayed or reordered behind what we have seen: dropped.
    Replay(NodeId),
    /// An authentic heartbeat of a peer not proven live for its incarnation (first
    /// contact, a new incarnation, back after dead, or a recording): not counted.
    Unproven(NodeId),
    /// A new nonce challenges this peer: send a heartbeat now (it carries it).
    Challenge(NodeId),
    /// This peer challenges us with a new nonce: send a heartbeat now (it echoes it).
    Asked(NodeId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerState {
    /// Not heard since we started.
    Unseen,
    Alive,
    Late,
    Dead,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    state: PeerState,
    last_heard: Option<Instant>,
    /// (incarnation, sequence) of the last heartbeat counted.
    last: Option<(u64, u64)>,
    /// The incarnation proven live by an echo of our challenge (None: not proven, or
    /// declared dead since).
    proven: Option<u64>,
}

/// The membership state machine of one node.
#[derive(Debug, Clone)]
pub struct Membership {
    me: NodeId,
    timers: Timers,
    started: Instant,
    peers: BTreeMap<NodeId, Peer>,
    challenges: Challenges,
}

impl Membership {
    /// Start watching `peers` (the configured nodes other than `me`) at `now`; every one
    /// is challenged at once with a nonce made from `seed` (random, new at every start).
    pub fn new(
        me: NodeId,
        peers: impl IntoIterator<Item = NodeId>,
        timers: Timers,
        now: Instant,
        seed: [u8; SEED_LEN],
    ) -> Self {
        let mut challenges = Challenges::new(seed, timers.deadtime);
        let peers = peers
            .into_iter()
            .filter(|p| *p != me)
            .map(|p| {
                challenges.challenge(p, now);
                (
                    p,
                    Peer {
                        state: PeerState::Unseen,
                        last_heard: None,
                        last: None,
                        proven: None,
                    },
                )
            })
            .collect();
        Membership {
            me,
            timers,
            started: now,
            peers,
            challenges,
        }
    }

    /// A verified heartbeat arrived.
    pub fn heard(&mut self, hb: Heartbeat, now: Instant) -> Vec<Change> {
        if !self.peers.contains_key(&hb.from) {
            return Vec::new();
        }
        let mut changes = Vec::new();
        if self
            .challenges
            .asked(hb.from, (hb.incarnation, hb.seq), hb.challenge)
        {
            changes.push(Change::Asked(hb.from));
        }
        let Some(peer) = self.peers.get_mut(&hb.from) else {
            return changes;
        };
        if let Some((inc, seq)) = peer.last {
            if (hb.incarnation, hb.seq) <= (inc, seq) {
                changes.push(Change::Replay(hb.from));
                return changes;
            }
        }
        if peer.proven != Some(hb.incarnation) {
            if !self.challenges.answered(hb.from, hb.echo, now) {
                if self.challenges.challenge(hb.from, now) {
                    changes.push(Change::Challenge(hb.from));
                }
                changes.push(Change::Unproven(hb.from));
                return changes;
            }
            peer.proven = Some(hb.incarnation);
        }
        peer.last = Some((hb.incarnation, hb.seq));
        peer.last_heard = Some(now);
        let was = peer.state;
        peer.state = PeerState::Alive;
        if matches!(was, PeerState::Unseen | PeerState::Dead) {
            changes.push(Change::Up(hb.from));
        }
        changes
    }

    /// A verified heartbeat that the driver refuses otherwise (an incarnation known
    /// fenced) may still challenge us: answering it is harmless (it only says we are
    /// alive now), and it lets that node hear from us that it was fenced. True when we
    /// owe a new echo ([`Change::Asked`]).
    pub fn asked(&mut self, hb: &Heartbeat) -> bool {
        self.peers.contains_key(&hb.from)
            && self
                .challenges
                .asked(hb.from, (hb.incarnation, hb.seq), hb.challenge)
    }

    /// Our open challenges, for our next heartbeat.
    pub fn challenges(&self) -> Vec<(NodeId, Nonce)> {
        self.challenges.open()
    }

    /// The echoes we owe our peers' challenges, for our next heartbeat.
    pub fn echoes(&self) -> Vec<(NodeId, Nonce)> {
        self.challenges.echoes()
    }

    /// Time passed: report late and dead peers, and renew expired challenges.
    pub fn tick(&mut self, now: Instant) -> Vec<Change> {
        let mut changes: Vec<Change> = self
            .challenges
            .expire(now)
            .into_iter()
            .map(Change::Challenge)
            .collect();
        for (id, peer) in &mut self.peers {
            let (since, limit) = match peer.last_heard {
                Some(t) => (now.saturating_duration_since(t), self.timers.deadtime),
                None => (
                    now.saturating_duration_since(self.started),
                    self.timers.initdead,
                ),
            };
            match peer.state {
                PeerState::Dead => {}
                _ if since >= limit => {
                    peer.state = PeerState::Dead;
                    changes.push(Change::Dead(*id));
                    // Whatever comes next from it must prove it is live now.
                    peer.proven = None;
                    if self.challenges.challenge(*id, now) {
                        changes.push(Change::Challenge(*id));
                    }
                }
                PeerState::Alive if peer.last_heard.is_some() && since >= self.timers.warntime => {
                    peer.state = PeerState::Late;
                    changes.push(Change::Late(*id, since));
                }
                _ => {}
            }
        }
        changes
    }

    /// This node and every peer alive or late.
    pub fn members(&self) -> std::collections::BTreeSet<NodeId> {
        let mut m: std::collections::BTreeSet<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| matches!(p.state, PeerState::Alive | PeerState::Late))
            .map(|(id, _)| *id)
            .collect();
        m.insert(self.me);
        m
    }

    /// Peers never heard since start (candidates for startup fencing).
    pub fn never_seen(&self) -> Vec<NodeId> {
        self.peers
            .iter()
            .filter(|(_, p)| p.last_heard.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    /// When the next tick may change something (for the driver's timer).
    pub fn next_deadline(&self) -> Instant {
        let mut next = self.started + self.timers.initdead;
        if let Some(expiry) = self.challenges.next_expiry() {
            next = next.min(expiry);
        }
        for p in self.peers.values() {
            if let Some(t) = p.last_heard {
                let candidate = match p.state {
                    PeerState::Alive => t + self.timers.warntime,
                    PeerState::Late => t + self.timers.deadtime,
                    _ => continue,
                };
                next = next.min(candidate);
            }
        }
        next
    }
}

#[cfg(test)]
mod tests;
