//! The ping tie-breaker (heartbeat's `ping` nodes): ICMP echo requests to every target
//! each `ping-interval`; a target is alive while its last reply is younger than
//! `ping-deadtime`, and the answer is "every target answered recently".
//!
//! Sockets: a raw ICMP socket (root or CAP_NET_RAW) or, failing that, an unprivileged
//! ICMP datagram socket (`net.ipv4.ping_group_range`). Packet building, parsing and the
//! liveness book are pure; [`Pinger`] runs the sockets on tokio tasks.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockProtocol, SockType};
use tokio::net::UdpSocket;

use crate::node::config::PingConfig;

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
/// ICMP header (8) + our token (8) + a marker.
const PAYLOAD_MARK: &[u8; 8] = b"palisade";

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: type, code, checksum, identifier, sequence, then our marker and
/// `token` (this daemon's incarnation: replies to anyone else's pings are ignored). The
/// kernel fills in ICMPv6 checksums itself.
pub fn echo_request(v6: bool, ident: u16, seq: u16, token: u64) -> Vec<u8> {
    let mut p = vec![if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 }, 0, 0, 0];
    p.extend_from_slice(&ident.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(PAYLOAD_MARK);
    p.extend_from_slice(&token.to_be_bytes());
    if !v6 {
        let sum = checksum(&p);
        p[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    p
}

/// The sequence number of an echo reply to one of our requests, if `packet` is one.
/// `ip_header`: raw IPv4 sockets deliver the IP header too. `ident`: checked on raw
/// sockets (datagram sockets get only their own replies, with an identifier the kernel
/// chose).
pub fn parse_reply(
    packet: &[u8],
    v6: bool,
    ip_header: bool,
    ident: Option<u16>,
    token: u64,
) -> Option<u16> {
    let icmp = if ip_header {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    } else {
        packet
    };
    let want = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp.len() < 24 || icmp[0] != want || icmp[1] != 0 {
        return None;
    }
    if ident.is_some_and(|id| u16::from_be_bytes([icmp[4], icmp[5]]) != id) {
        return None;
    }
    if &icmp[8..16] != PAYLOAD_MARK || icmp[16..24] != token.to_be_bytes() {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// When each target last answered (pure).
#[derive(Debug, Clone)]
pub struct PingBook {
    targets: Vec<IpAddr>,
    last: Vec<Option<Instant>>,
    deadtime: Duration,
}

impl PingBook {
    pub fn new(targets: Vec<IpAddr>, deadtime: Duration) -> PingBook {
        let last = vec![None; targets.len()];
        PingBook {
            targets,
            last,
            deadtime,
        }
    }

    /// A reply from `from` arrived at `now` (ignored if `from` is not a target).
    pub fn reply(&mut self, from: IpAddr, now: Instant) {
        for (t, last) in self.targets.iter().zip(self.last.iter_mut()) {
            if *t == from {
                *last = Some(now);
            }
        }
    }

    /// Targets without a reply within the deadtime at `now` (empty: every one answers).
    pub fn silent(&self, now: Instant) -> Vec<IpAddr> {
        self.targets
            .iter()
            .zip(&self.last)
            .filter(|(_, last)| {
                !last.is_some_and(|at| now.saturating_duration_since(at) < self.deadtime)
            })
            .map(|(t, _)| *t)
            .collect()
    }
}

/// Why pinging cannot start.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    /// Neither a raw nor a datagram ICMP socket could be opened.
    #[error("cannot open an ICMP{} socket (raw: {raw}; datagram: {dgram}); run as root or allow ping sockets (sysctl net.ipv4.ping_group_range)", if *.v6 { "v6" } else { "" })]
    Socket {
        v6: bool,
        raw: nix::Error,
        dgram: nix::Error,
    },
    /// The socket could not be handed to the runtime.
    #[error("ICMP socket: {0}")]
    Register(std::io::Error),
}

/// The ICMP socket of one family: raw if allowed, else datagram.
fn open(v6: bool) -> Result<(UdpSocket, bool), PingError> {
    let (family, proto) = if v6 {
        (AddressFamily::Inet6, SockProtocol::IcmpV6)
    } else {
        (AddressFamily::Inet, SockProtocol::Icmp)
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let (fd, raw): (OwnedFd, bool) = match socket(family, SockType::Raw, flags, proto) {
        Ok(fd) => (fd, true),
        Err(raw) => match socket(family, SockType::Datagram, flags, proto) {
            Ok(fd) => (fd, false),
            Err(dgram) => return Err(PingError::Socket { v6, raw, dgram }),
        },
    };
    // An ICMP socket is a datagram socket as far as sendto/recvfrom go.
    let socket = UdpSocket::from_std(std::net::UdpSocket::from(fd)).map_err(PingError::Register)?;
    Ok((socket, raw))
}

/// Pings the targets in the background; [`Pinger::silent`] says who did not answer.
#[derive(Debug, Clone)]
pub struct Pinger {
    book: Arc<Mutex<PingBook>>,
}

impl Pinger {
    /// Open the sockets and start pinging (inside a tokio runtime). `token` tells our
    /// replies from other daemons' (the incarnation).
    pub fn start(cfg: &PingConfig, token: u64) -> Result<Pinger, PingError> {
        let book = Arc::new(Mutex::new(PingBook::new(cfg.targets.clone(), cfg.deadtime)));
        let ident = (std::process::id() & 0xffff) as u16;
        for v6 in [false, true] {
            let targets: Vec<IpAddr> = cfg
                .targets
                .iter()
                .copied()
                .filter(|t| t.is_ipv6() == v6)
                .collect();
            if targets.is_empty() {
                continue;
            }
            let (socket, raw) = open(v6)?;
            let socket = Arc::new(socket);
            let sender = Arc::clone(&socket);
            let interval = cfg.interval;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut seq: u16 = 0;
                loop {
                    tick.tick().await;
                    seq = seq.wrapping_add(1);
                    let packet = echo_request(v6, ident, seq, token);
                    for t in &targets {
                        // An unreachable target just stays silent.
                        let _ = sender.send_to(&packet, SocketAddr::new(*t, 0)).await;
                    }
                }
            });
            let book = Arc::clone(&book);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                        tokio::task::yield_now().await;
                        continue;
                    };
                    let ip_header = raw && !v6;
                    let id = raw.then_some(ident);
                    if parse_reply(&buf[..len], v6, ip_header, id, token).is_some() {
                        if let Ok(mut b) = book.lock() {
                            b.reply(from.ip(), Instant::now());
                        }
                    }
                }
            });
        }
        Ok(Pinger { book })
    }

    /// Targets that did not answer within the deadtime (empty: all answer).
    pub fn silent(&self, now: Instant) -> Vec<IpAddr> {
        match self.book.lock() {
            Ok(b) => b.silent(now),
            Err(poisoned) => poisoned.into_inner().silent(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_as_rfc_1071() {
        // The example of RFC 1071 section 3: sum 0xddf2, checksum its complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        let p = echo_request(false, 7, 9, 42);
        assert_eq!(checksum(&p), 0, "a packet with its checksum sums to zero");
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    /// Turn our request into the reply a host would send.
    fn reply_to(request: &[u8], v6: bool) -> Vec<u8> {
        let mut r = request.to_vec();
        r[0] = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
        r
    }

    #[test]
    fn replies_are_matched_by_identifier_and_token() {
        let req = echo_request(false, 0x1234, 5, 99);
        let rep = reply_to(&req, false);
        assert_eq!(parse_reply(&rep, false, false, Some(0x1234), 99), Some(5));
        assert_eq!(parse_reply(&rep, false, false, None, 99), Some(5));
        assert_eq!(parse_reply(&rep, false, false, Some(0x1235), 99), None);
        assert_eq!(parse_reply(&rep, false, false, None, 98), None, "not ours");
        assert_eq!(parse_reply(&req, false, false, None, 99), None, "a request");
        // Raw IPv4 sockets see the IP header first (IHL 5 = 20 bytes here).
        let mut with_ip = vec![0x45];
        with_ip.extend_from_slice(&[0; 19]);
        with_ip.extend_from_slice(&rep);
        assert_eq!(
            parse_reply(&with_ip, false, true, Some(0x1234), 99),
            Some(5)
        );
        let v6 = reply_to(&echo_request(true, 1, 2, 3), true);
        assert_eq!(parse_reply(&v6, true, false, Some(1), 3), Some(2));
        assert_eq!(parse_reply(&v6, false, false, Some(1), 3), None);
        for junk in [&[][..], &[0x45][..], &[0x4f, 0, 0][..], &rep[..10]] {
            assert_eq!(parse_reply(junk, false, true, None, 99), None);
            assert_eq!(parse_reply(junk, false, false, None, 99), None);
        }
    }

    #[test]
    fn a_target_is_silent_until_it_answers_and_after_its_deadtime() {
        let t0 = Instant::now();
        let a: IpAddr = "10.0.0.1".parse().expect("ip");
        let b: IpAddr = "10.0.0.2".parse().expect("ip");
        let mut book = PingBook::new(vec![a, b], Duration::from_secs(2));
        assert_eq!(book.silent(t0), vec![a, b]);
        book.reply(a, t0);
        book.reply("10.9.9.9".parse().expect("ip"), t0);
        assert_eq!(book.silent(t0), vec![b]);
        book.reply(b, t0 + Duration::from_secs(1));
        assert!(book.silent(t0 + Duration::from_millis(1999)).is_empty());
        assert_eq!(book.silent(t0 + Duration::from_secs(2)), vec![a]);
    }

    #[tokio::test]
    async fn loopback_answers() {
        let cfg = PingConfig {
            targets: vec!["127.0.0.1".parse().expect("ip")],
            interval: Duration::from_millis(50),
            deadtime: Duration::from_secs(2),
        };
        let pinger = match Pinger::start(&cfg, 7) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("NOTICE: no ICMP socket here, ping test skipped: {e}");
                return;
            }
        };
        let mut answered = false;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if pinger.silent(Instant::now()).is_empty() {
                answered = true;
                break;
            }
        }
        assert!(answered, "127.0.0.1 never answered");
    }
}
