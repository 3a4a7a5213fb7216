//! `palisade fence --dry-run` through `palisade daemon` against real BMCs: node1's level 1
//! is one OpenIPMI `ipmi_sim`, level 2 another, both driven by our fence_ipmilan. With
//! both up, level 1 would act; with the first BMC stopped, level 2 would; with both
//! stopped, no level would (exit 10). Throughout, neither BMC executed a single `set`
//! (power) request, both still report power on, and the fence history stays empty.
//! Everything on 127.0.0.1, stopped by PID.

mod common;
mod common_fencer;

use common::Bmc;
use common_fencer::{built_binary, show, Daemon};
use serde_json::Value;

fn device(name: &str, bmc: &Bmc) -> String {
    format!(
        r#"
[[device]]
name = "{name}"
agent = "{ipmilan}"
params = {{ ip = "127.0.0.1", ipport = {port}, username = "{user}", password = "{pass}", lanplus = 1, cipher = 3, power_wait = 0, login_timeout = 2, power_timeout = 5, pcmk_host_list = "node1", pcmk_off_timeout = "8s", pcmk_monitor_timeout = "8s", pcmk_status_timeout = "8s", pcmk_delay_max = "3s" }}
"#,
        ipmilan = built_binary("fence_ipmilan").display(),
        port = bmc.port,
        user = common::BMC_USER,
        pass = common::BMC_PASS,
    )
}

fn config(bmc1: &Bmc, bmc2: &Bmc) -> String {
    format!(
        r#"
[fencing]
fencing-timeout = "60s"
{}{}
[[level]]
index = 1
target = "node1"
devices = ["bmc-a"]

[[level]]
index = 2
target = "node1"
devices = ["bmc-b"]
"#,
        device("bmc-a", bmc1),
        device("bmc-b", bmc2)
    )
}

fn dry_run(daemon: &Daemon) -> (Option<i32>, Value) {
    let out = daemon.cli(&["fence", "node1", "--action", "off", "--dry-run", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("dry-run JSON: {e}\n{}", show(&out)));
    (out.status.code(), report)
}

fn probes(report: &Value, device: &str) -> Vec<(String, bool)> {
    report["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter(|d| d["device"] == device)
        .flat_map(|d| d["probes"].as_array().cloned().unwrap_or_default())
        .map(|p| {
            (
                p["action"].as_str().unwrap_or_default().to_string(),
                p["ok"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

fn assert_untouched(bmc: &Bmc) {
    assert!(bmc.power_file(), "the BMC's power changed");
    assert_eq!(
        bmc.set_actions(),
        Vec::<String>::new(),
        "a power request reached the BMC"
    );
}

#[test]
fn dry_run_names_the_level_that_would_act_and_never_changes_power() {
    let bmc1 = Bmc::start(true);
    let bmc2 = Bmc::start(true);
    bmc1.clear_actions();
    bmc2.clear_actions();
    let daemon = Daemon::start("dry-run", "", &config(&bmc1, &bmc2));

    // Healthy: level 1 would act; the worst case is both levels at their budget with
    // their longest delays (3 s + 8 s, twice).
    let (code, report) = dry_run(&daemon);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["would_act"]["level"], 1, "{report}");
    assert_eq!(report["would_act"]["devices"][0], "bmc-a", "{report}");
    assert_eq!(
        probes(&report, "bmc-a"),
        [("monitor".to_string(), true), ("status".to_string(), true)]
    );
    assert_eq!(report["worst_case_ms"], 22_000, "{report}");
    let statuses: Vec<&Value> = report["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .flat_map(|d| d["probes"].as_array().expect("probes"))
        .filter(|p| p["action"] == "status")
        .collect();
    assert!(statuses.iter().all(|p| p["exit"] == 0), "{report}");
    assert!(!bmc1.actions().is_empty(), "the BMC was never asked");
    assert_untouched(&bmc1);
    assert_untouched(&bmc2);

    // The readable form names the level and the worst case.
    let out = daemon.cli(&["fence", "node1", "--action", "off", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("through level 1 (bmc-a)"), "{text}");
    assert!(text.contains("worst case: 22.0s"), "{text}");

    // The first BMC is down: level 1 fails, level 2 would act.
    drop(bmc1);
    let (code, report) = dry_run(&daemon);
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["would_act"]["level"], 2, "{report}");
    assert_eq!(report["levels"][0]["ok"], false, "{report}");
    assert_eq!(
        probes(&report, "bmc-a"),
        [
            ("monitor".to_string(), false),
            ("status".to_string(), false)
        ]
    );
    assert_untouched(&bmc2);

    // Both down: no level would act, the dry run's own exit code.
    drop(bmc2);
    let (code, report) = dry_run(&daemon);
    assert_eq!(code, Some(10), "{report}");
    assert_eq!(report["would_act"], Value::Null, "{report}");

    // Nothing was fenced: the history is empty.
    let out = daemon.cli(&["history", "--json"]);
    let history: Value = serde_json::from_slice(&out.stdout).expect("history JSON");
    assert_eq!(history["entries"], Value::Array(Vec::new()), "{history}");
}

#[test]
fn the_api_answers_dry_run_and_refuses_bad_input() {
    let bmc1 = Bmc::start(true);
    let bmc2 = Bmc::start(true);
    let daemon = Daemon::start("dry-run-api", "", &config(&bmc1, &bmc2));
    let reply: Value = serde_json::from_str(
        &daemon.raw(r#"{"v":1,"id":1,"request":"dry-run","target":"node1","action":"reboot"}"#),
    )
    .expect("reply JSON");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["would_act"]["level"], 1, "{reply}");
    assert_eq!(reply["result"]["action"], "reboot", "{reply}");
    let bad: Value = serde_json::from_str(
        &daemon.raw(r#"{"v":1,"id":2,"request":"dry-run","target":"node1\naction=off"}"#),
    )
    .expect("reply JSON");
    assert_eq!(bad["error"]["code"], "invalid", "{bad}");
    // A node with no device: answered, no level.
    let none: Value = serde_json::from_str(
        &daemon.raw(r#"{"v":1,"id":3,"request":"dry-run","target":"nobody"}"#),
    )
    .expect("reply JSON");
    assert_eq!(none["result"]["would_act"], Value::Null, "{none}");
    assert!(none["result"]["refused"].is_string(), "{none}");
    assert_untouched(&bmc1);
    assert_untouched(&bmc2);
}
