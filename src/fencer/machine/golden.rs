//! Golden "state in → decisions out" tests of the fencer state machine.
//!
//! Each file in `src/fencer/golden/` is a transcript: an indented TOML configuration
//! after `config:`, then event lines starting with `@<ms>`, each followed by the actions
//! the machine returned (`  > ...`). The test replays the events and compares the whole
//! transcript; `PALISADE_BLESS=1 cargo test` rewrites the files.
//!
//! A `health-checks: N` line before the first event turns periodic device checks on
//! (N at once) from that event's moment; `@T poll` prints the machine's next deadline.
//!
//! Events: `@T fence <req> <target> <action> [timeout=S] [delay=S] [by=NAME]`,
//! `@T query <req> <target>`, `@T dryrun <req> <target> <action> [timeout=S] [delay=S]`, `@T done <run> exit=N [stdout=WORDS_WITH_|]` or
//! `@T done <run> timeout|signal=N|spawn-failed`, `@T tick`, `@T shutdown`,
//! `@T unregister <device>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::fencer::config::parse_config;
use crate::fencer::duration::{format_duration, parse_duration};
use crate::fencer::operation::{FenceAction, RequestId};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/fencer/golden")
}

fn render_action(a: &Action) -> String {
    match a {
        Action::RunAgent(r) => {
            let stdin: Vec<String> = r.stdin.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "run #{} {} {} target={} delay={} timeout={} stdin=[{}]",
                r.run.0,
                r.device,
                r.action,
                r.target.as_deref().unwrap_or("-"),
                format_duration(r.delay),
                format_duration(r.timeout),
                stdin.join(" ")
            )
        }
        Action::CancelRun(r) => format!("cancel #{}", r.0),
        Action::Reply { request, reply } => match reply {
            Reply::Fence { op, result } => {
                format!("reply r{} op={} {}", request.0, op.0, render_result(result))
            }
            Reply::Query { devices } => {
                format!("reply r{} devices=[{}]", request.0, devices.join(","))
            }
            Reply::DryRun(report) => format!("reply r{} {}", request.0, render_dry_run(report)),
        },
        Action::Notify(n) => format!("notify {}", render_notice(n)),
        Action::HealthChecked(h) => format!(
            "health {} {} \"{}\" failures={}",
            h.device, h.health, h.outcome, h.consecutive_failures
        ),
        Action::Record(rec) => {
            let attempts: Vec<String> = rec
                .attempts
                .iter()
                .map(|a| {
                    format!(
                        "L{} {} {} try{} {}..{} {}",
                        a.level,
                        a.device,
                        a.action,
                        a.attempt,
                        a.started.0,
                        a.finished.0,
                        if a.ok { "ok" } else { "FAIL" }
                    )
                })
                .collect();
            format!(
                "record op={} {} {} by=[{}] {}..{} {} attempts=[{}]",
                rec.op.0,
                rec.target,
                rec.action,
                rec.requesters.join(","),
                rec.started.0,
                rec.finished.0,
                render_result(&rec.result),
                attempts.join("; ")
            )
        }
    }
}

fn render_dry_run(r: &crate::fencer::dryrun::DryRunReport) -> String {
    let acts = r.would_act.as_ref().map_or("none".to_string(), |w| {
        format!("L{} [{}]", w.level, w.devices.join(","))
    });
    let levels: Vec<String> = r
        .levels
        .iter()
        .map(|l| format!("L{}={}", l.index, if l.ok { "ok" } else { "FAIL" }))
        .collect();
    let devices: Vec<String> = r
        .devices
        .iter()
        .map(|d| {
            let probes: Vec<String> = d
                .probes
                .iter()
                .map(|p| format!("{}:{}", p.action.as_str(), p.reason))
                .collect();
            format!("{}({})", d.device, probes.join(","))
        })
        .collect();
    let mut s = format!(
        "dry-run {} {} would-act={acts} levels=[{}] devices=[{}] worst={}ms",
        r.target,
        r.action,
        levels.join(" "),
        devices.join(" "),
        r.worst_case_ms
    );
    if let Some(why) = &r.refused {
        s.push_str(&format!(" refused=\"{why}\""));
    }
    s
}

fn render_result(r: &OpResult) -> String {
    match r {
        OpResult::Done {
            level,
            devices,
            warnings,
        } => {
            let mut s = format!("done level={level} devices=[{}]", devices.join(","));
            for w in warnings {
                s.push_str(&format!(" warning=\"{w}\""));
            }
            s
        }
        OpResult::Failed { reason } => format!("failed: {reason}"),
    }
}

fn render_notice(n: &Notice) -> String {
    match n {
        Notice::Started {
            op,
            target,
            action,
            requester,
            timeout,
        } => format!(
            "started op={} {target} {action} by={requester} timeout={}",
            op.0,
            format_duration(*timeout)
        ),
        Notice::Merged {
            op,
            request,
            requester,
        } => format!("merged r{} into op={} by={requester}", request.0, op.0),
        Notice::MergedTimedOut { op, request } => {
            format!("merged r{} timed out in op={}", request.0, op.0)
        }
        Notice::AttemptStarted {
            op,
            run,
            level,
            device,
            action,
            attempt,
        } => format!(
            "attempt op={} #{} L{level} {device} {action} try{attempt}",
            op.0, run.0
        ),
        Notice::AttemptFinished {
            op,
            run,
            device,
            action,
            ok,
            outcome,
            elapsed_ms,
        } => format!(
            "attempt-done op={} #{} {device} {action} {} \"{outcome}\" {elapsed_ms}ms",
            op.0,
            run.0,
            if *ok { "ok" } else { "FAIL" }
        ),
        Notice::Finished {
            op, target, action, ..
        } => format!("finished op={} {target} {action}", op.0),
        Notice::DeviceHealth {
            device,
            health,
            previous,
            outcome,
            consecutive_failures,
        } => format!(
            "device-health {device} {previous}->{health} \"{outcome}\" failures={consecutive_failures}"
        ),
        Notice::TargetFenceable { target, fenceable } => {
            format!("target-fenceable {target} {fenceable}")
        }
        other => format!("{other:?}"),
    }
}

