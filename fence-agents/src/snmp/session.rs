//! An SNMP manager session with one agent over one UDP socket: v1/v2c communities or
//! v3 USM (engine discovery, localised keys, digests, privacy, time-window resync),
//! and the GET, SET and WALK (GETNEXT for v1, GETBULK otherwise) operations.
//!
//! Every operation ends by the [`Deadline`] it is given: a request is sent again each
//! retransmit interval until an acceptable answer arrives or the deadline passes.
//! Datagrams that are not the answer (stale retransmits, other request ids, garbage,
//! bad digests) are ignored, never trusted.

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use super::ber::Oid;
use super::message::{self, error_status, Pdu, PduType, UsmParams, Value, Version};
use crate::device::Deadline;

/// Sends of one request when the caller set no deadline at all (net-snmp: 1 + 5 retries).
const SENDS_WITHOUT_DEADLINE: u32 = 6;
/// GETBULK max-repetitions of a walk.
const BULK_REPETITIONS: i64 = 24;
/// A walk longer than this is refused (a looping or hostile agent).
const WALK_LIMIT: usize = 100_000;

/// How requests are authorised.
#[derive(Debug, Clone)]
pub enum Security {
    /// v1 or v2c with a community string.
    Community { version: Version, community: String },
    /// v3 with the User-based Security Model.
    Usm(UsmUser),
}

/// Why an SNMP operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    /// Nothing acceptable came back before the deadline (silent agents also mean a
    /// wrong community or v3 privacy password: SNMP agents drop those requests).
    #[error("no answer from {peer} within {waited:.1?} (device unreachable, or wrong community / credentials)")]
    Timeout { peer: String, waited: Duration },
    /// The address did not resolve or the socket failed.
    #[error("cannot talk to {peer}: {reason}")]
    Network { peer: String, reason: String },
    /// ICMP port unreachable: nothing listens on that port.
    #[error("{peer} refused the request (no SNMP agent on that port)")]
    Refused { peer: String },
    /// The agent's answer could not be used.
    #[error("unusable answer from the SNMP agent: {0}")]
    Malformed(String),
    /// The agent answered with an error-status.
    #[error("SNMP agent answered {name} ({status}) for {oid}")]
    Status {
        status: i64,
        name: &'static str,
        oid: Oid,
    },
    /// The object does not exist on the agent (noSuchName, noSuchObject, noSuchInstance).
    #[error("no such object {0} on the SNMP agent")]
    NoSuchObject(Oid),
    /// The agent's USM rejected us.
    #[error("SNMPv3: {0}")]
    Usm(UsmFailure),
    /// Our own settings cannot work (a passphrase too short...).
    #[error("{0}")]
    Config(String),
}

/// What an accepted datagram was.
enum Answer {
    Pdu(Pdu),
    /// v3 discovery: the engine's USM parameters.
    Discovered(UsmParams),
    /// v3 time window resynchronised: send the request again.
    Resync,
}

/// One session with one agent.
pub struct Session {
    socket: UdpSocket,
    peer: String,
    security: Security,
    engine: Option<Engine>,
    retransmit: Duration,
    next_id: i32,
    salt: u64,
    buf: Vec<u8>,
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15
}

