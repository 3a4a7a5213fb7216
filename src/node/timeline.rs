//! The node's timeline: one line per event that matters for failover (membership
//! detection, quorum decisions, fence requests and results, resource starts and stops),
//! on stdout and optionally appended to a file. Lines start with the wall-clock time in
//! unix seconds (millisecond precision), so the timelines of several nodes on one host
//! merge with `sort -n`:
//!
//! ```text
//! 1712345678.123 node2 detect   node1 dead: silent for 1.0s (deadtime 1s)
//! 1712345678.124 node2 quorum   quorate: 2 of 3 votes, 2 needed (members node2 node3)
//! 1712345678.124 node2 fence    request node1 (off, delay 0ms): node 1 lost; partition is quorate
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// What kind of event a line records (the third column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Daemon start and stop.
    Daemon,
    /// A peer joined, is late, or died.
    Detect,
    /// A quorum verdict changed.
    Quorum,
    /// Fence requests and results.
    Fence,
    /// Placement decisions and blocked resources.
    Place,
    /// Resource operations on this node.
    Resource,
    /// Something went wrong that is not fatal.
    Warn,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Daemon => "daemon",
            Kind::Detect => "detect",
            Kind::Quorum => "quorum",
            Kind::Fence => "fence",
            Kind::Place => "place",
            Kind::Resource => "resource",
            Kind::Warn => "warn",
        }
    }
}

/// Seconds since the epoch with milliseconds, as printed in the first column.
pub fn wall_clock() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:03}", since.as_secs(), since.subsec_millis())
}

/// One line, without the time (pure, for tests).
pub fn line(node: &str, kind: Kind, text: &str) -> String {
    format!("{node} {:<8} {text}", kind.word())
}

/// Where timeline lines go.
#[derive(Debug)]
pub struct Timeline {
    node: String,
    file: Option<PathBuf>,
}

impl Timeline {
    /// A timeline of node `node`, also appended to `file` if given.
    pub fn new(node: &str, file: Option<PathBuf>) -> Timeline {
        Timeline {
            node: node.to_string(),
            file,
        }
    }

    /// Record one event.
    pub fn emit(&self, kind: Kind, text: &str) {
        let full = format!("{} {}\n", wall_clock(), line(&self.node, kind, text));
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the node.
        let _ = out.write_all(full.as_bytes());
        let _ = out.flush();
        if let Some(path) = &self.file {
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(full.as_bytes()));
            if let Err(e) = written {
                eprintln!(
                    "palisade node: cannot append to timeline {}: {e}",
                    path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_node_kind_and_text() {
        assert_eq!(
            line("node2", Kind::Fence, "request node1"),
            "node2 fence    request node1"
        );
        let t = wall_clock();
        let (secs, ms) = t.split_once('.').expect("a dot");
        assert!(secs.parse::<u64>().is_ok() && ms.len() == 3, "{t}");
    }
}
