//! Carry a plan out on a [`ClusterState`] as if every action succeeded, pure: the next
//! state a scenario (or a dry run) continues from.

use super::config::Role;
use super::plan::{ActionKind, Plan};
use super::state::{ClusterState, Health, Instance, Membership};

/// The state after every action of `plan` succeeded (and with nothing left on offline
/// nodes, which the scheduler ignores too).
pub fn apply(state: &ClusterState, plan: &Plan) -> ClusterState {
    let mut next = state.clone();
    let offline: Vec<String> = next
        .nodes
        .iter()
        .filter(|(_, n)| n.membership == Membership::Offline)
        .map(|(name, _)| name.clone())
        .collect();
    for node in offline {
        fenced(&mut next, &node);
    }
    for a in &plan.actions {
        let Some(resource) = &a.resource else {
            if a.kind == ActionKind::Fence {
                fenced(&mut next, &a.node);
            }
            continue;
        };
        let instances = next.running.entry(resource.clone()).or_default();
        let here = |i: &Instance| i.node == a.node;
        match a.kind {
            ActionKind::Stop => {
                // Prefer stopping a failed instance, then an unpromoted one.
                let pick = instances
                    .iter()
                    .position(|i| here(i) && i.health != Health::Ok)
                    .or_else(|| {
                        instances
                            .iter()
                            .position(|i| here(i) && i.role == Role::Started)
                    })
                    .or_else(|| instances.iter().position(here));
                if let Some(p) = pick {
                    instances.remove(p);
                }
            }
            ActionKind::Start => instances.push(Instance {
                node: a.node.clone(),
                role: Role::Started,
                health: Health::Ok,
            }),
            ActionKind::Promote => {
                if let Some(i) = instances
                    .iter_mut()
                    .find(|i| here(i) && i.role == Role::Started && i.health == Health::Ok)
                {
                    i.role = Role::Promoted;
                }
            }
            ActionKind::Demote => {
                if let Some(i) = instances
                    .iter_mut()
                    .find(|i| here(i) && i.role == Role::Promoted)
                {
                    i.role = Role::Started;
                }
            }
            ActionKind::Fence => {}
        }
        if instances.is_empty() {
            next.running.remove(resource);
        }
    }
    next
}

/// `node` was fenced: it is down and clean, nothing runs there any more.
pub fn fenced(state: &mut ClusterState, node: &str) {
    if let Some(n) = state.nodes.get_mut(node) {
        n.membership = Membership::Offline;
    }
    for instances in state.running.values_mut() {
        instances.retain(|i| i.node != node);
    }
    state.running.retain(|_, v| !v.is_empty());
}
