//! Operations on one sbd device, as sbd's disk commands do them: create, read the header
//! (dump), list slots and messages, allocate a slot, write a message, read and clear a
//! node's own mailbox. [`SbdDisk`] works on any [`BlockDevice`]; waits (allocate
//! timeout) go through a caller-supplied pause so tests run instantly. Rendering of
//! `dump` and `list` output is pure and lives here too.

use std::time::Duration;

use crate::blockdev::{BlockDevError, BlockDevice};
use crate::format::{
    area_sectors, mailbox_sector, slot_sector, DiskTimeouts, FormatError, Header, Mailbox,
    NodeName, SlotEntry, DEFAULT_SLOTS,
};
use crate::inquisitor::{MailboxCommand, Timeouts};

/// A disk operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum DiskError {
    /// Reading or writing the device failed.
    #[error(transparent)]
    Io(#[from] BlockDevError),
    /// A sector does not hold what it should (not an sbd disk, bad magic, version, ...).
    #[error("{device}: {source}")]
    Format {
        device: String,
        #[source]
        source: FormatError,
    },
    /// The device cannot hold the header and all slots.
    #[error("{device}: {sectors} sectors of {sector_size} bytes are too small; sbd needs at least {need} sectors")]
    TooSmall {
        device: String,
        sectors: u64,
        sector_size: usize,
        need: u64,
    },
    /// `allocate` found neither the node nor a free slot.
    #[error("{device}: no free slot for {name}: all {slots} slots are in use (slot table full)")]
    SlotTableFull {
        device: String,
        name: String,
        slots: u8,
    },
    /// The node has no slot on this device.
    #[error("{device}: node {name} not found (no slot allocated for it)")]
    NodeNotFound { device: String, name: String },
    /// A written mailbox did not read back as written.
    #[error("{device}: the message to {name} in slot {slot} did not read back as written")]
    VerifyFailed {
        device: String,
        name: String,
        slot: u8,
    },
    /// Other nodes kept taking the free slots this node claimed.
    #[error("{device}: gave up allocating a slot for {name} after {attempts} claims were taken over by other nodes")]
    AllocationRace {
        device: String,
        name: String,
        attempts: usize,
    },
}

/// How `allocate` found its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// The node already had this slot.
    Existing(u8),
    /// A free slot was claimed (and kept through the allocate timeout).
    Claimed(u8),
}

impl Allocation {
    pub fn slot(self) -> u8 {
        match self {
            Allocation::Existing(slot) | Allocation::Claimed(slot) => slot,
        }
    }
}

/// One line of `list`: an allocated slot and its mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    pub slot: u8,
    pub name: NodeName,
    pub mailbox: Mailbox,
}

/// An sbd device whose header was read and validated (or just written).
#[derive(Debug)]
pub struct SbdDisk<D: BlockDevice> {
    device: D,
    header: Header,
}

impl<D: BlockDevice> SbdDisk<D> {
    /// Initialise `device`: zero every slot and mailbox sector, then write a version 2.1
    /// header with 255 slots, the device's sector size and `timeouts`. Everything that
    /// was on the device before is lost.
    pub fn create(
        device: D,
        timeouts: DiskTimeouts,
        uuid: [u8; 16],
    ) -> Result<SbdDisk<D>, DiskError> {
        let sector_size = device.sector_size();
        let need = area_sectors(DEFAULT_SLOTS);
        let sectors = device.sector_count()?;
        if sectors < need {
            return Err(DiskError::TooSmall {
                device: device.name().to_owned(),
                sectors,
                sector_size,
                need,
            });
        }
        let header = Header::new(
            u32::try_from(sector_size).unwrap_or(u32::MAX),
            timeouts,
            uuid,
        );
        let header_sector = header
            .encode(sector_size)
            .map_err(|source| format_error(&device, source))?;
        let zero = vec![0u8; sector_size];
        for index in 1..need {
            device.write_sector(index, &zero)?;
        }
        device.write_sector(0, &header_sector)?;
        Ok(SbdDisk { device, header })
    }

