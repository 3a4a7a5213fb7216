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
//! lsb-dir = "/etc/init.d"          # lsb:NAME resources (default)
//! systemctl = "/bin/systemctl"     # systemd:UNIT; unset: /bin/systemctl, systemd must be PID 1
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
//! # fence-agent: a fence_* name or an absolute path; fence-params are the agent's stdin,
//! # except the fencer's pcmk_* keys (pcmk_host_argument, pcmk_host_map,
//! # pcmk_<action>_action), which steer how it is built. fence_sbd is a poison pill.
//!
//! [[resource]]
//! name = "web"
//! agent = "ocf:heartbeat:Dummy"    # or lsb:NAME (in [cluster] lsb-dir), systemd:UNIT
//! params = { state = "/run/web.state" }
//! allowed = ["node1", "node2"]     # preference order; default: every node
//! priority = 10
//! monitor-interval = "2s"
//! ```
//!
//! Multicast rings (`[[ring]]`), the ping and sbd-disk tie-breakers (`[quorum]
//! ping-targets`, `tie-breaker-disk`) and watchdog fencing (`[fencing] watchdog-timeout`)
//! are described in `config/tie_breakers.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use super::agent_class::ClassSettings;
use super::machine::fencing::Settings;
use crate::cluster::membership::{Timers, TimersError};
use crate::cluster::quorum::{NoQuorumPolicy, NodeId, QuorumConfig};
use crate::fencer::device::{DeviceError, DeviceSpec};
use crate::fencer::operation::FenceAction;
use crate::placement::config::AgentClass;

mod sections;

mod tie_breakers;

pub use tie_breakers::{
    DiskTieBreaker, Multicast, PingConfig, TieBreakers, WatchdogFencing, TIEBREAK_SLOT,
};

mod placement;

pub use placement::{containers, MAX_NAME, SHORTHAND_STICKINESS};

use sections::{classes, fencing, node_entry, resource_entry, tie_breaker, timers, RawConfig};

/// Default heartbeat port (heartbeat's `udpport` is 694; corosync uses 5405).
pub const DEFAULT_PORT: u16 = 5405;
/// Where OCF agents live (`OCF_ROOT`).
pub const DEFAULT_OCF_ROOT: &str = "/usr/lib/ocf";
/// Where the admin state file is kept.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/palisade";
/// The node daemon's control socket.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/palisade/node.sock";

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
    /// The resource model (placement sections and `[[resource]]`s).
    #[error("{0}")]
    Placement(crate::placement::ConfigError),
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
    /// Node attributes location rules test (`attributes = { rack = "a" }`).
    pub attributes: BTreeMap<String, String>,
}

/// A node's fence device for direct fencing: the fencer's device model (so the agent's
/// stdin is built exactly as the fencer builds it) and the kind of fencing it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDevice {
    /// `fence-agent` and `fence-params` as a fencer device (`pcmk_*` keys steer it).
    pub spec: DeviceSpec,
    /// Decided with the configuration.
    pub kind: DeviceKind,
}

/// What a successful run of a device's agent means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKind {
    /// Power fencing: the agent exits 0 only after seeing the power change.
    Power,
    /// A poison pill written to shared sbd devices (`fence_sbd`): the fence is confirmed
    /// only once the devices' msgwait has passed since the request.
    PoisonPill {
        /// The sbd devices (comma list, fence_sbd's `devices`).
        devices: String,
    },
}

