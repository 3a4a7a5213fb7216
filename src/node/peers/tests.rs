//! The peer book: view gating, fenced incarnations, fence advertisement.

use super::*;
use std::time::{Duration, Instant};

/// A report; each fence (node, incarnation) started just now.
fn report(from: NodeId, inc: u64, seq: u64, running: &[&str], fenced: &[(NodeId, u64)]) -> Report {
    Report {
        cluster: 1,
        from,
        incarnation: inc,
        seq,
        running: running
            .iter()
            .map(|s| crate::node::report::Running {
                name: s.to_string(),
                role: crate::placement::config::Role::Started,
                status: crate::node::report::RunStatus::Running,
            })
            .collect(),
        fenced: fenced
            .iter()
            .map(|&(node, incarnation)| FenceRecord {
                node,
                incarnation,
                age_ms: Some(0),
            })
            .collect(),
        ..Report::default()
    }
}

fn up(book: &mut PeerBook, n: NodeId, inc: u64) {
    assert!(book.accepts(n, inc));
    book.heartbeat(n, inc, Instant::now());
    book.change(&Change::Up(n));
}

fn set(ids: &[NodeId]) -> BTreeSet<NodeId> {
    ids.iter().copied().collect()
}

#[test]
fn first_view_waits_for_every_peer_reported_or_dead() {
    let mut book = PeerBook::new(1, 100, [1, 2, 3], Instant::now());
    assert!(!book.settled());
    up(&mut book, 2, 200);
    assert!(!book.settled(), "2 heard but not reported, 3 unknown");
    assert_eq!(book.awaiting_report(), vec![2]);
    let out = book.report(&report(2, 200, 1, &["db"], &[]), Instant::now());
    assert!(out.first_since_up && !out.stale);
    assert_eq!(out.newly_running, vec!["db".to_string()]);
    assert!(!book.settled(), "3 is neither reported nor dead");
    book.change(&Change::Dead(3));
    assert!(book.settled());
    assert_eq!(book.view(), set(&[1, 2]));
    assert_eq!(book.running_elsewhere("db", &book.view()), Some(2));
    // settled stays settled; a rejoining peer enters the view only after its report
    up(&mut book, 3, 300);
    assert!(book.settled());
    assert_eq!(book.view(), set(&[1, 2]));
    book.report(&report(3, 300, 1, &[], &[]), Instant::now());
    assert_eq!(book.view(), set(&[1, 2, 3]));
}

#[test]
fn reports_from_other_incarnations_or_replayed_are_stale() {
    let mut book = PeerBook::new(1, 100, [1, 2], Instant::now());
    assert!(
        book.report(&report(2, 200, 1, &[], &[]), Instant::now())
            .stale,
        "not alive yet"
    );
    up(&mut book, 2, 200);
    assert!(
        book.report(&report(2, 199, 5, &[], &[]), Instant::now())
            .stale,
        "old incarnation"
    );
    assert!(
        !book
            .report(&report(2, 200, 5, &["a"], &[]), Instant::now())
            .stale
    );
    assert!(
        book.report(&report(2, 200, 5, &[], &[]), Instant::now())
            .stale,
        "replay"
    );
    assert!(
        book.report(&report(2, 200, 4, &[], &[]), Instant::now())
            .stale,
        "reordered"
    );
    assert!(
        book.report(&report(9, 1, 1, &[], &[]), Instant::now())
            .stale,
        "unknown node"
    );
    // a restart voids what it ran
    book.heartbeat(2, 201, Instant::now());
    assert!(book.running_elsewhere("a", &set(&[1, 2])).is_none());
    assert_eq!(book.view(), set(&[1]));
}

