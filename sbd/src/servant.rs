//! Device servants: one per sbd device, reading this node's mailbox once per loop and
//! reporting to the daemon as inquisitor [`Event`]s.
//!
//! Each device gets two threads. The *I/O worker* owns the open device and does the
//! blocking reads and writes ([`DeviceWatcher`]: open and validate, find or allocate the
//! slot, the start-mode check and first-start clearing, then per round: header and slot
//! unchanged, read the mailbox). The *servant* thread asks the worker for a round every
//! loop timeout and waits for the answer at most the I/O timeout: a device that hangs
//! is reported as [`Event::ServantTimedOut`] (again every I/O timeout while it hangs)
//! instead of blocking anything. Clearing a message is queued to the same worker, so
//! it happens before the next read. No decision is taken here: that is the inquisitor's.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::blockdev::{BlockDevError, BlockDevice};
use crate::disk::SbdDisk;
use crate::format::{slot_sector, DiskTimeouts, NodeName};
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
    pub io_timeout: Duration,
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
}

/// The blocking part of a servant: one device, read round by round.
pub struct DeviceWatcher {
    setup: ServantSetup,
    attached: Option<Attached>,
    first_start: bool,
}

impl DeviceWatcher {
    pub fn new(setup: ServantSetup) -> DeviceWatcher {
        DeviceWatcher {
            setup,
            attached: None,
            first_start: true,
        }
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
            Ok(command) => RoundOutcome::Mailbox(command),
            Err(reason) => {
                self.attached = None;
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
        Ok(Attached {
            disk,
            slot,
            header_sector,
            slot_sector,
        })
    }

    fn read_mailbox(&self) -> Result<Option<MailboxCommand>, String> {
        let attached = self
            .attached
            .as_ref()
            .ok_or_else(|| "not attached".to_string())?;
        let device = attached.disk.device();
        let path = &self.setup.path;
        if device.read_sector(0).map_err(|e| e.to_string())? != attached.header_sector {
            return Err(format!("{path}: header changed since start-up"));
        }
        let slot = attached.slot;
        if device
            .read_sector(slot_sector(slot))
            .map_err(|e| e.to_string())?
            != attached.slot_sector
        {
            return Err(format!(
                "{path}: node entry in slot {slot} changed since start-up"
            ));
        }
        let mailbox = attached
            .disk
            .read_mailbox(slot)
            .map_err(|e| e.to_string())?;
        Ok(match mailbox.command {
            MailboxCommand::Clear => None,
            command => Some(command),
        })
    }
}

/// Work for a device's I/O worker.
#[derive(Debug)]
enum IoRequest {
    Round,
    Clear,
}

/// The daemon's handle on a running servant.
#[derive(Debug, Clone)]
pub struct ServantHandle {
    requests: Sender<IoRequest>,
}

impl ServantHandle {
    /// Queue a clear of the node's mailbox (done before the next read).
    pub fn clear_message(&self) {
        let _ = self.requests.send(IoRequest::Clear);
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

/// Start the servant and its I/O worker; reports go to `events`.
pub fn spawn(
    setup: ServantSetup,
    events: Sender<ServantMessage>,
) -> Result<ServantHandle, SpawnError> {
    let (requests, request_rx) = mpsc::channel::<IoRequest>();
    let (result_tx, result_rx) = mpsc::channel::<RoundOutcome>();
    let path = setup.path.clone();
    let spawn_error = |source| SpawnError {
        path: path.clone(),
        source,
    };
    let worker_events = events.clone();
    let mut watcher = DeviceWatcher::new(setup.clone());
    std::thread::Builder::new()
        .name(format!("sbd-io-{}", setup.index))
        .spawn(move || {
            for request in request_rx {
                match request {
                    IoRequest::Round => {
                        if result_tx.send(watcher.round()).is_err() {
                            return;
                        }
                    }
                    IoRequest::Clear => {
                        if let Err(message) = watcher.clear() {
                            let _ = worker_events.send(ServantMessage::Log {
                                level: LogLevel::Warning,
                                message,
                            });
                        }
                    }
                }
            }
        })
        .map_err(spawn_error)?;
    let round_requests = requests.clone();
    std::thread::Builder::new()
        .name(format!("sbd-servant-{}", setup.index))
        .spawn(move || servant_loop(&setup, &round_requests, &result_rx, &events))
        .map_err(spawn_error)?;
    Ok(ServantHandle { requests })
}

/// Ask for a round, wait for it at most the I/O timeout (reporting each time-out), pass
/// the outcome on, sleep the loop timeout; until the daemon goes away.
fn servant_loop(
    setup: &ServantSetup,
    requests: &Sender<IoRequest>,
    results: &Receiver<RoundOutcome>,
    events: &Sender<ServantMessage>,
) {
    let device = setup.index;
    loop {
        if requests.send(IoRequest::Round).is_err() {
            return;
        }
        let outcome = loop {
            match results.recv_timeout(setup.io_timeout) {
                Ok(outcome) => break outcome,
                Err(RecvTimeoutError::Timeout) => {
                    let timed_out = ServantMessage::Event(Event::ServantTimedOut { device });
                    if events.send(timed_out).is_err() {
                        return;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let message = match outcome {
            RoundOutcome::Mailbox(command) => ServantMessage::Event(Event::ServantReport {
                device,
                result: Ok(command),
            }),
            RoundOutcome::Failed(reason) => ServantMessage::Event(Event::ServantReport {
                device,
                result: Err(ServantFailure { reason }),
            }),
            RoundOutcome::StartRefused(refusal) => ServantMessage::StartRefused { device, refusal },
        };
        if events.send(message).is_err() {
            return;
        }
        std::thread::sleep(setup.loop_timeout);
    }
}

#[cfg(test)]
mod tests;
