//! Membership, pure: which peers are alive, from heartbeats heard and the clock, with
//! heartbeat's timers — keepalive (send interval), warntime (late heartbeat warning),
//! deadtime (declared dead), initdead (deadtime at startup, for slow boots) — and
//! replay protection by (incarnation, sequence). No sockets here: the driver feeds
//! verified packets and ticks in, and carries the actions out.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

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
    last: Option<(u64, u64)>,
}

/// The membership state machine of one node.
#[derive(Debug, Clone)]
pub struct Membership {
    me: NodeId,
    timers: Timers,
    started: Instant,
    peers: BTreeMap<NodeId, Peer>,
}

impl Membership {
    /// Start watching `peers` (the configured nodes other than `me`) at `now`.
    pub fn new(
        me: NodeId,
        peers: impl IntoIterator<Item = NodeId>,
        timers: Timers,
        now: Instant,
    ) -> Self {
        let peers = peers
            .into_iter()
            .filter(|p| *p != me)
            .map(|p| {
                (
                    p,
                    Peer {
                        state: PeerState::Unseen,
                        last_heard: None,
                        last: None,
                    },
                )
            })
            .collect();
        Membership {
            me,
            timers,
            started: now,
            peers,
        }
    }

    /// A verified heartbeat arrived.
    pub fn heard(&mut self, hb: Heartbeat, now: Instant) -> Vec<Change> {
        let Some(peer) = self.peers.get_mut(&hb.from) else {
            return Vec::new();
        };
        if let Some((inc, seq)) = peer.last {
            if (hb.incarnation, hb.seq) <= (inc, seq) {
                return vec![Change::Replay(hb.from)];
            }
        }
        peer.last = Some((hb.incarnation, hb.seq));
        peer.last_heard = Some(now);
        let was = peer.state;
        peer.state = PeerState::Alive;
        match was {
            PeerState::Unseen | PeerState::Dead => vec![Change::Up(hb.from)],
            PeerState::Alive | PeerState::Late => Vec::new(),
        }
    }

    /// Time passed: report late and dead peers.
    pub fn tick(&mut self, now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
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
#[path = "membership_tests.rs"]
mod tests;
