//! The TCP part of a connection to a device (SSH, and telnet in `cli::telnet`): resolving
//! the device's name (bounded by the deadline even when DNS hangs), keeping the wanted
//! address family, and connecting to the first address that answers within the deadline
//! and `ConnectTimeout`.

use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc;
use std::time::Duration;

use super::openssh_options::AddressFamily;
use super::session::SshTarget;
use super::SshError;
use crate::device::Deadline;

/// Where to connect: host, port, address family, and an extra bound of the connect.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub family: AddressFamily,
    pub connect_timeout: Option<Duration>,
    /// How messages name it (`user@host:port`, `host:port`).
    pub described: String,
}

impl From<&SshTarget> for Endpoint {
    fn from(t: &SshTarget) -> Endpoint {
        Endpoint {
            host: t.host.clone(),
            port: t.port,
            family: t.family,
            connect_timeout: t.connect_timeout,
            described: t.describe(),
        }
    }
}

/// Resolve the host to addresses of the wanted family, bounded by the deadline.
fn resolve(target: &Endpoint, deadline: Deadline) -> Result<Vec<SocketAddr>, SshError> {
    let addrs: Vec<SocketAddr> = if let Ok(ip) = target.host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, target.port)]
    } else {
        let (host, port) = (target.host.clone(), target.port);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send((host.as_str(), port).to_socket_addrs().map(Vec::from_iter));
        });
        let wait = deadline.bound(Duration::from_secs(3600));
        match rx.recv_timeout(wait) {
            Ok(Ok(addrs)) => addrs,
            Ok(Err(e)) => {
                return Err(SshError::Resolve {
                    host: target.host.clone(),
                    reason: e.to_string(),
                })
            }
            Err(_) => {
                return Err(SshError::TimedOut {
                    step: format!("resolving {}", target.host),
                })
            }
        }
    };
    let wanted: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| match target.family {
            AddressFamily::Any => true,
            AddressFamily::Inet => a.is_ipv4(),
            AddressFamily::Inet6 => a.is_ipv6(),
        })
        .collect();
    if wanted.is_empty() {
        return Err(SshError::Resolve {
            host: target.host.clone(),
            reason: format!("no address of family {:?}", target.family),
        });
    }
    Ok(wanted)
}

/// TCP connect to the first address that answers.
pub(crate) fn tcp_connect(target: &Endpoint, deadline: Deadline) -> Result<TcpStream, SshError> {
    let deadline = match target.connect_timeout {
        Some(t) => deadline.min(Deadline::after(t)),
        None => deadline,
    };
    let mut last = String::new();
    for addr in resolve(target, deadline)? {
        let limit = deadline.bound(Duration::from_secs(3600));
        if limit.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&addr, limit) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("{addr}: timed out");
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    if deadline.expired() || last.ends_with("timed out") {
        return Err(SshError::TimedOut {
            step: format!("connecting to {}", target.described),
        });
    }
    Err(SshError::Connect {
        target: target.described.clone(),
        reason: last,
    })
}
