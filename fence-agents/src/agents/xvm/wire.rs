//! The fence_virt / fence_xvm wire format (fence-virt's `xvm.h`, read for behaviour):
//!
//! - the request: one 176-byte packed `fence_req_t` — request, hash type, address length,
//!   flags (1 = the domain is a UUID), domain[64], address[28], port (u16), random[6],
//!   seqno (u32), family (u32), hash[64]; integers in host order (little-endian here, as
//!   the daemon on the same kind of host reads them), the address in network order;
//! - its signature: `H(key || packet with the hash field zeroed)`, zero-padded to 64;
//! - the TCP exchange the daemon opens back to the client: the client sends a 64-byte
//!   challenge and checks `H(key || challenge)`; then answers the daemon's challenge the
//!   same way; then one result byte (0 success, 1 failure, 2 off, 3 permission denied,
//!   253 = a host list follows as 130-byte `host_state_t` records ending with an empty one).
//!
//! Pure: no I/O, no randomness of its own.

use std::net::Ipv4Addr;

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// Bytes of a request packet.
pub const PACKET_LEN: usize = 176;
/// Bytes of a challenge, a response and the hash field.
pub const BLOCK: usize = 64;
/// Bytes of one host list record.
pub const HOST_LEN: usize = 130;
/// Bytes of the key file used (ClusterLabs reads at most this much).
pub const MAX_KEY: usize = 4096;
/// AF_INET as Linux numbers it.
const AF_INET: u32 = 2;

/// Result bytes.
pub const RESP_SUCCESS: u8 = 0;
pub const RESP_FAIL: u8 = 1;
pub const RESP_OFF: u8 = 2;
pub const RESP_PERM: u8 = 3;
pub const RESP_HOSTLIST: u8 = 253;

/// A hash of packet signing or challenge-response (`none`, `sha1`, `sha256`, `sha512`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hash {
    None = 0,
    Sha1 = 1,
    Sha256 = 2,
    Sha512 = 3,
}

impl Hash {
    /// The option word (case-insensitive).
    pub fn parse(word: &str) -> Option<Hash> {
        Some(match word.to_ascii_lowercase().as_str() {
            "none" => Hash::None,
            "sha1" => Hash::Sha1,
            "sha256" => Hash::Sha256,
            "sha512" => Hash::Sha512,
            _ => return None,
        })
    }

    /// `H(key || data)` zero-padded to [`BLOCK`] bytes; all zeros for `None`.
    pub fn keyed(self, key: &[u8], data: &[u8]) -> [u8; BLOCK] {
        fn run<D: Digest>(key: &[u8], data: &[u8]) -> Vec<u8> {
            let mut d = D::new();
            d.update(key);
            d.update(data);
            d.finalize().to_vec()
        }
        let digest = match self {
            Hash::None => Vec::new(),
            Hash::Sha1 => run::<Sha1>(key, data),
            Hash::Sha256 => run::<Sha256>(key, data),
            Hash::Sha512 => run::<Sha512>(key, data),
        };
        let mut out = [0u8; BLOCK];
        out[..digest.len()].copy_from_slice(&digest);
        out
    }
}

/// What a request asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Off = 1,
    Reboot = 2,
    On = 3,
    Status = 4,
    HostList = 6,
}

/// One request before encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub op: Op,
    pub hash: Hash,
    /// The domain's name or (with `uuid`) its UUID; at most 63 bytes.
    pub domain: String,
    pub uuid: bool,
    /// Where the daemon connects back to (multicast): our address on the interface the
    /// packet leaves by, and our TCP port; `None` over a connection we opened (TCP
    /// listener), where address, port and family stay zero.
    pub address: Option<Ipv4Addr>,
    pub port: u16,
    pub random: [u8; 6],
    pub seqno: u32,
}

/// Why a request cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("domain {0:?} is longer than 63 bytes")]
    DomainTooLong(String),
}

