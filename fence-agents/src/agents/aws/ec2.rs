//! The EC2 query API as fence_aws uses it (API version 2016-11-15): the form bodies of
//! DescribeInstances, StopInstances and StartInstances, and reading the XML answers —
//! instances with their state, the next page's token, and error codes — with a small
//! structural reader over roxmltree (paths from the root, never a search through the
//! document, so nested `item`s such as tags cannot be mistaken for instances). Pure.

use crate::device::{DeviceError, PowerState};

/// The EC2 API version the requests name.
pub const VERSION: &str = "2016-11-15";

/// Instances per DescribeInstances page when listing (keeps each answer well inside the
/// body limit), and pages read at most.
pub const PAGE_SIZE: u32 = 50;
pub const MAX_PAGES: usize = 200;

/// `%XX` for everything but RFC 3986's unreserved characters, as SigV4 wants it.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A form body: `Action=...&Version=...` then the parameters, sorted as botocore does.
fn form(action: &str, params: &[(String, String)]) -> String {
    let mut all: Vec<(String, String)> = vec![
        ("Action".into(), action.into()),
        ("Version".into(), VERSION.into()),
    ];
    all.extend(params.iter().cloned());
    all.sort();
    all.iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// What a DescribeInstances asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Select<'a> {
    /// One instance by id (as a filter: an unknown id is an empty answer, not an error).
    Id(&'a str),
    /// Every instance matching `name=value` (`--filter`), or all with `None`.
    Filter(Option<(&'a str, &'a str)>),
}

/// DescribeInstances for `select`, continuing at `next_token`.
pub fn describe(select: &Select<'_>, next_token: Option<&str>) -> String {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut filter = |name: &str, value: &str| {
        params.push(("Filter.1.Name".into(), name.into()));
        params.push(("Filter.1.Value.1".into(), value.into()));
    };
    match select {
        Select::Id(id) => filter("instance-id", id),
        Select::Filter(Some((name, value))) => filter(name, value),
        Select::Filter(None) => {}
    }
    if matches!(select, Select::Filter(_)) {
        params.push(("MaxResults".into(), PAGE_SIZE.to_string()));
    }
    if let Some(token) = next_token {
        params.push(("NextToken".into(), token.into()));
    }
    form("DescribeInstances", &params)
}

/// StopInstances with Force=true (a fence must not wait for the guest), as ClusterLabs.
pub fn stop(id: &str) -> String {
    form(
        "StopInstances",
        &[
            ("Force".into(), "true".into()),
            ("InstanceId.1".into(), id.into()),
        ],
    )
}

/// StartInstances.
pub fn start(id: &str) -> String {
    form("StartInstances", &[("InstanceId.1".into(), id.into())])
}

/// One instance of a DescribeInstances answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    /// instanceState/name: pending, running, shutting-down, terminated, stopping, stopped.
    pub state: String,
}

impl Instance {
    /// The power state: running is on; stopped and terminated (gone for good) are off.
    /// pending, stopping and shutting-down are not settled yet: an error, which after a
    /// power change the framework takes as "not yet".
    pub fn power(&self) -> Result<PowerState, DeviceError> {
        match self.state.as_str() {
            "running" => Ok(PowerState::On),
            "stopped" | "terminated" => Ok(PowerState::Off),
            other => Err(DeviceError::Protocol(format!(
                "instance {} is {other}, neither running nor stopped",
                self.id
            ))),
        }
    }
}

/// One page of a DescribeInstances answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub instances: Vec<Instance>,
    pub next_token: Option<String>,
}

fn children<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn child<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    name: &'static str,
) -> Option<roxmltree::Node<'a, 'i>> {
    children(node, name).next()
}

fn text(node: roxmltree::Node<'_, '_>, name: &'static str) -> Option<String> {
    child(node, name)
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

fn document(xml: &str) -> Result<roxmltree::Document<'_>, DeviceError> {
    roxmltree::Document::parse(xml)
        .map_err(|e| DeviceError::Protocol(format!("the EC2 answer is not XML ({e})")))
}

/// Read a DescribeInstancesResponse.
pub fn parse_describe(xml: &str) -> Result<Page, DeviceError> {
    let doc = document(xml)?;
    let root = doc.root_element();
    if root.tag_name().name() != "DescribeInstancesResponse" {
        return Err(DeviceError::Protocol(format!(
            "expected DescribeInstancesResponse, got <{}>",
            root.tag_name().name()
        )));
    }
    let mut instances = Vec::new();
    for reservation in child(root, "reservationSet")
        .into_iter()
        .flat_map(|set| children(set, "item"))
    {
        for item in child(reservation, "instancesSet")
            .into_iter()
            .flat_map(|set| children(set, "item"))
        {
            let id = text(item, "instanceId").filter(|s| !s.is_empty());
            let state = child(item, "instanceState").and_then(|s| text(s, "name"));
            match (id, state) {
                (Some(id), Some(state)) => instances.push(Instance { id, state }),
                _ => {
                    return Err(DeviceError::Protocol(
                        "an instance in the EC2 answer has no instanceId or instanceState".into(),
                    ))
                }
            }
        }
    }
    let next_token = text(root, "nextToken").filter(|t| !t.is_empty());
    Ok(Page {
        instances,
        next_token,
    })
}

