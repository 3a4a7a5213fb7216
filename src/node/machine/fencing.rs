//! Fencing decisions of the node machine: which nodes are unclean (lost, or never seen
//! since startup with startup fencing), which of them this node asks to fence (only the
//! coordinator of the partition, the lowest member id, and only while quorate), after
//! what delay (the two-node race: the side running the less important resources waits
//! `race-delay`), and when a failed fence is tried again. A lost node's resources never
//! count as stopped before it is confirmed fenced: the scheduler sees it as
//! [`NodeStatus::Unclean`].
//!
//! Race weights come from what really runs: the driver passes every (primitive, node)
//! pair reported running (peers' reports and this node's own instances).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::cluster::quorum::NodeId;

/// The settings fencing decisions depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub fencing_enabled: bool,
    /// Two-node fence race: the less important side waits this long before fencing.
    pub race_delay: Duration,
    /// Retry a failed fence after this long.
    pub fence_retry: Duration,
    /// Fence nodes never seen since startup before running their resources elsewhere.
    pub startup_fencing: bool,
}

/// A fence this node asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDecision {
    pub node: NodeId,
    pub delay: Duration,
    pub reason: String,
}

/// Where the fencing of an unclean node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FenceStatus {
    NotAsked,
    Pending,
    FailedAt(Instant),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeState {
    Member,
    /// Gone from our view, not yet confirmed fenced: its resources may still run.
    Unclean(FenceStatus),
    /// Confirmed down by the fencer.
    Clean,
}

/// How fencing sees a node (for the scheduler's cluster state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    /// In our partition's view.
    Member,
    /// Lost (or never seen since startup) and not confirmed fenced.
    Unclean,
    /// Confirmed down (fenced, or assumed clean with fencing disabled).
    Clean,
}

/// The fencing state of one node's machine.
#[derive(Debug, Clone)]
pub(super) struct Fencing {
    me: NodeId,
    settings: Settings,
    /// Priority of every primitive (its weight in a fence race).
    priorities: BTreeMap<String, u32>,
    /// (primitive, node) pairs reported running.
    running: BTreeSet<(String, NodeId)>,
    nodes: BTreeMap<NodeId, NodeState>,
    quorate: bool,
}

impl Fencing {
    /// `nodes` are all configured nodes; at start every other node is unclean until seen
    /// (startup fencing) or treated as clean when startup fencing is off.
    pub(super) fn new(
        me: NodeId,
        nodes: impl IntoIterator<Item = NodeId>,
        priorities: BTreeMap<String, u32>,
        settings: Settings,
    ) -> Fencing {
        let initial = if settings.startup_fencing {
            NodeState::Unclean(FenceStatus::NotAsked)
        } else {
            NodeState::Clean
        };
        let nodes = nodes
            .into_iter()
            .map(|n| (n, if n == me { NodeState::Member } else { initial }))
            .collect();
        Fencing {
            me,
            settings,
            priorities,
            running: BTreeSet::new(),
            nodes,
            quorate: false,
        }
    }

    /// How fencing sees `node` (None: not a configured node).
    pub(super) fn status(&self, node: NodeId) -> Option<NodeStatus> {
        self.nodes.get(&node).map(|s| match s {
            NodeState::Member => NodeStatus::Member,
            NodeState::Unclean(_) => NodeStatus::Unclean,
            NodeState::Clean => NodeStatus::Clean,
        })
    }

    /// What runs where now (replaces what was known).
    pub(super) fn running(&mut self, running: BTreeSet<(String, NodeId)>) {
        self.running = running;
    }

