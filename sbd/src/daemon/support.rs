//! Small I/O helpers of the watch daemon: the stderr logger and the test-only recording
//! self-fence executor.

use std::io::Write;
use std::path::PathBuf;

use watchdog::{SelfFence, SelfFenceError};

use crate::cli::PROGRAM;
use crate::inquisitor::LogLevel;

/// Log lines on stderr: `palisade-sbd: LEVEL: message`; info with `-v`, debug with `-vv`.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    pub verbosity: u8,
}

impl Logger {
    pub fn log(&self, level: LogLevel, message: &str) {
        let shown = match level {
            LogLevel::Debug => self.verbosity >= 2,
            LogLevel::Info => self.verbosity >= 1,
            _ => true,
        };
        if shown {
            let word = match level {
                LogLevel::Debug => "debug",
                LogLevel::Info => "info",
                LogLevel::Notice => "notice",
                LogLevel::Warning => "warning",
                LogLevel::Error => "error",
            };
            let _ = writeln!(std::io::stderr(), "{PROGRAM}: {word}: {message}");
        }
    }
}

/// Test executor: appends each decision to a file; never touches the machine.
#[derive(Debug)]
pub struct FileRecordingSelfFence {
    pub path: PathBuf,
}

impl SelfFence for FileRecordingSelfFence {
    fn self_fence(
        &mut self,
        kind: watchdog::FenceKind,
        flush: bool,
        reason: &str,
    ) -> Result<(), SelfFenceError> {
        let line = format!(
            "{} {} {reason}\n",
            kind.as_str(),
            if flush { "flush" } else { "noflush" }
        );
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| SelfFenceError::Returned {
                kind: kind.as_str(),
                sysrq: format!("recording to {} failed: {e}", self.path.display()),
                reboot: "not attempted (test executor)".into(),
            })
    }
}
