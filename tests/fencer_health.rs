//! Continuous device health through `palisade daemon` against a real BMC (OpenIPMI
//! `ipmi_sim`, our fence_ipmilan): the device's `monitor` runs every second
//! (`pcmk_monitor_interval`); when the BMC is stopped (SIGSTOP: it answers nothing) the
//! device turns failing — an event, the metrics, `palisade devices --json`, the journal
//! — and node1, whose only level uses it, reads "cannot be fenced"; node2, with a second
//! level, stays fenceable. When the BMC runs again the device is healthy again. A restart
//! keeps what the journal remembers (last success, failures in a row), and a level
//! registered over the API that gives node1 a path again is announced at once. No timed
//! assertions: each change is awaited as an event (or state) with a generous deadline.

mod common;
mod common_fencer;

use std::time::Duration;

use common::Bmc;
use common_fencer::{built_binary, free_tcp_port, sample, scrape, show, Daemon, Subscription};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn config(bmc: &Bmc) -> String {
    let device = |name: &str, interval: &str| {
        format!(
            r#"
[[device]]
name = "{name}"
agent = "{ipmilan}"
params = {{ ip = "127.0.0.1", ipport = {port}, username = "{user}", password = "{pass}", lanplus = 1, cipher = 3, login_timeout = 2, pcmk_host_list = "node1,node2", pcmk_monitor_interval = "{interval}", pcmk_monitor_timeout = "15s" }}
"#,
            ipmilan = built_binary("fence_ipmilan").display(),
            port = bmc.port,
            user = common::BMC_USER,
            pass = common::BMC_PASS,
        )
    };
    format!(
        r#"{}{}
[[level]]
index = 1
target = "node1"
devices = ["bmc"]

[[level]]
index = 1
target = "node2"
devices = ["bmc"]

[[level]]
index = 2
target = "node2"
devices = ["bmc-unchecked"]
"#,
        device("bmc", "1s"),
        device("bmc-unchecked", "0")
    )
}

/// The ipmi_sim this test started (its fixture's PID file), paused or resumed.
fn signal_bmc(bmc: &Bmc, signal: i32) {
    let pid: i32 = std::fs::read_to_string(bmc.dir.join("ipmi_sim.pid"))
        .expect("ipmi_sim.pid")
        .trim()
        .parse()
        .expect("pid");
    // SAFETY: kill(2) on the PID of the simulator this test started.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "signal {signal} to {pid}"
    );
}

fn health_event(device: &'static str, health: &'static str) -> impl FnMut(&Value) -> bool {
    move |e| e["event"] == "device-health" && e["device"] == device && e["health"] == health
}