#[test]
fn fenced_incarnation_is_refused_and_advertised_until_it_restarts() {
    let mut book = PeerBook::new(2, 200, [1, 2, 3], Instant::now());
    up(&mut book, 1, 100);
    book.report(&report(1, 100, 1, &["db"], &[]), Instant::now());
    book.change(&Change::Dead(1));
    book.fenced_by_us(1, Instant::now());
    assert!(!book.accepts(1, 100), "the fenced incarnation stays out");
    assert!(book.accepts(1, 101));
    let view = set(&[2, 3]);
    let now = Instant::now();
    let advertised = book.advertised_fences(&view, now);
    assert_eq!(
        advertised
            .iter()
            .map(|f| (f.node, f.incarnation, f.age_ms.is_some()))
            .collect::<Vec<_>>(),
        vec![(1, 100, true)]
    );
    assert!(
        book.due_fences(&view).is_empty(),
        "we told the machine ourselves"
    );
    // it restarts and rejoins: no longer advertised
    up(&mut book, 1, 150);
    book.report(&report(1, 150, 1, &[], &[]), Instant::now());
    assert!(book
        .advertised_fences(&book.view(), Instant::now())
        .is_empty());
}

#[test]
fn fences_learned_from_reports_are_applied_once_when_the_node_is_out() {
    let mut book = PeerBook::new(3, 300, [1, 2, 3], Instant::now());
    up(&mut book, 1, 100);
    up(&mut book, 2, 200);
    book.report(&report(1, 100, 1, &[], &[]), Instant::now());
    book.report(&report(2, 200, 1, &[], &[]), Instant::now());
    // node 2 says it fenced node 1 while we still hear it (a member fenced after a
    // failed stop): it is out of our view at once
    book.report(&report(2, 200, 2, &[], &[(1, 100)]), Instant::now());
    let view = book.view();
    assert_eq!(view, set(&[2, 3]));
    assert_eq!(book.due_fences(&view), vec![1]);
    book.change(&Change::Dead(1));
    let view = book.view();
    assert!(book.due_fences(&view).is_empty(), "applied once");
    assert!(!book.accepts(1, 100));
    // a fence of an incarnation older than one we heard is stale
    up(&mut book, 1, 120);
    book.report(&report(2, 200, 3, &[], &[(1, 110)]), Instant::now());
    assert!(book.accepts(1, 120));
}

#[test]
fn a_node_learns_it_was_fenced_only_for_its_own_incarnation() {
    let mut book = PeerBook::new(1, 100, [1, 2], Instant::now());
    up(&mut book, 2, 200);
    assert!(
        !book
            .report(&report(2, 200, 1, &[], &[(1, 99)]), Instant::now())
            .fenced_me
    );
    assert!(
        book.report(&report(2, 200, 2, &[], &[(1, 100)]), Instant::now())
            .fenced_me
    );
}

#[test]
fn a_view_is_agreed_when_every_member_announces_the_same() {
    let mut book = PeerBook::new(1, 100, [1, 2, 3], Instant::now());
    for (n, inc) in [(2, 200), (3, 300)] {
        up(&mut book, n, inc);
        book.report(&report(n, inc, 1, &[], &[]), Instant::now());
    }
    let all = set(&[1, 2, 3]);
    assert_eq!(book.disagreeing(&all).len(), 2, "nothing announced yet");
    let t = Instant::now();
    book.announced(2, &[1, 2, 3], t);
    book.announced(3, &[1, 2, 3], t);
    assert!(book.disagreeing(&all).is_empty());
    // we lost node 2, but node 3 still announces the old view (or has lost us): not agreed
    book.change(&Change::Dead(2));
    let view = book.view();
    assert_eq!(view, set(&[1, 3]));
    assert_eq!(book.disagreeing(&view), vec![(3, set(&[1, 2, 3]))]);
    book.announced(3, &[1, 3], t);
    assert!(book.disagreeing(&view).is_empty());
    // a restart forgets the announcement
    book.heartbeat(3, 301, Instant::now());
    assert_eq!(book.disagreeing(&set(&[1, 3])), vec![(3, BTreeSet::new())]);
    // alone: trivially agreed
    assert!(book.disagreeing(&set(&[1])).is_empty());
}

