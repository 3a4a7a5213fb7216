//! The fence history: an append-only journal of finished operations, one JSON object per
//! line, each line written whole and `fdatasync`ed before the operation is reported done.
//! It survives restarts and crashes: on open, a torn last line (a crash mid-write) is cut
//! off; unreadable lines elsewhere are skipped and counted. It is never capped or purged.
//! Queries scan the file (by target, time range, action, newest N).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::duration::Moment;
use super::health::HealthMemory;
use super::machine::{HealthRecord, OperationRecord};
use super::operation::FenceAction;

/// Version written into every line.
pub const HISTORY_VERSION: u32 = 1;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Format version.
    pub v: u32,
    /// The node whose fencer ran the operation.
    pub node: String,
    /// The operation (times are Unix milliseconds).
    #[serde(flatten)]
    pub record: OperationRecord,
}

/// The kind tag of a health line (`"kind":"device-health"`); operation lines have none,
/// so journals written before health checks existed load unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthKind {
    /// A periodic device `monitor`.
    DeviceHealth,
}

/// One journal line of a device health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthEntry {
    /// Format version.
    pub v: u32,
    /// The node whose fencer ran the check.
    pub node: String,
    /// Always `device-health`.
    pub kind: HealthKind,
    /// The check.
    #[serde(flatten)]
    pub record: HealthRecord,
}

/// Any journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum JournalLine {
    /// A finished fencing operation.
    Operation(HistoryEntry),
    /// A device health check.
    Health(HealthEntry),
}

/// Which entries a query wants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryQuery {
    /// Only this target (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Only operations that started at or after this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Moment>,
    /// Only operations that started before this moment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Moment>,
    /// Only this action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<FenceAction>,
    /// Only the newest N (after the other filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

impl HistoryQuery {
    /// Whether `entry` passes the filters (not the limit).
    pub fn matches(&self, entry: &HistoryEntry) -> bool {
        // (Written without `Option::is_none_or`, which is newer than our minimum Rust.)
        let r = &entry.record;
        !matches!(&self.target, Some(t) if !t.eq_ignore_ascii_case(&r.target))
            && !matches!(self.since, Some(s) if r.started < s)
            && !matches!(self.until, Some(u) if r.started >= u)
            && !matches!(self.action, Some(a) if a != r.action)
    }
}

/// The journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Opening, reading, repairing or writing failed.
    #[error("history journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// An entry could not be encoded (should not happen).
    #[error("history entry cannot be encoded: {0}")]
    Encode(String),
}

/// What opening the journal found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Readable entries.
    pub entries: usize,
    /// Unreadable complete lines (skipped).
    pub skipped: usize,
    /// Device health lines.
    pub health: usize,
    /// What those lines say about each device (restored into the health checks).
    pub health_memory: std::collections::BTreeMap<String, HealthMemory>,
    /// Bytes of a torn last line that were cut off.
    pub torn_bytes: u64,
}

/// The open journal (appends only).
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Open (creating it and its directory if needed), repair a torn tail, and count.
    pub fn open(path: &Path) -> Result<(Journal, OpenReport), HistoryError> {
        let io = |source| HistoryError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Whatever the umask: directories 0755, the journal 0640 (who fenced whom is
            // for the cluster's admins, and only the daemon writes it).
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o640)
            .open(path)
            .map_err(io)?;
        let mut text = Vec::new();
        file.read_to_end(&mut text).map_err(io)?;
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut report = OpenReport {
            torn_bytes: (text.len() - complete) as u64,
            ..OpenReport::default()
        };
        if report.torn_bytes > 0 {
            file.set_len(complete as u64).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        for line in text[..complete].split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if serde_json::from_slice::<HistoryEntry>(line).is_ok() {
                report.entries += 1;
            } else if let Ok(h) = serde_json::from_slice::<HealthEntry>(line) {
                report.health += 1;
                let r = &h.record;
                report
                    .health_memory
                    .entry(r.device.clone())
                    .or_default()
                    .remember(r.at, r.ok, &r.outcome);
            } else {
                report.skipped += 1;
            }
        }
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
            },
            report,
        ))
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append entries (operations or health lines) as whole lines, then `fdatasync` once.
    pub fn append<T: Serialize>(&mut self, entries: &[T]) -> Result<(), HistoryError> {
        let mut buf = Vec::new();
        for entry in entries {
            serde_json::to_writer(&mut buf, entry)
                .map_err(|e| HistoryError::Encode(e.to_string()))?;
            buf.push(b'\n');
        }
        let io = |source| HistoryError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&buf).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// Entries of the journal at `path` that match `query`, oldest first. A missing file is
