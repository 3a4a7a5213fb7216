//! The action sequences, once for every agent: status, on, off, reboot (on/off or one
//! cycle), monitor, list, list-status, diag — over any [`PowerDevice`], with sleeps and
//! clock behind [`Clock`] so the sequences are unit-tested instantly with a fake device.
//!
//! Semantics follow ClusterLabs `fencing.py` with two deliberate differences: a reboot
//! whose power-on half fails is reported as a failure (ClusterLabs reports success); and
//! after a power change a failed status read is "not yet", retried until power_timeout
//! (ClusterLabs aborts the action at the first exception while polling), so a device that
//! drops one answer while it switches does not fail a fencing that worked. The read
//! before any switching stays authoritative: a missing plug fails there.

use std::time::{Duration, Instant};

use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::log::{Level, LogSink};
use crate::params::{Action, Method, Timing};

/// Time as the sequences see it.
pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&mut self, d: Duration);
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A successful action, with what to print on stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// `status`: the state read.
    Status(PowerState),
    /// `on`/`off` found the plug already there.
    Already(PowerState),
    /// `on`/`off` switched and the state was confirmed.
    Powered(PowerState),
    /// `reboot` done (off confirmed and on confirmed, or one cycle sent).
    Rebooted,
    /// `diag` sent (ClusterLabs reports it as a reboot).
    DiagSent,
    /// `monitor`: device reachable; prints nothing.
    Monitored,
    /// `list` / `list-status`: one line per plug.
    Listed(Vec<String>),
    /// `list` on a device without plugs.
    NoPlugs,
    /// `list` on a plug device that cannot enumerate.
    ListUnsupported,
}

impl Done {
    /// Lines for stdout, in ClusterLabs' words.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Done::Status(s) => vec![format!("Status: {}", s.as_upper())],
            Done::Already(s) => vec![format!("Success: Already {}", s.as_upper())],
            Done::Powered(s) => vec![format!("Success: Powered {}", s.as_upper())],
            Done::Rebooted => vec!["Success: Rebooted".into()],
            Done::DiagSent => vec!["Success: Rebooted".into()],
            Done::Monitored => Vec::new(),
            Done::Listed(lines) => lines.clone(),
            Done::NoPlugs => vec!["N/A".into()],
            Done::ListUnsupported => {
                vec!["NOTICE: List option is not working on this device yet".into()]
            }
        }
    }
}

/// Why an action failed (exit 1). The message keeps the ClusterLabs words and the reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Failure {
    /// Talking to the device failed (login, timeout, connection...).
    #[error("{0}")]
    Device(#[from] DeviceError),
    /// The state did not arrive within power_timeout (EC_WAITING_ON / EC_WAITING_OFF).
    #[error("Failed: Timed out waiting to power {}", .0.as_upper())]
    Waiting(PowerState),
    /// Reboot: the node was powered off (fenced) but did not come back on.
    #[error("Failed: node was powered OFF but did not power back ON: {0}")]
    NotBackOn(Box<Failure>),
    /// The action needs a capability this device lacks.
    #[error("Failed: action {0} is not supported by this agent")]
    NotSupported(&'static str),
}

/// What one run acts on: `[None]` for a port-less device, else the plugs.
pub type Targets = [Option<String>];

/// Everything a sequence needs besides the device.
pub struct Sequence<'a> {
    pub timing: Timing,
    pub method: Method,
    /// The device reads power ([`crate::agent::Agent::has_status`]); when false, power
    /// commands are synchronous and their success is the result.
    pub has_status: bool,
    pub clock: &'a mut dyn Clock,
    pub log: &'a mut dyn LogSink,
}

