//! The resource model the placement engine reads: primitives (OCF / LSB / systemd
//! agents with monitor operations), groups, clones and promotable clones, location /
//! colocation / order constraints and the cluster-wide options. Built and validated from
//! TOML by [`super::parse`]; this file only holds the types and the meta-attribute
//! inheritance (primitive, then its group or clone, then the cluster default).

use std::collections::BTreeMap;
use std::time::Duration;

use super::rule::Rule;
use super::score::Score;

/// Which kind of agent runs a primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentClass {
    /// OCF resource agent (`ocf:PROVIDER:TYPE`).
    Ocf,
    /// LSB init script (`lsb:TYPE`, /etc/init.d/TYPE).
    Lsb,
    /// systemd unit (`systemd:TYPE`).
    Systemd,
}

/// A primitive's agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The standard the agent follows.
    pub class: AgentClass,
    /// The OCF provider (`heartbeat`, `pacemaker`, ...); none for LSB and systemd.
    pub provider: Option<String>,
    /// The agent's name (`IPaddr2`, `httpd`, `nginx.service`).
    pub kind: String,
}

/// The role of a resource instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Running (for a promotable clone: running unpromoted).
    Started,
    /// Promoted instance of a promotable clone.
    Promoted,
}

/// `target-role`: the highest role the administrator allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRole {
    /// May run, and be promoted (default).
    Started,
    /// Must not run.
    Stopped,
    /// May run, never promoted.
    Unpromoted,
}

/// A recurring or one-shot operation of a primitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `monitor`, `start`, `stop`, `promote`, `demote`.
    pub name: String,
    /// Recurring interval (monitor only; zero for the others).
    pub interval: Duration,
    /// How long one run may take.
    pub timeout: Duration,
    /// A monitor for one role only (promotable clones).
    pub role: Option<Role>,
}

/// Meta attributes: resource options that are inherited from the group or clone and
/// then the cluster defaults when unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// `resource-stickiness`: score added on the node the resource runs on.
    pub stickiness: Option<Score>,
    /// `migration-threshold`: failures on a node before the resource is banned there
    /// (zero disables).
    pub migration_threshold: Option<u32>,
    /// `failure-timeout`: failures older than this are forgotten (zero: never).
    pub failure_timeout: Option<Duration>,
    /// `target-role`.
    pub target_role: Option<TargetRole>,
    /// `priority`: allocated earlier when resources compete.
    pub priority: Option<i64>,
}

/// One agent-backed resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Primitive {
    /// Unique resource name.
    pub name: String,
    /// Its agent.
    pub agent: Agent,
    /// Agent parameters (`OCF_RESKEY_*` for OCF).
    pub params: BTreeMap<String, String>,
    /// Its operations.
    pub ops: Vec<Operation>,
    /// Its meta attributes.
    pub meta: Meta,
}

/// Primitives that start in order, stop in reverse and always run on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Unique resource name.
    pub name: String,
    /// Member primitives, in start order.
    pub members: Vec<String>,
    /// Meta attributes inherited by the members.
    pub meta: Meta,
}

/// Copies of one primitive on several nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clone {
    /// Unique resource name.
    pub name: String,
    /// The cloned primitive.
    pub child: String,
    /// `clone-max`: instances in the cluster (default: number of nodes).
    pub clone_max: Option<u32>,
    /// `clone-node-max`: instances per node (default 1).
    pub clone_node_max: u32,
    /// Master/slave: instances can be promoted.
    pub promotable: bool,
    /// `promoted-max` (default 1).
    pub promoted_max: u32,
    /// `promoted-node-max` (default 1).
    pub promoted_node_max: u32,
    /// Meta attributes inherited by the instances.
    pub meta: Meta,
}

/// Where a location constraint applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationTarget {
    /// One node with a score.
    Node {
        /// The node.
        node: String,
        /// Its score.
        score: Score,
    },
    /// Every node the rule matches, with the rule's score.
    Rule(Rule),
}

/// Prefer or avoid nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Constraint id.
    pub id: String,
    /// The resource (primitive, group or clone).
    pub resource: String,
    /// Only for this role (`promoted`: promotion preference of a promotable clone).
    pub role: Option<Role>,
    /// The node or rule.
    pub target: LocationTarget,
}

/// Place `resource` relative to `with` (directional: `with` is placed first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Colocation {
    /// Constraint id.
    pub id: String,
    /// The dependent resource.
    pub resource: String,
    /// The primary resource.
    pub with: String,
    /// INFINITY: must be together; -INFINITY: never together; else a preference.
    pub score: Score,
    /// Only with the primary's instances in this role (`promoted`).
    pub with_role: Option<Role>,
}

/// The action an order constraint refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderAction {
    /// start (stop in the symmetrical direction).
    Start,
    /// promote (demote in the symmetrical direction).
    Promote,
}

/// Whether an order binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderKind {
    /// `then` cannot run without `first`, and restarts when `first` restarts.
    Mandatory,
    /// Only orders actions that happen in the same transition.
    Optional,
}

