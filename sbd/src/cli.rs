//! The `palisade-sbd` command line: the disk commands of ClusterLabs sbd(8) with its
//! option syntax (`create`, `dump`, `list`, `allocate NODE`, `message NODE TYPE`,
//! `ping NODE`, on up to three `-d` devices) and the same stdout, which fence agents
//! parse, plus `query-watchdog` and `test-watchdog` ([`watchdog_commands`]). `watch` is
//! parsed here too (its options are kept in [`Invocation::options`]) and handed to
//! [`crate::daemon::main`].
//!
//! [`parse_args`] is pure (arguments and environment in, [`Invocation`] out);
//! [`run`] carries an invocation out against a [`Runtime`] that opens devices, pauses,
//! draws UUIDs and writes output, so tests can use memory devices and no clock.
//! Exit codes: 0 success, 1 failure (usage errors included), with a message on stderr.

use std::io::{self, Write};
use std::time::Duration;

use watchdog::{ProbeError, ProbedWatchdog};

use crate::blockdev::{BlockDevError, BlockDevice};
use crate::disk::{message_delivered, render_dump, render_list, runtime_timeouts, Allocation};
use crate::disk::{DiskError, SbdDisk};
use crate::format::{
    parse_command, uuid_v4_from_random, DiskTimeouts, NameError, NodeName, DEFAULT_SLOTS,
};
use crate::inquisitor::{validate_timeouts, MailboxCommand};
use crate::overwrite_guard::{self, Refusal, UsageProbe};

mod ping;
mod process;
mod usage;
pub mod watchdog_commands;

pub use process::main_from_env;
pub use usage::USAGE;

/// The program name used in messages.
pub const PROGRAM: &str = "palisade-sbd";
/// sbd accepts at most three devices.
pub const MAX_DEVICES: usize = 3;

/// A command line that cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("no command given")]
    NoCommand,
    #[error("unknown option -{0}")]
    UnknownOption(char),
    #[error("option -{0} needs a value")]
    MissingValue(char),
    #[error("option -{option}: {value:?} is not a number of seconds")]
    BadNumber { option: char, value: String },
    #[error("{0} devices given; at most 3 are supported")]
    TooManyDevices(usize),
    #[error("no device given (use -d DEV, up to 3 times, or SBD_DEVICE)")]
    NoDevices,
    #[error("unknown command {0:?}")]
    UnknownCommand(String),
    #[error("command {command} needs {what}")]
    MissingArgument {
        command: &'static str,
        what: &'static str,
    },
    #[error("unknown message type {0:?} (test, reset, off, crashdump, clear or exit)")]
    BadMessageType(String),
    #[error("unexpected argument {0:?}")]
    ExtraArgument(String),
    #[error("cannot determine the local node name (use -n NAME): {0}")]
    LocalName(String),
    #[error(transparent)]
    Name(#[from] NameError),
    /// A `--name=value` option (palisade's own) given to a command other than watch.
    #[error("option --{0} only applies to the watch command")]
    LongOptionNeedsWatch(String),
    /// `--force-reset` with another value than `yes`, or given to another command.
    #[error("--force-reset={0}: only --force-reset=yes, and only with test-watchdog")]
    BadForceReset(String),
    /// A `--name` without `=value`.
    #[error("option --{0} needs a value (--{0}=VALUE)")]
    LongOptionValue(String),
    /// `--force` given to another command than create.
    #[error("--force only applies to create")]
    ForceNeedsCreate,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    /// Initialise the devices; `force` (`--force`) overwrites a device that holds a
    /// filesystem, swap, LVM, LUKS or a partition table (never one in use, see
    /// [`crate::overwrite_guard`]).
    Create {
        force: bool,
    },
    Dump,
    List,
    Allocate(NodeName),
    Message {
        target: NodeName,
        command: MailboxCommand,
    },
    /// Run the daemon (see [`crate::daemon`]).
    Watch,
    /// Write `test` to the node and wait up to msgwait for its watcher to clear it.
    Ping(NodeName),
    /// List the watchdogs sysfs knows (never opens a device).
    QueryWatchdog,
    /// Show, and with `force` carry out, a watchdog test that resets the node.
    TestWatchdog {
        force: bool,
    },
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub devices: Vec<String>,
    /// This node's name (`-n`, else the lower-cased host name): a message's sender.
    pub local_name: NodeName,
    /// Timeouts `create` writes (`-1` .. `-4`).
    pub timeouts: DiskTimeouts,
    /// `-I`: the I/O timeout (checks the timeouts `create` writes; watch uses it).
    pub io_timeout: Duration,
    pub command: Command,
    /// Every short option in command-line order, flags with `None`; `watch` reads its
    /// own ones from here (see [`crate::daemon::config`]).
    pub options: Vec<(char, Option<String>)>,
    /// palisade's own `--name=value` options (watch only).
    pub long_options: Vec<(String, String)>,
}