/// an empty history; health lines and unreadable lines (a line being written right now)
/// are skipped.
pub fn query(path: &Path, query: &HistoryQuery) -> Result<Vec<HistoryEntry>, HistoryError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HistoryError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut found = std::collections::VecDeque::new();
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|source| HistoryError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            break;
        }
        let Ok(entry) = serde_json::from_slice::<HistoryEntry>(&line) else {
            continue;
        };
        if query.matches(&entry) {
            found.push_back(entry);
            if query.limit.is_some_and(|l| found.len() > l) {
                found.pop_front();
            }
        }
    }
    Ok(found.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fencer::operation::{FailReason, OpId, OpResult};

    fn entry(op: u64, target: &str, started: u64) -> HistoryEntry {
        HistoryEntry {
            v: HISTORY_VERSION,
            node: "self".into(),
            record: OperationRecord {
                op: OpId(op),
                target: target.into(),
                action: FenceAction::Reboot,
                requesters: vec!["cli".into()],
                started: Moment(started),
                finished: Moment(started + 10),
                result: OpResult::Failed {
                    reason: FailReason::NoDevice,
                },
                attempts: Vec::new(),
            },
        }
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("palisade-hist-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub/history.jsonl")
    }

    #[test]
    fn append_reopen_query() {
        let path = temp("basic");
        let (mut journal, report) = Journal::open(&path).expect("open");
        assert_eq!(report, OpenReport::default());
        journal
            .append(&[entry(1, "node1", 100), entry(2, "node2", 200)])
            .expect("append");
        journal.append(&[entry(3, "NODE1", 300)]).expect("append");
        drop(journal);
        let (_, report) = Journal::open(&path).expect("reopen");
        assert_eq!(report.entries, 3);
        let all = query(&path, &HistoryQuery::default()).expect("query");
        assert_eq!(all.len(), 3);
        let node1 = HistoryQuery {
            target: Some("node1".into()),
            ..HistoryQuery::default()
        };
        let ops: Vec<u64> = query(&path, &node1)
            .expect("query")
            .iter()
            .map(|e| e.record.op.0)
            .collect();
        assert_eq!(ops, [1, 3]);
        let window = HistoryQuery {
            since: Some(Moment(150)),
            until: Some(Moment(300)),
            ..HistoryQuery::default()
        };
        assert_eq!(query(&path, &window).expect("query").len(), 1);
        let newest = HistoryQuery {
            limit: Some(2),
            ..HistoryQuery::default()
        };
        let ops: Vec<u64> = query(&path, &newest)
            .expect("query")
            .iter()
            .map(|e| e.record.op.0)
            .collect();
        assert_eq!(ops, [2, 3]);
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[test]
    fn torn_tail_is_cut_and_garbage_skipped() {
        let path = temp("torn");
        let (mut journal, _) = Journal::open(&path).expect("open");
        journal.append(&[entry(1, "n", 1)]).expect("append");
        drop(journal);
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"not json\n{\"v\":1,\"node\":\"self\",\"op\":2,\"tar")
            .expect("write");
        drop(f);
        let (mut journal, report) = Journal::open(&path).expect("reopen");
        assert_eq!(report.entries, 1);
        assert_eq!(report.skipped, 1);
        assert!(report.torn_bytes > 0);
        journal
            .append(&[entry(3, "n", 3)])
            .expect("append after repair");
        let ops: Vec<u64> = query(&path, &HistoryQuery::default())
            .expect("query")
            .iter()
            .map(|e| e.record.op.0)
            .collect();
        assert_eq!(ops, [1, 3]);
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[test]
    fn health_lines_sit_beside_operations_and_old_journals_load() {
        use crate::fencer::health::Health;
        let path = temp("health");
        // A journal as written before health checks existed.
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        let old = r#"{"v":1,"node":"n1","op":2,"target":"node1","action":"off","requesters":["cli"],"started":1,"finished":2,"result":{"status":"done","level":1,"devices":["bmc"]},"attempts":[]}"#;
        std::fs::write(&path, format!("{old}\n")).expect("write");
        let (mut journal, report) = Journal::open(&path).expect("open");
        assert_eq!((report.entries, report.health, report.skipped), (1, 0, 0));
        let health = HealthEntry {
            v: HISTORY_VERSION,
            node: "n1".into(),
            kind: HealthKind::DeviceHealth,
            record: HealthRecord {
                device: "bmc".into(),
                at: Moment(5),
                ok: false,
                outcome: "exit 1: no route".into(),
                health: Health::Failing,
                consecutive_failures: 1,
            },
        };
        journal
            .append(&[
                JournalLine::Health(health.clone()),
                JournalLine::Operation(entry(3, "node1", 6)),
            ])
            .expect("append");
        let text = std::fs::read_to_string(&path).expect("read");
        let line = text.lines().nth(1).expect("health line");
        assert!(line.contains(r#""kind":"device-health""#), "{line}");
        assert_eq!(
            serde_json::from_str::<HealthEntry>(line).expect("health"),
            health
        );
        drop(journal);
        let (_, report) = Journal::open(&path).expect("reopen");
        assert_eq!((report.entries, report.health, report.skipped), (2, 1, 0));
        let memory = &report.health_memory["bmc"];
        assert_eq!(memory.consecutive_failures, 1);
        assert_eq!(
            memory.last_error,
            Some((Moment(5), "exit 1: no route".to_string()))
        );
        let ops: Vec<u64> = query(&path, &HistoryQuery::default())
            .expect("query")
            .iter()
            .map(|e| e.record.op.0)
            .collect();
        assert_eq!(ops, [2, 3], "health lines are not operations");
        let _ = std::fs::remove_dir_all(path.parent().and_then(Path::parent).expect("dir"));
    }

    #[test]
    fn missing_file_is_empty_history() {
        let path = temp("missing");
        assert!(query(&path, &HistoryQuery::default())
            .expect("query")
            .is_empty());
    }
}
