//! What a primitive's operations are on this node, pure: each operation's own timeout
//! (pacemaker's `op NAME timeout=`; [`DEFAULT_OP_TIMEOUT`] when the operation is not
//! configured), the recurring monitors by role (`op monitor role=Promoted` and
//! `role=Unpromoted`, each with its own interval and timeout), and for a clone's child
//! the clone's numbers and the instances this node runs.
//!
//! Instances: a primitive outside a clone, or the child of a clone with `clone-node-max
//! = 1`, runs as one instance named after the primitive (`OCF_RESOURCE_INSTANCE` is the
//! primitive's name, as pacemaker runs anonymous clones). With `clone-node-max = k > 1`
//! this node runs `k` instances `NAME:N`, so that each has its own identity (state file,
//! pid file). The instance number `N` (`OCF_RESKEY_CRM_meta_clone`) is the node's
//! position in the configuration times `k` plus the local slot: unique in the cluster,
//! though (unlike pacemaker's) not always below `clone-max`.
//!
//! A recurring monitor for a role: an instance promoted runs the `promoted` monitor (and
//! expects OCF 8, running promoted), one not promoted the `unpromoted` one (expects 0);
//! without one for its role the role-less monitor applies, with the same expectation.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::placement::config::{Primitive, Role};
use crate::placement::parse::DEFAULT_OP_TIMEOUT;
use crate::placement::Config;

/// One recurring monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Monitor {
    /// The role it watches (None: any).
    pub role: Option<Role>,
    /// Every so long.
    pub interval: Duration,
    /// Each run's timeout.
    pub timeout: Duration,
}

/// The operations of a primitive: timeouts and recurring monitors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operations {
    /// `start` timeout.
    pub start: Duration,
    /// `stop` timeout.
    pub stop: Duration,
    /// `promote` timeout.
    pub promote: Duration,
    /// `demote` timeout.
    pub demote: Duration,
    /// A probe's timeout (a monitor of interval 0: a configured one, else the first
    /// monitor's, else the default).
    pub probe: Duration,
    /// Recurring monitors (interval above 0).
    pub monitors: Vec<Monitor>,
}

impl Default for Operations {
    fn default() -> Self {
        Operations {
            start: DEFAULT_OP_TIMEOUT,
            stop: DEFAULT_OP_TIMEOUT,
            promote: DEFAULT_OP_TIMEOUT,
            demote: DEFAULT_OP_TIMEOUT,
            probe: DEFAULT_OP_TIMEOUT,
            monitors: Vec::new(),
        }
    }
}

impl Operations {
    /// The operations of `p` as configured.
    pub fn of(p: &Primitive) -> Operations {
        let timeout = |name: &str| {
            p.ops
                .iter()
                .find(|o| o.name == name)
                .map(|o| o.timeout)
                .unwrap_or(DEFAULT_OP_TIMEOUT)
        };
        let monitors: Vec<Monitor> = p
            .ops
            .iter()
            .filter(|o| o.name == "monitor" && !o.interval.is_zero())
            .map(|o| Monitor {
                role: o.role,
                interval: o.interval,
                timeout: o.timeout,
            })
            .collect();
        let probe = p
            .ops
            .iter()
            .find(|o| o.name == "monitor" && o.interval.is_zero())
            .map(|o| o.timeout)
            .or_else(|| monitors.first().map(|m| m.timeout))
            .unwrap_or(DEFAULT_OP_TIMEOUT);
        Operations {
            start: timeout("start"),
            stop: timeout("stop"),
            promote: timeout("promote"),
            demote: timeout("demote"),
            probe,
            monitors,
        }
    }

    /// The recurring monitor of an instance in this role (promoted or not): its role's
    /// own, else the role-less one.
    pub fn monitor_for(&self, promoted: bool) -> Option<Monitor> {
        let role = if promoted {
            Role::Promoted
        } else {
            Role::Started
        };
        self.monitors
            .iter()
            .find(|m| m.role == Some(role))
            .or_else(|| self.monitors.iter().find(|m| m.role.is_none()))
            .copied()
    }

    /// The timeout of `action` (`monitor` with interval 0 is the probe).
    pub fn timeout(&self, action: &str, interval: Duration) -> Duration {
        match action {
            "start" => self.start,
            "stop" => self.stop,
            "promote" => self.promote,
            "demote" => self.demote,
            _ if interval.is_zero() => self.probe,
            _ => self
                .monitors
                .iter()
                .find(|m| m.interval == interval)
                .map(|m| m.timeout)
                .unwrap_or(self.probe),
        }
    }

    /// The longest timeout of any operation.
    pub fn longest(&self) -> Duration {
        self.monitors
            .iter()
            .map(|m| m.timeout)
            .chain([self.start, self.stop, self.promote, self.demote, self.probe])
            .max()
            .unwrap_or(DEFAULT_OP_TIMEOUT)
    }
}

