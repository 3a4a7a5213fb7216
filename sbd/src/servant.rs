//! Device servants: one per sbd device, reading this node's mailbox once per loop and
//! reporting to the daemon as inquisitor [`Event`]s.
//!
//! Each device gets one thread that owns the open device and does the blocking reads and
//! writes ([`DeviceWatcher`]: open and validate, find or allocate the slot, the
//! start-mode check and first-start clearing, then per round: header and slot
//! unchanged, read the mailbox, in one I/O into buffers kept for every round) on a
//! fixed schedule, one round per loop timeout, and hands each outcome to the daemon's
//! [`Reporter`] on its own thread (the daemon decides right there). Between rounds the
//! thread sleeps and nothing wakes it: a clear the daemon asks for while handling the
//! report (a `test` message) is done right after it, one asked for from elsewhere
//! before the next read. An idle watch thus costs each device's thread one timer
//! wake-up and one read (plus its completion) per loop. A device whose I/O hangs blocks
//! only its own thread: its reports stop, and the daemon's [`OverdueRounds`] turns the
//! silence into [`Event::ServantTimedOut`] after the loop plus the I/O timeout (again
//! every I/O timeout while it lasts). No decision is taken here: that is the
//! inquisitor's.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::blockdev::{AlignedBuffer, BlockDevError, BlockDevice, MAX_SPAN_READ};
use crate::disk::SbdDisk;
use crate::format::{slot_sector, DiskTimeouts, Mailbox, NodeName};
use crate::inquisitor::{
    start_check, Event, LogLevel, MailboxCommand, ServantFailure, StartMode, StartRefused,
};

/// A device as the servant sees it: any sector device that can move to another thread.
pub type ServantDevice = Box<dyn BlockDevice + Send>;

/// Opens a device by path (the real one opens [`crate::blockdev::FileDevice`]).
pub type DeviceOpener =
    Arc<dyn Fn(&str) -> Result<ServantDevice, BlockDevError> + Send + Sync + 'static>;

/// Everything one servant needs.
#[derive(Clone)]
pub struct ServantSetup {
    /// Index of the device in the configuration (the inquisitor's device number).
    pub index: usize,
    pub path: String,
    /// The timeouts every device must carry (those of the first device read at start).
    pub reference: DiskTimeouts,
    pub local_name: NodeName,
    pub start_mode: StartMode,
    pub loop_timeout: Duration,
    pub opener: DeviceOpener,
    /// Sleeps the allocate timeout when a slot is claimed.
    pub pause: fn(Duration),
}

/// What servants tell the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServantMessage {
    /// A report for the inquisitor.
    Event(Event),
    /// Start mode `clean` found a fencing message in the slot on this device.
    StartRefused {
        device: usize,
        refusal: StartRefused,
    },
    /// Something worth logging that is not a decision (a failed clear).
    Log { level: LogLevel, message: String },
}

/// Takes a servant's messages, on the servant's thread; `false` once nobody listens any
/// more (the daemon has finished), which stops the servant.
pub type Reporter = Arc<dyn Fn(ServantMessage) -> bool + Send + Sync + 'static>;

/// The result of one round on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoundOutcome {
    /// The mailbox was read; `None` when it is empty (`clear`).
    Mailbox(Option<MailboxCommand>),
    /// The round failed; the device is reopened next round.
    Failed(String),
    /// Start mode `clean` refuses the message in the slot.
    StartRefused(StartRefused),
}

/// An sbd device that passed start-up, with what it looked like then.
struct Attached {
    disk: SbdDisk<ServantDevice>,
    slot: u8,
    header_sector: Vec<u8>,
    slot_sector: Vec<u8>,
    /// Where every round reads, allocated once.
    buffers: RoundBuffers,
}

/// A round's read buffers: sectors 0 to the mailbox in one span when that fits
/// [`MAX_SPAN_READ`] (the first slots), else the header and the slot-and-mailbox pair.
enum RoundBuffers {
    Span(AlignedBuffer),
    Split {
        header: AlignedBuffer,
        pair: AlignedBuffer,
    },
}

