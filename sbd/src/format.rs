//! The ClusterLabs sbd on-disk format, as pure encode / decode functions (no I/O).
//!
//! A device is an array of logical sectors: sector 0 holds the [`Header`], slot `i` keeps
//! its node entry ([`SlotEntry`]) in sector `1 + 2i` and its [`Mailbox`] in sector
//! `2 + 2i`. Everything is written at explicit byte offsets (not a `repr(C)` struct):
//! the five `u32` header fields are big-endian, single bytes and the UUID are raw, names
//! are NUL-padded 64-byte fields with at most 63 significant bytes. The layout was checked
//! byte for byte against sbd 1.5.2 (see `tests/fixtures/sbd-1.5.2-sectors.txt`).
//!
//! Beyond ClusterLabs, every sector we write carries a CRC32 of its meaningful bytes at
//! byte 256, in bytes sbd leaves zero ([`check`] documents the field). Decoding verifies
//! it when present and accepts sectors without one (written by ClusterLabs sbd), so both
//! tools keep reading each other's devices while a torn or corrupted sector of ours is
//! refused instead of being believed.

pub mod check;
pub mod escape;
pub mod timeouts;

use std::fmt;

pub use check::{Integrity, SectorKind, CHECK_END, CHECK_LEN, CHECK_OFFSET};
pub use escape::escape_bytes;
pub use timeouts::{DiskTimeouts, TimeoutError, MAX_TIMEOUT_SECS};

use crate::inquisitor::MailboxCommand;

/// The eight magic bytes at the start of the header sector (no terminator).
pub const MAGIC: [u8; 8] = *b"SBD_SBD_";
/// The only header major version sbd (and we) accept.
pub const VERSION_MAJOR: u8 = 2;
/// The minor version `create` writes; minor >= 1 means the UUID field is meaningful.
pub const VERSION_MINOR: u8 = 1;
/// The slot count `create` writes (sbd has no option to change it).
pub const DEFAULT_SLOTS: u8 = 255;
/// Size of a name field (node name in a slot, sender in a mailbox), NUL padding included.
pub const NAME_FIELD_LEN: usize = 64;
/// Longest significant name: one byte of the field is kept for the terminator.
pub const NAME_MAX_LEN: usize = NAME_FIELD_LEN - 1;
/// Bytes of the header structure proper (the rest of sector 0 is zero).
pub const HEADER_LEN: usize = 52;
/// Smallest sector that can hold a header, a slot or a mailbox.
pub const MIN_SECTOR_LEN: usize = 1 + NAME_FIELD_LEN;

const OFF_VERSION: usize = 8;
const OFF_SLOTS: usize = 9;
const OFF_SECTOR_SIZE: usize = 12;
const OFF_TIMEOUT_WATCHDOG: usize = 16;
const OFF_TIMEOUT_ALLOCATE: usize = 20;
const OFF_TIMEOUT_LOOP: usize = 24;
const OFF_TIMEOUT_MSGWAIT: usize = 28;
const OFF_MINOR: usize = 32;
const OFF_UUID: usize = 33;
const UUID_LEN: usize = 16;

/// A sector could not be decoded as what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The buffer is shorter than the structure it should hold.
    #[error("sector of {len} bytes is too short (need at least {need})")]
    SectorTooShort { len: usize, need: usize },
    /// Sector 0 is all zero: the device was never initialised with `create`.
    #[error("not an sbd device: the header sector is all zero (initialise it with `create`)")]
    NotInitialized,
    /// Sector 0 does not start with `SBD_SBD_`; `found` is the first eight bytes,
    /// escaped ([`escape_bytes`]).
    #[error(
        "not an sbd device: bad magic \"{found}\" in the header sector (expected \"SBD_SBD_\")"
    )]
    BadMagic { found: String },
    /// The header has a major version other than 2.
    #[error("unsupported sbd header version {major}.{minor} (only version 2 is supported)")]
    VersionMismatch { major: u8, minor: u8 },
    /// The header was written through a device with another logical sector size.
    #[error(
        "header sector size {header} does not match the device's logical sector size {device}"
    )]
    SectorSizeMismatch { header: u32, device: usize },
    /// The sector carries our integrity field and its CRC32 does not match the content.
    #[error(
        "{kind} sector fails its checksum (stored {stored:08x}, computed {computed:08x}): \
         torn or corrupted write"
    )]
    ChecksumMismatch {
        kind: SectorKind,
        stored: u32,
        computed: u32,
    },
    /// The integrity field holds something other than this kind's tag.
    #[error("{kind} sector has a corrupted integrity field ({})", describe_foreign(*.found))]
    ForeignCheckField {
        kind: SectorKind,
        /// The kind whose tag was found, if it is one of ours.
        found: Option<SectorKind>,
    },
    /// A header timeout no configuration would hold (see [`timeouts`]).
    #[error(transparent)]
    Timeouts(#[from] TimeoutError),
}

