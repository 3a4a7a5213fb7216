//! This node's resource instances as the driver reads them from the machine
//! ([`crate::node::machine::instances`]: one actor per instance, a primitive or `NAME:N`
//! for each of several instances of a clone on this node): what its report lists, the
//! promotion scores as node attributes, the instances as [`transition`] reads them, the
//! coordinator's confirmations of promotions, and whether maintenance applies here.
//! Part of [`super`]: nothing is decided here.

use std::collections::{BTreeMap, BTreeSet};

use super::Runner;
use crate::cluster::quorum::NodeId;
use crate::node::attributes;
use crate::node::config::NodeConfig;
use crate::node::events::Event;
use crate::node::machine::Local;
use crate::node::operations::primitive_of_instance;
use crate::node::report::{Grant, RunStatus, Running};
use crate::node::resources::PromotionDirs;
use crate::node::transition;
use crate::placement::config::Role;
use crate::placement::state::Membership;
use crate::placement::Score;

/// The promotion-score shim's directories, when a promotable clone is configured (and a
/// warning when they cannot be set up: its agents then fail to report a score).
pub(super) fn promotion_dirs(cfg: &NodeConfig, me: &str) -> (Option<PromotionDirs>, Option<Event>) {
    if !cfg.placement.clones.iter().any(|c| c.promotable) {
        return (None, None);
    }
    let made = std::env::current_exe()
        .and_then(|program| attributes::setup(&cfg.state_dir, cfg.cluster_id, me, &program));
    match made {
        Ok(dirs) => (Some(dirs), None),
        Err(e) => (
            None,
            Some(Event::NoPromotionShim {
                dir: cfg.state_dir.display().to_string(),
                error: e.to_string(),
            }),
        ),
    }
}

/// A local status as a report status (None: not on this node).
fn run_status(state: Local) -> Option<RunStatus> {
    match state {
        Local::Probing | Local::Cleaning | Local::Stopped => None,
        Local::Starting => Some(RunStatus::Starting),
        Local::Running | Local::Demoting => Some(RunStatus::Running),
        Local::PromotePending | Local::Promoting => Some(RunStatus::Promoting),
        Local::Stopping => Some(RunStatus::Stopping),
        Local::Failed => Some(RunStatus::Failed),
        Local::StopFailed => Some(RunStatus::StopFailed),
    }
}

impl Runner {
    /// This node's resource instances as its report lists them.
    pub(super) fn local_running(&self) -> Vec<Running> {
        self.machine
            .instances()
            .states()
            .iter()
            .filter_map(|(name, state)| {
                run_status(*state).map(|status| Running {
                    name: name.clone(),
                    role: self.local_role(name),
                    status,
                })
            })
            .collect()
    }