/// sbd options that take a value; the disk commands ignore the watch-only ones.
const OPTIONS_WITH_VALUE: &str = "dn12345ICFSprstw";
/// sbd flags; all are accepted, none changes a disk command.
const FLAGS: &str = "cPRTvWzZ";

/// Parse `args` (without the program name). `env` looks up environment variables
/// (SBD_DEVICE, SBD_WATCHDOG_TIMEOUT); `hostname` gives the default local name.
pub fn parse_args(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    hostname: &dyn Fn() -> io::Result<String>,
) -> Result<Invocation, UsageError> {
    let mut devices = Vec::new();
    let mut local_name = None;
    let mut timeouts = DiskTimeouts::default();
    if let Some(value) = env("SBD_WATCHDOG_TIMEOUT").filter(|v| !v.trim().is_empty()) {
        timeouts.watchdog = seconds('1', value.trim())?;
    }
    let mut io_timeout = Duration::from_secs(3);
    let mut help = false;
    let mut positional = Vec::new();
    let mut options = Vec::new();
    let mut long_options = Vec::new();
    let mut force = false;

    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            positional.extend(iter.by_ref().cloned());
            break;
        }
        if arg == "--force" {
            force = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = long
                .split_once('=')
                .ok_or_else(|| UsageError::LongOptionValue(long.to_owned()))?;
            long_options.push((name.to_owned(), value.to_owned()));
            continue;
        }
        let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) else {
            positional.push(arg.clone());
            continue;
        };
        for (pos, option) in cluster.char_indices() {
            if FLAGS.contains(option) {
                options.push((option, None));
                continue;
            }
            if option == 'h' {
                help = true;
                continue;
            }
            if !OPTIONS_WITH_VALUE.contains(option) {
                return Err(UsageError::UnknownOption(option));
            }
            let attached = &cluster[pos + option.len_utf8()..];
            let value = if attached.is_empty() {
                iter.next()
                    .cloned()
                    .ok_or(UsageError::MissingValue(option))?
            } else {
                attached.to_owned()
            };
            options.push((option, Some(value.clone())));
            match option {
                'd' => devices.push(value),
                'n' => local_name = Some(NodeName::parse(&value)?),
                '1' => timeouts.watchdog = seconds(option, &value)?,
                '2' => timeouts.allocate = seconds(option, &value)?,
                '3' => timeouts.loop_timeout = seconds(option, &value)?,
                '4' => timeouts.msgwait = seconds(option, &value)?,
                'I' => io_timeout = Duration::from_secs(u64::from(seconds(option, &value)?)),
                _ => {} // watch-only options
            }
            break; // the rest of the cluster was the value
        }
    }

    let mut command = if help {
        Command::Help
    } else {
        parse_command_words(&positional)?
    };
    match &mut command {
        Command::Create {
            force: create_force,
        } => *create_force = force,
        _ if force => return Err(UsageError::ForceNeedsCreate),
        _ => {}
    }
    if let Command::TestWatchdog { force } = &mut command {
        for (name, value) in std::mem::take(&mut long_options) {
            match name.as_str() {
                "force-reset" if value == "yes" => *force = true,
                "force-reset" => return Err(UsageError::BadForceReset(value)),
                _ => return Err(UsageError::LongOptionNeedsWatch(name)),
            }
        }
    }
    if let Some((_, value)) = long_options.iter().find(|(name, _)| name == "force-reset") {
        return Err(UsageError::BadForceReset(value.clone()));
    }
    if let (false, Some((name, _))) = (command == Command::Watch, long_options.first()) {
        return Err(UsageError::LongOptionNeedsWatch(name.clone()));
    }
    let needs_devices = !matches!(
        command,
        Command::Help | Command::QueryWatchdog | Command::TestWatchdog { .. }
    );
    if needs_devices {
        if devices.is_empty() {
            if let Some(list) = env("SBD_DEVICE") {
                devices = list
                    .split(';')
                    .map(str::trim)
                    .filter(|d| !d.is_empty())
                    .map(str::to_owned)
                    .collect();
            }
        }
        // watch may run diskless (cluster integration only); the daemon checks that.
        if devices.is_empty() && command != Command::Watch {
            return Err(UsageError::NoDevices);
        }
        if devices.len() > MAX_DEVICES {
            return Err(UsageError::TooManyDevices(devices.len()));
        }
    }
    let local_name = match local_name {
        Some(name) => name,
        None => match &command {
            Command::Message { .. } | Command::Watch | Command::Ping(_) => {
                let host = hostname().map_err(|e| UsageError::LocalName(e.to_string()))?;
                NodeName::parse(&host.trim().to_lowercase())?
            }
            _ => NodeName::default(),
        },
    };
    let command = match command {
        Command::Message { target, command } if target.as_bytes() == b"LOCAL" => Command::Message {
            target: local_name.clone(),
            command,
        },
        other => other,
    };
    Ok(Invocation {
        devices,
        local_name,
        timeouts,
        io_timeout,
        command,
        options,
        long_options,
    })
}

