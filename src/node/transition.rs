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
//! More guards stand between a plan and a start (or promotion), because members may
//! hold slightly different inputs for a moment (a report or an admin record in flight):
//! - a primitive (not a clone instance) never starts while any other node reports it in
//!   any state (starting, running, stopping, failed);
//! - an instance is never promoted while `promoted-max` instances are reported promoted
//!   (in any state: one being demoted still is) elsewhere or here;
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

/// Where one of this node's instances stands, for deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Local {
    /// Stopped: may start.
    Stopped,
    /// Running (or failed, or stop failed): may stop, be promoted or demoted.
    Running,
    /// A start is under way (the plan still has it).
    Starting,
    /// A stop is under way.
    Stopping,
    /// A promotion is intended (reported as promoting; the agent has not run yet): it
    /// waits for the coordinator's confirmation.
    PromotePending,
    /// A promotion is under way (the agent runs).
    Promoting,
    /// A demotion is under way.
    Demoting,
    /// The probe or the cleanup of a leftover runs: wait.
    Busy,
}

/// One instance of a primitive on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The primitive it is an instance of.
    pub primitive: String,
    /// Where it stands.
    pub local: Local,
    /// Promoted (or maybe: a promote failed, a monitor said so).
    pub promoted: bool,
    /// Failed (a start, monitor, promote or demote failed, or its stop).
    pub failed: bool,
    /// Its last demote failed: a demotion is carried out by stopping it.
    pub demote_failed: bool,
}

impl Instance {
    /// A healthy, unpromoted instance of `primitive`.
    pub fn new(primitive: &str, local: Local) -> Instance {
        Instance {
            primitive: primitive.to_string(),
            local,
            promoted: false,
            failed: false,
            demote_failed: false,
        }
    }
}

/// What to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Start this instance here.
    Start {
        /// The instance (a primitive's name, or `NAME:N`).
        instance: String,
        /// Why (the plan's reason).
        reason: String,
    },
    /// Stop this instance here.
    Stop {
        /// The instance.
        instance: String,
        /// Why.
        reason: String,
    },
    /// Declare the intent to promote this instance (report it promoting) and wait for
    /// the coordinator's confirmation.
    Intend {
        /// The instance.
        instance: String,
        /// Why.
        reason: String,
    },
    /// Promote this instance here.
    Promote {
        /// The instance.
        instance: String,
        /// Why.
        reason: String,
    },
    /// Demote this instance here.
    Demote {
        /// The instance.
        instance: String,
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
    /// This node's instances, by instance name.
    pub local: &'a BTreeMap<String, Instance>,
    /// Primitive -> another node that reports it (any state).
    pub reported_elsewhere: &'a BTreeMap<String, String>,
    /// Primitive -> the other nodes that report an instance of it promoted or being
    /// promoted (any state; one per instance).
    pub promoted_elsewhere: &'a BTreeMap<String, Vec<String>>,
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
                confirmed: false,
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
    grant_of(grants, action, me).is_some()
}

fn grant_of<'a>(grants: &'a [Grant], action: &Action, me: NodeId) -> Option<&'a Grant> {
    let resource = action.resource.as_ref()?;
    grants.iter().find(|g| {
        g.node == me && &g.resource == resource && g.promote == (action.kind == ActionKind::Promote)
    })
}

/// Confirm the coordinator's promote grants to other nodes (`me` is the coordinator):
/// a grant to node X is confirmed when X reports the instance being promoted (its
/// intent) and, counting that one, no more than promoted-max instances of the primitive
/// are promoted or being promoted anywhere (`promoted`: primitive -> one node per
/// promoted or promoting instance, this node's included).
pub fn confirm(
    grants: &mut [Grant],
    config: &Config,
    ids: &BTreeMap<String, NodeId>,
    me: NodeId,
    promoted: &BTreeMap<String, Vec<String>>,
    intents: &BTreeSet<(String, String)>,
) {
    for g in grants.iter_mut().filter(|g| g.promote && g.node != me) {
        let Some(node) = ids.iter().find(|(_, id)| **id == g.node).map(|(n, _)| n) else {
            continue;
        };
        let Some(primitive) = primitive_of(config, &g.resource) else {
            continue;
        };
        let max = config
            .clone_named(&g.resource)
            .map_or(1, |c| c.promoted_max as usize);
        let count = promoted.get(&primitive).map_or(0, Vec::len);
        g.confirmed = intents.contains(&(primitive, node.clone())) && count <= max;
    }
}

/// The instance of `primitive` an action picks: one not yet picked in this round that
/// `fits`, the best by `rank` (lowest first), then by name.
fn pick<'a>(
    local: &'a BTreeMap<String, Instance>,
    primitive: &str,
    claimed: &BTreeSet<String>,
    fits: impl Fn(&Instance) -> bool,
    rank: impl Fn(&Instance) -> u8,
) -> Option<(&'a String, &'a Instance)> {
    local
        .iter()
        .filter(|(name, i)| i.primitive == primitive && !claimed.contains(*name) && fits(i))
        .min_by_key(|(name, i)| (rank(i), name.as_str()))
}

