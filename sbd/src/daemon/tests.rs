//! Daemon tests: configuration from options and environment, executor selection, and
//! whole daemons in-process on memory devices with the pet-file watchdog and the
//! recording executor.

use std::collections::HashMap;
use std::path::PathBuf;

use super::*;
use crate::blockdev::MemoryDevice;
use crate::cli::parse_args;
use crate::format::NodeName;
use crate::inquisitor::{MailboxCommand, StartMode};
use config::ConfigError;

fn parse(line: &str, env: &[(&str, &str)]) -> Result<WatchConfig, ConfigError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |k: &str| env.get(k).cloned();
    let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    let inv = parse_args(&args, &lookup, &|| Ok("Node-A".to_owned())).expect("parses");
    WatchConfig::from_invocation(&inv, &lookup)
}

#[test]
fn defaults_are_sbds() {
    let c = parse("-d /dev/a watch", &[]).unwrap();
    assert_eq!(c.watchdog, "/dev/watchdog".parse().unwrap());
    assert_eq!(c.local_name, NodeName::parse("node-a").unwrap());
    assert!(c.cluster_integration() && c.disk_priority && c.set_watchdog_timeout);
    assert_eq!(c.start_mode, StartMode::Always);
    assert_eq!(c.self_fence, SelfFenceSetting::Kernel);
    assert_eq!(c.io_timeout, Duration::from_secs(3));
    assert_eq!(c.health_file, None);
    assert_eq!(
        c.cluster_servants(),
        vec![ClusterServant::Pacemaker, ClusterServant::Corosync]
    );
    assert!(c.pidfile.is_none() && !c.sync_resource_startup);
}

#[test]
fn pacemaker_integration_as_sbd_counts_it() {
    // SBD_PACEMAKER switches both servants; -P and -c toggle one each (odd: on).
    let off = [("SBD_PACEMAKER", "no")];
    let servants = |line: &str, env: &[(&str, &str)]| parse(line, env).unwrap().cluster_servants();
    assert_eq!(servants("-d a watch", &off), vec![]);
    assert_eq!(
        servants("-d a -P watch", &off),
        vec![ClusterServant::Pacemaker]
    );
    assert_eq!(
        servants("-d a -c watch", &off),
        vec![ClusterServant::Corosync]
    );
    assert_eq!(
        servants("-d a -P -P watch", &[]),
        vec![ClusterServant::Corosync]
    );
    // The palisade daemon's health file replaces both.
    assert_eq!(
        servants("-d a --health-file=/h watch", &[]),
        vec![ClusterServant::Palisade]
    );
    // Start-up syncing needs the pacemaker servant, as sbd.
    let sync = [("SBD_SYNC_RESOURCE_STARTUP", "yes")];
    assert!(parse("watch", &sync).unwrap().sync_resource_startup);
    assert_eq!(
        parse("-d a watch", &[sync[0], off[0]]),
        Err(config::ConfigError::SyncWithoutPacemaker)
    );
    assert!(parse("watch", &[("SBD_SYNC_RESOURCE_STARTUP", "maybe")]).is_err());
}

#[test]
fn environment_and_options() {
    let env = [
        ("SBD_DEVICE", "/dev/a;/dev/b"),
        ("SBD_WATCHDOG_DEV", "/dev/watchdog1"),
        ("SBD_STARTMODE", "clean"),
        ("SBD_PACEMAKER", "no"),
        ("SBD_TIMEOUT_ACTION", "noflush,off"),
        ("SBD_DELAY_START", "yes"),
        ("SBD_PIDFILE", "/run/x.pid"),
    ];
    let c = parse("watch", &env).unwrap();
    assert_eq!(c.devices, vec!["/dev/a", "/dev/b"]);
    assert_eq!(c.watchdog, "/dev/watchdog1".parse().unwrap());
    assert_eq!(c.start_mode, StartMode::Clean);
    assert!(!c.cluster_integration());
    assert_eq!(c.timeout_action.to_string(), "noflush,off");
    assert_eq!(c.delay_start, DelayStart::Msgwait);
    assert_eq!(c.pidfile, Some(PathBuf::from("/run/x.pid")));
    // The command line wins.
    let c = parse(
        "-w pet-file:/tmp/p -S 0 -P -z -T -5 2 -C 60 -r crashdump -I 1 -p /tmp/q -vv \
         --self-fence=record:/tmp/r --health-file=/tmp/h watch",
        &env,
    )
    .unwrap();
    assert_eq!(c.watchdog, "pet-file:/tmp/p".parse().unwrap());
    assert_eq!(c.start_mode, StartMode::Always);
    assert!(c.cluster_integration() && !c.disk_priority && !c.set_watchdog_timeout);
    assert_eq!(c.cluster_servants(), vec![ClusterServant::Palisade]);
    assert_eq!(c.warn_threshold, Some(Duration::from_secs(2)));
    assert_eq!(c.crashdump_watchdog_timeout, Some(Duration::from_secs(60)));
    assert_eq!(c.timeout_action.kind, watchdog::FenceKind::Crashdump);
    assert_eq!(c.io_timeout, Duration::from_secs(1));
    assert_eq!(c.verbosity, 2);
    assert_eq!(
        c.self_fence,
        SelfFenceSetting::Record(PathBuf::from("/tmp/r"))
    );
    assert_eq!(c.health_file, Some(PathBuf::from("/tmp/h")));
}

