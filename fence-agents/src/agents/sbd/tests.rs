use super::*;
use sbd::format::DiskTimeouts;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A temporary directory with `count` sbd disks (regular files) holding node1 and node2.
struct Disks {
    dir: PathBuf,
    paths: Vec<String>,
}

impl Disks {
    fn new(count: usize, msgwait: u32) -> Disks {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "palisade-fence-sbd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut paths = Vec::new();
        for i in 0..count {
            let path = dir.join(format!("disk{i}"));
            std::fs::File::create(&path)
                .unwrap()
                .set_len(1 << 20)
                .unwrap();
            let timeouts = DiskTimeouts {
                msgwait,
                ..DiskTimeouts::default()
            };
            let device: Box<dyn BlockDevice> = Box::new(FileDevice::open(&path).unwrap());
            let disk = SbdDisk::create(device, timeouts, [7; 16]).unwrap();
            for name in ["node1", "node2"] {
                disk.allocate(&NodeName::parse(name).unwrap(), &mut |_| {})
                    .unwrap();
            }
            paths.push(path.display().to_string());
        }
        Disks { dir, paths }
    }

    fn agent(&self) -> SbdDevices {
        SbdDevices {
            paths: self.paths.clone(),
            msgwait_limit: Some(Duration::from_secs(30)),
            sender: NodeName::parse("fencer").unwrap(),
            pause: |_| {},
        }
    }

    fn mailbox(&self, index: usize, node: &str) -> MailboxCommand {
        let disk = open_disk(&self.paths[index]).unwrap();
        let (_, mailbox) = disk
            .read_own_message(&NodeName::parse(node).unwrap())
            .unwrap();
        mailbox.command
    }
}

impl Drop for Disks {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn devices_are_a_trimmed_comma_list() {
    assert_eq!(parse_devices(" /a, /b ,,/c"), vec!["/a", "/b", "/c"]);
    assert!(parse_devices(" , ").is_empty());
}

#[test]
fn off_on_cycle_and_status_on_three_disks() {
    let disks = Disks::new(3, 10);
    let mut agent = disks.agent();
    assert_eq!(agent.msgwait(), Some(Duration::from_secs(10)));
    assert_eq!(agent.power_status(Some("node1")), Ok(PowerState::On));
    agent.set_power(Some("node1"), PowerState::Off).unwrap();
    for i in 0..3 {
        assert_eq!(disks.mailbox(i, "node1"), MailboxCommand::Off);
        assert_eq!(disks.mailbox(i, "node2"), MailboxCommand::Clear);
    }
    assert_eq!(agent.power_status(Some("NODE1")), Ok(PowerState::Off));
    agent.set_power(Some("node1"), PowerState::On).unwrap();
    assert_eq!(disks.mailbox(0, "node1"), MailboxCommand::Clear);
    agent.power_cycle(Some("node2")).unwrap();
    assert_eq!(disks.mailbox(2, "node2"), MailboxCommand::Reset);
    assert_eq!(agent.power_status(Some("node2")), Ok(PowerState::Off));
    let listed: Vec<String> = agent
        .list_plugs()
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, vec!["node1", "node2"]);
}

#[test]
fn one_lost_disk_of_three_still_fences_two_do_not() {
    let disks = Disks::new(3, 10);
    let mut agent = disks.agent();
    agent.paths[1] = disks.dir.join("missing").display().to_string();
    agent.set_power(Some("node1"), PowerState::Off).unwrap();
    assert_eq!(agent.power_status(Some("node1")), Ok(PowerState::Off));
    agent.paths[2] = disks.dir.join("missing2").display().to_string();
    let err = agent.power_cycle(Some("node2")).unwrap_err();
    assert!(
        matches!(err, DeviceError::ConnectionLost(ref m) if m.contains("1 of 3")),
        "{err}"
    );
    // A pill on one disk of three is not a majority: still ON.
    assert_eq!(agent.power_status(Some("node2")), Ok(PowerState::On));
}

#[test]
fn unknown_node_and_unreadable_devices_are_errors() {
    let disks = Disks::new(1, 10);
    let mut agent = disks.agent();
    assert_eq!(
        agent.power_status(Some("node9")),
        Err(DeviceError::NoSuchPlug("node9".into()))
    );
    assert_eq!(
        agent.set_power(Some("node9"), PowerState::Off),
        Err(DeviceError::NoSuchPlug("node9".into()))
    );
    agent.paths = vec![disks.dir.join("nope").display().to_string()];
    assert!(matches!(
        agent.power_status(Some("node1")),
        Err(DeviceError::ConnectionLost(_))
    ));
    assert!(matches!(
        agent.list_plugs(),
        Err(DeviceError::ConnectionLost(_))
    ));
}

#[test]
fn msgwait_beyond_power_timeout_fails_after_writing() {
    let disks = Disks::new(1, 40);
    let mut agent = disks.agent();
    let err = agent.power_cycle(Some("node1")).unwrap_err();
    assert!(matches!(err, DeviceError::TimedOut(_)), "{err}");
    agent.msgwait_limit = None;
    agent.power_cycle(Some("node1")).unwrap();
}

