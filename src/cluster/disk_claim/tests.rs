//! The disk machine: claim encoding, and simulated disks shared by several nodes (writes
//! land at a random point of their I/O, reads see the disk at a random point of theirs)
//! checking that two partitions never hold the disk at the same instant, that one of
//! them wins, and that a crashed or released holder is replaced.

use super::*;

const KEY: &[u8] = b"0123456789abcdef0123";
const SETTLE: Duration = Duration::from_millis(200);

fn view(ids: &[NodeId]) -> BTreeSet<NodeId> {
    ids.iter().copied().collect()
}

#[test]
fn claims_round_trip_and_foreign_bytes_are_unreadable() {
    let claim = Claim {
        node: 3,
        incarnation: 99,
        seq: 7,
        state: ClaimState::Held,
        view: view_digest(&view(&[3, 4])),
    };
    let bytes = encode_claim(&claim, 42, KEY);
    assert_eq!(decode_claim(&bytes, 42, KEY), Found::Claim(claim.clone()));
    assert!(matches!(
        decode_claim(&bytes, 43, KEY),
        Found::Unreadable(_)
    ));
    assert!(matches!(
        decode_claim(&bytes, 42, b"another key, 16+ bytes"),
        Found::Unreadable(_)
    ));
    let mut torn = bytes;
    torn[20] ^= 1;
    assert!(matches!(decode_claim(&torn, 42, KEY), Found::Unreadable(_)));
    assert_eq!(decode_claim(&[0u8; 200], 42, KEY), Found::Empty);
    assert_ne!(view_digest(&view(&[1, 2])), view_digest(&view(&[3, 4])));
}

/// xorshift64*: deterministic randomness for the simulations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

enum Io {
    Read {
        start: u64,
        at: u64,
        end: u64,
        saw: Option<Found>,
    },
    Write {
        start: u64,
        land: u64,
        end: u64,
        bytes: [u8; CLAIM_LEN],
        landed: bool,
    },
}

struct Node {
    machine: ClaimMachine,
    partition: usize,
    io: Option<Io>,
    crashed: bool,
}

/// Several nodes on one simulated disk, 1 ms steps.
struct Sim {
    base: Instant,
    disk: [u8; CLAIM_LEN],
    nodes: Vec<Node>,
    rng: Rng,
    /// Largest I/O time in ms; with `slow_every`, one I/O in that many takes from
    /// `slow_ms`/4 to 5/4 `slow_ms`.
    max_io: u64,
    slow_every: u64,
    slow_ms: u64,
    t: u64,
}

impl Sim {
    fn new(seed: u64, partitions: &[&[NodeId]]) -> Sim {
        let base = Instant::now();
        let mut nodes = Vec::new();
        for (p, members) in partitions.iter().enumerate() {
            for &id in *members {
                let mut machine = ClaimMachine::new(id, 1000 + u64::from(id), SETTLE, base);
                machine.set_tie(Some(view(members)), base);
                nodes.push(Node {
                    machine,
                    partition: p,
                    io: None,
                    crashed: false,
                });
            }
        }
        Sim {
            base,
            disk: [0; CLAIM_LEN],
            nodes,
            rng: Rng(seed | 1),
            max_io: 5,
            slow_every: 0,
            slow_ms: 0,
            t: 0,
        }
    }

    fn at(&self, t: u64) -> Instant {
        self.base + Duration::from_millis(t)
    }

    fn io_time(&mut self) -> u64 {
        if self.slow_every > 0 && self.rng.below(self.slow_every) == 0 {
            return self.slow_ms / 4 + self.rng.below(self.slow_ms);
        }
        1 + self.rng.below(self.max_io)
    }