fn parse_command_words(words: &[String]) -> Result<Command, UsageError> {
    let Some((first, rest)) = words.split_first() else {
        return Err(UsageError::NoCommand);
    };
    let (command, used) = match first.as_str() {
        "create" => (Command::Create { force: false }, 0),
        "dump" => (Command::Dump, 0),
        "list" => (Command::List, 0),
        "allocate" => {
            let node = rest.first().ok_or(UsageError::MissingArgument {
                command: "allocate",
                what: "a node name",
            })?;
            (Command::Allocate(NodeName::parse(node)?), 1)
        }
        "message" => {
            let missing = UsageError::MissingArgument {
                command: "message",
                what: "a node name and a message type",
            };
            let (Some(node), Some(kind)) = (rest.first(), rest.get(1)) else {
                return Err(missing);
            };
            let command =
                parse_command(kind).ok_or_else(|| UsageError::BadMessageType(kind.clone()))?;
            let target = NodeName::parse(node)?;
            (Command::Message { target, command }, 2)
        }
        "watch" => (Command::Watch, 0),
        "ping" => {
            let node = rest.first().ok_or(UsageError::MissingArgument {
                command: "ping",
                what: "a node name",
            })?;
            (Command::Ping(NodeName::parse(node)?), 1)
        }
        "query-watchdog" => (Command::QueryWatchdog, 0),
        "test-watchdog" => (Command::TestWatchdog { force: false }, 0),
        other => return Err(UsageError::UnknownCommand(other.to_owned())),
    };
    match rest.get(used) {
        Some(extra) => Err(UsageError::ExtraArgument(extra.clone())),
        None => Ok(command),
    }
}

fn seconds(option: char, value: &str) -> Result<u32, UsageError> {
    value.parse::<u32>().map_err(|_| UsageError::BadNumber {
        option,
        value: value.to_owned(),
    })
}

/// Opens a device by path.
pub type DeviceOpener<'a> = &'a dyn Fn(&str) -> Result<Box<dyn BlockDevice>, BlockDevError>;

