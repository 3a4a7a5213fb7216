//! The sbd-disk tie-breaker, pure (sans I/O): when a partition holds exactly half of the
//! votes, its coordinator (lowest node id of the view) claims the shared disk; of two
//! halves claiming at once the last writer wins, and only the winner's partition counts
//! the disk as held. The driver (`node::tie_breaker::disk`) does the reads and writes this
//! machine asks for, with the times it started and finished them; the claim lives in the
//! mailbox of a dedicated sbd slot that no sbd watcher acts on.
//!
//! The rules, with `settle` = S:
//! - A contender writes a *tentative* claim only after a read showing the disk free: no
//!   claim, a released one, or one unchanged for 3 S as this node saw it (its writer
//!   stopped renewing). It waits S after the write, reads back, and wins if its claim is
//!   still there (someone who wrote meanwhile won instead).
//! - Every write must finish within S/2 of the start of the read it follows; a later one
//!   counts for nothing (its writer stops holding and treats the disk as foreign). Reads
//!   that take longer than S/2 start nothing.
//! - The winner renews (read, then write) every S/4; it holds the disk until S after the
//!   start of the last read that showed its own claim. A read showing anything else ends
//!   its hold at once.
//! - Members of the winner's partition (followers) hold it until S after the start of a
//!   read that showed the coordinator's held claim for exactly their view renewed since
//!   the previous read, both reads timely and starting at most S/2 apart (one write seen
//!   alone may be a renewal that landed late, after another partition won).
//! - A holder whose partition is no longer tied (or who is no longer its coordinator)
//!   writes a released claim, so the next tie need not wait.
//!
//! Why one winner: a contender's claim lands within S/2 of a read that found the disk
//! free, and it wins only with a read back at least S after that; any other claim landing
//! in between makes it lose, and a holder's hold (S after a read) has run out before a
//! competitor's read back. Validity is judged on this node's monotonic clock only: no
//! clock is shared.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::quorum::NodeId;

/// Length of an encoded claim.
pub const CLAIM_LEN: usize = 64;
const MAGIC: &[u8; 4] = b"PLTB";
const VERSION: u8 = 1;
const MAC_LEN: usize = 16;

/// What a claim says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimState {
    /// Written by a contender, not yet confirmed.
    Tentative,
    /// Renewed by the winner.
    Held,
    /// Given up: the disk is free.
    Released,
}

/// A claim on the disk: who (node and incarnation), which write (seq), for which view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub node: NodeId,
    pub incarnation: u64,
    pub seq: u64,
    pub state: ClaimState,
    /// SHA-256 (first 16 bytes) of the claimant's view, see [`view_digest`].
    pub view: [u8; 16],
}

/// What a read of the claim area found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Nothing claimed (an all-zero area).
    Empty,
    /// An authentic claim of this cluster.
    Claim(Claim),
    /// Something else (another cluster, a torn write): a fingerprint to see it change.
    Unreadable([u8; 16]),
}

/// The digest of a view, as claims carry it.
pub fn view_digest(view: &BTreeSet<NodeId>) -> [u8; 16] {
    let mut h = Sha256::new();
    for n in view {
        h.update(n.to_be_bytes());
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: the fallback is never used.
    Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()))
}

/// Encode `claim` of cluster `cluster`, authenticated with `key` (HMAC-SHA256, 16 bytes).
pub fn encode_claim(claim: &Claim, cluster: u32, key: &[u8]) -> [u8; CLAIM_LEN] {
    let mut b = [0u8; CLAIM_LEN];
    b[0..4].copy_from_slice(MAGIC);
    b[4] = VERSION;
    b[5] = match claim.state {
        ClaimState::Tentative => 1,
        ClaimState::Held => 2,
        ClaimState::Released => 3,
    };
    b[8..12].copy_from_slice(&cluster.to_be_bytes());
    b[12..16].copy_from_slice(&claim.node.to_be_bytes());
    b[16..24].copy_from_slice(&claim.incarnation.to_be_bytes());
    b[24..32].copy_from_slice(&claim.seq.to_be_bytes());
    b[32..48].copy_from_slice(&claim.view);
    let mut m = mac(key);
    m.update(&b[..48]);
    b[48..64].copy_from_slice(&m.finalize().into_bytes()[..MAC_LEN]);
    b
}

