//! Answering the control socket ([`crate::node::control`]): the status snapshot, the
//! scheduler's explanation of a resource, and the admin commands, which become records
//! of the replicated admin table ([`crate::node::admin`]) after their names are checked.
//! Part of [`super`].

use std::time::Instant;

use super::Runner;
use crate::ipc::wire::{ApiError, ErrorCode};
use crate::node::admin::Command;
use crate::node::cluster_state::{ban_id, is_resource, prefer_id, unit_of};
use crate::node::config::containers;
use crate::node::control::{AdminRequest, Answer, Request};
use crate::node::machine::NodeStatus;
use crate::node::operations::primitive_of_instance;
use crate::node::status::{FailureLine, InstanceLine, NodeLine, ResourceLine, Status};
use crate::placement::config::{AgentClass, Role, TargetRole};

impl Runner {
    /// Answer one request.
    pub(super) fn control(&mut self, request: Request, now: Instant) -> Result<Answer, ApiError> {
        let invalid = |message: String| ApiError::new(ErrorCode::Invalid, message);
        match request {
            Request::Status {} => Ok(Answer::Status(Box::new(self.status(now)))),
            Request::Explain { resource } => self.explain(&resource),
            Request::Admin(command) => self
                .admin_command(command, now)
                .map(|message| Answer::Done { message })
                .map_err(invalid),
        }
    }

