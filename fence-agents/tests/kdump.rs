//! fence_kdump against ClusterLabs' own sender (`fence_kdump_send`, the program a kdump
//! kernel runs) on 127.0.0.1 and ::1, ours and ClusterLabs' `fence_kdump` one after the
//! other on the same scenario: the message arrives → exit 0; no sender, a sender at
//! another address, bad magic or version → exit 1 after the (short) timeout. Each test
//! uses its own free UDP port; every sender is ours and stopped by its PID.

mod common;

use common::{run_agent, Ran};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const SENDER: &str = "/usr/libexec/fence-agents/fence_kdump_send";
const CLUSTERLABS: &str = "/usr/sbin/fence_kdump";

/// A UDP port free on both families right now (ClusterLabs binds the wildcard).
fn free_port() -> u16 {
    loop {
        let port = UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.local_addr())
            .expect("bind")
            .port();
        // Dual-stack [::] also covers IPv4: free when it binds after the probe is gone.
        if UdpSocket::bind(("::", port)).is_ok() {
            return port;
        }
    }
}

/// ClusterLabs' sender, every second, forever; killed by PID on drop.
struct Sender(Child);

impl Sender {
    fn start(target: &str, port: u16) -> Option<Sender> {
        if !Path::new(SENDER).is_file() {
            testkit::skip::required(format!("{SENDER} missing (apt-get install fence-agents)"));
            return None;
        }
        let mut cmd = Command::new(SENDER);
        if target.contains(':') {
            cmd.args(["-f", "ipv6"]);
        }
        let child = cmd
            .args(["-p", &port.to_string(), "-i", "1", "-c", "0", target])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fence_kdump_send");
        Some(Sender(child))
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ours(args: &[String]) -> Ran {
    run_agent("fence_kdump", args, None)
}

fn theirs(args: &[String]) -> Option<Ran> {
    if !Path::new(CLUSTERLABS).is_file() {
        testkit::skip::optional(format!(
            "{CLUSTERLABS} missing (apt-get install fence-agents): comparison not possible"
        ));
        return None;
    }
    let out = Command::new(CLUSTERLABS)
        .args(args)
        .output()
        .expect("run ClusterLabs fence_kdump");
    Some(Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn off(node: &str, port: u16, timeout: u32) -> Vec<String> {
    [
        "-o",
        "off",
        "-n",
        node,
        "-p",
        &port.to_string(),
        "-t",
        &timeout.to_string(),
    ]
    .map(String::from)
    .to_vec()
}

fn both(args: &[String]) -> Vec<(&'static str, Ran)> {
    let mut runs = vec![("ours", ours(args))];
    if let Some(r) = theirs(args) {
        runs.push(("ClusterLabs", r));
    }
    runs
}

#[test]
fn the_senders_message_ends_the_wait_ipv4_and_ipv6() {
    for (node, listen_as) in [
        ("127.0.0.1", "127.0.0.1"),
        ("::1", "::1"),
        ("localhost", "127.0.0.1"),
    ] {
        let port = free_port();
        let Some(_sender) = Sender::start(listen_as, port) else {
            return;
        };
        for (who, ran) in both(&off(node, port, 20)) {
            assert_eq!(ran.code, Some(0), "{who} {node}: {ran:?}");
            assert!(
                ran.stdout.contains(&format!(
                    "[debug]: received valid message from '{listen_as}'"
                )),
                "{who} {node}: {ran:?}"
            );
        }
    }
}

#[test]
fn several_nodes_and_stdin_as_the_fencer_calls_it() {
    let port = free_port();
    let Some(_sender) = Sender::start("::1", port) else {
        return;
    };
    // One name per ring; the message comes on the second. (ClusterLabs refuses to mix
    // IPv4 and IPv6 nodes, so this is ours only.)
    let ran = run_agent::<&str>(
        "fence_kdump",
        &[],
        Some(&format!(
            "action=off\nnodename=127.0.0.1,::1\nipport={port}\ntimeout=20\nport=node1\n"
        )),
    );
    assert_eq!(ran.code, Some(0), "{ran:?}");
    assert!(
        ran.stdout.contains("waiting for message from '127.0.0.1'"),
        "{ran:?}"
    );
    assert!(
        ran.stdout.contains("received valid message from '::1'"),
        "{ran:?}"
    );
}

#[test]
fn no_sender_means_exit_1_after_the_timeout() {
    let port = free_port();
    for (who, ran) in both(&off("127.0.0.1", port, 2)) {
        assert_eq!(ran.code, Some(1), "{who}: {ran:?}");
        assert!(
            ran.stdout.contains("timeout after 2 seconds"),
            "{who}: {ran:?}"
        );
    }
}

#[test]
fn a_message_from_another_address_is_discarded() {
    let port = free_port();
    let Some(_sender) = Sender::start("127.0.0.1", port) else {
        return;
    };
    // The node is 127.0.0.2; the sender's datagrams come from 127.0.0.1.
    let mut args = off("127.0.0.2", port, 3);
    args.push("-v".into());
    for (who, ran) in both(&args) {
        assert_eq!(ran.code, Some(1), "{who}: {ran:?}");
        assert!(
            ran.stdout.contains("discard message from '127.0.0.1'")
                || ran.stderr.contains("discard message from '127.0.0.1'"),
            "{who}: {ran:?}"
        );
    }
}

#[test]
fn bad_magic_and_bad_version_are_discarded() {
    let port = free_port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let crafted = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let bad_magic = fence_agents::agents::kdump::encode(0x1234_5678, 1);
        let bad_version =
            fence_agents::agents::kdump::encode(fence_agents::agents::kdump::MAGIC, 2);
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = s.send_to(&bad_magic, ("127.0.0.1", port));
            let _ = s.send_to(&bad_version, ("127.0.0.1", port));
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    let mut args = off("127.0.0.1", port, 2);
    args.push("-vv".into());
    for (who, ran) in both(&args) {
        assert_eq!(ran.code, Some(1), "{who}: {ran:?}");
        let all = format!("{}{}", ran.stdout, ran.stderr);
        assert!(
            all.contains("invalid magic number '0x12345678'"),
            "{who}: {ran:?}"
        );
        assert!(
            all.contains("invalid message version '0x2'"),
            "{who}: {ran:?}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = crafted.join();
}

#[test]
fn other_actions_and_bad_options_exit_as_clusterlabs() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["-o", "monitor"],
        vec!["-o", "validate-all"],
        vec!["-o", "metadata"],
        vec!["-o", "status", "-n", "127.0.0.1"],
        vec!["-o", "reboot", "-n", "127.0.0.1"],
        vec!["-o", "off"],
        vec!["-o", "off", "-n", "127.0.0.1", "-t", "0"],
        vec!["-o", "off", "-n", "127.0.0.1", "-p", "0"],
        vec!["-o", "off", "-n", "127.0.0.1", "-f", "ipx"],
        vec!["-o", "off", "-n", "no-such-host.invalid", "-t", "1"],
        vec!["-V"],
        vec!["-h"],
        vec!["--bogus"],
    ];
    for case in cases {
        let args: Vec<String> = case.iter().map(|s| s.to_string()).collect();
        let runs = both(&args);
        let (_, mine) = &runs[0];
        assert!(matches!(mine.code, Some(0 | 1)), "{case:?}: {mine:?}");
        if let Some((_, cl)) = runs.get(1) {
            assert_eq!(
                mine.code, cl.code,
                "{case:?}: ours {mine:?} ClusterLabs {cl:?}"
            );
        }
    }
    let meta = ours(&["-o".into(), "metadata".into()]);
    if let Some(cl) = theirs(&["-o".into(), "metadata".into()]) {
        assert_eq!(meta.stdout, cl.stdout, "metadata identical to ClusterLabs'");
    }
}