/// Decode the claim area (at least [`CLAIM_LEN`] bytes).
pub fn decode_claim(bytes: &[u8], cluster: u32, key: &[u8]) -> Found {
    let area = &bytes[..bytes.len().min(CLAIM_LEN)];
    if area.iter().all(|b| *b == 0) {
        return Found::Empty;
    }
    let fingerprint = || {
        let mut out = [0u8; 16];
        out.copy_from_slice(&Sha256::digest(area)[..16]);
        Found::Unreadable(out)
    };
    if area.len() < CLAIM_LEN || &area[0..4] != MAGIC || area[4] != VERSION {
        return fingerprint();
    }
    let mut m = mac(key);
    m.update(&area[..48]);
    if m.verify_truncated_left(&area[48..64]).is_err() {
        return fingerprint();
    }
    let word = |at: usize| u32::from_be_bytes([area[at], area[at + 1], area[at + 2], area[at + 3]]);
    let long = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&area[at..at + 8]);
        u64::from_be_bytes(a)
    };
    let state = match area[5] {
        1 => ClaimState::Tentative,
        2 => ClaimState::Held,
        3 => ClaimState::Released,
        _ => return fingerprint(),
    };
    if word(8) != cluster {
        return fingerprint();
    }
    let mut view = [0u8; 16];
    view.copy_from_slice(&area[32..48]);
    Found::Claim(Claim {
        node: word(12),
        incarnation: long(16),
        seq: long(24),
        state,
        view,
    })
}

/// The next thing the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Read the claim area now.
    Read,
    /// Write this claim now.
    Write(Claim),
    /// Nothing before this instant (or before [`ClaimMachine::set_tie`] is called).
    Wait(Instant),
}

/// Whether this node's partition holds the disk, and for how long at most.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub holds: bool,
    /// The hold runs out then unless renewed (None when not holding).
    pub until: Option<Instant>,
    /// The tie is decided: held, or another partition's claim was seen.
    pub decided: bool,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Read at this instant (idle, follower, or a contender that lost).
    Observe(Instant),
    /// Write the tentative claim; the free read started then.
    Claim(Instant),
    /// Read back at this instant.
    Settle(Instant),
    /// Holder: read at this instant, then renew.
    Renew(Instant),
    /// Holder: write the renewal; its read started then.
    RenewWrite(Instant),
    /// Write a released claim.
    Release,
}

/// The disk claim machine of one node.
#[derive(Debug, Clone)]
pub struct ClaimMachine {
    me: NodeId,
    incarnation: u64,
    settle: Duration,
    seq: u64,
    tie: Option<BTreeSet<NodeId>>,
    step: Step,
    /// Last content seen and the end of the read that first saw it.
    seen: Option<(Found, Instant)>,
    /// Our last write that finished in time (our claim, as we would recognise it).
    mine: Option<Claim>,
    /// The write in flight.
    writing: Option<Claim>,
    /// The coordinator's hold, or a follower's.
    holds_until: Option<Instant>,
    /// Follower: the last timely read showing our coordinator's held claim (its start).
    following: Option<(Claim, Instant)>,
    /// Another partition's claim was seen during this tie.
    lost: bool,
    why: String,
}

impl ClaimMachine {
    /// A machine for node `me` (running `incarnation`) with the given settle time.
    pub fn new(me: NodeId, incarnation: u64, settle: Duration, now: Instant) -> ClaimMachine {
        ClaimMachine {
            me,
            incarnation,
            settle,
            seq: 0,
            tie: None,
            step: Step::Observe(now),
            seen: None,
            mine: None,
            writing: None,
            holds_until: None,
            following: None,
            lost: false,
            why: "no tie".into(),
        }
    }

    fn poll(&self) -> Duration {
        self.settle / 4
    }

    fn stale_after(&self) -> Duration {
        self.settle * 3
    }

    fn budget(&self) -> Duration {
        self.settle / 2
    }

    fn contender(&self) -> bool {
        self.tie
            .as_ref()
            .is_some_and(|v| v.iter().next() == Some(&self.me))
    }

    fn holding(&self) -> bool {
        matches!(
            self.mine,
            Some(Claim {
                state: ClaimState::Held | ClaimState::Tentative,
                ..
            })
        )
    }

    fn held(&self) -> bool {
        matches!(
            self.mine,
            Some(Claim {
                state: ClaimState::Held,
                ..
            })
        )
    }

    fn claim(&mut self, state: ClaimState) -> Claim {
        self.seq += 1;
        Claim {
            node: self.me,
            incarnation: self.incarnation,
            seq: self.seq,
            state,
            view: self.tie.as_ref().map(view_digest).unwrap_or_default(),
        }
    }

