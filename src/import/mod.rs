//! `palisade import`, pure: heartbeat v1's `ha.cf`, `haresources` and `authkeys` (text
//! in) converted to palisade's TOML model (a serializable [`ImportedConfig`]), HMAC-SHA256
//! key material and the warnings an administrator must read. Bad input is a clear
//! [`ImportError`] naming the file and line; nothing here touches the filesystem.
//!
//! Module map:
//! - [`hacf`]: ha.cf directives, heartbeat's defaults and timer checks.
//! - [`haresources`]: resource groups, `SCRIPT::ARG` specs, bare IPs, OCF/LSB mapping.
//! - [`authkeys`]: auth id, crc/md5/sha1 keys, derivation of our key.
//!
//! What the output contains: `[cluster]` (id derived from heartbeat's cluster name,
//! `udpport`), `[timers]`, `[quorum]`, `[[node]]` (addresses left for the admin: ha.cf
//! does not say which address is whose), and the placement sections (`[options]`,
//! `[[primitive]]`, `[[group]]`, `[[clone]]`, `[[location]]`) that
//! [`crate::placement::Config`] reads. Each haresources line becomes a group (or a lone
//! primitive) with a location of 100 on its node; `auto_failback off` becomes a
//! stickiness of 1000; `ping` nodes become a ping clone and a connectivity rule.

pub mod authkeys;
pub mod hacf;
pub mod haresources;

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::fencer::duration::format_duration;
pub use authkeys::KeyMaterial;
use hacf::{AutoFailback, HaCf};

/// Warnings collected while importing (weak keys, ignored directives, guesses).
pub type Warnings = Vec<String>;

/// Score of a haresources group on its node.
pub const HOME_SCORE: i64 = 100;
/// Stickiness standing for `auto_failback off`: well above any home preference.
pub const NO_FAILBACK_STICKINESS: i64 = 1000;

/// Input that cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// A bad ha.cf line (line 0: the file as a whole).
    #[error("ha.cf{}: {reason}", at(*.line))]
    HaCf {
        /// 1-based line, or 0.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A bad haresources line.
    #[error("haresources{}: {reason}", at(*.line))]
    Haresources {
        /// 1-based line, or 0.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A bad authkeys line.
    #[error("authkeys{}: {reason}", at(*.line))]
    Authkeys {
        /// 1-based line, or 0.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The result could not be written as TOML.
    #[error("writing TOML: {0}")]
    Toml(String),
}

fn at(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" line {line}")
    }
}

/// The heartbeat files to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// ha.cf text (required).
    pub ha_cf: &'a str,
    /// haresources text.
    pub haresources: Option<&'a str>,
    /// authkeys text.
    pub authkeys: Option<&'a str>,
    /// authkeys permission bits, if known (warn unless 600).
    pub authkeys_mode: Option<u32>,
}

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterSection {
    /// Cluster id (from heartbeat's `cluster` name).
    pub id: u32,
    /// Where the derived key is to be written.
    pub key_file: String,
    /// heartbeat's `udpport`.
    pub port: u16,
}

/// `[timers]`, as spans (`2s`, `500ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TimersSection {
    /// Heartbeat interval.
    pub keepalive: String,
    /// Late-heartbeat warning.
    pub warntime: String,
    /// Declared dead after.
    pub deadtime: String,
    /// deadtime at startup.
    pub initdead: String,
}

/// `[quorum]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct QuorumSection {
    /// Two nodes: each half stays quorate, fencing decides.
    pub two_node: bool,
}

/// `[[node]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeSection {
    /// `uname -n`.
    pub name: String,
    /// 1.. in ha.cf order.
    pub id: u32,
    /// One per ring: to be filled in.
    pub addresses: Vec<String>,
}

/// `[options]` of the placement model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OptionsSection {
    /// heartbeat's auto_failback on.
    pub auto_failback: bool,
    /// Set for auto_failback off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_stickiness: Option<i64>,
}

/// An operation of a primitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OpSection {
    /// `monitor`.
    pub name: String,
    /// Interval.
    pub interval: String,
    /// Timeout.
    pub timeout: String,
}

