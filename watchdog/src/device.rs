//! [`DevWatchdog`]: a real watchdog device node (`/dev/watchdog`, `/dev/watchdogN`) driven
//! with the `WDIOC_*` ioctls.
//!
//! Opening a watchdog node arms it, so the only constructor is called [`DevWatchdog::arm`].
//! The timer is stopped only by [`Watchdog::disarm_with_magic_close`]
//! (`WDIOS_DISABLECARD`, then `V`, then close). Dropping a `DevWatchdog` — and
//! [`DevWatchdog::leave_armed_for_fencing`], which says so in the caller's code — closes
//! the descriptor without the magic character: the timer keeps running and resets the
//! machine if nothing else pets it. That is the back-up behind every self-fence.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::ioctl::{
    self, MAGIC_CLOSE, WDIOC_GETSUPPORT, WDIOC_GETTIMELEFT, WDIOC_GETTIMEOUT, WDIOC_KEEPALIVE,
    WDIOC_SETOPTIONS, WDIOC_SETTIMEOUT, WDIOF_KEEPALIVEPING, WDIOS_DISABLECARD,
};
use crate::{timeout_secs, Watchdog, WatchdogError};

/// Who a watchdog is: the configured path and what the driver says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchdogIdentity {
    /// The path from configuration (or a test device's name).
    pub path: PathBuf,
    /// Driver identity from `WDIOC_GETSUPPORT` (e.g. `Software Watchdog`), or `unknown`.
    pub driver: String,
    /// `WDIOF_*` option bits; 0 when the driver did not answer `WDIOC_GETSUPPORT`.
    pub options: u32,
    pub firmware_version: u32,
}

impl WatchdogIdentity {
    /// True for the kernel's software watchdog, which cannot reset a hung kernel.
    pub fn is_softdog(&self) -> bool {
        self.driver == "Software Watchdog"
    }
}

/// An armed watchdog device node. See the module documentation for the close rules.
#[derive(Debug)]
pub struct DevWatchdog {
    /// `None` once disarmed with the magic close.
    file: Option<File>,
    identity: WatchdogIdentity,
}

impl DevWatchdog {
    /// Open the device node at `path` (from configuration) for writing. **This arms the
    /// timer.** The driver's identity is read with `WDIOC_GETSUPPORT`; its failure is not
    /// fatal (identity `unknown`). No timeout is set here, see [`arm_with_timeout`].
    ///
    /// [`arm_with_timeout`]: DevWatchdog::arm_with_timeout
    pub fn arm(path: &Path) -> Result<DevWatchdog, WatchdogError> {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|source| WatchdogError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let mut info = ioctl::WatchdogInfo::zeroed();
        // SAFETY: `file` is an open descriptor we own; WDIOC_GETSUPPORT writes exactly one
        // `struct watchdog_info` (40 bytes, repr(C) matching the kernel) into `info`, which
        // lives for the whole call.
        let rc = unsafe {
            libc::ioctl(
                file.as_raw_fd(),
                WDIOC_GETSUPPORT as _,
                &mut info as *mut ioctl::WatchdogInfo,
            )
        };
        let identity = if rc == 0 {
            WatchdogIdentity {
                path: path.to_path_buf(),
                driver: info.identity_str(),
                options: info.options,
                firmware_version: info.firmware_version,
            }
        } else {
            WatchdogIdentity {
                path: path.to_path_buf(),
                driver: "unknown".to_string(),
                options: 0,
                firmware_version: 0,
            }
        };
        Ok(DevWatchdog {
            file: Some(file),
            identity,
        })
    }

    /// Arm, set the timeout (unless `None`: keep the driver's value, sbd's `-T`) and pet once.
    /// A failing `WDIOC_SETTIMEOUT` is an error, as in sbd; the device is left armed
    /// (dropped without magic close) in that case, as nothing proves it is safe to disarm.
    pub fn arm_with_timeout(
        path: &Path,
        timeout: Option<Duration>,
    ) -> Result<DevWatchdog, WatchdogError> {
        let mut dog = DevWatchdog::arm(path)?;
        if let Some(timeout) = timeout {
            dog.set_timeout(timeout)?;
        }
        dog.keepalive()?;
        Ok(dog)
    }

    /// Fencing exit: close the descriptor **without** the magic close, so the timer keeps
    /// running and fires if the self-fence does not complete. Same as dropping, but
    /// explicit at the call site.
    pub fn leave_armed_for_fencing(self) {
        drop(self);
    }

    fn file(&self) -> Result<&File, WatchdogError> {
        self.file
            .as_ref()
            .ok_or_else(|| WatchdogError::Disarmed(self.path_str()))
    }

    fn path_str(&self) -> String {
        self.identity.path.display().to_string()
    }

    /// One int-argument ioctl; `Unsupported` for the errnos drivers use to say "not mine".
    fn ioctl_int(
        &self,
        operation: &'static str,
        request: u32,
        arg: &mut libc::c_int,
    ) -> Result<(), WatchdogError> {
        let fd = self.file()?.as_raw_fd();
        // SAFETY: `fd` belongs to a File we own and keep open for the call; every request
        // passed here takes a pointer to one C int, and `arg` is a valid, live c_int.
        let rc = unsafe { libc::ioctl(fd, request as _, arg as *mut libc::c_int) };
        if rc == 0 {
            return Ok(());
        }
        let source = std::io::Error::last_os_error();
        match source.raw_os_error() {
            Some(libc::ENOTTY) | Some(libc::EOPNOTSUPP) => Err(WatchdogError::Unsupported {
                path: self.path_str(),
                operation,
            }),
            _ => Err(WatchdogError::Io {
                path: self.path_str(),
                operation,
                source,
            }),
        }
    }

