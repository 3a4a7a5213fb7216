//! The watch daemon's configuration, as a pure function of the parsed command line and
//! the environment (the sysconfig variables ClusterLabs sbd reads).
//!
//! Command-line options win over the environment. Recognised: `-w DEV` /
//! `SBD_WATCHDOG_DEV` (default `/dev/watchdog`; `/dev/null` none; `pet-file:PATH` test
//! device), `-W` (given twice: no watchdog; also `SBD_WATCHDOG=no`), `-T`, `-1` /
//! `SBD_WATCHDOG_TIMEOUT` (diskless watchdog timeout; with devices the on-disk value
//! wins), `-I`, `-S` / `SBD_STARTMODE`, `-s`, `SBD_DELAY_START`, `SBD_PACEMAKER`
//! (default yes, as sbd: both the pacemaker and the cluster servant), `-P` (pacemaker
//! servant; given twice: off) and `-c` (cluster servant; twice: off) as sbd counts them,
//! `SBD_SYNC_RESOURCE_STARTUP` (default no; yes needs the pacemaker servant, as sbd),
//! `-z`, `-5`, `-C`, `-r` / `SBD_TIMEOUT_ACTION`, `-p` / `SBD_PIDFILE` (with a PID file
//! `watch` forks, as sbd under systemd's Type=forking), `-v`. palisade's own:
//! `--health-file=PATH` (the cluster is the palisade daemon's health file instead of
//! pacemaker and corosync) and the test-only `--self-fence=record:PATH`.
//!
//! Like ClusterLabs sbd, the daemon reads no configuration file itself: systemd passes
//! `/etc/default/sbd` (Debian) or `/etc/sysconfig/sbd` (RPM distributions) as the
//! environment (`EnvironmentFile=`), see `sbd/systemd/`.

use std::path::PathBuf;
use std::time::Duration;

use watchdog::{TimeoutAction, WatchdogConfig};

use crate::cli::Invocation;
use crate::format::NodeName;
use crate::inquisitor::{ClusterServant, StartMode};

/// The watchdog used when none is configured (as sbd).
pub const DEFAULT_WATCHDOG: &str = "/dev/watchdog";

/// Who carries out a self-fence decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelfFenceSetting {
    /// The kernel (sysrq, reboot(2)); needs a production token.
    Kernel,
    /// Tests only: append the decision to this file and exit.
    Record(PathBuf),
}

/// `SBD_DELAY_START`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayStart {
    No,
    /// Sleep msgwait before starting (`yes`, `1`).
    Msgwait,
    Seconds(u64),
}

/// A configuration the daemon cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("option -{option}: bad value {value:?}: {reason}")]
    BadOption {
        option: char,
        value: String,
        reason: String,
    },
    #[error("{name}: bad value {value:?}: {reason}")]
    BadEnv {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("unknown option --{0} (palisade-sbd knows --health-file and --self-fence)")]
    UnknownLongOption(String),
    #[error("--self-fence={0}: expected record:PATH (tests only) or kernel")]
    BadSelfFence(String),
    #[error("no devices and no cluster integration (SBD_PACEMAKER=no): nothing could keep the watchdog alive")]
    NothingToWatch,
    #[error("SBD_SYNC_RESOURCE_STARTUP=yes needs the pacemaker servant: set SBD_PACEMAKER=yes, or SBD_SYNC_RESOURCE_STARTUP=no to disable start-up syncing")]
    SyncWithoutPacemaker,
}