impl FenceDevice {
    /// The device of node `node` from its `fence-agent` and `fence-params`. The node's
    /// rule for the plug line is kept: a device that names its own `port` or `plug` gets
    /// no extra one (an explicit `pcmk_host_argument` wins).
    pub fn new(
        node: NodeId,
        agent: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<FenceDevice, DeviceError> {
        let mut raw = params.clone();
        if raw.contains_key("plug")
            && !raw.contains_key("port")
            && !raw.contains_key("pcmk_host_argument")
        {
            raw.insert("pcmk_host_argument".into(), "plug".into());
        }
        let spec = DeviceSpec::new(&format!("node{node}-fence"), agent, &raw, 0)?;
        let kind = if crate::fencer::device::is_poison_pill_agent(agent) {
            DeviceKind::PoisonPill {
                devices: spec.params.get("devices").cloned().unwrap_or_default(),
            }
        } else {
            DeviceKind::Power
        };
        Ok(FenceDevice { spec, kind })
    }
}

/// One resource: an OCF agent, an LSB init script or a systemd unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEntry {
    pub name: String,
    pub class: AgentClass,
    /// The OCF provider (empty for LSB and systemd).
    pub provider: String,
    /// The OCF type, the init script's name, or the systemd unit.
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
    /// Each operation's timeout and the recurring monitors by role.
    pub ops: super::operations::Operations,
    /// The clone it is the child of (instance number set per local instance).
    pub clone: Option<super::operations::CloneOf>,
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
    /// Watchdog fencing of nodes without a fence device (`watchdog-timeout`).
    pub watchdog: Option<WatchdogFencing>,
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
    /// `lsb-dir` and `systemctl`.
    pub classes: ClassSettings,
    /// Extra copy of the timeline (appended), besides stdout.
    pub timeline_file: Option<PathBuf>,
    /// The timeline's events appended as JSON lines (`[cluster] events`).
    pub events_file: Option<PathBuf>,
    /// Where to report "quorate and healthy" to the sbd daemon, every keepalive.
    pub sbd_health_file: Option<PathBuf>,
    /// Per ring: its multicast group, or `None` for unicast to every peer.
    pub multicast: Vec<Option<Multicast>>,
    /// Ping targets and the sbd disk, asked when a partition holds exactly half.
    pub tie_breakers: TieBreakers,
    /// The resource model: every primitive (`[[resource]]`s included), group, clone and
    /// constraint, as the scheduler reads it.
    pub placement: crate::placement::Config,
    /// Where the admin state file is kept (`[cluster] state-dir`).
    pub state_dir: PathBuf,
    /// The control socket of `palisade status` and friends (`[cluster] control-socket`).
    pub control_socket: PathBuf,
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

    /// The fencing settings of the node machine.
    pub fn settings(&self) -> Settings {
        Settings {
            fencing_enabled: self.fencing.enabled,
            // Two halves can both be quorate only with two-node, or when both reach the
            // ping targets; otherwise there is no race and nobody need wait.
            race_delay: if self.quorum.two_node_active() || self.tie_breakers.ping.is_some() {
                self.fencing.race_delay
            } else {
                std::time::Duration::ZERO
            },
            fence_retry: self.fencing.retry,
            startup_fencing: self.fencing.startup_fencing,
        }
    }

