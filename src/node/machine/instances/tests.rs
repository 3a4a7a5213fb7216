//! The guards of the plan's orders and failure counting, one by one (the golden
//! transcripts tell the stories).

use super::*;

#[test]
fn orders_pass_only_the_states_that_admit_them() {
    use Local::*;
    let all = [
        Probing,
        Cleaning,
        Stopped,
        Starting,
        Running,
        Stopping,
        PromotePending,
        Promoting,
        Demoting,
        Failed,
        StopFailed,
    ];
    for s in all {
        assert_eq!(Instances::admits(Order::Start, Some(s)), s == Stopped);
        assert_eq!(
            Instances::admits(Order::Stop, Some(s)),
            !matches!(s, Probing | Cleaning | Stopped | Stopping),
            "{s:?}"
        );
        assert_eq!(
            Instances::admits(Order::Promote, Some(s)),
            matches!(s, Running | PromotePending)
        );
        assert_eq!(
            Instances::admits(Order::Demote, Some(s)),
            matches!(s, Running | Failed)
        );
    }
    assert!(
        !Instances::admits(Order::Stop, None),
        "not a local instance"
    );
}

#[test]
fn failures_count_up_to_the_threshold_and_a_fatal_start_counts_infinity() {
    let t = Instant::now();
    let mut i = Instances::new(["db".to_string()]);
    let rules = FailureRules {
        threshold: 2,
        ..FailureRules::default()
    };
    assert_eq!(i.count_failure("db", false, rules, t).0, 1);
    let (n, event) = i.count_failure("db", false, rules, t);
    assert_eq!(n, 2);
    assert!(matches!(
        event,
        Some(Event::LeftStopped {
            cause: LeftStoppedCause::MigrationThreshold,
            ..
        })
    ));
    let fatal = FailureRules {
        start_failure_is_fatal: true,
        ..rules
    };
    let (n, event) = i.count_failure("web", true, fatal, t);
    assert_eq!(n, FAILCOUNT_INFINITY);
    assert!(event.is_some());
    assert_eq!(i.failcounts()["web"].0, FAILCOUNT_INFINITY);
}

#[test]
fn what_stops_first_follows_groups_and_symmetrical_orders() {
    let placement = Config::from_toml_str(
        r#"
[[primitive]]
name = "fs"
agent = "ocf:heartbeat:Dummy"

[[primitive]]
name = "vip"
agent = "ocf:heartbeat:Dummy"

[[primitive]]
name = "web"
agent = "ocf:heartbeat:Dummy"

[[primitive]]
name = "ping"
agent = "ocf:heartbeat:Dummy"

[[primitive]]
name = "mon"
agent = "ocf:heartbeat:Dummy"

[[group]]
name = "ha"
members = ["fs", "vip", "web"]

[[clone]]
name = "ping-clone"
resource = "ping"

[[order]]
id = "ping-then-ha"
first = "ping-clone"
then = "ha"

[[order]]
id = "web-then-mon"
first = "web"
then = "mon"
symmetrical = false
"#,
    )
    .expect("config");
    let local: Vec<String> = ["fs", "vip", "web", "ping:0", "mon"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let first = stop_first(&placement, &local);
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(first["fs"], set(&["vip", "web"]));
    assert_eq!(first["vip"], set(&["web"]));
    assert_eq!(first["ping:0"], set(&["fs", "vip", "web"]));
    assert!(!first.contains_key("web"), "nothing after web stops first");
    assert!(!first.contains_key("mon"));
}
