//! The `palisade` command line: `daemon`, and the `stonith_admin`-like tasks talking to
//! a running daemon (`fence`, `unfence`, `query`, `devices`, `levels`, `register`,
//! `unregister`, `history`, `events`, `metrics`) or working alone (`validate`,
//! `metadata`). Every command prints readable text, or the daemon's JSON with `--json`;
//! exit codes come from [`crate::exit::Exit`].
//!
//! - `args`: the option parser.
//! - `show`: readable output.
//! - `local`: commands that need no daemon.

mod args;
mod cluster;
mod import;
mod local;
mod show;

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::client::{Client, ClientError};
use crate::api::protocol::{
    DevicesResult, ErrorCode, FenceResult, HistoryResult, LevelsResult, MetricsResult, QueryResult,
    Request,
};
use crate::exit::Exit;
use crate::fencer::duration::{millis, parse_duration, Moment};
use crate::fencer::history::HistoryQuery;
use crate::fencer::operation::FenceAction;
use args::{Args, Spec, UsageError};

/// Default API socket (`--socket` or `PALISADE_SOCKET` override it).
pub const DEFAULT_SOCKET: &str = crate::fencer::config::DEFAULT_SOCKET;

const USAGE: &str = "\
usage: palisade <command> [options]

  daemon [--config FILE]            run the fencer daemon (embedded demo config without --config;
                                    --show-default-config prints it)
  fence TARGET [--action off|reboot] [--timeout 60s] [--delay 0s] [--requester NAME]
  unfence TARGET [--timeout 60s]    power the target on (action \"on\")
  query TARGET                      which devices can fence TARGET (and its levels)
  devices                           registered devices
  levels                            fencing topology
  register NAME --agent AGENT [--priority N] [-o key=value]...
  unregister NAME
  history [TARGET] [--since 2h|@UNIX] [--until 2h|@UNIX] [--action A] [--limit N]
  events [--count N]                follow the event stream
  metrics                           Prometheus metrics text
  validate --config FILE            check a configuration file
  validate --agent AGENT [-o key=value]...   run the agent's validate-all
  metadata --agent AGENT            the agent's metadata XML
  import [--ha-cf F] [--haresources F] [--authkeys F] [--key-out F]
         [--addresses 'NODE=IP[,IP] ...']
                                    convert a heartbeat v1 configuration to a palisade
                                    node configuration (TOML on stdout)
  node --config FILE [--node NAME] [--check]   run the cluster node daemon
{cluster}
  --version

common options: --socket PATH (default $PALISADE_SOCKET or /run/palisade/fencer.sock), --json
exit codes: 0 ok, 1 failed, 2 usage, 3 bad config, 4 daemon unreachable, 5 refused,
            6 request rejected, 7 daemon error, 105 no device, 124 timed out";

/// The usage text (the cluster admin commands included).
fn usage() -> String {
    USAGE.replace("{cluster}", cluster::USAGE)
}

/// `palisade node standby|online|maintenance|ready [NODE]` (the daemon is `palisade
/// node --config`).
pub fn node_admin(words: &[String]) -> Exit {
    cluster::node_admin(words)
}

/// Run the command line (without the program name).
pub fn main(words: &[String]) -> Exit {
    let Some((command, rest)) = words.split_first() else {
        eprintln!("{}", usage());
        return Exit::Usage;
    };
    match run(command, rest) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("palisade {command}: {e}");
            eprintln!("(palisade --help for usage)");
            Exit::Usage
        }
    }
}

