//! What `palisade status` shows, pure: the snapshot a node daemon answers on its control
//! socket (also printed as JSON with `--json`) and its readable rendering — nodes
//! (online, offline, unclean, fenced, standby, maintenance), quorum, cluster-wide
//! maintenance, resources and where they run
//! with role and status, failcounts, the admin's constraints, recent fencing and the
//! actions still to do.

use std::fmt::Write;

use serde::{Deserialize, Serialize};

/// One node as this daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeLine {
    /// Its name.
    pub name: String,
    /// Its id.
    pub id: u32,
    /// `online`, `offline`, `fenced`, `UNCLEAN` or `unseen`.
    pub state: String,
    /// In standby (admin).
    pub standby: bool,
    /// In maintenance (admin): its resources are left alone.
    #[serde(default)]
    pub maintenance: bool,
    /// The node answering.
    pub local: bool,
    /// Authentic heartbeats from it not counted since the daemon started: it had not
    /// echoed this node's challenge (a new incarnation's first contact, or a recording
    /// played back).
    #[serde(default)]
    pub unproven: u64,
}

/// One instance of a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceLine {
    /// Where.
    pub node: String,
    /// `started` or `promoted`.
    pub role: String,
    /// `running`, `starting`, `stopping`, `FAILED`, `STOP FAILED`.
    pub status: String,
}

/// One primitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLine {
    /// Its name.
    pub name: String,
    /// Its agent (`ocf:heartbeat:IPaddr2`).
    pub agent: String,
    /// Its group or clone.
    pub container: Option<String>,
    /// `started` or `stopped` (after the admin's target-role).
    pub target_role: String,
    /// Where it runs (any status).
    pub instances: Vec<InstanceLine>,
    /// The scheduler's decision for it.
    pub decision: String,
}

/// A failcount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureLine {
    /// The primitive.
    pub resource: String,
    /// The node.
    pub node: String,
    /// Failures counted.
    pub count: u32,
    /// Milliseconds since the last one.
    pub age_ms: u64,
    /// Its migration-threshold (0: never moves).
    pub threshold: u32,
}

/// A fence this node requested or learned of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceLine {
    /// The victim.
    pub node: String,
    /// Unix time, milliseconds.
    pub at_ms: u64,
    /// Confirmed (or failed).
    pub ok: bool,
    /// What happened.
    pub detail: String,
}

/// The whole answer of `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Cluster id.
    pub cluster: u32,
    /// The node answering.
    pub node: String,
    /// Its view number (0: no view yet).
    pub view: u64,
    /// Whether its partition is quorate.
    pub quorate: bool,
    /// The quorum verdict's reason.
    pub quorum: String,
    /// The coordinator of the view.
    pub coordinator: Option<String>,
    /// The nodes of the applied view: the members whose votes quorum counted.
    #[serde(default)]
    pub members: Vec<String>,
    /// The whole cluster is in maintenance (`palisade maintenance on` or the option).
    #[serde(default)]
    pub maintenance_mode: bool,
    /// Every configured node.
    pub nodes: Vec<NodeLine>,
    /// Every primitive.
    pub resources: Vec<ResourceLine>,
    /// Failcounts.
    pub failures: Vec<FailureLine>,
    /// The admin's constraints and target roles, in words.
    pub constraints: Vec<String>,
    /// Recent fencing, oldest first.
    pub fencing: Vec<FenceLine>,
    /// The plan's actions still to do.
    pub pending: Vec<String>,
    /// Ready actions of this node held back, and why.
    pub held: Vec<String>,
}

fn ago(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms ago")
    } else if ms < 120_000 {
        format!("{}s ago", ms / 1000)
    } else {
        format!("{}min ago", ms / 60_000)
    }
}

