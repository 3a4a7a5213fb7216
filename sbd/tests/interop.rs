//! Interoperability of `palisade-sbd` with ClusterLabs sbd (Debian package `sbd`, run as
//! `/usr/sbin/sbd`) on loop devices: what one side writes, the other reads, and both
//! print the same `dump` and `list`.
//!
//! Needs root, losetup and /usr/sbin/sbd (scripts/test.sh installs it); without them
//! every test is a counted skip (a failure under CI=true or as root). Only sbd's disk commands run (create, dump,
//! list, allocate, message), with `-R` (no realtime scheduling) and the watchdog set to
//! /dev/null; sbd never runs `watch`, and nothing opens a watchdog device. Each test
//! attaches its own loop devices and detaches them on drop.
//!
//! Our sectors carry a CRC32 in bytes sbd leaves zero (see `sbd::format::check`): the
//! tests check that sbd reads them unchanged, that sectors sbd writes (without one) are
//! accepted by us, and that a corrupted header of ours is refused by every command.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sbd::blockdev::{BlockDevice, FileDevice};
use sbd::format::{Integrity, SectorKind, CHECK_END, CHECK_OFFSET};

const THEIR_SBD: &str = "/usr/sbin/sbd";
const OURS: &str = env!("CARGO_BIN_EXE_palisade-sbd");
/// Short timeouts so each real `message` (msgwait) and `allocate` takes about 1 s.
const FAST: [&str; 8] = ["-1", "2", "-2", "1", "-3", "1", "-4", "1"];

/// A loop device on a sparse 8 MiB file in a private directory; detached on drop.
struct LoopDevice {
    path: String,
    image: PathBuf,
    dir: PathBuf,
}

