//! The fencer's TOML configuration: cluster fencing options (pacemaker names, the
//! pacemaker 3 `fencing-*` spelling and the older `stonith-*` one both accepted, `_` or
//! `-`), daemon settings, devices, topology levels and node attributes. Parsing is pure:
//! text in, a validated [`FencerConfig`] (plus warnings) or a [`ConfigError`] out.
//!
//! ```toml
//! [fencing]
//! fencing-timeout = "60s"          # or stonith-timeout
//! fencing-action = "reboot"        # or stonith-action
//! fencing-max-delay = "300s"       # longest delay a request or device may ask for
//! fencing-max-timeout = "1h"       # longest budget a request may ask for
//!
//! [daemon]
//! socket = "/run/palisade/fencer.sock"
//! history = "/var/lib/palisade/fence-history.jsonl"
//! allowed-group = "haclient"
//! api-idle-timeout = "30s"         # idle API connections (nothing in flight) are closed
//! api-connections-per-uid = 64     # more from one user are refused
//! health-check-concurrency = 2     # device monitors (pcmk_monitor_interval) at once
//!
//! [[device]]
//! name = "ipmi-node1"
//! agent = "fence_ipmilan"
//! params = { ip = "10.0.0.11", username = "admin", pcmk_host_list = "node1" }
//!
//! [[level]]
//! index = 1
//! target = "node1"                 # or target-pattern, or target-attribute + target-value
//! devices = ["ipmi-node1"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::device::{DeviceError, DeviceSpec};
use super::duration::{format_duration, parse_duration};
use super::operation::FenceAction;
use super::topology::{NodeAttributes, TargetSelector, Topology, TopologyError};

