//! The placement configuration in TOML, pure: text (or an already parsed table) in, a
//! validated [`Config`] or a [`ConfigError`] out. Unknown keys, dangling references,
//! resources in two containers, impossible operations and constraint cycles are refused
//! with the offending section named.
//!
//! ```toml
//! [options]
//! symmetric-cluster = true        # false: opt-in, resources run only where allowed
//! resource-stickiness = 0         # integer or "INFINITY"
//! migration-threshold = 3         # default INFINITY-like (1000000); 0 = never ban
//! failure-timeout = "10min"       # default 0 = failures never expire
//! auto-failback = false           # heartbeat's auto_failback on
//! fencing-enabled = true          # a stop failure fences the node
//! maintenance-mode = false
//! start-failure-is-fatal = true   # a failed start bans the resource from that node
//!
//! [[primitive]]
//! name = "vip"
//! agent = "ocf:heartbeat:IPaddr2" # or "lsb:httpd", "systemd:nginx"
//! params = { ip = "192.168.1.5", cidr_netmask = 24 }
//! op = [{ name = "monitor", interval = "10s", timeout = "20s" }]
//! meta = { resource-stickiness = 100, migration-threshold = 3, target-role = "started" }
//!
//! [[group]]
//! name = "web"
//! members = ["vip", "fs", "httpd"]
//!
//! [[clone]]
//! name = "ping-clone"
//! resource = "ping"
//! clone-max = 2
//! clone-node-max = 1
//! promotable = false              # promoted-max, promoted-node-max when true
//!
//! [[location]]
//! id = "web-prefers-node1"
//! resource = "web"
//! node = "node1"
//! score = 50                      # or: rule = { score = "-INFINITY", expressions = ["pingd lt 1"] }
//!
//! [[colocation]]
//! id = "fs-with-drbd"
//! resource = "fs"
//! with = "drbd-clone"
//! score = "INFINITY"
//! with-role = "promoted"
//!
//! [[order]]
//! id = "drbd-before-fs"
//! first = "drbd-clone"
//! first-action = "promote"        # start (default) | promote
//! then = "fs"
//! kind = "mandatory"              # mandatory (default) | optional
//! symmetrical = true
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use super::config::{
    Agent, AgentClass, Clone, ClusterOptions, Config, Group, Meta, Operation, Primitive, Role,
    TargetRole,
};
use super::score::Score;
use crate::fencer::duration::parse_duration;

mod constraints;

use constraints::{check_cycles, constraints, RawColocation, RawLocation, RawOrder};

/// Default timeout of an operation without one.
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(20);

