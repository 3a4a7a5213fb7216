//! Resource placement in a running cluster: real `palisade node` daemons in network
//! namespaces (`common_resources`), scheduling groups and constraints with real OCF
//! agents (Debian's `ocf:heartbeat:IPaddr2` holding a virtual IP inside the node's
//! namespace, `ocf:heartbeat:Dummy`, and the `palisade:Logger` test agent whose shared log
//! proves no two nodes ever ran it at once), administered through the `palisade` CLI:
//! a VIP -> filesystem -> service group starting in order on one node, moving together
//! when the node goes to standby and stopping in reverse order when its node stops; a
//! preference of 50 overridden by `palisade resource move` (INFINITY) and then cleared;
//! migration after repeated monitor failures
//! (migration-threshold) and `cleanup`; stickiness keeping a resource where it went after
//! its failed node came back; and heartbeat's auto_failback taking it home.
//!
//! Needs root, `ip netns` and Debian's resource-agents; otherwise each test prints a
//! counted skip (`SKIPPED:` line); under CI=true or as root a failure.

mod common_cluster;
mod common_resources;

use common_cluster::Ev;
use common_resources::{ResLab, VIP};

const GROUP: &str = r#"
[options]
resource-stickiness = 100

[[primitive]]
name = "vip"
agent = "ocf:heartbeat:IPaddr2"
params = { ip = "10.77.0.100", cidr_netmask = 24, nic = "r0", arp_count = 1, arp_bg = "false" }
op = [{ name = "monitor", interval = "1s", timeout = "20s" }]

[[primitive]]
name = "fs"
agent = "ocf:heartbeat:Dummy"
params = { state = "{run}/fs.state" }
op = [{ name = "monitor", interval = "1s" }]

[[primitive]]
name = "service"
agent = "ocf:palisade:Logger"
params = { log = "{dir}/service.log", state = "{run}/service.state" }
op = [{ name = "monitor", interval = "500ms" }]

[[group]]
name = "web"
members = ["vip", "fs", "service"]

[[location]]
id = "web-prefers-node1"
resource = "web"
node = "node1"
score = 50
"#;

/// Whether `e` is resource operation `word` on `resource`: `start`/`stop` (asked) or
/// `started`/`stopped` (done).
fn is_op(e: &Ev, word: &str, resource: &str) -> bool {
    let (kind, action) = match word {
        "started" => ("resource_done", "start"),
        "stopped" => ("resource_done", "stop"),
        w => ("resource_action", w),
    };
    e.kind == kind && e.str("action") == action && e.str("resource") == resource
}

/// Event positions (from `since`, Unix ms) must increase in this order: (node,
/// operation word as [`is_op`] takes it, resource).
fn in_order(lab: &ResLab, since: u64, steps: &[(&str, &str, &str)]) {
    let mut last = None;
    for (node, word, resource) in steps {
        let at = lab
            .event_since(since, node, |e| is_op(e, word, resource))
            .map(|(i, _)| i)
            .unwrap_or_else(|| {
                panic!(
                    "no {node} event {word} {resource}:\n{}",
                    lab.c.timeline_text(0)
                )
            });
        if let Some(before) = last {
            assert!(
                at > before,
                "{node} {word} {resource} came too early:\n{}",
                lab.c.timeline_text(0)
            );
        }
        last = Some(at);
    }
}