/// `[[primitive]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PrimitiveSection {
    /// Resource name.
    pub name: String,
    /// `ocf:heartbeat:IPaddr`, `lsb:httpd`.
    pub agent: String,
    /// Agent parameters.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Operations.
    pub op: Vec<OpSection>,
}

/// `[[group]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct GroupSection {
    /// Group name.
    pub name: String,
    /// Members in start order.
    pub members: Vec<String>,
}

/// `[[clone]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CloneSection {
    /// Clone name.
    pub name: String,
    /// The cloned primitive.
    pub resource: String,
}

/// A location rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RuleSection {
    /// Score for matching nodes.
    pub score: String,
    /// and / or.
    pub boolean_op: String,
    /// Expressions.
    pub expressions: Vec<String>,
}

/// `[[location]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LocationSection {
    /// Constraint id.
    pub id: String,
    /// Resource or group.
    pub resource: String,
    /// Node (with score).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Score on the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    /// Or a rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleSection>,
}

/// The imported configuration, in palisade's TOML layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImportedConfig {
    /// `[cluster]`.
    pub cluster: ClusterSection,
    /// `[timers]`.
    pub timers: TimersSection,
    /// `[quorum]`.
    pub quorum: QuorumSection,
    /// `[[node]]`.
    pub node: Vec<NodeSection>,
    /// `[options]`.
    pub options: OptionsSection,
    /// `[[primitive]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub primitive: Vec<PrimitiveSection>,
    /// `[[group]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<GroupSection>,
    /// `[[clone]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clone: Vec<CloneSection>,
    /// `[[location]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub location: Vec<LocationSection>,
}

/// Where `palisade import` suggests the key be written.
pub const DEFAULT_KEY_FILE: &str = "/etc/palisade/authkey";

/// The result of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The configuration.
    pub config: ImportedConfig,
    /// Key material for the key file (none without authkeys, or with crc).
    pub key: Option<KeyMaterial>,
    /// What the administrator must read.
    pub warnings: Warnings,
}

impl ImportedConfig {
    /// The configuration as TOML text.
    pub fn to_toml(&self) -> Result<String, ImportError> {
        toml::to_string(self).map_err(|e| ImportError::Toml(e.to_string()))
    }

    /// Only the placement sections, as a table [`crate::placement::Config`] reads.
    pub fn placement_table(&self) -> Result<toml::Table, ImportError> {
        let mut table =
            toml::Table::try_from(self).map_err(|e| ImportError::Toml(e.to_string()))?;
        table.retain(|k, _| matches!(k, "options" | "primitive" | "group" | "clone" | "location"));
        Ok(table)
    }
}

/// A cluster id from heartbeat's cluster name (never 0).
pub fn cluster_id(name: &str) -> u32 {
    let digest = Sha256::digest(name.as_bytes());
    let id = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    id.max(1)
}

fn monitor() -> Vec<OpSection> {
    vec![OpSection {
        name: "monitor".into(),
        interval: "10s".into(),
        timeout: "20s".into(),
    }]
}

/// Import heartbeat's files.
pub fn import(sources: &Sources) -> Result<Imported, ImportError> {
    let mut warnings = Warnings::new();
    let ha = hacf::parse(sources.ha_cf, &mut warnings)?;
    let groups = match sources.haresources {
        Some(text) => haresources::parse(text, &ha.nodes)?,
        None => Vec::new(),
    };
    let key = match sources.authkeys {
        Some(text) => {
            authkeys::parse(text, sources.authkeys_mode, &mut warnings)?.derive(&mut warnings)
        }
        None => {
            warnings.push("no authkeys given: create a key file of 32 random bytes".into());
            None
        }
    };
    let config = build(&ha, &groups, &mut warnings);
    Ok(Imported {
        config,
        key,
        warnings,
    })
}

