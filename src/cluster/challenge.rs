//! Proof of liveness on first contact, pure: a challenge/response over the heartbeats so
//! that a recorded heartbeat can never make a node count a peer alive.
//!
//! (incarnation, sequence) rejects replays only once a receiver holds state for the
//! sender; a receiver that has none (it just started, or the peer was declared dead, or
//! the peer shows a new incarnation) cannot tell a recorded packet from a live one. So
//! such a receiver challenges the peer: its heartbeats carry a fresh random nonce for that
//! peer, and the peer counts as alive only once one of its authenticated heartbeats echoes
//! that very nonce — a recording made before the nonce existed cannot contain it.
//!
//! - Nonces are HMAC-SHA256(seed, counter) with a random seed handed in by the driver
//!   at each start: unpredictable, never repeated, and the state machine stays pure.
//! - A nonce lives at most `lifetime` (deadtime): an echo held back by the network and
//!   delivered later than that proves nothing, and a fresh nonce replaces it.
//! - A heartbeat's challenge to us is echoed in our heartbeats while the sender keeps
//!   asking; the newest heartbeat (by incarnation, sequence) of that sender says what it
//!   asks, so a replayed old challenge cannot displace the current one. Echoing is
//!   harmless: it only tells the challenger we are alive now.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::quorum::NodeId;

/// Bytes in a nonce.
pub const NONCE_LEN: usize = 16;

/// A challenge's random value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nonce(pub [u8; NONCE_LEN]);

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nonce(")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "..)")
    }
}

/// Bytes of the random seed the driver hands in.
pub const SEED_LEN: usize = 32;

/// Challenges this node sends and echoes it owes, per peer.
#[derive(Clone)]
pub struct Challenges {
    seed: [u8; SEED_LEN],
    counter: u64,
    lifetime: Duration,
    /// Our open challenge to each peer not proven live: the nonce and when it was made.
    open: BTreeMap<NodeId, (Nonce, Instant)>,
    /// What each peer's newest heartbeat (incarnation, sequence) asks us to echo.
    asked: BTreeMap<NodeId, ((u64, u64), Option<Nonce>)>,
}

impl std::fmt::Debug for Challenges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenges")
            .field("seed", &"[hidden]")
            .field("counter", &self.counter)
            .field("lifetime", &self.lifetime)
            .field("open", &self.open)
            .field("asked", &self.asked)
            .finish()
    }
}

impl Challenges {
    /// No challenge open yet; nonces from `seed` (random, secret, new at every start),
    /// each valid for `lifetime`.
    pub fn new(seed: [u8; SEED_LEN], lifetime: Duration) -> Self {
        Challenges {
            seed,
            counter: 0,
            lifetime,
            open: BTreeMap::new(),
            asked: BTreeMap::new(),
        }
    }

    fn fresh(&mut self) -> Nonce {
        self.counter += 1;
        // HMAC accepts keys of any length, so the fallback is never taken.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.seed)
            .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
        mac.update(b"palisade challenge");
        mac.update(&self.counter.to_be_bytes());
        let out = mac.finalize().into_bytes();
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(&out[..NONCE_LEN]);
        Nonce(n)
    }

    fn young(&self, issued: Instant, now: Instant) -> bool {
        now.saturating_duration_since(issued) < self.lifetime
    }

    /// Challenge `peer` unless a young challenge is already open. True when a new nonce
    /// was made (the driver sends a heartbeat at once, so the peer sees it soon).
    pub fn challenge(&mut self, peer: NodeId, now: Instant) -> bool {
        if let Some((_, issued)) = self.open.get(&peer) {
            if self.young(*issued, now) {
                return false;
            }
        }
        let nonce = self.fresh();
        self.open.insert(peer, (nonce, now));
        true
    }

    /// Whether `echo` answers our open, still young, challenge to `peer`; if so the
    /// challenge is closed (the peer is proven live).
    pub fn answered(&mut self, peer: NodeId, echo: Option<Nonce>, now: Instant) -> bool {
        let Some(echo) = echo else {
            return false;
        };
        match self.open.get(&peer) {
            Some((nonce, issued)) if *nonce == echo && self.young(*issued, now) => {
                self.open.remove(&peer);
                true
            }
            _ => false,
        }
    }

    /// Renew every challenge older than the lifetime; returns the peers with a new nonce.
    pub fn expire(&mut self, now: Instant) -> Vec<NodeId> {
        let old: Vec<NodeId> = self
            .open
            .iter()
            .filter(|(_, (_, issued))| !self.young(*issued, now))
            .map(|(p, _)| *p)
            .collect();
        for p in &old {
            let nonce = self.fresh();
            self.open.insert(*p, (nonce, now));
        }
        old
    }

