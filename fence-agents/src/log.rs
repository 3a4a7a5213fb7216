//! Agent logging the ClusterLabs way: records `YYYY-MM-DD HH:MM:SS,mmm LEVEL: message` on
//! stderr (errors and warnings always, info and debug with `-v`; nothing with `--quiet`)
//! and every record to `--debug-file` when given. stdout is reserved for result lines.
//! Secrets never reach a log: callers format messages from values that exclude them
//! (the parameter dump masks the options the table marks secret). A debug file is
//! created readable by its owner only, whatever the umask.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

/// Severity of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
    Info,
    Debug,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// Where records go.
pub trait LogSink {
    fn log(&mut self, level: Level, message: &str);
}

/// Records kept in memory (unit tests).
#[derive(Debug, Default)]
pub struct MemoryLog(pub Vec<(Level, String)>);

impl LogSink for MemoryLog {
    fn log(&mut self, level: Level, message: &str) {
        self.0.push((level, message.to_string()));
    }
}

/// The agent's logger: stderr by level, and an optional debug file.
pub struct AgentLog {
    /// Highest level printed on stderr; `None` = quiet.
    pub stderr_level: Option<Level>,
    pub debug_file: Option<File>,
}

/// Mode of a debug file we create: it may hold device names, users and everything the
/// agent did, so only its owner reads it.
pub const DEBUG_FILE_MODE: u32 = 0o600;

impl AgentLog {
    /// Before options are known: errors and warnings on stderr.
    pub fn early() -> AgentLog {
        AgentLog {
            stderr_level: Some(Level::Warning),
            debug_file: None,
        }
    }

    /// Records on stderr as `--quiet` and the verbosity ask (`-v` info, `-vv` debug),
    /// no debug file yet.
    pub fn with_verbosity(quiet: bool, verbose: u32) -> AgentLog {
        let stderr_level = if quiet {
            None
        } else if verbose >= 2 {
            Some(Level::Debug)
        } else if verbose == 1 {
            Some(Level::Info)
        } else {
            Some(Level::Warning)
        };
        AgentLog {
            stderr_level,
            debug_file: None,
        }
    }

    /// Also write every record to `path` (`--debug-file`): appended to, or created with
    /// [`DEBUG_FILE_MODE`] (the umask can only narrow it). An existing file keeps its mode.
    pub fn open_debug_file(&mut self, path: &str) -> std::io::Result<()> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(DEBUG_FILE_MODE)
            .open(path)?;
        self.debug_file = Some(file);
        Ok(())
    }
}

impl LogSink for AgentLog {
    fn log(&mut self, level: Level, message: &str) {
        let record = format!("{} {}: {}\n", timestamp(), level.word(), message);
        if self.stderr_level.is_some_and(|max| level <= max) {
            let _ = std::io::stderr().write_all(record.as_bytes());
        }
        if let Some(f) = self.debug_file.as_mut() {
            let _ = f.write_all(record.as_bytes());
        }
    }
}

/// Local time `2024-05-01 12:00:00,123`.
fn timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: localtime_r only writes into the zeroed tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return format!("{}", now.as_secs());
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        now.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamp_has_clusterlabs_shape() {
        let t = super::timestamp();
        assert_eq!(t.len(), 23, "{t}");
        assert_eq!(&t[19..20], ",");
    }
}
