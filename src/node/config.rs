//! The cluster node's TOML configuration, pure: text in, a validated [`NodeConfig`] or a
//! [`ConfigError`] out. The same file can serve every node (`--node NAME` picks the local
//! one). Times are pacemaker spans (`200ms`, `1s`); keys are kebab-case.
//!
//! ```toml
//! [cluster]
//! id = 42                          # cluster id, carried in every heartbeat
//! key-file = "/etc/palisade/authkey" # >= 16 bytes, HMAC-SHA256 key
//! port = 5405                      # UDP port of the heartbeats (every ring)
//! node = "node1"                   # this node (or --node)
//!
//! [timers]                         # heartbeat's semantics
//! keepalive = "200ms"
//! deadtime = "1s"                  # > 2 x keepalive
//! warntime = "500ms"               # default deadtime/2
//! initdead = "3s"                  # >= deadtime; default as heartbeat
//!
//! [quorum]
//! two-node = false
//! wait-for-all = true              # default: on with two-node
//! expected-votes = 3               # default: sum of votes
//! auto-tie-breaker = "none"        # none | lowest | highest | ["node2", "node1"]
//! no-quorum-policy = "stop"        # stop | freeze | ignore | fence (suicide) | demote
//!
//! [fencing]
//! enabled = true
//! action = "off"                   # off | reboot
//! timeout = "60s"
//! retry = "5s"
//! race-delay = "5s"                # two-node race: the less important side waits
//! startup-fencing = true
//! fencer-socket = "/run/palisade/fencer.sock"  # fence through `palisade daemon` ...
//! self-fence = "kernel"            # or "record:/path" (tests)
//!
//! [[node]]
//! name = "node1"
//! id = 1
//! addresses = ["10.0.0.1", "10.1.0.1"]   # ring 0, ring 1
//! fence-agent = "fence_ipmilan"          # ... or run this node's device directly
//! fence-params = { ip = "10.0.9.1", username = "admin", password = "secret", lanplus = 1 }
//!
//! [[resource]]
//! name = "web"
//! agent = "ocf:heartbeat:Dummy"
//! params = { state = "/run/web.state" }
//! allowed = ["node1", "node2"]     # preference order; default: every node
//! priority = 10
//! monitor-interval = "2s"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::cluster::failover::{Resource, Settings};
use crate::cluster::membership::{Timers, TimersError};
use crate::cluster::quorum::{NoQuorumPolicy, NodeId, QuorumConfig, TieBreaker};
use crate::fencer::duration::parse_duration;
use crate::fencer::operation::FenceAction;

/// Default heartbeat port (heartbeat's `udpport` is 694; corosync uses 5405).
pub const DEFAULT_PORT: u16 = 5405;
/// Where OCF agents live (`OCF_ROOT`).
pub const DEFAULT_OCF_ROOT: &str = "/usr/lib/ocf";

/// A configuration that cannot be used.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, an unknown key or a value of the wrong type.
    #[error("{0}")]
    Toml(String),
    /// A key with a bad value.
    #[error("{section} {key}: {reason}")]
    Value {
        /// `[cluster]`, `[[node]] node1`, ...
        section: String,
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The heartbeat timers do not work together.
    #[error("[timers]: {0}")]
    Timers(#[from] TimersError),
    /// The local node is not named or not configured.
    #[error("this node: {0}")]
    LocalNode(String),
}

fn bad(section: impl Into<String>, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        section: section.into(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// How lost nodes are fenced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceVia {
    /// Ask the fencer daemon (`palisade daemon`) over its API socket.
    Api(PathBuf),
    /// Run each node's configured agent directly (key=value on stdin, as pacemaker).
    Direct,
}

/// How a self-fence decision (no-quorum-policy=fence) is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfFenceMode {
    /// sysrq + reboot(2) (needs CAP_SYS_BOOT; refused under cargo and tests).
    Kernel,
    /// Append the decision to a file (tests; needs PALISADE_FORBID_SELF_FENCE).
    Record(PathBuf),
}

/// One configured node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    pub id: NodeId,
    pub name: String,
    /// One address per ring.
    pub addresses: Vec<IpAddr>,
    pub votes: u32,
    /// Fence agent (name or absolute path) and its parameters, for direct fencing.
    pub fence: Option<FenceDevice>,
}

/// A node's fence device for direct fencing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDevice {
    pub agent: String,
    pub params: BTreeMap<String, String>,
}