    /// Read and validate the header: magic, version 2, sector size of this device.
    pub fn open(device: D) -> Result<SbdDisk<D>, DiskError> {
        let sector = device.read_sector(0)?;
        let header = Header::decode(&sector).map_err(|source| format_error(&device, source))?;
        header
            .check_sector_size(device.sector_size())
            .map_err(|source| format_error(&device, source))?;
        Ok(SbdDisk { device, header })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    pub fn into_device(self) -> D {
        self.device
    }

    /// The device's name (path) for messages.
    pub fn name(&self) -> &str {
        self.device.name()
    }

    /// Read slot `slot`'s node entry.
    pub fn read_slot(&self, slot: u8) -> Result<SlotEntry, DiskError> {
        let sector = self.device.read_sector(slot_sector(slot))?;
        SlotEntry::decode(&sector).map_err(|source| format_error(&self.device, source))
    }

    /// Read slot `slot`'s mailbox.
    pub fn read_mailbox(&self, slot: u8) -> Result<Mailbox, DiskError> {
        let sector = self.device.read_sector(mailbox_sector(slot))?;
        Mailbox::decode(&sector).map_err(|source| format_error(&self.device, source))
    }

    /// The slot allocated to `name` (case-insensitive), if any.
    pub fn find_slot(&self, name: &NodeName) -> Result<Option<u8>, DiskError> {
        for slot in 0..self.header.slots {
            if self.read_slot(slot)?.belongs_to(name) {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    /// Every allocated slot with its mailbox, in slot order (what `list` prints).
    pub fn list(&self) -> Result<Vec<ListEntry>, DiskError> {
        let mut entries = Vec::new();
        for slot in 0..self.header.slots {
            let entry = self.read_slot(slot)?;
            if entry.is_listed() {
                entries.push(ListEntry {
                    slot,
                    name: entry.name,
                    mailbox: self.read_mailbox(slot)?,
                });
            }
        }
        Ok(entries)
    }

    /// Find or claim a slot for `name`, as sbd does: if a slot already carries the name,
    /// use it; else write the name into the first free slot, `pause` for the allocate
    /// timeout and look again (another node may have overwritten the claim meanwhile,
    /// then the next free slot is tried).
    pub fn allocate(
        &self,
        name: &NodeName,
        pause: &mut dyn FnMut(Duration),
    ) -> Result<Allocation, DiskError> {
        let allocate = Duration::from_secs(u64::from(self.checked_timeouts()?.allocate));
        let attempts = usize::from(self.header.slots) + 1;
        for attempt in 0..attempts {
            let mut first_free = None;
            for slot in 0..self.header.slots {
                let entry = self.read_slot(slot)?;
                if entry.belongs_to(name) {
                    return Ok(if attempt == 0 {
                        Allocation::Existing(slot)
                    } else {
                        Allocation::Claimed(slot)
                    });
                }
                if first_free.is_none() && entry.is_free() {
                    first_free = Some(slot);
                }
            }
            let Some(slot) = first_free else {
                return Err(DiskError::SlotTableFull {
                    device: self.name().to_owned(),
                    name: name.to_string(),
                    slots: self.header.slots,
                });
            };
            let claim = SlotEntry::allocated(name.clone())
                .encode(self.device.sector_size())
                .map_err(|source| format_error(&self.device, source))?;
            self.device.write_sector(slot_sector(slot), &claim)?;
            pause(allocate);
        }
        Err(DiskError::AllocationRace {
            device: self.name().to_owned(),
            name: name.to_string(),
            attempts,
        })
    }

    /// Write `command` from `sender` into `target`'s mailbox and read it back. Returns
    /// the target's slot. Does not wait msgwait (the caller does, see [`checked_msgwait`],
    /// and asks for it first: a message is not written when it cannot be waited for).
    ///
    /// [`checked_msgwait`]: SbdDisk::checked_msgwait
    pub fn message(
        &self,
        target: &NodeName,
        command: MailboxCommand,
        sender: &NodeName,
    ) -> Result<u8, DiskError> {
        let slot = self
            .find_slot(target)?
            .ok_or_else(|| DiskError::NodeNotFound {
                device: self.name().to_owned(),
                name: target.to_string(),
            })?;
        let mailbox = Mailbox {
            command,
            sender: sender.clone(),
        };
        let sector = mailbox
            .encode(self.device.sector_size())
            .map_err(|source| format_error(&self.device, source))?;
        self.device.write_sector(mailbox_sector(slot), &sector)?;
        if self.device.read_sector(mailbox_sector(slot))? != sector {
            return Err(DiskError::VerifyFailed {
                device: self.name().to_owned(),
                name: target.to_string(),
                slot,
            });
        }
        Ok(slot)
    }

    /// `name`'s slot and the message waiting in its mailbox.
    pub fn read_own_message(&self, name: &NodeName) -> Result<(u8, Mailbox), DiskError> {
        let slot = self
            .find_slot(name)?
            .ok_or_else(|| DiskError::NodeNotFound {
                device: self.name().to_owned(),
                name: name.to_string(),
            })?;
        Ok((slot, self.read_mailbox(slot)?))
    }

    /// Zero slot `slot`'s whole mailbox sector (sender included), as a watcher does after
    /// handling a message.
    pub fn clear_mailbox(&self, slot: u8) -> Result<(), DiskError> {
        let zero = vec![0u8; self.device.sector_size()];
        self.device.write_sector(mailbox_sector(slot), &zero)?;
        Ok(())
    }

    /// How long a sender waits before a message on this device counts as delivered.
    /// Fails when the header's timeouts cannot confirm a message
    /// ([`DiskTimeouts::check_for_fencing`]: absurd, or a zero msgwait or watchdog
    /// timeout): then no message must be sent through this device.
    pub fn checked_msgwait(&self) -> Result<Duration, DiskError> {
        self.fencing_timeouts()?;
        Ok(self.msgwait())
    }

    /// The header's msgwait as it is, unchecked (for display). A sender waits
    /// [`SbdDisk::checked_msgwait`] instead.
    pub fn msgwait(&self) -> Duration {
        Duration::from_secs(u64::from(self.header.timeouts.msgwait))
    }

    /// The header's timeouts, if they can be turned into waits
    /// ([`DiskTimeouts::check_bounds`]).
    pub fn checked_timeouts(&self) -> Result<DiskTimeouts, DiskError> {
        let timeouts = self.header.timeouts;
        timeouts
            .check_bounds()
            .map_err(|e| format_error(&self.device, e.into()))?;
        Ok(timeouts)
    }

    /// The header's timeouts, if fencing can rely on them
    /// ([`DiskTimeouts::check_for_fencing`]): what senders and watchers use.
    pub fn fencing_timeouts(&self) -> Result<DiskTimeouts, DiskError> {
        let timeouts = self.header.timeouts;
        timeouts
            .check_for_fencing()
            .map_err(|e| format_error(&self.device, e.into()))?;
        Ok(timeouts)
    }
}

/// The running timeouts of a node using a device with these on-disk timeouts.
pub fn runtime_timeouts(disk: &DiskTimeouts, io: Duration) -> Timeouts {
    Timeouts {
        watchdog: Duration::from_secs(u64::from(disk.watchdog)),
        allocate: Duration::from_secs(u64::from(disk.allocate)),
        loop_timeout: Duration::from_secs(u64::from(disk.loop_timeout)),
        msgwait: Duration::from_secs(u64::from(disk.msgwait)),
        io,
    }
}

/// sbd's delivery rule for a message: more than half of the devices took it
/// (1 of 1, 2 of 2, 2 of 3).
pub fn message_delivered(succeeded: usize, devices: usize) -> bool {
    devices > 0 && succeeded * 2 > devices
}

/// The header lines `sbd dump` prints for one device (between its `==` lines).
pub fn render_dump(header: &Header) -> String {
    let mut out = format!("Header version     : {}\n", header.version_string());
    if let Some(uuid) = header.uuid_string() {
        out.push_str(&format!("UUID               : {uuid}\n"));
    }
    let t = &header.timeouts;
    out.push_str(&format!(
        "Number of slots    : {}\n\
         Sector size        : {}\n\
         Timeout (watchdog) : {}\n\
         Timeout (allocate) : {}\n\
         Timeout (loop)     : {}\n\
         Timeout (msgwait)  : {}\n",
        header.slots, header.sector_size, t.watchdog, t.allocate, t.loop_timeout, t.msgwait
    ));
    out
}

/// The lines `sbd list` prints for one device: `slot<TAB>name<TAB>command<TAB>sender`.
pub fn render_list(entries: &[ListEntry]) -> String {
    entries
        .iter()
        .map(|e| {
            format!(
                "{}\t{}\t{}\t{}\n",
                e.slot,
                e.name,
                e.mailbox.command.as_str(),
                e.mailbox.sender
            )
        })
        .collect()
}

fn format_error<D: BlockDevice + ?Sized>(device: &D, source: FormatError) -> DiskError {
    DiskError::Format {
        device: device.name().to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