/// Everything [`run`] needs from the outside world.
pub struct Runtime<'a> {
    /// Open a device by path.
    pub open: DeviceOpener<'a>,
    /// Sleep (allocate timeout, msgwait).
    pub pause: &'a mut dyn FnMut(Duration),
    /// 16 random bytes for a new UUID.
    pub random: &'a mut dyn FnMut() -> io::Result<[u8; 16]>,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// The watchdogs sysfs knows (`query-watchdog`, `test-watchdog`); never opens one.
    pub probe: ProbeFn<'a>,
    /// Environment lookups (watchdog settings for the watchdog commands).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Who uses a device (`create` refuses one in use, see [`crate::overwrite_guard`]).
    pub usage: UsageProbe<'a>,
}

/// Lists the watchdogs of the machine without opening any.
pub type ProbeFn<'a> = &'a dyn Fn() -> Result<Vec<ProbedWatchdog>, ProbeError>;

/// Carry out `invocation`; returns the exit code (0 success, 1 failure).
pub fn run(invocation: &Invocation, rt: &mut Runtime<'_>) -> i32 {
    let ok = match &invocation.command {
        Command::Help => {
            let _ = rt.out.write_all(USAGE.as_bytes());
            true
        }
        Command::Create { force } => run_create(invocation, *force, rt),
        Command::Dump => run_dump(invocation, rt),
        Command::List => run_list(invocation, rt),
        Command::Allocate(name) => run_allocate(invocation, name, rt),
        Command::Message { target, command } => run_message(invocation, target, *command, rt),
        Command::Watch => {
            report(rt, &"watch runs through crate::daemon::main, not cli::run");
            false
        }
        Command::Ping(target) => ping::run_ping(invocation, target, rt),
        Command::QueryWatchdog => watchdog_commands::run_query(rt),
        Command::TestWatchdog { force } => watchdog_commands::run_test(invocation, *force, rt),
    };
    let _ = rt.out.flush();
    i32::from(!ok)
}

