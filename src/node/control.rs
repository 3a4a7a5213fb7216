//! The node daemon's control socket: a service of the IPC layer ([`crate::ipc`]) on a
//! Unix socket (mode 0600; root or the daemon's own user only, checked with
//! `SO_PEERCRED`) on which `palisade status`, `palisade resource ...`, `palisade node
//! standby|online|maintenance|ready`, `palisade maintenance on|off` and `palisade
//! explain` send typed [`Request`]s and get typed [`Answer`]s, in the layer's envelope:
//! `{"v":1,"id":1,"request":"status"}` in, `{"v":1,"id":1,"ok":true,"result":
//! {"answer":"status",..}}` or `{"v":1,"id":1,"ok":false,"error":{"code":"invalid",
//! "message":".."}}` out. The handler hands each request to the driver, which answers from
//! its own state. The layer's connection caps, idle timeout and refusal log apply; the
//! client is the layer's ([`Client`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::ipc::peercred::AccessPolicy;
use crate::ipc::server::{Conn, Handler, Limits, MAX_CONNECTIONS};
use crate::ipc::wire::{ApiError, ErrorCode, Response};
use crate::ipc::Protocol;
use crate::node::admin::Command;
use crate::node::status::Status;

/// The protocol version.
pub const VERSION: u32 = 1;
/// Longest request line accepted.
pub const MAX_LINE: usize = 16 * 1024;
/// Longest answer line the client reads (a status of a large cluster fits).
pub const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// A connection with nothing in flight that sends nothing this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most connections one user may hold at once.
pub const CONNECTIONS_PER_UID: usize = 64;
/// How long the handler waits for the driver's answer.
const RUNNER_WAIT: Duration = Duration::from_secs(10);

/// The control protocol as a service of the IPC layer.
#[derive(Debug, Clone, Copy)]
pub struct ControlProtocol;

impl Protocol for ControlProtocol {
    type Request = Request;
    type Answer = Answer;
    const VERSION: u32 = VERSION;
    const MAX_LINE: usize = MAX_LINE;
    const MAX_ANSWER: usize = MAX_ANSWER;
    const SERVICE: &'static str = "node daemon";
    const START_HINT: &'static str = "is `palisade node` running? --socket PATH";
    const EXAMPLES: &'static str = "\"status\", \"explain\", \"admin\"";
}

/// The client of the control socket.
pub type Client = crate::ipc::client::Client<ControlProtocol>;

/// An admin command as the CLI sends it: a node left out (`None`) is the daemon's own
/// (or, for `ban`, where the resource runs); the driver resolves it into a
/// [`Command`] of the replicated admin table.
pub type AdminRequest = Command<Option<String>>;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// The status snapshot.
    Status {},
    /// The scheduler's explanation of a resource.
    Explain {
        /// Primitive, group or clone.
        resource: String,
    },
    /// An admin command (`"command": "standby" | "move" | ...` and its fields).
    Admin(AdminRequest),
}

/// What a request gets (the response's `result`), tagged `"answer": "<kind>"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum Answer {
    /// For `status`.
    Status(Box<Status>),
    /// For `explain`.
    Explanation {
        /// The scheduler's explanation and pending actions.
        text: String,
    },
    /// For an admin command.
    Done {
        /// What changes.
        message: String,
    },
}

/// A request and the way back to its client.
#[derive(Debug)]
pub struct Envelope {
    /// The request.
    pub request: Request,
    /// The answer.
    pub reply: oneshot::Sender<Result<Answer, ApiError>>,
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another live daemon answers on that path.
    #[error("{0} is in use by another running daemon")]
    InUse(PathBuf),
    /// The directory, the bind or the permissions failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

/// Bind the control socket at `path` (mode 0600; the directory is created 0755 when
/// missing). A socket file nobody answers on is a leftover and is replaced.
pub fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(io)?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
        }
    }
    if path.exists() {
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => return Err(ControlError::InUse(path.to_path_buf())),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
        }
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

/// While held, the control socket is served; dropped, its accept loop and connections end.
#[derive(Debug)]
pub struct Serving {
    _stop: watch::Sender<bool>,
}

/// The control socket's handler: requests go to the driver.
struct Control {
    tx: mpsc::UnboundedSender<Envelope>,
}

