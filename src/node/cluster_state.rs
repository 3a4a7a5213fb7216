//! The scheduler's inputs as the node knows them, pure: the placement configuration with
//! the admin's constraints added ([`effective_config`]: `cli-prefer-RES` at INFINITY for
//! a move, `cli-ban-RES-on-NODE` at -INFINITY for a ban, target-role from `palisade
//! resource stop|start`), and the [`ClusterState`] built from the nodes' membership (as
//! the node machine sees them), standby and maintenance flags (a node's, and the
//! cluster-wide `maintenance-mode` of `palisade maintenance on`), node attributes (the
//! configured ones and the agents' promotion scores), and what every node reports
//! running and its failcounts ([`cluster_state`]).
//!
//! Reports speak of instances (a primitive's name, or `NAME:N` for one of several
//! instances of a clone on a node); the scheduler places units (a clone's child runs as
//! the clone). An instance being started is left out (the plan keeps its start, so whatever
//! must follow it waits); one being stopped still counts as running (its stop stays in the
//! plan); failed instances are `Failed` (recover) or `StopFailed` (fence).

use std::collections::BTreeMap;

use super::admin::AdminTable;
use super::operations::primitive_of_instance;
use super::report::{Failcount, RunStatus, Running};
use crate::fencer::duration::Moment;
use crate::placement::config::{Config, Location, LocationTarget, TargetRole};
use crate::placement::state::{ClusterState, Failures, Health, Instance, Membership, NodeState};
use crate::placement::Score;

/// Id of the location constraint a move adds.
pub fn prefer_id(resource: &str) -> String {
    format!("cli-prefer-{resource}")
}

/// Id of the location constraint a ban adds.
pub fn ban_id(resource: &str, node: &str) -> String {
    format!("cli-ban-{resource}-on-{node}")
}

/// Whether `name` is a resource of `config` (primitive, group or clone).
pub fn is_resource(config: &Config, name: &str) -> bool {
    config.primitive(name).is_some()
        || config.group(name).is_some()
        || config.clone_named(name).is_some()
}

/// The unit a primitive is placed as: its clone, or itself.
pub fn unit_of(config: &Config, primitive: &str) -> String {
    config
        .clone_of(primitive)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| primitive.to_string())
}

/// The primitive that runs for a unit: a clone's child, or the unit itself.
pub fn primitive_of(config: &Config, unit: &str) -> Option<String> {
    match config.clone_named(unit) {
        Some(c) => Some(c.child.clone()),
        None => config.primitive(unit).map(|p| p.name.clone()),
    }
}

/// `base` with the admin's moves, bans, target roles and cluster-wide maintenance
/// (records naming resources or nodes the configuration does not have are ignored).
pub fn effective_config(base: &Config, admin: &AdminTable, nodes: &[String]) -> Config {
    let mut config = base.clone();
    config.options.maintenance_mode |= admin.maintenance_mode();
    let known_node = |n: &String| nodes.contains(n);
    let (moves, bans) = admin.moves_and_bans();
    for (resource, node) in moves {
        if is_resource(base, &resource) && known_node(&node) {
            config.locations.push(Location {
                id: prefer_id(&resource),
                resource,
                role: None,
                target: LocationTarget::Node {
                    node,
                    score: Score::INFINITY,
                },
            });
        }
    }
    for (resource, node) in bans {
        if is_resource(base, &resource) && known_node(&node) {
            config.locations.push(Location {
                id: ban_id(&resource, &node),
                resource,
                role: None,
                target: LocationTarget::Node {
                    node,
                    score: Score::MINUS_INFINITY,
                },
            });
        }
    }
    for (resource, stopped) in admin.target_roles() {
        let role = Some(if stopped {
            TargetRole::Stopped
        } else {
            TargetRole::Started
        });
        if let Some(p) = config.primitives.iter_mut().find(|p| p.name == resource) {
            p.meta.target_role = role;
        } else if let Some(g) = config.groups.iter_mut().find(|g| g.name == resource) {
            g.meta.target_role = role;
        } else if let Some(c) = config.clones.iter_mut().find(|c| c.name == resource) {
            c.meta.target_role = role;
        }
    }
    config
}

/// What one node contributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// The node's name.
    pub name: String,
    /// Membership as the node machine sees it.
    pub membership: Membership,
    /// Its resources (its last report, or this node's own state).
    pub running: Vec<Running>,
    /// Its failcounts.
    pub failcounts: Vec<Failcount>,
    /// Its attributes (location rules).
    pub attributes: BTreeMap<String, String>,
}

/// The cluster state the scheduler reads at `now`.
pub fn cluster_state(
    config: &Config,
    admin: &AdminTable,
    nodes: &[NodeFacts],
    now: Moment,
) -> ClusterState {
    let mut state = ClusterState::default();
    for facts in nodes {
        let mut node = NodeState::online();
        node.membership = facts.membership;
        node.standby = admin.standby(&facts.name);
        node.maintenance = admin.maintenance(&facts.name);
        node.attributes = facts.attributes.clone();
        state.nodes.insert(facts.name.clone(), node);
        for r in &facts.running {
            let Some(primitive) = primitive_of_instance(config, &r.name) else {
                continue;
            };
            let health = match r.status {
                RunStatus::Starting => continue,
                // Being promoted: not yet promoted (its promotion stays in the plan).
                RunStatus::Running | RunStatus::Stopping | RunStatus::Promoting => Health::Ok,
                RunStatus::Failed => Health::Failed,
                RunStatus::StopFailed => Health::StopFailed,
            };
            state
                .running
                .entry(unit_of(config, primitive))
                .or_default()
                .push(Instance {
                    node: facts.name.clone(),
                    role: r.role,
                    health,
                });
        }
        for f in &facts.failcounts {
            if f.count == 0 || config.primitive(&f.resource).is_none() {
                continue;
            }
            state.failures.insert(
                (unit_of(config, &f.resource), facts.name.clone()),
                Failures {
                    count: f.count,
                    last: Moment(now.0.saturating_sub(f.age_ms)),
                },
            );
        }
    }
    state
}

#[cfg(test)]
mod tests;
