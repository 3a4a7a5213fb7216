//! The v3 half of [`Session`](super::Session): the USM user and security level, engine
//! discovery with keys localised to the engine (the passphrase hashing runs on threads
//! while the discovery request is on the wire), encoding authenticated/encrypted
//! requests, and judging v3 answers and USM reports.

use std::thread::JoinHandle;
use std::time::Instant;

use super::super::ber::{self, Oid};
use super::super::message::{
    self, Pdu, PduType, ScopedPdu, UsmParams, V3Data, V3Out, FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE,
    SECURITY_MODEL_USM,
};
use super::super::usm::{self, AuthProtocol, PrivProtocol};
use super::{Answer, Security, Session, SnmpError};
use crate::device::Deadline;

/// v3 security level (`--snmp-sec-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityLevel {
    NoAuthNoPriv,
    AuthNoPriv,
    AuthPriv,
}

/// A v3 user and its secrets.
#[derive(Clone)]
pub struct UsmUser {
    pub name: String,
    pub level: SecurityLevel,
    pub auth: AuthProtocol,
    pub auth_password: String,
    pub privacy: PrivProtocol,
    pub priv_password: String,
}

impl std::fmt::Debug for UsmUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UsmUser")
            .field("name", &self.name)
            .field("level", &self.level)
            .field("auth", &self.auth)
            .field("privacy", &self.privacy)
            .finish_non_exhaustive()
    }
}

/// What a USM report PDU says went wrong (RFC 3414 usmStats counters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsmFailure {
    UnsupportedSecLevel,
    NotInTimeWindow,
    UnknownUserName,
    UnknownEngineId,
    WrongDigest,
    DecryptionError,
    /// Another report, by its OID (or empty).
    Other(String),
}

impl std::fmt::Display for UsmFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsmFailure::UnsupportedSecLevel => {
                write!(f, "security level not allowed for this user")
            }
            UsmFailure::NotInTimeWindow => write!(f, "message outside the agent's time window"),
            UsmFailure::UnknownUserName => write!(f, "unknown user name"),
            UsmFailure::UnknownEngineId => write!(f, "unknown engine ID"),
            UsmFailure::WrongDigest => write!(
                f,
                "authentication failure (incorrect password or authentication protocol)"
            ),
            UsmFailure::DecryptionError => write!(
                f,
                "decryption failure (incorrect privacy password or protocol)"
            ),
            UsmFailure::Other(what) => write!(f, "agent sent report {what}"),
        }
    }
}

pub(super) fn classify_report(oid: Option<&Oid>) -> UsmFailure {
    // usmStats = 1.3.6.1.6.3.15.1.1.<n>.0
    const USM_STATS: [u32; 9] = [1, 3, 6, 1, 6, 3, 15, 1, 1];
    let Some(oid) = oid else {
        return UsmFailure::Other("without variables".into());
    };
    let arcs = oid.arcs();
    match arcs.get(9) {
        Some(n) if arcs[..9] == USM_STATS => match n {
            1 => UsmFailure::UnsupportedSecLevel,
            2 => UsmFailure::NotInTimeWindow,
            3 => UsmFailure::UnknownUserName,
            4 => UsmFailure::UnknownEngineId,
            5 => UsmFailure::WrongDigest,
            6 => UsmFailure::DecryptionError,
            _ => UsmFailure::Other(oid.to_string()),
        },
        _ => UsmFailure::Other(oid.to_string()),
    }
}

/// Engine state learnt by discovery, and the keys localised to that engine.
pub(super) struct Engine {
    id: Vec<u8>,
    boots: u32,
    time: u32,
    synced_at: Instant,
    auth_key: Vec<u8>,
    priv_key: Vec<u8>,
}

impl Engine {
    fn now(&self) -> u32 {
        let elapsed = u32::try_from(self.synced_at.elapsed().as_secs()).unwrap_or(u32::MAX);
        self.time.saturating_add(elapsed)
    }
}

/// Ku of the authentication and privacy passphrases, hashed on threads (1 MiB each).
pub(super) struct KeyJobs {
    auth: Option<KeyJob>,
    privacy: Option<KeyJob>,
}

