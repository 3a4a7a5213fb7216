//! Scenario helpers shared by the cluster tests: inject a fault and measure the failover
//! (fault -> service started on another node, the lost node powered off first), bring a
//! node back (links healed, powered on, in a view of every node on every member), and the one summary line
//! each scenario prints at its end: faults injected, violations (two nodes running the
//! service at once; must be 0) and failover times.

use std::time::Duration;

use super::{node_number, now_ms, violations, wait_until, Cluster, LogLine};

/// What one scenario did, for its summary line.
#[derive(Debug)]
pub struct Scenario {
    name: String,
    faults: Vec<String>,
    failovers: Vec<(String, u64)>,
    began: u64,
}

impl Scenario {
    pub fn new(name: &str) -> Scenario {
        Scenario {
            name: name.to_string(),
            faults: Vec::new(),
            failovers: Vec::new(),
            began: now_ms(),
        }
    }

    /// A fault injected after which the service is not expected to move.
    pub fn fault(&mut self, what: &str) {
        self.faults.push(what.to_string());
    }

    /// A fault injected and the failover it caused, in milliseconds.
    pub fn failover(&mut self, what: &str, ms: u64) {
        self.faults.push(what.to_string());
        self.failovers.push((what.to_string(), ms));
    }

    /// Print the summary line and fail on any violation in the resource log.
    pub fn finish(&self, c: &Cluster) {
        let found = self.summary(c, "");
        assert!(
            found.is_empty(),
            "two nodes ran the service at once: {found:#?}\n{}",
            c.timeline_text(0)
        );
    }

    /// Print the summary line; overlaps are expected (`why`) and not a failure.
    pub fn finish_allowing_overlap(&self, c: &Cluster, why: &str) {
        self.summary(c, &format!(" (allowed: {why})"));
    }

    /// [`Scenario::finish`] for a lab that is no [`Cluster`] (`tests/common_arbitration`):
    /// the summary line from its resource log `log`; fails on any violation, showing
    /// `context` (its timeline).
    pub fn finish_log(&self, log: &[LogLine], context: &str) {
        let found = violations(log);
        let times: Vec<String> = self
            .failovers
            .iter()
            .map(|(what, ms)| format!("{what}={ms}ms"))
            .collect();
        println!(
            "SUMMARY {}: faults injected: {} ({}); violations: {}; failover times: [{}]; {:.1} s",
            self.name,
            self.faults.len(),
            self.faults.join(", "),
            found.len(),
            times.join(", "),
            (now_ms() - self.began) as f64 / 1000.0
        );
        assert!(
            found.is_empty(),
            "two nodes ran the service at once: {found:#?}\n{context}"
        );
    }

    fn summary(&self, c: &Cluster, note: &str) -> Vec<String> {
        let found = violations(&c.log());
        let times: Vec<String> = self
            .failovers
            .iter()
            .map(|(what, ms)| format!("{what}={ms}ms"))
            .collect();
        println!(
            "SUMMARY {}: faults injected: {} ({}); violations: {}{note}; failover times: [{}]; {:.1} s",
            self.name,
            self.faults.len(),
            self.faults.join(", "),
            found.len(),
            times.join(", "),
            (now_ms() - self.began) as f64 / 1000.0
        );
        found
    }
}

/// Inject `fault` on node `victim` (running the service); wait up to `limit` for the
/// service to start on another node; check the victim was powered off before that start.
/// Returns (new owner, failover ms).
pub fn failover(
    c: &mut Cluster,
    victim: usize,
    limit: Duration,
    fault: impl FnOnce(&mut Cluster),
) -> (usize, u64) {
    let t = now_ms();
    fault(c);
    let name = format!("node{victim}");
    let started_elsewhere = |c: &Cluster| {
        c.log()
            .into_iter()
            .find(|l| l.event == "start" && l.at >= t && l.node != name)
    };
    let moved = wait_until(limit, || started_elsewhere(c).is_some());
    assert!(moved, "service did not move:\n{}", c.timeline_text(t));
    let start = started_elsewhere(c).expect("start");
    let log = c.log();
    let off = log
        .iter()
        .rev()
        .find(|l| l.event == "poweroff" && l.node == name)
        .unwrap_or_else(|| panic!("{name} not powered off:\n{}", c.timeline_text(t)));
    assert!(
        off.at >= t && off.at <= start.at,
        "service started on {} before {name} was powered off:\n{}",
        start.node,
        c.timeline_text(t)
    );
    assert_eq!(c.power(victim), "off");
    assert!(c.wait_exit(victim, Duration::from_secs(5)).is_some());
    (node_number(&start.node), start.at - t)
}

/// Node `i` back: links healed, packet loss removed, powered on (its daemon starts), and
/// every node's timeline shows a view with all members.
pub fn rejoin(c: &mut Cluster, i: usize) {
    rejoin_all(c, &[i]);
}

/// [`rejoin`] for several nodes at once (all of them must be up before the cluster is
/// whole again).
pub fn rejoin_all(c: &mut Cluster, nodes: &[usize]) {
    let t = now_ms();
    for i in nodes {
        c.heal(*i, None);
        c.lossless(*i);
        c.start(*i);
    }
    let all: Vec<String> = (1..=c.setup.nodes).map(|j| format!("node{j}")).collect();
    let ok = wait_until(Duration::from_secs(20), || {
        let events = c.events();
        all.iter().all(|node| {
            events
                .iter()
                .any(|e| e.at >= t && e.is(node, "quorum") && e.names("members") == all)
        })
    });
    assert!(ok, "{nodes:?} did not rejoin:\n{}", c.timeline_text(t));
}

impl Cluster {
    /// Drop `percent` % of node `i`'s ring packets at random, `direction` in, out or both
    /// (iptables in the node's namespace; the management network is spared).
    pub fn lossy(&self, i: usize, percent: u32, direction: &str) {
        let (n, p) = (i.to_string(), percent.to_string());
        self.lab(&["lossy", &self.prefix, &n, &p, direction]);
    }

    /// Node `i` drops every ring packet from node `from` (a link lost one way); undone
    /// by [`Cluster::lossless`] on `i`.
    pub fn deaf_to(&self, i: usize, from: usize) {
        self.lab(&["deaf", &self.prefix, &i.to_string(), &from.to_string()]);
    }

    /// Node `i`'s packet-loss rules removed.
    pub fn lossless(&self, i: usize) {
        self.lab(&["lossless", &self.prefix, &i.to_string()]);
    }
}
