//! Unit tests of the command line: parsing, and whole commands on memory devices.

use std::collections::HashMap;

use super::*;
use crate::blockdev::MemoryDevice;

fn args(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn parse_with_env(line: &str, env: &[(&str, &str)]) -> Result<Invocation, UsageError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    parse_args(&args(line), &|k| env.get(k).cloned(), &|| {
        Ok("Host-One".to_owned())
    })
}

fn parse(line: &str) -> Result<Invocation, UsageError> {
    parse_with_env(line, &[])
}

fn name(s: &str) -> NodeName {
    NodeName::parse(s).expect("valid name")
}

#[test]
fn parses_sbd_style_options() {
    let inv = parse("-d /dev/a -d/dev/b -vv -R -1 7 -2 3 -3 2 -4 20 create").expect("parse");
    assert_eq!(inv.devices, vec!["/dev/a", "/dev/b"]);
    assert_eq!(
        inv.timeouts,
        DiskTimeouts {
            watchdog: 7,
            allocate: 3,
            loop_timeout: 2,
            msgwait: 20
        }
    );
    assert_eq!(inv.command, Command::Create { force: false });

    let inv = parse("-d x -n node2 message node1 reset").expect("parse");
    assert_eq!(inv.local_name, name("node2"));
    assert_eq!(
        inv.command,
        Command::Message {
            target: name("node1"),
            command: MailboxCommand::Reset
        }
    );
    // Options after the command and watch-only options are accepted.
    let inv = parse("-d x list -W -w /dev/null -S 1 -p /run/x.pid -Z").expect("parse");
    assert_eq!(inv.command, Command::List);
    assert_eq!(
        parse("-d x -- allocate n1").expect("parse").command,
        Command::Allocate(name("n1"))
    );
}

#[test]
fn devices_and_watchdog_timeout_come_from_the_environment() {
    let inv = parse_with_env("dump", &[("SBD_DEVICE", "/dev/a; /dev/b;/dev/c;")]).expect("parse");
    assert_eq!(inv.devices, vec!["/dev/a", "/dev/b", "/dev/c"]);
    let inv = parse_with_env("-d /dev/z dump", &[("SBD_DEVICE", "/dev/a")]).expect("parse");
    assert_eq!(inv.devices, vec!["/dev/z"]);
    let env = [("SBD_WATCHDOG_TIMEOUT", "9")];
    assert_eq!(
        parse_with_env("-d x create", &env)
            .expect("parse")
            .timeouts
            .watchdog,
        9
    );
    assert_eq!(
        parse_with_env("-d x -1 4 create", &env)
            .expect("parse")
            .timeouts
            .watchdog,
        4
    );
}

#[test]
fn local_name_defaults_to_the_lower_cased_host_name() {
    let inv = parse("-d x message node1 test").expect("parse");
    assert_eq!(inv.local_name.as_bytes(), b"host-one");
    let inv = parse("-d x message LOCAL clear").expect("parse");
    assert_eq!(
        inv.command,
        Command::Message {
            target: name("host-one"),
            command: MailboxCommand::Clear
        }
    );
}

#[test]
fn bad_command_lines_are_usage_errors() {
    assert_eq!(parse("-d x"), Err(UsageError::NoCommand));
    assert_eq!(parse("-d x -q list"), Err(UsageError::UnknownOption('q')));
    assert_eq!(parse("list -d"), Err(UsageError::MissingValue('d')));
    assert!(matches!(
        parse("-d x -1 five create"),
        Err(UsageError::BadNumber { option: '1', .. })
    ));
    assert_eq!(
        parse("-d a -d b -d c -d d list"),
        Err(UsageError::TooManyDevices(4))
    );
    assert_eq!(parse("list"), Err(UsageError::NoDevices));
    assert_eq!(
        parse("-d x frobnicate"),
        Err(UsageError::UnknownCommand("frobnicate".into()))
    );
    assert!(matches!(
        parse("-d x allocate"),
        Err(UsageError::MissingArgument { .. })
    ));
    assert!(matches!(
        parse("-d x message node1"),
        Err(UsageError::MissingArgument { .. })
    ));
    assert_eq!(
        parse("-d x message node1 poweroff"),
        Err(UsageError::BadMessageType("poweroff".into()))
    );
    assert_eq!(
        parse("-d x list extra"),
        Err(UsageError::ExtraArgument("extra".into()))
    );
    assert!(matches!(
        parse("-d x ping"),
        Err(UsageError::MissingArgument {
            command: "ping",
            ..
        })
    ));
    assert_eq!(parse("ping node1"), Err(UsageError::NoDevices));
    assert_eq!(
        parse("test-watchdog --force-reset=please"),
        Err(UsageError::BadForceReset("please".into()))
    );
    assert_eq!(
        parse("--force-reset=yes query-watchdog"),
        Err(UsageError::BadForceReset("yes".into()))
    );
    assert_eq!(
        parse("-d x --force-reset=yes watch"),
        Err(UsageError::BadForceReset("yes".into()))
    );
    assert_eq!(
        parse("-d x --health-file=/h list"),
        Err(UsageError::LongOptionNeedsWatch("health-file".into()))
    );
    let long = "n".repeat(64);
    assert!(matches!(
        parse(&format!("-d x allocate {long}")),
        Err(UsageError::Name(NameError::TooLong { .. }))
    ));
    assert_eq!(parse("-h").expect("help").command, Command::Help);
}

