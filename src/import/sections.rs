//! The sections of an imported configuration (serializable, kebab-case keys): the node
//! daemon's `[cluster]`, `[timers]`, `[quorum]`, `[fencing]`, `[[node]]` and
//! `[[resource]]`, and the placement model's `[options]`, `[[primitive]]`, `[[group]]`,
//! `[[clone]]` and `[[location]]`. Which resource sections are printed is
//! [`super::emit`]'s choice.

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
    /// Two nodes: each half stays quorate, fencing decides.
    pub two_node: bool,
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

/// `[[resource]]` of the node daemon: one agent with its node preference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResourceSection {
    /// Resource name.
    pub name: String,
    /// `ocf:heartbeat:IPaddr2`, `lsb:httpd`.
    pub agent: String,
    /// Agent parameters (OCF only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    /// Nodes in preference order: the haresources node first.
    pub allowed: Vec<String>,
    /// Recurring monitor.
    pub monitor_interval: String,
    /// Timeout of every operation.
    pub op_timeout: String,
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

/// `[[clone]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CloneSection {
    /// Clone name.
    pub name: String,
    /// The cloned primitive.
    pub resource: String,
}

/// A location rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RuleSection {
    /// Score for matching nodes.
    pub score: String,
    /// and / or.
    pub boolean_op: String,
    /// Expressions.
    pub expressions: Vec<String>,
}

/// `[[location]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LocationSection {
    /// Constraint id.
    pub id: String,
    /// Resource or group.
    pub resource: String,
    /// Node (with score).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Score on the node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<i64>,
    /// Or a rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleSection>,
}

/// The imported configuration: the node daemon's sections and the resources in the
/// placement model (printed by [`super::emit`] in the layout `palisade node` reads).
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
    /// `[[clone]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clone: Vec<CloneSection>,
    /// `[[location]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub location: Vec<LocationSection>,
}
