//! What `crm_mon -1 --output-as=xml` says about the cluster, in the terms sbd's pacemaker
//! servant uses. crm_mon computes node state with pacemaker's own status code
//! (`cluster_status()` of libpe_status, the one sbd calls on its CIB copy): DC present,
//! partition quorum, `no-quorum-policy`, and per node online / unclean / pending /
//! shutdown / maintenance and the number of resources running there.

use std::collections::BTreeMap;

/// `no-quorum-policy` (`cluster_options`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoQuorumPolicy {
    Freeze,
    Stop,
    Ignore,
    Demote,
    /// `suicide`, or anything this servant does not know: sbd self-fences for those.
    Suicide,
}

impl NoQuorumPolicy {
    fn parse(word: &str) -> NoQuorumPolicy {
        match word {
            "freeze" => NoQuorumPolicy::Freeze,
            "stop" | "" => NoQuorumPolicy::Stop,
            "ignore" => NoQuorumPolicy::Ignore,
            "demote" => NoQuorumPolicy::Demote,
            _ => NoQuorumPolicy::Suicide,
        }
    }
}

/// One `<node>` of crm_mon's `<nodes>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeStatus {
    pub name: String,
    pub online: bool,
    pub unclean: bool,
    pub pending: bool,
    pub shutdown: bool,
    pub maintenance: bool,
    pub resources_running: u32,
}

/// The cluster as crm_mon shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    pub dc_present: bool,
    pub have_quorum: bool,
    pub no_quorum_policy: NoQuorumPolicy,
    pub nodes: Vec<NodeStatus>,
}

/// crm_mon's XML could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("crm_mon XML: {0}")]
pub struct ParseError(String);

/// Attributes of every `<tag ...>` element in `xml`, in document order. Enough for
/// pacemaker's formatted output (double-quoted attributes, no CDATA in these elements).
fn elements(xml: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag}");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        rest = after;
        if !after.starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/') {
            continue;
        }
        let Some(end) = after.find('>') else { break };
        let mut attrs = BTreeMap::new();
        let mut head = after[..end].trim_end_matches('/');
        while let Some(eq) = head.find("=\"") {
            let name = head[..eq].trim().to_owned();
            let value = &head[eq + 2..];
            let Some(close) = value.find('"') else { break };
            attrs.insert(name, unescape(&value[..close]));
            head = &value[close + 1..];
        }
        found.push(attrs);
        rest = &after[end..];
    }
    found
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

fn flag(attrs: &BTreeMap<String, String>, name: &str) -> bool {
    attrs.get(name).is_some_and(|v| v == "true")
}

/// Parse `crm_mon -1 --output-as=xml`.
pub fn parse(xml: &str) -> Result<ClusterStatus, ParseError> {
    let dc = elements(xml, "current_dc")
        .into_iter()
        .next()
        .ok_or_else(|| ParseError("no <current_dc> in the summary".into()))?;
    let policy = elements(xml, "cluster_options")
        .into_iter()
        .next()
        .and_then(|o| o.get("no-quorum-policy").cloned())
        .unwrap_or_default();
    let nodes = elements(xml, "node")
        .into_iter()
        // <node> also appears inside resource listings (no `online` there).
        .filter(|n| n.contains_key("online") && n.contains_key("name"))
        .map(|n| NodeStatus {
            name: n.get("name").cloned().unwrap_or_default(),
            online: flag(&n, "online"),
            unclean: flag(&n, "unclean"),
            pending: flag(&n, "pending"),
            shutdown: flag(&n, "shutdown"),
            maintenance: flag(&n, "maintenance"),
            resources_running: n
                .get("resources_running")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        })
        .collect();
    Ok(ClusterStatus {
        dc_present: flag(&dc, "present"),
        have_quorum: flag(&dc, "with_quorum"),
        no_quorum_policy: NoQuorumPolicy::parse(&policy),
        nodes,
    })
}
