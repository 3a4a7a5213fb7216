//! The configuration of what decides beyond plain votes and fence devices: multicast
//! rings (`[[ring]]`), the quorum tie-breakers of `[quorum]` (heartbeat's ping nodes, the
//! sbd disk) and watchdog fencing (`[fencing] watchdog-timeout`, pacemaker's
//! stonith-watchdog-timeout). Raw sections in, checked values out; [`super::parse`]
//! assembles them.
//!
//! ```toml
//! [[ring]]                          # ring 0 (same order as [[node]] addresses)
//! mcast-group = "239.255.42.1"      # heartbeat's `mcast dev group port ttl loop`
//! mcast-port = 5405                 # default [cluster] port
//! mcast-ttl = 1                     # 0-255, default 1
//! mcast-loop = false                # deliver to this host too (tests on one host)
//!
//! [quorum]
//! ping-targets = ["10.0.0.254"]     # an exact half is quorate only while all answer
//! ping-interval = "1s"              # default keepalive
//! ping-deadtime = "15s"             # heartbeat's deadping; default deadtime/2, < deadtime
//! tie-breaker-disk = "/dev/disk/by-id/scsi-sbd"  # an sbd device: one half wins a claim
//! disk-settle = "4s"                # default 4 x keepalive, at least 1s
//!
//! [fencing]
//! watchdog-timeout = "10s"          # nodes without a fence device self-fence by watchdog
//! sbd-watchdog-timeout = "5s"       # the nodes' SBD_WATCHDOG_TIMEOUT (default 5s)
//! ```

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::sections::{span, RawFencing, RawQuorum};
use super::{bad, ConfigError, NodeEntry};
use crate::cluster::membership::Timers;

/// The sbd slot name under which the tie-breaker claim is kept (no node may be named so).
pub const TIEBREAK_SLOT: &str = "palisade:tiebreak";
/// sbd's default watchdog timeout (`-1`, SBD_WATCHDOG_TIMEOUT).
pub const DEFAULT_SBD_WATCHDOG_TIMEOUT: Duration = Duration::from_secs(5);

/// One `[[ring]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRing {
    pub(super) mcast_group: Option<String>,
    pub(super) mcast_port: Option<u16>,
    pub(super) mcast_ttl: Option<u32>,
    pub(super) mcast_loop: Option<bool>,
}

/// A ring whose heartbeats go to a multicast group (once per keepalive) instead of to
/// each peer. Every node still lists its address on the ring: it is the interface the
/// group is joined on and the source address datagrams are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multicast {
    pub group: Ipv4Addr,
    pub port: u16,
    pub ttl: u32,
    /// IP_MULTICAST_LOOP: this host's own sockets get the datagrams too.
    pub looped: bool,
}

/// Heartbeat's ping nodes as a tie-breaker: targets answering ICMP echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingConfig {
    pub targets: Vec<IpAddr>,
    /// One echo request per target this often.
    pub interval: Duration,
    /// A target whose last reply is older than this is dead (heartbeat's deadping). It
    /// must be shorter than the heartbeat deadtime: when a split is detected, the half
    /// that lost the targets must already count them dead.
    pub deadtime: Duration,
}

/// The sbd disk as a tie-breaker: a claim only one half can win.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskTieBreaker {
    pub path: PathBuf,
    /// Wait between writing a claim and reading it back (see `cluster::disk_claim`).
    pub settle: Duration,
}

/// The external tie-breakers of an exact half (none configured: both `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TieBreakers {
    pub ping: Option<PingConfig>,
    pub disk: Option<DiskTieBreaker>,
}

/// Watchdog fencing: a lost node without a fence device counts as fenced once
/// `timeout` has passed since it was lost (its sbd, reading the health file, has then
/// reset it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchdogFencing {
    pub timeout: Duration,
    /// The watchdog timeout the nodes' sbd runs with; `timeout` must exceed it.
    pub sbd_watchdog_timeout: Duration,
}

