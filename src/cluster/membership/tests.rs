//! Membership tests on a manual clock.

use super::*;
use crate::cluster::challenge::NONCE_LEN;

fn timers() -> Timers {
    Timers {
        keepalive: Duration::from_millis(200),
        warntime: Duration::from_millis(500),
        deadtime: Duration::from_secs(1),
        initdead: Duration::from_secs(3),
    }
}

const SEED: [u8; SEED_LEN] = [5; SEED_LEN];

fn hb(from: NodeId, seq: u64) -> Heartbeat {
    Heartbeat {
        from,
        incarnation: 1,
        seq,
        challenge: None,
        echo: None,
    }
}

/// A fresh membership of node 1 watching `peers` (each one challenged).
fn watching(peers: &[NodeId], t0: Instant) -> Membership {
    Membership::new(1, peers.iter().copied(), timers(), t0, SEED)
}

/// `hb`, echoing the challenge `m` has open for its sender.
fn answering(m: &Membership, hb: Heartbeat) -> Heartbeat {
    let echo = m
        .challenges()
        .into_iter()
        .find(|(n, _)| *n == hb.from)
        .map(|(_, nonce)| nonce);
    Heartbeat { echo, ..hb }
}

#[test]
fn timers_are_validated_like_heartbeat() {
    assert_eq!(timers().validate(), Ok(()));
    let mut t = timers();
    t.deadtime = Duration::from_millis(400);
    assert!(matches!(
        t.validate(),
        Err(TimersError::DeadtimeTooShort { .. })
    ));
    let mut t = timers();
    t.initdead = Duration::from_millis(500);
    assert!(matches!(
        t.validate(),
        Err(TimersError::InitdeadTooShort { .. })
    ));
    let mut t = timers();
    t.warntime = Duration::from_secs(2);
    assert!(matches!(t.validate(), Err(TimersError::Warntime(_))));
}

#[test]
fn peer_goes_up_late_dead_and_back() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2, 3], t0);
    assert_eq!(m.heard(answering(&m, hb(2, 1)), t0), vec![Change::Up(2)]);
    assert_eq!(m.members().into_iter().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(m.tick(t0 + Duration::from_millis(400)), vec![]);
    assert!(matches!(
        m.tick(t0 + Duration::from_millis(600))[..],
        [Change::Late(2, _)]
    ));
    // node 3 is still silent: its challenge is renewed
    assert_eq!(
        m.tick(t0 + Duration::from_millis(1000)),
        vec![Change::Challenge(3), Change::Dead(2), Change::Challenge(2)]
    );
    assert_eq!(m.members().into_iter().collect::<Vec<_>>(), vec![1]);
    // back after dead: it must prove itself again
    let t1 = t0 + Duration::from_millis(1500);
    assert_eq!(m.heard(hb(2, 2), t1), vec![Change::Unproven(2)]);
    assert_eq!(m.heard(answering(&m, hb(2, 3)), t1), vec![Change::Up(2)]);
}

#[test]
fn unseen_peers_get_initdead_not_deadtime() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    assert_eq!(m.tick(t0 + Duration::from_millis(900)), vec![]);
    assert_eq!(m.never_seen(), vec![2]);
    // the challenge is renewed every deadtime while the peer stays silent
    assert_eq!(
        m.tick(t0 + Duration::from_secs(2)),
        vec![Change::Challenge(2)]
    );
    assert_eq!(
        m.tick(t0 + Duration::from_secs(3)),
        vec![Change::Challenge(2), Change::Dead(2)]
    );
}

#[test]
fn replays_are_dropped_and_a_new_incarnation_is_accepted() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    assert_eq!(m.heard(answering(&m, hb(2, 5)), t0), vec![Change::Up(2)]);
    assert_eq!(m.heard(hb(2, 5), t0), vec![Change::Replay(2)]);
    assert_eq!(m.heard(hb(2, 4), t0), vec![Change::Replay(2)]);
    assert_eq!(m.heard(hb(2, 6), t0), vec![]);
    let restarted = Heartbeat {
        incarnation: 2,
        seq: 1,
        ..hb(2, 1)
    };
    // a new incarnation is challenged; the old one stays counted meanwhile
    assert_eq!(
        m.heard(restarted, t0),
        vec![Change::Challenge(2), Change::Unproven(2)]
    );
    assert!(m.members().contains(&2));
    let answered = Heartbeat {
        seq: 2,
        ..restarted
    };
    assert_eq!(m.heard(answering(&m, answered), t0), vec![]);
    assert!(m.challenges().is_empty());
    assert_eq!(
        m.heard(hb(2, 9), t0),
        vec![Change::Replay(2)],
        "the old incarnation is over"
    );
}

#[test]
fn unknown_senders_are_ignored() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    assert_eq!(m.heard(hb(9, 1), t0), vec![]);
    assert!(!m.members().contains(&9));
}

