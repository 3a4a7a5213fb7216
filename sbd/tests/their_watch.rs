//! ClusterLabs sbd's `watch` daemon (Debian `/usr/sbin/sbd`) receives messages written by
//! our `palisade-sbd message` on a device we created: `test` shows up in its log and is
//! cleared in place (command and sender zeroed, the rest of the sector, our integrity
//! field included, written back as it was; we still read it as clear), our `ping` is
//! answered, `exit` stops it.
//!
//! Safety: sbd runs through `tests/fixtures/their_watch.sh`, guarded as
//! ../shared/PEERS.md prescribes (`-w /dev/null`, `-Z -Z`, `SBD_PACEMAKER=no`,
//! `SBD_SYNC_RESOURCE_STARTUP=no`, under `setpriv --bounding-set -sys_boot`, checked in
//! /proc here), and only `test` and `exit` are ever sent to it. Its syslog goes to a
//! socket of this test, bound over `/dev/log` inside a private mount namespace. It is
//! stopped by the `exit` message, else by its own PID (from its pidfile) only.
//! Needs root, losetup, unshare, setpriv and /usr/sbin/sbd; otherwise a counted skip
//! (a failure under CI=true or as root).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sbd::blockdev::{BlockDevice, FileDevice};
use sbd::format::CHECK_OFFSET;

const OURS: &str = env!("CARGO_BIN_EXE_palisade-sbd");
const THEIR_SBD: &str = "/usr/sbin/sbd";
/// watchdog 3 s, allocate 1 s, loop 1 s, msgwait 4 s.
const TIMEOUTS: [&str; 8] = ["-1", "3", "-2", "1", "-3", "1", "-4", "4"];
/// A message must reach the watcher within one loop plus I/O; allow slack for a busy host.
const DELIVERY: Duration = Duration::from_secs(3);
const CAP_SYS_BOOT: u32 = 22;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn can_run() -> bool {
    let skip = |why: &str| {
        testkit::skip::required(format!("their_watch: {why}"));
        false
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return skip("not root (losetup, unshare and mknod need root)");
    }
    for tool in [
        THEIR_SBD,
        "/usr/bin/setpriv",
        "/usr/bin/unshare",
        "/usr/sbin/losetup",
    ] {
        if !Path::new(tool).exists() {
            return skip(&format!("{tool} is missing"));
        }
    }
    true
}

