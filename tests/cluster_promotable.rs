//! A promotable clone in a running cluster: real `palisade node` daemons in network
//! namespaces (`common_resources`) running pacemaker's own `ocf:pacemaker:Stateful`
//! (through `restest:StatefulLog`, which logs every role change to a shared log) as a
//! promotable clone on three nodes. The agent sets its promotion score with
//! `crm_attribute --promotion` (palisade's shim); one instance is promoted; the promoted
//! node is cut off, fenced, and only then is another instance promoted; the node comes
//! back unpromoted; a standby moves the promotion with the demote first. The shared log,
//! replayed, shows that no two nodes were ever promoted at once.
//!
//! Needs root, `ip netns`, Debian's resource-agents and pacemaker's Stateful agent;
//! otherwise it prints a NOTICE and passes.

mod common_cluster;
mod common_resources;

use std::collections::BTreeSet;
use std::path::Path;

use common_cluster::LogLine;
use common_resources::ResLab;

/// pacemaker's example promotable agent (Debian package pacemaker).
const STATEFUL: &str = "/usr/lib/ocf/resource.d/pacemaker/Stateful";

const PROMOTABLE: &str = r#"
[[primitive]]
name = "state"
agent = "ocf:restest:StatefulLog"
params = { state = "{run}/state.state", envfile = "{run}/state.env", log = "{dir}/roles.log" }
op = [
  { name = "monitor", interval = "500ms", timeout = "10s", role = "promoted" },
  { name = "monitor", interval = "700ms", timeout = "10s", role = "unpromoted" },
  { name = "promote", timeout = "10s" },
]

[[clone]]
name = "state-clone"
resource = "state"
promotable = true
"#;

/// What the role log says at its end: nodes running an instance, nodes (maybe)
/// promoted, and every moment two nodes were promoted at once.
#[derive(Debug, Default)]
struct Roles {
    running: BTreeSet<String>,
    promoted: BTreeSet<String>,
    overlaps: Vec<String>,
}