fn build(ha: &HaCf, groups: &[haresources::HaGroup], warnings: &mut Warnings) -> ImportedConfig {
    let t = &ha.timers;
    let span = |d| format_duration(d);
    let two_node = ha.nodes.len() == 2;
    warnings.push(format!(
        "heartbeat v1 had no quorum: {} nodes imported with {}",
        ha.nodes.len(),
        if two_node {
            "two-node = true (each half stays quorate; fencing decides)"
        } else {
            "majority quorum"
        }
    ));
    warnings.push(
        "ha.cf does not say which address belongs to which node: fill in [[node]] addresses (one per ring)".into(),
    );
    if !ha.stonith_hosts.is_empty() {
        warnings.push(format!(
            "stonith_host lines are not imported; configure fence devices in the fencer: {}",
            ha.stonith_hosts.join(" | ")
        ));
    }
    if let Some(w) = &ha.watchdog {
        warnings.push(format!(
            "watchdog {w}: palisade's self-fencing uses the sbd daemon's watchdog; not imported"
        ));
    }
    let (auto_failback, resource_stickiness) = match ha.auto_failback {
        AutoFailback::On | AutoFailback::Legacy => (true, None),
        AutoFailback::Off => (false, Some(NO_FAILBACK_STICKINESS)),
    };
    let mut config = ImportedConfig {
        cluster: ClusterSection {
            id: cluster_id(&ha.cluster),
            key_file: DEFAULT_KEY_FILE.into(),
            port: ha.udpport,
        },
        timers: TimersSection {
            keepalive: span(t.keepalive),
            warntime: span(t.warntime),
            deadtime: span(t.deadtime),
            initdead: span(t.initdead),
        },
        quorum: QuorumSection { two_node },
        node: ha
            .nodes
            .iter()
            .enumerate()
            .map(|(i, name)| NodeSection {
                name: name.clone(),
                id: i as u32 + 1,
                addresses: Vec::new(),
            })
            .collect(),
        options: OptionsSection {
            auto_failback,
            resource_stickiness,
        },
        primitive: Vec::new(),
        group: Vec::new(),
        clone: Vec::new(),
        location: Vec::new(),
    };
    if !groups.is_empty() {
        warnings.push(
            "heartbeat v1 never monitored resources: each imported resource gets a 10 s monitor"
                .into(),
        );
    }
    let mut placed: Vec<String> = Vec::new();
    for g in groups {
        for r in &g.resources {
            config.primitive.push(PrimitiveSection {
                name: r.name.clone(),
                agent: r.agent.clone(),
                params: r.params.clone(),
                op: monitor(),
            });
        }
        let target = match g.resources.as_slice() {
            [only] => only.name.clone(),
            many => {
                let last = many.last().map(|r| r.name.as_str()).unwrap_or("resources");
                let mut name = format!("group-{last}");
                let taken = |n: &str| {
                    config.primitive.iter().any(|p| p.name == n)
                        || config.group.iter().any(|x| x.name == n)
                };
                let mut suffix = 2;
                while taken(&name) {
                    name = format!("group-{last}-{suffix}");
                    suffix += 1;
                }
                config.group.push(GroupSection {
                    name: name.clone(),
                    members: many.iter().map(|r| r.name.clone()).collect(),
                });
                name
            }
        };
        config.location.push(LocationSection {
            id: format!("{target}-home-{}", g.node),
            resource: target.clone(),
            node: Some(g.node.clone()),
            score: Some(HOME_SCORE),
            rule: None,
        });
        placed.push(target);
    }
    let pings: Vec<String> = ha
        .ping
        .iter()
        .chain(ha.ping_groups.iter().flat_map(|(_, a)| a.iter()))
        .map(|a| a.to_string())
        .collect();
    if !pings.is_empty() {
        warnings.push(
            "ping nodes (ipfail) imported as a ping clone; resources leave nodes that reach none of them".into(),
        );
        config.primitive.push(PrimitiveSection {
            name: "ping".into(),
            agent: "ocf:pacemaker:ping".into(),
            params: BTreeMap::from([
                ("host_list".to_string(), pings.join(" ")),
                ("multiplier".to_string(), "100".to_string()),
            ]),
            op: monitor(),
        });
        config.clone.push(CloneSection {
            name: "ping-clone".into(),
            resource: "ping".into(),
        });
        for target in &placed {
            config.location.push(LocationSection {
                id: format!("{target}-connected"),
                resource: target.clone(),
                node: None,
                score: None,
                rule: Some(RuleSection {
                    score: "-INFINITY".into(),
                    boolean_op: "or".into(),
                    expressions: vec!["not_defined pingd".into(), "pingd lte 0".into()],
                }),
            });
        }
    }
    config
}

#[cfg(test)]
mod tests;
