//! heartbeat's `ha.cf`, pure: one directive per line (`keyword value...`, `#` comments),
//! times in seconds unless suffixed `ms`, booleans as true/on/yes/y/1 or
//! false/off/no/n/0. Defaults and checks follow heartbeat: keepalive 1 s, deadtime
//! 30 s, warntime deadtime/2, initdead from deadtime, udpport 694, auto_failback legacy.

use std::net::IpAddr;
use std::time::Duration;

use super::{ImportError, Warnings};
use crate::cluster::membership::Timers;

/// heartbeat's default UDP port (`ha-cluster` in /etc/services).
pub const HEARTBEAT_PORT: u16 = 694;

/// A communication medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Medium {
    /// `bcast IF...`: broadcast on these interfaces.
    Broadcast(Vec<String>),
    /// `ucast IF PEER`: unicast to a peer.
    Unicast {
        /// The interface.
        interface: String,
        /// The peer's address.
        peer: IpAddr,
    },
    /// `mcast IF GROUP PORT TTL LOOP`.
    Multicast {
        /// The interface.
        interface: String,
        /// The group address.
        group: IpAddr,
        /// The UDP port.
        port: u16,
        /// Time to live (0-255).
        ttl: u8,
        /// Loop back to this host.
        looped: bool,
    },
    /// `serial TTY`.
    Serial(String),
}

/// heartbeat's `auto_failback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoFailback {
    /// Resources go back to their home node when it returns.
    On,
    /// Resources stay where they are.
    Off,
    /// Old behaviour (on, unless a node does not support off): the default.
    Legacy,
}

/// A parsed ha.cf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaCf {
    /// `node` names, in order.
    pub nodes: Vec<String>,
    /// The heartbeat timers, defaults applied.
    pub timers: Timers,
    /// `udpport`.
    pub udpport: u16,
    /// Media lines.
    pub media: Vec<Medium>,
    /// `auto_failback`.
    pub auto_failback: AutoFailback,
    /// `ping` nodes (pseudo-members reached by ICMP).
    pub ping: Vec<IpAddr>,
    /// `ping_group NAME IP...`.
    pub ping_groups: Vec<(String, Vec<IpAddr>)>,
    /// `deadping`: a ping node silent this long is dead (heartbeat: deadtime).
    pub deadping: Option<Duration>,
    /// `cluster` name (default `linux-ha`).
    pub cluster: String,
    /// `stonith_host` lines, verbatim (fence devices are configured in the fencer).
    pub stonith_hosts: Vec<String>,
    /// `watchdog` device.
    pub watchdog: Option<String>,
}

/// Directives heartbeat knows that have no palisade equivalent: accepted with a warning.
const IGNORED: &[&str] = &[
    "logfile",
    "debugfile",
    "logfacility",
    "use_logd",
    "debug",
    "coredumps",
    "compression",
    "compression_threshold",
    "traditional_compression",
    "msgfmt",
    "realtime",
    "rtprio",
    "hopfudge",
    "baud",
    "apiauth",
    "respawn",
    "crm",
    "pacemaker",
    "autojoin",
    "uuidfrom",
    "conn_logd_time",
    "max_rexmit_delay",
    "hbgenmethod",
    "record_config_changes",
    "record_pengine_inputs",
    "enable_config_writes",
    "memreserve",
    "stonith",
];

/// heartbeat's initdead default: deadtime above 10 s; 12 s below 6 s; else twice it.
pub fn default_initdead(deadtime: Duration) -> Duration {
    if deadtime > Duration::from_secs(10) {
        deadtime
    } else if deadtime < Duration::from_secs(6) {
        Duration::from_secs(12)
    } else {
        deadtime * 2
    }
}

