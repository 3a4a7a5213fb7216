//! The exit codes of the `palisade` command, in one place. The codes that mean the same
//! as `stonith_admin`'s are the same numbers (105 no device, 124 timed out).

use std::process::ExitCode;

use crate::fencer::operation::{FailReason, OpResult};

/// How a `palisade` command ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Done.
    Success = 0,
    /// The operation ran and failed (every level failed, agent failed...).
    Failed = 1,
    /// Bad command line.
    Usage = 2,
    /// The configuration file is invalid.
    Config = 3,
    /// The daemon cannot be reached (no socket, not running).
    Unavailable = 4,
    /// The daemon refused us (peer credentials).
    Refused = 5,
    /// The daemon rejected the request or answered something unreadable.
    Protocol = 6,
    /// The daemon could not start or stopped with an error.
    Daemon = 7,
    /// The daemon took a connection but did not answer within the client's own limit.
    NoAnswer = 8,
    /// No device can fence the target (`stonith_admin`: 105).
    NoDevice = 105,
    /// The operation timed out (`stonith_admin`: 124).
    TimedOut = 124,
}

impl Exit {
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
        self as u8
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
}