/// A private directory under /var/tmp (O_DIRECT works there), removed on drop.
struct Work {
    dir: PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = PathBuf::from(format!(
            "/var/tmp/palisade-their-watch-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create work directory");
        Work { dir }
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A loop device from tests/fixtures/sbd_loop.sh; detached on drop.
struct LoopDisk {
    dir: PathBuf,
    path: String,
}

impl LoopDisk {
    fn attach(work: &Work) -> Option<LoopDisk> {
        let out = Command::new("bash")
            .arg(fixture("../tests/fixtures/sbd_loop.sh"))
            .args(["attach", "disk"])
            .env("SBD_LOOP_DIR", &work.dir)
            .output()
            .ok()?;
        if !out.status.success() {
            testkit::skip::required(format!(
                "their_watch: no loop device: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
        Some(LoopDisk {
            dir: work.dir.clone(),
            path: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        })
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(fixture("../tests/fixtures/sbd_loop.sh"))
            .args(["detach", "disk"])
            .env("SBD_LOOP_DIR", &self.dir)
            .output();
    }
}

/// A syslog receiver: every datagram on the socket, with the time it arrived.
struct SyslogSink {
    path: PathBuf,
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SyslogSink {
    fn bind(path: PathBuf) -> SyslogSink {
        let socket = UnixDatagram::bind(&path).expect("bind the syslog socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("socket timeout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, flag) = (lines.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !flag.load(Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let line = String::from_utf8_lossy(&buf[..n]).trim_end().to_owned();
                    sink.lock()
                        .expect("syslog lines")
                        .push((Instant::now(), line));
                }
            }
        });
        SyslogSink {
            path,
            lines,
            stop,
            thread: Some(thread),
        }
    }

    fn text(&self) -> String {
        let lines = self.lines.lock().expect("syslog lines");
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// When a line containing `needle` arrived, waiting up to `limit` for it.
    fn wait_for(&self, needle: &str, limit: Duration) -> Option<Instant> {
        let until = Instant::now() + limit;
        loop {
            let found = self
                .lines
                .lock()
                .expect("syslog lines")
                .iter()
                .find(|(_, l)| l.contains(needle))
                .map(|(at, _)| *at);
            if found.is_some() || Instant::now() >= until {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for SyslogSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Their running inquisitor; stopped by PID on drop if the test did not stop it.
struct TheirWatch {
    pidfile: PathBuf,
    pid: i32,
}

impl TheirWatch {
    fn start(disk: &LoopDisk, sink: &SyslogSink, pidfile: PathBuf) -> TheirWatch {
        let out = Command::new("bash")
            .arg(fixture("tests/fixtures/their_watch.sh"))
            .args(["start", &disk.path, "node1"])
            .arg(&sink.path)
            .arg(&pidfile)
            .stdin(Stdio::null())
            .output()
            .expect("run their_watch.sh");
        assert!(
            out.status.success(),
            "their watch did not start: {}{}\nsyslog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            sink.text()
        );
        let pid = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .expect("their pidfile");
        TheirWatch { pidfile, pid }
    }

    /// The PID is still one of sbd's processes.
    fn running(&self) -> bool {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|c| String::from_utf8_lossy(&c).contains("sbd"))
            .unwrap_or(false)
    }

    fn cap_bounding(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
            .expect("CapBnd of their inquisitor")
    }

    fn wait_gone(&self, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while self.running() {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for TheirWatch {
    fn drop(&mut self) {
        if self.running() {
            let _ = Command::new("bash")
                .arg(fixture("tests/fixtures/their_watch.sh"))
                .arg("stop")
                .arg(&self.pidfile)
                .status();
        }
    }
}

fn ours(device: &str, args: &[&str]) -> String {
    let out = Command::new(OURS)
        .args(["-d", device])
        .args(args)
        .env_remove("SBD_DEVICE")
        .stdin(Stdio::null())
        .output()
        .expect("run palisade-sbd");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "palisade-sbd {args:?} failed: {text}");
    text
}

#[test]
fn their_watch_receives_our_test_and_exit() {
    if !can_run() {
        return;
    }
    let work = Work::new();
    let Some(disk) = LoopDisk::attach(&work) else {
        return;
    };
    let dev = disk.path.as_str();
    ours(dev, &[&TIMEOUTS[..], &["create"]].concat());
    ours(dev, &["allocate", "node1"]);
    let sink = SyslogSink::bind(work.dir.join("log.sock"));
    let watch = TheirWatch::start(&disk, &sink, work.dir.join("their.pid"));
    assert_eq!(
        watch.cap_bounding() & (1 << CAP_SYS_BOOT),
        0,
        "CAP_SYS_BOOT still in their bounding set"
    );
    assert!(
        sink.wait_for("Monitoring slot 0", Duration::from_secs(5))
            .is_some(),
        "their servant did not start:\n{}",
        sink.text()
    );

    // test: in their log within a loop, cleared in place, their watcher keeps running.
    let sent = Instant::now();
    ours(dev, &["-n", "node2", "message", "node1", "test"]);
    let received = sink
        .wait_for("Received command test from node2", DELIVERY)
        .unwrap_or_else(|| panic!("no test in their log:\n{}", sink.text()));
    assert!(received.duration_since(sent) < DELIVERY);
    assert!(
        watch.running(),
        "test stopped their watcher:\n{}",
        sink.text()
    );
    assert_eq!(ours(dev, &["list"]), "0\tnode1\tclear\t\n");
    // In place: command and sender are zero, our sealed message's integrity field is
    // still there (now stale), which we accept as an empty mailbox.
    let mailbox = FileDevice::open(dev)
        .and_then(|device| device.read_sector(2))
        .expect("read the mailbox sector");
    assert!(
        mailbox[..65].iter().all(|&b| b == 0),
        "{:?}",
        &mailbox[..65]
    );
    assert_eq!(&mailbox[CHECK_OFFSET..CHECK_OFFSET + 4], b"pcM\x01");
    // Our ping gets its answer from their watcher (it clears the test message in place).
    let ping = ours(dev, &["-n", "node2", "ping", "node1"]);
    assert!(ping.contains(&format!("node1 answered on {dev}")), "{ping}");

    // exit: in their log, and the inquisitor is gone (no fence: debug mode never logs one).
    ours(dev, &["-n", "node2", "message", "node1", "exit"]);
    assert!(
        sink.wait_for("Received command exit from node2", DELIVERY)
            .is_some(),
        "no exit in their log:\n{}",
        sink.text()
    );
    assert!(
        watch.wait_gone(Duration::from_secs(10)),
        "their watcher still runs after exit:\n{}",
        sink.text()
    );
    let log = sink.text();
    assert!(!log.contains("instead of panicking"), "{log}");
    assert_eq!(ours(dev, &["list"]), "0\tnode1\texit\tnode2\n");
}