    /// Every primitive's priority: its weight in a two-node fence race (where it runs
    /// is the scheduler's decision, [`crate::placement`]).
    pub fn priorities(&self) -> BTreeMap<String, u32> {
        self.resources
            .iter()
            .map(|r| (r.name.clone(), r.priority))
            .collect()
    }
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

/// Parse and validate; `local` (from `--node`) overrides `[cluster] node`. The key file
/// is read by `read_key` (the caller's I/O), so this stays testable.
pub fn parse(
    text: &str,
    local: Option<&str>,
    read_key: impl FnOnce(&std::path::Path) -> Result<Vec<u8>, String>,
) -> Result<NodeConfig, ConfigError> {
    let (node_table, mut placement) = placement::split(text)?;
    let raw: RawConfig = toml::Value::Table(node_table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
    let nodes = raw
        .node
        .iter()
        .map(node_entry)
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Err(ConfigError::Toml("no [[node]] configured".into()));
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
    let mut fencing = fencing(&raw.fencing)?;
    fencing.watchdog = tie_breakers::watchdog(
        &raw.fencing,
        raw.cluster.sbd_health_file.is_some(),
        raw.quorum.two_node,
    )?;
    if let Some(w) = fencing
        .watchdog
        .as_ref()
        .filter(|w| fencing.timeout <= w.timeout)
    {
        return Err(bad(
            "[fencing]",
            "timeout",
            format!(
                "{}ms is not above watchdog-timeout {}ms: a watchdog fence is confirmed only after watchdog-timeout",
                fencing.timeout.as_millis(),
                w.timeout.as_millis()
            ),
        ));
    }
    if fencing.enabled && fencing.via == FenceVia::Direct && fencing.watchdog.is_none() {
        if let Some(n) = nodes.iter().find(|n| n.fence.is_none()) {
            return Err(bad(
                format!("[[node]] {}", n.name),
                "fence-agent",
                "missing: with fencing enabled and no [fencing] fencer-socket or watchdog-timeout, every node needs a fence device",
            ));
        }
    }
    if let Some(n) = nodes
        .iter()
        .find(|n| n.name.eq_ignore_ascii_case(TIEBREAK_SLOT))
    {
        return Err(bad(
            format!("[[node]] {}", n.name),
            "name",
            "reserved for the tie-breaker's sbd slot",
        ));
    }
    let multicast = tie_breakers::rings(&raw.ring, &nodes, port)?;
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
    let tie_breakers = tie_breakers::tie_breakers(
        &raw.quorum,
        &timers,
        quorum.tie_breaker != crate::cluster::quorum::TieBreaker::None,
        fencing.watchdog,
    )?;
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
    placement::add_shorthand(&mut placement, &resources, &nodes)?;
    let placement = placement::model(placement, &nodes, fencing.enabled)?;
    let resources = placement::entries(&placement, &nodes);
    let class_settings = classes(&raw.cluster)?;
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
        classes: class_settings,
        timeline_file: raw.cluster.timeline,
        events_file: raw.cluster.events,
        sbd_health_file: raw.cluster.sbd_health_file,
        multicast,
        tie_breakers,
        placement,
        state_dir: raw
            .cluster
            .state_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        control_socket: raw
            .cluster
            .control_socket
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET)),
    })
}

/// Read the file at `path` and parse it (the key file is read too).
pub fn load(path: &std::path::Path, local: Option<&str>) -> Result<NodeConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Toml(format!("cannot read {}: {e}", path.display())))?;
    let cfg = parse(&text, local, |key| {
        std::fs::read(key).map_err(|e| e.to_string())
    })
    .map_err(|e| match e {
        ConfigError::Toml(msg) => ConfigError::Toml(format!("{}: {msg}", path.display())),
        other => other,
    })?;
    check_msgwait(&cfg)?;
    if let Some(disk) = &cfg.tie_breakers.disk {
        if let Err(e) = std::fs::metadata(&disk.path) {
            return Err(bad(
                "[quorum]",
                "tie-breaker-disk",
                format!("{}: {e}", disk.path.display()),
            ));
        }
    }
    Ok(cfg)
}

/// `[fencing] timeout` must be above the msgwait of every readable sbd device a node is
/// fenced with ([`DeviceKind::PoisonPill`]): a poison pill is confirmed only after msgwait.
/// Devices that cannot be read now are left to the fence itself.
fn check_msgwait(cfg: &NodeConfig) -> Result<(), ConfigError> {
    if cfg.fencing.via != FenceVia::Direct {
        return Ok(());
    }
    for n in &cfg.nodes {
        let Some(DeviceKind::PoisonPill { devices }) = n.fence.as_ref().map(|f| &f.kind) else {
            continue;
        };
        if let Ok(msgwait) = super::fencing::sbd_msgwait(devices) {
            if cfg.fencing.timeout <= msgwait {
                return Err(bad(
                    "[fencing]",
                    "timeout",
                    format!(
                        "{}ms is not above the msgwait {}ms of {}'s sbd devices ({devices}): a poison pill is confirmed only after msgwait",
                        cfg.fencing.timeout.as_millis(),
                        msgwait.as_millis(),
                        n.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