/// `(code, message)` of the first error of an EC2 error answer
/// (`<Response><Errors><Error><Code>`).
pub fn parse_error(xml: &str) -> Option<(String, String)> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    let error = child(child(doc.root_element(), "Errors")?, "Error")?;
    Some((
        text(error, "Code")?,
        text(error, "Message").unwrap_or_default(),
    ))
}

/// What an answer other than 2xx means, from its HTTP status and error code.
pub fn error_of(action: &str, status: u16, body: &str) -> DeviceError {
    let (code, message) = parse_error(body).unwrap_or_default();
    let what = if code.is_empty() {
        format!("{action} answered HTTP {status}")
    } else {
        format!("{action} answered HTTP {status} {code}: {message}")
    };
    match code.as_str() {
        "AuthFailure"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "ExpiredToken"
        | "RequestExpired"
        | "OptInRequired" => DeviceError::LoginDenied(what),
        "UnauthorizedOperation" | "AccessDenied" | "Blocked" => {
            DeviceError::InsufficientPrivilege(what)
        }
        "InvalidInstanceID.NotFound" | "InvalidInstanceID.Malformed" => {
            DeviceError::NoSuchPlug(what)
        }
        _ if status == 401 => DeviceError::LoginDenied(what),
        _ if status == 403 => DeviceError::InsufficientPrivilege(what),
        _ => DeviceError::Protocol(what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_sorted_and_encoded() {
        assert_eq!(
            describe(&Select::Id("i-1"), None),
            "Action=DescribeInstances&Filter.1.Name=instance-id&Filter.1.Value.1=i-1&\
             Version=2016-11-15"
        );
        assert_eq!(
            describe(&Select::Filter(Some(("tag:Name", "a b/c"))), Some("t+1")),
            "Action=DescribeInstances&Filter.1.Name=tag%3AName&Filter.1.Value.1=a%20b%2Fc&\
             MaxResults=50&NextToken=t%2B1&Version=2016-11-15"
        );
        assert_eq!(
            stop("i-1"),
            "Action=StopInstances&Force=true&InstanceId.1=i-1&Version=2016-11-15"
        );
        assert_eq!(
            start("i-1"),
            "Action=StartInstances&InstanceId.1=i-1&Version=2016-11-15"
        );
    }

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
 <requestId>r</requestId>
 <reservationSet>
  <item><reservationId>r-1</reservationId><groupSet><item><groupId>sg-1</groupId></item></groupSet>
   <instancesSet>
    <item><instanceId>i-aaa</instanceId><instanceState><code>16</code><name>running</name></instanceState>
     <tagSet><item><key>Name</key><value>node1</value></item></tagSet></item>
    <item><instanceId>i-bbb</instanceId><instanceState><code>80</code><name>stopped</name></instanceState></item>
   </instancesSet></item>
  <item><instancesSet><item><instanceId>i-ccc</instanceId>
   <instanceState><code>64</code><name>stopping</name></instanceState></item></instancesSet></item>
 </reservationSet>
 <nextToken>tok</nextToken>
</DescribeInstancesResponse>"#;

    #[test]
    fn instances_and_next_token_by_path() {
        let page = parse_describe(PAGE).unwrap();
        let ids: Vec<(&str, &str)> = page
            .instances
            .iter()
            .map(|i| (i.id.as_str(), i.state.as_str()))
            .collect();
        assert_eq!(
            ids,
            [
                ("i-aaa", "running"),
                ("i-bbb", "stopped"),
                ("i-ccc", "stopping")
            ]
        );
        assert_eq!(page.next_token.as_deref(), Some("tok"));
        assert_eq!(page.instances[0].power(), Ok(PowerState::On));
        assert_eq!(page.instances[1].power(), Ok(PowerState::Off));
        assert!(page.instances[2].power().is_err());
        let empty = "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>";
        assert_eq!(parse_describe(empty).unwrap().instances, []);
    }

    #[test]
    fn odd_answers_are_errors_not_panics() {
        for bad in [
            "",
            "<x",
            "<Response/>",
            "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>\
             <instanceId>i-1</instanceId></item></instancesSet></item></reservationSet>\
             </DescribeInstancesResponse>",
        ] {
            assert!(parse_describe(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_codes_map_to_device_errors() {
        let body = |code: &str| {
            format!(
                "<Response><Errors><Error><Code>{code}</Code><Message>m</Message></Error>\
                 </Errors><RequestID>x</RequestID></Response>"
            )
        };
        assert!(matches!(
            error_of("DescribeInstances", 401, &body("AuthFailure")),
            DeviceError::LoginDenied(m) if m.contains("AuthFailure: m")
        ));
        assert!(matches!(
            error_of("StopInstances", 403, &body("UnauthorizedOperation")),
            DeviceError::InsufficientPrivilege(_)
        ));
        assert!(matches!(
            error_of("StopInstances", 400, &body("InvalidInstanceID.NotFound")),
            DeviceError::NoSuchPlug(_)
        ));
        assert!(matches!(
            error_of("DescribeInstances", 503, "not xml"),
            DeviceError::Protocol(m) if m == "DescribeInstances answered HTTP 503"
        ));
    }
}
