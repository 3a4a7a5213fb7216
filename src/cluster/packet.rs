//! Heartbeat packets on the wire, pure: encode and decode, authenticated with
//! HMAC-SHA256 over the whole packet under the cluster key (heartbeat's crc/md5/sha1 are
//! not enough). Replay protection is the receiver's membership: (incarnation, sequence)
//! once it knows the sender, and on first contact a challenge the sender must echo
//! ([`super::challenge`]): a receiver with no state for a peer puts a fresh nonce for it
//! in its heartbeats, and counts the peer only once an authenticated heartbeat of the
//! peer echoes that nonce.
//!
//! Layout (big-endian), version 2 (version 1 had no challenges and echoes):
//! ```text
//! 0   4  magic "PLSD"
//! 4   1  version (2)
//! 5   1  flags (bit 0: sender's partition is quorate)
//! 6   4  cluster id
//! 10  4  sender node id
//! 14  8  incarnation (bumped at each daemon start)
//! 22  8  sequence
//! 30  2  n = number of members the sender sees
//! 32  2  c = number of challenges
//! 34  2  e = number of echoes
//! 36  4n member node ids
//! ..  20c challenges: (4 node id, 16 nonce) — that node must echo the nonce
//! ..  20e echoes: (4 node id, 16 nonce) — the nonce that node challenged the sender with
//! ..  32 HMAC-SHA256 of everything before it
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::challenge::{Nonce, NONCE_LEN};
use super::quorum::NodeId;

const MAGIC: &[u8; 4] = b"PLSD";
const VERSION: u8 = 2;
const HEADER: usize = 36;
const MAC_LEN: usize = 32;
const ENTRY: usize = 4 + NONCE_LEN;
/// Upper bound on members listed (and on challenges, and on echoes), so a forged length
/// cannot ask for much.
pub const MAX_MEMBERS: usize = 256;

/// A decoded, authenticated heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub cluster: u32,
    pub from: NodeId,
    pub incarnation: u64,
    pub seq: u64,
    pub quorate: bool,
    pub members: Vec<NodeId>,
    /// Nonces the sender challenges these nodes with (they must echo them).
    pub challenges: Vec<(NodeId, Nonce)>,
    /// Nonces these nodes challenged the sender with, echoed.
    pub echoes: Vec<(NodeId, Nonce)>,
}

/// Why a datagram was dropped (each is counted, none is fatal).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    /// Shorter than a header and a MAC.
    #[error("packet too short ({0} bytes)")]
    TooShort(usize),
    /// Not a palisade heartbeat.
    #[error("not a palisade heartbeat (bad magic)")]
    BadMagic,
    /// A version we do not speak.
    #[error("heartbeat version {0} not supported")]
    Version(u8),
    /// Counts and length disagree, or too many entries.
    #[error("inconsistent packet length")]
    Length,
    /// Forged, corrupted, or signed with another key.
    #[error("authentication failed (wrong key or tampered packet)")]
    BadMac,
    /// Authentic, but for another cluster.
    #[error("packet for cluster {0}, not ours")]
    OtherCluster(u32),
}

/// The cluster key (at least 16 bytes).
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key([hidden])")
    }
}

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// Too little secret to authenticate anything.
    #[error("cluster key too short: {0} bytes, need at least 16")]
    TooShort(usize),
}

impl Key {
    /// A key from raw bytes.
    pub fn new(bytes: &[u8]) -> Result<Key, KeyError> {
        if bytes.len() < 16 {
            return Err(KeyError::TooShort(bytes.len()));
        }
        Ok(Key(bytes.to_vec()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so the fallback is never taken.
        Hmac::<Sha256>::new_from_slice(&self.0)
            .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()))
    }
}

/// Encode and sign.
pub fn encode(p: &Packet, key: &Key) -> Vec<u8> {
    let members = &p.members[..p.members.len().min(MAX_MEMBERS)];
    let challenges = &p.challenges[..p.challenges.len().min(MAX_MEMBERS)];
    let echoes = &p.echoes[..p.echoes.len().min(MAX_MEMBERS)];
    let mut b = Vec::with_capacity(
        HEADER + 4 * members.len() + ENTRY * (challenges.len() + echoes.len()) + MAC_LEN,
    );
    b.extend_from_slice(MAGIC);
    b.push(VERSION);
    b.push(u8::from(p.quorate));
    b.extend_from_slice(&p.cluster.to_be_bytes());
    b.extend_from_slice(&p.from.to_be_bytes());
    b.extend_from_slice(&p.incarnation.to_be_bytes());
    b.extend_from_slice(&p.seq.to_be_bytes());
    b.extend_from_slice(&(members.len() as u16).to_be_bytes());
    b.extend_from_slice(&(challenges.len() as u16).to_be_bytes());
    b.extend_from_slice(&(echoes.len() as u16).to_be_bytes());
    for m in members {
        b.extend_from_slice(&m.to_be_bytes());
    }
    for (node, nonce) in challenges.iter().chain(echoes) {
        b.extend_from_slice(&node.to_be_bytes());
        b.extend_from_slice(&nonce.0);
    }
    let mut mac = key.mac();
    mac.update(&b);
    b.extend_from_slice(&mac.finalize().into_bytes());
    b
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_be_bytes(a)
}

