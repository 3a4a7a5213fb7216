//! `ping NODE`: write a `test` message to the node on every device, then poll its
//! mailboxes until its watcher has cleared them (it does so within one loop) or msgwait
//! has passed.
//!
//! ClusterLabs sbd has the same command (undocumented): it polls once a second and always
//! exits 0, only logging the result. Ours polls every [`POLL_INTERVAL`], prints one line
//! per device, and exits 0 only when the node answered on more than half of the devices
//! (the rule a message's delivery follows), else 1.

use std::time::Duration;

use super::{open_disk, report, DeviceFailure, Invocation, Runtime};
use crate::blockdev::BlockDevice;
use crate::disk::{message_delivered, SbdDisk};
use crate::format::NodeName;
use crate::inquisitor::MailboxCommand;

/// How often the mailboxes are read while waiting for the answer.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// One device the test message went to.
struct Pending {
    path: String,
    disk: SbdDisk<Box<dyn BlockDevice>>,
    slot: u8,
    msgwait: Duration,
}

/// What became of the message on one device.
enum Answer {
    /// The watcher cleared it after about this long.
    Cleared(Duration),
    /// Someone else's message replaced it.
    Overwritten(MailboxCommand),
    /// Reading the mailbox failed.
    Failed(String),
}

pub(super) fn run_ping(invocation: &Invocation, target: &NodeName, rt: &mut Runtime<'_>) -> bool {
    let total = invocation.devices.len();
    let mut pending = Vec::new();
    for path in &invocation.devices {
        let sent = open_disk(rt, path).and_then(|disk| {
            let msgwait = disk.checked_msgwait()?;
            let slot = disk
                .message(target, MailboxCommand::Test, &invocation.local_name)
                .map_err(DeviceFailure::from)?;
            Ok(Pending {
                path: path.clone(),
                disk,
                slot,
                msgwait,
            })
        });
        match sent {
            Ok(device) => pending.push(device),
            Err(e) => report(rt, &e),
        }
    }
    let limit = pending.iter().map(|p| p.msgwait).max().unwrap_or_default();
    let mut answered = 0;
    let mut waited = Duration::ZERO;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for device in pending {
            match poll(&device, waited) {
                None => still.push(device),
                Some(Answer::Cleared(after)) => {
                    answered += 1;
                    let _ = writeln!(
                        rt.out,
                        "{target} answered on {} after about {} ms",
                        device.path,
                        after.as_millis()
                    );
                }
                Some(Answer::Overwritten(command)) => report(
                    rt,
                    &format_args!(
                        "{}: the test message to {target} was replaced by {} before it was answered",
                        device.path,
                        command.as_str()
                    ),
                ),
                Some(Answer::Failed(reason)) => report(rt, &reason),
            }
        }
        pending = still;
        if pending.is_empty() || waited >= limit {
            break;
        }
        (rt.pause)(POLL_INTERVAL);
        waited += POLL_INTERVAL;
    }
    for device in &pending {
        report(
            rt,
            &format_args!(
                "{}: {target} did not answer within msgwait ({} s); its test message is still waiting",
                device.path,
                device.msgwait.as_secs()
            ),
        );
    }
    if message_delivered(answered, total) {
        return true;
    }
    report(
        rt,
        &format_args!(
            "{target} answered on {answered} of {total} devices; more than half are needed"
        ),
    );
    false
}

/// `None` while the test message is still in the mailbox.
fn poll(device: &Pending, waited: Duration) -> Option<Answer> {
    match device.disk.read_mailbox(device.slot) {
        Ok(mailbox) => match mailbox.command {
            MailboxCommand::Test => None,
            MailboxCommand::Clear => Some(Answer::Cleared(waited)),
            other => Some(Answer::Overwritten(other)),
        },
        Err(e) => Some(Answer::Failed(e.to_string())),
    }
}

#[cfg(test)]
mod tests;
