//! One authenticated IPMI LAN session with a BMC: its state per protocol version,
//! carrying IPMI requests with retransmission, raising its privilege, and closing it
//! (also on drop, so BMC session slots are not leaked). Logging in is in `login`.
//!
//! Framing, RAKP and crypto are ours (see `wire`, `rakp`, `crypto`); ipmi-rs supplies
//! the IPMI message types and the IPMI 1.5 login command bodies. ipmi-rs's own RMCP
//! client is not used: version 0.6 has no privilege choice, only cipher suite 3, no Kg,
//! no retransmission, and panics on some malformed replies.

use std::time::Duration;

use ipmi_rs::app::auth::PrivilegeLevel;
use ipmi_rs::connection::{Message, NetFn};

use super::cipher::{CipherSuite, SUPPORTED_CIPHER_SUITES};
use super::crypto::random_bytes;
use super::transport::{Transport, Verdict};
use super::wire::{self, SessionKeys, V15Auth};
use super::{IpmiConfig, Privilege};
use crate::device::{Deadline, DeviceError};

/// App NetFn commands used here.
const CMD_SET_SESSION_PRIVILEGE: u8 = 0x3B;
const CMD_CLOSE_SESSION: u8 = 0x3C;
/// How long closing a session may wait for the BMC's answer.
const CLOSE_WAIT: Duration = Duration::from_millis(500);
/// Longest user name (both versions) and passwords (1.5 / 2.0).
const MAX_USER: usize = 16;
const MAX_PASSWORD_V15: usize = 16;
const MAX_PASSWORD_V20: usize = 20;

/// A response to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// Completion code; 0 = success.
    pub completion: u8,
    pub data: Vec<u8>,
}

/// Session state of an IPMI 1.5 session.
pub(super) struct V15State {
    pub(super) auth: V15Auth,
    pub(super) password: [u8; 16],
    pub(super) session_id: u32,
    /// After Activate Session: sequence numbers count, the session can be closed.
    pub(super) active: bool,
    /// The BMC may answer without auth code (per-message authentication disabled).
    pub(super) accept_unauthenticated: bool,
}

/// Session state of an RMCP+ session.
pub(super) struct V20State {
    pub(super) keys: SessionKeys,
    pub(super) managed_sid: u32,
    pub(super) console_sid: u32,
}

pub(super) enum Protocol {
    V15(V15State),
    V20(V20State),
}

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password or the session keys.
        match self {
            Protocol::V15(s) => f
                .debug_struct("V15")
                .field("auth", &s.auth)
                .field("session_id", &s.session_id)
                .field("active", &s.active)
                .finish_non_exhaustive(),
            Protocol::V20(s) => f
                .debug_struct("V20")
                .field("keys", &s.keys)
                .field("managed_sid", &s.managed_sid)
                .finish_non_exhaustive(),
        }
    }
}

impl Protocol {
    /// Whether packets carry counting session sequence numbers.
    fn sequenced(&self) -> bool {
        match self {
            Protocol::V15(s) => s.active,
            Protocol::V20(_) => true,
        }
    }

    /// Wrap an IPMB message into a session packet with sequence number `seq`.
    fn packet(&self, seq: u32, ipmb: &[u8]) -> Result<Vec<u8>, DeviceError> {
        match self {
            Protocol::V15(s) => Ok(wire::v15_packet(
                s.auth,
                &s.password,
                seq,
                s.session_id,
                ipmb,
            )),
            Protocol::V20(s) => {
                let iv = if s.keys.aes.is_some() {
                    random_bytes::<16>().map_err(no_randomness)?
                } else {
                    [0u8; 16]
                };
                Ok(wire::v20_packet(
                    &s.keys,
                    wire::PAYLOAD_IPMI,
                    s.managed_sid,
                    seq,
                    ipmb,
                    iv,
                ))
            }
        }
    }

    /// The IPMB message inside a datagram of this session, if it is one.
    fn unwrap(&self, pkt: &[u8]) -> Option<Vec<u8>> {
        match self {
            Protocol::V15(s) => {
                let p = wire::parse_v15_packet(pkt, &s.password).ok()?;
                let authenticated = p.auth == s.auth
                    || (p.auth == V15Auth::None && (s.accept_unauthenticated || !s.active));
                (authenticated && (!s.active || p.session_id == s.session_id)).then_some(p.msg)
            }
            Protocol::V20(s) => {
                let p = wire::parse_v20_packet(&s.keys, pkt).ok()?;
                (p.payload_type == wire::PAYLOAD_IPMI && p.session_id == s.console_sid)
                    .then_some(p.payload)
            }
        }
    }

    fn session_id(&self) -> u32 {
        match self {
            Protocol::V15(s) => s.session_id,
            Protocol::V20(s) => s.managed_sid,
        }
    }
}

/// An IPMI session with one BMC.
#[derive(Debug)]
pub(crate) struct Session {
    pub(super) transport: Transport,
    pub(super) protocol: Protocol,
    pub(super) outbound_seq: u32,
    rq_seq: u8,
    /// Established and not yet closed.
    open: bool,
}