/// A book of node 1 in a 3-node cluster whose peers 2 and 3 are up, reported and
/// announce the full view; we began to report at `t`.
fn three_agreed(t: Instant) -> PeerBook {
    let mut book = PeerBook::new(1, 100, [1, 2, 3], Instant::now());
    book.reporting(t);
    for (n, inc) in [(2, 200), (3, 300)] {
        up(&mut book, n, inc);
        book.report(&report(n, inc, 1, &[], &[]), Instant::now());
        book.announced(n, &[1, 2, 3], t);
    }
    book
}

const DEADTIME: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_peer_that_leaves_us_out_longer_than_deadtime_is_out_of_the_view() {
    let t = Instant::now();
    let mut book = three_agreed(t);
    // node 3 stops hearing us (and node 2): it announces itself alone, every keepalive,
    // while we still hear it.
    for k in 0..=5 {
        book.announced(3, &[3], t + ms(1000 + 200 * k));
        let now = t + ms(1000 + 200 * k);
        if k < 5 {
            assert!(book.one_sided(now, DEADTIME).is_empty(), "{k}");
            assert_eq!(book.view(), set(&[1, 2, 3]));
        }
    }
    assert_eq!(book.one_sided(t + ms(2000), DEADTIME), vec![3]);
    assert!(
        book.one_sided(t + ms(2500), DEADTIME).is_empty(),
        "returned once"
    );
    // out of the view: the view without it can be agreed with node 2
    let view = book.view();
    assert_eq!(view, set(&[1, 2]));
    book.announced(2, &[1, 2], t + ms(2010));
    assert!(book.disagreeing(&view).is_empty());
    // still heard, still reporting: stays out while it leaves us out
    assert!(
        !book
            .report(&report(3, 300, 2, &[], &[]), Instant::now())
            .stale
    );
    assert!(!book.announced(3, &[3], t + ms(2200)));
    assert_eq!(book.view(), set(&[1, 2]));
    // it hears us again: back in the view
    assert!(book.announced(3, &[1, 2, 3], t + ms(2400)));
    assert_eq!(book.view(), set(&[1, 2, 3]));
    assert!(book.one_sided(t + ms(5000), DEADTIME).is_empty());
}

#[test]
fn only_an_unbroken_exclusion_counts() {
    let t = Instant::now();
    let mut book = three_agreed(t);
    // left out for 800 ms, then listed again, then left out again: the clock restarts
    book.announced(3, &[2, 3], t + ms(1000));
    book.announced(3, &[1, 2, 3], t + ms(1800));
    book.announced(3, &[2, 3], t + ms(2000));
    assert!(book.one_sided(t + ms(2900), DEADTIME).is_empty());
    assert_eq!(book.one_sided(t + ms(3000), DEADTIME), vec![3]);
    // dead and back (or restarted): what it announced before is forgotten
    book.change(&Change::Dead(3));
    up(&mut book, 3, 300);
    book.report(&report(3, 300, 2, &[], &[]), Instant::now());
    assert_eq!(book.view(), set(&[1, 2, 3]));
    book.announced(3, &[3], t + ms(4000));
    book.heartbeat(3, 301, Instant::now());
    book.report(&report(3, 301, 1, &[], &[]), Instant::now());
    assert!(book.one_sided(t + ms(5500), DEADTIME).is_empty());
}