/// A placement configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, an unknown key or a value of the wrong type.
    #[error("{0}")]
    Toml(String),
    /// A key with a bad value.
    #[error("{section} {key}: {reason}")]
    Value {
        /// `[[primitive]] vip`, `[[location]] prefer-node1`, ...
        section: String,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Two resources or two constraints share a name.
    #[error("duplicate {what} '{name}'")]
    Duplicate {
        /// `resource name` or `constraint id`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A constraint or container names a resource that does not exist.
    #[error("{section}: {key} '{name}' is not a configured resource")]
    Dangling {
        /// The section holding the reference.
        section: String,
        /// The key holding it.
        key: String,
        /// The missing name.
        name: String,
    },
    /// Constraints that cannot all hold (a resource placed or ordered after itself).
    #[error("{what} cycle: {}", .cycle.join(" -> "))]
    Cycle {
        /// `colocation` or `order`.
        what: &'static str,
        /// The units around the cycle.
        cycle: Vec<String>,
    },
}

fn bad(section: impl Into<String>, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        section: section.into(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    options: RawOptions,
    #[serde(default)]
    primitive: Vec<RawPrimitive>,
    #[serde(default)]
    group: Vec<RawGroup>,
    #[serde(default)]
    clone: Vec<RawClone>,
    #[serde(default)]
    location: Vec<RawLocation>,
    #[serde(default)]
    colocation: Vec<RawColocation>,
    #[serde(default)]
    order: Vec<RawOrder>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOptions {
    symmetric_cluster: Option<bool>,
    resource_stickiness: Option<toml::Value>,
    migration_threshold: Option<u32>,
    failure_timeout: Option<String>,
    auto_failback: Option<bool>,
    #[serde(alias = "stonith-enabled")]
    fencing_enabled: Option<bool>,
    maintenance_mode: Option<bool>,
    start_failure_is_fatal: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMeta {
    resource_stickiness: Option<toml::Value>,
    migration_threshold: Option<u32>,
    failure_timeout: Option<String>,
    target_role: Option<String>,
    priority: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOp {
    name: String,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPrimitive {
    name: String,
    agent: String,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    op: Vec<RawOp>,
    #[serde(default)]
    meta: RawMeta,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGroup {
    name: String,
    members: Vec<String>,
    #[serde(default)]
    meta: RawMeta,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawClone {
    name: String,
    resource: String,
    clone_max: Option<u32>,
    clone_node_max: Option<u32>,
    #[serde(default)]
    promotable: bool,
    promoted_max: Option<u32>,
    promoted_node_max: Option<u32>,
    #[serde(default)]
    meta: RawMeta,
}

/// Read a score: a TOML integer or a string such as `"INFINITY"`.
pub fn score_value(section: &str, key: &str, value: &toml::Value) -> Result<Score, ConfigError> {
    match value {
        toml::Value::Integer(i) => Ok(Score::new(*i)),
        toml::Value::String(s) => Score::parse(s).map_err(|e| bad(section, key, e.to_string())),
        other => Err(bad(
            section,
            key,
            format!(
                "expected an integer or \"INFINITY\", got {}",
                other.type_str()
            ),
        )),
    }
}

fn span(section: &str, key: &str, text: Option<&String>) -> Result<Option<Duration>, ConfigError> {
    text.map(|t| parse_duration(t).map_err(|e| bad(section, key, e.to_string())))
        .transpose()
}

fn role(section: &str, key: &str, text: Option<&String>) -> Result<Option<Role>, ConfigError> {
    text.map(|t| match t.to_ascii_lowercase().as_str() {
        "promoted" | "master" => Ok(Role::Promoted),
        "started" | "unpromoted" | "slave" => Ok(Role::Started),
        _ => Err(bad(
            section,
            key,
            format!("'{t}': expected started or promoted"),
        )),
    })
    .transpose()
}

fn meta(section: &str, raw: &RawMeta) -> Result<Meta, ConfigError> {
    let target_role = raw
        .target_role
        .as_ref()
        .map(|t| match t.to_ascii_lowercase().as_str() {
            "started" | "promoted" | "master" => Ok(TargetRole::Started),
            "stopped" => Ok(TargetRole::Stopped),
            "unpromoted" | "slave" => Ok(TargetRole::Unpromoted),
            _ => Err(bad(
                section,
                "meta.target-role",
                format!("'{t}': expected started, stopped, unpromoted or promoted"),
            )),
        })
        .transpose()?;
    Ok(Meta {
        stickiness: raw
            .resource_stickiness
            .as_ref()
            .map(|v| score_value(section, "meta.resource-stickiness", v))
            .transpose()?,
        migration_threshold: raw.migration_threshold,
        failure_timeout: span(
            section,
            "meta.failure-timeout",
            raw.failure_timeout.as_ref(),
        )?,
        target_role,
        priority: raw.priority,
    })
}

/// Parse `ocf:PROVIDER:TYPE`, `lsb:TYPE` or `systemd:TYPE`.
pub fn parse_agent(text: &str) -> Result<Agent, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let word = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace) && !s.contains('/');
    match parts.as_slice() {
        ["ocf", provider, kind] if word(provider) && word(kind) => Ok(Agent {
            class: AgentClass::Ocf,
            provider: Some((*provider).to_string()),
            kind: (*kind).to_string(),
        }),
        [class @ ("lsb" | "systemd"), kind] if word(kind) => Ok(Agent {
            class: if *class == "lsb" {
                AgentClass::Lsb
            } else {
                AgentClass::Systemd
            },
            provider: None,
            kind: (*kind).to_string(),
        }),
        ["stonith", ..] => {
            Err("fence devices belong to the fencer configuration, not resources".into())
        }
        _ => Err(format!(
            "'{text}': expected ocf:PROVIDER:TYPE, lsb:TYPE or systemd:TYPE"
        )),
    }
}

fn params(section: &str, table: &toml::Table) -> Result<BTreeMap<String, String>, ConfigError> {
    table
        .iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => if *b { "true" } else { "false" }.to_string(),
                _ => {
                    return Err(bad(
                        section,
                        "params",
                        format!("{k}: only strings, numbers and booleans"),
                    ))
                }
            };
            if text.contains('\n') || text.contains('\0') {
                return Err(bad(
                    section,
                    "params",
                    format!("{k}: value contains a newline or NUL"),
                ));
            }
            Ok((k.clone(), text))
        })
        .collect()
}

fn operations(section: &str, raw: &[RawOp]) -> Result<Vec<Operation>, ConfigError> {
    let mut out: Vec<Operation> = Vec::new();
    for op in raw {
        let key = format!("op {}", op.name);
        let interval = span(section, &key, op.interval.as_ref())?.unwrap_or(Duration::ZERO);
        let timeout = span(section, &key, op.timeout.as_ref())?.unwrap_or(DEFAULT_OP_TIMEOUT);
        match op.name.as_str() {
            "monitor" if interval.is_zero() => {
                return Err(bad(section, &key, "a monitor needs an interval above zero"))
            }
            "monitor" => {}
            "start" | "stop" | "promote" | "demote" if !interval.is_zero() => {
                return Err(bad(
                    section,
                    &key,
                    "only monitor operations recur (interval must be 0)",
                ))
            }
            "start" | "stop" | "promote" | "demote" => {}
            other => {
                return Err(bad(
                    section,
                    &key,
                    format!("unknown operation '{other}' (monitor, start, stop, promote, demote)"),
                ))
            }
        }
        if timeout.is_zero() {
            return Err(bad(section, &key, "timeout must be above zero"));
        }
        if out
            .iter()
            .any(|o| o.name == op.name && o.interval == interval)
        {
            return Err(bad(
                section,
                &key,
                "two operations with the same name and interval",
            ));
        }
        out.push(Operation {
            name: op.name.clone(),
            interval,
            timeout,
            role: role(section, &key, op.role.as_ref())?,
        });
    }
    Ok(out)
}

fn check_name(section: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            section,
            "name",
            format!("'{name}': use letters, digits, '-', '_' and '.'"),
        ))
    }
}

