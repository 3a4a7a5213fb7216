//! The seeded fault campaign on the classic HA workload (issue 16, `docs/chaos.md`):
//! `common_chaos` runs a group Filesystem (ext4 on each node's own loop device of one
//! image) -> IPaddr2 -> a journaling web server on 2-, 3- and 5-node lab clusters, a
//! client requesting through the virtual IP, and seeded faults (link cut, one-way link,
//! 30 % loss, kill -9, SIGSTOP, BMC down, disk stall, daemon restart) injected and healed
//! in random order and overlap. The invariants are the assertions: one instance of each
//! resource at a time, fsck clean at every failover, every acknowledged request journaled
//! once, no start before the previous owner's fence is confirmed, every lost node fenced
//! or back, no fence history record lost.
//!
//! The suite runs a few short seeds; `campaign` (ignored) is the long run of
//! `bench/chaos.sh` (CHAOS_SEED, CHAOS_NODES, CHAOS_FAULTS, CHAOS_MINUTES).
//!
//! Needs root, `ip netns`, ipmi_sim, resource-agents, e2fsprogs and python3-fusepy;
//! otherwise a counted skip (a failure under CI=true or as root).

mod common_chaos;
mod common_cluster;

use std::time::Duration;

use common_chaos::runner::{run, Options, Report};

fn assert_clean(report: Option<Report>) {
    if let Some(r) = report {
        assert!(
            r.violations.is_empty(),
            "{} violation(s), seed {} on {} nodes (timeline printed above): {:#?}",
            r.violations.len(),
            r.seed,
            r.nodes,
            r.violations
        );
        assert!(!r.injected.is_empty(), "no fault was injected");
        // The workload really ran: every member of the group started somewhere.
        for (resource, (done, _failed)) in &r.starts {
            assert!(*done > 0, "{resource} never started: {}", r.starts_line());
        }
    }
}

#[test]
fn chaos_two_nodes_short_seed() {
    assert_clean(run("ch2", Options::new(1601, 2, 10)));
}

#[test]
fn chaos_three_nodes_short_seed() {
    assert_clean(run("ch3", Options::new(1602, 3, 10)));
}

#[test]
fn chaos_five_nodes_short_seed() {
    assert_clean(run("ch5", Options::new(1603, 5, 10)));
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The long run (bench/chaos.sh): CHAOS_FAULTS faults in all, shared among campaigns on
/// the cluster sizes of CHAOS_NODES (default "2 3 5"), run side by side, within
/// CHAOS_MINUTES; seed CHAOS_SEED (+ the size). Every violation is counted (the first
/// one does not stop a campaign unless CHAOS_STOP_ON_VIOLATION=1).
#[test]
#[ignore]
fn campaign() {
    let seed = env_u64("CHAOS_SEED", 16);
    let faults = env_u64("CHAOS_FAULTS", 1000) as usize;
    let minutes = env_u64("CHAOS_MINUTES", 30);
    let sizes: Vec<usize> = std::env::var("CHAOS_NODES")
        .unwrap_or_else(|_| "2 3 5".into())
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    let each = faults.div_ceil(sizes.len().max(1));
    let threads: Vec<_> = sizes
        .iter()
        .map(|&n| {
            let mut o = Options::new(seed + n as u64, n, each);
            o.budget = Duration::from_secs(minutes * 60);
            o.stop_on_violation =
                std::env::var_os("CHAOS_STOP_ON_VIOLATION").is_some_and(|v| v == "1");
            std::thread::spawn(move || run(&format!("cb{n}"), o))
        })
        .collect();
    let reports: Vec<Report> = threads
        .into_iter()
        .filter_map(|t| t.join().expect("campaign thread"))
        .collect();
    let mut all: Vec<u64> = reports.iter().flat_map(|r| r.failovers.clone()).collect();
    all.sort_unstable();
    let injected: usize = reports.iter().map(|r| r.injected.len()).sum();
    let violations: usize = reports.iter().map(|r| r.violations.len()).sum();
    for r in &reports {
        println!("{}", r.summary());
    }
    println!(
        "CHAOS TOTAL: faults injected {injected}; violations {violations}; failovers {} p50 {} ms p95 {} ms max {} ms",
        all.len(),
        common_chaos::runner::percentile(&all, 50),
        common_chaos::runner::percentile(&all, 95),
        all.last().copied().unwrap_or(0)
    );
    assert_eq!(
        violations, 0,
        "violations found (seeds and timelines above)"
    );
}
