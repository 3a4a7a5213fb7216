//! `palisade-sbd watch`: the daemon, as a thin I/O driver around the [`Inquisitor`].
//!
//! It runs in the foreground (systemd `Type=simple`; no fork). Start-up: choose the
//! self-fence executor, write the PID file, wait (up to `-s`) for a device with a valid
//! header whose timeouts become the running ones, honour `SBD_DELAY_START`, then start
//! one [`servant`](crate::servant) per device. The main loop feeds the inquisitor the
//! servants' reports, their silence ([`OverdueRounds`]), the cluster health file
//! ([`health`]), stop signals (from a thread of their own, [`support::catch_stop_signals`])
//! and a tick once per loop timeout (riding on a report when one comes due, see
//! [`Daemon::run`]), and carries out its actions: arm / pet the watchdog, clear a
//! message, self-fence, exit. It never polls: an idle watch wakes once per loop. No
//! decision is taken here.
//!
//! Self-fence executors: the kernel one (sysrq + reboot(2), [`watchdog::KernelSelfFence`])
//! needs [`watchdog::Production::claim`], which refuses under cargo or with
//! `PALISADE_FORBID_SELF_FENCE` set; a watcher that cannot fence refuses to start. The
//! test executor, `--self-fence=record:PATH`, appends `<kind> <flush|noflush> <reason>`
//! to PATH instead. It is refused unless `PALISADE_FORBID_SELF_FENCE` is set (so it cannot
//! be selected silently on a production node) and then also refuses real watchdog devices
//! (only `pet-file:` or none). After a recorded self-fence the daemon stops petting and
//! exits with 21 (reset), 22 (off) or 23 (crashdump), sbd's servant codes.
//!
//! Exit codes: 0 clean stop (`exit` message, SIGTERM/SIGINT: watchdog disarmed with the
//! magic close), 1 start-up failure or a self-fence that did not happen (the watchdog is
//! left armed), 21/22/23 a recorded self-fence.

pub mod config;
pub mod health;
pub mod support;

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use watchdog::{
    KernelSelfFence, Production, SelfFence, SelfFenceError, Watchdog, WatchdogConfig, FORBID_ENV,
};

use crate::blockdev::{BlockDevError, FileDevice};
use crate::cli::Invocation;
use crate::disk::{runtime_timeouts, SbdDisk};
use crate::format::DiskTimeouts;
use crate::inquisitor::{
    Action, Event, FenceCause, FenceKind, Inquisitor, InquisitorConfig, LogLevel, OnTimeout, Phase,
    Timeouts,
};
use crate::servant::{
    self, DeviceOpener, OverdueRounds, ServantDevice, ServantHandle, ServantMessage,
};
use config::{DelayStart, SelfFenceSetting, WatchConfig};
use support::catch_stop_signals;
pub use support::{FileRecordingSelfFence, Logger};

/// The tick timer waits loop timeout / this beyond the inquisitor's next tick (see
/// [`Daemon::run`]).
const TICK_GRACE: u32 = 20;

/// Exit code of a clean stop.
pub const EXIT_CLEAN: i32 = 0;
/// Exit code of a failed start or a self-fence that did not take the node down.
pub const EXIT_FAILURE: i32 = 1;

