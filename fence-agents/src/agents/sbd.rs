//! `fence_sbd`: fencing through sbd's poison-pill slots on shared storage, with the
//! options of ClusterLabs' fence_sbd (`--devices` comma list, `--plug` = node name,
//! method `cycle` by default, `power_timeout` 30, `--sbd-path` accepted and ignored).
//!
//! The disks are read and written natively with the `sbd` crate; no sbd process runs.
//! * `off` / `reboot` write `off` / `reset` into the node's mailbox on every device; the
//!   message counts when more than half of the devices took it
//!   ([`sbd::disk::message_delivered`]), and the agent then waits msgwait (the largest of
//!   the devices'), after which the node has either read the pill or been killed by its
//!   watchdog. A msgwait longer than `power_timeout` fails (ClusterLabs' sbd child would
//!   be killed at `power_timeout` as well); `power_timeout` ≤ msgwait is warned about.
//!   A device whose header cannot confirm a message (a msgwait or watchdog timeout of 0,
//!   or one above an hour: [`sbd::format::DiskTimeouts::check_for_fencing`]) is refused
//!   before the pill is written and counts as a failed device (ClusterLabs reports such
//!   a fence done at once; see `sbd/FORMAT.md`).
//! * `on` writes `clear` (no msgwait wait: clearing is not a fence).
//! * `status` reads the node's mailbox on every device: OFF when a majority of the
//!   devices hold a poison pill (`reset`, `off`, `crashdump`), else ON; a node without a
//!   slot on any readable device is an error.
//! * `list` prints the node names of the allocated slots (`name,name`).
//!
//! Deliberate differences from ClusterLabs: node names match case-insensitively (as sbd
//! itself does), `test`/`exit` in the mailbox read as ON and `crashdump` as OFF
//! (ClusterLabs fails the status), regular files are accepted as devices, a reboot of a
//! node that already reads OFF clears its slot (framework: off done, power on) instead of
//! sending another `reset`, and every failure exits 1.

use std::time::Duration;

use sbd::blockdev::{BlockDevice, FileDevice};
use sbd::disk::{message_delivered, SbdDisk};
use sbd::format::NodeName;
use sbd::inquisitor::MailboxCommand;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};

/// sbd takes at most three devices.
pub const MAX_DEVICES: usize = 3;

const DEVICES: OptionSpec = OptionSpec {
    required: true,
    ..OptionSpec::text("devices", "[device_a,device_b]", "SBD Device")
};
const SBD_PATH: OptionSpec = OptionSpec::text(
    "sbd_path",
    "[path]",
    "Path to SBD binary (accepted for compatibility; palisade reads the disks natively)",
)
.default("/usr/sbin/sbd")
.order(200);
const PLUG: OptionSpec = OptionSpec {
    required: true,
    ..options::PLUG
};

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_sbd",
    shortdesc: "Fence agent for sbd",
    longdesc: "fence_sbd is I/O Fencing agent which can be used in environments where sbd \
        can be used (shared storage). It writes sbd poison pills (reset, off) into the \
        node's slot on the shared devices and waits msgwait; palisade reads and writes \
        the sbd disk format natively.",
    vendor_url: "",
    variants: &[],
    options: &[
        DEVICES,
        PLUG,
        options::METHOD,
        options::SEPARATOR,
        options::PLUG_SEPARATOR,
        SBD_PATH,
    ],
    defaults: &[("method", "cycle"), ("power_timeout", "30")],
    default_action: "reboot",
    plugs: Plugs::Required { list: true },
    needs_address: false,
    needs_login: false,
    needs_password: false,
    can_cycle: true,
    can_diag: false,
    has_status: true,
    validate,
    connect,
};

/// The device paths of `--devices`: comma separated, blanks trimmed, empty items dropped.
pub fn parse_devices(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

fn validate(p: &Params) -> Result<(), UsageError> {
    let devices = parse_devices(p.text("devices").unwrap_or(""));
    if devices.is_empty() {
        return Err(UsageError::Invalid(
            "No SBD devices specified. At least one SBD device is required.".into(),
        ));
    }
    if devices.len() > MAX_DEVICES {
        return Err(UsageError::Invalid(format!(
            "{} SBD devices given; sbd supports at most {MAX_DEVICES}",
            devices.len()
        )));
    }
    for plug in p.plugs() {
        NodeName::parse(&plug).map_err(|e| UsageError::Invalid(format!("--plug {plug}: {e}")))?;
    }
    Ok(())
}

fn connect(p: &Params, _deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let devices = parse_devices(p.text("devices").unwrap_or(""));
    let msgwait_limit = (!p.timing.disable_timeout).then_some(p.timing.power_timeout);
    let device = SbdDevices {
        paths: devices,
        msgwait_limit,
        sender: local_node_name(),
        pause: std::thread::sleep,
    };
    // ClusterLabs reads msgwait up front and warns when power_timeout cannot cover it.
    if let Some(limit) = msgwait_limit.filter(|l| !l.is_zero() && !p.quiet) {
        if let Some(msgwait) = device.msgwait() {
            if limit <= msgwait {
                eprintln!(
                    "WARNING: power timeout ({}s) needs to be greater than the sbd message \
                     timeout ({}s)",
                    limit.as_secs(),
                    msgwait.as_secs()
                );
            }
        }
    }
    Ok(Box::new(device))
}

/// This host's name as sbd's sender field holds it (`uname -n`, lower case), or
/// `fence_sbd` when it cannot be read or is not a valid sbd name.
fn local_node_name() -> NodeName {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    NodeName::parse(&host.trim().to_lowercase())
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| NodeName::parse("fence_sbd").ok())
        .unwrap_or_default()
}