/// Default `fencing-max-delay`: far above any sensible `pcmk_delay_max` or
/// `priority-fencing-delay` (seconds to a minute), short enough that no request can hold
/// fencing back for long.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(300);
/// Default `fencing-max-timeout`.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default API socket.
pub const DEFAULT_SOCKET: &str = "/run/palisade/fencer.sock";
/// Default history journal.
pub const DEFAULT_HISTORY: &str = "/var/lib/palisade/fence-history.jsonl";

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not TOML, or a field of the wrong type / unknown field.
    #[error("{0}")]
    Toml(String),
    /// A `[fencing]` option that is unknown or has a bad value.
    #[error("[fencing] {name}: {reason}")]
    Option {
        /// Option name as written.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A `[daemon]` setting with a bad value.
    #[error("[daemon] {name}: {reason}")]
    Daemon {
        /// Setting name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A device definition is invalid.
    #[error("{0}")]
    Device(#[from] DeviceError),
    /// A delay or timeout beyond `fencing-max-delay` / `fencing-max-timeout`.
    #[error("[fencing] {0}")]
    Limit(#[from] LimitError),
    /// A device parameter value that is not a string, number or boolean.
    #[error("device {device}: parameter {param} must be a string, number or boolean")]
    ParamType {
        /// Device name.
        device: String,
        /// Parameter name.
        param: String,
    },
    /// Two devices with one name.
    #[error("device {0} is defined twice")]
    DuplicateDevice(String),
    /// A level naming a device that is not defined.
    #[error("line {line}: level {index} for {target} uses device {device}, which is not defined")]
    UnknownLevelDevice {
        /// Line of the level's `devices`.
        line: usize,
        /// The level's index.
        index: u32,
        /// The level's target selector.
        target: String,
        /// The missing device.
        device: String,
    },
    /// A level without exactly one target selector.
    #[error("level {index}: give exactly one of target, target-pattern, target-attribute (+ target-value)")]
    LevelTarget {
        /// The level's index.
        index: u32,
    },
    /// A level that the topology refuses.
    #[error("{0}")]
    Topology(#[from] TopologyError),
}

/// Cluster-wide fencing options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencingOptions {
    /// `fencing-enabled` (`stonith-enabled`); informational for manual requests.
    pub enabled: bool,
    /// `fencing-timeout` (`stonith-timeout`): default budget of one operation.
    pub timeout: Duration,
    /// `fencing-action` (`stonith-action`): what "fence" means when no action is given.
    pub action: FenceAction,
    /// `fencing-max-attempts` (`stonith-max-attempts`).
    pub max_attempts: u32,
    /// `priority-fencing-delay`: offered to callers; applied per request.
    pub priority_fencing_delay: Duration,
    /// `concurrent-fencing`: false = one operation at a time.
    pub concurrent: bool,
    /// `fencing-max-delay`: the longest delay a request or a device may ask for
    /// (`delay_ms`, `pcmk_delay_base`, `pcmk_delay_max`): longer ones are refused, so no
    /// request can hold a target's fencing back for longer.
    pub max_delay: Duration,
    /// `fencing-max-timeout`: the longest budget a request may ask for.
    pub max_timeout: Duration,
}

/// A request or device that asks for more than the limits allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A delay above `fencing-max-delay`.
    #[error("{what} {} exceeds fencing-max-delay {}", format_duration(*.asked), format_duration(*.limit))]
    Delay {
        /// Where the delay comes from (`delay`, `device d pcmk_delay_max`...).
        what: String,
        /// The delay asked for.
        asked: Duration,
        /// The limit.
        limit: Duration,
    },
    /// A timeout above `fencing-max-timeout`, or zero.
    #[error("timeout {} is not within 1ms..fencing-max-timeout {}", format_duration(*.asked), format_duration(*.limit))]
    Timeout {
        /// The timeout asked for.
        asked: Duration,
        /// The limit.
        limit: Duration,
    },
}

impl FencingOptions {
    /// Whether a request's own timeout and delay are within the limits.
    pub fn check_request(
        &self,
        timeout: Option<Duration>,
        delay: Duration,
    ) -> Result<(), LimitError> {
        if let Some(asked) = timeout {
            if asked.is_zero() || asked > self.max_timeout {
                return Err(LimitError::Timeout {
                    asked,
                    limit: self.max_timeout,
                });
            }
        }
        if delay > self.max_delay {
            return Err(LimitError::Delay {
                what: "delay".into(),
                asked: delay,
                limit: self.max_delay,
            });
        }
        Ok(())
    }

    /// Whether a device's delays (`pcmk_delay_base`, `pcmk_delay_max`) are within
    /// `fencing-max-delay`.
    pub fn check_device(&self, device: &DeviceSpec) -> Result<(), LimitError> {
        let asked = device.longest_delay();
        if asked > self.max_delay {
            return Err(LimitError::Delay {
                what: format!("device {}: pcmk_delay_base/pcmk_delay_max", device.name),
                asked,
                limit: self.max_delay,
            });
        }
        Ok(())
    }
}

impl Default for FencingOptions {
    fn default() -> Self {
        FencingOptions {
            enabled: true,
            timeout: Duration::from_secs(60),
            action: FenceAction::Reboot,
            max_attempts: 10,
            priority_fencing_delay: Duration::ZERO,
            concurrent: true,
            max_delay: DEFAULT_MAX_DELAY,
            max_timeout: DEFAULT_MAX_TIMEOUT,
        }
    }
}

/// Where and how the daemon runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    /// The API socket path.
    pub socket: PathBuf,
    /// Permission bits of the socket file.
    pub socket_mode: u32,
    /// Members of this group may use the API (root always may).
    pub allowed_group: Option<String>,
    /// The history journal.
    pub history: PathBuf,
    /// Optional loopback HTTP listener serving `/metrics`.
    pub metrics_listen: Option<SocketAddr>,
    /// This node's name (self-fencing guard); `None` = the host name.
    pub node_name: Option<String>,
    /// Allow fencing this node itself.
    pub allow_self_fence: bool,
    /// Where `fence_*` agent names are looked up.
    pub agent_dirs: Vec<PathBuf>,
    /// `api-idle-timeout`: an API connection with nothing in flight (no request being
    /// answered, no subscription) that sends nothing for this long is closed.
    pub api_idle_timeout: Duration,
    /// `api-connections-per-uid`: most API connections one user may hold at once; more
    /// are answered with an error and closed.
    pub api_connections_per_uid: usize,
    /// `health-check-concurrency`: device `monitor` checks running at once.
    pub health_check_concurrency: usize,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            socket: PathBuf::from(DEFAULT_SOCKET),
            socket_mode: 0o660,
            allowed_group: None,
            history: PathBuf::from(DEFAULT_HISTORY),
            metrics_listen: None,
            node_name: None,
            allow_self_fence: false,
            api_idle_timeout: Duration::from_secs(30),
            api_connections_per_uid: 64,
            health_check_concurrency: super::health::DEFAULT_CONCURRENCY,
            agent_dirs: vec![PathBuf::from("/usr/sbin")],
        }
    }
}

