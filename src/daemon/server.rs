//! The API server: an accept loop over a Unix listener the caller provides (and a
//! shutdown signal it controls, mini-redis style), one task per connection. Each
//! connection is checked with `SO_PEERCRED` first; an unauthorised peer gets one error
//! line and is disconnected. Requests are read as lines (bounded length); a malformed one
//! gets an error response and the connection stays usable. Responses may come out of
//! order (long fencing requests do not block others); `id` ties them to requests.

use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};

use super::core::Command;
use super::Shared;
use crate::api::peercred::{authorize, supplementary_groups, PeerCred};
use crate::api::protocol::{
    parse_request, ApiError, ErrorCode, HelloResult, HistoryResult, MetricsResult, Request,
    Response, MAX_LINE, PROTOCOL_VERSION,
};
use crate::fencer::history;

/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;

/// Accept connections until `stop` turns true.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let shared = shared.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    connection(stream, shared, stop).await;
                    drop(permit);
                });
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

async fn write_lines(mut writer: OwnedWriteHalf, mut lines: mpsc::Receiver<String>) {
    while let Some(mut line) = lines.recv().await {
        line.push('\n');
        if writer.write_all(line.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = writer.shutdown().await;
}

fn peer_of(stream: &UnixStream) -> Option<PeerCred> {
    let cred = stream.peer_cred().ok()?;
    Some(PeerCred {
        uid: cred.uid(),
        gid: cred.gid(),
        pid: cred.pid(),
    })
}

async fn connection(stream: UnixStream, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let peer = peer_of(&stream);
    let (read, write) = stream.into_split();
    let (out, lines) = mpsc::channel::<String>(1024);
    let writer = tokio::spawn(write_lines(write, lines));
    let refusal = match &peer {
        None => Some("cannot read the peer's credentials (SO_PEERCRED)".to_string()),
        Some(p) => authorize(p, &supplementary_groups(p.pid), &shared.policy)
            .err()
            .map(|r| r.to_string()),
    };
    if let Some(reason) = refusal {
        tracing::warn!(?peer, "refused API peer: {reason}");
        if let Ok(mut m) = shared.metrics.lock() {
            m.api_refused();
        }
        let error = ApiError::new(ErrorCode::Unauthorized, reason);
        let _ = out
            .send(Response::failure(Value::Null, error).to_line())
            .await;
        drop(out);
        let _ = writer.await;
        return;
    }
    let uid = peer.map_or(u32::MAX, |p| p.uid);
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let mut bounded = (&mut reader).take(MAX_LINE as u64 + 2);
        let read = tokio::select! {
            read = bounded.read_until(b'\n', &mut line) => read,
            _ = stop.changed() => break,
        };
        match read {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let complete = line.last() == Some(&b'\n');
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if !complete && line.len() > MAX_LINE {
            let error = ApiError::new(
                ErrorCode::BadRequest,
                format!("request line longer than {MAX_LINE} bytes; closing"),
            );
            count_error(&shared, error.code);
            let _ = out
                .send(Response::failure(Value::Null, error).to_line())
                .await;
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        handle_line(&line, &shared, &out, uid, &stop).await;
    }
}

fn count_error(shared: &Shared, code: ErrorCode) {
    if let Ok(mut m) = shared.metrics.lock() {
        let text = serde_json::to_value(code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        m.api_error(&text);
    }
}

async fn send(shared: &Shared, out: &mpsc::Sender<String>, response: Response) {
    if let Some(e) = &response.error {
        count_error(shared, e.code);
    }
    let _ = out.send(response.to_line()).await;
}

async fn handle_line(
    line: &[u8],
    shared: &Arc<Shared>,
    out: &mpsc::Sender<String>,
    uid: u32,
    stop: &watch::Receiver<bool>,
) {
    let (id, request) = match parse_request(line) {
        Ok(parsed) => parsed,
        Err(rejected) => {
            tracing::debug!("bad request: {}", rejected.error.message);
            send(shared, out, Response::failure(rejected.id, rejected.error)).await;
            return;
        }
    };
    if let Ok(mut m) = shared.metrics.lock() {
        m.api_request(request.kind());
    }
    match request {
        Request::Hello {} => {
            let hello = HelloResult {
                protocol: PROTOCOL_VERSION,
                version: env!("CARGO_PKG_VERSION").to_string(),
                node: shared.node.clone(),
            };
            send(shared, out, Response::success(id, &hello)).await;
        }
        Request::Metrics {} => {
            let text = shared.render_metrics();
            send(shared, out, Response::success(id, &MetricsResult { text })).await;
        }
        Request::History(query) => {
            let path = shared.history_path.clone();
            let found = tokio::task::spawn_blocking(move || history::query(&path, &query)).await;
            let response = match found {
                Ok(Ok(entries)) => Response::success(id, &HistoryResult { entries }),
                Ok(Err(e)) => {
                    Response::failure(id, ApiError::new(ErrorCode::Internal, e.to_string()))
                }
                Err(e) => Response::failure(id, ApiError::new(ErrorCode::Internal, e.to_string())),
            };
            send(shared, out, response).await;
        }
        Request::Subscribe {} => {
            let events = shared.events.subscribe();
            send(
                shared,
                out,
                Response::success(id, &serde_json::json!({"subscribed": true})),
            )
            .await;
            tokio::spawn(forward_events(events, out.clone(), stop.clone()));
        }
        mut request => {
            if let Request::RegisterDevice { agent, params, .. } = &mut request {
                metadata_defaults(agent, params, &shared.agent_dirs).await;
            }
            let requester = match &request {
                Request::Fence {
                    requester: Some(name),
                    ..
                } => format!("{name} (uid {uid})"),
                _ => format!("uid {uid}"),
            };
            let (reply, answer) = oneshot::channel();
            let command = Command {
                request,
                id: id.clone(),
                requester,
                reply,
            };
            if shared.commands.send(command).await.is_err() {
                let error = ApiError::new(ErrorCode::Internal, "the fencer is shutting down");
                send(shared, out, Response::failure(id, error)).await;
                return;
            }
            let shared = shared.clone();
            let out = out.clone();
            tokio::spawn(async move {
                let response = answer.await.unwrap_or_else(|_| {
                    Response::failure(
                        id,
                        ApiError::new(ErrorCode::Internal, "the fencer stopped before answering"),
                    )
                });
                send(&shared, &out, response).await;
            });
        }
    }
}

/// What the agent's metadata implies for a device registered at runtime, written into
/// its parameters: the host check when neither check, list nor map is given, and
/// `pcmk_reboot_action=off` for an agent without `reboot`.
async fn metadata_defaults(
    agent: &str,
    params: &mut std::collections::BTreeMap<String, String>,
    dirs: &[std::path::PathBuf],
) {
    let Some(actions) = super::probe::agent_actions(agent, dirs).await else {
        return;
    };
    let configured = ["pcmk_host_check", "pcmk_host_list", "pcmk_host_map"]
        .iter()
        .any(|k| params.contains_key(*k));
    if !configured {
        let check = crate::fencer::device::HostCheck::from_agent_actions(&actions);
        params.insert("pcmk_host_check".to_string(), check.as_str().to_string());
    }
    if !actions.iter().any(|a| a == "reboot") && !params.contains_key("pcmk_reboot_action") {
        params.insert("pcmk_reboot_action".to_string(), "off".to_string());
    }
}

async fn forward_events(
    mut events: broadcast::Receiver<crate::api::protocol::EventLine>,
    out: mpsc::Sender<String>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = stop.changed() => return,
            _ = out.closed() => return,
        };
        let line = match event {
            Ok(event) => serde_json::to_string(&event).unwrap_or_default(),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                format!(r#"{{"v":{PROTOCOL_VERSION},"event":"lagged","missed":{missed}}}"#)
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if out.send(line).await.is_err() {
            return;
        }
    }
}
