//! Servant tests on memory devices: rounds, start mode, header/slot changes, failures,
//! a device that hangs (its reports stop, nothing else blocks; [`OverdueRounds`] turns
//! the silence into time-outs), and the one-read round.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::*;
use crate::blockdev::MemoryDevice;

fn name(s: &str) -> NodeName {
    NodeName::parse(s).expect("valid name")
}

/// A memory sbd disk with node1 allocated.
fn sbd_memory() -> MemoryDevice {
    let device = MemoryDevice::named("mem", 512, 1024);
    let disk = SbdDisk::create(device.clone(), DiskTimeouts::default(), [1; 16]).unwrap();
    disk.allocate(&name("node1"), &mut |_| {}).unwrap();
    device
}

/// A device whose reads block while `stalled` is set (a hung path).
#[derive(Debug)]
struct StallingDevice {
    inner: MemoryDevice,
    stalled: Arc<AtomicBool>,
}

impl BlockDevice for StallingDevice {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn sector_size(&self) -> usize {
        self.inner.sector_size()
    }
    fn sector_count(&self) -> Result<u64, BlockDevError> {
        self.inner.sector_count()
    }
    fn read_sector(&self, index: u64) -> Result<Vec<u8>, BlockDevError> {
        while self.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.inner.read_sector(index)
    }
    fn write_sector(&self, index: u64, data: &[u8]) -> Result<(), BlockDevError> {
        self.inner.write_sector(index, data)
    }
}

fn setup(device: MemoryDevice, mode: StartMode) -> ServantSetup {
    ServantSetup {
        index: 0,
        path: "mem".into(),
        reference: DiskTimeouts::default(),
        local_name: name("node1"),
        start_mode: mode,
        loop_timeout: Duration::from_millis(50),
        opener: Arc::new(move |_: &str| -> Result<ServantDevice, BlockDevError> {
            Ok(Box::new(device.clone()))
        }),
        pause: |_| {},
    }
}

fn send(device: &MemoryDevice, command: MailboxCommand) {
    let disk = SbdDisk::open(device.clone()).unwrap();
    disk.message(&name("node1"), command, &name("node2"))
        .unwrap();
}

#[test]
fn rounds_read_the_mailbox_and_clear_works() {
    let device = sbd_memory();
    send(&device, MailboxCommand::Reset);
    let mut watcher = DeviceWatcher::new(setup(device.clone(), StartMode::Always));
    // First start with mode always: the old message is zeroed.
    assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
    send(&device, MailboxCommand::Test);
    assert_eq!(
        watcher.round(),
        RoundOutcome::Mailbox(Some(MailboxCommand::Test))
    );
    watcher.clear().unwrap();
    assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
}

#[test]
fn a_round_that_reads_a_message_knows_its_sender() {
    let device = sbd_memory();
    let mut watcher = DeviceWatcher::new(setup(device.clone(), StartMode::Always));
    assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
    assert_eq!(watcher.message_sender(), None);
    send(&device, MailboxCommand::Test);
    assert_eq!(
        watcher.round(),
        RoundOutcome::Mailbox(Some(MailboxCommand::Test))
    );
    assert_eq!(watcher.message_sender(), Some(&name("node2")));
    watcher.clear().unwrap();
    assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
    assert_eq!(watcher.message_sender(), None);
}

#[test]
fn start_mode_clean_refuses_a_pending_fence_but_not_exit() {
    let device = sbd_memory();
    send(&device, MailboxCommand::Off);
    let mut watcher = DeviceWatcher::new(setup(device.clone(), StartMode::Clean));
    assert_eq!(
        watcher.round(),
        RoundOutcome::StartRefused(StartRefused {
            command: MailboxCommand::Off
        })
    );
    send(&device, MailboxCommand::Exit);
    assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
}

#[test]
fn unknown_node_gets_a_slot_and_changes_fail_the_round() {
    let device = sbd_memory();
    let mut s = setup(device.clone(), StartMode::Always);
    s.local_name = name("node3");
    let mut watcher = DeviceWatcher::new(s);
    assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
    let disk = SbdDisk::open(device.clone()).unwrap();
    assert_eq!(disk.find_slot(&name("node3")).unwrap(), Some(1));
    // Someone wipes the header: the round fails, and keeps failing.
    device.write_sector(0, &[0; 512]).unwrap();
    assert!(matches!(watcher.round(), RoundOutcome::Failed(m) if m.contains("header")));
    assert!(matches!(watcher.round(), RoundOutcome::Failed(_)));
    device.set_failing(true, true);
    assert!(matches!(watcher.round(), RoundOutcome::Failed(_)));
}

#[test]
fn other_timeouts_on_a_device_fail_it() {
    let device = sbd_memory();
    let mut s = setup(device, StartMode::Always);
    s.reference.msgwait = 20;
    assert!(
        matches!(DeviceWatcher::new(s).round(), RoundOutcome::Failed(m) if m.contains("differ"))
    );
}

