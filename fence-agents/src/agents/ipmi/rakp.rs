//! The RMCP+ session handshake as pure functions: Open Session request/response, RAKP
//! messages 1-4, and the keys both ends derive from them (IPMI v2.0 sections 13.17-13.32).
//!
//! [`Handshake`] holds what the exchange has established so far and computes every
//! HMAC of it: the BMC's RAKP 2 proof (wrong password = mismatch), our RAKP 3 proof, the
//! session integrity key SIK, the BMC's RAKP 4 check value, and K1/K2.

use super::cipher::CipherSuite;
use super::crypto::{self, Hash};
use super::wire::SessionKeys;

/// RAKP role byte flag: look the user up by name only (what ipmitool sends).
pub(crate) const NAME_ONLY_LOOKUP: u8 = 0x10;

/// RAKP status code 0x0F, sent in RAKP 3 when the BMC's RAKP 2 proof is wrong.
pub(crate) const STATUS_INVALID_INTEGRITY_CHECK: u8 = 0x0F;

/// A handshake reply that is not a usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RakpError {
    /// Not an answer to our message (other tag or session id): keep waiting.
    #[error("reply to another request")]
    NotOurs,
    /// The BMC answered with a non-zero RMCP+ status code.
    #[error("RMCP+ status 0x{0:02X} ({text})", text = status_text(*.0))]
    Status(u8),
    /// The answer is malformed.
    #[error("malformed {0}")]
    Malformed(&'static str),
}

/// What an RMCP+ / RAKP status code means (IPMI v2.0 table 13-15).
pub(crate) fn status_text(code: u8) -> &'static str {
    match code {
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session ID",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session ID",
        0x09 => "invalid role",
        0x0A => "unauthorized role or privilege level requested",
        0x0B => "insufficient resources to create a session at the requested role",
        0x0C => "invalid name length",
        0x0D => "unauthorized name",
        0x0E => "unauthorized GUID",
        0x0F => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match with proposed security algorithms",
        0x12 => "illegal or unrecognized parameter",
        _ => "unknown status",
    }
}

/// Status codes that mean "the BMC does not offer these algorithms".
pub(crate) fn is_cipher_refusal(code: u8) -> bool {
    matches!(code, 0x03..=0x07 | 0x10 | 0x11)
}

/// Open Session request: tag, requested maximum privilege, our session id, and one
/// proposal each for authentication, integrity and confidentiality.
pub(crate) fn open_session_request(
    tag: u8,
    privilege: u8,
    console_sid: u32,
    suite: CipherSuite,
) -> Vec<u8> {
    let mut p = vec![tag, privilege, 0, 0];
    p.extend_from_slice(&console_sid.to_le_bytes());
    for (kind, number) in [
        (0u8, suite.auth_number()),
        (1, suite.integrity_number()),
        (2, suite.confidentiality_number()),
    ] {
        p.extend_from_slice(&[kind, 0, 0, 8, number, 0, 0, 0]);
    }
    p
}

/// The BMC's accepted Open Session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenSessionReply {
    /// The BMC's id for the session (SIDc), used in every later packet we send.
    pub managed_sid: u32,
}

/// Parse an Open Session response to our request.
pub(crate) fn parse_open_session_reply(
    tag: u8,
    console_sid: u32,
    suite: CipherSuite,
    p: &[u8],
) -> Result<OpenSessionReply, RakpError> {
    if p.len() < 2 || p[0] != tag {
        return Err(RakpError::NotOurs);
    }
    if p[1] != 0 {
        return Err(RakpError::Status(p[1]));
    }
    if p.len() < 36 {
        return Err(RakpError::Malformed("Open Session response"));
    }
    if le_u32(&p[4..8]) != console_sid {
        return Err(RakpError::NotOurs);
    }
    let managed_sid = le_u32(&p[8..12]);
    let algorithms = [p[16], p[24], p[32]];
    let proposed = [
        suite.auth_number(),
        suite.integrity_number(),
        suite.confidentiality_number(),
    ];
    if managed_sid == 0 || algorithms != proposed {
        return Err(RakpError::Malformed("Open Session response"));
    }
    Ok(OpenSessionReply { managed_sid })
}

/// RAKP message 1: our random number, requested role, user name.
pub(crate) fn rakp1(tag: u8, managed_sid: u32, rm: &[u8; 16], role: u8, user: &[u8]) -> Vec<u8> {
    let mut p = vec![tag, 0, 0, 0];
    p.extend_from_slice(&managed_sid.to_le_bytes());
    p.extend_from_slice(rm);
    p.extend_from_slice(&[role, 0, 0, user.len() as u8]);
    p.extend_from_slice(user);
    p
}

