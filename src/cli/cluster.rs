//! The cluster admin commands, talking to the local `palisade node` daemon over its
//! control socket ([`crate::node::control`], the IPC layer's typed client): `status`, `resource
//! move|ban|clear|cleanup|stop|start RES [NODE]`, `node standby|online|maintenance|ready
//! [NODE]`, `maintenance on|off` and `explain RES`. The socket is `--socket PATH`, else
//! `$PALISADE_NODE_SOCKET`, else [`DEFAULT_CONTROL_SOCKET`].

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::definition::{Command, MaintenanceMode, NodeAdmin, ResourceAction};
use crate::exit::Exit;
use crate::ipc::client::ClientError;
use crate::node::admin::Command as Admin;
use crate::node::config::DEFAULT_CONTROL_SOCKET;
use crate::node::control::{AdminRequest, Answer, Client, Request};
use crate::node::status::render;

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
pub fn resource_request(action: &ResourceAction) -> AdminRequest {
    match action {
        ResourceAction::Move { resource, node } => Admin::Move {
            resource: resource.clone(),
            node: node.clone(),
        },
        ResourceAction::Ban(r) => Admin::Ban {
            resource: r.resource.clone(),
            node: r.node.clone(),
        },
        ResourceAction::Clear(r) => Admin::Clear {
            resource: r.resource.clone(),
            node: r.node.clone(),
        },
        ResourceAction::Cleanup(r) => Admin::Cleanup {
            resource: r.resource.clone(),
            node: r.node.clone(),
        },
        ResourceAction::Stop(r) | ResourceAction::Start(r) => Admin::TargetRole {
            resource: r.resource.clone(),
            stopped: matches!(action, ResourceAction::Stop(_)),
        },
    }
}

/// The request of `palisade node standby|online|maintenance|ready [NODE]`.
pub fn node_request(admin: &NodeAdmin) -> AdminRequest {
    match admin {
        NodeAdmin::Standby(t) => Admin::Standby {
            node: t.node.clone(),
            on: true,
        },
        NodeAdmin::Online(t) => Admin::Standby {
            node: t.node.clone(),
            on: false,
        },
        NodeAdmin::Maintenance(t) => Admin::NodeMaintenance {
            node: t.node.clone(),
            on: true,
        },
        NodeAdmin::Ready(t) => Admin::NodeMaintenance {
            node: t.node.clone(),
            on: false,
        },
    }
}

/// The request of a cluster admin command (None: not one).
pub fn request(command: &Command) -> Option<(&'static str, Request)> {
    Some(match command {
        Command::Status => ("status", Request::Status {}),
        Command::Explain(a) => (
            "explain",
            Request::Explain {
                resource: a.resource.clone(),
            },
        ),
        Command::Resource { action } => ("resource", Request::Admin(resource_request(action))),
        Command::Maintenance { mode } => (
            "maintenance",
            Request::Admin(Admin::MaintenanceMode {
                on: *mode == MaintenanceMode::On,
            }),
        ),
        _ => return None,
    })
}

fn call_exit(e: &ClientError) -> Exit {
    match e {
        ClientError::Connect { .. } | ClientError::Io { .. } | ClientError::Closed { .. } => {
            Exit::Unavailable
        }
        ClientError::Refused { .. } => Exit::Refused,
        ClientError::NoAnswer { .. } => Exit::NoAnswer,
        ClientError::Api { .. } | ClientError::Protocol { .. } => Exit::Protocol,
    }
}

/// Send `request` and print the answer; the exit code says how it went.
pub fn send(command: &str, socket: &Path, request: &Request, json: bool) -> Exit {
    let answer =
        Client::connect(socket, Some(super::answer_wait_base())).and_then(|mut c| c.call(request));
    let answer = match answer {
        Ok(a) => a,
        Err(e) => {
            eprintln!("palisade {command}: {e}");
            return call_exit(&e);
        }
    };
    if json {
        match serde_json::to_string(&answer) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("palisade {command}: {e}");
                return Exit::Protocol;
            }
        }
        return Exit::Success;
    }
    match answer {
        Answer::Status(status) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0);
            print!("{}", render(&status, now));
        }
        Answer::Explanation { text } => print!("{text}"),
        Answer::Done { message } => println!("{message}"),
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
    let request = Request::Admin(node_request(admin));
    send("node", &socket(given_socket), &request, json)
}
