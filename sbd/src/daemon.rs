//! `palisade-sbd watch`: the daemon, as a thin I/O driver around the [`Inquisitor`].
//!
//! With a PID file (`-p`, SBD_PIDFILE: sbd.service's start line) it forks as ClusterLabs
//! sbd does ([`detach`], systemd `Type=forking`): the command returns 0 once the daemon
//! has armed the watchdog after its first healthy round, 1 if the daemon ended first;
//! the daemon logs to syslog. Without a PID file it runs in the foreground and logs to
//! stderr. Start-up: choose the self-fence executor, write the PID file (refused while
//! it names another running instance of this program), wait (up to `-s`) for a device with a valid
//! header whose timeouts become the running ones, honour `SBD_DELAY_START`, then start
//! one [`servant`](crate::servant) per device and the cluster servants
//! ([`crate::pacemaker_servant`] and [`crate::cluster_servant`], or the health file read
//! at every tick with `--health-file`). From then on the servants drive the
//! [`DaemonCore`] (inquisitor, watchdog, executor) from their own threads, right after
//! each round: report, tick when due, pet, and set the main thread's [`Alarm`] to the
//! core's next deadline (a silent servant, a starving watchdog, a tick no report
//! brought, or every loop without devices). The main thread waits in one `poll` for
//! that alarm, the [`Doorbell`] a servant rings when the daemon has finished, and the
//! stop signals ([`StopSignals`], a signalfd): while servants report, their alarm
//! settings keep moving away and the main thread never runs. An idle watch thus costs
//! one timer wake-up and one read per device and loop, on the servant's thread, and
//! nothing else (no signal thread, no channels). No decision is taken here: that is
//! the inquisitor's.
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
pub mod core;
pub mod detach;
pub mod health;
pub mod support;
pub mod wakeup;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use watchdog::{
    KernelSelfFence, Production, SelfFence, SelfFenceError, WatchdogConfig, FORBID_ENV,
};