/// A clone's child: the clone's numbers and which instance this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneOf {
    /// The clone's name.
    pub clone: String,
    /// `clone-max` (default: the number of nodes).
    pub clone_max: u32,
    /// `clone-node-max`.
    pub clone_node_max: u32,
    /// Promotable (master/slave).
    pub promotable: bool,
    /// `promoted-max`.
    pub promoted_max: u32,
    /// `promoted-node-max`.
    pub promoted_node_max: u32,
    /// This instance's number (`CRM_meta_clone`); set per instance by [`instances`].
    pub instance: u32,
}

impl CloneOf {
    /// The clone settings of `primitive` if it is a clone's child (`nodes` configured).
    pub fn of(config: &Config, primitive: &str, nodes: usize) -> Option<CloneOf> {
        let c = config.clone_of(primitive)?;
        Some(CloneOf {
            clone: c.name.clone(),
            clone_max: c
                .clone_max
                .unwrap_or(u32::try_from(nodes).unwrap_or(u32::MAX)),
            clone_node_max: c.clone_node_max.max(1),
            promotable: c.promotable,
            promoted_max: c.promoted_max,
            promoted_node_max: c.promoted_node_max,
            instance: 0,
        })
    }

    /// The `OCF_RESKEY_CRM_meta_*` variables pacemaker sets for a clone instance.
    pub fn meta_env(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("clone", self.instance.to_string()),
            ("clone_max", self.clone_max.to_string()),
            ("clone_node_max", self.clone_node_max.to_string()),
            ("globally_unique", "false".to_string()),
            ("notify", "false".to_string()),
        ];
        if self.promotable {
            out.extend([
                ("promotable", "true".to_string()),
                ("promoted_max", self.promoted_max.to_string()),
                ("promoted_node_max", self.promoted_node_max.to_string()),
                // The names older agents (drbd, pgsql) read.
                ("master_max", self.promoted_max.to_string()),
                ("master_node_max", self.promoted_node_max.to_string()),
            ]);
        }
        out.into_iter()
            .map(|(k, v)| (format!("OCF_RESKEY_CRM_meta_{k}"), v))
            .collect()
    }
}

/// The instances this node runs of a primitive with clone settings `clone` (none: one,
/// named after it): (instance name, instance number). `node_index` is this node's
/// position in the configuration.
pub fn instances(
    primitive: &str,
    clone: Option<&CloneOf>,
    node_index: usize,
) -> Vec<(String, Option<u32>)> {
    let Some(c) = clone else {
        return vec![(primitive.to_string(), None)];
    };
    let k = c.clone_node_max.max(1);
    let base = u32::try_from(node_index)
        .unwrap_or(u32::MAX)
        .saturating_mul(k);
    if k == 1 {
        return vec![(primitive.to_string(), Some(base))];
    }
    (0..k)
        .map(|slot| {
            let n = base.saturating_add(slot);
            (format!("{primitive}:{n}"), Some(n))
        })
        .collect()
}

/// The primitive an instance name belongs to: the name itself when it is a primitive,
/// else `NAME` of `NAME:N` when `NAME` is the child of a clone with `clone-node-max`
/// above 1.
pub fn primitive_of_instance<'a>(config: &Config, instance: &'a str) -> Option<&'a str> {
    if config.primitive(instance).is_some() {
        return Some(instance);
    }
    let (name, number) = instance.rsplit_once(':')?;
    let numeric = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    let several = config.clone_of(name).is_some_and(|c| c.clone_node_max > 1);
    (numeric && several).then_some(name)
}

/// Group instance names by their primitive (names that are no instance are left out).
pub fn by_primitive<'a>(
    config: &Config,
    names: impl IntoIterator<Item = &'a String>,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in names {
        if let Some(p) = primitive_of_instance(config, n) {
            out.entry(p.to_string()).or_default().push(n.clone());
        }
    }
    out
}