/// This node's steps now, in plan order, and its ready actions held back by a guard.
///
/// The plan names units and nodes, not instances: a start takes a stopped instance, a
/// stop a failed one first (then an unpromoted, then a promoted one), a promotion a
/// healthy unpromoted one, a demotion a promoted one (failed first). An action whose
/// kind is already under way on an instance of the same primitive here is that one
/// (the plan keeps it until it is reported done), so it starts nothing new.
pub fn next_steps(inputs: &Inputs) -> (Vec<Step>, Vec<Held>) {
    let mut steps = Vec::new();
    let mut held = Vec::new();
    let Some(me_id) = inputs.ids.get(inputs.me).copied() else {
        return (steps, held);
    };
    let mut claimed: BTreeSet<String> = BTreeSet::new();
    for i in ready(inputs.plan) {
        let action = &inputs.plan.actions[i];
        let mut hold = |why: String| {
            held.push(Held {
                action: action.to_string(),
                why,
            })
        };
        if action.kind == ActionKind::Fence {
            let victim = inputs.ids.get(&action.node).copied();
            if victim.and_then(|v| fence_executor(inputs.members, v)) == Some(me_id) {
                if let Some(why) = inputs.unsettled {
                    hold(why.to_string());
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
        let under_way = |state: Local| {
            inputs
                .local
                .values()
                .any(|x| x.primitive == primitive && x.local == state)
        };
        let reason = action.reason.clone();
        match action.kind {
            ActionKind::Start => {
                if under_way(Local::Starting) {
                    continue;
                }
                let Some((name, _)) = pick(
                    inputs.local,
                    &primitive,
                    &claimed,
                    |x| x.local == Local::Stopped,
                    |_| 0,
                ) else {
                    continue;
                };
                if let Some(why) = inputs.unsettled {
                    hold(why.to_string());
                    continue;
                }
                let exclusive = inputs.config.clone_named(unit).is_none();
                if let Some(other) = inputs
                    .reported_elsewhere
                    .get(&primitive)
                    .filter(|_| exclusive)
                {
                    hold(format!("{other} reports {primitive}"));
                    continue;
                }
                if !granted(inputs.grants, action, me_id) {
                    hold("the coordinator's plan does not expect it yet".into());
                    continue;
                }
                claimed.insert(name.clone());
                steps.push(Step::Start {
                    instance: name.clone(),
                    reason,
                });
            }
            ActionKind::Stop => {
                if under_way(Local::Stopping) {
                    continue;
                }
                let picked = pick(
                    inputs.local,
                    &primitive,
                    &claimed,
                    |x| x.local == Local::Running,
                    |x| match (x.failed, x.promoted) {
                        (true, _) => 0,
                        (false, false) => 1,
                        (false, true) => 2,
                    },
                );
                if let Some((name, _)) = picked {
                    claimed.insert(name.clone());
                    steps.push(Step::Stop {
                        instance: name.clone(),
                        reason,
                    });
                }
            }
            ActionKind::Promote => {
                if under_way(Local::Promoting) {
                    continue;
                }
                let Some((name, _)) = pick(
                    inputs.local,
                    &primitive,
                    &claimed,
                    |x| {
                        x.local == Local::PromotePending
                            || (x.local == Local::Running && !x.promoted && !x.failed)
                    },
                    |x| u8::from(x.local != Local::PromotePending),
                ) else {
                    continue;
                };
                if let Some(why) = inputs.unsettled {
                    hold(why.to_string());
                    continue;
                }
                // Never more promoted than promoted-max, whatever the inputs say: count
                // what other nodes report promoted or being promoted, and ours.
                let max = inputs
                    .config
                    .clone_named(unit)
                    .map_or(1, |c| c.promoted_max as usize);
                let elsewhere = inputs
                    .promoted_elsewhere
                    .get(&primitive)
                    .cloned()
                    .unwrap_or_default();
                let here = inputs
                    .local
                    .iter()
                    .filter(|(n, x)| {
                        *n != name
                            && x.primitive == primitive
                            && (x.promoted
                                || matches!(x.local, Local::Promoting | Local::PromotePending))
                    })
                    .count();
                if elsewhere.len() + here >= max {
                    let on = if elsewhere.is_empty() {
                        inputs.me.to_string()
                    } else {
                        elsewhere.join(", ")
                    };
                    hold(format!("{primitive} is still promoted on {on}"));
                    continue;
                }
                claimed.insert(name.clone());
                let instance = name.clone();
                // The coordinator promotes at once; any other node declares its intent
                // first and promotes once the coordinator confirms it (having seen the
                // intent, and nothing else promoted): never two at once, even when the
                // coordinator changes its mind while a grant is on its way.
                match inputs.grants {
                    None => steps.push(Step::Promote { instance, reason }),
                    Some(grants) => match grant_of(grants, action, me_id) {
                        None => hold("the coordinator's plan does not expect it yet".into()),
                        Some(g) if g.confirmed => steps.push(Step::Promote { instance, reason }),
                        Some(_) => {
                            // Repeated while it waits: an intent no step repeats is
                            // withdrawn by the driver.
                            steps.push(Step::Intend {
                                instance: instance.clone(),
                                reason,
                            });
                            hold(format!(
                                "promotion of {instance} waits for the coordinator's confirmation"
                            ));
                        }
                    },
                }
            }
            ActionKind::Demote => {
                if under_way(Local::Demoting) {
                    continue;
                }
                let picked = pick(
                    inputs.local,
                    &primitive,
                    &claimed,
                    |x| x.local == Local::Running && x.promoted,
                    |x| u8::from(!x.failed),
                );
                if let Some((name, x)) = picked {
                    claimed.insert(name.clone());
                    // A demote that failed is not tried by itself again: the stop
                    // (which demotes first) takes it down, or fails and is fenced.
                    steps.push(if x.demote_failed {
                        Step::Stop {
                            instance: name.clone(),
                            reason: format!("{reason}; its demote failed"),
                        }
                    } else {
                        Step::Demote {
                            instance: name.clone(),
                            reason,
                        }
                    });
                }
            }
            ActionKind::Fence => {}
        }
    }
    (steps, held)
}

#[cfg(test)]
mod tests;
