//! `palisade import`, pure: heartbeat v1's `ha.cf`, `haresources` and `authkeys` (text
//! in) converted to a palisade node configuration (a serializable [`ImportedConfig`]),
//! HMAC-SHA256 key material and the warnings an administrator must read. Bad input is a
//! clear [`ImportError`] naming the file and line; nothing here touches the filesystem.
//!
//! Module map:
//! - [`hacf`]: ha.cf directives, heartbeat's defaults and timer checks.
//! - [`haresources`]: resource groups, `SCRIPT::ARG` specs, bare IPs, OCF/LSB mapping.
//! - [`authkeys`]: auth id, crc/md5/sha1 keys, derivation of our key.
//! - [`sections`]: the TOML sections, in the order they are printed.
//!
//! What the output contains, a configuration `palisade node --check` accepts on every
//! node: `[cluster]` (id derived from heartbeat's cluster name, `udpport`, the key file),
//! `[timers]`, `[quorum]` (`two-node` for a pair; heartbeat's `ping` nodes as
//! `ping-targets`, the tie-breaker of an exact half, with `deadping`), `[fencing]`
//! (through the fencer daemon: heartbeat's stonith devices are not imported), `[[node]]`
//! (addresses from `--addresses 'NODE=IP[,IP] ...'`: ha.cf does not say which address is
//! whose), and the resources in the placement model (`[options]`, `[[primitive]]`,
//! `[[group]]`, `[[location]]`): each haresources line becomes a group (or a lone
//! primitive) with a location of 100 on its node; `auto_failback on` is the option,
//! `off` a stickiness of 1000.

pub mod authkeys;
pub mod hacf;
pub mod haresources;
pub mod sections;

use std::collections::BTreeMap;
use std::net::IpAddr;

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
    /// A bad `NODE=IP[,IP]` of `--addresses`.
    #[error("--addresses {spec}: {reason}")]
    Address {
        /// The argument as given.
        spec: String,
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
    /// `NODE=IP[,IP]`: each node's address per ring.
    pub addresses: &'a [String],
    /// Where the key file is (default [`DEFAULT_KEY_FILE`]).
    pub key_file: Option<&'a str>,
}

pub use sections::*;

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

const HEADER: &str = "\
# palisade configuration imported from heartbeat by `palisade import`.
# One file for every node: start each with `palisade node --config FILE --node NAME`.
";

impl ImportedConfig {
    /// The configuration as TOML text, as `palisade node` reads it.
    pub fn to_toml(&self) -> Result<String, ImportError> {
        let body = toml::to_string(self).map_err(|e| ImportError::Toml(e.to_string()))?;
        Ok(format!("{HEADER}\n{body}"))
    }

