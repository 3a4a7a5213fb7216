//! The totem timing of a corosync.conf: `totem { token, token_coefficient, consensus }`
//! and the number of `nodelist { node { } }` entries. corosync.conf is sections of
//! `name {` ... `}` and `key: value` lines, `#` comments (corosync.conf(5)).

use std::time::Duration;

/// corosync's default token timeout (corosync.conf(5): 3000 ms).
pub const DEFAULT_TOKEN: Duration = Duration::from_millis(3000);
/// corosync's default token_coefficient (corosync.conf(5): 650 ms).
pub const DEFAULT_TOKEN_COEFFICIENT: Duration = Duration::from_millis(650);

/// The totem timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Totem {
    /// `totem.token` (ms in the file).
    pub token: Duration,
    /// `totem.token_coefficient`.
    pub token_coefficient: Duration,
    /// `totem.consensus`, when given.
    pub consensus: Option<Duration>,
    /// Nodes in the nodelist.
    pub nodes: usize,
}

impl Totem {
    /// The token timeout corosync runs with: with a nodelist of three or more nodes,
    /// token + (nodes - 2) x token_coefficient (corosync.conf(5), token_coefficient).
    pub fn effective_token(&self) -> Duration {
        if self.nodes >= 3 {
            let extra = u32::try_from(self.nodes - 2).unwrap_or(u32::MAX);
            self.token + self.token_coefficient.saturating_mul(extra)
        } else {
            self.token
        }
    }
}

/// A corosync.conf that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corosync.conf line {line}: {reason}")]
pub struct CorosyncError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parse corosync.conf text.
pub fn parse(text: &str) -> Result<Totem, CorosyncError> {
    let mut totem = Totem {
        token: DEFAULT_TOKEN,
        token_coefficient: DEFAULT_TOKEN_COEFFICIENT,
        consensus: None,
        nodes: 0,
    };
    let mut path: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let bad = |reason: String| CorosyncError {
            line: line_no,
            reason,
        };
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_suffix('{') {
            let name = name.trim().to_ascii_lowercase();
            if path.len() == 1 && path[0] == "nodelist" && name == "node" {
                totem.nodes += 1;
            }
            path.push(name);
            continue;
        }
        if line == "}" {
            path.pop()
                .ok_or_else(|| bad("'}' without an open section".into()))?;
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("'{line}' is neither 'key: value' nor a section")))?;
        if path.len() != 1 || path[0] != "totem" {
            continue;
        }
        let ms = || {
            value
                .trim()
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| {
                    bad(format!(
                        "totem.{}: '{}' is not milliseconds",
                        key.trim(),
                        value.trim()
                    ))
                })
        };
        match key.trim() {
            "token" => totem.token = ms()?,
            "token_coefficient" => totem.token_coefficient = ms()?,
            "consensus" => totem.consensus = Some(ms()?),
            _ => {}
        }
    }
    if let Some(open) = path.last() {
        return Err(CorosyncError {
            line: text.lines().count(),
            reason: format!("section '{open}' is not closed"),
        });
    }
    Ok(totem)
}