/// One level as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct LevelSpec {
    /// Which targets.
    pub selector: TargetSelector,
    /// 1..=9.
    pub index: u32,
    /// Devices that must all succeed.
    pub devices: Vec<String>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct FencerConfig {
    /// `[fencing]`.
    pub options: FencingOptions,
    /// `[daemon]`.
    pub daemon: DaemonSettings,
    /// `[[device]]`, in file order.
    pub devices: Vec<DeviceSpec>,
    /// `[[level]]`, in file order.
    pub levels: Vec<LevelSpec>,
    /// `[[node]]` attributes.
    pub nodes: NodeAttributes,
    /// Things accepted but worth telling the admin.
    pub warnings: Vec<String>,
}

impl FencerConfig {
    /// The topology built from the levels.
    pub fn topology(&self) -> Result<Topology, TopologyError> {
        let mut topology = Topology::default();
        for level in &self.levels {
            topology.add_level(level.selector.clone(), level.index, level.devices.clone())?;
        }
        Ok(topology)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    fencing: toml::Table,
    #[serde(default)]
    daemon: RawDaemon,
    #[serde(default, rename = "device")]
    devices: Vec<RawDevice>,
    #[serde(default, rename = "level")]
    levels: Vec<RawLevel>,
    /// Pacemaker's name for a level, accepted beside `level`.
    #[serde(default, rename = "fencing-level")]
    fencing_levels: Vec<RawLevel>,
    #[serde(default, rename = "node")]
    nodes: Vec<RawNode>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDaemon {
    socket: Option<PathBuf>,
    socket_mode: Option<String>,
    allowed_group: Option<String>,
    history: Option<PathBuf>,
    metrics_listen: Option<String>,
    node_name: Option<String>,
    allow_self_fence: Option<bool>,
    agent_dirs: Option<Vec<PathBuf>>,
    api_idle_timeout: Option<String>,
    api_connections_per_uid: Option<usize>,
    health_check_concurrency: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    name: String,
    agent: String,
    #[serde(default)]
    priority: i32,
    #[serde(default)]
    params: toml::Table,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DeviceList {
    Text(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLevel {
    index: u32,
    target: Option<String>,
    target_pattern: Option<String>,
    target_attribute: Option<String>,
    target_value: Option<String>,
    devices: toml::Spanned<DeviceList>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

/// Parse and validate a configuration file's text.
pub fn parse_config(text: &str) -> Result<FencerConfig, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
    let mut warnings = Vec::new();
    let options = parse_options(&raw.fencing, &mut warnings)?;
    let daemon = parse_daemon(raw.daemon)?;

    if options.timeout > options.max_timeout {
        return Err(ConfigError::Limit(LimitError::Timeout {
            asked: options.timeout,
            limit: options.max_timeout,
        }));
    }
    if options.priority_fencing_delay > options.max_delay {
        return Err(ConfigError::Limit(LimitError::Delay {
            what: "priority-fencing-delay".into(),
            asked: options.priority_fencing_delay,
            limit: options.max_delay,
        }));
    }
    let mut devices = Vec::new();
    let mut names = BTreeSet::new();
    for d in raw.devices {
        let params = table_to_params(&d.name, &d.params)?;
        let spec = DeviceSpec::new(&d.name, &d.agent, &params, d.priority)?;
        options.check_device(&spec)?;
        if !names.insert(spec.name.clone()) {
            return Err(ConfigError::DuplicateDevice(spec.name));
        }
        for key in &spec.unknown_pcmk {
            warnings.push(format!(
                "device {}: unknown parameter {key} ignored",
                spec.name
            ));
        }
        devices.push(spec);
    }

    let mut levels = Vec::new();
    let mut level_lines = Vec::new();
    for l in raw.levels.into_iter().chain(raw.fencing_levels) {
        let selector = match (
            l.target,
            l.target_pattern,
            l.target_attribute,
            l.target_value,
        ) {
            (Some(t), None, None, None) => TargetSelector::Name(t),
            (None, Some(p), None, None) => TargetSelector::Pattern(p),
            (None, None, Some(name), Some(value)) => TargetSelector::Attribute { name, value },
            _ => return Err(ConfigError::LevelTarget { index: l.index }),
        };
        let line = line_of(text, l.devices.span().start);
        let devices = match l.devices.into_inner() {
            DeviceList::Text(t) => vec![t],
            DeviceList::List(v) => v,
        };
        level_lines.push(line);
        levels.push(LevelSpec {
            selector,
            index: l.index,
            devices,
        });
    }

    let nodes = raw
        .nodes
        .into_iter()
        .map(|n| (n.name, n.attributes))
        .collect();
    let config = FencerConfig {
        options,
        daemon,
        devices,
        levels,
        nodes,
        warnings,
    };
    config.topology()?;
    // A level naming a device that does not exist can never succeed: refused, with the
    // line, rather than found out during a fence.
    for (level, line) in config.levels.iter().zip(level_lines) {
        let missing = level
            .devices
            .iter()
            .flat_map(|d| d.split(','))
            .map(str::trim)
            .find(|d| !d.is_empty() && !names.contains(*d));
        if let Some(device) = missing {
            return Err(ConfigError::UnknownLevelDevice {
                line,
                index: level.index,
                target: level.selector.to_string(),
                device: device.to_string(),
            });
        }
    }
    Ok(config)
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |t| t.matches('\n').count()) + 1
}

/// An agent parameter as agents take it: strings as they are, numbers as written,
/// booleans as 1/0; `None` for arrays, tables and dates.
pub fn param_text(value: &toml::Value) -> Option<String> {
    Some(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => if *b { "1" } else { "0" }.to_string(),
        _ => return None,
    })
}

fn table_to_params(
    device: &str,
    table: &toml::Table,
) -> Result<BTreeMap<String, String>, ConfigError> {
    table
        .iter()
        .map(|(k, v)| {
            let text = param_text(v).ok_or_else(|| ConfigError::ParamType {
                device: device.to_string(),
                param: k.clone(),
            })?;
            Ok((k.clone(), text))
        })
        .collect()
}

/// The canonical (pacemaker 3) name of a `[fencing]` option, given any accepted spelling.
pub fn canonical_option(name: &str) -> Option<&'static str> {
    let name = name.trim().to_ascii_lowercase().replace('_', "-");
    Some(match name.as_str() {
        "fencing-enabled" | "stonith-enabled" => "fencing-enabled",
        "fencing-timeout" | "stonith-timeout" => "fencing-timeout",
        "fencing-action" | "stonith-action" => "fencing-action",
        "fencing-max-attempts" | "stonith-max-attempts" => "fencing-max-attempts",
        "priority-fencing-delay" => "priority-fencing-delay",
        "concurrent-fencing" => "concurrent-fencing",
        "fencing-max-delay" => "fencing-max-delay",
        "fencing-max-timeout" => "fencing-max-timeout",
        _ => return None,
    })
}

fn parse_options(
    table: &toml::Table,
    warnings: &mut Vec<String>,
) -> Result<FencingOptions, ConfigError> {
    let mut options = FencingOptions::default();
    let mut seen: BTreeMap<&'static str, String> = BTreeMap::new();
    // New names win over old ones whatever the order in the file.
    let mut entries: Vec<(&String, &toml::Value)> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.to_ascii_lowercase().starts_with("fencing"));
    for (name, value) in entries {
        let bad = |reason: &str| ConfigError::Option {
            name: name.clone(),
            reason: reason.to_string(),
        };
        let canonical = canonical_option(name).ok_or_else(|| bad("unknown option"))?;
        if let Some(previous) = seen.insert(canonical, name.clone()) {
            warnings.push(format!(
                "[fencing] {name} and {previous} both set {canonical}; {name} wins"
            ));
        }
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => return Err(bad("must be a string, number or boolean")),
        };
        let boolean = || match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(bad("must be true or false")),
        };
        let span = || parse_duration(&text).map_err(|e| bad(&e.to_string()));
        match canonical {
            "fencing-enabled" => options.enabled = boolean()?,
            "fencing-timeout" => options.timeout = span()?,
            "fencing-action" => {
                options.action = FenceAction::parse(&text)
                    .filter(|a| a.is_fencing())
                    .ok_or_else(|| bad("must be reboot or off"))?
            }
            "fencing-max-attempts" => {
                options.max_attempts = text
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| bad("must be a positive number"))?
            }
            "priority-fencing-delay" => options.priority_fencing_delay = span()?,
            "fencing-max-delay" => options.max_delay = span()?,
            "fencing-max-timeout" => {
                options.max_timeout = span()?;
                if options.max_timeout.is_zero() {
                    return Err(bad("must be longer than 0"));
                }
            }
            _ => options.concurrent = boolean()?,
        }
    }
    Ok(options)
}

