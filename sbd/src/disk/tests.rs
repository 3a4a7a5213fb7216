//! Unit tests of the disk operations on memory devices.

use super::*;
use crate::blockdev::MemoryDevice;

const REAL_SECTORS: &str = include_str!("../../tests/fixtures/sbd-1.5.2-sectors.txt");
const UUID: [u8; 16] = [
    0xad, 0x1f, 0xe6, 0x71, 0x11, 0xf7, 0x42, 0x75, 0x80, 0x3d, 0x11, 0x9a, 0x5e, 0x2a, 0x09, 0x3b,
];

fn name(s: &str) -> NodeName {
    NodeName::parse(s).expect("valid name")
}

fn no_pause() -> impl FnMut(Duration) {
    |_| {}
}

/// A memory device big enough for 255 slots, created with default timeouts.
fn created(sector_size: usize) -> (MemoryDevice, SbdDisk<MemoryDevice>) {
    let dev = MemoryDevice::named("mem", sector_size, 1024);
    let disk = SbdDisk::create(dev.clone(), DiskTimeouts::default(), UUID).expect("create");
    (dev, disk)
}

/// The device captured from the real sbd 1.5.2, in memory.
fn real_device() -> MemoryDevice {
    let dev = MemoryDevice::named("real", 512, 1024);
    for line in REAL_SECTORS.lines().filter(|l| !l.starts_with('#')) {
        let mut parts = line.split_whitespace();
        let Some(index) = parts.next().and_then(|i| i.parse::<u64>().ok()) else {
            continue;
        };
        let hex = parts.next().unwrap_or("");
        let mut sector: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        sector.resize(512, 0);
        dev.write_sector(index, &sector).expect("write");
    }
    dev
}

#[test]
fn create_writes_header_and_wipes_old_slots() {
    let dev = MemoryDevice::named("mem", 512, 600);
    dev.write_sector(1, &[0x01; 512]).expect("junk");
    dev.write_sector(510, &[0x02; 512]).expect("junk");
    dev.write_sector(511, &[0x03; 512])
        .expect("beyond the area");
    let timeouts = DiskTimeouts {
        watchdog: 15,
        allocate: 2,
        loop_timeout: 1,
        msgwait: 30,
    };
    SbdDisk::create(dev.clone(), timeouts, UUID).expect("create");
    let disk = SbdDisk::open(dev.clone()).expect("open");
    assert_eq!(disk.header().timeouts, timeouts);
    assert_eq!(disk.header().slots, 255);
    assert_eq!(disk.msgwait(), Duration::from_secs(30));
    assert_eq!(dev.read_sector(1).expect("read"), vec![0; 512]);
    assert_eq!(dev.read_sector(510).expect("read"), vec![0; 512]);
    assert_eq!(dev.read_sector(511).expect("read"), vec![0x03; 512]);
    assert!(disk.list().expect("list").is_empty());
}

#[test]
fn create_is_byte_exact_with_real_sbd_apart_from_the_integrity_field() {
    let (dev, _) = created(512);
    let real = real_device();
    let mut ours = dev.read_sector(0).expect("ours");
    ours[crate::format::CHECK_OFFSET..crate::format::CHECK_END].fill(0);
    assert_eq!(ours, real.read_sector(0).expect("theirs"));
}

#[test]
fn corrupted_sectors_are_refused_with_the_device_name() {
    let (dev, disk) = created(512);
    disk.allocate(&name("node1"), &mut no_pause())
        .expect("node1");
    disk.message(&name("node1"), MailboxCommand::Test, &name("node2"))
        .expect("message");
    // A bit flips in the mailbox: the watcher's read fails instead of acting on it.
    let mut mailbox = dev.read_sector(mailbox_sector(0)).expect("read");
    mailbox[0] = 2; // test -> reset, CRC unchanged
    dev.write_sector(mailbox_sector(0), &mailbox)
        .expect("write");
    let err = disk.read_own_message(&name("node1")).expect_err("torn");
    assert!(
        err.to_string()
            .starts_with("mem: mailbox sector fails its checksum"),
        "{err}"
    );
    // The header's msgwait changes under our CRC: open refuses the device.
    let mut header = dev.read_sector(0).expect("read");
    header[31] = 1;
    dev.write_sector(0, &header).expect("write");
    let err = SbdDisk::open(dev.clone()).expect_err("corrupted header");
    assert!(matches!(
        err,
        DiskError::Format {
            source: FormatError::ChecksumMismatch { .. },
            ..
        }
    ));
    assert!(
        err.to_string()
            .starts_with("mem: header sector fails its checksum"),
        "{err}"
    );
}

