//! Constraints rewritten onto the units the scheduler places: standalone primitives,
//! group members and clones. A group becomes a chain of its members (each colocated
//! with the previous at INFINITY and ordered after it, mandatory); a location on a group
//! applies to every member; a colocation with or of a group uses its first member; an
//! order uses the group's last member when the group comes first and its first member
//! when it comes second. Also finds cycles, which the configuration refuses.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{Config, LocationTarget, OrderAction, OrderKind, Role};
use super::score::Score;

/// A colocation between two units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitColocation {
    /// Where it comes from: a constraint id or `group NAME`.
    pub source: String,
    /// Placed relative to `primary`.
    pub dependent: String,
    /// Placed first.
    pub primary: String,
    /// The score.
    pub score: Score,
    /// Only with the primary's promoted instances.
    pub with_role: Option<Role>,
}

/// An order between two units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOrder {
    /// Where it comes from: a constraint id or `group NAME`.
    pub source: String,
    /// Acted on first.
    pub first: String,
    /// Its action.
    pub first_action: OrderAction,
    /// Acted on next.
    pub then: String,
    /// Its action.
    pub then_action: OrderAction,
    /// Mandatory or optional.
    pub kind: OrderKind,
    /// Also stop in reverse.
    pub symmetrical: bool,
}

/// A location constraint on one unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitLocation {
    /// Constraint id.
    pub id: String,
    /// The unit.
    pub unit: String,
    /// The group the constraint was written for, if any.
    pub via_group: Option<String>,
    /// Role restriction.
    pub role: Option<Role>,
    /// Node or rule.
    pub target: LocationTarget,
}

/// Everything the scheduler needs, in terms of units.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expanded {
    /// Unit names: primitives outside clones, and clones, in configuration order.
    pub units: Vec<String>,
    /// Colocations, intrinsic ones (groups) first.
    pub colocations: Vec<UnitColocation>,
    /// Orders, intrinsic ones first.
    pub orders: Vec<UnitOrder>,
    /// Locations.
    pub locations: Vec<UnitLocation>,
}

/// The unit a resource name stands for when it is placed relative to something (a
/// group: its first member).
fn placed_as(config: &Config, name: &str) -> Option<String> {
    match config.group(name) {
        Some(g) => g.members.first().cloned(),
        None => Some(name.to_string()),
    }
}

/// Rewrite the configuration onto units.
pub fn expand(config: &Config) -> Expanded {
    let mut out = Expanded::default();
    for p in &config.primitives {
        if config.clone_of(&p.name).is_none() {
            out.units.push(p.name.clone());
        }
    }
    for c in &config.clones {
        out.units.push(c.name.clone());
    }
    for g in &config.groups {
        for pair in g.members.windows(2) {
            let source = format!("group {}", g.name);
            out.colocations.push(UnitColocation {
                source: source.clone(),
                dependent: pair[1].clone(),
                primary: pair[0].clone(),
                score: Score::INFINITY,
                with_role: None,
            });
            out.orders.push(UnitOrder {
                source,
                first: pair[0].clone(),
                first_action: OrderAction::Start,
                then: pair[1].clone(),
                then_action: OrderAction::Start,
                kind: OrderKind::Mandatory,
                symmetrical: true,
            });
        }
    }
    for l in &config.locations {
        let (units, via_group) = match config.group(&l.resource) {
            Some(g) => (g.members.clone(), Some(g.name.clone())),
            None => (vec![l.resource.clone()], None),
        };
        for unit in units {
            out.locations.push(UnitLocation {
                id: l.id.clone(),
                unit,
                via_group: via_group.clone(),
                role: l.role,
                target: l.target.clone(),
            });
        }
    }
    for c in &config.colocations {
        if let (Some(dependent), Some(primary)) =
            (placed_as(config, &c.resource), placed_as(config, &c.with))
        {
            out.colocations.push(UnitColocation {
                source: c.id.clone(),
                dependent,
                primary,
                score: c.score,
                with_role: c.with_role,
            });
        }
    }
    for o in &config.orders {
        let first = match config.group(&o.first) {
            Some(g) => g.members.last().cloned(),
            None => Some(o.first.clone()),
        };
        let then = placed_as(config, &o.then);
        if let (Some(first), Some(then)) = (first, then) {
            out.orders.push(UnitOrder {
                source: o.id.clone(),
                first,
                first_action: o.first_action,
                then,
                then_action: o.then_action,
                kind: o.kind,
                symmetrical: o.symmetrical,
            });
        }
    }
    out
}

/// A cycle in a directed graph given as edges, as the list of nodes around it (the
/// first repeated at the end), or none. Deterministic: searched from the smallest name.
pub fn find_cycle(edges: &[(String, String)]) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a.as_str()).or_default().insert(b.as_str());
        next.entry(b.as_str()).or_default();
    }
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark: BTreeMap<&str, u8> = next.keys().map(|k| (*k, 0)).collect();
    let starts: Vec<&str> = next.keys().copied().collect();
    for start in starts {
        if mark.get(start) != Some(&0) {
            continue;
        }
        let mut path: Vec<&str> = vec![start];
        let mut iters: Vec<Vec<&str>> = vec![next[start].iter().rev().copied().collect()];
        mark.insert(start, 1);
        while let Some(pending) = iters.last_mut() {
            match pending.pop() {
                Some(n) => match mark.get(n).copied().unwrap_or(0) {
                    0 => {
                        mark.insert(n, 1);
                        path.push(n);
                        iters.push(next[n].iter().rev().copied().collect());
                    }
                    1 => {
                        let from = path.iter().position(|p| *p == n).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[from..].iter().map(|s| s.to_string()).collect();
                        cycle.push(n.to_string());
                        return Some(cycle);
                    }
                    _ => {}
                },
                None => {
                    iters.pop();
                    if let Some(done) = path.pop() {
                        mark.insert(done, 2);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn cycles() {
        assert_eq!(find_cycle(&e(&[("a", "b"), ("b", "c")])), None);
        assert_eq!(
            find_cycle(&e(&[("a", "b"), ("b", "c"), ("c", "a")])),
            Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
        assert_eq!(
            find_cycle(&e(&[("x", "x")])),
            Some(vec!["x".into(), "x".into()])
        );
        // A diamond is not a cycle.
        assert_eq!(
            find_cycle(&e(&[("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])),
            None
        );
    }
}
