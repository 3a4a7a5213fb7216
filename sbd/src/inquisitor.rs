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
//! * Cluster servants ([`ClusterServant`]: pacemaker and corosync as in ClusterLabs sbd, or
//!   the palisade daemon's health file) are alive while their last `Online` report is
//!   younger than I/O + loop timeout; `Unhealthy` ends that at once, `Transient` lets it
//!   age out. "The cluster" is alive when all configured cluster servants are (sbd's
//!   `cluster_alive(true)`), partly alive when one is.
//! * The watchdog is petted while there is disk quorum, or — with cluster integration —
//!   while the cluster is alive ("surviving on the cluster": losing the disks alone does
//!   not kill a healthy node of a quorate partition). With `disk_priority = false` (sbd
//!   `-z`) both are needed once the cluster has appeared. Without devices (diskless)
//!   only the cluster counts: alive pets; partly alive arms the watchdog and pets only
//!   until the whole cluster has appeared once; after that, a node whose cluster
//!   servants are not all alive (quorum lost, pacemaker unclean) starves the watchdog.
//!   [`combine`] is that table as a pure function.
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
    Action, ClusterHealth, ClusterServant, Event, FenceCause, FenceKind, LogLevel, MailboxCommand,
    OnTimeout, Phase, ServantFailure, ServantHealth,
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
    /// The cluster servants whose reports count (SBD_PACEMAKER, `-P`, `-c`,
    /// `--health-file`); empty: no cluster integration.
    pub cluster_servants: Vec<ClusterServant>,
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
            cluster_servants: vec![ClusterServant::Palisade],
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

/// What the inquisitor decides in one round, from what it knows ([`combine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Pet the watchdog (sbd's `tickle`).
    pub tickle: bool,
    /// The watchdog may be armed now (sbd's `can_detach`).
    pub can_arm: bool,
    /// The whole cluster has appeared (sticky until a graceful pacemaker shutdown).
    pub cluster_appeared: bool,
}

/// What one round knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundInputs {
    pub devices: usize,
    /// Devices whose servant is good.
    pub good: usize,
    /// Cluster servants configured.
    pub cluster_servants: usize,
    /// All configured cluster servants alive.
    pub cluster_all: bool,
    /// At least one configured cluster servant alive.
    pub cluster_any: bool,
    pub disk_priority: bool,
    /// The watchdog is armed.
    pub armed: bool,
    pub cluster_appeared: bool,
}

