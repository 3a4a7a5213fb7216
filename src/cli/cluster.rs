//! The cluster admin commands, talking to the local `palisade node` daemon over its
//! control socket ([`crate::node::control`]): `status [--json]`, `resource
//! move|ban|clear|cleanup|stop|start RES [NODE]`, `node standby|online|maintenance|ready
//! [NODE]`, `maintenance on|off` and `explain RES`. The socket is `--socket PATH`, else `$PALISADE_NODE_SOCKET`, else
//! [`DEFAULT_CONTROL_SOCKET`].

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::args::{Args, UsageError};
use crate::exit::Exit;
use crate::node::config::DEFAULT_CONTROL_SOCKET;
use crate::node::control::{call, CallError, Request};
use crate::node::status::{render, Status};

/// Environment variable naming the node daemon's control socket.
pub const SOCKET_ENV: &str = "PALISADE_NODE_SOCKET";

/// Usage of these commands (part of `palisade --help`).
pub const USAGE: &str =
    "  status [--json]                   the cluster as the local node daemon sees it
  resource move RES NODE            run RES on NODE (cli-prefer-RES = INFINITY)
  resource ban RES [NODE]           keep RES off NODE (default: where it runs)
  resource clear RES [NODE]         drop move/ban constraints of RES (only NODE's)
  resource cleanup RES [NODE]       forget the failures of RES (on NODE)
  resource stop|start RES           set RES's target-role
  node standby|online [NODE]        put NODE (default: this node) in standby, or back
  node maintenance|ready [NODE]     leave NODE's resources alone (not started, stopped
                                    or monitored), or manage them again (probed first)
  maintenance on|off                the same for the whole cluster
  explain RES                       why RES is where it is (the scheduler's scores)
  (these use the node daemon's control socket: --socket PATH, $PALISADE_NODE_SOCKET
   or /run/palisade/node.sock)";

fn socket(args: &Args) -> PathBuf {
    args.option("socket")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET))
}

fn word<'a>(args: &'a Args, i: usize, what: &str) -> Result<&'a str, UsageError> {
    args.positional
        .get(i)
        .map(String::as_str)
        .ok_or_else(|| UsageError::Other(format!("{what} is missing")))
}

fn at_most(args: &Args, n: usize) -> Result<(), UsageError> {
    if args.positional.len() > n {
        return Err(UsageError::Other(format!(
            "unexpected argument '{}'",
            args.positional[n]
        )));
    }
    Ok(())
}

/// The request of `palisade resource ...` (`args.positional[0]` is the verb).
fn resource_request(args: &Args) -> Result<Request, UsageError> {
    let verb = word(
        args,
        0,
        "the action (move, ban, clear, cleanup, stop, start)",
    )?;
    let resource = word(args, 1, "the resource")?.to_string();
    let node = args.positional.get(2).cloned();
    let request = match verb {
        "move" => Request::Move {
            resource,
            node: node.ok_or_else(|| UsageError::Other("move needs the target node".into()))?,
        },
        "ban" => Request::Ban { resource, node },
        "clear" => Request::Clear { resource, node },
        "cleanup" => Request::Cleanup { resource, node },
        "stop" | "start" => {
            at_most(args, 2)?;
            return Ok(Request::TargetRole {
                resource,
                stopped: verb == "stop",
            });
        }
        other => {
            return Err(UsageError::Other(format!(
                "unknown resource action '{other}' (move, ban, clear, cleanup, stop, start)"
            )))
        }
    };
    at_most(args, 3)?;
    Ok(request)
}

/// The request of `palisade node standby|online|maintenance|ready [NODE]`.
pub fn node_request(words: &[String]) -> Result<Request, UsageError> {
    let node = words.get(1).cloned();
    if let Some(extra) = words.get(2) {
        return Err(UsageError::Other(format!("unexpected argument '{extra}'")));
    }
    Ok(match words.first().map(String::as_str) {
        Some("standby") => Request::Standby { node, on: true },
        Some("online") => Request::Standby { node, on: false },
        Some("maintenance") => Request::NodeMaintenance { node, on: true },
        Some("ready") => Request::NodeMaintenance { node, on: false },
        _ => {
            return Err(UsageError::Other(
                "expected standby, online, maintenance or ready".into(),
            ))
        }
    })
}

/// The request of `palisade maintenance on|off`.
fn maintenance_request(args: &Args) -> Result<Request, UsageError> {
    at_most(args, 1)?;
    let on = match word(args, 0, "on or off")? {
        "on" => true,
        "off" => false,
        other => {
            return Err(UsageError::Other(format!(
                "expected on or off, not '{other}'"
            )))
        }
    };
    Ok(Request::MaintenanceMode { on })
}

