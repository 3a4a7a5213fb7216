//! Fence before failover, pure: from membership and quorum changes and fence results,
//! decide which node to fence (and after what delay) and where each resource runs — and
//! never start a resource whose last node is not confirmed fenced. Every node runs the
//! same machine on the same inputs; only the partition's coordinator (its lowest node
//! id) asks the fencer, and a node starts only what is placed on itself.
//!
//! `handle(event, now) -> Vec<Decision>`: no I/O, no clock of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::quorum::{NoQuorumPolicy, NodeId};

/// A resource name.
pub type ResourceId = String;

/// What the machine is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// New view: the members of our partition and the quorum verdict.
    View {
        members: BTreeSet<NodeId>,
        quorate: bool,
    },
    /// The fencer's verdict on a request (confirmed OFF, or failed).
    Fenced { node: NodeId, ok: bool },
    /// Someone fenced this very node (we are running after being declared dead).
    FencedMe,
    /// A resource is known to run on a node (startup probe / start confirmed).
    Running { resource: ResourceId, node: NodeId },
    /// A resource no longer runs on a node (stopped, or moved away): it no longer
    /// weighs in that node's fence race.
    NotRunning { resource: ResourceId, node: NodeId },
    /// Time passed (retries of failed fences).
    Tick,
}

/// What the machine decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ask the fencer to fence `node`, after `delay`.
    Fence {
        node: NodeId,
        delay: Duration,
        reason: String,
    },
    /// Start `resource` on `node` (the driver on `node` does it).
    Start { resource: ResourceId, node: NodeId },
    /// Stop `resource` here.
    Stop { resource: ResourceId },
    /// Self-fence (no-quorum-policy=fence).
    SelfFence { reason: String },
    /// A resource waits for a fence before it may move.
    Blocked {
        resource: ResourceId,
        until_fenced: NodeId,
    },
}

/// Cluster-wide settings the decisions depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub fencing_enabled: bool,
    pub no_quorum_policy: NoQuorumPolicy,
    /// Two-node fence race: the less important side waits this long before fencing.
    pub race_delay: Duration,
    /// Retry a failed fence after this long.
    pub fence_retry: Duration,
    /// Fence nodes never seen since startup before running their resources elsewhere.
    pub startup_fencing: bool,
}

/// One resource: where it may run (in preference order) and how much it matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub allowed: Vec<NodeId>,
    pub priority: u32,
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

/// How the machine sees a node (for the scheduler's cluster state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    /// In our partition's view.
    Member,
    /// Lost (or never seen since startup) and not confirmed fenced.
    Unclean,
    /// Confirmed down (fenced, or assumed clean with fencing disabled).
    Clean,
}

/// The machine of one node.
#[derive(Debug, Clone)]
pub struct FailoverMachine {
    me: NodeId,
    settings: Settings,
    resources: BTreeMap<ResourceId, Resource>,
    running: BTreeMap<ResourceId, NodeId>,
    nodes: BTreeMap<NodeId, NodeState>,
    quorate: bool,
    stopped_for_quorum: bool,
}

impl FailoverMachine {
    /// `nodes` are all configured nodes; at start every other node is unclean until seen
    /// (startup fencing) or treated as clean when startup fencing is off.
    pub fn new(
        me: NodeId,
        nodes: impl IntoIterator<Item = NodeId>,
        resources: BTreeMap<ResourceId, Resource>,
        settings: Settings,
    ) -> Self {
        let initial = if settings.startup_fencing {
            NodeState::Unclean(FenceStatus::NotAsked)
        } else {
            NodeState::Clean
        };
        let nodes = nodes
            .into_iter()
            .map(|n| (n, if n == me { NodeState::Member } else { initial }))
            .collect();
        FailoverMachine {
            me,
            settings,
            resources,
            running: BTreeMap::new(),
            nodes,
            quorate: false,
            stopped_for_quorum: false,
        }
    }

