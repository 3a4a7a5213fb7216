//! Inquisitor decision tests with a manual clock (an `Instant` base plus offsets).
//!
//! Most cases are golden-style scripts: one character per second and per input, one
//! character per second of expected outcome (see [`run_script`]).

use std::time::{Duration, Instant};

use super::golden::run_script;
use super::*;

fn config(devices: usize, cluster_integration: bool) -> InquisitorConfig {
    InquisitorConfig {
        devices,
        cluster_servants: if cluster_integration {
            vec![ClusterServant::Palisade]
        } else {
            Vec::new()
        },
        ..InquisitorConfig::default()
    }
}

fn start(config: InquisitorConfig) -> (Inquisitor, Instant) {
    let t0 = Instant::now();
    let (inq, warnings) = Inquisitor::new(config, t0).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    (inq, t0)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn fence_of(actions: &[Action]) -> Option<(FenceKind, bool, FenceCause)> {
    actions.iter().find_map(|a| match a {
        Action::SelfFence { kind, flush, cause } => Some((*kind, *flush, *cause)),
        _ => None,
    })
}

#[test]
fn majority_arithmetic() {
    let table = [
        (1, 0, false),
        (1, 1, true),
        (2, 0, false),
        (2, 1, true),
        (2, 2, true),
        (3, 0, false),
        (3, 1, false),
        (3, 2, true),
        (3, 3, true),
    ];
    for (devices, good, expected) in table {
        assert_eq!(disk_quorum(good, devices), expected, "{good} of {devices}");
    }
}

#[test]
fn each_message_code_maps_to_its_action() {
    let cases = [
        ("11R", Some(FenceKind::Reset), MailboxCommand::Reset),
        ("11O", Some(FenceKind::Off), MailboxCommand::Off),
        ("11C", Some(FenceKind::Crashdump), MailboxCommand::Crashdump),
    ];
    for (line, kind, command) in cases {
        let (_, actions) = run_script(config(1, false), &[line], "");
        let (got_kind, flush, cause) = fence_of(&actions).unwrap();
        assert_eq!(Some(got_kind), kind);
        assert!(flush, "message fences always flush, as sbd");
        assert_eq!(cause, FenceCause::Message { device: 0, command });
    }

    let (_, actions) = run_script(config(2, false), &["1", "1T"], "");
    assert!(actions.contains(&Action::ClearMessage { device: 1 }));
    assert!(actions.iter().any(
        |a| matches!(a, Action::Log { message, .. } if message.contains("Received command test from device 1"))
    ));

    let (_, actions) = run_script(config(1, false), &["1E"], "");
    assert!(actions.contains(&Action::CleanExit));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::ClearMessage { .. })),
        "exit stays in the mailbox"
    );

    let (_, actions) = run_script(config(1, false), &["1?"], "");
    assert!(actions.contains(&Action::ClearMessage { device: 0 }));
}

#[test]
fn timeout_action_is_used_when_the_watchdog_starves() {
    let cfg = InquisitorConfig {
        on_timeout: OnTimeout {
            kind: FenceKind::Off,
            flush: false,
        },
        ..config(1, false)
    };
    let (outcome, actions) = run_script(cfg, &["11xxxxxxx"], "");
    assert_eq!(outcome, "AP-----F.");
    let (kind, flush, cause) = fence_of(&actions).unwrap();
    assert_eq!((kind, flush), (FenceKind::Off, false));
    assert_eq!(
        cause,
        FenceCause::WatchdogStarved {
            since_last_pet: secs(6)
        }
    );
}