fn devices_json(daemon: &Daemon) -> Value {
    let out = daemon.cli(&["devices", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    serde_json::from_slice(&out.stdout).expect("devices JSON")
}

fn device<'a>(devices: &'a Value, name: &str) -> &'a Value {
    devices["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["name"] == name)
        .expect("device listed")
}

fn fenceable(devices: &Value, target: &str) -> Option<bool> {
    devices["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["target"] == target)
        .and_then(|t| t["fenceable"].as_bool())
}

#[test]
fn a_stopped_bmc_turns_its_device_failing_and_a_running_one_healthy() {
    let bmc = Bmc::start(true);
    let metrics_port = free_tcp_port();
    let extra = format!("metrics-listen = \"127.0.0.1:{metrics_port}\"");
    let daemon = Daemon::start("health", &extra, &config(&bmc));
    let mut events = Subscription::open(&daemon.socket);

    // Healthy first.
    let first = events.wait_for(WAIT, health_event("bmc", "healthy"));
    assert_eq!(first["previous"], "unknown", "{first}");
    let body = scrape(metrics_port);
    assert_eq!(
        sample(&body, r#"palisade_device_healthy{device="bmc"}"#),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, r#"palisade_target_fenceable{target="node1"}"#),
        Some(1.0),
        "{body}"
    );
    assert!(
        sample(
            &body,
            r#"palisade_device_last_success_timestamp_seconds{device="bmc"}"#
        )
        .is_some_and(|t| t > 1.0e9),
        "{body}"
    );
    assert_eq!(
        sample(
            &body,
            r#"palisade_device_health_check_failures_total{device="bmc"}"#
        ),
        Some(0.0),
        "{body}"
    );
    // Every metric docs/monitoring.md names (its alert rules included) is exported.
    let doc = std::fs::read_to_string(common::repo_root().join("docs/monitoring.md"))
        .expect("docs/monitoring.md");
    let mut named: Vec<&str> = doc
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("palisade_") && !w.ends_with('_'))
        .collect();
    named.sort_unstable();
    named.dedup();
    assert!(named.len() >= 5, "{named:?}");
    for name in named {
        assert!(
            body.lines()
                .any(|l| l.starts_with(&format!("# TYPE {name} "))),
            "{name} (docs/monitoring.md) is not exported:\n{body}"
        );
    }
    // The unchecked device (interval 0) never gets a value.
    assert_eq!(
        sample(&body, r#"palisade_device_healthy{device="bmc-unchecked"}"#),
        None
    );

    // The BMC stops answering: the device fails, node1 cannot be fenced, node2 can.
    signal_bmc(&bmc, libc::SIGSTOP);
    let failing = events.wait_for(WAIT, health_event("bmc", "failing"));
    assert_eq!(failing["previous"], "healthy", "{failing}");
    assert!(
        failing["consecutive_failures"].as_u64() >= Some(1),
        "{failing}"
    );
    let unfenceable = events.wait_for(WAIT, |e| {
        e["event"] == "target-fenceable" && e["target"] == "node1"
    });
    assert_eq!(unfenceable["fenceable"], false, "{unfenceable}");

    let devices = devices_json(&daemon);
    let health = &device(&devices, "bmc")["health"];
    assert_eq!(health["status"], "failing", "{devices}");
    assert!(health["last_error"].is_string(), "{devices}");
    assert!(health["last_success"].is_u64(), "{devices}");
    assert!(
        health["consecutive_failures"].as_u64() >= Some(1),
        "{devices}"
    );
    assert_eq!(
        device(&devices, "bmc-unchecked")["health"]["status"],
        "unknown"
    );
    assert_eq!(fenceable(&devices, "node1"), Some(false), "{devices}");
    assert_eq!(fenceable(&devices, "node2"), Some(true), "{devices}");

    let body = scrape(metrics_port);
    assert_eq!(
        sample(&body, r#"palisade_device_healthy{device="bmc"}"#),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, r#"palisade_target_fenceable{target="node1"}"#),
        Some(0.0),
        "{body}"
    );
    assert_eq!(
        sample(&body, r#"palisade_target_fenceable{target="node2"}"#),
        Some(1.0),
        "{body}"
    );
    assert!(
        sample(
            &body,
            r#"palisade_device_health_check_failures_total{device="bmc"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "{body}"
    );

    // The readable forms say it.
    let out = daemon.cli(&["devices"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("node1 CANNOT BE FENCED"), "{text}");
    let out = daemon.cli(&["query", "node1", "--json"]);
    let query: Value = serde_json::from_slice(&out.stdout).expect("query JSON");
    assert_eq!(query["fenceable"], false, "{query}");

    // The BMC runs again: healthy, node1 fenceable.
    signal_bmc(&bmc, libc::SIGCONT);
    events.wait_for(WAIT, health_event("bmc", "healthy"));
    let back = events.wait_for(WAIT, |e| {
        e["event"] == "target-fenceable" && e["target"] == "node1"
    });
    assert_eq!(back["fenceable"], true, "{back}");
    let devices = devices_json(&daemon);
    assert_eq!(
        device(&devices, "bmc")["health"]["status"],
        "healthy",
        "{devices}"
    );
    assert_eq!(device(&devices, "bmc")["health"]["consecutive_failures"], 0);

    // Every check is in the journal; the operations history is untouched by them.
    let journal = std::fs::read_to_string(&daemon.history).expect("journal");
    let checks: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("journal line"))
        .filter(|l| l["kind"] == "device-health")
        .collect();
    assert!(
        checks
            .iter()
            .any(|c| c["ok"] == false && c["device"] == "bmc"),
        "{journal}"
    );
    assert!(
        checks
            .iter()
            .any(|c| c["ok"] == true && c["device"] == "bmc"),
        "{journal}"
    );
    assert!(
        checks.iter().all(|c| c["device"] != "bmc-unchecked"),
        "{journal}"
    );
    let out = daemon.cli(&["history", "--json"]);
    let history: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    assert_eq!(history["entries"], Value::Array(Vec::new()), "{history}");
    assert!(
        bmc.set_actions().is_empty(),
        "a power request reached the BMC"
    );

    // A restart while the BMC is stopped: the journal brings back the last success
    // (no check can succeed now) and the failures count on from what it remembers.
    signal_bmc(&bmc, libc::SIGSTOP);
    events.wait_for(WAIT, health_event("bmc", "failing"));
    let before = devices_json(&daemon);
    let before = &device(&before, "bmc")["health"];
    let mut daemon = daemon;
    daemon.stop();
    daemon.spawn();
    let after = devices_json(&daemon);
    let after = &device(&after, "bmc")["health"];
    assert_eq!(after["last_success"], before["last_success"], "{after}");
    assert!(after["last_success"].is_u64(), "{after}");
    assert!(
        after["consecutive_failures"].as_u64() >= before["consecutive_failures"].as_u64(),
        "{before} -> {after}"
    );

    // Once the restarted daemon has seen the BMC fail, node1 cannot be fenced; a second
    // level registered over the API gives it a path again, announced at once.
    let down = common_fencer::wait_until(WAIT, || {
        fenceable(&devices_json(&daemon), "node1") == Some(false)
    });
    assert!(down, "node1 never read as unfenceable after the restart");
    let mut events = Subscription::open(&daemon.socket);
    let reply: Value = serde_json::from_str(&daemon.raw(
        r#"{"request":"register-level","target":{"by":"name","value":"node1"},"index":2,"devices":["bmc-unchecked"]}"#,
    ))
    .expect("reply JSON");
    assert_eq!(reply["ok"], true, "{reply}");
    let back = events.wait_for(WAIT, |e| {
        e["event"] == "target-fenceable" && e["target"] == "node1"
    });
    assert_eq!(back["fenceable"], true, "{back}");
    signal_bmc(&bmc, libc::SIGCONT);
}