#[test]
fn create_refuses_a_small_device() {
    let dev = MemoryDevice::named("tiny", 512, 100);
    let err = SbdDisk::create(dev, DiskTimeouts::default(), UUID).expect_err("too small");
    assert!(matches!(err, DiskError::TooSmall { need: 511, .. }));
    assert!(err.to_string().contains("tiny"), "{err}");
}

#[test]
fn open_rejects_what_is_not_an_sbd_disk() {
    let blank = MemoryDevice::named("blank", 512, 1024);
    let err = SbdDisk::open(blank).expect_err("blank");
    assert!(matches!(
        err,
        DiskError::Format {
            source: FormatError::NotInitialized,
            ..
        }
    ));
    assert!(err.to_string().contains("not an sbd device"), "{err}");

    let junk = MemoryDevice::named("junk", 512, 1024);
    junk.write_sector(0, &[0x41; 512]).expect("write");
    assert!(matches!(
        SbdDisk::open(junk),
        Err(DiskError::Format {
            source: FormatError::BadMagic { .. },
            ..
        })
    ));

    // The same image read through 4096-byte sectors (sbd: "sector size does not match").
    let header = real_device().read_sector(0).expect("header");
    let big = MemoryDevice::named("4k", 4096, 600);
    let mut sector = header.clone();
    sector.resize(4096, 0);
    big.write_sector(0, &sector).expect("write");
    assert!(matches!(
        SbdDisk::open(big),
        Err(DiskError::Format {
            source: FormatError::SectorSizeMismatch { .. },
            ..
        })
    ));
}

#[test]
fn list_and_dump_of_a_real_device_match_sbd_output() {
    let disk = SbdDisk::open(real_device()).expect("open");
    assert_eq!(
        render_list(&disk.list().expect("list")),
        "0\tnode1\treset\tnode2\n1\tnode2\tclear\t\n"
    );
    assert_eq!(
        render_dump(disk.header()),
        "Header version     : 2.1\n\
         UUID               : ad1fe671-11f7-4275-803d-119a5e2a093b\n\
         Number of slots    : 255\n\
         Sector size        : 512\n\
         Timeout (watchdog) : 5\n\
         Timeout (allocate) : 2\n\
         Timeout (loop)     : 1\n\
         Timeout (msgwait)  : 10\n"
    );
}

#[test]
fn dump_of_a_minor_zero_header_has_no_uuid() {
    let mut header = *SbdDisk::open(real_device()).expect("open").header();
    header.version_minor = 0;
    let text = render_dump(&header);
    assert!(text.starts_with("Header version     : 2.0\nNumber of slots    : 255\n"));
}

#[test]
fn allocate_claims_waits_and_then_finds_the_slot() {
    let (_, disk) = created(512);
    let mut pauses = Vec::new();
    let mut record = |d: Duration| pauses.push(d);
    assert_eq!(
        disk.allocate(&name("node1"), &mut record)
            .expect("allocate"),
        Allocation::Claimed(0)
    );
    assert_eq!(pauses, vec![Duration::from_secs(2)]);
    assert_eq!(
        disk.allocate(&name("NODE1"), &mut no_pause())
            .expect("again"),
        Allocation::Existing(0)
    );
    assert_eq!(
        disk.allocate(&name("node2"), &mut no_pause())
            .expect("second node")
            .slot(),
        1
    );
    assert_eq!(
        render_list(&disk.list().expect("list")),
        "0\tnode1\tclear\t\n1\tnode2\tclear\t\n"
    );
}

#[test]
fn allocate_moves_on_when_another_node_overwrites_the_claim() {
    let (dev, disk) = created(512);
    let rival = SbdDisk::open(dev.clone()).expect("rival");
    let mut rival_wins_once = {
        let mut done = false;
        move |_: Duration| {
            if !done {
                done = true;
                let claim = SlotEntry::allocated(name("rival"))
                    .encode(512)
                    .expect("encode");
                rival
                    .device()
                    .write_sector(slot_sector(0), &claim)
                    .expect("rival write");
            }
        }
    };
    assert_eq!(
        disk.allocate(&name("node1"), &mut rival_wins_once)
            .expect("allocate"),
        Allocation::Claimed(1)
    );
    assert_eq!(disk.find_slot(&name("rival")).expect("find"), Some(0));
    assert_eq!(disk.find_slot(&name("node1")).expect("find"), Some(1));
}

