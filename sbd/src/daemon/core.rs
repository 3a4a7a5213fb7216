//! The daemon's shared state and the I/O of the inquisitor's actions: one
//! [`DaemonCore`] behind a mutex, driven from two sides.
//!
//! * Servant threads hand it their reports ([`DaemonCore::on_servant`]) right after
//!   their round; a report that comes once half a loop has passed since the last tick
//!   also ticks, so in steady state the tick, the pet and the decision happen on the
//!   servant's own wake-up and nothing else runs.
//! * The main thread wakes at [`DaemonCore::next_wake`] ([`DaemonCore::on_timer`]; the
//!   servants keep its timerfd set to that after their reports): when a servant goes
//!   silent ([`OverdueRounds`]; from then on it ticks every loop itself until a report
//!   ticks again, so a healthy cluster can keep the node alive), and exactly when the
//!   last pet becomes a watchdog timeout old (the timeout action runs on time whoever
//!   ticks). Without devices it ticks every loop itself. In steady state it never
//!   wakes: its deadlines keep moving away. Stop signals come through it too
//!   ([`DaemonCore::stop`]).
//!
//! Once an action ends the daemon (clean exit, self-fence, aborted start) the exit code
//! is kept in [`DaemonCore::finished`] and every later call does nothing.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use watchdog::{SelfFence, Watchdog};

use super::config::WatchConfig;
use super::support::Logger;
use super::{executor_kind, exit_code_for, health, EXIT_CLEAN, EXIT_FAILURE};
use crate::inquisitor::{
    Action, ClusterServant, Event, FenceCause, FenceKind, Inquisitor, LogLevel, Phase,
    ServantFailure, Timeouts,
};
use crate::servant::{OverdueRounds, ServantHandle, ServantMessage};

/// When the main thread ticks, it does so at most loop timeout / this late.
const TIMER_TICK_GRACE: u32 = 20;

/// Everything the daemon decides with and acts on.
pub struct DaemonCore {
    pub config: WatchConfig,
    pub logger: Logger,
    pub inquisitor: Inquisitor,
    pub servants: Vec<ServantHandle>,
    pub watchdog: Option<Box<dyn Watchdog + Send>>,
    pub executor: Box<dyn SelfFence + Send>,
    pub timeouts: Timeouts,
    pub overdue: OverdueRounds,
    /// The exit code, once the daemon has finished.
    pub finished: Option<i32>,
    /// The last tick came from the main thread's timer: no report brings ticks now.
    pub timer_ticking: bool,
    /// The parent of a forked `watch`, waiting for the watchdog to be armed.
    pub ready: Option<super::detach::Ready>,
}

impl DaemonCore {
    /// A servant's message, on the servant's thread; `Some(code)` ends the daemon.
    pub fn on_servant(&mut self, message: ServantMessage, now: Instant) -> Option<i32> {
        if self.finished.is_some() {
            return self.finished;
        }
        let code = match message {
            ServantMessage::Event(event) => {
                if let Event::ServantReport { device, .. } = &event {
                    self.overdue.heard(*device, now);
                }
                self.feed(event)
            }
            ServantMessage::Log { level, message } => {
                self.logger.log(level, &message);
                None
            }
            ServantMessage::StartRefused { device, refusal } => {
                self.overdue.heard(device, now);
                let path = self.config.devices.get(device).cloned().unwrap_or_default();
                if self.inquisitor.phase() == Phase::Starting {
                    self.logger
                        .log(LogLevel::Error, &format!("{path}: {refusal}"));
                    Some(self.finish(EXIT_FAILURE))
                } else {
                    self.feed(Event::ServantReport {
                        device,
                        result: Err(ServantFailure {
                            reason: format!("{path}: {refusal}"),
                        }),
                    })
                }
            }
        };
        if code.is_some() {
            return code;
        }
        if let Some(code) = self.timed_out_servants(now) {
            return Some(code);
        }
        let loop_timeout = self.timeouts.loop_timeout;
        let due = self.inquisitor.next_tick().checked_sub(loop_timeout / 2);
        if due.is_some_and(|due| now >= due) {
            self.timer_ticking = false;
            return self.tick();
        }
        None
    }

