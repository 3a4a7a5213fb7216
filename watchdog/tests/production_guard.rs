//! The real self-fence executor must be unreachable from tests: `cargo test` sets `CARGO`
//! for the test process (and every child it spawns), so `Production::claim` refuses.

use watchdog::{Production, SelfFenceError};

#[test]
fn cargo_test_processes_cannot_claim_production() {
    assert!(
        std::env::var_os("CARGO").is_some(),
        "cargo is expected to export CARGO to test binaries"
    );
    assert!(matches!(
        Production::claim(),
        Err(SelfFenceError::Refused(_))
    ));
}

#[test]
fn children_of_tests_cannot_claim_production_either() {
    // A child inherits the environment; the refusal reason is the CARGO variable.
    let out = std::process::Command::new("/usr/bin/env")
        .output()
        .expect("run env");
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.lines().any(|l| l.starts_with("CARGO=")), "{env}");
}
