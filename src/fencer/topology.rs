//! Fencing topology: numbered levels (1-9) of devices per target, where the target is
//! chosen by name, by pattern (a regular expression, unanchored like POSIX `regexec`) or
//! by a node attribute. For one target the most specific selector wins (name, then the
//! first matching pattern, then the first matching attribute), as in pacemaker. A level
//! succeeds only when all its devices succeed; levels are tried in ascending order.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Lowest and highest level index.
pub const LEVEL_INDEXES: std::ops::RangeInclusive<u8> = 1..=9;

/// Node attributes known to the fencer (for `target-attribute` levels).
pub type NodeAttributes = BTreeMap<String, BTreeMap<String, String>>;

/// Which targets a set of levels applies to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by", content = "value")]
pub enum TargetSelector {
    /// One node, by name (case-insensitive).
    Name(String),
    /// Nodes whose name matches a regular expression.
    Pattern(String),
    /// Nodes with attribute `name` set to `value`.
    Attribute {
        /// Attribute name.
        name: String,
        /// Required value.
        value: String,
    },
}

impl PartialEq for TargetSelector {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TargetSelector::Name(a), TargetSelector::Name(b)) => a.eq_ignore_ascii_case(b),
            (TargetSelector::Pattern(a), TargetSelector::Pattern(b)) => a == b,
            (
                TargetSelector::Attribute { name, value },
                TargetSelector::Attribute {
                    name: n2,
                    value: v2,
                },
            ) => name == n2 && value == v2,
            _ => false,
        }
    }
}

impl fmt::Display for TargetSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetSelector::Name(n) => write!(f, "{n}"),
            TargetSelector::Pattern(p) => write!(f, "~{p}"),
            TargetSelector::Attribute { name, value } => write!(f, "{name}={value}"),
        }
    }
}

/// One level: its index and the devices that must all succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// 1..=9.
    pub index: u8,
    /// Device names, in the order they are run.
    pub devices: Vec<String>,
}

/// A level that cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Index outside 1-9.
    #[error("level index {0} is outside 1-9")]
    Index(u32),
    /// No devices.
    #[error("level {0} for {1} lists no devices")]
    NoDevices(u8, String),
    /// A pattern that is not a valid regular expression.
    #[error("target pattern '{0}' is invalid: {1}")]
    Pattern(String, String),
}

#[derive(Debug, Clone)]
struct Entry {
    selector: TargetSelector,
    regex: Option<regex::Regex>,
    levels: BTreeMap<u8, Vec<String>>,
}

/// All levels of all targets.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    entries: Vec<Entry>,
}

impl Topology {
    /// Add (or replace) level `index` for `selector`.
    pub fn add_level(
        &mut self,
        selector: TargetSelector,
        index: u32,
        devices: Vec<String>,
    ) -> Result<(), TopologyError> {
        let index = u8::try_from(index)
            .ok()
            .filter(|i| LEVEL_INDEXES.contains(i))
            .ok_or(TopologyError::Index(index))?;
        let devices: Vec<String> = devices
            .iter()
            .flat_map(|d| d.split(','))
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .collect();
        if devices.is_empty() {
            return Err(TopologyError::NoDevices(index, selector.to_string()));
        }
        let position = self.entries.iter().position(|e| e.selector == selector);
        let entry = match position {
            Some(i) => &mut self.entries[i],
            None => {
                let regex = match &selector {
                    TargetSelector::Pattern(p) => Some(
                        regex::Regex::new(p)
                            .map_err(|e| TopologyError::Pattern(p.clone(), e.to_string()))?,
                    ),
                    _ => None,
                };
                self.entries.push(Entry {
                    selector,
                    regex,
                    levels: BTreeMap::new(),
                });
                let last = self.entries.len() - 1;
                &mut self.entries[last]
            }
        };
        entry.levels.insert(index, devices);
        Ok(())
    }

    /// Remove level `index` (or every level when `None`) of `selector`; true if any was.
    pub fn remove_level(&mut self, selector: &TargetSelector, index: Option<u8>) -> bool {
        let Some(i) = self.entries.iter().position(|e| &e.selector == selector) else {
            return false;
        };
        let removed = match index {
            Some(index) => self.entries[i].levels.remove(&index).is_some(),
            None => !self.entries[i].levels.is_empty(),
        };
        if index.is_none() || self.entries[i].levels.is_empty() {
            self.entries.remove(i);
        }
        removed
    }

