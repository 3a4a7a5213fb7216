//! Self-fencing: the node resets, powers off or crash-dumps itself.
//!
//! [`SelfFence`] is the seam. [`KernelSelfFence`] does it for real (optional `sync()`,
//! sysrq `b`/`o`/`c` through `/proc/sysrq-trigger`, then `reboot(2)` with `RB_AUTOBOOT` or
//! `RB_POWER_OFF`), and can only be built from a [`Production`] token, which refuses to
//! exist inside tests (this crate's unit tests, anything run by cargo, or with
//! `PALISADE_FORBID_SELF_FENCE` in the environment). [`RecordingSelfFence`] only records.
//!
//! Watchdog handling belongs to the caller: for reset/off, leave the watchdog armed so it
//! fires if this does not complete; for crashdump, disarm it or give it a long timeout
//! first so kdump has time to write.

use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

/// How the node takes itself out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FenceKind {
    /// Immediate reboot (sysrq `b`, `RB_AUTOBOOT`).
    Reboot,
    /// Power off (sysrq `o`, `RB_POWER_OFF`).
    Off,
    /// Kernel crash for kdump (sysrq `c`).
    Crashdump,
}

impl FenceKind {
    /// The character written to /proc/sysrq-trigger.
    pub fn sysrq_char(self) -> u8 {
        match self {
            FenceKind::Reboot => b'b',
            FenceKind::Off => b'o',
            FenceKind::Crashdump => b'c',
        }
    }

    /// `reboot`, `off` or `crashdump` (SBD_TIMEOUT_ACTION words).
    pub fn as_str(self) -> &'static str {
        match self {
            FenceKind::Reboot => "reboot",
            FenceKind::Off => "off",
            FenceKind::Crashdump => "crashdump",
        }
    }
}

/// `SBD_TIMEOUT_ACTION` / `-r`: what to do when the watchdog was not petted in time.
/// Default `flush,reboot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutAction {
    pub kind: FenceKind,
    /// `sync()` before acting (`flush`; `noflush` skips it).
    pub flush: bool,
}

impl Default for TimeoutAction {
    fn default() -> TimeoutAction {
        TimeoutAction {
            kind: FenceKind::Reboot,
            flush: true,
        }
    }
}

/// A bad `SBD_TIMEOUT_ACTION` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse timeout action {0:?}: expected one or two of flush|noflush and reboot|off|crashdump, comma separated")]
pub struct TimeoutActionError(pub String);

impl FromStr for TimeoutAction {
    type Err = TimeoutActionError;

    /// One or two comma-separated words; later words override earlier ones, words not
    /// given keep the default (as sbd: `off` alone means `flush,off`).
    fn from_str(s: &str) -> Result<TimeoutAction, TimeoutActionError> {
        let bad = || TimeoutActionError(s.to_string());
        let words: Vec<&str> = s.split(',').collect();
        if words.is_empty() || words.len() > 2 {
            return Err(bad());
        }
        let mut action = TimeoutAction::default();
        for word in words {
            match word {
                "reboot" => action.kind = FenceKind::Reboot,
                "off" => action.kind = FenceKind::Off,
                "crashdump" => action.kind = FenceKind::Crashdump,
                "flush" => action.flush = true,
                "noflush" => action.flush = false,
                _ => return Err(bad()),
            }
        }
        Ok(action)
    }
}

impl std::fmt::Display for TimeoutAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let flush = if self.flush { "flush" } else { "noflush" };
        write!(f, "{flush},{}", self.kind.as_str())
    }
}

/// Why a self-fence did not happen (if `reboot(2)` works, nothing returns at all).
#[derive(Debug, thiserror::Error)]
pub enum SelfFenceError {
    #[error("self-fencing refused: {0}")]
    Refused(&'static str),
    #[error("self-fence {kind} did not take the node down (sysrq: {sysrq}; reboot(2): {reboot})")]
    Returned {
        kind: &'static str,
        sysrq: String,
        reboot: String,
    },
}

/// Environment variable that forbids building a [`Production`] token.
pub const FORBID_ENV: &str = "PALISADE_FORBID_SELF_FENCE";

/// Proof that the caller is the production daemon. See [`Production::claim`].
#[derive(Debug)]
pub struct Production {
    _sealed: (),
}

impl Production {
    /// Claim the right to really self-fence. Refused in this crate's unit tests, in any
    /// process started by cargo (`CARGO` set: `cargo test`, `cargo run` and every child
    /// they spawn), and whenever [`FORBID_ENV`] is set.
    pub fn claim() -> Result<Production, SelfFenceError> {
        if cfg!(test) {
            return Err(SelfFenceError::Refused("inside unit tests"));
        }
        Production::check_env(|k| std::env::var_os(k).is_some())?;
        Ok(Production { _sealed: () })
    }