/// A heartbeat time: seconds (decimals allowed) or milliseconds with `ms`.
pub fn parse_time(text: &str) -> Option<Duration> {
    let t = text.trim().to_ascii_lowercase();
    let (number, scale_ms) = if let Some(ms) = t.strip_suffix("ms") {
        (ms.to_string(), 1.0)
    } else if let Some(s) = t.strip_suffix('s') {
        (s.to_string(), 1000.0)
    } else {
        (t.clone(), 1000.0)
    };
    let value: f64 = number.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 || value * scale_ms > 1e12 {
        return None;
    }
    Some(Duration::from_millis((value * scale_ms).round() as u64))
}

/// heartbeat's boolean words.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "y" | "1" => Some(true),
        "false" | "off" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

fn err(line: usize, reason: impl Into<String>) -> ImportError {
    ImportError::HaCf {
        line,
        reason: reason.into(),
    }
}

fn ip(line: usize, text: &str) -> Result<IpAddr, ImportError> {
    text.parse()
        .map_err(|_| err(line, format!("'{text}' is not an IP address")))
}

fn one<'a>(line: usize, key: &str, args: &[&'a str]) -> Result<&'a str, ImportError> {
    match args {
        [value] => Ok(value),
        _ => Err(err(line, format!("{key} takes one value"))),
    }
}

fn time(line: usize, key: &str, args: &[&str]) -> Result<Duration, ImportError> {
    let text = one(line, key, args)?;
    parse_time(text).ok_or_else(|| {
        err(
            line,
            format!("{key} '{text}': expected seconds (2, 0.5) or milliseconds (500ms)"),
        )
    })
}

/// Parse ha.cf text.
pub fn parse(text: &str, warnings: &mut Warnings) -> Result<HaCf, ImportError> {
    let mut nodes: Vec<String> = Vec::new();
    let (mut keepalive, mut deadtime, mut warntime, mut initdead) = (None, None, None, None);
    let mut udpport: Option<(u16, usize)> = None;
    let mut first_medium_line: Option<usize> = None;
    let mut media = Vec::new();
    let mut auto_failback = None;
    let mut ping = Vec::new();
    let mut ping_groups = Vec::new();
    let mut deadping = None;
    let mut cluster = "linux-ha".to_string();
    let mut stonith_hosts = Vec::new();
    let mut watchdog = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        let words: Vec<&str> = content.split_whitespace().collect();
        let Some((key, args)) = words.split_first() else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "node" => {
                if args.is_empty() {
                    return Err(err(line, "node needs at least one name"));
                }
                for n in args {
                    if nodes.iter().any(|m| m == n) {
                        return Err(err(line, format!("node '{n}' listed twice")));
                    }
                    nodes.push((*n).to_string());
                }
            }
            "keepalive" => keepalive = Some(time(line, &key, args)?),
            "deadtime" => deadtime = Some(time(line, &key, args)?),
            "warntime" => warntime = Some(time(line, &key, args)?),
            "initdead" => initdead = Some(time(line, &key, args)?),
            "deadping" => deadping = Some(time(line, &key, args)?),
            "udpport" => {
                let text = one(line, &key, args)?;
                let port: u16 = text
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| err(line, format!("udpport '{text}' is not a port")))?;
                if let Some(first) = first_medium_line {
                    warnings.push(format!(
                        "ha.cf line {line}: udpport comes after the medium on line {first}; heartbeat applied it only to later media, palisade uses port {port} for all"
                    ));
                }
                udpport = Some((port, line));
            }
            "bcast" | "ucast" | "mcast" | "serial" => {
                first_medium_line.get_or_insert(line);
                media.push(medium(line, &key, args)?);
            }
            "auto_failback" => {
                let text = one(line, &key, args)?;
                auto_failback = Some(match parse_bool(text) {
                    Some(true) => AutoFailback::On,
                    Some(false) => AutoFailback::Off,
                    None if text.eq_ignore_ascii_case("legacy") => AutoFailback::Legacy,
                    None => {
                        return Err(err(
                            line,
                            format!("auto_failback '{text}': expected on, off or legacy"),
                        ))
                    }
                });
            }
            "ping" => {
                if args.is_empty() {
                    return Err(err(line, "ping needs at least one address"));
                }
                for a in args {
                    ping.push(ip(line, a)?);
                }
            }
            "ping_group" => match args.split_first() {
                Some((name, addresses)) if !addresses.is_empty() => {
                    let list = addresses
                        .iter()
                        .map(|a| ip(line, a))
                        .collect::<Result<Vec<_>, _>>()?;
                    ping_groups.push(((*name).to_string(), list));
                }
                _ => return Err(err(line, "ping_group needs a name and addresses")),
            },
            "cluster" => cluster = one(line, &key, args)?.to_string(),
            "stonith_host" => stonith_hosts.push(args.join(" ")),
            "watchdog" => watchdog = Some(one(line, &key, args)?.to_string()),
            other if IGNORED.contains(&other) => {
                warnings.push(format!(
                    "ha.cf line {line}: '{other}' has no palisade equivalent; ignored"
                ));
            }
            other => return Err(err(line, format!("unknown directive '{other}'"))),
        }
    }
    if nodes.is_empty() {
        return Err(err(0, "no 'node' directive: list every cluster node"));
    }
    if media.is_empty() {
        warnings.push("ha.cf has no bcast/mcast/ucast line: heartbeat would not start".into());
    }
    let keepalive = keepalive.unwrap_or(Duration::from_secs(1));
    let deadtime = deadtime.unwrap_or(Duration::from_secs(30));
    let warntime = warntime.unwrap_or(deadtime / 2);
    let initdead = initdead.unwrap_or_else(|| default_initdead(deadtime));
    let timers = Timers {
        keepalive,
        warntime,
        deadtime,
        initdead,
    };
    timers
        .validate()
        .map_err(|e| err(0, format!("timers: {e}")))?;
    if initdead < Duration::from_secs(10) {
        warnings.push(format!(
            "initdead {initdead:?} is below 10 s: nodes that boot slowly will be declared dead"
        ));
    }
    let auto_failback = auto_failback.unwrap_or_else(|| {
        warnings
            .push("auto_failback not set: heartbeat's default 'legacy' is imported as 'on'".into());
        AutoFailback::Legacy
    });
    Ok(HaCf {
        nodes,
        timers,
        udpport: udpport.map_or(HEARTBEAT_PORT, |(p, _)| p),
        media,
        auto_failback,
        ping,
        ping_groups,
        deadping,
        cluster,
        stonith_hosts,
        watchdog,
    })
}