    /// How the machine sees `node` (None: not a configured node).
    pub fn status(&self, node: NodeId) -> Option<NodeStatus> {
        self.nodes.get(&node).map(|s| match s {
            NodeState::Member => NodeStatus::Member,
            NodeState::Unclean(_) => NodeStatus::Unclean,
            NodeState::Clean => NodeStatus::Clean,
        })
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

    /// Sum of priorities of resources running on `node`.
    fn weight(&self, node: NodeId) -> u32 {
        self.running
            .iter()
            .filter(|(_, n)| **n == node)
            .filter_map(|(r, _)| self.resources.get(r))
            .map(|r| r.priority)
            .sum()
    }

    /// Handle one event.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Decision> {
        let mut out = Vec::new();
        match event {
            Event::View { members, quorate } => {
                self.quorate = quorate;
                for (node, state) in self.nodes.iter_mut() {
                    if members.contains(node) {
                        *state = NodeState::Member;
                    } else if *state == NodeState::Member {
                        *state = NodeState::Unclean(FenceStatus::NotAsked);
                    }
                }
                if !quorate {
                    return self.without_quorum();
                }
                self.stopped_for_quorum = false;
                out.extend(self.fence_unclean(now));
            }
            Event::Fenced { node, ok } => {
                if let Some(state) = self.nodes.get_mut(&node) {
                    if ok {
                        *state = NodeState::Clean;
                        self.running.retain(|_, n| *n != node);
                    } else if *state != NodeState::Member {
                        *state = NodeState::Unclean(FenceStatus::FailedAt(now));
                    }
                }
            }
            Event::FencedMe => {
                let mine: Vec<ResourceId> = self.mine();
                for r in mine {
                    self.running.remove(&r);
                    out.push(Decision::Stop { resource: r });
                }
                return out;
            }
            Event::Running { resource, node } => {
                self.running.insert(resource, node);
                return out;
            }
            Event::NotRunning { resource, node } => {
                if self.running.get(&resource) == Some(&node) {
                    self.running.remove(&resource);
                }
                return out;
            }
            Event::Tick => {
                if self.quorate {
                    out.extend(self.fence_unclean(now));
                }
            }
        }
        if self.quorate || self.settings.no_quorum_policy == NoQuorumPolicy::Ignore {
            out.extend(self.place());
        }
        out
    }

    fn mine(&self) -> Vec<ResourceId> {
        self.running
            .iter()
            .filter(|(_, n)| **n == self.me)
            .map(|(r, _)| r.clone())
            .collect()
    }

    fn without_quorum(&mut self) -> Vec<Decision> {
        match self.settings.no_quorum_policy {
            NoQuorumPolicy::Freeze => Vec::new(),
            NoQuorumPolicy::Ignore => self.place(),
            NoQuorumPolicy::Fence => vec![Decision::SelfFence {
                reason: "partition lost quorum and no-quorum-policy=fence".into(),
            }],
            NoQuorumPolicy::Stop | NoQuorumPolicy::Demote => {
                if self.stopped_for_quorum {
                    return Vec::new();
                }
                self.stopped_for_quorum = true;
                let mine = self.mine();
                mine.into_iter()
                    .map(|r| {
                        self.running.remove(&r);
                        Decision::Stop { resource: r }
                    })
                    .collect()
            }
        }
    }

    /// The coordinator asks to fence every unclean node not yet asked for, and again
    /// fence_retry after a failure. In a two-member race the lighter side waits race_delay.
    fn fence_unclean(&mut self, now: Instant) -> Vec<Decision> {
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
        let mut out = Vec::new();
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
        for node in due {
            self.nodes
                .insert(node, NodeState::Unclean(FenceStatus::Pending));
            let (delay, reason) = self.race(node);
            out.push(Decision::Fence {
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

    /// Place every resource not running: on its first allowed member, unless its last
    /// node is unclean (then it is blocked until that node is fenced).
    fn place(&mut self) -> Vec<Decision> {
        let members = self.members();
        let mut out = Vec::new();
        let ids: Vec<ResourceId> = self.resources.keys().cloned().collect();
        for id in ids {
            if let Some(node) = self.running.get(&id).copied() {
                match self.nodes.get(&node) {
                    Some(NodeState::Member) => continue,
                    Some(NodeState::Unclean(_)) => {
                        out.push(Decision::Blocked {
                            resource: id.clone(),
                            until_fenced: node,
                        });
                        continue;
                    }
                    _ => {
                        self.running.remove(&id);
                    }
                }
            }
            // A node never seen (startup fencing) may run anything: block all starts
            // until every unclean node is fenced.
            if let Some((node, _)) = self
                .nodes
                .iter()
                .find(|(_, s)| matches!(s, NodeState::Unclean(_)))
            {
                out.push(Decision::Blocked {
                    resource: id.clone(),
                    until_fenced: *node,
                });
                continue;
            }
            let Some(resource) = self.resources.get(&id) else {
                continue;
            };
            if let Some(target) = resource.allowed.iter().find(|n| members.contains(n)) {
                self.running.insert(id.clone(), *target);
                out.push(Decision::Start {
                    resource: id,
                    node: *target,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