    fn check_env(is_set: impl Fn(&str) -> bool) -> Result<(), SelfFenceError> {
        if is_set(FORBID_ENV) {
            return Err(SelfFenceError::Refused("PALISADE_FORBID_SELF_FENCE is set"));
        }
        if is_set("CARGO") {
            return Err(SelfFenceError::Refused(
                "running under cargo (CARGO is set); tests never self-fence",
            ));
        }
        Ok(())
    }
}

/// Carries out a self-fence decision.
pub trait SelfFence: std::fmt::Debug {
    /// Take the node down. `reason` is for the record/log. Returns only if it failed (or,
    /// for test doubles, after recording).
    fn self_fence(
        &mut self,
        kind: FenceKind,
        flush: bool,
        reason: &str,
    ) -> Result<(), SelfFenceError>;
}

/// The real thing: sync, sysrq, reboot(2). Needs CAP_SYS_BOOT; without it (tests run under
/// `setpriv --bounding-set -sys_boot`) reboot(2) returns EPERM and this reports it.
#[derive(Debug)]
pub struct KernelSelfFence {
    _production: Production,
    sysrq_trigger: PathBuf,
}

impl KernelSelfFence {
    pub fn new(production: Production) -> KernelSelfFence {
        KernelSelfFence {
            _production: production,
            sysrq_trigger: PathBuf::from("/proc/sysrq-trigger"),
        }
    }
}

impl SelfFence for KernelSelfFence {
    fn self_fence(
        &mut self,
        kind: FenceKind,
        flush: bool,
        _reason: &str,
    ) -> Result<(), SelfFenceError> {
        if flush {
            // SAFETY: sync(2) takes no arguments and cannot fail.
            unsafe { libc::sync() };
        }
        let sysrq = match std::fs::OpenOptions::new()
            .write(true)
            .open(&self.sysrq_trigger)
            .and_then(|mut f| f.write_all(&[kind.sysrq_char()]))
        {
            Ok(()) => format!("'{}' written", char::from(kind.sysrq_char())),
            Err(e) => e.to_string(),
        };
        let how = match kind {
            FenceKind::Reboot => Some(libc::RB_AUTOBOOT),
            FenceKind::Off => Some(libc::RB_POWER_OFF),
            FenceKind::Crashdump => None,
        };
        let reboot = match how {
            Some(how) => {
                // SAFETY: reboot(2) with a valid RB_* command; it either does not return or
                // returns -1 with errno set.
                let rc = unsafe { libc::reboot(how) };
                if rc == 0 {
                    "returned 0".to_string()
                } else {
                    std::io::Error::last_os_error().to_string()
                }
            }
            None => "not used for crashdump".to_string(),
        };
        Err(SelfFenceError::Returned {
            kind: kind.as_str(),
            sysrq,
            reboot,
        })
    }
}

/// One recorded self-fence decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfFenceRecord {
    pub kind: FenceKind,
    pub flush: bool,
    pub reason: String,
}

/// Test double: records decisions, never touches the machine. Clones share the record.
#[derive(Debug, Clone, Default)]
pub struct RecordingSelfFence {
    records: Arc<Mutex<Vec<SelfFenceRecord>>>,
}

impl RecordingSelfFence {
    pub fn new() -> RecordingSelfFence {
        RecordingSelfFence::default()
    }

    /// Everything recorded so far, oldest first.
    pub fn records(&self) -> Vec<SelfFenceRecord> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl SelfFence for RecordingSelfFence {
    fn self_fence(
        &mut self,
        kind: FenceKind,
        flush: bool,
        reason: &str,
    ) -> Result<(), SelfFenceError> {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(SelfFenceRecord {
                kind,
                flush,
                reason: reason.to_string(),
            });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_action_parses_like_sbd() {
        let table = [
            ("flush,reboot", FenceKind::Reboot, true),
            ("noflush,off", FenceKind::Off, false),
            ("crashdump", FenceKind::Crashdump, true),
            ("off", FenceKind::Off, true),
            ("noflush", FenceKind::Reboot, false),
            ("reboot,noflush", FenceKind::Reboot, false),
            ("off,crashdump", FenceKind::Crashdump, true),
        ];
        for (text, kind, flush) in table {
            let a: TimeoutAction = text.parse().unwrap();
            assert_eq!((a.kind, a.flush), (kind, flush), "{text}");
        }
        for bad in [
            "",
            "reboot,",
            "panic",
            "flush,reboot,off",
            "Reboot",
            " flush",
        ] {
            assert!(bad.parse::<TimeoutAction>().is_err(), "{bad:?}");
        }
        assert_eq!(TimeoutAction::default().to_string(), "flush,reboot");
    }

    #[test]
    fn sysrq_chars() {
        assert_eq!(FenceKind::Reboot.sysrq_char(), b'b');
        assert_eq!(FenceKind::Off.sysrq_char(), b'o');
        assert_eq!(FenceKind::Crashdump.sysrq_char(), b'c');
    }

    #[test]
    fn production_token_is_refused_in_tests() {
        assert!(matches!(
            Production::claim(),
            Err(SelfFenceError::Refused(_))
        ));
        assert!(Production::check_env(|k| k == FORBID_ENV).is_err());
        assert!(Production::check_env(|k| k == "CARGO").is_err());
        assert!(Production::check_env(|_| false).is_ok());
    }

    #[test]
    fn recording_self_fence_records_only() {
        let rec = RecordingSelfFence::new();
        let mut exec: Box<dyn SelfFence> = Box::new(rec.clone());
        exec.self_fence(FenceKind::Off, true, "off message from node2")
            .unwrap();
        assert_eq!(
            rec.records(),
            vec![SelfFenceRecord {
                kind: FenceKind::Off,
                flush: true,
                reason: "off message from node2".to_string()
            }]
        );
    }
}