    fn step(&mut self) {
        let t = self.t;
        for i in 0..self.nodes.len() {
            if self.nodes[i].crashed {
                continue;
            }
            let now = self.at(t);
            // I/O progress.
            let mut done = None;
            match &mut self.nodes[i].io {
                Some(Io::Read { at, end, saw, .. }) => {
                    if *at == t {
                        *saw = Some(decode_claim(&self.disk, 1, KEY));
                    }
                    if *end == t {
                        done = self.nodes[i].io.take();
                    }
                }
                Some(Io::Write {
                    land,
                    end,
                    bytes,
                    landed,
                    ..
                }) => {
                    if *land == t {
                        self.disk = *bytes;
                        *landed = true;
                    }
                    if *end == t {
                        done = self.nodes[i].io.take();
                    }
                }
                None => {}
            }
            let base = self.base;
            let ms = |x: u64| base + Duration::from_millis(x);
            match done {
                Some(Io::Read {
                    start, end, saw, ..
                }) => {
                    let found = saw.unwrap_or(Found::Empty);
                    self.nodes[i]
                        .machine
                        .read_done(ms(start), ms(end), Ok(found));
                }
                Some(Io::Write { start, end, .. }) => {
                    self.nodes[i].machine.write_done(ms(start), ms(end), Ok(()));
                }
                None => {}
            }
            if self.nodes[i].io.is_none() {
                match self.nodes[i].machine.next(now) {
                    Want::Wait(_) => {}
                    Want::Read => {
                        let d = self.io_time();
                        let at = t + self.rng.below(d + 1);
                        self.nodes[i].io = Some(Io::Read {
                            start: t,
                            at,
                            end: t + d,
                            saw: None,
                        });
                        if at == t {
                            if let Some(Io::Read { saw, .. }) = &mut self.nodes[i].io {
                                *saw = Some(decode_claim(&self.disk, 1, KEY));
                            }
                        }
                    }
                    Want::Write(c) => {
                        let d = self.io_time();
                        let land = t + self.rng.below(d + 1);
                        let bytes = encode_claim(&c, 1, KEY);
                        let mut landed = false;
                        if land == t {
                            self.disk = bytes;
                            landed = true;
                        }
                        self.nodes[i].io = Some(Io::Write {
                            start: t,
                            land,
                            end: t + d,
                            bytes,
                            landed,
                        });
                    }
                }
            }
        }
        self.t += 1;
    }

    /// Partitions holding the disk now.
    fn holders(&self) -> BTreeSet<usize> {
        let now = self.at(self.t);
        self.nodes
            .iter()
            .filter(|n| !n.crashed && n.machine.answer(now).holds)
            .map(|n| n.partition)
            .collect()
    }

    /// Run `ms` steps; panics if two partitions ever hold at once. Returns, per step,
    /// the set of holding partitions' first element (None when nobody holds).
    fn run(&mut self, ms: u64) -> Vec<Option<usize>> {
        let mut out = Vec::new();
        for _ in 0..ms {
            self.step();
            let h = self.holders();
            assert!(
                h.len() <= 1,
                "two partitions hold the disk at t={} ms: {h:?}",
                self.t
            );
            out.push(h.iter().next().copied());
        }
        out
    }

    fn set_tie(&mut self, index: usize, v: Option<BTreeSet<NodeId>>) {
        let now = self.at(self.t);
        self.nodes[index].machine.set_tie(v, now);
    }
}

#[test]
fn a_lone_contender_wins_after_settle_and_its_followers_hold_too() {
    let mut sim = Sim::new(7, &[&[1, 2]]);
    let now = sim.at(0);
    assert!(
        !sim.nodes[0].machine.answer(now).decided,
        "undecided at first"
    );
    let trace = sim.run(1000);
    let first = trace
        .iter()
        .position(|h| h.is_some())
        .expect("somebody holds");
    assert!(
        first as u64 >= SETTLE.as_millis() as u64,
        "won after {first} ms, before the settle time"
    );
    assert!(trace[first..].iter().all(|h| *h == Some(0)), "hold kept");
    let now = sim.at(sim.t);
    assert!(sim.nodes[0].machine.answer(now).holds, "the coordinator");
    assert!(sim.nodes[1].machine.answer(now).holds, "the follower");
}

#[test]
fn of_two_halves_exactly_one_wins_and_keeps_it() {
    for seed in 1..40 {
        let mut sim = Sim::new(seed, &[&[1, 2], &[3, 4]]);
        let trace = sim.run(2000);
        let last = trace.last().copied().flatten();
        assert!(last.is_some(), "seed {seed}: nobody won");
        let now = sim.at(sim.t);
        assert!(
            sim.nodes.iter().all(|n| n.machine.answer(now).decided),
            "seed {seed}: every node knows the outcome"
        );
        let first = trace.iter().position(|h| h.is_some()).unwrap_or(0);
        assert!(
            trace[first + 50..].iter().all(|h| *h == last),
            "seed {seed}: the hold changed hands without a fault"
        );
    }
}

