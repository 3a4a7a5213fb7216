//! Small I/O helpers of the watch daemon: the stderr logger, the test-only recording
//! self-fence executor, and the SIGTERM/SIGINT stop flag.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

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

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

pub fn install_stop_handlers() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                signal,
                request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Whether a stop signal arrived since the last call.
pub fn take_stop_request() -> bool {
    STOP_REQUESTED.swap(false, Ordering::SeqCst)
}
