//! Which devices can fence a target (pure): the `pcmk_host_check` rules, the parsing of
//! an agent's `list` output, and the freshness of a cached list.

use std::time::Duration;

use super::device::{DeviceSpec, HostCheck};
use super::duration::Moment;

/// How long a `list` result is trusted before the agent is asked again.
pub const LIST_CACHE_TTL: Duration = Duration::from_secs(60);

/// What can be said about one device and one target without running anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// It can fence the target.
    Yes,
    /// It cannot.
    No,
    /// Run (or wait for) the device's `list` action first.
    NeedList,
    /// Run the device's `status` action for the target.
    NeedStatus,
}

/// A remembered `list` result: the targets, or `None` when the `list` action failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCache {
    /// When the list was taken.
    pub at: Moment,
    /// The targets it named (`None` = the action failed).
    pub targets: Option<Vec<String>>,
}

impl ListCache {
    /// Whether the entry is young enough to use at `now`.
    pub fn fresh(&self, now: Moment) -> bool {
        now.since(self.at) < LIST_CACHE_TTL
    }
}

/// Decide what is known about `device` fencing `target`.
pub fn capability(
    device: &DeviceSpec,
    target: &str,
    cache: Option<&ListCache>,
    now: Moment,
) -> Capability {
    match device.host_check {
        HostCheck::StaticList => yes_if(device.lists(target)),
        HostCheck::None => Capability::Yes,
        HostCheck::Status => Capability::NeedStatus,
        HostCheck::DynamicList => match cache.filter(|c| c.fresh(now)) {
            None => Capability::NeedList,
            // A failing `list` falls back to asking `status` about the target.
            Some(ListCache { targets: None, .. }) => Capability::NeedStatus,
            Some(ListCache {
                targets: Some(targets),
                ..
            }) => {
                let plug = device.plug_for(target);
                yes_if(
                    targets
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(target) || t == plug),
                )
            }
        },
    }
}

fn yes_if(condition: bool) -> Capability {
    if condition {
        Capability::Yes
    } else {
        Capability::No
    }
}

/// The action names an agent's metadata XML lists (`<action name="list" .../>`).
pub fn metadata_actions(xml: &str) -> Vec<String> {
    let mut actions = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find("<action") {
        rest = &rest[at + "<action".len()..];
        let tag = rest.split('>').next().unwrap_or("");
        if !tag.starts_with(|c: char| c.is_whitespace() || c == '/') {
            continue; // <actions>
        }
        let Some(name_at) = tag.find("name=") else {
            continue;
        };
        let value = &tag[name_at + 5..];
        let quote = value.chars().next().unwrap_or('"');
        if let Some(name) = value.get(1..).and_then(|v| v.split(quote).next()) {
            actions.push(name.to_string());
        }
    }
    actions
}

/// The targets named by a `list` action's output: every token between whitespace, `,`
/// and `;`, except the power states `on` / `off` / `unknown` (agents print
/// `plug,alias,state` lines).
pub fn parse_list_output(stdout: &str) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    for token in stdout.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
        let token = token.trim();
        if token.is_empty()
            || ["on", "off", "unknown"]
                .iter()
                .any(|s| token.eq_ignore_ascii_case(s))
        {
            continue;
        }
        if !targets.iter().any(|t| t == token) {
            targets.push(token.to_string());
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn device(params: &[(&str, &str)]) -> DeviceSpec {
        let map: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        DeviceSpec::new("d", "fence_x", &map, 0).expect("valid device")
    }

    #[test]
    fn static_none_and_status() {
        let listed = device(&[("pcmk_host_list", "node1,node2")]);
        assert_eq!(
            capability(&listed, "NODE2", None, Moment(0)),
            Capability::Yes
        );
        assert_eq!(
            capability(&listed, "node3", None, Moment(0)),
            Capability::No
        );
        let mapped = device(&[("pcmk_host_map", "node1:7")]);
        assert_eq!(
            capability(&mapped, "node1", None, Moment(0)),
            Capability::Yes
        );
        let any = device(&[("pcmk_host_check", "none")]);
        assert_eq!(
            capability(&any, "whatever", None, Moment(0)),
            Capability::Yes
        );
        let status = device(&[("pcmk_host_check", "status")]);
        assert_eq!(
            capability(&status, "n", None, Moment(0)),
            Capability::NeedStatus
        );
    }

    #[test]
    fn dynamic_list_uses_a_fresh_cache_only() {
        let dynamic = device(&[
            ("pcmk_host_map", "node1:7"),
            ("pcmk_host_check", "dynamic-list"),
        ]);
        let cache = ListCache {
            at: Moment(1_000),
            targets: Some(vec!["7".into(), "node2".into()]),
        };
        let now = Moment(2_000);
        assert_eq!(
            capability(&dynamic, "node1", Some(&cache), now),
            Capability::Yes
        );
        assert_eq!(
            capability(&dynamic, "node2", Some(&cache), now),
            Capability::Yes
        );
        assert_eq!(
            capability(&dynamic, "node3", Some(&cache), now),
            Capability::No
        );
        let stale = Moment(1_000 + 60_000);
        assert_eq!(
            capability(&dynamic, "node1", Some(&cache), stale),
            Capability::NeedList
        );
        assert_eq!(
            capability(&dynamic, "node1", None, now),
            Capability::NeedList
        );
        let failed = ListCache {
            at: Moment(1_000),
            targets: None,
        };
        assert_eq!(
            capability(&dynamic, "node1", Some(&failed), now),
            Capability::NeedStatus
        );
    }

    #[test]
    fn actions_from_metadata() {
        let xml = r#"<resource-agent name="fence_dummy"><parameters>
            <parameter name="port"/></parameters><actions>
            <action name="on" automatic="0"/>
            <action name='off' />
            <action name="status"/>
            </actions></resource-agent>"#;
        assert_eq!(metadata_actions(xml), ["on", "off", "status"]);
        assert!(metadata_actions("not xml").is_empty());
    }

    #[test]
    fn list_output_tokens() {
        assert_eq!(
            parse_list_output("node1,alias1,on\nnode2,,off\n3;node4 UNKNOWN\n\nnode1\n"),
            ["node1", "alias1", "node2", "3", "node4"]
        );
    }
}