#[test]
fn slow_and_stalled_io_never_gives_two_holders() {
    for seed in 1..150 {
        let mut sim = Sim::new(seed * 7919, &[&[1, 2], &[3, 4]]);
        sim.max_io = 30;
        sim.slow_every = 4;
        sim.slow_ms = 600;
        sim.run(8000);
    }
}

#[test]
fn a_crashed_holder_is_replaced_after_its_hold_ran_out() {
    let mut sim = Sim::new(11, &[&[1, 2], &[3, 4]]);
    let trace = sim.run(1500);
    let winner = trace.last().copied().flatten().expect("a winner");
    let loser = 1 - winner;
    // The winner's whole partition stops (power loss).
    for n in sim.nodes.iter_mut().filter(|n| n.partition == winner) {
        n.crashed = true;
    }
    let crash = sim.t;
    let trace = sim.run(3000);
    let takeover = trace
        .iter()
        .position(|h| *h == Some(loser))
        .expect("the other half takes over") as u64;
    // It must wait for the claim to go stale (3 settle times) and settle once more.
    assert!(
        takeover >= 3 * SETTLE.as_millis() as u64,
        "took over {takeover} ms after the crash at {crash}"
    );
}

#[test]
fn a_released_claim_is_free_at_once() {
    let mut sim = Sim::new(5, &[&[1, 2], &[3, 4]]);
    let trace = sim.run(1500);
    let winner = trace.last().copied().flatten().expect("a winner");
    // The winning half heals into the whole cluster: no tie there any more.
    for i in 0..sim.nodes.len() {
        if sim.nodes[i].partition == winner {
            sim.set_tie(i, None);
        }
    }
    let trace = sim.run(1000);
    let takeover = trace
        .iter()
        .position(|h| *h == Some(1 - winner))
        .expect("the other half takes over") as u64;
    assert!(
        takeover < 3 * SETTLE.as_millis() as u64,
        "a release should not wait for staleness ({takeover} ms)"
    );
}

#[test]
fn a_follower_stops_holding_when_its_coordinator_stops_renewing() {
    let mut sim = Sim::new(3, &[&[1, 2]]);
    sim.run(1000);
    sim.nodes[0].crashed = true;
    let trace = sim.run(1000);
    let ends = trace.iter().position(|h| h.is_none()).expect("hold ends") as u64;
    assert!(ends <= SETTLE.as_millis() as u64 + 10, "{ends} ms");
}

#[test]
fn a_late_write_does_not_count() {
    let base = Instant::now();
    let ms = |x: u64| base + Duration::from_millis(x);
    let mut a = ClaimMachine::new(1, 5, SETTLE, base);
    a.set_tie(Some(view(&[1, 2])), base);
    assert_eq!(a.next(ms(0)), Want::Read);
    a.read_done(ms(0), ms(1), Ok(Found::Empty));
    let Want::Write(c) = a.next(ms(1)) else {
        panic!("expected a claim")
    };
    assert_eq!(c.state, ClaimState::Tentative);
    // The write returns after more than S/2: not counted, back to watching.
    a.write_done(ms(1), ms(150), Ok(()));
    assert!(matches!(a.next(ms(150)), Want::Wait(_)));
    // Reading back its own (late) claim does not make it the holder.
    a.read_done(ms(200), ms(201), Ok(Found::Claim(c)));
    assert!(!a.answer(ms(201)).holds);
    assert!(
        a.answer(ms(201)).why.contains("claimed"),
        "{}",
        a.answer(ms(201)).why
    );
}

#[test]
fn without_a_tie_nothing_is_held_or_written() {
    let base = Instant::now();
    let mut a = ClaimMachine::new(1, 5, SETTLE, base);
    for step in 0..20u64 {
        let now = base + Duration::from_millis(step * 50);
        match a.next(now) {
            Want::Write(_) => panic!("wrote without a tie"),
            Want::Read => a.read_done(now, now, Ok(Found::Empty)),
            Want::Wait(_) => {}
        }
        assert!(!a.answer(now).holds);
    }
}