fn parse_request_id(word: &str) -> RequestId {
    RequestId(
        word.trim_start_matches('r')
            .parse()
            .expect("request id like r1"),
    )
}

fn parse_event(fencer: &mut Fencer, words: &[&str]) -> Option<Event> {
    let opts = |from: usize, key: &str| -> Option<String> {
        words[from..]
            .iter()
            .find_map(|w| w.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    Some(match words[0] {
        "fence" => Event::Fence(FenceRequest {
            id: parse_request_id(words[1]),
            target: words[2].to_string(),
            action: FenceAction::parse(words[3]).expect("fence action"),
            requester: opts(4, "by").unwrap_or_else(|| "test".into()),
            timeout: opts(4, "timeout").map(|t| parse_duration(&t).expect("timeout")),
            delay: opts(4, "delay").map_or(Duration::ZERO, |t| parse_duration(&t).expect("delay")),
        }),
        "dryrun" => Event::DryRun(crate::fencer::dryrun::DryRunRequest {
            id: parse_request_id(words[1]),
            target: words[2].to_string(),
            action: FenceAction::parse(words[3]).expect("fence action"),
            timeout: opts(4, "timeout").map(|t| parse_duration(&t).expect("timeout")),
            delay: opts(4, "delay").map_or(Duration::ZERO, |t| parse_duration(&t).expect("delay")),
        }),
        "query" => Event::Query(QueryRequest {
            id: parse_request_id(words[1]),
            target: words[2].to_string(),
            timeout: opts(3, "timeout").map(|t| parse_duration(&t).expect("timeout")),
        }),
        "done" => {
            let run = RunId(words[1].trim_start_matches('#').parse().expect("run id"));
            let status = match words[2] {
                "timeout" => AgentStatus::TimedOut,
                "spawn-failed" => AgentStatus::SpawnFailed("no such file".into()),
                w if w.starts_with("signal=") => {
                    AgentStatus::Signalled(w[7..].parse().expect("signal"))
                }
                w => AgentStatus::Exited(w.trim_start_matches("exit=").parse().expect("exit")),
            };
            Event::AgentDone {
                run,
                outcome: AgentOutcome {
                    status,
                    stdout: opts(2, "stdout").unwrap_or_default().replace('|', "\n"),
                    stderr: opts(2, "stderr").unwrap_or_default().replace('_', " "),
                },
            }
        }
        "tick" => Event::Tick,
        "poll" => return None,
        "shutdown" => Event::Shutdown,
        "unregister" => {
            fencer.unregister_device(words[1]).expect("known device");
            return None;
        }
        other => panic!("unknown golden event {other}"),
    })
}

/// Replay one golden file; returns (expected, actual) transcripts.
fn replay(text: &str) -> String {
    let mut out = String::new();
    let mut config_text = String::new();
    let mut in_config = false;
    let mut fencer: Option<Fencer> = None;
    let mut seed = 1;
    let mut health: Option<usize> = None;
    for line in text.lines() {
        if line.starts_with("  > ") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        if let Some(rest) = line.strip_prefix("seed: ") {
            seed = rest.trim().parse().expect("seed");
        } else if let Some(rest) = line.strip_prefix("health-checks: ") {
            health = Some(rest.trim().parse().expect("health check concurrency"));
        } else if line == "config:" {
            in_config = true;
        } else if in_config && (line.starts_with("  ") || line.is_empty()) {
            config_text.push_str(line.get(2..).unwrap_or(""));
            config_text.push('\n');
        } else if let Some(rest) = line.strip_prefix('@') {
            in_config = false;
            let mut words = rest.split_whitespace();
            let now = Moment(words.next().and_then(|w| w.parse().ok()).expect("@ms"));
            let fencer = fencer.get_or_insert_with(|| {
                let config = parse_config(&config_text).expect("golden config");
                let mut fencer = Fencer::from_config(&config, None, seed).expect("golden topology");
                if let Some(concurrency) = health {
                    fencer.enable_health_checks(concurrency, now);
                }
                fencer
            });
            let words: Vec<&str> = words.collect();
            if words.first() == Some(&"poll") {
                let at = fencer
                    .poll_deadline()
                    .map_or("none".to_string(), |m| m.0.to_string());
                out.push_str(&format!("  > next deadline {at}\n"));
            }
            if let Some(event) = parse_event(fencer, &words) {
                for action in fencer.handle(event, now) {
                    out.push_str("  > ");
                    out.push_str(&render_action(&action));
                    out.push('\n');
                }
            }
        } else {
            in_config = false;
        }
    }
    out
}

#[test]
fn golden_transcripts() {
    let bless = std::env::var_os("PALISADE_BLESS").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("golden directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files");
    let mut failures = Vec::new();
    for path in files {
        let expected = std::fs::read_to_string(&path).expect("readable golden file");
        let actual = replay(&expected);
        if actual != expected {
            if bless {
                std::fs::write(&path, &actual).expect("write golden file");
            } else {
                failures.push(format!(
                    "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                    path.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "golden transcripts differ (PALISADE_BLESS=1 to accept):\n{}",
        failures.join("\n")
    );
}
