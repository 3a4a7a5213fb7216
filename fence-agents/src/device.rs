//! The seam between the shared framework and a device family.
//!
//! An agent only says how to read power, set power and list plugs; everything else
//! (option parsing, the on/off/reboot sequences, status polling, exit codes, metadata)
//! lives in the framework and drives a device through [`PowerDevice`]. The same trait
//! is what the palisade fencer calls in-process, without forking an agent.
//!
//! Calls block. Each call must return within the [`Deadline`] the device was built with:
//! a device that does not answer is an error, never a hang.

use std::time::{Duration, Instant};

/// Observed power state of a node or outlet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PowerState {
    On,
    Off,
}

impl PowerState {
    /// The word ClusterLabs prints: `ON` / `OFF`.
    pub fn as_upper(self) -> &'static str {
        match self {
            PowerState::On => "ON",
            PowerState::Off => "OFF",
        }
    }
}

/// One plug (outlet, port, VM, system) a device can power; `alias` may be empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plug {
    pub id: String,
    pub alias: String,
}

/// The instant by which an operation must be over, carried from the caller down to
/// every network step. `None` means no limit (pacemaker's `disable_timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// No limit at all.
    pub const NONE: Deadline = Deadline(None);

    /// A deadline `after` from now.
    pub fn after(after: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(after))
    }

    /// A deadline at a given instant.
    pub fn at(when: Instant) -> Deadline {
        Deadline(Some(when))
    }

    /// The instant, if any.
    pub fn instant(self) -> Option<Instant> {
        self.0
    }

    /// Time left; `None` when there is no limit, zero when it has passed.
    pub fn remaining(self) -> Option<Duration> {
        self.0.map(|t| t.saturating_duration_since(Instant::now()))
    }

    /// True once the deadline has passed.
    pub fn expired(self) -> bool {
        self.remaining() == Some(Duration::ZERO)
    }

    /// The smaller of this deadline and `step` from now: how long one step may take.
    pub fn bound(self, step: Duration) -> Duration {
        match self.remaining() {
            Some(left) => left.min(step),
            None => step,
        }
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Deadline) -> Deadline {
        match (self.0, other.0) {
            (Some(a), Some(b)) => Deadline(Some(a.min(b))),
            (Some(a), None) | (None, Some(a)) => Deadline(Some(a)),
            (None, None) => Deadline(None),
        }
    }
}

/// Why a device operation failed. Each variant maps to one ClusterLabs EC_* reason
/// (kept in the message; the process exit status is 1 for all of them, as ClusterLabs).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DeviceError {
    /// The device refused our credentials (EC_LOGIN_DENIED).
    #[error("Unable to connect/login to fencing device: authentication failed: {0}")]
    LoginDenied(String),
    /// The device did not answer within the timeout (EC_TIMED_OUT).
    #[error("Connection timed out: {0}")]
    TimedOut(String),
    /// The connection broke or could not be made (EC_CONNECTION_LOST).
    #[error("Connection lost: {0}")]
    ConnectionLost(String),
    /// The account may not perform this action (EC_INVALID_PRIVILEGES).
    #[error("The user does not have the correct privileges to do the requested action: {0}")]
    InsufficientPrivilege(String),
    /// The plug named by the caller does not exist on the device (EC_STATUS).
    #[error("Plug {0} does not exist on this device")]
    NoSuchPlug(String),
    /// The device cannot do this operation at all (cycle, diag, list).
    #[error("This device does not support {0}")]
    Unsupported(&'static str),
    /// The device answered something we cannot use.
    #[error("Device protocol error: {0}")]
    Protocol(String),
}

/// A fence device as the framework sees it. `plug` is `None` for port-less devices
/// (one BMC = one node); plug-based devices get the plug id or name the user gave.
pub trait PowerDevice {
    /// Read the power state of `plug`.
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError>;

    /// Ask the device to switch `plug` to `to`. Returning Ok means the request was
    /// accepted, not that the state was reached: the framework polls `power_status`.
    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError>;

    /// One hard power cycle (`--method cycle`).
    fn power_cycle(&mut self, _plug: Option<&str>) -> Result<(), DeviceError> {
        Err(DeviceError::Unsupported("power cycle"))
    }

    /// A diagnostic interrupt (NMI), action `diag`.
    fn diag(&mut self, _plug: Option<&str>) -> Result<(), DeviceError> {
        Err(DeviceError::Unsupported("diagnostic interrupt"))
    }

    /// Bound every later call by `deadline` (the framework sets one per step: a status
    /// read or a power command may take at most power_timeout). Devices that bound
    /// their requests by other means may ignore it.
    fn set_deadline(&mut self, _deadline: Deadline) {}

    /// The plugs the device knows, in the device's own order.
    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        Err(DeviceError::Unsupported("listing plugs"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_takes_the_smaller_of_step_and_remaining() {
        assert_eq!(
            Deadline::NONE.bound(Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        let d = Deadline::after(Duration::from_millis(100));
        assert!(d.bound(Duration::from_secs(3)) <= Duration::from_millis(100));
        assert!(!d.expired());
        assert!(Deadline::at(Instant::now()).expired());
    }
}
