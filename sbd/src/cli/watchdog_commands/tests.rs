//! `query-watchdog` and `test-watchdog` with a fake probe and the pet-file test device.

use std::path::PathBuf;
use std::time::Duration;

use watchdog::{PetLog, ProbedWatchdog};

use crate::cli::tests::World;

fn softdog() -> ProbedWatchdog {
    ProbedWatchdog {
        name: "watchdog0".into(),
        sysfs_path: PathBuf::from("/sys/class/watchdog/watchdog0"),
        dev_nodes: vec![
            PathBuf::from("/dev/watchdog0"),
            PathBuf::from("/dev/watchdog"),
        ],
        identity: Some("Software Watchdog".into()),
        driver: Some("softdog".into()),
        timeout: Some(Duration::from_secs(60)),
        min_timeout: Some(Duration::from_secs(1)),
        max_timeout: Some(Duration::from_secs(65535)),
        options: Some(0x8180),
        nowayout: Some(false),
        state: Some("inactive".into()),
        ..ProbedWatchdog::default()
    }
}

fn scratch(tag: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("palisade-sbd-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn query_lists_what_sysfs_says() {
    let mut world = World::new(&[]);
    world.watchdogs = vec![softdog()];
    let (code, out, err) = world.run("query-watchdog");
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(
        out.starts_with(
            "watchdog0: /dev/watchdog0, /dev/watchdog\n  identity: Software Watchdog\n  driver: softdog\n  \
             timeout: 60 s (min 1 s, max 65535 s)\n  state: inactive, nowayout: no\n"
        ),
        "{out}"
    );
    assert!(out.contains("  options: "), "{out}");
    assert!(
        out.contains("  warning: watchdog0: softdog is a software timer"),
        "{out}"
    );
}

#[test]
fn query_without_a_watchdog_fails_clearly() {
    let mut world = World::new(&[]);
    let (code, out, err) = world.run("query-watchdog");
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("no watchdog found"), "{err}");
}

#[test]
fn test_watchdog_only_describes_without_force() {
    let mut world = World::new(&[]);
    world.watchdogs = vec![softdog()];
    let (code, out, err) = world.run("-w /dev/watchdog0 -1 7 test-watchdog");
    assert_eq!(code, 1);
    assert!(out.contains("identity: Software Watchdog"), "{out}");
    assert!(
        out.contains(
            "test-watchdog: open /dev/watchdog0 (this arms it), set its timeout to 7 s, never pet it"
        ),
        "{out}"
    );
    assert!(out.contains("RESETS THIS NODE"), "{out}");
    assert!(err.contains("give --force-reset=yes"), "{err}");
    assert!(world.pauses.is_empty(), "nothing armed, nothing waited");
}

#[test]
fn test_watchdog_never_arms_a_real_device_under_the_forbid_variable() {
    let mut world = World::new(&[]);
    world
        .env
        .insert(watchdog::FORBID_ENV.to_owned(), "1".to_owned());
    let (code, out, err) = world.run("-w /dev/watchdog0 test-watchdog --force-reset=yes");
    assert_eq!(code, 1);
    assert!(
        out.contains("sysfs lists no watchdog with this device node"),
        "{out}"
    );
    assert!(err.contains("tests never arm a real watchdog"), "{err}");
    assert!(world.pauses.is_empty());
}

#[test]
fn test_watchdog_with_the_watchdog_off_has_nothing_to_do() {
    let mut world = World::new(&[]);
    for line in [
        "-w /dev/null test-watchdog",
        "-W -W test-watchdog --force-reset=yes",
    ] {
        let (code, _, err) = world.run(line);
        assert_eq!(code, 1, "{line}");
        assert!(err.contains("no watchdog configured"), "{line}: {err}");
    }
    let (code, _, err) = world.run("-w relative test-watchdog");
    assert_eq!(code, 1);
    assert!(err.contains("bad watchdog device"), "{err}");
}

#[test]
fn forced_test_on_the_pet_file_device_lets_it_expire() {
    let pets = scratch("test-watchdog-pets");
    let mut world = World::new(&[]);
    world.on_pause = Some(Box::new(|_, d| std::thread::sleep(d)));
    let line = format!(
        "-w pet-file:{} -1 1 test-watchdog --force-reset=yes",
        pets.display()
    );
    let (code, out, err) = world.run(&line);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("is a test device: nothing will reset this node"),
        "{out}"
    );
    assert!(
        out.contains("the test watchdog expired 1000 ms after it was armed"),
        "{out}"
    );
    assert_eq!(world.pauses, vec![Duration::from_millis(1500)]);
    let log = PetLog::read(&pets).expect("pet log");
    assert_eq!(log.pets().len(), 1, "only the pet of arming");
    assert!(!log.magic_closed());
    let _ = std::fs::remove_file(&pets);
}
