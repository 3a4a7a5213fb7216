//! The disk side of the sbd tie-breaker: where the claim of [`crate::cluster::disk_claim`]
//! lives on a shared sbd device, and the thread that runs the machine against it.
//!
//! The claim is kept in the mailbox of the sbd slot named `palisade:tiebreak`
//! ([`TIEBREAK_SLOT`], allocated as sbd allocates a node's slot). Its command byte is
//! always `clear` and its sender field names the claimant, so `sbd list` shows
//! `palisade:tiebreak clear node3`; no sbd watcher ever reads that mailbox (none is
//! named so), and a `clear` is never acted on anyway. The claim itself (64 bytes,
//! HMAC'd with the cluster key) sits in bytes 65..129 of the mailbox sector, which sbd
//! leaves zero and never interprets.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbd::blockdev::{BlockDevice, FileDevice};
use sbd::disk::{DiskError, SbdDisk};
use sbd::format::{mailbox_sector, slot_sector, Mailbox, NodeName, SlotEntry};
use sbd::inquisitor::MailboxCommand;

use crate::cluster::disk_claim::{
    decode_claim, encode_claim, Answer, Claim, ClaimMachine, Found, Want,
};
use crate::cluster::quorum::NodeId;
use crate::node::config::TIEBREAK_SLOT;

/// Where the claim starts in the mailbox sector (after sbd's command and sender).
pub const CLAIM_OFFSET: usize = 65;

/// The claim area on one sbd device.
#[derive(Debug)]
pub struct ClaimArea<D: BlockDevice> {
    disk: SbdDisk<D>,
    slot: u8,
    cluster: u32,
    key: Vec<u8>,
    /// Shown as the mailbox sender (this node's name, at most 63 bytes).
    sender: NodeName,
}

fn slot_name() -> NodeName {
    NodeName::from_field(TIEBREAK_SLOT.as_bytes())
}

impl<D: BlockDevice> ClaimArea<D> {
    /// Validate the sbd header and find (or allocate, pausing sbd's allocate timeout
    /// through `pause`) the tie-breaker slot.
    pub fn open(
        device: D,
        cluster: u32,
        key: &[u8],
        node_name: &str,
        pause: &mut dyn FnMut(Duration),
    ) -> Result<ClaimArea<D>, DiskError> {
        let disk = SbdDisk::open(device)?;
        let slot = disk.allocate(&slot_name(), pause)?.slot();
        Ok(ClaimArea {
            disk,
            slot,
            cluster,
            key: key.to_vec(),
            sender: NodeName::from_field(node_name.as_bytes()),
        })
    }

    /// The slot holding the claim.
    pub fn slot(&self) -> u8 {
        self.slot
    }

    /// Read the claim (slot and mailbox in one I/O). A slot that no longer carries the
    /// tie-breaker's name is looked up again.
    pub fn read(&mut self) -> Result<Found, DiskError> {
        let device = self.disk.device();
        let size = device.sector_size();
        let both = device.read_sectors(slot_sector(self.slot), 2)?;
        let entry = SlotEntry::decode(&both[..size]).map_err(|source| DiskError::Format {
            device: device.name().to_owned(),
            source,
        })?;
        if !entry.belongs_to(&slot_name()) {
            let name = slot_name();
            self.slot = self
                .disk
                .find_slot(&name)?
                .ok_or_else(|| DiskError::NodeNotFound {
                    device: self.disk.name().to_owned(),
                    name: name.to_string(),
                })?;
            let mailbox = self.disk.device().read_sector(mailbox_sector(self.slot))?;
            return Ok(decode_claim(
                &mailbox[CLAIM_OFFSET..],
                self.cluster,
                &self.key,
            ));
        }
        Ok(decode_claim(
            &both[size + CLAIM_OFFSET..],
            self.cluster,
            &self.key,
        ))
    }

    /// Write `claim` (the whole mailbox sector: `clear`, our name, the claim).
    pub fn write(&self, claim: &Claim) -> Result<(), DiskError> {
        let device = self.disk.device();
        let mut sector = Mailbox {
            command: MailboxCommand::Clear,
            sender: self.sender.clone(),
        }
        .encode(device.sector_size())
        .map_err(|source| DiskError::Format {
            device: device.name().to_owned(),
            source,
        })?;
        let bytes = encode_claim(claim, self.cluster, &self.key);
        sector[CLAIM_OFFSET..CLAIM_OFFSET + bytes.len()].copy_from_slice(&bytes);
        device.write_sector(mailbox_sector(self.slot), &sector)?;
        Ok(())
    }
}