    /// The levels for `target`, from the most specific selector that matches it.
    pub fn levels_for(
        &self,
        target: &str,
        attributes: &NodeAttributes,
    ) -> Option<(&TargetSelector, Vec<Level>)> {
        let by_name = self.entries.iter().find(
            |e| matches!(&e.selector, TargetSelector::Name(n) if n.eq_ignore_ascii_case(target)),
        );
        let by_pattern = || {
            self.entries
                .iter()
                .find(|e| e.regex.as_ref().is_some_and(|r| r.is_match(target)))
        };
        let by_attribute = || {
            let attrs = attributes
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(target))
                .map(|(_, a)| a)?;
            self.entries.iter().find(|e| match &e.selector {
                TargetSelector::Attribute { name, value } => attrs.get(name) == Some(value),
                _ => false,
            })
        };
        let entry = by_name.or_else(by_pattern).or_else(by_attribute)?;
        let levels = entry
            .levels
            .iter()
            .map(|(index, devices)| Level {
                index: *index,
                devices: devices.clone(),
            })
            .collect();
        Some((&entry.selector, levels))
    }

    /// Every selector that matches `target` (only the first in precedence order is used;
    /// more than one is worth a warning).
    pub fn selectors_matching(
        &self,
        target: &str,
        attributes: &NodeAttributes,
    ) -> Vec<&TargetSelector> {
        let attrs = attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(target))
            .map(|(_, a)| a);
        self.entries
            .iter()
            .filter(|e| match &e.selector {
                TargetSelector::Name(n) => n.eq_ignore_ascii_case(target),
                TargetSelector::Pattern(_) => e.regex.as_ref().is_some_and(|r| r.is_match(target)),
                TargetSelector::Attribute { name, value } => {
                    attrs.is_some_and(|a| a.get(name) == Some(value))
                }
            })
            .map(|e| &e.selector)
            .collect()
    }

    /// Every selector with its levels (for listing).
    pub fn all(&self) -> Vec<(TargetSelector, Vec<Level>)> {
        self.entries
            .iter()
            .map(|e| {
                let levels = e
                    .levels
                    .iter()
                    .map(|(index, devices)| Level {
                        index: *index,
                        devices: devices.clone(),
                    })
                    .collect();
                (e.selector.clone(), levels)
            })
            .collect()
    }

    /// Whether any level names `device`.
    pub fn uses_device(&self, device: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.levels.values().any(|d| d.iter().any(|n| n == device)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(levels: &[Level]) -> Vec<(u8, String)> {
        levels
            .iter()
            .map(|l| (l.index, l.devices.join(",")))
            .collect()
    }

    #[test]
    fn name_beats_pattern_beats_attribute() {
        let mut topo = Topology::default();
        let attr = TargetSelector::Attribute {
            name: "rack".into(),
            value: "r1".into(),
        };
        topo.add_level(attr, 1, vec!["rackpdu".into()]).expect("ok");
        topo.add_level(
            TargetSelector::Pattern("^node[0-9]+$".into()),
            1,
            vec!["ipmi".into()],
        )
        .expect("ok");
        topo.add_level(
            TargetSelector::Pattern("^node[0-9]+$".into()),
            2,
            vec!["pdu1, pdu2".into()],
        )
        .expect("ok");
        topo.add_level(
            TargetSelector::Name("Node1".into()),
            3,
            vec!["special".into()],
        )
        .expect("ok");
        let mut attrs = NodeAttributes::new();
        attrs.insert(
            "db1".into(),
            [("rack".to_string(), "r1".to_string())].into(),
        );

        let (sel, levels) = topo.levels_for("node1", &attrs).expect("by name");
        assert_eq!(sel, &TargetSelector::Name("node1".into()));
        assert_eq!(names(&levels), [(3, "special".to_string())]);

        let (_, levels) = topo.levels_for("node7", &attrs).expect("by pattern");
        assert_eq!(
            names(&levels),
            [(1, "ipmi".to_string()), (2, "pdu1,pdu2".to_string())]
        );

        let (_, levels) = topo.levels_for("db1", &attrs).expect("by attribute");
        assert_eq!(names(&levels), [(1, "rackpdu".to_string())]);

        assert!(topo.levels_for("web1", &attrs).is_none());
        assert!(topo.uses_device("pdu2"));
        assert_eq!(topo.selectors_matching("node1", &attrs).len(), 2);
        assert_eq!(topo.selectors_matching("db1", &attrs).len(), 1);
    }

    #[test]
    fn replace_and_remove() {
        let mut topo = Topology::default();
        let node = TargetSelector::Name("n".into());
        topo.add_level(node.clone(), 1, vec!["a".into()])
            .expect("ok");
        topo.add_level(node.clone(), 1, vec!["b".into()])
            .expect("ok");
        topo.add_level(node.clone(), 2, vec!["c".into()])
            .expect("ok");
        let (_, levels) = topo
            .levels_for("n", &NodeAttributes::new())
            .expect("levels");
        assert_eq!(names(&levels), [(1, "b".into()), (2, "c".into())]);
        assert!(topo.remove_level(&node, Some(1)));
        assert!(!topo.remove_level(&node, Some(1)));
        assert!(topo.remove_level(&node, None));
        assert!(topo.levels_for("n", &NodeAttributes::new()).is_none());
    }

    #[test]
    fn rejects_bad_levels() {
        let mut topo = Topology::default();
        let node = TargetSelector::Name("n".into());
        assert_eq!(
            topo.add_level(node.clone(), 0, vec!["a".into()]),
            Err(TopologyError::Index(0))
        );
        assert_eq!(
            topo.add_level(node.clone(), 10, vec!["a".into()]),
            Err(TopologyError::Index(10))
        );
        assert!(matches!(
            topo.add_level(node, 1, vec![" , ".into()]),
            Err(TopologyError::NoDevices(1, _))
        ));
        assert!(matches!(
            topo.add_level(TargetSelector::Pattern("(".into()), 1, vec!["a".into()]),
            Err(TopologyError::Pattern(..))
        ));
    }
}
