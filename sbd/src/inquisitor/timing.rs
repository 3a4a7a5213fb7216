//! The sbd timing model and start-up checks, as pure functions: the four on-disk timeouts
//! plus the I/O timeout, the relations between them, the latency warning threshold, the
//! fencing-timeout rule from sbd(8), and start mode `clean`.

use std::str::FromStr;
use std::time::Duration;

use super::MailboxCommand;

/// The timeouts one sbd node runs with. Defaults are sbd's: watchdog 5 s, allocate 2 s,
/// loop 1 s, msgwait 10 s (on disk) and I/O 3 s (`-I`, runtime only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Watchdog timeout (`-1`): no pet for this long resets the node.
    pub watchdog: Duration,
    /// Allocate timeout (`-2`): wait after writing a slot claim.
    pub allocate: Duration,
    /// Loop timeout (`-3`): servants read their mailbox once per loop; the inquisitor
    /// wakes at least once per loop.
    pub loop_timeout: Duration,
    /// msgwait (`-4`): a sender counts a message as delivered after this long.
    pub msgwait: Duration,
    /// I/O timeout (`-I`): a read that takes longer failed.
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            watchdog: Duration::from_secs(5),
            allocate: Duration::from_secs(2),
            loop_timeout: Duration::from_secs(1),
            msgwait: Duration::from_secs(10),
            io: Duration::from_secs(3),
        }
    }
}

impl Timeouts {
    /// A device servant counts as good while its last report is younger than this
    /// (sbd: I/O timeout + loop timeout).
    pub fn servant_liveness(&self) -> Duration {
        self.io + self.loop_timeout
    }

    /// sbd's default latency warning threshold: 2 s below a 5 s watchdog, else 3/5 of it
    /// (whole seconds, rounded down).
    pub fn default_warn_threshold(&self) -> Duration {
        let secs = self.watchdog.as_secs();
        if secs < 5 {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(secs * 3 / 5)
        }
    }
}

/// A timing configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    #[error("{0} timeout must be greater than zero")]
    Zero(&'static str),
    #[error("loop timeout {loop_timeout:?} must be below the watchdog timeout {watchdog:?}: the inquisitor pets at most once per loop")]
    LoopNotBelowWatchdog {
        loop_timeout: Duration,
        watchdog: Duration,
    },
    #[error("msgwait {msgwait:?} must exceed the watchdog timeout {watchdog:?}: a node that cannot read its slot is only gone once its watchdog fired")]
    MsgwaitNotAboveWatchdog {
        msgwait: Duration,
        watchdog: Duration,
    },
    #[error("latency warning threshold {warn:?} must be below the watchdog timeout {watchdog:?}")]
    WarnNotBelowWatchdog { warn: Duration, watchdog: Duration },
    #[error("fencing timeout {fencing:?} must exceed msgwait {msgwait:?}, or a poison-pill fence can never succeed")]
    FencingTimeoutNotAboveMsgwait {
        fencing: Duration,
        msgwait: Duration,
    },
}

/// Legal but risky timing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimingWarning {
    #[error("msgwait {msgwait:?} is below I/O + loop + watchdog timeouts ({bound:?}): a node that lost its disk just before the message may still run when the message counts as delivered")]
    MsgwaitBelowWorstCase { msgwait: Duration, bound: Duration },
    #[error("msgwait {msgwait:?} is below twice the watchdog timeout {watchdog:?} (sbd(8) recommends 2x)")]
    MsgwaitBelowTwiceWatchdog {
        msgwait: Duration,
        watchdog: Duration,
    },
    #[error("I/O + loop timeouts ({liveness:?}) reach the watchdog timeout {watchdog:?}: a lost disk is noticed only after the watchdog could have fired")]
    LivenessNotBelowWatchdog {
        liveness: Duration,
        watchdog: Duration,
    },
    #[error("fencing timeout {fencing:?} is below twice msgwait {msgwait:?} (sbd(8) asks for at least 2x)")]
    FencingTimeoutBelowTwiceMsgwait {
        fencing: Duration,
        msgwait: Duration,
    },
}

