//! The quorum tie-breakers as the runner sees them: the ping targets ([`super::ping`])
//! and the sbd disk ([`super::tiebreak_disk`]) are started with the node, told when the
//! partition holds exactly half the votes, and polled for the answers
//! [`quorum::evaluate`] takes, plus timeline lines when an answer changes.
//!
//! [`quorum::evaluate`]: crate::cluster::quorum::evaluate

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::config::NodeConfig;
use super::ping::{PingError, Pinger};
use super::tiebreak_disk::{DiskStartError, DiskTieBreaker};
use crate::cluster::quorum::{asks_tie_breakers, ExternalTieBreakers, NodeId, WaitForAll};

/// Why a tie-breaker cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No ICMP socket.
    #[error("[quorum] ping-targets: {0}")]
    Ping(#[from] PingError),
    /// The disk cannot be used.
    #[error("[quorum] tie-breaker-disk: {0}")]
    Disk(#[from] DiskStartError),
}

/// The running tie-breakers of this node.
#[derive(Debug)]
pub struct Arbitration {
    ping: Option<Pinger>,
    disk: Option<DiskTieBreaker>,
    /// The view the disk was last told about (`None`: no tie), and since when.
    tie: Option<BTreeSet<NodeId>>,
    tie_since: Option<Instant>,
    /// How long a tie may wait for the disk's decision (2 x settle).
    patience: Duration,
    silent: Option<Vec<IpAddr>>,
    held: Option<bool>,
    /// The disk's answer for the current tie is final (held, or lost to another claim).
    decided: bool,
}

impl Arbitration {
    /// Start what `cfg` configures (nothing: every answer stays `None`).
    pub fn start(cfg: &NodeConfig, incarnation: u64) -> Result<Arbitration, StartError> {
        let ping = match &cfg.tie_breakers.ping {
            Some(p) => Some(Pinger::start(p, incarnation)?),
            None => None,
        };
        let disk = match &cfg.tie_breakers.disk {
            Some(d) => Some(DiskTieBreaker::start(
                &d.path,
                d.settle,
                cfg.me,
                &cfg.name_of(cfg.me),
                incarnation,
                cfg.cluster_id,
                &cfg.key,
            )?),
            None => None,
        };
        Ok(Arbitration {
            ping,
            disk,
            tie: None,
            tie_since: None,
            patience: cfg
                .tie_breakers
                .disk
                .as_ref()
                .map_or(Duration::ZERO, |d| d.settle * 2),
            silent: None,
            held: None,
            decided: false,
        })
    }

    /// What the tie-breakers are, for the start-up line (empty: none).
    pub fn describe(&self, cfg: &NodeConfig) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &cfg.tie_breakers.ping {
            let list: Vec<String> = p.targets.iter().map(|t| t.to_string()).collect();
            parts.push(format!("ping {}", list.join(" ")));
        }
        if let (Some(d), Some(disk)) = (&cfg.tie_breakers.disk, &self.disk) {
            parts.push(format!(
                "disk {} (sbd slot {})",
                d.path.display(),
                disk.slot()
            ));
        }
        parts.join(", ")
    }

    /// True while a tie waits for the disk's decision: at most 2 x settle after the tie
    /// began, until the disk is held or another partition's claim is seen. Nothing is applied meanwhile: resources keep
    /// running where they run, nothing is fenced or started (and the sbd health file
    /// says not quorate, the applied view being no longer agreed).
    pub fn pending(&self, now: Instant) -> bool {
        self.disk.is_some()
            && !self.decided
            && self
                .tie_since
                .is_some_and(|since| now.saturating_duration_since(since) < self.patience)
    }

    /// Tell the disk whether `view` holds exactly half, and return the answers for it
    /// at `now` with timeline lines for what changed.
    pub fn poll(
        &mut self,
        cfg: &NodeConfig,
        view: &BTreeSet<NodeId>,
        wfa: &WaitForAll,
        now: Instant,
    ) -> (ExternalTieBreakers, Vec<String>) {
        let mut lines = Vec::new();
        let tied = asks_tie_breakers(&cfg.quorum, view, wfa);
        let tie = tied.then(|| view.clone());
        let ping = self.ping.as_ref().map(|p| {
            let silent = p.silent(now);
            if self.silent.as_ref() != Some(&silent) {
                lines.push(if silent.is_empty() {
                    "ping: every target answers".to_string()
                } else {
                    let list: Vec<String> = silent.iter().map(|t| t.to_string()).collect();
                    format!("ping: no answer from {}", list.join(" "))
                });
                self.silent = Some(silent.clone());
            }
            silent.is_empty()
        });
        let disk = self.disk.as_ref().map(|d| {
            let fresh = self.tie != tie;
            if fresh {
                d.set_tie(tie.clone());
                if tied {
                    let who = match view.iter().next() {
                        Some(n) if *n == cfg.me => "this node claims it".to_string(),
                        Some(n) => format!("{} claims it", cfg.name_of(*n)),
                        None => String::new(),
                    };
                    lines.push(format!(
                        "exact half: the sbd disk decides ({who}); nothing changes for up to {}ms",
                        self.patience.as_millis()
                    ));
                }
            }
            let answer = d.answer();
            let holds = tied && answer.until.is_some_and(|u| u > now);
            // The answer read right after telling the thread is still the old one.
            if tied && !fresh && self.held != Some(holds) {
                lines.push(format!(
                    "disk tie-breaker: {} ({})",
                    if holds {
                        "held by this partition"
                    } else {
                        "not held"
                    },
                    answer.why
                ));
            }
            if !fresh || !tied {
                self.held = tied.then_some(holds);
            }
            self.decided = tied && !fresh && answer.decided;
            holds
        });
        if self.tie != tie {
            self.tie_since = tie.as_ref().map(|_| now);
        }
        self.tie = tie;
        (ExternalTieBreakers { ping, disk }, lines)
    }
}
