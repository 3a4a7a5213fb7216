//! Quorum tests: the votequorum examples, and exhaustive split properties.

use super::*;

fn set(nodes: &[NodeId]) -> BTreeSet<NodeId> {
    nodes.iter().copied().collect()
}

fn quorate(cfg: &QuorumConfig, members: &[NodeId]) -> bool {
    let mut wfa = WaitForAll {
        all_seen_together: true,
    };
    evaluate(cfg, &set(members), ExternalTieBreakers::default(), &mut wfa).quorate
}

#[test]
fn majority_of_three_and_five() {
    let three = QuorumConfig::simple([1, 2, 3]);
    assert!(quorate(&three, &[1, 2]));
    assert!(!quorate(&three, &[3]));
    let five = QuorumConfig::simple(1..=5);
    assert!(quorate(&five, &[1, 2, 3]));
    assert!(!quorate(&five, &[4, 5]));
}

#[test]
fn even_split_needs_a_tie_breaker() {
    let mut four = QuorumConfig::simple(1..=4);
    assert!(!quorate(&four, &[1, 2]));
    assert!(!quorate(&four, &[3, 4]));
    four.tie_breaker = TieBreaker::Lowest;
    assert!(quorate(&four, &[1, 2]));
    assert!(!quorate(&four, &[3, 4]));
    four.tie_breaker = TieBreaker::List(vec![9, 4]);
    assert!(quorate(&four, &[3, 4]));
    assert!(!quorate(&four, &[1, 2]));
}

#[test]
fn two_node_needs_one_vote_after_both_were_seen() {
    let mut cfg = QuorumConfig::simple([1, 2]);
    cfg.two_node = true;
    let mut wfa = WaitForAll::default();
    let none = ExternalTieBreakers::default();
    let v = evaluate(&cfg, &set(&[1]), none, &mut wfa);
    assert!(!v.quorate, "wait_for_all holds a lone first boot: {v:?}");
    assert!(evaluate(&cfg, &set(&[1, 2]), none, &mut wfa).quorate);
    let v = evaluate(&cfg, &set(&[1]), none, &mut wfa);
    assert!(v.quorate, "{v:?}");
    assert!(v.reason.contains("two_node"));
    // explicit wait_for_all: 0 lets a lone node start quorate
    cfg.wait_for_all = Some(false);
    let mut fresh = WaitForAll::default();
    assert!(evaluate(&cfg, &set(&[2]), none, &mut fresh).quorate);
}

#[test]
fn two_node_switches_off_with_a_third_node() {
    let mut cfg = QuorumConfig::simple([1, 2, 3]);
    cfg.two_node = true;
    assert!(!cfg.two_node_active());
    assert!(!quorate(&cfg, &[1]));
}

#[test]
fn external_tie_breakers_settle_only_an_exact_half() {
    let cfg = QuorumConfig::simple(1..=4);
    let mut wfa = WaitForAll {
        all_seen_together: true,
    };
    let ping_ok = ExternalTieBreakers {
        ping: Some(true),
        disk: None,
    };
    assert!(evaluate(&cfg, &set(&[1, 2]), ping_ok, &mut wfa).quorate);
    let disk_lost = ExternalTieBreakers {
        ping: Some(true),
        disk: Some(false),
    };
    assert!(!evaluate(&cfg, &set(&[1, 2]), disk_lost, &mut wfa).quorate);
    assert!(
        !evaluate(&cfg, &set(&[1]), ping_ok, &mut wfa).quorate,
        "a quarter is never saved"
    );
}

#[test]
fn weighted_votes_and_expected_override() {
    let mut cfg = QuorumConfig::simple([1, 2, 3]);
    cfg.votes.insert(1, 3);
    assert_eq!(cfg.expected(), 5);
    assert!(quorate(&cfg, &[1]));
    assert!(!quorate(&cfg, &[2, 3]));
    cfg.expected_votes = Some(8);
    assert!(quorate(&cfg, &[1, 2, 3]), "5 of 8 expected, 5 needed");
    cfg.expected_votes = Some(11);
    assert!(!quorate(&cfg, &[1, 2, 3]), "5 of 11 expected, 6 needed");
}

