//! The replicated admin state, pure: what administrators asked for with `palisade node
//! standby|online` and `palisade resource move|ban|clear|cleanup|stop|start`, as
//! versioned records that every node merges from every peer's report.
//!
//! A record is `key = value` with a Lamport version and the id of the node that wrote
//! it; for one key the highest `(version, origin)` wins, so every node that has seen the
//! same records holds the same table, in whatever order they came. Deleting writes an
//! empty value (a tombstone), so an older record cannot come back from a node that was
//! away. A node writes a record with the version one above the highest it has seen.
//!
//! Keys (names are node and resource names of the configuration):
//! - `standby/NODE` = `on` (standby) or empty (online);
//! - `target-role/RES` = `stopped`, `started` or empty (the configuration's);
//! - `prefer/RES` = `NODE`: `palisade resource move` (pacemaker's `cli-prefer-RES`,
//!   INFINITY), empty after `clear`;
//! - `ban/RES/NODE` = `on`: `palisade resource ban` (`cli-ban-RES-on-NODE`, -INFINITY);
//! - `cleanup/RES` = `NODE` or `*`: a cleanup request; each node clears its own
//!   failcounts of RES once for every newer record (the version is the request);
//! - `maintenance/NODE` = `on`: `palisade node maintenance NODE` (empty after `ready`);
//! - `maintenance-mode` = `on`: `palisade maintenance on` (the whole cluster; empty
//!   after `off`).
//!
//! The table is persisted as JSON ([`AdminTable::to_json`]) so that a restart keeps it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cluster::quorum::NodeId;

/// Longest key or value a record may have (it travels in one length byte).
pub const MAX_TEXT: usize = 255;
/// Most records the table holds (one report carries them all).
pub const MAX_RECORDS: usize = 256;

/// One versioned admin record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// `standby/node2`, `prefer/web`, ...
    pub key: String,
    /// The value; empty = deleted.
    pub value: String,
    /// Lamport version.
    pub version: u64,
    /// The node that wrote it (breaks version ties).
    pub origin: NodeId,
}

impl Record {
    fn newer_than(&self, other: &Record) -> bool {
        (self.version, self.origin) > (other.version, other.origin)
    }
}

/// What an administrator asks for. `Node` is how the commands that may leave the node
/// out name it: [`String`] in the table (resolved), `Option<String>` as the control
/// socket receives it ([`crate::node::control::AdminRequest`]: None = the daemon's own
/// node, or for `ban` where the resource runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Command<Node = String> {
    /// `palisade node standby|online NODE`.
    Standby {
        /// The node.
        node: Node,
        /// true: standby; false: online.
        on: bool,
    },
    /// `palisade resource move RES NODE`.
    Move {
        /// The resource.
        resource: String,
        /// Where it should go.
        node: String,
    },
    /// `palisade resource ban RES NODE`.
    Ban {
        /// The resource.
        resource: String,
        /// Where it may not run.
        node: Node,
    },
    /// `palisade resource clear RES [NODE]`: drop move and ban constraints.
    Clear {
        /// The resource.
        resource: String,
        /// Only those naming this node.
        #[serde(default)]
        node: Option<String>,
    },
    /// `palisade resource cleanup RES [NODE]`: forget failures.
    Cleanup {
        /// The resource.
        resource: String,
        /// Only on this node.
        #[serde(default)]
        node: Option<String>,
    },
    /// `palisade resource stop|start RES`: target-role.
    TargetRole {
        /// The resource.
        resource: String,
        /// true: stopped; false: started.
        stopped: bool,
    },
    /// `palisade node maintenance|ready NODE`.
    NodeMaintenance {
        /// The node.
        node: Node,
        /// true: maintenance; false: ready.
        on: bool,
    },
    /// `palisade maintenance on|off`: the whole cluster.
    MaintenanceMode {
        /// On or off.
        on: bool,
    },
}

/// A command that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// A name longer than a record can carry.
    #[error("name too long ({0} bytes; at most {MAX_TEXT} with its prefix)")]
    TooLong(usize),
    /// The table is full.
    #[error("the admin table is full ({MAX_RECORDS} records)")]
    Full,
    /// The state file cannot be read.
    #[error("admin state file: {0}")]
    File(String),
}

