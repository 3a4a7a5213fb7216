//! The resource model of the node configuration: the placement sections (`[options]`,
//! `[[primitive]]`, `[[group]]`, `[[clone]]`, `[[location]]`, `[[colocation]]`,
//! `[[order]]`, read by [`crate::placement::parse`] from the same file) and the
//! `[[resource]]` shorthand, which becomes a primitive plus location constraints:
//!
//! - `agent`, `params` as written; `op` = monitor every `monitor-interval` (unless 0),
//!   start and stop, each with `op-timeout`;
//! - meta `migration-threshold` = `max-failures`, `priority` = `priority`, and
//!   `resource-stickiness` = [`SHORTHAND_STICKINESS`] (a resource stays where it runs
//!   unless its node fails, it fails there too often, or an admin moves it);
//! - `allowed = [a, b, c]` (default: every node in file order) = locations
//!   `RES-on-a` 3, `RES-on-b` 2, `RES-on-c` 1, and -INFINITY on every other node.
//!
//! Both may be mixed in one file (constraints may name `[[resource]]`s); a name used
//! twice is refused. Also checked here: constraints name configured `[[node]]`s, names
//! fit in a report (at most 64 bytes), LSB/systemd primitives take no parameters,
//! and `[options] fencing-enabled` is not set (`[fencing] enabled` decides).

use std::collections::BTreeMap;
use std::time::Duration;

use super::{bad, ConfigError, NodeEntry, ResourceEntry};
use crate::cluster::quorum::NodeId;
use crate::node::operations::{CloneOf, Operations};
use crate::placement::config::{AgentClass, Config, LocationTarget};
use crate::placement::Score;

/// The top-level keys that belong to the placement model.
pub(super) const PLACEMENT_KEYS: [&str; 7] = [
    "options",
    "primitive",
    "group",
    "clone",
    "location",
    "colocation",
    "order",
];

/// Stickiness of a `[[resource]]` (above any `allowed` preference).
pub const SHORTHAND_STICKINESS: i64 = 1000;
/// Longest resource or node name (a report carries it in one length byte, an admin
/// record two of them).
pub const MAX_NAME: usize = 64;

/// Parse the document and take the placement sections out of it.
pub(super) fn split(text: &str) -> Result<(toml::Table, toml::Table), ConfigError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
    let mut placement = toml::Table::new();
    for key in PLACEMENT_KEYS {
        if let Some(value) = table.remove(key) {
            placement.insert(key.to_string(), value);
        }
    }
    Ok((table, placement))
}

fn span(d: Duration) -> toml::Value {
    toml::Value::String(format!("{}ms", d.as_millis()))
}

fn agent_text(r: &ResourceEntry) -> String {
    match r.class {
        AgentClass::Ocf => format!("ocf:{}:{}", r.provider, r.kind),
        AgentClass::Lsb => format!("lsb:{}", r.kind),
        AgentClass::Systemd => format!("systemd:{}", r.kind),
    }
}

fn push(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), ConfigError> {
    let entry = table
        .entry(key.to_string())
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    match entry {
        toml::Value::Array(list) => {
            list.push(value);
            Ok(())
        }
        _ => Err(ConfigError::Toml(format!(
            "'{key}' must be an array of tables ([[{key}]])"
        ))),
    }
}

/// Add the `[[resource]]` shorthand entries to the placement sections.
pub(super) fn add_shorthand(
    placement: &mut toml::Table,
    resources: &[ResourceEntry],
    nodes: &[NodeEntry],
) -> Result<(), ConfigError> {
    for r in resources {
        let mut ops = Vec::new();
        let op = |name: &str, interval: Option<Duration>| {
            let mut t = toml::Table::new();
            t.insert("name".into(), toml::Value::String(name.into()));
            if let Some(i) = interval {
                t.insert("interval".into(), span(i));
            }
            t.insert("timeout".into(), span(r.op_timeout));
            toml::Value::Table(t)
        };
        if !r.monitor_interval.is_zero() {
            ops.push(op("monitor", Some(r.monitor_interval)));
        }
        ops.push(op("start", None));
        ops.push(op("stop", None));
        let mut meta = toml::Table::new();
        meta.insert(
            "migration-threshold".into(),
            toml::Value::Integer(i64::from(r.max_failures)),
        );
        meta.insert(
            "priority".into(),
            toml::Value::Integer(i64::from(r.priority)),
        );
        meta.insert(
            "resource-stickiness".into(),
            toml::Value::Integer(SHORTHAND_STICKINESS),
        );
        let mut p = toml::Table::new();
        p.insert("name".into(), toml::Value::String(r.name.clone()));
        p.insert("agent".into(), toml::Value::String(agent_text(r)));
        p.insert(
            "params".into(),
            toml::Value::Table(
                r.params
                    .iter()
                    .map(|(k, v)| (k.clone(), toml::Value::String(v.clone())))
                    .collect(),
            ),
        );
        p.insert("op".into(), toml::Value::Array(ops));
        p.insert("meta".into(), toml::Value::Table(meta));
        push(placement, "primitive", toml::Value::Table(p))?;
        let count = r.allowed.len() as i64;
        for n in nodes {
            let score = match r.allowed.iter().position(|id| *id == n.id) {
                Some(i) => toml::Value::Integer(count - i as i64),
                None => toml::Value::String("-INFINITY".into()),
            };
            let mut l = toml::Table::new();
            l.insert(
                "id".into(),
                toml::Value::String(format!("{}-on-{}", r.name, n.name)),
            );
            l.insert("resource".into(), toml::Value::String(r.name.clone()));
            l.insert("node".into(), toml::Value::String(n.name.clone()));
            l.insert("score".into(), score);
            push(placement, "location", toml::Value::Table(l))?;
        }
    }
    Ok(())
}

