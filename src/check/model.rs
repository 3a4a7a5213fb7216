//! The timing model: every timeout and delay of the stack that bears on fencing, each
//! with where it was read. Inputs fill it one at a time (`add_*`); a value given by
//! several inputs keeps the most authoritative (an sbd header beats
//! `SBD_WATCHDOG_TIMEOUT`, as sbd itself uses the on-disk value), and each fencing
//! timeout is kept, so that every one of them is checked.

use std::time::Duration;

use serde::Serialize;

use super::cib::Cib;
use super::corosync::Totem;
use super::sysconfig::{DelayStart, SbdSysconfig};
use super::NamedValue;
use crate::fencer::config::FencerConfig;
use crate::fencer::device::{is_poison_pill_agent, AgentAction, DeviceSpec};
use crate::fencer::duration::millis;
use crate::node::config::NodeConfig;

/// A value of the model, in milliseconds, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Val {
    /// Milliseconds.
    pub ms: u64,
    /// File and key, or `default (...)`.
    pub source: String,
}

impl Val {
    /// A value from a span.
    pub fn new(span: Duration, source: impl Into<String>) -> Val {
        Val {
            ms: millis(span),
            source: source.into(),
        }
    }
}

/// The timing of one fence device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceTiming {
    /// Its name (resource id).
    pub name: String,
    /// Where it is defined.
    pub source: String,
    /// The agent.
    pub agent: String,
    /// The longest `pcmk_delay_base` (over the nodes of a per-node list), ms.
    pub delay_base_ms: u64,
    /// `pcmk_delay_max`, ms.
    pub delay_max_ms: u64,
    /// The time the device gets for a fencing action, when it is its own
    /// (`pcmk_off_timeout` / `pcmk_reboot_timeout`, the shorter); `None`: the fencing
    /// timeout.
    pub action_timeout: Option<Val>,
    /// A poison pill (`fence_sbd`): confirmed only after msgwait.
    pub sbd: bool,
}

impl DeviceTiming {
    /// The longest delay the device adds before fencing: pacemaker adds base and a
    /// random share up to max, never more than max when max is set
    /// (daemons/fenced/fenced_commands.c, `schedule_stonith_command`).
    pub fn longest_delay_ms(&self) -> u64 {
        if self.delay_max_ms == 0 {
            self.delay_base_ms
        } else {
            self.delay_max_ms
        }
    }

    /// From a palisade device definition: its action timeouts are its own (60s unless
    /// `pcmk_<action>_timeout` says otherwise).
    pub fn from_spec(spec: &DeviceSpec, source: &str) -> DeviceTiming {
        let off = spec.action(AgentAction::Off).timeout;
        let reboot = spec.action(AgentAction::Reboot).timeout;
        DeviceTiming {
            name: spec.name.clone(),
            source: source.to_string(),
            agent: spec.agent.clone(),
            delay_base_ms: millis(spec.delay_base.longest()),
            delay_max_ms: millis(spec.delay_max),
            action_timeout: Some(Val::new(
                off.min(reboot),
                format!(
                    "{source}: device {} pcmk_off_timeout/pcmk_reboot_timeout",
                    spec.name
                ),
            )),
            sbd: is_poison_pill_agent(&spec.agent),
        }
    }
}

/// The timing model.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Model {
    /// sbd's watchdog timeout (header, SBD_WATCHDOG_TIMEOUT or palisade's
    /// `sbd-watchdog-timeout`).
    pub sbd_watchdog: Option<Val>,
    /// sbd msgwait (header).
    pub sbd_msgwait: Option<Val>,
    /// sbd loop timeout (header).
    pub sbd_loop: Option<Val>,
    /// sbd I/O timeout (`-I`, default 3s; only with a disk).
    pub sbd_io: Option<Val>,
    /// `SBD_DELAY_START` as a span.
    pub sbd_delay_start: Option<Val>,
    /// Every fencing timeout configured (CIB, fencer, node).
    pub fencing_timeouts: Vec<Val>,
    /// `stonith-watchdog-timeout` / palisade's `watchdog-timeout`.
    pub watchdog_fencing_timeout: Option<Val>,
    /// `priority-fencing-delay`.
    pub priority_fencing_delay: Option<Val>,
    /// The fence devices.
    pub devices: Vec<DeviceTiming>,
    /// corosync's token timeout as it runs (token_coefficient applied).
    pub token: Option<Val>,
    /// corosync's consensus timeout (given, or 1.2 x token).
    pub consensus: Option<Val>,
    /// palisade's heartbeat keepalive.
    pub keepalive: Option<Val>,
    /// palisade's deadtime.
    pub deadtime: Option<Val>,
    /// palisade's two-node race delay (when a race can happen).
    pub race_delay: Option<Val>,
    /// The node daemon reports its health to sbd every keepalive.
    pub sbd_health: bool,
}

