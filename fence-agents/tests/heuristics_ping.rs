//! fence_heuristics_ping end to end with real ICMP: loopback targets (127.0.0.1, ::1)
//! answer; a target inside a network namespace this test creates (a veth pair to the
//! test's own namespace) answers while the link is up and not once the namespace side of
//! the link is down. No other address is ever probed. ClusterLabs' agent runs side by
//! side where it can (it needs /bin/ping; without it only the actions that never ping are
//! compared, with a printed notice).
//!
//! Cleanup: the namespace (and with it the veth pair) is deleted on drop, by its own name.

mod common;

use common::{run_agent, Ran};
use std::path::Path;
use std::process::Command;

const CLUSTERLABS: &str = "/usr/sbin/fence_heuristics_ping";

/// Fast probes: 2 requests 0.2 s apart, both must answer within 1 s.
const FAST: &[&str] = &[
    "--ping-count=2",
    "--ping-good-count=2",
    "--ping-interval=0.2",
    "--ping-timeout=1",
];

fn agent(action: &str, targets: &str, extra: &[&str]) -> Ran {
    let mut args: Vec<String> = vec!["-o".into(), action.into()];
    if !targets.is_empty() {
        args.push(format!("--ping-targets={targets}"));
    }
    args.extend(FAST.iter().chain(extra).map(|s| s.to_string()));
    run_agent("fence_heuristics_ping", &args, None)
}