impl Control {
    async fn answer(&self, request: Request) -> Result<Answer, ApiError> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Envelope { request, reply }).is_err() {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the node daemon is stopping",
            ));
        }
        match tokio::time::timeout(RUNNER_WAIT, answer).await {
            Ok(Ok(outcome)) => outcome,
            _ => Err(ApiError::new(
                ErrorCode::Internal,
                "the daemon did not answer",
            )),
        }
    }
}

impl Handler for Control {
    type Protocol = ControlProtocol;

    async fn handle(&self, conn: &Conn<Self>, id: Value, request: Request) {
        let outcome = self.answer(request).await;
        conn.reply(Response::from_result(id, outcome)).await;
    }
}

/// Serve clients on `listener`: each request goes to `tx`, its answer comes back. Root
/// and the daemon's own user may connect.
pub fn serve(listener: UnixListener, tx: mpsc::UnboundedSender<Envelope>) -> Serving {
    let limits = Limits {
        policy: AccessPolicy {
            service: "node daemon",
            daemon_uid: nix::unistd::geteuid().as_raw(),
            group: None,
        },
        idle: IDLE_TIMEOUT,
        per_uid: CONNECTIONS_PER_UID,
        max_connections: MAX_CONNECTIONS,
    };
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(crate::ipc::server::serve(
        listener,
        Arc::new(Control { tx }),
        limits,
        stopped,
    ));
    Serving { _stop: stop }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::client::ClientError;

    #[test]
    fn requests_and_answers_have_a_stable_json_form() {
        let ban = Request::Admin(Command::Ban {
            resource: "web".into(),
            node: None,
        });
        let text = serde_json::to_string(&ban).expect("json");
        assert_eq!(
            text,
            r#"{"request":"admin","command":"ban","resource":"web","node":null}"#
        );
        let done = Answer::Done {
            message: "ok".into(),
        };
        assert_eq!(
            serde_json::to_value(&done).expect("json"),
            serde_json::json!({"answer":"done","message":"ok"})
        );
        let status: Answer = serde_json::from_value(serde_json::json!({
            "answer": "status", "cluster": 9, "node": "n1", "view": 2, "quorate": true,
            "quorum": "2 of 3", "coordinator": null, "members": ["n1"],
            "maintenance_mode": false, "nodes": [], "resources": [], "failures": [],
            "constraints": [], "fencing": [], "pending": [], "held": []
        }))
        .expect("status answer");
        assert!(matches!(status, Answer::Status(s) if s.node == "n1" && s.quorate));
    }

    #[test]
    fn served_requests_reach_the_driver_and_answers_come_back() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("palisade-control-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/node.sock");
        let serving = rt.block_on(async {
            let listener = bind(&path).expect("bind");
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            assert!(matches!(bind(&path), Err(ControlError::InUse(_))));
            let (tx, mut rx) = mpsc::unbounded_channel::<Envelope>();
            let serving = serve(listener, tx);
            // the driver: explains anything, refuses admin commands
            tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    let answer = match e.request {
                        Request::Explain { resource } => Ok(Answer::Explanation {
                            text: format!("why {resource}"),
                        }),
                        other => Err(ApiError::new(
                            ErrorCode::Invalid,
                            format!("not here: {other:?}"),
                        )),
                    };
                    let _ = e.reply.send(answer);
                }
            });
            serving
        });
        let mut client = Client::connect(&path, Some(Duration::from_secs(30))).expect("connect");
        let answer = client
            .call(&Request::Explain {
                resource: "web".into(),
            })
            .expect("explain");
        assert_eq!(
            answer,
            Answer::Explanation {
                text: "why web".into()
            }
        );
        let refused = client.call(&Request::Admin(Command::MaintenanceMode { on: true }));
        assert!(
            matches!(&refused, Err(ClientError::Api { code: ErrorCode::Invalid, message }) if message.contains("MaintenanceMode")),
            "{refused:?}"
        );
        drop(client);
        drop(serving);
        drop(rt);
        // the daemon is gone: its socket is a leftover and is replaced
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            assert!(bind(&path).is_ok());
        });
        assert!(matches!(
            Client::connect(&dir.join("none.sock"), None),
            Err(ClientError::Connect { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