/// One passphrase being turned into Ku.
enum KeyJob {
    Running(JoinHandle<Vec<u8>>, AuthProtocol, String),
    Done(Vec<u8>),
}

impl KeyJob {
    fn start(auth: AuthProtocol, password: &str) -> KeyJob {
        let owned = password.to_string();
        match std::thread::Builder::new()
            .name("snmp-usm-key".into())
            .spawn(move || usm::password_to_key(auth, owned.as_bytes()))
        {
            Ok(handle) => KeyJob::Running(handle, auth, password.to_string()),
            Err(_) => KeyJob::Done(usm::password_to_key(auth, password.as_bytes())),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            KeyJob::Done(ku) => ku,
            KeyJob::Running(handle, auth, password) => handle
                .join()
                .unwrap_or_else(|_| usm::password_to_key(auth, password.as_bytes())),
        }
    }
}

impl KeyJobs {
    /// Check the passphrases and start hashing the ones the security level uses.
    pub(super) fn start(user: &UsmUser) -> Result<KeyJobs, SnmpError> {
        for (what, pw, needed) in [
            (
                "authentication",
                &user.auth_password,
                user.level != SecurityLevel::NoAuthNoPriv,
            ),
            (
                "privacy",
                &user.priv_password,
                user.level == SecurityLevel::AuthPriv,
            ),
        ] {
            if needed && pw.len() < usm::MIN_PASSPHRASE_LEN {
                return Err(SnmpError::Config(format!(
                    "SNMPv3 {what} passphrase is shorter than {} characters",
                    usm::MIN_PASSPHRASE_LEN
                )));
            }
        }
        let auth = (user.level != SecurityLevel::NoAuthNoPriv)
            .then(|| KeyJob::start(user.auth, &user.auth_password));
        let privacy = (user.level == SecurityLevel::AuthPriv)
            .then(|| KeyJob::start(user.auth, &user.priv_password));
        Ok(KeyJobs { auth, privacy })
    }
}

impl Session {
    pub(super) fn discover(&mut self, keys: KeyJobs, deadline: Deadline) -> Result<(), SnmpError> {
        let id = self.take_id();
        let pdu = Pdu::request(PduType::Get, id, Vec::new());
        let scoped = ScopedPdu {
            context_engine_id: Vec::new(),
            context_name: Vec::new(),
            pdu,
        }
        .encode();
        let (bytes, _) = message::encode_v3(&V3Out {
            msg_id: id,
            flags: FLAG_REPORTABLE,
            usm: &UsmParams::default(),
            data: &scoped,
        });
        let found = match self.send_and_wait(&bytes, id, deadline)? {
            Answer::Discovered(found) => found,
            _ => {
                return Err(SnmpError::Malformed(
                    "no engine ID in discovery answer".into(),
                ))
            }
        };
        if found.engine_id.is_empty() {
            return Err(SnmpError::Malformed(
                "empty engine ID in discovery answer".into(),
            ));
        }
        let Security::Usm(user) = &self.security else {
            return Ok(());
        };
        let localise = |job: Option<KeyJob>| {
            job.map(|job| usm::localise_key(user.auth, &job.finish(), &found.engine_id))
                .unwrap_or_default()
        };
        let auth_key = localise(keys.auth);
        let priv_key = localise(keys.privacy);
        self.engine = Some(Engine {
            id: found.engine_id,
            boots: found.engine_boots,
            time: found.engine_time,
            synced_at: Instant::now(),
            auth_key,
            priv_key,
        });
        Ok(())
    }