#[test]
fn a_joining_peer_is_not_counted_out_before_it_could_hear_us() {
    let t = Instant::now();
    let mut book = PeerBook::new(1, 100, [1, 2], Instant::now());
    // node 2 is up and reports long before we send our first report (our probes run):
    // it cannot list us yet, and that does not count
    up(&mut book, 2, 200);
    book.report(&report(2, 200, 1, &[], &[]), Instant::now());
    for k in 0..20 {
        book.announced(2, &[2], t + ms(200 * k));
        assert!(book.one_sided(t + ms(200 * k), DEADTIME).is_empty());
    }
    // we report from 4 s on; it lists us within a keepalive or two: never out
    book.reporting(t + ms(4000));
    book.announced(2, &[2], t + ms(4200));
    assert!(book.one_sided(t + ms(4300), DEADTIME).is_empty());
    book.announced(2, &[1, 2], t + ms(4400));
    assert!(book.one_sided(t + ms(9000), DEADTIME).is_empty());
    assert_eq!(book.view(), set(&[1, 2]));
    // a peer that does not hear us at all is out a deadtime after our first report
    let mut book = PeerBook::new(1, 100, [1, 2], Instant::now());
    up(&mut book, 2, 200);
    book.report(&report(2, 200, 1, &[], &[]), Instant::now());
    book.announced(2, &[2], t);
    book.reporting(t + ms(3000));
    assert!(book.one_sided(t + ms(3900), DEADTIME).is_empty());
    assert_eq!(book.one_sided(t + ms(4000), DEADTIME), vec![2]);
    assert_eq!(book.view(), set(&[1]));
}

#[test]
fn a_node_fenced_while_heard_and_booted_again_within_deadtime_is_alive_again() {
    let mut book = PeerBook::new(2, 200, [1, 2, 3], Instant::now());
    up(&mut book, 1, 100);
    book.report(&report(1, 100, 1, &["db"], &[]), Instant::now());
    // fenced while still heard (one-sided): out at once, its incarnation refused
    book.fenced_by_us(1, Instant::now());
    assert_eq!(book.view(), set(&[2]));
    assert!(!book.accepts(1, 100));
    // powered on again before the membership ever found it silent: no Up comes
    assert!(book.accepts(1, 150));
    assert!(book.heartbeat(1, 150, Instant::now()), "alive again");
    assert!(
        book.report(&report(1, 150, 1, &[], &[]), Instant::now())
            .first_since_up
    );
    assert_eq!(book.view(), set(&[1, 2]));
    // an ordinary restart of a live peer is not a revival
    assert!(!book.heartbeat(1, 160, Instant::now()));
    assert!(!book.heartbeat(1, 160, Instant::now()));
    // nor is the first heartbeat ever heard
    assert!(!book.heartbeat(3, 300, Instant::now()));
}

/// Node `me`'s book in a 3-node cluster (1, 2, 3), every peer up, reported and
/// announcing the full view at `t`; we report from `t`.
fn three_agreed_as(me: NodeId, t: Instant) -> PeerBook {
    let mut book = PeerBook::new(me, me as u64 * 100, [1, 2, 3], Instant::now());
    book.reporting(t);
    for n in [1, 2, 3].into_iter().filter(|n| *n != me) {
        up(&mut book, n, n as u64 * 100);
        book.report(&report(n, n as u64 * 100, 1, &[], &[]), Instant::now());
        book.announced(n, &[1, 2, 3], t);
    }
    book
}

#[test]
fn a_link_lost_one_way_between_two_peers_leaves_the_higher_id_out() {
    // 2 -> 3 lost: node 3 loses node 2 and announces [1 3]; node 2, reading views
    // without it, counts 3 out and announces [1 2]. Node 1 hears both.
    let t = Instant::now();
    let mut book = three_agreed_as(1, t);
    for k in 0..=5 {
        let at = t + ms(1000 + 200 * k);
        book.announced(3, &[1, 3], at);
        book.announced(2, &[1, 2], at);
        if k < 5 {
            assert!(book.partial_links(at, DEADTIME).is_empty(), "{k}");
            assert_eq!(book.view(), set(&[1, 2, 3]));
        }
    }
    let out = book.partial_links(t + ms(2000), DEADTIME);
    assert_eq!(
        out,
        vec![LinkChange {
            node: 3,
            out: true,
            unlinked_from: set(&[2]),
            kept: set(&[1, 2]),
        }]
    );
    assert!(
        book.partial_links(t + ms(2100), DEADTIME).is_empty(),
        "once"
    );
    let view = book.view();
    assert_eq!(view, set(&[1, 2]));
    assert!(book.disagreeing(&view).is_empty(), "node 2 announces [1 2]");
    // node 3, left out, hears us and lists us again after its own one-sided rule: it
    // stays out while it is unlinked from node 2, and is not counted back in
    book.announced(3, &[1, 3], t + ms(2200));
    assert!(book.partial_links(t + ms(2300), DEADTIME).is_empty());
    assert_eq!(book.view(), set(&[1, 2]));
    // the link heals: 2 and 3 list each other, node 3 is back
    book.announced(3, &[1, 2, 3], t + ms(3000));
    book.announced(2, &[1, 2, 3], t + ms(3000));
    let back = book.partial_links(t + ms(3000), DEADTIME);
    assert_eq!(back.len(), 1);
    assert!(back[0].node == 3 && !back[0].out);
    assert_eq!(book.view(), set(&[1, 2, 3]));
}

