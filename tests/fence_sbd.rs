//! Our `fence_sbd` end to end on sbd disks created by the real ClusterLabs sbd (Debian
//! package `sbd`) on loop devices: off / on / reboot are checked through Debian's own
//! `sbd list`, status and list through the agent, and every step side by side with
//! ClusterLabs' `fence_sbd` (same exit codes, same stdout lines) on a twin disk.
//!
//! Needs root, losetup (through `tests/fixtures/sbd_loop.sh`) and /usr/sbin/sbd; without
//! them each test is a counted skip (`SKIPPED:` line), a failure under CI=true or as root. Only sbd's disk commands run (create,
//! allocate, list; ClusterLabs' fence_sbd runs `message`), never `watch`; the watchdog is
//! set to /dev/null throughout and nothing opens a watchdog device.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

const THEIR_SBD: &str = "/usr/sbin/sbd";
const THEIR_FENCE_SBD: &str = "/usr/sbin/fence_sbd";
/// Short sbd timeouts: msgwait 1 s, so each fence waits about a second.
const FAST: [&str; 8] = ["-1", "2", "-2", "1", "-3", "1", "-4", "1"];
/// Environment that keeps any sbd process away from watchdogs and cluster servants.
const SAFE_ENV: [(&str, &str); 2] = [("SBD_WATCHDOG_DEV", "/dev/null"), ("SBD_PACEMAKER", "no")];

/// A loop device from the fixture script, detached (and its image deleted) on drop.
struct Disk {
    name: String,
    path: String,
}

fn fixture() -> PathBuf {
    repo_root().join("tests/fixtures/sbd_loop.sh")
}

impl Disk {
    fn attach() -> Result<Disk, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "fence-sbd-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("bash")
            .arg(fixture())
            .args(["attach", &name])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Disk { name, path })
    }
}

impl Drop for Disk {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(fixture())
            .args(["detach", &self.name])
            .output();
    }
}

/// `count` Debian-created sbd disks with node1 and node2 allocated, or `None` after a
/// counted skip when the peer cannot run here (a failure under CI=true or as root).
fn debian_disks(test: &str, count: usize) -> Option<Vec<Disk>> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        testkit::skip::required(format!("{test}: not root (losetup and sbd need root)"));
        return None;
    }
    if !Path::new(THEIR_SBD).exists() {
        testkit::skip::required(format!("{test}: {THEIR_SBD} missing (apt-get install sbd)"));
        return None;
    }
    let mut disks = Vec::new();
    for _ in 0..count {
        match Disk::attach() {
            Ok(d) => disks.push(d),
            Err(e) => {
                testkit::skip::required(format!("{test}: no loop device: {e}"));
                return None;
            }
        }
    }
    for disk in &disks {
        debian_sbd(&[disk], &[&FAST[..], &["create"]].concat());
        debian_sbd(&[disk], &["allocate", "node1"]);
        debian_sbd(&[disk], &["allocate", "node2"]);
    }
    Some(disks)
}

/// Run Debian's sbd (disk commands only, no realtime, no watchdog); must succeed.
fn debian_sbd(disks: &[&Disk], args: &[&str]) -> String {
    let mut argv: Vec<String> = vec!["-R".into(), "-w".into(), "/dev/null".into()];
    for d in disks {
        argv.push("-d".into());
        argv.push(d.path.clone());
    }
    argv.extend(args.iter().map(|s| s.to_string()));
    let out = run_raw(Path::new(THEIR_SBD), &argv, None, &SAFE_ENV);
    assert_eq!(out.code, Some(0), "sbd {args:?} failed: {out:#?}");
    out.stdout
}

/// `command` of `node` in Debian's `sbd list` of one disk.
fn listed_command(disk: &Disk, node: &str) -> String {
    let list = debian_sbd(&[disk], &["list"]);
    list.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&node))
        .and_then(|f| f.get(2).map(|s| s.to_string()))
        .unwrap_or_else(|| panic!("{node} not in sbd list:\n{list}"))
}

fn options(disks: &[&Disk], action: &str, plug: Option<&str>) -> Options {
    let devices: Vec<&str> = disks.iter().map(|d| d.path.as_str()).collect();
    let mut o = Options::new()
        .set("devices", devices.join(","))
        .set("action", action);
    if let Some(plug) = plug {
        o = o.set("plug", plug);
    }
    o
}

fn agent_path(clusterlabs: bool) -> PathBuf {
    if clusterlabs {
        PathBuf::from(THEIR_FENCE_SBD)
    } else {
        built_binary("fence_sbd")
    }
}

fn fence(clusterlabs: bool, mode: Mode, o: &Options) -> Outcome {
    let agent = agent_path(clusterlabs);
    match mode {
        Mode::Argv => run_raw(&agent, &o.argv(), None, &SAFE_ENV),
        Mode::Stdin => run_raw(&agent, &[], Some(&o.stdin()), &SAFE_ENV),
    }
}

fn ours(disks: &[&Disk], action: &str, plug: Option<&str>) -> Outcome {
    fence(false, Mode::Argv, &options(disks, action, plug))
}

