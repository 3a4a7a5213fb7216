//! Logging in: the IPMI 1.5 sequence (Get Channel Authentication Capabilities, Get
//! Session Challenge, Activate Session) and the RMCP+ one (Open Session, RAKP 1-4, with
//! cipher suite fallback), each leaving the [`Session`] ready for requests.

use ipmi_rs::app::auth::{
    ActivateSession, AuthType as WireAuthType, ChannelAuthenticationCapabilities,
    GetChannelAuthenticationCapabilities, GetSessionChallenge,
};
use ipmi_rs::connection::{Channel, IpmiCommand, Message};

use super::cipher::{CipherSuite, DEFAULT_SUITES};
use super::crypto::{random_bytes, same_bytes};
use super::rakp::{self, Handshake, RakpError};
use super::session::{
    completion_error, no_randomness, privilege_name, privilege_number, wire_privilege, Protocol,
    Session, V15State, V20State,
};
use super::transport::Verdict;
use super::wire::{self, SessionKeys, V15Auth};
use super::{AuthType, IpmiConfig};
use crate::device::DeviceError;

/// Sends of Activate Session before a silent BMC is taken to mean "wrong password":
/// IPMI 1.5 BMCs drop requests whose auth code does not verify.
const ACTIVATE_SENDS: u32 = 3;

impl Session {
    /// IPMI 1.5: channel capabilities, challenge, activate.
    pub(super) fn login_v15(&mut self, cfg: &IpmiConfig) -> Result<(), DeviceError> {
        let privilege = wire_privilege(cfg.privilege);
        let caps_reply = self.request(
            &GetChannelAuthenticationCapabilities::new(Channel::Current, privilege).into(),
            "Get Channel Authentication Capabilities",
        )?;
        if caps_reply.completion != 0 {
            return Err(DeviceError::Protocol(format!(
                "Get Channel Authentication Capabilities failed with completion code 0x{:02X}",
                caps_reply.completion
            )));
        }
        let caps = GetChannelAuthenticationCapabilities::parse_success_response(&caps_reply.data)
            .map_err(|_| {
            DeviceError::Protocol("short Get Channel Authentication Capabilities reply".into())
        })?;
        let auth = choose_v15_auth(cfg.auth, &caps)?;

        let challenge = GetSessionChallenge::new(wire_auth(auth), Some(&cfg.username))
            .ok_or_else(|| DeviceError::LoginDenied("user name too long".into()))?;
        let reply = self.request(&challenge.into(), "Get Session Challenge")?;
        match reply.completion {
            0 => {}
            0x81 => {
                return Err(DeviceError::LoginDenied(format!(
                    "the BMC does not know user {:?}",
                    cfg.username
                )))
            }
            0x82 => {
                return Err(DeviceError::LoginDenied(
                    "the BMC does not allow a null user name".into(),
                ))
            }
            cc => return Err(completion_error("Get Session Challenge", cc)),
        }
        let challenge = GetSessionChallenge::parse_success_response(&reply.data)
            .map_err(|_| DeviceError::Protocol("malformed Get Session Challenge reply".into()))?;

        let mut password = [0u8; 16];
        password[..cfg.password.len()].copy_from_slice(cfg.password.as_bytes());
        self.protocol = Protocol::V15(V15State {
            auth,
            password,
            session_id: challenge.temporary_session_id.get(),
            active: false,
            accept_unauthenticated: !caps.per_message_authentication_enabled,
        });
        let our_first_seq = u32::from_le_bytes(random_bytes::<4>().map_err(no_randomness)?).max(1);
        let activate: Message = ActivateSession {
            auth_type: wire_auth(auth),
            maximum_privilege_level: privilege,
            challenge_string: challenge.challenge_string,
            initial_sequence_number: our_first_seq,
        }
        .into();
        let reply = match self.send_request(&activate, "Activate Session", Some(ACTIVATE_SENDS)) {
            Err(DeviceError::TimedOut(_)) => {
                return Err(DeviceError::LoginDenied(format!(
                    "the BMC ignored Activate Session for user {:?}: wrong password \
                     (an IPMI 1.5 BMC drops requests whose auth code does not verify)",
                    cfg.username
                )))
            }
            other => other?,
        };
        match reply.completion {
            0 => {}
            0x86 => {
                return Err(DeviceError::InsufficientPrivilege(format!(
                    "{} privilege exceeds the limit of user {:?}",
                    privilege_name(cfg.privilege),
                    cfg.username
                )))
            }
            0x81..=0x83 => {
                return Err(DeviceError::ConnectionLost(
                    "the BMC has no free session slot".into(),
                ))
            }
            cc => return Err(completion_error("Activate Session", cc)),
        }
        let info = ActivateSession::parse_success_response(&reply.data)
            .map_err(|_| DeviceError::Protocol("malformed Activate Session reply".into()))?;
        if let Protocol::V15(state) = &mut self.protocol {
            state.session_id = info.session_id.get();
            state.active = true;
        }
        // The first request of the session carries the BMC's initial inbound number.
        self.outbound_seq = info.initial_sequence_number.wrapping_sub(1);
        Ok(())
    }

