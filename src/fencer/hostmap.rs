//! The small text formats of pacemaker's per-device targeting parameters:
//! `pcmk_host_list` (`node1 node2,node3;node4`), `pcmk_host_map` (`node1:1;node2:2,3`,
//! `=` also accepted, backslash escapes a special character) and per-node
//! `pcmk_delay_base` (`5s` for every node, or `node1:5s;node2:0`). Node names compare
//! case-insensitively, as pacemaker does.

use std::time::Duration;

use super::duration::{parse_duration, DurationError};

/// A parameter text that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostMapError {
    /// A map entry without `:` or `=` between node and value.
    #[error("entry '{0}' has no ':' between the node name and its value")]
    NoSeparator(String),
    /// A map entry with an empty node name.
    #[error("entry '{0}' has an empty node name")]
    EmptyNode(String),
    /// A per-node delay that is not a time span.
    #[error("delay for '{node}': {source}")]
    Delay {
        /// The node the delay belongs to (`*` for all).
        node: String,
        /// Why the span is invalid.
        source: DurationError,
    },
}

/// Split `text` at any character of `separators`, honouring backslash escapes; empty
/// pieces are dropped.
fn split_escaped(text: &str, separators: &[char]) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                current.push(next);
            }
        } else if separators.contains(&c) {
            if !current.is_empty() {
                pieces.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Split one map entry at its first unescaped `:` or `=` into (name, value), unescaping.
fn split_entry(entry_raw: &str) -> Result<(String, String), HostMapError> {
    let mut name = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut chars = entry_raw.chars();
    while let Some(c) = chars.next() {
        let target = if in_value { &mut value } else { &mut name };
        if c == '\\' {
            if let Some(next) = chars.next() {
                target.push(next);
            }
        } else if !in_value && (c == ':' || c == '=') {
            in_value = true;
        } else {
            target.push(c);
        }
    }
    if !in_value {
        return Err(HostMapError::NoSeparator(entry_raw.to_string()));
    }
    if name.trim().is_empty() {
        return Err(HostMapError::EmptyNode(entry_raw.to_string()));
    }
    Ok((name.trim().to_string(), value.trim().to_string()))
}

/// Split at `;` and whitespace only, keeping backslash escapes for [`split_entry`].
fn raw_entries(text: &str) -> Vec<String> {
    let mut entries = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            current.push(c);
            if let Some(next) = chars.next() {
                current.push(next);
            }
        } else if c == ';' || c.is_whitespace() {
            if !current.is_empty() {
                entries.push(std::mem::take(&mut current));
            }
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() {
        entries.push(current);
    }
    entries
}

/// `pcmk_host_list`: node names separated by spaces, commas or semicolons.
pub fn parse_host_list(text: &str) -> Vec<String> {
    split_escaped(text, &[' ', '\t', '\n', ',', ';'])
}

/// `pcmk_host_map`: which plug (port) of the device each node hangs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostMap {
    entries: Vec<(String, String)>,
}

impl HostMap {
    /// Parse `node1:1;node2:2,3` (`=` works as well as `:`).
    pub fn parse(text: &str) -> Result<HostMap, HostMapError> {
        let entries = raw_entries(text)
            .iter()
            .map(|e| split_entry(e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HostMap { entries })
    }

    /// The plug of `node`, if the map names it.
    pub fn plug_of(&self, node: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(node))
            .map(|(_, plug)| plug.as_str())
    }

    /// Every node the map names.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// No entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `pcmk_delay_base`: one static delay for every node, or one per node (nodes not named
/// get none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DelayBase {
    all: Duration,
    per_node: Vec<(String, Duration)>,
}

impl DelayBase {
    /// The longest base delay of any node.
    pub fn longest(&self) -> Duration {
        self.per_node
            .iter()
            .map(|(_, d)| *d)
            .fold(self.all, Duration::max)
    }

    /// Parse `5s` or `node1:5s;node2:0`.
    pub fn parse(text: &str) -> Result<DelayBase, HostMapError> {
        let text = text.trim();
        if !text.contains([':', '=']) {
            let all = parse_duration(text).map_err(|source| HostMapError::Delay {
                node: "*".into(),
                source,
            })?;
            return Ok(DelayBase {
                all,
                per_node: Vec::new(),
            });
        }
        let per_node = HostMap::parse(text)?
            .entries
            .into_iter()
            .map(|(node, span)| match parse_duration(&span) {
                Ok(d) => Ok((node, d)),
                Err(source) => Err(HostMapError::Delay { node, source }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DelayBase {
            all: Duration::ZERO,
            per_node,
        })
    }

    /// The static delay before fencing `node`.
    pub fn for_node(&self, node: &str) -> Duration {
        self.per_node
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(node))
            .map(|(_, d)| *d)
            .unwrap_or(self.all)
    }

    /// The largest delay any node can get.
    pub fn max(&self) -> Duration {
        self.per_node
            .iter()
            .map(|(_, d)| *d)
            .fold(self.all, Duration::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_list_delimiters() {
        assert_eq!(
            parse_host_list("node1 node2,node3;node4\tnode5,,  "),
            ["node1", "node2", "node3", "node4", "node5"]
        );
        assert_eq!(parse_host_list("odd\\ name x"), ["odd name", "x"]);
        assert!(parse_host_list("  ").is_empty());
    }

    #[test]
    fn host_map_entries_and_escapes() {
        let map = HostMap::parse("node1:1;node2:2,3 node3=4;we\\:ird:5").expect("valid map");
        assert_eq!(map.plug_of("node1"), Some("1"));
        assert_eq!(map.plug_of("NODE2"), Some("2,3"));
        assert_eq!(map.plug_of("node3"), Some("4"));
        assert_eq!(map.plug_of("we:ird"), Some("5"));
        assert_eq!(map.plug_of("node9"), None);
        assert_eq!(map.nodes().count(), 4);
    }

    #[test]
    fn host_map_errors() {
        assert_eq!(
            HostMap::parse("node1"),
            Err(HostMapError::NoSeparator("node1".into()))
        );
        assert_eq!(
            HostMap::parse(":3"),
            Err(HostMapError::EmptyNode(":3".into()))
        );
    }

    #[test]
    fn delay_base_forms() {
        let all = DelayBase::parse("5s").expect("valid");
        assert_eq!(all.for_node("anything"), Duration::from_secs(5));
        let per = DelayBase::parse("node1:5s;node2:0").expect("valid");
        assert_eq!(per.for_node("node1"), Duration::from_secs(5));
        assert_eq!(per.for_node("node2"), Duration::ZERO);
        assert_eq!(per.for_node("node3"), Duration::ZERO);
        assert_eq!(per.max(), Duration::from_secs(5));
        assert!(matches!(
            DelayBase::parse("node1:soon"),
            Err(HostMapError::Delay { .. })
        ));
    }
}