#[test]
fn nothing_happens_after_a_terminal_decision() {
    let (mut inq, t0) = start(config(1, false));
    inq.handle(
        Event::ServantReport {
            device: 0,
            result: Ok(None),
        },
        t0,
    );
    assert_eq!(
        inq.handle(Event::Tick, t0),
        vec![
            Action::Log {
                level: LogLevel::Info,
                message: "First healthy round - arming the watchdog".into()
            },
            Action::ArmWatchdog
        ]
    );
    let out = inq.handle(
        Event::ServantReport {
            device: 0,
            result: Ok(Some(MailboxCommand::Reset)),
        },
        t0 + secs(1),
    );
    assert!(fence_of(&out).is_some());
    assert_eq!(inq.phase(), Phase::Fenced);
    for s in 2..20 {
        let now = t0 + secs(s);
        assert!(inq
            .handle(
                Event::ServantReport {
                    device: 0,
                    result: Ok(None)
                },
                now
            )
            .is_empty());
        assert!(inq.handle(Event::Tick, now).is_empty());
    }
}

#[test]
fn stop_request_exits_cleanly() {
    let (mut inq, t0) = start(config(1, false));
    assert!(inq
        .handle(Event::StopRequested, t0)
        .contains(&Action::CleanExit));
    assert_eq!(inq.phase(), Phase::Exiting);
}

#[test]
fn stale_servant_is_logged_once_and_recovery_too() {
    let (outcome, actions) = run_script(config(1, false), &["11....1"], "");
    assert_eq!(outcome, "APPPP-P");
    let logs: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Log { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        logs.iter().filter(|m| m.contains("is outdated")).count(),
        1,
        "{logs:?}"
    );
    assert_eq!(
        logs.iter().filter(|m| m.contains("is healthy")).count(),
        1,
        "{logs:?}"
    );
}

#[test]
fn latency_warning_once_per_episode() {
    let (_, actions) = run_script(config(1, false), &["11xxxx1xxxx"], "");
    let warnings = actions
        .iter()
        .filter(|a| matches!(a, Action::Log { message, .. } if message.starts_with("Latency")))
        .count();
    // Two episodes without pets (1..6 and 6..10), each past 3 s once.
    assert_eq!(warnings, 2);
}

#[test]
fn surviving_on_the_cluster_is_logged_once() {
    let (_, actions) = run_script(config(1, true), &["1xxxxx"], "HHHHHH");
    let n = actions
        .iter()
        .filter(|a| matches!(a, Action::Log { message, .. } if message.contains("surviving on the cluster")))
        .count();
    assert_eq!(n, 1);
}

#[test]
fn unknown_device_index_is_logged_not_counted() {
    let (mut inq, t0) = start(config(1, false));
    let out = inq.handle(
        Event::ServantReport {
            device: 5,
            result: Ok(None),
        },
        t0,
    );
    assert!(matches!(
        &out[..],
        [Action::Log {
            level: LogLevel::Error,
            ..
        }]
    ));
    assert_eq!(inq.good_devices(t0), 0);
}

#[test]
fn next_tick_is_one_loop_after_the_last_tick() {
    let (mut inq, t0) = start(config(1, false));
    inq.handle(Event::Tick, t0 + Duration::from_millis(300));
    assert_eq!(inq.next_tick(), t0 + Duration::from_millis(1300));
}

#[test]
fn config_errors() {
    let t0 = Instant::now();
    assert_eq!(
        Inquisitor::new(config(4, true), t0).err(),
        Some(ConfigError::DeviceCount(4))
    );
    assert_eq!(
        Inquisitor::new(config(0, false), t0).err(),
        Some(ConfigError::NothingToWatch)
    );
    let mut bad = config(1, false);
    bad.timeouts.msgwait = secs(5);
    assert!(matches!(
        Inquisitor::new(bad, t0).err(),
        Some(ConfigError::Timing(
            TimingError::MsgwaitNotAboveWatchdog { .. }
        ))
    ));
}