fn describe_foreign(found: Option<SectorKind>) -> String {
    match found {
        Some(kind) => format!("it is tagged as a {kind} sector: misplaced write"),
        None => "unknown tag".to_owned(),
    }
}

/// A node name given by a user that cannot be stored in a 64-byte name field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("node name is empty")]
    Empty,
    #[error("node name {name:?} is {len} bytes long; sbd stores at most 63")]
    TooLong { name: String, len: usize },
    #[error("node name {name:?} contains a NUL byte")]
    ContainsNul { name: String },
}

/// A node name as stored on disk: up to 63 raw bytes (usually ASCII).
///
/// Names compare case-insensitively (ASCII), like sbd's slot lookup. A name read from
/// disk may be empty (a free slot or a zeroed mailbox); [`NodeName::parse`] refuses that.
#[derive(Debug, Clone, Default, Eq)]
pub struct NodeName {
    bytes: Vec<u8>,
}

impl NodeName {
    /// A name given by the user (command line, configuration).
    pub fn parse(name: &str) -> Result<NodeName, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > NAME_MAX_LEN {
            return Err(NameError::TooLong {
                name: name.to_owned(),
                len: name.len(),
            });
        }
        if name.bytes().any(|b| b == 0) {
            return Err(NameError::ContainsNul {
                name: name.to_owned(),
            });
        }
        Ok(NodeName {
            bytes: name.as_bytes().to_vec(),
        })
    }

    /// Decode a name field: the bytes before the first NUL, at most 63 of them.
    pub fn from_field(field: &[u8]) -> NodeName {
        let field = &field[..field.len().min(NAME_MAX_LEN)];
        let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
        NodeName {
            bytes: field[..end].to_vec(),
        }
    }

    /// The raw bytes of the name (no NUL).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Write the name into a 64-byte field, NUL padded.
    fn encode_field(&self, field: &mut [u8]) {
        field.fill(0);
        let n = self.bytes.len().min(NAME_MAX_LEN).min(field.len());
        field[..n].copy_from_slice(&self.bytes[..n]);
    }
}

impl PartialEq for NodeName {
    fn eq(&self, other: &NodeName) -> bool {
        self.bytes.eq_ignore_ascii_case(&other.bytes)
    }
}

/// The name as printable text: control characters, invalid UTF-8 and backslashes are
/// escaped ([`escape`]), so a name read from disk cannot drive a terminal or add
/// columns and lines to `list`. Plain host names print unchanged.
impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape::write_escaped(f, &self.bytes)
    }
}

/// The header sector (sector 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version_major: u8,
    pub version_minor: u8,
    /// Number of slots on the device.
    pub slots: u8,
    /// The logical sector size the device was created with.
    pub sector_size: u32,
    pub timeouts: DiskTimeouts,
    /// Random (v4) at create; only meaningful when `version_minor >= 1`.
    pub uuid: [u8; UUID_LEN],
}

impl Header {
    /// The header `create` writes: version 2.1, 255 slots.
    pub fn new(sector_size: u32, timeouts: DiskTimeouts, uuid: [u8; UUID_LEN]) -> Header {
        Header {
            version_major: VERSION_MAJOR,
            version_minor: VERSION_MINOR,
            slots: DEFAULT_SLOTS,
            sector_size,
            timeouts,
            uuid,
        }
    }

