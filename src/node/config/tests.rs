//! The node configuration: a full example, defaults, and every refusal.

use super::*;
use crate::cluster::quorum::TieBreaker;

const GOOD: &str = r#"
[cluster]
id = 42
key-file = "/etc/palisade/authkey"
port = 5500
node = "node1"

[timers]
keepalive = "200ms"
deadtime = "1s"
initdead = "3s"

[quorum]
auto-tie-breaker = ["node2", "node1"]
no-quorum-policy = "suicide"

[fencing]
action = "off"
race-delay = "3s"
self-fence = "record:/tmp/sf"

[[node]]
name = "node1"
id = 1
addresses = ["10.0.0.1", "10.1.0.1"]
fence-agent = "fence_dummy"
fence-params = { status_file = "/tmp/n1", verbose = true, delay = 0 }

[[node]]
name = "node2"
id = 2
addresses = ["10.0.0.2", "10.1.0.2"]
votes = 2
fence-agent = "/usr/sbin/fence_dummy"

[[resource]]
name = "db"
agent = "ocf:heartbeat:Dummy"
params = { state = "/run/db.state" }
allowed = ["node2", "node1"]
priority = 10
monitor-interval = "2s"
"#;

fn key(_: &std::path::Path) -> Result<Vec<u8>, String> {
    Ok(b"0123456789abcdef".to_vec())
}

