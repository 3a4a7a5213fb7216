//! This node's resource instances as the driver keeps them: one actor per instance
//! ([`crate::node::operations::instances`]: a primitive, or `NAME:N` for each of several
//! instances of a clone on this node), their roles (promoted or not), the promotion
//! scores their agents set, promotions and demotions, and maintenance (a node's, or the
//! whole cluster's: the plan leaves everything where it is and the actors pause their
//! recurring monitors; when it ends every instance is probed again). Part of [`super`]:
//! nothing is decided here.

use std::collections::{BTreeMap, BTreeSet};

use super::Runner;
use crate::cluster::quorum::NodeId;
use crate::node::attributes;
use crate::node::config::{NodeConfig, ResourceEntry};
use crate::node::events::{Event, Op};
use crate::node::operations::{instances, primitive_of_instance};
use crate::node::report::{Grant, RunStatus, Running};
use crate::node::resources::PromotionDirs;
use crate::node::transition;
use crate::placement::config::Role;
use crate::placement::state::Membership;
use crate::placement::Score;

/// Where a local resource instance stands, as the actor reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Local {
    /// The startup probe runs.
    Probing,
    /// The probe found it running (left from before): being stopped before we join.
    Cleaning,
    Stopped,
    Starting,
    Running,
    Stopping,
    /// Running; its promotion is intended (reported as promoting) and waits for the
    /// coordinator's confirmation before the agent runs.
    PromotePending,
    /// Running, being promoted (reported promoting: not promoted for the plan until it
    /// is, promoted for every guard).
    Promoting,
    /// Promoted, being demoted (reported promoted until it is not).
    Demoting,
    /// A start or monitor failed: to be recovered (stopped) as the plan says.
    Failed,
    /// A stop failed: it may still run; the cluster fences this node.
    StopFailed,
}

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

/// The entry of every instance this node runs (name and clone instance number set).
pub(super) fn local_entries(cfg: &NodeConfig) -> Vec<ResourceEntry> {
    let index = cfg.nodes.iter().position(|n| n.id == cfg.me).unwrap_or(0);
    let mut out = Vec::new();
    for entry in &cfg.resources {
        for (name, number) in instances(&entry.name, entry.clone.as_ref(), index) {
            let mut e = entry.clone();
            e.name = name;
            if let (Some(c), Some(n)) = (e.clone.as_mut(), number) {
                c.instance = n;
            }
            out.push(e);
        }
    }
    out
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
        self.local
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
        if self.local.contains_key(name) {
            return vec![name.to_string()];
        }
        self.local
            .keys()
            .filter(|i| primitive_of_instance(&self.cfg.placement, i) == Some(name))
            .cloned()
            .collect()
    }

    /// The role a local instance is reported in: promoted while it is (or may be), and
    /// while it is being demoted; not while it is being promoted.
    pub(super) fn local_role(&self, instance: &str) -> Role {
        let promoted = self.sched.promoted.contains(instance)
            && self.local.get(instance) != Some(&Local::Promoting);
        if promoted || self.local.get(instance) == Some(&Local::Demoting) {
            Role::Promoted
        } else {
            Role::Started
        }
    }

    /// This node's transient attributes: `master-CHILD`, the best promotion score of its
    /// instances (pacemaker keeps one per node for an anonymous clone).
    pub(super) fn local_attributes(&self) -> Vec<(String, String)> {
        let mut best: BTreeMap<String, (Score, String)> = BTreeMap::new();
        for (instance, value) in &self.sched.scores {
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
        self.local
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
                i.promoted = self.sched.promoted.contains(name);
                i.failed = matches!(state, Local::Failed | Local::StopFailed);
                i.demote_failed = self.sched.demote_failed.contains(name);
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

    /// Tell the actors when maintenance begins or ends (monitors pause; a probe after).
    pub(super) fn sync_maintenance(&mut self) {
        let on = self.maintenance_here();
        if on == self.sched.maintenance {
            return;
        }
        self.sched.maintenance = on;
        self.emit(Event::Maintenance { on });
        for h in self.handles.values() {
            h.maintenance(on);
        }
        if !on {
            // Until the probes answer, what runs here is unknown: nothing is decided.
            for state in self.local.values_mut() {
                *state = Local::Probing;
            }
            self.sched.send_now = true;
        }
    }

    /// Promote a local instance the plan promotes here (the guards were checked).
    pub(super) fn promote_local(&mut self, instance: &str, why: &str) {
        if !matches!(
            self.local.get(instance),
            Some(Local::Running | Local::PromotePending)
        ) {
            return;
        }
        if let Some(h) = self.handles.get(instance) {
            self.emit(Event::ResourceAction {
                action: Op::Promote,
                resource: instance.to_string(),
                reason: why.to_string(),
            });
            self.local.insert(instance.to_string(), Local::Promoting);
            self.sched.send_now = true;
            h.promote();
        }
    }

    /// Demote a local instance.
    pub(super) fn demote_local(&mut self, instance: &str, why: &str) {
        let state = self.local.get(instance).copied();
        if !matches!(state, Some(Local::Running | Local::Failed)) {
            return;
        }
        if let Some(h) = self.handles.get(instance) {
            self.emit(Event::ResourceAction {
                action: Op::Demote,
                resource: instance.to_string(),
                reason: why.to_string(),
            });
            if state == Some(Local::Failed) {
                self.sched.failed_demoting.insert(instance.to_string());
            }
            self.local.insert(instance.to_string(), Local::Demoting);
            self.sched.send_now = true;
            h.demote();
        }
    }

    /// Declare the intent to promote a local instance (reported as promoting): the
    /// coordinator confirms it before the agent runs.
    pub(super) fn intend_local(&mut self, instance: &str, why: &str) {
        if self.local.get(instance) != Some(&Local::Running) {
            return;
        }
        self.emit(Event::PromotionIntended {
            resource: instance.to_string(),
            reason: why.to_string(),
        });
        self.local
            .insert(instance.to_string(), Local::PromotePending);
        self.sched.send_now = true;
    }

    /// Withdraw the intents this round's steps no longer carry (the plan or the
    /// coordinator changed its mind).
    pub(super) fn settle_intents(&mut self, kept: &BTreeSet<String>) {
        let withdrawn: Vec<String> = self
            .local
            .iter()
            .filter(|(n, s)| **s == Local::PromotePending && !kept.contains(*n))
            .map(|(n, _)| n.clone())
            .collect();
        for n in withdrawn {
            self.emit(Event::PromotionWithdrawn {
                resource: n.clone(),
            });
            self.local.insert(n, Local::Running);
            self.sched.send_now = true;
        }
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
        for (name, state) in &self.local {
            let busy = matches!(state, Local::Promoting | Local::PromotePending);
            if busy || self.sched.promoted.contains(name) {
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