    /// Decode sector 0. Checks the magic and the major version, not the sector size
    /// (see [`Header::check_sector_size`]).
    pub fn decode(sector: &[u8]) -> Result<Header, FormatError> {
        check_len(sector, HEADER_LEN)?;
        if sector[..MAGIC.len()] != MAGIC {
            if sector.iter().all(|&b| b == 0) {
                return Err(FormatError::NotInitialized);
            }
            return Err(FormatError::BadMagic {
                found: escape_bytes(&sector[..MAGIC.len()]),
            });
        }
        check::verify(sector, SectorKind::Header)?;
        let version_major = sector[OFF_VERSION];
        let version_minor = sector[OFF_MINOR];
        if version_major != VERSION_MAJOR {
            return Err(FormatError::VersionMismatch {
                major: version_major,
                minor: version_minor,
            });
        }
        let mut uuid = [0u8; UUID_LEN];
        uuid.copy_from_slice(&sector[OFF_UUID..OFF_UUID + UUID_LEN]);
        Ok(Header {
            version_major,
            version_minor,
            slots: sector[OFF_SLOTS],
            sector_size: read_be32(sector, OFF_SECTOR_SIZE),
            timeouts: DiskTimeouts {
                watchdog: read_be32(sector, OFF_TIMEOUT_WATCHDOG),
                allocate: read_be32(sector, OFF_TIMEOUT_ALLOCATE),
                loop_timeout: read_be32(sector, OFF_TIMEOUT_LOOP),
                msgwait: read_be32(sector, OFF_TIMEOUT_MSGWAIT),
            },
            uuid,
        })
    }

    /// Encode into a whole sector of `sector_len` bytes (at least [`CHECK_END`]), sealed
    /// with our integrity field; the rest is zero.
    pub fn encode(&self, sector_len: usize) -> Result<Vec<u8>, FormatError> {
        let mut sector = vec![0u8; sector_len];
        check_len(&sector, CHECK_END)?;
        sector[..MAGIC.len()].copy_from_slice(&MAGIC);
        sector[OFF_VERSION] = self.version_major;
        sector[OFF_SLOTS] = self.slots;
        write_be32(&mut sector, OFF_SECTOR_SIZE, self.sector_size);
        write_be32(&mut sector, OFF_TIMEOUT_WATCHDOG, self.timeouts.watchdog);
        write_be32(&mut sector, OFF_TIMEOUT_ALLOCATE, self.timeouts.allocate);
        write_be32(&mut sector, OFF_TIMEOUT_LOOP, self.timeouts.loop_timeout);
        write_be32(&mut sector, OFF_TIMEOUT_MSGWAIT, self.timeouts.msgwait);
        sector[OFF_MINOR] = self.version_minor;
        sector[OFF_UUID..OFF_UUID + UUID_LEN].copy_from_slice(&self.uuid);
        check::seal(&mut sector, SectorKind::Header)?;
        Ok(sector)
    }

    /// The header is only valid on a device with the logical sector size it was made with.
    pub fn check_sector_size(&self, device_sector_size: usize) -> Result<(), FormatError> {
        if usize::try_from(self.sector_size).ok() != Some(device_sector_size) {
            return Err(FormatError::SectorSizeMismatch {
                header: self.sector_size,
                device: device_sector_size,
            });
        }
        Ok(())
    }

    /// `2.1` style version string, as `sbd dump` prints it.
    pub fn version_string(&self) -> String {
        format!("{}.{}", self.version_major, self.version_minor)
    }

    /// The UUID as lowercase 8-4-4-4-12 hex, or `None` when the minor version says the
    /// field is not meaningful (minor 0).
    pub fn uuid_string(&self) -> Option<String> {
        (self.version_minor > 0).then(|| format_uuid(&self.uuid))
    }

    /// Sectors used by this layout: the header plus two per slot.
    pub fn area_sectors(&self) -> u64 {
        area_sectors(self.slots)
    }
}

/// A node entry (slot sector).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlotEntry {
    /// Raw in-use byte: 0 = free; sbd writes 1 when allocating.
    pub in_use: u8,
    pub name: NodeName,
}

impl SlotEntry {
    /// The entry `allocate` writes.
    pub fn allocated(name: NodeName) -> SlotEntry {
        SlotEntry { in_use: 1, name }
    }

    /// Free for allocation (in-use byte exactly 0).
    pub fn is_free(&self) -> bool {
        self.in_use == 0
    }

    /// Shown by `list`: sbd reads the in-use byte as a signed C `char` > 0.
    pub fn is_listed(&self) -> bool {
        (self.in_use as i8) > 0
    }

    /// Occupied by `name` (case-insensitive).
    pub fn belongs_to(&self, name: &NodeName) -> bool {
        !self.is_free() && self.name == *name
    }

    /// Decode a slot sector, verifying our integrity field when present.
    pub fn decode(sector: &[u8]) -> Result<SlotEntry, FormatError> {
        check_len(sector, MIN_SECTOR_LEN)?;
        check::verify(sector, SectorKind::Slot)?;
        Ok(SlotEntry {
            in_use: sector[0],
            name: NodeName::from_field(&sector[1..1 + NAME_FIELD_LEN]),
        })
    }

