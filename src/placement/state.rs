//! What the scheduler is told about the cluster right now: each node's membership
//! (online, offline = cleanly down, unclean = lost and not yet fenced), its admin flags
//! (standby, maintenance) and attributes; where each resource runs, in which role and
//! whether its last monitor or stop failed; and the failcounts.

use std::collections::BTreeMap;
use std::time::Duration;

use super::config::Role;
use crate::fencer::duration::Moment;

/// A node's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// A member of our partition.
    Online,
    /// Down, and known to be down (fenced or shut down cleanly).
    Offline,
    /// Lost and not confirmed down: whatever ran there may still run.
    Unclean,
    /// Never seen since this partition started (startup fencing): unclean, and what
    /// runs there is unknown, so it may run anything.
    Unseen,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeState {
    /// Membership.
    pub membership: Membership,
    /// `palisade node standby`: runs nothing.
    pub standby: bool,
    /// Maintenance: what runs there is left alone, nothing new is placed there.
    pub maintenance: bool,
    /// Node attributes for location rules (`pingd`, `master-RSC`, ...).
    pub attributes: BTreeMap<String, String>,
}

impl NodeState {
    /// An online node with no flags and no attributes.
    pub fn online() -> NodeState {
        NodeState {
            membership: Membership::Online,
            standby: false,
            maintenance: false,
            attributes: BTreeMap::new(),
        }
    }

    /// Why the node cannot take resources, if it cannot.
    pub fn unavailable(&self) -> Option<&'static str> {
        match self.membership {
            Membership::Offline => Some("offline"),
            Membership::Unclean => Some("unclean (not yet fenced)"),
            Membership::Unseen => Some("never seen (not yet fenced)"),
            Membership::Online if self.standby => Some("in standby"),
            Membership::Online if self.maintenance => Some("in maintenance"),
            Membership::Online => None,
        }
    }
}

/// The health of a running instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Last monitor succeeded.
    Ok,
    /// A monitor failed: the instance must be recovered (stop, then start).
    Failed,
    /// A stop failed: the instance may still run; only fencing the node is safe.
    StopFailed,
}

/// One running instance of a resource (a clone has several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The node it runs on.
    pub node: String,
    /// Its role.
    pub role: Role,
    /// Its health.
    pub health: Health,
}

/// The failcount of a start that failed with `start-failure-is-fatal` (pacemaker's
/// INFINITY): at or above any migration-threshold but 0 (which never bans).
pub const FAILCOUNT_INFINITY: u32 = 1_000_000;

/// Failures of a resource on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    /// How many.
    pub count: u32,
    /// When the last one happened.
    pub last: Moment,
}

/// The whole cluster as the scheduler sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterState {
    /// Every configured node, by name.
    pub nodes: BTreeMap<String, NodeState>,
    /// Where each resource (primitive or clone, by name) runs.
    pub running: BTreeMap<String, Vec<Instance>>,
    /// Failcounts by (resource, node).
    pub failures: BTreeMap<(String, String), Failures>,
}

impl ClusterState {
    /// The instances of `resource` (none if it runs nowhere).
    pub fn instances(&self, resource: &str) -> &[Instance] {
        self.running.get(resource).map_or(&[], Vec::as_slice)
    }

    /// Failures of `resource` on `node` still counting at `now`: zero once
    /// `failure_timeout` (if not zero) has passed since the last one.
    pub fn failcount(
        &self,
        resource: &str,
        node: &str,
        failure_timeout: Duration,
        now: Moment,
    ) -> u32 {
        match self.failures.get(&(resource.to_string(), node.to_string())) {
            Some(f) if failure_timeout.is_zero() || now.since(f.last) < failure_timeout => f.count,
            _ => 0,
        }
    }

    /// Record one more failure of `resource` on `node` at `now`.
    pub fn record_failure(&mut self, resource: &str, node: &str, now: Moment) {
        let entry = self
            .failures
            .entry((resource.to_string(), node.to_string()))
            .or_insert(Failures {
                count: 0,
                last: now,
            });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }
}