/// One resource: an OCF agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEntry {
    pub name: String,
    pub provider: String,
    pub kind: String,
    pub params: BTreeMap<String, String>,
    /// Node ids in preference order.
    pub allowed: Vec<NodeId>,
    pub priority: u32,
    /// Zero: no recurring monitor.
    pub monitor_interval: Duration,
    pub op_timeout: Duration,
    /// Monitor failures (each followed by a restart) before the resource is left stopped.
    pub max_failures: u32,
}

/// The fencing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencingConfig {
    pub enabled: bool,
    pub action: FenceAction,
    pub timeout: Duration,
    pub retry: Duration,
    pub race_delay: Duration,
    pub startup_fencing: bool,
    pub via: FenceVia,
    pub self_fence: SelfFenceMode,
    /// Where fence agents named without a path are looked up.
    pub agent_dirs: Vec<PathBuf>,
}

/// The validated configuration of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub cluster_id: u32,
    pub key: Vec<u8>,
    pub port: u16,
    /// This node's id.
    pub me: NodeId,
    pub nodes: Vec<NodeEntry>,
    pub timers: Timers,
    pub quorum: QuorumConfig,
    pub fencing: FencingConfig,
    pub resources: Vec<ResourceEntry>,
    pub ocf_root: PathBuf,
    /// Extra copy of the timeline (appended), besides stdout.
    pub timeline_file: Option<PathBuf>,
}