#[test]
fn watchdog_toggles_and_bad_values() {
    assert_eq!(
        parse("-d a -W -W watch", &[]).unwrap().watchdog,
        WatchdogConfig::Disabled
    );
    assert_ne!(
        parse("-d a -W watch", &[]).unwrap().watchdog,
        WatchdogConfig::Disabled
    );
    assert_eq!(
        parse("-d a watch", &[("SBD_WATCHDOG", "no")])
            .unwrap()
            .watchdog,
        WatchdogConfig::Disabled
    );
    assert!(parse("-d a -w watchdog watch", &[]).is_err());
    assert!(parse("-d a -S 2 watch", &[]).is_err());
    assert!(parse("-d a -r panic watch", &[]).is_err());
    assert!(parse("-d a watch", &[("SBD_PACEMAKER", "maybe")]).is_err());
    assert!(matches!(
        parse("-d a --self-fence=reboot watch", &[]),
        Err(ConfigError::BadSelfFence(_))
    ));
    assert!(matches!(
        parse("-d a --bogus=1 watch", &[]),
        Err(ConfigError::UnknownLongOption(_))
    ));
    assert_eq!(
        parse("watch", &[("SBD_PACEMAKER", "no")]),
        Err(ConfigError::NothingToWatch)
    );
    assert!(parse("watch", &[]).unwrap().devices.is_empty());
}

#[test]
fn record_executor_needs_the_forbid_variable_and_no_real_watchdog() {
    let c = parse("-d a -w /dev/null --self-fence=record:/tmp/r watch", &[]).unwrap();
    assert!(matches!(
        choose_executor(&c, false),
        Err(StartError::RecordWithoutForbid)
    ));
    assert!(choose_executor(&c, true).is_ok());
    let c = parse(
        "-d a -w /dev/watchdog0 --self-fence=record:/tmp/r watch",
        &[],
    )
    .unwrap();
    assert!(matches!(
        choose_executor(&c, true),
        Err(StartError::RecordWithRealWatchdog(_))
    ));
    // The kernel executor is never available inside tests.
    let c = parse("-d a watch", &[]).unwrap();
    assert!(matches!(
        choose_executor(&c, false),
        Err(StartError::CannotSelfFence(_))
    ));
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("palisade-daemon-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn memory_daemon(dir: &TempDir, device: &MemoryDevice) -> Daemon {
    let config = parse(
        &format!(
            "-d mem -n node1 -I 1 -w pet-file:{0}/pets --self-fence=record:{0}/record watch",
            dir.0.display()
        ),
        &[("SBD_PACEMAKER", "no")],
    )
    .unwrap();
    let device = device.clone();
    let opener: DeviceOpener = Arc::new(move |_: &str| -> Result<ServantDevice, BlockDevError> {
        Ok(Box::new(device.clone()))
    });
    Daemon::start(config, opener, true, Logger::default()).unwrap()
}

fn sbd_memory() -> MemoryDevice {
    let device = MemoryDevice::named("mem", 512, 1024);
    let timeouts = DiskTimeouts {
        watchdog: 2,
        allocate: 1,
        loop_timeout: 1,
        msgwait: 5,
    };
    SbdDisk::create(device.clone(), timeouts, [2; 16]).unwrap();
    device
}

#[test]
fn in_process_reset_message_is_recorded_and_ends_with_21() {
    let dir = TempDir::new("reset");
    let device = sbd_memory();
    let mut daemon = memory_daemon(&dir, &device);
    let sender = device.clone();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let disk = SbdDisk::open(sender).unwrap();
        let node = NodeName::parse("node1").unwrap();
        disk.message(&node, MailboxCommand::Reset, &node).unwrap();
    });
    assert_eq!(daemon.run(), 21);
    writer.join().unwrap();
    let record = std::fs::read_to_string(dir.0.join("record")).unwrap();
    assert!(record.starts_with("reboot flush reset message"), "{record}");
    let pets = watchdog::PetLog::read(&dir.0.join("pets")).unwrap();
    assert!(!pets.magic_closed());
}

