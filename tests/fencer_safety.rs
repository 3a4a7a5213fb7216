//! Fencing that cannot be blocked or made to lie (issue 11, defects 1 and 2), through a
//! running `palisade daemon`:
//! - a request with an enormous delay or timeout is refused, and a request merged into an
//!   operation that waits out a (bounded) delay is answered at its own timeout;
//! - a control character in a target, plug or device parameter never reaches an agent's
//!   stdin (a target `"nodeX\naction=on"` would power the node on while the fencer
//!   reported `off` done): refused at the API and in the configuration.
//!
//! The agents here are `fence_dummy` and a script that records its stdin; nothing leaves
//! the machine; the daemon is stopped by its PID.

mod common_fencer;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use common_fencer::*;
use serde_json::{json, Value};

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// A script agent that appends its stdin to `record` and succeeds (`list` prints nothing).
fn recording_agent(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let agent = dir.join("fence_record");
    let record = dir.join("stdin.log");
    write_script(
        &agent,
        &format!(
            "cat >> {}\necho --- >> {}\nexit 0",
            record.display(),
            record.display()
        ),
    );
    (agent, record)
}

#[test]
fn one_request_cannot_block_a_fence() {
    let files = TempDir::new("block-files");
    let state = status_file(&files, "node1", "on");
    let body = format!(
        "[fencing]\nfencing-max-delay = \"5s\"\nfencing-max-timeout = \"10min\"\n\n\
         [[device]]\nname = \"d\"\nagent = \"{}\"\nparams = {{ status_file = \"{}\", pcmk_host_list = \"node1\" }}\n",
        our_dummy().display(),
        state.display()
    );
    let daemon = Daemon::start("block", "", &body);

    // 2400 h of delay, i64::MAX ms, a timeout beyond the limit, a zero timeout: refused.
    for request in [
        json!({"request":"fence","target":"node1","action":"off","delay_ms": 8_640_000_000u64}),
        json!({"request":"fence","target":"node1","action":"off","delay_ms": i64::MAX}),
        json!({"request":"fence","target":"node1","action":"off","timeout_ms": 3_600_001u64}),
        json!({"request":"fence","target":"node1","action":"off","timeout_ms": 0}),
        json!({"request":"query","target":"node1","timeout_ms": u64::MAX}),
    ] {
        let reply = parse(&daemon.raw(&request.to_string()));
        assert_eq!(reply["ok"], false, "{request}: {reply}");
        assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
    }
    // The CLI says so too, with a non-zero exit.
    let out = daemon.cli(&["fence", "node1", "--action", "off", "--delay", "2400h"]);
    assert!(!out.status.success(), "{}", show(&out));
    assert_eq!(read_state(&state), "on", "nothing was fenced");

    // The longest delay allowed holds the operation; a second request merges into it and
    // is answered at its own 2 s timeout, not when the operation ends.
    let held = UnixStream::connect(&daemon.socket).expect("connect");
    (&held)
        .write_all(
            format!(
                "{}\n",
                json!({"id":"held","request":"fence","target":"node1","action":"off","delay_ms":5_000})
            )
            .as_bytes(),
        )
        .expect("send held request");
    let out = daemon.cli(&[
        "fence",
        "node1",
        "--action",
        "off",
        "--timeout",
        "2s",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(124), "timed out: {}", show(&out));
    let answer: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    assert_eq!(answer["status"], "failed", "{answer}");
    assert_eq!(answer["reason"]["kind"], "timed-out", "{answer}");
    assert_eq!(
        read_state(&state),
        "on",
        "still in the first request's delay"
    );

    // The held operation itself still ends (within its bounded delay).
    held.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(&held)
        .read_line(&mut line)
        .expect("held answer");
    let reply = parse(&line);
    assert_eq!(reply["id"], "held", "{reply}");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["status"], "done", "{reply}");
    assert_eq!(read_state(&state), "off");
}