fn call_exit(e: &CallError) -> Exit {
    match e {
        CallError::Connect { .. } | CallError::Io(_) => Exit::Unavailable,
        CallError::Protocol(_) => Exit::Protocol,
    }
}

/// Send `request` and print the answer; the exit code says how it went.
pub fn send(command: &str, socket: &std::path::Path, request: &Request, json: bool) -> Exit {
    let answer = match call(socket, request) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("palisade {command}: {e}");
            return call_exit(&e);
        }
    };
    if answer.get("ok") != Some(&Value::Bool(true)) {
        let error = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("the daemon refused the request");
        eprintln!("palisade {command}: {error}");
        return Exit::Protocol;
    }
    if json {
        println!("{answer}");
        return Exit::Success;
    }
    match request {
        Request::Status => match serde_json::from_value::<Status>(answer) {
            Ok(status) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    .unwrap_or(0);
                print!("{}", render(&status, now));
            }
            Err(e) => {
                eprintln!("palisade {command}: unreadable status: {e}");
                return Exit::Protocol;
            }
        },
        Request::Explain { .. } => {
            print!(
                "{}",
                answer.get("text").and_then(Value::as_str).unwrap_or("")
            );
        }
        _ => println!(
            "{}",
            answer
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("done")
        ),
    }
    Exit::Success
}

/// `palisade status|resource|explain|maintenance` (parsed `args`).
pub fn run(command: &str, args: &Args) -> Result<Exit, UsageError> {
    let request = match command {
        "status" => {
            at_most(args, 0)?;
            Request::Status
        }
        "explain" => {
            at_most(args, 1)?;
            Request::Explain {
                resource: word(args, 0, "the resource")?.to_string(),
            }
        }
        "resource" => resource_request(args)?,
        "maintenance" => maintenance_request(args)?,
        other => return Err(UsageError::Other(format!("unknown command '{other}'"))),
    };
    Ok(send(command, &socket(args), &request, args.flag("json")))
}

/// `palisade node standby|online|maintenance|ready [NODE] [--socket PATH] [--json]`.
pub fn node_admin(words: &[String]) -> Exit {
    let parsed = Args::parse(words, &[]).and_then(|args| {
        let request = node_request(&args.positional)?;
        Ok((args, request))
    });
    match parsed {
        Ok((args, request)) => send("node", &socket(&args), &request, args.flag("json")),
        Err(e) => {
            eprintln!(
                "palisade node: {e}\nusage: palisade node standby|online|maintenance|ready [NODE] [--socket PATH]"
            );
            Exit::Usage
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Args {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        Args::parse(&words, &[]).expect("args")
    }

    #[test]
    fn resource_words_become_requests() {
        assert_eq!(
            resource_request(&args(&["move", "web", "node2"])),
            Ok(Request::Move {
                resource: "web".into(),
                node: "node2".into()
            })
        );
        assert_eq!(
            resource_request(&args(&["ban", "web"])),
            Ok(Request::Ban {
                resource: "web".into(),
                node: None
            })
        );
        assert_eq!(
            resource_request(&args(&["stop", "db"])),
            Ok(Request::TargetRole {
                resource: "db".into(),
                stopped: true
            })
        );
        for bad in [
            &["move", "web"][..],
            &["frobnicate", "web"],
            &["stop", "db", "node1"],
            &["clear", "a", "b", "c"],
            &["cleanup"],
        ] {
            assert!(resource_request(&args(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn node_words_become_requests() {
        let w = |s: &[&str]| -> Vec<String> { s.iter().map(|x| x.to_string()).collect() };
        assert_eq!(
            node_request(&w(&["standby"])),
            Ok(Request::Standby {
                node: None,
                on: true
            })
        );
        assert_eq!(
            node_request(&w(&["online", "node3"])),
            Ok(Request::Standby {
                node: Some("node3".into()),
                on: false
            })
        );
        assert_eq!(
            node_request(&w(&["maintenance"])),
            Ok(Request::NodeMaintenance {
                node: None,
                on: true
            })
        );
        assert_eq!(
            node_request(&w(&["ready", "node2"])),
            Ok(Request::NodeMaintenance {
                node: Some("node2".into()),
                on: false
            })
        );
        assert_eq!(
            maintenance_request(&args(&["on"])),
            Ok(Request::MaintenanceMode { on: true })
        );
        assert_eq!(
            maintenance_request(&args(&["off"])),
            Ok(Request::MaintenanceMode { on: false })
        );
        assert!(maintenance_request(&args(&["maybe"])).is_err());
        assert!(maintenance_request(&args(&[])).is_err());
        assert!(maintenance_request(&args(&["on", "x"])).is_err());
        assert!(node_request(&w(&["online", "a", "b"])).is_err());
        assert!(node_request(&w(&["reboot"])).is_err());
    }
}