#[test]
fn in_process_lost_disk_starves_the_watchdog() {
    let dir = TempDir::new("lost");
    let device = sbd_memory();
    let mut daemon = memory_daemon(&dir, &device);
    let failing = device.clone();
    let breaker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        failing.set_failing(true, true);
    });
    assert_eq!(daemon.run(), 21);
    breaker.join().unwrap();
    let record = std::fs::read_to_string(dir.0.join("record")).unwrap();
    assert!(
        record.starts_with("reboot flush watchdog starved"),
        "{record}"
    );
    let pets = watchdog::PetLog::read(&dir.0.join("pets")).unwrap();
    assert!(pets.fired_at(watchdog::monotonic_now()).is_some());
}

#[test]
fn in_process_hung_disk_is_overdue_and_starves_the_watchdog() {
    let dir = TempDir::new("hung");
    let device = sbd_memory();
    let mut daemon = memory_daemon(&dir, &device);
    let hanging = device.clone();
    let staller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        hanging.set_stalled(true);
    });
    // A daemon that waited for the stalled read instead of counting the device overdue
    // would never return: the harness's hang is the failure. The exit code, the record
    // and the pet log's own expiry say how it ended.
    assert_eq!(daemon.run(), 21);
    staller.join().unwrap();
    let record = std::fs::read_to_string(dir.0.join("record")).unwrap();
    assert!(
        record.starts_with("reboot flush watchdog starved"),
        "{record}"
    );
    let pets = watchdog::PetLog::read(&dir.0.join("pets")).unwrap();
    assert!(pets.fired_at(watchdog::monotonic_now()).is_some());
    device.set_stalled(false); // let the servant thread finish its read
}

/// Start a daemon on `device` that gives up at once (`-s 0`) without a valid header.
fn start_impatient(dir: &TempDir, device: &MemoryDevice) -> Result<Daemon, StartError> {
    let config = parse(
        &format!(
            "-d mem -n node1 -I 1 -s 0 -w pet-file:{0}/pets --self-fence=record:{0}/record watch",
            dir.0.display()
        ),
        &[("SBD_PACEMAKER", "no")],
    )
    .unwrap();
    let device = device.clone();
    let opener: DeviceOpener = Arc::new(move |_: &str| -> Result<ServantDevice, BlockDevError> {
        Ok(Box::new(device.clone()))
    });
    Daemon::start(config, opener, true, Logger::default())
}

#[test]
fn watch_refuses_a_header_with_absurd_timeouts() {
    use crate::blockdev::BlockDevice;
    use crate::format::{Header, CHECK_END, CHECK_OFFSET};
    let dir = TempDir::new("absurd");
    for (field, timeouts) in [
        (
            "watchdog",
            DiskTimeouts {
                watchdog: u32::MAX,
                msgwait: u32::MAX,
                ..DiskTimeouts::default()
            },
        ),
        (
            "msgwait",
            DiskTimeouts {
                msgwait: u32::MAX,
                ..DiskTimeouts::default()
            },
        ),
        (
            "loop",
            DiskTimeouts {
                loop_timeout: 1 << 20,
                ..DiskTimeouts::default()
            },
        ),
    ] {
        let device = sbd_memory();
        // As ClusterLabs sbd writes it: no integrity field.
        let mut header = Header::new(512, timeouts, [2; 16]).encode(512).unwrap();
        header[CHECK_OFFSET..CHECK_END].fill(0);
        device.write_sector(0, &header).unwrap();
        match start_impatient(&dir, &device) {
            Err(StartError::NoValidDevice { last, .. }) => {
                assert!(
                    last.contains(&format!("{field} timeout")) && last.contains("sane maximum"),
                    "{last}"
                );
            }
            Err(other) => panic!("{field}: wrong refusal: {other}"),
            Ok(_) => panic!("{field}: a daemon started on {timeouts:?}"),
        }
        assert!(!dir.0.join("pets").exists(), "the watchdog was never armed");
    }
}
