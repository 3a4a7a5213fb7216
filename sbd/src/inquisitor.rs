//! The inquisitor: the pure decision core of the sbd daemon (sans I/O, rustls style).
//!
//! [`Inquisitor::handle`] takes one [`Event`] (a device servant's report, a servant time-out,
//! a cluster health report, a stop request, a tick) and the current time, and returns the
//! [`Action`]s the driver must carry out: arm or pet the watchdog, clear a mailbox,
//! self-fence, exit cleanly (magic close), abort start-up, log. It does no I/O and reads
//! no clock; tests drive it with `Instant` base + offsets.
//!
//! Semantics follow ClusterLabs sbd's inquisitor:
//! * A device servant is good while its last successful report is younger than I/O +
//!   loop timeout; an `Err` report or a servant time-out makes it bad until its next good
//!   report.
//! * Disk quorum: 1 good of 1 or 2 devices, 2 good of 3.
//! * The watchdog is petted while there is disk quorum, or — with cluster integration —
//!   while the palisade daemon reports the node quorate and healthy ("surviving on the
//!   cluster": losing the disks alone does not kill a healthy node). With
//!   `disk_priority = false` (sbd `-z`) both are needed once the cluster has appeared.
//!   Without devices (diskless) only the cluster counts.
//! * The watchdog is armed at the first healthy round. If no healthy round happens within
//!   the watchdog timeout, start-up is aborted (exit, no fencing). After arming, no pet for
//!   longer than the watchdog timeout triggers the configured timeout action.
//! * Mailbox: `test` → log + clear; `exit` → clean exit with magic close; `reset`/`off`/
//!   `crashdump` → self-fence; unknown codes → log + clear (assumed torn write).
//! * Pets and time-outs are decided on [`Event::Tick`]; the driver ticks at least once
//!   per loop timeout ([`Inquisitor::next_tick`]). Messages act at once.

pub mod events;
pub mod timing;

use std::time::{Duration, Instant};

pub use events::{
    Action, ClusterHealth, Event, FenceCause, FenceKind, LogLevel, MailboxCommand, OnTimeout,
    Phase, ServantFailure,
};
pub use timing::{
    check_fencing_timeout, start_check, validate_timeouts, StartMode, StartModeError, StartRefused,
    Timeouts, TimingError, TimingWarning,
};

/// Static configuration of one inquisitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InquisitorConfig {
    /// Number of shared devices, 0 (diskless, cluster only) to 3.
    pub devices: usize,
    pub timeouts: Timeouts,
    /// Latency warning threshold (`-5`); `None` uses sbd's default (3/5 of the watchdog).
    pub warn_threshold: Option<Duration>,
    /// Take cluster health reports into account (SBD_PACEMAKER).
    pub cluster_integration: bool,
    /// Disk quorum alone is enough (default); `false` is sbd's `-z`.
    pub disk_priority: bool,
    pub on_timeout: OnTimeout,
}

impl Default for InquisitorConfig {
    fn default() -> InquisitorConfig {
        InquisitorConfig {
            devices: 1,
            timeouts: Timeouts::default(),
            warn_threshold: None,
            cluster_integration: true,
            disk_priority: true,
            on_timeout: OnTimeout::default(),
        }
    }
}

/// A configuration the inquisitor cannot run with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} devices configured; sbd supports 1 to 3 (or 0 with cluster integration)")]
    DeviceCount(usize),
    #[error("no devices and no cluster integration: nothing could ever keep the watchdog alive")]
    NothingToWatch,
    #[error(transparent)]
    Timing(#[from] TimingError),
}

/// Disk quorum as sbd counts it: more than half of 3 devices, at least one of 1 or 2.
pub fn disk_quorum(good: usize, devices: usize) -> bool {
    if devices > 2 {
        good > devices / 2
    } else {
        good > 0
    }
}

#[derive(Debug, Clone, Default)]
struct DeviceState {
    last_ok: Option<Instant>,
    failed: bool,
    outdated: bool,
}

/// The decision core. See the module documentation.
#[derive(Debug, Clone)]
pub struct Inquisitor {
    config: InquisitorConfig,
    warn_threshold: Duration,
    phase: Phase,
    devices: Vec<DeviceState>,
    cluster: Option<(ClusterHealth, Instant)>,
    cluster_appeared: bool,
    surviving_on_cluster: bool,
    last_pet: Instant,
    last_tick: Instant,
    warned: bool,
}

