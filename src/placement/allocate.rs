//! Where each unit goes. Units are placed primaries first (colocation order; ties by
//! priority, then configuration order). A primitive takes the node with the highest
//! score of 0 or more (ties: the node it runs on, then the first name); its score adds
//! the preferences of the resources that must follow it (a group's later members), so a
//! group moves as one. A resource on an unclean node, or whose stop failed, is blocked
//! there until the node is fenced; one on a node in maintenance is left alone. A
//! mandatory order whose first resource will not run stops the second, to a fixed point.

use std::collections::{BTreeMap, BTreeSet};

use super::clone::allocate_clone;
use super::config::{OrderAction, OrderKind, Role, TargetRole};
use super::explain::{Explanation, NodeScore};
use super::score::Score;
use super::scores::Context;
use super::state::{Health, Instance, Membership};

/// Where one unit will be, and why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Target instances: node and role (empty: stopped).
    pub placed: Vec<(String, Role)>,
    /// Nodes whose current instances are left exactly as they are (blocked, unmanaged).
    pub frozen: BTreeSet<String>,
    /// Scores and the decision in words.
    pub explanation: Explanation,
}

impl Decision {
    /// Nodes the unit will be on (in `role`, if given).
    pub fn nodes(&self, role: Option<Role>) -> BTreeSet<String> {
        self.placed
            .iter()
            .filter(|(_, r)| role.is_none_or(|want| *r == want))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Why a unit is held back by an order constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forced {
    /// May not run.
    Stop(String),
    /// May run but not be promoted.
    NoPromote(String),
}

/// Units in allocation order: every colocation primary before its dependents.
pub fn allocation_order(ctx: &Context) -> Vec<String> {
    let units = &ctx.expanded.units;
    let priority = |u: &String| ctx.config.effective_meta(u).priority;
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<(i64, usize, String)> = units
        .iter()
        .enumerate()
        .map(|(i, u)| (-priority(u), i, u.clone()))
        .collect();
    left.sort();
    while !left.is_empty() {
        let ready = left.iter().position(|(_, _, u)| {
            ctx.expanded
                .colocations
                .iter()
                .filter(|c| &c.dependent == u)
                .all(|c| done.contains(&c.primary) || !units.contains(&c.primary))
        });
        // A cycle cannot happen (the configuration refuses them); take the first anyway.
        let (_, _, unit) = left.remove(ready.unwrap_or(0));
        done.push(unit);
    }
    done
}

/// Place every unit.
pub fn allocate(ctx: &Context) -> (Vec<String>, BTreeMap<String, Decision>) {
    let order = allocation_order(ctx);
    let mut forced: BTreeMap<String, Forced> = BTreeMap::new();
    loop {
        let mut decisions: BTreeMap<String, Decision> = BTreeMap::new();
        for unit in &order {
            let d = if ctx.config.clone_named(unit).is_some() {
                allocate_clone(ctx, unit, &decisions, forced.get(unit))
            } else {
                allocate_primitive(ctx, unit, &decisions, forced.get(unit))
            };
            decisions.insert(unit.clone(), d);
        }
        let mut changed = false;
        for o in &ctx.expanded.orders {
            if o.kind != OrderKind::Mandatory || forced.contains_key(&o.then) {
                continue;
            }
            let (Some(first), Some(then)) = (decisions.get(&o.first), decisions.get(&o.then))
            else {
                continue;
            };
            let role = (o.first_action == OrderAction::Promote).then_some(Role::Promoted);
            if !first.nodes(role).is_empty() || then.placed.is_empty() {
                continue;
            }
            let verb = if role.is_some() {
                "promoted"
            } else {
                "running"
            };
            let why = format!(
                "mandatory order {}: {} must be {verb} first and will not be",
                o.source, o.first
            );
            let f = match o.then_action {
                OrderAction::Start => Forced::Stop(why),
                OrderAction::Promote => Forced::NoPromote(why),
            };
            forced.insert(o.then.clone(), f);
            changed = true;
        }
        if !changed {
            return (order, decisions);
        }
    }
}

/// What the unit is, for explanations.
pub fn describe(ctx: &Context, unit: &str) -> String {
    let config = ctx.config;
    if let Some(c) = config.clone_named(unit) {
        let kind = if c.promotable {
            "promotable clone"
        } else {
            "clone"
        };
        return format!("{kind} of {}", c.child);
    }
    let Some(p) = config.primitive(unit) else {
        return String::new();
    };
    let a = &p.agent;
    let class = match a.class {
        super::config::AgentClass::Ocf => "ocf",
        super::config::AgentClass::Lsb => "lsb",
        super::config::AgentClass::Systemd => "systemd",
    };
    let mut text = match &a.provider {
        Some(provider) => format!("{class}:{provider}:{}", a.kind),
        None => format!("{class}:{}", a.kind),
    };
    if let Some(g) = config.group_of(unit) {
        text.push_str(&format!(" in group {}", g.name));
    }
    text
}

/// Current instances in words: `node1`, `node2 (failed)`, `node1 (promoted)`.
pub fn describe_current(instances: &[Instance]) -> Vec<String> {
    instances
        .iter()
        .map(|i| {
            let mut notes = Vec::new();
            if i.role == Role::Promoted {
                notes.push("promoted");
            }
            match i.health {
                Health::Ok => {}
                Health::Failed => notes.push("failed"),
                Health::StopFailed => notes.push("stop failed"),
            }
            if notes.is_empty() {
                i.node.clone()
            } else {
                format!("{} ({})", i.node, notes.join(", "))
            }
        })
        .collect()
}

/// Instances that stay exactly where they are, and why: unmanaged (maintenance) or
/// blocked (unclean node, failed stop). Returns (node, role, reason).
pub fn frozen_instances(ctx: &Context, unit: &str) -> Vec<(String, Role, String)> {
    let mut out = Vec::new();
    for i in ctx.state.instances(unit) {
        let node = ctx.state.nodes.get(&i.node);
        let reason = if ctx.config.options.maintenance_mode {
            Some("left alone: maintenance-mode".to_string())
        } else if i.health == Health::StopFailed {
            Some(if ctx.config.options.fencing_enabled {
                format!(
                    "blocked on {}: its stop failed; waits until the node is fenced",
                    i.node
                )
            } else {
                format!(
                    "blocked on {}: its stop failed and fencing is disabled; clean up by hand",
                    i.node
                )
            })
        } else if ctx.fence_pending.contains_key(&i.node) {
            Some(format!("blocked on {}: the node awaits fencing", i.node))
        } else if node
            .is_some_and(|n| matches!(n.membership, Membership::Unclean | Membership::Unseen))
        {
            Some(format!(
                "blocked on {}: the node is unclean; waits until it is fenced",
                i.node
            ))
        } else if node.is_some_and(|n| n.maintenance && n.membership == Membership::Online) {
            Some(format!("left alone on {}: node in maintenance", i.node))
        } else {
            None
        };
        if let Some(r) = reason {
            out.push((i.node.clone(), i.role, r));
        }
    }
    out
}

/// Apply colocations of `unit` with already placed primaries to its scores; returns a
/// reason to stop when a mandatory primary runs nowhere.
pub fn apply_primaries(
    ctx: &Context,
    unit: &str,
    decisions: &BTreeMap<String, Decision>,
    scores: &mut BTreeMap<String, NodeScore>,
) -> Option<String> {
    let mut stop_reason = None;
    for c in ctx
        .expanded
        .colocations
        .iter()
        .filter(|c| c.dependent == unit)
    {
        let Some(primary) = decisions.get(&c.primary) else {
            continue;
        };
        let with = primary.nodes(c.with_role);
        let role = if c.with_role == Some(Role::Promoted) {
            " (promoted)"
        } else {
            ""
        };
        for (node, score) in scores.iter_mut() {
            let here = with.contains(node);
            if c.score.is_infinity() && !here {
                score.add(
                    Score::MINUS_INFINITY,
                    format!("colocation {}: {}{role} is not here", c.source, c.primary),
                );
            } else if here && c.score != Score::ZERO {
                score.add(
                    c.score,
                    format!("colocation {} with {}{role}", c.source, c.primary),
                );
            }
        }
        if c.score.is_infinity() && with.is_empty() && stop_reason.is_none() {
            stop_reason = Some(format!(
                "colocation {}: must run with {}{role}, which is not running",
                c.source, c.primary
            ));
        }
    }
    stop_reason
}

/// Why no node can take the unit: the distinct reasons that exclude nodes.
pub fn why_nowhere(scores: &BTreeMap<String, NodeScore>) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for score in scores.values() {
        let excluding = score
            .parts
            .iter()
            .find(|c| c.score.is_minus_infinity())
            .map(|c| c.reason.clone())
            .unwrap_or_else(|| format!("score {} is negative", score.total()));
        if score.total() < Score::ZERO && !reasons.contains(&excluding) {
            reasons.push(excluding);
        }
    }
    if reasons.is_empty() {
        "no node is configured".to_string()
    } else {
        format!("no node can take it ({})", reasons.join("; "))
    }
}

/// Could any node take the unit with these scores?
fn any_allowed(ctx: &Context, scores: &BTreeMap<String, NodeScore>) -> bool {
    scores
        .iter()
        .any(|(n, s)| s.total() >= Score::ZERO && ctx.unavailable(n).is_none())
}

/// The unit's own scores plus, recursively, the preferences of the primitives that must
/// follow it, each weighed by its colocation score. A follower whose preferences would
/// leave no node is ignored (it will simply not run).
fn preferences(
    ctx: &Context,
    unit: &str,
    depth: usize,
    notes: &mut Vec<String>,
) -> BTreeMap<String, NodeScore> {
    let mut scores = ctx.base_scores(unit);
    if depth > ctx.expanded.units.len() {
        return scores;
    }
    for c in &ctx.expanded.colocations {
        if c.primary != unit || c.score <= Score::ZERO || c.with_role.is_some() {
            continue;
        }
        let dep = &c.dependent;
        if ctx.config.clone_named(dep).is_some()
            || ctx.config.effective_meta(dep).target_role == TargetRole::Stopped
        {
            continue;
        }
        let theirs = preferences(ctx, dep, depth + 1, notes);
        let mut merged = scores.clone();
        for (node, score) in merged.iter_mut() {
            if score.total().is_minus_infinity() {
                continue;
            }
            let total = theirs.get(node).map(NodeScore::total).unwrap_or_default();
            let weighed = total.scaled(c.score);
            if weighed != Score::ZERO {
                score.add(weighed, format!("{dep} follows ({})", c.source));
            }
        }
        if any_allowed(ctx, &merged) || !any_allowed(ctx, &scores) {
            scores = merged;
        } else {
            notes.push(format!(
                "preferences of {dep} ignored: with them no node could take {unit}"
            ));
        }
    }
    scores
}

/// The best node: the highest score of 0 or more on an available node; ties go to a
/// node the unit runs on, then to the first name.
pub fn best_node(
    ctx: &Context,
    scores: &BTreeMap<String, NodeScore>,
    current: &BTreeSet<String>,
) -> Option<String> {
    let mut best: Option<(Score, bool, &String)> = None;
    for (node, score) in scores {
        let total = score.total();
        if total < Score::ZERO || ctx.unavailable(node).is_some() {
            continue;
        }
        let here = current.contains(node);
        let better = match best {
            None => true,
            Some((b, b_here, _)) => total > b || (total == b && here && !b_here),
        };
        if better {
            best = Some((total, here, node));
        }
    }
    best.map(|(_, _, n)| n.clone())
}

/// A decision for `unit` with its explanation header filled in and nothing placed yet.
pub fn empty_decision(ctx: &Context, unit: &str, instances: &[Instance]) -> Decision {
    Decision {
        explanation: Explanation {
            resource: unit.to_string(),
            kind: describe(ctx, unit),
            current: describe_current(instances),
            ..Explanation::default()
        },
        ..Decision::default()
    }
}

fn allocate_primitive(
    ctx: &Context,
    unit: &str,
    decisions: &BTreeMap<String, Decision>,
    forced: Option<&Forced>,
) -> Decision {
    let instances = ctx.state.instances(unit);
    let mut d = empty_decision(ctx, unit, instances);
    let frozen = frozen_instances(ctx, unit);
    if let Some((_, _, reason)) = frozen.first() {
        d.placed = frozen.iter().map(|(n, r, _)| (n.clone(), *r)).collect();
        d.frozen = frozen.iter().map(|(n, _, _)| n.clone()).collect();
        d.explanation.decision = reason.clone();
        return d;
    }
    if ctx.config.options.maintenance_mode {
        d.explanation.decision = "left alone: maintenance-mode".into();
        return d;
    }
    if instances.is_empty() {
        if let Some(node) = ctx.unseen.first() {
            d.explanation.decision = format!(
                "blocked: {node} was never seen and may run it; no start until it is fenced"
            );
            return d;
        }
    }
    if ctx.config.effective_meta(unit).target_role == TargetRole::Stopped {
        d.explanation.decision = "stopped: target-role is Stopped".into();
        return d;
    }
    if let Some(Forced::Stop(why)) = forced {
        d.explanation.decision = format!("stopped: {why}");
        return d;
    }
    let mut scores = preferences(ctx, unit, 0, &mut d.explanation.notes);
    let stop_reason = apply_primaries(ctx, unit, decisions, &mut scores);
    let current = ctx.current_nodes(unit);
    let Some(node) = best_node(ctx, &scores, &current) else {
        d.explanation.decision = format!(
            "stopped: {}",
            stop_reason.unwrap_or_else(|| why_nowhere(&scores))
        );
        d.explanation.scores = scores;
        return d;
    };
    let healthy_here = instances
        .iter()
        .any(|i| i.node == node && i.health == Health::Ok);
    d.explanation.decision = if healthy_here {
        format!("stays on {node}")
    } else if current.contains(&node) {
        format!("recovers on {node} (restart after a failure)")
    } else if let Some(from) = current.iter().next() {
        format!("moves {from} -> {node}")
    } else {
        format!("starts on {node}")
    };
    d.explanation.scores = scores;
    d.placed = vec![(node, Role::Started)];
    d
}