    pub(super) fn encode_v3(&mut self, user: &UsmUser, pdu: &Pdu) -> Result<Vec<u8>, SnmpError> {
        let engine = self
            .engine
            .as_ref()
            .ok_or_else(|| SnmpError::Malformed("SNMPv3 engine not discovered".into()))?;
        let (boots, time) = (engine.boots, engine.now());
        let scoped = ScopedPdu {
            context_engine_id: engine.id.clone(),
            context_name: Vec::new(),
            pdu: pdu.clone(),
        }
        .encode();
        let mut flags = FLAG_REPORTABLE;
        let mut usm_params = UsmParams {
            engine_id: engine.id.clone(),
            engine_boots: boots,
            engine_time: time,
            user_name: user.name.as_bytes().to_vec(),
            ..UsmParams::default()
        };
        let data = if user.level == SecurityLevel::AuthPriv {
            flags |= FLAG_AUTH | FLAG_PRIV;
            self.salt = self.salt.wrapping_add(1);
            let (cipher, salt) = usm::encrypt(
                user.privacy,
                &engine.priv_key,
                boots,
                time,
                self.salt,
                &scoped,
            )
            .map_err(|e| SnmpError::Config(e.to_string()))?;
            usm_params.priv_params = salt.to_vec();
            ber::octets(&cipher)
        } else {
            if user.level == SecurityLevel::AuthNoPriv {
                flags |= FLAG_AUTH;
            }
            scoped
        };
        if flags & FLAG_AUTH != 0 {
            usm_params.auth_params = vec![0; usm::DIGEST_LEN];
        }
        let (mut bytes, at) = message::encode_v3(&V3Out {
            msg_id: pdu.request_id,
            flags,
            usm: &usm_params,
            data: &data,
        });
        if flags & FLAG_AUTH != 0 {
            let digest = usm::digest(user.auth, &engine.auth_key, &bytes);
            bytes[at..at + usm::DIGEST_LEN].copy_from_slice(&digest);
        }
        Ok(bytes)
    }

    pub(super) fn accept_v3(
        &mut self,
        datagram: &[u8],
        id: i32,
        user: &UsmUser,
    ) -> Option<Result<Answer, SnmpError>> {
        let m = message::decode_v3(datagram).ok()?;
        if m.msg_id != id || m.security_model != SECURITY_MODEL_USM {
            return None;
        }
        let authenticated = m.flags & FLAG_AUTH != 0;
        if authenticated {
            let engine = self.engine.as_ref()?;
            if m.usm.engine_id != engine.id || m.usm.auth_params.len() != usm::DIGEST_LEN {
                return None;
            }
            let mut zeroed = datagram.to_vec();
            zeroed[m.auth_offset..m.auth_offset + usm::DIGEST_LEN].fill(0);
            if !usm::verify(user.auth, &engine.auth_key, &zeroed, &m.usm.auth_params) {
                return None;
            }
        }
        let scoped = match m.data {
            V3Data::Plain(bytes) => ScopedPdu::decode(bytes).ok()?,
            V3Data::Encrypted(cipher) => {
                let engine = self.engine.as_ref()?;
                if !authenticated || m.flags & FLAG_PRIV == 0 {
                    return None;
                }
                let plain = usm::decrypt(
                    user.privacy,
                    &engine.priv_key,
                    m.usm.engine_boots,
                    m.usm.engine_time,
                    &m.usm.priv_params,
                    cipher,
                )
                .ok()?;
                ScopedPdu::decode(&plain).ok()?
            }
        };
        let pdu = scoped.pdu;
        if pdu.kind == PduType::Report {
            let failure = classify_report(pdu.varbinds.first().map(|(o, _)| o));
            if self.engine.is_none() && failure == UsmFailure::UnknownEngineId {
                return Some(Ok(Answer::Discovered(m.usm)));
            }
            if failure == UsmFailure::NotInTimeWindow && authenticated {
                if let Some(engine) = self.engine.as_mut() {
                    engine.boots = m.usm.engine_boots;
                    engine.time = m.usm.engine_time;
                    engine.synced_at = Instant::now();
                    return Some(Ok(Answer::Resync));
                }
            }
            return Some(Err(SnmpError::Usm(failure)));
        }
        let needs_auth = user.level != SecurityLevel::NoAuthNoPriv;
        if pdu.kind != PduType::Response || pdu.request_id != id || (needs_auth && !authenticated) {
            return None;
        }
        Some(Ok(Answer::Pdu(pdu)))
    }
}