#[test]
fn a_fresh_receiver_does_not_count_a_recorded_heartbeat() {
    let t0 = Instant::now();
    // what node 2 sent to an earlier incarnation of node 1: it answered that one's nonce
    let before = watching(&[1, 2], t0);
    let recorded = answering(&before, hb(2, 40));
    assert!(recorded.echo.is_some());
    // node 1 restarts: new seed, new nonces
    let mut m = Membership::new(1, [1, 2], timers(), t0, [6; SEED_LEN]);
    for seq in 40..45 {
        let replayed = Heartbeat { seq, ..recorded };
        assert_eq!(m.heard(replayed, t0), vec![Change::Unproven(2)]);
    }
    assert_eq!(m.members().into_iter().collect::<Vec<_>>(), vec![1]);
    assert_eq!(m.never_seen(), vec![2]);
    // the recording never answers: the peer is declared dead after initdead
    assert_eq!(
        m.tick(t0 + Duration::from_secs(3)),
        vec![Change::Challenge(2), Change::Dead(2)]
    );
    assert!(!m.members().contains(&2));
}

#[test]
fn the_peer_counts_once_it_echoes_the_challenge() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    let open = m.challenges();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].0, 2);
    // its first heartbeat predates our challenge
    assert_eq!(m.heard(hb(2, 1), t0), vec![Change::Unproven(2)]);
    let wrong = Heartbeat {
        echo: Some(Nonce([0; NONCE_LEN])),
        ..hb(2, 2)
    };
    assert_eq!(m.heard(wrong, t0), vec![Change::Unproven(2)]);
    assert!(!m.members().contains(&2));
    assert_eq!(m.heard(answering(&m, hb(2, 3)), t0), vec![Change::Up(2)]);
    assert!(m.members().contains(&2));
    assert!(m.challenges().is_empty(), "nothing left to ask");
    // from now on its sequence is enough
    assert_eq!(m.heard(hb(2, 4), t0), vec![]);
    assert_eq!(m.heard(hb(2, 3), t0), vec![Change::Replay(2)]);
}

#[test]
fn an_answer_replayed_to_a_later_challenge_fails() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    let answer = answering(&m, hb(2, 1));
    assert_eq!(m.heard(answer, t0), vec![Change::Up(2)]);
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(m.tick(t1), vec![Change::Dead(2), Change::Challenge(2)]);
    // the recorded answer, and later heartbeats recorded while we did not hear the
    // peer, echo the old nonce or none: neither answers the new challenge
    assert_eq!(m.heard(answer, t1), vec![Change::Replay(2)]);
    for seq in 2..=8 {
        let replayed = Heartbeat { seq, ..answer };
        assert_eq!(m.heard(replayed, t1), vec![Change::Unproven(2)]);
    }
    assert!(!m.members().contains(&2));
    // the live peer answers the new nonce
    assert_eq!(m.heard(answering(&m, hb(2, 9)), t1), vec![Change::Up(2)]);
}

#[test]
fn an_answer_held_back_past_the_nonce_lifetime_proves_nothing() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    let late = answering(&m, hb(2, 1));
    let t1 = t0 + Duration::from_secs(1);
    assert_eq!(m.tick(t1), vec![Change::Challenge(2)]);
    assert_eq!(m.heard(late, t1), vec![Change::Unproven(2)]);
    assert!(!m.members().contains(&2));
}

#[test]
fn we_echo_what_a_peer_asks_even_before_it_is_proven() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    let nonce = Nonce([4; NONCE_LEN]);
    let asking = Heartbeat {
        challenge: Some(nonce),
        ..hb(2, 1)
    };
    assert_eq!(
        m.heard(asking, t0),
        vec![Change::Asked(2), Change::Unproven(2)]
    );
    assert_eq!(m.echoes(), vec![(2, nonce)]);
    // the same heartbeat on the second ring asks nothing new
    assert_eq!(m.heard(asking, t0), vec![Change::Unproven(2)]);
}

#[test]
fn two_fresh_nodes_prove_each_other() {
    let t0 = Instant::now();
    let mut a = Membership::new(1, [1, 2], timers(), t0, [1; SEED_LEN]);
    let mut b = Membership::new(2, [1, 2], timers(), t0, [2; SEED_LEN]);
    let (mut seq_a, mut seq_b) = (0, 0);
    // what `from` (node `me`) sends, as the other node reads it
    fn send(from: &Membership, me: NodeId, seq: &mut u64) -> Heartbeat {
        *seq += 1;
        let p = Packet {
            cluster: 7,
            from: me,
            incarnation: 1,
            seq: *seq,
            quorate: false,
            members: Vec::new(),
            challenges: from.challenges(),
            echoes: from.echoes(),
        };
        Heartbeat::from_packet(&p, 3 - me)
    }
    for _ in 0..2 {
        let to_b = send(&a, 1, &mut seq_a);
        b.heard(to_b, t0);
        let to_a = send(&b, 2, &mut seq_b);
        a.heard(to_a, t0);
    }
    assert!(a.members().contains(&2));
    assert!(b.members().contains(&1));
    assert!(a.challenges().is_empty() && b.challenges().is_empty());
}

#[test]
fn a_refused_sender_still_gets_its_echo() {
    let t0 = Instant::now();
    let mut m = watching(&[1, 2], t0);
    let nonce = Nonce([8; NONCE_LEN]);
    let fenced = Heartbeat {
        challenge: Some(nonce),
        ..hb(2, 1)
    };
    assert!(m.asked(&fenced));
    assert!(!m.asked(&fenced));
    assert_eq!(m.echoes(), vec![(2, nonce)]);
    assert!(!m.members().contains(&2));
    assert!(!m.asked(&hb(9, 1)), "unknown nodes are not answered");
}
