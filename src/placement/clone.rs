//! Clones and promotable clones. Instances go to the best nodes in rounds (one per node
//! per round, at most `clone-node-max` per node, `clone-max` in all), so they spread
//! before they stack. A promotable clone then promotes up to `promoted-max` instances
//! (`promoted-node-max` per node) on the nodes with the best promotion score: the
//! agent's own score (node attribute `master-CHILD`, as `crm_master` sets it for the
//! cloned primitive, or `master-CLONE`),
//! location constraints with `role = "promoted"`, and stickiness where it is promoted.

use std::collections::BTreeMap;

use super::allocate::{
    apply_primaries, empty_decision, frozen_instances, why_nowhere, Decision, Forced,
};
use super::config::{Role, TargetRole};
use super::explain::{Explanation, NodeScore};
use super::score::Score;
use super::scores::Context;
use super::state::Health;

/// Place the instances of clone `unit`.
pub fn allocate_clone(
    ctx: &Context,
    unit: &str,
    decisions: &BTreeMap<String, Decision>,
    forced: Option<&Forced>,
) -> Decision {
    let instances = ctx.state.instances(unit);
    let mut d = empty_decision(ctx, unit, instances);
    let Some(clone) = ctx.config.clone_named(unit) else {
        return d;
    };
    let meta = ctx.config.effective_meta(unit);
    let frozen = frozen_instances(ctx, unit);
    let mut notes: Vec<String> = frozen.iter().map(|(_, _, r)| r.clone()).collect();
    d.placed = frozen.iter().map(|(n, r, _)| (n.clone(), *r)).collect();
    d.frozen = frozen.iter().map(|(n, _, _)| n.clone()).collect();
    if ctx.config.options.maintenance_mode {
        d.explanation.decision = "left alone: maintenance-mode".into();
        return d;
    }
    let stop = if meta.target_role == TargetRole::Stopped {
        Some("stopped: target-role is Stopped".to_string())
    } else if let Some(Forced::Stop(why)) = forced {
        Some(format!("stopped: {why}"))
    } else {
        None
    };
    if let Some(why) = stop {
        notes.push(why);
        d.explanation.decision = notes.join("; ");
        return d;
    }
    let mut scores = ctx.base_scores(unit);
    let stop_reason = apply_primaries(ctx, unit, decisions, &mut scores);
    let clone_max = clone.clone_max.unwrap_or(ctx.nodes.len() as u32) as usize;
    let wanted = clone_max.saturating_sub(d.placed.len());
    let current: BTreeMap<&str, usize> = instances.iter().fold(BTreeMap::new(), |mut m, i| {
        *m.entry(i.node.as_str()).or_insert(0) += 1;
        m
    });
    let mut candidates: Vec<(Score, usize, &String)> = scores
        .iter()
        .filter(|(n, s)| s.total() >= Score::ZERO && ctx.unavailable(n).is_none())
        .map(|(n, s)| (s.total(), current.get(n.as_str()).copied().unwrap_or(0), n))
        .collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
    let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
    let mut assigned = 0;
    for round in 1..=clone.clone_node_max as usize {
        for (_, _, node) in &candidates {
            if assigned >= wanted {
                break;
            }
            let count = per_node.entry((*node).clone()).or_insert(0);
            if *count < round {
                *count += 1;
                assigned += 1;
            }
        }
    }
    let promote_allowed = clone.promotable
        && meta.target_role != TargetRole::Unpromoted
        && !matches!(forced, Some(Forced::NoPromote(_)));
    // Promoted instances frozen where they are (an unclean node, a failed stop) may
    // still act promoted: they count against promoted-max until they are resolved.
    let frozen_promoted: Vec<String> = frozen
        .iter()
        .filter(|(_, role, _)| *role == Role::Promoted)
        .map(|(node, _, _)| node.clone())
        .collect();
    let promoted = if clone.promotable {
        promote(
            ctx,
            unit,
            &per_node,
            &mut d.explanation,
            promote_allowed,
            frozen_promoted.len(),
        )
    } else {
        BTreeMap::new()
    };
    for (node, count) in &per_node {
        let up = promoted.get(node).copied().unwrap_or(0);
        for i in 0..*count {
            let role = if i < up {
                Role::Promoted
            } else {
                Role::Started
            };
            d.placed.push((node.clone(), role));
        }
    }
    if assigned == 0 && d.placed.is_empty() {
        notes.push(format!(
            "stopped: {}",
            stop_reason.unwrap_or_else(|| why_nowhere(&scores))
        ));
    } else {
        let list: Vec<String> = per_node
            .iter()
            .map(|(n, c)| {
                if *c > 1 {
                    format!("{n} x{c}")
                } else {
                    n.clone()
                }
            })
            .collect();
        notes.push(format!(
            "{assigned} of {clone_max} instances on {}",
            if list.is_empty() {
                "no node".to_string()
            } else {
                list.join(", ")
            }
        ));
        if clone.promotable {
            let up: Vec<&String> = promoted.keys().collect();
            notes.push(if up.is_empty() {
                match forced {
                    _ if !frozen_promoted.is_empty() => format!(
                        "none promoted: still promoted on {} (blocked there)",
                        frozen_promoted.join(", ")
                    ),
                    _ if !ctx.unseen.is_empty() => format!(
                        "none promoted: {} was never seen and may run it promoted",
                        ctx.unseen.join(", ")
                    ),
                    Some(Forced::NoPromote(why)) => format!("none promoted: {why}"),
                    _ if meta.target_role == TargetRole::Unpromoted => {
                        "none promoted: target-role is Unpromoted".to_string()
                    }
                    _ => "none promoted: no node has a promotion score".to_string(),
                }
            } else {
                format!(
                    "promoted on {}",
                    up.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                )
            });
        }
    }
    d.explanation.scores = scores;
    d.explanation.decision = notes.join("; ");
    d
}

