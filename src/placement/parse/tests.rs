//! The placement configuration: a full example parses; every kind of mistake is refused
//! with the section and key named.

use std::time::Duration;

use super::*;
use crate::placement::config::{AgentClass, OrderAction, Role, TargetRole};
use crate::placement::score::Score;

const EXAMPLE: &str = r#"
[options]
symmetric-cluster = true
resource-stickiness = 100
migration-threshold = 3
failure-timeout = "10min"
auto-failback = false
stonith-enabled = true

[[primitive]]
name = "vip"
agent = "ocf:heartbeat:IPaddr2"
params = { ip = "192.168.1.5", cidr_netmask = 24 }
op = [{ name = "monitor", interval = "10s", timeout = "20s" }]

[[primitive]]
name = "httpd"
agent = "lsb:httpd"
meta = { target-role = "stopped", resource-stickiness = "INFINITY" }

[[primitive]]
name = "drbd"
agent = "ocf:linbit:drbd"
op = [{ name = "monitor", interval = "29s", role = "promoted" }, { name = "monitor", interval = "31s" }]

[[group]]
name = "web"
members = ["vip", "httpd"]

[[clone]]
name = "drbd-clone"
resource = "drbd"
promotable = true
promoted-max = 1

[[location]]
id = "web-prefers-node1"
resource = "web"
node = "node1"
score = 50

[[location]]
id = "connected"
resource = "web"
rule = { score = "-INFINITY", boolean-op = "or", expressions = ["not_defined pingd", "pingd lte 0"] }

[[colocation]]
id = "web-on-promoted"
resource = "web"
with = "drbd-clone"
with-role = "promoted"
score = "INFINITY"

[[order]]
id = "promote-then-web"
first = "drbd-clone"
first-action = "promote"
then = "web"
"#;