    /// The partition's view when it holds exactly half and needs the disk; `None` when
    /// not tied. Call whenever it changes.
    pub fn set_tie(&mut self, view: Option<BTreeSet<NodeId>>, now: Instant) {
        if view == self.tie {
            return;
        }
        self.tie = view;
        self.following = None;
        self.lost = false;
        self.why = match &self.tie {
            None => "no tie".into(),
            Some(v) if v.iter().next() == Some(&self.me) => "claiming the disk".into(),
            Some(v) => format!(
                "waiting for node {}'s claim",
                v.iter().next().copied().unwrap_or_default()
            ),
        };
        if !self.contender() {
            // Not tied any more, or someone else coordinates now: give the disk back.
            self.holds_until = None;
            if self.holding() {
                self.step = Step::Release;
                return;
            }
        } else if !self.holding() {
            // A new tie to contend for: look at the disk now.
            self.holds_until = None;
            self.step = Step::Observe(now);
            return;
        } else {
            // Still ours, for another view: renew at once with the new view (a claim
            // still settling goes on; its renewals will carry the new view).
            if matches!(self.step, Step::Renew(_)) {
                self.step = Step::Renew(now);
            }
            return;
        }
        // A follower of a new view trusts nothing read for the old one.
        self.holds_until = None;
        if matches!(self.step, Step::Claim(_) | Step::Settle(_)) {
            self.step = Step::Observe(now);
        }
    }

    /// What to do next.
    pub fn next(&mut self, now: Instant) -> Want {
        match self.step {
            Step::Observe(at) | Step::Settle(at) | Step::Renew(at) if now < at => Want::Wait(at),
            Step::Observe(_) | Step::Settle(_) | Step::Renew(_) => Want::Read,
            Step::Claim(_) => {
                let c = self.claim(ClaimState::Tentative);
                self.writing = Some(c.clone());
                Want::Write(c)
            }
            Step::RenewWrite(_) => {
                let c = self.claim(ClaimState::Held);
                self.writing = Some(c.clone());
                Want::Write(c)
            }
            Step::Release => {
                let c = self.claim(ClaimState::Released);
                self.writing = Some(c.clone());
                Want::Write(c)
            }
        }
    }

    fn is_free(&self, found: &Found, started: Instant) -> bool {
        match found {
            Found::Empty => true,
            Found::Claim(c) if c.state == ClaimState::Released => true,
            _ => self.seen.as_ref().is_some_and(|(_, since)| {
                started.saturating_duration_since(*since) >= self.stale_after()
            }),
        }
    }

    /// A read asked for by [`ClaimMachine::next`] ended: it started at `started`, returned at
    /// `finished`, and found `found` (or failed).
    pub fn read_done(&mut self, started: Instant, finished: Instant, found: Result<Found, String>) {
        let step = self.step;
        let found = match found {
            Ok(f) => f,
            Err(e) => {
                self.why = format!("disk read failed: {e}");
                // A holder keeps its hold until it runs out; nothing new is started.
                self.step = match step {
                    Step::Renew(_) => Step::Renew(finished + self.poll()),
                    _ => Step::Observe(finished + self.poll()),
                };
                return;
            }
        };
        let timely = finished.saturating_duration_since(started) <= self.budget();
        let changed = self.seen.as_ref().map(|(f, _)| f) != Some(&found);
        if changed {
            self.seen = Some((found.clone(), finished));
        }
        let own = matches!((&found, &self.mine), (Found::Claim(c), Some(m)) if c == m);
        match step {
            Step::Settle(_) => {
                if own {
                    self.why = format!("won the disk claim (read back after {:?})", self.settle);
                    self.holds_until = Some(started + self.settle);
                    self.step = Step::RenewWrite(started);
                } else {
                    self.lost(&found, finished);
                }
                return;
            }
            Step::Renew(_) | Step::Observe(_) if own && self.contender() && self.held() => {
                self.holds_until = Some(started + self.settle);
                // A renewal after a slow read would land late: read again first.
                self.step = if timely {
                    Step::RenewWrite(started)
                } else {
                    Step::Renew(finished)
                };
                return;
            }
            Step::Renew(_) => {
                self.lost(&found, finished);
                return;
            }
            _ => {}
        }
        if self.contender() {
            if timely && self.is_free(&found, started) {
                self.step = Step::Claim(started);
            } else {
                self.why = format!("the disk is claimed: {}", describe(&found));
                self.lost |= matches!(found, Found::Claim(_) | Found::Unreadable(_));
                self.step = Step::Observe(finished + self.poll());
            }
            return;
        }
        self.follow(&found, started, timely);
        self.step = Step::Observe(finished + self.poll());
    }