/// Choose where to promote; returns promoted instances per node. Fills the promotion
/// scores of the explanation. `frozen` promoted instances (blocked elsewhere) count
/// against promoted-max; while a node is unseen (it may run a promoted instance nobody
/// knows of) only instances promoted already stay promoted.
fn promote(
    ctx: &Context,
    unit: &str,
    per_node: &BTreeMap<String, usize>,
    explanation: &mut Explanation,
    allowed: bool,
    frozen: usize,
) -> BTreeMap<String, usize> {
    let Some(clone) = ctx.config.clone_named(unit) else {
        return BTreeMap::new();
    };
    let meta = ctx.config.effective_meta(unit);
    let names = [format!("master-{unit}"), format!("master-{}", clone.child)];
    let mut ranked: Vec<(Score, bool, String)> = Vec::new();
    for node in per_node.keys() {
        let mut score = NodeScore::default();
        let mut eligible = false;
        let attributes = ctx.state.nodes.get(node).map(|n| &n.attributes);
        let agent = names.iter().find_map(|name| {
            attributes
                .and_then(|a| a.get(name))
                .map(|text| (name.as_str(), text))
        });
        if let Some((attribute, text)) = agent {
            match Score::parse(text) {
                Ok(s) => {
                    score.add(s, format!("agent's promotion score ({attribute})"));
                    eligible = true;
                }
                Err(_) => score.add(Score::MINUS_INFINITY, format!("{attribute} is not a score")),
            }
        }
        for (s, why) in ctx.locations(unit, Some(Role::Promoted), node) {
            score.add(s, why);
            eligible = true;
        }
        let promoted_here = ctx
            .state
            .instances(unit)
            .iter()
            .any(|i| i.node == *node && i.role == Role::Promoted && i.health == Health::Ok);
        if promoted_here && meta.stickiness != Score::ZERO {
            score.add(meta.stickiness, "stickiness (promoted here)");
        }
        if !eligible {
            score.add(Score::MINUS_INFINITY, "no promotion score");
        }
        if !promoted_here {
            if let Some(unseen) = ctx.unseen.first() {
                score.add(
                    Score::MINUS_INFINITY,
                    format!("{unseen} was never seen and may run it promoted"),
                );
            }
        }
        ranked.push((score.total(), promoted_here, node.clone()));
        explanation.promotion.insert(node.clone(), score);
    }
    if !allowed {
        return BTreeMap::new();
    }
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    let mut out = BTreeMap::new();
    let mut total = frozen;
    for (score, _, node) in ranked {
        if score < Score::ZERO || total >= clone.promoted_max as usize {
            continue;
        }
        let count = per_node.get(&node).copied().unwrap_or(0);
        let up = count
            .min(clone.promoted_node_max as usize)
            .min(clone.promoted_max as usize - total);
        if up > 0 {
            out.insert(node, up);
            total += up;
        }
    }
    out
}
