use super::*;
use crate::node::admin::Command;
use crate::placement::config::Role;
use crate::placement::schedule;

const CONFIG: &str = r#"
options = { resource-stickiness = 100 }
primitive = [
  { name = "vip", agent = "ocf:heartbeat:Dummy" },
  { name = "fs", agent = "ocf:heartbeat:Dummy" },
  { name = "httpd", agent = "ocf:heartbeat:Dummy" },
  { name = "ping", agent = "ocf:heartbeat:Dummy" },
]
group = [{ name = "web", members = ["vip", "fs", "httpd"] }]
clone = [{ name = "ping-clone", resource = "ping" }]
location = [{ id = "web-prefers-node1", resource = "web", node = "node1", score = 50 }]
"#;

fn config() -> Config {
    Config::from_toml_str(CONFIG).expect("config")
}

fn running(name: &str, status: RunStatus) -> Running {
    Running {
        name: name.into(),
        role: Role::Started,
        status,
    }
}

fn node(name: &str, membership: Membership, running: Vec<Running>) -> NodeFacts {
    NodeFacts {
        name: name.into(),
        membership,
        running,
        failcounts: Vec::new(),
        attributes: BTreeMap::new(),
    }
}

fn names() -> Vec<String> {
    vec!["node1".into(), "node2".into()]
}

#[test]
fn statuses_map_to_instances_and_clone_children_to_their_clone() {
    let c = config();
    let nodes = vec![
        node(
            "node1",
            Membership::Online,
            vec![
                running("vip", RunStatus::Running),
                running("fs", RunStatus::Starting),
                running("ping", RunStatus::Stopping),
                running("unknown", RunStatus::Running),
            ],
        ),
        NodeFacts {
            failcounts: vec![Failcount {
                resource: "ping".into(),
                count: 2,
                age_ms: 500,
            }],
            ..node(
                "node2",
                Membership::Unclean,
                vec![
                    running("httpd", RunStatus::Failed),
                    running("ping", RunStatus::StopFailed),
                ],
            )
        },
    ];
    let state = cluster_state(&c, &AdminTable::default(), &nodes, Moment(10_000));
    assert_eq!(state.nodes["node2"].membership, Membership::Unclean);
    assert_eq!(state.instances("vip")[0].health, Health::Ok);
    assert!(
        state.instances("fs").is_empty(),
        "a start under way is not running yet"
    );
    assert!(state.instances("unknown").is_empty());
    assert_eq!(state.instances("httpd")[0].health, Health::Failed);
    let ping: Vec<(&str, Health)> = state
        .instances("ping-clone")
        .iter()
        .map(|i| (i.node.as_str(), i.health))
        .collect();
    assert_eq!(
        ping,
        vec![("node1", Health::Ok), ("node2", Health::StopFailed)]
    );
    let f = state.failures[&("ping-clone".to_string(), "node2".to_string())];
    assert_eq!((f.count, f.last), (2, Moment(9_500)));
}

#[test]
fn admin_records_become_constraints_standby_and_target_roles() {
    let mut admin = AdminTable::default();
    let cmds = [
        Command::Move {
            resource: "web".into(),
            node: "node2".into(),
        },
        Command::Ban {
            resource: "ping-clone".into(),
            node: "node1".into(),
        },
        Command::Ban {
            resource: "nosuch".into(),
            node: "node1".into(),
        },
        Command::TargetRole {
            resource: "httpd".into(),
            stopped: true,
        },
        Command::Standby {
            node: "node1".into(),
            on: true,
        },
    ];
    for c in &cmds {
        admin.command(1, c).expect("command");
    }
    let c = effective_config(&config(), &admin, &names());
    let ids: Vec<&str> = c.locations.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "web-prefers-node1",
            "cli-prefer-web",
            "cli-ban-ping-clone-on-node1"
        ]
    );
    assert_eq!(c.effective_meta("httpd").target_role, TargetRole::Stopped);
    let nodes = vec![
        node("node1", Membership::Online, Vec::new()),
        node("node2", Membership::Online, Vec::new()),
    ];
    let state = cluster_state(&c, &admin, &nodes, Moment(0));
    assert!(state.nodes["node1"].standby);
    let plan = schedule(&state, &c, Moment(0));
    let text = plan.render_actions();
    assert!(text.contains("start vip on node2"), "{text}");
    assert!(
        !text.contains("httpd"),
        "httpd is stopped by target-role: {text}"
    );
    assert!(!text.contains("on node1"), "node1 is in standby: {text}");
}

#[test]
fn unit_and_primitive_names() {
    let c = config();
    assert_eq!(unit_of(&c, "ping"), "ping-clone");
    assert_eq!(unit_of(&c, "vip"), "vip");
    assert_eq!(primitive_of(&c, "ping-clone").as_deref(), Some("ping"));
    assert_eq!(primitive_of(&c, "web"), None);
    assert!(is_resource(&c, "web") && is_resource(&c, "ping-clone") && !is_resource(&c, "x"));
}

#[test]
fn node_attributes_feed_location_rules() {
    let c = Config::from_toml_str(
        r#"primitive = [{ name = "db", agent = "ocf:heartbeat:Dummy" }]
location = [{ id = "not-rack-a", resource = "db", rule = { score = "-INFINITY", expressions = ["rack eq a"] } }]"#,
    )
    .expect("config");
    let with_rack = |name: &str, rack: &str| NodeFacts {
        attributes: [("rack".to_string(), rack.to_string())].into(),
        ..node(name, Membership::Online, Vec::new())
    };
    let state = cluster_state(
        &c,
        &AdminTable::default(),
        &[with_rack("node1", "a"), with_rack("node2", "b")],
        Moment(0),
    );
    assert_eq!(state.nodes["node1"].attributes["rack"], "a");
    let plan = schedule(&state, &c, Moment(0));
    assert_eq!(
        plan.render_actions(),
        "  1. start db on node2 (placed here)\n"
    );
}

#[test]
fn numbered_instances_and_maintenance_records() {
    let text = CONFIG.replace(
        r#"resource = "ping" }"#,
        r#"resource = "ping", clone-node-max = 2 }"#,
    );
    let c = Config::from_toml_str(&text).expect("config");
    let nodes = vec![node(
        "node1",
        Membership::Online,
        vec![
            running("ping:0", RunStatus::Running),
            running("ping:1", RunStatus::Failed),
            running("vip:0", RunStatus::Running),
        ],
    )];
    let mut admin = AdminTable::default();
    admin
        .command(
            1,
            &Command::NodeMaintenance {
                node: "node1".into(),
                on: true,
            },
        )
        .expect("maintenance");
    let state = cluster_state(&c, &admin, &nodes, Moment(0));
    let health: Vec<Health> = state
        .instances("ping-clone")
        .iter()
        .map(|i| i.health)
        .collect();
    assert_eq!(health, vec![Health::Ok, Health::Failed], "two instances");
    assert!(state.instances("vip").is_empty(), "vip:0 is no instance");
    assert!(state.nodes["node1"].maintenance);
    assert!(
        !effective_config(&c, &admin, &names())
            .options
            .maintenance_mode
    );
    admin
        .command(1, &Command::MaintenanceMode { on: true })
        .expect("maintenance-mode");
    assert!(
        effective_config(&c, &admin, &names())
            .options
            .maintenance_mode
    );
}
