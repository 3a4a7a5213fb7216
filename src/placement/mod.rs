//! Resource placement, pure: cluster state + configuration in, an ordered plan of
//! actions (fence, demote, stop, start, promote) out, with an explanation of every
//! resource's scores in the spirit of pacemaker's scheduler and `crm_simulate`. No I/O
//! and no clock of its own; the same inputs always give the same plan.
//!
//! Rules that matter for safety: nothing is placed on an offline, unclean, standby or
//! maintenance node; a resource on an unclean node is blocked there until the node is
//! fenced, and while a node never seen since startup is not fenced no primitive that is
//! stopped starts (as in [`crate::cluster::failover`]); a failed stop fences its node (or, with
//! fencing disabled, blocks the resource); a primitive never runs twice (its stops come
//! before its starts); a promoted instance that may still act (blocked on an unclean
//! node, or its stop failed) counts against `promoted-max`, and nothing new is promoted
//! while a node is unseen.
//!
//! Module map:
//! - [`score`]: scores with INFINITY arithmetic.
//! - [`rule`]: location rules on node attributes.
//! - [`config`]: the resource model (primitives, groups, clones, constraints, options).
//! - [`parse`]: that model from TOML, validated (constraint sections in
//!   `parse/constraints.rs`).
//! - [`expand`]: groups and constraints rewritten onto placed units; cycle detection.
//! - [`state`]: nodes, where resources run, failcounts.
//! - [`scores`]: per-node score terms (availability, opt-in, location, stickiness,
//!   auto-failback, failcounts).
//! - [`allocate`]: node choice for primitives, colocations, blocked and forced stops.
//! - [`clone`]: clone instances and promotion.
//! - [`actions`]: decisions to ordered actions (recovery, moves, restarts by order).
//! - [`plan`]: the plan and `explain`.
//! - [`explain`]: score breakdowns as text.
//! - [`simulate`]: apply a plan to a state as if it succeeded.
//! - [`scenario`]: the golden-file scenario format (`golden/*.toml` -> `*.out`).

pub mod actions;
pub mod allocate;
pub mod clone;
pub mod config;
pub mod expand;
pub mod explain;
pub mod parse;
pub mod plan;
pub mod rule;
pub mod scenario;
pub mod score;
pub mod scores;
pub mod simulate;
pub mod state;

pub use config::Config;
pub use parse::ConfigError;
pub use plan::{Action, ActionKind, Plan};
pub use score::Score;
pub use state::ClusterState;

use crate::fencer::duration::Moment;

/// Decide what to do: where every resource should run given `state`, and the ordered
/// actions that get it there, with an explanation for each resource.
pub fn schedule(state: &ClusterState, config: &Config, now: Moment) -> Plan {
    let ctx = scores::Context::new(config, state, now);
    let (order, decisions) = allocate::allocate(&ctx);
    let (actions, after) = actions::plan_actions(&ctx, &order, &decisions);
    let explanations = order
        .iter()
        .filter_map(|u| decisions.get(u).map(|d| d.explanation.clone()))
        .collect();
    Plan {
        actions,
        after,
        explanations,
        groups: config
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.members.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod schedule_tests;
