//! heartbeat's `haresources`, pure: each logical line (a trailing `\` continues it) is
//! `NODE RESOURCE...`, one resource group that prefers NODE and starts left to right.
//! A resource is `SCRIPT` or `SCRIPT::ARG::ARG...`; a bare IP address means `IPaddr`,
//! imported as `ocf:heartbeat:IPaddr2` (same parameters) like `IPaddr::`.
//! Known scripts become OCF agents with named parameters (`IPaddr::ip/cidr/nic/broadcast`,
//! `Filesystem::device::directory::fstype[::options]`, ...); any other script without
//! arguments is taken as an LSB init script.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::ImportError;

/// The agent of virtual IP addresses (a bare IP, `IPaddr::` and `IPaddr2::`).
pub const IP_AGENT: &str = "ocf:heartbeat:IPaddr2";

/// One converted resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaResource {
    /// Our resource name (unique in the file).
    pub name: String,
    /// Agent (`ocf:heartbeat:IPaddr`, `lsb:httpd`).
    pub agent: String,
    /// Named parameters.
    pub params: BTreeMap<String, String>,
    /// The original text.
    pub original: String,
}

/// One haresources line: a group and its home node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaGroup {
    /// The preferred node.
    pub node: String,
    /// Resources in start order.
    pub resources: Vec<HaResource>,
    /// Line number in the file.
    pub line: usize,
}

fn err(line: usize, reason: impl Into<String>) -> ImportError {
    ImportError::Haresources {
        line,
        reason: reason.into(),
    }
}

/// Logical lines: comments dropped, `\` continuations joined, with the first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("").trim_end();
        let (body, continues) = match content.strip_suffix('\\') {
            Some(body) => (body, true),
            None => (content, false),
        };
        let entry = current.get_or_insert_with(|| (index + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(body.trim());
        if !continues {
            if let Some((line, text)) = current.take() {
                if !text.trim().is_empty() {
                    out.push((line, text.trim().to_string()));
                }
            }
        }
    }
    if let Some((line, text)) = current {
        if !text.trim().is_empty() {
            out.push((line, text.trim().to_string()));
        }
    }
    out
}

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `ip[/cidr[/nic[/broadcast]]]` of IPaddr and IPaddr2.
fn ip_params(line: usize, spec: &str) -> Result<BTreeMap<String, String>, ImportError> {
    let parts: Vec<&str> = spec.split('/').collect();
    if parts.len() > 4 {
        return Err(err(
            line,
            format!("'{spec}': expected IP[/CIDR[/NIC[/BROADCAST]]]"),
        ));
    }
    let get = |i: usize| parts.get(i).copied().unwrap_or("");
    let ip: IpAddr = get(0)
        .parse()
        .map_err(|_| err(line, format!("'{}' is not an IP address", get(0))))?;
    let cidr = get(1);
    if !cidr.is_empty() {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match cidr.parse::<u8>() {
            Ok(bits) if bits <= max => {}
            _ => {
                return Err(err(
                    line,
                    format!("'{cidr}' is not a prefix length (0-{max})"),
                ))
            }
        }
    }
    let broadcast = get(3);
    if !broadcast.is_empty() && broadcast.parse::<IpAddr>().is_err() {
        return Err(err(
            line,
            format!("broadcast '{broadcast}' is not an IP address"),
        ));
    }
    Ok(params(&[
        ("ip", &ip.to_string()),
        ("cidr_netmask", cidr),
        ("nic", get(2)),
        ("broadcast", broadcast),
    ]))
}

/// A name usable as a resource name: letters, digits, `-`, `_`, `.`.
fn sanitize(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches('-').to_string();
    if trimmed.is_empty() {
        "resource".to_string()
    } else {
        trimmed
    }
}

