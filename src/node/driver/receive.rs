//! What the node hears: datagrams from the rings, already authenticated and decoded by
//! [`crate::node::heartbeat`], go to the machine as they are. Part of [`super`];
//! nothing is decided here.

use std::time::Instant;

use super::Runner;
use crate::node::heartbeat::Incoming;
use crate::node::machine::Input;

impl Runner {
    pub(super) fn incoming(&mut self, msg: Incoming, now: Instant) {
        let input = match msg {
            Incoming::Dropped { ring, reason } => Input::Dropped { ring, reason },
            Incoming::Heartbeat { ring, packet } => Input::Heartbeat { ring, packet },
            Incoming::Report { report, .. } => Input::Report(report),
        };
        self.feed(input, now);
    }
}
