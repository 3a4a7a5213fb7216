//! The cluster admin commands, talking to the local `palisade node` daemon over its
//! control socket ([`crate::node::control`]): `status`, `resource
//! move|ban|clear|cleanup|stop|start RES [NODE]`, `node standby|online|maintenance|ready
//! [NODE]`, `maintenance on|off` and `explain RES`. The socket is `--socket PATH`, else
//! `$PALISADE_NODE_SOCKET`, else [`DEFAULT_CONTROL_SOCKET`].

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::definition::{Command, MaintenanceMode, NodeAdmin, ResourceAction};
use crate::exit::Exit;
use crate::node::config::DEFAULT_CONTROL_SOCKET;
use crate::node::control::{call, CallError, Request};
use crate::node::status::{render, Status};

/// Environment variable naming the node daemon's control socket.
pub const SOCKET_ENV: &str = "PALISADE_NODE_SOCKET";

/// The socket: `--socket`, else `$PALISADE_NODE_SOCKET`, else the default.
pub fn socket(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(SOCKET_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONTROL_SOCKET))
}

/// The request of `palisade resource ...`.
pub fn resource_request(action: &ResourceAction) -> Request {
    match action {
        ResourceAction::Move { resource, node } => Request::Move {
            resource: resource.clone(),
            node: node.clone(),
        },
        ResourceAction::Ban(r) => Request::Ban {
            resource: r.resource.clone(),
            node: r.node.clone(),
        },
        ResourceAction::Clear(r) => Request::Clear {
            resource: r.resource.clone(),
            node: r.node.clone(),
        },
        ResourceAction::Cleanup(r) => Request::Cleanup {
            resource: r.resource.clone(),
            node: r.node.clone(),
        },
        ResourceAction::Stop(r) | ResourceAction::Start(r) => Request::TargetRole {
            resource: r.resource.clone(),
            stopped: matches!(action, ResourceAction::Stop(_)),
        },
    }
}

/// The request of `palisade node standby|online|maintenance|ready [NODE]`.
pub fn node_request(admin: &NodeAdmin) -> Request {
    match admin {
        NodeAdmin::Standby(t) => Request::Standby {
            node: t.node.clone(),
            on: true,
        },
        NodeAdmin::Online(t) => Request::Standby {
            node: t.node.clone(),
            on: false,
        },
        NodeAdmin::Maintenance(t) => Request::NodeMaintenance {
            node: t.node.clone(),
            on: true,
        },
        NodeAdmin::Ready(t) => Request::NodeMaintenance {
            node: t.node.clone(),
            on: false,
        },
    }
}

/// The request of a cluster admin command (None: not one).
pub fn request(command: &Command) -> Option<(&'static str, Request)> {
    Some(match command {
        Command::Status => ("status", Request::Status),
        Command::Explain(a) => (
            "explain",
            Request::Explain {
                resource: a.resource.clone(),
            },
        ),
        Command::Resource { action } => ("resource", resource_request(action)),
        Command::Maintenance { mode } => (
            "maintenance",
            Request::MaintenanceMode {
                on: *mode == MaintenanceMode::On,
            },
        ),
        _ => return None,
    })
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

/// `palisade status|resource|explain|maintenance`.
pub fn run(command: &Command, given_socket: Option<&Path>, json: bool) -> Exit {
    let Some((name, request)) = request(command) else {
        eprintln!("palisade: not a cluster admin command: {command:?}");
        return Exit::Usage;
    };
    send(name, &socket(given_socket), &request, json)
}

/// `palisade node standby|online|maintenance|ready [NODE]`.
pub fn node_admin(admin: &NodeAdmin, given_socket: Option<&Path>, json: bool) -> Exit {
    send("node", &socket(given_socket), &node_request(admin), json)
}