#[test]
fn timing_relations() {
    let ok = Timeouts::default();
    assert_eq!(validate_timeouts(&ok, None), Ok(vec![]));
    assert_eq!(ok.default_warn_threshold(), secs(3));

    let zero = Timeouts {
        io: Duration::ZERO,
        ..ok
    };
    assert_eq!(
        validate_timeouts(&zero, None),
        Err(TimingError::Zero("I/O"))
    );
    let slow_loop = Timeouts {
        loop_timeout: secs(5),
        ..ok
    };
    assert!(matches!(
        validate_timeouts(&slow_loop, None),
        Err(TimingError::LoopNotBelowWatchdog { .. })
    ));
    let equal = Timeouts {
        msgwait: secs(5),
        ..ok
    };
    assert!(matches!(
        validate_timeouts(&equal, None),
        Err(TimingError::MsgwaitNotAboveWatchdog { .. })
    ));
    assert!(matches!(
        validate_timeouts(&ok, Some(secs(5))),
        Err(TimingError::WarnNotBelowWatchdog { .. })
    ));
    let tight = Timeouts {
        msgwait: secs(8),
        ..ok
    };
    let w = validate_timeouts(&tight, None).unwrap();
    assert!(w.contains(&TimingWarning::MsgwaitBelowWorstCase {
        msgwait: secs(8),
        bound: secs(9)
    }));
    assert!(w.contains(&TimingWarning::MsgwaitBelowTwiceWatchdog {
        msgwait: secs(8),
        watchdog: secs(5)
    }));
    let slow_io = Timeouts {
        io: secs(4),
        msgwait: secs(20),
        ..ok
    };
    assert_eq!(
        validate_timeouts(&slow_io, None).unwrap(),
        vec![TimingWarning::LivenessNotBelowWatchdog {
            liveness: secs(5),
            watchdog: secs(5)
        }]
    );

    for (wd, warn) in [(1, 2), (4, 2), (5, 3), (10, 6), (15, 9), (60, 36)] {
        let t = Timeouts {
            watchdog: secs(wd),
            ..ok
        };
        assert_eq!(t.default_warn_threshold(), secs(warn), "watchdog {wd}");
    }

    assert!(check_fencing_timeout(secs(10), secs(10)).is_err());
    assert_eq!(check_fencing_timeout(secs(15), secs(10)).unwrap().len(), 1);
    assert_eq!(check_fencing_timeout(secs(20), secs(10)), Ok(vec![]));
}

#[test]
fn start_mode_clean_refuses_pending_fencing_messages() {
    use MailboxCommand::*;
    let table = [
        (Clear, true),
        (Exit, true),
        (Test, false),
        (Reset, false),
        (Off, false),
        (Crashdump, false),
        (Unknown(9), false),
    ];
    for (command, starts) in table {
        assert!(start_check(StartMode::Always, command).is_ok());
        assert_eq!(
            start_check(StartMode::Clean, command).is_ok(),
            starts,
            "{command:?}"
        );
    }
    let err = start_check(StartMode::Clean, Reset).unwrap_err();
    assert!(err.to_string().contains("reset"), "{err}");
    assert_eq!("clean".parse(), Ok(StartMode::Clean));
    assert_eq!("1".parse(), Ok(StartMode::Clean));
    assert_eq!("always".parse(), Ok(StartMode::Always));
    assert!("sometimes".parse::<StartMode>().is_err());
}

#[test]
fn mailbox_bytes() {
    let table = [
        (0u8, MailboxCommand::Clear, "clear"),
        (1, MailboxCommand::Test, "test"),
        (2, MailboxCommand::Reset, "reset"),
        (3, MailboxCommand::Off, "off"),
        (4, MailboxCommand::Exit, "exit"),
        (5, MailboxCommand::Crashdump, "crashdump"),
        (6, MailboxCommand::Unknown(6), "undefined"),
        (0xff, MailboxCommand::Unknown(0xff), "undefined"),
    ];
    for (byte, command, word) in table {
        assert_eq!(MailboxCommand::from_byte(byte), command);
        assert_eq!(command.as_str(), word);
    }
}