    /// Only the placement sections, as a table [`crate::placement::Config`] reads.
    pub fn placement_table(&self) -> Result<toml::Table, ImportError> {
        let mut table =
            toml::Table::try_from(self).map_err(|e| ImportError::Toml(e.to_string()))?;
        table.retain(|k, _| matches!(k, "options" | "primitive" | "group" | "location"));
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
    let addresses = node_addresses(sources.addresses, &ha.nodes)?;
    let mut config = build(&ha, &groups, &addresses, &mut warnings);
    if let Some(path) = sources.key_file {
        config.cluster.key_file = path.to_string();
    }
    Ok(Imported {
        config,
        key,
        warnings,
    })
}

/// `--addresses` words (`NODE=IP[,IP]`): one or two addresses (rings) per node, the same
/// count for every node given, each node of ha.cf at most once.
pub fn node_addresses(
    specs: &[String],
    nodes: &[String],
) -> Result<BTreeMap<String, Vec<IpAddr>>, ImportError> {
    let mut out: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for spec in specs {
        let bad = |reason: String| ImportError::Address {
            spec: spec.clone(),
            reason,
        };
        let (node, list) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected NODE=IP[,IP]".into()))?;
        if !nodes.iter().any(|n| n == node) {
            return Err(bad(format!(
                "'{node}' is not a 'node' of ha.cf ({})",
                nodes.join(", ")
            )));
        }
        let ips = list
            .split(',')
            .map(|a| {
                a.trim()
                    .parse::<IpAddr>()
                    .map_err(|_| bad(format!("'{a}' is not an IP address")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if ips.len() > 2 {
            return Err(bad("one address per ring, at most two rings".into()));
        }
        if out
            .values()
            .next()
            .is_some_and(|first| first.len() != ips.len())
        {
            return Err(bad(
                "every node needs the same number of addresses (one per ring)".into(),
            ));
        }
        if out.insert(node.to_string(), ips).is_some() {
            return Err(bad(format!("'{node}' given twice")));
        }
    }
    Ok(out)
}

/// `[quorum]`: majority, `two-node` for a pair, heartbeat's ping nodes as the
/// tie-breaker of an exact half (the node daemon takes either, not both).
fn quorum(ha: &HaCf, warnings: &mut Warnings) -> QuorumSection {
    let pings: Vec<String> = ha
        .ping
        .iter()
        .chain(ha.ping_groups.iter().flat_map(|(_, a)| a.iter()))
        .map(|a| a.to_string())
        .collect();
    let two_node = ha.nodes.len() == 2 && pings.is_empty();
    warnings.push(format!(
        "heartbeat v1 had no quorum: {} nodes imported with {}",
        ha.nodes.len(),
        if two_node {
            "two-node = true (each half stays quorate; fencing decides)"
        } else if pings.is_empty() {
            "majority quorum"
        } else {
            "majority quorum, an exact half quorate only while the ping nodes answer"
        }
    ));
    if pings.is_empty() {
        return QuorumSection {
            two_node,
            ping_targets: None,
            ping_deadtime: None,
        };
    }
    warnings.push(format!(
        "ping nodes ({}) imported as [quorum] ping-targets: they decide which half of a split cluster keeps quorum (all of them must answer); heartbeat's ipfail moved resources to the better connected node, palisade does not",
        pings.join(", ")
    ));
    if !ha.ping_groups.is_empty() {
        warnings.push(
            "ping_group members are imported as ping targets each (heartbeat counted a group as up while one member answered)".into(),
        );
    }
    let t = &ha.timers;
    let ping_deadtime = match ha.deadping {
        Some(d) if d > t.keepalive && d < t.deadtime => Some(format_duration(d)),
        Some(d) => {
            warnings.push(format!(
                "deadping {} not imported: palisade needs it above keepalive and below deadtime (default deadtime/2)",
                format_duration(d)
            ));
            None
        }
        None => None,
    };
    QuorumSection {
        two_node,
        ping_targets: Some(pings),
        ping_deadtime,
    }
}

fn build(
    ha: &HaCf,
    groups: &[haresources::HaGroup],
    addresses: &BTreeMap<String, Vec<IpAddr>>,
    warnings: &mut Warnings,
) -> ImportedConfig {
    let t = &ha.timers;
    let span = |d| format_duration(d);
    let missing: Vec<&str> = ha
        .nodes
        .iter()
        .filter(|n| !addresses.contains_key(*n))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        let peers: Vec<String> = ha
            .media
            .iter()
            .filter_map(|m| match m {
                hacf::Medium::Unicast { peer, .. } => Some(peer.to_string()),
                _ => None,
            })
            .collect();
        let hint = if peers.is_empty() {
            String::new()
        } else {
            format!(" (ucast peers in ha.cf: {})", peers.join(", "))
        };
        warnings.push(format!(
            "ha.cf does not say which address belongs to which node: fill in [[node]] addresses (one per ring) of {}, or import with --addresses 'NODE=IP[,IP] ...'{hint}",
            missing.join(", ")
        ));
    }
    warnings.push(format!(
        "fencing goes through the fencer daemon (palisade daemon, {}): configure each node's fence device there{}",
        crate::fencer::config::DEFAULT_SOCKET,
        if ha.stonith_hosts.is_empty() {
            String::new()
        } else {
            format!(
                "; heartbeat's stonith_host lines are not imported: {}",
                ha.stonith_hosts.join(" | ")
            )
        }
    ));
    for m in &ha.media {
        if let hacf::Medium::Multicast {
            interface,
            group,
            port,
            ttl,
            ..
        } = m
        {
            warnings.push(format!(
                "mcast {interface} {group}: for the ring whose [[node]] addresses are on {interface}, add a [[ring]] with mcast-group = \"{group}\", mcast-port = {port}, mcast-ttl = {ttl} (rings are in address order); without it the ring is unicast to every peer"
            ));
        }
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
        quorum: quorum(ha, warnings),
        fencing: FencingSection {
            fencer_socket: crate::fencer::config::DEFAULT_SOCKET.into(),
        },
        node: ha
            .nodes
            .iter()
            .enumerate()
            .map(|(i, name)| NodeSection {
                name: name.clone(),
                id: i as u32 + 1,
                addresses: addresses
                    .get(name)
                    .map(|a| a.iter().map(IpAddr::to_string).collect())
                    .unwrap_or_default(),
            })
            .collect(),
        options: OptionsSection {
            auto_failback,
            resource_stickiness,
        },
        primitive: Vec::new(),
        group: Vec::new(),
        location: Vec::new(),
    };
    if !groups.is_empty() {
        warnings.push(
            "heartbeat v1 never monitored resources: each imported resource gets a 10 s monitor"
                .into(),
        );
    }
    if groups
        .iter()
        .flat_map(|g| &g.resources)
        .any(|r| r.agent == haresources::IP_AGENT && !r.original.starts_with("IPaddr2::"))
    {
        warnings.push(format!(
            "heartbeat's IPaddr addresses are imported as {} (same parameters; the Linux agent of resource-agents)",
            haresources::IP_AGENT
        ));
    }
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
            resource: target,
            node: g.node.clone(),
            score: HOME_SCORE,
        });
    }
    config
}

#[cfg(test)]
mod tests;