impl RoundBuffers {
    fn new(sector_size: usize, slot: u8) -> Option<RoundBuffers> {
        let span = usize::try_from(slot_sector(slot) + 2)
            .ok()?
            .checked_mul(sector_size)?;
        Some(if span <= MAX_SPAN_READ {
            RoundBuffers::Span(AlignedBuffer::zeroed(span)?)
        } else {
            RoundBuffers::Split {
                header: AlignedBuffer::zeroed(sector_size)?,
                pair: AlignedBuffer::zeroed(2 * sector_size)?,
            }
        })
    }
}

/// The blocking part of a servant: one device, read round by round.
pub struct DeviceWatcher {
    setup: ServantSetup,
    attached: Option<Attached>,
    first_start: bool,
    /// The message the last round read (`None`: the mailbox was clear or unread).
    last_message: Option<Mailbox>,
}

impl DeviceWatcher {
    pub fn new(setup: ServantSetup) -> DeviceWatcher {
        DeviceWatcher {
            setup,
            attached: None,
            first_start: true,
            last_message: None,
        }
    }

    /// Who sent the message the last round read, if it read one (ClusterLabs' sbd logs
    /// "Received command reset from node1 on disk /dev/sbd": the fencing node).
    pub fn message_sender(&self) -> Option<&NodeName> {
        self.last_message.as_ref().map(|m| &m.sender)
    }

    /// One round: attach if needed, check header and slot, read the mailbox.
    pub fn round(&mut self) -> RoundOutcome {
        if self.attached.is_none() {
            match self.attach() {
                Ok(attached) => self.attached = Some(attached),
                Err(outcome) => return outcome,
            }
        }
        match self.read_mailbox() {
            Ok(mailbox) => {
                let command = (mailbox.command != MailboxCommand::Clear).then_some(mailbox.command);
                self.last_message = command.map(|_| mailbox);
                RoundOutcome::Mailbox(command)
            }
            Err(reason) => {
                self.attached = None;
                self.last_message = None;
                RoundOutcome::Failed(reason)
            }
        }
    }

    /// Zero the node's mailbox (after a `test` or an unknown message).
    pub fn clear(&mut self) -> Result<(), String> {
        let attached = self
            .attached
            .as_ref()
            .ok_or_else(|| format!("{}: not attached, mailbox not cleared", self.setup.path))?;
        attached
            .disk
            .clear_mailbox(attached.slot)
            .map_err(|e| e.to_string())
    }

    fn attach(&mut self) -> Result<Attached, RoundOutcome> {
        let failed = |e: &dyn std::fmt::Display| RoundOutcome::Failed(e.to_string());
        let device = (self.setup.opener)(&self.setup.path).map_err(|e| failed(&e))?;
        let disk = SbdDisk::open(device).map_err(|e| failed(&e))?;
        if disk.header().timeouts != self.setup.reference {
            return Err(RoundOutcome::Failed(format!(
                "{}: timeouts on disk {:?} differ from the first device's {:?}",
                self.setup.path,
                disk.header().timeouts,
                self.setup.reference
            )));
        }
        let name = &self.setup.local_name;
        let slot = match disk.find_slot(name).map_err(|e| failed(&e))? {
            Some(slot) => slot,
            None => {
                let mut pause = self.setup.pause;
                disk.allocate(name, &mut pause)
                    .map_err(|e| failed(&e))?
                    .slot()
            }
        };
        if self.first_start {
            let mailbox = disk.read_mailbox(slot).map_err(|e| failed(&e))?;
            start_check(self.setup.start_mode, mailbox.command)
                .map_err(RoundOutcome::StartRefused)?;
            if mailbox.command != MailboxCommand::Clear || !mailbox.sender.is_empty() {
                disk.clear_mailbox(slot).map_err(|e| failed(&e))?;
            }
            self.first_start = false;
        }
        let header_sector = disk.device().read_sector(0).map_err(|e| failed(&e))?;
        let slot_sector = disk
            .device()
            .read_sector(slot_sector(slot))
            .map_err(|e| failed(&e))?;
        let buffers = RoundBuffers::new(disk.device().sector_size(), slot).ok_or_else(|| {
            RoundOutcome::Failed(format!(
                "{}: no memory for the read buffers",
                self.setup.path
            ))
        })?;
        Ok(Attached {
            disk,
            slot,
            header_sector,
            slot_sector,
            buffers,
        })
    }

