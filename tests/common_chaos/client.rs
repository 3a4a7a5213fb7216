//! The workload's client: its own network namespace (`PREFIX-cl`, 10.77.0.250 on ring 0's
//! switch) and a thread inside it (setns on that thread only) that keeps requesting
//! `GET /req?seq=N` through the virtual IP, each sequence number once (no retry, so a
//! number journaled twice is the server's doing), and records those acknowledged with
//! `200 ok N`.
//!
//! Safety: the namespace is this lab's own, deleted on drop; the client connects to the
//! virtual IP inside the lab only.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::common_cluster::now_ms;

/// The client's address on ring 0.
pub const CLIENT_ADDRESS: &str = "10.77.0.250";

/// One acknowledged request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub seq: u64,
    /// Unix ms of the answer.
    pub at: u64,
}

/// A running client.
pub struct Client {
    netns: String,
    stop: Arc<AtomicBool>,
    acks: Arc<Mutex<Vec<Ack>>>,
    sent: Arc<Mutex<u64>>,
    thread: Option<JoinHandle<()>>,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

impl Client {
    /// The client namespace on the lab `prefix`'s ring-0 switch, and its thread
    /// requesting `vip:port` every `pause`.
    pub fn start(prefix: &str, vip: &str, port: u16, pause: Duration) -> Client {
        let netns = format!("{prefix}-cl");
        let sw = format!("{prefix}-sw");
        let up = ip(&["netns", "add", &netns])
            && ip(&["-n", &netns, "link", "set", "lo", "up"])
            && ip(&[
                "link", "add", "c0", "netns", &netns, "type", "veth", "peer", "name", "clr0",
                "netns", &sw,
            ])
            && ip(&["-n", &sw, "link", "set", "clr0", "master", "br0"])
            && ip(&["-n", &sw, "link", "set", "clr0", "up"])
            && ip(&[
                "-n",
                &netns,
                "addr",
                "add",
                &format!("{CLIENT_ADDRESS}/24"),
                "dev",
                "c0",
            ])
            && ip(&["-n", &netns, "link", "set", "c0", "up"]);
        assert!(up, "client namespace {netns} could not be set up");
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(Mutex::new(0));
        let addr: SocketAddr = format!("{vip}:{port}").parse().expect("VIP address");
        let (s, a, n, ns) = (stop.clone(), acks.clone(), sent.clone(), netns.clone());
        let thread = std::thread::spawn(move || {
            let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("client netns");
            // SAFETY: setns on this thread only, with a namespace file we hold open.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns into {ns}");
            let mut seq = 0u64;
            while !s.load(Ordering::SeqCst) {
                seq += 1;
                *n.lock().expect("sent") = seq;
                if request(addr, seq) {
                    a.lock().expect("acks").push(Ack { seq, at: now_ms() });
                }
                std::thread::sleep(pause);
            }
        });
        Client {
            netns,
            stop,
            acks,
            sent,
            thread: Some(thread),
        }
    }

    /// The acknowledged requests so far.
    pub fn acks(&self) -> Vec<Ack> {
        self.acks.lock().expect("acks").clone()
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        *self.sent.lock().expect("sent")
    }

    /// Stop requesting (the last request finishes first).
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request; true when answered `200` with `ok SEQ`.
fn request(addr: SocketAddr, seq: u64) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(1)));
    if s.write_all(format!("GET /req?seq={seq} HTTP/1.0\r\n\r\n").as_bytes())
        .is_err()
    {
        return false;
    }
    let mut answer = Vec::new();
    if s.read_to_end(&mut answer).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&answer);
    text.starts_with("HTTP/1.0 200") && text.ends_with(&format!("\r\n\r\nok {seq}"))
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}
