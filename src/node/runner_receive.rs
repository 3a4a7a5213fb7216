//! What the node hears: datagrams from the rings go into the membership and the peer
//! book (heartbeats, with per-ring liveness for redundant rings) and peers' status
//! reports are taken in, including a peer's word that it fenced this very node. Part of
//! [`super`]; nothing is decided here.

use std::time::Instant;

use super::{ms, Ending, Runner};
use crate::cluster::membership::{Change, Heartbeat};
use crate::cluster::quorum::NodeId;
use crate::node::heartbeat::Incoming;
use crate::node::timeline::Kind;

impl Runner {
    pub(super) fn incoming(&mut self, msg: Incoming, now: Instant) {
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
                    let revived = self.book.heartbeat(packet.from, packet.incarnation);
                    if revived && !changes.contains(&Change::Up(packet.from)) {
                        self.emit(
                            Kind::Detect,
                            &format!(
                                "{} up again (incarnation {}) after its fence",
                                self.name(packet.from),
                                packet.incarnation
                            ),
                        );
                    }
                    if self.book.announced(packet.from, &packet.members, now) {
                        self.emit(
                            Kind::Detect,
                            &format!(
                                "{} lists this node again (it hears us)",
                                self.name(packet.from)
                            ),
                        );
                    }
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
                self.peer_report(report);
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
}
