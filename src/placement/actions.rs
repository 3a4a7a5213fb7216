//! From decisions to an ordered list of actions. Per unit and node, the current
//! instances are compared with the target ones: what is not needed stops (demoted
//! first), failed instances that stay are recovered (stop, start), missing ones start
//! (and are promoted). A mandatory order restarts `then` when `first` is stopped or
//! demoted under it. Actions are then sorted topologically: on one node demote before
//! stop before start before promote; a resource's stops before its starts anywhere (never
//! two copies of a primitive); orders `first` before `then` when starting, the reverse
//! when stopping (symmetrical); ties by phase, allocation order and node name.

use std::collections::{BTreeMap, BTreeSet};

use super::allocate::Decision;
use super::config::{OrderAction, OrderKind, Role};
use super::expand::UnitOrder;
use super::plan::{Action, ActionKind};
use super::scores::Context;
use super::state::Health;

/// What happens to one unit on one node.
#[derive(Debug, Clone, Default)]
struct NodeChange {
    /// Healthy instances that keep running untouched.
    kept: usize,
    /// How many of them are promoted.
    kept_promoted: usize,
    /// Actions with reasons, in phase order.
    actions: Vec<(ActionKind, String)>,
}

/// Changes of every unit on every node.
type Changes = BTreeMap<String, BTreeMap<String, NodeChange>>;

fn count_roles(placed: &[(String, Role)], node: &str) -> (usize, usize) {
    let here: Vec<&Role> = placed
        .iter()
        .filter(|(n, _)| n == node)
        .map(|(_, r)| r)
        .collect();
    let promoted = here.iter().filter(|r| ***r == Role::Promoted).count();
    (here.len(), promoted)
}

fn unit_changes(ctx: &Context, unit: &str, d: &Decision) -> BTreeMap<String, NodeChange> {
    let instances = ctx.state.instances(unit);
    let mut nodes: BTreeSet<String> = instances.iter().map(|i| i.node.clone()).collect();
    nodes.extend(d.placed.iter().map(|(n, _)| n.clone()));
    let primitive = ctx.config.clone_named(unit).is_none();
    let target_nodes = d.nodes(None);
    let mut out = BTreeMap::new();
    for node in nodes {
        if d.frozen.contains(&node) {
            continue;
        }
        let mut change = NodeChange::default();
        let (want, want_promoted) = count_roles(&d.placed, &node);
        let mut healthy: Vec<Role> = instances
            .iter()
            .filter(|i| i.node == node && i.health == Health::Ok)
            .map(|i| i.role)
            .collect();
        healthy.sort_by(|a, b| b.cmp(a)); // promoted first
        let failed: Vec<Role> = instances
            .iter()
            .filter(|i| i.node == node && i.health != Health::Ok)
            .map(|i| i.role)
            .collect();
        let keep = healthy.len().min(want);
        change.kept = keep;
        change.kept_promoted = healthy[..keep]
            .iter()
            .filter(|r| **r == Role::Promoted)
            .count();
        let leave_reason = if primitive && !target_nodes.is_empty() {
            let to = target_nodes.iter().next().cloned().unwrap_or_default();
            match ctx.unavailable(&node) {
                Some(why) => format!("moving to {to}: {node} is {why}"),
                None => format!("moving to {to}"),
            }
        } else if primitive {
            d.explanation.decision.clone()
        } else {
            "instance not needed here".to_string()
        };
        for role in &healthy[keep..] {
            if *role == Role::Promoted {
                change
                    .actions
                    .push((ActionKind::Demote, leave_reason.clone()));
            }
            change
                .actions
                .push((ActionKind::Stop, leave_reason.clone()));
        }
        let mut slots = want - keep;
        for role in failed {
            if role == Role::Promoted {
                change
                    .actions
                    .push((ActionKind::Demote, "failed".to_string()));
            }
            if slots > 0 {
                slots -= 1;
                change
                    .actions
                    .push((ActionKind::Stop, "recover after a failure".into()));
                change
                    .actions
                    .push((ActionKind::Start, "recover after a failure".into()));
            } else {
                change
                    .actions
                    .push((ActionKind::Stop, format!("failed; {leave_reason}")));
            }
        }
        let from = ctx
            .current_nodes(unit)
            .into_iter()
            .find(|n| n != &node && primitive);
        for _ in 0..slots {
            let reason = match &from {
                Some(f) => format!("moving from {f}"),
                None if primitive => "placed here".to_string(),
                None => "new instance".to_string(),
            };
            change.actions.push((ActionKind::Start, reason));
        }
        if want_promoted > change.kept_promoted {
            for _ in 0..want_promoted - change.kept_promoted {
                change
                    .actions
                    .push((ActionKind::Promote, "best promotion score".into()));
            }
        } else {
            for _ in 0..change.kept_promoted - want_promoted {
                change.actions.push((
                    ActionKind::Demote,
                    "promoted elsewhere or not at all".into(),
                ));
            }
            change.kept_promoted = want_promoted;
        }
        out.insert(node, change);
    }
    out
}

