//! The one builder of `palisade node` configurations for every cluster test harness
//! (`common_cluster`, `common_arbitration`, `common_resources`, and through them
//! `cluster_replay`): typed sections mirroring the node's configuration file
//! (`docs/cluster.md`), serialised to TOML by the `toml` crate, never by hand. A lab
//! starts from [`NodeToml::lab`] (the lab's files, timers and addresses) and sets what
//! differs; sections the builder does not type (placement `[[primitive]]`, `[[group]]`...)
//! go in [`NodeToml::more`] as TOML tables.

use std::path::{Path, PathBuf};

use serde::Serialize;

fn none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

/// A node's whole configuration file.
#[derive(Debug, Clone, Serialize)]
pub struct NodeToml {
    pub cluster: ClusterSection,
    pub timers: TimersSection,
    pub quorum: QuorumSection,
    pub fencing: FencingSection,
    #[serde(rename = "node")]
    pub nodes: Vec<NodeSection>,
    #[serde(rename = "resource", skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceSection>,
    #[serde(rename = "ring", skip_serializing_if = "Vec::is_empty")]
    pub rings: Vec<RingSection>,
    /// Further sections (placement), as written.
    #[serde(flatten)]
    pub more: toml::Table,
}

/// `[cluster]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ClusterSection {
    pub id: u32,
    pub key_file: PathBuf,
    pub node: String,
    #[serde(skip_serializing_if = "none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "none")]
    pub ocf_root: Option<PathBuf>,
    #[serde(skip_serializing_if = "none")]
    pub timeline: Option<PathBuf>,
    #[serde(skip_serializing_if = "none")]
    pub events: Option<PathBuf>,
    #[serde(skip_serializing_if = "none")]
    pub state_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "none")]
    pub control_socket: Option<PathBuf>,
    #[serde(skip_serializing_if = "none")]
    pub sbd_health_file: Option<PathBuf>,
}

/// `[timers]`.
#[derive(Debug, Clone, Serialize)]
pub struct TimersSection {
    pub keepalive: String,
    pub deadtime: String,
    pub initdead: String,
}

/// `[quorum]`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct QuorumSection {
    #[serde(skip_serializing_if = "none")]
    pub two_node: Option<bool>,
    #[serde(skip_serializing_if = "none")]
    pub no_quorum_policy: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub ping_targets: Option<Vec<String>>,
    #[serde(skip_serializing_if = "none")]
    pub tie_breaker_disk: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub disk_settle: Option<String>,
}

/// `[fencing]`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FencingSection {
    #[serde(skip_serializing_if = "none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub race_delay: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub retry: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub self_fence: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub fencer_socket: Option<PathBuf>,
    #[serde(skip_serializing_if = "none")]
    pub watchdog_timeout: Option<String>,
    #[serde(skip_serializing_if = "none")]
    pub sbd_watchdog_timeout: Option<String>,
}

/// `[[node]]`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NodeSection {
    pub name: String,
    pub id: usize,
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "none")]
    pub fence_agent: Option<String>,
    #[serde(skip_serializing_if = "toml::Table::is_empty")]
    pub fence_params: toml::Table,
}

impl NodeSection {
    /// Node `j`'s fence device: `agent` with `params`.
    pub fn fenced_by(&mut self, agent: &str, params: &[(&str, String)]) {
        self.fence_agent = Some(agent.to_string());
        self.fence_params = table(params);
    }
}

/// `[[resource]]` (the simple resources of the failover tests).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ResourceSection {
    pub name: String,
    pub agent: String,
    pub params: toml::Table,
    #[serde(skip_serializing_if = "none")]
    pub allowed: Option<Vec<String>>,
    #[serde(skip_serializing_if = "none")]
    pub priority: Option<i64>,
    #[serde(skip_serializing_if = "none")]
    pub monitor_interval: Option<String>,
}

/// `[[ring]]` (a multicast ring).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RingSection {
    pub mcast_group: String,
    pub mcast_port: u16,
    #[serde(skip_serializing_if = "none")]
    pub mcast_ttl: Option<u8>,
    #[serde(skip_serializing_if = "none")]
    pub mcast_loop: Option<bool>,
}

/// A TOML table of string values.
pub fn table(pairs: &[(&str, String)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), toml::Value::String(v.clone())))
        .collect()
}

/// Node names `node<n>` of node numbers.
pub fn node_names(numbers: &[usize]) -> Vec<String> {
    numbers.iter().map(|n| format!("node{n}")).collect()
}

impl NodeToml {
    /// Node `i`'s configuration in a lab directory `dir` of `nodes` nodes on `rings`
    /// rings (node `j` at 10.77.R.j): key `authkey`, OCF root `ocf`, the shared
    /// `timeline` and `events`, `stateI`, the lab timers (keepalive 200 ms, deadtime 1 s,
    /// initdead 4 s), fence action off (timeout 20 s, retry 2 s); no fence devices and
    /// no resources yet.
    pub fn lab(dir: &Path, cluster: u32, i: usize, nodes: usize, rings: usize) -> NodeToml {
        NodeToml {
            cluster: ClusterSection {
                id: cluster,
                key_file: dir.join("authkey"),
                node: format!("node{i}"),
                port: None,
                ocf_root: Some(dir.join("ocf")),
                timeline: Some(dir.join("timeline")),
                events: Some(dir.join("events")),
                state_dir: Some(dir.join(format!("state{i}"))),
                control_socket: None,
                sbd_health_file: None,
            },
            timers: TimersSection {
                keepalive: "200ms".into(),
                deadtime: "1s".into(),
                initdead: "4s".into(),
            },
            quorum: QuorumSection::default(),
            fencing: FencingSection {
                action: Some("off".into()),
                timeout: Some("20s".into()),
                retry: Some("2s".into()),
                ..FencingSection::default()
            },
            nodes: (1..=nodes)
                .map(|j| NodeSection {
                    name: format!("node{j}"),
                    id: j,
                    addresses: (0..rings).map(|r| format!("10.77.{r}.{j}")).collect(),
                    fence_agent: None,
                    fence_params: toml::Table::new(),
                })
                .collect(),
            resources: Vec::new(),
            rings: Vec::new(),
            more: toml::Table::new(),
        }
    }

    /// The failover tests' service: `ocf:palisade:Logger` logging to `log`, its state in
    /// `state`, priority 10, monitored every 300 ms, on `allowed` nodes (empty: all).
    pub fn logger_service(&mut self, log: &Path, state: &Path, allowed: &[usize]) {
        self.resources.push(ResourceSection {
            name: "service".into(),
            agent: "ocf:palisade:Logger".into(),
            params: table(&[
                ("log", log.display().to_string()),
                ("state", state.display().to_string()),
            ]),
            allowed: (!allowed.is_empty()).then(|| node_names(allowed)),
            priority: Some(10),
            monitor_interval: Some("300ms".into()),
        });
    }

    /// Sections written as TOML (`text`), added to the file as they are.
    pub fn add_sections(&mut self, text: &str) {
        let parsed: toml::Table = text
            .parse()
            .unwrap_or_else(|e| panic!("bad TOML sections: {e}\n{text}"));
        for (k, v) in parsed {
            match (self.more.get_mut(&k), v) {
                (Some(toml::Value::Array(have)), toml::Value::Array(add)) => have.extend(add),
                (_, v) => {
                    self.more.insert(k, v);
                }
            }
        }
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("node configuration as TOML")
    }

    /// Write the file to `path`.
    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.to_toml()).expect("write the node configuration");
    }
}
