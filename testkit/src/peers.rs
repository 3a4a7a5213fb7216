//! The processes and ports of test peers (simulated BMCs, sshd, snmpd, Redfish
//! emulators): loopback port pools per test binary, starting a peer's fixture on a free
//! port with a few retries, and stopping a peer by the PID its fixture reported.
//!
//! Safety: ports are on 127.0.0.1; [`stop_pid`] only ever signals the PID it is given,
//! which callers take from the peer they started themselves.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

const LOOPBACK: &str = "127.0.0.1";

/// Loopback ports handed out by one test binary: from `base + (pid % slots) * stride`
/// upwards (so parallel test processes rarely meet), below `limit`, each at most once
/// per process, skipping ports somebody holds right now.
pub struct PortPool {
    next: AtomicU16,
    base: u16,
    slots: u16,
    stride: u16,
    limit: u16,
}

impl PortPool {
    pub const fn new(base: u16, slots: u16, stride: u16, limit: u16) -> PortPool {
        PortPool {
            next: AtomicU16::new(0),
            base,
            slots,
            stride,
            limit,
        }
    }

    /// A UDP port nobody is bound to now.
    pub fn udp(&self) -> u16 {
        self.take(|port| UdpSocket::bind((LOOPBACK, port)).is_ok())
    }

    /// A TCP port nobody listens on now.
    pub fn tcp(&self) -> u16 {
        self.take(|port| TcpListener::bind((LOOPBACK, port)).is_ok())
    }

    fn take(&self, free: impl Fn(u16) -> bool) -> u16 {
        let first = self.base + (std::process::id() % u32::from(self.slots)) as u16 * self.stride;
        let _ = self
            .next
            .compare_exchange(0, first, Ordering::SeqCst, Ordering::SeqCst);
        loop {
            let port = self.next.fetch_add(1, Ordering::SeqCst);
            assert!(port < self.limit, "ran out of test ports");
            if free(port) {
                return port;
            }
        }
    }
}

/// A peer its fixture started: its port, its state directory and its PID.
pub struct Started {
    pub port: u16,
    pub dir: PathBuf,
    pub pid: i32,
}

/// Start a peer on a port from `free_port`, trying up to four ports (another process
/// may take one between the check and the start). `start(port, dir)` runs the fixture
/// with the state directory `<tmp>/<dir_prefix>-<test pid>-<port>` and returns the peer's
/// PID, or the fixture's output when it failed; a failed attempt's directory is removed.
/// The error is the last failure's output.
pub fn start_on_free_port(
    dir_prefix: &str,
    free_port: impl Fn() -> u16,
    mut start: impl FnMut(u16, &Path) -> Result<i32, String>,
) -> Result<Started, String> {
    let mut last_err = String::new();
    for _ in 0..4 {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("{dir_prefix}-{}-{port}", std::process::id()));
        match start(port, &dir) {
            Ok(pid) => return Ok(Started { port, dir, pid }),
            Err(e) => last_err = e,
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    Err(last_err)
}

/// A fixture's stdout followed by its stderr, for failure messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The PID in a fixture's PID file.
pub fn read_pid_file(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
}

/// Whether a peer's tool is installed: `tool` is an executable file in a directory of
/// `PATH` (what `command -v` finds for a program).
pub fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(tool))
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

/// True while `pid` runs: it exists and is not a zombie (a daemon whose fixture shell
/// has exited stays a zombie until init reaps it; an unreaped child of ours likewise).
pub fn running(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; it only asks whether the PID exists.
    let exists = unsafe { libc::kill(pid, 0) } == 0;
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false);
    exists && !zombie
}

/// Stop a peer this test started, by its PID: SIGTERM, up to a second for it to go,
/// then SIGKILL if it still runs. A PID of 0 or less (none) is left alone.
pub fn stop_pid(pid: i32) {
    if pid <= 0 {
        return;
    }
    // SAFETY: kill(2) on the positive PID of a peer the caller started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    for _ in 0..50 {
        if !running(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if running(pid) {
        // SAFETY: as above, the caller's own peer.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}