impl Model {
    /// Add palisade's fencer configuration read from `path`.
    pub fn add_fencer(&mut self, cfg: &FencerConfig, path: &str) {
        self.fencing_timeouts.push(Val::new(
            cfg.options.timeout,
            format!("{path}: [fencing] fencing-timeout"),
        ));
        if !cfg.options.priority_fencing_delay.is_zero() {
            self.priority_fencing_delay = Some(Val::new(
                cfg.options.priority_fencing_delay,
                format!("{path}: [fencing] priority-fencing-delay"),
            ));
        }
        for d in &cfg.devices {
            self.devices.push(DeviceTiming::from_spec(d, path));
        }
    }

    /// Add palisade's node configuration read from `path`.
    pub fn add_node(&mut self, cfg: &NodeConfig, path: &str) {
        self.fencing_timeouts.push(Val::new(
            cfg.fencing.timeout,
            format!("{path}: [fencing] timeout"),
        ));
        self.keepalive = Some(Val::new(
            cfg.timers.keepalive,
            format!("{path}: [timers] keepalive"),
        ));
        self.deadtime = Some(Val::new(
            cfg.timers.deadtime,
            format!("{path}: [timers] deadtime"),
        ));
        let race = cfg.settings().race_delay;
        if !race.is_zero() {
            self.race_delay = Some(Val::new(race, format!("{path}: [fencing] race-delay")));
        }
        if let Some(w) = cfg.fencing.watchdog {
            self.watchdog_fencing_timeout = Some(Val::new(
                w.timeout,
                format!("{path}: [fencing] watchdog-timeout"),
            ));
            if self.sbd_watchdog.is_none() {
                self.sbd_watchdog = Some(Val::new(
                    w.sbd_watchdog_timeout,
                    format!("{path}: [fencing] sbd-watchdog-timeout"),
                ));
            }
        }
        self.sbd_health = cfg.sbd_health_file.is_some();
        for n in &cfg.nodes {
            if let Some(f) = &n.fence {
                let source = format!("{path}: [[node]] {}", n.name);
                self.devices.push(DeviceTiming::from_spec(&f.spec, &source));
            }
        }
    }

    /// Add corosync's totem timing read from `path`.
    pub fn add_corosync(&mut self, totem: &Totem, path: &str) {
        let token = totem.effective_token();
        let token_source = if token == totem.token {
            format!("{path}: totem.token")
        } else {
            format!("{path}: totem.token + (nodes - 2) x token_coefficient")
        };
        self.token = Some(Val::new(token, token_source));
        self.consensus = Some(match totem.consensus {
            Some(c) => Val::new(c, format!("{path}: totem.consensus")),
            None => Val::new(
                token.mul_f64(1.2),
                format!("{path}: default consensus = 1.2 x token"),
            ),
        });
    }

    /// Add the sbd sysconfig read from `path`.
    pub fn add_sysconfig(&mut self, sys: &SbdSysconfig, path: &str) {
        if let Some(w) = sys.watchdog_timeout {
            // An sbd header's value wins (sbd uses the on-disk timeout with a disk).
            if self
                .sbd_watchdog
                .as_ref()
                .is_none_or(|v| !v.source.contains("sbd header"))
            {
                self.sbd_watchdog = Some(Val::new(w, format!("{path}: SBD_WATCHDOG_TIMEOUT")));
            }
        }
        if let DelayStart::Seconds(s) = sys.delay_start {
            self.sbd_delay_start = Some(Val::new(s, format!("{path}: SBD_DELAY_START")));
        }
        if sys.has_devices && self.sbd_io.is_none() {
            self.sbd_io = Some(Val::new(
                sys.io_timeout,
                format!("{path}: SBD_OPTS -I (sbd default 3s)"),
            ));
        }
    }

    /// Add the timeouts of an sbd header read from `path`.
    pub fn add_sbd_header(&mut self, timeouts: &sbd::format::DiskTimeouts, path: &str) {
        let secs = |s: u32, what: &str| {
            Val::new(
                Duration::from_secs(u64::from(s)),
                format!("{path}: sbd header {what}"),
            )
        };
        self.sbd_watchdog = Some(secs(timeouts.watchdog, "watchdog timeout"));
        self.sbd_msgwait = Some(secs(timeouts.msgwait, "msgwait"));
        self.sbd_loop = Some(secs(timeouts.loop_timeout, "loop timeout"));
        if self.sbd_io.is_none() {
            self.sbd_io = Some(Val::new(
                Duration::from_secs(3),
                "sbd default I/O timeout (-I 3)",
            ));
        }
    }

