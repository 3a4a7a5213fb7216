//! The cluster servant: corosync membership and quorum, as ClusterLabs sbd's cluster
//! servant, through corosync's own client libraries ([`corosync`]: libquorum, libcmap).
//!
//! One thread connects to corosync's quorum service and reports to the inquisitor once
//! per loop timeout and on every quorum change ([`Assessor::assess`], pure):
//! * not connected yet: `Transient` (sbd keeps retrying every second and says nothing);
//!   connection lost: `Unhealthy` ("Cluster connection terminated"), then reconnect;
//! * connected, no membership yet: `Transient`; an empty membership: `Unhealthy`;
//! * two-node mode (`quorum.two_node`) once both nodes were seen and only one is left:
//!   `Unhealthy` (sbd: quorum is suspect there);
//! * quorate: `Online`. Not quorate before this node ever had quorum: `Online` (a node
//!   booting alone must be able to start sbd before its peers join, as sbd's "we do not
//!   have quorum yet"). Not quorate after having had quorum: `Unhealthy` — the node fell
//!   out of the quorate partition. (ClusterLabs' cluster servant leaves that to its
//!   pacemaker servant; reporting it here as well makes a node that lost quorum stop
//!   counting as alive at once, and also where pacemaker is not running.)

pub mod corosync;

use std::time::{Duration, Instant};

use crate::inquisitor::{ClusterServant, Event, ServantHealth};
use crate::servant::{Reporter, ServantMessage};
use corosync::{QuorumClient, QuorumUpdate};

/// What the servant knows about corosync at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snapshot {
    /// No connection; `lost`: there was one.
    Disconnected { lost: bool, reason: String },
    /// Connected; `None` until the first membership arrived.
    Connected {
        membership: Option<QuorumUpdate>,
        two_node: bool,
    },
}

/// The pure part: snapshot in, health out, remembering what sbd remembers (both nodes
/// seen, quorum ever had).
#[derive(Debug, Clone, Default)]
pub struct Assessor {
    ever_seen_both: bool,
    ever_quorate: bool,
}

impl Assessor {
    pub fn assess(&mut self, snapshot: &Snapshot) -> (ServantHealth, String) {
        let (membership, two_node) = match snapshot {
            Snapshot::Disconnected {
                lost: false,
                reason,
            } => {
                return (
                    ServantHealth::Transient,
                    format!("Waiting for corosync: {reason}"),
                )
            }
            Snapshot::Disconnected { lost: true, reason } => {
                return (
                    ServantHealth::Unhealthy,
                    format!("Cluster connection terminated: {reason}"),
                )
            }
            Snapshot::Connected {
                membership: None, ..
            } => {
                return (
                    ServantHealth::Transient,
                    "Connected, waiting for initial membership".into(),
                )
            }
            Snapshot::Connected {
                membership: Some(m),
                two_node,
            } => (m, *two_node),
        };
        let count = membership.members.len();
        let result = if count == 0 {
            (ServantHealth::Unhealthy, "Empty corosync membership".into())
        } else if two_node && self.ever_seen_both && count == 1 {
            (
                ServantHealth::Unhealthy,
                "Connected to corosync but requires both nodes present".into(),
            )
        } else if membership.quorate {
            self.ever_quorate = true;
            (
                ServantHealth::Online,
                format!("Connected to corosync ({count} members, quorate)"),
            )
        } else if self.ever_quorate {
            (
                ServantHealth::Unhealthy,
                format!("Quorum lost: this node left the quorate partition ({count} members)"),
            )
        } else {
            (
                ServantHealth::Online,
                format!("Connected to corosync ({count} members), no quorum yet"),
            )
        };
        if count > 1 {
            self.ever_seen_both = true;
        }
        result
    }
}

/// How the servant thread runs.
#[derive(Debug, Clone, Copy)]
pub struct ClusterServantSetup {
    pub loop_timeout: Duration,
}

/// Why the servant thread could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the cluster servant thread: {0}")]
pub struct SpawnError(#[from] std::io::Error);

/// Start the servant thread; it ends once `report` returns false (daemon finished).
pub fn spawn(setup: ClusterServantSetup, report: Reporter) -> Result<(), SpawnError> {
    std::thread::Builder::new()
        .name("sbd-cluster".into())
        .spawn(move || run(setup, report))?;
    Ok(())
}

/// Wait up to `timeout` for `fd` to become readable; true when it did (or hung up).
fn readable(fd: std::ffi::c_int, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    rc > 0
}

/// The longest `quorum.two_node` is not read again from cmap.
const TWO_NODE_REFRESH: Duration = Duration::from_secs(30);

fn run(setup: ClusterServantSetup, report: Reporter) {
    let mut assessor = Assessor::default();
    let mut client: Option<QuorumClient> = None;
    let mut membership: Option<QuorumUpdate> = None;
    let mut ever_connected = false;
    let mut lost_reason: Option<String> = None;
    let mut two_node: Option<(bool, Instant)> = None;
    let send = |assessor: &mut Assessor, snapshot: &Snapshot| -> bool {
        let (health, detail) = assessor.assess(snapshot);
        report(ServantMessage::Event(Event::ClusterServant {
            servant: ClusterServant::Corosync,
            health,
            detail,
        }))
    };
    loop {
        let Some(connected) = client.as_mut() else {
            match QuorumClient::connect() {
                Ok(c) => {
                    client = Some(c);
                    ever_connected = true;
                    membership = None;
                    two_node = None;
                    lost_reason = None;
                    continue;
                }
                Err(e) => {
                    let snapshot = Snapshot::Disconnected {
                        lost: ever_connected,
                        reason: lost_reason.clone().unwrap_or_else(|| e.to_string()),
                    };
                    if !send(&mut assessor, &snapshot) {
                        return;
                    }
                    // sbd retries the connection every second.
                    std::thread::sleep(Duration::from_secs(1).min(setup.loop_timeout));
                    continue;
                }
            }
        };
        if readable(connected.fd(), setup.loop_timeout) {
            if let Err(e) = connected.dispatch() {
                client = None;
                let snapshot = Snapshot::Disconnected {
                    lost: true,
                    reason: e.to_string(),
                };
                lost_reason = Some(e.to_string());
                if !send(&mut assessor, &snapshot) {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1).min(setup.loop_timeout));
                continue;
            }
        }
        if let Some(update) = connected.take_update() {
            membership = Some(update);
            two_node = None;
        }
        // `quorum.two_node` changes only with corosync's configuration: read from cmap on
        // (re)connecting, after a membership change and every TWO_NODE_REFRESH, not every
        // loop (a cmap connection per loop was most of the servant's idle CPU).
        let now = Instant::now();
        let value = match two_node {
            Some((value, at)) if now.saturating_duration_since(at) < TWO_NODE_REFRESH => value,
            _ => {
                let value = corosync::two_node().unwrap_or(false);
                two_node = Some((value, now));
                value
            }
        };
        let two_node_now = value;
        let snapshot = Snapshot::Connected {
            membership: membership.clone(),
            two_node: two_node_now,
        };
        if !send(&mut assessor, &snapshot) {
            return;
        }
    }
}

#[cfg(test)]
mod tests;