impl Request {
    /// The signed packet.
    pub fn encode(&self, key: &[u8]) -> Result<[u8; PACKET_LEN], WireError> {
        let domain = self.domain.as_bytes();
        if domain.len() >= 64 {
            return Err(WireError::DomainTooLong(self.domain.clone()));
        }
        let mut p = [0u8; PACKET_LEN];
        p[0] = self.op as u8;
        p[1] = self.hash as u8;
        p[3] = u8::from(self.uuid);
        p[4..4 + domain.len()].copy_from_slice(domain);
        if let Some(address) = self.address {
            p[2] = 4; // sizeof(struct in_addr)
            p[68..72].copy_from_slice(&address.octets());
            p[96..98].copy_from_slice(&self.port.to_le_bytes());
            p[108..112].copy_from_slice(&AF_INET.to_le_bytes());
        }
        p[98..104].copy_from_slice(&self.random);
        p[104..108].copy_from_slice(&self.seqno.to_le_bytes());
        let hash = self.hash.keyed(key, &p);
        if self.hash != Hash::None {
            p[112..176].copy_from_slice(&hash);
        }
        Ok(p)
    }
}

/// One domain of a host list: name, UUID, running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub domain: String,
    pub uuid: String,
    pub on: bool,
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A host list record; `None` for the empty record that ends the list.
pub fn host(record: &[u8; HOST_LEN]) -> Option<Host> {
    let domain = c_string(&record[..64]);
    let uuid = c_string(&record[64..128]);
    if domain.is_empty() && uuid.is_empty() {
        return None;
    }
    Some(Host {
        domain,
        uuid,
        on: record[128] == 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            op: Op::Off,
            hash: Hash::Sha256,
            domain: "node1".into(),
            uuid: false,
            address: Some(Ipv4Addr::new(127, 0, 0, 1)),
            port: 1229,
            random: [1, 2, 3, 4, 5, 6],
            seqno: 0x0102_0304,
        }
    }

    #[test]
    fn packets_have_fence_req_t_layout_and_a_keyed_hash() {
        let key = b"secret key";
        let p = request().encode(key).unwrap();
        assert_eq!(&p[..4], &[1, 2, 4, 0]);
        assert_eq!(&p[4..10], b"node1\0");
        assert_eq!(&p[68..72], &[127, 0, 0, 1]);
        assert_eq!(&p[96..98], &1229u16.to_le_bytes());
        assert_eq!(&p[104..112], &[4, 3, 2, 1, 2, 0, 0, 0]);
        let mut zeroed = p;
        zeroed[112..].fill(0);
        let mut h = Sha256::new();
        h.update(key);
        h.update(zeroed);
        assert_eq!(&p[112..144], h.finalize().as_slice());
        assert_eq!(&p[144..], &[0u8; 32]);
        let none = Request {
            hash: Hash::None,
            ..request()
        };
        assert_eq!(&none.encode(key).unwrap()[112..], &[0u8; 64]);
        let connected = Request {
            address: None,
            ..request()
        };
        let p = connected.encode(key).unwrap();
        assert_eq!(
            (p[2], &p[68..72], &p[96..98], &p[108..112]),
            (0, &[0u8; 4][..], &[0u8; 2][..], &[0u8; 4][..])
        );
        let long = Request {
            domain: "x".repeat(64),
            ..request()
        };
        assert!(long.encode(key).is_err());
    }

    #[test]
    fn responses_are_padded_digests() {
        let r = Hash::Sha1.keyed(b"k", b"challenge");
        assert_eq!(&r[20..], &[0u8; 44]);
        assert_ne!(&r[..20], &[0u8; 20]);
        assert_eq!(Hash::Sha512.keyed(b"k", b"c").len(), 64);
        assert_eq!(Hash::parse("SHA256"), Some(Hash::Sha256));
        assert_eq!(Hash::parse("md5"), None);
    }

    #[test]
    fn host_records_end_with_an_empty_one() {
        let mut r = [0u8; HOST_LEN];
        r[..5].copy_from_slice(b"node2");
        r[64..100].copy_from_slice(b"00000000-0000-0000-0000-000000000002");
        r[128] = 1;
        assert_eq!(
            host(&r),
            Some(Host {
                domain: "node2".into(),
                uuid: "00000000-0000-0000-0000-000000000002".into(),
                on: true
            })
        );
        assert_eq!(host(&[0u8; HOST_LEN]), None);
    }
}