/// The entry of every instance this node runs (name and clone instance number set).
pub fn local_entries(
    cfg: &crate::node::config::NodeConfig,
) -> Vec<crate::node::config::ResourceEntry> {
    let index = cfg.nodes.iter().position(|n| n.id == cfg.me).unwrap_or(0);
    let mut out = Vec::new();
    for entry in &cfg.resources {
        for (name, number) in instances(&entry.name, entry.clone.as_ref(), index) {
            let mut e = entry.clone();
            e.name = name;
            if let (Some(c), Some(n)) = (e.clone.as_mut(), number) {
                c.instance = n;
            }
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"
primitive = [
  { name = "state", agent = "ocf:pacemaker:Stateful", op = [
      { name = "monitor", interval = "10s", timeout = "15s", role = "promoted" },
      { name = "monitor", interval = "11s", timeout = "16s", role = "unpromoted" },
      { name = "start", timeout = "30s" },
      { name = "promote", timeout = "5s" } ] },
  { name = "web", agent = "ocf:heartbeat:Dummy", op = [{ name = "monitor", interval = "2s" }] },
  { name = "ping", agent = "ocf:pacemaker:Dummy" },
]
clone = [
  { name = "state-clone", resource = "state", promotable = true },
  { name = "ping-clone", resource = "ping", clone-node-max = 3, clone-max = 5 },
]
"#;

    fn config() -> Config {
        Config::from_toml_str(CONFIG).expect("config")
    }

    #[test]
    fn each_operation_has_its_own_timeout_and_monitors_go_by_role() {
        let c = config();
        let ops = Operations::of(c.primitive("state").expect("state"));
        assert_eq!(ops.start, Duration::from_secs(30));
        assert_eq!(ops.promote, Duration::from_secs(5));
        assert_eq!(ops.stop, DEFAULT_OP_TIMEOUT);
        assert_eq!(ops.demote, DEFAULT_OP_TIMEOUT);
        assert_eq!(
            ops.probe,
            Duration::from_secs(15),
            "first monitor's timeout"
        );
        let promoted = ops.monitor_for(true).expect("promoted monitor");
        assert_eq!(promoted.interval, Duration::from_secs(10));
        let unpromoted = ops.monitor_for(false).expect("unpromoted monitor");
        assert_eq!(unpromoted.interval, Duration::from_secs(11));
        assert_eq!(
            ops.timeout("monitor", Duration::from_secs(11)),
            Duration::from_secs(16)
        );
        assert_eq!(ops.timeout("monitor", Duration::ZERO), ops.probe);
        assert_eq!(ops.longest(), Duration::from_secs(30));
        let web = Operations::of(c.primitive("web").expect("web"));
        let any = web.monitor_for(true).expect("role-less monitor");
        assert_eq!(any, web.monitor_for(false).expect("same"));
        assert_eq!(any.timeout, DEFAULT_OP_TIMEOUT);
        assert_eq!(
            Operations::of(c.primitive("ping").expect("ping")).monitor_for(false),
            None
        );
    }

    #[test]
    fn clone_instances_are_numbered_per_node() {
        let c = config();
        assert_eq!(CloneOf::of(&c, "web", 3), None);
        assert_eq!(instances("web", None, 2), vec![("web".into(), None)]);
        let state = CloneOf::of(&c, "state", 3).expect("clone");
        assert_eq!((state.clone_max, state.clone_node_max), (3, 1));
        assert_eq!(
            instances("state", Some(&state), 2),
            vec![("state".into(), Some(2))]
        );
        let ping = CloneOf::of(&c, "ping", 3).expect("clone");
        assert_eq!(
            instances("ping", Some(&ping), 1),
            vec![
                ("ping:3".into(), Some(3)),
                ("ping:4".into(), Some(4)),
                ("ping:5".into(), Some(5))
            ]
        );
        assert_eq!(primitive_of_instance(&c, "ping:4"), Some("ping"));
        assert_eq!(primitive_of_instance(&c, "state"), Some("state"));
        assert_eq!(primitive_of_instance(&c, "ping:"), None);
        assert_eq!(primitive_of_instance(&c, "nope:1"), None);
        assert_eq!(primitive_of_instance(&c, "ping:x"), None);
        assert_eq!(
            primitive_of_instance(&c, "web:1"),
            None,
            "one instance per node"
        );
        let names = [
            "ping:3".to_string(),
            "ping:4".to_string(),
            "web".to_string(),
        ];
        let grouped = by_primitive(&c, names.iter());
        assert_eq!(grouped["ping"], ["ping:3", "ping:4"]);
        assert_eq!(grouped["web"], ["web"]);
    }

    #[test]
    fn clone_meta_environment_as_pacemaker_sets_it() {
        let c = config();
        let mut state = CloneOf::of(&c, "state", 2).expect("clone");
        state.instance = 1;
        let env: BTreeMap<String, String> = state.meta_env().into_iter().collect();
        assert_eq!(env["OCF_RESKEY_CRM_meta_clone"], "1");
        assert_eq!(env["OCF_RESKEY_CRM_meta_clone_max"], "2");
        assert_eq!(env["OCF_RESKEY_CRM_meta_clone_node_max"], "1");
        assert_eq!(env["OCF_RESKEY_CRM_meta_notify"], "false");
        assert_eq!(env["OCF_RESKEY_CRM_meta_globally_unique"], "false");
        assert_eq!(env["OCF_RESKEY_CRM_meta_promoted_max"], "1");
        assert_eq!(env["OCF_RESKEY_CRM_meta_master_max"], "1");
        let ping = CloneOf::of(&c, "ping", 2).expect("clone");
        assert!(!ping.meta_env().iter().any(|(k, _)| k.contains("promoted")));
    }
}
