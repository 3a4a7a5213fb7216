//! Linux watchdog devices (/dev/watchdog and friends): open, set and read the timeout,
//! keep alive, magic close on a clean stop, and a capability probe that never arms the device.
//! The device path always comes from configuration.
//!
//! * [`Watchdog`] is the seam the sbd daemon drives: pet, timeouts, identity, and the one
//!   clean way out, [`Watchdog::disarm_with_magic_close`]. Dropping an armed watchdog
//!   never disarms it: a fencing exit leaves it running so it fires as a back-up.
//! * [`DevWatchdog`] talks to a real device node with the `WDIOC_*` ioctls ([`ioctl`]).
//! * [`probe`] reads sysfs only; it never opens a `/dev` node (sbd's `query-watchdog` arms
//!   the device and has rebooted machines with `nowayout`).
//! * [`TestWatchdog`] and [`PetFileWatchdog`] are test devices: the first models expiry
//!   against a clock you control, the second appends pets to a file so a test can watch
//!   another process pet (or stop petting) its watchdog.
//! * [`WatchdogConfig`] turns the configured setting (`/dev/watchdogN`, `/dev/null`,
//!   `pet-file:PATH`) into an armed `Box<dyn Watchdog>`.
//! * [`SelfFence`] executes reboot / off / crashdump. The real executor,
//!   [`KernelSelfFence`], needs a [`Production`] token that tests cannot obtain;
//!   [`RecordingSelfFence`] only records what was decided.

pub mod config;
pub mod device;
pub mod fence;
pub mod ioctl;
pub mod petlog;
pub mod probe;
pub mod testing;

use std::time::Duration;

pub use config::{WatchdogConfig, WatchdogConfigError};
pub use device::{DevWatchdog, WatchdogIdentity};
pub use fence::{
    FenceKind, KernelSelfFence, Production, RecordingSelfFence, SelfFence, SelfFenceError,
    SelfFenceRecord, TimeoutAction, TimeoutActionError, FORBID_ENV,
};
pub use petlog::{monotonic_now, PetFileWatchdog, PetLog, PetLogError, PetRecord, PetRecordKind};
pub use probe::{probe, probe_at, ProbeError, ProbedWatchdog};
pub use testing::{Clock, ManualClock, SystemClock, TestWatchdog, TestWatchdogHandle};

/// Why a watchdog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WatchdogError {
    /// Opening the device node failed (it is not armed then).
    #[error("cannot open watchdog device {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// An ioctl or write on an open device failed.
    #[error("watchdog {path}: {operation} failed: {source}")]
    Io {
        path: String,
        operation: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The driver does not implement this operation.
    #[error("watchdog {path}: {operation} is not supported by the driver")]
    Unsupported {
        path: String,
        operation: &'static str,
    },
    /// A timeout that does not fit the driver interface (whole seconds, 1..=i32::MAX).
    #[error("watchdog timeout {0:?} is not a whole number of seconds in 1..=2147483647")]
    BadTimeout(Duration),
    /// The watchdog was already disarmed with a magic close; nothing more can be done.
    #[error("watchdog {0} was already disarmed (magic close)")]
    Disarmed(String),
}

/// A watchdog timer the daemon keeps alive.
///
/// Contract: once armed, the only way to stop the timer is
/// [`disarm_with_magic_close`](Watchdog::disarm_with_magic_close), used on a clean stop
/// (`exit` message, SIGTERM). Dropping an implementation must leave the timer running so a
/// fencing exit is backed by the hardware.
pub trait Watchdog: std::fmt::Debug {
    /// Keep the timer alive ("pet", "tickle").
    fn keepalive(&mut self) -> Result<(), WatchdogError>;
    /// Ask for a new timeout; returns the timeout the driver actually applied.
    fn set_timeout(&mut self, timeout: Duration) -> Result<Duration, WatchdogError>;
    /// The current timeout.
    fn get_timeout(&mut self) -> Result<Duration, WatchdogError>;
    /// Time left before the timer fires; `Ok(None)` when the driver cannot tell.
    fn time_left(&mut self) -> Result<Option<Duration>, WatchdogError>;
    /// Clean stop: disable the card and write the magic close character `V`.
    /// After this every other call fails with [`WatchdogError::Disarmed`].
    fn disarm_with_magic_close(&mut self) -> Result<(), WatchdogError>;
    /// Driver identity and the configured path, for logs.
    fn identity(&self) -> &WatchdogIdentity;
}

/// Convert a timeout to whole seconds for the driver interface.
pub(crate) fn timeout_secs(timeout: Duration) -> Result<i32, WatchdogError> {
    if timeout.subsec_nanos() != 0 || timeout.as_secs() == 0 {
        return Err(WatchdogError::BadTimeout(timeout));
    }
    i32::try_from(timeout.as_secs()).map_err(|_| WatchdogError::BadTimeout(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_secs_accepts_whole_seconds_only() {
        assert_eq!(timeout_secs(Duration::from_secs(5)).ok(), Some(5));
        assert!(timeout_secs(Duration::from_millis(1500)).is_err());
        assert!(timeout_secs(Duration::ZERO).is_err());
        assert!(timeout_secs(Duration::from_secs(1 << 40)).is_err());
    }
}