fn disrupted(changes: &BTreeMap<String, NodeChange>, action: OrderAction) -> bool {
    changes.values().any(|c| {
        c.actions.iter().any(|(k, _)| match action {
            OrderAction::Start => *k == ActionKind::Stop,
            OrderAction::Promote => *k == ActionKind::Demote,
        })
    })
}

/// Restart (or re-promote) `then` where it keeps running while `first` is disrupted.
fn cascade(changes: &mut Changes, order: &[String], orders: &[UnitOrder]) {
    for unit in order {
        for o in orders
            .iter()
            .filter(|o| &o.first == unit && o.kind == OrderKind::Mandatory)
        {
            let Some(first) = changes.get(&o.first) else {
                continue;
            };
            if !disrupted(first, o.first_action) {
                continue;
            }
            let verb = match o.first_action {
                OrderAction::Start => "stops",
                OrderAction::Promote => "is demoted",
            };
            let reason = format!(
                "restart: {} {verb} under it (mandatory order {})",
                o.first, o.source
            );
            let Some(then) = changes.get_mut(&o.then) else {
                continue;
            };
            for c in then.values_mut() {
                match o.then_action {
                    OrderAction::Start => {
                        for _ in 0..c.kept_promoted {
                            c.actions.insert(0, (ActionKind::Demote, reason.clone()));
                            c.actions.push((ActionKind::Promote, reason.clone()));
                        }
                        for _ in 0..c.kept {
                            c.actions.push((ActionKind::Stop, reason.clone()));
                            c.actions.push((ActionKind::Start, reason.clone()));
                        }
                        c.kept = 0;
                    }
                    OrderAction::Promote => {
                        for _ in 0..c.kept_promoted {
                            c.actions.insert(0, (ActionKind::Demote, reason.clone()));
                            c.actions.push((ActionKind::Promote, reason.clone()));
                        }
                    }
                }
                c.kept_promoted = 0;
            }
        }
    }
}

/// Units in order-constraint order (first before then), falling back to `order`.
fn order_sorted(order: &[String], orders: &[UnitOrder]) -> Vec<String> {
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<String> = order.to_vec();
    while !left.is_empty() {
        let ready = left.iter().position(|u| {
            orders
                .iter()
                .filter(|o| &o.then == u)
                .all(|o| done.contains(&o.first) || !order.contains(&o.first))
        });
        done.push(left.remove(ready.unwrap_or(0)));
    }
    done
}

struct Node {
    action: Action,
    key: (ActionKind, usize, String, usize),
}

/// Build the ordered action list, with the direct predecessors of each action (indices
/// into that list, all smaller than its own).
pub fn plan_actions(
    ctx: &Context,
    order: &[String],
    decisions: &BTreeMap<String, Decision>,
) -> (Vec<Action>, Vec<Vec<usize>>) {
    let mut changes: Changes = BTreeMap::new();
    for unit in order {
        if let Some(d) = decisions.get(unit) {
            changes.insert(unit.clone(), unit_changes(ctx, unit, d));
        }
    }
    let orders = &ctx.expanded.orders;
    cascade(&mut changes, &order_sorted(order, orders), orders);

    let mut nodes: Vec<Node> = Vec::new();
    for (node, resource) in &ctx.fence_pending {
        nodes.push(Node {
            action: Action {
                kind: ActionKind::Fence,
                resource: None,
                node: node.clone(),
                reason: format!("stop of {resource} failed there"),
            },
            key: (ActionKind::Fence, 0, node.clone(), 0),
        });
    }
    for (index, unit) in order.iter().enumerate() {
        let Some(per_node) = changes.get(unit) else {
            continue;
        };
        for (node, change) in per_node {
            for (seq, (kind, reason)) in change.actions.iter().enumerate() {
                nodes.push(Node {
                    action: Action {
                        kind: *kind,
                        resource: Some(unit.clone()),
                        node: node.clone(),
                        reason: reason.clone(),
                    },
                    key: (*kind, index, node.clone(), seq),
                });
            }
        }
    }
    let edges = dependencies(&nodes, orders);
    let (nodes, edges) = drop_blocked(nodes, edges, decisions, orders);
    topological(nodes, &edges)
}

