//! The files and clocks around the scheduler, whose inputs and plan the machine keeps
//! ([`crate::node::machine::scheduling`]): the admin state file (read at start, written
//! when the machine says [`crate::node::machine::Action::SaveAdmin`]), the wall clock of
//! [`crate::node::machine::Input::Plan`], and the recent fences `palisade status` shows.
//! Part of [`super`]: nothing is decided here.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Runner;
use crate::node::admin::AdminTable;
use crate::node::events::Event;
use crate::node::status::FenceLine;

/// How many fences `palisade status` remembers.
const FENCE_LOG: usize = 10;

/// The admin state file of node `node` of cluster `cluster` in `dir`.
pub(super) fn admin_file(dir: &Path, cluster: u32, node: &str) -> PathBuf {
    dir.join(format!("cluster-{cluster}-{node}.admin.json"))
}

/// The admin records kept in `path` (a warning if they cannot be read: the node then
/// starts with what its peers tell it).
pub(super) fn load_admin(path: &Path) -> (AdminTable, Option<String>) {
    match std::fs::read_to_string(path) {
        Ok(text) => match AdminTable::from_json(&text) {
            Ok(t) => (t, None),
            Err(e) => (
                AdminTable::default(),
                Some(format!("{}: {e}; starting without it", path.display())),
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (AdminTable::default(), None),
        Err(e) => (
            AdminTable::default(),
            Some(format!("cannot read {}: {e}", path.display())),
        ),
    }
}

/// Unix time in milliseconds.
pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Remember a fence in `log` for `palisade status`.
pub(super) fn log_fence(log: &mut VecDeque<FenceLine>, node: String, ok: bool, detail: String) {
    if log.len() == FENCE_LOG {
        log.pop_front();
    }
    log.push_back(FenceLine {
        node,
        at_ms: unix_ms(),
        ok,
        detail,
    });
}

impl Runner {
    /// Write the admin records (`json`) to the state file (atomically).
    pub(super) fn save_admin(&mut self, json: &str) {
        let path = self.admin_file.clone();
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, json.as_bytes())?;
            std::fs::rename(&tmp, &path)
        };
        if let Err(e) = write() {
            self.emit(Event::AdminStateUnwritable {
                path: path.display().to_string(),
                error: e.to_string(),
            });
        }
    }
}
