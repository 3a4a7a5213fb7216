//! Status reports on the wire, pure: besides its heartbeat, every node sends each
//! keepalive a report of the resources it runs and of the nodes it has fenced (with the
//! incarnation it fenced), authenticated with HMAC-SHA256 under the cluster key, like the
//! heartbeat ([`crate::cluster::packet`]) but with its own magic so neither can pass for
//! the other. Peers learn from it where resources run (so a rejoining node starts nothing
//! that runs elsewhere), that a fence was confirmed (so every member's failover machine
//! sees the lost node clean), and a fenced node learns it was fenced.
//!
//! Layout (big-endian), version 1:
//! ```text
//! 0   4  magic "PLSR"
//! 4   1  version (1)
//! 5   1  flags (0)
//! 6   4  cluster id
//! 10  4  sender node id
//! 14  8  incarnation
//! 22  8  sequence
//! 30  2  r = number of resources running on the sender
//! ..     r x (1 byte length, name bytes)
//! ..  2  f = number of fenced entries
//! ..     f x (4 node id, 8 incarnation fenced)
//! ..  32 HMAC-SHA256 of everything before it
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::cluster::quorum::NodeId;

const MAGIC: &[u8; 4] = b"PLSR";
const VERSION: u8 = 1;
const HEADER: usize = 32;
const MAC_LEN: usize = 32;
/// Most resources or fenced entries one report carries.
pub const MAX_ENTRIES: usize = 256;

/// A decoded, authenticated report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub cluster: u32,
    pub from: NodeId,
    pub incarnation: u64,
    pub seq: u64,
    /// Resources running on the sender.
    pub running: Vec<String>,
    /// Nodes the sender fenced: (node, the incarnation it had when fenced; 0 = never heard).
    pub fenced: Vec<(NodeId, u64)>,
}

/// Why a report datagram was dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// Shorter than a header and a MAC.
    #[error("report too short ({0} bytes)")]
    TooShort(usize),
    /// Not a report.
    #[error("not a palisade report (bad magic)")]
    BadMagic,
    /// A version we do not speak.
    #[error("report version {0} not supported")]
    Version(u8),
    /// Counts and length disagree.
    #[error("inconsistent report length")]
    Length,
    /// Forged, corrupted or signed with another key.
    #[error("authentication failed (wrong key or tampered report)")]
    BadMac,
    /// Authentic, but for another cluster.
    #[error("report for cluster {0}, not ours")]
    OtherCluster(u32),
    /// A resource name that is not UTF-8.
    #[error("resource name is not UTF-8")]
    Name,
}

/// Whether `bytes` start like a report (rather than a heartbeat).
pub fn is_report(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; the fallback is never taken.
    Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()))
}

/// Encode and sign (names longer than 255 bytes and entries beyond
/// [`MAX_ENTRIES`] are left out).
pub fn encode(r: &Report, key: &[u8]) -> Vec<u8> {
    let names: Vec<&String> = r
        .running
        .iter()
        .filter(|n| n.len() <= 255)
        .take(MAX_ENTRIES)
        .collect();
    let fenced = &r.fenced[..r.fenced.len().min(MAX_ENTRIES)];
    let mut b = Vec::with_capacity(HEADER + 64);
    b.extend_from_slice(MAGIC);
    b.push(VERSION);
    b.push(0);
    b.extend_from_slice(&r.cluster.to_be_bytes());
    b.extend_from_slice(&r.from.to_be_bytes());
    b.extend_from_slice(&r.incarnation.to_be_bytes());
    b.extend_from_slice(&r.seq.to_be_bytes());
    b.extend_from_slice(&(names.len() as u16).to_be_bytes());
    for n in names {
        b.push(n.len() as u8);
        b.extend_from_slice(n.as_bytes());
    }
    b.extend_from_slice(&(fenced.len() as u16).to_be_bytes());
    for (node, inc) in fenced {
        b.extend_from_slice(&node.to_be_bytes());
        b.extend_from_slice(&inc.to_be_bytes());
    }
    let mut m = mac(key);
    m.update(&b);
    b.extend_from_slice(&m.finalize().into_bytes());
    b
}

/// A cursor that never reads past the end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ReportError> {
        let end = self.at.checked_add(n).ok_or(ReportError::Length)?;
        let slice = self.b.get(self.at..end).ok_or(ReportError::Length)?;
        self.at = end;
        Ok(slice)
    }

    fn u16(&mut self) -> Result<u16, ReportError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn u32(&mut self) -> Result<u32, ReportError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(a))
    }

    fn u64(&mut self) -> Result<u64, ReportError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(a))
    }
}

