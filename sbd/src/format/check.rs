//! palisade's integrity field: a CRC32 of each sector's meaningful bytes, stored in bytes
//! ClusterLabs sbd leaves zero, so a torn or corrupted sector is detected.
//!
//! Layout (the same in header, slot and mailbox sectors, for every sector size):
//!
//! | offset | size | content |
//! |---|---|---|
//! | 256 | 4 | tag: `p`, `c`, the sector kind (`H` header, `S` slot, `M` mailbox), format 1 |
//! | 260 | 4 | CRC32 (IEEE, as `crc32fast`), big-endian |
//!
//! The CRC covers the sector's meaningful bytes (header: bytes 0..52, the structure sbd
//! defines including its padding; slot and mailbox: bytes 0..65, the flag or command byte
//! and the name field) followed by the four tag bytes, so a sector written as one kind
//! and found in another place fails too. Offset 256 lies far beyond every field sbd
//! defines (the header ends at 49, slots and mailboxes at 65) and inside the first 512
//! bytes, so it exists on every device. ClusterLabs sbd ignores these bytes when it reads
//! and writes whole, zero-filled sectors (verified against sbd 1.5.2: its `message` and
//! `allocate` leave zero there), so:
//!
//! * an all-zero field means "written by ClusterLabs sbd, or zeroed by a watcher":
//!   accepted unchecked;
//! * all-zero covered bytes mean an empty sector, whatever the field holds: a ClusterLabs
//!   watcher clears a mailbox *in place* (it zeroes the command and sender it read and
//!   writes the sector back, keeping our field — verified with sbd 1.5.2's `watch`), so
//!   a cleared mailbox of ours carries a stale CRC. Accepted unchecked as empty;
//! * a field with our tag must match the CRC, else the sector is refused;
//! * anything else in the field (another kind's tag, garbage) is refused too.

use super::{FormatError, HEADER_LEN, MIN_SECTOR_LEN};

/// Offset of the integrity field in every sector.
pub const CHECK_OFFSET: usize = 256;
/// Size of the integrity field: 4 tag bytes and a 4-byte CRC32.
pub const CHECK_LEN: usize = 8;
/// First byte after the integrity field; the smallest sector we can seal.
pub const CHECK_END: usize = CHECK_OFFSET + CHECK_LEN;
/// Version of the integrity field's layout (last tag byte).
const CHECK_FORMAT: u8 = 1;

/// What a sector holds, for its tag and the bytes its CRC covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectorKind {
    Header,
    Slot,
    Mailbox,
}

impl SectorKind {
    /// The kind's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SectorKind::Header => "header",
            SectorKind::Slot => "slot",
            SectorKind::Mailbox => "mailbox",
        }
    }

    /// Bytes at the start of the sector the CRC covers.
    fn covered_len(self) -> usize {
        match self {
            SectorKind::Header => HEADER_LEN,
            SectorKind::Slot | SectorKind::Mailbox => MIN_SECTOR_LEN,
        }
    }

    fn tag(self) -> [u8; 4] {
        let kind = match self {
            SectorKind::Header => b'H',
            SectorKind::Slot => b'S',
            SectorKind::Mailbox => b'M',
        };
        [b'p', b'c', kind, CHECK_FORMAT]
    }

    fn from_tag(tag: &[u8]) -> Option<SectorKind> {
        [SectorKind::Header, SectorKind::Slot, SectorKind::Mailbox]
            .into_iter()
            .find(|kind| kind.tag() == tag)
    }
}

impl std::fmt::Display for SectorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a sector that decoded fine was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// It carries our CRC and the CRC matches.
    Verified,
    /// No integrity field (written by ClusterLabs sbd, zeroed, or a sector too short to
    /// hold one): accepted as it is.
    Unchecked,
}

/// Write the tag and CRC of a `kind` sector into `sector`.
pub fn seal(sector: &mut [u8], kind: SectorKind) -> Result<(), FormatError> {
    if sector.len() < CHECK_END {
        return Err(FormatError::SectorTooShort {
            len: sector.len(),
            need: CHECK_END,
        });
    }
    let tag = kind.tag();
    sector[CHECK_OFFSET..CHECK_OFFSET + 4].copy_from_slice(&tag);
    let crc = crc_of(sector, kind, &tag);
    sector[CHECK_OFFSET + 4..CHECK_END].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// Check the integrity field of a `kind` sector (see the module documentation).
pub fn verify(sector: &[u8], kind: SectorKind) -> Result<Integrity, FormatError> {
    if sector.len() < CHECK_END || sector.len() < kind.covered_len() {
        return Ok(Integrity::Unchecked);
    }
    let field = &sector[CHECK_OFFSET..CHECK_END];
    if field.iter().all(|&b| b == 0) || sector[..kind.covered_len()].iter().all(|&b| b == 0) {
        return Ok(Integrity::Unchecked);
    }
    let tag = &field[..4];
    if tag != kind.tag() {
        return Err(FormatError::ForeignCheckField {
            kind,
            found: SectorKind::from_tag(tag),
        });
    }
    let mut stored = [0u8; 4];
    stored.copy_from_slice(&field[4..]);
    let stored = u32::from_be_bytes(stored);
    let computed = crc_of(sector, kind, &kind.tag());
    if stored != computed {
        return Err(FormatError::ChecksumMismatch {
            kind,
            stored,
            computed,
        });
    }
    Ok(Integrity::Verified)
}

fn crc_of(sector: &[u8], kind: SectorKind, tag: &[u8; 4]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&sector[..kind.covered_len()]);
    hasher.update(tag);
    hasher.finalize()
}
