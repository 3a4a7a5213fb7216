//! Multicast sockets of a ring (heartbeat's `mcast dev group port ttl loop`): the
//! receiving socket bound to the group and port, joined on the interface that holds this
//! node's ring address, and the sending options of the ring's unicast socket (outgoing
//! interface, TTL, loop). Sending through the unicast socket keeps the source address
//! the node's ring address, which is what receivers check datagrams against.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType};
use tokio::net::UdpSocket;

use super::config::Multicast;

/// Why a multicast socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MulticastError {
    /// A socket call failed.
    #[error("multicast group {group}:{port} on {interface}: {step}: {source}")]
    Socket {
        group: Ipv4Addr,
        port: u16,
        interface: Ipv4Addr,
        step: &'static str,
        source: std::io::Error,
    },
}

fn step_error(
    m: &Multicast,
    interface: Ipv4Addr,
    step: &'static str,
) -> impl FnOnce(std::io::Error) -> MulticastError {
    let (group, port) = (m.group, m.port);
    move |source| MulticastError::Socket {
        group,
        port,
        interface,
        step,
        source,
    }
}

/// Set IP_MULTICAST_IF to `interface` (the address of the outgoing interface).
fn set_multicast_if(fd: &impl AsRawFd, interface: Ipv4Addr) -> std::io::Result<()> {
    let addr = libc::in_addr {
        s_addr: u32::from_ne_bytes(interface.octets()),
    };
    // SAFETY: setsockopt(2) with a valid fd, a pointer to an in_addr that lives for the
    // whole call and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&addr as *const libc::in_addr).cast(),
            std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// bind(2) `fd` to `addr`.
fn bind_v4(fd: &impl AsRawFd, addr: SocketAddrV4) -> std::io::Result<()> {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.ip().octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: bind(2) with a valid fd and a pointer to a sockaddr_in that lives for the
    // whole call, with its exact size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Make `socket` (the ring's unicast socket, bound to `interface`) send multicast out of
/// that interface with the ring's TTL and loop setting.
pub fn prepare_sender(
    socket: &UdpSocket,
    m: &Multicast,
    interface: Ipv4Addr,
) -> Result<(), MulticastError> {
    set_multicast_if(socket, interface).map_err(step_error(m, interface, "IP_MULTICAST_IF"))?;
    socket
        .set_multicast_ttl_v4(m.ttl)
        .map_err(step_error(m, interface, "IP_MULTICAST_TTL"))?;
    socket.set_multicast_loop_v4(m.looped).map_err(step_error(
        m,
        interface,
        "IP_MULTICAST_LOOP",
    ))?;
    Ok(())
}

/// The receiving socket: bound to group:port (SO_REUSEADDR, so several nodes on one host
/// can share the group in tests), member of the group on `interface`.
pub fn receiver(m: &Multicast, interface: Ipv4Addr) -> Result<UdpSocket, MulticastError> {
    let fd: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| step_error(m, interface, "socket")(e.into()))?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)
        .map_err(|e| step_error(m, interface, "SO_REUSEADDR")(e.into()))?;
    bind_v4(&fd, SocketAddrV4::new(m.group, m.port)).map_err(step_error(m, interface, "bind"))?;
    let std_socket = std::net::UdpSocket::from(fd);
    let socket = UdpSocket::from_std(std_socket).map_err(step_error(m, interface, "register"))?;
    socket
        .join_multicast_v4(m.group, interface)
        .map_err(step_error(m, interface, "IP_ADD_MEMBERSHIP"))?;
    Ok(socket)
}

/// Where a multicast ring's datagrams are sent.
pub fn destination(m: &Multicast) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(m.group, m.port))
}