/// Build the placement model and check it against the nodes and what the node runs.
pub(super) fn model(
    placement: toml::Table,
    nodes: &[NodeEntry],
    fencing_enabled: bool,
) -> Result<Config, ConfigError> {
    if placement
        .get("options")
        .and_then(|o| o.as_table())
        .is_some_and(|o| o.contains_key("fencing-enabled") || o.contains_key("stonith-enabled"))
    {
        return Err(bad(
            "[options]",
            "fencing-enabled",
            "set [fencing] enabled instead (one switch for the node and the scheduler)",
        ));
    }
    let mut config = Config::from_toml_table(placement).map_err(ConfigError::Placement)?;
    config.options.fencing_enabled = fencing_enabled;
    for n in nodes {
        if n.name.len() > MAX_NAME {
            return Err(bad(
                format!("[[node]] {}", n.name),
                "name",
                format!("longer than {MAX_NAME} bytes"),
            ));
        }
    }
    let names = config
        .primitives
        .iter()
        .map(|p| ("[[primitive]]", &p.name))
        .chain(config.groups.iter().map(|g| ("[[group]]", &g.name)))
        .chain(config.clones.iter().map(|c| ("[[clone]]", &c.name)));
    for (section, name) in names {
        if name.len() > MAX_NAME {
            return Err(bad(
                format!("{section} {name}"),
                "name",
                format!("longer than {MAX_NAME} bytes"),
            ));
        }
    }
    for l in &config.locations {
        if let LocationTarget::Node { node, .. } = &l.target {
            if !nodes.iter().any(|n| &n.name == node) {
                return Err(bad(
                    format!("[[location]] {}", l.id),
                    "node",
                    format!("'{node}' is not a configured [[node]]"),
                ));
            }
        }
    }
    for p in &config.primitives {
        if p.agent.class != AgentClass::Ocf && !p.params.is_empty() {
            return Err(bad(
                format!("[[primitive]] {}", p.name),
                "params",
                "LSB init scripts and systemd units take no parameters",
            ));
        }
    }
    for c in config.clones.iter().filter(|c| c.promotable) {
        let ocf = config
            .primitive(&c.child)
            .is_some_and(|p| p.agent.class == AgentClass::Ocf);
        if !ocf {
            return Err(bad(
                format!("[[clone]] {}", c.name),
                "promotable",
                "a promotable clone needs an OCF agent (promote and demote)",
            ));
        }
    }
    Ok(config)
}

/// The nodes `primitive` may run on by its node location constraints (its own, its
/// group's or clone's): best score first (ties in file order), -INFINITY left out.
fn preference(config: &Config, primitive: &str, nodes: &[NodeEntry]) -> Vec<NodeId> {
    let mut names = vec![primitive.to_string()];
    names.extend(config.group_of(primitive).map(|g| g.name.clone()));
    names.extend(config.clone_of(primitive).map(|c| c.name.clone()));
    let mut scored: Vec<(Score, usize, NodeId)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let score = config
                .locations
                .iter()
                .filter(|l| l.role.is_none() && names.contains(&l.resource))
                .filter_map(|l| match &l.target {
                    LocationTarget::Node { node, score } if *node == n.name => Some(*score),
                    _ => None,
                })
                .fold(Score::ZERO, |t, s| t + s);
            (score, i, n.id)
        })
        .filter(|(score, _, _)| !score.is_minus_infinity())
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, _, id)| id).collect()
}

/// The runtime entry of every primitive of `config`: its agent, parameters, each
/// operation's timeout and the recurring monitors by role ([`Operations`]), the clone it
/// belongs to, its allocation priority, and the nodes its location constraints allow,
/// best first (for display; the scheduler decides). `monitor_interval` is the first
/// recurring monitor's, `op_timeout` the longest timeout (the orderly stop's bound).
pub(super) fn entries(config: &Config, nodes: &[NodeEntry]) -> Vec<ResourceEntry> {
    config
        .primitives
        .iter()
        .map(|p| {
            let meta = config.effective_meta(&p.name);
            let ops = Operations::of(p);
            let monitor_interval = ops
                .monitors
                .first()
                .map(|m| m.interval)
                .unwrap_or(Duration::ZERO);
            let op_timeout = ops.longest();
            ResourceEntry {
                name: p.name.clone(),
                class: p.agent.class,
                provider: p.agent.provider.clone().unwrap_or_default(),
                kind: p.agent.kind.clone(),
                params: p.params.clone(),
                allowed: preference(config, &p.name, nodes),
                priority: u32::try_from(meta.priority.max(0)).unwrap_or(u32::MAX),
                monitor_interval,
                op_timeout,
                max_failures: meta.migration_threshold,
                ops,
                clone: CloneOf::of(config, &p.name, nodes.len()),
            }
        })
        .collect()
}

/// Names of primitives by the group or clone they belong to (for status output).
pub fn containers(config: &Config) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for g in &config.groups {
        for m in &g.members {
            out.insert(m.clone(), g.name.clone());
        }
    }
    for c in &config.clones {
        out.insert(c.child.clone(), c.name.clone());
    }
    out
}

#[cfg(test)]
mod tests;
