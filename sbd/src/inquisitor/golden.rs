//! Golden-style inquisitor scripts: `golden.txt` (next to this file) holds one scenario
//! per line — configuration, what each device servant and the cluster report second by
//! second, and the expected outcome per second. [`run_script`] plays one.

use std::time::{Duration, Instant};

use super::*;

/// Drive the inquisitor one second at a time. At second `s`, device `d` gets the event
/// named by `devices[d][s]`: `1` good report (empty mailbox), `x` failed report, `t`
/// servant time-out, `.` nothing (silent), `T`/`R`/`O`/`C`/`E`/`Z`/`?` a report carrying
/// test/reset/off/crashdump/exit/clear/unknown. `cluster[s]`: `H` quorate-healthy, `N` not
/// quorate, `U` unhealthy, `.` nothing. Then a tick. Output per second: `F` self-fence,
/// `C` clean exit, `X` start-up aborted, `A` watchdog armed, `P` petted, `c` mailbox
/// cleared, `-` nothing, `.` already finished before this second.
pub(super) fn run_script(
    config: InquisitorConfig,
    devices: &[&str],
    cluster: &str,
) -> (String, Vec<Action>) {
    let t0 = Instant::now();
    let (mut inq, _warnings) = Inquisitor::new(config, t0).unwrap();
    let len = devices
        .iter()
        .map(|d| d.len())
        .chain([cluster.len()])
        .max()
        .unwrap_or(0);
    let mut outcome = String::new();
    let mut all = Vec::new();
    for s in 0..len {
        let now = t0 + Duration::from_secs(s as u64);
        if !matches!(inq.phase(), Phase::Starting | Phase::Running) {
            outcome.push('.');
            continue;
        }
        let mut actions = Vec::new();
        for (d, line) in devices.iter().enumerate() {
            let report = |cmd| Event::ServantReport {
                device: d,
                result: Ok(cmd),
            };
            let event = match line.as_bytes().get(s) {
                Some(b'1') => report(None),
                Some(b'x') => Event::ServantReport {
                    device: d,
                    result: Err(ServantFailure {
                        reason: "EIO".into(),
                    }),
                },
                Some(b't') => Event::ServantTimedOut { device: d },
                Some(b'T') => report(Some(MailboxCommand::Test)),
                Some(b'R') => report(Some(MailboxCommand::Reset)),
                Some(b'O') => report(Some(MailboxCommand::Off)),
                Some(b'C') => report(Some(MailboxCommand::Crashdump)),
                Some(b'E') => report(Some(MailboxCommand::Exit)),
                Some(b'Z') => report(Some(MailboxCommand::Clear)),
                Some(b'?') => report(Some(MailboxCommand::Unknown(0x7f))),
                _ => continue,
            };
            actions.extend(inq.handle(event, now));
        }
        let health = match cluster.as_bytes().get(s) {
            Some(b'H') => Some(ClusterHealth::QuorateHealthy),
            Some(b'N') => Some(ClusterHealth::NotQuorate),
            Some(b'U') => Some(ClusterHealth::Unhealthy),
            _ => None,
        };
        if let Some(h) = health {
            actions.extend(inq.handle(Event::ClusterHealth(h), now));
        }
        actions.extend(inq.handle(Event::Tick, now));
        let has = |f: &dyn Fn(&Action) -> bool| actions.iter().any(f);
        outcome.push(if has(&|a| matches!(a, Action::SelfFence { .. })) {
            'F'
        } else if has(&|a| *a == Action::CleanExit) {
            'C'
        } else if has(&|a| matches!(a, Action::AbortStartup { .. })) {
            'X'
        } else if has(&|a| *a == Action::ArmWatchdog) {
            'A'
        } else if has(&|a| *a == Action::PetWatchdog) {
            'P'
        } else if has(&|a| matches!(a, Action::ClearMessage { .. })) {
            'c'
        } else {
            '-'
        });
        all.extend(actions);
    }
    (outcome, all)
}

const GOLDEN: &str = include_str!("golden.txt");

fn parse_config(spec: &str) -> InquisitorConfig {
    let mut words = spec.split_whitespace();
    let head = words.next().unwrap_or_default();
    let flags = head
        .trim_start_matches('d')
        .trim_start_matches(char::is_numeric);
    let devices = head
        .trim_start_matches('d')
        .trim_end_matches(|c: char| !c.is_numeric())
        .parse()
        .unwrap();
    let mut config = InquisitorConfig {
        devices,
        cluster_servants: if flags.contains('c') {
            vec![ClusterServant::Palisade]
        } else {
            Vec::new()
        },
        disk_priority: !flags.contains('z'),
        ..InquisitorConfig::default()
    };
    for word in words {
        match word {
            "off" => config.on_timeout.kind = FenceKind::Off,
            "crashdump" => config.on_timeout.kind = FenceKind::Crashdump,
            "noflush" => config.on_timeout.flush = false,
            other => panic!("unknown golden config word {other:?}"),
        }
    }
    config
}

#[test]
fn golden_scripts() {
    let mut failures = Vec::new();
    let mut count = 0;
    for line in GOLDEN.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(" | ").map(str::trim).collect();
        let [name, config, devices, cluster, expected] = fields[..] else {
            panic!("golden line needs 5 fields: {line}");
        };
        let devices: Vec<&str> = devices.split_whitespace().filter(|d| *d != "-").collect();
        let cluster = if cluster == "-" { "" } else { cluster };
        let (got, _) = run_script(parse_config(config), &devices, cluster);
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
        count += 1;
    }
    assert!(count >= 30, "only {count} golden scenarios parsed");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