impl Session {
    /// Open a session with `host:port`; for v3 this discovers the agent's engine and
    /// localises the keys, all before `deadline`.
    pub fn open(
        host: &str,
        port: u16,
        security: Security,
        retransmit: Duration,
        deadline: Deadline,
    ) -> Result<Session, SnmpError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let peer = format!("udp:{host}:{port}");
        let network = |e: std::io::Error| SnmpError::Network {
            peer: peer.clone(),
            reason: e.to_string(),
        };
        let addr: SocketAddr = (bare, port)
            .to_socket_addrs()
            .map_err(network)?
            .next()
            .ok_or_else(|| SnmpError::Network {
                peer: peer.clone(),
                reason: "address did not resolve".into(),
            })?;
        let local: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).map_err(network)?;
        socket.connect(addr).map_err(network)?;
        let key_jobs = match &security {
            Security::Usm(user) => Some(v3::KeyJobs::start(user)?),
            Security::Community { .. } => None,
        };
        let seed = seed();
        let mut session = Session {
            socket,
            peer,
            security,
            engine: None,
            retransmit,
            next_id: (seed & 0x3fff_ffff) as i32,
            salt: seed.rotate_left(17),
            buf: vec![0; 65536],
        };
        if let Some(jobs) = key_jobs {
            session.discover(jobs, deadline)?;
        }
        Ok(session)
    }

    /// `udp:host:port`, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    fn take_id(&mut self) -> i32 {
        self.next_id = self.next_id.wrapping_add(1) & 0x7fff_ffff;
        self.next_id
    }

    /// GET one object. A missing object is [`SnmpError::NoSuchObject`].
    pub fn get(&mut self, oid: &Oid, deadline: Deadline) -> Result<Value, SnmpError> {
        let pdu = self.exchange(PduType::Get, vec![(oid.clone(), Value::Null)], 0, deadline)?;
        if pdu.error_status == error_status::NO_SUCH_NAME {
            return Err(SnmpError::NoSuchObject(oid.clone()));
        }
        check_status(&pdu, oid)?;
        let (got, value) = pdu
            .varbinds
            .into_iter()
            .next()
            .ok_or_else(|| SnmpError::Malformed("GET answered without a value".into()))?;
        if got != *oid {
            return Err(SnmpError::Malformed(format!(
                "GET {oid} answered for {got}"
            )));
        }
        if value.is_absent() || value == Value::EndOfMibView {
            return Err(SnmpError::NoSuchObject(oid.clone()));
        }
        Ok(value)
    }

    /// SET one object. Every refusal is [`SnmpError::Status`] (v1 agents say noSuchName
    /// for a read-only community too).
    pub fn set(&mut self, oid: &Oid, value: Value, deadline: Deadline) -> Result<(), SnmpError> {
        let pdu = self.exchange(PduType::Set, vec![(oid.clone(), value)], 0, deadline)?;
        check_status(&pdu, oid)
    }

    /// Every object under `base`, in order.
    pub fn walk(&mut self, base: &Oid, deadline: Deadline) -> Result<Vec<(Oid, Value)>, SnmpError> {
        let bulk = !matches!(
            self.security,
            Security::Community {
                version: Version::V1,
                ..
            }
        );
        let mut out = Vec::new();
        let mut cursor = base.clone();
        loop {
            let request = vec![(cursor.clone(), Value::Null)];
            let pdu = if bulk {
                self.exchange(PduType::GetBulk, request, BULK_REPETITIONS, deadline)?
            } else {
                let pdu = self.exchange(PduType::GetNext, request, 0, deadline)?;
                if pdu.error_status == error_status::NO_SUCH_NAME {
                    return Ok(out); // v1: end of the MIB view
                }
                pdu
            };
            check_status(&pdu, &cursor)?;
            if pdu.varbinds.is_empty() {
                return Ok(out);
            }
            for (oid, value) in pdu.varbinds {
                if value == Value::EndOfMibView || !oid.is_under(base) {
                    return Ok(out);
                }
                if oid <= cursor {
                    return Err(SnmpError::Malformed(format!(
                        "walk of {base} went backwards at {oid}"
                    )));
                }
                cursor = oid.clone();
                out.push((oid, value));
            }
            if out.len() > WALK_LIMIT {
                return Err(SnmpError::Malformed(format!(
                    "walk of {base} returned more than {WALK_LIMIT} objects"
                )));
            }
        }
    }

    /// Send one request and return the agent's response PDU.
    fn exchange(
        &mut self,
        kind: PduType,
        varbinds: Vec<(Oid, Value)>,
        max_repetitions: i64,
        deadline: Deadline,
    ) -> Result<Pdu, SnmpError> {
        let id = self.take_id();
        let mut pdu = Pdu::request(kind, id, varbinds);
        pdu.error_index = max_repetitions;
        // A second round only after a v3 time-window resynchronisation.
        for _ in 0..2 {
            let bytes = self.encode(&pdu)?;
            match self.send_and_wait(&bytes, id, deadline)? {
                Answer::Pdu(answer) => return Ok(answer),
                Answer::Resync => continue,
                Answer::Discovered(_) => {
                    return Err(SnmpError::Usm(UsmFailure::UnknownEngineId));
                }
            }
        }
        Err(SnmpError::Usm(UsmFailure::NotInTimeWindow))
    }

    fn encode(&mut self, pdu: &Pdu) -> Result<Vec<u8>, SnmpError> {
        let user = match &self.security {
            Security::Community { version, community } => {
                return Ok(message::encode_community(
                    *version,
                    community.as_bytes(),
                    pdu,
                ));
            }
            Security::Usm(user) => user,
        };
        self.encode_v3(&user.clone(), pdu)
    }

    /// Send `bytes` every retransmit interval until an acceptable answer or the deadline.
    fn send_and_wait(
        &mut self,
        bytes: &[u8],
        id: i32,
        deadline: Deadline,
    ) -> Result<Answer, SnmpError> {
        let started = Instant::now();
        let max_sends = if deadline.instant().is_some() {
            u32::MAX
        } else {
            SENDS_WITHOUT_DEADLINE
        };
        let mut sends = 0;
        while sends < max_sends && !deadline.expired() {
            match self.socket.send(bytes) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    return Err(SnmpError::Refused {
                        peer: self.peer.clone(),
                    })
                }
                Err(e) => {
                    return Err(SnmpError::Network {
                        peer: self.peer.clone(),
                        reason: e.to_string(),
                    })
                }
            }
            sends += 1;
            let window_end = Instant::now() + deadline.bound(self.retransmit);
            loop {
                let now = Instant::now();
                if now >= window_end {
                    break;
                }
                let wait = (window_end - now).max(Duration::from_millis(1));
                let _ = self.socket.set_read_timeout(Some(wait));
                let mut buf = std::mem::take(&mut self.buf);
                let verdict = match self.socket.recv(&mut buf) {
                    Ok(n) => Ok(self.accept(&buf[..n], id)),
                    Err(e) => Err(e),
                };
                self.buf = buf;
                match verdict {
                    Ok(Some(Ok(answer))) => return Ok(answer),
                    Ok(Some(Err(failure))) => return Err(failure),
                    Ok(None) => continue,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        break
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                        return Err(SnmpError::Refused {
                            peer: self.peer.clone(),
                        })
                    }
                    Err(e) => {
                        return Err(SnmpError::Network {
                            peer: self.peer.clone(),
                            reason: e.to_string(),
                        })
                    }
                }
            }
        }
        Err(SnmpError::Timeout {
            peer: self.peer.clone(),
            waited: started.elapsed(),
        })
    }

    /// Judge one datagram: `None` = not our answer (ignored), `Some(Err)` = the agent
    /// refused us (USM report).
    fn accept(&mut self, datagram: &[u8], id: i32) -> Option<Result<Answer, SnmpError>> {
        let user = match &self.security {
            Security::Community { version, community } => {
                let (v, c, pdu) = message::decode_community(datagram).ok()?;
                let ours = v == *version as i64
                    && c == community.as_bytes()
                    && pdu.kind == PduType::Response
                    && pdu.request_id == id;
                return ours.then_some(Ok(Answer::Pdu(pdu)));
            }
            Security::Usm(user) => user.clone(),
        };
        self.accept_v3(datagram, id, &user)
    }
}

fn check_status(pdu: &Pdu, oid: &Oid) -> Result<(), SnmpError> {
    if pdu.error_status == error_status::NO_ERROR {
        return Ok(());
    }
    // error-index is 1-based into the request's varbinds; we send one at a time.
    Err(SnmpError::Status {
        status: pdu.error_status,
        name: error_status::name(pdu.error_status),
        oid: oid.clone(),
    })
}

mod v3;

#[cfg(test)]
use v3::classify_report;
use v3::Engine;
pub use v3::{SecurityLevel, UsmFailure, UsmUser};

#[cfg(test)]
mod tests;
