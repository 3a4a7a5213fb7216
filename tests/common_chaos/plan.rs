//! The seeded fault plan: a seed alone decides every fault's kind, target, gap before it
//! and how long it is held, so a seed replays the same plan (the cluster's timing varies
//! run to run; the plan does not). The random numbers are SplitMix64's, written here so
//! the plan does not change with a crate's version.

use std::fmt;

/// SplitMix64: a small, well-mixed generator for reproducible plans.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// What a fault does to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every ring link of the node down.
    LinkCut,
    /// The node drops every ring packet from node `from` (the link lost one way).
    OneWay { from: usize },
    /// 30 % of the node's ring packets dropped at random, both ways.
    Loss,
    /// `kill -9` of the node daemon (its resources run on until the node is fenced).
    Kill,
    /// SIGSTOP of the node daemon, SIGCONT at heal.
    Freeze,
    /// The node's BMC stopped (answers nothing), resumed at heal.
    BmcDown,
    /// Every I/O of the node on the shared disk hangs, resumed at heal.
    DiskStall,
    /// SIGTERM to the node daemon (a clean stop), started again at heal.
    Restart,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::LinkCut => write!(f, "link-cut"),
            Kind::OneWay { from } => write!(f, "one-way(from node{from})"),
            Kind::Loss => write!(f, "loss-30%"),
            Kind::Kill => write!(f, "kill-9"),
            Kind::Freeze => write!(f, "sigstop"),
            Kind::BmcDown => write!(f, "bmc-down"),
            Kind::DiskStall => write!(f, "disk-stall"),
            Kind::Restart => write!(f, "daemon-restart"),
        }
    }
}

/// Which node a planned fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The node running the service when the fault is injected (a failover).
    Owner,
    /// Node number `n` (or, when it is busy with another fault, the next free one).
    Node(usize),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Owner => write!(f, "owner"),
            Target::Node(n) => write!(f, "node{n}"),
        }
    }
}

/// One planned fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Wait before injecting it (ms), after the previous injection.
    pub gap_ms: u64,
    pub kind: Kind,
    pub target: Target,
    /// How long it is held before it is healed (ms).
    pub hold_ms: u64,
}

/// The plan of `count` faults for a cluster of `nodes` nodes from `seed`.
pub fn plan(seed: u64, nodes: usize, count: usize) -> Vec<Planned> {
    let mut rng = Rng::new(seed ^ (nodes as u64) << 56);
    (0..count)
        .map(|_| {
            let gap_ms = rng.range(200, 2500);
            let hold_ms = rng.range(300, 4500);
            let target = if rng.range(0, 1) == 0 {
                Target::Owner
            } else {
                Target::Node(rng.range(1, nodes as u64) as usize)
            };
            let kind = match rng.range(0, 7) {
                0 => Kind::LinkCut,
                1 => Kind::OneWay {
                    from: rng.range(1, nodes as u64) as usize,
                },
                2 => Kind::Loss,
                3 => Kind::Kill,
                4 => Kind::Freeze,
                5 => Kind::BmcDown,
                6 => Kind::DiskStall,
                _ => Kind::Restart,
            };
            Planned {
                gap_ms,
                kind,
                target,
                hold_ms,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_its_plan() {
        assert_eq!(plan(7, 3, 50), plan(7, 3, 50));
        assert_ne!(plan(7, 3, 50), plan(8, 3, 50));
    }
}