    fn explain(&self, resource: &str) -> Result<Answer, ApiError> {
        if !is_resource(&self.cfg.placement, resource) {
            return Err(ApiError::new(
                ErrorCode::Invalid,
                format!("no resource '{resource}' in the configuration"),
            ));
        }
        let Some(plan) = self.machine.scheduler().plan() else {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "no plan yet: this node is not scheduling (no view, no quorum or probing)",
            ));
        };
        let mut text = plan.explain(resource).unwrap_or_default();
        let members: Vec<String> = match self.cfg.placement.group(resource) {
            Some(g) => g.members.clone(),
            None => vec![resource.to_string()],
        };
        let actions: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.resource.as_ref().is_some_and(|r| members.contains(r)))
            .map(ToString::to_string)
            .collect();
        if !actions.is_empty() {
            text.push_str("pending actions:\n");
            for a in actions {
                text.push_str(&format!("  {a}\n"));
            }
        }
        Ok(Answer::Explanation { text })
    }

    fn node_name(&self, name: Option<String>) -> Result<String, String> {
        let name = name.unwrap_or_else(|| self.name(self.cfg.me));
        if self.cfg.nodes.iter().any(|n| n.name == name) {
            Ok(name)
        } else {
            Err(format!("no node '{name}' in the configuration"))
        }
    }

    fn resource_name(&self, name: &str) -> Result<(), String> {
        if is_resource(&self.cfg.placement, name) {
            Ok(())
        } else {
            Err(format!("no resource '{name}' in the configuration"))
        }
    }

    /// Where `resource` (or its group's first member) runs now, healthy or not.
    fn running_node(&self, resource: &str) -> Option<String> {
        let config = &self.cfg.placement;
        let primitive = match config.group(resource) {
            Some(g) => g.members.first().cloned()?,
            None => config
                .clone_named(resource)
                .map(|c| c.child.clone())
                .unwrap_or_else(|| resource.to_string()),
        };
        self.machine
            .facts(Instant::now())
            .into_iter()
            .find(|f| {
                f.running
                    .iter()
                    .any(|r| primitive_of_instance(config, &r.name) == Some(&primitive))
            })
            .map(|f| f.name)
    }

    fn admin_command(&mut self, request: AdminRequest, now: Instant) -> Result<String, String> {
        let (command, text) = match request {
            Command::Standby { node, on } => {
                let node = self.node_name(node)?;
                let text = if on {
                    format!("{node} goes to standby: its resources move away")
                } else {
                    format!("{node} is online again")
                };
                (Command::Standby { node, on }, text)
            }
            Command::Move { resource, node } => {
                self.resource_name(&resource)?;
                let node = self.node_name(Some(node))?;
                let text = format!(
                    "{resource} moves to {node} ({} = INFINITY; `palisade resource clear {resource}` removes it)",
                    prefer_id(&resource)
                );
                (Command::Move { resource, node }, text)
            }
            Command::Ban { resource, node } => {
                self.resource_name(&resource)?;
                let node = match node {
                    Some(n) => self.node_name(Some(n))?,
                    None => self.running_node(&resource).ok_or_else(|| {
                        format!("{resource} runs nowhere: name the node to ban it from")
                    })?,
                };
                let text = format!(
                    "{resource} may no longer run on {node} ({} = -INFINITY)",
                    ban_id(&resource, &node)
                );
                (Command::Ban { resource, node }, text)
            }
            Command::Clear { resource, node } => {
                self.resource_name(&resource)?;
                let node = node.map(|n| self.node_name(Some(n))).transpose()?;
                let text = format!("move and ban constraints of {resource} cleared");
                (Command::Clear { resource, node }, text)
            }
            Command::Cleanup { resource, node } => {
                self.resource_name(&resource)?;
                let node = node.map(|n| self.node_name(Some(n))).transpose()?;
                let text = match &node {
                    Some(n) => format!("failures of {resource} on {n} cleared"),
                    None => format!("failures of {resource} cleared on every node"),
                };
                (Command::Cleanup { resource, node }, text)
            }
            Command::TargetRole { resource, stopped } => {
                self.resource_name(&resource)?;
                let text = format!(
                    "{resource}: target-role {}",
                    if stopped { "stopped" } else { "started" }
                );
                (Command::TargetRole { resource, stopped }, text)
            }
            Command::NodeMaintenance { node, on } => {
                let node = self.node_name(node)?;
                let text = if on {
                    format!("{node} in maintenance: its resources are left alone (not started, stopped or monitored)")
                } else {
                    format!("{node} ready: maintenance over, its resources are probed and managed again")
                };
                (Command::NodeMaintenance { node, on }, text)
            }
            Command::MaintenanceMode { on } => {
                let text = if on {
                    "maintenance-mode on: every resource is left alone (not started, stopped or monitored)"
                } else {
                    "maintenance-mode off: resources are probed and managed again"
                };
                (Command::MaintenanceMode { on }, text.to_string())
            }
        };
        match self.machine.admin_command(&command, text.clone(), now)? {
            None => Ok(format!("{text} (nothing to change)")),
            Some(actions) => {
                self.carry_out(actions, now);
                Ok(text)
            }
        }
    }

    /// The snapshot `palisade status` shows.
    pub(super) fn status(&self, now: Instant) -> Status {
        let sched = self.machine.scheduler();
        let admin = sched.admin();
        let facts = self.machine.facts(now);
        let config = sched.config();
        let fenced: Vec<&str> = self
            .fence_log
            .iter()
            .filter(|f| f.ok)
            .map(|f| f.node.as_str())
            .collect();
        let nodes = self
            .cfg
            .nodes
            .iter()
            .map(|n| {
                let state = if n.id == self.cfg.me {
                    "online"
                } else {
                    match self.machine.status(n.id) {
                        Some(NodeStatus::Member) => "online",
                        Some(NodeStatus::Unclean) if sched.ever_member(n.id) => {
                            "UNCLEAN (lost, not yet fenced)"
                        }
                        Some(NodeStatus::Unclean) => "unseen (not yet fenced)",
                        Some(NodeStatus::Clean) | None => {
                            if fenced.contains(&n.name.as_str()) {
                                "offline (fenced)"
                            } else {
                                "offline"
                            }
                        }
                    }
                };
                NodeLine {
                    name: n.name.clone(),
                    id: n.id,
                    state: state.to_string(),
                    standby: admin.standby(&n.name),
                    maintenance: admin.maintenance(&n.name),
                    local: n.id == self.cfg.me,
                    unproven: self.machine.unproven(n.id),
                }
            })
            .collect();
        let decisions = sched
            .plan()
            .map(|p| {
                p.explanations
                    .iter()
                    .map(|e| (e.resource.clone(), e.decision.clone()))
                    .collect::<std::collections::BTreeMap<_, _>>()
            })
            .unwrap_or_default();
        let container = containers(&self.cfg.placement);
        let resources = self
            .cfg
            .placement
            .primitives
            .iter()
            .map(|p| {
                let agent = match p.agent.class {
                    AgentClass::Ocf => format!(
                        "ocf:{}:{}",
                        p.agent.provider.as_deref().unwrap_or(""),
                        p.agent.kind
                    ),
                    AgentClass::Lsb => format!("lsb:{}", p.agent.kind),
                    AgentClass::Systemd => format!("systemd:{}", p.agent.kind),
                };
                let instances = facts
                    .iter()
                    .flat_map(|f| {
                        f.running
                            .iter()
                            .filter(|r| {
                                primitive_of_instance(&self.cfg.placement, &r.name)
                                    == Some(p.name.as_str())
                            })
                            .map(|r| InstanceLine {
                                node: f.name.clone(),
                                role: if r.role == Role::Promoted {
                                    "promoted".into()
                                } else {
                                    "started".into()
                                },
                                status: r.status.word().to_string(),
                            })
                    })
                    .collect();
                let unit = unit_of(&self.cfg.placement, &p.name);
                ResourceLine {
                    name: p.name.clone(),
                    agent,
                    container: container.get(&p.name).cloned(),
                    target_role: if config.effective_meta(&unit).target_role == TargetRole::Stopped
                    {
                        "stopped".into()
                    } else {
                        "started".into()
                    },
                    instances,
                    decision: decisions.get(&unit).cloned().unwrap_or_default(),
                }
            })
            .collect();
        let failures = facts
            .iter()
            .flat_map(|f| {
                f.failcounts.iter().map(|c| FailureLine {
                    resource: c.resource.clone(),
                    node: f.name.clone(),
                    count: c.count,
                    age_ms: c.age_ms,
                    threshold: self.machine.threshold(&c.resource),
                })
            })
            .collect();
        let (moves, bans) = admin.moves_and_bans();
        let mut constraints: Vec<String> = moves
            .into_iter()
            .map(|(r, n)| format!("{}: {r} prefers {n} (INFINITY)", prefer_id(&r)))
            .collect();
        constraints.extend(
            bans.into_iter()
                .map(|(r, n)| format!("{}: {r} may not run on {n}", ban_id(&r, &n))),
        );
        constraints.extend(admin.target_roles().into_iter().map(|(r, stopped)| {
            format!(
                "{r}: target-role {}",
                if stopped { "stopped" } else { "started" }
            )
        }));
        let (quorate, quorum) = self
            .machine
            .verdict()
            .cloned()
            .unwrap_or((false, "no view yet".into()));
        Status {
            cluster: self.cfg.cluster_id,
            node: self.name(self.cfg.me),
            view: self.epoch.load(std::sync::atomic::Ordering::Relaxed),
            quorate,
            quorum,
            coordinator: self.machine.coordinator().map(|c| self.name(c)),
            members: self
                .machine
                .applied_view()
                .into_iter()
                .flatten()
                .map(|n| self.name(*n))
                .collect(),
            maintenance_mode: config.options.maintenance_mode || admin.maintenance_mode(),
            nodes,
            resources,
            failures,
            constraints,
            fencing: self.fence_log.iter().cloned().collect(),
            pending: sched
                .plan()
                .map(|p| p.actions.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            held: sched
                .held()
                .iter()
                .map(|h| format!("{}: {}", h.action, h.why))
                .collect(),
        }
    }
}