#[test]
fn allocate_reports_a_full_slot_table() {
    let (dev, _) = created(512);
    let mut header = Header::new(512, DiskTimeouts::default(), UUID);
    header.slots = 2;
    dev.write_sector(0, &header.encode(512).expect("encode"))
        .expect("write");
    let disk = SbdDisk::open(dev).expect("open");
    disk.allocate(&name("a"), &mut no_pause()).expect("a");
    disk.allocate(&name("b"), &mut no_pause()).expect("b");
    let err = disk
        .allocate(&name("c"), &mut no_pause())
        .expect_err("full");
    assert!(matches!(err, DiskError::SlotTableFull { slots: 2, .. }));
    assert!(err.to_string().contains("slot table full"), "{err}");
}

#[test]
fn message_lands_in_the_target_mailbox() {
    let (dev, disk) = created(4096);
    disk.allocate(&name("node1"), &mut no_pause())
        .expect("node1");
    disk.allocate(&name("node2"), &mut no_pause())
        .expect("node2");
    let slot = disk
        .message(&name("Node2"), MailboxCommand::Off, &name("node1"))
        .expect("message");
    assert_eq!(slot, 1);
    let sector = dev.read_sector(mailbox_sector(1)).expect("read");
    assert_eq!(&sector[..7], &[3, b'n', b'o', b'd', b'e', b'1', 0]);
    assert_eq!(
        render_list(&disk.list().expect("list")),
        "0\tnode1\tclear\t\n1\tnode2\toff\tnode1\n"
    );
    let (own_slot, mailbox) = disk.read_own_message(&name("node2")).expect("read own");
    assert_eq!(own_slot, 1);
    assert_eq!(mailbox.command, MailboxCommand::Off);
    disk.clear_mailbox(own_slot).expect("clear");
    assert_eq!(
        dev.read_sector(mailbox_sector(1)).expect("read"),
        vec![0; 4096]
    );
}

#[test]
fn message_to_an_unknown_node_fails() {
    let (_, disk) = created(512);
    let err = disk
        .message(&name("ghost"), MailboxCommand::Reset, &name("node1"))
        .expect_err("no slot");
    assert!(matches!(err, DiskError::NodeNotFound { .. }));
    assert!(err.to_string().contains("ghost"), "{err}");
    assert!(matches!(
        disk.read_own_message(&name("ghost")),
        Err(DiskError::NodeNotFound { .. })
    ));
}

/// A device that silently drops writes to one sector.
struct DropsWritesTo(MemoryDevice, u64);

impl BlockDevice for DropsWritesTo {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn sector_size(&self) -> usize {
        self.0.sector_size()
    }
    fn sector_count(&self) -> Result<u64, BlockDevError> {
        self.0.sector_count()
    }
    fn read_sector(&self, index: u64) -> Result<Vec<u8>, BlockDevError> {
        self.0.read_sector(index)
    }
    fn write_sector(&self, index: u64, data: &[u8]) -> Result<(), BlockDevError> {
        if index == self.1 {
            return Ok(());
        }
        self.0.write_sector(index, data)
    }
}

#[test]
fn message_that_does_not_read_back_fails() {
    let (dev, disk) = created(512);
    disk.allocate(&name("node1"), &mut no_pause())
        .expect("node1");
    let lossy = SbdDisk::open(DropsWritesTo(dev, mailbox_sector(0))).expect("open");
    assert!(matches!(
        lossy.message(&name("node1"), MailboxCommand::Reset, &name("node2")),
        Err(DiskError::VerifyFailed { slot: 0, .. })
    ));
}

#[test]
fn io_errors_surface_as_errors() {
    let (dev, disk) = created(512);
    dev.set_failing(true, true);
    assert!(matches!(disk.list(), Err(DiskError::Io(_))));
    assert!(matches!(
        disk.allocate(&name("x"), &mut no_pause()),
        Err(DiskError::Io(_))
    ));
    assert!(matches!(SbdDisk::open(dev), Err(DiskError::Io(_))));
}

#[test]
fn delivery_needs_more_than_half_of_the_devices() {
    assert!(message_delivered(1, 1));
    assert!(!message_delivered(1, 2));
    assert!(message_delivered(2, 2));
    assert!(!message_delivered(1, 3));
    assert!(message_delivered(2, 3));
    assert!(!message_delivered(0, 0));
}

#[test]
fn runtime_timeouts_follow_the_header() {
    let t = runtime_timeouts(&DiskTimeouts::default(), Duration::from_secs(3));
    assert_eq!(t, Timeouts::default());
}