    /// RMCP+: try the requested cipher suite, or 3 then 17 when none was requested.
    pub(super) fn login_v20(&mut self, cfg: &IpmiConfig) -> Result<(), DeviceError> {
        let suites: Vec<u8> = match cfg.cipher {
            Some(id) => vec![id],
            None => DEFAULT_SUITES.to_vec(),
        };
        for (i, id) in suites.iter().enumerate() {
            let Some(suite) = CipherSuite::by_id(*id) else {
                continue;
            };
            match self.handshake(cfg, suite) {
                Ok(state) => {
                    self.protocol = Protocol::V20(state);
                    self.outbound_seq = 0;
                    return Ok(());
                }
                Err(HandshakeError::CipherRefused) if i + 1 < suites.len() => continue,
                Err(HandshakeError::CipherRefused) => {
                    return Err(DeviceError::Unsupported(suite.not_offered()))
                }
                Err(HandshakeError::Device(e)) => return Err(e),
            }
        }
        Err(DeviceError::Protocol("no cipher suite to try".into()))
    }

    /// Open Session and RAKP 1-4 with one cipher suite.
    fn handshake(
        &mut self,
        cfg: &IpmiConfig,
        suite: CipherSuite,
    ) -> Result<V20State, HandshakeError> {
        let [a, b, c, d, tag, ..] = random_bytes::<8>().map_err(no_randomness)?;
        let console_sid = u32::from_le_bytes([a, b, c, d]).max(1);
        let privilege = privilege_number(cfg.privilege);
        let user = cfg.username.as_bytes();

        let request = rakp::open_session_request(tag, privilege, console_sid, suite);
        let opened = self.transport.exchange(
            "RMCP+ Open Session",
            None,
            &mut || Ok(unsecured(wire::PAYLOAD_OPEN_SESSION_REQUEST, &request)),
            &mut |pkt| match payload_of(pkt, wire::PAYLOAD_OPEN_SESSION_RESPONSE) {
                None => Verdict::Ignore,
                Some(p) => match rakp::parse_open_session_reply(tag, console_sid, suite, &p) {
                    Err(RakpError::NotOurs) => Verdict::Ignore,
                    other => Verdict::Done(Ok(other)),
                },
            },
        )?;
        let opened = match opened {
            Ok(o) => o,
            Err(RakpError::Status(code)) if rakp::is_cipher_refusal(code) => {
                return Err(HandshakeError::CipherRefused)
            }
            Err(e) => return Err(rakp_failure("Open Session", cfg, e).into()),
        };

        let rm = random_bytes::<16>().map_err(no_randomness)?;
        let role = rakp::NAME_ONLY_LOOKUP | privilege;
        let tag1 = tag.wrapping_add(1);
        let message1 = rakp::rakp1(tag1, opened.managed_sid, &rm, role, user);
        let rakp2 = self.transport.exchange(
            "RAKP message 1",
            None,
            &mut || Ok(unsecured(wire::PAYLOAD_RAKP1, &message1)),
            &mut |pkt| match payload_of(pkt, wire::PAYLOAD_RAKP2) {
                None => Verdict::Ignore,
                Some(p) => match rakp::parse_rakp2(tag1, console_sid, &p) {
                    Err(RakpError::NotOurs) => Verdict::Ignore,
                    other => Verdict::Done(Ok(other)),
                },
            },
        )?;
        let rakp2 = rakp2.map_err(|e| rakp_failure("RAKP message 2", cfg, e))?;

        let handshake = Handshake {
            suite,
            console_sid,
            managed_sid: opened.managed_sid,
            rm,
            rc: rakp2.rc,
            guid: rakp2.guid,
            role,
            user: user.to_vec(),
            kuid: cfg.password.as_bytes().to_vec(),
            kg: cfg.kg.clone(),
        };
        let tag3 = tag.wrapping_add(2);
        let expected = handshake.expected_rakp2_proof();
        if rakp2.proof.len() != rakp::rakp2_proof_len(suite) || !same_bytes(&rakp2.proof, &expected)
        {
            // Tell the BMC, so it frees the half-open session at once.
            let refusal = rakp::rakp3(
                tag3,
                rakp::STATUS_INVALID_INTEGRITY_CHECK,
                opened.managed_sid,
                &[],
            );
            self.transport
                .send_only(&unsecured(wire::PAYLOAD_RAKP3, &refusal));
            return Err(DeviceError::LoginDenied(format!(
                "wrong password for user {:?} (the BMC's RAKP 2 proof does not match)",
                cfg.username
            ))
            .into());
        }

        let message3 = rakp::rakp3(tag3, 0, opened.managed_sid, &handshake.rakp3_proof());
        let icv = self.transport.exchange(
            "RAKP message 3",
            None,
            &mut || Ok(unsecured(wire::PAYLOAD_RAKP3, &message3)),
            &mut |pkt| match payload_of(pkt, wire::PAYLOAD_RAKP4) {
                None => Verdict::Ignore,
                Some(p) => match rakp::parse_rakp4(tag3, console_sid, &p) {
                    Err(RakpError::NotOurs) => Verdict::Ignore,
                    other => Verdict::Done(Ok(other)),
                },
            },
        )?;
        let icv = icv.map_err(|e| rakp_failure("RAKP message 4", cfg, e))?;
        let sik = handshake.sik();
        if !same_bytes(&icv, &handshake.expected_rakp4_icv(&sik)) {
            return Err(DeviceError::LoginDenied(
                "the BMC's RAKP 4 check value does not match (wrong BMC key Kg?)".into(),
            )
            .into());
        }
        Ok(V20State {
            keys: handshake.session_keys(&sik),
            managed_sid: opened.managed_sid,
            console_sid,
        })
    }
}

