//! Wire format of IPMI over LAN, as pure functions: the RMCP header, IPMB request and
//! response messages, IPMI 1.5 session packets (auth type none / MD5 / straight
//! password) and IPMI 2.0 RMCP+ packets (integrity trailer, AES-CBC-128 payload).
//!
//! Layouts follow the IPMI v2.0 specification, sections 13.6 (v1.5 session header),
//! 13.8 (RMCP+ session header and trailer) and 13.29 (AES-CBC-128 payload).

use super::crypto::{self, Hash};

/// RMCP version 1.0, reserved, sequence 0xFF (no RMCP ACK), class IPMI.
const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// Auth type/format byte that marks an RMCP+ (IPMI 2.0) session header.
const FORMAT_RMCP_PLUS: u8 = 0x06;
/// IPMB address of the BMC (responder) and of a remote console (requester, software ID).
pub(crate) const BMC_ADDRESS: u8 = 0x20;
pub(crate) const CONSOLE_ADDRESS: u8 = 0x81;
/// Next Header value in an RMCP+ trailer.
const NEXT_HEADER: u8 = 0x07;

/// RMCP+ payload types.
pub(crate) const PAYLOAD_IPMI: u8 = 0x00;
pub(crate) const PAYLOAD_OPEN_SESSION_REQUEST: u8 = 0x10;
pub(crate) const PAYLOAD_OPEN_SESSION_RESPONSE: u8 = 0x11;
pub(crate) const PAYLOAD_RAKP1: u8 = 0x12;
pub(crate) const PAYLOAD_RAKP2: u8 = 0x13;
pub(crate) const PAYLOAD_RAKP3: u8 = 0x14;
pub(crate) const PAYLOAD_RAKP4: u8 = 0x15;

/// Why a received datagram could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FrameError {
    /// Too short, or a length field disagrees with the datagram.
    #[error("truncated or inconsistent packet")]
    Truncated,
    /// Not RMCP class IPMI (e.g. an ASF pong), or not the session format expected.
    #[error("not an IPMI packet of the expected format")]
    WrongFormat,
    /// An IPMB checksum does not add up.
    #[error("IPMB checksum mismatch")]
    Checksum,
    /// The auth code / integrity HMAC does not match: not from the BMC we talk to.
    #[error("authentication code mismatch")]
    AuthCode,
    /// Authenticated or encrypted where the session is not, or the other way round.
    #[error("security flags do not match the session")]
    Security,
    /// The AES payload did not decrypt to a well-formed padded block.
    #[error("payload decryption failed")]
    Decryption,
}

/// Two's-complement checksum: the bytes plus the checksum add up to zero.
fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, b| acc.wrapping_add(*b))
        .wrapping_neg()
}

/// An IPMB request from the remote console to the BMC (LUN 0 both sides).
pub(crate) fn ipmb_request(netfn: u8, cmd: u8, rq_seq: u8, data: &[u8]) -> Vec<u8> {
    let head = [BMC_ADDRESS, netfn << 2];
    let mut msg = Vec::with_capacity(7 + data.len());
    msg.extend_from_slice(&head);
    msg.push(checksum(&head));
    let body_start = msg.len();
    msg.extend_from_slice(&[CONSOLE_ADDRESS, (rq_seq & 0x3F) << 2, cmd]);
    msg.extend_from_slice(data);
    let sum = checksum(&msg[body_start..]);
    msg.push(sum);
    msg
}

/// An IPMB response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpmbResponse {
    /// Response NetFn (request NetFn + 1).
    pub netfn: u8,
    /// The request sequence number it answers.
    pub rq_seq: u8,
    pub cmd: u8,
    /// Completion code (0 = success).
    pub completion: u8,
    pub data: Vec<u8>,
}

/// Decode an IPMB response and check both checksums.
pub(crate) fn parse_ipmb_response(msg: &[u8]) -> Result<IpmbResponse, FrameError> {
    if msg.len() < 8 {
        return Err(FrameError::Truncated);
    }
    if checksum(&msg[..2]) != msg[2] || checksum(&msg[3..msg.len() - 1]) != msg[msg.len() - 1] {
        return Err(FrameError::Checksum);
    }
    Ok(IpmbResponse {
        netfn: msg[1] >> 2,
        rq_seq: msg[4] >> 2,
        cmd: msg[5],
        completion: msg[6],
        data: msg[7..msg.len() - 1].to_vec(),
    })
}

/// IPMI 1.5 session authentication of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum V15Auth {
    /// Auth type 0: no auth code field.
    None,
    /// Auth type 2: MD5 over password, session id, message, sequence, password.
    Md5,
    /// Auth type 4: the password itself as the auth code.
    Password,
}