/// The transport of every ring (`None` = unicast to each peer).
pub(super) fn rings(
    raw: &[RawRing],
    nodes: &[NodeEntry],
    port: u16,
) -> Result<Vec<Option<Multicast>>, ConfigError> {
    let count = nodes.first().map_or(0, |n| n.addresses.len());
    if raw.len() > count {
        return Err(bad(
            "[[ring]]",
            "ring",
            format!(
                "{} [[ring]] sections, but the nodes list {count} address(es) (one per ring)",
                raw.len()
            ),
        ));
    }
    let mut out = Vec::new();
    let mut used = BTreeSet::new();
    for ring in 0..count {
        let Some(r) = raw.get(ring) else {
            out.push(None);
            continue;
        };
        let section = format!("[[ring]] {ring}");
        let Some(text) = &r.mcast_group else {
            if r.mcast_port.is_some() || r.mcast_ttl.is_some() || r.mcast_loop.is_some() {
                return Err(bad(
                    &section,
                    "mcast-group",
                    "missing (other mcast-* keys given)",
                ));
            }
            out.push(None);
            continue;
        };
        let group = match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(g)) if g.is_multicast() => g,
            Ok(IpAddr::V6(g)) if g.is_multicast() => {
                return Err(bad(
                    &section,
                    "mcast-group",
                    format!(
                        "{g}: IPv6 multicast is not supported yet (use an IPv4 group or unicast)"
                    ),
                ))
            }
            Ok(other) => {
                return Err(bad(
                    &section,
                    "mcast-group",
                    format!("{other} is not a multicast address (224.0.0.0/4)"),
                ))
            }
            Err(_) => {
                return Err(bad(
                    &section,
                    "mcast-group",
                    format!("'{text}' is not an IP address"),
                ))
            }
        };
        if let Some(n) = nodes.iter().find(|n| !n.addresses[ring].is_ipv4()) {
            return Err(bad(
                &section,
                "mcast-group",
                format!(
                    "node {} has the IPv6 address {} on this ring; an IPv4 group needs IPv4 addresses",
                    n.name, n.addresses[ring]
                ),
            ));
        }
        let mport = r.mcast_port.unwrap_or(port);
        if mport == 0 {
            return Err(bad(&section, "mcast-port", "must be above 0"));
        }
        let ttl = r.mcast_ttl.unwrap_or(1);
        if ttl > 255 {
            return Err(bad(&section, "mcast-ttl", format!("{ttl}: expected 0-255")));
        }
        if !used.insert((group, mport)) {
            return Err(bad(
                &section,
                "mcast-group",
                format!("{group} port {mport} is already used by another ring"),
            ));
        }
        out.push(Some(Multicast {
            group,
            port: mport,
            ttl,
            looped: r.mcast_loop.unwrap_or(false),
        }));
    }
    Ok(out)
}

