//! ClusterLabs sbd (Debian `/usr/sbin/sbd`) as a lab node's poison-pill watcher, through
//! `tests/fixtures/cluster_sbd/their_sbd.sh` inside the node's namespace: debug mode 2
//! (a pill only logs and ends sbd), no watchdog, no CAP_SYS_BOOT, sysrq covered; its
//! syslog arrives on a datagram socket of the test ([`SyslogSink`]), each line with the
//! wall-clock time it came in.
//!
//! Safety: sbd is stopped by the PID in its own pidfile (checked to be an sbd process);
//! the node's reset ([`super::Lab::reset`]) kills whatever else of it is left in the
//! lab's namespace.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Lab;
use crate::common_cluster::{now_ms, repo_root};

/// CAP_SYS_BOOT's bit in /proc/PID/status CapBnd.
const CAP_SYS_BOOT: u32 = 22;

/// Why their sbd cannot run here, if it cannot.
pub fn their_sbd_unavailable() -> Option<String> {
    for tool in [
        "/usr/sbin/sbd",
        "/usr/bin/setpriv",
        "/usr/bin/unshare",
        "/usr/sbin/losetup",
    ] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} is missing"));
        }
    }
    None
}

/// Every datagram on a Unix socket, with the Unix time (ms) it arrived.
pub struct SyslogSink {
    pub path: PathBuf,
    lines: Arc<Mutex<Vec<(u64, String)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SyslogSink {
    pub fn bind(path: PathBuf) -> SyslogSink {
        let _ = std::fs::remove_file(&path);
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
                    sink.lock().expect("syslog lines").push((now_ms(), line));
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

    /// Everything received, one line each.
    pub fn text(&self) -> String {
        let lines = self.lines.lock().expect("syslog lines");
        lines.iter().map(|(_, l)| format!("{l}\n")).collect()
    }

    /// When the first line containing `needle` arrived (Unix ms), if it did.
    pub fn seen(&self, needle: &str) -> Option<u64> {
        self.lines
            .lock()
            .expect("syslog lines")
            .iter()
            .find(|(_, l)| l.contains(needle))
            .map(|(at, _)| *at)
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

/// Their running inquisitor; stopped by its PID on drop.
pub struct TheirSbd {
    pidfile: PathBuf,
    pub pid: i32,
}

impl TheirSbd {
    /// Start their `sbd watch` for `node{i}` on `device` inside node `i`'s namespace,
    /// logging to `sink`. Panics (with its log) if it does not come up guarded.
    pub fn start(lab: &Lab, i: usize, device: &str, sink: &SyslogSink) -> TheirSbd {
        let pidfile = lab.dir.join(format!("their-sbd{i}.pid"));
        let out = Command::new("ip")
            .args(["netns", "exec", &lab.netns(i), "bash"])
            .arg(repo_root().join("tests/fixtures/cluster_sbd/their_sbd.sh"))
            .args(["start", device, &format!("node{i}")])
            .arg(&sink.path)
            .arg(&pidfile)
            .stdin(Stdio::null())
            .output()
            .expect("run their_sbd.sh");
        assert!(
            out.status.success(),
            "their sbd did not start: {}{}\nsyslog:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            sink.text()
        );
        let mut pid = None;
        crate::common_cluster::wait_until(Duration::from_secs(5), || {
            pid = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|p| p.trim().parse().ok());
            pid.is_some()
        });
        let their = TheirSbd {
            pidfile,
            pid: pid.expect("their sbd pidfile"),
        };
        assert!(their.running(), "their sbd ended:\n{}", sink.text());
        let bounding = std::fs::read_to_string(format!("/proc/{}/status", their.pid))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            })
            .expect("CapBnd of their inquisitor");
        assert_eq!(
            bounding & (1 << CAP_SYS_BOOT),
            0,
            "CAP_SYS_BOOT in their bounding set"
        );
        their
    }

    /// The PID is still an sbd process.
    pub fn running(&self) -> bool {
        std::fs::read(format!("/proc/{}/cmdline", self.pid))
            .map(|c| String::from_utf8_lossy(&c).contains("sbd"))
            .unwrap_or(false)
    }

    /// Wait up to `limit` for it to end.
    pub fn wait_gone(&self, limit: Duration) -> bool {
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

impl Drop for TheirSbd {
    fn drop(&mut self) {
        if self.running() {
            let _ = Command::new("bash")
                .arg(repo_root().join("tests/fixtures/cluster_sbd/their_sbd.sh"))
                .arg("stop")
                .arg(&self.pidfile)
                .status();
        }
    }
}