impl V15Auth {
    /// The auth type byte.
    pub(crate) fn number(self) -> u8 {
        match self {
            V15Auth::None => 0x00,
            V15Auth::Md5 => 0x02,
            V15Auth::Password => 0x04,
        }
    }

    fn from_number(n: u8) -> Option<V15Auth> {
        match n {
            0x00 => Some(V15Auth::None),
            0x02 => Some(V15Auth::Md5),
            0x04 => Some(V15Auth::Password),
            _ => None,
        }
    }

    fn code(self, password: &[u8; 16], session_id: u32, seq: u32, msg: &[u8]) -> Option<[u8; 16]> {
        match self {
            V15Auth::None => None,
            V15Auth::Md5 => Some(crypto::v15_md5_auth_code(password, session_id, seq, msg)),
            V15Auth::Password => Some(*password),
        }
    }
}

/// An IPMI 1.5 session packet: RMCP header, session header (auth code when the auth
/// type has one), message length, IPMB message.
pub(crate) fn v15_packet(
    auth: V15Auth,
    password: &[u8; 16],
    seq: u32,
    session_id: u32,
    msg: &[u8],
) -> Vec<u8> {
    let mut pkt = Vec::with_capacity(30 + msg.len());
    pkt.extend_from_slice(&RMCP_HEADER);
    pkt.push(auth.number());
    pkt.extend_from_slice(&seq.to_le_bytes());
    pkt.extend_from_slice(&session_id.to_le_bytes());
    if let Some(code) = auth.code(password, session_id, seq, msg) {
        pkt.extend_from_slice(&code);
    }
    // IPMB messages over LAN are far below 256 bytes (the BMC's own limit).
    pkt.push(msg.len().min(255) as u8);
    pkt.extend_from_slice(msg);
    pkt
}

/// A received IPMI 1.5 packet, its auth code already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V15Packet {
    pub auth: V15Auth,
    pub seq: u32,
    pub session_id: u32,
    pub msg: Vec<u8>,
}

/// Parse an IPMI 1.5 packet, verifying its auth code against `password`.
pub(crate) fn parse_v15_packet(pkt: &[u8], password: &[u8; 16]) -> Result<V15Packet, FrameError> {
    if pkt.len() < 14 {
        return Err(FrameError::Truncated);
    }
    if !is_rmcp_ipmi(pkt) {
        return Err(FrameError::WrongFormat);
    }
    let auth = V15Auth::from_number(pkt[4]).ok_or(FrameError::WrongFormat)?;
    let seq = le_u32(&pkt[5..9]);
    let session_id = le_u32(&pkt[9..13]);
    let (code, rest) = match auth {
        V15Auth::None => (None, &pkt[13..]),
        _ if pkt.len() < 30 => return Err(FrameError::Truncated),
        _ => (Some(&pkt[13..29]), &pkt[29..]),
    };
    let (&len, msg) = rest.split_first().ok_or(FrameError::Truncated)?;
    // Some BMCs append a legacy pad byte after the message.
    let msg = msg.get(..usize::from(len)).ok_or(FrameError::Truncated)?;
    if let (Some(code), Some(expected)) = (code, auth.code(password, session_id, seq, msg)) {
        if !crypto::same_bytes(code, &expected) {
            return Err(FrameError::AuthCode);
        }
    }
    Ok(V15Packet {
        auth,
        seq,
        session_id,
        msg: msg.to_vec(),
    })
}

/// RMCP version 1.0 and class IPMI (the RMCP sequence byte may be anything).
fn is_rmcp_ipmi(pkt: &[u8]) -> bool {
    pkt.len() >= 4 && pkt[0] == RMCP_HEADER[0] && pkt[3] & 0x1F == RMCP_HEADER[3]
}

fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The keys of an established RMCP+ session; [`SessionKeys::NONE`] before one is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SessionKeys {
    /// Integrity HMAC hash, its key K1 and the length the HMAC is cut to.
    pub integrity: Option<(Hash, Vec<u8>, usize)>,
    /// AES-CBC-128 key: the first 16 bytes of K2.
    pub aes: Option<[u8; 16]>,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field(
                "integrity",
                &self.integrity.as_ref().map(|(h, _, n)| (h, n)),
            )
            .field("aes", &self.aes.is_some())
            .finish()
    }
}

impl SessionKeys {
    /// Unauthenticated, unencrypted (Open Session and RAKP messages).
    pub(crate) const NONE: SessionKeys = SessionKeys {
        integrity: None,
        aes: None,
    };
}