/// RAKP message 2 contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rakp2 {
    /// The BMC's random number.
    pub rc: [u8; 16],
    /// The BMC's GUID.
    pub guid: [u8; 16],
    /// HMAC proving the BMC knows the user's password.
    pub proof: Vec<u8>,
}

/// Parse RAKP message 2.
pub(crate) fn parse_rakp2(tag: u8, console_sid: u32, p: &[u8]) -> Result<Rakp2, RakpError> {
    if p.len() < 2 || p[0] != tag {
        return Err(RakpError::NotOurs);
    }
    if p[1] != 0 {
        return Err(RakpError::Status(p[1]));
    }
    if p.len() < 40 {
        return Err(RakpError::Malformed("RAKP message 2"));
    }
    if le_u32(&p[4..8]) != console_sid {
        return Err(RakpError::NotOurs);
    }
    let mut rc = [0u8; 16];
    rc.copy_from_slice(&p[8..24]);
    let mut guid = [0u8; 16];
    guid.copy_from_slice(&p[24..40]);
    Ok(Rakp2 {
        rc,
        guid,
        proof: p[40..].to_vec(),
    })
}

/// RAKP message 3: status and, on success, our proof of the password.
pub(crate) fn rakp3(tag: u8, status: u8, managed_sid: u32, proof: &[u8]) -> Vec<u8> {
    let mut p = vec![tag, status, 0, 0];
    p.extend_from_slice(&managed_sid.to_le_bytes());
    p.extend_from_slice(proof);
    p
}

