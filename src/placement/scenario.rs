//! Scheduler scenarios as TOML, for golden tests and dry runs ("state in, actions out"
//! as in pacemaker's scheduler regression tests). A scenario holds a placement
//! configuration, an initial cluster state and steps; each step changes the state or
//! the configuration, schedules, prints the plan and every explanation, and carries the
//! plan out as if it succeeded. Pure: text in, transcript out.
//!
//! ```toml
//! title = "stickiness keeps a resource after its preferred node recovers"
//! [config]                          # the placement configuration (see parse.rs)
//! options = { resource-stickiness = 100 }
//! primitive = [{ name = "web", agent = "ocf:heartbeat:apache" }]
//! location = [{ id = "web-prefers-node1", resource = "web", node = "node1", score = 50 }]
//! [state]
//! nodes = { node1 = "online", node2 = "online" }   # online | offline | unclean | unseen
//! running = [{ resource = "web", node = "node1" }]  # role = "promoted", health = "failed" | "stop-failed"
//! failures = [{ resource = "web", node = "node1", count = 2, at = "0s" }]
//! [[step]]
//! title = "node1 is lost and fenced"
//! at = "10s"                        # the clock for this step (default: unchanged)
//! nodes = { node1 = "offline" }     # membership changes
//! standby = { node2 = false }       # also: maintenance, attributes = { node1 = { pingd = "0" } }
//! monitor-failure = [{ resource = "web", node = "node2" }]   # also stop-failure, start-failure
//! fenced = ["node3"]                # fencing confirmed: offline, nothing runs there
//! cleanup = ["web"]                 # forget failures
//! add = { location = [{ id = "ban", resource = "web", node = "node2", score = "-INFINITY" }] }
//! remove-constraints = ["ban"]
//! target-role = { web = "stopped" }
//! options = { auto-failback = true }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Deserialize;

use super::config::{Config, Role};
use super::parse::ConfigError;
use super::schedule;
use super::simulate::{apply, fenced};
use super::state::{ClusterState, Health, Instance, Membership, NodeState};
use crate::fencer::duration::{format_duration, parse_duration, Moment};

/// A scenario that cannot be run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    /// Not TOML, or an unknown key.
    #[error("{0}")]
    Toml(String),
    /// The configuration (initial or after a step) is invalid.
    #[error("{context}: {source}")]
    Config {
        /// Initial, or which step.
        context: String,
        /// What is wrong.
        source: ConfigError,
    },
    /// A bad value in the state or a step.
    #[error("{context}: {reason}")]
    Value {
        /// Where.
        context: String,
        /// What is wrong.
        reason: String,
    },
}

