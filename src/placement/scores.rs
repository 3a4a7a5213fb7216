//! The score terms of one unit on every node, before colocations with what is already
//! placed: unavailable nodes (offline, unclean, standby, maintenance, awaiting fencing),
//! the opt-in rule, location constraints and rules, stickiness (and heartbeat's
//! auto_failback exception), and failcounts against migration-threshold.

use std::collections::{BTreeMap, BTreeSet};

use super::config::{Config, LocationTarget, Role};
use super::expand::{expand, Expanded};
use super::explain::NodeScore;
use super::score::Score;
use super::state::{ClusterState, Health, Membership};
use crate::fencer::duration::Moment;

/// Everything a scheduling run reads, prepared once.
pub struct Context<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The cluster state, without instances on offline nodes (an offline node is known
    /// to be down: nothing runs there).
    pub state: ClusterState,
    /// The scheduler's clock.
    pub now: Moment,
    /// Constraints rewritten onto units.
    pub expanded: Expanded,
    /// Node names, sorted.
    pub nodes: Vec<String>,
    /// Nodes that must be fenced because a stop failed there, with the resource.
    pub fence_pending: BTreeMap<String, String>,
    /// Nodes never seen (they may run anything: no primitive starts until fenced).
    pub unseen: Vec<String>,
}

impl<'a> Context<'a> {
    /// Prepare a run.
    pub fn new(config: &'a Config, state: &ClusterState, now: Moment) -> Context<'a> {
        let mut state = state.clone();
        let offline: BTreeSet<String> = state
            .nodes
            .iter()
            .filter(|(_, n)| n.membership == Membership::Offline)
            .map(|(name, _)| name.clone())
            .collect();
        for instances in state.running.values_mut() {
            instances.retain(|i| !offline.contains(&i.node));
        }
        state.running.retain(|_, v| !v.is_empty());
        let mut fence_pending = BTreeMap::new();
        if config.options.fencing_enabled {
            for (resource, instances) in &state.running {
                for i in instances {
                    if i.health == Health::StopFailed {
                        fence_pending
                            .entry(i.node.clone())
                            .or_insert_with(|| resource.clone());
                    }
                }
            }
        }
        let nodes = state.nodes.keys().cloned().collect();
        let unseen = state
            .nodes
            .iter()
            .filter(|(_, n)| n.membership == Membership::Unseen)
            .map(|(name, _)| name.clone())
            .collect();
        Context {
            config,
            state,
            now,
            expanded: expand(config),
            nodes,
            fence_pending,
            unseen,
        }
    }

    /// Why `node` cannot take resources, if it cannot.
    pub fn unavailable(&self, node: &str) -> Option<String> {
        if let Some(resource) = self.fence_pending.get(node) {
            return Some(format!("awaits fencing (stop of {resource} failed)"));
        }
        match self.state.nodes.get(node) {
            Some(n) => n.unavailable().map(str::to_string),
            None => Some("not a cluster node".to_string()),
        }
    }

    /// Location terms of `unit` for `role` (None: placement) on `node`, as
    /// (constraint id, score, description).
    pub fn locations(&self, unit: &str, role: Option<Role>, node: &str) -> Vec<(Score, String)> {
        let attributes = self.state.nodes.get(node).map(|n| &n.attributes);
        let empty = BTreeMap::new();
        let attributes = attributes.unwrap_or(&empty);
        let mut out = Vec::new();
        for l in self.expanded.locations.iter().filter(|l| l.unit == unit) {
            if l.role != role {
                continue;
            }
            let via = l
                .via_group
                .as_ref()
                .map(|g| format!(" via group {g}"))
                .unwrap_or_default();
            match &l.target {
                LocationTarget::Node { node: n, score } if n == node => {
                    out.push((*score, format!("location {}{via}", l.id)));
                }
                LocationTarget::Rule(rule) if rule.matches(node, attributes) => {
                    out.push((rule.score, format!("location {}{via} (rule: {rule})", l.id)));
                }
                _ => {}
            }
        }
        out
    }

    /// Does any location constraint of `unit` (placement role) name `node`?
    fn mentioned(&self, unit: &str, node: &str) -> bool {
        !self.locations(unit, None, node).is_empty()
    }

    /// The home of `unit`: the available node with the highest positive location score
    /// (ties: the first name).
    pub fn home(&self, unit: &str) -> Option<String> {
        let mut best: Option<(Score, &String)> = None;
        for node in &self.nodes {
            let total = self
                .locations(unit, None, node)
                .iter()
                .fold(Score::ZERO, |t, (s, _)| t + *s);
            if total > Score::ZERO && best.is_none_or(|(b, _)| total > b) {
                best = Some((total, node));
            }
        }
        best.map(|(_, n)| n.clone())
    }

    /// The nodes where `unit` currently runs (any health).
    pub fn current_nodes(&self, unit: &str) -> BTreeSet<String> {
        self.state
            .instances(unit)
            .iter()
            .map(|i| i.node.clone())
            .collect()
    }

    /// The score terms of `unit` on every node, before colocations.
    pub fn base_scores(&self, unit: &str) -> BTreeMap<String, NodeScore> {
        let meta = self.config.effective_meta(unit);
        let current = self.current_nodes(unit);
        let home = if self.config.options.auto_failback {
            self.home(unit).filter(|h| self.unavailable(h).is_none())
        } else {
            None
        };
        let mut out = BTreeMap::new();
        for node in &self.nodes {
            let mut score = NodeScore::default();
            if let Some(why) = self.unavailable(node) {
                score.add(Score::MINUS_INFINITY, format!("node {why}"));
            }
            if !self.config.options.symmetric_cluster && !self.mentioned(unit, node) {
                score.add(
                    Score::MINUS_INFINITY,
                    "opt-in cluster: no location constraint allows this node",
                );
            }
            for (s, why) in self.locations(unit, None, node) {
                score.add(s, why);
            }
            if current.contains(node) && meta.stickiness != Score::ZERO {
                match &home {
                    Some(h) if h != node => score.add(
                        Score::ZERO,
                        format!(
                            "stickiness {} ignored (auto-failback: home {h} is back)",
                            meta.stickiness
                        ),
                    ),
                    _ => score.add(meta.stickiness, "stickiness"),
                }
            }
            let failed = self
                .state
                .failcount(unit, node, meta.failure_timeout, self.now);
            if failed > 0 {
                let threshold = meta.migration_threshold;
                let finite = threshold > 0 && i64::from(threshold) < super::score::INFINITY;
                if threshold > 0 && failed >= super::state::FAILCOUNT_INFINITY {
                    score.add(
                        Score::MINUS_INFINITY,
                        "start failed here (start-failure-is-fatal)",
                    );
                } else if finite && failed >= threshold {
                    score.add(
                        Score::MINUS_INFINITY,
                        format!("failed {failed} times (migration-threshold {threshold})"),
                    );
                } else if finite {
                    score.add(
                        Score::ZERO,
                        format!("failcount {failed} of migration-threshold {threshold}"),
                    );
                } else {
                    score.add(Score::ZERO, format!("failcount {failed}"));
                }
            }
            out.insert(node.clone(), score);
        }
        out
    }
}
