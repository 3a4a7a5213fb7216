//! Small I/O helpers of the watch daemon: the logger (stderr in the foreground, syslog
//! once `watch` has forked, as ClusterLabs sbd, which logs only there) and the test-only
//! recording self-fence executor.

use std::io::Write;
use std::path::PathBuf;

use watchdog::{SelfFence, SelfFenceError};

use crate::cli::PROGRAM;
use crate::inquisitor::LogLevel;

/// Log lines on stderr (`palisade-sbd: LEVEL: message`) or, with `syslog`, to the
/// system log (facility daemon, ident `palisade-sbd`, with the PID); info with `-v`,
/// debug with `-vv`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Logger {
    pub verbosity: u8,
    pub syslog: bool,
}

/// Open the system log once, for [`Logger::syslog`].
pub fn open_syslog() {
    static IDENT: &std::ffi::CStr = c"palisade-sbd";
    // SAFETY: IDENT is a 'static NUL-terminated string, as openlog keeps the pointer.
    unsafe {
        libc::openlog(
            IDENT.as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
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
            if self.syslog {
                let priority = match level {
                    LogLevel::Debug => libc::LOG_DEBUG,
                    LogLevel::Info => libc::LOG_INFO,
                    LogLevel::Notice => libc::LOG_NOTICE,
                    LogLevel::Warning => libc::LOG_WARNING,
                    LogLevel::Error => libc::LOG_ERR,
                };
                let text = format!("{word}: {message}").replace('\0', " ");
                if let Ok(text) = std::ffi::CString::new(text) {
                    // SAFETY: "%s" with one valid NUL-terminated string argument.
                    unsafe { libc::syslog(priority, c"%s".as_ptr(), text.as_ptr()) };
                }
                return;
            }
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