/// ClusterLabs sbd's inquisitor table, row by row: (devices, good, all cluster servants
/// alive, one alive, disk priority, armed, appeared) -> (tickle, can arm, appeared).
#[test]
fn combination_table() {
    #[rustfmt::skip]
    let rows = [
        // diskless: everything is up to the cluster
        (0, 0, true,  true,  true, false, false, (true,  true,  true)),
        (0, 0, false, true,  true, false, false, (true,  true,  false)), // partial: arm, live
        (0, 0, false, true,  true, true,  true,  (false, true,  true)),  // partial after appeared: starve
        (0, 0, false, false, true, false, false, (true,  false, false)), // waiting for the cluster
        (0, 0, false, false, true, true,  false, (false, false, false)), // armed, cluster gone before appearing
        (0, 0, false, false, true, true,  true,  (false, false, true)),  // lost quorum: starve
        // disks with priority (default): a lost disk alone does not kill a quorate node
        (1, 1, false, false, true, true,  true,  (true,  true,  true)),
        (1, 0, true,  true,  true, true,  true,  (true,  false, true)),  // surviving on the cluster
        (1, 0, false, true,  true, true,  true,  (false, false, true)),  // no disk, no quorum: starve
        (3, 2, false, false, true, true,  true,  (true,  true,  true)),
        (3, 1, true,  true,  true, true,  true,  (true,  false, true)),
        (3, 1, false, false, true, true,  true,  (false, false, true)),
        // -z: both once the cluster has appeared
        (1, 1, true,  true,  false, false, false, (true,  true,  true)),
        (1, 1, false, true,  false, true,  false, (true,  true,  false)),
        (1, 1, false, true,  false, true,  true,  (false, true,  true)),
        (1, 0, true,  true,  false, true,  true,  (false, false, true)),
    ];
    for (devices, good, all, any, priority, armed, appeared, want) in rows {
        let v = combine(RoundInputs {
            devices,
            good,
            cluster_servants: 2,
            cluster_all: all,
            cluster_any: any,
            disk_priority: priority,
            armed,
            cluster_appeared: appeared,
        });
        assert_eq!(
            (v.tickle, v.can_arm, v.cluster_appeared),
            want,
            "devices {devices} good {good} all {all} any {any} priority {priority} armed {armed} appeared {appeared}"
        );
    }
    // Without cluster servants, no disk quorum means no pet.
    let v = combine(RoundInputs {
        devices: 1,
        good: 0,
        cluster_servants: 0,
        cluster_all: false,
        cluster_any: false,
        disk_priority: true,
        armed: true,
        cluster_appeared: false,
    });
    assert!(!v.tickle);
}

fn pacemaker_config(devices: usize) -> InquisitorConfig {
    InquisitorConfig {
        devices,
        cluster_servants: vec![ClusterServant::Pacemaker, ClusterServant::Corosync],
        ..InquisitorConfig::default()
    }
}

fn report(servant: ClusterServant, health: ServantHealth) -> Event {
    Event::ClusterServant {
        servant,
        health,
        detail: String::new(),
    }
}