fn spec_of(command: &str) -> Option<Spec> {
    Some(match command {
        "daemon" => &[("config", true), ("show-default-config", false)],
        "fence" => &[
            ("action", true),
            ("timeout", true),
            ("delay", true),
            ("requester", true),
        ],
        "unfence" => &[("timeout", true), ("requester", true)],
        "query" => &[("timeout", true)],
        "devices" | "levels" | "metrics" | "unregister" => &[],
        "register" => &[("agent", true), ("priority", true)],
        "history" => &[
            ("since", true),
            ("until", true),
            ("action", true),
            ("limit", true),
        ],
        "events" => &[("count", true)],
        "validate" => &[("config", true), ("agent", true)],
        "import" => &[
            ("ha-cf", true),
            ("haresources", true),
            ("authkeys", true),
            ("key-out", true),
            ("addresses", true),
        ],
        "metadata" => &[("agent", true)],
        "status" | "resource" | "explain" | "maintenance" => &[],
        _ => return None,
    })
}

fn run(command: &str, rest: &[String]) -> Result<Exit, UsageError> {
    match command {
        "--version" | "-V" | "version" => {
            println!("palisade {}", env!("CARGO_PKG_VERSION"));
            return Ok(Exit::Success);
        }
        "--help" | "-h" | "help" => {
            println!("{}", usage());
            return Ok(Exit::Success);
        }
        _ => {}
    }
    let spec = spec_of(command)
        .ok_or_else(|| UsageError::Other(format!("unknown command '{command}'")))?;
    let args = Args::parse(rest, spec)?;
    match command {
        "daemon" => {
            args.none()?;
            return Ok(local::daemon(&args));
        }
        "validate" => {
            args.none()?;
            return Ok(local::validate(&args));
        }
        "import" => {
            args.none()?;
            return Ok(import::run(&args));
        }
        "metadata" => {
            args.none()?;
            return Ok(local::metadata(&args));
        }
        "status" | "resource" | "explain" | "maintenance" => return cluster::run(command, &args),
        _ => {}
    }
    let request = build_request(command, &args)?;
    let socket = args
        .option("socket")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("PALISADE_SOCKET").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
    let json = args.flag("json");
    if command == "events" {
        let count = parse_number(args.option("count"), "--count")?;
        return Ok(follow_events(&socket, count, json));
    }
    Ok(call(&socket, command, &request, json))
}

fn parse_number(text: Option<&str>, what: &str) -> Result<Option<usize>, UsageError> {
    text.map(|t| {
        t.parse()
            .map_err(|_| UsageError::Other(format!("{what} needs a number, not '{t}'")))
    })
    .transpose()
}

fn span_ms(text: Option<&str>, what: &str) -> Result<Option<u64>, UsageError> {
    text.map(|t| {
        parse_duration(t)
            .map(millis)
            .map_err(|e| UsageError::Other(format!("{what}: {e}")))
    })
    .transpose()
}

/// `2h` = two hours ago; `@1700000000` = that Unix time (seconds).
fn moment(text: Option<&str>, what: &str) -> Result<Option<Moment>, UsageError> {
    let Some(text) = text else { return Ok(None) };
    if let Some(unix) = text.strip_prefix('@') {
        let secs: u64 = unix
            .parse()
            .map_err(|_| UsageError::Other(format!("{what}: '@{unix}' is not Unix seconds")))?;
        return Ok(Some(Moment(secs.saturating_mul(1000))));
    }
    let back = parse_duration(text).map_err(|e| UsageError::Other(format!("{what}: {e}")))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(millis)
        .unwrap_or(0);
    Ok(Some(Moment(now.saturating_sub(millis(back)))))
}

fn fence_action(text: Option<&str>) -> Result<Option<FenceAction>, UsageError> {
    text.map(|t| {
        FenceAction::parse(t).ok_or_else(|| {
            UsageError::Other(format!("--action must be off, reboot or on, not '{t}'"))
        })
    })
    .transpose()
}

