//! The vocabulary of fencing operations shared by the state machine, the daemon and the
//! API: what is asked (fence action, target, requester, timeout), how requests and agent
//! runs are numbered, and how an operation ends.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a fencing request wants done to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FenceAction {
    /// Power off and keep off.
    Off,
    /// Power off, then on again (the default `fencing-action`).
    Reboot,
    /// Power on (unfencing).
    On,
}

impl FenceAction {
    /// Parse `off`, `reboot`, `on` (`poweroff` is an old spelling of `off`).
    pub fn parse(text: &str) -> Option<FenceAction> {
        match text.trim().to_ascii_lowercase().as_str() {
            "off" | "poweroff" => Some(FenceAction::Off),
            "reboot" => Some(FenceAction::Reboot),
            "on" => Some(FenceAction::On),
            _ => None,
        }
    }

    /// The word used in configs, the API and the history.
    pub fn as_str(self) -> &'static str {
        match self {
            FenceAction::Off => "off",
            FenceAction::Reboot => "reboot",
            FenceAction::On => "on",
        }
    }

    /// Whether success means the target was fenced (off or rebooted), not unfenced.
    pub fn is_fencing(self) -> bool {
        !matches!(self, FenceAction::On)
    }
}

impl fmt::Display for FenceAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request's number, chosen by whoever drives the state machine (unique per daemon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// An operation's number (several merged requests share one operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId(pub u64);

/// One agent run's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunId(pub u64);

/// A request to fence (or unfence) one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceRequest {
    /// Reply goes to this id.
    pub id: RequestId,
    /// Node to fence.
    pub target: String,
    /// What to do.
    pub action: FenceAction,
    /// Who asked (client name, for the history).
    pub requester: String,
    /// The whole operation's budget; `None` = the configured `fencing-timeout`.
    pub timeout: Option<Duration>,
    /// Extra wait before the first device runs (e.g. `priority-fencing-delay` decided by the
    /// caller); like device delays it does not eat into the timeout.
    pub delay: Duration,
}

/// A request to learn which devices can fence a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    /// Reply goes to this id.
    pub id: RequestId,
    /// Node asked about.
    pub target: String,
    /// Budget for any `list` / `status` runs needed; `None` = `fencing-timeout`.
    pub timeout: Option<Duration>,
}

/// Why a fencing operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum FailReason {
    /// No device can fence the target.
    NoDevice,
    /// The operation's deadline passed.
    TimedOut,
    /// Every level (or every capable device) failed; the last error is kept.
    AllLevelsFailed {
        /// The last attempt's error.
        last_error: String,
    },
    /// The target is this node and self-fencing is not allowed.
    SelfFenceRefused,
    /// The daemon shut down before the operation finished.
    Cancelled,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::NoDevice => f.write_str("no device can fence the target"),
            FailReason::TimedOut => f.write_str("timed out"),
            FailReason::AllLevelsFailed { last_error } => {
                write!(f, "every fencing level failed (last error: {last_error})")
            }
            FailReason::SelfFenceRefused => f.write_str("refusing to fence this node itself"),
            FailReason::Cancelled => f.write_str("cancelled (daemon shutting down)"),
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum OpResult {
    /// Verified: the target was fenced (or unfenced) through `level` by `devices`.
    Done {
        /// Topology level index that succeeded (0 = no topology, a single device).
        level: u8,
        /// Devices of that level.
        devices: Vec<String>,
        /// For a reboot remapped to off+on: the "on" half failed (the target is off).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        warnings: Vec<String>,
    },
    /// Failed.
    Failed {
        /// Why.
        reason: FailReason,
    },
}

impl OpResult {
    /// Whether the operation succeeded.
    pub fn is_done(&self) -> bool {
        matches!(self, OpResult::Done { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_and_print() {
        for a in [FenceAction::Off, FenceAction::Reboot, FenceAction::On] {
            assert_eq!(FenceAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(FenceAction::parse("PowerOff"), Some(FenceAction::Off));
        assert_eq!(FenceAction::parse("cycle"), None);
        assert!(FenceAction::Reboot.is_fencing());
        assert!(!FenceAction::On.is_fencing());
    }

    #[test]
    fn results_serialize_tagged() {
        let r = OpResult::Failed {
            reason: FailReason::AllLevelsFailed {
                last_error: "x".into(),
            },
        };
        let json = serde_json::to_string(&r).expect("serializable");
        assert_eq!(
            json,
            r#"{"status":"failed","reason":{"kind":"all-levels-failed","last_error":"x"}}"#
        );
        let back: OpResult = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, r);
    }
}