/// Start `then` after `first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Constraint id.
    pub id: String,
    /// The resource acted on first.
    pub first: String,
    /// Its action.
    pub first_action: OrderAction,
    /// The resource acted on after it.
    pub then: String,
    /// Its action.
    pub then_action: OrderAction,
    /// Mandatory or optional.
    pub kind: OrderKind,
    /// Stop in the reverse order too (default).
    pub symmetrical: bool,
}

/// Cluster-wide options (pacemaker's cluster properties and rsc_defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `symmetric-cluster`: resources may run anywhere unless forbidden (true) or only
    /// where a location constraint allows (false: opt-in).
    pub symmetric_cluster: bool,
    /// Default `resource-stickiness`.
    pub stickiness: Score,
    /// Default `migration-threshold` (zero: never ban).
    pub migration_threshold: u32,
    /// Default `failure-timeout` (zero: failures never expire).
    pub failure_timeout: Duration,
    /// heartbeat's `auto_failback on`: stickiness never keeps a resource away from its
    /// home (its best location constraint) once the home node is available.
    pub auto_failback: bool,
    /// A stop failure fences the node (true) or blocks the resource (false).
    pub fencing_enabled: bool,
    /// Manage nothing: no action at all.
    pub maintenance_mode: bool,
    /// `start-failure-is-fatal`: a failed start sets the failcount to INFINITY, so the
    /// resource is banned from that node at once (unless migration-threshold is 0).
    pub start_failure_is_fatal: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            symmetric_cluster: true,
            stickiness: Score::ZERO,
            migration_threshold: 1_000_000,
            failure_timeout: Duration::ZERO,
            auto_failback: false,
            fencing_enabled: true,
            maintenance_mode: false,
            start_failure_is_fatal: true,
        }
    }
}

/// A validated placement configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// Cluster-wide options.
    pub options: ClusterOptions,
    /// Primitives, standalone or members of a group or clone.
    pub primitives: Vec<Primitive>,
    /// Groups.
    pub groups: Vec<Group>,
    /// Clones.
    pub clones: Vec<Clone>,
    /// Location constraints.
    pub locations: Vec<Location>,
    /// Colocation constraints.
    pub colocations: Vec<Colocation>,
    /// Order constraints.
    pub orders: Vec<Order>,
}

/// Meta attributes after inheritance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveMeta {
    /// Stickiness.
    pub stickiness: Score,
    /// Failures before a ban (zero: never).
    pub migration_threshold: u32,
    /// Failure expiry (zero: never).
    pub failure_timeout: Duration,
    /// Target role (Stopped at any level wins).
    pub target_role: TargetRole,
    /// Allocation priority.
    pub priority: i64,
}

impl Config {
    /// The primitive called `name`.
    pub fn primitive(&self, name: &str) -> Option<&Primitive> {
        self.primitives.iter().find(|p| p.name == name)
    }

    /// The group called `name`.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The clone called `name`.
    pub fn clone_named(&self, name: &str) -> Option<&Clone> {
        self.clones.iter().find(|c| c.name == name)
    }

    /// The group a primitive belongs to.
    pub fn group_of(&self, primitive: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == primitive))
    }

    /// The clone whose child is `name`.
    pub fn clone_of(&self, name: &str) -> Option<&Clone> {
        self.clones.iter().find(|c| c.child == name)
    }

    /// Meta attributes of a primitive or clone after inheritance: its own, its group's
    /// or clone's, then the cluster defaults. `target-role=Stopped` anywhere wins.
    pub fn effective_meta(&self, name: &str) -> EffectiveMeta {
        let mut chain: Vec<&Meta> = Vec::new();
        if let Some(p) = self.primitive(name) {
            chain.push(&p.meta);
            if let Some(g) = self.group_of(name) {
                chain.push(&g.meta);
            }
            if let Some(c) = self.clone_of(name) {
                chain.push(&c.meta);
            }
        } else if let Some(c) = self.clone_named(name) {
            chain.push(&c.meta);
            if let Some(p) = self.primitive(&c.child) {
                chain.push(&p.meta);
            }
        }
        let stopped = chain
            .iter()
            .any(|m| m.target_role == Some(TargetRole::Stopped));
        let o = &self.options;
        EffectiveMeta {
            stickiness: chain
                .iter()
                .find_map(|m| m.stickiness)
                .unwrap_or(o.stickiness),
            migration_threshold: chain
                .iter()
                .find_map(|m| m.migration_threshold)
                .unwrap_or(o.migration_threshold),
            failure_timeout: chain
                .iter()
                .find_map(|m| m.failure_timeout)
                .unwrap_or(o.failure_timeout),
            target_role: if stopped {
                TargetRole::Stopped
            } else {
                chain
                    .iter()
                    .find_map(|m| m.target_role)
                    .unwrap_or(TargetRole::Started)
            },
            priority: chain.iter().find_map(|m| m.priority).unwrap_or(0),
        }
    }
}
