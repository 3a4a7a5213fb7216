//! Carrying out a plan, pure: which of the plan's actions this node does now. Every
//! member computes the same plan from the same inputs ([`crate::placement::schedule`]);
//! a node does only its own actions, in plan order, and only those whose predecessors
//! are all done — and since the plan is computed again from the reported state after
//! every change, an action still in the plan is an action not yet done. So a "then"
//! action on one node waits until the "first" action's node reports it done.
//!
//! First of all, nothing but stops is done unless this node's current view is settled:
//! quorate (or no-quorum-policy=ignore), the view its membership sees now is the one
//! applied, and every member of it announces that same view. A node whose peers are
//! vanishing one by one (a split it has not fully noticed) still plans with the last
//! applied view, in which a resource stopped elsewhere for lack of quorum looks free;
//! starting it there, a moment before this node too loses quorum, is what this rules out.
//!
//! Two more guards stand between a plan and a start (or promotion), because members may
//! hold slightly different inputs for a moment (a report or an admin record in flight):
//! - a primitive (not a clone instance) never starts while any other node reports it in
//!   any state (starting, running, stopping, failed);
//! - a node other than the coordinator (the lowest node id of the view) starts only what
//!   the coordinator's plan also expects ([`Grant`]s in its report), so two members with
//!   different inputs cannot both start a primitive on themselves.
//!
//! Stops need no guard (stopping is always safe). A fence the plan asks for (a stop
//! failed on that node) is requested by the lowest member other than the victim.

use std::collections::{BTreeMap, BTreeSet};

use super::cluster_state::primitive_of;
use super::report::Grant;
use crate::cluster::quorum::NodeId;
use crate::placement::config::Config;
use crate::placement::{Action, ActionKind, Plan};

/// Where one of this node's primitives stands, for deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Stopped: may start.
    Stopped,
    /// Running (or failed, or stop failed): may stop.
    Running,
    /// An operation (probe, start, stop) is under way: wait.
    Busy,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start this primitive here.
    Start {
        /// The primitive.
        primitive: String,
        /// Why (the plan's reason).
        reason: String,
    },
    /// Stop this primitive here.
    Stop {
        /// The primitive.
        primitive: String,
        /// Why.
        reason: String,
    },
    /// Ask the fencer to fence this node.
    Fence {
        /// The victim.
        node: String,
        /// Why.
        reason: String,
    },
}

/// An action of ours that is ready but held back, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The action, as the plan words it.
    pub action: String,
    /// Why it waits.
    pub why: String,
}

/// Everything [`next_steps`] reads.
pub struct Inputs<'a> {
    /// The current plan.
    pub plan: &'a Plan,
    /// The configuration it was computed with.
    pub config: &'a Config,
    /// This node's name.
    pub me: &'a str,
    /// Node names to ids.
    pub ids: &'a BTreeMap<String, NodeId>,
    /// Members of the view (ids).
    pub members: &'a BTreeSet<NodeId>,
    /// The coordinator's grants; None when this node is the coordinator.
    pub grants: Option<&'a [Grant]>,
    /// This node's primitives.
    pub local: &'a BTreeMap<String, Local>,
    /// Primitive -> another node that reports it (any state).
    pub reported_elsewhere: &'a BTreeMap<String, String>,
    /// Why this node's view is not settled (None: it is): starts, promotions and fences
    /// are held back, stops go on.
    pub unsettled: Option<&'a str>,
}

/// The starts and promotions of a plan, as the coordinator grants them.
pub fn grants(plan: &Plan, ids: &BTreeMap<String, NodeId>) -> Vec<Grant> {
    let mut out: Vec<Grant> = plan
        .actions
        .iter()
        .filter(|a| matches!(a.kind, ActionKind::Start | ActionKind::Promote))
        .filter_map(|a| {
            Some(Grant {
                promote: a.kind == ActionKind::Promote,
                resource: a.resource.clone()?,
                node: *ids.get(&a.node)?,
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Who requests a fence of `victim`: the lowest member that is not the victim.
pub fn fence_executor(members: &BTreeSet<NodeId>, victim: NodeId) -> Option<NodeId> {
    members.iter().copied().find(|n| *n != victim)
}

/// Indices of the plan's actions whose predecessors are all done.
pub fn ready(plan: &Plan) -> Vec<usize> {
    (0..plan.actions.len())
        .filter(|i| plan.after.get(*i).is_none_or(|a| a.is_empty()))
        .collect()
}

fn granted(grants: Option<&[Grant]>, action: &Action, me: NodeId) -> bool {
    let Some(grants) = grants else {
        return true; // we are the coordinator
    };
    let Some(resource) = &action.resource else {
        return false;
    };
    grants.iter().any(|g| {
        g.node == me && &g.resource == resource && g.promote == (action.kind == ActionKind::Promote)
    })
}

/// This node's steps now, in plan order, and its ready actions held back by a guard.
pub fn next_steps(inputs: &Inputs) -> (Vec<Step>, Vec<Held>) {
    let mut steps = Vec::new();
    let mut held = Vec::new();
    let Some(me_id) = inputs.ids.get(inputs.me).copied() else {
        return (steps, held);
    };
    for i in ready(inputs.plan) {
        let action = &inputs.plan.actions[i];
        if action.kind == ActionKind::Fence {
            let victim = inputs.ids.get(&action.node).copied();
            if victim.and_then(|v| fence_executor(inputs.members, v)) == Some(me_id) {
                if let Some(why) = inputs.unsettled {
                    held.push(Held {
                        action: action.to_string(),
                        why: why.to_string(),
                    });
                    continue;
                }
                steps.push(Step::Fence {
                    node: action.node.clone(),
                    reason: action.reason.clone(),
                });
            }
            continue;
        }
        if action.node != inputs.me {
            continue;
        }
        let Some(unit) = &action.resource else {
            continue;
        };
        let Some(primitive) = primitive_of(inputs.config, unit) else {
            continue;
        };
        let local = inputs.local.get(&primitive).copied();
        match action.kind {
            ActionKind::Start => {
                if local != Some(Local::Stopped) {
                    continue;
                }
                if let Some(why) = inputs.unsettled {
                    held.push(Held {
                        action: action.to_string(),
                        why: why.to_string(),
                    });
                    continue;
                }
                let exclusive = inputs.config.clone_named(unit).is_none();
                if let Some(other) = inputs
                    .reported_elsewhere
                    .get(&primitive)
                    .filter(|_| exclusive)
                {
                    held.push(Held {
                        action: action.to_string(),
                        why: format!("{other} reports {primitive}"),
                    });
                    continue;
                }
                if !granted(inputs.grants, action, me_id) {
                    held.push(Held {
                        action: action.to_string(),
                        why: "the coordinator's plan does not expect it yet".into(),
                    });
                    continue;
                }
                steps.push(Step::Start {
                    primitive,
                    reason: action.reason.clone(),
                });
            }
            ActionKind::Stop => {
                if local == Some(Local::Running) {
                    steps.push(Step::Stop {
                        primitive,
                        reason: action.reason.clone(),
                    });
                }
            }
            // Promotable clones are refused by the node configuration.
            ActionKind::Promote | ActionKind::Demote | ActionKind::Fence => {}
        }
    }
    (steps, held)
}

#[cfg(test)]
#[path = "transition_tests.rs"]
mod tests;