impl Session {
    /// Log in to the BMC of `cfg` and raise the session to the requested privilege.
    pub(crate) fn open(cfg: &IpmiConfig, deadline: Deadline) -> Result<Session, DeviceError> {
        if cfg.username.len() > MAX_USER {
            return Err(DeviceError::LoginDenied(format!(
                "user name longer than {MAX_USER} bytes"
            )));
        }
        let max_password = if cfg.lanplus {
            MAX_PASSWORD_V20
        } else {
            MAX_PASSWORD_V15
        };
        if cfg.password.len() > max_password {
            return Err(DeviceError::LoginDenied(format!(
                "password longer than {max_password} bytes"
            )));
        }
        if cfg.target.is_some_and(|t| t != wire::BMC_ADDRESS) {
            return Err(DeviceError::Unsupported("bridging requests to --target"));
        }
        if let Some(id) = cfg.cipher {
            if CipherSuite::by_id(id).is_none() {
                return Err(DeviceError::Protocol(format!(
                    "cipher suite {id} is not implemented (supported: {SUPPORTED_CIPHER_SUITES:?})"
                )));
            }
        }
        let transport = Transport::open(&cfg.host, cfg.port, cfg.retransmit, deadline)?;
        let mut session = Session {
            transport,
            protocol: Protocol::V15(V15State {
                auth: V15Auth::None,
                password: [0u8; 16],
                session_id: 0,
                active: false,
                accept_unauthenticated: true,
            }),
            outbound_seq: 0,
            rq_seq: 0,
            open: false,
        };
        if cfg.lanplus {
            session.login_v20(cfg)?;
        } else {
            session.login_v15(cfg)?;
        }
        session.open = true;
        if privilege_number(cfg.privilege) > privilege_number(Privilege::User) {
            session.raise_privilege(cfg.privilege)?;
        }
        Ok(session)
    }

    /// Send one IPMI request to the BMC and wait for its response.
    pub(crate) fn request(&mut self, message: &Message, what: &str) -> Result<Reply, DeviceError> {
        self.send_request(message, what, None)
    }

    /// [`Session::request`] with at most `max_sends` transmissions.
    pub(super) fn send_request(
        &mut self,
        message: &Message,
        what: &str,
        max_sends: Option<u32>,
    ) -> Result<Reply, DeviceError> {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let rq_seq = self.rq_seq;
        let (netfn, cmd) = (message.netfn_raw(), message.cmd());
        let ipmb = wire::ipmb_request(netfn, cmd, rq_seq, message.data());
        let Session {
            transport,
            protocol,
            outbound_seq,
            ..
        } = self;
        let protocol = &*protocol;
        transport.exchange(
            what,
            max_sends,
            &mut || {
                let seq = if protocol.sequenced() {
                    *outbound_seq = outbound_seq.wrapping_add(1).max(1);
                    *outbound_seq
                } else {
                    0
                };
                protocol.packet(seq, &ipmb)
            },
            &mut |pkt| {
                let Some(msg) = protocol.unwrap(pkt) else {
                    return Verdict::Ignore;
                };
                match wire::parse_ipmb_response(&msg) {
                    Ok(r) if r.netfn == netfn | 1 && r.cmd == cmd && r.rq_seq == rq_seq => {
                        Verdict::Done(Ok(Reply {
                            completion: r.completion,
                            data: r.data,
                        }))
                    }
                    _ => Verdict::Ignore,
                }
            },
        )
    }

    /// Bound later requests by `deadline`.
    pub(crate) fn set_deadline(&mut self, deadline: Deadline) {
        self.transport.set_deadline(deadline);
    }

    /// Close the session on the BMC (best effort, bounded wait). Idempotent.
    pub(crate) fn close(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        let wait = Deadline::after(CLOSE_WAIT);
        let deadline = match self.transport.deadline().instant() {
            Some(_) if !self.transport.deadline().expired() => self.transport.deadline().min(wait),
            _ => wait,
        };
        self.transport.set_deadline(deadline);
        let close = Message::new_request(
            NetFn::App,
            CMD_CLOSE_SESSION,
            self.protocol.session_id().to_le_bytes().to_vec(),
        );
        let _ = self.request(&close, "Close Session");
    }

    /// Set Session Privilege Level (sessions start at User level).
    fn raise_privilege(&mut self, privilege: Privilege) -> Result<(), DeviceError> {
        let message = Message::new_request(
            NetFn::App,
            CMD_SET_SESSION_PRIVILEGE,
            vec![privilege_number(privilege)],
        );
        let reply = self.request(&message, "Set Session Privilege Level")?;
        match reply.completion {
            0 => Ok(()),
            0x80..=0x82 => Err(DeviceError::InsufficientPrivilege(format!(
                "the BMC refused {} privilege for this user (completion code 0x{:02X})",
                privilege_name(privilege),
                reply.completion
            ))),
            cc => Err(completion_error("Set Session Privilege Level", cc)),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

pub(super) fn completion_error(what: &str, cc: u8) -> DeviceError {
    super::completion_error(what, cc)
}

pub(super) fn no_randomness(e: std::io::Error) -> DeviceError {
    DeviceError::Protocol(format!("no random numbers for the session: {e}"))
}

pub(super) fn wire_privilege(p: Privilege) -> PrivilegeLevel {
    match p {
        Privilege::Callback => PrivilegeLevel::Callback,
        Privilege::User => PrivilegeLevel::User,
        Privilege::Operator => PrivilegeLevel::Operator,
        Privilege::Administrator => PrivilegeLevel::Administrator,
    }
}

pub(super) fn privilege_number(p: Privilege) -> u8 {
    wire_privilege(p).into()
}

pub(super) fn privilege_name(p: Privilege) -> &'static str {
    match p {
        Privilege::Callback => "callback",
        Privilege::User => "user",
        Privilege::Operator => "operator",
        Privilege::Administrator => "administrator",
    }
}
