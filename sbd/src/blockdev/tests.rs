//! Unit tests of the memory device and of the file device on regular files.

use super::*;
use std::sync::atomic::{AtomicU32, Ordering};

/// A scratch directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "palisade-sbd-blockdev-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        ScratchDir(dir)
    }

    fn file(&self, name: &str, len: u64) -> PathBuf {
        let path = self.0.join(name);
        let file = File::create(&path).expect("create file");
        file.set_len(len).expect("set_len");
        path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn memory_device_round_trips_and_shares_storage() {
    let dev = MemoryDevice::new(512, 4);
    let other_node = dev.clone();
    assert_eq!(dev.sector_count().expect("count"), 4);
    let data = vec![0xab; 512];
    dev.write_sector(3, &data).expect("write");
    assert_eq!(other_node.read_sector(3).expect("read"), data);
    assert_eq!(other_node.read_sector(0).expect("read"), vec![0; 512]);
    assert_eq!(dev.write_count(), 1);
    assert_eq!(dev.contents().len(), 2048);
}

#[test]
fn memory_device_reports_bad_requests() {
    let dev = MemoryDevice::named("mem0", 512, 2);
    assert!(matches!(
        dev.read_sector(2),
        Err(BlockDevError::OutOfRange {
            sector: 2,
            sectors: 2,
            ..
        })
    ));
    assert!(matches!(
        dev.write_sector(0, &[1, 2, 3]),
        Err(BlockDevError::WrongLength { len: 3, .. })
    ));
    dev.set_failing(true, false);
    let err = dev.read_sector(0).expect_err("injected");
    assert!(err.to_string().contains("mem0"), "{err}");
    dev.write_sector(0, &[0; 512]).expect("writes still work");
    dev.set_failing(false, true);
    assert!(matches!(
        dev.write_sector(0, &[0; 512]),
        Err(BlockDevError::Write { .. })
    ));
}

#[test]
fn regular_file_gets_512_byte_sectors_and_round_trips() {
    let dir = ScratchDir::new();
    let path = dir.file("disk.img", 8 * 512);
    let dev = FileDevice::open(&path).expect("open");
    assert_eq!(dev.kind(), DeviceKind::RegularFile);
    assert_eq!(dev.sector_size(), 512);
    assert_eq!(dev.sector_count().expect("count"), 8);
    // Direct on ext4/xfs, buffered on tmpfs: both must work.
    assert!(matches!(dev.io_mode(), IoMode::Direct | IoMode::Buffered));
    let mut data = vec![0u8; 512];
    data[0] = 0x5a;
    data[511] = 0xa5;
    dev.write_sector(7, &data).expect("write");
    assert_eq!(dev.read_sector(7).expect("read"), data);
    let raw = std::fs::read(&path).expect("read file");
    assert_eq!(&raw[7 * 512..], &data[..]);
}

#[test]
fn regular_file_refuses_io_past_its_end() {
    let dir = ScratchDir::new();
    let path = dir.file("small.img", 2 * 512);
    let dev = FileDevice::open(&path).expect("open");
    assert!(matches!(
        dev.read_sector(2),
        Err(BlockDevError::OutOfRange {
            sector: 2,
            sectors: 2,
            ..
        })
    ));
    assert!(matches!(
        dev.write_sector(5, &[0; 512]),
        Err(BlockDevError::OutOfRange { .. })
    ));
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), 1024);
    assert!(matches!(
        dev.write_sector(0, &[0; 100]),
        Err(BlockDevError::WrongLength { .. })
    ));
}

#[test]
fn regular_file_can_have_4096_byte_sectors() {
    let dir = ScratchDir::new();
    let path = dir.file("4k.img", 3 * 4096);
    let dev = FileDevice::open_with_file_sector_size(&path, 4096).expect("open");
    assert_eq!(dev.sector_count().expect("count"), 3);
    dev.write_sector(1, &[7; 4096]).expect("write");
    assert_eq!(dev.read_sector(1).expect("read"), vec![7; 4096]);
    assert!(matches!(
        FileDevice::open_with_file_sector_size(&path, 1000),
        Err(BlockDevError::UnsupportedSectorSize { size: 1000, .. })
    ));
}

