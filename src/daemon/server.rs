//! The fencer API's side of the IPC layer ([`crate::ipc::server`]): the [`Handler`]
//! that answers [`Request`]s. `hello`, `metrics` and `history` are answered here;
//! `subscribe` forwards event lines on the connection; everything else goes to the core
//! task ([`super::core`]) and is answered when it is done, from its own task, so a long
//! fence does not hold up the connection's other requests. Accepting, authorizing,
//! framing, the connection caps and the idle timeout are the layer's; this module only
//! counts what they refuse in the daemon's metrics.

use std::sync::Arc;

use serde_json::Value;
use tokio::net::UnixListener;
use tokio::sync::{broadcast, oneshot, watch};

use super::core::Command;
use super::Shared;
use crate::api::protocol::{
    ApiError, ErrorCode, EventLine, FencerApi, HelloResult, HistoryResult, MetricsResult, Request,
    Response, PROTOCOL_VERSION,
};
use crate::fencer::history;
use crate::ipc::server::{Conn, Handler, Limits, MAX_CONNECTIONS};

/// Accept connections until `stop` turns true.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let limits = Limits {
        policy: shared.policy.clone(),
        idle: shared.api_idle_timeout,
        per_uid: shared.api_connections_per_uid,
        max_connections: MAX_CONNECTIONS,
    };
    crate::ipc::server::serve(listener, Arc::new(Fencer { shared }), limits, stop).await;
}

/// The fencer API's handler.
struct Fencer {
    shared: Arc<Shared>,
}

impl Handler for Fencer {
    type Protocol = FencerApi;

    async fn handle(&self, conn: &Conn<Self>, id: Value, request: Request) {
        handle(&self.shared, conn, id, request).await;
    }

    fn refused(&self) {
        if let Ok(mut m) = self.shared.metrics.lock() {
            m.api_refused();
        }
    }

    fn error(&self, code: ErrorCode) {
        if let Ok(mut m) = self.shared.metrics.lock() {
            m.api_error(code.as_str());
        }
    }
}

async fn handle(shared: &Arc<Shared>, conn: &Conn<Fencer>, id: Value, request: Request) {
    if let Ok(mut m) = shared.metrics.lock() {
        m.api_request(request.kind());
    }
    let uid = conn.peer().uid;
    match request {
        Request::Hello {} => {
            let hello = HelloResult {
                protocol: PROTOCOL_VERSION,
                version: env!("CARGO_PKG_VERSION").to_string(),
                node: shared.node.clone(),
            };
            conn.reply(Response::success(id, &hello)).await;
        }
        Request::Metrics {} => {
            let text = shared.render_metrics();
            conn.reply(Response::success(id, &MetricsResult { text }))
                .await;
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
            conn.reply(response).await;
        }
        Request::Subscribe {} => {
            let events = shared.events.subscribe();
            conn.reply(Response::success(
                id,
                &serde_json::json!({"subscribed": true}),
            ))
            .await;
            tokio::spawn(forward_events(events, conn.clone()));
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
                conn.reply(Response::failure(id, error)).await;
                return;
            }
            let conn = conn.clone();
            let busy = conn.busy();
            tokio::spawn(async move {
                let response = answer.await.unwrap_or_else(|_| {
                    Response::failure(
                        id,
                        ApiError::new(ErrorCode::Internal, "the fencer stopped before answering"),
                    )
                });
                conn.reply(response).await;
                drop(busy);
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

/// Forward event lines to a subscriber until it goes or the daemon stops; a subscriber
/// is never idle.
async fn forward_events(mut events: broadcast::Receiver<EventLine>, conn: Conn<Fencer>) {
    let _busy = conn.busy();
    let mut stop = conn.stop();
    loop {
        let event = tokio::select! {
            event = events.recv() => event,
            _ = stop.changed() => return,
            _ = conn.closed() => return,
        };
        let line = match event {
            Ok(event) => serde_json::to_string(&event).unwrap_or_default(),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                format!(r#"{{"v":{PROTOCOL_VERSION},"event":"lagged","missed":{missed}}}"#)
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !conn.send_line(line).await {
            return;
        }
    }
}
