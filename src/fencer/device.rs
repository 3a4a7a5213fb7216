//! One fence device as the fencer sees it: which agent runs it, the parameters the agent
//! gets on stdin, and the pacemaker `pcmk_*` parameters that steer the fencer itself
//! (targets, host argument, concurrency, per-action timeouts/retries, delays). Built from a
//! flat `name=value` map exactly like a pacemaker stonith resource; `pcmk_*` keys are
//! interpreted here and never passed to the agent.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::agent_input::{check_param, Escaped, InputError};
use super::duration::{parse_duration, DurationError};
use super::hostmap::{parse_host_list, DelayBase, HostMap, HostMapError};

/// Default `pcmk_<action>_timeout`.
pub const DEFAULT_ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `pcmk_<action>_retries`.
pub const DEFAULT_ACTION_RETRIES: u32 = 2;

/// What the fencer asks an agent to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentAction {
    /// Power the target off.
    Off,
    /// Power the target on (unfencing, second half of a remapped reboot).
    On,
    /// Power-cycle the target.
    Reboot,
    /// Report the target's power state (exit 0 on, 2 off).
    Status,
    /// List the targets the device can fence.
    List,
    /// Check the device itself.
    Monitor,
}

impl AgentAction {
    /// Every action, in a stable order.
    pub const ALL: [AgentAction; 6] = [
        AgentAction::Off,
        AgentAction::On,
        AgentAction::Reboot,
        AgentAction::Status,
        AgentAction::List,
        AgentAction::Monitor,
    ];

    /// The agent's own name for it (`action=` on stdin).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentAction::Off => "off",
            AgentAction::On => "on",
            AgentAction::Reboot => "reboot",
            AgentAction::Status => "status",
            AgentAction::List => "list",
            AgentAction::Monitor => "monitor",
        }
    }

    /// Whether the action concerns one target (gets `nodename=` and the plug).
    pub fn has_target(self) -> bool {
        matches!(
            self,
            AgentAction::Off | AgentAction::On | AgentAction::Reboot | AgentAction::Status
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for AgentAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `pcmk_host_check`: how the fencer learns which targets a device can fence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostCheck {
    /// The nodes named in `pcmk_host_list` / `pcmk_host_map`.
    StaticList,
    /// Whatever the agent's `list` action prints.
    DynamicList,
    /// Ask the agent's `status` action about the target (0 or 2 = can fence).
    Status,
    /// Every node.
    None,
}

impl HostCheck {
    /// The check pacemaker picks when none is configured and no host list or map is
    /// given: `dynamic-list` if the agent has `list`, else `status`, else `none`.
    pub fn from_agent_actions(actions: &[String]) -> HostCheck {
        let has = |name: &str| actions.iter().any(|a| a == name);
        if has("list") {
            HostCheck::DynamicList
        } else if has("status") {
            HostCheck::Status
        } else {
            HostCheck::None
        }
    }

    /// The configuration word.
    pub fn as_str(self) -> &'static str {
        match self {
            HostCheck::StaticList => "static-list",
            HostCheck::DynamicList => "dynamic-list",
            HostCheck::Status => "status",
            HostCheck::None => "none",
        }
    }

    fn parse(text: &str) -> Option<HostCheck> {
        match text.trim() {
            "static-list" => Some(HostCheck::StaticList),
            "dynamic-list" => Some(HostCheck::DynamicList),
            "status" => Some(HostCheck::Status),
            "none" => Some(HostCheck::None),
            _ => None,
        }
    }
}

/// `pcmk_<action>_action|timeout|retries` of one action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSettings {
    /// The agent action actually sent (`pcmk_reboot_action=off` etc.).
    pub agent_action: String,
    /// Time one device gets for this action, retries included.
    pub timeout: Duration,
    /// Attempts within that time (at least one).
    pub attempts: u32,
}

