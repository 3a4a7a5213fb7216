//! The quorum tie-breakers as the driver sees them: the ping targets ([`ping`])
//! and the sbd disk ([`disk`]) are started with the node, told when the
//! partition holds exactly half the votes, and polled for the answers
//! [`quorum::evaluate`] takes, plus timeline lines when an answer changes.
//!
//! [`quorum::evaluate`]: crate::cluster::quorum::evaluate

pub mod disk;
pub mod ping;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::config::NodeConfig;
use super::events::{millis, Event};
use crate::cluster::quorum::{asks_tie_breakers, ExternalTieBreakers, NodeId, WaitForAll};
use disk::{DiskStartError, DiskTieBreaker};
use ping::{PingError, Pinger};

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
pub struct TieBreakers {
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

impl TieBreakers {
    /// Start what `cfg` configures (nothing: every answer stays `None`).
    pub fn start(cfg: &NodeConfig, incarnation: u64) -> Result<TieBreakers, StartError> {
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
        Ok(TieBreakers {
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

    /// What the tie-breakers are, for the start-up event (None: none).
    pub fn describe(&self, cfg: &NodeConfig) -> Option<Event> {
        let ping: Vec<String> = cfg
            .tie_breakers
            .ping
            .as_ref()
            .map(|p| p.targets.iter().map(|t| t.to_string()).collect())
            .unwrap_or_default();
        let disk = match (&cfg.tie_breakers.disk, &self.disk) {
            (Some(d), Some(disk)) => Some((d.path.display().to_string(), disk.slot())),
            _ => None,
        };
        if ping.is_empty() && disk.is_none() {
            return None;
        }
        Some(Event::TieBreakers {
            ping,
            disk_slot: disk.as_ref().map(|(_, slot)| *slot),
            disk: disk.map(|(path, _)| path),
        })
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
    /// at `now` with timeline events for what changed.
    pub fn poll(
        &mut self,
        cfg: &NodeConfig,
        view: &BTreeSet<NodeId>,
        wfa: &WaitForAll,
        now: Instant,
    ) -> (ExternalTieBreakers, Vec<Event>) {
        let mut lines = Vec::new();
        let tied = asks_tie_breakers(&cfg.quorum, view, wfa);
        let tie = tied.then(|| view.clone());
        let ping = self.ping.as_ref().map(|p| {
            let silent = p.silent(now);
            if self.silent.as_ref() != Some(&silent) {
                lines.push(Event::PingAnswers {
                    silent: silent.iter().map(|t| t.to_string()).collect(),
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
                    let claimant = view.iter().next();
                    lines.push(Event::DiskDecides {
                        claimant: claimant.map(|n| cfg.name_of(*n)),
                        mine: claimant == Some(&cfg.me),
                        patience_ms: millis(self.patience),
                    });
                }
            }
            let answer = d.answer();
            let holds = tied && answer.until.is_some_and(|u| u > now);
            // The answer read right after telling the thread is still the old one.
            if tied && !fresh && self.held != Some(holds) {
                lines.push(Event::DiskAnswer {
                    held: holds,
                    why: answer.why.clone(),
                });
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