#[test]
fn test_and_exit_read_as_on_crashdump_as_off() {
    let disks = Disks::new(1, 10);
    let mut agent = disks.agent();
    let disk = open_disk(&disks.paths[0]).unwrap();
    let node = NodeName::parse("node1").unwrap();
    for (command, state) in [
        (MailboxCommand::Test, PowerState::On),
        (MailboxCommand::Exit, PowerState::On),
        (MailboxCommand::Crashdump, PowerState::Off),
        (MailboxCommand::Reset, PowerState::Off),
    ] {
        disk.message(&node, command, &node).unwrap();
        assert_eq!(agent.power_status(Some("node1")), Ok(state), "{command:?}");
    }
}

#[test]
fn list_escapes_control_characters_in_slot_names() {
    let disks = Disks::new(1, 10);
    let mut agent = disks.agent();
    let disk = open_disk(&disks.paths[0]).unwrap();
    let slot = sbd::format::SlotEntry {
        in_use: 1,
        name: NodeName::from_field(b"evil\x1b[2J x\n"),
    };
    let sector = slot.encode(disk.device().sector_size()).unwrap();
    disk.device()
        .write_sector(sbd::format::slot_sector(0), &sector)
        .unwrap();
    let listed: Vec<String> = agent
        .list_plugs()
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(listed, vec!["evil\\x1b[2J x\\x0a", "node2"]);
}

/// Disks whose headers carry `timeouts`, written as ClusterLabs sbd writes a header (no
/// integrity field), after node1 and node2 were allocated.
fn disks_with_timeouts(count: usize, timeouts: DiskTimeouts) -> Disks {
    let disks = Disks::new(count, 10);
    for path in &disks.paths {
        let disk = open_disk(path).unwrap();
        let size = disk.device().sector_size();
        let mut header = sbd::format::Header::new(size as u32, timeouts, [7; 16])
            .encode(size)
            .unwrap();
        header[sbd::format::CHECK_OFFSET..sbd::format::CHECK_END].fill(0);
        disk.device().write_sector(0, &header).unwrap();
    }
    disks
}

#[test]
fn an_absurd_msgwait_fails_at_once_even_without_a_power_timeout() {
    let disks = disks_with_timeouts(
        1,
        DiskTimeouts {
            msgwait: u32::MAX,
            ..DiskTimeouts::default()
        },
    );
    let mut agent = disks.agent();
    agent.msgwait_limit = None; // --disable-timeout: nothing else would stop the wait
    agent.pause = |wait| panic!("waited {wait:?}");
    let err = agent.set_power(Some("node1"), PowerState::Off).unwrap_err();
    assert!(
        err.to_string()
            .contains("msgwait timeout 4294967295 s is above the sane maximum"),
        "{err}"
    );
    assert_eq!(disks.mailbox(0, "node1"), MailboxCommand::Clear, "no pill");
    assert_eq!(agent.msgwait(), None, "no believable msgwait to warn about");
}

#[test]
fn a_zero_msgwait_or_watchdog_timeout_cannot_confirm_a_fence() {
    for (field, timeouts) in [
        (
            "msgwait",
            DiskTimeouts {
                msgwait: 0,
                ..DiskTimeouts::default()
            },
        ),
        (
            "watchdog",
            DiskTimeouts {
                watchdog: 0,
                ..DiskTimeouts::default()
            },
        ),
    ] {
        let disks = disks_with_timeouts(1, timeouts);
        let mut agent = disks.agent();
        let err = agent.set_power(Some("node1"), PowerState::Off).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("header {field} timeout is 0")),
            "{err}"
        );
        let err = agent.power_cycle(Some("node1")).unwrap_err();
        assert!(err.to_string().contains("timeout is 0"), "{err}");
        assert_eq!(disks.mailbox(0, "node1"), MailboxCommand::Clear, "no pill");
        // Clearing waits for nothing and stays possible.
        agent.set_power(Some("node1"), PowerState::On).unwrap();
    }
}

thread_local! {
    /// Every wait the agent asked for in this test thread (the recording `pause`).
    static PAUSES: std::cell::RefCell<Vec<Duration>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[test]
fn off_waits_msgwait_once_after_delivery_and_on_does_not_wait() {
    let disks = Disks::new(2, 3);
    let mut agent = disks.agent();
    agent.pause = |wait| PAUSES.with(|p| p.borrow_mut().push(wait));
    agent.set_power(Some("node1"), PowerState::Off).unwrap();
    assert_eq!(disks.mailbox(0, "node1"), MailboxCommand::Off);
    assert_eq!(
        PAUSES.with(|p| p.take()),
        [Duration::from_secs(3)],
        "off is confirmed only after one msgwait"
    );
    agent.set_power(Some("node1"), PowerState::On).unwrap();
    assert_eq!(disks.mailbox(0, "node1"), MailboxCommand::Clear);
    assert!(
        PAUSES.with(|p| p.take()).is_empty(),
        "clearing is not a fence"
    );
}