/// An RMCP+ packet: session header, payload (encrypted with `iv` when the session has
/// an AES key), and the integrity trailer when the session has an integrity key.
pub(crate) fn v20_packet(
    keys: &SessionKeys,
    payload_type: u8,
    session_id: u32,
    seq: u32,
    payload: &[u8],
    iv: [u8; 16],
) -> Vec<u8> {
    let mut pkt = Vec::with_capacity(64 + payload.len());
    pkt.extend_from_slice(&RMCP_HEADER);
    pkt.push(FORMAT_RMCP_PLUS);
    let encrypted = if keys.aes.is_some() { 0x80 } else { 0 };
    let authenticated = if keys.integrity.is_some() { 0x40 } else { 0 };
    pkt.push(encrypted | authenticated | (payload_type & 0x3F));
    pkt.extend_from_slice(&session_id.to_le_bytes());
    pkt.extend_from_slice(&seq.to_le_bytes());
    let body = match &keys.aes {
        None => payload.to_vec(),
        Some(key) => {
            // Confidentiality trailer: pad bytes 1, 2, 3 ... then the pad length, so
            // that payload + pad + 1 fills whole AES blocks.
            let pad = (16 - (payload.len() + 1) % 16) % 16;
            let mut plain = payload.to_vec();
            plain.extend((1..=pad).map(|i| i as u8));
            plain.push(pad as u8);
            let mut body = iv.to_vec();
            // Cannot fail: `plain` is a whole number of blocks by construction.
            crypto::aes_cbc_encrypt(key, &iv, &mut plain);
            body.extend_from_slice(&plain);
            body
        }
    };
    pkt.extend_from_slice(&(body.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    pkt.extend_from_slice(&body);
    if let Some((hash, k1, len)) = &keys.integrity {
        // Integrity pad (0xFF) so that auth type .. next header is a multiple of 4.
        let covered = pkt.len() - RMCP_HEADER.len() + 2;
        let pad = (4 - covered % 4) % 4;
        pkt.extend(std::iter::repeat_n(0xFF, pad));
        pkt.push(pad as u8);
        pkt.push(NEXT_HEADER);
        let code = crypto::hmac(*hash, k1, &[&pkt[RMCP_HEADER.len()..]]);
        pkt.extend_from_slice(&code[..(*len).min(code.len())]);
    }
    pkt
}

/// A received RMCP+ packet, checked and decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V20Packet {
    pub payload_type: u8,
    pub session_id: u32,
    pub seq: u32,
    pub payload: Vec<u8>,
}

/// Parse an RMCP+ packet under the session's keys: its authenticated/encrypted flags
/// must be those of the session, its integrity HMAC must match, its padding must be sane.
pub(crate) fn parse_v20_packet(keys: &SessionKeys, pkt: &[u8]) -> Result<V20Packet, FrameError> {
    if pkt.len() < 16 {
        return Err(FrameError::Truncated);
    }
    if !is_rmcp_ipmi(pkt) || pkt[4] != FORMAT_RMCP_PLUS {
        return Err(FrameError::WrongFormat);
    }
    let flags = pkt[5];
    if (flags & 0x80 != 0) != keys.aes.is_some() || (flags & 0x40 != 0) != keys.integrity.is_some()
    {
        return Err(FrameError::Security);
    }
    let session_id = le_u32(&pkt[6..10]);
    let seq = le_u32(&pkt[10..14]);
    let body_len = usize::from(u16::from_le_bytes([pkt[14], pkt[15]]));
    let body = pkt.get(16..16 + body_len).ok_or(FrameError::Truncated)?;
    if let Some((hash, k1, len)) = &keys.integrity {
        let covered_end = pkt.len().checked_sub(*len).ok_or(FrameError::Truncated)?;
        if covered_end < 16 + body_len + 2 {
            return Err(FrameError::Truncated);
        }
        let expected = crypto::hmac(*hash, k1, &[&pkt[RMCP_HEADER.len()..covered_end]]);
        if !crypto::same_bytes(&pkt[covered_end..], &expected[..(*len).min(expected.len())]) {
            return Err(FrameError::AuthCode);
        }
    }
    let payload = match &keys.aes {
        None => body.to_vec(),
        Some(key) => decrypt_payload(key, body)?,
    };
    Ok(V20Packet {
        payload_type: flags & 0x3F,
        session_id,
        seq,
        payload,
    })
}

/// IV, then AES-CBC blocks whose plaintext ends in pad bytes 1..n and the pad length n.
fn decrypt_payload(key: &[u8; 16], body: &[u8]) -> Result<Vec<u8>, FrameError> {
    if body.len() < 32 || body.len() & 15 != 0 {
        return Err(FrameError::Decryption);
    }
    let mut iv = [0u8; 16];
    iv.copy_from_slice(&body[..16]);
    let mut plain = body[16..].to_vec();
    if !crypto::aes_cbc_decrypt(key, &iv, &mut plain) {
        return Err(FrameError::Decryption);
    }
    let pad = usize::from(plain.last().copied().ok_or(FrameError::Decryption)?);
    let data_len = plain
        .len()
        .checked_sub(pad + 1)
        .ok_or(FrameError::Decryption)?;
    if plain[data_len..data_len + pad]
        .iter()
        .zip(1u8..)
        .any(|(b, want)| *b != want)
    {
        return Err(FrameError::Decryption);
    }
    plain.truncate(data_len);
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipmb_request_has_the_spec_layout_and_checksums() {
        // Get Chassis Status, rqSeq 1: 20 00 e0 81 04 01 7a
        assert_eq!(
            ipmb_request(0x00, 0x01, 1, &[]),
            vec![0x20, 0x00, 0xE0, 0x81, 0x04, 0x01, 0x7A]
        );
    }

    #[test]
    fn ipmb_response_round_trip_and_checksum_failure() {
        let mut msg = vec![CONSOLE_ADDRESS, 0x01 << 2];
        msg.push(checksum(&msg));
        let body = [BMC_ADDRESS, 5 << 2, 0x01, 0x00, 0x21, 0x10, 0x40];
        msg.extend_from_slice(&body);
        msg.push(checksum(&body));
        let rsp = parse_ipmb_response(&msg).expect("valid response");
        assert_eq!(
            (rsp.netfn, rsp.rq_seq, rsp.cmd, rsp.completion),
            (0x01, 5, 0x01, 0)
        );
        assert_eq!(rsp.data, vec![0x21, 0x10, 0x40]);
        let last = msg.len() - 1;
        msg[last] ^= 1;
        assert_eq!(parse_ipmb_response(&msg), Err(FrameError::Checksum));
        assert_eq!(parse_ipmb_response(&msg[..5]), Err(FrameError::Truncated));
    }

    #[test]
    fn v15_packets_round_trip_with_each_auth_type() {
        let mut password = [0u8; 16];
        password[..6].copy_from_slice(b"secret");
        for auth in [V15Auth::None, V15Auth::Md5, V15Auth::Password] {
            let pkt = v15_packet(auth, &password, 9, 0xAABB_CCDD, b"hello");
            let got = parse_v15_packet(&pkt, &password).expect("parses");
            assert_eq!(got.auth, auth);
            assert_eq!((got.seq, got.session_id), (9, 0xAABB_CCDD));
            assert_eq!(got.msg, b"hello");
        }
        let pkt = v15_packet(V15Auth::Md5, &password, 9, 1, b"hello");
        assert_eq!(
            parse_v15_packet(&pkt, &[0u8; 16]),
            Err(FrameError::AuthCode)
        );
    }

    fn session_keys(aes: bool) -> SessionKeys {
        SessionKeys {
            integrity: Some((Hash::Sha1, vec![7u8; 20], 12)),
            aes: aes.then_some([3u8; 16]),
        }
    }

    #[test]
    fn v20_packets_round_trip_every_payload_length() {
        for aes in [false, true] {
            let keys = session_keys(aes);
            for len in 0..40 {
                let payload: Vec<u8> = (0..len as u8).collect();
                let pkt = v20_packet(&keys, PAYLOAD_IPMI, 0x1234, 7, &payload, [9u8; 16]);
                // The integrity-covered part is a whole number of 32-bit words.
                assert_eq!((pkt.len() - 4 - 12) % 4, 0);
                let got = parse_v20_packet(&keys, &pkt).expect("parses");
                assert_eq!(got.payload, payload, "aes={aes} len={len}");
                assert_eq!((got.session_id, got.seq), (0x1234, 7));
            }
        }
    }

    #[test]
    fn v20_tampering_and_flag_mismatch_are_rejected() {
        let keys = session_keys(true);
        let mut pkt = v20_packet(&keys, PAYLOAD_IPMI, 1, 1, b"payload", [0u8; 16]);
        assert_eq!(
            parse_v20_packet(&SessionKeys::NONE, &pkt),
            Err(FrameError::Security)
        );
        pkt[20] ^= 0x01;
        assert_eq!(parse_v20_packet(&keys, &pkt), Err(FrameError::AuthCode));
        let plain = v20_packet(&SessionKeys::NONE, PAYLOAD_RAKP2, 0, 0, b"x", [0u8; 16]);
        let got = parse_v20_packet(&SessionKeys::NONE, &plain).expect("plain parses");
        assert_eq!(
            (got.payload_type, got.payload),
            (PAYLOAD_RAKP2, b"x".to_vec())
        );
    }
}