    /// Header and slot unchanged, then the mailbox: one read of sectors 0 to the mailbox
    /// when they fit [`MAX_SPAN_READ`] (the first slots), else the header and the
    /// slot-and-mailbox pair separately; into the buffers kept for every round.
    fn read_mailbox(&mut self) -> Result<Mailbox, String> {
        let path = &self.setup.path;
        let attached = self
            .attached
            .as_mut()
            .ok_or_else(|| "not attached".to_string())?;
        let device = attached.disk.device();
        let size = device.sector_size();
        let slot = attached.slot;
        let io = |e: BlockDevError| e.to_string();
        let (header, pair): (&[u8], &[u8]) = match &mut attached.buffers {
            RoundBuffers::Span(span) => {
                device
                    .read_sectors_into(0, span.as_mut_slice())
                    .map_err(io)?;
                let span = span.as_slice();
                let split = span.len().saturating_sub(2 * size);
                (&span[..size.min(span.len())], &span[split..])
            }
            RoundBuffers::Split { header, pair } => {
                device
                    .read_sectors_into(0, header.as_mut_slice())
                    .map_err(io)?;
                device
                    .read_sectors_into(slot_sector(slot), pair.as_mut_slice())
                    .map_err(io)?;
                (header.as_slice(), pair.as_slice())
            }
        };
        if header != attached.header_sector.as_slice() {
            return Err(format!("{path}: header changed since start-up"));
        }
        let (slot_bytes, mailbox_bytes) = pair.split_at(size.min(pair.len()));
        if slot_bytes != attached.slot_sector.as_slice() {
            return Err(format!(
                "{path}: node entry in slot {slot} changed since start-up"
            ));
        }
        Mailbox::decode(mailbox_bytes).map_err(|e| format!("{path}: {e}"))
    }
}

/// Work for a servant thread besides its rounds.
#[derive(Debug)]
enum ServantRequest {
    Clear,
}

/// The daemon's handle on a running servant; dropping it stops the servant (after the
/// I/O in progress, if any).
#[derive(Debug, Clone)]
pub struct ServantHandle {
    requests: Sender<ServantRequest>,
}

impl ServantHandle {
    /// Queue a clear of the node's mailbox: done right after the report in progress when
    /// queued by it (on the servant's thread), else before the next read.
    pub fn clear_message(&self) {
        let _ = self.requests.send(ServantRequest::Clear);
    }
}

/// Why a servant could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the servant thread for {path}: {source}")]
pub struct SpawnError {
    path: String,
    #[source]
    source: std::io::Error,
}

/// Start the servant thread; its messages go to `report`.
pub fn spawn(setup: ServantSetup, report: Reporter) -> Result<ServantHandle, SpawnError> {
    let (requests, request_rx) = mpsc::channel::<ServantRequest>();
    let path = setup.path.clone();
    std::thread::Builder::new()
        .name(format!("sbd-servant-{}", setup.index))
        .spawn(move || servant_loop(setup, &request_rx, &report))
        .map_err(|source| SpawnError { path, source })?;
    Ok(ServantHandle { requests })
}

