//! A promotable clone in a running cluster: real `palisade node` daemons in network
//! namespaces (`common_resources`) running pacemaker's own `ocf:pacemaker:Stateful`
//! (through `restest:StatefulLog`, which logs every role change to a shared log) as a
//! promotable clone on three nodes. The agent sets its promotion score with
//! `crm_attribute --promotion` (palisade's shim); one instance is promoted; the promoted
//! node is cut off, fenced, and only then is another instance promoted; the node comes
//! back unpromoted; a standby moves the promotion with the demote first; a failed
//! promoted monitor demotes and recovers the instance. The shared log, replayed, shows
//! that no two nodes were ever promoted at once.
//!
//! Needs root, `ip netns`, Debian's resource-agents and pacemaker's Stateful agent;
//! otherwise a counted skip (`SKIPPED:` line), a failure under CI=true or as root.

mod common_cluster;
mod common_resources;

use std::collections::BTreeSet;
use std::path::Path;

use common_cluster::{Ev, LogLine};

/// Whether `e` reports the promotion score `value` of the instance `state`.
fn score(e: &Ev, value: &str) -> bool {
    e.kind == "promotion_score" && e.str("resource") == "state" && e.str("score") == value
}
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

/// `node3` -> 3.
fn index(node: &str) -> usize {
    node.trim_start_matches("node")
        .parse()
        .expect("node number")
}

/// The only node (maybe) promoted now, by the role log.
fn the_promoted(lab: &ResLab) -> String {
    let r = replay(&lab.log("roles"));
    assert_eq!(r.promoted.len(), 1, "{r:?}\n{}", lab.c.timeline_text(0));
    r.promoted.into_iter().next().unwrap_or_default()
}

