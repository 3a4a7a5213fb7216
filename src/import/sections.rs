//! The sections of an imported configuration (serializable, kebab-case keys, in the
//! order they are printed): the node daemon's `[cluster]`, `[timers]`, `[quorum]`,
//! `[fencing]` and `[[node]]`, and the resources in the placement model's `[options]`,
//! `[[primitive]]`, `[[group]]` and `[[location]]`, which `palisade node` reads from the
//! same file.

use std::collections::BTreeMap;

use serde::Serialize;

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterSection {
    /// Cluster id (from heartbeat's `cluster` name).
    pub id: u32,
    /// Where the derived key is to be written.
    pub key_file: String,
    /// heartbeat's `udpport`.
    pub port: u16,
}

/// `[timers]`, as spans (`2s`, `500ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TimersSection {
    /// Heartbeat interval.
    pub keepalive: String,
    /// Late-heartbeat warning.
    pub warntime: String,
    /// Declared dead after.
    pub deadtime: String,
    /// deadtime at startup.
    pub initdead: String,
}

/// `[quorum]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct QuorumSection {
    /// Two nodes without ping nodes: each half stays quorate, fencing decides.
    pub two_node: bool,
    /// heartbeat's ping nodes: an exact half is quorate only while they answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_targets: Option<Vec<String>>,
    /// heartbeat's `deadping`, when the node daemon can take it (below deadtime).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ping_deadtime: Option<String>,
}

/// `[[node]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeSection {
    /// `uname -n`.
    pub name: String,
    /// 1.. in ha.cf order.
    pub id: u32,
    /// One per ring (`--addresses`), or empty: to be filled in.
    pub addresses: Vec<String>,
}

/// `[fencing]`: through the fencer daemon, where fence devices are configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FencingSection {
    /// The fencer's API socket.
    pub fencer_socket: String,
}

/// `[options]` of the placement model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OptionsSection {
    /// heartbeat's auto_failback on.
    pub auto_failback: bool,
    /// Set for auto_failback off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_stickiness: Option<i64>,
}

/// An operation of a primitive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OpSection {
    /// `monitor`.
    pub name: String,
    /// Interval.
    pub interval: String,
    /// Timeout.
    pub timeout: String,
}

/// `[[primitive]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PrimitiveSection {
    /// Resource name.
    pub name: String,
    /// `ocf:heartbeat:IPaddr`, `lsb:httpd`.
    pub agent: String,
    /// Agent parameters.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Operations.
    pub op: Vec<OpSection>,
}

/// `[[group]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct GroupSection {
    /// Group name.
    pub name: String,
    /// Members in start order.
    pub members: Vec<String>,
}

/// `[[location]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LocationSection {
    /// Constraint id.
    pub id: String,
    /// Resource or group.
    pub resource: String,
    /// The node.
    pub node: String,
    /// Score on the node.
    pub score: i64,
}

/// The imported configuration, as `palisade node` reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImportedConfig {
    /// `[cluster]`.
    pub cluster: ClusterSection,
    /// `[timers]`.
    pub timers: TimersSection,
    /// `[quorum]`.
    pub quorum: QuorumSection,
    /// `[fencing]`.
    pub fencing: FencingSection,
    /// `[[node]]`.
    pub node: Vec<NodeSection>,
    /// `[options]`.
    pub options: OptionsSection,
    /// `[[primitive]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub primitive: Vec<PrimitiveSection>,
    /// `[[group]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub group: Vec<GroupSection>,
    /// `[[location]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub location: Vec<LocationSection>,
}