/// A device definition that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// Empty or odd device name.
    #[error("device name '{0}' is invalid (use letters, digits, '-', '_', '.')")]
    Name(String),
    /// The agent is neither `fence_*` nor an absolute path.
    #[error("device {device}: agent '{agent}' must be a fence_* name or an absolute path")]
    Agent {
        /// Device name.
        device: String,
        /// The agent given.
        agent: String,
    },
    /// A parameter name or value that must never reach an agent's stdin (see
    /// [`agent_input`](super::agent_input)).
    #[error("device {device}: {error}")]
    Input {
        /// Device name.
        device: String,
        /// What is wrong.
        error: InputError,
    },
    /// A `pcmk_*` value that cannot be read.
    #[error("device {device}: {param}={value}: {reason}")]
    Param {
        /// Device name.
        device: String,
        /// Parameter name.
        param: String,
        /// Value given.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// A validated fence device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// Unique name (the pacemaker resource id).
    pub name: String,
    /// `fence_*` name looked up in the agent directories, or an absolute path.
    pub agent: String,
    /// Parameters written to the agent's stdin (no `pcmk_*` keys).
    pub params: BTreeMap<String, String>,
    /// Higher goes first when several devices can fence a target without a topology.
    pub priority: i32,
    /// `pcmk_host_list`.
    pub host_list: Vec<String>,
    /// `pcmk_host_map`.
    pub host_map: HostMap,
    /// `pcmk_host_check` (see [`DeviceSpec::host_check_auto`] for the default).
    pub host_check: HostCheck,
    /// True when `pcmk_host_check` was left to its default without a host list or map:
    /// then the agent's metadata decides ([`DeviceSpec::apply_agent_actions`]).
    pub host_check_auto: bool,
    /// `pcmk_host_argument`: stdin name of the plug (`port`), `None` = no plug line.
    pub host_argument: Option<String>,
    /// `pcmk_action_limit`: concurrent agent runs on this device (`None` = unlimited).
    pub action_limit: Option<u32>,
    /// `pcmk_delay_base`.
    pub delay_base: DelayBase,
    /// `pcmk_delay_max`.
    pub delay_max: Duration,
    /// `pcmk_monitor_interval`: how often the daemon checks the device with `monitor`
    /// (zero: never).
    pub monitor_interval: Duration,
    actions: [ActionSettings; 6],
    /// `pcmk_*` keys that were not understood (kept for `validate`'s warnings).
    pub unknown_pcmk: Vec<String>,
}

fn param_error(device: &str, param: &str, value: &str, reason: impl ToString) -> DeviceError {
    DeviceError::Param {
        device: device.to_string(),
        param: param.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '@'))
}

/// Whether `agent` (a `fence_*` name or a path) is sbd's poison pill, `fence_sbd`: its
/// success means a message was written, confirmed only once msgwait has passed.
pub fn is_poison_pill_agent(agent: &str) -> bool {
    std::path::Path::new(agent)
        .file_name()
        .is_some_and(|f| f == "fence_sbd")
}