#[test]
fn one_promoted_instance_and_another_promoted_only_after_the_fence() {
    if !Path::new(STATEFUL).is_file() {
        testkit::skip::required(format!(
            "{STATEFUL} not installed (Debian package pacemaker)"
        ));
        return;
    }
    let Some(mut lab) = ResLab::new("rp", 3, PROMOTABLE, &["roles"]) else {
        return;
    };
    let all = names(&["node1", "node2", "node3"]);
    lab.start_all();
    // Every instance starts with score 5; the first to report one is promoted.
    lab.expect(30, "not started everywhere with one promoted", || {
        let r = replay(&lab.log("roles"));
        r.running == all && r.promoted.len() == 1
    });
    let p = the_promoted(&lab);
    let (pi, q) = (
        index(&p),
        all.iter().find(|n| **n != p).cloned().unwrap_or_default(),
    );
    // The agent's promotion scores came through the crm_attribute shim.
    lab.expect(10, "no promotion score from the agent", || {
        lab.event(&p, |e| score(e, "10")).is_some()
    });
    assert!(lab.event(&q, |e| score(e, "5")).is_some());
    // The environment pacemaker gives a promotable clone's instances.
    let env_of =
        |i: usize| std::fs::read_to_string(lab.run_dir(i).join("state.env")).unwrap_or_default();
    lab.expect(10, "the promoted monitor never ran", || {
        env_of(pi).contains("OCF_RESKEY_CRM_meta_role=Promoted")
    });
    let env = env_of(pi);
    for needle in [
        format!("OCF_RESKEY_CRM_meta_clone={}\n", pi - 1),
        "OCF_RESKEY_CRM_meta_clone_max=3\n".into(),
        "OCF_RESKEY_CRM_meta_clone_node_max=1\n".into(),
        "OCF_RESKEY_CRM_meta_notify=false\n".into(),
        "OCF_RESKEY_CRM_meta_promoted_max=1\n".into(),
        "OCF_RESKEY_CRM_meta_interval=500\n".into(),
        "OCF_RESOURCE_INSTANCE=state\n".into(),
        "HA_SBIN_DIR=".into(),
    ] {
        assert!(env.contains(&needle), "{needle:?} not in\n{env}");
    }
    lab.expect(10, "an unpromoted monitor never ran", || {
        env_of(index(&q)).contains("OCF_RESKEY_CRM_meta_role=Unpromoted")
    });
    let status = lab.status(index(&q)).expect("status");
    let roles: Vec<(String, String)> = status["resources"][0]["instances"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| (i["node"].to_string(), i["role"].to_string()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        roles.contains(&(format!("\"{p}\""), "\"promoted\"".into()))
            && roles.iter().filter(|(_, r)| r == "\"promoted\"").count() == 1,
        "{status}"
    );
    let (_, text) = lab.cli(index(&q), &["status"]);
    assert!(
        text.contains(&format!("running on {p} (promoted)")),
        "{text}"
    );

    // The promoted node is cut off: fenced, and only then is another one promoted (the
    // survivors' scores are equal: the first name).
    let survivor = all.iter().find(|n| **n != p).cloned().unwrap_or_default();
    let cut = common_cluster::now_ms();
    lab.cut(pi);
    lab.expect(20, "nobody was promoted after the cut", || {
        lab.log("roles")
            .iter()
            .any(|l| l.at >= cut && l.event == "promote" && l.node != p)
    });
    let log = lab.log("roles");
    let promote = log
        .iter()
        .find(|l| l.at >= cut && l.event == "promote" && l.node != p)
        .expect("promote")
        .clone();
    let off = log
        .iter()
        .find(|l| l.event == "poweroff" && l.node == p)
        .unwrap_or_else(|| panic!("{p} not fenced:\n{}", lab.c.timeline_text(cut)));
    assert!(
        off.at <= promote.at,
        "promoted before the fence: {promote:?} before {off:?}\n{log:#?}\n{}",
        lab.c.timeline_text(0)
    );
    assert_eq!(promote.node, survivor, "equal scores: the first name");
    let fenced = lab
        .event_since(cut, &survivor, |e| {
            matches!(e.kind.as_str(), "fenced" | "fence_confirmed") && e.str("target") == p
        })
        .map(|(i, _)| i)
        .unwrap_or_else(|| {
            panic!(
                "{survivor} never learned the fence:\n{}",
                lab.c.timeline_text(cut)
            )
        });
    let promoted = lab
        .event_since(cut, &survivor, |e| {
            e.kind == "resource_action"
                && e.str("action") == "promote"
                && e.str("resource") == "state"
        })
        .map(|(i, _)| i)
        .expect("the survivor's promote event");
    assert!(fenced < promoted, "{}", lab.c.timeline_text(cut));
    assert_eq!(lab.power(pi), "off");

    // The lost node comes back: it runs an unpromoted instance; the survivor stays
    // promoted (score 10 against 5).
    lab.heal(pi);
    let back = common_cluster::now_ms();
    lab.start(pi);
    lab.expect(25, "the lost node did not run an instance again", || {
        lab.log("roles")
            .iter()
            .any(|l| l.at >= back && l.node == p && l.event == "start")
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let r = replay(&lab.log("roles"));
    assert_eq!(
        r.promoted,
        names(&[survivor.as_str()]),
        "{}",
        lab.c.timeline_text(back)
    );
    assert_eq!(r.running, all);

    // The survivor goes to standby (asked elsewhere): demoted (and stopped) before
    // anyone else is promoted.
    let asker = all
        .iter()
        .find(|n| **n != survivor)
        .map(|n| index(n))
        .unwrap_or(1);
    let standby = common_cluster::now_ms();
    lab.admin(asker, &["node", "standby", &survivor]);
    lab.expect(20, "the promotion did not move", || {
        let r = replay(&lab.log("roles"));
        r.promoted.len() == 1 && !r.promoted.contains(&survivor) && !r.running.contains(&survivor)
    });
    let log = lab.log("roles");
    let demote = log
        .iter()
        .find(|l| l.at >= standby && l.node == survivor && l.event == "demote")
        .expect("the survivor demoted");
    let next = log
        .iter()
        .find(|l| l.at >= standby && l.event == "promote")
        .expect("promoted elsewhere");
    assert!(demote.at <= next.at, "{log:#?}");
    assert_one_promoted_at_most(&lab);
    let left: BTreeSet<String> = all.iter().filter(|n| **n != survivor).cloned().collect();

    // The promoted instance fails its (promoted) monitor: it is demoted before anything
    // is promoted again, and recovered. Stateful answers a monitor with the code in
    // STATE.rc while that file exists.
    let holder = next.node.clone();
    let i = index(&holder);
    let failed_at = common_cluster::now_ms();
    std::fs::write(lab.run_dir(i).join("state.state.rc"), "1\n").expect("rc file");
    lab.expect(10, "the promoted monitor did not fail", || {
        lab.event_since(failed_at, &holder, |e| {
            e.kind == "monitor_failed"
                && e.str("resource") == "state"
                && e.fields["rc"]["code"] == 1
        })
        .is_some()
    });
    std::fs::remove_file(lab.run_dir(i).join("state.state.rc")).expect("rc file gone");
    lab.expect(20, "not recovered with one promoted instance", || {
        let r = replay(&lab.log("roles"));
        let promoted_again = lab
            .log("roles")
            .iter()
            .any(|l| l.at >= failed_at && l.event == "promote");
        promoted_again && r.promoted.len() == 1 && r.running == left
    });
    let log = lab.log("roles");
    let demoted = log
        .iter()
        .find(|l| l.at >= failed_at && l.node == holder && l.event == "demote")
        .expect("the failed instance demoted");
    let promoted = log
        .iter()
        .find(|l| l.at >= failed_at && l.event == "promote")
        .expect("promoted again");
    assert!(demoted.at <= promoted.at, "{log:#?}");
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
