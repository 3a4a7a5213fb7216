//! The four timeouts of the header, and which values are believed.
//!
//! They are big-endian `u32` seconds that every node turns into waits: a sender sleeps
//! msgwait before a message counts as delivered, `allocate` sleeps the allocate timeout,
//! a watcher loops every loop timeout and arms its watchdog with the watchdog timeout.
//! ClusterLabs sbd believes any value, so a header with msgwait `0xffffffff` (136 years)
//! makes `message` hang without a word. Here a header timeout above
//! [`MAX_TIMEOUT_SECS`] is taken for corruption, and every place that turns a header's
//! timeouts into a wait checks them first ([`DiskTimeouts::check_bounds`]): the message
//! and ping commands, allocate, the watch daemon at start-up, fence_sbd. Fencing also
//! needs a watchdog timeout and msgwait above zero ([`DiskTimeouts::check_for_fencing`]).
//! `create` refuses to write a header that fails either check.

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
    #[error(
        "header {name} timeout is 0: a message sent with it cannot be confirmed (the \
         target is only known to be gone after its watcher read the pill or its watchdog \
         fired); the header is invalid for fencing (re-create the device with -{option} \
         above 0)"
    )]
    Zero {
        name: &'static str,
        /// The `create` option that sets it (`1` or `4`).
        option: char,
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

    /// What fencing relies on: [`DiskTimeouts::check_bounds`], and a watchdog timeout
    /// and msgwait above zero. A sender counts a message as delivered once msgwait has
    /// passed, on the grounds that by then the target's watcher has read it or its
    /// watchdog has fired: with msgwait 0 nothing has happened yet, and with a watchdog
    /// timeout of 0 no watcher can run (ClusterLabs sbd checks neither: its `message`
    /// sleeps 0 s and reports the message delivered, and its fence_sbd reports success).
    pub fn check_for_fencing(&self) -> Result<(), TimeoutError> {
        self.check_bounds()?;
        for (name, option, secs) in [
            ("watchdog", '1', self.watchdog),
            ("msgwait", '4', self.msgwait),
        ] {
            if secs == 0 {
                return Err(TimeoutError::Zero { name, option });
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
