//! Status reports on the wire, pure: besides its heartbeat, every node sends each
//! keepalive (and at once after a change) a report of the resources it runs (role and
//! status), the nodes it has fenced (with the incarnation it fenced), its failcounts,
//! the admin records it knows ([`super::admin`]) and, from the coordinator, the starts and
//! promotions its plan expects (grants), and its transient node attributes (the
//! promotion scores its agents set: `master-CHILD`). It is authenticated with HMAC-SHA256 under the
//! cluster key, like the heartbeat ([`crate::cluster::packet`]) but with its own magic so
//! neither can pass for the other. Peers learn from it where resources run and in what
//! state (the scheduler's input), that a fence was confirmed (so every member's failover
//! machine sees the lost node clean), and a fenced node learns it was fenced.
//!
//! Layout (big-endian), version 5 or 4: version 5 is version 4 with meaningful flags,
//! written only when a flag is set, so that a version 4 peer, which drops it, misses only
//! the flag (version 3 had no fence ages, version 2 no attributes, version 1 only the
//! resource names and fences; version 3 is still read, its fences with no age, which
//! confirm nothing: see [`crate::node::peers`]):
//! ```text
//! 0   4  magic "PLSR"
//! 4   1  version (5, or 4 when no flag is set)
//! 5   1  flags: bit 0 leaving (version 5; 0 and ignored before)
//! 6   4  cluster id
//! 10  4  sender node id
//! 14  8  incarnation
//! 22  8  sequence
//! 30  2  r = resources on the sender: r x (1 length, name, 1 role, 1 status)
//! ..  2  f = fenced entries: f x (4 node id, 8 incarnation fenced, 8 ms since the fence
//!          started; version 3: no age)
//! ..  2  c = failcounts: c x (1 length, resource, 4 count, 8 ms since the last failure)
//! ..  2  a = admin records: a x (1 length, key, 1 length, value, 8 version, 4 origin)
//! ..  2  g = grants: g x (1 kind, 1 length, resource, 4 node id)
//! ..  2  n = node attributes: n x (1 length, name, 1 length, value)
//! ..  32 HMAC-SHA256 of everything before it
//! ```
//! Role: 0 started, 1 promoted. Status: 0 running, 1 starting, 2 stopping, 3 failed
//! (monitor or start failed), 4 stop failed, 5 promoting (a promotion intended or under
//! way: not promoted yet for the plan, but counted as promoted by every guard). Grant
//! kind: 0 start, 1 promote, 2 promote confirmed (the coordinator saw the node's intent
//! and nothing else promoted: the agent's promote may run).
//!
//! Leaving: the sender stopped every resource and ends this incarnation (a clean leave,
//! [`crate::node::machine`]): a peer that gets it while the report lists nothing drops
//! the sender without fencing it once it is gone. A version 4 peer never sees the flag
//! and fences as before.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::admin::Record;
use crate::cluster::quorum::NodeId;
use crate::placement::config::Role;

const MAGIC: &[u8; 4] = b"PLSR";
const VERSION: u8 = 5;
/// The version written when no flag is set (what version 4 peers read).
const UNFLAGGED: u8 = 4;
/// Flag bit: the sender leaves cleanly.
const FLAG_LEAVING: u8 = 1;
/// The oldest version still read (its fences carry no age).
const OLDEST: u8 = 3;
const HEADER: usize = 32;
const MAC_LEN: usize = 32;
/// Most entries of each list one report carries.
pub const MAX_ENTRIES: usize = 256;
/// Largest report sent (UDP payloads stop at 65507 bytes).
pub const MAX_DATAGRAM: usize = 60_000;

/// Where a resource instance stands on its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RunStatus {
    /// Running, last monitor fine.
    Running,
    /// A start is under way.
    Starting,
    /// A stop is under way.
    Stopping,
    /// A monitor or a start failed: it must be recovered (stopped).
    Failed,
    /// A stop failed: it may still run; only fencing the node is safe.
    StopFailed,
    /// Running; a promotion is intended or under way (not yet promoted for the plan,
    /// promoted for every guard).
    Promoting,
}

impl RunStatus {
    fn code(self) -> u8 {
        match self {
            RunStatus::Running => 0,
            RunStatus::Starting => 1,
            RunStatus::Stopping => 2,
            RunStatus::Failed => 3,
            RunStatus::StopFailed => 4,
            RunStatus::Promoting => 5,
        }
    }

    fn from_code(code: u8) -> Option<RunStatus> {
        Some(match code {
            0 => RunStatus::Running,
            1 => RunStatus::Starting,
            2 => RunStatus::Stopping,
            3 => RunStatus::Failed,
            4 => RunStatus::StopFailed,
            5 => RunStatus::Promoting,
            _ => return None,
        })
    }

    /// The word used in status output.
    pub fn word(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Starting => "starting",
            RunStatus::Stopping => "stopping",
            RunStatus::Failed => "FAILED",
            RunStatus::StopFailed => "STOP FAILED",
            RunStatus::Promoting => "promoting",
        }
    }
}