    /// Encode into a whole sector (at least [`CHECK_END`] bytes), sealed.
    pub fn encode(&self, sector_len: usize) -> Result<Vec<u8>, FormatError> {
        encode_byte_and_name(self.in_use, &self.name, sector_len, SectorKind::Slot)
    }
}

/// A mailbox sector: a command and the name of the node that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub command: MailboxCommand,
    pub sender: NodeName,
}

impl Default for Mailbox {
    fn default() -> Mailbox {
        Mailbox {
            command: MailboxCommand::Clear,
            sender: NodeName::default(),
        }
    }
}

impl Mailbox {
    /// Decode a mailbox sector, verifying our integrity field when present.
    pub fn decode(sector: &[u8]) -> Result<Mailbox, FormatError> {
        check_len(sector, MIN_SECTOR_LEN)?;
        check::verify(sector, SectorKind::Mailbox)?;
        Ok(Mailbox {
            command: MailboxCommand::from_byte(sector[0]),
            sender: NodeName::from_field(&sector[1..1 + NAME_FIELD_LEN]),
        })
    }

    /// Encode into a whole sector (at least [`CHECK_END`] bytes), sealed.
    pub fn encode(&self, sector_len: usize) -> Result<Vec<u8>, FormatError> {
        encode_byte_and_name(
            command_byte(self.command),
            &self.sender,
            sector_len,
            SectorKind::Mailbox,
        )
    }
}

/// The byte sbd stores for a command (0 clear, 1 test, 2 reset, 3 off, 4 exit, 5 crashdump).
pub fn command_byte(command: MailboxCommand) -> u8 {
    match command {
        MailboxCommand::Clear => 0,
        MailboxCommand::Test => 1,
        MailboxCommand::Reset => 2,
        MailboxCommand::Off => 3,
        MailboxCommand::Exit => 4,
        MailboxCommand::Crashdump => 5,
        MailboxCommand::Unknown(byte) => byte,
    }
}

/// A command word of `sbd message NODE WORD`; `None` for anything else.
pub fn parse_command(word: &str) -> Option<MailboxCommand> {
    match word {
        "clear" => Some(MailboxCommand::Clear),
        "test" => Some(MailboxCommand::Test),
        "reset" => Some(MailboxCommand::Reset),
        "off" => Some(MailboxCommand::Off),
        "exit" => Some(MailboxCommand::Exit),
        "crashdump" => Some(MailboxCommand::Crashdump),
        _ => None,
    }
}

/// Sector index of slot `slot`'s node entry.
pub fn slot_sector(slot: u8) -> u64 {
    1 + 2 * u64::from(slot)
}

/// Sector index of slot `slot`'s mailbox.
pub fn mailbox_sector(slot: u8) -> u64 {
    2 + 2 * u64::from(slot)
}

/// Sectors needed for a header and `slots` slots (511 for 255 slots).
pub fn area_sectors(slots: u8) -> u64 {
    1 + 2 * u64::from(slots)
}

/// Lowercase 8-4-4-4-12 hex form of 16 raw bytes.
pub fn format_uuid(uuid: &[u8; UUID_LEN]) -> String {
    let mut out = String::with_capacity(36);
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Turn 16 random bytes into a version 4 (random), variant 1 UUID.
pub fn uuid_v4_from_random(mut bytes: [u8; UUID_LEN]) -> [u8; UUID_LEN] {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

fn encode_byte_and_name(
    first: u8,
    name: &NodeName,
    sector_len: usize,
    kind: SectorKind,
) -> Result<Vec<u8>, FormatError> {
    let mut sector = vec![0u8; sector_len];
    check_len(&sector, CHECK_END)?;
    sector[0] = first;
    name.encode_field(&mut sector[1..1 + NAME_FIELD_LEN]);
    check::seal(&mut sector, kind)?;
    Ok(sector)
}

fn check_len(sector: &[u8], need: usize) -> Result<(), FormatError> {
    if sector.len() < need {
        return Err(FormatError::SectorTooShort {
            len: sector.len(),
            need,
        });
    }
    Ok(())
}

fn read_be32(sector: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&sector[offset..offset + 4]);
    u32::from_be_bytes(word)
}

fn write_be32(sector: &mut [u8], offset: usize, value: u32) {
    sector[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests;
