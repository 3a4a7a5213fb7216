//! Tests of the TOML configuration parser.
use super::*;
use crate::fencer::device::{AgentAction, HostCheck};

const FULL: &str = r#"
[fencing]
stonith-timeout = "90s"
fencing_action = "off"
priority-fencing-delay = 10
concurrent-fencing = false
stonith-max-attempts = 3

[daemon]
socket = "/tmp/x.sock"
socket-mode = "0666"
allowed-group = "haclient"
history = "/tmp/h.jsonl"
metrics-listen = "127.0.0.1:9464"
node-name = "self"

[[device]]
name = "ipmi1"
agent = "fence_ipmilan"
priority = 5
params = { ip = "127.0.0.1", ipport = 623, lanplus = true, pcmk_host_list = "node1", pcmk_off_timeout = "20s" }

[[device]]
name = "pdu"
agent = "/usr/local/sbin/fence_pdu"
[device.params]
pcmk_host_map = "node1:1;node2:2"

[[level]]
index = 1
target = "node1"
devices = ["ipmi1"]

[[fencing-level]]
index = 2
target-pattern = "^node[0-9]$"
devices = "pdu,ipmi1"

[[level]]
index = 1
target-attribute = "rack"
target-value = "r1"
devices = ["pdu"]

[[node]]
name = "db1"
attributes = { rack = "r1" }
"#;

#[test]
fn full_example() {
    let c = parse_config(FULL).expect("valid config");
    assert_eq!(c.options.timeout, Duration::from_secs(90));
    assert_eq!(c.options.action, FenceAction::Off);
    assert_eq!(c.options.priority_fencing_delay, Duration::from_secs(10));
    assert!(!c.options.concurrent);
    assert_eq!(c.options.max_attempts, 3);
    assert_eq!(c.daemon.socket_mode, 0o666);
    assert_eq!(c.daemon.allowed_group.as_deref(), Some("haclient"));
    assert_eq!(c.daemon.metrics_listen.map(|a| a.port()), Some(9464));
    assert_eq!(c.devices.len(), 2);
    let ipmi = &c.devices[0];
    assert_eq!(ipmi.priority, 5);
    assert_eq!(ipmi.params.get("ipport").map(String::as_str), Some("623"));
    assert_eq!(ipmi.params.get("lanplus").map(String::as_str), Some("1"));
    assert!(!ipmi.params.contains_key("pcmk_host_list"));
    assert_eq!(
        ipmi.action(AgentAction::Off).timeout,
        Duration::from_secs(20)
    );
    assert_eq!(c.devices[1].host_check, HostCheck::StaticList);
    assert_eq!(c.levels.len(), 3);
    assert_eq!(
        c.nodes
            .get("db1")
            .and_then(|a| a.get("rack"))
            .map(String::as_str),
        Some("r1")
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let topo = c.topology().expect("valid topology");
    let (_, levels) = topo.levels_for("node3", &c.nodes).expect("pattern");
    assert_eq!(levels[0].devices, ["pdu", "ipmi1"]);
}

#[test]
fn empty_config_gets_defaults() {
    let c = parse_config("").expect("valid");
    assert_eq!(c.options, FencingOptions::default());
    assert_eq!(c.daemon, DaemonSettings::default());
    assert!(c.devices.is_empty());
}

#[test]
fn new_names_win_over_old_ones() {
    let c = parse_config("[fencing]\nfencing-timeout = \"30s\"\nstonith-timeout = \"99s\"\n")
        .expect("valid");
    assert_eq!(c.options.timeout, Duration::from_secs(30));
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn errors_are_specific() {
    let cases: &[(&str, &str)] = &[
        ("[fencing]\nstonith-timout = 1\n", "unknown option"),
        ("[fencing]\nfencing-action = \"on\"\n", "reboot or off"),
        ("[fencing]\nfencing-timeout = \"later\"\n", "time span"),
        ("[daemon]\nmetrics-listen = \"0.0.0.0:1\"\n", "loopback"),
        ("[daemon]\nsocket-mode = \"rw\"\n", "octal"),
        ("[daemon]\nsockets = \"x\"\n", "unknown field"),
        ("[[device]]\nname = \"a\"\nagent = \"ls\"\n", "fence_*"),
        (
            "[[device]]\nname = \"a\"\nagent = \"fence_x\"\n[[device]]\nname = \"a\"\nagent = \"fence_x\"\n",
            "defined twice",
        ),
        (
            "[[device]]\nname = \"a\"\nagent = \"fence_x\"\nparams = { x = [1] }\n",
            "string, number or boolean",
        ),
        ("[[level]]\nindex = 1\ndevices = \"a\"\n", "exactly one"),
        ("[[level]]\nindex = 12\ntarget = \"n\"\ndevices = \"a\"\n", "outside 1-9"),
        ("not toml at all", "expected"),
        (
            "[fencing]\nfencing-max-delay = \"10s\"\n[[device]]\nname = \"a\"\nagent = \"fence_x\"\nparams = { pcmk_delay_max = \"11s\" }\n",
            "exceeds fencing-max-delay 10s",
        ),
        (
            "[fencing]\nfencing-max-timeout = \"10s\"\nfencing-timeout = \"60s\"\n",
            "fencing-max-timeout 10s",
        ),
        (
            "[[device]]\nname = \"a\"\nagent = \"fence_x\"\nparams = { port = \"1\\naction=on\" }\n",
            "control character",
        ),
    ];
    for (text, needle) in cases {
        let err = parse_config(text).expect_err(text).to_string();
        assert!(err.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn a_level_naming_a_missing_device_is_refused_with_its_line() {
    let text = "[[device]]\nname = \"pdu\"\nagent = \"fence_x\"\n\n[[level]]\nindex = 1\ntarget = \"node1\"\ndevices = [\"pdu\"]\n\n[[level]]\nindex = 2\ntarget = \"node1\"\ndevices = \"pdu,ghost\"\n";
    match parse_config(text) {
        Err(ConfigError::UnknownLevelDevice {
            line,
            index,
            device,
            ..
        }) => assert_eq!((line, index, device.as_str()), (13, 2, "ghost")),
        other => panic!("{other:?}"),
    }
}