/// One resource (a primitive) on the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// The primitive.
    pub name: String,
    /// Started or promoted.
    pub role: Role,
    /// Its status.
    pub status: RunStatus,
}

/// The sender's failcount of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failcount {
    /// The primitive.
    pub resource: String,
    /// Failures counted.
    pub count: u32,
    /// Milliseconds since the last one (ages travel, not clock readings).
    pub age_ms: u64,
}

/// A start or promotion the coordinator's plan expects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    /// Promote (true) or start.
    pub promote: bool,
    /// A promotion the coordinator confirmed: it saw the node report its intent, and no
    /// other instance promoted or being promoted beyond promoted-max.
    pub confirmed: bool,
    /// The unit (primitive or clone) as the plan names it.
    pub resource: String,
    /// The node that carries it out.
    pub node: NodeId,
}

/// A fence the sender knows of (its own or learned from a peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FenceRecord {
    /// The node fenced.
    pub node: NodeId,
    /// The incarnation it had when fenced (0: the fencing node never heard it).
    pub incarnation: u64,
    /// Milliseconds since the fence started (ages travel, not clock readings); None in
    /// a version 3 report.
    pub age_ms: Option<u64>,
}

/// A decoded, authenticated report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub cluster: u32,
    pub from: NodeId,
    pub incarnation: u64,
    pub seq: u64,
    /// Resources on the sender, in any status.
    pub running: Vec<Running>,
    /// Fences the sender knows of, for nodes out of its view.
    pub fenced: Vec<FenceRecord>,
    /// The sender's failcounts.
    pub failcounts: Vec<Failcount>,
    /// The admin records the sender knows.
    pub admin: Vec<Record>,
    /// The coordinator's grants (empty from other nodes).
    pub grants: Vec<Grant>,
    /// The sender's transient node attributes (name, value): promotion scores.
    pub attributes: Vec<(String, String)>,
    /// The sender leaves cleanly: everything it ran is stopped and this incarnation ends.
    pub leaving: bool,
}

impl Report {
    /// The same report but for the sequence number and the failure and fence ages (whether
    /// anything the scheduler reads changed; ages are re-read every keepalive anyway).
    pub fn same_content(&self, other: &Report) -> bool {
        let counts = |r: &Report| -> Vec<(String, u32)> {
            r.failcounts
                .iter()
                .map(|f| (f.resource.clone(), f.count))
                .collect()
        };
        let fences = |r: &Report| -> Vec<(NodeId, u64)> {
            r.fenced.iter().map(|f| (f.node, f.incarnation)).collect()
        };
        self.incarnation == other.incarnation
            && self.running == other.running
            && fences(self) == fences(other)
            && counts(self) == counts(other)
            && self.admin == other.admin
            && self.grants == other.grants
            && self.attributes == other.attributes
            && self.leaving == other.leaving
    }

