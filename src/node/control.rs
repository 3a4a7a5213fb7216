//! The node daemon's control socket: a Unix socket (mode 0600, root or the daemon's own
//! user only, checked with `SO_PEERCRED`) on which `palisade status`, `palisade resource
//! ...`, `palisade node standby|online|maintenance|ready`, `palisade maintenance on|off`
//! and `palisade explain` send one JSON request line
//! and read one JSON answer line. The listener hands each request to the runner, which
//! answers from its own state ([`Request`] in, `{"ok": true, ...}` or `{"ok": false,
//! "error": "..."}` out). The blocking client half ([`call`]) is what the CLI uses.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// Longest request line accepted.
const MAX_LINE: usize = 16 * 1024;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// The status snapshot.
    Status,
    /// The scheduler's explanation of a resource.
    Explain {
        /// Primitive, group or clone.
        resource: String,
    },
    /// `palisade node standby|online [NODE]` (default: the daemon's node).
    Standby {
        /// The node.
        node: Option<String>,
        /// Standby (true) or online.
        on: bool,
    },
    /// `palisade resource move RES NODE`.
    Move {
        /// The resource.
        resource: String,
        /// Where to.
        node: String,
    },
    /// `palisade resource ban RES [NODE]` (default: where it runs).
    Ban {
        /// The resource.
        resource: String,
        /// The node.
        node: Option<String>,
    },
    /// `palisade resource clear RES [NODE]`.
    Clear {
        /// The resource.
        resource: String,
        /// Only constraints naming this node.
        node: Option<String>,
    },
    /// `palisade resource cleanup RES [NODE]`.
    Cleanup {
        /// The resource.
        resource: String,
        /// Only on this node.
        node: Option<String>,
    },
    /// `palisade resource stop|start RES`.
    TargetRole {
        /// The resource.
        resource: String,
        /// Stop (true) or start.
        stopped: bool,
    },
    /// `palisade node maintenance|ready [NODE]` (default: the daemon's node).
    NodeMaintenance {
        /// The node.
        node: Option<String>,
        /// Maintenance (true) or ready.
        on: bool,
    },
    /// `palisade maintenance on|off`: the whole cluster.
    MaintenanceMode {
        /// On or off.
        on: bool,
    },
}

/// A request and the way back to its client.
#[derive(Debug)]
pub struct Envelope {
    /// The request.
    pub request: Request,
    /// The answer (a JSON object).
    pub reply: oneshot::Sender<Value>,
}

/// An answer that carries an error.
pub fn error_answer(text: impl Into<String>) -> Value {
    serde_json::json!({ "ok": false, "error": text.into() })
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

/// Serve clients: each connection's request lines go to `tx`, answers come back.
pub fn serve(listener: UnixListener, tx: mpsc::UnboundedSender<Envelope>) {
    // SAFETY: geteuid has no preconditions.
    let own_uid = unsafe { libc::geteuid() };
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let allowed = stream
                .peer_cred()
                .map(|c| c.uid() == 0 || c.uid() == own_uid)
                .unwrap_or(false);
            tokio::spawn(client(stream, allowed, tx.clone()));
        }
    });
}

async fn client(stream: UnixStream, allowed: bool, tx: mpsc::UnboundedSender<Envelope>) {
    let (read, mut write) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(read.take(MAX_LINE as u64 * 64)).lines();
    loop {
        let answer = match lines.next_line().await {
            Ok(Some(_)) if !allowed => {
                error_answer("only root or the daemon's user may use the control socket")
            }
            Ok(Some(line)) => match serde_json::from_str::<Request>(&line) {
                Ok(request) => {
                    let (reply, answer) = oneshot::channel();
                    if tx.send(Envelope { request, reply }).is_err() {
                        return;
                    }
                    match tokio::time::timeout(Duration::from_secs(10), answer).await {
                        Ok(Ok(v)) => v,
                        _ => error_answer("the daemon did not answer"),
                    }
                }
                Err(e) => error_answer(format!("bad request: {e}")),
            },
            _ => return,
        };
        let mut text = answer.to_string();
        text.push('\n');
        if write.write_all(text.as_bytes()).await.is_err() || !allowed {
            return;
        }
    }
}

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// No daemon listens there.
    #[error("cannot reach the node daemon at {path}: {source} (is `palisade node` running? --socket PATH)")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The exchange failed half-way.
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// Not a JSON answer.
    #[error("unreadable answer: {0}")]
    Protocol(String),
}

/// Send one request to the daemon at `path` and return its answer (blocking).
pub fn call(path: &Path, request: &Request) -> Result<Value, CallError> {
    let stream =
        std::os::unix::net::UnixStream::connect(path).map_err(|source| CallError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
    stream.set_read_timeout(Some(Duration::from_secs(15)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line =
        serde_json::to_string(request).map_err(|e| CallError::Protocol(e.to_string()))?;
    line.push('\n');
    (&stream).write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(&stream)
        .take(MAX_LINE as u64 * 64)
        .read_line(&mut answer)?;
    if answer.trim().is_empty() {
        return Err(CallError::Protocol(
            "the daemon closed the connection".into(),
        ));
    }
    serde_json::from_str(answer.trim()).map_err(|e| CallError::Protocol(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_json_form() {
        let r = Request::Ban {
            resource: "web".into(),
            node: None,
        };
        let text = serde_json::to_string(&r).expect("json");
        assert_eq!(text, r#"{"request":"ban","resource":"web","node":null}"#);
        let back: Request =
            serde_json::from_str(r#"{"request":"standby","node":"node2","on":true}"#)
                .expect("parse");
        assert_eq!(
            back,
            Request::Standby {
                node: Some("node2".into()),
                on: true
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"request":"reboot"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"request":"move","resource":"a"}"#).is_err());
    }

    #[test]
    fn served_requests_reach_the_runner_and_answers_come_back() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join(format!("palisade-control-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/node.sock");
        rt.block_on(async {
            let listener = bind(&path).expect("bind");
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            assert!(matches!(bind(&path), Err(ControlError::InUse(_))));
            let (tx, mut rx) = mpsc::unbounded_channel::<Envelope>();
            serve(listener, tx);
            tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    let _ = e
                        .reply
                        .send(serde_json::json!({"ok": true, "echo": format!("{:?}", e.request)}));
                }
            });
            let p = path.clone();
            let answer = tokio::task::spawn_blocking(move || call(&p, &Request::Status))
                .await
                .expect("join")
                .expect("call");
            assert_eq!(answer["ok"], true);
            assert_eq!(answer["echo"], "Status");
        });
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
            call(&dir.join("none.sock"), &Request::Status),
            Err(CallError::Connect { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