/// The tie-breakers of `[quorum]`. `auto_tie_breaker` and `two_node` make them useless
/// (the former decides an exact half first, the latter never has one), so they exclude
/// each other.
pub(super) fn tie_breakers(
    raw: &RawQuorum,
    timers: &Timers,
    auto_tie_breaker: bool,
    watchdog: Option<WatchdogFencing>,
) -> Result<TieBreakers, ConfigError> {
    let s = "[quorum]";
    if raw.ping_targets.is_none() && (raw.ping_interval.is_some() || raw.ping_deadtime.is_some()) {
        return Err(bad(
            s,
            "ping-targets",
            "missing (ping-interval or ping-deadtime given)",
        ));
    }
    if raw.tie_breaker_disk.is_none() && raw.disk_settle.is_some() {
        return Err(bad(s, "tie-breaker-disk", "missing (disk-settle given)"));
    }
    let ping = match &raw.ping_targets {
        None => None,
        Some(list) => {
            if list.is_empty() {
                return Err(bad(
                    s,
                    "ping-targets",
                    "empty: list addresses or leave it out",
                ));
            }
            let targets = list
                .iter()
                .map(|t| {
                    t.parse::<IpAddr>().map_err(|_| {
                        bad(
                            s,
                            "ping-targets",
                            format!("'{t}' is not an IP address (names are not resolved)"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let interval =
                span(s, "ping-interval", raw.ping_interval.as_ref())?.unwrap_or(timers.keepalive);
            let deadtime = span(s, "ping-deadtime", raw.ping_deadtime.as_ref())?
                .unwrap_or(timers.deadtime / 2);
            if interval.is_zero() {
                return Err(bad(s, "ping-interval", "must be above zero"));
            }
            if deadtime <= interval {
                return Err(bad(
                    s,
                    "ping-deadtime",
                    "must be longer than ping-interval (a target gets several chances)",
                ));
            }
            if deadtime >= timers.deadtime {
                return Err(bad(
                    s,
                    "ping-deadtime",
                    "must be shorter than [timers] deadtime: when a split is detected, the half that lost the targets must already count them silent",
                ));
            }
            Some(PingConfig {
                targets,
                interval,
                deadtime,
            })
        }
    };
    let disk = match &raw.tie_breaker_disk {
        None => None,
        Some(path) if path.as_os_str().is_empty() => {
            return Err(bad(s, "tie-breaker-disk", "empty path"))
        }
        Some(path) => {
            let settle = span(s, "disk-settle", raw.disk_settle.as_ref())?
                .unwrap_or_else(|| (timers.keepalive * 4).max(Duration::from_secs(1)));
            if settle < Duration::from_millis(100) {
                return Err(bad(s, "disk-settle", "must be at least 100ms"));
            }
            // While a tie waits for the disk (up to 2 x settle) the view is not agreed and
            // the health file says "not quorate": the winners' own sbd must outlast that.
            if let Some(w) = watchdog.filter(|w| settle * 2 >= w.sbd_watchdog_timeout) {
                return Err(bad(
                    s,
                    "disk-settle",
                    format!(
                        "{}ms: with watchdog fencing, 2 x disk-settle must stay below [fencing] sbd-watchdog-timeout {}ms (a tie is decided within that, or the winners' sbd would reset them)",
                        settle.as_millis(),
                        w.sbd_watchdog_timeout.as_millis()
                    ),
                ));
            }
            Some(DiskTieBreaker {
                path: path.clone(),
                settle,
            })
        }
    };
    if ping.is_some() || disk.is_some() {
        let key = if ping.is_some() {
            "ping-targets"
        } else {
            "tie-breaker-disk"
        };
        if auto_tie_breaker {
            return Err(bad(
                s,
                key,
                "auto-tie-breaker already decides an exact half; use one or the other",
            ));
        }
        if raw.two_node {
            return Err(bad(
                s,
                key,
                "two-node makes one vote of two quorate, so a tie-breaker is never asked; set two-node = false",
            ));
        }
    }
    Ok(TieBreakers { ping, disk })
}

/// `[fencing] watchdog-timeout` (a span, or `auto` = 2 x sbd-watchdog-timeout as
/// pacemaker's negative value) and its checks: longer than the sbd watchdog timeout, a
/// health file for sbd to read, no two-node, direct fencing.
pub(super) fn watchdog(
    raw: &RawFencing,
    health_file: bool,
    two_node: bool,
) -> Result<Option<WatchdogFencing>, ConfigError> {
    let s = "[fencing]";
    let sbd_watchdog_timeout = span(s, "sbd-watchdog-timeout", raw.sbd_watchdog_timeout.as_ref())?
        .unwrap_or(DEFAULT_SBD_WATCHDOG_TIMEOUT);
    if sbd_watchdog_timeout.is_zero() {
        return Err(bad(s, "sbd-watchdog-timeout", "must be above zero"));
    }
    let timeout = match raw.watchdog_timeout.as_deref() {
        None => return Ok(None),
        Some("auto") => sbd_watchdog_timeout * 2,
        Some(_) => span(s, "watchdog-timeout", raw.watchdog_timeout.as_ref())?.unwrap_or_default(),
    };
    if timeout.is_zero() {
        return Ok(None);
    }
    if timeout <= sbd_watchdog_timeout {
        return Err(bad(
            s,
            "watchdog-timeout",
            format!(
                "{}ms must be longer than sbd-watchdog-timeout {}ms: a lost node counts as fenced only after its watchdog surely fired",
                timeout.as_millis(),
                sbd_watchdog_timeout.as_millis()
            ),
        ));
    }
    if !health_file {
        return Err(bad(
            s,
            "watchdog-timeout",
            "needs [cluster] sbd-health-file: it is how a node without quorum makes its sbd stop feeding the watchdog",
        ));
    }
    if two_node {
        return Err(bad(
            s,
            "watchdog-timeout",
            "not with two-node: both halves of a split stay quorate, so neither would self-fence (use a tie-breaker instead)",
        ));
    }
    if raw.fencer_socket.is_some() {
        return Err(bad(
            s,
            "watchdog-timeout",
            "only with direct fencing (no fencer-socket): nodes without fence-agent are watchdog-fenced",
        ));
    }
    Ok(Some(WatchdogFencing {
        timeout,
        sbd_watchdog_timeout,
    }))
}

#[cfg(test)]
mod tests;
