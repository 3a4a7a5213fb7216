//! Fencing through the daemon with real agents: level 1 fails → level 2 used (our
//! fence_dummy and ClusterLabs'), a hanging agent killed at its timeout with its whole
//! process group, a reboot through a two-device level (all off, then all on), and the
//! CLI's exit codes for "no device" and "timed out".

mod common_fencer;

use std::time::Duration;

use common_fencer::*;
use serde_json::Value;

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)))
}

fn dummy_device(name: &str, agent: &std::path::Path, params: &str) -> String {
    format!(
        "[[device]]\nname = \"{name}\"\nagent = \"{}\"\nparams = {{ {params} }}\n",
        agent.display()
    )
}

fn level(index: u32, target: &str, devices: &str) -> String {
    format!("[[level]]\nindex = {index}\ntarget = \"{target}\"\ndevices = \"{devices}\"\n")
}

#[test]
fn failing_level_one_falls_back_to_level_two() {
    let files = TempDir::new("topo-files");
    let node = status_file(&files, "node1", "on");
    let n = node.display();
    let agent = our_dummy();
    let body = [
        dummy_device(
            "bmc",
            &agent,
            &format!("type = \"fail\", status_file = \"{n}\", pcmk_host_list = \"node1\""),
        ),
        dummy_device(
            "pdu",
            &agent,
            &format!("status_file = \"{n}\", pcmk_host_list = \"node1\""),
        ),
        level(1, "node1", "bmc"),
        level(2, "node1", "pdu"),
    ]
    .join("\n");
    let daemon = Daemon::start("topo-ours", "", &body);
    let out = daemon.cli(&["fence", "node1", "--action", "off", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let result = json(&out);
    assert_eq!(result["status"], "done");
    assert_eq!(result["level"], 2);
    assert_eq!(result["devices"], serde_json::json!(["pdu"]));
    assert_eq!(read_state(&node), "off");

    let history = daemon.cli(&["history", "node1", "--json"]);
    let entries = json(&history)["entries"].clone();
    let attempts = entries[0]["attempts"].as_array().expect("attempts").clone();
    let summary: Vec<(String, bool)> = attempts
        .iter()
        .map(|a| {
            (
                a["device"].as_str().unwrap_or("").to_string(),
                a["ok"] == true,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("bmc".to_string(), false),
            ("bmc".to_string(), false),
            ("pdu".to_string(), true)
        ],
        "level 1 tried twice (pcmk_off_retries default 2), then level 2"
    );
    let text = daemon.cli(&["history", "node1"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("done (level 2: pdu)"), "{text}");
}

#[test]
fn clusterlabs_dummy_fails_over_to_level_two() {
    let Some(agent) = clusterlabs_dummy() else {
        return;
    };
    let files = TempDir::new("topo-cl-files");
    let node = status_file(&files, "node1", "on");
    let n = node.display();
    // ClusterLabs' type=fail waits for an "off" that never comes (timeouts disabled
    // under PCMK_service=pacemaker-fenced): the fencer's own timeout ends it.
    let body = [
        dummy_device(
            "bmc",
            &agent,
            &format!("type = \"fail\", status_file = \"{n}\", pcmk_host_list = \"node1\", pcmk_off_timeout = \"3s\", pcmk_off_retries = 1"),
        ),
        dummy_device("pdu", &agent, &format!("status_file = \"{n}\", pcmk_host_list = \"node1\", pcmk_off_timeout = \"30s\"")),
        level(1, "node1", "bmc"),
        level(2, "node1", "pdu"),
    ]
    .join("\n");
    let daemon = Daemon::start("topo-cl", "", &body);
    let out = daemon.cli(&["fence", "node1", "--action", "off", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        show(&out),
        daemon.log()
    );
    assert_eq!(json(&out)["level"], 2);
    assert_eq!(read_state(&node), "off");
}

#[test]
fn hanging_agent_is_killed_with_its_group_and_level_two_used() {
    let files = TempDir::new("topo-hang-files");
    let node = status_file(&files, "node1", "on");
    let hang = files.join("fence_hang");
    let pids = files.join("pids");
    write_script(
        &hang,
        &format!(
            "case \"$(cat)\" in *action=metadata*|*action=monitor*) exit 0 ;; esac\nsleep 300 &\necho \"$$ $!\" > {}\nsleep 300",
            pids.display()
        ),
    );
    let n = node.display();
    let body = [
        format!(
            "[[device]]\nname = \"stuck\"\nagent = \"{}\"\nparams = {{ pcmk_host_list = \"node1\", pcmk_off_timeout = \"1s\" }}\n",
            hang.display()
        ),
        dummy_device("pdu", &our_dummy(), &format!("status_file = \"{n}\", pcmk_host_list = \"node1\"")),
        level(1, "node1", "stuck"),
        level(2, "node1", "pdu"),
    ]
    .join("\n");
    let daemon = Daemon::start("topo-hang", "", &body);
    // Level 1 ends at its 1 s step timeout (the history below says "timed out"), not at
    // the agent's `sleep 300`: were the timeout ignored, this request would hang and the
    // harness's hang is the failure.
    let out = daemon.cli(&["fence", "node1", "--action", "off", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(json(&out)["level"], 2);
    let text = std::fs::read_to_string(&pids).expect("hanging agent recorded its pids");
    let ids: Vec<i32> = text
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    assert_eq!(ids.len(), 2, "{text}");
    assert!(
        wait_until(Duration::from_secs(5), || !group_alive(ids[0])),
        "process group {} survived",
        ids[0]
    );
    assert!(
        !process_alive(ids[1]),
        "the agent's background child survived"
    );
    let history = json(&daemon.cli(&["history", "node1", "--json"]));
    let first = &history["entries"][0]["attempts"][0];
    assert_eq!(first["device"], "stuck");
    assert!(
        first["outcome"]
            .as_str()
            .unwrap_or("")
            .contains("timed out"),
        "{first}"
    );
}

#[test]
fn reboot_through_two_devices_is_all_off_then_all_on() {
    let files = TempDir::new("topo-remap-files");
    let feed_a = status_file(&files, "feed-a", "on");
    let feed_b = status_file(&files, "feed-b", "on");
    let log = files.join("order");
    // Each PDU feed is a fence_dummy behind a wrapper that logs the action it got.
    let wrap = |name: &str| {
        let path = files.join(&format!("fence_{name}"));
        write_script(
            &path,
            &format!(
                "input=$(cat)\naction=$(printf '%s\\n' \"$input\" | sed -n 's/^action=//p')\n[ \"$action\" = metadata ] || [ \"$action\" = monitor ] || echo \"{name} $action\" >> {}\nprintf '%s\\n' \"$input\" | exec {}",
                log.display(),
                our_dummy().display()
            ),
        );
        path
    };
    let (a, b) = (wrap("a"), wrap("b"));
    let body = [
        dummy_device(
            "pdu-a",
            &a,
            &format!(
                "status_file = \"{}\", pcmk_host_list = \"db1\"",
                feed_a.display()
            ),
        ),
        dummy_device(
            "pdu-b",
            &b,
            &format!(
                "status_file = \"{}\", pcmk_host_list = \"db1\"",
                feed_b.display()
            ),
        ),
        level(1, "db1", "pdu-a,pdu-b"),
    ]
    .join("\n");
    let daemon = Daemon::start("topo-remap", "", &body);
    let out = daemon.cli(&["fence", "db1", "--action", "reboot", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let order = std::fs::read_to_string(&log).expect("order log");
    assert_eq!(
        order.lines().collect::<Vec<_>>(),
        ["a off", "b off", "a on", "b on"]
    );
    assert_eq!(
        (read_state(&feed_a), read_state(&feed_b)),
        ("on".into(), "on".into())
    );
}

#[test]
fn exit_codes_for_no_device_and_timeout() {
    let files = TempDir::new("topo-exit-files");
    let hang = files.join("fence_hang");
    write_script(
        &hang,
        "case \"$(cat)\" in *action=metadata*) exit 0 ;; esac\nsleep 300",
    );
    let body = format!(
        "[[device]]\nname = \"stuck\"\nagent = \"{}\"\nparams = {{ pcmk_host_list = \"node1\" }}\n",
        hang.display()
    );
    let daemon = Daemon::start("topo-exit", "", &body);
    let none = daemon.cli(&["fence", "nodeX"]);
    assert_eq!(none.status.code(), Some(105), "{}", show(&none));
    assert!(String::from_utf8_lossy(&none.stdout).contains("no device"));
    let slow = daemon.cli(&["fence", "node1", "--timeout", "1s"]);
    assert_eq!(slow.status.code(), Some(124), "{}", show(&slow));
    let me = daemon.cli(&["fence", "test-self"]);
    assert_eq!(me.status.code(), Some(1), "{}", show(&me));
    assert!(String::from_utf8_lossy(&me.stdout).contains("refusing to fence this node"));
}