/// A stand-in for the rest of the world while a command pauses: gets the devices and
/// the pause (e.g. a watcher clearing a mailbox, or a real sleep).
pub(in crate::cli) type OnPause = Box<dyn FnMut(&HashMap<String, MemoryDevice>, Duration)>;

/// Memory devices by path, and everything a command printed or waited.
pub(in crate::cli) struct World {
    pub(in crate::cli) devices: HashMap<String, MemoryDevice>,
    pub(in crate::cli) pauses: Vec<Duration>,
    /// What the watchdog probe finds.
    pub(in crate::cli) watchdogs: Vec<watchdog::ProbedWatchdog>,
    pub(in crate::cli) env: HashMap<String, String>,
    pub(in crate::cli) on_pause: Option<OnPause>,
    /// What the usage probe of `create` finds, by path (nothing for other paths).
    pub(in crate::cli) in_use: HashMap<String, Vec<crate::overwrite_guard::Usage>>,
}

impl World {
    pub(in crate::cli) fn new(paths: &[&str]) -> World {
        World {
            devices: paths
                .iter()
                .map(|p| (p.to_string(), MemoryDevice::named(p, 512, 600)))
                .collect(),
            pauses: Vec::new(),
            watchdogs: Vec::new(),
            env: HashMap::new(),
            on_pause: None,
            in_use: HashMap::new(),
        }
    }

    /// Run a command line; returns (exit code, stdout, stderr).
    pub(in crate::cli) fn run(&mut self, line: &str) -> (i32, String, String) {
        let invocation = match parse(line) {
            Ok(invocation) => invocation,
            Err(e) => return (1, String::new(), e.to_string()),
        };
        let devices = self.devices.clone();
        let open = move |path: &str| -> Result<Box<dyn BlockDevice>, BlockDevError> {
            match devices.get(path) {
                Some(dev) => Ok(Box::new(dev.clone())),
                None => Err(BlockDevError::Open {
                    path: path.to_owned(),
                    source: io::Error::from(io::ErrorKind::NotFound),
                }),
            }
        };
        let (pauses, on_pause, devices) = (&mut self.pauses, &mut self.on_pause, &self.devices);
        let mut pause = |d: Duration| {
            pauses.push(d);
            if let Some(hook) = on_pause.as_mut() {
                hook(devices, d);
            }
        };
        let mut random = || Ok([0x5a; 16]);
        let watchdogs = self.watchdogs.clone();
        let probe = move || Ok(watchdogs.clone());
        let env_map = self.env.clone();
        let env = move |key: &str| env_map.get(key).cloned();
        let in_use = self.in_use.clone();
        let usage = move |path: &str| Ok(in_use.get(path).cloned().unwrap_or_default());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(
            &invocation,
            &mut Runtime {
                open: &open,
                pause: &mut pause,
                random: &mut random,
                out: &mut out,
                err: &mut err,
                probe: &probe,
                env: &env,
                usage: &usage,
            },
        );
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }
}

#[test]
fn create_then_dump_prints_like_sbd() {
    let mut world = World::new(&["/dev/a", "/dev/b"]);
    let (code, out, _) = world.run("-d /dev/a -d /dev/b -1 5 -4 10 create");
    assert_eq!(code, 0);
    assert!(out.contains("Device /dev/b is initialized."), "{out}");
    assert!(
        out.contains("(uuid: 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a)"),
        "{out}"
    );
    let (code, out, err) = world.run("-d /dev/a dump");
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "==Dumping header on disk /dev/a\n\
         Header version     : 2.1\n\
         UUID               : 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a\n\
         Number of slots    : 255\n\
         Sector size        : 512\n\
         Timeout (watchdog) : 5\n\
         Timeout (allocate) : 2\n\
         Timeout (loop)     : 1\n\
         Timeout (msgwait)  : 10\n\
         ==Header on disk /dev/a is dumped\n"
    );
}