    /// The main thread's wake-up: silent servants, a starving watchdog, and ticks while
    /// no report brings them.
    pub fn on_timer(&mut self, now: Instant) -> Option<i32> {
        if self.finished.is_some() {
            return self.finished;
        }
        let late = self.overdue.overdue(now);
        if !late.is_empty() {
            // Some servant hangs: tick here every loop until reports tick again (the
            // cluster may keep the node alive; the timeout action must run on time).
            self.timer_ticking = true;
        }
        for device in late {
            if let Some(code) = self.feed(Event::ServantTimedOut { device }) {
                return Some(code);
            }
        }
        let timer_due = self.timer_tick_at().is_some_and(|at| now >= at);
        if timer_due || now >= self.starved_at() {
            return self.tick();
        }
        None
    }

    /// Signal `ready` once armed (now, if the watchdog already is).
    pub fn set_ready(&mut self, mut ready: super::detach::Ready) {
        if self.inquisitor.phase() == Phase::Running {
            ready.signal();
        } else {
            self.ready = Some(ready);
        }
    }

    /// SIGTERM / SIGINT.
    pub fn stop(&mut self) -> Option<i32> {
        if self.finished.is_some() {
            return self.finished;
        }
        self.feed(Event::StopRequested)
    }

    /// When the main thread must look again at the latest.
    pub fn next_wake(&self) -> Instant {
        let mut wake = self.starved_at();
        if let Some(tick) = self.timer_tick_at() {
            wake = wake.min(tick);
        }
        if let Some(deadline) = self.overdue.next_deadline() {
            wake = wake.min(deadline);
        }
        wake
    }

    /// When the timer must tick, if it must: always without devices, and after a
    /// servant went silent until a report ticks again; otherwise reports tick and the
    /// timer only covers a starving watchdog and silent servants.
    fn timer_tick_at(&self) -> Option<Instant> {
        let timer_ticks = self.config.devices.is_empty() || self.timer_ticking;
        timer_ticks
            .then(|| self.inquisitor.next_tick() + self.timeouts.loop_timeout / TIMER_TICK_GRACE)
    }

    /// Just past the moment the last pet is a watchdog timeout old: the inquisitor's
    /// timeout action (or start-up abort) is due then, whoever ticks.
    fn starved_at(&self) -> Instant {
        self.inquisitor.last_pet() + self.timeouts.watchdog + Duration::from_millis(1)
    }

    fn timed_out_servants(&mut self, now: Instant) -> Option<i32> {
        for device in self.overdue.overdue(now) {
            if let Some(code) = self.feed(Event::ServantTimedOut { device }) {
                return Some(code);
            }
        }
        None
    }

    /// Read the cluster health (with cluster integration) and tick the inquisitor.
    fn tick(&mut self) -> Option<i32> {
        let palisade = self
            .inquisitor
            .config()
            .cluster_servants
            .contains(&ClusterServant::Palisade);
        if let (true, Some(path)) = (palisade, &self.config.health_file) {
            let report =
                health::read_health(path, SystemTime::now(), self.timeouts.servant_liveness());
            if let Some(health) = report {
                if let Some(code) = self.feed(Event::ClusterHealth(health)) {
                    return Some(code);
                }
            }
        }
        self.feed(Event::Tick)
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
            Action::ArmWatchdog => return self.arm_watchdog(),
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

    fn arm_watchdog(&mut self) -> Option<i32> {
        let code = self.arm_watchdog_device();
        if code.is_none() {
            if let Some(mut ready) = self.ready.take() {
                ready.signal();
            }
        }
        code
    }

    fn arm_watchdog_device(&mut self) -> Option<i32> {
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

    /// Remove the PID file and keep `code` as the exit code; returns it.
    fn finish(&mut self, code: i32) -> i32 {
        if let Some(path) = &self.config.pidfile {
            remove_pidfile(path);
        }
        self.finished = Some(code);
        code
    }
}

pub(super) fn remove_pidfile(path: &Path) {
    let _ = std::fs::remove_file(path);
}