impl DeviceSpec {
    /// Build a device from its name, agent, flat parameter map and priority.
    pub fn new(
        name: &str,
        agent: &str,
        raw: &BTreeMap<String, String>,
        priority: i32,
    ) -> Result<DeviceSpec, DeviceError> {
        if !valid_name(name) {
            return Err(DeviceError::Name(Escaped::of(name).0));
        }
        let agent_ok = (agent.starts_with('/')
            || (agent.starts_with("fence_") && !agent.contains('/') && agent.len() > 6))
            && !agent.chars().any(char::is_control);
        if !agent_ok {
            return Err(DeviceError::Agent {
                device: name.into(),
                agent: Escaped::of(agent).0,
            });
        }
        for (key, value) in raw {
            check_param(key, value).map_err(|error| DeviceError::Input {
                device: name.into(),
                error,
            })?;
        }
        let get = |key: &str| raw.get(key).map(String::as_str);
        let duration = |key: &str| -> Result<Option<Duration>, DeviceError> {
            get(key)
                .map(|v| parse_duration(v).map_err(|e: DurationError| param_error(name, key, v, e)))
                .transpose()
        };

        let host_list = get("pcmk_host_list")
            .map(parse_host_list)
            .unwrap_or_default();
        let host_map = match get("pcmk_host_map") {
            Some(v) => HostMap::parse(v)
                .map_err(|e: HostMapError| param_error(name, "pcmk_host_map", v, e))?,
            None => HostMap::default(),
        };
        let host_check_auto =
            get("pcmk_host_check").is_none() && host_list.is_empty() && host_map.is_empty();
        let host_check = match get("pcmk_host_check") {
            Some(v) => HostCheck::parse(v).ok_or_else(|| {
                param_error(
                    name,
                    "pcmk_host_check",
                    v,
                    "use static-list, dynamic-list, status or none",
                )
            })?,
            None if !host_list.is_empty() || !host_map.is_empty() => HostCheck::StaticList,
            None => HostCheck::DynamicList,
        };
        let host_argument = match get("pcmk_host_argument").map(str::trim) {
            None => Some("port".to_string()),
            Some("" | "none") => None,
            Some(v) => Some(v.to_string()),
        };
        let action_limit = match get("pcmk_action_limit") {
            None => Some(1),
            Some(v) => match v.trim().parse::<i64>() {
                Ok(-1) => None,
                Ok(n) if n >= 1 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => {
                    return Err(param_error(
                        name,
                        "pcmk_action_limit",
                        v,
                        "use a positive number or -1 (unlimited)",
                    ))
                }
            },
        };
        let delay_base = match get("pcmk_delay_base") {
            Some(v) => DelayBase::parse(v)
                .map_err(|e: HostMapError| param_error(name, "pcmk_delay_base", v, e))?,
            None => DelayBase::default(),
        };
        let delay_max = duration("pcmk_delay_max")?.unwrap_or(Duration::ZERO);
        let monitor_interval =
            duration("pcmk_monitor_interval")?.unwrap_or(super::health::DEFAULT_MONITOR_INTERVAL);

        let mut actions = AgentAction::ALL.map(|a| ActionSettings {
            agent_action: a.as_str().to_string(),
            timeout: DEFAULT_ACTION_TIMEOUT,
            attempts: DEFAULT_ACTION_RETRIES,
        });
        for action in AgentAction::ALL {
            let settings = &mut actions[action.index()];
            let key = format!("pcmk_{action}_action");
            if let Some(v) = get(&key) {
                if v.trim().is_empty() {
                    return Err(param_error(name, &key, v, "empty action"));
                }
                settings.agent_action = v.trim().to_string();
            }
            if let Some(t) = duration(&format!("pcmk_{action}_timeout"))? {
                settings.timeout = t;
            }
            let key = format!("pcmk_{action}_retries");
            if let Some(v) = get(&key) {
                let n: u32 = v
                    .trim()
                    .parse()
                    .map_err(|_| param_error(name, &key, v, "use a whole number"))?;
                settings.attempts = n.max(1);
            }
        }

        let known = |key: &str| {
            matches!(
                key,
                "pcmk_host_list"
                    | "pcmk_host_map"
                    | "pcmk_host_check"
                    | "pcmk_host_argument"
                    | "pcmk_action_limit"
                    | "pcmk_delay_base"
                    | "pcmk_delay_max"
                    | "pcmk_monitor_interval"
            ) || AgentAction::ALL.iter().any(|a| {
                ["action", "timeout", "retries"]
                    .iter()
                    .any(|what| key == format!("pcmk_{a}_{what}"))
            })
        };
        let unknown_pcmk = raw
            .keys()
            .filter(|k| k.starts_with("pcmk_") && !known(k))
            .cloned()
            .collect();
        let params = raw
            .iter()
            .filter(|(k, _)| !k.starts_with("pcmk_"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(DeviceSpec {
            name: name.to_string(),
            agent: agent.to_string(),
            params,
            priority,
            host_list,
            host_map,
            host_check,
            host_check_auto,
            host_argument,
            action_limit,
            delay_base,
            delay_max,
            monitor_interval,
            actions,
            unknown_pcmk,
        })
    }

    /// Apply what the agent's metadata says it can do, as pacemaker does: a defaulted
    /// `pcmk_host_check` becomes `dynamic-list` (agent has `list`), `status` or `none`;
    /// an agent without `reboot` is asked for `off` when a reboot is requested.
    pub fn apply_agent_actions(&mut self, actions: &[String]) {
        if self.host_check_auto {
            self.host_check = HostCheck::from_agent_actions(actions);
            self.host_check_auto = false;
        }
        let reboot = &mut self.actions[AgentAction::Reboot.index()];
        if reboot.agent_action == "reboot" && !actions.iter().any(|a| a == "reboot") {
            reboot.agent_action = "off".to_string();
        }
    }

    /// Settings of one action.
    pub fn action(&self, action: AgentAction) -> &ActionSettings {
        &self.actions[action.index()]
    }

    /// The plug to send for `target`: its `pcmk_host_map` entry, else the name itself.
    pub fn plug_for<'a>(&'a self, target: &'a str) -> &'a str {
        self.host_map.plug_of(target).unwrap_or(target)
    }

    /// Whether the static configuration names `target`.
    pub fn lists(&self, target: &str) -> bool {
        self.host_list
            .iter()
            .any(|n| n.eq_ignore_ascii_case(target))
            || self.host_map.plug_of(target).is_some()
    }

    /// The longest delay this device can add before fencing any target.
    pub fn longest_delay(&self) -> Duration {
        self.delay_base.longest().max(self.delay_max)
    }

    /// The delay before fencing `target`: `pcmk_delay_base` for it plus a random share
    /// (`random` in 0..=1 scaled) of what `pcmk_delay_max` leaves above the base.
    pub fn delay_for(&self, target: &str, random_permille: u32) -> Duration {
        let base = self.delay_base.for_node(target);
        let spread = self.delay_max.saturating_sub(base);
        base + spread.mul_f64(f64::from(random_permille.min(1000)) / 1000.0)
    }

    /// The `name=value` lines for one agent run, in a stable order: the device parameters,
    /// then `action=`, and for targeted actions `nodename=` and the plug line (unless the
    /// device parameters already fix the plug, as pacemaker does).
    pub fn stdin_lines(&self, action: AgentAction, target: Option<&str>) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = self
            .params
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "action" | "nodename"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        lines.push((
            "action".to_string(),
            self.action(action).agent_action.clone(),
        ));
        if let (true, Some(target)) = (action.has_target(), target) {
            lines.push(("nodename".to_string(), target.to_string()));
            if let Some(arg) = &self.host_argument {
                if !self.params.contains_key(arg) {
                    lines.push((arg.clone(), self.plug_for(target).to_string()));
                }
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pcmk_keys_steer_the_fencer_and_never_reach_the_agent() {
        let dev = DeviceSpec::new(
            "pdu",
            "fence_apc_snmp",
            &params(&[
                ("ip", "127.0.0.1"),
                ("pcmk_host_map", "node1:1;node2:2,3"),
                ("pcmk_reboot_timeout", "90s"),
                ("pcmk_off_retries", "0"),
                ("pcmk_reboot_action", "off"),
                ("pcmk_action_limit", "-1"),
                ("pcmk_delay_base", "node1:5s"),
                ("pcmk_delay_max", "10s"),
                ("pcmk_frobnicate", "1"),
            ]),
            3,
        )
        .expect("valid device");
        assert_eq!(dev.host_check, HostCheck::StaticList);
        assert_eq!(
            dev.action(AgentAction::Reboot).timeout,
            Duration::from_secs(90)
        );
        assert_eq!(dev.action(AgentAction::Off).attempts, 1);
        assert_eq!(dev.action(AgentAction::On).attempts, 2);
        assert_eq!(dev.action_limit, None);
        assert_eq!(dev.unknown_pcmk, ["pcmk_frobnicate"]);
        assert_eq!(dev.delay_for("node1", 0), Duration::from_secs(5));
        assert_eq!(dev.delay_for("node1", 1000), Duration::from_secs(10));
        assert_eq!(dev.delay_for("node2", 500), Duration::from_secs(5));
        let lines = dev.stdin_lines(AgentAction::Reboot, Some("node2"));
        let text: Vec<String> = lines.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            ["ip=127.0.0.1", "action=off", "nodename=node2", "port=2,3"]
        );
        let list = dev.stdin_lines(AgentAction::List, Some("node2"));
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn defaults() {
        let dev = DeviceSpec::new("d", "/opt/fence_x", &params(&[]), 0).expect("valid");
        assert_eq!(dev.host_check, HostCheck::DynamicList);
        assert_eq!(dev.host_argument.as_deref(), Some("port"));
        assert_eq!(dev.action_limit, Some(1));
        assert_eq!(dev.action(AgentAction::Off).timeout, DEFAULT_ACTION_TIMEOUT);
        assert_eq!(dev.delay_for("x", 999), Duration::ZERO);
        assert_eq!(dev.monitor_interval, Duration::from_secs(60));
        let off = DeviceSpec::new(
            "d",
            "fence_x",
            &params(&[("pcmk_monitor_interval", "0")]),
            0,
        )
        .expect("valid");
        assert_eq!(off.monitor_interval, Duration::ZERO);
        assert!(off.unknown_pcmk.is_empty());
        let none = DeviceSpec::new(
            "d",
            "fence_x",
            &params(&[("pcmk_host_argument", "none")]),
            0,
        )
        .expect("valid");
        assert_eq!(none.stdin_lines(AgentAction::Off, Some("n")).len(), 2);
    }

    #[test]
    fn default_host_check_follows_the_agent_metadata() {
        let actions =
            |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        let mut dev = DeviceSpec::new("d", "fence_x", &params(&[]), 0).expect("valid");
        assert!(dev.host_check_auto);
        dev.apply_agent_actions(&actions(&["off", "status", "monitor"]));
        assert_eq!(dev.host_check, HostCheck::Status);
        let mut dev = DeviceSpec::new("d", "fence_x", &params(&[]), 0).expect("valid");
        dev.apply_agent_actions(&actions(&["off", "list", "status"]));
        assert_eq!(dev.host_check, HostCheck::DynamicList);
        let mut dev = DeviceSpec::new("d", "fence_x", &params(&[]), 0).expect("valid");
        dev.apply_agent_actions(&actions(&["off"]));
        assert_eq!(dev.host_check, HostCheck::None);
        let mut listed =
            DeviceSpec::new("d", "fence_x", &params(&[("pcmk_host_list", "a")]), 0).expect("valid");
        assert!(!listed.host_check_auto);
        listed.apply_agent_actions(&actions(&["list"]));
        assert_eq!(listed.host_check, HostCheck::StaticList);
        let mut fixed = DeviceSpec::new("d", "fence_x", &params(&[("pcmk_host_check", "none")]), 0)
            .expect("valid");
        fixed.apply_agent_actions(&actions(&["list"]));
        assert_eq!(fixed.host_check, HostCheck::None);
        assert_eq!(
            fixed.action(AgentAction::Reboot).agent_action,
            "off",
            "no reboot action"
        );
        let mut rebooter = DeviceSpec::new("d", "fence_x", &params(&[]), 0).expect("valid");
        rebooter.apply_agent_actions(&actions(&["off", "on", "reboot"]));
        assert_eq!(rebooter.action(AgentAction::Reboot).agent_action, "reboot");
    }

    #[test]
    fn rejects_bad_definitions() {
        assert!(matches!(
            DeviceSpec::new("", "fence_x", &params(&[]), 0),
            Err(DeviceError::Name(_))
        ));
        for agent in ["ls", "../fence_x", "fence_", "bin/fence_x"] {
            assert!(
                matches!(
                    DeviceSpec::new("d", agent, &params(&[]), 0),
                    Err(DeviceError::Agent { .. })
                ),
                "{agent}"
            );
        }
        for (k, v) in [
            ("pcmk_host_check", "sometimes"),
            ("pcmk_action_limit", "0"),
            ("pcmk_off_timeout", "soon"),
            ("pcmk_off_retries", "-1"),
            ("pcmk_host_map", "node1"),
            ("pcmk_delay_base", "x:y"),
        ] {
            assert!(
                matches!(
                    DeviceSpec::new("d", "fence_x", &params(&[(k, v)]), 0),
                    Err(DeviceError::Param { .. })
                ),
                "{k}={v}"
            );
        }
    }
}
