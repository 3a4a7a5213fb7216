//! A watchdog whose pets are appended to a file, so that a test can observe another
//! process (the sbd daemon under test) pet — or stop petting — its watchdog.
//!
//! File format, one event per line, appended with `O_APPEND` (one `write` per line):
//! `<CLOCK_MONOTONIC nanoseconds> <event> [argument]` with events `arm <secs>`,
//! `pet`, `timeout <secs>` and `magic-close`. CLOCK_MONOTONIC is shared by all processes
//! of the machine, so [`monotonic_now`] in the test compares directly. [`PetLog`] parses
//! the file and models expiry like [`crate::TestWatchdog`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::device::WatchdogIdentity;
use crate::{timeout_secs, Watchdog, WatchdogError};

/// CLOCK_MONOTONIC now, as a duration since the clock's origin.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_MONOTONIC is always available on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// A [`Watchdog`] that writes its events to a file (see the module docs).
#[derive(Debug)]
pub struct PetFileWatchdog {
    file: Option<File>,
    identity: WatchdogIdentity,
    timeout: Duration,
    /// Monotonic time at which the modelled timer runs out.
    deadline: Duration,
}

impl PetFileWatchdog {
    /// "Arm": open `path` for appending (creating it) and write `arm <secs>`.
    pub fn arm(path: &Path, timeout: Duration) -> Result<PetFileWatchdog, WatchdogError> {
        let secs = timeout_secs(timeout)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| WatchdogError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let mut dog = PetFileWatchdog {
            file: Some(file),
            identity: WatchdogIdentity {
                path: path.to_path_buf(),
                driver: "palisade pet-file watchdog".to_string(),
                options: crate::ioctl::WDIOF_SETTIMEOUT
                    | crate::ioctl::WDIOF_MAGICCLOSE
                    | crate::ioctl::WDIOF_KEEPALIVEPING,
                firmware_version: 0,
            },
            timeout,
            deadline: monotonic_now() + timeout,
        };
        dog.append(&format!("arm {secs}"))?;
        Ok(dog)
    }

    fn append(&mut self, event: &str) -> Result<(), WatchdogError> {
        let path = self.identity.path.display().to_string();
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| WatchdogError::Disarmed(path.clone()))?;
        let line = format!("{} {event}\n", monotonic_now().as_nanos());
        file.write_all(line.as_bytes())
            .map_err(|source| WatchdogError::Io {
                path,
                operation: "append pet record",
                source,
            })
    }
}

impl Watchdog for PetFileWatchdog {
    fn keepalive(&mut self) -> Result<(), WatchdogError> {
        self.append("pet")?;
        self.deadline = monotonic_now() + self.timeout;
        Ok(())
    }

    fn set_timeout(&mut self, timeout: Duration) -> Result<Duration, WatchdogError> {
        let secs = timeout_secs(timeout)?;
        self.append(&format!("timeout {secs}"))?;
        self.timeout = timeout;
        self.deadline = monotonic_now() + timeout;
        Ok(timeout)
    }

    fn get_timeout(&mut self) -> Result<Duration, WatchdogError> {
        if self.file.is_none() {
            return Err(WatchdogError::Disarmed(
                self.identity.path.display().to_string(),
            ));
        }
        Ok(self.timeout)
    }

    fn time_left(&mut self) -> Result<Option<Duration>, WatchdogError> {
        self.get_timeout()?;
        Ok(Some(self.deadline.saturating_sub(monotonic_now())))
    }

    fn disarm_with_magic_close(&mut self) -> Result<(), WatchdogError> {
        self.append("magic-close")?;
        self.file = None;
        Ok(())
    }

    fn identity(&self) -> &WatchdogIdentity {
        &self.identity
    }
}

/// Why a pet file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PetLogError {
    #[error("cannot read pet file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pet file line {line}: cannot parse {text:?}")]
    Parse { line: usize, text: String },
}

/// What one pet-file line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PetRecordKind {
    Arm(Duration),
    Pet,
    Timeout(Duration),
    MagicClose,
}

/// One pet-file line: CLOCK_MONOTONIC time and event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PetRecord {
    pub at: Duration,
    pub kind: PetRecordKind,
}

/// A parsed pet file, with the kernel's expiry model applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PetLog {
    pub records: Vec<PetRecord>,
}