impl LoopDevice {
    fn attach(sector_size: u32) -> Result<LoopDevice, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let base = PathBuf::from("/var/tmp");
        let base = if base.is_dir() {
            base
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!(
            "palisade-sbd-interop-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let image = dir.join("disk.img");
        let made = std::fs::File::create(&image).and_then(|f| f.set_len(8 << 20));
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("cannot create {}: {e}", image.display()));
        }
        let mut device = LoopDevice {
            path: String::new(),
            image,
            dir,
        };
        device.path = device.losetup(sector_size)?;
        Ok(device)
    }

    /// Attach the image (again) with a logical sector size; returns the device path.
    fn losetup(&self, sector_size: u32) -> Result<String, String> {
        let mut last = String::new();
        // Parallel tests may race for the same free loop device: retry.
        for _ in 0..10 {
            let output = Command::new("losetup")
                .args(["-f", "--show", "-b", &sector_size.to_string()])
                .arg(&self.image)
                .output()
                .map_err(|e| format!("cannot run losetup: {e}"))?;
            if output.status.success() {
                return Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned());
            }
            last = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("losetup failed: {last}"))
    }

    fn detach(&mut self) {
        if !self.path.is_empty() {
            let _ = Command::new("losetup").args(["-d", &self.path]).status();
            self.path.clear();
        }
    }

    /// Re-attach the same image with another sector size.
    fn reattach(&mut self, sector_size: u32) -> Result<(), String> {
        self.detach();
        self.path = self.losetup(sector_size)?;
        Ok(())
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        self.detach();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Loop devices for a test, or `None` (after a counted skip; a failure under CI=true or as
/// root) when the peer cannot run here.
fn peer_devices(test: &str, count: usize, sector_size: u32) -> Option<Vec<LoopDevice>> {
    let skip = |why: &str| {
        testkit::skip::required(format!("sbd interop test {test}: {why}"));
        None
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root (losetup and sbd need root)");
    }
    if !std::path::Path::new(THEIR_SBD).exists() {
        return skip("/usr/sbin/sbd is missing (apt-get install sbd)");
    }
    let mut devices = Vec::new();
    for _ in 0..count {
        match LoopDevice::attach(sector_size) {
            Ok(device) => devices.push(device),
            Err(e) => return skip(&format!("no loop device: {e}")),
        }
    }
    Some(devices)
}

/// Output of one command.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(program: &str, devices: &[&LoopDevice], args: &[&str]) -> Outcome {
    let mut command = Command::new(program);
    if program == THEIR_SBD {
        // Belt and braces: no realtime scheduling, no watchdog, no cluster servants.
        command
            .args(["-R", "-w", "/dev/null"])
            .env("SBD_WATCHDOG_DEV", "/dev/null")
            .env("SBD_PACEMAKER", "no");
    }
    for device in devices {
        command.args(["-d", &device.path]);
    }
    command
        .args(args)
        .env_remove("SBD_DEVICE")
        .env_remove("SBD_OPTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill(); // our own child, by its handle
                let _ = child.wait();
                panic!("{program} {args:?} did not finish within 60 s");
            }
        }
    }
    let output = child.wait_with_output().expect("collect output");
    Outcome {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Run and require exit code 0.
fn ok(program: &str, devices: &[&LoopDevice], args: &[&str]) -> Outcome {
    let outcome = run(program, devices, args);
    assert_eq!(outcome.code, 0, "{program} {args:?} failed: {outcome:?}");
    outcome
}

fn ours(devices: &[&LoopDevice], args: &[&str]) -> Outcome {
    ok(OURS, devices, args)
}

fn theirs(devices: &[&LoopDevice], args: &[&str]) -> Outcome {
    ok(THEIR_SBD, devices, args)
}

/// Sector `index` of the device, read with O_DIRECT (no stale page cache).
fn sector(device: &LoopDevice, index: u64) -> Vec<u8> {
    FileDevice::open(&device.path)
        .and_then(|dev| dev.read_sector(index))
        .unwrap_or_else(|e| panic!("read sector {index}: {e}"))
}

/// How sector `index` of the device passes our integrity check.
fn integrity(device: &LoopDevice, index: u64, kind: SectorKind) -> Integrity {
    sbd::format::check::verify(&sector(device, index), kind)
        .unwrap_or_else(|e| panic!("sector {index}: {e}"))
}

fn with(base: &[&'static str], extra: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(extra).copied().collect()
}

/// Both tools print the same `dump` and `list`; returns the `list` output.
fn same_dump_and_list(devices: &[&LoopDevice]) -> String {
    let (our_dump, their_dump) = (ours(devices, &["dump"]), theirs(devices, &["dump"]));
    assert_eq!(our_dump.stdout, their_dump.stdout, "dump differs");
    let (our_list, their_list) = (ours(devices, &["list"]), theirs(devices, &["list"]));
    assert_eq!(our_list.stdout, their_list.stdout, "list differs");
    our_list.stdout
}

#[test]
fn our_create_is_read_by_their_dump_and_list() {
    let Some(devices) = peer_devices("our_create", 1, 512) else {
        return;
    };
    let dev = [&devices[0]];
    ours(&dev, &with(&FAST, &["create"]));
    let dump = theirs(&dev, &["dump"]).stdout;
    for line in [
        "Header version     : 2.1",
        "Number of slots    : 255",
        "Sector size        : 512",
        "Timeout (watchdog) : 2",
        "Timeout (allocate) : 1",
        "Timeout (loop)     : 1",
        "Timeout (msgwait)  : 1",
    ] {
        assert!(dump.contains(line), "their dump lacks {line:?}:\n{dump}");
    }
    ours(&dev, &["allocate", "node1"]);
    theirs(&dev, &["allocate", "node2"]);
    // Our message -> their list; their message -> our list.
    ours(&dev, &["-n", "node1", "message", "node2", "test"]);
    assert_eq!(
        theirs(&dev, &["list"]).stdout,
        "0\tnode1\tclear\t\n1\tnode2\ttest\tnode1\n"
    );
    // What we wrote is sealed with our CRC, what they wrote is not; both read everything.
    let d = &devices[0];
    assert_eq!(integrity(d, 0, SectorKind::Header), Integrity::Verified);
    assert_eq!(integrity(d, 1, SectorKind::Slot), Integrity::Verified);
    assert_eq!(integrity(d, 3, SectorKind::Slot), Integrity::Unchecked);
    assert_eq!(integrity(d, 4, SectorKind::Mailbox), Integrity::Verified);
    theirs(&dev, &["-n", "node2", "message", "node1", "off"]);
    assert_eq!(integrity(d, 2, SectorKind::Mailbox), Integrity::Unchecked);
    // They overwrite our sealed mailbox with a whole zero-filled sector: no stale CRC.
    theirs(&dev, &["-n", "node1", "message", "node2", "test"]);
    assert_eq!(integrity(d, 4, SectorKind::Mailbox), Integrity::Unchecked);
    ours(&dev, &["-n", "node1", "message", "node2", "test"]);
    assert_eq!(
        ours(&dev, &["list"]).stdout,
        "0\tnode1\toff\tnode2\n1\tnode2\ttest\tnode1\n"
    );
    same_dump_and_list(&dev);
}

#[test]
fn their_create_is_read_by_our_dump_and_list() {
    let Some(devices) = peer_devices("their_create", 1, 512) else {
        return;
    };
    let dev = [&devices[0]];
    theirs(&dev, &with(&FAST, &["create"]));
    assert!(ours(&dev, &["dump"])
        .stdout
        .contains("Timeout (msgwait)  : 1\n"));
    theirs(&dev, &["allocate", "alpha"]);
    // Our allocate finds their slot (case-insensitively) and takes the next free one.
    assert!(ours(&dev, &["allocate", "ALPHA"]).stdout.contains("slot 0"));
    ours(&dev, &["allocate", "beta"]);
    theirs(&dev, &["-n", "alpha", "message", "beta", "reset"]);
    ours(&dev, &["-n", "beta", "message", "alpha", "crashdump"]);
    let list = same_dump_and_list(&dev);
    assert_eq!(list, "0\talpha\tcrashdump\tbeta\n1\tbeta\treset\talpha\n");
    // exit and clear, both ways.
    ours(&dev, &["-n", "alpha", "message", "beta", "exit"]);
    theirs(&dev, &["-n", "beta", "message", "alpha", "clear"]);
    let list = same_dump_and_list(&dev);
    assert_eq!(list, "0\talpha\tclear\tbeta\n1\tbeta\texit\talpha\n");
}

#[test]
fn four_k_sectors_and_a_changed_sector_size() {
    let Some(mut devices) = peer_devices("4k_sectors", 1, 4096) else {
        return;
    };
    ours(&[&devices[0]], &with(&FAST, &["create"]));
    theirs(&[&devices[0]], &["allocate", "node1"]);
    ours(
        &[&devices[0]],
        &["-n", "node2", "message", "node1", "reset"],
    );
    let dump = theirs(&[&devices[0]], &["dump"]).stdout;
    assert!(dump.contains("Sector size        : 4096\n"), "{dump}");
    assert_eq!(
        same_dump_and_list(&[&devices[0]]),
        "0\tnode1\treset\tnode2\n"
    );
    // The same image through 512-byte sectors: both refuse it.
    devices[0]
        .reattach(512)
        .expect("reattach with 512-byte sectors");
    let our_dump = run(OURS, &[&devices[0]], &["dump"]);
    assert_eq!(our_dump.code, 1, "{our_dump:?}");
    assert!(our_dump.stderr.contains("does not match"), "{our_dump:?}");
    assert_eq!(run(THEIR_SBD, &[&devices[0]], &["dump"]).code, 1);
}

#[test]
fn both_refuse_a_device_that_is_not_sbd() {
    let Some(devices) = peer_devices("not_sbd", 1, 512) else {
        return;
    };
    let dev = [&devices[0]];
    for command in ["dump", "list"] {
        let mine = run(OURS, &dev, &[command]);
        assert_eq!(mine.code, 1, "{mine:?}");
        assert!(mine.stderr.contains("not an sbd device"), "{mine:?}");
        assert_eq!(run(THEIR_SBD, &dev, &[command]).code, 1);
    }
    let mine = run(OURS, &dev, &["-n", "a", "message", "b", "test"]);
    assert_eq!(mine.code, 1, "{mine:?}");
}

#[test]
fn three_devices_both_ways() {
    let Some(devices) = peer_devices("three_devices", 3, 512) else {
        return;
    };
    let all: Vec<&LoopDevice> = devices.iter().collect();
    ours(&all, &with(&FAST, &["create"]));
    theirs(&all, &["allocate", "node1"]);
    ours(&all, &["allocate", "node2"]);
    theirs(&all, &["-n", "node1", "message", "node2", "off"]);
    let list = same_dump_and_list(&all);
    assert_eq!(list, "0\tnode1\tclear\t\n1\tnode2\toff\tnode1\n".repeat(3));
    // Each device on its own carries the same slots.
    for device in &all {
        assert_eq!(
            theirs(&[device], &["list"]).stdout,
            "0\tnode1\tclear\t\n1\tnode2\toff\tnode1\n"
        );
    }
}

#[test]
fn a_corrupted_header_is_refused_by_us_while_sbd_believes_it() {
    let Some(devices) = peer_devices("corrupted_header", 1, 512) else {
        return;
    };
    let dev = [&devices[0]];
    ours(&dev, &with(&FAST, &["create"]));
    ours(&dev, &["allocate", "node1"]);
    // msgwait 1 -> 0 under our CRC, as a torn or stray write would leave it.
    let mut header = sector(&devices[0], 0);
    assert_eq!(header[31], 1);
    header[31] = 0;
    FileDevice::open(&devices[0].path)
        .and_then(|d| d.write_sector(0, &header))
        .expect("corrupt the header");
    for args in [
        &["dump"][..],
        &["list"],
        &["allocate", "node2"],
        &["-n", "node2", "message", "node1", "reset"],
    ] {
        let mine = run(OURS, &dev, args);
        assert_eq!(
            mine.code, 1,
            "{args:?} accepted a corrupted header: {mine:?}"
        );
        assert!(
            mine.stderr.contains("header sector fails its checksum")
                && mine.stderr.contains("torn or corrupted write"),
            "{args:?}: {mine:?}"
        );
    }
    assert_eq!(
        integrity_error(&devices[0]),
        "header sector fails its checksum"
    );
    // ClusterLabs sbd has no way to tell: it reports the corrupted value.
    let their_dump = theirs(&dev, &["dump"]).stdout;
    assert!(
        their_dump.contains("Timeout (msgwait)  : 0\n"),
        "{their_dump}"
    );
    // Zeroing our field turns it into a plain sbd header again: accepted as is.
    header[CHECK_OFFSET..CHECK_END].fill(0);
    FileDevice::open(&devices[0].path)
        .and_then(|d| d.write_sector(0, &header))
        .expect("unseal the header");
    assert!(ours(&dev, &["dump"])
        .stdout
        .contains("Timeout (msgwait)  : 0\n"));
}

/// The start of our checker's verdict on the device's header.
fn integrity_error(device: &LoopDevice) -> String {
    let error = sbd::format::check::verify(&sector(device, 0), SectorKind::Header)
        .expect_err("corrupted header");
    error
        .to_string()
        .split(" (")
        .next()
        .unwrap_or("")
        .to_owned()
}