#[test]
fn the_same_set_is_kept_whichever_way_the_link_is_lost_and_by_every_keeper() {
    let t = Instant::now();
    // 3 -> 2 lost this time (node 2 drops 3, node 3 counts 2 out): still 3 out
    let mut book = three_agreed_as(1, t);
    book.announced(2, &[1, 2], t + ms(1000));
    book.announced(3, &[1, 3], t + ms(1000));
    book.partial_links(t + ms(1000), DEADTIME);
    book.partial_links(t + ms(2000), DEADTIME);
    assert_eq!(book.view(), set(&[1, 2]));
    // node 3 keeps: 1 and 2 cut; 1 (lowest id) is kept, 2 left out
    let mut book = three_agreed_as(3, t);
    book.announced(1, &[1, 3], t + ms(1000));
    book.announced(2, &[2, 3], t + ms(1000));
    book.partial_links(t + ms(1000), DEADTIME);
    let out = book.partial_links(t + ms(2000), DEADTIME);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].node, &out[0].kept), (2, &set(&[1, 3])));
    assert_eq!(book.view(), set(&[1, 3]));
}

#[test]
fn the_largest_fully_connected_set_wins_over_the_lowest_ids() {
    // 5 nodes; we are 5; node 1 is cut from 2 and from 3: [2 3 4 5] (4) beats any set
    // with node 1 ([1 4 5], 3)
    let t = Instant::now();
    let mut book = PeerBook::new(5, 500, [1, 2, 3, 4, 5], Instant::now());
    book.reporting(t);
    for n in 1..=4 {
        up(&mut book, n, n as u64 * 100);
        book.report(&report(n, n as u64 * 100, 1, &[], &[]), Instant::now());
    }
    book.announced(1, &[1, 4, 5], t);
    book.announced(2, &[2, 3, 4, 5], t);
    book.announced(3, &[2, 3, 4, 5], t);
    book.announced(4, &[1, 2, 3, 4, 5], t);
    book.partial_links(t, DEADTIME);
    let out = book.partial_links(t + DEADTIME, DEADTIME);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].node, &out[0].unlinked_from), (1, &set(&[2, 3])));
    assert_eq!(book.view(), set(&[2, 3, 4, 5]));
}

#[test]
fn everyone_hearing_everyone_leaves_nobody_out() {
    let t = Instant::now();
    let mut book = three_agreed_as(1, t);
    for k in 0..50 {
        let at = t + ms(200 * k);
        book.announced(2, &[1, 2, 3], at);
        book.announced(3, &[1, 2, 3], at);
        assert!(book.partial_links(at, DEADTIME).is_empty());
    }
    assert_eq!(book.view(), set(&[1, 2, 3]));
    assert!(book.disagreeing(&book.view()).is_empty());
}