#[test]
fn no_quorum_policy_words() {
    assert_eq!(
        NoQuorumPolicy::parse("suicide"),
        Some(NoQuorumPolicy::Fence)
    );
    assert_eq!(
        NoQuorumPolicy::parse("Freeze"),
        Some(NoQuorumPolicy::Freeze)
    );
    assert_eq!(NoQuorumPolicy::parse("maybe"), None);
}

/// Every way to split nodes 1..=n into two sides: never both quorate, for every
/// internal tie-breaker and vote weights 1..=3.
#[test]
fn two_sides_of_any_split_are_never_both_quorate() {
    for n in 1..=7u32 {
        for weights in [1u32, 2, 3] {
            for tb in [TieBreaker::None, TieBreaker::Lowest, TieBreaker::Highest] {
                let mut cfg = QuorumConfig::simple(1..=n);
                for (i, v) in cfg.votes.values_mut().enumerate() {
                    *v = 1 + (i as u32 * weights) % 3;
                }
                cfg.tie_breaker = tb.clone();
                for mask in 0u32..(1 << n) {
                    let a: Vec<NodeId> = (1..=n).filter(|i| mask & (1 << (i - 1)) != 0).collect();
                    let b: Vec<NodeId> = (1..=n).filter(|i| mask & (1 << (i - 1)) == 0).collect();
                    assert!(
                        !(quorate(&cfg, &a) && quorate(&cfg, &b)),
                        "n={n} weights={weights} tb={tb:?} split {a:?} | {b:?}"
                    );
                }
            }
        }
    }
}

/// Monotonic: adding a member never loses quorum.
#[test]
fn more_members_never_lose_quorum() {
    for n in 1..=6u32 {
        let cfg = QuorumConfig::simple(1..=n);
        for mask in 0u32..(1 << n) {
            let a: Vec<NodeId> = (1..=n).filter(|i| mask & (1 << (i - 1)) != 0).collect();
            for extra in 1..=n {
                let mut b = a.clone();
                if !b.contains(&extra) {
                    b.push(extra);
                }
                assert!(!quorate(&cfg, &a) || quorate(&cfg, &b), "{a:?} → {b:?}");
            }
        }
    }
}

#[test]
fn tie_breakers_are_asked_only_for_an_exact_half() {
    let cfg = QuorumConfig::simple([1, 2, 3, 4]);
    let wfa = WaitForAll::default();
    assert!(asks_tie_breakers(&cfg, &set(&[1, 2]), &wfa));
    assert!(asks_tie_breakers(&cfg, &set(&[3, 4]), &wfa));
    assert!(
        !asks_tie_breakers(&cfg, &set(&[1, 2, 3]), &wfa),
        "a majority"
    );
    assert!(!asks_tie_breakers(&cfg, &set(&[1]), &wfa), "a minority");
    let odd = QuorumConfig::simple([1, 2, 3]);
    assert!(!asks_tie_breakers(&odd, &set(&[1]), &wfa));
    let mut auto = cfg.clone();
    auto.tie_breaker = TieBreaker::Lowest;
    assert!(
        !asks_tie_breakers(&auto, &set(&[1, 2]), &wfa),
        "auto_tie_breaker decides"
    );
    let mut two = QuorumConfig::simple([1, 2]);
    two.two_node = true;
    assert!(
        !asks_tie_breakers(&two, &set(&[1]), &wfa),
        "two_node is quorate alone"
    );
    let mut waiting = cfg.clone();
    waiting.wait_for_all = Some(true);
    assert!(
        !asks_tie_breakers(&waiting, &set(&[1, 2]), &wfa),
        "never all seen"
    );
    let seen = WaitForAll {
        all_seen_together: true,
    };
    assert!(asks_tie_breakers(&waiting, &set(&[1, 2]), &seen));
    // Asked exactly when evaluate's answer depends on the external ones.
    for ids in [&[1, 2][..], &[3, 4], &[1, 2, 3], &[1]] {
        let members = set(ids);
        let mut w = WaitForAll::default();
        let yes = ExternalTieBreakers {
            ping: Some(true),
            disk: None,
        };
        let no = ExternalTieBreakers {
            ping: Some(false),
            disk: None,
        };
        let differs = evaluate(&cfg, &members, yes, &mut w).quorate
            != evaluate(&cfg, &members, no, &mut w).quorate;
        assert_eq!(differs, asks_tie_breakers(&cfg, &members, &w), "{ids:?}");
    }
}