/// The sbd devices of one agent run.
pub struct SbdDevices {
    pub paths: Vec<String>,
    /// Longest acceptable msgwait (`power_timeout`); `None` without a limit.
    pub msgwait_limit: Option<Duration>,
    /// Sender name written with each message.
    pub sender: NodeName,
    /// Sleeps msgwait (a test may pass a no-op).
    pub pause: fn(Duration),
}

type Disk = SbdDisk<Box<dyn BlockDevice>>;

fn open_disk(path: &str) -> Result<Disk, String> {
    let device = FileDevice::open(path).map_err(|e| e.to_string())?;
    SbdDisk::open(Box::new(device) as Box<dyn BlockDevice>).map_err(|e| e.to_string())
}

fn node_name(plug: Option<&str>) -> Result<NodeName, DeviceError> {
    let plug = plug.ok_or_else(|| DeviceError::NoSuchPlug(String::new()))?;
    NodeName::parse(plug).map_err(|_| DeviceError::NoSuchPlug(plug.to_string()))
}

/// Whether a mailbox command is a poison pill (the node is, or is being, taken down).
pub fn is_poison_pill(command: MailboxCommand) -> bool {
    matches!(
        command,
        MailboxCommand::Reset | MailboxCommand::Off | MailboxCommand::Crashdump
    )
}

impl SbdDevices {
    /// The largest msgwait of the readable devices.
    pub fn msgwait(&self) -> Option<Duration> {
        self.paths
            .iter()
            .filter_map(|p| open_disk(p).ok())
            .filter_map(|d| d.checked_msgwait().ok())
            .max()
    }

    /// Write `command` to `plug` on every device; needs a majority. Waits msgwait unless
    /// the command is `clear`.
    fn send(&mut self, plug: Option<&str>, command: MailboxCommand) -> Result<(), DeviceError> {
        let target = node_name(plug)?;
        let mut delivered = 0;
        let mut msgwait = Duration::ZERO;
        let mut failures = Vec::new();
        let mut not_found = 0;
        for path in &self.paths {
            let sent = open_disk(path).and_then(|disk| {
                // A pill only goes out on a device whose msgwait can be waited for.
                let wait = match command {
                    MailboxCommand::Clear => Duration::ZERO,
                    _ => disk.checked_msgwait().map_err(|e| e.to_string())?,
                };
                disk.message(&target, command, &self.sender).map_err(|e| {
                    if matches!(e, sbd::disk::DiskError::NodeNotFound { .. }) {
                        not_found += 1;
                    }
                    e.to_string()
                })?;
                Ok(wait)
            });
            match sent {
                Ok(wait) => {
                    delivered += 1;
                    msgwait = msgwait.max(wait);
                }
                Err(e) => failures.push(e),
            }
        }
        let total = self.paths.len();
        if !message_delivered(delivered, total) {
            if not_found > 0 && not_found + delivered == total {
                return Err(DeviceError::NoSuchPlug(target.to_string()));
            }
            return Err(DeviceError::ConnectionLost(format!(
                "sbd message {} to {target} written to {delivered} of {total} devices, more \
                 than half are needed: {}",
                command.as_str(),
                failures.join("; ")
            )));
        }
        if command == MailboxCommand::Clear {
            return Ok(());
        }
        if let Some(limit) = self.msgwait_limit {
            if msgwait > limit {
                return Err(DeviceError::TimedOut(format!(
                    "sbd msgwait {}s exceeds power_timeout {}s; the message to {target} \
                     cannot be counted as delivered",
                    msgwait.as_secs(),
                    limit.as_secs()
                )));
            }
        }
        (self.pause)(msgwait);
        Ok(())
    }
}

impl PowerDevice for SbdDevices {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let target = node_name(plug)?;
        let mut readable = 0;
        let mut found = 0;
        let mut pills = 0;
        let mut failures = Vec::new();
        for path in &self.paths {
            let read = open_disk(path)
                .and_then(|disk| disk.list().map_err(|e| e.to_string()))
                .map(|entries| entries.into_iter().find(|e| e.name == target));
            match read {
                Ok(entry) => {
                    readable += 1;
                    if let Some(entry) = entry {
                        found += 1;
                        pills += usize::from(is_poison_pill(entry.mailbox.command));
                    }
                }
                Err(e) => failures.push(e),
            }
        }
        if readable == 0 {
            return Err(DeviceError::ConnectionLost(format!(
                "no sbd device readable: {}",
                failures.join("; ")
            )));
        }
        if found == 0 {
            return Err(DeviceError::NoSuchPlug(target.to_string()));
        }
        Ok(if message_delivered(pills, self.paths.len()) {
            PowerState::Off
        } else {
            PowerState::On
        })
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let command = match to {
            PowerState::Off => MailboxCommand::Off,
            PowerState::On => MailboxCommand::Clear,
        };
        self.send(plug, command)
    }

    fn power_cycle(&mut self, plug: Option<&str>) -> Result<(), DeviceError> {
        self.send(plug, MailboxCommand::Reset)
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let mut names: Vec<NodeName> = Vec::new();
        let mut readable = 0;
        let mut failures = Vec::new();
        for path in &self.paths {
            match open_disk(path).and_then(|disk| disk.list().map_err(|e| e.to_string())) {
                Ok(entries) => {
                    readable += 1;
                    for entry in entries {
                        if !names.contains(&entry.name) {
                            names.push(entry.name);
                        }
                    }
                }
                Err(e) => failures.push(e),
            }
        }
        if readable == 0 {
            return Err(DeviceError::ConnectionLost(format!(
                "no sbd device readable: {}",
                failures.join("; ")
            )));
        }
        Ok(names
            .into_iter()
            .map(|n| Plug {
                id: n.to_string(),
                alias: n.to_string(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