/// Exit code after a recorded self-fence of `kind` (sbd's servant exit codes).
pub fn exit_code_for(kind: FenceKind) -> i32 {
    match kind {
        FenceKind::Reset => 21,
        FenceKind::Off => 22,
        FenceKind::Crashdump => 23,
    }
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("--self-fence=record is for tests only and needs {FORBID_ENV}=1 in the environment")]
    RecordWithoutForbid,
    #[error(
        "with --self-fence=record only pet-file: or no watchdog may be used, not the device {0}"
    )]
    RecordWithRealWatchdog(String),
    #[error("this watcher could not fence the node ({0}); refusing to start (tests: --self-fence=record:PATH)")]
    CannotSelfFence(SelfFenceError),
    #[error("cannot write the PID file {path}: {source}")]
    Pidfile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no device with a valid sbd header within {waited:?}: {last}")]
    NoValidDevice { waited: Duration, last: String },
    #[error(transparent)]
    Inquisitor(#[from] crate::inquisitor::ConfigError),
    #[error(transparent)]
    Spawn(#[from] servant::SpawnError),
}

/// The inquisitor's fence kinds in the watchdog crate's words.
fn executor_kind(kind: FenceKind) -> watchdog::FenceKind {
    match kind {
        FenceKind::Reset => watchdog::FenceKind::Reboot,
        FenceKind::Off => watchdog::FenceKind::Off,
        FenceKind::Crashdump => watchdog::FenceKind::Crashdump,
    }
}

fn on_timeout(action: watchdog::TimeoutAction) -> OnTimeout {
    OnTimeout {
        kind: match action.kind {
            watchdog::FenceKind::Reboot => FenceKind::Reset,
            watchdog::FenceKind::Off => FenceKind::Off,
            watchdog::FenceKind::Crashdump => FenceKind::Crashdump,
        },
        flush: action.flush,
    }
}

/// Entry point of `palisade-sbd watch`; returns the exit code.
pub fn main(invocation: &Invocation, env: &dyn Fn(&str) -> Option<String>) -> i32 {
    let verbosity = invocation.options.iter().filter(|(c, _)| *c == 'v').count();
    let mut logger = Logger {
        verbosity: u8::try_from(verbosity).unwrap_or(u8::MAX),
    };
    let config = match WatchConfig::from_invocation(invocation, env) {
        Ok(config) => config,
        Err(e) => {
            logger.log(LogLevel::Error, &e.to_string());
            return EXIT_FAILURE;
        }
    };
    logger.verbosity = config.verbosity;
    let opener: DeviceOpener = Arc::new(|path: &str| -> Result<ServantDevice, BlockDevError> {
        Ok(Box::new(FileDevice::open(path)?))
    });
    let forbid = env(FORBID_ENV).is_some();
    // Before any thread exists: every thread inherits the blocked stop signals.
    let signals = match catch_stop_signals() {
        Ok(signals) => signals,
        Err(e) => {
            logger.log(
                LogLevel::Error,
                &format!("cannot start the signal thread: {e}"),
            );
            return EXIT_FAILURE;
        }
    };
    match Daemon::start(config, opener, forbid, logger) {
        Ok(mut daemon) => {
            signals.forward_to(daemon.message_sender());
            daemon.run()
        }
        Err(e) => {
            logger.log(LogLevel::Error, &e.to_string());
            EXIT_FAILURE
        }
    }
}

/// The running daemon.
pub struct Daemon {
    config: WatchConfig,
    logger: Logger,
    inquisitor: Inquisitor,
    servants: Vec<ServantHandle>,
    events: Receiver<ServantMessage>,
    /// Where servants (and the signal thread) send their messages.
    sender: Sender<ServantMessage>,
    /// Servants whose I/O hangs (no report for loop + I/O timeout).
    overdue: OverdueRounds,
    watchdog: Option<Box<dyn Watchdog + Send>>,
    executor: Box<dyn SelfFence + Send>,
    timeouts: Timeouts,
}

fn choose_executor(
    config: &WatchConfig,
    forbid: bool,
) -> Result<Box<dyn SelfFence + Send>, StartError> {
    match &config.self_fence {
        SelfFenceSetting::Record(path) => {
            if !forbid {
                return Err(StartError::RecordWithoutForbid);
            }
            if let WatchdogConfig::Device(dev) = &config.watchdog {
                return Err(StartError::RecordWithRealWatchdog(
                    dev.display().to_string(),
                ));
            }
            Ok(Box::new(FileRecordingSelfFence { path: path.clone() }))
        }
        SelfFenceSetting::Kernel => {
            let production = Production::claim().map_err(StartError::CannotSelfFence)?;
            Ok(Box::new(KernelSelfFence::new(production)))
        }
    }
}

/// Wait up to `-s` for a device with a valid header; its timeouts are the running ones.
fn discover_timeouts(
    config: &WatchConfig,
    opener: &DeviceOpener,
    logger: &Logger,
) -> Result<DiskTimeouts, StartError> {
    let started = Instant::now();
    loop {
        let mut last = String::new();
        for path in &config.devices {
            match opener(path).map_err(|e| e.to_string()).and_then(|device| {
                SbdDisk::open(device)
                    .map(|disk| disk.header().timeouts)
                    .map_err(|e| e.to_string())
            }) {
                Ok(timeouts) => return Ok(timeouts),
                Err(e) => last = e,
            }
        }
        if started.elapsed() >= config.start_timeout {
            return Err(StartError::NoValidDevice {
                waited: config.start_timeout,
                last,
            });
        }
        logger.log(
            LogLevel::Warning,
            &format!("No device with a valid header yet ({last}); retrying"),
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

impl Daemon {
    /// Everything before the main loop. `forbid`: `PALISADE_FORBID_SELF_FENCE` is set.
    pub fn start(
        config: WatchConfig,
        opener: DeviceOpener,
        forbid: bool,
        logger: Logger,
    ) -> Result<Daemon, StartError> {
        let executor = choose_executor(&config, forbid)?;
        if let SelfFenceSetting::Record(path) = &config.self_fence {
            logger.log(
                LogLevel::Warning,
                &format!(
                    "TEST MODE: self-fence decisions are recorded in {} instead of resetting the node",
                    path.display()
                ),
            );
        } else if let WatchdogConfig::PetFile(path) = &config.watchdog {
            logger.log(
                LogLevel::Warning,
                &format!(
                    "watchdog is the test device pet-file:{} - this node has no hardware watchdog",
                    path.display()
                ),
            );
        }
        if let Some(path) = &config.pidfile {
            std::fs::write(path, format!("{}\n", std::process::id())).map_err(|source| {
                StartError::Pidfile {
                    path: path.display().to_string(),
                    source,
                }
            })?;
        }
        let (disk_timeouts, timeouts) = if config.devices.is_empty() {
            let watchdog = config.diskless_watchdog_timeout;
            let timeouts = Timeouts {
                watchdog,
                msgwait: watchdog * 2,
                io: config.io_timeout,
                ..Timeouts::default()
            };
            (DiskTimeouts::default(), timeouts)
        } else {
            let disk = discover_timeouts(&config, &opener, &logger)?;
            (disk, runtime_timeouts(&disk, config.io_timeout))
        };
        let delay = match config.delay_start {
            DelayStart::No => Duration::ZERO,
            DelayStart::Msgwait => timeouts.msgwait,
            DelayStart::Seconds(s) => Duration::from_secs(s),
        };
        if !delay.is_zero() {
            logger.log(LogLevel::Notice, &format!("Delaying start by {delay:?}"));
            std::thread::sleep(delay);
        }
        let inquisitor_config = InquisitorConfig {
            devices: config.devices.len(),
            timeouts,
            warn_threshold: config.warn_threshold,
            cluster_integration: config.cluster_integration,
            disk_priority: config.disk_priority,
            on_timeout: on_timeout(config.timeout_action),
        };
        let (inquisitor, warnings) = Inquisitor::new(inquisitor_config, Instant::now())?;
        for warning in warnings {
            logger.log(LogLevel::Warning, &warning.to_string());
        }
        let (tx, events) = mpsc::channel();
        let mut servants = Vec::new();
        for (index, path) in config.devices.iter().enumerate() {
            let setup = servant::ServantSetup {
                index,
                path: path.clone(),
                reference: disk_timeouts,
                local_name: config.local_name.clone(),
                start_mode: config.start_mode,
                loop_timeout: timeouts.loop_timeout,
                opener: opener.clone(),
                pause: std::thread::sleep,
            };
            servants.push(servant::spawn(setup, tx.clone())?);
        }
        logger.log(
            LogLevel::Notice,
            &format!(
                "Watching {} device(s) as {} (watchdog {:?}, loop {:?}, I/O {:?}, cluster integration {})",
                config.devices.len(),
                config.local_name,
                timeouts.watchdog,
                timeouts.loop_timeout,
                timeouts.io,
                if config.cluster_integration { "on" } else { "off" }
            ),
        );
        let overdue = OverdueRounds::new(
            config.devices.len(),
            timeouts.loop_timeout,
            timeouts.io,
            Instant::now(),
        );
        Ok(Daemon {
            config,
            logger,
            inquisitor,
            servants,
            events,
            sender: tx,
            overdue,
            watchdog: None,
            executor,
            timeouts,
        })
    }

    /// A sender into the main loop's queue (the signal thread's stop requests).
    pub fn message_sender(&self) -> Sender<ServantMessage> {
        self.sender.clone()
    }

    /// The main loop; returns the exit code. It sleeps until the next tick, the next
    /// overdue servant or the next message (servant report, stop signal): no polling.
    ///
    /// A report that arrives once half a loop has passed since the last tick brings the
    /// tick forward, and the timer itself waits [`TICK_GRACE`] of a loop longer: with
    /// servants reporting once per loop, each tick then rides on a report and an idle
    /// watch wakes once per loop. Without reports the timer ticks (at most a twentieth
    /// of a loop late), so pets still stop when the devices go quiet.
    pub fn run(&mut self) -> i32 {
        let loop_timeout = self.timeouts.loop_timeout;
        let grace = loop_timeout / TICK_GRACE;
        loop {
            let now = Instant::now();
            if now >= self.inquisitor.next_tick() + grace {
                if let Some(code) = self.tick() {
                    return code;
                }
            }
            for device in self.overdue.overdue(Instant::now()) {
                if let Some(code) = self.feed(Event::ServantTimedOut { device }) {
                    return code;
                }
            }
            let deadline = self
                .overdue
                .next_deadline()
                .map_or(self.inquisitor.next_tick() + grace, |d| {
                    d.min(self.inquisitor.next_tick() + grace)
                });
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(wait) {
                Ok(message) => {
                    let report = match &message {
                        ServantMessage::Event(Event::ServantReport { device, .. })
                        | ServantMessage::StartRefused { device, .. } => Some(*device),
                        _ => None,
                    };
                    if let Some(code) = self.on_servant(message) {
                        return code;
                    }
                    if let Some(device) = report {
                        let now = Instant::now();
                        self.overdue.heard(device, now);
                        let due = self.inquisitor.next_tick().checked_sub(loop_timeout / 2);
                        if due.is_some_and(|due| now >= due) {
                            if let Some(code) = self.tick() {
                                return code;
                            }
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(wait),
            }
        }
    }

    /// Read the cluster health (with cluster integration) and tick the inquisitor.
    fn tick(&mut self) -> Option<i32> {
        if self.config.cluster_integration {
            let report = health::read_health(
                &self.config.health_file,
                SystemTime::now(),
                self.timeouts.servant_liveness(),
            );
            if let Some(health) = report {
                if let Some(code) = self.feed(Event::ClusterHealth(health)) {
                    return Some(code);
                }
            }
        }
        self.feed(Event::Tick)
    }

    fn on_servant(&mut self, message: ServantMessage) -> Option<i32> {
        match message {
            ServantMessage::Event(event) => self.feed(event),
            ServantMessage::Log { level, message } => {
                self.logger.log(level, &message);
                None
            }
            ServantMessage::StopRequested => self.feed(Event::StopRequested),
            ServantMessage::StartRefused { device, refusal } => {
                let path = self.config.devices.get(device).cloned().unwrap_or_default();
                if self.inquisitor.phase() == Phase::Starting {
                    self.logger
                        .log(LogLevel::Error, &format!("{path}: {refusal}"));
                    return Some(self.finish(EXIT_FAILURE));
                }
                let failure = crate::inquisitor::ServantFailure {
                    reason: format!("{path}: {refusal}"),
                };
                self.feed(Event::ServantReport {
                    device,
                    result: Err(failure),
                })
            }
        }
    }

    /// Hand one event to the inquisitor and carry out its actions; `Some(code)` ends.
    fn feed(&mut self, event: Event) -> Option<i32> {
        let actions = self.inquisitor.handle(event, Instant::now());
        for action in actions {
            if let Some(code) = self.execute(action) {
                return Some(code);
            }
        }
        None
    }

    fn execute(&mut self, action: Action) -> Option<i32> {
        match action {
            Action::Log { level, message } => self.logger.log(level, &message),
            Action::ArmWatchdog => {
                let timeout = self
                    .config
                    .set_watchdog_timeout
                    .then_some(self.timeouts.watchdog);
                match self.config.watchdog.arm(timeout) {
                    Ok(Some(dog)) => {
                        self.logger.log(
                            LogLevel::Notice,
                            &format!("Watchdog {} armed", dog.identity().path.display()),
                        );
                        self.watchdog = Some(dog);
                    }
                    Ok(None) => self.logger.log(
                        LogLevel::Warning,
                        "No watchdog configured - a hung node will not be reset",
                    ),
                    Err(e) => {
                        self.logger.log(
                            LogLevel::Error,
                            &format!("Cannot arm the watchdog ({e}) - aborting start-up"),
                        );
                        return Some(self.finish(EXIT_FAILURE));
                    }
                }
            }
            Action::PetWatchdog => {
                if let Some(dog) = self.watchdog.as_mut() {
                    if let Err(e) = dog.keepalive() {
                        self.logger
                            .log(LogLevel::Error, &format!("Watchdog pet failed: {e}"));
                    }
                }
            }
            Action::ClearMessage { device } => {
                if let Some(servant) = self.servants.get(device) {
                    servant.clear_message();
                }
            }
            Action::SelfFence { kind, flush, cause } => {
                return Some(self.self_fence(kind, flush, cause));
            }
            Action::CleanExit => {
                if let Some(dog) = self.watchdog.as_mut() {
                    if let Err(e) = dog.disarm_with_magic_close() {
                        self.logger.log(
                            LogLevel::Error,
                            &format!("Watchdog magic close failed: {e}"),
                        );
                    }
                }
                self.logger.log(LogLevel::Notice, "Exiting cleanly");
                return Some(self.finish(EXIT_CLEAN));
            }
            Action::AbortStartup { reason } => {
                self.logger.log(LogLevel::Error, &reason);
                return Some(self.finish(EXIT_FAILURE));
            }
        }
        None
    }

    fn self_fence(&mut self, kind: FenceKind, flush: bool, cause: FenceCause) -> i32 {
        let reason = match cause {
            FenceCause::Message { device, command } => format!(
                "{} message in our slot on {}",
                command.as_str(),
                self.config.devices.get(device).map_or("?", String::as_str)
            ),
            FenceCause::WatchdogStarved { since_last_pet } => format!(
                "watchdog starved: no liveness for {since_last_pet:?} (timeout {:?})",
                self.timeouts.watchdog
            ),
        };
        self.logger.log(
            LogLevel::Error,
            &format!("Self-fencing ({kind:?}): {reason}"),
        );
        if kind == FenceKind::Crashdump {
            // kdump needs time: a long watchdog timeout, or none at all.
            if let Some(dog) = self.watchdog.as_mut() {
                let prepared = match self.config.crashdump_watchdog_timeout {
                    Some(timeout) => dog.set_timeout(timeout).map(|_| ()),
                    None => dog.disarm_with_magic_close(),
                };
                if let Err(e) = prepared {
                    self.logger.log(
                        LogLevel::Warning,
                        &format!("Preparing the watchdog for a crash dump failed: {e}"),
                    );
                }
            }
        }
        // reset/off: the watchdog stays armed and unpetted as the back-up.
        match self
            .executor
            .self_fence(executor_kind(kind), flush, &reason)
        {
            Ok(()) => {
                self.logger.log(
                    LogLevel::Warning,
                    "Self-fence recorded (test executor); exiting without petting",
                );
                self.finish(exit_code_for(kind))
            }
            Err(e) => {
                self.logger.log(
                    LogLevel::Error,
                    &format!("Self-fence failed: {e}; leaving the watchdog to fire"),
                );
                self.finish(EXIT_FAILURE)
            }
        }
    }

    /// Remove the PID file; returns `code`.
    fn finish(&self, code: i32) -> i32 {
        if let Some(path) = &self.config.pidfile {
            remove_pidfile(path);
        }
        code
    }
}

fn remove_pidfile(path: &Path) {
    let _ = std::fs::remove_file(path);
}

#[cfg(test)]
mod tests;
