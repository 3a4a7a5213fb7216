//! Heartbeat transport: one UDP socket per ring, bound to this node's address on that
//! ring; every keepalive the driver sends its heartbeat ([`crate::cluster::packet`]) and
//! its status report ([`super::report`]) unicast to every peer on every ring — or, on a
//! multicast ring, once to the ring's group ([`super::multicast`]: a second socket bound
//! to the group receives). A receiver task per socket authenticates each datagram and
//! hands it to the driver; forged, malformed, foreign or wrongly-sourced datagrams become
//! [`Incoming::Dropped`] (counted, never fatal).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::config::NodeConfig;
use super::report::{self, Report};
use crate::cluster::packet::{self, Key, Packet};
use crate::cluster::quorum::NodeId;

/// A datagram, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// An authentic heartbeat.
    Heartbeat { ring: usize, packet: Packet },
    /// An authentic status report.
    Report { ring: usize, report: Report },
    /// Dropped, and why.
    Dropped { ring: usize, reason: String },
}

/// Why the rings cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Binding a ring's socket failed.
    #[error("ring {ring}: cannot bind UDP {addr}: {source}")]
    Bind {
        ring: usize,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The key is unusable.
    #[error("{0}")]
    Key(#[from] packet::KeyError),
    /// A multicast ring's sockets.
    #[error("ring {ring}: {source}")]
    Multicast {
        ring: usize,
        source: super::multicast::MulticastError,
    },
    /// A multicast ring on an IPv6 address (refused by the configuration already).
    #[error("ring {ring}: multicast needs this node's ring address to be IPv4")]
    MulticastFamily { ring: usize },
}

/// The sockets of every ring and the peers' addresses.
#[derive(Debug)]
pub struct Rings {
    sockets: Vec<Arc<UdpSocket>>,
    /// Per ring: the group's receiving socket and destination, on multicast rings.
    groups: Vec<Option<(Arc<UdpSocket>, SocketAddr)>>,
    /// Per peer: its address on each ring.
    peers: Vec<(NodeId, Vec<SocketAddr>)>,
}

/// Which node sent from `source` on `ring` (pure; None if no node has that address).
pub fn sender_of(cfg: &NodeConfig, ring: usize, source: IpAddr) -> Option<NodeId> {
    cfg.nodes
        .iter()
        .find(|n| n.addresses.get(ring) == Some(&source))
        .map(|n| n.id)
}

impl Rings {
    /// Bind every ring's socket on this node's address.
    pub async fn bind(cfg: &NodeConfig) -> Result<Rings, TransportError> {
        let local = cfg.local().map(|n| n.addresses.clone()).unwrap_or_default();
        let mut sockets = Vec::new();
        let mut groups = Vec::new();
        for (ring, ip) in local.iter().enumerate() {
            let addr = SocketAddr::new(*ip, cfg.port);
            let socket = UdpSocket::bind(addr)
                .await
                .map_err(|source| TransportError::Bind { ring, addr, source })?;
            let group = match cfg.multicast.get(ring).and_then(|m| m.as_ref()) {
                None => None,
                Some(m) => {
                    let IpAddr::V4(interface) = *ip else {
                        return Err(TransportError::MulticastFamily { ring });
                    };
                    let fail = |source| TransportError::Multicast { ring, source };
                    super::multicast::prepare_sender(&socket, m, interface).map_err(fail)?;
                    let receiver = super::multicast::receiver(m, interface).map_err(fail)?;
                    Some((Arc::new(receiver), super::multicast::destination(m)))
                }
            };
            sockets.push(Arc::new(socket));
            groups.push(group);
        }
        let peers = cfg
            .nodes
            .iter()
            .filter(|n| n.id != cfg.me)
            .map(|n| {
                (
                    n.id,
                    n.addresses
                        .iter()
                        .map(|ip| SocketAddr::new(*ip, cfg.port))
                        .collect(),
                )
            })
            .collect();
        Ok(Rings {
            sockets,
            groups,
            peers,
        })
    }

    /// Start one receiver task per ring; they end when `tx` is closed.
    pub fn spawn_receivers(
        &self,
        cfg: &NodeConfig,
        tx: mpsc::UnboundedSender<Incoming>,
    ) -> Result<(), TransportError> {
        let key = Key::new(&cfg.key)?;
        let group_sockets = self
            .groups
            .iter()
            .enumerate()
            .filter_map(|(ring, g)| g.as_ref().map(|(s, _)| (ring, s)));
        for (ring, socket) in self.sockets.iter().enumerate().chain(group_sockets) {
            // Our own datagrams come back from the group when it loops: not news.
            let own = cfg
                .local()
                .and_then(|n| n.addresses.get(ring).copied())
                .filter(|_| self.groups.get(ring).is_some_and(|g| g.is_some()));
            let socket = Arc::clone(socket);
            let tx = tx.clone();
            let key = key.clone();
            let raw_key = cfg.key.clone();
            let cfg = cfg.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let (len, source) = match socket.recv_from(&mut buf).await {
                        Ok(x) => x,
                        Err(_) => {
                            // ICMP errors surface here on Linux (port unreachable): go on.
                            tokio::task::yield_now().await;
                            continue;
                        }
                    };
                    if Some(source.ip()) == own {
                        continue;
                    }
                    let incoming = check(&buf[..len], source, ring, &cfg, &key, &raw_key);
                    if tx.send(incoming).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(())
    }

    /// Send `datagrams` to every peer on every ring (once to the group on a multicast
    /// ring); returns how many sends failed (a
    /// link that is down fails here, which is what heartbeats are for).
    pub async fn send_all(&self, datagrams: &[&[u8]]) -> usize {
        let mut failed = 0;
        for (ring, socket) in self.sockets.iter().enumerate() {
            if let Some(Some((_, group))) = self.groups.get(ring) {
                for d in datagrams {
                    if socket.send_to(d, group).await.is_err() {
                        failed += 1;
                    }
                }
                continue;
            }
            for (_, addrs) in &self.peers {
                let Some(addr) = addrs.get(ring) else {
                    continue;
                };
                for d in datagrams {
                    if socket.send_to(d, addr).await.is_err() {
                        failed += 1;
                    }
                }
            }
        }
        failed
    }
}

/// Authenticate and classify one datagram (pure).
pub fn check(
    bytes: &[u8],
    source: SocketAddr,
    ring: usize,
    cfg: &NodeConfig,
    key: &Key,
    raw_key: &[u8],
) -> Incoming {
    let dropped = |reason: String| Incoming::Dropped { ring, reason };
    let claimed = if report::is_report(bytes) {
        match report::decode(bytes, raw_key, cfg.cluster_id) {
            Ok(report) => (report.from, Incoming::Report { ring, report }),
            Err(e) => return dropped(format!("report from {source}: {e}")),
        }
    } else {
        match packet::decode(bytes, key, cfg.cluster_id) {
            Ok(packet) => (packet.from, Incoming::Heartbeat { ring, packet }),
            Err(e) => return dropped(format!("heartbeat from {source}: {e}")),
        }
    };
    let (from, incoming) = claimed;
    match sender_of(cfg, ring, source.ip()) {
        Some(id) if id == from && id != cfg.me => incoming,
        _ => dropped(format!(
            "datagram claiming node {from} came from {source}, not that node's ring {ring} address"
        )),
    }
}