fn parse_daemon(raw: RawDaemon) -> Result<DaemonSettings, ConfigError> {
    let mut d = DaemonSettings::default();
    let bad = |name: &str, reason: String| ConfigError::Daemon {
        name: name.to_string(),
        reason,
    };
    if let Some(s) = raw.socket {
        d.socket = s;
    }
    if let Some(mode) = raw.socket_mode {
        d.socket_mode = u32::from_str_radix(mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| bad("socket-mode", format!("'{mode}' is not octal like 0660")))?;
    }
    d.allowed_group = raw.allowed_group;
    if let Some(h) = raw.history {
        d.history = h;
    }
    if let Some(addr) = raw.metrics_listen {
        let parsed: SocketAddr = addr
            .parse()
            .map_err(|_| bad("metrics-listen", format!("'{addr}' is not ip:port")))?;
        if !parsed.ip().is_loopback() {
            return Err(bad(
                "metrics-listen",
                format!("{addr} is not a loopback address"),
            ));
        }
        d.metrics_listen = Some(parsed);
    }
    d.node_name = raw.node_name;
    d.allow_self_fence = raw.allow_self_fence.unwrap_or(false);
    if let Some(text) = raw.api_idle_timeout {
        d.api_idle_timeout = parse_duration(&text)
            .ok()
            .filter(|t| !t.is_zero())
            .ok_or_else(|| {
                bad(
                    "api-idle-timeout",
                    format!("'{text}' is not a time span above 0"),
                )
            })?;
    }
    if let Some(n) = raw.api_connections_per_uid {
        if n == 0 {
            return Err(bad("api-connections-per-uid", "must be at least 1".into()));
        }
        d.api_connections_per_uid = n;
    }
    if let Some(dirs) = raw.agent_dirs {
        d.agent_dirs = dirs;
    }
    if let Some(n) = raw.health_check_concurrency {
        if n == 0 {
            return Err(bad("health-check-concurrency", "must be at least 1".into()));
        }
        d.health_check_concurrency = n;
    }
    Ok(d)
}

#[cfg(test)]
mod tests;
