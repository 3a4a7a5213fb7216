//! Membership tests on a manual clock.

use super::*;

fn timers() -> Timers {
    Timers {
        keepalive: Duration::from_millis(200),
        warntime: Duration::from_millis(500),
        deadtime: Duration::from_secs(1),
        initdead: Duration::from_secs(3),
    }
}

fn hb(from: NodeId, seq: u64) -> Heartbeat {
    Heartbeat {
        from,
        incarnation: 1,
        seq,
    }
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
    let mut m = Membership::new(1, [1, 2, 3], timers(), t0);
    assert_eq!(m.heard(hb(2, 1), t0), vec![Change::Up(2)]);
    assert_eq!(m.members().into_iter().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(m.tick(t0 + Duration::from_millis(400)), vec![]);
    assert!(matches!(
        m.tick(t0 + Duration::from_millis(600))[..],
        [Change::Late(2, _)]
    ));
    assert_eq!(
        m.tick(t0 + Duration::from_millis(1000)),
        vec![Change::Dead(2)]
    );
    assert_eq!(m.members().into_iter().collect::<Vec<_>>(), vec![1]);
    assert_eq!(
        m.heard(hb(2, 2), t0 + Duration::from_secs(2)),
        vec![Change::Up(2)]
    );
}

#[test]
fn unseen_peers_get_initdead_not_deadtime() {
    let t0 = Instant::now();
    let mut m = Membership::new(1, [1, 2], timers(), t0);
    assert_eq!(m.tick(t0 + Duration::from_secs(2)), vec![]);
    assert_eq!(m.never_seen(), vec![2]);
    assert_eq!(m.tick(t0 + Duration::from_secs(3)), vec![Change::Dead(2)]);
}

#[test]
fn replays_are_dropped_and_a_new_incarnation_is_accepted() {
    let t0 = Instant::now();
    let mut m = Membership::new(1, [1, 2], timers(), t0);
    m.heard(hb(2, 5), t0);
    assert_eq!(m.heard(hb(2, 5), t0), vec![Change::Replay(2)]);
    assert_eq!(m.heard(hb(2, 4), t0), vec![Change::Replay(2)]);
    let restarted = Heartbeat {
        from: 2,
        incarnation: 2,
        seq: 1,
    };
    assert_eq!(m.heard(restarted, t0), vec![]);
}

#[test]
fn unknown_senders_are_ignored() {
    let t0 = Instant::now();
    let mut m = Membership::new(1, [1, 2], timers(), t0);
    assert_eq!(m.heard(hb(9, 1), t0), vec![]);
    assert!(!m.members().contains(&9));
}