fn parse_ok(text: &str, local: Option<&str>) -> NodeConfig {
    match parse(text, local, key) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn err(text: &str) -> String {
    match parse(text, None, key) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn full_example() {
    let c = parse_ok(GOOD, None);
    assert_eq!((c.cluster_id, c.port, c.me), (42, 5500, 1));
    assert_eq!(c.rings(), 2);
    assert_eq!(c.timers.warntime, Duration::from_millis(500));
    assert_eq!(c.quorum.votes, [(1, 1), (2, 2)].into());
    assert_eq!(c.quorum.tie_breaker, TieBreaker::List(vec![2, 1]));
    assert_eq!(c.quorum.no_quorum_policy, NoQuorumPolicy::Fence);
    assert_eq!(c.fencing.action, FenceAction::Off);
    assert_eq!(
        c.fencing.self_fence,
        SelfFenceMode::Record("/tmp/sf".into())
    );
    let fence = c.nodes[0].fence.clone().expect("device");
    assert_eq!(fence.spec.params["verbose"], "1");
    assert_eq!(fence.spec.params["delay"], "0");
    assert_eq!(fence.kind, DeviceKind::Power);
    let db = &c.resources[0];
    assert_eq!(
        (db.provider.as_str(), db.kind.as_str()),
        ("heartbeat", "Dummy")
    );
    // `allowed` became location preferences in that order (see config_placement.rs)
    let scores: Vec<(String, String)> = c
        .placement
        .locations
        .iter()
        .filter_map(|l| match &l.target {
            crate::placement::config::LocationTarget::Node { node, score } => {
                Some((node.clone(), score.to_string()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        scores,
        vec![("node1".into(), "1".into()), ("node2".into(), "2".into())]
    );
    assert_eq!(c.priorities()["db"], 10);
    assert_eq!(parse_ok(GOOD, Some("node2")).me, 2, "--node overrides");
}

#[test]
fn defaults_follow_heartbeat_and_pacemaker() {
    let text = r#"
[cluster]
id = 1
key-file = "/k"
[fencing]
enabled = false
[[node]]
name = "a"
id = 1
addresses = ["127.0.0.1"]
"#;
    let c = parse_ok(text, Some("a"));
    assert_eq!(c.port, DEFAULT_PORT);
    assert_eq!(c.timers.keepalive, Duration::from_secs(1));
    assert_eq!(c.timers.deadtime, Duration::from_secs(30));
    assert_eq!(c.timers.warntime, Duration::from_secs(15));
    assert_eq!(c.timers.initdead, Duration::from_secs(30));
    assert_eq!(c.quorum.no_quorum_policy, NoQuorumPolicy::Stop);
    assert_eq!(c.fencing.action, FenceAction::Reboot);
    assert!(c.fencing.startup_fencing);
    assert_eq!(c.ocf_root, PathBuf::from(DEFAULT_OCF_ROOT));
    assert_eq!(
        default_initdead(Duration::from_secs(2)),
        Duration::from_secs(12)
    );
    assert_eq!(
        default_initdead(Duration::from_secs(8)),
        Duration::from_secs(16)
    );
}

#[test]
fn refusals_name_the_problem() {
    let cases: &[(&str, &str, &str)] = &[
        ("keepalive = \"200ms\"", "keepalive = \"600ms\"", "deadtime"),
        ("initdead = \"3s\"", "initdead = \"500ms\"", "initdead"),
        (
            "keepalive = \"200ms\"",
            "keepalive = \"fast\"",
            "not a time span",
        ),
        (
            "no-quorum-policy = \"suicide\"",
            "no-quorum-policy = \"panic\"",
            "no-quorum-policy",
        ),
        ("node = \"node1\"", "node = \"node9\"", "not a configured"),
        (
            "action = \"off\"",
            "action = \"on\"",
            "expected off or reboot",
        ),
        (
            "\"10.1.0.2\"]\nvotes",
            "\"10.1.0.x\"]\nvotes",
            "not an IP address",
        ),
        (
            "\"10.0.0.2\", \"10.1.0.2\"",
            "\"10.0.0.2\"",
            "one address per ring",
        ),
        ("ocf:heartbeat:Dummy", "lsb:Dummy", "[[resource]] db params"),
        (
            "ocf:heartbeat:Dummy",
            "upstart:Dummy",
            "[[resource]] db agent",
        ),
        (
            "ocf:heartbeat:Dummy",
            "ocf:../x:Dummy",
            "expected ocf:PROVIDER:TYPE",
        ),
        (
            "ocf:heartbeat:Dummy",
            "ocf:heartbeat:.x",
            "may not start with '.'",
        ),
        (
            "port = 5500",
            "port = 5500\nlsb-dir = \"init.d\"",
            "lsb-dir",
        ),
        (
            "port = 5500",
            "port = 5500\nsystemctl = \"systemctl\"",
            "systemctl",
        ),
        (
            "allowed = [\"node2\", \"node1\"]",
            "allowed = [\"nodeX\"]",
            "not a configured node",
        ),
        (
            "[\"node2\", \"node1\"]\nno-quorum",
            "[\"nodeZ\"]\nno-quorum",
            "not a configured node",
        ),
        (
            "self-fence = \"record:/tmp/sf\"",
            "self-fence = \"recorder\"",
            "kernel or record",
        ),
        ("id = 2\n", "id = 1\n", "used twice"),
        ("port = 5500", "port = 5500\nbogus = 1", "unknown field"),
        (
            "fence-agent = \"/usr/sbin/fence_dummy\"\n",
            "\n",
            "fence device",
        ),
    ];
    for (from, to, needle) in cases {
        assert!(GOOD.contains(from), "test case does not apply: {from}");
        let text = GOOD.replacen(from, to, 1);
        let e = err(&text);
        assert!(e.contains(needle), "{from} -> {to}: {e}");
    }
    let short = parse(GOOD, None, |_| Ok(b"short".to_vec()))
        .unwrap_err()
        .to_string();
    assert!(short.contains("at least 16"), "{short}");
    let missing = parse(GOOD, None, |_| Err("No such file".into()))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("No such file"), "{missing}");
    let two = GOOD.replace("[quorum]", "[quorum]\ntwo-node = true\n");
    assert!(parse(&two, None, key).is_ok());
    let three = format!("{two}\n[[node]]\nname = \"node3\"\nid = 3\naddresses = [\"10.0.0.3\", \"10.1.0.3\"]\nfence-agent = \"fence_dummy\"\n");
    assert!(err(&three).contains("two-node"));
}

#[test]
fn lsb_scripts_and_systemd_units() {
    let text = GOOD
        .replace("port = 5500", "port = 5500\nlsb-dir = \"/opt/init.d\"")
        .replace(
            "agent = \"ocf:heartbeat:Dummy\"\nparams = { state = \"/run/db.state\" }",
            "agent = \"lsb:postgresql\"",
        )
        + "[[resource]]\nname = \"web\"\nagent = \"systemd:nginx\"\n";
    let c = parse_ok(&text, None);
    let (db, web) = (&c.resources[0], &c.resources[1]);
    assert_eq!(
        (db.class, db.kind.as_str()),
        (AgentClass::Lsb, "postgresql")
    );
    assert_eq!(db.provider, "");
    assert_eq!(
        (web.class, web.kind.as_str()),
        (AgentClass::Systemd, "nginx")
    );
    assert_eq!(c.classes.lsb_dir, PathBuf::from("/opt/init.d"));
    assert_eq!(c.classes.systemctl, None);
    let fake = text.replace("port = 5500", "port = 5500\nsystemctl = \"/t/systemctl\"");
    assert_eq!(
        parse_ok(&fake, None).classes.systemctl,
        Some(PathBuf::from("/t/systemctl"))
    );
    assert_eq!(
        parse_ok(GOOD, None).classes.lsb_dir,
        PathBuf::from("/etc/init.d")
    );
    let e = err(&text.replace("systemd:nginx", "systemd:"));
    assert!(e.contains("[[resource]] web agent"), "{e}");
}

#[test]
fn control_characters_never_reach_an_agent() {
    // issue 11, defect 2: a line break in a fence parameter or a node name would add a
    // line to the agent's stdin (`action=on` after `action=off`).
    for (from, to) in [
        (
            "status_file = \"/tmp/n1\"",
            "status_file = \"/tmp/n1\\naction=on\"",
        ),
        (
            "status_file = \"/tmp/n1\"",
            "status_file = \"/tmp/n1\\raction=on\"",
        ),
        (
            "status_file = \"/tmp/n1\"",
            "status_file = \"/tmp/n1\\u0000\"",
        ),
        ("status_file = \"/tmp/n1\"", "\"action=on\" = \"1\""),
        ("name = \"node2\"", "name = \"node2\\u0000\""),
        ("name = \"node2\"", "name = \"node2\\u0085\""),
        ("state = \"/run/db.state\"", "state = \"/run/db\\u001b[2J\""),
    ] {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replace(from, to);
        let message = err(&text);
        assert!(
            !message.chars().any(char::is_control),
            "escaped in the message: {message:?}"
        );
    }
}
