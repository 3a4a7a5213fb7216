//! The workspace's built binaries, as seen from an integration test.
//!
//! A test executable lives in `target/<profile>/deps/`; the binaries of every workspace
//! crate (`palisade`, `palisade-sbd`, the `fence_*` agents) are in `target/<profile>/`,
//! built by `cargo build --workspace --bins` (scripts/test.sh builds everything first).

use std::path::PathBuf;

/// `target/<profile>/`, the directory of the binaries of this test's profile.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe of the test binary");
    let deps = exe.parent().expect("test binary has a parent directory");
    if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("deps has a parent").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// `target/<profile>/<name>`; panics with what to run when it is missing.
#[track_caller]
pub fn built(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test.sh does)",
        path.display()
    );
    path
}