impl Config {
    /// Parse and validate a placement configuration document.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        build(raw)
    }

    /// Parse and validate from a TOML table (the placement keys of a larger file).
    pub fn from_toml_table(table: toml::Table) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
        build(raw)
    }
}

fn build(raw: RawConfig) -> Result<Config, ConfigError> {
    let o = &raw.options;
    let defaults = ClusterOptions::default();
    let options = ClusterOptions {
        symmetric_cluster: o.symmetric_cluster.unwrap_or(defaults.symmetric_cluster),
        stickiness: o
            .resource_stickiness
            .as_ref()
            .map(|v| score_value("[options]", "resource-stickiness", v))
            .transpose()?
            .unwrap_or(defaults.stickiness),
        migration_threshold: o
            .migration_threshold
            .unwrap_or(defaults.migration_threshold),
        failure_timeout: span("[options]", "failure-timeout", o.failure_timeout.as_ref())?
            .unwrap_or(defaults.failure_timeout),
        auto_failback: o.auto_failback.unwrap_or(defaults.auto_failback),
        fencing_enabled: o.fencing_enabled.unwrap_or(defaults.fencing_enabled),
        maintenance_mode: o.maintenance_mode.unwrap_or(defaults.maintenance_mode),
        start_failure_is_fatal: o
            .start_failure_is_fatal
            .unwrap_or(defaults.start_failure_is_fatal),
    };
    let mut config = Config {
        options,
        ..Config::default()
    };
    let mut names = BTreeSet::new();
    let mut claim = |name: &str| {
        if names.insert(name.to_string()) {
            Ok(())
        } else {
            Err(ConfigError::Duplicate {
                what: "resource name",
                name: name.to_string(),
            })
        }
    };
    for p in &raw.primitive {
        let section = format!("[[primitive]] {}", p.name);
        check_name(&section, &p.name)?;
        claim(&p.name)?;
        config.primitives.push(Primitive {
            name: p.name.clone(),
            agent: parse_agent(&p.agent).map_err(|e| bad(&section, "agent", e))?,
            params: params(&section, &p.params)?,
            ops: operations(&section, &p.op)?,
            meta: meta(&section, &p.meta)?,
        });
    }
    for g in &raw.group {
        let section = format!("[[group]] {}", g.name);
        check_name(&section, &g.name)?;
        claim(&g.name)?;
        config.groups.push(Group {
            name: g.name.clone(),
            members: g.members.clone(),
            meta: meta(&section, &g.meta)?,
        });
    }
    for c in &raw.clone {
        let section = format!("[[clone]] {}", c.name);
        check_name(&section, &c.name)?;
        claim(&c.name)?;
        if c.clone_max == Some(0) {
            return Err(bad(&section, "clone-max", "must be at least 1"));
        }
        if c.clone_node_max == Some(0) {
            return Err(bad(&section, "clone-node-max", "must be at least 1"));
        }
        if !c.promotable && (c.promoted_max.is_some() || c.promoted_node_max.is_some()) {
            return Err(bad(&section, "promoted-max", "only for promotable = true"));
        }
        config.clones.push(Clone {
            name: c.name.clone(),
            child: c.resource.clone(),
            clone_max: c.clone_max,
            clone_node_max: c.clone_node_max.unwrap_or(1),
            promotable: c.promotable,
            promoted_max: c.promoted_max.unwrap_or(1),
            promoted_node_max: c.promoted_node_max.unwrap_or(1),
            meta: meta(&section, &c.meta)?,
        });
    }
    check_containers(&config)?;
    constraints(&raw, &mut config)?;
    check_cycles(&config)?;
    Ok(config)
}