#[test]
fn a_joining_peer_not_listed_yet_is_never_left_out() {
    // node 3 comes up: it announces itself alone while its probes run, node 2 lists it
    // only once it reported; it enters our view with its report too
    let t = Instant::now();
    let mut book = PeerBook::new(1, 100, [1, 2, 3], Instant::now());
    book.reporting(t);
    up(&mut book, 2, 200);
    book.report(&report(2, 200, 1, &[], &[]), Instant::now());
    book.announced(2, &[1, 2], t);
    book.change(&Change::Dead(3));
    up(&mut book, 3, 300);
    for k in 0..20 {
        let at = t + ms(200 * k);
        book.announced(3, &[3], at);
        book.announced(2, &[1, 2], at);
        assert!(
            book.partial_links(at, DEADTIME).is_empty(),
            "not taken in yet"
        );
    }
    book.report(&report(3, 300, 1, &[], &[]), Instant::now());
    // a keepalive or two until node 2 lists it and it lists node 2
    book.announced(2, &[1, 2], t + ms(4000));
    book.announced(3, &[1, 3], t + ms(4000));
    assert!(book.partial_links(t + ms(4000), DEADTIME).is_empty());
    book.announced(2, &[1, 2, 3], t + ms(4400));
    assert!(book.partial_links(t + ms(4500), DEADTIME).is_empty());
    book.announced(3, &[1, 2, 3], t + ms(4600));
    assert!(book.partial_links(t + ms(9000), DEADTIME).is_empty());
    assert_eq!(book.view(), set(&[1, 2, 3]));
}

#[test]
fn the_node_left_out_cannot_agree_on_a_quorate_view_on_its_side() {
    // node 3's side of 2 -> 3 lost: node 2 is dead to it; node 1, having left it out,
    // announces [1 2]: no view of node 3 with node 1 is agreed, and a deadtime later
    // node 3 counts node 1 out (one-sided) and is alone (1 of 3: no quorum)
    let t = Instant::now();
    let mut book = three_agreed_as(3, t);
    book.change(&Change::Dead(2));
    book.announced(1, &[1, 3], t + ms(1000));
    assert!(book.partial_links(t + ms(1000), DEADTIME).is_empty());
    let view = book.view();
    assert_eq!(view, set(&[1, 3]));
    assert!(book.disagreeing(&view).is_empty());
    book.announced(1, &[1, 2], t + ms(2000));
    assert_eq!(book.disagreeing(&view), vec![(1, set(&[1, 2]))]);
    assert!(book.one_sided(t + ms(2900), DEADTIME).is_empty());
    assert_eq!(book.one_sided(t + ms(3000), DEADTIME), vec![1]);
    assert_eq!(book.view(), set(&[3]));
    // node 2's side, had it been the one left out (3 -> 2 lost, ids the other way):
    // it counts node 3 out itself, node 1 announces [1 3], and it ends alone too
    let mut book = three_agreed_as(2, t);
    book.announced(3, &[1, 3], t + ms(1000));
    book.announced(1, &[1, 2, 3], t + ms(1000));
    assert_eq!(book.one_sided(t + ms(2000), DEADTIME), vec![3]);
    assert!(book.partial_links(t + ms(2000), DEADTIME).is_empty());
    assert_eq!(book.view(), set(&[1, 2]));
    book.announced(1, &[1, 3], t + ms(2000));
    assert_eq!(book.disagreeing(&set(&[1, 2])), vec![(1, set(&[1, 3]))]);
    assert_eq!(book.one_sided(t + ms(3000), DEADTIME), vec![1]);
    assert_eq!(book.view(), set(&[2]));
}

#[test]
fn a_peer_that_leaves_us_out_loses_its_pair_whatever_its_id() {
    // node 1 hears nobody (100 % inbound loss): it drops node 2 first and announces
    // [1 3], then [1]. We are node 3: node 1 is unlinked from node 2 a deadtime before
    // our one-sided clock for it runs out, and leaves us out: it is the one left out,
    // though its id is the lowest.
    let t = Instant::now();
    let mut book = three_agreed_as(3, t);
    book.announced(1, &[1, 3], t + ms(1000));
    book.announced(2, &[2, 3], t + ms(1100));
    book.partial_links(t + ms(1000), DEADTIME);
    book.announced(1, &[1], t + ms(1150));
    assert!(book.one_sided(t + ms(2000), DEADTIME).is_empty());
    let out = book.partial_links(t + ms(2000), DEADTIME);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].node, out[0].out), (1, true));
    assert_eq!(book.view(), set(&[2, 3]));
    assert_eq!(book.one_sided(t + ms(2150), DEADTIME), vec![1]);
    assert!(book.partial_links(t + ms(2150), DEADTIME).is_empty());
    assert_eq!(book.view(), set(&[2, 3]));
}

