//! The commands that talk to a running fencer daemon over its API socket, as
//! `stonith_admin` does to pacemaker-fenced: `fence` (and `fence --dry-run`), `unfence`, `query`, `devices`,
//! `levels`, `register`, `unregister`, `history`, `events` and `metrics`. Each prints
//! readable text, or the daemon's JSON with `--json`; the socket is `--socket`, else
//! `$PALISADE_SOCKET`, else [`DEFAULT_SOCKET`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::definition::Command;
use super::show;
use crate::api::client::{Client, ClientError};
use crate::api::protocol::{
    DevicesResult, ErrorCode, FenceResult, HistoryResult, LevelsResult, MetricsResult, QueryResult,
    Request,
};
use crate::exit::Exit;
use crate::fencer::dryrun::DryRunReport;
use crate::fencer::duration::{millis, Moment};
use crate::fencer::history::HistoryQuery;
use crate::fencer::operation::FenceAction;

/// Default API socket (`--socket` or `$PALISADE_SOCKET` override it).
pub const DEFAULT_SOCKET: &str = crate::fencer::config::DEFAULT_SOCKET;

/// Environment variable naming the fencer's API socket.
pub const SOCKET_ENV: &str = "PALISADE_SOCKET";

/// The socket: `--socket`, else `$PALISADE_SOCKET`, else [`DEFAULT_SOCKET`].
pub fn socket(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// The request of a fencer command, with the command's name (None: not one).
pub fn request(command: &Command) -> Option<(&'static str, Request)> {
    let span = |d: &Option<Duration>| d.map(millis);
    Some(match command {
        Command::Fence(a) if a.dry_run => (
            "dry-run",
            Request::DryRun {
                target: a.target.clone(),
                action: a.action,
                timeout_ms: span(&a.timeout),
                delay_ms: span(&a.delay).unwrap_or(0),
            },
        ),
        Command::Fence(a) => (
            "fence",
            Request::Fence {
                target: a.target.clone(),
                action: a.action,
                timeout_ms: span(&a.timeout),
                delay_ms: span(&a.delay).unwrap_or(0),
                requester: Some(a.requester.clone()),
            },
        ),
        Command::Unfence(a) => (
            "unfence",
            Request::Fence {
                target: a.target.clone(),
                action: Some(FenceAction::On),
                timeout_ms: span(&a.timeout),
                delay_ms: 0,
                requester: Some(a.requester.clone()),
            },
        ),
        Command::Query(a) => (
            "query",
            Request::Query {
                target: a.target.clone(),
                timeout_ms: span(&a.timeout),
            },
        ),
        Command::Devices => ("devices", Request::Devices {}),
        Command::Levels => ("levels", Request::Levels {}),
        Command::Metrics => ("metrics", Request::Metrics {}),
        Command::Events(_) => ("events", Request::Subscribe {}),
        Command::Register(a) => (
            "register",
            Request::RegisterDevice {
                name: a.name.clone(),
                agent: a.agent.clone(),
                params: a.params.iter().cloned().collect(),
                priority: a.priority,
            },
        ),
        Command::Unregister(a) => (
            "unregister",
            Request::UnregisterDevice {
                name: a.name.clone(),
            },
        ),
        Command::History(a) => (
            "history",
            Request::History(HistoryQuery {
                target: a.target.clone(),
                since: a.since.map(|w| w.moment()),
                until: a.until.map(|w| w.moment()),
                action: a.action,
                limit: a.limit,
            }),
        ),
        _ => return None,
    })
}

/// Run a fencer command against the daemon at `socket`.
pub fn run(socket: &Path, command: &Command, json: bool) -> Exit {
    let Some((name, request)) = request(command) else {
        eprintln!("palisade: not a fencer command: {command:?}");
        return Exit::Usage;
    };
    match command {
        Command::Events(a) => follow_events(socket, a.count, json),
        _ => call(socket, name, &request, json),
    }
}

fn client_exit(e: &ClientError) -> Exit {
    match e {
        ClientError::Connect { .. } => Exit::Unavailable,
        ClientError::Refused { .. } => Exit::Refused,
        ClientError::Api {
            code: ErrorCode::UnknownDevice | ErrorCode::Invalid,
            ..
        } => Exit::Failed,
        ClientError::Api {
            code: ErrorCode::Unavailable,
            ..
        } => Exit::Unavailable,
        ClientError::Api { .. } | ClientError::Protocol { .. } => Exit::Protocol,
        ClientError::Io { .. } | ClientError::Closed { .. } => Exit::Unavailable,
        ClientError::NoAnswer { .. } => Exit::NoAnswer,
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, Exit> {
    serde_json::from_value(value).map_err(|e| {
        eprintln!("palisade: unreadable answer from the fencer: {e}");
        Exit::Protocol
    })
}

/// Beyond a fence's or query's own budget, how long the CLI still waits for the answer.
const ANSWER_GRACE: Duration = Duration::from_secs(30);
/// A fence or query without `--timeout` is bounded by the daemon's `fencing-timeout`,
/// itself at most `fencing-max-timeout`; the CLI waits that long at most.
const UNKNOWN_BUDGET: Duration = crate::fencer::config::DEFAULT_MAX_TIMEOUT;

/// How long the CLI waits for the answer to `request` (never for ever).
fn answer_wait(request: &Request) -> Duration {
    let budget = |ms: Option<u64>| ms.map_or(UNKNOWN_BUDGET, Duration::from_millis);
    match request {
        Request::Fence {
            timeout_ms,
            delay_ms,
            ..
        } => budget(*timeout_ms)
            .saturating_add(Duration::from_millis(*delay_ms))
            .saturating_add(ANSWER_GRACE),
        Request::Query { timeout_ms, .. } | Request::DryRun { timeout_ms, .. } => {
            budget(*timeout_ms).saturating_add(ANSWER_GRACE)
        }
        _ => super::answer_wait_base(),
    }
}

/// Send one request and print its answer.
fn call(socket: &Path, command: &str, request: &Request, json: bool) -> Exit {
    let wait = answer_wait(request);
    let base = super::answer_wait_base();
    let result = Client::connect(socket, Some(base)).and_then(|mut c| {
        // A long request first proves the daemon is taking requests at all.
        if wait > base {
            c.call(&Request::Hello {})?;
            c.set_timeout(Some(wait))?;
        }
        c.call(request)
    });
    let value = match result {
        Ok(v) => v,
        Err(e) => {
            eprintln!("palisade {command}: {e}");
            return client_exit(&e);
        }
    };
    if json {
        println!("{value}");
    }
    match print_result(command, value, json) {
        Ok(exit) | Err(exit) => exit,
    }
}

fn print_result(command: &str, value: Value, json: bool) -> Result<Exit, Exit> {
    let out = |text: String| {
        if !json {
            print!("{text}");
        }
    };
    match command {
        "fence" | "unfence" => {
            let r: FenceResult = decode(value)?;
            out(show::fence(&r));
            return Ok(Exit::for_result(&r.result));
        }
        "dry-run" => {
            let r: DryRunReport = decode(value)?;
            out(show::dry_run(&r));
            if r.would_act.is_none() {
                return Ok(Exit::WouldNotFence);
            }
        }
        "query" => {
            let r: QueryResult = decode(value)?;
            out(show::query(&r));
            if r.devices.is_empty() && r.levels.is_empty() {
                return Ok(Exit::NoDevice);
            }
        }
        "devices" => {
            let r: DevicesResult = decode(value)?;
            out(show::devices(&r.devices, &r.targets));
        }
        "levels" => out(show::levels(&decode::<LevelsResult>(value)?.topology)),
        "history" => out(show::history(&decode::<HistoryResult>(value)?.entries)),
        "metrics" => out(decode::<MetricsResult>(value)?.text),
        "register" => out("device registered\n".into()),
        "unregister" => out("device unregistered\n".into()),
        _ => {}
    }
    Ok(Exit::Success)
}

/// `palisade events`: subscribe and print event lines (all, or the first `count`).
fn follow_events(socket: &Path, count: Option<usize>, json: bool) -> Exit {
    let mut client = match Client::connect(socket, Some(super::answer_wait_base())) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("palisade events: {e}");
            return client_exit(&e);
        }
    };
    // Subscribed, events may be far apart: no bound on the wait for the next one.
    let subscribed = client
        .call(&Request::Subscribe {})
        .and_then(|_| client.set_timeout(None));
    if let Err(e) = subscribed {
        eprintln!("palisade events: {e}");
        return client_exit(&e);
    }
    let mut seen = 0;
    while !matches!(count, Some(limit) if seen >= limit) {
        match client.next_line() {
            Ok(Some(line)) => {
                if json {
                    println!("{line}");
                } else {
                    println!("{}", event_text(&line));
                }
                seen += 1;
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("palisade events: {e}");
                return client_exit(&e);
            }
        }
    }
    Exit::Success
}

fn event_text(line: &str) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(line) else {
        return line.to_string();
    };
    let at = map
        .remove("at")
        .and_then(|v| v.as_u64())
        .map(|ms| show::format_time(Moment(ms)))
        .unwrap_or_default();
    map.remove("v");
    let kind = map
        .remove("event")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let rest: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{at}  {kind}  {}", rest.join(" "))
}