fn expect(ran: &Ran, code: i32, line: Option<&str>, what: &str) {
    assert_eq!(ran.code, Some(code), "{what}: {ran:?}");
    if let Some(line) = line {
        assert_eq!(
            ran.stdout.lines().collect::<Vec<_>>(),
            [line],
            "{what}: {ran:?}"
        );
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {args:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A namespace with one veth pair to ours: 10.213.N.1/30 here, 10.213.N.2/30 inside.
struct Lab {
    ns: String,
    ns_if: String,
    ns_addr: String,
}

impl Lab {
    fn up() -> Result<Lab, String> {
        let id = std::process::id();
        let n = id % 250 + 1;
        let lab = Lab {
            ns: format!("pal13hp-{id}"),
            ns_if: format!("p13h{}b", id % 100_000),
            ns_addr: format!("10.213.{n}.2"),
        };
        let host_if = format!("p13h{}a", id % 100_000);
        ip(&["netns", "add", &lab.ns])?;
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &lab.ns_if, "netns", &lab.ns,
        ])?;
        ip(&["addr", "add", &format!("10.213.{n}.1/30"), "dev", &host_if])?;
        ip(&["link", "set", &host_if, "up"])?;
        ip(&[
            "-n",
            &lab.ns,
            "addr",
            "add",
            &format!("{}/30", lab.ns_addr),
            "dev",
            &lab.ns_if,
        ])?;
        ip(&["-n", &lab.ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &lab.ns, "link", "set", &lab.ns_if, "up"])?;
        Ok(lab)
    }

    /// Partition: the namespace's end of the link goes down.
    fn cut(&self) {
        ip(&["-n", &self.ns, "link", "set", &self.ns_if, "down"]).expect("cut");
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Deleting our namespace deletes both ends of the veth pair.
        let _ = ip(&["netns", "del", &self.ns]);
    }
}

#[test]
fn loopback_targets_answer_so_the_level_may_go_on() {
    for targets in ["127.0.0.1", "inet6:::1", "127.0.0.1,inet6:::1,localhost"] {
        expect(
            &agent("off", targets, &[]),
            0,
            Some("Success: Powered OFF"),
            targets,
        );
        expect(
            &agent("reboot", targets, &[]),
            0,
            Some("Success: Rebooted"),
            targets,
        );
        expect(
            &agent("reboot", targets, &["--method=onoff"]),
            0,
            Some("Success: Rebooted"),
            targets,
        );
    }
    // The same through stdin, as the fencer calls it.
    let ran = run_agent::<&str>(
        "fence_heuristics_ping",
        &[],
        Some(
            "action=off\nping_targets=127.0.0.1\nping_count=2\nping_good_count=2\nping_interval=0.2\nnodename=node1\n",
        ),
    );
    expect(&ran, 0, Some("Success: Powered OFF"), "stdin");
}

#[test]
fn a_cut_off_node_refuses_to_fence_unless_maxfail_allows() {
    let lab = match Lab::up() {
        Ok(lab) => lab,
        Err(e) => panic!("cannot build the test namespace (needs root and iproute2): {e}"),
    };
    let both = format!("127.0.0.1,{}", lab.ns_addr);
    expect(
        &agent("off", &both, &[]),
        0,
        Some("Success: Powered OFF"),
        "link up",
    );
    lab.cut();
    let ran = agent("off", &both, &[]);
    expect(&ran, 1, None, "cut");
    assert!(ran.stdout.is_empty(), "{ran:?}");
    assert!(
        ran.records("ERROR")
            .iter()
            .any(|e| e == "Failed: Timed out waiting to power OFF"),
        "{ran:?}"
    );
    let ran = agent("reboot", &both, &["-v"]);
    expect(&ran, 1, None, "reboot when cut");
    assert!(
        ran.records("INFO").iter().any(|e| e
            == &format!(
                "ping target {} received 0 of 2 and thus failed",
                lab.ns_addr
            )),
        "{ran:?}"
    );
    assert!(
        ran.records("INFO")
            .iter()
            .any(|e| e == "ping target 127.0.0.1 received 2 of 2"),
        "{ran:?}"
    );
    expect(
        &agent("off", &both, &["--ping-maxfail=1"]),
        0,
        Some("Success: Powered OFF"),
        "one failure allowed",
    );
    expect(
        &agent("off", &both, &["--ping-good-count=0"]),
        0,
        Some("Success: Powered OFF"),
        "no answer needed",
    );
    // Unfencing is never blocked, and monitor probes nothing.
    expect(
        &agent("on", &both, &[]),
        0,
        Some("Success: Powered ON"),
        "on",
    );
    expect(&agent("monitor", &both, &[]), 0, None, "monitor");
}

#[test]
fn missing_targets_bad_numbers_and_actions_without_status() {
    let ran = agent("off", "", &[]);
    expect(&ran, 1, None, "no targets");
    assert!(ran.stderr.contains("ping target required"), "{ran:?}");
    expect(&agent("on", "", &[]), 0, Some("Success: Powered ON"), "on");
    for action in ["status", "list", "list-status"] {
        let ran = agent(action, "127.0.0.1", &[]);
        assert_eq!(ran.code, Some(1), "{action}: {ran:?}");
        assert!(
            ran.records("ERROR")
                .contains(&format!("Failed: Unrecognised action '{action}'")),
            "{ran:?}"
        );
    }
    for bad in [
        "--ping-count=0",
        "--ping-count=x",
        "--ping-good-count=-1",
        "--ping-timeout=0",
        "--ping-interval=soon",
        "--ping-maxfail=1.5",
    ] {
        let ran = agent("off", "127.0.0.1", &[bad]);
        assert_eq!(ran.code, Some(1), "{bad}: {ran:?}");
        assert!(ran.stdout.is_empty(), "{bad}: {ran:?}");
        assert!(ran.stderr.contains("Failed: --ping-"), "{bad}: {ran:?}");
    }
}

/// ClusterLabs' agent beside ours: same exit code and stdout for the actions that never
/// ping; the probing actions only where /bin/ping exists.
#[test]
fn side_by_side_with_clusterlabs() {
    if !Path::new(CLUSTERLABS).is_file() {
        testkit::skip::optional(format!(
            "{CLUSTERLABS} not installed (apt-get install fence-agents): comparison not possible"
        ));
        return;
    }
    let theirs = |args: &[&str]| {
        let out = Command::new(CLUSTERLABS)
            .args(args)
            .output()
            .expect("run ClusterLabs fence_heuristics_ping");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["-o", "on", "--ping-targets=127.0.0.1"],
        vec!["-o", "monitor", "--ping-targets=127.0.0.1"],
        vec!["-o", "status", "--ping-targets=127.0.0.1"],
        vec!["-o", "list", "--ping-targets=127.0.0.1"],
        vec!["-o", "off"],
        vec!["-o", "validate-all", "--ping-targets=127.0.0.1"],
    ];
    if Path::new("/bin/ping").exists() {
        cases.push(vec![
            "-o",
            "off",
            "--ping-targets=127.0.0.1",
            "--ping-count=2",
            "--ping-good-count=2",
        ]);
        cases.push(vec![
            "-o",
            "reboot",
            "--ping-targets=127.0.0.1",
            "--ping-count=2",
            "--ping-good-count=2",
        ]);
    } else {
        testkit::skip::optional(
            "/bin/ping is missing on this machine: ClusterLabs' fence_heuristics_ping cannot \
             probe (every target 'failed on OS level'), so off/reboot are not compared side by side",
        );
    }
    for args in cases {
        let ours = run_agent("fence_heuristics_ping", &args, None);
        let (code, stdout) = theirs(&args);
        assert_eq!(ours.code, code, "{args:?}: {ours:?}");
        assert_eq!(ours.stdout.trim(), stdout, "{args:?}");
    }
}
