//! ICMP echo ("ping") without the `ping` binary: a series of echo requests to one
//! address, counting the replies that come back in time.
//!
//! Socket: first an unprivileged ICMP datagram socket (`socket(AF_INET, SOCK_DGRAM,
//! IPPROTO_ICMP)`, allowed when the caller's group is in `net.ipv4.ping_group_range`; the
//! kernel picks the identifier and hands this socket only its own replies), else a raw
//! ICMP socket (needs CAP_NET_RAW: root, as under pacemaker-fenced), where replies of
//! every process arrive and ours are told apart by identifier, sequence and a per-run
//! token in the payload. IPv4 and IPv6 (ICMPv6 echo, checksum done by the kernel).
//!
//! Timing as `ping -c COUNT -i INTERVAL -W TIMEOUT`: request `k` leaves at `k * interval`,
//! and its reply counts when it arrives within `timeout` of that request; the whole probe
//! is over after `(count - 1) * interval + timeout` at the latest.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// What to send and how long to wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub count: u32,
    pub interval: Duration,
    pub timeout: Duration,
}

/// Why no probe could be made at all (as ClusterLabs' "failed on OS level").
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IcmpError {
    #[error("cannot open an ICMP socket (datagram: {dgram}; raw: {raw})")]
    Socket { dgram: String, raw: String },
    #[error("cannot send an echo request to {addr}: {reason}")]
    Send { addr: IpAddr, reason: String },
}

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;

/// An open ICMP socket for one address family.
struct Socket {
    fd: libc::c_int,
    /// Raw sockets see every ICMP packet (IPv4 ones with their IP header).
    raw: bool,
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this struct owns, once.
        unsafe { libc::close(self.fd) };
    }
}

fn last_os_error() -> String {
    std::io::Error::last_os_error().to_string()
}

impl Socket {
    fn open(v6: bool) -> Result<Socket, IcmpError> {
        let (domain, proto) = if v6 {
            (libc::AF_INET6, libc::IPPROTO_ICMPV6)
        } else {
            (libc::AF_INET, libc::IPPROTO_ICMP)
        };
        let flags = libc::SOCK_CLOEXEC;
        // SAFETY: plain socket(2) calls; the descriptor is owned by the returned Socket.
        let fd = unsafe { libc::socket(domain, libc::SOCK_DGRAM | flags, proto) };
        if fd >= 0 {
            return Ok(Socket { fd, raw: false });
        }
        let dgram = last_os_error();
        // SAFETY: as above.
        let fd = unsafe { libc::socket(domain, libc::SOCK_RAW | flags, proto) };
        if fd >= 0 {
            return Ok(Socket { fd, raw: true });
        }
        Err(IcmpError::Socket {
            dgram,
            raw: last_os_error(),
        })
    }

    fn send_to(&self, packet: &[u8], addr: IpAddr) -> Result<(), String> {
        let (storage, len) = sockaddr(SocketAddr::new(addr, 0));
        // SAFETY: packet and storage outlive the call; len is the size of the address.
        let n = unsafe {
            libc::sendto(
                self.fd,
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&storage as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if n < 0 {
            return Err(last_os_error());
        }
        Ok(())
    }

    /// Wait up to `wait` for one packet; `None` on timeout.
    fn recv(&self, wait: Duration, buf: &mut [u8]) -> Option<(usize, Option<IpAddr>)> {
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = wait.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
        // SAFETY: one pollfd we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready <= 0 {
            return None;
        }
        // SAFETY: zeroed storage is a valid sockaddr_storage.
        let mut from: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buf and from are ours and sized by the lengths given.
        let n = unsafe {
            libc::recvfrom(
                self.fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut from as *mut libc::sockaddr_storage).cast(),
                &mut from_len,
            )
        };
        if n < 0 {
            return Some((0, None));
        }
        Some((n as usize, source(&from)))
    }
}

fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: zeroed storage is a valid sockaddr_storage; we fill one variant of it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            (storage, std::mem::size_of::<libc::sockaddr_in>() as _)
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            (storage, std::mem::size_of::<libc::sockaddr_in6>() as _)
        }
    }
}

fn source(from: &libc::sockaddr_storage) -> Option<IpAddr> {
    match from.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let sin: libc::sockaddr_in =
                unsafe { std::ptr::read((from as *const libc::sockaddr_storage).cast()) };
            Some(IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes()))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let sin6: libc::sockaddr_in6 =
                unsafe { std::ptr::read((from as *const libc::sockaddr_storage).cast()) };
            Some(IpAddr::from(sin6.sin6_addr.s6_addr))
        }
        _ => None,
    }
}