/// Carry out the queued requests; `false` once the daemon has gone away.
fn serve_requests(
    watcher: &mut DeviceWatcher,
    requests: &Receiver<ServantRequest>,
    report: &Reporter,
) -> bool {
    loop {
        match requests.try_recv() {
            Ok(ServantRequest::Clear) => {
                if let Err(message) = watcher.clear() {
                    let log = ServantMessage::Log {
                        level: LogLevel::Warning,
                        message,
                    };
                    if !report(log) {
                        return false;
                    }
                }
            }
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
}

/// A round every loop timeout on a fixed schedule (a round that takes longer only delays
/// the next one), until the daemon goes away. The thread sleeps in between and wakes for
/// nothing else: requests are served right after the report (where the daemon queues
/// the clear of a `test` message) and before the next round.
fn servant_loop(setup: ServantSetup, requests: &Receiver<ServantRequest>, report: &Reporter) {
    let device = setup.index;
    let loop_timeout = setup.loop_timeout;
    let path = setup.path.clone();
    let mut watcher = DeviceWatcher::new(setup);
    // The message last logged with its sender, so a message staying in the slot is
    // logged once.
    let mut announced: Option<(MailboxCommand, NodeName)> = None;
    let mut next_round = Instant::now();
    loop {
        let wait = next_round.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        let started = Instant::now();
        if !serve_requests(&mut watcher, requests, report) {
            return;
        }
        let message = match watcher.round() {
            RoundOutcome::Mailbox(command) => {
                let seen = command.zip(watcher.message_sender().cloned());
                if let Some((command, sender)) =
                    seen.as_ref().filter(|s| announced.as_ref() != Some(s))
                {
                    let line = format!(
                        "Received command {} from {sender} on disk {path}",
                        command.as_str()
                    );
                    let level = LogLevel::Notice;
                    if !report(ServantMessage::Log {
                        level,
                        message: line,
                    }) {
                        return;
                    }
                }
                announced = seen;
                ServantMessage::Event(Event::ServantReport {
                    device,
                    result: Ok(command),
                })
            }
            RoundOutcome::Failed(reason) => ServantMessage::Event(Event::ServantReport {
                device,
                result: Err(ServantFailure { reason }),
            }),
            RoundOutcome::StartRefused(refusal) => ServantMessage::StartRefused { device, refusal },
        };
        if !report(message) || !serve_requests(&mut watcher, requests, report) {
            return;
        }
        next_round = (next_round + loop_timeout).max(started);
    }
}

/// Notices servants whose I/O hangs: a device not heard from for the loop timeout plus the
/// I/O timeout is overdue ([`Event::ServantTimedOut`]), and again every I/O timeout while
/// it stays silent. Pure: the daemon says when it heard from whom and asks at its times.
#[derive(Debug, Clone)]
pub struct OverdueRounds {
    deadlines: Vec<Instant>,
    loop_timeout: Duration,
    io_timeout: Duration,
}

impl OverdueRounds {
    /// `devices` servants whose first round starts at `now`. It may claim a slot (and
    /// sleep the allocate timeout), so it gets loop + I/O timeout like any later round.
    pub fn new(
        devices: usize,
        loop_timeout: Duration,
        io_timeout: Duration,
        now: Instant,
    ) -> OverdueRounds {
        OverdueRounds {
            deadlines: vec![now + loop_timeout + io_timeout; devices],
            loop_timeout,
            io_timeout,
        }
    }

    /// Device `device` reported at `now`: its next round ends within loop + I/O timeout.
    pub fn heard(&mut self, device: usize, now: Instant) {
        if let Some(deadline) = self.deadlines.get_mut(device) {
            *deadline = now + self.loop_timeout + self.io_timeout;
        }
    }

    /// The earliest time a device becomes overdue.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().min().copied()
    }

    /// Devices overdue at `now`; each is due again one I/O timeout later.
    pub fn overdue(&mut self, now: Instant) -> Vec<usize> {
        let mut late = Vec::new();
        for (device, deadline) in self.deadlines.iter_mut().enumerate() {
            if *deadline <= now {
                late.push(device);
                *deadline = now + self.io_timeout;
            }
        }
        late
    }
}

#[cfg(test)]
mod tests;
