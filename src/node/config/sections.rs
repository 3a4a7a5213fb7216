//! The configuration file as written (serde structs, kebab-case keys) and the checks of
//! each section; [`super::parse`] assembles the validated [`super::NodeConfig`].

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{
    bad, default_initdead, ConfigError, FenceDevice, FenceVia, FencingConfig, NodeEntry,
    ResourceEntry, SelfFenceMode,
};
use super::{AgentClass, ClassSettings};
use crate::cluster::membership::Timers;
use crate::cluster::quorum::{NodeId, TieBreaker};
use crate::fencer::device::DeviceError;
use crate::fencer::duration::parse_duration;
use crate::fencer::operation::FenceAction;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawConfig {
    pub(super) cluster: RawCluster,
    #[serde(default)]
    pub(super) timers: RawTimers,
    #[serde(default)]
    pub(super) quorum: RawQuorum,
    #[serde(default)]
    pub(super) fencing: RawFencing,
    #[serde(default)]
    pub(super) node: Vec<RawNode>,
    #[serde(default)]
    pub(super) resource: Vec<RawResource>,
    /// Per-ring transport (multicast); see `config/tie_breakers.rs`.
    #[serde(default)]
    pub(super) ring: Vec<super::tie_breakers::RawRing>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawCluster {
    pub(super) id: u32,
    pub(super) key_file: PathBuf,
    #[serde(default)]
    pub(super) port: Option<u16>,
    #[serde(default)]
    pub(super) node: Option<String>,
    #[serde(default)]
    pub(super) ocf_root: Option<PathBuf>,
    #[serde(default)]
    pub(super) timeline: Option<PathBuf>,
    /// The timeline's events as JSON lines (`super::super::events`).
    #[serde(default)]
    pub(super) events: Option<PathBuf>,
    /// Health file for `palisade-sbd watch --health-file` (sbd's pacemaker integration).
    #[serde(default)]
    pub(super) sbd_health_file: Option<PathBuf>,
    /// Directory of `lsb:NAME` init scripts.
    #[serde(default)]
    pub(super) lsb_dir: Option<PathBuf>,
    /// The systemctl of `systemd:UNIT` resources.
    #[serde(default)]
    pub(super) systemctl: Option<PathBuf>,
    /// Where the admin state file is kept.
    #[serde(default)]
    pub(super) state_dir: Option<PathBuf>,
    /// The control socket of the admin commands.
    #[serde(default)]
    pub(super) control_socket: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTimers {
    pub(super) keepalive: Option<String>,
    pub(super) warntime: Option<String>,
    pub(super) deadtime: Option<String>,
    pub(super) initdead: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawQuorum {
    #[serde(default)]
    pub(super) two_node: bool,
    pub(super) wait_for_all: Option<bool>,
    pub(super) expected_votes: Option<u32>,
    pub(super) auto_tie_breaker: Option<toml::Value>,
    pub(super) no_quorum_policy: Option<String>,
    /// External tie-breakers (checked in `config/tie_breakers.rs`): heartbeat's ping
    /// nodes and the sbd disk.
    pub(super) ping_targets: Option<Vec<String>>,
    pub(super) ping_interval: Option<String>,
    pub(super) ping_deadtime: Option<String>,
    pub(super) tie_breaker_disk: Option<PathBuf>,
    pub(super) disk_settle: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawFencing {
    pub(super) enabled: Option<bool>,
    pub(super) action: Option<String>,
    pub(super) timeout: Option<String>,
    pub(super) retry: Option<String>,
    pub(super) race_delay: Option<String>,
    pub(super) startup_fencing: Option<bool>,
    pub(super) fencer_socket: Option<PathBuf>,
    pub(super) self_fence: Option<String>,
    pub(super) agent_dirs: Option<Vec<PathBuf>>,
    /// Watchdog fencing (pacemaker's stonith-watchdog-timeout).
    pub(super) watchdog_timeout: Option<String>,
    pub(super) sbd_watchdog_timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNode {
    pub(super) name: String,
    pub(super) id: NodeId,
    pub(super) addresses: Vec<String>,
    #[serde(default)]
    pub(super) votes: Option<u32>,
    #[serde(default)]
    pub(super) fence_agent: Option<String>,
    #[serde(default)]
    pub(super) fence_params: toml::Table,
    /// Node attributes for location rules.
    #[serde(default)]
    pub(super) attributes: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawResource {
    pub(super) name: String,
    pub(super) agent: String,
    #[serde(default)]
    pub(super) params: toml::Table,
    #[serde(default)]
    pub(super) allowed: Option<Vec<String>>,
    #[serde(default)]
    pub(super) priority: u32,
    #[serde(default)]
    pub(super) monitor_interval: Option<String>,
    #[serde(default)]
    pub(super) op_timeout: Option<String>,
    #[serde(default)]
    pub(super) max_failures: Option<u32>,
}

pub(super) fn span(
    section: &str,
    key: &str,
    text: Option<&String>,
) -> Result<Option<Duration>, ConfigError> {
    text.map(|t| parse_duration(t).map_err(|e| bad(section, key, e.to_string())))
        .transpose()
}

pub(super) fn timers(raw: &RawTimers) -> Result<Timers, ConfigError> {
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
pub(super) fn params(
    section: &str,
    key: &str,
    table: &toml::Table,
) -> Result<BTreeMap<String, String>, ConfigError> {
    table
        .iter()
        .map(|(k, v)| {
            let text = crate::fencer::config::param_text(v).ok_or_else(|| {
                bad(
                    section,
                    key,
                    format!("{k}: only strings, numbers and booleans"),
                )
            })?;
            // These reach agents' stdin (fence-params) or their environment.
            crate::fencer::agent_input::check_param(k, &text)
                .map_err(|e| bad(section, key, e.to_string()))?;
            Ok((k.clone(), text))
        })
        .collect()
}

pub(super) fn node_entry(raw: &RawNode) -> Result<NodeEntry, ConfigError> {
    let section = format!("[[node]] {}", raw.name);
    if raw.name.is_empty()
        || raw.name.contains(char::is_whitespace)
        || crate::fencer::agent_input::check_target(&raw.name).is_err()
    {
        let section = format!(
            "[[node]] {}",
            crate::fencer::agent_input::Escaped::of(&raw.name)
        );
        return Err(bad(
            &section,
            "name",
            "must be a non-empty word without control characters",
        ));
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
        Some(agent) => {
            let params = params(&section, "fence-params", &raw.fence_params)?;
            Some(
                FenceDevice::new(raw.id, agent, &params).map_err(|e| match e {
                    DeviceError::Agent { .. } => bad(&section, "fence-agent", e.to_string()),
                    _ => bad(&section, "fence-params", e.to_string()),
                })?,
            )
        }
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
        attributes: params(&section, "attributes", &raw.attributes)?,
    })
}

pub(super) fn tie_breaker(
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

pub(super) fn fencing(raw: &RawFencing) -> Result<FencingConfig, ConfigError> {
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
        watchdog: None,
    })
}

pub(super) fn resource_entry(
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
    let agent = crate::placement::parse::parse_agent(&raw.agent)
        .map_err(|reason| bad(&section, "agent", reason))?;
    let provider = agent.provider.unwrap_or_default();
    if [provider.as_str(), agent.kind.as_str()]
        .iter()
        .any(|p| p.starts_with('.'))
    {
        return Err(bad(&section, "agent", "a name may not start with '.'"));
    }
    if agent.class != AgentClass::Ocf && !raw.params.is_empty() {
        return Err(bad(
            &section,
            "params",
            "LSB init scripts and systemd units take no parameters",
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
        class: agent.class,
        provider,
        kind: agent.kind,
        params: params(&section, "params", &raw.params)?,
        allowed,
        priority: raw.priority,
        monitor_interval,
        op_timeout,
        max_failures: raw.max_failures.unwrap_or(3),
        ops: super::super::operations::Operations::default(),
        clone: None,
    })
}

/// `lsb-dir` and `systemctl` of `[cluster]` (absolute paths).
pub(super) fn classes(raw: &RawCluster) -> Result<ClassSettings, ConfigError> {
    for (key, path) in [("lsb-dir", &raw.lsb_dir), ("systemctl", &raw.systemctl)] {
        if let Some(path) = path.as_ref().filter(|p| !p.is_absolute()) {
            return Err(bad(
                "[cluster]",
                key,
                format!("'{}' is not an absolute path", path.display()),
            ));
        }
    }
    let default = ClassSettings::default();
    Ok(ClassSettings {
        lsb_dir: raw.lsb_dir.clone().unwrap_or(default.lsb_dir),
        systemctl: raw.systemctl.clone(),
    })
}