    /// A view was applied: members are members, a member gone is unclean unless it
    /// `left` cleanly (then it is clean: returned second); the coordinator of a quorate
    /// partition asks for fences.
    pub(super) fn view(
        &mut self,
        members: &BTreeSet<NodeId>,
        quorate: bool,
        left: &BTreeSet<NodeId>,
        now: Instant,
    ) -> (Vec<FenceDecision>, Vec<NodeId>) {
        self.quorate = quorate;
        let mut gone = Vec::new();
        for (node, state) in self.nodes.iter_mut() {
            if members.contains(node) {
                *state = NodeState::Member;
            } else if *state == NodeState::Member {
                if left.contains(node) {
                    *state = NodeState::Clean;
                    gone.push(*node);
                } else {
                    *state = NodeState::Unclean(FenceStatus::NotAsked);
                }
            }
        }
        self.running.retain(|(_, n)| !gone.contains(n));
        if !quorate {
            return (Vec::new(), gone);
        }
        (self.fence_unclean(now), gone)
    }

    /// The fencer's verdict on `node` (ours, or a peer's word that it fenced it).
    pub(super) fn fenced(&mut self, node: NodeId, ok: bool, now: Instant) {
        if let Some(state) = self.nodes.get_mut(&node) {
            if ok {
                *state = NodeState::Clean;
                self.running.retain(|(_, n)| *n != node);
            } else if *state != NodeState::Member {
                *state = NodeState::Unclean(FenceStatus::FailedAt(now));
            }
        }
    }

    /// Time passed: failed fences are due again after `fence-retry`.
    pub(super) fn tick(&mut self, now: Instant) -> Vec<FenceDecision> {
        if !self.quorate {
            return Vec::new();
        }
        self.fence_unclean(now)
    }

    fn members(&self) -> BTreeSet<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, s)| **s == NodeState::Member)
            .map(|(n, _)| *n)
            .collect()
    }

    fn coordinator(&self) -> bool {
        self.members().iter().next() == Some(&self.me)
    }

    /// Sum of the priorities of the primitives running on `node`.
    fn weight(&self, node: NodeId) -> u32 {
        self.running
            .iter()
            .filter(|(_, n)| *n == node)
            .filter_map(|(r, _)| self.priorities.get(r))
            .fold(0u32, |sum, p| sum.saturating_add(*p))
    }

    /// The coordinator asks to fence every unclean node not yet asked for, and again
    /// fence-retry after a failure. With fencing disabled unclean nodes count as clean.
    fn fence_unclean(&mut self, now: Instant) -> Vec<FenceDecision> {
        if !self.settings.fencing_enabled {
            for state in self.nodes.values_mut() {
                if matches!(state, NodeState::Unclean(_)) {
                    *state = NodeState::Clean;
                }
            }
            return Vec::new();
        }
        if !self.coordinator() {
            return Vec::new();
        }
        let retry = self.settings.fence_retry;
        let due: Vec<NodeId> = self
            .nodes
            .iter()
            .filter_map(|(n, s)| match s {
                NodeState::Unclean(FenceStatus::NotAsked) => Some(*n),
                NodeState::Unclean(FenceStatus::FailedAt(t))
                    if now.saturating_duration_since(*t) >= retry =>
                {
                    Some(*n)
                }
                _ => None,
            })
            .collect();
        let mut out = Vec::new();
        for node in due {
            self.nodes
                .insert(node, NodeState::Unclean(FenceStatus::Pending));
            let (delay, reason) = self.race(node);
            out.push(FenceDecision {
                node,
                delay,
                reason,
            });
        }
        out
    }

    /// Two nodes that each see only themselves both think they should fence the other:
    /// the one running the more important resources fences at once, the other waits.
    fn race(&self, peer: NodeId) -> (Duration, String) {
        if self.members().len() > 1 {
            return (
                Duration::ZERO,
                format!("node {peer} lost; partition is quorate"),
            );
        }
        let (mine, theirs) = (self.weight(self.me), self.weight(peer));
        let i_win = mine > theirs || (mine == theirs && self.me < peer);
        if i_win {
            (
                Duration::ZERO,
                format!(
                    "fence race with node {peer}: we run priority {mine} vs {theirs}, fence at once"
                ),
            )
        } else {
            (
                self.settings.race_delay,
                format!(
                    "fence race with node {peer}: we run priority {mine} vs {theirs}, wait {:?} so the more important side wins",
                    self.settings.race_delay
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests;
