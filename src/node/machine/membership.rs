//! Heartbeats and reports in, timers out: the membership (who is alive, proven by an
//! echo of our challenge) and the peer book (who may be in the view) are fed here; late,
//! dead, one-sided and partially linked peers become timeline lines; per ring liveness
//! is watched when there are several rings. A heartbeat held as unproven (its sender has
//! not echoed our challenge yet: a new incarnation's first contact, or a recording)
//! goes nowhere else: it is counted per peer, and said once when it lasts deadtime.

use std::time::Instant;

use super::{Action, NodeMachine};
use crate::cluster::membership::{Change, Heartbeat};
use crate::cluster::packet::Packet;
use crate::cluster::quorum::NodeId;
use crate::node::events::{millis, DeadLimit, Event};
use crate::node::report::Report;

impl NodeMachine {
    /// Timers: late and dead peers, one-sided and partial links, silent rings.
    pub(super) fn tick(&mut self, probed: bool, now: Instant, out: &mut Vec<Action>) {
        for c in self.membership.tick(now) {
            let silent = |n: &NodeId| {
                self.last_heard
                    .get(n)
                    .map(|t| millis(now.saturating_duration_since(*t)))
            };
            match &c {
                Change::Late(n, _) => out.push(Action::Emit(Event::PeerLate {
                    peer: self.name(*n),
                    silent_ms: silent(n),
                    warntime_ms: millis(self.s.timers.warntime),
                })),
                Change::Dead(n) => {
                    let (limit, limit_ms) = if self.last_heard.contains_key(n) {
                        (DeadLimit::Deadtime, millis(self.s.timers.deadtime))
                    } else {
                        (DeadLimit::Initdead, millis(self.s.timers.initdead))
                    };
                    out.push(Action::Emit(Event::PeerDead {
                        peer: self.name(*n),
                        silent_ms: silent(n),
                        limit,
                        limit_ms,
                    }));
                }
                // A new nonce: tell the peer now rather than at the next keepalive.
                Change::Challenge(_) => out.push(Action::SendNow),
                _ => {}
            }
            self.book.change(&c);
        }
        // A peer that keeps leaving us out of its view does not hear us: a one-sided
        // link is no membership (the others agree on a view without it and fence it).
        // Peers can take us in only once we report, that is once every probe is over.
        if probed {
            self.book.reporting(now);
        }
        let deadtime = self.s.timers.deadtime;
        for n in self.book.one_sided(now, deadtime) {
            out.push(Action::Emit(Event::OneSided {
                peer: self.name(n),
                for_ms: millis(deadtime),
            }));
        }
        // Two peers that do not list each other (a link lost one way between them)
        // cannot both stay: the largest fully connected set does (`peers.rs`).
        for change in self.book.partial_links(now, deadtime) {
            let event = if change.out {
                Event::LeftOut {
                    peer: self.name(change.node),
                    unlinked_from: self.names(&change.unlinked_from),
                    kept: self.names(&change.kept),
                    for_ms: millis(deadtime),
                }
            } else {
                Event::TakenBack {
                    peer: self.name(change.node),
                }
            };
            out.push(Action::Emit(event));
        }
        self.watch_rings(now, out);
    }

    /// An authenticated heartbeat.
    pub(super) fn heartbeat(
        &mut self,
        ring: usize,
        packet: &Packet,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let hb = Heartbeat::from_packet(packet, self.s.me);
        if !self.book.accepts(packet.from, packet.incarnation) {
            // A fenced incarnation is not heard, but its challenge is answered: it must
            // hear our report that it was fenced.
            if self.membership.asked(&hb) {
                out.push(Action::SendNow);
            }
            return;
        }
        let changes = self.membership.heard(hb, now);
        if changes
            .iter()
            .any(|c| matches!(c, Change::Challenge(_) | Change::Asked(_)))
        {
            // A new nonce to send, or one to echo: the handshake takes a round trip.
            out.push(Action::SendNow);
        }
        if changes.contains(&Change::Unproven(packet.from)) {
            self.held_unproven(packet.from, packet.incarnation, now, out);
            return;
        }
        let accepted = !changes.iter().any(|c| matches!(c, Change::Replay(_)));
        // The same heartbeat on the second ring is a replay for the membership, but it
        // proves that ring works.
        self.ring_alive(packet.from, ring, now, out);
        if accepted {
            let revived = self.book.heartbeat(packet.from, packet.incarnation, now);
            if revived && !changes.contains(&Change::Up(packet.from)) {
                out.push(Action::Emit(Event::PeerUpAgain {
                    peer: self.name(packet.from),
                    incarnation: packet.incarnation,
                }));
            }
            if self.book.announced(packet.from, &packet.members, now) {
                out.push(Action::Emit(Event::ListsUsAgain {
                    peer: self.name(packet.from),
                }));
            }
            self.last_heard.insert(packet.from, now);
            if let Some(held) = self.unproven.get_mut(&packet.from) {
                held.episode = None;
            }
        }
        for c in changes {
            if let Change::Up(n) = c {
                out.push(Action::Emit(Event::PeerUp {
                    peer: self.name(n),
                    incarnation: packet.incarnation,
                }));
            }
            self.book.change(&c);
        }
    }

    /// An authenticated report: a peer's word that it fenced this very incarnation
    /// ends the run; a current report goes to the scheduler.
    pub(super) fn report(&mut self, report: Report, now: Instant, out: &mut Vec<Action>) {
        let outcome = self.book.report(&report, now);
        if outcome.stale {
            return;
        }
        if outcome.fenced_me {
            out.push(Action::Emit(Event::FencedByPeer {
                peer: self.name(report.from),
                incarnation: self.s.incarnation,
            }));
            out.push(Action::FencedByPeer);
            return;
        }
        self.peer_leave(&report, out);
        self.peer_report(report, out);
    }

    /// A heartbeat of `from` at `incarnation` not counted: it has not answered our
    /// challenge (yet). Said once in the timeline when that lasts deadtime (a link that
    /// works one way only, or a recording played back).
    fn held_unproven(
        &mut self,
        from: NodeId,
        incarnation: u64,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let deadtime = self.s.timers.deadtime;
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
        out.push(Action::Emit(Event::Unproven {
            peer: self.name(from),
            for_ms: millis(deadtime),
            incarnation,
        }));
    }

    fn ring_alive(&mut self, from: NodeId, ring: usize, now: Instant, out: &mut Vec<Action>) {
        let was_down = self
            .ring_heard
            .get(&(from, ring))
            .is_some_and(|(_, down)| *down);
        self.ring_heard.insert((from, ring), (now, false));
        if was_down && self.s.rings > 1 {
            out.push(Action::Emit(Event::RingWorks {
                peer: self.name(from),
                ring,
            }));
        }
    }

    fn watch_rings(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.s.rings < 2 {
            return;
        }
        let deadtime = self.s.timers.deadtime;
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
            out.push(Action::Emit(Event::RingSilent {
                peer: self.name(node),
                ring,
                for_ms: millis(deadtime),
            }));
        }
    }
}