impl Sequence<'_> {
    /// Give the device its bound for the next step: power_timeout (at least 1 s), even
    /// under disable_timeout — a device that does not answer one request in that time
    /// is lost, and failing lets the fencer try the next topology level.
    fn step(&self, device: &mut dyn PowerDevice) {
        let bound = self.timing.power_timeout.max(Duration::from_secs(1));
        device.set_deadline(Deadline::at(self.clock.now() + bound));
    }

    /// Run `action` against `device`.
    pub fn run(
        &mut self,
        device: &mut dyn PowerDevice,
        action: Action,
        targets: &Targets,
        list_capable: Option<bool>,
        separator: &str,
    ) -> Result<Done, Failure> {
        if !self.has_status {
            return self.run_without_status(device, action, targets);
        }
        match action {
            Action::Status => Ok(Done::Status(self.status(device, targets)?)),
            Action::On => self.switch(device, targets, PowerState::On),
            Action::Off => self.switch(device, targets, PowerState::Off),
            Action::Reboot => self.reboot(device, targets),
            Action::Diag => {
                for t in targets {
                    self.step(device);
                    device.diag(t.as_deref())?;
                }
                self.clock.sleep(self.timing.power_wait);
                Ok(Done::DiagSent)
            }
            Action::Monitor => {
                match list_capable {
                    Some(true) => {
                        self.step(device);
                        device.list_plugs()?;
                    }
                    _ => {
                        self.status(device, &[None])?;
                    }
                }
                Ok(Done::Monitored)
            }
            Action::List | Action::ListStatus => match list_capable {
                None => Ok(Done::NoPlugs),
                Some(false) => Ok(Done::ListUnsupported),
                Some(true) => self.list(device, action == Action::ListStatus, separator),
            },
            Action::Metadata | Action::Manpage | Action::ValidateAll => {
                Err(Failure::NotSupported(action.name()))
            }
        }
    }

    /// The sequences of a device without status (ClusterLabs `no_status` with a
    /// synchronous set): no read before or after, one command per target tried up to
    /// `rounds` times, its success is the answer. Reboot is one cycle command (up to
    /// 1 + retry_on tries) with `--method cycle`, else off then on.
    fn run_without_status(
        &mut self,
        device: &mut dyn PowerDevice,
        action: Action,
        targets: &Targets,
    ) -> Result<Done, Failure> {
        match action {
            Action::On => {
                self.sync_phase(device, targets, PowerState::On, 1 + self.timing.retry_on)?;
                Ok(Done::Powered(PowerState::On))
            }
            Action::Off => {
                self.sync_phase(device, targets, PowerState::Off, 1)?;
                Ok(Done::Powered(PowerState::Off))
            }
            Action::Reboot if self.method == Method::Cycle => {
                for t in targets {
                    let mut tries = 1 + self.timing.retry_on;
                    loop {
                        self.step(device);
                        match device.power_cycle(t.as_deref()) {
                            Ok(()) => break,
                            Err(e) if tries > 1 => {
                                self.log.log(Level::Warning, &e.to_string());
                                tries -= 1;
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
                self.clock.sleep(self.timing.power_wait);
                Ok(Done::Rebooted)
            }
            Action::Reboot => {
                self.sync_phase(device, targets, PowerState::Off, 1)?;
                self.sync_phase(device, targets, PowerState::On, self.timing.retry_on.max(1))
                    .map_err(|e| Failure::NotBackOn(Box::new(e)))?;
                Ok(Done::Rebooted)
            }
            Action::Monitor => Ok(Done::Monitored),
            other => Err(Failure::NotSupported(other.name())),
        }
    }

    /// One synchronous power command per target, up to `rounds` tries each; a target
    /// whose every try failed fails the phase (its last error logged).
    fn sync_phase(
        &mut self,
        device: &mut dyn PowerDevice,
        targets: &Targets,
        to: PowerState,
        rounds: u32,
    ) -> Result<(), Failure> {
        for t in targets {
            let mut done = false;
            for round in 1..=rounds.max(1) {
                self.step(device);
                match device.set_power(t.as_deref(), to) {
                    Ok(()) => {
                        done = true;
                        break;
                    }
                    Err(e) => self.log.log(
                        Level::Error,
                        &format!("power {} (try {round} of {rounds}): {e}", to.as_upper()),
                    ),
                }
            }
            self.clock.sleep(self.timing.power_wait);
            if !done {
                return Err(Failure::Waiting(to));
            }
        }
        Ok(())
    }

    /// ON if any target is on.
    fn status(
        &mut self,
        device: &mut dyn PowerDevice,
        targets: &Targets,
    ) -> Result<PowerState, Failure> {
        let mut any_on = false;
        for t in targets {
            self.step(device);
            let s = device.power_status(t.as_deref())?;
            self.log.log(
                Level::Debug,
                &format!(
                    "Status of {}: {}",
                    t.as_deref().unwrap_or("device"),
                    s.as_upper()
                ),
            );
            any_on |= s == PowerState::On;
        }
        Ok(if any_on {
            PowerState::On
        } else {
            PowerState::Off
        })
    }

    fn switch(
        &mut self,
        device: &mut dyn PowerDevice,
        targets: &Targets,
        to: PowerState,
    ) -> Result<Done, Failure> {
        if self.status(device, targets)? == to {
            return Ok(Done::Already(to));
        }
        let rounds = match to {
            PowerState::On => 1 + self.timing.retry_on,
            PowerState::Off => 1,
        };
        self.phase(device, targets, to, rounds)?;
        Ok(Done::Powered(to))
    }

    fn reboot(&mut self, device: &mut dyn PowerDevice, targets: &Targets) -> Result<Done, Failure> {
        let now = self.status(device, targets)?;
        if self.method == Method::Cycle && now == PowerState::On {
            for t in targets {
                self.step(device);
                device.power_cycle(t.as_deref())?;
            }
            self.clock.sleep(self.timing.power_wait);
            return Ok(Done::Rebooted);
        }
        if now == PowerState::On {
            self.phase(device, targets, PowerState::Off, 1)?;
        }
        let rounds = self.timing.retry_on.max(1);
        self.phase(device, targets, PowerState::On, rounds)
            .map_err(|e| Failure::NotBackOn(Box::new(e)))?;
        Ok(Done::Rebooted)
    }

    /// Send `to` to every target and wait until all report it, up to `rounds` times.
    fn phase(
        &mut self,
        device: &mut dyn PowerDevice,
        targets: &Targets,
        to: PowerState,
        rounds: u32,
    ) -> Result<(), Failure> {
        let mut last = Failure::Waiting(to);
        for round in 1..=rounds.max(1) {
            self.log.log(
                Level::Info,
                &format!("Powering {} (attempt {round} of {rounds})", to.as_upper()),
            );
            for t in targets {
                self.step(device);
                device.set_power(t.as_deref(), to)?;
            }
            self.clock.sleep(self.timing.power_wait);
            match self.wait_for(device, targets, to) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.log.log(Level::Warning, &e.to_string());
                    last = e;
                }
            }
        }
        Err(last)
    }

    /// Poll until every target reports `to`, for at most power_timeout (no limit with
    /// disable_timeout: the caller's own timeout governs).
    ///
    /// Verification survives a flaky device: after a power change, a read that fails —
    /// whatever the device layer calls the failure (timeout, SNMP error, HTTP 5xx,
    /// truncated CLI output, even "no such plug" from a device busy switching) — means
    /// "not yet", never "failed". Only a poll round in which every target reads
    /// successfully as `to` ends the wait early. The authoritative read is the one
    /// *before* anything is switched ([`Sequence::status`]): a plug that never existed
    /// fails there, with nothing sent to the device.
    fn wait_for(
        &mut self,
        device: &mut dyn PowerDevice,
        targets: &Targets,
        to: PowerState,
    ) -> Result<(), Failure> {
        let until =
            (!self.timing.disable_timeout).then(|| self.clock.now() + self.timing.power_timeout);
        let mut last_error: Option<DeviceError> = None;
        loop {
            let mut reached = true;
            for t in targets {
                self.step(device);
                match device.power_status(t.as_deref()) {
                    Ok(s) => reached &= s == to,
                    Err(e) => {
                        self.log.log(
                            Level::Debug,
                            &format!("status poll failed (not yet {}): {e}", to.as_upper()),
                        );
                        last_error = Some(e);
                        reached = false;
                    }
                }
            }
            if reached {
                return Ok(());
            }
            if until.is_some_and(|u| self.clock.now() >= u) {
                if let Some(e) = last_error {
                    self.log
                        .log(Level::Warning, &format!("last failed status read: {e}"));
                }
                return Err(Failure::Waiting(to));
            }
            self.clock.sleep(self.timing.status_sleep);
        }
    }

    fn list(
        &mut self,
        device: &mut dyn PowerDevice,
        with_status: bool,
        sep: &str,
    ) -> Result<Done, Failure> {
        self.step(device);
        let plugs: Vec<Plug> = device.list_plugs()?;
        let mut lines = Vec::with_capacity(plugs.len());
        for p in plugs {
            if with_status {
                self.step(device);
                let state = match device.power_status(Some(&p.id)) {
                    Ok(s) => s.as_upper(),
                    Err(_) => "UNKNOWN",
                };
                lines.push(format!("{}{sep}{}{sep}{state}", p.id, p.alias));
            } else {
                lines.push(format!("{}{sep}{}", p.id, p.alias));
            }
        }
        Ok(Done::Listed(lines))
    }
}

#[cfg(test)]
mod tests;