/// Carry out one step the machine asks for; `None` when it asks to wait until then.
pub fn step<D: BlockDevice>(
    area: &mut ClaimArea<D>,
    machine: &mut ClaimMachine,
    now: Instant,
) -> Option<Instant> {
    match machine.next(now) {
        Want::Wait(until) => Some(until),
        Want::Read => {
            let started = Instant::now();
            let found = area.read().map_err(|e| e.to_string());
            machine.read_done(started, Instant::now(), found);
            None
        }
        Want::Write(claim) => {
            let started = Instant::now();
            let result = area.write(&claim).map_err(|e| e.to_string());
            machine.write_done(started, Instant::now(), result);
            None
        }
    }
}

/// The running disk tie-breaker: tell it the tie, read its answer.
#[derive(Debug)]
pub struct DiskTieBreaker {
    ties: Sender<Option<BTreeSet<NodeId>>>,
    answer: Arc<Mutex<Answer>>,
    slot: u8,
}

/// Why the disk tie-breaker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DiskStartError {
    /// The device cannot be opened, is no sbd device, or has no free slot.
    #[error("tie-breaker disk {path}: {source}")]
    Disk {
        path: String,
        #[source]
        source: DiskError,
    },
    /// The machine's thread could not be started.
    #[error("tie-breaker disk {path}: cannot start its thread: {source}")]
    Thread {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl DiskTieBreaker {
    /// Open the device at `path` (an sbd device made by `sbd create` or `palisade-sbd
    /// create`), find or allocate the slot (this may take sbd's allocate timeout), and
    /// start the machine's thread.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        path: &Path,
        settle: Duration,
        me: NodeId,
        node_name: &str,
        incarnation: u64,
        cluster: u32,
        key: &[u8],
    ) -> Result<DiskTieBreaker, DiskStartError> {
        let fail = |source| DiskStartError::Disk {
            path: path.display().to_string(),
            source,
        };
        let device = FileDevice::open(path).map_err(|e| fail(DiskError::Io(e)))?;
        let area = ClaimArea::open(device, cluster, key, node_name, &mut std::thread::sleep)
            .map_err(fail)?;
        let slot = area.slot();
        let now = Instant::now();
        let machine = ClaimMachine::new(me, incarnation, settle, now);
        let answer = Arc::new(Mutex::new(machine.answer(now)));
        let (ties, rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&answer);
        std::thread::Builder::new()
            .name("tiebreak-disk".into())
            .spawn(move || run(area, machine, rx, shared))
            .map_err(|source| DiskStartError::Thread {
                path: path.display().to_string(),
                source,
            })?;
        Ok(DiskTieBreaker { ties, answer, slot })
    }

    /// The slot the claim lives in (for the timeline).
    pub fn slot(&self) -> u8 {
        self.slot
    }

    /// The partition's view while it holds exactly half, else `None`.
    pub fn set_tie(&self, view: Option<BTreeSet<NodeId>>) {
        let _ = self.ties.send(view);
    }

    /// The machine's latest answer.
    pub fn answer(&self) -> Answer {
        match self.answer.lock() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// The thread: apply ties, do what the machine asks, publish its answer. When the
/// runner goes away (the channel closes) a held claim is released first.
fn run<D: BlockDevice>(
    mut area: ClaimArea<D>,
    mut machine: ClaimMachine,
    ties: Receiver<Option<BTreeSet<NodeId>>>,
    answer: Arc<Mutex<Answer>>,
) {
    let publish = |machine: &ClaimMachine| {
        if let Ok(mut a) = answer.lock() {
            *a = machine.answer(Instant::now());
        }
    };
    loop {
        let wait = step(&mut area, &mut machine, Instant::now());
        publish(&machine);
        let timeout = match wait {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => Duration::ZERO,
        };
        match ties.recv_timeout(timeout) {
            Ok(view) => machine.set_tie(view, Instant::now()),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                machine.set_tie(None, Instant::now());
                // One step writes the release if there is one to write.
                let _ = step(&mut area, &mut machine, Instant::now());
                return;
            }
        }
        while let Ok(view) = ties.try_recv() {
            machine.set_tie(view, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests;
