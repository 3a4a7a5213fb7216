//! The kdump "I am dumping" message and the wait for it.
//!
//! Message (ClusterLabs `fence_kdump_send`, checked on the wire): one UDP datagram of 8
//! bytes, two u32 in the sender's byte order (little-endian on x86): magic 0x1B302A40,
//! version 1 — `40 2a 30 1b 01 00 00 00`. No authentication: the only check is the
//! datagram's source address, which must be one of the node's.
//!
//! The wait binds the wildcard address of each family the node's addresses use (IPv4
//! `0.0.0.0:PORT`, IPv6 `[::]:PORT` as v6-only, so both can be bound at once), and ends
//! at the first well-formed version-1 message from a node address, or at the deadline.
//! Anything else is discarded and logged at debug level.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::{Duration, Instant};

/// Magic of a fence_kdump message.
pub const MAGIC: u32 = 0x1B30_2A40;
/// The only message version there is.
pub const VERSION: u32 = 1;

/// A datagram as the sender writes it (native byte order, as the C sender does).
pub fn encode(magic: u32, version: u32) -> [u8; 8] {
    let mut m = [0u8; 8];
    m[..4].copy_from_slice(&magic.to_ne_bytes());
    m[4..].copy_from_slice(&version.to_ne_bytes());
    m
}

/// What a received datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A valid message from the node: it is dumping.
    Valid,
    /// From an address that is not the node's.
    Stranger,
    /// Shorter than a message.
    Short(usize),
    /// Wrong magic.
    BadMagic(u32),
    /// Right magic, unknown version.
    BadVersion(u32),
}

/// Judge one datagram from `from` against the node's addresses.
pub fn judge(data: &[u8], from: IpAddr, node: &[IpAddr]) -> Verdict {
    let from = unmap(from);
    if !node.iter().any(|a| unmap(*a) == from) {
        return Verdict::Stranger;
    }
    if data.len() < 8 {
        return Verdict::Short(data.len());
    }
    let word = |i: usize| u32::from_ne_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
    match (word(0), word(4)) {
        (MAGIC, VERSION) => Verdict::Valid,
        (MAGIC, v) => Verdict::BadVersion(v),
        (m, _) => Verdict::BadMagic(m),
    }
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) as the IPv4 address.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// Bind the UDP wildcard address of `v6`'s family on `port` (IPv6 sockets v6-only).
pub fn bind(v6: bool, port: u16) -> std::io::Result<UdpSocket> {
    if !v6 {
        return UdpSocket::bind(SocketAddr::from(([0u8; 4], port)));
    }
    // SAFETY: socket(2); the descriptor is owned by the UdpSocket built from it below
    // (or closed on the error paths).
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: we own fd; from here the UdpSocket closes it.
    let socket = unsafe { UdpSocket::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // SAFETY: a c_int option value of the right size on our socket.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: zeroed sockaddr_in6 is valid; family and port filled in, address ::.
    let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = port.to_be();
    // SAFETY: binding our socket to the sockaddr_in6 above, with its size.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&sin6 as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(socket)
}

/// Wait on `sockets` until a valid message from one of `node` arrives (`Ok(Some(from))`)
/// or `deadline` passes (`Ok(None)`). Every discarded datagram is reported to `discard`.
pub fn wait(
    sockets: &[UdpSocket],
    node: &[IpAddr],
    deadline: Instant,
    discard: &mut dyn FnMut(IpAddr, Verdict),
) -> std::io::Result<Option<IpAddr>> {
    let mut fds: Vec<libc::pollfd> = sockets
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buf = [0u8; 64];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let ms = left
            .max(Duration::from_millis(1))
            .as_millis()
            .min(i32::MAX as u128) as libc::c_int;
        for f in fds.iter_mut() {
            f.revents = 0;
        }
        // SAFETY: fds is a live array of pollfd of the length given.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for (f, socket) in fds.iter().zip(sockets) {
            if f.revents & libc::POLLIN == 0 {
                continue;
            }
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            match judge(&buf[..n], from.ip(), node) {
                Verdict::Valid => return Ok(Some(unmap(from.ip()))),
                other => discard(unmap(from.ip()), other),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_message_bytes_are_those_on_the_wire() {
        if cfg!(target_endian = "little") {
            assert_eq!(encode(MAGIC, VERSION), [0x40, 0x2a, 0x30, 0x1b, 1, 0, 0, 0]);
        }
    }

    #[test]
    fn only_a_version_one_message_from_the_node_counts() {
        let node = [ip("10.0.0.1"), ip("fd00::1")];
        let good = encode(MAGIC, VERSION);
        assert_eq!(judge(&good, ip("10.0.0.1"), &node), Verdict::Valid);
        assert_eq!(judge(&good, ip("fd00::1"), &node), Verdict::Valid);
        assert_eq!(judge(&good, ip("::ffff:10.0.0.1"), &node), Verdict::Valid);
        assert_eq!(judge(&good, ip("10.0.0.2"), &node), Verdict::Stranger);
        assert_eq!(
            judge(&encode(0xdead_beef, 1), ip("10.0.0.1"), &node),
            Verdict::BadMagic(0xdead_beef)
        );
        assert_eq!(
            judge(&encode(MAGIC, 2), ip("10.0.0.1"), &node),
            Verdict::BadVersion(2)
        );
        assert_eq!(judge(&good[..5], ip("10.0.0.1"), &node), Verdict::Short(5));
    }

    #[test]
    fn wait_skips_strangers_and_bad_messages_then_takes_the_node() {
        let socket = bind(false, 0).unwrap();
        let port = socket.local_addr().unwrap().port();
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        sender.send_to(&encode(MAGIC, 7), to).unwrap();
        sender.send_to(&encode(1, 1), to).unwrap();
        sender.send_to(&encode(MAGIC, VERSION), to).unwrap();
        let mut seen = Vec::new();
        let got = wait(
            &[socket],
            &[ip("127.0.0.1")],
            Instant::now() + Duration::from_secs(5),
            &mut |_, v| seen.push(v),
        )
        .unwrap();
        assert_eq!(got, Some(ip("127.0.0.1")));
        assert_eq!(seen, [Verdict::BadVersion(7), Verdict::BadMagic(1)]);
        let quiet = bind(false, 0).unwrap();
        let none = wait(&[quiet], &[ip("127.0.0.1")], Instant::now(), &mut |_, _| {}).unwrap();
        assert_eq!(none, None);
    }
}