fn be_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Check and decode a datagram of cluster `cluster`.
pub fn decode(b: &[u8], key: &Key, cluster: u32) -> Result<Packet, PacketError> {
    if b.len() < HEADER + MAC_LEN {
        return Err(PacketError::TooShort(b.len()));
    }
    if &b[0..4] != MAGIC {
        return Err(PacketError::BadMagic);
    }
    if b[4] != VERSION {
        return Err(PacketError::Version(b[4]));
    }
    let n = u16::from_be_bytes([b[30], b[31]]) as usize;
    let c = u16::from_be_bytes([b[32], b[33]]) as usize;
    let e = u16::from_be_bytes([b[34], b[35]]) as usize;
    if n > MAX_MEMBERS
        || c > MAX_MEMBERS
        || e > MAX_MEMBERS
        || b.len() != HEADER + 4 * n + ENTRY * (c + e) + MAC_LEN
    {
        return Err(PacketError::Length);
    }
    let (body, tag) = b.split_at(b.len() - MAC_LEN);
    let mut mac = key.mac();
    mac.update(body);
    mac.verify_slice(tag).map_err(|_| PacketError::BadMac)?;
    let packet_cluster = be_u32(b, 6);
    if packet_cluster != cluster {
        return Err(PacketError::OtherCluster(packet_cluster));
    }
    Ok(Packet {
        cluster: packet_cluster,
        from: be_u32(b, 10),
        incarnation: be_u64(b, 14),
        seq: be_u64(b, 22),
        quorate: b[5] & 1 != 0,
        members: (0..n).map(|i| be_u32(b, HEADER + 4 * i)).collect(),
        challenges: entries(b, HEADER + 4 * n, c),
        echoes: entries(b, HEADER + 4 * n + ENTRY * c, e),
    })
}

/// `count` (node id, nonce) entries from `at` (the length was checked).
fn entries(b: &[u8], at: usize, count: usize) -> Vec<(NodeId, Nonce)> {
    (0..count)
        .map(|i| {
            let start = at + ENTRY * i;
            let mut nonce = [0u8; NONCE_LEN];
            nonce.copy_from_slice(&b[start + 4..start + ENTRY]);
            (be_u32(b, start), Nonce(nonce))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new(b"0123456789abcdef-cluster-key").unwrap()
    }

    fn packet() -> Packet {
        Packet {
            cluster: 7,
            from: 2,
            incarnation: 3,
            seq: 99,
            quorate: true,
            members: vec![1, 2, 3],
            challenges: vec![(3, Nonce([3; NONCE_LEN]))],
            echoes: vec![(1, Nonce([1; NONCE_LEN])), (3, Nonce([9; NONCE_LEN]))],
        }
    }

    #[test]
    fn round_trip() {
        let b = encode(&packet(), &key());
        assert_eq!(b.len(), HEADER + 12 + 3 * ENTRY + MAC_LEN);
        assert_eq!(decode(&b, &key(), 7), Ok(packet()));
        let bare = Packet {
            challenges: Vec::new(),
            echoes: Vec::new(),
            ..packet()
        };
        let b = encode(&bare, &key());
        assert_eq!(b.len(), HEADER + 12 + MAC_LEN);
        assert_eq!(decode(&b, &key(), 7), Ok(bare));
    }

    #[test]
    fn version_1_is_refused() {
        let mut b = encode(&packet(), &key());
        b[4] = 1;
        assert_eq!(decode(&b, &key(), 7), Err(PacketError::Version(1)));
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let b = encode(&packet(), &key());
        for i in 0..b.len() * 8 {
            let mut c = b.clone();
            c[i / 8] ^= 1 << (i % 8);
            assert!(decode(&c, &key(), 7).is_err(), "bit {i} flip accepted");
        }
    }

    #[test]
    fn wrong_key_other_cluster_and_garbage() {
        let b = encode(&packet(), &key());
        let other = Key::new(b"another-key-of-16-bytes").unwrap();
        assert_eq!(decode(&b, &other, 7), Err(PacketError::BadMac));
        assert_eq!(decode(&b, &key(), 8), Err(PacketError::OtherCluster(7)));
        assert_eq!(decode(&[], &key(), 7), Err(PacketError::TooShort(0)));
        assert_eq!(decode(&[0u8; 80], &key(), 7), Err(PacketError::BadMagic));
        let mut long = b.clone();
        long.push(0);
        assert_eq!(decode(&long, &key(), 7), Err(PacketError::Length));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..200 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let _ = decode(&bytes, &key(), 7);
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(Key::new(b"short").unwrap_err(), KeyError::TooShort(5));
        assert!(!format!("{:?}", key()).contains("0123"));
    }
}
