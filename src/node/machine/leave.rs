//! A clean leave, pure: a node stopped on purpose (SIGTERM) stops its resources in
//! order, then says in its last reports that it leaves ([`Input::Leave`]; the report's
//! leaving flag, [`crate::node::report`]). A peer that gets such a report, current and
//! listing nothing, remembers the incarnation that leaves; when that node is then gone
//! from the view it is dropped as clean (nothing of it can run: it stopped everything
//! and ended) instead of being fenced, as pacemaker does not fence a node that shut down
//! cleanly. Safety: a node with anything not stopped (a stop that failed, one still
//! under way, a probe) does not announce a leave; a peer takes a leave only from a
//! report listing nothing, forgets it at any later report without the flag, and counts
//! it only for the incarnation it named (a node heard again in a new incarnation and
//! then lost is fenced as before).

use std::collections::BTreeSet;

use super::{Action, Local, NodeMachine};
use crate::cluster::quorum::NodeId;
use crate::node::events::Event;
use crate::node::report::Report;

impl NodeMachine {
    /// This node ends: announce a clean leave if every local instance is stopped.
    pub(super) fn leave(&mut self, out: &mut Vec<Action>) {
        let still: Vec<String> = self
            .instances
            .states()
            .iter()
            .filter(|(_, s)| **s != Local::Stopped)
            .map(|(name, _)| name.clone())
            .collect();
        if !still.is_empty() {
            out.push(Action::Emit(Event::NotLeaving { still }));
            return;
        }
        if !self.leaving {
            self.leaving = true;
            out.push(Action::Emit(Event::Leaving {
                incarnation: self.s.incarnation,
            }));
        }
        out.push(Action::SendNow);
    }

    /// Whether this node announced its clean leave (its reports say so).
    pub fn leaving(&self) -> bool {
        self.leaving
    }

    /// A peer's current report: a leave announced with nothing listed is remembered for
    /// its incarnation; any other report forgets it.
    pub(super) fn peer_leave(&mut self, report: &Report, out: &mut Vec<Action>) {
        if report.leaving && report.running.is_empty() {
            let known = self.leavers.insert(report.from, report.incarnation);
            if known != Some(report.incarnation) {
                out.push(Action::Emit(Event::PeerLeaving {
                    peer: self.name(report.from),
                    incarnation: report.incarnation,
                }));
            }
        } else {
            self.leavers.remove(&report.from);
        }
    }

    /// The nodes whose leave counts now: announced by the incarnation last heard of them.
    pub(super) fn left_cleanly(&self) -> BTreeSet<NodeId> {
        self.leavers
            .iter()
            .filter(|(node, inc)| self.book.incarnation(**node) == Some(**inc))
            .map(|(node, _)| *node)
            .collect()
    }

    /// `gone` left the view cleanly: say so, and forget the leave.
    pub(super) fn left(&mut self, gone: Vec<NodeId>, out: &mut Vec<Action>) {
        for node in gone {
            if let Some(incarnation) = self.leavers.remove(&node) {
                out.push(Action::Emit(Event::PeerLeft {
                    peer: self.name(node),
                    incarnation,
                }));
            }
        }
    }
}