/// The injections of defect 2, each through every door: the fence target, the query
/// target, a registered device's parameter value, a parameter name.
const INJECTED: [&str; 4] = [
    "nodeX\naction=on",
    "nodeX\raction=on",
    "nodeX\0action=on",
    "nodeX\u{85}action=on",
];

#[test]
fn a_control_character_never_reaches_an_agent() {
    let dir = TempDir::new("inject");
    let (agent, record) = recording_agent(&dir);
    let body = format!(
        "[[device]]\nname = \"rec\"\nagent = \"{}\"\nparams = {{ pcmk_host_check = \"none\", pcmk_action_limit = -1 }}\n",
        agent.display()
    );
    let daemon = Daemon::start("inject", "", &body);

    for target in INJECTED {
        for request in [
            json!({"request":"fence","target":target,"action":"off"}),
            json!({"request":"query","target":target}),
            json!({"request":"fence","target":"node1","action":"off","requester":target}),
        ] {
            let reply = parse(&daemon.raw(&request.to_string()));
            assert_eq!(reply["ok"], false, "{request}: {reply}");
            assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
        }
        for params in [
            json!({"pcmk_host_check":"none","port":target}),
            json!({"pcmk_host_check":"none","pcmk_host_list":target}),
            json!({"pcmk_host_check":"none","ip":target}),
        ] {
            let request =
                json!({"request":"register-device","name":"evil","agent":agent,"params":params});
            let reply = parse(&daemon.raw(&request.to_string()));
            assert_eq!(reply["ok"], false, "{request}: {reply}");
            assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
        }
    }
    // `=` in a parameter name moves the split of the line.
    for name in ["action=on", "port=3\naction", "a b", ""] {
        let request =
            json!({"request":"register-device","name":"evil","agent":agent,"params":{name: "1"}});
        let reply = parse(&daemon.raw(&request.to_string()));
        assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
    }
    let devices = parse(&daemon.raw(r#"{"request":"devices"}"#));
    let names: Vec<&str> = devices["result"]["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["rec"], "no evil device registered");
    // Registration asks the agent for its metadata (action=metadata only); nothing else
    // ran.
    let probed = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(
        probed.lines().all(|l| l == "action=metadata" || l == "---"),
        "only metadata probes ran: {probed:?}"
    );
    std::fs::remove_file(&record).ok();

    // A plain target is fenced, and the agent saw exactly one action: off.
    let reply = parse(&daemon.raw(r#"{"request":"fence","target":"nodeX","action":"off"}"#));
    assert_eq!(reply["result"]["status"], "done", "{reply}");
    let stdin = std::fs::read_to_string(&record).expect("record");
    let actions: Vec<&str> = stdin.lines().filter(|l| l.starts_with("action=")).collect();
    assert_eq!(actions, ["action=off"], "{stdin:?}");
    assert!(stdin.lines().any(|l| l == "nodename=nodeX"), "{stdin:?}");
}

#[test]
fn a_configuration_with_a_control_character_is_refused() {
    let dir = TempDir::new("inject-config");
    let (agent, record) = recording_agent(&dir);
    for (key, value) in [
        ("port", "1\naction=on"),
        ("pcmk_host_list", "node1\nnode2"),
        ("ip", "10.0.0.1\r"),
        ("passwd", "a\u{0}b"),
        ("\"action=on\"", "x"),
    ] {
        let config = dir.join("palisade.toml");
        let value = serde_json::to_string(value).expect("toml-compatible string");
        std::fs::write(
            &config,
            format!(
                "[[device]]\nname = \"d\"\nagent = \"{}\"\nparams = {{ {key} = {value} }}\n",
                agent.display()
            ),
        )
        .expect("config");
        let out = Command::new(palisade())
            .args(["validate", "--config"])
            .arg(&config)
            .output()
            .expect("palisade validate");
        assert_eq!(out.status.code(), Some(3), "{key}={value}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains('\0') && !err.contains('\r'),
            "escaped: {err:?}"
        );
    }
    assert!(!record.exists());
}