fn replay(log: &[LogLine]) -> Roles {
    let mut r = Roles::default();
    for l in log {
        match l.event.as_str() {
            "start" => {
                r.running.insert(l.node.clone());
            }
            "promote" => {
                r.promoted.insert(l.node.clone());
                if r.promoted.len() > 1 {
                    r.overlaps.push(format!(
                        "{} promoted at {} with {:?}",
                        l.node, l.at, r.promoted
                    ));
                }
            }
            "demote" => {
                r.promoted.remove(&l.node);
            }
            "stop" | "poweroff" => {
                r.promoted.remove(&l.node);
                r.running.remove(&l.node);
            }
            _ => {}
        }
    }
    r
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Panics (with the log and the timeline) if two nodes were ever promoted at once.
fn assert_one_promoted_at_most(lab: &ResLab) {
    let log = lab.log("roles");
    let r = replay(&log);
    assert!(
        r.overlaps.is_empty(),
        "two promoted at once: {:#?}\n{log:#?}\n{}",
        r.overlaps,
        lab.c.timeline_text(0)
    );
}

#[test]
fn one_promoted_instance_and_another_promoted_only_after_the_fence() {
    if !Path::new(STATEFUL).is_file() {
        eprintln!("NOTICE: {STATEFUL} not installed (Debian package pacemaker): test skipped");
        return;
    }
    let Some(mut lab) = ResLab::new("rp", 3, PROMOTABLE, &["roles"]) else {
        return;
    };
    lab.start_all();
    lab.expect(30, "not started everywhere with node1 promoted", || {
        let r = replay(&lab.log("roles"));
        r.running == names(&["node1", "node2", "node3"]) && r.promoted == names(&["node1"])
    });
    // The agent's promotion scores came through the crm_attribute shim.
    lab.expect(10, "no promotion score from the agent", || {
        lab.line("node1", "state: promotion score 10").is_some()
    });
    assert!(lab.line("node2", "state: promotion score 5").is_some());
    // The environment pacemaker gives a promotable clone's instances.
    lab.expect(10, "node1's promoted monitor never ran", || {
        let env = std::fs::read_to_string(lab.run_dir(1).join("state.env")).unwrap_or_default();
        env.contains("OCF_RESKEY_CRM_meta_role=Promoted")
    });
    let env = std::fs::read_to_string(lab.run_dir(1).join("state.env")).expect("env dump");
    for needle in [
        "OCF_RESKEY_CRM_meta_clone=0\n",
        "OCF_RESKEY_CRM_meta_clone_max=3\n",
        "OCF_RESKEY_CRM_meta_clone_node_max=1\n",
        "OCF_RESKEY_CRM_meta_notify=false\n",
        "OCF_RESKEY_CRM_meta_promoted_max=1\n",
        "OCF_RESKEY_CRM_meta_interval=500\n",
        "OCF_RESOURCE_INSTANCE=state\n",
        "HA_SBIN_DIR=",
    ] {
        assert!(env.contains(needle), "{needle:?} not in\n{env}");
    }
    lab.expect(10, "node2's unpromoted monitor never ran", || {
        let env = std::fs::read_to_string(lab.run_dir(2).join("state.env")).unwrap_or_default();
        env.contains("OCF_RESKEY_CRM_meta_role=Unpromoted")
    });
    let env2 = std::fs::read_to_string(lab.run_dir(2).join("state.env")).expect("env dump");
    assert!(env2.contains("OCF_RESKEY_CRM_meta_clone=1\n"), "{env2}");
    let status = lab.status(3).expect("status");
    let roles: Vec<(String, String)> = status["resources"][0]["instances"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| (i["node"].to_string(), i["role"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        roles.contains(&("\"node1\"".into(), "\"promoted\"".into()))
            && roles.iter().filter(|(_, r)| r == "\"promoted\"").count() == 1,
        "{status}"
    );
    let (_, text) = lab.cli(2, &["status"]);
    assert!(text.contains("running on node1 (promoted)"), "{text}");

    // The promoted node is cut off: fenced, and only then is another one promoted.
    let cut = common_cluster::now_ms();
    lab.cut(1);
    lab.expect(20, "nobody was promoted after the cut", || {
        lab.log("roles")
            .iter()
            .any(|l| l.at >= cut && l.event == "promote" && l.node != "node1")
    });
    let log = lab.log("roles");
    let promote = log
        .iter()
        .find(|l| l.at >= cut && l.event == "promote" && l.node != "node1")
        .expect("promote")
        .clone();
    let off = log
        .iter()
        .find(|l| l.event == "poweroff" && l.node == "node1")
        .unwrap_or_else(|| panic!("node1 not fenced:\n{}", lab.c.timeline_text(cut)));
    assert!(
        off.at <= promote.at,
        "promoted before the fence: {promote:?} before {off:?}\n{log:#?}\n{}",
        lab.c.timeline_text(0)
    );
    assert_eq!(promote.node, "node2", "equal scores: the first name");
    let fenced = lab
        .line_since(cut, "node2", "node1 fenced")
        .or_else(|| lab.line_since(cut, "node2", "node1 confirmed fenced"))
        .unwrap_or_else(|| {
            panic!(
                "node2 never learned the fence:\n{}",
                lab.c.timeline_text(cut)
            )
        });
    let promoted = lab
        .line_since(cut, "node2", "promote state")
        .expect("node2's promote line");
    assert!(fenced < promoted, "{}", lab.c.timeline_text(cut));
    assert_eq!(lab.power(1), "off");

    // node1 comes back: it runs an unpromoted instance; node2 stays promoted.
    lab.heal(1);
    let back = common_cluster::now_ms();
    lab.start(1);
    lab.expect(25, "node1 did not run an instance again", || {
        lab.log("roles")
            .iter()
            .any(|l| l.at >= back && l.node == "node1" && l.event == "start")
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let r = replay(&lab.log("roles"));
    assert_eq!(
        r.promoted,
        names(&["node2"]),
        "{}",
        lab.c.timeline_text(back)
    );
    assert_eq!(r.running, names(&["node1", "node2", "node3"]));

    // node2 goes to standby: demoted (and stopped) before anyone else is promoted.
    let standby = common_cluster::now_ms();
    lab.admin(3, &["node", "standby", "node2"]);
    lab.expect(20, "the promotion did not move", || {
        let r = replay(&lab.log("roles"));
        r.promoted.len() == 1 && !r.promoted.contains("node2") && !r.running.contains("node2")
    });
    let log = lab.log("roles");
    let demote = log
        .iter()
        .find(|l| l.at >= standby && l.node == "node2" && l.event == "demote")
        .expect("node2 demoted");
    let next = log
        .iter()
        .find(|l| l.at >= standby && l.event == "promote")
        .expect("promoted elsewhere");
    assert!(demote.at <= next.at, "{log:#?}");
    assert_one_promoted_at_most(&lab);
    println!("promotable clone:\n{}", lab.c.timeline_text(0));
    for n in 1..=3 {
        let status = lab.stop(n).expect("daemon status");
        assert_eq!(status.code(), Some(0), "node{n} did not stop cleanly");
    }
    // Stopping the promoted instance at the end demoted it first (Stateful refuses to
    // stop a promoted instance).
    let r = replay(&lab.log("roles"));
    assert!(r.promoted.is_empty() && r.running.is_empty(), "{r:?}");
    assert_one_promoted_at_most(&lab);
}
