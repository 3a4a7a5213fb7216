//! The four timeouts of the header, and which values are believed.
//!
//! They are big-endian `u32` seconds that every node turns into waits: a sender sleeps
//! msgwait before a message counts as delivered, `allocate` sleeps the allocate timeout,
//! a watcher loops every loop timeout and arms its watchdog with the watchdog timeout.
//! ClusterLabs sbd believes any value, so a header with msgwait `0xffffffff` (136 years)
//! makes `message` hang without a word. Here a header timeout above
//! [`MAX_TIMEOUT_SECS`] is taken for corruption, and every place that turns a header's
//! timeouts into a wait checks them first ([`DiskTimeouts::check_bounds`]): the message
//! and ping commands, allocate, the watch daemon at start-up, fence_sbd. `create` refuses
//! to write such values.

/// Largest header timeout believed, in seconds (one hour). Real configurations stay far
/// below: sbd's defaults are watchdog 5 / msgwait 10 (15 / 30 on s390), and setups on
/// slow multipath storage use up to about 60 / 120. A fence that cannot be confirmed
/// within an hour is no use to a cluster, and a stonith-timeout above 2 × msgwait would
/// have to exceed two hours.
pub const MAX_TIMEOUT_SECS: u32 = 3600;

/// A header timeout that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeoutError {
    #[error(
        "header {name} timeout {secs} s is above the sane maximum of {MAX_TIMEOUT_SECS} s: \
         the header is corrupted (re-create the device with `create`, -{option} at most \
         {MAX_TIMEOUT_SECS})"
    )]
    TooLong {
        name: &'static str,
        /// The `create` option that sets it (`1` .. `4`).
        option: char,
        secs: u32,
    },
}

/// The four timeouts stored in the header, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskTimeouts {
    /// `-1`: watchdog timeout.
    pub watchdog: u32,
    /// `-2`: wait after claiming a slot.
    pub allocate: u32,
    /// `-3`: watcher loop period.
    pub loop_timeout: u32,
    /// `-4`: how long a sender waits before a message counts as delivered.
    pub msgwait: u32,
}

impl Default for DiskTimeouts {
    /// sbd's defaults: watchdog 5, allocate 2, loop 1, msgwait 10.
    fn default() -> DiskTimeouts {
        DiskTimeouts {
            watchdog: 5,
            allocate: 2,
            loop_timeout: 1,
            msgwait: 10,
        }
    }
}

impl DiskTimeouts {
    /// Every timeout is at most [`MAX_TIMEOUT_SECS`].
    pub fn check_bounds(&self) -> Result<(), TimeoutError> {
        for (name, option, secs) in self.named() {
            if secs > MAX_TIMEOUT_SECS {
                return Err(TimeoutError::TooLong { name, option, secs });
            }
        }
        Ok(())
    }

    /// Name, `create` option and value of each timeout, in header order.
    fn named(&self) -> [(&'static str, char, u32); 4] {
        [
            ("watchdog", '1', self.watchdog),
            ("allocate", '2', self.allocate),
            ("loop", '3', self.loop_timeout),
            ("msgwait", '4', self.msgwait),
        ]
    }
}
