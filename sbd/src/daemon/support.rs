//! Small I/O helpers of the watch daemon: the stderr logger, the test-only recording
//! self-fence executor, and the thread that turns SIGTERM/SIGINT into a stop message.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use watchdog::{SelfFence, SelfFenceError};

use super::Wake;
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

/// SIGTERM / SIGINT, caught by a thread of their own (see [`catch_stop_signals`]).
#[derive(Debug, Clone)]
pub struct StopSignals {
    target: Arc<Mutex<Option<Sender<Wake>>>>,
}

impl StopSignals {
    /// From now on a stop signal becomes [`Wake::Stop`] for the main thread.
    pub fn forward_to(&self, wake: Sender<Wake>) {
        if let Ok(mut target) = self.target.lock() {
            *target = Some(wake);
        }
    }
}

/// Block SIGTERM and SIGINT in the calling thread, and so in every thread it starts
/// afterwards (call it before any other thread exists), and start a thread that waits
/// for them with `sigwait`. The main loop then sleeps until its next tick or a message
/// instead of polling a flag. Until [`StopSignals::forward_to`] is called (start-up:
/// nothing is armed yet) a stop signal ends the process as its default action would.
pub fn catch_stop_signals() -> std::io::Result<StopSignals> {
    // SAFETY: sigemptyset/sigaddset initialise the local set; pthread_sigmask only changes
    // this thread's mask.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc));
        }
        set
    };
    let signals = StopSignals {
        target: Arc::new(Mutex::new(None)),
    };
    let target = signals.target.clone();
    std::thread::Builder::new()
        .name("sbd-signals".into())
        .spawn(move || loop {
            let mut signal: libc::c_int = 0;
            // SAFETY: `set` is an initialised signal set blocked in this thread; `signal`
            // is a valid out pointer.
            if unsafe { libc::sigwait(&set, &mut signal) } != 0 {
                continue;
            }
            let forwarded = target
                .lock()
                .ok()
                .and_then(|t| t.as_ref().map(|tx| tx.send(Wake::Stop)));
            if forwarded.is_none() {
                end_by_default_action(signal);
            }
        })?;
    Ok(signals)
}

/// Let `signal` do what it does by default (terminate), as if it had never been caught.
fn end_by_default_action(signal: libc::c_int) {
    // SAFETY: restoring the default disposition, unblocking the signal in this thread and
    // raising it at this thread are plain libc calls on valid arguments.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signal);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signal);
    }
}
