//! A second process pets a `pet-file:` watchdog; this test reads the file and judges
//! whether the watchdog was petted in time and when it would have fired.
//!
//! The child is this same test binary re-run with `PALISADE_PET_CHILD` set; it arms a
//! 10 s timeout, pets every 100 ms for 500 ms and then exits without a magic close (a
//! "fencing exit"). The judgement is the model's, asked at chosen instants (no sleeping,
//! no elapsed-time assertion; the long timeout keeps a loaded machine from mattering).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use watchdog::{PetLog, WatchdogConfig};

const CHILD_ENV: &str = "PALISADE_PET_CHILD";
/// The child's watchdog timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn child_petter() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return; // only meaningful as the child of the test below
    };
    let config: WatchdogConfig = format!("pet-file:{}", PathBuf::from(path).display())
        .parse()
        .unwrap();
    let mut dog = config.arm(Some(TIMEOUT)).unwrap().unwrap();
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(100));
        dog.keepalive().unwrap();
    }
    // Dropped without magic close: the timer keeps running.
}

#[test]
fn another_process_stops_petting_and_the_model_fires() {
    let path = std::env::temp_dir().join(format!("palisade-xproc-pet-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_petter", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "{}",
        String::from_utf8_lossy(&child.stdout)
    );

    let log = PetLog::read(&path).unwrap();
    let pets = log.pets();
    assert_eq!(pets.len(), 6, "one pet at arm time + five in the loop");
    assert!(!log.magic_closed());
    // Petted in time while it ran: the model has not fired at the last pet.
    let last = *pets.last().unwrap();
    assert_eq!(log.fired_at(last), None);
    // After it stopped, the modelled timer runs out one timeout after the last pet:
    // not just before, and exactly then when asked after it.
    assert_eq!(
        log.fired_at(last + TIMEOUT - Duration::from_millis(1)),
        None
    );
    assert_eq!(log.fired_at(last + TIMEOUT * 2), Some(last + TIMEOUT));
    std::fs::remove_file(&path).unwrap();
}