/// Check and decode a report of cluster `cluster`.
pub fn decode(b: &[u8], key: &[u8], cluster: u32) -> Result<Report, ReportError> {
    if b.len() < HEADER + 2 + MAC_LEN {
        return Err(ReportError::TooShort(b.len()));
    }
    if !is_report(b) {
        return Err(ReportError::BadMagic);
    }
    if b[4] != VERSION {
        return Err(ReportError::Version(b[4]));
    }
    let (body, tag) = b.split_at(b.len() - MAC_LEN);
    let mut m = mac(key);
    m.update(body);
    m.verify_slice(tag).map_err(|_| ReportError::BadMac)?;
    let mut r = Reader { b: body, at: 6 };
    let packet_cluster = r.u32()?;
    if packet_cluster != cluster {
        return Err(ReportError::OtherCluster(packet_cluster));
    }
    let from = r.u32()?;
    let incarnation = r.u64()?;
    let seq = r.u64()?;
    let count = usize::from(r.u16()?);
    if count > MAX_ENTRIES {
        return Err(ReportError::Length);
    }
    let mut running = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(r.take(1)?[0]);
        let name = std::str::from_utf8(r.take(len)?).map_err(|_| ReportError::Name)?;
        running.push(name.to_string());
    }
    let count = usize::from(r.u16()?);
    if count > MAX_ENTRIES {
        return Err(ReportError::Length);
    }
    let mut fenced = Vec::with_capacity(count);
    for _ in 0..count {
        fenced.push((r.u32()?, r.u64()?));
    }
    if r.at != body.len() {
        return Err(ReportError::Length);
    }
    Ok(Report {
        cluster: packet_cluster,
        from,
        incarnation,
        seq,
        running,
        fenced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef-cluster-key";

    fn report() -> Report {
        Report {
            cluster: 7,
            from: 2,
            incarnation: 5,
            seq: 11,
            running: vec!["db".into(), "web-ip".into()],
            fenced: vec![(1, 1_700_000_000_000_000), (3, 0)],
        }
    }

    #[test]
    fn round_trip_and_empty() {
        let b = encode(&report(), KEY);
        assert!(is_report(&b));
        assert_eq!(decode(&b, KEY, 7), Ok(report()));
        let empty = Report {
            cluster: 7,
            from: 1,
            ..Report::default()
        };
        assert_eq!(decode(&encode(&empty, KEY), KEY, 7), Ok(empty));
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let b = encode(&report(), KEY);
        for i in 0..b.len() * 8 {
            let mut c = b.clone();
            c[i / 8] ^= 1 << (i % 8);
            assert!(decode(&c, KEY, 7).is_err(), "bit {i} flip accepted");
        }
    }

    #[test]
    fn wrong_key_cluster_truncation_and_heartbeats() {
        let b = encode(&report(), KEY);
        assert_eq!(
            decode(&b, b"another-key-of-16-bytes", 7),
            Err(ReportError::BadMac)
        );
        assert_eq!(decode(&b, KEY, 8), Err(ReportError::OtherCluster(7)));
        assert_eq!(decode(&b[..20], KEY, 7), Err(ReportError::TooShort(20)));
        // a heartbeat is not a report, whatever its key
        let hb = crate::cluster::packet::encode(
            &crate::cluster::packet::Packet {
                cluster: 7,
                from: 2,
                incarnation: 1,
                seq: 1,
                quorate: true,
                members: vec![1, 2],
            },
            &crate::cluster::packet::Key::new(KEY).expect("key"),
        );
        assert!(!is_report(&hb));
        assert_eq!(decode(&hb, KEY, 7), Err(ReportError::BadMagic));
    }

    #[test]
    fn signed_garbage_bodies_are_length_errors_not_panics() {
        // Authentic (correct MAC) but inconsistent bodies: counts that run past the end.
        for body_len in 0..40usize {
            let mut body = Vec::from(&MAGIC[..]);
            body.push(VERSION);
            body.push(0);
            body.extend_from_slice(&7u32.to_be_bytes());
            body.resize(body.len() + body_len, 0xff);
            let mut m = mac(KEY);
            m.update(&body);
            body.extend_from_slice(&m.finalize().into_bytes());
            let _ = decode(&body, KEY, 7);
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..200 {
            let mut bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            if len >= 4 {
                bytes[..4].copy_from_slice(MAGIC);
            }
            let _ = decode(&bytes, KEY, 7);
        }
    }
}
