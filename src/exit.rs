//! The exit codes of the `palisade` binary, in one place: the CLI, the fencer daemon,
//! the node daemon (`palisade node`) and the `crm_attribute` shim all end through
//! [`Exit`], and nothing else in the crate picks a number. The codes that mean the same
//! as `stonith_admin`'s are the same numbers (105 no device, 124 timed out); the shim's
//! are Pacemaker's (3 not supported, 105 no such attribute). Variants are named by
//! meaning, so two of them may share a number.

use std::process::ExitCode;

use crate::fencer::operation::{FailReason, OpResult};

/// How a `palisade` command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done (a daemon: stopped by SIGTERM or SIGINT).
    Success,
    /// The operation ran and failed (every level failed, agent failed...).
    Failed,
    /// Bad command line.
    Usage,
    /// The configuration file is invalid.
    Config,
    /// The daemon cannot be reached (no socket, not running).
    Unavailable,
    /// The daemon refused us (peer credentials).
    Refused,
    /// The daemon rejected the request or answered something unreadable.
    Protocol,
    /// The daemon could not start or stopped with an error.
    Daemon,
    /// The daemon took a connection but did not answer within the client's own limit.
    NoAnswer,
    /// `palisade node`: fenced by a peer (its resources stopped).
    FencedByPeer,
    /// `palisade node`: the self-fence was recorded by the test executor.
    SelfFenced,
    /// `palisade node`: a self-fence that did not happen.
    SelfFenceFailed,
    /// The configuration is valid but its timeouts are unsafe together (`palisade
    /// check`, and `palisade daemon` / `palisade node` refusing to start).
    Unsafe,
    /// No device can fence the target (`stonith_admin`: 105).
    NoDevice,
    /// `palisade fence --dry-run`: no level would succeed now (a device is down, or none
    /// can fence the target).
    WouldNotFence,
    /// The operation timed out (`stonith_admin`: 124).
    TimedOut,
    /// `crm_attribute` shim: an attribute or option palisade does not keep (Pacemaker's
    /// CRM_EX_UNIMPLEMENT_FEATURE, 3).
    Unsupported,
    /// `crm_attribute` shim: no such attribute (Pacemaker's CRM_EX_NOSUCH, 105).
    NoSuchAttribute,
}

impl Exit {
    /// Every exit, in the order `palisade --help` lists them.
    pub const ALL: [Exit; 18] = [
        Exit::Success,
        Exit::Failed,
        Exit::Usage,
        Exit::Config,
        Exit::Unavailable,
        Exit::Refused,
        Exit::Protocol,
        Exit::Daemon,
        Exit::NoAnswer,
        Exit::FencedByPeer,
        Exit::SelfFenced,
        Exit::SelfFenceFailed,
        Exit::Unsafe,
        Exit::NoDevice,
        Exit::TimedOut,
        Exit::Unsupported,
        Exit::NoSuchAttribute,
        Exit::WouldNotFence,
    ];

    /// The exit code for a fencing result.
    pub fn for_result(result: &OpResult) -> Exit {
        match result {
            OpResult::Done { .. } => Exit::Success,
            OpResult::Failed { reason } => match reason {
                FailReason::NoDevice => Exit::NoDevice,
                FailReason::TimedOut => Exit::TimedOut,
                FailReason::AllLevelsFailed { .. }
                | FailReason::SelfFenceRefused
                | FailReason::Cancelled => Exit::Failed,
            },
        }
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failed | Exit::SelfFenceFailed => 1,
            Exit::Usage => 2,
            Exit::Config | Exit::Unsupported => 3,
            Exit::Unavailable => 4,
            Exit::Refused => 5,
            Exit::Protocol => 6,
            Exit::Daemon => 7,
            Exit::NoAnswer => 8,
            Exit::Unsafe => 9,
            Exit::WouldNotFence => 10,
            Exit::FencedByPeer => 20,
            Exit::SelfFenced => 21,
            Exit::NoDevice | Exit::NoSuchAttribute => 105,
            Exit::TimedOut => 124,
        }
    }

    /// What the code means, in a few words (the exit-code list of `palisade --help`).
    pub fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "ok",
            Exit::Failed => "failed",
            Exit::Usage => "usage",
            Exit::Config => "bad config",
            Exit::Unavailable => "daemon unreachable",
            Exit::Refused => "refused",
            Exit::Protocol => "request rejected",
            Exit::Daemon => "daemon error",
            Exit::NoAnswer => "no answer in time",
            Exit::FencedByPeer => "node: fenced by a peer",
            Exit::SelfFenced => "node: self-fence recorded",
            Exit::SelfFenceFailed => "node: self-fence did not happen",
            Exit::Unsafe => "unsafe configuration",
            Exit::NoDevice => "no device",
            Exit::WouldNotFence => "dry run: no level would fence",
            Exit::TimedOut => "timed out",
            Exit::Unsupported => "crm_attribute: not supported",
            Exit::NoSuchAttribute => "crm_attribute: no such attribute",
        }
    }

    /// The exit codes of the `palisade` commands, one per line by number (the shim's
    /// are its own).
    pub fn help_text() -> String {
        let mut exits: Vec<Exit> = Exit::ALL
            .into_iter()
            .filter(|e| !matches!(e, Exit::Unsupported | Exit::NoSuchAttribute))
            .collect();
        exits.sort_by_key(|e| e.code());
        let mut text = String::from("exit codes:");
        for exit in exits {
            text.push_str(&format!("\n  {:>3}  {}", exit.code(), exit.meaning()));
        }
        text
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_map_like_stonith_admin() {
        let failed = |reason| OpResult::Failed { reason };
        assert_eq!(Exit::for_result(&failed(FailReason::NoDevice)).code(), 105);
        assert_eq!(Exit::for_result(&failed(FailReason::TimedOut)).code(), 124);
        assert_eq!(Exit::for_result(&failed(FailReason::Cancelled)).code(), 1);
        let done = OpResult::Done {
            level: 1,
            devices: Vec::new(),
            warnings: Vec::new(),
        };
        assert_eq!(Exit::for_result(&done), Exit::Success);
    }

    #[test]
    fn the_numbers_scripts_and_tests_rely_on() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(
            codes,
            [0, 1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 1, 9, 105, 124, 3, 105, 10]
        );
        let help = Exit::help_text();
        assert!(help.contains("  20  node: fenced by a peer"), "{help}");
        assert!(!help.contains("crm_attribute"), "{help}");
    }
}