/// Everything `watch` runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchConfig {
    pub devices: Vec<String>,
    pub local_name: NodeName,
    pub watchdog: WatchdogConfig,
    /// Set the watchdog timeout on arming (not with `-T`).
    pub set_watchdog_timeout: bool,
    /// `-1` / SBD_WATCHDOG_TIMEOUT: only used without devices.
    pub diskless_watchdog_timeout: Duration,
    pub io_timeout: Duration,
    pub start_mode: StartMode,
    /// How long to wait for a device with a valid header at start (`-s`).
    pub start_timeout: Duration,
    pub delay_start: DelayStart,
    /// The pacemaker servant (SBD_PACEMAKER, `-P`).
    pub check_pacemaker: bool,
    /// The cluster (corosync) servant (SBD_PACEMAKER, `-c`).
    pub check_cluster: bool,
    /// Ping pacemakerd so it starts its resources only once sbd watches
    /// (SBD_SYNC_RESOURCE_STARTUP).
    pub sync_resource_startup: bool,
    pub disk_priority: bool,
    pub warn_threshold: Option<Duration>,
    pub timeout_action: TimeoutAction,
    /// `-C`: watchdog timeout while a crash dump is written; `None` disarms it.
    pub crashdump_watchdog_timeout: Option<Duration>,
    pub pidfile: Option<PathBuf>,
    pub verbosity: u8,
    pub self_fence: SelfFenceSetting,
    /// `--health-file`: the palisade daemon's health file replaces both servants.
    pub health_file: Option<PathBuf>,
}

impl WatchConfig {
    /// The cluster servants this configuration runs: the health file when one is given,
    /// else pacemaker and corosync as SBD_PACEMAKER / `-P` / `-c` say.
    pub fn cluster_servants(&self) -> Vec<ClusterServant> {
        let any = self.check_pacemaker || self.check_cluster;
        if self.health_file.is_some() {
            return if any {
                vec![ClusterServant::Palisade]
            } else {
                Vec::new()
            };
        }
        let mut servants = Vec::new();
        if self.check_pacemaker {
            servants.push(ClusterServant::Pacemaker);
        }
        if self.check_cluster {
            servants.push(ClusterServant::Corosync);
        }
        servants
    }

    /// Whether any cluster servant runs.
    pub fn cluster_integration(&self) -> bool {
        !self.cluster_servants().is_empty()
    }
}

/// sbd's boolean words.
fn yes_no(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "on" | "1" => Some(true),
        "no" | "n" | "false" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn seconds(option: char, value: &str) -> Result<Duration, ConfigError> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| ConfigError::BadOption {
            option,
            value: value.to_owned(),
            reason: "not a number of seconds".into(),
        })
}