/// Diskless with pacemaker and corosync: corosync alone arms; both appear; the node
/// leaves the quorate partition (corosync unhealthy, pacemaker transient): it stops
/// petting and self-fences one watchdog timeout after the last pet.
#[test]
fn diskless_node_that_loses_quorum_self_fences() {
    let (mut inq, t0) = start(pacemaker_config(0));
    let at = |s| t0 + secs(s);
    inq.handle(
        report(ClusterServant::Corosync, ServantHealth::Online),
        at(0),
    );
    let armed = inq.handle(Event::Tick, at(0));
    assert!(armed.contains(&Action::ArmWatchdog), "{armed:?}");
    assert!(!inq.cluster_appeared());
    for s in 1..=3 {
        inq.handle(
            report(ClusterServant::Corosync, ServantHealth::Online),
            at(s),
        );
        inq.handle(
            report(ClusterServant::Pacemaker, ServantHealth::Online),
            at(s),
        );
        assert!(inq
            .handle(Event::Tick, at(s))
            .contains(&Action::PetWatchdog));
    }
    assert!(inq.cluster_appeared());
    // Quorum lost at 4.
    let mut fenced_at = None;
    for s in 4..=12 {
        inq.handle(
            report(ClusterServant::Corosync, ServantHealth::Unhealthy),
            at(s),
        );
        inq.handle(
            report(ClusterServant::Pacemaker, ServantHealth::Transient),
            at(s),
        );
        let actions = inq.handle(Event::Tick, at(s));
        assert!(!actions.contains(&Action::PetWatchdog), "petted at {s}");
        if let Some((kind, _, cause)) = fence_of(&actions) {
            assert_eq!(kind, FenceKind::Reset);
            assert!(matches!(cause, FenceCause::WatchdogStarved { .. }));
            fenced_at = Some(s);
            break;
        }
    }
    // Last pet at 3, watchdog 5 s: the first tick past 8 s fences.
    assert_eq!(fenced_at, Some(9));
}

/// With a disk, losing the disk alone does not kill a node of a quorate partition;
/// losing quorum with the disk fine does not either (the disk decides).
#[test]
fn disk_and_cluster_cover_each_other() {
    let (mut inq, t0) = start(pacemaker_config(1));
    let at = |s| t0 + secs(s);
    let both_online = |inq: &mut Inquisitor, s| {
        inq.handle(
            report(ClusterServant::Corosync, ServantHealth::Online),
            at(s),
        );
        inq.handle(
            report(ClusterServant::Pacemaker, ServantHealth::Online),
            at(s),
        );
    };
    for s in 0..=20 {
        let disk = if s < 10 {
            Ok(None)
        } else {
            Err(ServantFailure {
                reason: "EIO".into(),
            })
        };
        inq.handle(
            Event::ServantReport {
                device: 0,
                result: disk,
            },
            at(s),
        );
        both_online(&mut inq, s);
        let actions = inq.handle(Event::Tick, at(s));
        assert_eq!(fence_of(&actions), None, "fenced at {s}: {actions:?}");
        assert_eq!(inq.phase(), Phase::Running);
    }
    // Quorum lost (pacemaker: unhealthy with disks) while the disk is good again.
    for s in 21..=40 {
        inq.handle(
            Event::ServantReport {
                device: 0,
                result: Ok(None),
            },
            at(s),
        );
        inq.handle(
            report(ClusterServant::Corosync, ServantHealth::Unhealthy),
            at(s),
        );
        inq.handle(
            report(ClusterServant::Pacemaker, ServantHealth::Unhealthy),
            at(s),
        );
        let actions = inq.handle(Event::Tick, at(s));
        assert!(actions.contains(&Action::PetWatchdog), "not petted at {s}");
    }
}

/// A graceful pacemaker shutdown resets "cluster appeared": with corosync still up the
/// node lives on (sbd: the pcmk servant's graceful-shutdown exit).
#[test]
fn graceful_pacemaker_shutdown_does_not_fence() {
    let (mut inq, t0) = start(pacemaker_config(0));
    let at = |s| t0 + secs(s);
    for s in 0..=2 {
        inq.handle(
            report(ClusterServant::Corosync, ServantHealth::Online),
            at(s),
        );
        inq.handle(
            report(ClusterServant::Pacemaker, ServantHealth::Online),
            at(s),
        );
        inq.handle(Event::Tick, at(s));
    }
    assert!(inq.cluster_appeared());
    inq.handle(
        Event::ClusterShutdown {
            servant: ClusterServant::Pacemaker,
        },
        at(3),
    );
    assert!(!inq.cluster_appeared());
    for s in 3..=20 {
        inq.handle(
            report(ClusterServant::Corosync, ServantHealth::Online),
            at(s),
        );
        let actions = inq.handle(Event::Tick, at(s));
        assert!(actions.contains(&Action::PetWatchdog), "not petted at {s}");
    }
}