fn clock(at_ms: u64) -> String {
    let secs = at_ms / 1000;
    format!(
        "{:02}:{:02}:{:02} UTC",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

fn where_runs(r: &ResourceLine) -> String {
    if r.instances.is_empty() {
        return "stopped".to_string();
    }
    r.instances
        .iter()
        .map(|i| {
            let role = if i.role == "promoted" {
                " (promoted)"
            } else {
                ""
            };
            format!("{} on {}{role}", i.status, i.node)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The readable rendering (`now_ms`: the reader's Unix time, for "ago").
pub fn render(s: &Status, now_ms: u64) -> String {
    let mut out = String::new();
    let coordinator = s
        .coordinator
        .as_ref()
        .map(|c| format!(", coordinator {c}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "cluster {} as seen from {} (view {}{coordinator})",
        s.cluster, s.node, s.view
    );
    let _ = writeln!(
        out,
        "quorum: {}{}",
        if s.quorate { "quorate" } else { "NOT quorate" },
        if s.quorum.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.quorum)
        }
    );
    if s.maintenance_mode {
        let _ = writeln!(
            out,
            "MAINTENANCE: every resource is left alone (palisade maintenance off ends it)"
        );
    }
    let _ = writeln!(out, "\nnodes:");
    let width = s.nodes.iter().map(|n| n.name.len()).max().unwrap_or(4);
    for n in &s.nodes {
        let mut words = vec![n.state.clone()];
        if n.standby {
            words.push("standby".into());
        }
        if n.maintenance {
            words.push("maintenance".into());
        }
        if n.local {
            words.push("(this node)".into());
        }
        let _ = writeln!(out, "  {:<width$}  {}", n.name, words.join(" "));
    }
    let _ = writeln!(out, "\nresources:");
    if s.resources.is_empty() {
        let _ = writeln!(out, "  (none configured)");
    }
    let mut shown_container: Option<&str> = None;
    let rwidth = s.resources.iter().map(|r| r.name.len()).max().unwrap_or(4);
    let awidth = s.resources.iter().map(|r| r.agent.len()).max().unwrap_or(4);
    for r in &s.resources {
        let indent = match r.container.as_deref() {
            Some(c) => {
                if shown_container != Some(c) {
                    let _ = writeln!(out, "  {c}:");
                    shown_container = Some(c);
                }
                "    "
            }
            None => {
                shown_container = None;
                "  "
            }
        };
        let stopped = if r.target_role == "stopped" {
            " [target-role stopped]"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{indent}{:<rwidth$}  {:<awidth$}  {}{stopped}",
            r.name,
            r.agent,
            where_runs(r)
        );
        if !r.decision.is_empty() && !r.decision.starts_with("stays on") {
            let _ = writeln!(out, "{indent}  -> {}", r.decision);
        }
    }
    if !s.failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for f in &s.failures {
            let threshold = if f.threshold == 0 || f.threshold >= 1_000_000 {
                String::new()
            } else {
                format!(" of migration-threshold {}", f.threshold)
            };
            let count = if f.count >= crate::placement::state::FAILCOUNT_INFINITY {
                "start failed (start-failure-is-fatal): INFINITY".to_string()
            } else {
                format!("{} failure(s){threshold}", f.count)
            };
            let _ = writeln!(
                out,
                "  {} on {}: {count}, last {}",
                f.resource,
                f.node,
                ago(f.age_ms)
            );
        }
    }
    if !s.constraints.is_empty() {
        let _ = writeln!(out, "\nadmin constraints:");
        for c in &s.constraints {
            let _ = writeln!(out, "  {c}");
        }
    }
    if !s.fencing.is_empty() {
        let _ = writeln!(out, "\nrecent fencing:");
        for f in &s.fencing {
            let _ = writeln!(
                out,
                "  {} ({}) {} {}: {}",
                clock(f.at_ms),
                ago(now_ms.saturating_sub(f.at_ms)),
                f.node,
                if f.ok { "fenced" } else { "fence FAILED" },
                f.detail
            );
        }
    }
    if !s.pending.is_empty() {
        let _ = writeln!(out, "\npending actions:");
        for (i, a) in s.pending.iter().enumerate() {
            let _ = writeln!(out, "  {}. {a}", i + 1);
        }
    }
    if !s.held.is_empty() {
        let _ = writeln!(out, "\nwaiting:");
        for h in &s.held {
            let _ = writeln!(out, "  {h}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nodes_groups_failures_and_fencing() {
        let s = Status {
            cluster: 7,
            node: "node1".into(),
            view: 3,
            quorate: true,
            quorum: "2 of 3 votes".into(),
            coordinator: Some("node1".into()),
            members: vec!["node1".into(), "node2".into()],
            maintenance_mode: true,
            nodes: vec![
                NodeLine {
                    name: "node1".into(),
                    id: 1,
                    state: "online".into(),
                    standby: false,
                    maintenance: false,
                    local: true,
                    unproven: 0,
                },
                NodeLine {
                    name: "node2".into(),
                    id: 2,
                    state: "online".into(),
                    standby: true,
                    maintenance: true,
                    local: false,
                    unproven: 0,
                },
                NodeLine {
                    name: "node3".into(),
                    id: 3,
                    state: "fenced".into(),
                    standby: false,
                    maintenance: false,
                    local: false,
                    unproven: 4,
                },
            ],
            resources: vec![
                ResourceLine {
                    name: "vip".into(),
                    agent: "ocf:heartbeat:IPaddr2".into(),
                    container: Some("web".into()),
                    target_role: "started".into(),
                    instances: vec![InstanceLine {
                        node: "node1".into(),
                        role: "started".into(),
                        status: "running".into(),
                    }],
                    decision: "stays on node1".into(),
                },
                ResourceLine {
                    name: "db".into(),
                    agent: "ocf:heartbeat:Dummy".into(),
                    container: None,
                    target_role: "stopped".into(),
                    instances: Vec::new(),
                    decision: "stopped: target-role is Stopped".into(),
                },
            ],
            failures: vec![
                FailureLine {
                    resource: "db".into(),
                    node: "node2".into(),
                    count: 2,
                    age_ms: 12_000,
                    threshold: 3,
                },
                FailureLine {
                    resource: "vip".into(),
                    node: "node3".into(),
                    count: 1_000_000,
                    age_ms: 500,
                    threshold: 1_000_000,
                },
            ],
            constraints: vec!["cli-ban-db-on-node2: db may not run on node2".into()],
            fencing: vec![FenceLine {
                node: "node3".into(),
                at_ms: 3_661_000,
                ok: true,
                detail: "agent fence_ipmilan".into(),
            }],
            pending: vec!["start db on node1 (placed here)".into()],
            held: Vec::new(),
        };
        let text = render(&s, 3_671_000);
        for needle in [
            "cluster 7 as seen from node1 (view 3, coordinator node1)",
            "quorum: quorate (2 of 3 votes)",
            "node1  online (this node)",
            "node2  online standby maintenance",
            "MAINTENANCE: every resource is left alone",
            "node3  fenced",
            "  web:\n    vip  ocf:heartbeat:IPaddr2  running on node1\n",
            "db   ocf:heartbeat:Dummy    stopped [target-role stopped]",
            "-> stopped: target-role is Stopped",
            "db on node2: 2 failure(s) of migration-threshold 3, last 12s ago",
            "vip on node3: start failed (start-failure-is-fatal): INFINITY, last 500ms ago",
            "cli-ban-db-on-node2",
            "01:01:01 UTC (10s ago) node3 fenced: agent fence_ipmilan",
            "1. start db on node1",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
        let json = serde_json::to_string(&s).expect("json");
        let back: Status = serde_json::from_str(&json).expect("back");
        assert_eq!(back, s);
    }
}