fn bad(context: &str, reason: impl Into<String>) -> ScenarioError {
    ScenarioError::Value {
        context: context.to_string(),
        reason: reason.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawScenario {
    title: String,
    #[serde(default)]
    config: toml::Table,
    state: RawState,
    #[serde(default)]
    step: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawState {
    nodes: BTreeMap<String, String>,
    #[serde(default)]
    standby: BTreeMap<String, bool>,
    #[serde(default)]
    maintenance: BTreeMap<String, bool>,
    #[serde(default)]
    attributes: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    running: Vec<RawInstance>,
    #[serde(default)]
    failures: Vec<RawFailure>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawInstance {
    resource: String,
    node: String,
    role: Option<String>,
    health: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFailure {
    resource: String,
    node: String,
    count: u32,
    at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTarget {
    resource: String,
    node: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStep {
    title: String,
    at: Option<String>,
    #[serde(default)]
    nodes: BTreeMap<String, String>,
    #[serde(default)]
    standby: BTreeMap<String, bool>,
    #[serde(default)]
    maintenance: BTreeMap<String, bool>,
    #[serde(default)]
    attributes: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    monitor_failure: Vec<RawTarget>,
    #[serde(default)]
    stop_failure: Vec<RawTarget>,
    #[serde(default)]
    start_failure: Vec<RawTarget>,
    #[serde(default)]
    fenced: Vec<String>,
    #[serde(default)]
    cleanup: Vec<String>,
    #[serde(default)]
    add: toml::Table,
    #[serde(default)]
    remove_constraints: Vec<String>,
    #[serde(default)]
    target_role: BTreeMap<String, String>,
    #[serde(default)]
    options: toml::Table,
}

fn membership(context: &str, word: &str) -> Result<Membership, ScenarioError> {
    match word {
        "online" => Ok(Membership::Online),
        "offline" => Ok(Membership::Offline),
        "unclean" => Ok(Membership::Unclean),
        "unseen" => Ok(Membership::Unseen),
        _ => Err(bad(
            context,
            format!("'{word}': expected online, offline, unclean or unseen"),
        )),
    }
}

fn moment(context: &str, text: Option<&String>, default: Moment) -> Result<Moment, ScenarioError> {
    match text {
        None => Ok(default),
        Some(t) => parse_duration(t)
            .map(|d| Moment::default().after(d))
            .map_err(|e| bad(context, e.to_string())),
    }
}

fn node_mut<'a>(
    state: &'a mut ClusterState,
    context: &str,
    node: &str,
) -> Result<&'a mut NodeState, ScenarioError> {
    state
        .nodes
        .get_mut(node)
        .ok_or_else(|| bad(context, format!("'{node}' is not a node of the scenario")))
}

fn initial_state(raw: &RawState) -> Result<ClusterState, ScenarioError> {
    let context = "[state]";
    let mut state = ClusterState::default();
    for (name, word) in &raw.nodes {
        let mut node = NodeState::online();
        node.membership = membership(context, word)?;
        state.nodes.insert(name.clone(), node);
    }
    node_flags(
        &mut state,
        context,
        &raw.standby,
        &raw.maintenance,
        &raw.attributes,
    )?;
    for i in &raw.running {
        node_mut(&mut state, context, &i.node)?;
        let role = match i.role.as_deref() {
            None | Some("started") => Role::Started,
            Some("promoted") => Role::Promoted,
            Some(other) => {
                return Err(bad(context, format!("role '{other}': started or promoted")))
            }
        };
        let health = match i.health.as_deref() {
            None | Some("ok") => Health::Ok,
            Some("failed") => Health::Failed,
            Some("stop-failed") => Health::StopFailed,
            Some(other) => {
                return Err(bad(
                    context,
                    format!("health '{other}': ok, failed or stop-failed"),
                ))
            }
        };
        state
            .running
            .entry(i.resource.clone())
            .or_default()
            .push(Instance {
                node: i.node.clone(),
                role,
                health,
            });
    }
    for f in &raw.failures {
        let at = moment(context, f.at.as_ref(), Moment::default())?;
        for _ in 0..f.count {
            state.record_failure(&f.resource, &f.node, at);
        }
    }
    Ok(state)
}

fn node_flags(
    state: &mut ClusterState,
    context: &str,
    standby: &BTreeMap<String, bool>,
    maintenance: &BTreeMap<String, bool>,
    attributes: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<(), ScenarioError> {
    for (node, on) in standby {
        node_mut(state, context, node)?.standby = *on;
    }
    for (node, on) in maintenance {
        node_mut(state, context, node)?.maintenance = *on;
    }
    for (node, attrs) in attributes {
        let n = node_mut(state, context, node)?;
        for (k, v) in attrs {
            if v.is_empty() {
                n.attributes.remove(k);
            } else {
                n.attributes.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(())
}

/// Mark `resource` on `node` with `health` (recording a failure).
fn fail(
    state: &mut ClusterState,
    context: &str,
    target: &RawTarget,
    health: Health,
    now: Moment,
) -> Result<(), ScenarioError> {
    let instance = state
        .running
        .get_mut(&target.resource)
        .and_then(|v| {
            v.iter_mut()
                .find(|i| i.node == target.node && i.health == Health::Ok)
        })
        .ok_or_else(|| {
            bad(
                context,
                format!("{} does not run on {}", target.resource, target.node),
            )
        })?;
    instance.health = health;
    state.record_failure(&target.resource, &target.node, now);
    Ok(())
}

/// Change the raw configuration as a step says.
fn edit_config(
    config: &mut toml::Table,
    step: &RawStep,
    context: &str,
) -> Result<(), ScenarioError> {
    for (section, value) in &step.add {
        let toml::Value::Array(items) = value else {
            return Err(bad(context, format!("add.{section}: expected a list")));
        };
        let entry = config
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        match entry {
            toml::Value::Array(list) => list.extend(items.iter().cloned()),
            _ => {
                return Err(bad(
                    context,
                    format!("add.{section}: not a list in the configuration"),
                ))
            }
        }
    }
    for id in &step.remove_constraints {
        let mut found = false;
        for section in ["location", "colocation", "order"] {
            if let Some(toml::Value::Array(list)) = config.get_mut(section) {
                let before = list.len();
                list.retain(|c| c.get("id").and_then(toml::Value::as_str) != Some(id.as_str()));
                found |= list.len() != before;
            }
        }
        if !found {
            return Err(bad(
                context,
                format!("remove-constraints: no constraint '{id}'"),
            ));
        }
    }
    for (resource, role) in &step.target_role {
        let mut found = false;
        for section in ["primitive", "group", "clone"] {
            if let Some(toml::Value::Array(list)) = config.get_mut(section) {
                for item in list.iter_mut() {
                    let Some(table) = item.as_table_mut() else {
                        continue;
                    };
                    if table.get("name").and_then(toml::Value::as_str) != Some(resource.as_str()) {
                        continue;
                    }
                    let meta = table
                        .entry("meta")
                        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                    if let Some(meta) = meta.as_table_mut() {
                        meta.insert("target-role".into(), toml::Value::String(role.clone()));
                        found = true;
                    }
                }
            }
        }
        if !found {
            return Err(bad(
                context,
                format!("target-role: no resource '{resource}'"),
            ));
        }
    }
    if !step.options.is_empty() {
        let options = config
            .entry("options")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let Some(options) = options.as_table_mut() {
            options.extend(step.options.clone());
        }
    }
    Ok(())
}

fn summary(state: &ClusterState) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (resource, instances) in &state.running {
        let mut nodes: Vec<String> = instances
            .iter()
            .map(|i| {
                let mut n = i.node.clone();
                if i.role == Role::Promoted {
                    n.push('*');
                }
                if i.health != Health::Ok {
                    n.push('!');
                }
                n
            })
            .collect();
        nodes.sort();
        parts.push(format!("{resource}@{}", nodes.join(",")));
    }
    if parts.is_empty() {
        "nothing runs".into()
    } else {
        parts.join(" ")
    }
}

fn node_line(state: &ClusterState) -> String {
    let parts: Vec<String> = state
        .nodes
        .iter()
        .map(|(name, n)| {
            let mut words = vec![match n.membership {
                Membership::Online => "online",
                Membership::Offline => "offline",
                Membership::Unclean => "UNCLEAN",
                Membership::Unseen => "UNSEEN",
            }];
            if n.standby {
                words.push("standby");
            }
            if n.maintenance {
                words.push("maintenance");
            }
            format!("{name}={}", words.join("+"))
        })
        .collect();
    parts.join(" ")
}

/// Run a scenario and return its transcript.
pub fn run(text: &str) -> Result<String, ScenarioError> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| ScenarioError::Toml(e.to_string()))?;
    let mut config_table = raw.config.clone();
    let mut state = initial_state(&raw.state)?;
    let mut now = Moment::default();
    let steps = if raw.step.is_empty() {
        vec![RawStep {
            title: "initial".into(),
            ..RawStep::default()
        }]
    } else {
        raw.step
    };
    let mut out = format!("# {}\n", raw.title);
    for (index, step) in steps.iter().enumerate() {
        let context = format!("[[step]] {} ({})", index + 1, step.title);
        now = moment(&context, step.at.as_ref(), now)?;
        for (node, word) in &step.nodes {
            node_mut(&mut state, &context, node)?.membership = membership(&context, word)?;
        }
        node_flags(
            &mut state,
            &context,
            &step.standby,
            &step.maintenance,
            &step.attributes,
        )?;
        for t in &step.monitor_failure {
            fail(&mut state, &context, t, Health::Failed, now)?;
        }
        for t in &step.stop_failure {
            fail(&mut state, &context, t, Health::StopFailed, now)?;
        }
        for node in &step.fenced {
            node_mut(&mut state, &context, node)?;
            fenced(&mut state, node);
        }
        for resource in &step.cleanup {
            state.failures.retain(|(r, _), _| r != resource);
            if let Some(instances) = state.running.get_mut(resource) {
                for i in instances.iter_mut().filter(|i| i.health == Health::Failed) {
                    i.health = Health::Ok;
                }
            }
        }
        edit_config(&mut config_table, step, &context)?;
        let config = Config::from_toml_table(config_table.clone()).map_err(|source| {
            ScenarioError::Config {
                context: context.clone(),
                source,
            }
        })?;
        // A start that failed (it ran, as the previous step's plan started it): failed
        // there, and with start-failure-is-fatal its failcount is INFINITY.
        for t in &step.start_failure {
            fail(&mut state, &context, t, Health::Failed, now)?;
            if config.options.start_failure_is_fatal {
                if let Some(f) = state
                    .failures
                    .get_mut(&(t.resource.clone(), t.node.clone()))
                {
                    f.count = super::state::FAILCOUNT_INFINITY;
                }
            }
        }
        let plan = schedule(&state, &config, now);
        let at = format_duration(now.since(Moment::default()));
        let _ = writeln!(out, "\n== step {}: {} (t={at})", index + 1, step.title);
        let _ = writeln!(out, "nodes: {}", node_line(&state));
        let _ = writeln!(out, "before: {}", summary(&state));
        let _ = writeln!(out, "actions:\n{}", plan.render_actions().trim_end());
        for e in &plan.explanations {
            out.push_str(&e.render());
        }
        state = apply(&state, &plan);
        let _ = writeln!(out, "after: {}", summary(&state));
    }
    Ok(out)
}