use crate::blockdev::{BlockDevError, FileDevice};
use crate::cli::Invocation;
use crate::cluster_servant::{self, ClusterServantSetup};
use crate::disk::{runtime_timeouts, SbdDisk};
use crate::format::DiskTimeouts;
use crate::inquisitor::{
    ClusterServant, FenceKind, Inquisitor, InquisitorConfig, LogLevel, OnTimeout, Timeouts,
};
use crate::pacemaker_servant::{self, PacemakerServantSetup};
use crate::servant::{self, DeviceOpener, OverdueRounds, ServantDevice};
use config::{DelayStart, SelfFenceSetting, WatchConfig};
use core::DaemonCore;
pub use support::{open_syslog, FileRecordingSelfFence, Logger};
pub use wakeup::StopSignals;
use wakeup::{Alarm, BlockedStopSignals, Doorbell};

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
    #[error("PID file {path}: another {} runs as PID {pid}", crate::cli::PROGRAM)]
    AlreadyRunning { path: String, pid: u32 },
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
    #[error(transparent)]
    SpawnPacemaker(#[from] pacemaker_servant::SpawnError),
    #[error(transparent)]
    SpawnCluster(#[from] cluster_servant::SpawnError),
    /// The timerfd or eventfd of the main thread could not be created.
    #[error("cannot create the main thread's wake-up descriptors: {0}")]
    Wakeup(std::io::Error),
}

/// The inquisitor's fence kinds in the watchdog crate's words.
pub(crate) fn executor_kind(kind: FenceKind) -> watchdog::FenceKind {
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
        syslog: false,
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
    // Until the daemon runs, a stop signal ends the process as by default.
    let signals = match StopSignals::new() {
        Ok(signals) => signals,
        Err(e) => {
            logger.log(
                LogLevel::Error,
                &format!("cannot create the stop signals' signalfd: {e}"),
            );
            return EXIT_FAILURE;
        }
    };
    let mut ready = None;
    if config.pidfile.is_some() {
        match detach::detach() {
            Ok(detach::Detached::Parent(code)) => return code,
            Ok(detach::Detached::Child(r)) => {
                open_syslog();
                logger.syslog = true;
                ready = Some(r);
            }
            Err(e) => {
                logger.log(LogLevel::Error, &format!("cannot fork the daemon: {e}"));
                return EXIT_FAILURE;
            }
        }
    }
    match Daemon::start(config, opener, forbid, logger) {
        Ok(mut daemon) => {
            if let Some(ready) = ready {
                daemon.signal_ready_with(ready);
            }
            if let Err(e) = signals.take_over() {
                logger.log(
                    LogLevel::Error,
                    &format!("cannot block the stop signals: {e}"),
                );
            }
            daemon.stop_on(signals);
            daemon.run()
        }
        Err(e) => {
            logger.log(LogLevel::Error, &e.to_string());
            EXIT_FAILURE
        }
    }
}

/// The main thread's alarm and doorbell, shared with the servants' reporters.
struct Wakeups {
    alarm: Alarm,
    doorbell: Doorbell,
    /// When the alarm is set to go off.
    alarm_at: Mutex<Option<Instant>>,
}

impl Wakeups {
    /// Keep the alarm no later than the core's next deadline. It is left alone while it
    /// goes off no later than that and more than 1.5 loops from now: an alarm that goes
    /// off early only costs the main thread a look, and in steady state (deadlines a
    /// few loops ahead, moving one loop per round) this sets the timerfd every two or
    /// three rounds instead of every round. Should setting it fail (it does not with a
    /// valid timerfd), the doorbell rings: the main thread then looks and tries again.
    fn follow(&self, core: &DaemonCore) {
        let deadline = core.next_wake();
        let now = Instant::now();
        let mut alarm_at = self
            .alarm_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let horizon = now + core.timeouts.loop_timeout * 3 / 2;
        if alarm_at.is_some_and(|at| at <= deadline && at > horizon) {
            return;
        }
        match self
            .alarm
            .set_after(deadline.saturating_duration_since(now))
        {
            Ok(()) => *alarm_at = Some(deadline),
            Err(e) => {
                *alarm_at = None;
                core.logger
                    .log(LogLevel::Error, &format!("Setting the timerfd failed: {e}"));
                self.doorbell.ring();
            }
        }
    }
}

/// The running daemon: the shared [`DaemonCore`] and the main thread's wake-ups.
pub struct Daemon {
    core: Arc<Mutex<DaemonCore>>,
    wakeups: Arc<Wakeups>,
    stop: Option<StopSignals>,
}

/// The core, also after a thread panicked while holding it (its state stays usable).
fn lock(core: &Mutex<DaemonCore>) -> MutexGuard<'_, DaemonCore> {
    core.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The reporter servants call on their own thread: decide at once, move the main
/// thread's alarm to the next deadline, ring its doorbell only when the daemon has
/// finished.
fn reporter(core: &Arc<Mutex<DaemonCore>>, wakeups: &Arc<Wakeups>) -> servant::Reporter {
    let (core, wakeups) = (core.clone(), wakeups.clone());
    Arc::new(move |message| {
        let mut core = lock(&core);
        if core.finished.is_some() {
            return false;
        }
        match core.on_servant(message, Instant::now()) {
            Some(_) => {
                wakeups.doorbell.ring();
                false
            }
            None => {
                wakeups.follow(&core);
                true
            }
        }
    })
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

fn cluster_names(servants: &[ClusterServant]) -> String {
    if servants.is_empty() {
        return "none".into();
    }
    servants
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuse a PID file that names another running instance of this program (sbd's
/// `sbd_lock_pidfile`); a stale one is overwritten.
fn refuse_running(path: &std::path::Path) -> Result<(), StartError> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return Ok(());
    };
    if pid == std::process::id() {
        return Ok(());
    }
    let theirs = std::fs::read_link(format!("/proc/{pid}/exe"));
    let ours = std::fs::read_link("/proc/self/exe");
    match (theirs, ours) {
        (Ok(theirs), Ok(ours)) if theirs == ours => Err(StartError::AlreadyRunning {
            path: path.display().to_string(),
            pid,
        }),
        _ => Ok(()),
    }
}

/// Wait up to `-s` for a device with a valid header whose timeouts fencing can rely on
/// ([`DiskTimeouts::check_for_fencing`]); its timeouts are the running ones.
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
                    .and_then(|disk| disk.fencing_timeouts())
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
            refuse_running(path)?;
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
            cluster_servants: config.cluster_servants(),
            disk_priority: config.disk_priority,
            on_timeout: on_timeout(config.timeout_action),
        };
        let (inquisitor, warnings) = Inquisitor::new(inquisitor_config, Instant::now())?;
        for warning in warnings {
            logger.log(LogLevel::Warning, &warning.to_string());
        }
        let wakeups = Arc::new(Wakeups {
            alarm: Alarm::new().map_err(StartError::Wakeup)?,
            doorbell: Doorbell::new().map_err(StartError::Wakeup)?,
            alarm_at: Mutex::new(None),
        });
        let overdue = OverdueRounds::new(
            config.devices.len(),
            timeouts.loop_timeout,
            timeouts.io,
            Instant::now(),
        );
        let setups: Vec<servant::ServantSetup> = config
            .devices
            .iter()
            .enumerate()
            .map(|(index, path)| servant::ServantSetup {
                index,
                path: path.clone(),
                reference: disk_timeouts,
                local_name: config.local_name.clone(),
                start_mode: config.start_mode,
                loop_timeout: timeouts.loop_timeout,
                opener: opener.clone(),
                pause: std::thread::sleep,
            })
            .collect();
        logger.log(
            LogLevel::Notice,
            &format!(
                "Watching {} device(s) as {} (watchdog {:?}, loop {:?}, I/O {:?}, cluster servants: {})",
                config.devices.len(),
                config.local_name,
                timeouts.watchdog,
                timeouts.loop_timeout,
                timeouts.io,
                cluster_names(&config.cluster_servants())
            ),
        );
        let cluster_servants = config.cluster_servants();
        let pacemaker_setup = PacemakerServantSetup {
            local_name: config.local_name.to_string(),
            disks: config.devices.len(),
            loop_timeout: timeouts.loop_timeout,
            watchdog_timeout: timeouts.watchdog,
            sync_resource_startup: config.sync_resource_startup,
        };
        let core = Arc::new(Mutex::new(DaemonCore {
            config,
            logger,
            inquisitor,
            servants: Vec::new(),
            watchdog: None,
            executor,
            timeouts,
            overdue,
            finished: None,
            timer_ticking: false,
            ready: None,
        }));
        {
            // Servants report from their first round on: they wait for this lock. They
            // never take a stop signal: those are the main thread's.
            let mut guard = lock(&core);
            let _blocked = BlockedStopSignals::here();
            for setup in setups {
                let handle = servant::spawn(setup, reporter(&core, &wakeups))?;
                guard.servants.push(handle);
            }
            for servant in cluster_servants {
                match servant {
                    ClusterServant::Pacemaker => pacemaker_servant::spawn(
                        pacemaker_setup.clone(),
                        reporter(&core, &wakeups),
                    )?,
                    ClusterServant::Corosync => cluster_servant::spawn(
                        ClusterServantSetup {
                            loop_timeout: timeouts.loop_timeout,
                        },
                        reporter(&core, &wakeups),
                    )?,
                    // Read by the core at every tick.
                    ClusterServant::Palisade => {}
                }
            }
            wakeups.follow(&guard);
        }
        Ok(Daemon {
            core,
            wakeups,
            stop: None,
        })
    }

    /// Signal `ready` (the waiting parent of a forked `watch`) once the watchdog is armed,
    /// at once if it already is.
    pub fn signal_ready_with(&mut self, ready: detach::Ready) {
        lock(&self.core).set_ready(ready);
    }

    /// Stop cleanly on SIGTERM / SIGINT (the caller has blocked them, see
    /// [`StopSignals::take_over`]).
    pub fn stop_on(&mut self, signals: StopSignals) {
        self.stop = Some(signals);
    }

    /// The main thread; returns the exit code. Servants drive the daemon from their own
    /// threads ([`DaemonCore::on_servant`]) and keep moving the alarm; this only wakes
    /// when it goes off (a silent servant, a starving watchdog), a servant's report has
    /// ended the daemon, or a stop signal arrived.
    pub fn run(&mut self) -> i32 {
        loop {
            if let Some(code) = lock(&self.core).finished {
                return code;
            }
            let woken = wakeup::wait(
                &self.wakeups.alarm,
                &self.wakeups.doorbell,
                self.stop.as_ref(),
            );
            let mut core = lock(&self.core);
            let woken = woken.unwrap_or_else(|e| {
                core.logger.log(
                    LogLevel::Error,
                    &format!("Waiting for wake-ups failed: {e}"),
                );
                // Keep going on a short timer rather than stop watching.
                std::thread::sleep(core.timeouts.loop_timeout / 20);
                wakeup::Woken {
                    alarm: true,
                    ..wakeup::Woken::default()
                }
            });
            if woken.stop {
                if let Some(code) = core.stop() {
                    return code;
                }
            }
            if let Some(code) = core.finished {
                return code;
            }
            // A doorbell without an end: a failed alarm setting asks for a look.
            if woken.alarm || woken.doorbell {
                if let Some(code) = core.on_timer(Instant::now()) {
                    return code;
                }
            }
            self.wakeups.follow(&core);
        }
    }
}

#[cfg(test)]
mod tests;