#[test]
fn dump_and_list_fail_on_a_device_that_is_not_sbd() {
    let mut world = World::new(&["/dev/a", "/dev/blank"]);
    world.run("-d /dev/a create");
    let (code, out, err) = world.run("-d /dev/a -d /dev/blank dump");
    assert_eq!(code, 1);
    assert!(out.contains("==Header on disk /dev/a is dumped"), "{out}");
    assert!(err.contains("/dev/blank: not an sbd device"), "{err}");
    assert!(
        err.contains("==Header on disk /dev/blank NOT dumped"),
        "{err}"
    );
    let (code, _, err) = world.run("-d /dev/missing list");
    assert_eq!(code, 1);
    assert!(err.contains("cannot open /dev/missing"), "{err}");
}

#[test]
fn allocate_and_message_show_up_in_list() {
    let mut world = World::new(&["/dev/a"]);
    world.run("-d /dev/a -4 7 create");
    let (code, out, _) = world.run("-d /dev/a allocate node1");
    assert_eq!(code, 0);
    assert!(
        out.contains("Slot for node1 has been allocated on /dev/a"),
        "{out}"
    );
    assert_eq!(world.pauses, vec![Duration::from_secs(2)]);
    world.run("-d /dev/a allocate node2");
    world.pauses.clear();

    let (code, out, err) = world.run("-d /dev/a -n node2 message node1 reset");
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(world.pauses, vec![Duration::from_secs(7)], "waits msgwait");
    let (_, out, _) = world.run("-d /dev/a list");
    assert_eq!(out, "0\tnode1\treset\tnode2\n1\tnode2\tclear\t\n");

    world.pauses.clear();
    let (code, _, _) = world.run("-d /dev/a -n node2 message node1 exit");
    assert_eq!(code, 0);
    assert!(world.pauses.is_empty(), "exit does not wait msgwait");
    let (code, _, err) = world.run("-d /dev/a -n node2 message ghost test");
    assert_eq!(code, 1);
    assert!(err.contains("node ghost not found"), "{err}");
}

#[test]
fn message_needs_more_than_half_of_the_devices() {
    let mut world = World::new(&["/dev/a", "/dev/b", "/dev/c"]);
    world.run("-d /dev/a -d /dev/b -d /dev/c -4 3 create");
    world.run("-d /dev/a -d /dev/b -d /dev/c allocate node1");
    world.pauses.clear();
    world.devices["/dev/c"].set_failing(true, true);
    let (code, _, err) = world.run("-d /dev/a -d /dev/b -d /dev/c -n n2 message node1 off");
    assert_eq!(code, 0, "2 of 3 is enough: {err}");
    assert!(
        err.contains("/dev/c"),
        "the failed device is reported: {err}"
    );
    assert_eq!(world.pauses, vec![Duration::from_secs(3)]);

    world.pauses.clear();
    world.devices["/dev/b"].set_failing(true, true);
    let (code, _, err) = world.run("-d /dev/a -d /dev/b -d /dev/c -n n2 message node1 off");
    assert_eq!(code, 1);
    assert!(err.contains("written to 1 of 3 devices"), "{err}");
    assert!(world.pauses.is_empty());
}

#[test]
fn create_fails_on_a_missing_device_but_initialises_the_others() {
    let mut world = World::new(&["/dev/a"]);
    let (code, out, err) = world.run("-d /dev/a -d /dev/nope create");
    assert_eq!(code, 1);
    assert!(out.contains("Device /dev/a is initialized."), "{out}");
    assert!(err.contains("==Device /dev/nope NOT initialized"), "{err}");
    assert_eq!(world.run("-d /dev/a dump").0, 0);
}

#[test]
fn create_warns_about_risky_timeouts() {
    let mut world = World::new(&["/dev/a"]);
    let (code, _, err) = world.run("-d /dev/a -1 10 -4 5 create");
    assert_eq!(code, 0, "sbd accepts it, so do we");
    assert!(err.contains("warning: msgwait"), "{err}");
}

#[test]
fn help_prints_usage() {
    let mut world = World::new(&[]);
    let (code, out, _) = world.run("-h");
    assert_eq!(code, 0);
    assert!(out.contains("message <node> (test|reset|off|crashdump|clear|exit)"));
}

mod create_guard;
mod hostile_disks;
