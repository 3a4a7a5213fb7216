//! Which watchdog the daemon uses, from its configuration (`SBD_WATCHDOG_DEV`, `-w`):
//! a device node, nothing (`/dev/null`, as sbd), or a pet file for tests
//! (`pet-file:/path`, see [`crate::petlog`]). The crate never picks a path on its own.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::{DevWatchdog, PetFileWatchdog, Watchdog, WatchdogError};

/// The timeout a pet file records when the caller keeps "the driver's value".
const PET_FILE_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A configured watchdog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchdogConfig {
    /// No watchdog (`/dev/null`, empty, `none`, `no`).
    Disabled,
    /// A device node such as `/dev/watchdog0`.
    Device(PathBuf),
    /// Test device: pets appended to this file.
    PetFile(PathBuf),
}

/// A watchdog setting that is neither disabled, `pet-file:PATH` nor an absolute path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad watchdog device {0:?}: expected an absolute device path, /dev/null, or pet-file:PATH")]
pub struct WatchdogConfigError(pub String);

impl FromStr for WatchdogConfig {
    type Err = WatchdogConfigError;

    fn from_str(s: &str) -> Result<WatchdogConfig, WatchdogConfigError> {
        let s = s.trim();
        match s {
            "" | "/dev/null" | "none" | "no" => return Ok(WatchdogConfig::Disabled),
            _ => {}
        }
        if let Some(path) = s.strip_prefix("pet-file:") {
            if path.is_empty() {
                return Err(WatchdogConfigError(s.to_string()));
            }
            return Ok(WatchdogConfig::PetFile(PathBuf::from(path)));
        }
        let path = PathBuf::from(s);
        if path.is_absolute() {
            Ok(WatchdogConfig::Device(path))
        } else {
            Err(WatchdogConfigError(s.to_string()))
        }
    }
}

impl WatchdogConfig {
    /// Open (and so arm) the configured watchdog, set `timeout` unless `None` and pet once.
    /// `Ok(None)` when disabled.
    pub fn arm(
        &self,
        timeout: Option<Duration>,
    ) -> Result<Option<Box<dyn Watchdog + Send>>, WatchdogError> {
        match self {
            WatchdogConfig::Disabled => Ok(None),
            WatchdogConfig::Device(path) => Ok(Some(Box::new(DevWatchdog::arm_with_timeout(
                path, timeout,
            )?))),
            WatchdogConfig::PetFile(path) => {
                let mut dog =
                    PetFileWatchdog::arm(path, timeout.unwrap_or(PET_FILE_DEFAULT_TIMEOUT))?;
                dog.keepalive()?;
                Ok(Some(Box::new(dog)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_settings() {
        for off in ["", "/dev/null", "none", "no"] {
            assert_eq!(off.parse(), Ok(WatchdogConfig::Disabled));
        }
        assert_eq!(
            "/dev/watchdog1".parse(),
            Ok(WatchdogConfig::Device(PathBuf::from("/dev/watchdog1")))
        );
        assert_eq!(
            "pet-file:/var/tmp/p".parse(),
            Ok(WatchdogConfig::PetFile(PathBuf::from("/var/tmp/p")))
        );
        assert!("watchdog".parse::<WatchdogConfig>().is_err());
        assert!("pet-file:".parse::<WatchdogConfig>().is_err());
    }

    #[test]
    fn arms_pet_file_and_disabled() {
        assert!(WatchdogConfig::Disabled.arm(None).unwrap().is_none());
        let path = std::env::temp_dir().join(format!("palisade-cfg-pet-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut dog = WatchdogConfig::PetFile(path.clone())
            .arm(Some(Duration::from_secs(3)))
            .unwrap()
            .unwrap();
        assert_eq!(dog.get_timeout().unwrap(), Duration::from_secs(3));
        dog.disarm_with_magic_close().unwrap();
        let log = crate::PetLog::read(&path).unwrap();
        assert_eq!(log.pets().len(), 1);
        assert!(log.magic_closed());
        std::fs::remove_file(&path).unwrap();
    }
}
