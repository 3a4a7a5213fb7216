//! Harness of the fencer's integration tests: built binaries (`palisade`, our
//! `fence_dummy`), ClusterLabs' `fence_dummy` when installed, private temp directories,
//! small shell-script agents, and a `palisade daemon` started on a socket in its own temp
//! directory and stopped by its PID on drop.
//!
//! Safety: agents here are `fence_dummy` (a status file) or scripts; nothing leaves the
//! machine; only processes started here are signalled, by PID.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// ClusterLabs' dummy agent (Debian package `fence-agents`).
pub const CLUSTERLABS_DUMMY: &str = "/usr/sbin/fence_dummy";

/// `target/<profile>/<name>`, next to this test executable's `deps/` directory.
pub fn built_binary(name: &str) -> PathBuf {
    testkit::bins::built(name)
}

/// Our `palisade` binary.
pub fn palisade() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_palisade"))
}

/// Our `fence_dummy`.
pub fn our_dummy() -> PathBuf {
    built_binary("fence_dummy")
}

/// ClusterLabs' `fence_dummy` (the agent these fencer tests run), or `None` after a counted
/// skip; under CI=true or as root its absence fails the test.
pub fn clusterlabs_dummy() -> Option<PathBuf> {
    let path = PathBuf::from(CLUSTERLABS_DUMMY);
    if path.is_file() {
        Some(path)
    } else {
        testkit::skip::required(format!(
            "{CLUSTERLABS_DUMMY} missing (apt-get install fence-agents)"
        ));
        None
    }
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("palisade-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Write an executable shell script.
pub fn write_script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A fence_dummy status file holding `state` (no newline: ClusterLabs' agent compares
/// the raw text).
pub fn status_file(dir: &TempDir, name: &str, state: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, state).expect("write status file");
    path
}

pub fn read_state(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Whether any process of process group `pgid` is alive (`kill(-pgid, 0)`).
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence; nothing is sent.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

/// Whether process `pid` exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Poll `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A `palisade daemon` in its own directory (config, socket, history), killed by PID.
pub struct Daemon {
    pub dir: TempDir,
    pub child: Option<Child>,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub history: PathBuf,
}

impl Daemon {
    /// Write `devices_toml` (devices/levels, plus anything else) under a `[daemon]` section
    /// pointing into a fresh temp dir, and start the daemon.
    pub fn start(tag: &str, extra_daemon: &str, body: &str) -> Daemon {
        let dir = TempDir::new(tag);
        let socket = dir.join("fencer.sock");
        let history = dir.join("history.jsonl");
        let config = dir.join("palisade.toml");
        let text = format!(
            "[daemon]\nsocket = \"{}\"\nhistory = \"{}\"\nnode-name = \"test-self\"\n{extra_daemon}\n\n{body}\n",
            socket.display(),
            history.display()
        );
        std::fs::write(&config, text).expect("write config");
        let mut daemon = Daemon {
            dir,
            child: None,
            config,
            socket,
            history,
        };
        daemon.spawn();
        daemon
    }

    /// (Re)start the process on the same files.
    pub fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("daemon.log")).expect("log file");
        let child = Command::new(palisade())
            .args(["daemon", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("start palisade daemon");
        self.child = Some(child);
        let socket = self.socket.clone();
        let up = wait_until(Duration::from_secs(10), || {
            UnixStream::connect(&socket).is_ok()
        });
        assert!(up, "daemon did not come up:\n{}", self.log());
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default()
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stop with SIGTERM (graceful), SIGKILL after 10 s; our own PID only.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(pid) = i32::try_from(child.id()) {
                // SAFETY: signalling the daemon this harness started, by its PID.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Run the CLI against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(palisade())
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .expect("run palisade CLI")
    }

    /// One raw request line; returns the first reply line.
    pub fn raw(&self, line: &str) -> String {
        let stream = UnixStream::connect(&self.socket).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .expect("timeout");
        let mut writer = stream.try_clone().expect("clone");
        writer.write_all(line.as_bytes()).expect("write");
        writer.write_all(b"\n").expect("write");
        let mut reader = BufReader::new(stream);
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("read reply");
        reply
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Text of a command's stdout and stderr, for assertion messages.
/// A history operation's attempts (JSON `attempts`): (device, ok) in order.
pub fn attempts(operation: &serde_json::Value) -> Vec<(String, bool)> {
    operation["attempts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|a| {
                    (
                        a["device"].as_str().unwrap_or("").to_string(),
                        a["ok"] == true,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An event subscription on a daemon's API socket.
pub struct Subscription {
    reader: BufReader<UnixStream>,
}

impl Subscription {
    /// Subscribe (the reply line is read and checked).
    pub fn open(socket: &Path) -> Subscription {
        let stream = UnixStream::connect(socket).expect("connect for subscribe");
        let mut writer = stream.try_clone().expect("clone");
        writer
            .write_all(b"{\"v\":1,\"id\":\"sub\",\"request\":\"subscribe\"}\n")
            .expect("send subscribe");
        let mut reader = BufReader::new(stream);
        let mut reply = String::new();
        reader.read_line(&mut reply).expect("subscribe reply");
        assert!(reply.contains("\"subscribed\":true"), "{reply}");
        Subscription { reader }
    }

    /// The first event line (JSON) for which `want` holds, read within `limit`; panics
    /// with the lines seen when none came.
    pub fn wait_for(
        &mut self,
        limit: Duration,
        mut want: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        let mut seen = Vec::new();
        while start.elapsed() < limit {
            let left = limit
                .saturating_sub(start.elapsed())
                .max(Duration::from_millis(10));
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .expect("read timeout");
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) => {
                    let value: serde_json::Value =
                        serde_json::from_str(line.trim()).expect("event JSON");
                    if want(&value) {
                        return value;
                    }
                    seen.push(line);
                }
                Err(_) => break,
            }
        }
        panic!(
            "no matching event within {limit:?}; seen:\n{}",
            seen.concat()
        );
    }
}

/// A loopback TCP port nobody listens on right now (for `metrics-listen`).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// `GET /metrics` from a daemon's loopback listener: the body.
pub fn scrape(port: u16) -> String {
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to metrics listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("send request");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stream, &mut text).expect("read response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    body.to_string()
}

/// The value of the sample `name{labels}` (as written, e.g. `x{device="a"}`) in a
/// Prometheus text body.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.rsplit_once(' ').filter(|(s, _)| *s == series))
        .and_then(|(_, v)| v.parse().ok())
}