/// A (resource, node) pair.
pub type ResourceOnNode = (String, String);

/// A cleanup that this node must carry out: forget its failures of `resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupRequest {
    /// The resource.
    pub resource: String,
    /// Only this node (None: every node).
    pub node: Option<String>,
}

/// The records of the whole cluster, as this node knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminTable {
    records: BTreeMap<String, Record>,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    records: Vec<Record>,
}

fn value_of(on: bool) -> String {
    if on {
        "on".to_string()
    } else {
        String::new()
    }
}

impl AdminTable {
    /// Every record, by key.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.values()
    }

    /// The highest version seen (the Lamport clock).
    pub fn clock(&self) -> u64 {
        self.records.values().map(|r| r.version).max().unwrap_or(0)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.records
            .get(key)
            .map(|r| r.value.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Whether `node` is in standby.
    pub fn standby(&self, node: &str) -> bool {
        self.get(&format!("standby/{node}")).is_some()
    }

    /// Whether `node` is in maintenance (its resources are left alone).
    pub fn maintenance(&self, node: &str) -> bool {
        self.get(&format!("maintenance/{node}")).is_some()
    }

    /// Whether the whole cluster is in maintenance (`palisade maintenance on`).
    pub fn maintenance_mode(&self) -> bool {
        self.get("maintenance-mode").is_some()
    }

    /// The target-role the admin set for `resource`: Some(true) stopped, Some(false)
    /// started, None: the configuration's.
    pub fn stopped(&self, resource: &str) -> Option<bool> {
        self.get(&format!("target-role/{resource}"))
            .map(|v| v == "stopped")
    }

    /// Where `palisade resource move` sent `resource`.
    pub fn preferred(&self, resource: &str) -> Option<String> {
        self.get(&format!("prefer/{resource}")).map(str::to_string)
    }

    /// Nodes `resource` is banned from.
    pub fn bans(&self, resource: &str) -> Vec<String> {
        let prefix = format!("ban/{resource}/");
        self.records
            .iter()
            .filter(|(_, r)| !r.value.is_empty())
            .filter_map(|(k, _)| k.strip_prefix(&prefix).map(str::to_string))
            .collect()
    }

    /// (resource, target-role stopped?) for every resource with an admin target-role.
    pub fn target_roles(&self) -> Vec<(String, bool)> {
        self.records
            .iter()
            .filter(|(_, r)| !r.value.is_empty())
            .filter_map(|(k, r)| {
                k.strip_prefix("target-role/")
                    .map(|res| (res.to_string(), r.value == "stopped"))
            })
            .collect()
    }

    /// (resource, node) of every move, and (resource, node) of every ban.
    pub fn moves_and_bans(&self) -> (Vec<ResourceOnNode>, Vec<ResourceOnNode>) {
        let mut moves = Vec::new();
        let mut bans = Vec::new();
        for (k, r) in &self.records {
            if r.value.is_empty() {
                continue;
            }
            if let Some(res) = k.strip_prefix("prefer/") {
                moves.push((res.to_string(), r.value.clone()));
            } else if let Some(rest) = k.strip_prefix("ban/") {
                if let Some((res, node)) = rest.rsplit_once('/') {
                    bans.push((res.to_string(), node.to_string()));
                }
            }
        }
        (moves, bans)
    }

    /// The (key, value) pairs a command writes, given the current table.
    fn writes(&self, command: &Command) -> Vec<(String, String)> {
        match command {
            Command::Standby { node, on } => vec![(format!("standby/{node}"), value_of(*on))],
            Command::Move { resource, node } => {
                // A move also lifts a ban from the target, as crm_resource --move does not
                // (it would fail); a ban left there would make the move impossible.
                let mut w = vec![(format!("prefer/{resource}"), node.clone())];
                let ban = format!("ban/{resource}/{node}");
                if self.get(&ban).is_some() {
                    w.push((ban, String::new()));
                }
                w
            }
            Command::Ban { resource, node } => {
                let mut w = vec![(format!("ban/{resource}/{node}"), value_of(true))];
                if self.preferred(resource).as_deref() == Some(node.as_str()) {
                    w.push((format!("prefer/{resource}"), String::new()));
                }
                w
            }
            Command::Clear { resource, node } => {
                let mut w = Vec::new();
                let preferred = self.preferred(resource);
                if preferred.is_some() && (node.is_none() || preferred == *node) {
                    w.push((format!("prefer/{resource}"), String::new()));
                }
                for banned in self.bans(resource) {
                    if node.as_ref().is_none_or(|n| *n == banned) {
                        w.push((format!("ban/{resource}/{banned}"), String::new()));
                    }
                }
                w
            }
            Command::Cleanup { resource, node } => vec![(
                format!("cleanup/{resource}"),
                node.clone().unwrap_or_else(|| "*".to_string()),
            )],
            Command::TargetRole { resource, stopped } => vec![(
                format!("target-role/{resource}"),
                if *stopped { "stopped" } else { "started" }.to_string(),
            )],
            Command::NodeMaintenance { node, on } => {
                vec![(format!("maintenance/{node}"), value_of(*on))]
            }
            Command::MaintenanceMode { on } => vec![("maintenance-mode".into(), value_of(*on))],
        }
    }

    /// Carry out `command` written by node `me`: the new records (also merged here),
    /// and the cleanup this node must do itself.
    pub fn command(
        &mut self,
        me: NodeId,
        command: &Command,
    ) -> Result<(Vec<Record>, Option<CleanupRequest>), AdminError> {
        let writes = self.writes(command);
        for (k, v) in &writes {
            let longest = k.len().max(v.len());
            if longest > MAX_TEXT {
                return Err(AdminError::TooLong(longest));
            }
        }
        let fresh = writes
            .iter()
            .filter(|(k, _)| !self.records.contains_key(k))
            .count();
        if self.records.len() + fresh > MAX_RECORDS {
            return Err(AdminError::Full);
        }
        let version = self.clock() + 1;
        let records: Vec<Record> = writes
            .into_iter()
            .map(|(key, value)| Record {
                key,
                value,
                version,
                origin: me,
            })
            .collect();
        for r in &records {
            self.records.insert(r.key.clone(), r.clone());
        }
        let cleanup = match command {
            Command::Cleanup { resource, node } => Some(CleanupRequest {
                resource: resource.clone(),
                node: node.clone(),
            }),
            _ => None,
        };
        Ok((records, cleanup))
    }

    /// Merge records from a peer: true if the table changed, and the cleanups that
    /// arrived (to carry out on this node if they concern it).
    pub fn merge(&mut self, incoming: &[Record]) -> (bool, Vec<CleanupRequest>) {
        let mut changed = false;
        let mut cleanups = Vec::new();
        for r in incoming {
            if r.key.is_empty() || r.key.len() > MAX_TEXT || r.value.len() > MAX_TEXT {
                continue;
            }
            let newer = match self.records.get(&r.key) {
                Some(old) => r.newer_than(old),
                None => self.records.len() < MAX_RECORDS,
            };
            if !newer {
                continue;
            }
            if let Some(resource) = r.key.strip_prefix("cleanup/") {
                cleanups.push(CleanupRequest {
                    resource: resource.to_string(),
                    node: (r.value != "*" && !r.value.is_empty()).then(|| r.value.clone()),
                });
            }
            self.records.insert(r.key.clone(), r.clone());
            changed = true;
        }
        (changed, cleanups)
    }

    /// The table as the JSON of the state file.
    pub fn to_json(&self) -> String {
        let file = StateFile {
            version: 1,
            records: self.records.values().cloned().collect(),
        };
        serde_json::to_string_pretty(&file).unwrap_or_else(|_| "{}".to_string())
    }

    /// A table from the JSON of the state file.
    pub fn from_json(text: &str) -> Result<AdminTable, AdminError> {
        let file: StateFile =
            serde_json::from_str(text).map_err(|e| AdminError::File(e.to_string()))?;
        if file.version != 1 {
            return Err(AdminError::File(format!(
                "version {} not supported",
                file.version
            )));
        }
        let mut table = AdminTable::default();
        table.merge(&file.records);
        Ok(table)
    }
}

#[cfg(test)]
mod tests;
