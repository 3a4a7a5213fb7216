//! Faults of real block devices under our running `palisade-sbd watch`: a loop device
//! whose reads start failing with EIO (its backing image truncated under it) must stop
//! the watchdog pets within one I/O + loop timeout when it was the only device, must be
//! survived when it is one of three, and two of three failing must stop the pets again.
//! Pets are observed through the pet-file test watchdog.
//!
//! Safety: as in daemon.rs: setpriv --bounding-set -sys_boot (checked), the pet-file
//! watchdog, the recording self-fence executor, PALISADE_FORBID_SELF_FENCE=1, daemons
//! killed by their own child handle. Needs root and losetup; otherwise a counted skip
//! (a failure under CI=true or as root).

mod common;

use std::time::Duration;

use common::*;
use watchdog::monotonic_now;

/// The daemons run with `-I 1` and loop 1 s: a failing device stops counting after this.
const IO_PLUS_LOOP: Duration = Duration::from_secs(2);
/// Slack for the inquisitor tick (100 ms polls) and a loaded test machine.
const SLACK: Duration = Duration::from_millis(700);

/// `count` loop devices with an sbd area made by our CLI and node1 allocated.
fn loop_disks(work: &Work, count: usize) -> Option<Vec<LoopDisk>> {
    let disks: Option<Vec<LoopDisk>> = (0..count)
        .map(|i| LoopDisk::attach(work, &format!("disk{i}")))
        .collect();
    let disks = disks?;
    let paths: Vec<&str> = disks.iter().map(|d| d.path.as_str()).collect();
    must(OURS, &paths, &[&TIMEOUTS[..], &["create"]].concat());
    must(OURS, &paths, &["allocate", "node1"]);
    Some(disks)
}

#[test]
fn the_only_device_failing_with_io_errors_stops_the_pets_in_time() {
    if !can_run("io_errors_single", false) {
        return;
    }
    let work = Work::new("eio1");
    let Some(disks) = loop_disks(&work, 1) else {
        return;
    };
    let mut watcher = Watcher::start(&work, "w", &[disks[0].path.as_str()], &[], &[]);
    watcher.wait_armed();
    assert!(watcher.still_petting(), "{}", watcher.log());

    let broken_at = monotonic_now();
    disks[0].fail_with_io_errors();
    let code = watcher.wait_exit(WATCHDOG + IO_PLUS_LOOP + Duration::from_secs(3));
    assert_eq!(code, Some(21), "no self-fence:\n{}", watcher.log());
    assert!(
        watcher.log().contains("Input/output error"),
        "{}",
        watcher.log()
    );
    let pets = watcher.pet_log();
    let last = pets.last_pet().expect("pets before the failure");
    assert!(
        last < broken_at + IO_PLUS_LOOP + SLACK,
        "pets went on {:?} after the device failed",
        last.saturating_sub(broken_at)
    );
    let fired = pets
        .fired_at(monotonic_now())
        .expect("the watchdog would have fired");
    eprintln!(
        "EIO on the only device: last pet {:?} after the failure, watchdog expiry {:?} after",
        last.saturating_sub(broken_at),
        fired.saturating_sub(broken_at)
    );
    assert!(
        fired <= broken_at + IO_PLUS_LOOP + WATCHDOG + SLACK,
        "watchdog fired {:?} after the failure",
        fired.saturating_sub(broken_at)
    );
    let record = watcher.record().expect("self-fence recorded");
    assert!(
        record.starts_with("reboot flush watchdog starved"),
        "{record}"
    );
    assert!(!pets.magic_closed());
}

#[test]
fn one_of_three_devices_failing_is_survived_two_are_not() {
    if !can_run("io_errors_three", false) {
        return;
    }
    let work = Work::new("eio3");
    let Some(disks) = loop_disks(&work, 3) else {
        return;
    };
    let paths: Vec<&str> = disks.iter().map(|d| d.path.as_str()).collect();
    let mut watcher = Watcher::start(&work, "w", &paths, &[], &[]);
    watcher.wait_armed();

    disks[1].fail_with_io_errors();
    std::thread::sleep(WATCHDOG * 2);
    assert!(watcher.running(), "{}", watcher.log());
    assert!(watcher.still_petting(), "{}", watcher.log());
    assert!(
        watcher.log().contains("Input/output error"),
        "the failing device is reported:\n{}",
        watcher.log()
    );
    assert!(watcher.record().is_none());
    // The modelled watchdog never ran out while 2 of 3 devices answered (judged on the
    // program's own pet records, not on a gap the test's clock could stretch).
    assert!(
        watcher.pet_log().fired_at(monotonic_now()).is_none(),
        "the watchdog ran out while 2 of 3 devices answered:\n{}",
        watcher.log()
    );

    let broken_at = monotonic_now();
    disks[2].fail_with_io_errors();
    let code = watcher.wait_exit(WATCHDOG + IO_PLUS_LOOP + Duration::from_secs(3));
    assert_eq!(code, Some(21), "no self-fence:\n{}", watcher.log());
    let last = watcher.pet_log().last_pet().expect("pets");
    assert!(
        last < broken_at + IO_PLUS_LOOP + SLACK,
        "pets went on {:?} after the majority was lost",
        last.saturating_sub(broken_at)
    );
}