#[test]
fn a_group_starts_in_order_and_moves_together_on_standby() {
    let Some(mut lab) = ResLab::new("rg", 3, GROUP, &["service"]) else {
        return;
    };
    lab.start_all();
    lab.expect(25, "the group never started on node1", || {
        lab.logger_on("service") == ["node1"]
            && lab.ip_on(VIP) == [1]
            && lab.state_on("fs.state") == [1]
    });
    in_order(
        &lab,
        0,
        &[
            ("node1", "start", "vip"),
            ("node1", "started", "vip"),
            ("node1", "start", "fs"),
            ("node1", "started", "fs"),
            ("node1", "start", "service"),
            ("node1", "started", "service"),
        ],
    );
    // node1 goes to standby (asked on node3): the group stops there in reverse order and
    // starts on node2 in order, the VIP following.
    let standby = common_cluster::now_ms();
    let said = lab.admin(3, &["node", "standby", "node1"]);
    assert!(said.contains("node1 goes to standby"), "{said}");
    lab.expect(20, "the group did not move to node2", || {
        lab.logger_on("service") == ["node2"]
            && lab.ip_on(VIP) == [2]
            && lab.state_on("fs.state") == [2]
    });
    in_order(
        &lab,
        standby,
        &[
            ("node1", "stop", "service"),
            ("node1", "stopped", "service"),
            ("node1", "stop", "fs"),
            ("node1", "stopped", "fs"),
            ("node1", "stop", "vip"),
            ("node1", "stopped", "vip"),
            ("node2", "start", "vip"),
            ("node2", "started", "vip"),
            ("node2", "start", "fs"),
            ("node2", "started", "fs"),
            ("node2", "start", "service"),
        ],
    );
    let status = lab.status(1).expect("status of node1");
    let node1 = &status["nodes"][0];
    assert_eq!(node1["standby"], true, "{status}");
    let (code, text) = lab.cli(2, &["status"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("node1  online standby"), "{text}");
    assert!(text.contains("running on node2"), "{text}");
    // Back online: stickiness (3 x 100) keeps the group on node2 over the preference.
    lab.admin(1, &["node", "online"]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(lab.logger_on("service"), ["node2"]);
    assert_eq!(lab.ip_on(VIP), [2]);
    let (_, explain) = lab.cli(1, &["explain", "web"]);
    assert!(explain.contains("stickiness"), "{explain}");
    lab.assert_exclusive("service");
    println!("group on standby:\n{}", lab.c.timeline_text(0));
    let stopping = common_cluster::now_ms();
    for n in 1..=3 {
        let status = lab.stop(n).expect("daemon status");
        assert_eq!(status.code(), Some(0), "node{n} did not stop cleanly");
    }
    assert!(lab.ip_on(VIP).is_empty(), "the VIP is removed at the stop");
    // node2 stopping (SIGTERM) stops the group in reverse order, each member once the one
    // after it has stopped (docs/chaos.md: not all at once).
    in_order(
        &lab,
        stopping,
        &[
            ("node2", "stop", "service"),
            ("node2", "stopped", "service"),
            ("node2", "stop", "fs"),
            ("node2", "stopped", "fs"),
            ("node2", "stop", "vip"),
            ("node2", "stopped", "vip"),
        ],
    );
}

const PREFERRED: &str = r#"
[[primitive]]
name = "db"
agent = "ocf:palisade:Logger"
params = { log = "{dir}/db.log", state = "{run}/db.state" }
op = [{ name = "monitor", interval = "500ms" }]

[[location]]
id = "db-prefers-node1"
resource = "db"
node = "node1"
score = 50
"#;

#[test]
fn a_preference_is_overridden_by_a_move_then_cleared_and_bans_survive_restarts() {
    let Some(mut lab) = ResLab::new("rm", 3, PREFERRED, &["db"]) else {
        return;
    };
    lab.start_all();
    lab.expect(25, "db never started on node1", || {
        lab.logger_on("db") == ["node1"]
    });
    // Bad input: clear errors, exit 6 (rejected) or 2 (usage), nothing changes.
    let (code, text) = lab.cli(2, &["resource", "move", "nosuch", "node1"]);
    assert_eq!(code, 6, "{text}");
    assert!(text.contains("no resource 'nosuch'"), "{text}");
    let (code, text) = lab.cli(2, &["resource", "move", "db", "node9"]);
    assert_eq!(code, 6, "{text}");
    assert!(text.contains("no node 'node9'"), "{text}");
    let (code, text) = lab.cli(2, &["resource", "move", "db"]);
    assert_eq!(code, 2, "{text}");
    // move (INFINITY) beats the preference of 50
    let said = lab.admin(2, &["resource", "move", "db", "node3"]);
    assert!(said.contains("cli-prefer-db"), "{said}");
    lab.expect(15, "db did not move to node3", || {
        lab.logger_on("db") == ["node3"]
    });
    let status = lab.status(1).expect("status");
    let constraints = status["constraints"].to_string();
    assert!(
        constraints.contains("cli-prefer-db: db prefers node3"),
        "{status}"
    );
    let (_, explain) = lab.cli(1, &["explain", "db"]);
    assert!(
        explain.contains("location cli-prefer-db +INFINITY")
            && explain.contains("location db-prefers-node1 +50"),
        "{explain}"
    );
    // clear: the preference brings it home
    lab.admin(3, &["resource", "clear", "db"]);
    lab.expect(15, "db did not go back to node1", || {
        lab.logger_on("db") == ["node1"]
    });
    // ban without a node: from where it runs
    let said = lab.admin(1, &["resource", "ban", "db"]);
    assert!(said.contains("cli-ban-db-on-node1"), "{said}");
    lab.expect(15, "db did not leave node1", || {
        lab.logger_on("db") == ["node2"]
    });
    lab.assert_exclusive("db");
    // Every daemon stops; the admin records come back from the state files.
    for n in 1..=3 {
        lab.stop(n);
    }
    let file = lab.c.dir.join("state2/cluster-9-node2.admin.json");
    let saved = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(saved.contains("ban/db/node1"), "{saved}");
    let restart = common_cluster::now_ms();
    lab.start_all();
    lab.expect(25, "db did not start again, away from node1", || {
        lab.log("db")
            .iter()
            .any(|l| l.at >= restart && l.event == "start")
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(
        lab.logger_on("db"),
        ["node2"],
        "{}",
        lab.c.timeline_text(restart)
    );
    lab.assert_exclusive("db");
    println!("move, clear, ban:\n{}", lab.c.timeline_text(0));
}

const FLAKY: &str = r#"
[[primitive]]
name = "svc"
agent = "ocf:heartbeat:Dummy"
params = { state = "{run}/svc.state" }
op = [{ name = "monitor", interval = "500ms" }]
meta = { migration-threshold = 2 }

[[location]]
id = "svc-prefers-node1"
resource = "svc"
node = "node1"
score = 50
"#;

#[test]
fn repeated_monitor_failures_move_a_resource_and_cleanup_forgets_them() {
    let Some(mut lab) = ResLab::new("rf", 3, FLAKY, &[]) else {
        return;
    };
    lab.start_all();
    lab.expect(25, "svc never started on node1", || {
        lab.state_on("svc.state") == [1]
    });
    let state = lab.run_dir(1).join("svc.state");
    // First failure: recovered in place.
    std::fs::remove_file(&state).expect("break svc");
    lab.expect(10, "svc was not recovered on node1", || {
        lab.event("node1", |e| {
            e.kind == "monitor_failed"
                && e.str("resource") == "svc"
                && e.fields["rc"]["code"] == 7
                && e.u64("failures") == Some(1)
                && !e.flag("threshold_reached")
        })
        .is_some()
            && lab.state_on("svc.state") == [1]
    });
    let status = lab.status(2).expect("status");
    assert_eq!(status["failures"][0]["count"], 1, "{status}");
    assert_eq!(status["failures"][0]["node"], "node1", "{status}");
    // Second failure: migration-threshold 2 reached, banned from node1, moves.
    std::fs::remove_file(&state).expect("break svc again");
    lab.expect(10, "svc did not move after the second failure", || {
        lab.state_on("svc.state") == [2]
    });
    assert!(lab
        .event("node1", |e| e.kind == "left_stopped"
            && e.str("resource") == "svc"
            && e.str("cause") == "migration_threshold"
            && e.u64("failures") == Some(2)
            && e.u64("threshold") == Some(2))
        .is_some());
    let (code, text) = lab.cli(3, &["status"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("svc on node1: 2 failure(s) of migration-threshold 2"),
        "{text}"
    );
    let (_, explain) = lab.cli(3, &["explain", "svc"]);
    assert!(
        explain.contains("failed 2 times (migration-threshold 2)"),
        "{explain}"
    );
    // cleanup (asked on node3, carried out by node1): the failures are forgotten and the
    // preference brings svc back.
    lab.admin(3, &["resource", "cleanup", "svc"]);
    lab.expect(15, "svc did not come back after the cleanup", || {
        lab.state_on("svc.state") == [1]
    });
    let status = lab.status(3).expect("status");
    assert_eq!(status["failures"], serde_json::json!([]), "{status}");
    println!("monitor failures:\n{}", lab.c.timeline_text(0));
}

const STICKY: &str = r#"
[options]
resource-stickiness = 100

[[primitive]]
name = "svc"
agent = "ocf:palisade:Logger"
params = { log = "{dir}/svc.log", state = "{run}/svc.state" }
op = [{ name = "monitor", interval = "500ms" }]

[[location]]
id = "svc-prefers-node1"
resource = "svc"
node = "node1"
score = 50
"#;

/// Cut node1 (which runs svc): it is fenced, svc starts elsewhere only after; then
/// heal and restart node1 and wait until every node sees it again. Returns the survivor
/// and when node1 came back (Unix ms).
fn lose_and_recover_node1(lab: &mut ResLab) -> (String, u64) {
    lab.start_all();
    lab.expect(25, "svc never started on node1", || {
        lab.logger_on("svc") == ["node1"]
    });
    let cut = common_cluster::now_ms();
    lab.cut(1);
    lab.expect(15, "svc did not fail over", || {
        lab.log("svc")
            .iter()
            .any(|l| l.at >= cut && l.event == "start" && l.node != "node1")
    });
    let log = lab.log("svc");
    let start = log
        .iter()
        // node1's own start may be logged in the very millisecond taken as the cut.
        .find(|l| l.at >= cut && l.event == "start" && l.node != "node1")
        .expect("start")
        .clone();
    let off = log
        .iter()
        .find(|l| l.event == "poweroff" && l.node == "node1")
        .unwrap_or_else(|| panic!("node1 not fenced:\n{}", lab.c.timeline_text(cut)));
    assert!(
        off.at <= start.at,
        "started before the fence: {start:?} before {off:?}\n{log:#?}\n{}",
        lab.c.timeline_text(0)
    );
    assert_eq!(lab.power(1), "off");
    lab.heal(1);
    let back = common_cluster::now_ms();
    lab.start(1);
    lab.expect(20, "node1 did not rejoin", || {
        lab.c.events().iter().any(|e| {
            e.at >= back
                && e.is("node2", "quorum")
                && e.names("members") == ["node1", "node2", "node3"]
        })
    });
    (start.node, back)
}

#[test]
fn stickiness_keeps_a_resource_where_it_went_after_its_node_recovers() {
    let Some(mut lab) = ResLab::new("rs", 3, STICKY, &["svc"]) else {
        return;
    };
    let (survivor, _) = lose_and_recover_node1(&mut lab);
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(lab.logger_on("svc"), std::slice::from_ref(&survivor));
    let (_, explain) = lab.cli(1, &["explain", "svc"]);
    assert!(
        explain.contains(&format!("stays on {survivor}")),
        "{explain}"
    );
    lab.assert_exclusive("svc");
    println!("stickiness:\n{}", lab.c.timeline_text(0));
}

#[test]
fn auto_failback_takes_a_resource_home_when_its_node_recovers() {
    let resources = STICKY.replace(
        "resource-stickiness = 100",
        "resource-stickiness = 100\nauto-failback = true",
    );
    let Some(mut lab) = ResLab::new("ra", 3, &resources, &["svc"]) else {
        return;
    };
    let (survivor, back) = lose_and_recover_node1(&mut lab);
    lab.expect(15, "svc did not fail back to node1", || {
        lab.logger_on("svc") == ["node1"]
    });
    in_order(
        &lab,
        back,
        &[(&survivor, "stopped", "svc"), ("node1", "start", "svc")],
    );
    lab.assert_exclusive("svc");
    println!("auto-failback:\n{}", lab.c.timeline_text(0));
}

const STUBBORN: &str = r#"
[[primitive]]
name = "svc"
agent = "ocf:restest:Stubborn"
params = { log = "{dir}/svc.log", state = "{run}/svc.state", refuse = "{run}/refuse-stop" }
op = [{ name = "monitor", interval = "500ms" }]

[[location]]
id = "svc-prefers-node1"
resource = "svc"
node = "node1"
score = 50
"#;

#[test]
fn a_failed_stop_gets_its_node_fenced_before_the_resource_starts_elsewhere() {
    let Some(mut lab) = ResLab::new("rx", 3, STUBBORN, &["svc"]) else {
        return;
    };
    lab.start_all();
    lab.expect(25, "svc never started on node1", || {
        lab.logger_on("svc") == ["node1"]
    });
    std::fs::write(lab.run_dir(1).join("refuse-stop"), "").expect("refuse");
    let moved = common_cluster::now_ms();
    lab.admin(3, &["resource", "move", "svc", "node2"]);
    lab.expect(20, "svc did not reach node2", || {
        lab.logger_on("svc") == ["node2"]
    });
    let log = lab.log("svc");
    let off = log
        .iter()
        .find(|l| l.at >= moved && l.event == "poweroff" && l.node == "node1")
        .unwrap_or_else(|| panic!("node1 not fenced:\n{}", lab.c.timeline_text(moved)));
    let start = log
        .iter()
        .find(|l| l.at >= moved && l.event == "start")
        .expect("start on node2");
    assert!(off.at <= start.at, "started before the fence");
    assert_eq!(lab.power(1), "off");
    assert!(lab
        .event_since(moved, "node1", |e| e.kind == "stop_failed"
            && e.str("resource") == "svc")
        .is_some());
    // the lowest member other than the victim asked for the fence
    assert!(
        lab.event_since(moved, "node2", |e| e.kind == "fence_request"
            && e.str("action") == "off"
            && e.str("target") == "node1")
            .is_some(),
        "{}",
        lab.c.timeline_text(moved)
    );
    lab.assert_exclusive("svc");
    println!("stop failure:\n{}", lab.c.timeline_text(moved));
}

const SLOW: &str = r#"
[[primitive]]
name = "slow"
agent = "ocf:restest:Slow"
params = { state = "{run}/slow.state", stop_sleep = 2 }
op = [{ name = "monitor", interval = "10s" }]

[[location]]
id = "slow-prefers-node1"
resource = "slow"
node = "node1"
score = 50
"#;

#[test]
fn a_node_stopping_stays_a_member_until_its_resources_are_stopped() {
    let Some(mut lab) = ResLab::new("rq", 3, SLOW, &[]) else {
        return;
    };
    lab.start_all();
    lab.expect(40, "slow never started on node1", || {
        lab.state_on("slow.state") == [1]
    });
    // node1 stops (SIGTERM): its stop of `slow` takes 2 s, twice deadtime. It keeps
    // heartbeating meanwhile: no peer declares it dead before its stop is done
    // (docs/chaos.md, a stopping node going silent at once).
    let stopping = common_cluster::now_ms();
    let status = lab.stop(1).expect("daemon status");
    assert_eq!(status.code(), Some(0), "node1 did not stop cleanly");
    let (stopped, _) = lab
        .event_since(stopping, "node1", |e| is_op(e, "stopped", "slow"))
        .unwrap_or_else(|| panic!("node1 never stopped slow:\n{}", lab.c.timeline_text(0)));
    let dead_before: Vec<usize> = lab
        .c
        .events()
        .into_iter()
        .enumerate()
        .filter(|(i, e)| *i < stopped && e.at >= stopping && e.peer_dead("node1"))
        .map(|(i, _)| i)
        .collect();
    assert!(
        dead_before.is_empty(),
        "node1 declared dead while it was stopping:\n{}",
        lab.c.timeline_text(0)
    );
    println!("node1 stopping:\n{}", lab.c.timeline_text(stopping));
}
