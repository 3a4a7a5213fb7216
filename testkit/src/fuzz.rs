//! The runner and input strategies of the property tests.
//!
//! Each property runs `PROPTEST_CASES` cases when set (`bench/fuzz.sh` raises it), else its
//! own modest default so the test suite stays fast. A failing case is shrunk by proptest and
//! the test panics with the minimal input. With `PALISADE_FUZZ_REPORT=1` every property
//! prints `FUZZ: <name>: <cases> cases, <failures> failures` to the process's stderr
//! (uncaptured), which `bench/fuzz.sh` collects.
use std::fmt::Debug;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

/// The variable that turns on the per-property report lines.
pub const REPORT_ENV: &str = "PALISADE_FUZZ_REPORT";

/// The number of cases to run: `PROPTEST_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run the property `test` on `cases(default_cases)` inputs from `strategy`; panics with
/// the shrunk input when a case fails or panics. Deterministic seed unless
/// `PROPTEST_RNG_SEED`/proptest's own variables say otherwise (proptest's default RNG).
#[track_caller]
pub fn check<S>(
    name: &str,
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases: cases(default_cases),
        failure_persistence: None,
        // Shrinking is bounded so a failure in a long run still ends.
        max_shrink_iters: 2048,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tried = AtomicU64::new(0);
    let outcome = runner.run(&strategy, |input| {
        tried.fetch_add(1, Ordering::Relaxed);
        test(input)
    });
    let failures = u64::from(outcome.is_err());
    if std::env::var(REPORT_ENV).as_deref() == Ok("1") {
        let line = format!(
            "FUZZ: {name}: {} cases, {failures} failures\n",
            tried.load(Ordering::Relaxed)
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
    match outcome {
        Ok(()) => {}
        Err(TestError::Fail(why, input)) => {
            panic!("{name}: property failed: {why}\nminimal input: {input:#?}")
        }
        Err(TestError::Abort(why)) => panic!("{name}: aborted: {why}"),
    }
}

/// Arbitrary bytes, up to `max` long.
pub fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..=max)
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace the byte at (index mod len).
    Set(usize, u8),
    /// Flip one bit of the byte at (index mod len).
    Flip(usize, u8),
    /// Insert a byte at (index mod len+1).
    Insert(usize, u8),
    /// Remove the byte at (index mod len).
    Remove(usize),
    /// Cut the input at (index mod len+1).
    Truncate(usize),
    /// Set a byte to an edge value (0, 0x7f, 0x80, 0xff) — lengths and tags.
    Edge(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        2 => (any::<usize>(), 0u8..8).prop_map(|(i, b)| Edit::Flip(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => any::<usize>().prop_map(Edit::Truncate),
        2 => (any::<usize>(), prop::sample::select(vec![0u8, 0x7f, 0x80, 0x81, 0x84, 0xff]))
            .prop_map(|(i, b)| Edit::Edge(i, b)),
    ]
}

/// Apply `edits` to `base`.
pub fn apply(mut base: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let len = base.len();
        match *e {
            Edit::Set(i, b) | Edit::Edge(i, b) if len > 0 => base[i % len] = b,
            Edit::Flip(i, bit) if len > 0 => base[i % len] ^= 1 << (bit % 8),
            Edit::Insert(i, b) => base.insert(i % (len + 1), b),
            Edit::Remove(i) if len > 0 => {
                base.remove(i % len);
            }
            Edit::Truncate(i) => base.truncate(i % (len + 1)),
            _ => {}
        }
    }
    base
}

/// A valid encoding from `valid` with 1 to `max_edits` byte edits applied
/// (structure-aware fuzzing: most of the input stays well formed).
pub fn mutated<S>(valid: S, max_edits: usize) -> impl Strategy<Value = Vec<u8>>
where
    S: Strategy<Value = Vec<u8>>,
{
    (
        valid,
        proptest::collection::vec(edit(), 1..=max_edits.max(1)),
    )
        .prop_map(|(base, edits)| apply(base, &edits))
}

/// Text inputs: arbitrary strings, and `valid` texts with byte edits (kept when UTF-8
/// survives, else lossily converted).
pub fn mutated_text<S>(valid: S, max_edits: usize) -> impl Strategy<Value = String>
where
    S: Strategy<Value = String>,
{
    mutated(valid.prop_map(String::into_bytes), max_edits)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// A memory bound for parsing `input_len` bytes: `factor` times the input plus 64 KiB.
pub fn memory_bound(input_len: usize, factor: usize) -> usize {
    input_len.saturating_mul(factor).saturating_add(64 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_stay_in_range() {
        assert_eq!(
            apply(vec![], &[Edit::Set(5, 1), Edit::Remove(3)]),
            Vec::<u8>::new()
        );
        assert_eq!(apply(vec![1, 2, 3], &[Edit::Truncate(1)]), vec![1]);
        assert_eq!(apply(vec![1], &[Edit::Insert(7, 9)]), vec![1, 9]);
        assert_eq!(apply(vec![0], &[Edit::Flip(0, 7)]), vec![0x80]);
    }

    #[test]
    fn check_runs_the_given_cases() {
        let n = AtomicU64::new(0);
        check("count", 7, bytes(4), |_| {
            n.fetch_add(1, Ordering::Relaxed);
            Ok(())
        });
        assert_eq!(n.load(Ordering::Relaxed), u64::from(cases(7)));
    }
}
