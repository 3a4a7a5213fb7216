//! The sbd settings file (`/etc/sysconfig/sbd`, `/etc/default/sbd`): shell-style
//! `KEY=value` lines that systemd passes to sbd as its environment. Read:
//! `SBD_WATCHDOG_TIMEOUT` (seconds), `SBD_DELAY_START` (`no`, `yes` = msgwait, or
//! seconds; sbd's sysconfig: "the special value 1 means yes"), `SBD_DEVICE` and an
//! `-I N` in `SBD_OPTS` (the I/O timeout).

use std::time::Duration;

/// `SBD_DELAY_START`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DelayStart {
    /// `no` (default).
    No,
    /// `yes` or `1`: msgwait.
    Msgwait,
    /// A number of seconds.
    Seconds(Duration),
}

/// What the checks need from the sbd settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbdSysconfig {
    /// `SBD_WATCHDOG_TIMEOUT`.
    pub watchdog_timeout: Option<Duration>,
    /// `SBD_DELAY_START`.
    pub delay_start: DelayStart,
    /// `SBD_DEVICE` is set: disk-based sbd.
    pub has_devices: bool,
    /// `-I` in `SBD_OPTS`, else sbd's 3s.
    pub io_timeout: Duration,
}

/// A settings file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sbd settings line {line}: {key}: {reason}")]
pub struct SysconfigError {
    /// 1-based line.
    pub line: usize,
    /// The variable.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// Parse the settings text.
pub fn parse(text: &str) -> Result<SbdSysconfig, SysconfigError> {
    let mut out = SbdSysconfig {
        watchdog_timeout: None,
        delay_start: DelayStart::No,
        has_devices: false,
        io_timeout: Duration::from_secs(3),
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = unquote(value.trim());
        let bad = |reason: &str| SysconfigError {
            line: i + 1,
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let seconds = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| bad(&format!("'{v}' is not a number of seconds")))
        };
        match key {
            "SBD_WATCHDOG_TIMEOUT" if !value.is_empty() => {
                out.watchdog_timeout = Some(seconds(value)?);
            }
            "SBD_DELAY_START" => {
                out.delay_start = match value.to_ascii_lowercase().as_str() {
                    "" | "no" | "n" | "false" | "off" | "0" => DelayStart::No,
                    "yes" | "y" | "true" | "on" | "1" => DelayStart::Msgwait,
                    other => DelayStart::Seconds(seconds(other)?),
                };
            }
            "SBD_DEVICE" => out.has_devices = !value.trim().is_empty(),
            "SBD_OPTS" => {
                let words: Vec<&str> = value.split_whitespace().collect();
                for (j, w) in words.iter().enumerate() {
                    if let Some(rest) = w.strip_prefix("-I") {
                        let arg = if rest.is_empty() {
                            words.get(j + 1).copied().unwrap_or("")
                        } else {
                            rest
                        };
                        out.io_timeout = seconds(arg)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A shell value without its surrounding quotes.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}