/// A report at `now` carrying one fence of `node` (`inc`) that started `age` ms before
/// (None: a version 3 report, no age).
fn fence_report(
    from: NodeId,
    inc: u64,
    seq: u64,
    node: NodeId,
    fenced: u64,
    age: Option<u64>,
) -> Report {
    let mut r = report(from, inc, seq, &[], &[]);
    r.fenced = vec![FenceRecord {
        node,
        incarnation: fenced,
        age_ms: age,
    }];
    r
}

#[test]
fn an_older_fence_does_not_confirm_a_node_never_heard() {
    let t = Instant::now() + Duration::from_secs(60);
    let ms = |n: u64| t + Duration::from_millis(n);
    let mut book = PeerBook::new(2, 200, [1, 2, 3], t);
    up(&mut book, 1, 100);
    // node 1 fenced node 3 (incarnation 290) 9 s before we started
    book.report(&fence_report(1, 100, 1, 3, 290, Some(9000)), ms(10));
    book.report(&report(1, 100, 2, &[], &[]), ms(20));
    book.change(&Change::Dead(3));
    let view = set(&[1, 2]);
    assert!(
        book.due_fences(&view).is_empty(),
        "a fence of an earlier run"
    );
    // the same without an age (version 3): nothing
    book.report(&fence_report(1, 100, 3, 3, 300, None), ms(2100));
    assert!(book.due_fences(&view).is_empty(), "no age, no confirmation");
    // a fence started after we started: confirmed, once
    book.report(&fence_report(1, 100, 4, 3, 300, Some(50)), ms(2200));
    assert_eq!(book.due_fences(&view), vec![3]);
    assert!(book.due_fences(&view).is_empty());
}

#[test]
fn a_fence_of_an_earlier_incarnation_does_not_confirm_the_one_lost() {
    let t = Instant::now() + Duration::from_secs(60);
    let ms = |n: u64| t + Duration::from_millis(n);
    let mut book = PeerBook::new(2, 200, [1, 2, 3], t);
    up(&mut book, 1, 100);
    // learned before node 3's current incarnation was heard
    book.report(&fence_report(1, 100, 1, 3, 290, Some(5000)), ms(10));
    assert!(book.accepts(3, 300));
    book.heartbeat(3, 300, ms(1000));
    book.change(&Change::Up(3));
    book.change(&Change::Dead(3));
    let view = set(&[1, 2]);
    assert!(book.due_fences(&view).is_empty(), "290 is not 300");
    // a fence started before we last heard 300, of an unknown incarnation: nothing
    book.report(&fence_report(1, 100, 2, 3, 0, Some(1500)), ms(2000));
    assert!(
        book.due_fences(&view).is_empty(),
        "started before we last heard it"
    );
    // the incarnation lost: confirmed
    book.report(&fence_report(1, 100, 3, 3, 300, Some(1500)), ms(2100));
    assert_eq!(book.due_fences(&view), vec![3]);
}

#[test]
fn a_fence_started_after_the_node_was_last_heard_confirms_it() {
    let t = Instant::now() + Duration::from_secs(60);
    let ms = |n: u64| t + Duration::from_millis(n);
    let mut book = PeerBook::new(2, 200, [1, 2, 3], t);
    up(&mut book, 1, 100);
    book.heartbeat(3, 300, ms(1000));
    book.change(&Change::Up(3));
    book.change(&Change::Dead(3));
    // fenced by a node that never heard it (incarnation 0), started after ms(1000)
    book.report(&fence_report(1, 100, 1, 3, 0, Some(500)), ms(2000));
    assert_eq!(book.due_fences(&set(&[1, 2])), vec![3]);
}