/// Group members and clone children exist, are primitives, and belong to one container.
fn check_containers(config: &Config) -> Result<(), ConfigError> {
    let mut owner: BTreeMap<&str, String> = BTreeMap::new();
    for g in &config.groups {
        let section = format!("[[group]] {}", g.name);
        if g.members.is_empty() {
            return Err(bad(
                &section,
                "members",
                "a group needs at least one member",
            ));
        }
        for m in &g.members {
            if config.primitive(m).is_none() {
                return Err(
                    if config.group(m).is_some() || config.clone_named(m).is_some() {
                        bad(
                            &section,
                            "members",
                            format!("'{m}': only primitives can be group members"),
                        )
                    } else {
                        ConfigError::Dangling {
                            section: section.clone(),
                            key: "members".into(),
                            name: m.clone(),
                        }
                    },
                );
            }
            if let Some(previous) = owner.insert(m, section.clone()) {
                return Err(bad(
                    &section,
                    "members",
                    format!("'{m}' already belongs to {previous}"),
                ));
            }
        }
    }
    for c in &config.clones {
        let section = format!("[[clone]] {}", c.name);
        if config.group(&c.child).is_some() {
            return Err(bad(
                &section,
                "resource",
                "cloning a group is not supported yet; clone each primitive",
            ));
        }
        if config.primitive(&c.child).is_none() {
            return Err(ConfigError::Dangling {
                section,
                key: "resource".into(),
                name: c.child.clone(),
            });
        }
        if let Some(previous) = owner.insert(&c.child, section.clone()) {
            return Err(bad(
                &section,
                "resource",
                format!("'{}' already belongs to {previous}", c.child),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
