//! What the node hears: datagrams from the rings go into the membership and the peer
//! book (heartbeats, with per-ring liveness for redundant rings) and peers' status
//! reports are taken in, including a peer's word that it fenced this very node. A
//! heartbeat the membership holds as unproven (its sender has not yet echoed our
//! challenge: a new incarnation's first contact, or a recording) goes nowhere else: it is
//! counted per peer for `palisade status`, and a peer held for deadtime is a timeline
//! line. Part of [`super`]; nothing is decided here.

use std::time::Instant;

use super::{Ending, Runner};
use crate::cluster::membership::{Change, Heartbeat};
use crate::cluster::quorum::NodeId;
use crate::node::events::{millis, Event};
use crate::node::heartbeat::Incoming;

/// Heartbeats of one peer held as unproven.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Unproven {
    /// Held since this daemon started (shown by `palisade status`).
    pub(super) count: u64,
    /// The current run of holds: (incarnation, since, said in the timeline).
    episode: Option<(u64, Instant, bool)>,
}

impl Runner {
    pub(super) fn incoming(&mut self, msg: Incoming, now: Instant) {
        match msg {
            Incoming::Dropped { ring, reason } => {
                self.dropped += 1;
                if self.dropped.is_power_of_two() {
                    self.emit(Event::DatagramDropped {
                        count: self.dropped,
                        ring,
                        reason: reason.to_string(),
                    });
                }
            }
            Incoming::Heartbeat { ring, packet } => {
                let hb = Heartbeat::from_packet(&packet, self.cfg.me);
                if !self.book.accepts(packet.from, packet.incarnation) {
                    // A fenced incarnation is not heard, but its challenge is answered:
                    // it must hear our report that it was fenced.
                    if self.membership.asked(&hb) {
                        self.sched.send_now = true;
                    }
                    return;
                }
                let changes = self.membership.heard(hb, now);
                if changes
                    .iter()
                    .any(|c| matches!(c, Change::Challenge(_) | Change::Asked(_)))
                {
                    // A new nonce to send, or one to echo: the handshake takes a round trip.
                    self.sched.send_now = true;
                }
                if changes.contains(&Change::Unproven(packet.from)) {
                    self.held_unproven(packet.from, packet.incarnation, now);
                    return;
                }
                let accepted = !changes.iter().any(|c| matches!(c, Change::Replay(_)));
                // The same heartbeat on the second ring is a replay for the membership,
                // but it proves that ring works.
                self.ring_alive(packet.from, ring, now);
                if accepted {
                    let revived = self.book.heartbeat(packet.from, packet.incarnation);
                    if revived && !changes.contains(&Change::Up(packet.from)) {
                        self.emit(Event::PeerUpAgain {
                            peer: self.name(packet.from),
                            incarnation: packet.incarnation,
                        });
                    }
                    if self.book.announced(packet.from, &packet.members, now) {
                        self.emit(Event::ListsUsAgain {
                            peer: self.name(packet.from),
                        });
                    }
                    self.last_heard.insert(packet.from, now);
                    if let Some(held) = self.unproven.get_mut(&packet.from) {
                        held.episode = None;
                    }
                }
                for c in changes {
                    if let Change::Up(n) = c {
                        self.emit(Event::PeerUp {
                            peer: self.name(n),
                            incarnation: packet.incarnation,
                        });
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
                    self.emit(Event::FencedByPeer {
                        peer: self.name(report.from),
                        incarnation: self.incarnation,
                    });
                    self.ending = Some(Ending::FencedByPeer);
                    return;
                }
                self.peer_report(report);
            }
        }
    }

    /// A heartbeat of `from` at `incarnation` not counted: it has not answered our
    /// challenge (yet). Said once in the timeline when that lasts deadtime (a link that
    /// works one way only, or a recording played back).
    fn held_unproven(&mut self, from: NodeId, incarnation: u64, now: Instant) {
        let deadtime = self.cfg.timers.deadtime;
        let held = self.unproven.entry(from).or_default();
        held.count += 1;
        let since = match held.episode {
            Some((inc, since, _)) if inc == incarnation => since,
            _ => {
                held.episode = Some((incarnation, now, false));
                now
            }
        };
        let long = now.saturating_duration_since(since) >= deadtime;
        if !long || held.episode.is_some_and(|(_, _, said)| said) {
            return;
        }
        held.episode = Some((incarnation, since, true));
        self.emit(Event::Unproven {
            peer: self.name(from),
            for_ms: millis(deadtime),
            incarnation,
        });
    }

    fn ring_alive(&mut self, from: NodeId, ring: usize, now: Instant) {
        let was_down = self
            .ring_heard
            .get(&(from, ring))
            .is_some_and(|(_, down)| *down);
        self.ring_heard.insert((from, ring), (now, false));
        if was_down && self.cfg.rings() > 1 {
            self.emit(Event::RingWorks {
                peer: self.name(from),
                ring,
            });
        }
    }

    pub(super) fn watch_rings(&mut self, now: Instant) {
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
            self.emit(Event::RingSilent {
                peer: self.name(node),
                ring,
                for_ms: millis(deadtime),
            });
        }
    }
}
