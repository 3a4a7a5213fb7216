//! The shared reader of the events file (`[cluster] events`, `docs/cluster.md`): one JSON
//! record per line from every node daemon of a lab (and the BMCs' power records), read
//! into [`Ev`] in time order. The cluster tests assert on these fields, never on the
//! timeline's prose (which they only print).

use std::path::Path;

use serde_json::Value;

/// A named check of an event, for lists of what must have happened.
pub type Check<'a> = (&'a str, &'a dyn Fn(&Ev) -> bool);

/// One event record.
#[derive(Debug, Clone, PartialEq)]
pub struct Ev {
    /// Unix milliseconds.
    pub at: u64,
    /// Who emitted it (`nodeN`, or `bmcN` for power records).
    pub node: String,
    /// The timeline column (`detect`, `quorum`, `fence`..., `power`).
    pub class: String,
    /// What happened (`peer_dead`, `quorum`, `fence_request`...).
    pub kind: String,
    /// The whole record.
    pub fields: Value,
}

impl Ev {
    /// Whether this is a `kind` event of `node`.
    pub fn is(&self, node: &str, kind: &str) -> bool {
        self.node == node && self.kind == kind
    }

    /// A string field ("" when absent).
    pub fn str(&self, field: &str) -> &str {
        self.fields[field].as_str().unwrap_or("")
    }

    /// A number field.
    pub fn u64(&self, field: &str) -> Option<u64> {
        self.fields[field].as_u64()
    }

    /// A boolean field (false when absent).
    pub fn flag(&self, field: &str) -> bool {
        self.fields[field].as_bool().unwrap_or(false)
    }

    /// A list-of-names field (empty when absent).
    pub fn names(&self, field: &str) -> Vec<String> {
        self.fields[field]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether it reports the node `peer` dead.
    pub fn peer_dead(&self, peer: &str) -> bool {
        self.kind == "peer_dead" && self.str("peer") == peer
    }

    /// Whether it is a fence event, a power record or a peer declared dead: the cluster
    /// lost someone.
    pub fn lost_someone(&self) -> bool {
        self.class == "fence" || self.class == "power" || self.kind == "peer_dead"
    }

    /// The verdict of a `quorum` record: Some(quorate).
    pub fn verdict(&self) -> Option<bool> {
        (self.kind == "quorum").then(|| self.flag("quorate"))
    }

    /// Whether a `resource_action` record asks `action` of `resource` for `reason`.
    pub fn resource_action(&self, action: &str, resource: &str, reason: &str) -> bool {
        self.kind == "resource_action"
            && self.str("action") == action
            && self.str("resource") == resource
            && self.str("reason") == reason
    }
}

/// The events file `path` (missing: no event), in time order (file order within a
/// millisecond). A line that is no record fails the test: the daemon writes whole lines.
pub fn read_events(path: &Path) -> Vec<Ev> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being appended is left for the next read.
    let whole = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    let mut events: Vec<Ev> = whole
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let fields: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not an event record ({e}): {l}"));
            let s = |k: &str| fields[k].as_str().unwrap_or("").to_string();
            Ev {
                at: fields["at"].as_u64().unwrap_or(0),
                node: s("node"),
                class: s("class"),
                kind: s("kind"),
                fields,
            }
        })
        .collect();
    events.sort_by_key(|e| e.at);
    events
}