#[test]
fn off_on_reboot_status_list_seen_by_debian_sbd() {
    let Some(disks) = debian_disks("fence_sbd end to end", 1) else {
        return;
    };
    let d = [&disks[0]];
    ours(&d, "status", Some("node1"))
        .expect_code(0, "status")
        .expect_line("Status: ON", "status");
    let off = ours(&d, "off", Some("node1"));
    off.expect_code(0, "off")
        .expect_line("Success: Powered OFF", "off");
    // That off is confirmed only after msgwait is checked without a clock by the
    // agent's unit test (a recording pause: one msgwait after delivery, none for on).
    assert_eq!(listed_command(&disks[0], "node1"), "off");
    assert_eq!(listed_command(&disks[0], "node2"), "clear");
    ours(&d, "status", Some("node1"))
        .expect_code(2, "status off")
        .expect_line("Status: OFF", "status off");
    ours(&d, "on", Some("node1"))
        .expect_code(0, "on")
        .expect_line("Success: Powered ON", "on");
    assert_eq!(listed_command(&disks[0], "node1"), "clear");
    ours(&d, "reboot", Some("NODE2"))
        .expect_code(0, "reboot")
        .expect_line("Success: Rebooted", "reboot");
    assert_eq!(listed_command(&disks[0], "node2"), "reset");
    let list = ours(&d, "list", None);
    list.expect_code(0, "list");
    assert_eq!(list.result_lines(), vec!["node1,node1", "node2,node2"]);
    let list = ours(&d, "list-status", None);
    assert_eq!(
        list.result_lines(),
        vec!["node1,node1,ON", "node2,node2,OFF"]
    );
    ours(&d, "monitor", None).expect_code(0, "monitor");
    // power_timeout not above msgwait (1 s): warned about, as ClusterLabs does.
    let warned = fence(
        false,
        Mode::Argv,
        &options(&d, "status", Some("node1")).set("power_timeout", 1),
    );
    warned.expect_code(0, "status with a short power_timeout");
    assert!(warned.stderr.contains("power timeout"), "{warned:?}");
    let unknown = ours(&d, "status", Some("node9"));
    unknown.expect_code(1, "unknown node");
    assert!(unknown.stderr.contains("node9"), "{unknown:?}");
    // pacemaker's way: options on stdin.
    fence(false, Mode::Stdin, &options(&d, "off", Some("node1")))
        .expect_code(0, "off via stdin")
        .expect_line("Success: Powered OFF", "off via stdin");
    assert_eq!(listed_command(&disks[0], "node1"), "off");
}

#[test]
fn three_devices_one_lost_still_fences() {
    let Some(mut disks) = debian_disks("fence_sbd with three devices", 3) else {
        return;
    };
    let all: Vec<&Disk> = disks.iter().collect();
    let mut o = options(&all, "reboot", Some("node1"));
    // Lose the second device (its loop device goes away).
    let lost = disks.remove(1);
    drop(lost);
    fence(false, Mode::Argv, &o)
        .expect_code(0, "reboot with 2 of 3")
        .expect_line("Success: Rebooted", "reboot with 2 of 3");
    for disk in &disks {
        assert_eq!(listed_command(disk, "node1"), "reset");
    }
    // Losing a second device leaves no majority: the fence fails.
    let gone = disks.remove(1);
    drop(gone);
    o = Options(o.0.into_iter().filter(|opt| opt.name != "plug").collect()).set("plug", "node2");
    let failed = fence(false, Mode::Argv, &o);
    failed.expect_code(1, "reboot with 1 of 3");
    assert!(failed.stderr.contains("1 of 3"), "{failed:?}");
}

/// One side-by-side step: action, plug, extra options.
type Step = (
    &'static str,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
);

#[test]
fn side_by_side_with_clusterlabs_fence_sbd() {
    if !Path::new(THEIR_FENCE_SBD).exists() {
        testkit::skip::optional(format!(
            "{THEIR_FENCE_SBD} not installed (apt-get install fence-agents): side-by-side not possible"
        ));
        return;
    }
    let Some(disks) = debian_disks("fence_sbd side by side", 2) else {
        return;
    };
    let (mine, theirs) = (&disks[0], &disks[1]);
    let steps: &[Step] = &[
        ("status", Some("node1"), &[]),
        ("off", Some("node1"), &[]),
        ("status", Some("node1"), &[]),
        ("off", Some("node1"), &[]),
        ("on", Some("node1"), &[]),
        ("on", Some("node1"), &[]),
        ("reboot", Some("node2"), &[]),
        ("status", Some("node2"), &[]),
        ("on", Some("node2"), &[]),
        ("reboot", Some("node1"), &[("method", "onoff")]),
        ("list", None, &[]),
        ("list-status", None, &[]),
        ("monitor", None, &[]),
        ("status", Some("node9"), &[]),
        ("off", None, &[]),
    ];
    for (action, plug, extra) in steps {
        let run = |disk: &Disk, clusterlabs: bool| {
            let mut o = options(&[disk], action, *plug);
            for (k, v) in *extra {
                o = o.set(k, v);
            }
            fence(clusterlabs, Mode::Argv, &o)
        };
        let (a, b) = (run(mine, false), run(theirs, true));
        let what = format!("{action} {plug:?} {extra:?}");
        assert!(!a.stderr.contains("panicked"), "{what}: {a:#?}");
        assert_eq!(
            a.code, b.code,
            "{what}: exit codes differ\nours {a:#?}\ntheirs {b:#?}"
        );
        // ClusterLabs prints list-status states as its agent returns them (`on`); the
        // shared framework prints ON/OFF for every agent.
        let lines = |o: &Outcome| -> Vec<String> {
            o.result_lines()
                .into_iter()
                .map(|l| {
                    if *action == "list-status" {
                        l.to_uppercase()
                    } else {
                        l
                    }
                })
                .collect()
        };
        assert_eq!(
            lines(&a),
            lines(&b),
            "{what}: stdout differs\nours {a:#?}\ntheirs {b:#?}"
        );
        assert_eq!(
            debian_sbd(&[mine], &["list"]),
            debian_sbd(&[theirs], &["list"]),
            "{what}: the disks differ afterwards"
        );
    }
}
