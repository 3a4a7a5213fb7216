//! The TOML `palisade import` prints: a configuration `palisade node --check` accepts.
//! The resources are built once, in the placement model (groups, homes, a ping clone);
//! [`LAYOUT`] says how they are written out:
//!
//! - [`ResourceLayout::NodeResources`] (what `palisade node` reads today): one
//!   `[[resource]]` per primitive, its haresources node first in `allowed`, then the
//!   other nodes in ha.cf order. Group order and colocation are not expressed (the daemon
//!   places each resource on its first allowed member), the ping clone is left out, and
//!   resources never fail back: the warnings say so.
//! - [`ResourceLayout::Placement`]: `[options]`, `[[primitive]]`, `[[group]]`,
//!   `[[clone]]`, `[[location]]` as [`crate::placement::Config`] reads them, for when the
//!   node daemon takes the placement sections: switching is changing [`LAYOUT`].

use serde::Serialize;

use super::sections::{
    CloneSection, ClusterSection, FencingSection, GroupSection, ImportedConfig, LocationSection,
    NodeSection, OptionsSection, PrimitiveSection, QuorumSection, ResourceSection, TimersSection,
};
use super::ImportError;

/// How the resources are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceLayout {
    /// `[[resource]]` entries of the node daemon.
    NodeResources,
    /// The placement model's sections.
    Placement,
}

/// The layout `palisade node` reads.
pub const LAYOUT: ResourceLayout = ResourceLayout::NodeResources;

/// The file, in section order.
#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct NodeFile<'a> {
    cluster: &'a ClusterSection,
    timers: &'a TimersSection,
    quorum: &'a QuorumSection,
    fencing: &'a FencingSection,
    node: &'a [NodeSection],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resource: Vec<ResourceSection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a OptionsSection>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    primitive: &'a [PrimitiveSection],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    group: &'a [GroupSection],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    clone: &'a [CloneSection],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    location: &'a [LocationSection],
}

const HEADER: &str = "\
# palisade configuration imported from heartbeat by `palisade import`.
# One file for every node: start each with `palisade node --config FILE --node NAME`.
";

/// `config` as TOML in `layout`.
pub fn to_toml(config: &ImportedConfig, layout: ResourceLayout) -> Result<String, ImportError> {
    let placement = layout == ResourceLayout::Placement;
    let file = NodeFile {
        cluster: &config.cluster,
        timers: &config.timers,
        quorum: &config.quorum,
        fencing: &config.fencing,
        node: &config.node,
        resource: if placement {
            Vec::new()
        } else {
            node_resources(config)
        },
        options: placement.then_some(&config.options),
        primitive: if placement { &config.primitive } else { &[] },
        group: if placement { &config.group } else { &[] },
        clone: if placement { &config.clone } else { &[] },
        location: if placement { &config.location } else { &[] },
    };
    let body = toml::to_string(&file).map_err(|e| ImportError::Toml(e.to_string()))?;
    Ok(format!("{HEADER}\n{body}"))
}

/// The primitives as `[[resource]]` entries (clones left out): preference home first.
pub fn node_resources(config: &ImportedConfig) -> Vec<ResourceSection> {
    let cloned: Vec<&str> = config.clone.iter().map(|c| c.resource.as_str()).collect();
    let home_of = |target: &str| {
        config
            .location
            .iter()
            .find(|l| l.resource == target && l.node.is_some())
            .and_then(|l| l.node.clone())
    };
    config
        .primitive
        .iter()
        .filter(|p| !cloned.contains(&p.name.as_str()))
        .map(|p| {
            let target = config
                .group
                .iter()
                .find(|g| g.members.contains(&p.name))
                .map_or(p.name.as_str(), |g| g.name.as_str());
            let home = home_of(target);
            let mut allowed: Vec<String> = home.iter().cloned().collect();
            allowed.extend(
                config
                    .node
                    .iter()
                    .map(|n| n.name.clone())
                    .filter(|n| Some(n) != home.as_ref()),
            );
            let monitor = p.op.iter().find(|o| o.name == "monitor");
            ResourceSection {
                name: p.name.clone(),
                agent: p.agent.clone(),
                params: p.params.clone(),
                allowed,
                monitor_interval: monitor.map_or_else(|| "0".into(), |o| o.interval.clone()),
                op_timeout: monitor.map_or_else(|| "20s".into(), |o| o.timeout.clone()),
            }
        })
        .collect()
}

/// What the administrator must know about `layout`'s limits for this configuration.
pub fn layout_warnings(config: &ImportedConfig, layout: ResourceLayout) -> Vec<String> {
    if layout == ResourceLayout::Placement {
        return Vec::new();
    }
    let mut out = Vec::new();
    if !config.group.is_empty() {
        out.push(
            "haresources groups are written as [[resource]] entries with the group's node first: \
             palisade node does not yet start group members in order or keep them together"
                .to_string(),
        );
    }
    if config.options.auto_failback && !config.primitive.is_empty() {
        out.push(
            "auto_failback on: palisade node's [[resource]] placement leaves a resource where it \
             runs when its home node returns (as auto_failback off)"
                .to_string(),
        );
    }
    // TODO(ping-targets): once [quorum] ping-targets exists in the node configuration,
    // write heartbeat's ping nodes there instead of dropping them.
    if let Some(ping) = config.clone.iter().find(|c| c.resource == "ping") {
        let hosts = config
            .primitive
            .iter()
            .find(|p| p.name == ping.resource)
            .and_then(|p| p.params.get("host_list").cloned())
            .unwrap_or_default();
        out.push(format!(
            "ping nodes ({hosts}) are not imported: palisade node has no ping targets yet"
        ));
    }
    out
}
