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
//!
//! Each line is an [`Event`]; with `[cluster] events = FILE` the same event is also
//! appended to FILE as one JSON object per line: `at` (unix milliseconds, the line's
//! time), `node`, `class` (the third column), `kind` and the event's fields
//! ([`super::events`]).
//!
//! Started by systemd with its output going to the journal, the node writes each event as a
//! structured journal entry instead of a stdout line: `MESSAGE` (the line's text), `PRIORITY`,
//! `SYSLOG_IDENTIFIER=palisade-node`, and `PALISADE_NODE`, `PALISADE_CLASS`, `PALISADE_KIND`
//! and one `PALISADE_<FIELD>` per field of its JSON record (`journalctl PALISADE_KIND=fenced`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::events::{Class, Event};

/// Milliseconds since the epoch (the clock of the lines and records).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// Seconds since the epoch with milliseconds, as printed in the first column.
pub fn wall_clock() -> String {
    stamp(unix_ms())
}

fn stamp(at: u64) -> String {
    format!("{}.{:03}", at / 1000, at % 1000)
}

/// One line, without the time (pure, for tests).
pub fn line(node: &str, class: Class, text: &str) -> String {
    format!("{node} {:<8} {text}", class.word())
}

/// One JSON record of the events file.
#[derive(Serialize)]
struct Record<'a> {
    at: u64,
    node: &'a str,
    class: Class,
    #[serde(flatten)]
    event: &'a Event,
}

/// The JSON line of `event` of `node` at `at` (unix ms), newline included.
pub fn record(at: u64, node: &str, event: &Event) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string(&Record {
        at,
        node,
        class: event.class(),
        event,
    })?;
    text.push('\n');
    Ok(text)
}

/// Where timeline lines and event records go.
#[derive(Debug)]
pub struct Timeline {
    node: String,
    file: Option<PathBuf>,
    events: Option<PathBuf>,
    /// The journal, when the node runs under systemd with its output in the journal.
    journal: Option<crate::systemd::SystemdJournal>,
}

/// The journal fields of `event` of `node` (pure, for tests).
pub fn journal_fields(node: &str, event: &Event) -> Vec<(String, String)> {
    let class = event.class();
    let priority = match class {
        Class::Warn => "4",
        Class::Fence | Class::Detect => "5",
        _ => "6",
    };
    let mut fields = vec![
        ("MESSAGE".to_string(), line(node, class, &event.text())),
        ("PRIORITY".to_string(), priority.to_string()),
        ("SYSLOG_IDENTIFIER".to_string(), "palisade-node".to_string()),
        ("PALISADE_NODE".to_string(), node.to_string()),
        (
            "PALISADE_CLASS".to_string(),
            class.word().trim().to_string(),
        ),
    ];
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(event) {
        for (key, value) in map {
            let name = format!("PALISADE_{}", key.to_ascii_uppercase());
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            fields.push((name, value));
        }
    }
    fields
}

fn append(path: &Path, what: &str, text: &str) {
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "palisade node: cannot append to {what} {}: {e}",
            path.display()
        );
    }
}

impl Timeline {
    /// A timeline of node `node`, also appended to `file` if given, and its events as
    /// JSON lines to `events` if given.
    pub fn new(node: &str, file: Option<PathBuf>, events: Option<PathBuf>) -> Timeline {
        Timeline {
            node: node.to_string(),
            file,
            events,
            journal: crate::systemd::SystemdJournal::open(),
        }
    }

    /// Record one event.
    pub fn emit(&self, event: &Event) {
        let at = unix_ms();
        let full = format!(
            "{} {}\n",
            stamp(at),
            line(&self.node, event.class(), &event.text())
        );
        let journaled = self
            .journal
            .as_ref()
            .is_some_and(|journal| journal.send(&journal_fields(&self.node, event)).is_ok());
        if !journaled {
            let mut out = std::io::stdout().lock();
            // A closed stdout must not stop the node.
            let _ = out.write_all(full.as_bytes());
            let _ = out.flush();
        }
        if let Some(path) = &self.file {
            append(path, "timeline", &full);
        }
        if let Some(path) = &self.events {
            match record(at, &self.node, event) {
                Ok(json) => append(path, "events file", &json),
                Err(e) => eprintln!("palisade node: cannot encode an event: {e}"),
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
            line("node2", Class::Fence, "request node1"),
            "node2 fence    request node1"
        );
        let t = wall_clock();
        let (secs, ms) = t.split_once('.').expect("a dot");
        assert!(secs.parse::<u64>().is_ok() && ms.len() == 3, "{t}");
    }

    #[test]
    fn records_are_one_json_object_per_line() {
        let json = record(
            1_712_345_678_123,
            "node2",
            &Event::PeerUp {
                peer: "node1".into(),
                incarnation: 5,
            },
        )
        .expect("json");
        assert!(json.ends_with('\n') && !json.trim_end().contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).expect("parse");
        assert_eq!(
            v,
            serde_json::json!({"at": 1_712_345_678_123u64, "node": "node2", "class": "detect",
                "kind": "peer_up", "peer": "node1", "incarnation": 5})
        );
    }
}