impl Inquisitor {
    /// Validate `config` and start at `now`. Timing warnings are returned for logging.
    pub fn new(
        config: InquisitorConfig,
        now: Instant,
    ) -> Result<(Inquisitor, Vec<TimingWarning>), ConfigError> {
        if config.devices > 3 {
            return Err(ConfigError::DeviceCount(config.devices));
        }
        if config.devices == 0 && !config.cluster_integration {
            return Err(ConfigError::NothingToWatch);
        }
        let warnings = validate_timeouts(&config.timeouts, config.warn_threshold)?;
        let warn_threshold = config
            .warn_threshold
            .unwrap_or_else(|| config.timeouts.default_warn_threshold());
        let inquisitor = Inquisitor {
            devices: vec![DeviceState::default(); config.devices],
            config,
            warn_threshold,
            phase: Phase::Starting,
            cluster: None,
            cluster_appeared: false,
            surviving_on_cluster: false,
            last_pet: now,
            last_tick: now,
            warned: false,
        };
        Ok((inquisitor, warnings))
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn config(&self) -> &InquisitorConfig {
        &self.config
    }

    /// When the driver should tick next at the latest (last tick + loop timeout).
    pub fn next_tick(&self) -> Instant {
        self.last_tick + self.config.timeouts.loop_timeout
    }

    /// The last time the inquisitor decided to pet (start time until the first pet).
    pub fn last_pet(&self) -> Instant {
        self.last_pet
    }

    /// Devices whose servant counts as good at `now`.
    pub fn good_devices(&self, now: Instant) -> usize {
        let liveness = self.config.timeouts.servant_liveness();
        self.devices
            .iter()
            .filter(|d| {
                !d.failed
                    && d.last_ok
                        .is_some_and(|t| now.saturating_duration_since(t) < liveness)
            })
            .count()
    }

    /// Whether the cluster counts as alive at `now`: integration on, last report fresh
    /// (younger than I/O + loop timeout) and quorate-healthy.
    pub fn cluster_alive(&self, now: Instant) -> bool {
        let liveness = self.config.timeouts.servant_liveness();
        self.config.cluster_integration
            && matches!(self.cluster, Some((ClusterHealth::QuorateHealthy, at))
                if now.saturating_duration_since(at) < liveness)
    }

    /// Feed one event; returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(self.phase, Phase::Starting | Phase::Running) {
            return out;
        }
        match event {
            Event::ServantReport { device, result } => {
                self.on_report(device, result, now, &mut out)
            }
            Event::ServantTimedOut { device } => {
                if let Some(d) = self.device_mut(device, &mut out) {
                    d.failed = true;
                    log(
                        &mut out,
                        LogLevel::Warning,
                        format!("Servant for device {device} timed out"),
                    );
                }
            }
            Event::ClusterHealth(health) => self.on_cluster(health, now, &mut out),
            Event::StopRequested => {
                log(
                    &mut out,
                    LogLevel::Notice,
                    "Stop requested - exiting cleanly".into(),
                );
                self.phase = Phase::Exiting;
                out.push(Action::CleanExit);
            }
            Event::Tick => self.on_tick(now, &mut out),
        }
        out
    }

    fn device_mut(&mut self, device: usize, out: &mut Vec<Action>) -> Option<&mut DeviceState> {
        if device >= self.devices.len() {
            log(
                out,
                LogLevel::Error,
                format!(
                    "Report for unknown device {device} ({} configured) ignored",
                    self.devices.len()
                ),
            );
            return None;
        }
        self.devices.get_mut(device)
    }

    fn on_report(
        &mut self,
        device: usize,
        result: Result<Option<MailboxCommand>, ServantFailure>,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some(d) = self.device_mut(device, out) else {
            return;
        };
        let command = match result {
            Err(failure) => {
                d.failed = true;
                log(
                    out,
                    LogLevel::Warning,
                    format!("Servant for device {device} failed: {}", failure.reason),
                );
                return;
            }
            Ok(command) => command,
        };
        d.failed = false;
        d.last_ok = Some(now);
        let Some(command) = command else { return };
        let received = |out: &mut Vec<Action>, level| {
            log(
                out,
                level,
                format!("Received command {} from device {device}", command.as_str()),
            )
        };
        match command {
            MailboxCommand::Clear => {}
            MailboxCommand::Test => {
                received(out, LogLevel::Info);
                out.push(Action::ClearMessage { device });
            }
            MailboxCommand::Exit => {
                received(out, LogLevel::Notice);
                self.phase = Phase::Exiting;
                out.push(Action::CleanExit);
            }
            MailboxCommand::Reset | MailboxCommand::Off | MailboxCommand::Crashdump => {
                received(out, LogLevel::Warning);
                let kind = match command {
                    MailboxCommand::Off => FenceKind::Off,
                    MailboxCommand::Crashdump => FenceKind::Crashdump,
                    _ => FenceKind::Reset,
                };
                self.phase = Phase::Fenced;
                out.push(Action::SelfFence {
                    kind,
                    flush: true,
                    cause: FenceCause::Message { device, command },
                });
            }
            MailboxCommand::Unknown(byte) => {
                log(
                    out,
                    LogLevel::Warning,
                    format!(
                        "Unknown message {byte:#04x} on device {device} - clearing (torn write?)"
                    ),
                );
                out.push(Action::ClearMessage { device });
            }
        }
    }

    fn on_cluster(&mut self, health: ClusterHealth, now: Instant, out: &mut Vec<Action>) {
        if !self.config.cluster_integration {
            log(
                out,
                LogLevel::Debug,
                format!("Cluster health {health:?} ignored (no cluster integration)"),
            );
            return;
        }
        let before = self.cluster.map(|(h, _)| h);
        if before != Some(health) {
            let level = if health == ClusterHealth::QuorateHealthy {
                LogLevel::Notice
            } else {
                LogLevel::Warning
            };
            log(out, level, format!("Cluster health: {health:?}"));
        }
        self.cluster = Some((health, now));
    }

    fn on_tick(&mut self, now: Instant, out: &mut Vec<Action>) {
        self.last_tick = now;
        let liveness = self.config.timeouts.servant_liveness();
        for (i, d) in self.devices.iter_mut().enumerate() {
            let good = !d.failed
                && d.last_ok
                    .is_some_and(|t| now.saturating_duration_since(t) < liveness);
            if good && d.outdated {
                log(
                    out,
                    LogLevel::Notice,
                    format!("Servant for device {i} is healthy"),
                );
            } else if !good && !d.outdated && d.last_ok.is_some() {
                let age = d.last_ok.map(|t| now.saturating_duration_since(t));
                log(
                    out,
                    LogLevel::Warning,
                    format!("Servant for device {i} is outdated (last good report {age:?} ago)"),
                );
            }
            d.outdated = !good;
        }
        let good = self.good_devices(now);
        let devices = self.config.devices;
        let quorum = disk_quorum(good, devices);
        let cluster = self.cluster_alive(now);
        let armed = self.phase == Phase::Running;

        let (tickle, can_arm) = if devices == 0 {
            if cluster {
                self.cluster_appeared = true;
                (true, true)
            } else {
                (!armed && !self.cluster_appeared, false)
            }
        } else if self.config.disk_priority || !self.config.cluster_integration {
            if quorum {
                self.surviving_on_cluster = false;
                (true, true)
            } else if cluster {
                if !self.surviving_on_cluster {
                    self.surviving_on_cluster = true;
                    log(
                        out,
                        LogLevel::Warning,
                        format!("Majority of devices lost ({good} of {devices} good) - surviving on the cluster"),
                    );
                }
                (true, false)
            } else {
                (false, false)
            }
        } else if cluster && quorum {
            self.cluster_appeared = true;
            (true, true)
        } else if quorum {
            (!self.cluster_appeared, true)
        } else {
            (false, false)
        };

        if tickle {
            self.last_pet = now;
            self.warned = false;
            if armed {
                out.push(Action::PetWatchdog);
            }
        }
        if !armed && can_arm {
            log(
                out,
                LogLevel::Info,
                "First healthy round - arming the watchdog".into(),
            );
            self.phase = Phase::Running;
            self.last_pet = now;
            out.push(Action::ArmWatchdog);
        }

        let latency = now.saturating_duration_since(self.last_pet);
        if latency > self.config.timeouts.watchdog {
            if self.phase == Phase::Starting {
                let reason = format!(
                    "Not enough votes to proceed ({good} of {devices} devices good, cluster {}) - aborting start-up",
                    if cluster { "healthy" } else { "not healthy" }
                );
                log(out, LogLevel::Error, reason.clone());
                self.phase = Phase::Aborted;
                out.push(Action::AbortStartup { reason });
            } else {
                log(
                    out,
                    LogLevel::Error,
                    format!("No liveness for {latency:?} exceeds the watchdog timeout ({good} of {devices} devices good) - self-fencing"),
                );
                self.phase = Phase::Fenced;
                out.push(Action::SelfFence {
                    kind: self.config.on_timeout.kind,
                    flush: self.config.on_timeout.flush,
                    cause: FenceCause::WatchdogStarved {
                        since_last_pet: latency,
                    },
                });
            }
        } else if latency > self.warn_threshold && !self.warned && self.phase == Phase::Running {
            self.warned = true;
            log(
                out,
                LogLevel::Warning,
                format!(
                    "Latency: no liveness for {latency:?} exceeds the warning threshold {:?} ({good} of {devices} devices good)",
                    self.warn_threshold
                ),
            );
        }
    }
}

fn log(out: &mut Vec<Action>, level: LogLevel, message: String) {
    out.push(Action::Log { level, message });
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
