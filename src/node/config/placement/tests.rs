//! The resource model of the node configuration: placement sections next to the node
//! sections, the `[[resource]]` shorthand, and the cross-checks.

use super::super::{parse, ConfigError, NodeConfig, DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIR};
use super::SHORTHAND_STICKINESS;
use crate::placement::config::{AgentClass, LocationTarget};
use crate::placement::Score;

const BASE: &str = r#"
[cluster]
id = 7
key-file = "/k"
node = "node1"
[[node]]
name = "node1"
id = 1
addresses = ["10.0.0.1"]
fence-agent = "fence_dummy"
[[node]]
name = "node2"
id = 2
addresses = ["10.0.0.2"]
fence-agent = "fence_dummy"
"#;

fn key(_: &std::path::Path) -> Result<Vec<u8>, String> {
    Ok(b"0123456789abcdef".to_vec())
}

fn parse_ok(extra: &str) -> NodeConfig {
    match parse(&format!("{BASE}{extra}"), None, key) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

fn err(extra: &str) -> String {
    match parse(&format!("{BASE}{extra}"), None, key) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn placement_sections_and_shorthand_live_in_one_file() {
    let c = parse_ok(
        r#"
[options]
resource-stickiness = 100
migration-threshold = 2

[[primitive]]
name = "vip"
agent = "ocf:heartbeat:IPaddr2"
params = { ip = "10.0.0.50", cidr_netmask = 24 }
op = [{ name = "monitor", interval = "5s", timeout = "30s" }, { name = "start", timeout = "40s" }]

[[primitive]]
name = "fs"
agent = "ocf:heartbeat:Dummy"

[[group]]
name = "web"
members = ["vip", "fs"]

[[location]]
id = "web-prefers-node2"
resource = "web"
node = "node2"
score = 50

[[resource]]
name = "db"
agent = "lsb:postgresql"
allowed = ["node2"]
max-failures = 4
priority = 7
monitor-interval = "3s"

[[order]]
id = "db-before-web"
first = "db"
then = "web"
"#,
    );
    let names: Vec<&str> = c.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, vec!["vip", "fs", "db"]);
    let vip = &c.resources[0];
    assert_eq!(vip.monitor_interval, std::time::Duration::from_secs(5));
    assert_eq!(vip.op_timeout, std::time::Duration::from_secs(40));
    assert_eq!(vip.params["cidr_netmask"], "24");
    assert_eq!(c.resources[1].monitor_interval, std::time::Duration::ZERO);
    let db = &c.resources[2];
    assert_eq!(db.class, AgentClass::Lsb);
    assert_eq!((db.priority, db.max_failures), (7, 4));
    assert_eq!(db.allowed, vec![2]);
    assert_eq!(c.resources[0].allowed, vec![2, 1], "web prefers node2");
    let meta = c.placement.effective_meta("db");
    assert_eq!(meta.stickiness, Score::new(SHORTHAND_STICKINESS));
    assert_eq!(c.placement.effective_meta("vip").migration_threshold, 2);
    let db_locations: Vec<(String, Score)> = c
        .placement
        .locations
        .iter()
        .filter(|l| l.resource == "db")
        .filter_map(|l| match &l.target {
            LocationTarget::Node { node, score } => Some((node.clone(), *score)),
            LocationTarget::Rule(_) => None,
        })
        .collect();
    assert_eq!(
        db_locations,
        vec![
            ("node1".to_string(), Score::MINUS_INFINITY),
            ("node2".to_string(), Score::new(1))
        ]
    );
    assert_eq!(c.placement.orders.len(), 1);
    assert!(c.nodes[0].attributes.is_empty());
    assert!(c.placement.options.fencing_enabled);
    assert_eq!(c.state_dir, std::path::PathBuf::from(DEFAULT_STATE_DIR));
    assert_eq!(
        c.control_socket,
        std::path::PathBuf::from(DEFAULT_CONTROL_SOCKET)
    );
    assert!(c.priorities().contains_key("db"));
}

#[test]
fn paths_and_the_fencing_switch_come_from_the_node_sections() {
    let text = BASE
        .replace(
            "node = \"node1\"",
            "node = \"node1\"\nstate-dir = \"/tmp/st\"\ncontrol-socket = \"/tmp/n.sock\"",
        )
        .replace(
            "addresses = [\"10.0.0.2\"]",
            "addresses = [\"10.0.0.2\"]\nattributes = { rack = \"b\", weight = 3 }",
        );
    let c = parse(
        &format!(
            "{text}[fencing]\nenabled = false\n[[primitive]]\nname = \"a\"\nagent = \"ocf:x:y\"\n"
        ),
        None,
        key,
    )
    .expect("config");
    assert_eq!(c.state_dir, std::path::PathBuf::from("/tmp/st"));
    assert_eq!(c.nodes[1].attributes["rack"], "b");
    assert_eq!(c.nodes[1].attributes["weight"], "3");
    assert_eq!(c.control_socket, std::path::PathBuf::from("/tmp/n.sock"));
    assert!(!c.placement.options.fencing_enabled);
}

#[test]
fn refusals_name_the_section_and_key() {
    let cases: &[(&str, &str)] = &[
        (
            "[[location]]\nid = \"l\"\nresource = \"a\"\nnode = \"node9\"\nscore = 5\n[[primitive]]\nname = \"a\"\nagent = \"ocf:x:y\"\n",
            "[[location]] l node: 'node9' is not a configured [[node]]",
        ),
        (
            "[options]\nfencing-enabled = false\n",
            "[options] fencing-enabled: set [fencing] enabled instead",
        ),
        (
            "[options]\nstonith-enabled = false\n",
            "[options] fencing-enabled",
        ),
        (
            "[[primitive]]\nname = \"d\"\nagent = \"lsb:x\"\n[[clone]]\nname = \"dc\"\nresource = \"d\"\npromotable = true\n",
            "[[clone]] dc promotable: a promotable clone needs an OCF agent",
        ),
        (
            "[[primitive]]\nname = \"d\"\nagent = \"lsb:x\"\nparams = { a = 1 }\n",
            "[[primitive]] d params: LSB init scripts and systemd units take no parameters",
        ),
        (
            "[[primitive]]\nname = \"db\"\nagent = \"ocf:x:y\"\n[[resource]]\nname = \"db\"\nagent = \"ocf:x:y\"\n",
            "duplicate resource name 'db'",
        ),
        (
            "[[group]]\nname = \"g\"\nmembers = [\"nope\"]\n",
            "[[group]] g: members 'nope' is not a configured resource",
        ),
        (
            "[[primitive]]\nname = \"a\"\nagent = \"ocf:x:y\"\nunknown = 1\n",
            "unknown field `unknown`",
        ),
        ("[bogus]\nx = 1\n", "unknown field `bogus`"),
    ];
    for (extra, needle) in cases {
        let e = err(extra);
        assert!(e.contains(needle), "{needle:?} not in {e:?}");
    }
    let long = "x".repeat(65);
    let e = err(&format!(
        "[[primitive]]\nname = \"{long}\"\nagent = \"ocf:x:y\"\n"
    ));
    assert!(e.contains("longer than 64 bytes"), "{e}");
    assert!(matches!(
        parse(
            &format!("{BASE}[[group]]\nname = \"g\"\nmembers = []\n"),
            None,
            key
        ),
        Err(ConfigError::Placement(_))
    ));
}

#[test]
fn fencing_timeouts_below_watchdog_or_msgwait_are_impossible() {
    let watchdog = BASE.replace(
        "node = \"node1\"",
        "node = \"node1\"\nsbd-health-file = \"/run/h\"",
    );
    let e = parse(
        &format!("{watchdog}[fencing]\nwatchdog-timeout = \"10s\"\ntimeout = \"5s\"\n"),
        None,
        key,
    )
    .expect_err("timeout below watchdog-timeout");
    assert!(
        e.to_string()
            .starts_with("[fencing] timeout: 5000ms is not above watchdog-timeout 10000ms"),
        "{e}"
    );
    // msgwait is read from the sbd devices a node is fenced with (at load)
    let dir = std::env::temp_dir().join(format!("palisade-msgwait-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let image = dir.join("sbd.img");
    let file = std::fs::File::create(&image).expect("image");
    file.set_len(1 << 20).expect("size");
    let device = sbd::blockdev::FileDevice::open(&image).expect("open");
    let timeouts = sbd::format::DiskTimeouts {
        msgwait: 10,
        ..Default::default()
    };
    sbd::disk::SbdDisk::create(device, timeouts, [3; 16]).expect("create");
    std::fs::write(dir.join("key"), [7u8; 32]).expect("key");
    let text = |timeout: &str| {
        BASE.replace(
            "key-file = \"/k\"",
            &format!("key-file = \"{}\"", dir.join("key").display()),
        )
        .replacen(
            "fence-agent = \"fence_dummy\"",
            &format!(
                "fence-agent = \"/usr/sbin/fence_sbd\"\nfence-params = {{ devices = \"{}\" }}",
                image.display()
            ),
            1,
        ) + &format!("[fencing]\ntimeout = \"{timeout}\"\n")
    };
    let config = dir.join("node.toml");
    std::fs::write(&config, text("8s")).expect("config");
    let e = super::super::load(&config, None).expect_err("timeout below msgwait");
    assert!(
        e.to_string()
            .contains("8000ms is not above the msgwait 10000ms of node1's sbd devices"),
        "{e}"
    );
    std::fs::write(&config, text("20s")).expect("config");
    assert!(super::super::load(&config, None).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn promotable_clones_and_several_instances_per_node_are_run() {
    let c = parse_ok(
        "[[primitive]]\nname = \"d\"\nagent = \"ocf:pacemaker:Stateful\"\n\
         op = [{ name = \"monitor\", interval = \"3s\", role = \"promoted\" }, \
         { name = \"monitor\", interval = \"4s\", role = \"unpromoted\", timeout = \"7s\" }, \
         { name = \"promote\", timeout = \"9s\" }]\n\
         [[clone]]\nname = \"dc\"\nresource = \"d\"\npromotable = true\n\
         [[primitive]]\nname = \"p\"\nagent = \"ocf:x:y\"\n\
         [[clone]]\nname = \"pc\"\nresource = \"p\"\nclone-node-max = 2\n",
    );
    let d = c.resources.iter().find(|r| r.name == "d").expect("d");
    let clone = d.clone.as_ref().expect("clone settings");
    assert!(clone.promotable);
    assert_eq!((clone.clone.as_str(), clone.clone_max), ("dc", 2));
    assert_eq!(d.ops.promote, std::time::Duration::from_secs(9));
    assert_eq!(d.ops.start, crate::placement::parse::DEFAULT_OP_TIMEOUT);
    assert_eq!(d.ops.monitors.len(), 2);
    assert_eq!(d.op_timeout, crate::placement::parse::DEFAULT_OP_TIMEOUT);
    let p = c.resources.iter().find(|r| r.name == "p").expect("p");
    assert_eq!(p.clone.as_ref().map(|c| c.clone_node_max), Some(2));
}