/// ClusterLabs sbd's inquisitor table (one round), as a pure function.
pub fn combine(r: RoundInputs) -> Verdict {
    let quorum = disk_quorum(r.good, r.devices);
    let appeared = r.cluster_appeared;
    let verdict = |tickle, can_arm, cluster_appeared| Verdict {
        tickle,
        can_arm,
        cluster_appeared,
    };
    if r.devices == 0 {
        if r.cluster_all {
            verdict(true, true, true)
        } else if r.cluster_any {
            // "Partial cluster detected": arm, and live until the cluster appeared.
            verdict(!appeared, true, appeared)
        } else {
            // Stay alive until the cluster comes up, but only before arming.
            verdict(!r.armed && !appeared, false, appeared)
        }
    } else if r.disk_priority || r.cluster_servants == 0 {
        if quorum {
            verdict(true, true, appeared)
        } else {
            // "Majority of devices lost - surviving on the cluster".
            verdict(r.cluster_servants > 0 && r.cluster_all, false, appeared)
        }
    } else if r.cluster_all && quorum {
        verdict(true, true, true)
    } else if quorum {
        verdict(!appeared, true, appeared)
    } else {
        verdict(false, false, appeared)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct ClusterServantState {
    last_ok: Option<Instant>,
    health: Option<ServantHealth>,
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
    cluster: Vec<(ClusterServant, ClusterServantState)>,
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
        if config.devices == 0 && config.cluster_servants.is_empty() {
            return Err(ConfigError::NothingToWatch);
        }
        let warnings = validate_timeouts(&config.timeouts, config.warn_threshold)?;
        let warn_threshold = config
            .warn_threshold
            .unwrap_or_else(|| config.timeouts.default_warn_threshold());
        let cluster = config
            .cluster_servants
            .iter()
            .map(|s| (*s, ClusterServantState::default()))
            .collect();
        let inquisitor = Inquisitor {
            devices: vec![DeviceState::default(); config.devices],
            config,
            warn_threshold,
            phase: Phase::Starting,
            cluster,
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

    /// Cluster servants alive at `now` (last `Online` younger than I/O + loop timeout).
    fn cluster_fresh(&self, now: Instant) -> usize {
        let liveness = self.config.timeouts.servant_liveness();
        self.cluster
            .iter()
            .filter(|(_, s)| {
                s.last_ok
                    .is_some_and(|at| now.saturating_duration_since(at) < liveness)
            })
            .count()
    }

    /// Whether the cluster counts as alive at `now`: integration on and every configured
    /// cluster servant alive (sbd's `cluster_alive(true)`).
    pub fn cluster_alive(&self, now: Instant) -> bool {
        !self.cluster.is_empty() && self.cluster_fresh(now) == self.cluster.len()
    }

    /// Whether the whole cluster has appeared since start (or the last graceful
    /// pacemaker shutdown).
    pub fn cluster_appeared(&self) -> bool {
        self.cluster_appeared
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
            Event::ClusterHealth(health) => self.on_cluster(
                ClusterServant::Palisade,
                health.into(),
                format!("{health:?}"),
                now,
                &mut out,
            ),
            Event::ClusterServant {
                servant,
                health,
                detail,
            } => self.on_cluster(servant, health, detail, now, &mut out),
            Event::ClusterShutdown { servant } => {
                if let Some((_, state)) = self.cluster.iter_mut().find(|(s, _)| *s == servant) {
                    state.last_ok = None;
                    state.health = None;
                    self.cluster_appeared = false;
                    log(
                        &mut out,
                        LogLevel::Notice,
                        format!(
                            "{} servant: graceful shutdown - back to waiting for the cluster",
                            servant.as_str()
                        ),
                    );
                }
            }
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

    fn on_cluster(
        &mut self,
        servant: ClusterServant,
        health: ServantHealth,
        detail: String,
        now: Instant,
        out: &mut Vec<Action>,
    ) {
        let Some((_, state)) = self.cluster.iter_mut().find(|(s, _)| *s == servant) else {
            log(
                out,
                LogLevel::Debug,
                format!(
                    "{} servant report ignored (not configured): {detail}",
                    servant.as_str()
                ),
            );
            return;
        };
        if state.health != Some(health) {
            let level = match health {
                ServantHealth::Online => LogLevel::Notice,
                ServantHealth::Transient => LogLevel::Info,
                ServantHealth::Unhealthy => LogLevel::Warning,
            };
            log(
                out,
                level,
                format!("{} health: {health:?} ({detail})", servant.as_str()),
            );
        }
        state.health = Some(health);
        match health {
            ServantHealth::Online => state.last_ok = Some(now),
            ServantHealth::Unhealthy => state.last_ok = None,
            ServantHealth::Transient => {}
        }
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
        let fresh = self.cluster_fresh(now);
        let cluster = self.cluster_alive(now);
        let armed = self.phase == Phase::Running;
        let verdict = combine(RoundInputs {
            devices,
            good,
            cluster_servants: self.cluster.len(),
            cluster_all: cluster,
            cluster_any: fresh > 0,
            disk_priority: self.config.disk_priority,
            armed,
            cluster_appeared: self.cluster_appeared,
        });
        if verdict.cluster_appeared && !self.cluster_appeared {
            log(out, LogLevel::Info, "Active cluster detected".into());
        }
        self.cluster_appeared = verdict.cluster_appeared;
        let surviving = devices > 0 && !disk_quorum(good, devices) && verdict.tickle;
        if surviving && !self.surviving_on_cluster {
            log(
                out,
                LogLevel::Warning,
                format!("Majority of devices lost ({good} of {devices} good) - surviving on the cluster"),
            );
        }
        self.surviving_on_cluster = surviving;
        let (tickle, can_arm) = (verdict.tickle, verdict.can_arm);

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
