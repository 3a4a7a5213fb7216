//! Heartbeat transport: one UDP socket per ring, bound to this node's address on that
//! ring; every keepalive the runner sends its heartbeat ([`crate::cluster::packet`]) and
//! its status report ([`super::report`]) unicast to every peer on every ring. A receiver
//! task per ring authenticates each datagram and hands it to the runner; forged,
//! malformed, foreign or wrongly-sourced datagrams become [`Incoming::Dropped`] (counted,
//! never fatal).

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
}

/// The sockets of every ring and the peers' addresses.
#[derive(Debug)]
pub struct Rings {
    sockets: Vec<Arc<UdpSocket>>,
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
        for (ring, ip) in local.iter().enumerate() {
            let addr = SocketAddr::new(*ip, cfg.port);
            let socket = UdpSocket::bind(addr)
                .await
                .map_err(|source| TransportError::Bind { ring, addr, source })?;
            sockets.push(Arc::new(socket));
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
        Ok(Rings { sockets, peers })
    }

    /// Start one receiver task per ring; they end when `tx` is closed.
    pub fn spawn_receivers(
        &self,
        cfg: &NodeConfig,
        tx: mpsc::UnboundedSender<Incoming>,
    ) -> Result<(), TransportError> {
        let key = Key::new(&cfg.key)?;
        for (ring, socket) in self.sockets.iter().enumerate() {
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
                    let incoming = check(&buf[..len], source, ring, &cfg, &key, &raw_key);
                    if tx.send(incoming).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(())
    }

    /// Send `datagrams` to every peer on every ring; returns how many sends failed (a
    /// link that is down fails here, which is what heartbeats are for).
    pub async fn send_all(&self, datagrams: &[&[u8]]) -> usize {
        let mut failed = 0;
        for (ring, socket) in self.sockets.iter().enumerate() {
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