/// Parse RAKP message 4; returns its integrity check value.
pub(crate) fn parse_rakp4(tag: u8, console_sid: u32, p: &[u8]) -> Result<Vec<u8>, RakpError> {
    if p.len() < 2 || p[0] != tag {
        return Err(RakpError::NotOurs);
    }
    if p[1] != 0 {
        return Err(RakpError::Status(p[1]));
    }
    if p.len() < 8 {
        return Err(RakpError::Malformed("RAKP message 4"));
    }
    if le_u32(&p[4..8]) != console_sid {
        return Err(RakpError::NotOurs);
    }
    Ok(p[8..].to_vec())
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// Everything the RAKP exchange mixes into its HMACs.
#[derive(Clone)]
pub(crate) struct Handshake {
    pub suite: CipherSuite,
    /// Our session id (SIDm).
    pub console_sid: u32,
    /// The BMC's session id (SIDc).
    pub managed_sid: u32,
    /// Our random number (Rm).
    pub rm: [u8; 16],
    /// The BMC's random number (Rc).
    pub rc: [u8; 16],
    /// The BMC's GUID.
    pub guid: [u8; 16],
    /// Role byte as sent in RAKP 1 (privilege | lookup flag).
    pub role: u8,
    pub user: Vec<u8>,
    /// The user's password (Kuid).
    pub kuid: Vec<u8>,
    /// The BMC key Kg, when two-key login is used.
    pub kg: Option<Vec<u8>>,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, the key, or anything derived from them.
        f.debug_struct("Handshake")
            .field("suite", &self.suite.id)
            .field("console_sid", &self.console_sid)
            .field("managed_sid", &self.managed_sid)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    fn auth_hmac(&self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self.suite.auth {
            Some(hash) => crypto::hmac(hash, key, parts),
            None => Vec::new(),
        }
    }

    fn role_and_user(&self) -> Vec<u8> {
        let mut v = vec![self.role, self.user.len() as u8];
        v.extend_from_slice(&self.user);
        v
    }

    /// What the BMC's RAKP 2 proof must be:
    /// HMAC_Kuid(SIDm | SIDc | Rm | Rc | GUIDc | ROLEm | ULENGTHm | UNAMEm).
    pub(crate) fn expected_rakp2_proof(&self) -> Vec<u8> {
        self.auth_hmac(
            &self.kuid,
            &[
                &self.console_sid.to_le_bytes(),
                &self.managed_sid.to_le_bytes(),
                &self.rm,
                &self.rc,
                &self.guid,
                &self.role_and_user(),
            ],
        )
    }

    /// Our RAKP 3 proof: HMAC_Kuid(Rc | SIDm | ROLEm | ULENGTHm | UNAMEm).
    pub(crate) fn rakp3_proof(&self) -> Vec<u8> {
        self.auth_hmac(
            &self.kuid,
            &[
                &self.rc,
                &self.console_sid.to_le_bytes(),
                &self.role_and_user(),
            ],
        )
    }

    /// Session integrity key: HMAC_Kg(Rm | Rc | ROLEm | ULENGTHm | UNAMEm), Kg = Kuid
    /// unless a BMC key is set.
    pub(crate) fn sik(&self) -> Vec<u8> {
        let key = match &self.kg {
            Some(kg) if kg.iter().any(|b| *b != 0) => kg.as_slice(),
            _ => self.kuid.as_slice(),
        };
        self.auth_hmac(key, &[&self.rm, &self.rc, &self.role_and_user()])
    }

    /// What the BMC's RAKP 4 check value must be: HMAC_SIK(Rm | SIDc | GUIDc), truncated.
    pub(crate) fn expected_rakp4_icv(&self, sik: &[u8]) -> Vec<u8> {
        let mut icv = self.auth_hmac(
            sik,
            &[&self.rm, &self.managed_sid.to_le_bytes(), &self.guid],
        );
        icv.truncate(self.suite.rakp4_icv_len());
        icv
    }

    /// The per-packet keys: integrity key K1 = HMAC_SIK(20 x 0x01), AES key = the first
    /// 16 bytes of K2 = HMAC_SIK(20 x 0x02), for every auth hash, as ipmitool and
    /// FreeIPMI derive them. (OpenIPMI's simulator differs for the MD5 suites: it keys
    /// HMAC-MD5-128 with the password and uses 16-byte constants, so neither ipmitool
    /// nor this code talk suites 7 and 8 to ipmi_sim.)
    pub(crate) fn session_keys(&self, sik: &[u8]) -> SessionKeys {
        let integrity = self.suite.integrity.map(|(hash, len)| {
            let k1 = self.derived_key(sik, 0x01);
            (hash, k1, len)
        });
        let aes = if self.suite.aes {
            let k2 = self.derived_key(sik, 0x02);
            let mut key = [0u8; 16];
            let n = k2.len().min(16);
            key[..n].copy_from_slice(&k2[..n]);
            Some(key)
        } else {
            None
        };
        SessionKeys { integrity, aes }
    }

    fn derived_key(&self, sik: &[u8], constant: u8) -> Vec<u8> {
        match self.suite.auth {
            Some(hash) => crypto::hmac(hash, sik, &[&[constant; 20]]),
            // RAKP-none: the constant itself (only reachable with suite 0, which has
            // neither integrity nor confidentiality).
            None => vec![constant; 20],
        }
    }
}

/// The proof lengths the auth algorithm produces (RAKP 2 key exchange auth code).
pub(crate) fn rakp2_proof_len(suite: CipherSuite) -> usize {
    match suite.auth {
        None => 0,
        Some(Hash::Sha1) => 20,
        Some(Hash::Md5) => 16,
        Some(Hash::Sha256) => 32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(suite: u8) -> Handshake {
        Handshake {
            suite: CipherSuite::by_id(suite).expect("suite"),
            console_sid: 0x0A0B_0C0D,
            managed_sid: 0x0102_0304,
            rm: [0x11; 16],
            rc: [0x22; 16],
            guid: [0x33; 16],
            role: NAME_ONLY_LOOKUP | 4,
            user: b"admin".to_vec(),
            kuid: b"secret".to_vec(),
            kg: None,
        }
    }

    #[test]
    fn open_session_request_layout() {
        let suite = CipherSuite::by_id(3).expect("suite 3");
        let p = open_session_request(7, 4, 0x1122_3344, suite);
        assert_eq!(p.len(), 32);
        assert_eq!(&p[..8], &[7, 4, 0, 0, 0x44, 0x33, 0x22, 0x11]);
        assert_eq!(&p[8..16], &[0, 0, 0, 8, 1, 0, 0, 0]);
        assert_eq!(&p[16..24], &[1, 0, 0, 8, 1, 0, 0, 0]);
        assert_eq!(&p[24..32], &[2, 0, 0, 8, 1, 0, 0, 0]);
    }

    #[test]
    fn open_session_reply_checks_tag_status_and_algorithms() {
        let suite = CipherSuite::by_id(3).expect("suite 3");
        let mut reply = vec![7, 0, 4, 0];
        reply.extend_from_slice(&0x1122_3344u32.to_le_bytes());
        reply.extend_from_slice(&0x5566_7788u32.to_le_bytes());
        reply.extend_from_slice(&open_session_request(0, 0, 1, suite)[8..]);
        assert_eq!(
            parse_open_session_reply(7, 0x1122_3344, suite, &reply),
            Ok(OpenSessionReply {
                managed_sid: 0x5566_7788
            })
        );
        assert_eq!(
            parse_open_session_reply(8, 0x1122_3344, suite, &reply),
            Err(RakpError::NotOurs)
        );
        let other = CipherSuite::by_id(17).expect("suite 17");
        assert!(matches!(
            parse_open_session_reply(7, 0x1122_3344, other, &reply),
            Err(RakpError::Malformed(_))
        ));
        assert_eq!(
            parse_open_session_reply(7, 1, suite, &[7, 0x04, 0, 0, 1, 0, 0, 0]),
            Err(RakpError::Status(0x04))
        );
        assert!(is_cipher_refusal(0x04) && is_cipher_refusal(0x11) && !is_cipher_refusal(0x0D));
    }

    #[test]
    fn rakp_proofs_are_hmacs_over_the_spec_fields() {
        let h = handshake(3);
        let mut rakp2_input = Vec::new();
        rakp2_input.extend_from_slice(&0x0A0B_0C0Du32.to_le_bytes());
        rakp2_input.extend_from_slice(&0x0102_0304u32.to_le_bytes());
        rakp2_input.extend_from_slice(&[0x11; 16]);
        rakp2_input.extend_from_slice(&[0x22; 16]);
        rakp2_input.extend_from_slice(&[0x33; 16]);
        rakp2_input.extend_from_slice(&[0x14, 5]);
        rakp2_input.extend_from_slice(b"admin");
        assert_eq!(
            h.expected_rakp2_proof(),
            crypto::hmac(Hash::Sha1, b"secret", &[&rakp2_input])
        );
        assert_eq!(h.expected_rakp2_proof().len(), rakp2_proof_len(h.suite));
        // Zero padding of the password to 20 bytes does not change an HMAC.
        let padded = Handshake {
            kuid: b"secret\0\0\0\0\0\0\0\0\0\0\0\0\0\0".to_vec(),
            ..h.clone()
        };
        assert_eq!(padded.rakp3_proof(), h.rakp3_proof());
        let sik = h.sik();
        assert_eq!(sik.len(), 20);
        assert_eq!(h.expected_rakp4_icv(&sik).len(), 12);
        let keys = h.session_keys(&sik);
        let (hash, k1, len) = keys.integrity.clone().expect("integrity");
        assert_eq!((hash, len), (Hash::Sha1, 12));
        assert_eq!(k1, crypto::hmac(Hash::Sha1, &sik, &[&[1u8; 20]]));
        let k2 = crypto::hmac(Hash::Sha1, &sik, &[&[2u8; 20]]);
        assert_eq!(keys.aes.expect("aes")[..], k2[..16]);
    }

    #[test]
    fn kg_replaces_kuid_only_for_the_sik() {
        let h = handshake(17);
        let with_kg = Handshake {
            kg: Some(b"bmckey".to_vec()),
            ..h.clone()
        };
        assert_ne!(h.sik(), with_kg.sik());
        assert_eq!(h.rakp3_proof(), with_kg.rakp3_proof());
        let zero_kg = Handshake {
            kg: Some(vec![0; 20]),
            ..h.clone()
        };
        assert_eq!(h.sik(), zero_kg.sik());
        assert_eq!(h.sik().len(), 32);
        assert_eq!(h.expected_rakp4_icv(&h.sik()).len(), 16);
    }

    #[test]
    fn rakp_messages_parse_and_reject_foreign_replies() {
        let mut m2 = vec![5, 0, 0, 0];
        m2.extend_from_slice(&9u32.to_le_bytes());
        m2.extend_from_slice(&[1; 16]);
        m2.extend_from_slice(&[2; 16]);
        m2.extend_from_slice(&[3; 20]);
        let r2 = parse_rakp2(5, 9, &m2).expect("rakp2");
        assert_eq!((r2.rc, r2.guid, r2.proof.len()), ([1; 16], [2; 16], 20));
        assert_eq!(parse_rakp2(5, 8, &m2), Err(RakpError::NotOurs));
        assert_eq!(
            parse_rakp2(5, 9, &[5, 0x0D, 0, 0, 9, 0, 0, 0]),
            Err(RakpError::Status(0x0D))
        );
        let mut m4 = vec![6, 0, 0, 0];
        m4.extend_from_slice(&9u32.to_le_bytes());
        m4.extend_from_slice(&[4; 12]);
        assert_eq!(parse_rakp4(6, 9, &m4), Ok(vec![4; 12]));
        assert_eq!(rakp1(1, 2, &[0; 16], 0x14, b"ab").len(), 28 + 2);
        assert_eq!(rakp3(1, 0, 2, &[7; 20]).len(), 28);
    }
}