/// Convert one resource spec.
fn resource(line: usize, spec: &str) -> Result<HaResource, ImportError> {
    let mut parts: Vec<&str> = spec.split("::").collect();
    // A bare IP address (optionally with /cidr/...) means IPaddr.
    let first_is_ip = parts
        .first()
        .and_then(|p| p.split('/').next())
        .is_some_and(|p| p.parse::<IpAddr>().is_ok());
    if first_is_ip {
        parts.insert(0, "IPaddr");
    }
    let (script, args) = match parts.split_first() {
        Some((script, args)) if !script.is_empty() => (*script, args),
        _ => return Err(err(line, format!("'{spec}': empty resource name"))),
    };
    if args.iter().any(|a| a.is_empty()) {
        return Err(err(line, format!("'{spec}': empty argument")));
    }
    let (name, agent, params) = match (script, args) {
        ("IPaddr" | "IPaddr2", [ip]) => {
            let p = ip_params(line, ip)?;
            let name = format!("ip-{}", p.get("ip").map(String::as_str).unwrap_or(""));
            (name, IP_AGENT.to_string(), p)
        }
        ("Filesystem", [device, directory, rest @ ..]) if rest.len() <= 2 => {
            let fstype = rest.first().copied().unwrap_or("");
            let options = rest.get(1).copied().unwrap_or("");
            if !directory.starts_with('/') {
                return Err(err(line, format!("Filesystem directory '{directory}' is not absolute")));
            }
            let path = directory.trim_matches('/');
            let name = if path.is_empty() {
                "fs-root".to_string()
            } else {
                format!("fs-{}", sanitize(&path.replace('/', "-")))
            };
            (
                name,
                "ocf:heartbeat:Filesystem".to_string(),
                params(&[
                    ("device", device),
                    ("directory", directory),
                    ("fstype", fstype),
                    ("options", options),
                ]),
            )
        }
        ("MailTo", [email, rest @ ..]) if rest.len() <= 1 => (
            "mailto".to_string(),
            "ocf:heartbeat:MailTo".to_string(),
            params(&[("email", email), ("subject", rest.first().copied().unwrap_or(""))]),
        ),
        ("IPsrcaddr", [address]) => (
            "ipsrcaddr".to_string(),
            "ocf:heartbeat:IPsrcaddr".to_string(),
            params(&[("ipaddress", address)]),
        ),
        ("IPaddr" | "IPaddr2" | "Filesystem" | "MailTo" | "IPsrcaddr", _) => {
            return Err(err(line, format!("'{spec}': wrong number of arguments for {script}")))
        }
        (other, []) => (sanitize(other), format!("lsb:{other}"), BTreeMap::new()),
        (other, _) => {
            return Err(err(
                line,
                format!(
                    "'{spec}': heartbeat script {other} with arguments has no known OCF or LSB equivalent; convert it by hand"
                ),
            ))
        }
    };
    if script.contains('/') {
        return Err(err(line, format!("'{script}': a script name, not a path")));
    }
    Ok(HaResource {
        name,
        agent,
        params,
        original: spec.to_string(),
    })
}

/// Parse haresources text; `nodes` are ha.cf's nodes (each line's node must be one).
pub fn parse(text: &str, nodes: &[String]) -> Result<Vec<HaGroup>, ImportError> {
    let mut groups = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (line, content) in logical_lines(text) {
        let words: Vec<&str> = content.split_whitespace().collect();
        let Some((node, specs)) = words.split_first() else {
            continue;
        };
        if !nodes.iter().any(|n| n == node) {
            return Err(err(
                line,
                format!(
                    "node '{node}' is not a 'node' of ha.cf ({})",
                    nodes.join(", ")
                ),
            ));
        }
        if specs.is_empty() {
            return Err(err(line, format!("no resources for node '{node}'")));
        }
        let mut resources = Vec::new();
        for spec in specs {
            let mut r = resource(line, spec)?;
            let seen = names.entry(r.name.clone()).or_insert(0);
            *seen += 1;
            if *seen > 1 {
                r.name = format!("{}-{}", r.name, seen);
            }
            resources.push(r);
        }
        groups.push(HaGroup {
            node: (*node).to_string(),
            resources,
            line,
        });
    }
    Ok(groups)
}