impl NodeConfig {
    /// The entry of node `id`.
    pub fn node(&self, id: NodeId) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The name of node `id` (or `node<id>`).
    pub fn name_of(&self, id: NodeId) -> String {
        self.node(id)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| format!("node{id}"))
    }

    /// This node's entry.
    pub fn local(&self) -> Option<&NodeEntry> {
        self.node(self.me)
    }

    /// Number of rings (addresses per node).
    pub fn rings(&self) -> usize {
        self.nodes.first().map_or(0, |n| n.addresses.len())
    }

    /// The failover machine's settings.
    pub fn settings(&self) -> Settings {
        Settings {
            fencing_enabled: self.fencing.enabled,
            no_quorum_policy: self.quorum.no_quorum_policy,
            race_delay: self.fencing.race_delay,
            fence_retry: self.fencing.retry,
            startup_fencing: self.fencing.startup_fencing,
        }
    }

    /// The failover machine's resources.
    pub fn machine_resources(&self) -> BTreeMap<String, Resource> {
        self.resources
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    Resource {
                        allowed: r.allowed.clone(),
                        priority: r.priority,
                    },
                )
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    cluster: RawCluster,
    #[serde(default)]
    timers: RawTimers,
    #[serde(default)]
    quorum: RawQuorum,
    #[serde(default)]
    fencing: RawFencing,
    #[serde(default)]
    node: Vec<RawNode>,
    #[serde(default)]
    resource: Vec<RawResource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCluster {
    id: u32,
    key_file: PathBuf,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    ocf_root: Option<PathBuf>,
    #[serde(default)]
    timeline: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawTimers {
    keepalive: Option<String>,
    warntime: Option<String>,
    deadtime: Option<String>,
    initdead: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawQuorum {
    #[serde(default)]
    two_node: bool,
    wait_for_all: Option<bool>,
    expected_votes: Option<u32>,
    auto_tie_breaker: Option<toml::Value>,
    no_quorum_policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFencing {
    enabled: Option<bool>,
    action: Option<String>,
    timeout: Option<String>,
    retry: Option<String>,
    race_delay: Option<String>,
    startup_fencing: Option<bool>,
    fencer_socket: Option<PathBuf>,
    self_fence: Option<String>,
    agent_dirs: Option<Vec<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNode {
    name: String,
    id: NodeId,
    addresses: Vec<String>,
    #[serde(default)]
    votes: Option<u32>,
    #[serde(default)]
    fence_agent: Option<String>,
    #[serde(default)]
    fence_params: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawResource {
    name: String,
    agent: String,
    #[serde(default)]
    params: toml::Table,
    #[serde(default)]
    allowed: Option<Vec<String>>,
    #[serde(default)]
    priority: u32,
    #[serde(default)]
    monitor_interval: Option<String>,
    #[serde(default)]
    op_timeout: Option<String>,
    #[serde(default)]
    max_failures: Option<u32>,
}

fn span(section: &str, key: &str, text: Option<&String>) -> Result<Option<Duration>, ConfigError> {
    text.map(|t| parse_duration(t).map_err(|e| bad(section, key, e.to_string())))
        .transpose()
}

/// heartbeat's initdead default: deadtime above 10 s; 12 s below 6 s; else 2 x deadtime.
pub fn default_initdead(deadtime: Duration) -> Duration {
    if deadtime > Duration::from_secs(10) {
        deadtime
    } else if deadtime < Duration::from_secs(6) {
        Duration::from_secs(12)
    } else {
        deadtime * 2
    }
}

fn timers(raw: &RawTimers) -> Result<Timers, ConfigError> {
    let s = "[timers]";
    let keepalive = span(s, "keepalive", raw.keepalive.as_ref())?.unwrap_or(Duration::from_secs(1));
    let deadtime = span(s, "deadtime", raw.deadtime.as_ref())?.unwrap_or(Duration::from_secs(30));
    let warntime = span(s, "warntime", raw.warntime.as_ref())?.unwrap_or(deadtime / 2);
    let initdead =
        span(s, "initdead", raw.initdead.as_ref())?.unwrap_or_else(|| default_initdead(deadtime));
    let t = Timers {
        keepalive,
        warntime,
        deadtime,
        initdead,
    };
    t.validate()?;
    Ok(t)
}

/// Flatten a TOML table of parameters to strings (booleans as 1/0, as agents take them).
fn params(
    section: &str,
    key: &str,
    table: &toml::Table,
) -> Result<BTreeMap<String, String>, ConfigError> {
    table
        .iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => if *b { "1" } else { "0" }.to_string(),
                _ => {
                    return Err(bad(
                        section,
                        key,
                        format!("{k}: only strings, numbers and booleans"),
                    ))
                }
            };
            if text.contains('\n') {
                return Err(bad(section, key, format!("{k}: value contains a newline")));
            }
            Ok((k.clone(), text))
        })
        .collect()
}

fn node_entry(raw: &RawNode) -> Result<NodeEntry, ConfigError> {
    let section = format!("[[node]] {}", raw.name);
    if raw.name.is_empty() || raw.name.contains(char::is_whitespace) {
        return Err(bad(&section, "name", "must be a non-empty word"));
    }
    if raw.id == 0 {
        return Err(bad(&section, "id", "node ids start at 1"));
    }
    if raw.addresses.is_empty() || raw.addresses.len() > 2 {
        return Err(bad(
            &section,
            "addresses",
            "one address per ring, one or two rings",
        ));
    }
    let addresses = raw
        .addresses
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .map_err(|_| bad(&section, "addresses", format!("'{a}' is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let fence = match &raw.fence_agent {
        Some(agent) if agent.is_empty() => return Err(bad(&section, "fence-agent", "empty")),
        Some(agent) => Some(FenceDevice {
            agent: agent.clone(),
            params: params(&section, "fence-params", &raw.fence_params)?,
        }),
        None if !raw.fence_params.is_empty() => {
            return Err(bad(&section, "fence-params", "given without fence-agent"))
        }
        None => None,
    };
    Ok(NodeEntry {
        id: raw.id,
        name: raw.name.clone(),
        addresses,
        votes: raw.votes.unwrap_or(1),
        fence,
    })
}

fn tie_breaker(
    value: Option<&toml::Value>,
    ids: &BTreeMap<String, NodeId>,
) -> Result<TieBreaker, ConfigError> {
    let s = "[quorum]";
    let key = "auto-tie-breaker";
    Ok(match value {
        None => TieBreaker::None,
        Some(toml::Value::String(word)) => match word.as_str() {
            "none" => TieBreaker::None,
            "lowest" => TieBreaker::Lowest,
            "highest" => TieBreaker::Highest,
            other => {
                return Err(bad(
                    s,
                    key,
                    format!("'{other}': expected none, lowest, highest or a list of nodes"),
                ))
            }
        },
        Some(toml::Value::Array(list)) => TieBreaker::List(
            list.iter()
                .map(|v| {
                    v.as_str()
                        .and_then(|n| ids.get(n).copied())
                        .ok_or_else(|| bad(s, key, format!("{v} is not a configured node")))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(other) => return Err(bad(s, key, format!("{other}: expected a word or a list"))),
    })
}

fn fencing(raw: &RawFencing) -> Result<FencingConfig, ConfigError> {
    let s = "[fencing]";
    let action = match raw.action.as_deref() {
        None => FenceAction::Reboot,
        Some(word) => match FenceAction::parse(word) {
            Some(FenceAction::On) | None => {
                return Err(bad(
                    s,
                    "action",
                    format!("'{word}': expected off or reboot"),
                ))
            }
            Some(a) => a,
        },
    };
    let self_fence = match raw.self_fence.as_deref() {
        None | Some("kernel") => SelfFenceMode::Kernel,
        Some(text) => match text.strip_prefix("record:") {
            Some(path) if !path.is_empty() => SelfFenceMode::Record(PathBuf::from(path)),
            _ => {
                return Err(bad(
                    s,
                    "self-fence",
                    format!("'{text}': expected kernel or record:PATH"),
                ))
            }
        },
    };
    Ok(FencingConfig {
        enabled: raw.enabled.unwrap_or(true),
        action,
        timeout: span(s, "timeout", raw.timeout.as_ref())?.unwrap_or(Duration::from_secs(60)),
        retry: span(s, "retry", raw.retry.as_ref())?.unwrap_or(Duration::from_secs(5)),
        race_delay: span(s, "race-delay", raw.race_delay.as_ref())?
            .unwrap_or(Duration::from_secs(5)),
        startup_fencing: raw.startup_fencing.unwrap_or(true),
        via: match &raw.fencer_socket {
            Some(path) => FenceVia::Api(path.clone()),
            None => FenceVia::Direct,
        },
        self_fence,
        agent_dirs: raw
            .agent_dirs
            .clone()
            .unwrap_or_else(|| vec![PathBuf::from("/usr/sbin")]),
    })
}

fn resource_entry(
    raw: &RawResource,
    ids: &BTreeMap<String, NodeId>,
    all: &[NodeId],
) -> Result<ResourceEntry, ConfigError> {
    let section = format!("[[resource]] {}", raw.name);
    if raw.name.is_empty()
        || raw.name.len() > 64
        || !raw
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(bad(
            &section,
            "name",
            "1-64 characters of A-Z a-z 0-9 - _ .",
        ));
    }
    let parts: Vec<&str> = raw.agent.split(':').collect();
    let (provider, kind) = match parts.as_slice() {
        ["ocf", provider, kind] if !provider.is_empty() && !kind.is_empty() => (*provider, *kind),
        [class, ..] if *class != "ocf" => {
            return Err(bad(
                &section,
                "agent",
                format!("class '{class}' is not supported yet (only ocf:PROVIDER:TYPE)"),
            ))
        }
        _ => {
            return Err(bad(
                &section,
                "agent",
                format!("'{}': expected ocf:PROVIDER:TYPE", raw.agent),
            ))
        }
    };
    if [provider, kind]
        .iter()
        .any(|p| p.contains('/') || p.starts_with('.'))
    {
        return Err(bad(
            &section,
            "agent",
            "provider and type may not contain '/' or start with '.'",
        ));
    }
    let allowed = match &raw.allowed {
        None => all.to_vec(),
        Some(names) => names
            .iter()
            .map(|n| {
                ids.get(n).copied().ok_or_else(|| {
                    bad(
                        &section,
                        "allowed",
                        format!("'{n}' is not a configured node"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if allowed.is_empty() {
        return Err(bad(&section, "allowed", "no node may run it"));
    }
    let monitor_interval = span(&section, "monitor-interval", raw.monitor_interval.as_ref())?
        .unwrap_or(Duration::from_secs(10));
    let op_timeout =
        span(&section, "op-timeout", raw.op_timeout.as_ref())?.unwrap_or(Duration::from_secs(20));
    if op_timeout.is_zero() {
        return Err(bad(&section, "op-timeout", "must be above zero"));
    }
    Ok(ResourceEntry {
        name: raw.name.clone(),
        provider: provider.to_string(),
        kind: kind.to_string(),
        params: params(&section, "params", &raw.params)?,
        allowed,
        priority: raw.priority,
        monitor_interval,
        op_timeout,
        max_failures: raw.max_failures.unwrap_or(3),
    })
}

/// Parse and validate; `local` (from `--node`) overrides `[cluster] node`. The key file
/// is read by `read_key` (the caller's I/O), so this stays testable.
pub fn parse(
    text: &str,
    local: Option<&str>,
    read_key: impl FnOnce(&std::path::Path) -> Result<Vec<u8>, String>,
) -> Result<NodeConfig, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
    let nodes = raw
        .node
        .iter()
        .map(node_entry)
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Err(bad("[[node]]", "", "no nodes configured"));
    }
    let mut ids = BTreeMap::new();
    let mut seen_ids = BTreeSet::new();
    for n in &nodes {
        if ids.insert(n.name.clone(), n.id).is_some() {
            return Err(bad(
                format!("[[node]] {}", n.name),
                "name",
                "configured twice",
            ));
        }
        if !seen_ids.insert(n.id) {
            return Err(bad(
                format!("[[node]] {}", n.name),
                "id",
                format!("id {} used twice", n.id),
            ));
        }
        if n.addresses.len() != nodes[0].addresses.len() {
            return Err(bad(
                format!("[[node]] {}", n.name),
                "addresses",
                "every node needs one address per ring (same count)",
            ));
        }
    }
    let name = local
        .map(str::to_string)
        .or_else(|| raw.cluster.node.clone())
        .ok_or_else(|| {
            ConfigError::LocalNode("not named: set [cluster] node or pass --node NAME".into())
        })?;
    let me = *ids
        .get(&name)
        .ok_or_else(|| ConfigError::LocalNode(format!("'{name}' is not a configured [[node]]")))?;
    let key = read_key(&raw.cluster.key_file).map_err(|e| {
        bad(
            "[cluster]",
            "key-file",
            format!("{}: {e}", raw.cluster.key_file.display()),
        )
    })?;
    if key.len() < 16 {
        return Err(bad(
            "[cluster]",
            "key-file",
            format!(
                "{}: {} bytes, need at least 16",
                raw.cluster.key_file.display(),
                key.len()
            ),
        ));
    }
    let port = raw.cluster.port.unwrap_or(DEFAULT_PORT);
    if port == 0 {
        return Err(bad("[cluster]", "port", "must be above 0"));
    }
    let timers = timers(&raw.timers)?;
    let fencing = fencing(&raw.fencing)?;
    if fencing.enabled && fencing.via == FenceVia::Direct {
        if let Some(n) = nodes.iter().find(|n| n.fence.is_none()) {
            return Err(bad(
                format!("[[node]] {}", n.name),
                "fence-agent",
                "missing: with fencing enabled and no [fencing] fencer-socket, every node needs a fence device",
            ));
        }
    }
    let no_quorum_policy = match raw.quorum.no_quorum_policy.as_deref() {
        None => NoQuorumPolicy::Stop,
        Some(word) => NoQuorumPolicy::parse(word).ok_or_else(|| {
            bad(
                "[quorum]",
                "no-quorum-policy",
                format!("'{word}': expected stop, freeze, ignore, fence (suicide) or demote"),
            )
        })?,
    };
    if raw.quorum.expected_votes == Some(0) {
        return Err(bad("[quorum]", "expected-votes", "must be above 0"));
    }
    let quorum = QuorumConfig {
        votes: nodes.iter().map(|n| (n.id, n.votes)).collect(),
        expected_votes: raw.quorum.expected_votes,
        two_node: raw.quorum.two_node,
        wait_for_all: raw.quorum.wait_for_all,
        tie_breaker: tie_breaker(raw.quorum.auto_tie_breaker.as_ref(), &ids)?,
        no_quorum_policy,
    };
    if quorum.two_node && nodes.len() != 2 {
        return Err(bad(
            "[quorum]",
            "two-node",
            format!("set, but {} nodes are configured", nodes.len()),
        ));
    }
    let all: Vec<NodeId> = nodes.iter().map(|n| n.id).collect();
    let resources = raw
        .resource
        .iter()
        .map(|r| resource_entry(r, &ids, &all))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names = BTreeSet::new();
    for r in &resources {
        if !names.insert(r.name.clone()) {
            return Err(bad(
                format!("[[resource]] {}", r.name),
                "name",
                "configured twice",
            ));
        }
    }
    Ok(NodeConfig {
        cluster_id: raw.cluster.id,
        key,
        port,
        me,
        nodes,
        timers,
        quorum,
        fencing,
        resources,
        ocf_root: raw
            .cluster
            .ocf_root
            .unwrap_or_else(|| PathBuf::from(DEFAULT_OCF_ROOT)),
        timeline_file: raw.cluster.timeline,
    })
}

/// Read the file at `path` and parse it (the key file is read too).
pub fn load(path: &std::path::Path, local: Option<&str>) -> Result<NodeConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Toml(format!("cannot read {}: {e}", path.display())))?;
    parse(&text, local, |key| {
        std::fs::read(key).map_err(|e| e.to_string())
    })
    .map_err(|e| match e {
        ConfigError::Toml(msg) => ConfigError::Toml(format!("{}: {msg}", path.display())),
        other => other,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