/// Next inquisitor event from the servant, skipping logs.
fn next_event(rx: &Receiver<ServantMessage>) -> Event {
    loop {
        match rx
            .recv_timeout(Duration::from_secs(5))
            .expect("servant report")
        {
            ServantMessage::Event(e) => return e,
            ServantMessage::Log { .. } => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_hung_device_goes_quiet_and_recovers() {
    let device = sbd_memory();
    let stalled = Arc::new(AtomicBool::new(false));
    let mut s = setup(device.clone(), StartMode::Always);
    let (inner, flag) = (device.clone(), stalled.clone());
    s.opener = Arc::new(move |_: &str| -> Result<ServantDevice, BlockDevError> {
        Ok(Box::new(StallingDevice {
            inner: inner.clone(),
            stalled: flag.clone(),
        }))
    });
    let (tx, rx) = mpsc::channel();
    let handle = spawn(s, Arc::new(move |m| tx.send(m).is_ok())).unwrap();
    assert_eq!(
        next_event(&rx),
        Event::ServantReport {
            device: 0,
            result: Ok(None)
        }
    );
    stalled.store(true, Ordering::SeqCst);
    // Drain the round that may have finished before the stall; then silence.
    let _ = rx.recv_timeout(Duration::from_millis(100));
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "a hung device keeps reporting"
    );
    send(&device, MailboxCommand::Test);
    stalled.store(false, Ordering::SeqCst);
    loop {
        match next_event(&rx) {
            Event::ServantReport {
                result: Ok(Some(MailboxCommand::Test)),
                ..
            } => break,
            Event::ServantReport { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    handle.clear_message();
    loop {
        if let Event::ServantReport {
            result: Ok(None), ..
        } = next_event(&rx)
        {
            break;
        }
    }
}

#[test]
fn silence_beyond_loop_plus_io_is_overdue_and_repeats_every_io_timeout() {
    let start = Instant::now();
    let ms = Duration::from_millis;
    let mut overdue = OverdueRounds::new(2, ms(1000), ms(3000), start);
    // The first round (attach, maybe claiming a slot) gets loop + I/O timeout too.
    assert_eq!(overdue.next_deadline(), Some(start + ms(4000)));
    overdue.heard(0, start + ms(10));
    overdue.heard(1, start + ms(500));
    assert!(overdue.overdue(start + ms(4000)).is_empty());
    assert_eq!(overdue.next_deadline(), Some(start + ms(4010)));
    assert_eq!(overdue.overdue(start + ms(4010)), vec![0]);
    assert_eq!(overdue.overdue(start + ms(4500)), vec![1]);
    // Still silent: again one I/O timeout later, not at every call.
    assert!(overdue.overdue(start + ms(5000)).is_empty());
    assert_eq!(overdue.overdue(start + ms(7010)), vec![0]);
    overdue.heard(0, start + ms(7100));
    assert_eq!(overdue.next_deadline(), Some(start + ms(7500)));
    assert!(OverdueRounds::new(0, ms(1), ms(1), start)
        .next_deadline()
        .is_none());
}

/// Counts the I/Os a round does.
#[derive(Debug)]
struct CountingDevice {
    inner: MemoryDevice,
    reads: Arc<std::sync::atomic::AtomicUsize>,
}

impl BlockDevice for CountingDevice {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn sector_size(&self) -> usize {
        self.inner.sector_size()
    }
    fn sector_count(&self) -> Result<u64, BlockDevError> {
        self.inner.sector_count()
    }
    fn read_sector(&self, index: u64) -> Result<Vec<u8>, BlockDevError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_sector(index)
    }
    fn write_sector(&self, index: u64, data: &[u8]) -> Result<(), BlockDevError> {
        self.inner.write_sector(index, data)
    }
    fn read_sectors_into(&self, first: u64, out: &mut [u8]) -> Result<(), BlockDevError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.read_sectors_into(first, out)
    }
}

#[test]
fn a_round_reads_header_slot_and_mailbox_in_one_io_for_the_first_slots() {
    for (slot_owner, reads_per_round) in [("node1", 1), ("node20", 2)] {
        let device = sbd_memory();
        // node20 (slot 19): sectors 0 to its mailbox exceed one 16 KiB read.
        let disk = SbdDisk::open(device.clone()).unwrap();
        for i in 2..=20 {
            disk.allocate(&name(&format!("node{i}")), &mut |_| {})
                .unwrap();
        }
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut s = setup(device.clone(), StartMode::Always);
        s.local_name = name(slot_owner);
        let (inner, counter) = (device.clone(), reads.clone());
        s.opener = Arc::new(move |_: &str| -> Result<ServantDevice, BlockDevError> {
            Ok(Box::new(CountingDevice {
                inner: inner.clone(),
                reads: counter.clone(),
            }))
        });
        let mut watcher = DeviceWatcher::new(s);
        assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
        let before = reads.load(Ordering::SeqCst);
        assert_eq!(watcher.round(), RoundOutcome::Mailbox(None));
        assert_eq!(
            reads.load(Ordering::SeqCst) - before,
            reads_per_round,
            "{slot_owner}"
        );
        let disk = SbdDisk::open(device.clone()).unwrap();
        disk.message(&name(slot_owner), MailboxCommand::Off, &name("x"))
            .unwrap();
        assert_eq!(
            watcher.round(),
            RoundOutcome::Mailbox(Some(MailboxCommand::Off))
        );
    }
}

#[test]
fn a_received_message_is_logged_once_with_its_sender_and_disk() {
    let device = sbd_memory();
    let (tx, rx) = mpsc::channel();
    let handle = spawn(
        setup(device.clone(), StartMode::Always),
        Arc::new(move |m| tx.send(m).is_ok()),
    )
    .unwrap();
    assert!(matches!(
        next_event(&rx),
        Event::ServantReport {
            result: Ok(None),
            ..
        }
    ));
    send(&device, MailboxCommand::Reset);
    // Several rounds with the pill in the slot: one log line before the first report.
    let mut logs = Vec::new();
    let mut reports = 0;
    while reports < 3 {
        match rx
            .recv_timeout(Duration::from_secs(5))
            .expect("servant report")
        {
            ServantMessage::Log { level, message } => logs.push((level, message)),
            ServantMessage::Event(Event::ServantReport {
                result: Ok(Some(MailboxCommand::Reset)),
                ..
            }) => reports += 1,
            ServantMessage::Event(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(handle);
    assert_eq!(
        logs,
        [(
            LogLevel::Notice,
            "Received command reset from node2 on disk mem".to_string()
        )]
    );
}