impl PetLog {
    /// Read and parse a pet file. A missing file is an empty log (not armed yet). A torn
    /// last line (writer caught mid-write) is ignored.
    pub fn read(path: &Path) -> Result<PetLog, PetLogError> {
        match std::fs::read_to_string(path) {
            Ok(text) => PetLog::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PetLog::default()),
            Err(source) => Err(PetLogError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parse pet-file text.
    pub fn parse(text: &str) -> Result<PetLog, PetLogError> {
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        let mut records = Vec::new();
        for (i, line) in complete.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad = || PetLogError::Parse {
                line: i + 1,
                text: line.to_string(),
            };
            let mut words = line.split_whitespace();
            let at: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
            let secs = |w: Option<&str>| w.and_then(|w| w.parse::<u64>().ok());
            let kind = match words.next() {
                Some("pet") => PetRecordKind::Pet,
                Some("magic-close") => PetRecordKind::MagicClose,
                Some("arm") => {
                    PetRecordKind::Arm(Duration::from_secs(secs(words.next()).ok_or_else(bad)?))
                }
                Some("timeout") => {
                    PetRecordKind::Timeout(Duration::from_secs(secs(words.next()).ok_or_else(bad)?))
                }
                _ => return Err(bad()),
            };
            records.push(PetRecord {
                at: Duration::from_nanos(at),
                kind,
            });
        }
        Ok(PetLog { records })
    }

    /// Times of all pets.
    pub fn pets(&self) -> Vec<Duration> {
        self.records
            .iter()
            .filter(|r| r.kind == PetRecordKind::Pet)
            .map(|r| r.at)
            .collect()
    }

    pub fn last_pet(&self) -> Option<Duration> {
        self.pets().last().copied()
    }

    /// When the last arm happened, if ever.
    pub fn armed_at(&self) -> Option<Duration> {
        self.records
            .iter()
            .rev()
            .find(|r| matches!(r.kind, PetRecordKind::Arm(_)))
            .map(|r| r.at)
    }

    /// Whether the log ends with a magic close (a clean stop).
    pub fn magic_closed(&self) -> bool {
        matches!(
            self.records.last().map(|r| r.kind),
            Some(PetRecordKind::MagicClose)
        )
    }

    /// When the modelled timer ran out, judged at monotonic time `now`: the first deadline
    /// (last arm/pet/timeout change + timeout) that passed with no event before it.
    pub fn fired_at(&self, now: Duration) -> Option<Duration> {
        let mut deadline: Option<Duration> = None;
        let mut timeout = Duration::ZERO;
        for r in &self.records {
            if let Some(d) = deadline {
                if r.at > d {
                    return Some(d);
                }
            }
            match r.kind {
                PetRecordKind::Arm(t) | PetRecordKind::Timeout(t) => {
                    timeout = t;
                    deadline = Some(r.at + t);
                }
                PetRecordKind::Pet => deadline = Some(r.at + timeout),
                PetRecordKind::MagicClose => deadline = None,
            }
        }
        deadline.filter(|&d| now > d)
    }

    /// Longest interval between consecutive arm/pet events, and from the last one to `now`
    /// unless the log ends with a magic close.
    pub fn longest_gap(&self, now: Duration) -> Duration {
        let mut prev: Option<Duration> = None;
        let mut longest = Duration::ZERO;
        for r in &self.records {
            if matches!(r.kind, PetRecordKind::Arm(_) | PetRecordKind::Pet) {
                if let Some(p) = prev {
                    longest = longest.max(r.at.saturating_sub(p));
                }
                prev = Some(r.at);
            }
        }
        if let (Some(p), false) = (prev, self.magic_closed()) {
            longest = longest.max(now.saturating_sub(p));
        }
        longest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn parses_and_models_expiry() {
        let log = PetLog::parse(
            "1000000000 arm 5\n2000000000 pet\n3000000000 pet\n9000000000 pet\n12000000000 pe",
        )
        .unwrap();
        assert_eq!(log.pets(), vec![secs(2), secs(3), secs(9)]);
        assert_eq!(log.armed_at(), Some(secs(1)));
        // 3 s + 5 s timeout = 8 s, the next pet came at 9 s: it fired at 8 s.
        assert_eq!(log.fired_at(secs(20)), Some(secs(8)));
        assert_eq!(log.longest_gap(secs(10)), secs(6));
    }

    #[test]
    fn magic_close_and_timeout_changes() {
        let log = PetLog::parse(
            "0 arm 5\n4000000000 timeout 10\n13000000000 pet\n14000000000 magic-close\n",
        )
        .unwrap();
        assert_eq!(log.fired_at(secs(100)), None);
        assert!(log.magic_closed());
        let log = PetLog::parse("0 arm 5\n4000000000 pet\n").unwrap();
        assert_eq!(log.fired_at(secs(9)), None);
        assert_eq!(log.fired_at(secs(10)), Some(secs(9)));
    }

    #[test]
    fn garbage_is_a_parse_error() {
        assert!(matches!(
            PetLog::parse("12 bark\n"),
            Err(PetLogError::Parse { line: 1, .. })
        ));
    }

    #[test]
    fn file_watchdog_round_trip() {
        let path = std::env::temp_dir().join(format!("palisade-petfile-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut dog = PetFileWatchdog::arm(&path, secs(5)).unwrap();
        dog.keepalive().unwrap();
        dog.keepalive().unwrap();
        assert_eq!(dog.set_timeout(secs(7)).unwrap(), secs(7));
        let log = PetLog::read(&path).unwrap();
        assert_eq!(log.pets().len(), 2);
        assert!(!log.magic_closed());
        assert_eq!(log.fired_at(monotonic_now()), None);
        dog.disarm_with_magic_close().unwrap();
        assert!(PetLog::read(&path).unwrap().magic_closed());
        assert!(dog.keepalive().is_err());
        std::fs::remove_file(&path).unwrap();
        assert_eq!(PetLog::read(&path).unwrap(), PetLog::default());
    }
}