/// A unit left frozen somewhere (its stop failed, its node is unclean or in maintenance)
/// has not stopped there, so a symmetrical order's `first` may not stop (or be demoted)
/// under it: those actions are dropped, and so is everything that had to wait for them
/// (a start elsewhere after the stop, ...), until the frozen unit is resolved.
fn drop_blocked(
    nodes: Vec<Node>,
    edges: Vec<(usize, usize)>,
    decisions: &BTreeMap<String, Decision>,
    orders: &[UnitOrder],
) -> (Vec<Node>, Vec<(usize, usize)>) {
    let mut blocked = vec![false; nodes.len()];
    for o in orders.iter().filter(|o| o.symmetrical) {
        if decisions.get(&o.then).is_none_or(|d| d.frozen.is_empty()) {
            continue;
        }
        let undo = match o.first_action {
            OrderAction::Start => ActionKind::Stop,
            OrderAction::Promote => ActionKind::Demote,
        };
        for i in of(&nodes, &o.first, &[undo]).collect::<Vec<_>>() {
            blocked[i] = true;
        }
    }
    let mut changed = blocked.iter().any(|b| *b);
    while changed {
        changed = false;
        for (before, after) in &edges {
            if blocked[*before] && !blocked[*after] {
                blocked[*after] = true;
                changed = true;
            }
        }
    }
    let mut index = vec![usize::MAX; nodes.len()];
    let mut kept = Vec::new();
    for (i, n) in nodes.into_iter().enumerate() {
        if !blocked[i] {
            index[i] = kept.len();
            kept.push(n);
        }
    }
    let edges = edges
        .into_iter()
        .filter(|(b, a)| !blocked[*b] && !blocked[*a])
        .map(|(b, a)| (index[b], index[a]))
        .collect();
    (kept, edges)
}

fn of<'a>(
    nodes: &'a [Node],
    unit: &'a str,
    kinds: &'a [ActionKind],
) -> impl Iterator<Item = usize> + 'a {
    nodes.iter().enumerate().filter_map(move |(i, n)| {
        (n.action.resource.as_deref() == Some(unit) && kinds.contains(&n.action.kind)).then_some(i)
    })
}

/// Edges (before, after) between action indices.
fn dependencies(nodes: &[Node], orders: &[UnitOrder]) -> Vec<(usize, usize)> {
    use ActionKind::*;
    let mut edges = Vec::new();
    for (i, a) in nodes.iter().enumerate() {
        for (j, b) in nodes.iter().enumerate() {
            if i == j || a.action.resource.is_none() || a.action.resource != b.action.resource {
                continue;
            }
            let same_node = a.action.node == b.action.node;
            let before = match (a.action.kind, b.action.kind) {
                (Demote, Stop) | (Start, Promote) => same_node,
                (Stop, Start) | (Demote, Promote) => true,
                (x, y) if x == y && same_node => a.key.3 < b.key.3,
                _ => false,
            };
            if before {
                edges.push((i, j));
            }
        }
    }
    for o in orders {
        let go = |a: OrderAction| match a {
            OrderAction::Start => (Start, Stop),
            OrderAction::Promote => (Promote, Demote),
        };
        let (first_go, first_undo) = go(o.first_action);
        let (then_go, then_undo) = go(o.then_action);
        for f in of(nodes, &o.first, &[first_go]) {
            for t in of(nodes, &o.then, &[then_go]) {
                edges.push((f, t));
            }
        }
        if o.symmetrical {
            for t in of(nodes, &o.then, &[then_undo]) {
                for f in of(nodes, &o.first, &[first_undo]) {
                    edges.push((t, f));
                }
            }
        }
    }
    edges
}

/// Kahn's algorithm, always taking the ready action with the smallest key; also maps
/// the edges onto the output positions (predecessors of each output action).
fn topological(nodes: Vec<Node>, edges: &[(usize, usize)]) -> (Vec<Action>, Vec<Vec<usize>>) {
    let mut indegree = vec![0usize; nodes.len()];
    for (_, after) in edges {
        indegree[*after] += 1;
    }
    let mut done = vec![false; nodes.len()];
    let mut out = Vec::with_capacity(nodes.len());
    let mut position = vec![usize::MAX; nodes.len()];
    for _ in 0..nodes.len() {
        let pick = (0..nodes.len())
            .filter(|i| !done[*i] && indegree[*i] == 0)
            .min_by(|a, b| nodes[*a].key.cmp(&nodes[*b].key))
            // Only on a cycle, which validation excludes: take the smallest key left.
            .or_else(|| {
                (0..nodes.len())
                    .filter(|i| !done[*i])
                    .min_by(|a, b| nodes[*a].key.cmp(&nodes[*b].key))
            });
        let Some(i) = pick else { break };
        done[i] = true;
        position[i] = out.len();
        for (before, after) in edges {
            if *before == i && indegree[*after] > 0 {
                indegree[*after] -= 1;
            }
        }
        out.push(nodes[i].action.clone());
    }
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); out.len()];
    for (before, later) in edges {
        let (b, l) = (position[*before], position[*later]);
        // Only edges that the order respects (a cycle, excluded by validation, would
        // give a later predecessor: dropped).
        if b < l && l < after.len() && !after[l].contains(&b) {
            after[l].push(b);
        }
    }
    for list in &mut after {
        list.sort_unstable();
    }
    (out, after)
}