/// A failed RMCP+ handshake with one cipher suite.
enum HandshakeError {
    /// The BMC does not offer the suite: another may be tried.
    CipherRefused,
    Device(DeviceError),
}

impl From<DeviceError> for HandshakeError {
    fn from(e: DeviceError) -> Self {
        HandshakeError::Device(e)
    }
}

/// A pre-session RMCP+ packet (no session id, no integrity, no encryption).
fn unsecured(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    wire::v20_packet(&SessionKeys::NONE, payload_type, 0, 0, payload, [0u8; 16])
}

/// The payload of an unsecured RMCP+ packet of the given type.
fn payload_of(pkt: &[u8], payload_type: u8) -> Option<Vec<u8>> {
    let p = wire::parse_v20_packet(&SessionKeys::NONE, pkt).ok()?;
    (p.payload_type == payload_type).then_some(p.payload)
}

/// The DeviceError for a RAKP status or malformed message at `step`.
fn rakp_failure(step: &str, cfg: &IpmiConfig, e: RakpError) -> DeviceError {
    match e {
        RakpError::Status(0x0D) => {
            DeviceError::LoginDenied(format!("the BMC does not know user {:?}", cfg.username))
        }
        RakpError::Status(0x0F) => {
            DeviceError::LoginDenied(format!("the BMC rejected the password at {step}"))
        }
        RakpError::Status(code @ (0x09 | 0x0A)) => DeviceError::InsufficientPrivilege(format!(
            "{} privilege refused at {step}: {}",
            privilege_name(cfg.privilege),
            rakp::status_text(code)
        )),
        RakpError::Status(0x01 | 0x0B) => {
            DeviceError::ConnectionLost("the BMC has no free session slot".into())
        }
        e => DeviceError::Protocol(format!("{step}: {e}")),
    }
}

fn choose_v15_auth(
    wanted: Option<AuthType>,
    caps: &ChannelAuthenticationCapabilities,
) -> Result<V15Auth, DeviceError> {
    match wanted {
        Some(AuthType::Md5) if caps.md5 => Ok(V15Auth::Md5),
        Some(AuthType::Md5) => Err(DeviceError::Unsupported("MD5 authentication")),
        Some(AuthType::Password) if caps.key => Ok(V15Auth::Password),
        Some(AuthType::Password) => Err(DeviceError::Unsupported("password authentication")),
        Some(AuthType::None) if caps.none => Ok(V15Auth::None),
        Some(AuthType::None) => Err(DeviceError::Unsupported("authentication type none")),
        None if caps.md5 => Ok(V15Auth::Md5),
        None if caps.key => Ok(V15Auth::Password),
        None if caps.none => Ok(V15Auth::None),
        None => Err(DeviceError::Unsupported(
            "any IPMI 1.5 authentication type spoken here (MD5, password, none)",
        )),
    }
}

fn wire_auth(auth: V15Auth) -> WireAuthType {
    match auth {
        V15Auth::None => WireAuthType::None,
        V15Auth::Md5 => WireAuthType::MD5,
        V15Auth::Password => WireAuthType::Key,
    }
}
