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
        cluster_integration,
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