fn err(text: &str) -> String {
    match Config::from_toml_str(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn full_example() {
    let c = Config::from_toml_str(EXAMPLE).expect("example parses");
    assert_eq!(c.options.stickiness, Score::new(100));
    assert_eq!(c.options.migration_threshold, 3);
    assert_eq!(c.options.failure_timeout, Duration::from_secs(600));
    assert_eq!(c.primitives.len(), 3);
    let vip = c.primitive("vip").expect("vip");
    assert_eq!(vip.agent.provider.as_deref(), Some("heartbeat"));
    assert_eq!(
        vip.params.get("cidr_netmask").map(String::as_str),
        Some("24")
    );
    assert_eq!(vip.ops[0].interval, Duration::from_secs(10));
    let httpd = c.primitive("httpd").expect("httpd");
    assert_eq!(httpd.agent.class, AgentClass::Lsb);
    assert_eq!(httpd.ops, vec![]);
    assert_eq!(c.effective_meta("httpd").target_role, TargetRole::Stopped);
    assert_eq!(c.effective_meta("httpd").stickiness, Score::INFINITY);
    assert_eq!(c.effective_meta("vip").stickiness, Score::new(100));
    assert!(c.clones[0].promotable);
    assert_eq!(c.locations.len(), 2);
    assert_eq!(c.orders[0].first_action, OrderAction::Promote);
    assert_eq!(c.orders[0].then_action, OrderAction::Start);
    assert!(c.orders[0].symmetrical);
    assert_eq!(c.colocations[0].with_role, Some(Role::Promoted));
}

#[test]
fn group_meta_is_inherited_and_stopped_wins() {
    let c = Config::from_toml_str(
        r#"
primitive = [
  { name = "a", agent = "systemd:a", meta = { resource-stickiness = 5, target-role = "started" } },
  { name = "b", agent = "systemd:b" },
]
group = [{ name = "g", members = ["a", "b"], meta = { resource-stickiness = 7, target-role = "stopped" } }]
"#,
    )
    .expect("parses");
    assert_eq!(c.effective_meta("a").stickiness, Score::new(5));
    assert_eq!(c.effective_meta("b").stickiness, Score::new(7));
    assert_eq!(c.effective_meta("a").target_role, TargetRole::Stopped);
}

#[test]
fn refused_with_clear_errors() {
    let p = |extra: &str| {
        format!(
            "primitive = [{{ name = \"a\", agent = \"ocf:heartbeat:Dummy\" }}, {{ name = \"b\", agent = \"lsb:b\" }}]\n{extra}"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        ("[options]\nsticky = 1\n".into(), "unknown field `sticky`"),
        ("colour = 1\n".into(), "unknown field `colour`"),
        (p("location = [{ id = \"l\", resource = \"zz\", node = \"n1\", score = 1 }]"), "'zz' is not a configured resource"),
        (p("colocation = [{ id = \"c\", resource = \"a\", with = \"nope\", score = 1 }]"), "with 'nope'"),
        (p("order = [{ id = \"o\", first = \"ghost\", then = \"a\" }]"), "first 'ghost'"),
        (p("group = [{ name = \"a\", members = [\"b\"] }]"), "duplicate resource name 'a'"),
        (p("group = [{ name = \"g\", members = [\"zz\"] }]"), "members 'zz'"),
        (p("group = [{ name = \"g\", members = [] }]"), "at least one member"),
        (p("group = [{ name = \"g1\", members = [\"a\"] }, { name = \"g2\", members = [\"a\"] }]"), "already belongs to [[group]] g1"),
        (p("clone = [{ name = \"c\", resource = \"a\" }]\nlocation = [{ id = \"l\", resource = \"a\", node = \"n\", score = 1 }]"), "refer to the clone 'c'"),
        (p("clone = [{ name = \"c\", resource = \"a\", clone-node-max = 0 }]"), "clone-node-max: must be at least 1"),
        (p("clone = [{ name = \"c\", resource = \"a\", promoted-max = 2 }]"), "only for promotable"),
        (p("location = [{ id = \"l\", resource = \"a\", node = \"n\", score = \"lots\" }]"), "'lots' is not a score"),
        (p("location = [{ id = \"l\", resource = \"a\", node = \"n\" }]"), "either node and score, or rule"),
        (p("location = [{ id = \"l\", resource = \"a\", rule = { score = 1, expressions = [\"x about 1\"] } }]"), "unknown comparison 'about'"),
        (p("location = [{ id = \"l\", resource = \"a\", role = \"promoted\", node = \"n\", score = 1 }]"), "not a promotable clone"),
        (p("location = [{ id = \"l\", resource = \"a\", node = \"n\", score = 1 }, { id = \"l\", resource = \"b\", node = \"n\", score = 1 }]"), "duplicate constraint id 'l'"),
        (p("colocation = [{ id = \"c1\", resource = \"a\", with = \"b\", score = 1 }, { id = \"c2\", resource = \"b\", with = \"a\", score = 1 }]"), "colocation cycle: a -> b -> a"),
        (p("order = [{ id = \"o1\", first = \"a\", then = \"b\" }, { id = \"o2\", first = \"b\", then = \"a\" }]"), "order cycle"),
        (p("order = [{ id = \"o\", first = \"a\", then = \"b\", kind = \"serialize\" }]"), "expected mandatory or optional"),
        (p("colocation = [{ id = \"c\", resource = \"a\", with = \"a\", score = 1 }]"), "colocated with itself"),
        ("primitive = [{ name = \"x\", agent = \"ocf:Dummy\" }]".into(), "expected ocf:PROVIDER:TYPE"),
        ("primitive = [{ name = \"x\", agent = \"stonith:fence_ipmilan\" }]".into(), "fencer configuration"),
        ("primitive = [{ name = \"x y\", agent = \"lsb:x\" }]".into(), "use letters, digits"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", op = [{ name = \"monitor\" }] }]".into(), "interval above zero"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", op = [{ name = \"start\", interval = \"5s\" }] }]".into(), "only monitor operations recur"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", op = [{ name = \"monitor\", interval = \"5s\", timeout = \"0\" }] }]".into(), "timeout must be above zero"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", op = [{ name = \"monitor\", interval = \"5s\" }, { name = \"monitor\", interval = \"5s\" }] }]".into(), "same name and interval"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", op = [{ name = \"reload\" }] }]".into(), "unknown operation 'reload'"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", meta = { target-role = \"sleeping\" } }]".into(), "meta.target-role"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", meta = { failure-timeout = \"soon\" } }]".into(), "meta.failure-timeout"),
        ("primitive = [{ name = \"x\", agent = \"lsb:x\", params = { a = [1] } }]".into(), "only strings, numbers and booleans"),
    ];
    for (text, wanted) in cases {
        let e = err(&text);
        assert!(e.contains(wanted), "for\n{text}\nwanted '{wanted}' in: {e}");
    }
}

#[test]
fn group_members_inside_constraints_form_cycles_too() {
    // vip -> fs is intrinsic (group); fs's... vip with httpd closes a loop through the group.
    let e = err(r#"
primitive = [{ name = "vip", agent = "lsb:v" }, { name = "httpd", agent = "lsb:h" }]
group = [{ name = "web", members = ["vip", "httpd"] }]
colocation = [{ id = "bad", resource = "vip", with = "httpd", score = 10 }]
"#);
    assert!(e.contains("colocation cycle"), "{e}");
}

#[test]
fn from_table_ignores_nothing() {
    let mut table = toml::Table::new();
    table.insert("cluster".into(), toml::Value::Table(toml::Table::new()));
    let e = Config::from_toml_table(table).unwrap_err().to_string();
    assert!(e.contains("unknown field `cluster`"), "{e}");
}