/// Why one device failed inside a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DeviceFailure {
    #[error(transparent)]
    Open(#[from] BlockDevError),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("cannot get random bytes for the UUID: {0}")]
    Random(io::Error),
    #[error(transparent)]
    Refused(#[from] Refusal),
}

pub(crate) fn open_disk(
    rt: &Runtime<'_>,
    path: &str,
) -> Result<SbdDisk<Box<dyn BlockDevice>>, DeviceFailure> {
    let device = (rt.open)(path)?;
    Ok(SbdDisk::open(device)?)
}

pub(crate) fn report(rt: &mut Runtime<'_>, error: &dyn std::fmt::Display) {
    let _ = writeln!(rt.err, "{PROGRAM}: {error}");
}

fn run_create(invocation: &Invocation, force: bool, rt: &mut Runtime<'_>) -> bool {
    // Never write a header every reader refuses.
    if let Err(e) = invocation.timeouts.check_for_fencing() {
        report(rt, &e);
        for path in &invocation.devices {
            let _ = writeln!(rt.err, "==Device {path} NOT initialized");
        }
        return false;
    }
    let runtime = runtime_timeouts(&invocation.timeouts, invocation.io_timeout);
    match validate_timeouts(&runtime, None) {
        Ok(warnings) => {
            for warning in warnings {
                report(rt, &format_args!("warning: {warning}"));
            }
        }
        Err(problem) => report(rt, &format_args!("warning: {problem}")),
    }
    let mut ok = true;
    for path in &invocation.devices {
        let _ = writeln!(rt.out, "Initializing device {path}");
        let created = (|| -> Result<SbdDisk<Box<dyn BlockDevice>>, DeviceFailure> {
            let device = (rt.open)(path)?;
            overwrite_guard::check(path, device.as_ref(), rt.usage, force)?;
            let uuid = uuid_v4_from_random((rt.random)().map_err(DeviceFailure::Random)?);
            Ok(SbdDisk::create(device, invocation.timeouts, uuid)?)
        })();
        match created {
            Ok(disk) => {
                let uuid = disk.header().uuid_string().unwrap_or_default();
                let _ = writeln!(
                    rt.out,
                    "Creating version {} header on device {path} (uuid: {uuid})\n\
                     Initializing {DEFAULT_SLOTS} slots on device {path}\n\
                     Device {path} is initialized.",
                    disk.header().version_string()
                );
            }
            Err(e) => {
                report(rt, &e);
                let _ = writeln!(rt.err, "==Device {path} NOT initialized");
                ok = false;
            }
        }
    }
    let _ = writeln!(
        rt.out,
        "Did you check sbd service down on all nodes before? If not do so now and restart afterwards."
    );
    ok
}

fn run_dump(invocation: &Invocation, rt: &mut Runtime<'_>) -> bool {
    let mut ok = true;
    for path in &invocation.devices {
        let _ = writeln!(rt.out, "==Dumping header on disk {path}");
        match open_disk(rt, path) {
            Ok(disk) => {
                let _ = write!(rt.out, "{}", render_dump(disk.header()));
                let _ = writeln!(rt.out, "==Header on disk {path} is dumped");
            }
            Err(e) => {
                report(rt, &e);
                let _ = writeln!(rt.err, "==Header on disk {path} NOT dumped");
                ok = false;
            }
        }
    }
    ok
}

fn run_list(invocation: &Invocation, rt: &mut Runtime<'_>) -> bool {
    let mut ok = true;
    for path in &invocation.devices {
        let listed = open_disk(rt, path).and_then(|disk| Ok(disk.list()?));
        match listed {
            Ok(entries) => {
                let _ = write!(rt.out, "{}", render_list(&entries));
            }
            Err(e) => {
                report(rt, &e);
                let _ = writeln!(rt.err, "== Slots on disk {path} NOT dumped");
                ok = false;
            }
        }
    }
    ok
}

fn run_allocate(invocation: &Invocation, name: &NodeName, rt: &mut Runtime<'_>) -> bool {
    let mut ok = true;
    for path in &invocation.devices {
        let _ = writeln!(
            rt.out,
            "Trying to allocate slot for {name} on device {path}."
        );
        let allocated = match open_disk(rt, path) {
            Ok(disk) => disk.allocate(name, rt.pause).map_err(DeviceFailure::from),
            Err(e) => Err(e),
        };
        match allocated {
            Ok(Allocation::Claimed(slot)) => {
                let _ = writeln!(
                    rt.out,
                    "Slot for {name} has been allocated on {path} (slot {slot})."
                );
            }
            Ok(Allocation::Existing(slot)) => {
                let _ = writeln!(
                    rt.out,
                    "Slot for {name} has been allocated on {path} (slot {slot}, already owned)."
                );
            }
            Err(e) => {
                report(rt, &e);
                ok = false;
            }
        }
    }
    ok
}

fn run_message(
    invocation: &Invocation,
    target: &NodeName,
    command: MailboxCommand,
    rt: &mut Runtime<'_>,
) -> bool {
    let mut delivered_to = 0;
    let mut msgwait = Duration::ZERO;
    for path in &invocation.devices {
        let sent = open_disk(rt, path).and_then(|disk| {
            // `exit` is not waited for; anything else only goes out if it can be.
            let wait = match command {
                MailboxCommand::Exit => Duration::ZERO,
                _ => disk.checked_msgwait()?,
            };
            disk.message(target, command, &invocation.local_name)?;
            Ok(wait)
        });
        match sent {
            Ok(wait) => {
                delivered_to += 1;
                msgwait = msgwait.max(wait);
            }
            Err(e) => report(rt, &e),
        }
    }
    let total = invocation.devices.len();
    if !message_delivered(delivered_to, total) {
        report(
            rt,
            &format_args!(
                "message {} to {target} written to {delivered_to} of {total} devices; more than half are needed",
                command.as_str()
            ),
        );
        return false;
    }
    if command != MailboxCommand::Exit {
        // Delivered only once the target had msgwait to read it (or its watchdog fired).
        (rt.pause)(msgwait);
    }
    true
}

#[cfg(test)]
mod tests;