/// Check the relations between the timeouts. `warn` is an explicit latency warning
/// threshold (`-5`), `None` for the default.
pub fn validate_timeouts(
    t: &Timeouts,
    warn: Option<Duration>,
) -> Result<Vec<TimingWarning>, TimingError> {
    for (name, value) in [
        ("watchdog", t.watchdog),
        ("loop", t.loop_timeout),
        ("msgwait", t.msgwait),
        ("I/O", t.io),
    ] {
        if value.is_zero() {
            return Err(TimingError::Zero(name));
        }
    }
    if t.loop_timeout >= t.watchdog {
        return Err(TimingError::LoopNotBelowWatchdog {
            loop_timeout: t.loop_timeout,
            watchdog: t.watchdog,
        });
    }
    if t.msgwait <= t.watchdog {
        return Err(TimingError::MsgwaitNotAboveWatchdog {
            msgwait: t.msgwait,
            watchdog: t.watchdog,
        });
    }
    if let Some(warn) = warn {
        if warn >= t.watchdog {
            return Err(TimingError::WarnNotBelowWatchdog {
                warn,
                watchdog: t.watchdog,
            });
        }
    }
    let mut warnings = Vec::new();
    let bound = t.io + t.loop_timeout + t.watchdog;
    if t.msgwait < bound {
        warnings.push(TimingWarning::MsgwaitBelowWorstCase {
            msgwait: t.msgwait,
            bound,
        });
    }
    if t.msgwait < t.watchdog * 2 {
        warnings.push(TimingWarning::MsgwaitBelowTwiceWatchdog {
            msgwait: t.msgwait,
            watchdog: t.watchdog,
        });
    }
    if t.servant_liveness() >= t.watchdog {
        warnings.push(TimingWarning::LivenessNotBelowWatchdog {
            liveness: t.servant_liveness(),
            watchdog: t.watchdog,
        });
    }
    Ok(warnings)
}

/// The cluster's fencing timeout (`stonith-timeout`) against msgwait.
pub fn check_fencing_timeout(
    fencing: Duration,
    msgwait: Duration,
) -> Result<Vec<TimingWarning>, TimingError> {
    if fencing <= msgwait {
        return Err(TimingError::FencingTimeoutNotAboveMsgwait { fencing, msgwait });
    }
    if fencing < msgwait * 2 {
        return Ok(vec![TimingWarning::FencingTimeoutBelowTwiceMsgwait {
            fencing,
            msgwait,
        }]);
    }
    Ok(Vec::new())
}

/// `SBD_STARTMODE` / `-S`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMode {
    /// Start whatever the slot holds (`always`, `-S 0`).
    #[default]
    Always,
    /// Refuse to start while the slot holds a fencing message (`clean`, `-S 1`).
    Clean,
}

/// A start mode word that is neither always/0 nor clean/1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad start mode {0:?}: expected always (0) or clean (1)")]
pub struct StartModeError(pub String);

impl FromStr for StartMode {
    type Err = StartModeError;

    fn from_str(s: &str) -> Result<StartMode, StartModeError> {
        match s.trim() {
            "always" | "0" => Ok(StartMode::Always),
            "clean" | "1" => Ok(StartMode::Clean),
            other => Err(StartModeError(other.to_string())),
        }
    }
}

/// Start mode `clean` found a message in the node's own mailbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("found fencing message ({}) in own slot - aborting start-up (start mode clean); manual intervention required: clear the slot", command.as_str())]
pub struct StartRefused {
    pub command: MailboxCommand,
}

/// Decide whether a servant may start, given what its mailbox holds on the first start.
/// `Always` starts whatever is there; `Clean` starts only over an empty mailbox or a left
/// over `exit`. On `Ok`, the caller zeroes the mailbox (as sbd does on every first start).
pub fn start_check(mode: StartMode, mailbox: MailboxCommand) -> Result<(), StartRefused> {
    match (mode, mailbox) {
        (StartMode::Always, _)
        | (StartMode::Clean, MailboxCommand::Clear | MailboxCommand::Exit) => Ok(()),
        (StartMode::Clean, command) => Err(StartRefused { command }),
    }
}
