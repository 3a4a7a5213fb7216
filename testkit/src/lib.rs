//! Test-only helpers shared by every crate's integration tests (a dev-dependency only).
//!
//! [`skip`]: the one policy for tests that cannot run here. A test whose *required* lab peer
//! (root, namespaces, loop devices, a daemon it runs against) is missing FAILS under
//! `CI=true` and, by default, as root; elsewhere it prints one `SKIPPED: ...` line and is
//! counted by `scripts/test.sh`. A test whose *optional* comparison cannot run (a
//! ClusterLabs binary for a side-by-side check, `ping` for fence_heuristics_ping) always
//! skips, counted the same way.
//!
//! [`bins`]: where the workspace's built binaries are. [`peers`]: the processes and
//! loopback ports of test peers.
pub mod alloc;
pub mod bins;
pub mod fuzz;
pub mod peers;
pub mod skip;