    /// What the other nodes (not offline) report: primitive -> a node reporting it, and
    /// primitive -> the nodes reporting an instance of it promoted or being promoted (in
    /// any state; a node once per instance).
    pub(super) fn reported_elsewhere(
        &self,
    ) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
        let mut elsewhere: BTreeMap<String, String> = BTreeMap::new();
        let mut promoted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (node, report) in &self.sched.reports {
            if self.membership_of(*node) == Membership::Offline {
                continue;
            }
            for r in &report.running {
                let primitive = self.primitive_of_local(&r.name);
                if r.role == Role::Promoted || r.status == RunStatus::Promoting {
                    promoted
                        .entry(primitive.clone())
                        .or_default()
                        .push(self.name(*node));
                }
                elsewhere.insert(primitive, self.name(*node));
            }
        }
        (elsewhere, promoted)
    }

    /// The primitive of an instance name (a local one or a peer's; else the name).
    pub(super) fn primitive_of_local(&self, instance: &str) -> String {
        primitive_of_instance(&self.cfg.placement, instance)
            .unwrap_or(instance)
            .to_string()
    }

    /// The local instances `name` stands for: itself, or every instance of a primitive.
    pub(super) fn instances_named(&self, name: &str) -> Vec<String> {
        let states = self.machine.instances().states();
        if states.contains_key(name) {
            return vec![name.to_string()];
        }
        states
            .keys()
            .filter(|i| primitive_of_instance(&self.cfg.placement, i) == Some(name))
            .cloned()
            .collect()
    }

    /// The role a local instance is reported in: promoted while it is (or may be), and
    /// while it is being demoted; not while it is being promoted.
    pub(super) fn local_role(&self, instance: &str) -> Role {
        let local = self.machine.instances();
        let promoted = local.promoted(instance) && local.state(instance) != Some(Local::Promoting);
        if promoted || local.state(instance) == Some(Local::Demoting) {
            Role::Promoted
        } else {
            Role::Started
        }
    }

    /// This node's transient attributes: `master-CHILD`, the best promotion score of its
    /// instances (pacemaker keeps one per node for an anonymous clone).
    pub(super) fn local_attributes(&self) -> Vec<(String, String)> {
        let mut best: BTreeMap<String, (Score, String)> = BTreeMap::new();
        for (instance, value) in self.machine.instances().scores() {
            let Ok(score) = Score::parse(value) else {
                continue;
            };
            let name = format!("master-{}", self.primitive_of_local(instance));
            if best.get(&name).is_none_or(|(s, _)| score > *s) {
                best.insert(name, (score, value.clone()));
            }
        }
        best.into_iter().map(|(k, (_, v))| (k, v)).collect()
    }

    /// The local instances as [`transition::next_steps`] reads them.
    pub(super) fn transition_local(&self) -> BTreeMap<String, transition::Instance> {
        let instances = self.machine.instances();
        instances
            .states()
            .iter()
            .map(|(name, state)| {
                use transition::Local as T;
                let local = match state {
                    Local::Stopped => T::Stopped,
                    Local::Running | Local::Failed | Local::StopFailed => T::Running,
                    Local::Starting => T::Starting,
                    Local::Stopping => T::Stopping,
                    Local::PromotePending => T::PromotePending,
                    Local::Promoting => T::Promoting,
                    Local::Demoting => T::Demoting,
                    Local::Probing | Local::Cleaning => T::Busy,
                };
                let mut i = transition::Instance::new(&self.primitive_of_local(name), local);
                i.promoted = instances.promoted(name);
                i.failed = matches!(state, Local::Failed | Local::StopFailed);
                i.demote_failed = instances.demote_failed(name);
                (name.clone(), i)
            })
            .collect()
    }

    /// Whether this node's resources are in maintenance (its own, or the cluster's).
    pub(super) fn maintenance_here(&self) -> bool {
        let me = self.name(self.cfg.me);
        self.cfg.placement.options.maintenance_mode
            || self.sched.admin.maintenance_mode()
            || self.sched.admin.maintenance(&me)
    }

    /// The coordinator's grants with its confirmations of other nodes' promotions
    /// ([`transition::confirm`]).
    pub(super) fn confirm_grants(
        &self,
        mut grants: Vec<Grant>,
        ids: &BTreeMap<String, NodeId>,
    ) -> Vec<Grant> {
        let (_, mut promoted) = self.reported_elsewhere();
        let me = self.name(self.cfg.me);
        let local = self.machine.instances();
        for (name, state) in local.states() {
            let busy = matches!(state, Local::Promoting | Local::PromotePending);
            if busy || local.promoted(name) {
                promoted
                    .entry(self.primitive_of_local(name))
                    .or_default()
                    .push(me.clone());
            }
        }
        let mut intents: BTreeSet<(String, String)> = BTreeSet::new();
        for (node, report) in &self.sched.reports {
            if self.membership_of(*node) == Membership::Offline {
                continue;
            }
            for r in report
                .running
                .iter()
                .filter(|r| r.status == RunStatus::Promoting)
            {
                intents.insert((self.primitive_of_local(&r.name), self.name(*node)));
            }
        }
        transition::confirm(
            &mut grants,
            &self.sched.config,
            ids,
            self.cfg.me,
            &promoted,
            &intents,
        );
        grants
    }
}
