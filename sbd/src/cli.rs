//! The `palisade-sbd` command line: the disk commands of ClusterLabs sbd(8) with its
//! option syntax (`create`, `dump`, `list`, `allocate NODE`, `message NODE TYPE`, on up
//! to three `-d` devices) and the same stdout, which fence agents parse. `watch` is
//! parsed here too (its options are kept in [`Invocation::options`]) and handed to
//! [`crate::daemon::main`].
//!
//! [`parse_args`] is pure (arguments and environment in, [`Invocation`] out);
//! [`run`] carries an invocation out against a [`Runtime`] that opens devices, pauses,
//! draws UUIDs and writes output, so tests can use memory devices and no clock.
//! Exit codes: 0 success, 1 failure (usage errors included), with a message on stderr.

use std::io::{self, Read, Write};
use std::time::Duration;

use crate::blockdev::{BlockDevError, BlockDevice, FileDevice, IoMode};
use crate::disk::{message_delivered, render_dump, render_list, runtime_timeouts, Allocation};
use crate::disk::{DiskError, SbdDisk};
use crate::format::{
    parse_command, uuid_v4_from_random, DiskTimeouts, NameError, NodeName, DEFAULT_SLOTS,
};
use crate::inquisitor::{validate_timeouts, MailboxCommand};

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
    #[error("command {0} is not supported by palisade-sbd (disk commands only)")]
    Unsupported(String),
    #[error("cannot determine the local node name (use -n NAME): {0}")]
    LocalName(String),
    #[error(transparent)]
    Name(#[from] NameError),
    /// A `--name=value` option (palisade's own) given to a command other than watch.
    #[error("option --{0} only applies to the watch command")]
    LongOptionNeedsWatch(String),
    /// A `--name` without `=value`.
    #[error("option --{0} needs a value (--{0}=VALUE)")]
    LongOptionValue(String),
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Create,
    Dump,
    List,
    Allocate(NodeName),
    Message {
        target: NodeName,
        command: MailboxCommand,
    },
    /// Run the daemon (see [`crate::daemon`]).
    Watch,
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

    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--" {
            positional.extend(iter.by_ref().cloned());
            break;
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

    let command = if help {
        Command::Help
    } else {
        parse_command_words(&positional)?
    };
    if let (false, Some((name, _))) = (command == Command::Watch, long_options.first()) {
        return Err(UsageError::LongOptionNeedsWatch(name.clone()));
    }
    if command != Command::Help {
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
            Command::Message { .. } | Command::Watch => {
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
        "create" => (Command::Create, 0),
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
        "ping" | "query-watchdog" | "test-watchdog" => {
            return Err(UsageError::Unsupported(first.clone()))
        }
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
}

/// Carry out `invocation`; returns the exit code (0 success, 1 failure).
pub fn run(invocation: &Invocation, rt: &mut Runtime<'_>) -> i32 {
    let ok = match &invocation.command {
        Command::Help => {
            let _ = rt.out.write_all(USAGE.as_bytes());
            true
        }
        Command::Create => run_create(invocation, rt),
        Command::Dump => run_dump(invocation, rt),
        Command::List => run_list(invocation, rt),
        Command::Allocate(name) => run_allocate(invocation, name, rt),
        Command::Message { target, command } => run_message(invocation, target, *command, rt),
        Command::Watch => {
            report(rt, &"watch runs through crate::daemon::main, not cli::run");
            false
        }
    };
    let _ = rt.out.flush();
    i32::from(!ok)
}

/// Why one device failed inside a command.
#[derive(Debug, thiserror::Error)]
enum DeviceFailure {
    #[error(transparent)]
    Open(#[from] BlockDevError),
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error("cannot get random bytes for the UUID: {0}")]
    Random(io::Error),
}

fn open_disk(rt: &Runtime<'_>, path: &str) -> Result<SbdDisk<Box<dyn BlockDevice>>, DeviceFailure> {
    let device = (rt.open)(path)?;
    Ok(SbdDisk::open(device)?)
}

fn report(rt: &mut Runtime<'_>, error: &dyn std::fmt::Display) {
    let _ = writeln!(rt.err, "{PROGRAM}: {error}");
}

fn run_create(invocation: &Invocation, rt: &mut Runtime<'_>) -> bool {
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
            disk.message(target, command, &invocation.local_name)?;
            Ok(disk.msgwait())
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

/// The real program: arguments and environment of this process, devices opened with
/// [`FileDevice`], real sleeps, UUIDs from `/dev/urandom`, stdout and stderr.
pub fn main_from_env() -> i32 {
    let mut stderr = io::stderr().lock();
    let args: Result<Vec<String>, _> = std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect();
    let Ok(args) = args else {
        let _ = writeln!(stderr, "{PROGRAM}: arguments must be valid UTF-8");
        return 1;
    };
    let env = |key: &str| std::env::var(key).ok();
    let invocation = match parse_args(&args, &env, &local_hostname) {
        Ok(invocation) => invocation,
        Err(e) => {
            let _ = writeln!(stderr, "{PROGRAM}: {e}\nTry '{PROGRAM} -h' for help.");
            return 1;
        }
    };
    if invocation.command == Command::Watch {
        drop(stderr);
        return crate::daemon::main(&invocation, &env);
    }
    let open = |path: &str| -> Result<Box<dyn BlockDevice>, BlockDevError> {
        let device = FileDevice::open(path)?;
        if device.io_mode() == IoMode::Buffered {
            let _ = writeln!(
                io::stderr(),
                "{PROGRAM}: note: {path} does not support O_DIRECT; using O_SYNC only \
                 (fine for a local file, never for storage shared between hosts)"
            );
        }
        Ok(Box::new(device))
    };
    let mut pause = std::thread::sleep;
    let mut random = || -> io::Result<[u8; 16]> {
        let mut bytes = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(bytes)
    };
    let mut stdout = io::stdout().lock();
    let mut runtime = Runtime {
        open: &open,
        pause: &mut pause,
        random: &mut random,
        out: &mut stdout,
        err: &mut stderr,
    };
    run(&invocation, &mut runtime)
}

/// The kernel's host name (what `uname -n` prints).
fn local_hostname() -> io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/hostname")?
        .trim()
        .to_owned())
}

/// `-h` output.
pub const USAGE: &str = "\
palisade-sbd: shared storage fencing (ClusterLabs sbd compatible disk commands)
Syntax:
\tpalisade-sbd <options> <command> <cmdarguments>
Options:
-d <devname>\tBlock device to use (mandatory; can be specified up to 3 times;
\t\tdefault: SBD_DEVICE=\"dev1;dev2;dev3\")
-h\t\tDisplay this help.
-n <node>\tSet local node name; defaults to uname -n (lower case)
-1 <N>\t\tSet watchdog timeout to N seconds (create only; default 5 or SBD_WATCHDOG_TIMEOUT)
-2 <N>\t\tSet slot allocation timeout to N seconds (create only; default 2)
-3 <N>\t\tSet daemon loop timeout to N seconds (create only; default 1)
-4 <N>\t\tSet msgwait timeout to N seconds (create only; default 10)
-I <N>\t\tI/O timeout (default 3)
Watch options (see sbd(8); environment SBD_DEVICE, SBD_WATCHDOG_DEV, SBD_WATCHDOG_TIMEOUT,
SBD_STARTMODE, SBD_PACEMAKER, SBD_TIMEOUT_ACTION, SBD_DELAY_START, SBD_PIDFILE):
-w <dev>\tWatchdog device (default /dev/watchdog; /dev/null: none; pet-file:PATH: test device)
-W\t\tToggle the watchdog (given twice: no watchdog)
-T\t\tKeep the driver's watchdog timeout
-S <0|1>\tStart mode: 0/always, 1/clean (refuse to start with a fencing message pending)
-P\t\tCluster integration on (health from the palisade daemon, see --health-file)
-z\t\tOnce the cluster is up, require disk quorum and a healthy cluster
-5 <N>\t\tLatency warning threshold
-C <N>\t\tWatchdog timeout during a crashdump (default: disarm it)
-r <action>\tTimeout action: flush|noflush,reboot|off|crashdump
-s <N>\t\tWait up to N seconds for a valid device at start (default 120)
-p <file>\tPID file
-v\t\tMore log output (-vv: debug)
--health-file=PATH\tCluster health file the palisade daemon refreshes (default /run/palisade/sbd-health)
--self-fence=record:PATH\tTESTS ONLY: record self-fence decisions in PATH instead of
\t\tresetting; refused unless PALISADE_FORBID_SELF_FENCE is set
Other sbd options (-R -c -Z -t -F) are accepted and ignored.
Commands:
create\t\tinitialize 255 slots on <dev> - OVERWRITES DEVICE!
list\t\tList all allocated slots on device, and messages.
dump\t\tDump meta-data header from device.
allocate <node>
\t\tAllocate a slot for node (optional)
message <node> (test|reset|off|crashdump|clear|exit)
\t\tWrites the specified message to node's slot (LOCAL = this node).
watch\t\tRun the daemon in the foreground: watch the own slot, feed the watchdog.
";

#[cfg(test)]
mod tests;