#[test]
fn open_errors_name_the_path() {
    let dir = ScratchDir::new();
    let missing = dir.0.join("missing.img");
    let err = FileDevice::open(&missing).expect_err("missing");
    assert!(matches!(err, BlockDevError::Open { .. }));
    assert!(err.to_string().contains("missing.img"), "{err}");
    assert!(matches!(
        FileDevice::open(&dir.0),
        Err(BlockDevError::UnsupportedKind { .. })
    ));
    // A character device is rejected from its metadata alone; it is never opened.
    assert!(matches!(
        FileDevice::open("/dev/null"),
        Err(BlockDevError::UnsupportedKind { .. })
    ));
}

#[test]
fn read_sectors_reads_a_span_in_one_go_or_sector_by_sector() {
    let dir = ScratchDir::new();
    let path = dir.file("span.img", 40 * 512);
    let dev = FileDevice::open(&path).expect("open");
    for index in 0..40u8 {
        dev.write_sector(u64::from(index), &[index; 512])
            .expect("write");
    }
    let span = dev.read_sectors(3, 3).expect("one read");
    assert_eq!(span.len(), 3 * 512);
    assert!(span[..512].iter().all(|&b| b == 3));
    assert!(span[1024..].iter().all(|&b| b == 5));
    // Longer than one buffer: still correct, sector by sector.
    let long = dev.read_sectors(0, 40).expect("long read");
    assert_eq!(long.len(), 40 * 512);
    assert!(long[39 * 512..].iter().all(|&b| b == 39));
    assert!(matches!(
        dev.read_sectors(38, 3),
        Err(BlockDevError::OutOfRange { .. })
    ));
    // The memory device's default implementation agrees.
    let memory = MemoryDevice::new(512, 40);
    for index in 0..40u8 {
        memory
            .write_sector(u64::from(index), &[index; 512])
            .expect("write");
    }
    assert_eq!(memory.read_sectors(3, 3).expect("read"), span);
}

#[test]
fn read_sectors_into_an_aligned_buffer_or_any_slice() {
    let dir = ScratchDir::new();
    let path = dir.file("into.img", 8 * 512);
    let dev = FileDevice::open(&path).expect("open");
    for index in 0..8u8 {
        dev.write_sector(u64::from(index), &[index; 512])
            .expect("write");
    }
    // Straight into a kept aligned buffer, again and again.
    let mut buffer = AlignedBuffer::zeroed(4 * 512).expect("buffer");
    for _ in 0..2 {
        dev.read_sectors_into(2, buffer.as_mut_slice())
            .expect("read");
        assert!(buffer.as_slice()[..512].iter().all(|&b| b == 2));
        assert!(buffer.as_slice()[3 * 512..].iter().all(|&b| b == 5));
    }
    // An unaligned slice goes through a buffer of the device's own.
    let mut unaligned = vec![0u8; 2 * 512 + 1];
    dev.read_sectors_into(6, &mut unaligned[1..]).expect("read");
    assert!(unaligned[1..513].iter().all(|&b| b == 6));
    assert!(unaligned[513..].iter().all(|&b| b == 7));
    // Not a whole number of sectors: refused, for files and memory devices alike.
    assert!(matches!(
        dev.read_sectors_into(0, &mut buffer.as_mut_slice()[..100]),
        Err(BlockDevError::SpanLength { len: 100, .. })
    ));
    let memory = MemoryDevice::new(512, 8);
    assert!(matches!(
        memory.read_sectors_into(0, &mut [0; 700]),
        Err(BlockDevError::SpanLength { len: 700, .. })
    ));
}