fn build_request(command: &str, args: &Args) -> Result<Request, UsageError> {
    Ok(match command {
        "fence" | "unfence" => {
            let action = if command == "unfence" {
                Some(FenceAction::On)
            } else {
                fence_action(args.option("action"))?
            };
            Request::Fence {
                target: args.one("target node")?.to_string(),
                action,
                timeout_ms: span_ms(args.option("timeout"), "--timeout")?,
                delay_ms: span_ms(args.option("delay"), "--delay")?.unwrap_or(0),
                requester: Some(
                    args.option("requester")
                        .unwrap_or("palisade-cli")
                        .to_string(),
                ),
            }
        }
        "query" => Request::Query {
            target: args.one("target node")?.to_string(),
            timeout_ms: span_ms(args.option("timeout"), "--timeout")?,
        },
        "devices" => {
            args.none()?;
            Request::Devices {}
        }
        "levels" => {
            args.none()?;
            Request::Levels {}
        }
        "metrics" | "events" => {
            args.none()?;
            if command == "metrics" {
                Request::Metrics {}
            } else {
                Request::Subscribe {}
            }
        }
        "register" => Request::RegisterDevice {
            name: args.one("device name")?.to_string(),
            agent: args
                .option("agent")
                .ok_or_else(|| UsageError::Other("--agent AGENT is required".into()))?
                .to_string(),
            params: args.params.iter().cloned().collect(),
            priority: args
                .option("priority")
                .map(|p| {
                    p.parse().map_err(|_| {
                        UsageError::Other(format!("--priority: '{p}' is not a number"))
                    })
                })
                .transpose()?
                .unwrap_or(0),
        },
        "unregister" => Request::UnregisterDevice {
            name: args.one("device name")?.to_string(),
        },
        "history" => {
            let target = match args.positional.as_slice() {
                [] => None,
                [t] => Some(t.clone()),
                _ => return Err(UsageError::Other("history takes at most one target".into())),
            };
            Request::History(HistoryQuery {
                target,
                since: moment(args.option("since"), "--since")?,
                until: moment(args.option("until"), "--until")?,
                action: fence_action(args.option("action"))?,
                limit: parse_number(args.option("limit"), "--limit")?,
            })
        }
        other => return Err(UsageError::Other(format!("unknown command '{other}'"))),
    })
}

fn client_exit(e: &ClientError) -> Exit {
    match e {
        ClientError::Connect { .. } => Exit::Unavailable,
        ClientError::Refused(_) => Exit::Refused,
        ClientError::Api {
            code: ErrorCode::UnknownDevice | ErrorCode::Invalid,
            ..
        } => Exit::Failed,
        ClientError::Api {
            code: ErrorCode::Unavailable,
            ..
        } => Exit::Unavailable,
        ClientError::Api { .. } | ClientError::Protocol(_) => Exit::Protocol,
        ClientError::Io(_) | ClientError::Closed => Exit::Unavailable,
        ClientError::NoAnswer(_) => Exit::NoAnswer,
    }
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, Exit> {
    serde_json::from_value(value).map_err(|e| {
        eprintln!("palisade: unreadable answer from the fencer: {e}");
        Exit::Protocol
    })
}

/// Send one request and print its answer.
/// How long the CLI waits for the daemon to take a request (`hello`) and to answer one
/// that is not a fence or query; `$PALISADE_ANSWER_WAIT` (seconds) overrides it.
const ANSWER_WAIT: Duration = Duration::from_secs(15);

fn answer_wait_base() -> Duration {
    std::env::var("PALISADE_ANSWER_WAIT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(ANSWER_WAIT, Duration::from_secs)
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
        Request::Query { timeout_ms, .. } => budget(*timeout_ms).saturating_add(ANSWER_GRACE),
        _ => answer_wait_base(),
    }
}

fn call(socket: &std::path::Path, command: &str, request: &Request, json: bool) -> Exit {
    let wait = answer_wait(request);
    let base = answer_wait_base();
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
        "query" => {
            let r: QueryResult = decode(value)?;
            out(show::query(&r));
            if r.devices.is_empty() && r.levels.is_empty() {
                return Ok(Exit::NoDevice);
            }
        }
        "devices" => out(show::devices(&decode::<DevicesResult>(value)?.devices)),
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
fn follow_events(socket: &std::path::Path, count: Option<usize>, json: bool) -> Exit {
    let mut client = match Client::connect(socket, Some(answer_wait_base())) {
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