    /// When the oldest open challenge expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.open.values().map(|(_, t)| *t + self.lifetime).min()
    }

    /// A heartbeat of `peer` at (incarnation, sequence) `at` asks us to echo `nonce`
    /// (None: it asks nothing). Only its newest heartbeat counts. True when we now owe a
    /// new echo (the driver sends a heartbeat at once).
    pub fn asked(&mut self, peer: NodeId, at: (u64, u64), nonce: Option<Nonce>) -> bool {
        if let Some((seen, owed)) = self.asked.get(&peer) {
            if at <= *seen {
                return false;
            }
            let new = nonce.is_some() && nonce != *owed;
            self.asked.insert(peer, (at, nonce));
            return new;
        }
        self.asked.insert(peer, (at, nonce));
        nonce.is_some()
    }

    /// Our open challenges, for our next heartbeat.
    pub fn open(&self) -> Vec<(NodeId, Nonce)> {
        self.open.iter().map(|(p, (n, _))| (*p, *n)).collect()
    }

    /// Whether a challenge to `peer` is open.
    pub fn is_open(&self, peer: NodeId) -> bool {
        self.open.contains_key(&peer)
    }

    /// The echoes we owe, for our next heartbeat.
    pub fn echoes(&self) -> Vec<(NodeId, Nonce)> {
        self.asked
            .iter()
            .filter_map(|(p, (_, n))| n.map(|n| (*p, n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIFE: Duration = Duration::from_secs(1);

    #[test]
    fn nonces_are_fresh_and_depend_on_the_seed() {
        let t0 = Instant::now();
        let mut a = Challenges::new([1; SEED_LEN], LIFE);
        let mut b = Challenges::new([2; SEED_LEN], LIFE);
        assert!(a.challenge(2, t0));
        assert!(b.challenge(2, t0));
        assert!(a.challenge(3, t0));
        let (a2, a3, b2) = (a.open()[0].1, a.open()[1].1, b.open()[0].1);
        assert_ne!(a2, a3);
        assert_ne!(a2, b2);
        // a young challenge stays
        assert!(!a.challenge(2, t0 + LIFE / 2));
        assert_eq!(a.open()[0].1, a2);
    }

    #[test]
    fn only_the_open_young_nonce_answers_and_only_once() {
        let t0 = Instant::now();
        let mut c = Challenges::new([7; SEED_LEN], LIFE);
        c.challenge(2, t0);
        let n = c.open()[0].1;
        assert!(!c.answered(2, None, t0));
        assert!(!c.answered(2, Some(Nonce([0; NONCE_LEN])), t0));
        assert!(!c.answered(3, Some(n), t0));
        assert!(c.answered(2, Some(n), t0));
        assert!(!c.is_open(2));
        // closed: the same echo again proves nothing
        c.challenge(2, t0);
        assert!(!c.answered(2, Some(n), t0));
    }

    #[test]
    fn an_echo_delivered_after_the_lifetime_proves_nothing() {
        let t0 = Instant::now();
        let mut c = Challenges::new([7; SEED_LEN], LIFE);
        c.challenge(2, t0);
        let n = c.open()[0].1;
        assert!(!c.answered(2, Some(n), t0 + LIFE));
        assert_eq!(c.next_expiry(), Some(t0 + LIFE));
        assert_eq!(c.expire(t0 + LIFE), vec![2]);
        assert_ne!(c.open()[0].1, n);
        assert!(!c.answered(2, Some(n), t0 + LIFE));
    }

    #[test]
    fn the_newest_heartbeat_says_what_we_echo() {
        let mut c = Challenges::new([7; SEED_LEN], LIFE);
        let (n1, n2) = (Nonce([1; NONCE_LEN]), Nonce([2; NONCE_LEN]));
        assert!(c.asked(2, (1, 5), Some(n1)));
        assert!(!c.asked(2, (1, 6), Some(n1)));
        assert_eq!(c.echoes(), vec![(2, n1)]);
        // a replayed older challenge changes nothing
        assert!(!c.asked(2, (1, 3), Some(n2)));
        assert_eq!(c.echoes(), vec![(2, n1)]);
        // a restarted peer asks anew
        assert!(c.asked(2, (2, 1), Some(n2)));
        assert_eq!(c.echoes(), vec![(2, n2)]);
        // it stops asking: we stop echoing
        assert!(!c.asked(2, (2, 2), None));
        assert!(c.echoes().is_empty());
    }
}