    fn write_byte(&mut self, operation: &'static str, byte: u8) -> Result<(), WatchdogError> {
        let path = self.path_str();
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| WatchdogError::Disarmed(path.clone()))?;
        file.write_all(&[byte]).map_err(|source| WatchdogError::Io {
            path,
            operation,
            source,
        })
    }
}

impl Watchdog for DevWatchdog {
    /// `WDIOC_KEEPALIVE` when the driver advertises `WDIOF_KEEPALIVEPING`, otherwise a write
    /// of one NUL byte (what sbd does; every driver accepts it).
    fn keepalive(&mut self) -> Result<(), WatchdogError> {
        if self.identity.options & WDIOF_KEEPALIVEPING != 0 {
            let mut dummy: libc::c_int = 0;
            self.ioctl_int("WDIOC_KEEPALIVE", WDIOC_KEEPALIVE, &mut dummy)
        } else {
            self.write_byte("keepalive write", 0)
        }
    }

    fn set_timeout(&mut self, timeout: Duration) -> Result<Duration, WatchdogError> {
        let mut secs = timeout_secs(timeout)?;
        self.ioctl_int("WDIOC_SETTIMEOUT", WDIOC_SETTIMEOUT, &mut secs)?;
        Ok(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
    }

    fn get_timeout(&mut self) -> Result<Duration, WatchdogError> {
        let mut secs: libc::c_int = 0;
        self.ioctl_int("WDIOC_GETTIMEOUT", WDIOC_GETTIMEOUT, &mut secs)?;
        Ok(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
    }

    fn time_left(&mut self) -> Result<Option<Duration>, WatchdogError> {
        let mut secs: libc::c_int = 0;
        match self.ioctl_int("WDIOC_GETTIMELEFT", WDIOC_GETTIMELEFT, &mut secs) {
            Ok(()) => Ok(Some(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))),
            Err(WatchdogError::Unsupported { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `WDIOC_SETOPTIONS(WDIOS_DISABLECARD)` (failure tolerated: not every driver has it),
    /// then the magic `V` (retried on EINTR/EAGAIN a few times), then close.
    fn disarm_with_magic_close(&mut self) -> Result<(), WatchdogError> {
        let mut disable = WDIOS_DISABLECARD;
        match self.ioctl_int("WDIOC_SETOPTIONS", WDIOC_SETOPTIONS, &mut disable) {
            Ok(()) | Err(WatchdogError::Unsupported { .. }) | Err(WatchdogError::Io { .. }) => {}
            Err(e) => return Err(e),
        }
        let mut last = None;
        for _ in 0..10 {
            match self.write_byte("magic close write", MAGIC_CLOSE) {
                Ok(()) => {
                    self.file = None;
                    return Ok(());
                }
                Err(WatchdogError::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
                    ) =>
                {
                    last = Some(source);
                }
                Err(e) => return Err(e),
            }
        }
        Err(WatchdogError::Io {
            path: self.path_str(),
            operation: "magic close write",
            source: last.unwrap_or_else(|| std::io::Error::other("magic close not accepted")),
        })
    }

    fn identity(&self) -> &WatchdogIdentity {
        &self.identity
    }
}

#[cfg(test)]
mod tests {
    //! A regular file stands in for the device node: every ioctl answers ENOTTY, so the
    //! write path (NUL pets, `V` only on a clean stop) is what these tests see.
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "palisade-watchdog-dev-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&dir);
        std::fs::write(&dir, b"").unwrap();
        dir
    }

    #[test]
    fn clean_stop_writes_magic_v_after_pets() {
        let path = scratch("clean");
        let mut dog = DevWatchdog::arm(&path).unwrap();
        assert_eq!(dog.identity().driver, "unknown");
        dog.keepalive().unwrap();
        dog.keepalive().unwrap();
        dog.disarm_with_magic_close().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"\0\0V");
        assert!(matches!(dog.keepalive(), Err(WatchdogError::Disarmed(_))));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn drop_and_fencing_exit_never_write_v() {
        let path = scratch("drop");
        {
            let mut dog = DevWatchdog::arm(&path).unwrap();
            dog.keepalive().unwrap();
        }
        let mut dog = DevWatchdog::arm(&path).unwrap();
        dog.keepalive().unwrap();
        dog.leave_armed_for_fencing();
        let written = std::fs::read(&path).unwrap();
        assert!(!written.contains(&b'V'), "{written:?}");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn ioctls_on_a_non_watchdog_report_unsupported() {
        let path = scratch("ioctl");
        let mut dog = DevWatchdog::arm(&path).unwrap();
        assert!(matches!(
            dog.set_timeout(Duration::from_secs(5)),
            Err(WatchdogError::Unsupported { .. })
        ));
        assert!(matches!(
            dog.get_timeout(),
            Err(WatchdogError::Unsupported { .. })
        ));
        assert_eq!(dog.time_left().unwrap(), None);
        assert!(matches!(
            DevWatchdog::arm_with_timeout(&path, Some(Duration::from_secs(5))),
            Err(WatchdogError::Unsupported { .. })
        ));
        dog.disarm_with_magic_close().unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn missing_node_is_an_open_error() {
        let err = DevWatchdog::arm(Path::new("/nonexistent/palisade/watchdog")).unwrap_err();
        assert!(err.to_string().contains("cannot open watchdog device"));
    }
}