    /// Add the CIB read from `path`.
    pub fn add_cib(&mut self, cib: &Cib, path: &str) {
        let fencing_timeout = cib
            .fencing_timeout
            .unwrap_or(crate::fencer::config::FencingOptions::default().timeout);
        let source = if cib.fencing_timeout.is_some() {
            format!("{path}: stonith-timeout")
        } else {
            format!("{path}: default stonith-timeout")
        };
        self.fencing_timeouts
            .push(Val::new(fencing_timeout, source));
        if let Some(w) = cib.watchdog_timeout {
            let value = match w {
                super::cib::WatchdogTimeout::Span(s) => {
                    Some(Val::new(s, format!("{path}: stonith-watchdog-timeout")))
                }
                super::cib::WatchdogTimeout::Auto => self.sbd_watchdog.as_ref().map(|s| Val {
                    ms: s.ms.saturating_mul(2),
                    source: format!(
                        "{path}: stonith-watchdog-timeout < 0 = 2 x SBD_WATCHDOG_TIMEOUT"
                    ),
                }),
            };
            if value.as_ref().is_some_and(|v| v.ms > 0) {
                self.watchdog_fencing_timeout = value;
            }
        }
        if let Some(p) = cib.priority_fencing_delay.filter(|p| !p.is_zero()) {
            self.priority_fencing_delay =
                Some(Val::new(p, format!("{path}: priority-fencing-delay")));
        }
        for d in &cib.devices {
            let source = format!("{path}: primitive {}", d.id);
            let explicit = ["pcmk_off_timeout", "pcmk_reboot_timeout"]
                .iter()
                .filter_map(|k| d.timeouts.get(*k).map(|t| (k, *t)))
                .min_by_key(|(_, t)| *t)
                .map(|(k, t)| Val::new(t, format!("{source} {k}")));
            self.devices.push(DeviceTiming {
                name: d.id.clone(),
                source,
                agent: d.agent.clone(),
                delay_base_ms: millis(d.delay_base),
                delay_max_ms: millis(d.delay_max),
                action_timeout: explicit,
                sbd: is_poison_pill_agent(&d.agent),
            });
        }
    }

    /// The longest delay any device adds.
    pub fn longest_device_delay(&self) -> Option<(&DeviceTiming, u64)> {
        self.devices
            .iter()
            .map(|d| (d, d.longest_delay_ms()))
            .filter(|(_, ms)| *ms > 0)
            .max_by_key(|(_, ms)| *ms)
    }

    /// Whether a disk-based sbd (poison pill) is in use.
    pub fn sbd_disk(&self) -> bool {
        self.sbd_msgwait.is_some() || self.devices.iter().any(|d| d.sbd)
    }

    /// Every value, named, for the report.
    pub fn values(&self) -> Vec<NamedValue> {
        let mut out = Vec::new();
        let mut push = |name: &str, v: &Option<Val>| {
            if let Some(v) = v {
                out.push(NamedValue::of(name, v));
            }
        };
        push("sbd watchdog timeout", &self.sbd_watchdog);
        push("sbd msgwait", &self.sbd_msgwait);
        push("sbd loop timeout", &self.sbd_loop);
        push("sbd I/O timeout", &self.sbd_io);
        push("SBD_DELAY_START", &self.sbd_delay_start);
        push("stonith-watchdog-timeout", &self.watchdog_fencing_timeout);
        push("priority-fencing-delay", &self.priority_fencing_delay);
        push("corosync token", &self.token);
        push("corosync consensus", &self.consensus);
        push("palisade keepalive", &self.keepalive);
        push("palisade deadtime", &self.deadtime);
        push("palisade race-delay", &self.race_delay);
        for t in &self.fencing_timeouts {
            out.push(NamedValue::of("fencing timeout", t));
        }
        for d in &self.devices {
            if d.longest_delay_ms() > 0 {
                out.push(NamedValue {
                    name: format!("device {} delay", d.name),
                    ms: d.longest_delay_ms(),
                    source: format!("{}: pcmk_delay_base/pcmk_delay_max", d.source),
                });
            }
            if let Some(t) = &d.action_timeout {
                out.push(NamedValue::of(
                    &format!("device {} action timeout", d.name),
                    t,
                ));
            }
        }
        out
    }
}