impl WatchConfig {
    /// Build the configuration; `env` looks up environment variables.
    pub fn from_invocation(
        inv: &Invocation,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<WatchConfig, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let bad_env = |name: &'static str, value: &str, reason: String| ConfigError::BadEnv {
            name,
            value: value.to_owned(),
            reason,
        };
        let mut config = WatchConfig {
            devices: inv.devices.clone(),
            local_name: inv.local_name.clone(),
            watchdog: WatchdogConfig::Disabled,
            set_watchdog_timeout: true,
            diskless_watchdog_timeout: Duration::from_secs(u64::from(inv.timeouts.watchdog)),
            io_timeout: inv.io_timeout,
            start_mode: StartMode::Always,
            start_timeout: Duration::from_secs(120),
            delay_start: DelayStart::No,
            check_pacemaker: true,
            check_cluster: true,
            sync_resource_startup: false,
            disk_priority: true,
            warn_threshold: None,
            timeout_action: TimeoutAction::default(),
            crashdump_watchdog_timeout: None,
            pidfile: env("SBD_PIDFILE").map(PathBuf::from),
            verbosity: 0,
            self_fence: SelfFenceSetting::Kernel,
            health_file: None,
        };
        if let Some(v) = env("SBD_STARTMODE") {
            config.start_mode = v.parse().map_err(|e: crate::inquisitor::StartModeError| {
                bad_env("SBD_STARTMODE", &v, e.to_string())
            })?;
        }
        if let Some(v) = env("SBD_PACEMAKER") {
            let on = yes_no(&v)
                .ok_or_else(|| bad_env("SBD_PACEMAKER", &v, "expected yes or no".into()))?;
            config.check_pacemaker = on;
            config.check_cluster = on;
        }
        if let Some(v) = env("SBD_SYNC_RESOURCE_STARTUP") {
            config.sync_resource_startup = yes_no(&v).ok_or_else(|| {
                bad_env("SBD_SYNC_RESOURCE_STARTUP", &v, "expected yes or no".into())
            })?;
        }
        if let Some(v) = env("SBD_TIMEOUT_ACTION") {
            config.timeout_action = v.parse().map_err(|e: watchdog::TimeoutActionError| {
                bad_env("SBD_TIMEOUT_ACTION", &v, e.to_string())
            })?;
        }
        if let Some(v) = env("SBD_DELAY_START") {
            config.delay_start = match yes_no(&v) {
                Some(true) => DelayStart::Msgwait,
                Some(false) => DelayStart::No,
                None => DelayStart::Seconds(v.trim().parse().map_err(|_| {
                    bad_env("SBD_DELAY_START", &v, "expected yes, no or seconds".into())
                })?),
            };
        }
        config.watchdog = watchdog_setting(inv, &env)?;
        let (mut p_count, mut c_count) = (0u32, 0u32);
        for (option, value) in &inv.options {
            let value = value.as_deref().unwrap_or("");
            match option {
                'T' => config.set_watchdog_timeout = false,
                'S' => {
                    config.start_mode =
                        value
                            .parse()
                            .map_err(|e: crate::inquisitor::StartModeError| {
                                ConfigError::BadOption {
                                    option: 'S',
                                    value: value.to_owned(),
                                    reason: e.to_string(),
                                }
                            })?
                }
                's' => config.start_timeout = seconds('s', value)?,
                'P' => p_count += 1,
                'c' => c_count += 1,
                'z' => config.disk_priority = false,
                '5' => config.warn_threshold = Some(seconds('5', value)?),
                'C' => config.crashdump_watchdog_timeout = Some(seconds('C', value)?),
                'r' => {
                    config.timeout_action =
                        value.parse().map_err(|e: watchdog::TimeoutActionError| {
                            ConfigError::BadOption {
                                option: 'r',
                                value: value.to_owned(),
                                reason: e.to_string(),
                            }
                        })?
                }
                'p' => config.pidfile = Some(PathBuf::from(value)),
                'v' => config.verbosity = config.verbosity.saturating_add(1),
                _ => {} // handled by the command line parser, or ignored as by sbd
            }
        }
        for (name, value) in &inv.long_options {
            match name.as_str() {
                "health-file" => config.health_file = Some(PathBuf::from(value)),
                "self-fence" => {
                    config.self_fence = match value.split_once(':') {
                        Some(("record", path)) if !path.is_empty() => {
                            SelfFenceSetting::Record(PathBuf::from(path))
                        }
                        None if value == "kernel" => SelfFenceSetting::Kernel,
                        _ => return Err(ConfigError::BadSelfFence(value.clone())),
                    }
                }
                other => return Err(ConfigError::UnknownLongOption(other.to_owned())),
            }
        }
        // sbd: an odd count turns a servant on, an even one off.
        if p_count > 0 {
            config.check_pacemaker = p_count % 2 == 1;
        }
        if c_count > 0 {
            config.check_cluster = c_count % 2 == 1;
        }
        if config.devices.is_empty() && !config.cluster_integration() {
            return Err(ConfigError::NothingToWatch);
        }
        if config.sync_resource_startup && !config.check_pacemaker {
            return Err(ConfigError::SyncWithoutPacemaker);
        }
        Ok(config)
    }
}

/// The configured watchdog: `-w DEV` over `SBD_WATCHDOG_DEV` (default `/dev/watchdog`),
/// switched off by an even number of `-W` or by `SBD_WATCHDOG=no`. Also used by
/// `query-watchdog` and `test-watchdog`.
pub fn watchdog_setting(
    inv: &Invocation,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WatchdogConfig, ConfigError> {
    let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let mut device = env("SBD_WATCHDOG_DEV").unwrap_or_else(|| DEFAULT_WATCHDOG.to_owned());
    let mut on = env("SBD_WATCHDOG").and_then(|v| yes_no(&v)).unwrap_or(true);
    let mut toggles = 0;
    for (option, value) in &inv.options {
        match option {
            'w' => device = value.clone().unwrap_or_default(),
            'W' => toggles += 1,
            _ => {}
        }
    }
    if toggles > 0 {
        on = toggles % 2 == 1;
    }
    if !on {
        return Ok(WatchdogConfig::Disabled);
    }
    device
        .parse()
        .map_err(|e: watchdog::WatchdogConfigError| ConfigError::BadOption {
            option: 'w',
            value: device.clone(),
            reason: e.to_string(),
        })
}