    /// The names of the resources the sender runs (in any status).
    pub fn names(&self) -> Vec<String> {
        self.running.iter().map(|r| r.name.clone()).collect()
    }
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
    /// A role, status or grant kind we do not know.
    #[error("unknown role, status or grant kind")]
    Field,
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

fn text(b: &mut Vec<u8>, t: &str) {
    b.push(t.len() as u8);
    b.extend_from_slice(t.as_bytes());
}

fn fits(t: &str) -> bool {
    t.len() <= 255
}

/// Encode and sign (texts longer than 255 bytes and entries beyond [`MAX_ENTRIES`] of a
/// list are left out).
pub fn encode(r: &Report, key: &[u8]) -> Vec<u8> {
    let running: Vec<&Running> = r
        .running
        .iter()
        .filter(|x| fits(&x.name))
        .take(MAX_ENTRIES)
        .collect();
    let fenced = &r.fenced[..r.fenced.len().min(MAX_ENTRIES)];
    let failcounts: Vec<&Failcount> = r
        .failcounts
        .iter()
        .filter(|f| fits(&f.resource))
        .take(MAX_ENTRIES)
        .collect();
    // The admin records are the only list that can grow large: they stop before the
    // datagram would pass MAX_DATAGRAM (a receiver learns the rest from another node, or
    // from the next report once older records are superseded).
    let mut room = MAX_DATAGRAM.saturating_sub(HEADER + MAC_LEN + 4096);
    let admin: Vec<&Record> = r
        .admin
        .iter()
        .filter(|a| fits(&a.key) && fits(&a.value))
        .take(MAX_ENTRIES)
        .take_while(|a| {
            let size = a.key.len() + a.value.len() + 14;
            room = room.saturating_sub(size);
            room > 0
        })
        .collect();
    let grants: Vec<&Grant> = r
        .grants
        .iter()
        .filter(|g| fits(&g.resource))
        .take(MAX_ENTRIES)
        .collect();
    let attributes: Vec<&(String, String)> = r
        .attributes
        .iter()
        .filter(|(k, v)| fits(k) && fits(v))
        .take(MAX_ENTRIES)
        .collect();
    let mut b = Vec::with_capacity(HEADER + 128);
    b.extend_from_slice(MAGIC);
    let flags = if r.leaving { FLAG_LEAVING } else { 0 };
    b.push(if flags == 0 { UNFLAGGED } else { VERSION });
    b.push(flags);
    b.extend_from_slice(&r.cluster.to_be_bytes());
    b.extend_from_slice(&r.from.to_be_bytes());
    b.extend_from_slice(&r.incarnation.to_be_bytes());
    b.extend_from_slice(&r.seq.to_be_bytes());
    b.extend_from_slice(&(running.len() as u16).to_be_bytes());
    for x in running {
        text(&mut b, &x.name);
        b.push(u8::from(x.role == Role::Promoted));
        b.push(x.status.code());
    }
    b.extend_from_slice(&(fenced.len() as u16).to_be_bytes());
    for f in fenced {
        b.extend_from_slice(&f.node.to_be_bytes());
        b.extend_from_slice(&f.incarnation.to_be_bytes());
        b.extend_from_slice(&f.age_ms.unwrap_or(u64::MAX).to_be_bytes());
    }
    b.extend_from_slice(&(failcounts.len() as u16).to_be_bytes());
    for f in failcounts {
        text(&mut b, &f.resource);
        b.extend_from_slice(&f.count.to_be_bytes());
        b.extend_from_slice(&f.age_ms.to_be_bytes());
    }
    b.extend_from_slice(&(admin.len() as u16).to_be_bytes());
    for a in admin {
        text(&mut b, &a.key);
        text(&mut b, &a.value);
        b.extend_from_slice(&a.version.to_be_bytes());
        b.extend_from_slice(&a.origin.to_be_bytes());
    }
    b.extend_from_slice(&(grants.len() as u16).to_be_bytes());
    for g in grants {
        b.push(match (g.promote, g.confirmed) {
            (false, _) => 0,
            (true, false) => 1,
            (true, true) => 2,
        });
        text(&mut b, &g.resource);
        b.extend_from_slice(&g.node.to_be_bytes());
    }
    b.extend_from_slice(&(attributes.len() as u16).to_be_bytes());
    for (k, v) in attributes {
        text(&mut b, k);
        text(&mut b, v);
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

    fn u8(&mut self) -> Result<u8, ReportError> {
        Ok(self.take(1)?[0])
    }

    fn text(&mut self) -> Result<String, ReportError> {
        let len = usize::from(self.u8()?);
        let t = std::str::from_utf8(self.take(len)?).map_err(|_| ReportError::Name)?;
        Ok(t.to_string())
    }

    fn count(&mut self) -> Result<usize, ReportError> {
        let n = usize::from(self.u16()?);
        if n > MAX_ENTRIES {
            return Err(ReportError::Length);
        }
        Ok(n)
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
    let version = b[4];
    if !(OLDEST..=VERSION).contains(&version) {
        return Err(ReportError::Version(version));
    }
    let (body, tag) = b.split_at(b.len() - MAC_LEN);
    let mut m = mac(key);
    m.update(body);
    m.verify_slice(tag).map_err(|_| ReportError::BadMac)?;
    let leaving = version >= 5 && b[5] & FLAG_LEAVING != 0;
    let mut r = Reader { b: body, at: 6 };
    let packet_cluster = r.u32()?;
    if packet_cluster != cluster {
        return Err(ReportError::OtherCluster(packet_cluster));
    }
    let from = r.u32()?;
    let incarnation = r.u64()?;
    let seq = r.u64()?;
    let mut running = Vec::new();
    for _ in 0..r.count()? {
        let name = r.text()?;
        let role = match r.u8()? {
            0 => Role::Started,
            1 => Role::Promoted,
            _ => return Err(ReportError::Field),
        };
        let status = RunStatus::from_code(r.u8()?).ok_or(ReportError::Field)?;
        running.push(Running { name, role, status });
    }
    let mut fenced = Vec::new();
    for _ in 0..r.count()? {
        let (node, incarnation) = (r.u32()?, r.u64()?);
        let age_ms = if version >= 4 {
            Some(r.u64()?).filter(|a| *a != u64::MAX)
        } else {
            None
        };
        fenced.push(FenceRecord {
            node,
            incarnation,
            age_ms,
        });
    }
    let mut failcounts = Vec::new();
    for _ in 0..r.count()? {
        failcounts.push(Failcount {
            resource: r.text()?,
            count: r.u32()?,
            age_ms: r.u64()?,
        });
    }
    let mut admin = Vec::new();
    for _ in 0..r.count()? {
        admin.push(Record {
            key: r.text()?,
            value: r.text()?,
            version: r.u64()?,
            origin: r.u32()?,
        });
    }
    let mut grants = Vec::new();
    for _ in 0..r.count()? {
        let (promote, confirmed) = match r.u8()? {
            0 => (false, false),
            1 => (true, false),
            2 => (true, true),
            _ => return Err(ReportError::Field),
        };
        grants.push(Grant {
            promote,
            confirmed,
            resource: r.text()?,
            node: r.u32()?,
        });
    }
    let mut attributes = Vec::new();
    for _ in 0..r.count()? {
        attributes.push((r.text()?, r.text()?));
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
        failcounts,
        admin,
        grants,
        attributes,
        leaving,
    })
}

#[cfg(test)]
mod tests;
