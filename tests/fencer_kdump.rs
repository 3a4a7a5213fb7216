//! fence_kdump as topology level 1 before a power agent, through `palisade daemon`:
//! with ClusterLabs' `fence_kdump_send` playing the crashed node's kdump kernel, level 1
//! succeeds and the power device (fence_dummy, level 2) is never touched; without it,
//! level 1 fails after its timeout and level 2 powers the node off.
//!
//! The target is `localhost`, so the `nodename=` the fencer passes resolves to 127.0.0.1;
//! each test listens on its own free UDP port; the sender is ours, stopped by its PID.

mod common_fencer;

use common_fencer::*;
use serde_json::Value;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const SENDER: &str = "/usr/libexec/fence-agents/fence_kdump_send";

fn free_port() -> u16 {
    loop {
        let port = UdpSocket::bind("0.0.0.0:0")
            .and_then(|s| s.local_addr())
            .expect("bind")
            .port();
        if UdpSocket::bind(("::", port)).is_ok() {
            return port;
        }
    }
}

struct Sender(Child);

impl Drop for Sender {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(port: u16, node: &Path) -> String {
    format!(
        "[[device]]\nname = \"kdump\"\nagent = \"{}\"\nparams = {{ ipport = \"{port}\", timeout = \"3\", pcmk_host_list = \"localhost\", pcmk_off_retries = 1 }}\n\n\
         [[device]]\nname = \"pdu\"\nagent = \"{}\"\nparams = {{ status_file = \"{}\", pcmk_host_list = \"localhost\" }}\n\n\
         [[level]]\nindex = 1\ntarget = \"localhost\"\ndevices = \"kdump\"\n\n\
         [[level]]\nindex = 2\ntarget = \"localhost\"\ndevices = \"pdu\"\n",
        built_binary("fence_kdump").display(),
        our_dummy().display(),
        node.display()
    )
}

fn fence(daemon: &Daemon) -> Value {
    let out = daemon.cli(&["fence", "localhost", "--action", "off", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        show(&out),
        daemon.log()
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)))
}

#[test]
fn kdump_message_satisfies_level_one_and_the_power_device_stays_on() {
    if !Path::new(SENDER).is_file() {
        testkit::skip::required(format!("{SENDER} missing (apt-get install fence-agents)"));
        return;
    }
    let files = TempDir::new("kdump-level-files");
    let node = status_file(&files, "node", "on");
    let port = free_port();
    let _sender = Sender(
        Command::new(SENDER)
            .args(["-p", &port.to_string(), "-i", "1", "-c", "0", "127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fence_kdump_send"),
    );
    let daemon = Daemon::start("kdump-level", "", &config(port, &node));
    let result = fence(&daemon);
    assert_eq!(result["level"], 1, "{result}");
    assert_eq!(result["devices"], serde_json::json!(["kdump"]));
    assert_eq!(
        read_state(&node),
        "on",
        "the dumping node was not powered off"
    );
}

#[test]
fn no_kdump_message_falls_through_to_the_power_device() {
    let files = TempDir::new("kdump-fallback-files");
    let node = status_file(&files, "node", "on");
    let daemon = Daemon::start("kdump-fallback", "", &config(free_port(), &node));
    let result = fence(&daemon);
    assert_eq!(result["level"], 2, "{result}");
    assert_eq!(result["devices"], serde_json::json!(["pdu"]));
    assert_eq!(read_state(&node), "off");
    let out = daemon.cli(&["history", "localhost", "--json"]);
    let history: Value = serde_json::from_slice(&out.stdout).expect("history json");
    let attempts = attempts(&history["entries"][0]);
    assert_eq!(
        attempts,
        [("kdump".to_string(), false), ("pdu".to_string(), true)],
        "level 1 (kdump) ran and failed after its timeout, then level 2"
    );
}