fn medium(line: usize, key: &str, args: &[&str]) -> Result<Medium, ImportError> {
    match (key, args) {
        ("bcast", interfaces) if !interfaces.is_empty() => Ok(Medium::Broadcast(
            interfaces.iter().map(|s| (*s).to_string()).collect(),
        )),
        ("ucast", [interface, peer]) => Ok(Medium::Unicast {
            interface: (*interface).to_string(),
            peer: ip(line, peer)?,
        }),
        ("mcast", [interface, group, port, ttl, looped]) => {
            let group = ip(line, group)?;
            if !group.is_multicast() {
                return Err(err(
                    line,
                    format!("mcast group {group} is not a multicast address"),
                ));
            }
            Ok(Medium::Multicast {
                interface: (*interface).to_string(),
                group,
                port: port
                    .parse()
                    .map_err(|_| err(line, format!("mcast port '{port}' is not a port")))?,
                ttl: ttl
                    .parse()
                    .map_err(|_| err(line, format!("mcast ttl '{ttl}' is not 0-255")))?,
                looped: match *looped {
                    "0" => false,
                    "1" => true,
                    other => return Err(err(line, format!("mcast loop '{other}' is not 0 or 1"))),
                },
            })
        }
        ("serial", [tty]) => Ok(Medium::Serial((*tty).to_string())),
        ("bcast", _) => Err(err(line, "bcast needs at least one interface")),
        ("ucast", _) => Err(err(line, "expected 'ucast INTERFACE PEER-IP'")),
        ("mcast", _) => Err(err(line, "expected 'mcast INTERFACE GROUP PORT TTL LOOP'")),
        _ => Err(err(line, "expected 'serial DEVICE'")),
    }
}
