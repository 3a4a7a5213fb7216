//! The skip/fail policy of tests that need something this machine may not have.
//!
//! - [`required`]: a lab peer the test exists for is missing. Under `CI=true`, or as root
//!   (unless `PALISADE_ALLOW_SKIP=1`), this panics with the reason: a test that cannot run
//!   must not pass where it is expected to run. Elsewhere it is a skip.
//! - [`optional`]: an optional comparison is not possible here (e.g. the ClusterLabs agent
//!   for a side-by-side check, `/bin/ping`): always a skip, even as root or in CI.
//!
//! A skip writes `SKIPPED: <test>: <reason>` straight to the process's stderr (not through
//! `eprintln!`, which the test harness captures), and appends the same line to the file
//! named by `PALISADE_SKIP_LOG` when set (`scripts/test.sh` counts those lines).
use std::fmt::Display;
use std::io::Write;

/// The variable naming the file skip lines are appended to.
pub const LOG_ENV: &str = "PALISADE_SKIP_LOG";
/// Set to `1` to let a root run skip required peers (e.g. a developer's root shell).
pub const ALLOW_ENV: &str = "PALISADE_ALLOW_SKIP";

/// Whether this run must not skip required peers: `CI=true`, or root unless
/// `PALISADE_ALLOW_SKIP=1`.
pub fn must_run() -> bool {
    must_run_with(
        std::env::var("CI").ok().as_deref(),
        std::env::var(ALLOW_ENV).ok().as_deref(),
        is_root(),
    )
}

/// [`must_run`] for given inputs (unit-tested without touching the environment).
pub fn must_run_with(ci: Option<&str>, allow: Option<&str>, root: bool) -> bool {
    ci == Some("true") || (root && allow != Some("1"))
}

/// Whether the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A required peer of the running test is missing: panics where the test must run (see
/// [`must_run`]), else reports the skip. Returns only when skipping (`return
/// skip::required(..)`).
#[track_caller]
pub fn required(why: impl Display) {
    let test = current_test();
    if must_run() {
        panic!(
            "{test} cannot run: {why} (CI=true or root: a required lab peer missing is a \
             failure, not a skip; set {ALLOW_ENV}=1 as root to skip)"
        );
    }
    report(&test, &why);
}

/// An optional comparison of the running test is not possible here: always a counted skip.
pub fn optional(why: impl Display) {
    report(&current_test(), &why);
}

/// `<test binary>::<test>`: libtest runs each test on a thread named after it; the binary
/// is the executable's name without cargo's `-<hash>` suffix.
pub fn current_test() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe
        .as_deref()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let binary = match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    };
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name != "main" => format!("{binary}::{name}"),
        _ => binary,
    }
}

/// The `SKIPPED:` line for `test`.
pub fn line(test: &str, why: &dyn Display) -> String {
    let why = why.to_string().replace('\n', " ");
    format!("SKIPPED: {test}: {why}\n")
}

fn report(test: &str, why: &dyn Display) {
    let line = line(test, why);
    // One write each, uncaptured: the line reaches the terminal and the log whole.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os(LOG_ENV) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_or_root_must_run() {
        assert!(must_run_with(Some("true"), None, false));
        assert!(must_run_with(Some("true"), Some("1"), true));
        assert!(must_run_with(None, None, true));
        assert!(!must_run_with(None, Some("1"), true));
        assert!(!must_run_with(None, None, false));
        assert!(!must_run_with(Some("1"), None, false));
    }

    #[test]
    fn skip_lines_are_one_line() {
        assert_eq!(line("t", &"a\nb"), "SKIPPED: t: a b\n");
    }
}