/// The Internet checksum (RFC 1071).
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An echo request: type, code 0, checksum, identifier, sequence, then the token.
pub fn echo_request(v6: bool, id: u16, seq: u16, token: &[u8; 8]) -> Vec<u8> {
    let mut p = vec![if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 }, 0, 0, 0];
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(token);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// The sequence number of `packet` if it is a reply to one of our requests: echo reply
/// type, our token, and (raw sockets) our identifier. IPv4 raw packets start with the IP
/// header, which is skipped.
pub fn our_reply(packet: &[u8], v6: bool, raw: bool, id: u16, token: &[u8; 8]) -> Option<u16> {
    let icmp = if raw && !v6 {
        let ihl = usize::from(packet.first()? & 0x0f) * 4;
        packet.get(ihl..)?
    } else {
        packet
    };
    let reply = if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 };
    if icmp.len() < 16 || icmp[0] != reply || icmp[1] != 0 || &icmp[8..16] != token {
        return None;
    }
    if raw && icmp[4..6] != id.to_be_bytes() {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

/// Send `probe.count` echo requests to `addr`; the number answered in time.
pub fn ping(addr: IpAddr, probe: Probe) -> Result<u32, IcmpError> {
    let v6 = addr.is_ipv6();
    let socket = Socket::open(v6)?;
    let id = (std::process::id() & 0xffff) as u16;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let token = (nanos ^ (u64::from(std::process::id()) << 32)).to_be_bytes();
    let start = Instant::now();
    let count = probe.count.min(u32::from(u16::MAX));
    let mut sent_at: Vec<Instant> = Vec::with_capacity(count as usize);
    let mut answered = vec![false; count as usize];
    let mut buf = [0u8; 1500];
    loop {
        let now = Instant::now();
        let sent = sent_at.len() as u32;
        if sent < count && now >= start + probe.interval * sent {
            let packet = echo_request(v6, id, sent as u16, &token);
            socket
                .send_to(&packet, addr)
                .map_err(|reason| IcmpError::Send { addr, reason })?;
            sent_at.push(Instant::now());
            continue;
        }
        if sent == count && answered.iter().all(|a| *a) {
            break;
        }
        // Wait for a reply until the next request is due or the last one's time is up.
        let last_wait = sent_at.last().map(|t| *t + probe.timeout);
        let next_send = (sent < count).then(|| start + probe.interval * sent);
        let until = match (next_send, last_wait) {
            (Some(n), _) => n,
            (None, Some(l)) => l,
            (None, None) => break,
        };
        if now >= until && next_send.is_none() {
            break;
        }
        let Some((n, from)) = socket.recv(until.saturating_duration_since(now), &mut buf) else {
            continue;
        };
        if from.is_some_and(|f| f != addr) {
            continue;
        }
        if let Some(seq) = our_reply(&buf[..n], v6, socket.raw, id, &token) {
            let i = usize::from(seq);
            if let (Some(sent), Some(done)) = (sent_at.get(i), answered.get_mut(i)) {
                if Instant::now() <= *sent + probe.timeout {
                    *done = true;
                }
            }
        }
    }
    Ok(answered.iter().filter(|a| **a).count() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_request_verifies_to_zero() {
        let p = echo_request(false, 0x1234, 7, b"abcdefgh");
        assert_eq!(checksum(&p), 0);
        assert_eq!(&p[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn replies_are_matched_by_type_token_and_raw_identifier() {
        let token = *b"12345678";
        let mut reply = echo_request(false, 9, 3, &token);
        reply[0] = ECHO_REPLY_V4;
        assert_eq!(our_reply(&reply, false, false, 1, &token), Some(3));
        assert_eq!(our_reply(&reply, false, true, 1, &token), None, "other id");
        let mut with_ip = vec![0x45u8; 20];
        with_ip.extend_from_slice(&reply);
        assert_eq!(our_reply(&with_ip, false, true, 9, &token), Some(3));
        assert_eq!(our_reply(&reply, false, false, 9, b"otherTok"), None);
        let request = echo_request(false, 9, 3, &token);
        assert_eq!(our_reply(&request, false, false, 9, &token), None);
        assert_eq!(our_reply(&reply[..10], false, false, 9, &token), None);
    }
}
