//! Opt-in test against a real kernel watchdog (softdog). It ARMS the device.
//!
//! Run only on a disposable machine with `modprobe softdog` done and no `nowayout`:
//! `PALISADE_SOFTDOG=1 PALISADE_SOFTDOG_DEV=/dev/watchdog0 cargo test -p watchdog
//! --test softdog -- --ignored`. Both variables are required; the path is never guessed.
//! The test sets a 60 s timeout, pets, reads the timeout and time left, then disarms with
//! the magic close. If it dies half-way, the machine resets within 60 s.

use std::path::PathBuf;
use std::time::Duration;

use watchdog::{probe, DevWatchdog, Watchdog};

#[test]
#[ignore = "arms a real watchdog; needs PALISADE_SOFTDOG=1 and PALISADE_SOFTDOG_DEV on a disposable machine with softdog"]
fn softdog_arm_pet_and_magic_close() {
    if std::env::var("PALISADE_SOFTDOG").as_deref() != Ok("1") {
        eprintln!("PALISADE_SOFTDOG=1 not set: skipping");
        return;
    }
    let Some(dev) = std::env::var_os("PALISADE_SOFTDOG_DEV").map(PathBuf::from) else {
        eprintln!("PALISADE_SOFTDOG_DEV not set: skipping");
        return;
    };
    let probed = probe().unwrap();
    let target = probed
        .iter()
        .find(|w| w.dev_nodes.contains(&dev))
        .expect("the device is listed by the probe");
    assert!(
        target.is_softdog(),
        "refusing to arm a non-softdog: {target:?}"
    );
    assert_ne!(
        target.nowayout,
        Some(true),
        "nowayout set: magic close would not stop it"
    );
    assert!(!target.is_active(), "someone else holds this watchdog");

    let mut dog = DevWatchdog::arm_with_timeout(&dev, Some(Duration::from_secs(60))).unwrap();
    assert_eq!(dog.identity().driver, "Software Watchdog");
    assert_eq!(dog.get_timeout().unwrap(), Duration::from_secs(60));
    dog.keepalive().unwrap();
    if let Some(left) = dog.time_left().unwrap() {
        assert!(left <= Duration::from_secs(60) && left >= Duration::from_secs(55));
    }
    dog.disarm_with_magic_close().unwrap();
}
