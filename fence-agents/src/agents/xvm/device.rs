//! [`XvmDevice`]: the [`PowerDevice`] of fence_xvm. Each operation is one exchange with
//! fence_virtd: bind the TCP port, send the signed request to the multicast group from
//! every IPv4 address of this host (as ClusterLabs does; there is no interface option),
//! resend every `retrans` until the daemon connects back, then the challenge-response both
//! ways and the result byte (and the host list after 253). Bounded by the operation's
//! deadline and `--timeout`; never a hang.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::wire::{self, Hash, Host, Op, Request, BLOCK, HOST_LEN};
use crate::agents::ipmi::crypto::{random_bytes, same_bytes};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::log::{AgentLog, Level, LogSink};

/// Multicast TTL of requests (ClusterLabs' default).
const TTL: u32 = 4;
/// Most host list records read (a host with more domains is not plausible).
const MAX_HOSTS: usize = 4096;

/// How requests reach fence_virtd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// fence_xvm: to the multicast group; the daemon connects back.
    Multicast(Ipv4Addr),
    /// fence_virt `-T`: a connection to the daemon's TCP listener.
    Tcp(Ipv4Addr),
}

/// Everything an exchange needs.
#[derive(Clone)]
pub struct XvmConfig {
    pub transport: Transport,
    pub port: u16,
    pub hash: Hash,
    pub auth: Hash,
    pub key: Vec<u8>,
    pub uuid: bool,
    /// Resend interval.
    pub retrans: Duration,
    /// Bound of one whole exchange.
    pub timeout: Duration,
}

impl std::fmt::Debug for XvmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XvmConfig")
            .field("transport", &self.transport)
            .field("port", &self.port)
            .field("hash", &self.hash)
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// What one exchange answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Result(u8),
    Hosts(Vec<Host>),
}

/// Guests of the fence_virtd instances listening on the group.
pub struct XvmDevice {
    config: XvmConfig,
    deadline: Deadline,
    hosts: Option<Vec<Host>>,
    /// Plugs known to exist (the daemon read them running, or listed them).
    confirmed: Vec<String>,
    log: AgentLog,
}

fn io_lost(what: &str, e: std::io::Error) -> DeviceError {
    if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ) {
        DeviceError::TimedOut(format!("{what}: no answer from fence_virtd"))
    } else {
        DeviceError::ConnectionLost(format!("{what}: {e}"))
    }
}