    /// A follower holds the disk while its coordinator renews a held claim for exactly
    /// its view: two timely reads starting at most S/2 apart must show two successive
    /// renewals. A single write seen alone proves nothing: it may be a renewal that
    /// landed late, after another partition won the disk.
    fn follow(&mut self, found: &Found, started: Instant, timely: bool) {
        let claim = match (&self.tie, found) {
            (Some(view), Found::Claim(c))
                if c.state == ClaimState::Held
                    && view.contains(&c.node)
                    && c.view == view_digest(view) =>
            {
                c.clone()
            }
            (None, _) => {
                self.following = None;
                return;
            }
            (Some(view), found) => {
                self.following = None;
                self.holds_until = None;
                self.why = format!("the disk is not ours: {}", describe(found));
                // Our coordinator's claim still settling is no loss.
                let ours_settling = matches!(found, Found::Claim(c) if view.contains(&c.node)
                    && c.view == view_digest(view));
                self.lost |= match found {
                    Found::Claim(c) => c.state != ClaimState::Released && !ours_settling,
                    Found::Unreadable(_) => true,
                    Found::Empty => false,
                };
                return;
            }
        };
        if !timely {
            self.following = None;
            return;
        }
        if let Some((prev, prev_started)) = &self.following {
            let renewed = prev.node == claim.node
                && prev.incarnation == claim.incarnation
                && claim.seq > prev.seq;
            if renewed && started.saturating_duration_since(*prev_started) <= self.budget() {
                self.holds_until = Some(started + self.settle);
                self.why = format!("node {} holds the disk for this partition", claim.node);
            }
        }
        self.following = Some((claim, started));
    }

    fn lost(&mut self, found: &Found, finished: Instant) {
        self.holds_until = None;
        self.mine = None;
        self.lost = true;
        self.why = format!("lost the disk claim: {}", describe(found));
        // What we saw counts as a fresh change: wait for it to go stale.
        self.seen = Some((found.clone(), finished));
        self.step = Step::Observe(finished + self.poll());
    }

    /// A write asked for by [`ClaimMachine::next`] ended.
    pub fn write_done(&mut self, started: Instant, finished: Instant, result: Result<(), String>) {
        let _ = started;
        let claim = self.writing.take();
        let after = match self.step {
            Step::Claim(read) | Step::RenewWrite(read) => Some(read),
            _ => None,
        };
        let in_time =
            after.is_some_and(|read| finished.saturating_duration_since(read) <= self.budget());
        match (self.step, result) {
            (Step::Release, _) => {
                self.mine = None;
                self.why = "released the disk claim".into();
                self.step = Step::Observe(finished + self.poll());
            }
            (Step::Claim(_), Ok(())) if in_time => {
                self.mine = claim;
                self.step = Step::Settle(finished + self.settle);
            }
            (Step::RenewWrite(read), Ok(())) if in_time => {
                self.mine = claim;
                self.step = Step::Renew(read + self.poll());
            }
            (_, result) => {
                self.why = match result {
                    Err(e) => format!("disk write failed: {e}"),
                    Ok(()) => format!(
                        "disk write took longer than {:?} after its read: not counted",
                        self.budget()
                    ),
                };
                self.holds_until = None;
                self.mine = None;
                self.step = Step::Observe(finished + self.poll());
            }
        }
    }

    /// Whether this node's partition holds the disk at `now`.
    pub fn answer(&self, now: Instant) -> Answer {
        let until = self.holds_until.filter(|u| *u > now);
        let holds = until.is_some() && self.tie.is_some();
        Answer {
            holds,
            until,
            decided: holds || self.lost,
            why: self.why.clone(),
        }
    }
}

fn describe(found: &Found) -> String {
    match found {
        Found::Empty => "no claim".into(),
        Found::Claim(c) => format!(
            "{:?} claim of node {} (incarnation {}, write {})",
            c.state, c.node, c.incarnation, c.seq
        )
        .to_lowercase(),
        Found::Unreadable(_) => "a claim this cluster cannot read".into(),
    }
}

#[cfg(test)]
mod tests;
