//! `ping`, `query-watchdog` and `test-watchdog` of the real binary: ping is answered by
//! our running watcher within a loop, the watchdog commands never touch a device unless
//! forced (and never a real one under PALISADE_FORBID_SELF_FENCE).
//!
//! Safety: the watcher runs as in daemon.rs (setpriv --bounding-set -sys_boot, pet-file
//! watchdog, recording executor, PALISADE_FORBID_SELF_FENCE=1). test-watchdog is only
//! forced on a pet-file test device; with a device path it is run unforced, or forced
//! under PALISADE_FORBID_SELF_FENCE, where it must refuse before opening anything.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn ours_bare(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(OURS)
        .args(args)
        .env_remove("SBD_WATCHDOG_DEV")
        .env_remove("SBD_WATCHDOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run palisade-sbd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ping_is_answered_by_our_watcher_within_a_loop() {
    if !can_run("ping", false) {
        return;
    }
    let work = Work::new("ping");
    let disks = three_file_disks(&work);
    let refs: Vec<&str> = disks.iter().map(String::as_str).collect();
    let mut watcher = Watcher::start(&work, "w", &refs, &[], &[]);
    watcher.wait_armed();
    let (code, out) = disk_command(OURS, &refs, &["-n", "node2", "ping", "node1"]);
    assert_eq!(code, 0, "{out}\n{}", watcher.log());
    for disk in &refs {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("node1 answered on {disk} after about ")))
            .unwrap_or_else(|| panic!("no answer on {disk}: {out}"));
        let ms: u64 = line
            .rsplit(' ')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .expect("milliseconds");
        assert!(ms <= 1500, "answered after {ms} ms (loop 1 s): {line}");
    }
    assert!(watcher.running());
    assert!(watcher.record().is_none());
    // Nobody home: node2 has no watcher; 6 s msgwait later, a failure.
    must(OURS, &refs[..1], &["allocate", "node2"]);
    let (code, err) = disk_command(OURS, &refs[..1], &["-n", "node1", "ping", "node2"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("node2 did not answer within msgwait (6 s)"),
        "{err}"
    );
}

#[test]
fn query_watchdog_lists_sysfs_or_says_there_is_none() {
    let (code, out, err) = ours_bare(&["query-watchdog"], &[]);
    let has_class = std::fs::read_dir("/sys/class/watchdog")
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if has_class {
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("watchdog0"), "{out}");
    } else {
        assert_eq!((code, out.as_str()), (1, ""));
        assert!(err.contains("no watchdog found"), "{err}");
    }
}

#[test]
fn test_watchdog_refuses_unless_forced_and_never_arms_a_device_in_tests() {
    let missing = "/dev/palisade-no-such-watchdog";
    let (code, out, err) = ours_bare(&["-w", missing, "test-watchdog"], &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains(&format!("test-watchdog: open {missing} (this arms it)")),
        "{out}"
    );
    assert!(err.contains("give --force-reset=yes"), "{err}");
    let (code, _, err) = ours_bare(
        &["-w", missing, "test-watchdog", "--force-reset=yes"],
        &[("PALISADE_FORBID_SELF_FENCE", "1")],
    );
    assert_eq!(code, 1);
    assert!(err.contains("tests never arm a real watchdog"), "{err}");
    // The default device too: the plan names it, nothing more happens.
    let (code, out, _) = ours_bare(&["test-watchdog"], &[]);
    assert_eq!(code, 1);
    assert!(out.contains("open /dev/watchdog (this arms it)"), "{out}");
}

#[test]
fn forced_test_watchdog_on_a_pet_file_sees_it_expire() {
    let work = Work::new("testwd");
    let pets = work.path("pets");
    let setting = format!("pet-file:{}", pets.display());
    let started = std::time::Instant::now();
    let (code, out, err) = ours_bare(
        &[
            "-w",
            &setting,
            "-1",
            "1",
            "test-watchdog",
            "--force-reset=yes",
        ],
        &[("PALISADE_FORBID_SELF_FENCE", "1")],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("the test watchdog expired 1000 ms after it was armed"),
        "{out}"
    );
    // A lower bound on a wait the program itself does (the 1 s timeout plus its 500 ms
    // grace, counted after `started`): a slow machine only lengthens it, so it cannot flake.
    assert!(started.elapsed() >= Duration::from_millis(1500));
}