/// This host's IPv4 addresses (every interface that is up), as ClusterLabs sends from.
fn ipv4_addresses() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs; we
    // only read the entries while the list lives.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0;
            if up
                && !ifa.ifa_addr.is_null()
                && i32::from((*ifa.ifa_addr).sa_family) == libc::AF_INET
            {
                let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// Block until `listener` has a connection to accept or `wait` has passed (poll(2): no
/// busy loop, no sleep granularity added to the exchange).
fn wait_readable(listener: &TcpListener, wait: Duration) {
    let mut fds = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = i32::try_from(wait.as_millis().max(1)).unwrap_or(i32::MAX);
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe {
        libc::poll(&mut fds, 1, ms);
    }
}

/// A UDP socket that sends multicast out of the interface holding `addr`.
fn sender(addr: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let sock = UdpSocket::bind(SocketAddrV4::new(addr, 0))?;
    sock.set_multicast_ttl_v4(TTL)?;
    let via = libc::in_addr {
        s_addr: u32::from(addr).to_be(),
    };
    // SAFETY: IP_MULTICAST_IF takes a struct in_addr; we pass one of the right size.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&via as *const libc::in_addr).cast(),
            std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(sock)
}

impl XvmDevice {
    pub fn new(config: XvmConfig, log: AgentLog) -> XvmDevice {
        XvmDevice {
            config,
            deadline: Deadline::NONE,
            hosts: None,
            confirmed: Vec::new(),
            log,
        }
    }

    /// One request/answer exchange.
    fn exchange(&mut self, op: Op, domain: &str) -> Result<Answer, DeviceError> {
        let end = Deadline::after(self.config.timeout).min(self.deadline);
        match self.config.transport {
            Transport::Multicast(group) => self.multicast(group, op, domain, end),
            Transport::Tcp(addr) => self.connected(addr, op, domain, end),
        }
    }

    /// fence_virt's TCP mode: connect, send the request, then the same exchange.
    fn connected(
        &mut self,
        addr: Ipv4Addr,
        op: Op,
        domain: &str,
        end: Deadline,
    ) -> Result<Answer, DeviceError> {
        let c = self.config.clone();
        let target = SocketAddrV4::new(addr, c.port);
        let random = random_bytes::<6>().map_err(|e| io_lost("/dev/urandom", e))?;
        let seqno = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros());
        let packet = Request {
            op,
            hash: c.hash,
            domain: domain.to_string(),
            uuid: c.uuid,
            address: None,
            port: 0,
            random,
            seqno,
        }
        .encode(&c.key)
        .map_err(|e| DeviceError::NoSuchPlug(e.to_string()))?;
        let wait = end.remaining().unwrap_or(c.timeout);
        if wait.is_zero() {
            return Err(DeviceError::TimedOut("no time left for the request".into()));
        }
        let mut stream = TcpStream::connect_timeout(&target.into(), wait).map_err(|e| {
            DeviceError::ConnectionLost(format!("cannot connect to fence_virtd at {target}: {e}"))
        })?;
        stream
            .set_write_timeout(Some(wait))
            .map_err(|e| io_lost("socket", e))?;
        stream
            .write_all(&packet)
            .map_err(|e| io_lost("request", e))?;
        self.talk(stream, end)
    }

    /// fence_xvm: multicast the request, wait for the daemon to connect back.
    fn multicast(
        &mut self,
        group: Ipv4Addr,
        op: Op,
        domain: &str,
        end: Deadline,
    ) -> Result<Answer, DeviceError> {
        let c = self.config.clone();
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, c.port))
            .map_err(|e| {
                DeviceError::ConnectionLost(format!(
                    "cannot listen on TCP port {} for fence_virtd's answer: {e}",
                    c.port
                ))
            })?;
        listener
            .set_nonblocking(true)
            .map_err(|e| io_lost("listen", e))?;
        let seqno = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_micros());
        let addresses = ipv4_addresses();
        if addresses.is_empty() {
            return Err(DeviceError::ConnectionLost(
                "this host has no IPv4 address to send the request from".into(),
            ));
        }
        let stream = loop {
            for addr in &addresses {
                let random = random_bytes::<6>().map_err(|e| io_lost("/dev/urandom", e))?;
                let packet = Request {
                    op,
                    hash: c.hash,
                    domain: domain.to_string(),
                    uuid: c.uuid,
                    address: Some(*addr),
                    port: c.port,
                    random,
                    seqno,
                }
                .encode(&c.key)
                .map_err(|e| DeviceError::NoSuchPlug(e.to_string()))?;
                let sent = sender(*addr)
                    .and_then(|s| s.send_to(&packet, SocketAddrV4::new(group, c.port)));
                if let Err(e) = sent {
                    self.log
                        .log(Level::Debug, &format!("sending via {addr}: {e}"));
                }
            }
            let resend = Instant::now() + c.retrans;
            let accepted = loop {
                match listener.accept() {
                    Ok((stream, _)) => break Some(stream),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let wait = end
                            .min(Deadline::at(resend))
                            .remaining()
                            .unwrap_or(c.retrans);
                        if wait.is_zero() {
                            break None;
                        }
                        wait_readable(&listener, wait);
                    }
                    Err(e) => return Err(io_lost("accept", e)),
                }
            };
            if let Some(stream) = accepted {
                break stream;
            }
            if end.expired() {
                return Err(DeviceError::TimedOut(format!(
                    "no fence_virtd answered on {}:{} within {:.1} s (key, hash and auth must \
                     match the daemon's)",
                    group,
                    c.port,
                    c.timeout.as_secs_f64()
                )));
            }
        };
        drop(listener);
        self.talk(stream, end)
    }

    /// The authenticated part of the exchange on the daemon's connection.
    fn talk(&mut self, mut s: TcpStream, end: Deadline) -> Result<Answer, DeviceError> {
        let c = &self.config;
        let left = end
            .remaining()
            .unwrap_or(c.timeout)
            .max(Duration::from_millis(1));
        s.set_nonblocking(false).map_err(|e| io_lost("socket", e))?;
        s.set_read_timeout(Some(left))
            .map_err(|e| io_lost("socket", e))?;
        s.set_write_timeout(Some(left))
            .map_err(|e| io_lost("socket", e))?;
        if c.auth != Hash::None {
            let challenge = random_bytes::<BLOCK>().map_err(|e| io_lost("/dev/urandom", e))?;
            s.write_all(&challenge)
                .map_err(|e| io_lost("challenge", e))?;
            let mut response = [0u8; BLOCK];
            s.read_exact(&mut response)
                .map_err(|e| io_lost("challenge response", e))?;
            if !same_bytes(&response, &c.auth.keyed(&c.key, &challenge)) {
                return Err(DeviceError::LoginDenied(
                    "fence_virtd's response to our challenge is wrong (another key, or \
                     another auth hash)"
                        .into(),
                ));
            }
            let mut theirs = [0u8; BLOCK];
            s.read_exact(&mut theirs)
                .map_err(|e| io_lost("daemon's challenge", e))?;
            s.write_all(&c.auth.keyed(&c.key, &theirs))
                .map_err(|e| io_lost("response", e))?;
        }
        let mut result = [0u8; 1];
        s.read_exact(&mut result).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => DeviceError::LoginDenied(
                "fence_virtd closed the connection: it refused our response (another key, \
                 or another auth hash)"
                    .into(),
            ),
            _ => io_lost("result", e),
        })?;
        if result[0] != wire::RESP_HOSTLIST {
            return Ok(Answer::Result(result[0]));
        }
        let mut hosts = Vec::new();
        for _ in 0..MAX_HOSTS {
            let mut record = [0u8; HOST_LEN];
            s.read_exact(&mut record)
                .map_err(|e| io_lost("host list", e))?;
            match wire::host(&record) {
                Some(h) => hosts.push(h),
                None => return Ok(Answer::Hosts(hosts)),
            }
        }
        Err(DeviceError::Protocol(format!(
            "more than {MAX_HOSTS} domains in the host list"
        )))
    }

    fn hosts(&mut self) -> Result<Vec<Host>, DeviceError> {
        if let Some(h) = &self.hosts {
            return Ok(h.clone());
        }
        match self.exchange(Op::HostList, "")? {
            Answer::Hosts(h) => {
                self.hosts = Some(h.clone());
                Ok(h)
            }
            Answer::Result(r) => Err(DeviceError::Protocol(format!(
                "fence_virtd answered {r} to a host list request"
            ))),
        }
    }

    /// The plug as the daemon knows it: an error when no domain has that name (or
    /// UUID), where fence_virtd itself would read an unknown domain as "off".
    fn known(&mut self, plug: Option<&str>) -> Result<String, DeviceError> {
        let plug = plug.unwrap_or_default().to_string();
        if self.confirmed.contains(&plug) {
            return Ok(plug);
        }
        let uuid = self.config.uuid;
        let found = self.hosts()?.iter().any(|h| {
            if uuid {
                h.uuid.eq_ignore_ascii_case(&plug)
            } else {
                h.domain == plug || h.uuid.eq_ignore_ascii_case(&plug)
            }
        });
        if found {
            self.confirmed.push(plug.clone());
            Ok(plug)
        } else {
            Err(DeviceError::NoSuchPlug(plug))
        }
    }

    fn command(&mut self, op: Op, plug: Option<&str>) -> Result<(), DeviceError> {
        let plug = self.known(plug)?;
        match self.exchange(op, &plug)? {
            Answer::Result(wire::RESP_SUCCESS) => Ok(()),
            Answer::Result(wire::RESP_PERM) => Err(DeviceError::InsufficientPrivilege(format!(
                "fence_virtd may not act on {plug}"
            ))),
            Answer::Result(wire::RESP_FAIL) => Err(DeviceError::Protocol(format!(
                "fence_virtd reports that {op:?} of {plug} failed"
            ))),
            other => Err(DeviceError::Protocol(format!(
                "fence_virtd could not {op:?} {plug} (answer {other:?})"
            ))),
        }
    }
}

impl PowerDevice for XvmDevice {
    /// One status exchange; only an "off" answer costs a host list too (the daemon says
    /// "off" for a domain it does not know), once per plug and run.
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let plug = plug.unwrap_or_default().to_string();
        match self.exchange(Op::Status, &plug)? {
            Answer::Result(wire::RESP_SUCCESS) => {
                if !self.confirmed.contains(&plug) {
                    self.confirmed.push(plug);
                }
                Ok(PowerState::On)
            }
            Answer::Result(wire::RESP_OFF) => self.known(Some(&plug)).map(|_| PowerState::Off),
            other => Err(DeviceError::Protocol(format!(
                "fence_virtd could not read the state of {plug} (answer {other:?})"
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let op = match to {
            PowerState::On => Op::On,
            PowerState::Off => Op::Off,
        };
        self.command(op, plug)
    }

    /// fence_virtd's own reboot (destroy, then start).
    fn power_cycle(&mut self, plug: Option<&str>) -> Result<(), DeviceError> {
        self.command(Op::Reboot, plug)
    }

    fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        self.hosts = None;
        Ok(self
            .hosts()?
            .into_iter()
            .map(|h| Plug {
                id: h.domain,
                alias: h.uuid,
            })
            .collect())
    }
}
