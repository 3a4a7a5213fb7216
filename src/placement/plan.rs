//! The scheduler's output: the actions to carry out, in an order that respects every
//! constraint, and an explanation for every resource.

use std::collections::BTreeMap;
use std::fmt;

use super::explain::Explanation;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// Fence a node (a stop failed there: the only safe way to stop it).
    Fence,
    /// Demote a promoted instance.
    Demote,
    /// Stop an instance.
    Stop,
    /// Start an instance.
    Start,
    /// Promote a started instance.
    Promote,
}

impl ActionKind {
    /// The word used in plans.
    pub fn word(self) -> &'static str {
        match self {
            ActionKind::Fence => "fence",
            ActionKind::Demote => "demote",
            ActionKind::Stop => "stop",
            ActionKind::Start => "start",
            ActionKind::Promote => "promote",
        }
    }
}

/// One action of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// What.
    pub kind: ActionKind,
    /// On which resource (primitive or clone); none for fencing.
    pub resource: Option<String>,
    /// On which node.
    pub node: String,
    /// Why.
    pub reason: String,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.resource {
            Some(r) => write!(
                f,
                "{} {r} on {} ({})",
                self.kind.word(),
                self.node,
                self.reason
            ),
            None => write!(f, "{} {} ({})", self.kind.word(), self.node, self.reason),
        }
    }
}

/// Actions in execution order plus the explanation of every placed unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// In order: an action may run once every earlier action it depends on is done
    /// (the plan is a valid serial order).
    pub actions: Vec<Action>,
    /// For each action, the earlier actions it must wait for (indices into `actions`):
    /// a node carries out one of its actions once none of these is still to be done.
    pub after: Vec<Vec<usize>>,
    /// By unit (primitive or clone), in allocation order.
    pub explanations: Vec<Explanation>,
    /// Group name -> members, so that `explain` answers for a group too.
    pub groups: BTreeMap<String, Vec<String>>,
}

impl Plan {
    /// Why `resource` (a primitive, group or clone) is where it is, as text; none if
    /// no such resource.
    pub fn explain(&self, resource: &str) -> Option<String> {
        let names: Vec<String> = match self.groups.get(resource) {
            Some(members) => members.clone(),
            None => vec![resource.to_string()],
        };
        let parts: Vec<String> = names
            .iter()
            .filter_map(|n| self.explanations.iter().find(|e| &e.resource == n))
            .map(Explanation::render)
            .collect();
        if parts.is_empty() {
            None
        } else {
            Some(parts.concat())
        }
    }

    /// Actions as numbered lines.
    pub fn render_actions(&self) -> String {
        if self.actions.is_empty() {
            return "  (nothing to do)\n".to_string();
        }
        self.actions
            .iter()
            .enumerate()
            .map(|(i, a)| format!("  {}. {a}\n", i + 1))
            .collect()
    }
}
