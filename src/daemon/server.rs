//! The API server: an accept loop over a Unix listener the caller provides (and a
//! shutdown signal it controls, mini-redis style), one task per connection. Each
//! connection is checked with `SO_PEERCRED` first; an unauthorised peer gets one error
//! line and is disconnected. Requests are read as lines (bounded length); a malformed one
//! gets an error response and the connection stays usable. Responses may come out of
//! order (long fencing requests do not block others); `id` ties them to requests.
//!
//! No client can lock the others out: the accept loop never waits for a free slot (a
//! connection beyond [`MAX_CONNECTIONS`] or beyond `api-connections-per-uid` for its user
//! gets one `unavailable` error line and is closed), and a connection with nothing in
//! flight that sends nothing for `api-idle-timeout` is closed. Refused peers are logged
//! at most [`REFUSAL_LOG_BURST`] times per [`REFUSAL_LOG_WINDOW`] (the metrics count them
//! all).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

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
/// Refused peers logged per window (the rest are counted and summarised).
pub const REFUSAL_LOG_BURST: u32 = 10;
/// The refusal log window.
pub const REFUSAL_LOG_WINDOW: Duration = Duration::from_secs(60);

/// How many connections are open, in all and per user.
#[derive(Debug, Default)]
struct Occupancy {
    total: usize,
    per_uid: HashMap<u32, usize>,
}

/// A connection slot; given back on drop.
struct Slot {
    occupancy: Arc<Mutex<Occupancy>>,
    uid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut o) = self.occupancy.lock() {
            o.total = o.total.saturating_sub(1);
            if let Some(n) = o.per_uid.get_mut(&self.uid) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    o.per_uid.remove(&self.uid);
                }
            }
        }
    }
}

/// Take a slot for a connection of `uid`, or say why not.
fn take_slot(occupancy: &Arc<Mutex<Occupancy>>, uid: u32, per_uid: usize) -> Result<Slot, String> {
    let mut o = occupancy
        .lock()
        .map_err(|_| "connection table unavailable".to_string())?;
    if o.total >= MAX_CONNECTIONS {
        return Err(format!(
            "too many API connections ({MAX_CONNECTIONS}); try again later"
        ));
    }
    let mine = o.per_uid.get(&uid).copied().unwrap_or(0);
    if mine >= per_uid {
        return Err(format!(
            "too many API connections from uid {uid} ({per_uid}, api-connections-per-uid); close some and try again"
        ));
    }
    o.total += 1;
    *o.per_uid.entry(uid).or_default() += 1;
    Ok(Slot {
        occupancy: occupancy.clone(),
        uid,
    })
}

/// Rate limit of the refused-peer log.
#[derive(Debug)]
struct RefusalLog {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
}

impl RefusalLog {
    /// Whether to log this refusal; returns the number suppressed since the last summary
    /// when a new window opens.
    fn admit(&mut self, now: Instant) -> (bool, u64) {
        let mut summary = 0;
        if now.duration_since(self.window_start) >= REFUSAL_LOG_WINDOW {
            summary = std::mem::take(&mut self.suppressed);
            self.window_start = now;
            self.logged = 0;
        }
        if self.logged < REFUSAL_LOG_BURST {
            self.logged += 1;
            (true, summary)
        } else {
            self.suppressed += 1;
            (false, summary)
        }
    }
}

/// What the accept loop hands each connection.
#[derive(Clone)]
struct Limits {
    idle: Duration,
    refusals: Arc<Mutex<RefusalLog>>,
}

/// Accept connections until `stop` turns true.
pub async fn serve(listener: UnixListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let occupancy = Arc::new(Mutex::new(Occupancy::default()));
    let limits = Limits {
        idle: shared.api_idle_timeout,
        refusals: Arc::new(Mutex::new(RefusalLog {
            window_start: Instant::now(),
            logged: 0,
            suppressed: 0,
        })),
    };
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let peer = peer_of(&stream);
                let uid = peer.map_or(u32::MAX, |p| p.uid);
                let slot = take_slot(&occupancy, uid, shared.api_connections_per_uid);
                let shared = shared.clone();
                let stop = stop.clone();
                let limits = limits.clone();
                tokio::spawn(async move {
                    match slot {
                        Ok(slot) => {
                            connection(stream, peer, shared, stop, limits).await;
                            drop(slot);
                        }
                        Err(reason) => turn_away(stream, &shared, &limits, peer, reason).await,
                    }
                });
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Answer one error line (`unavailable` for a full table, `unauthorized` for a refused
/// peer) and close, without reading anything.
async fn turn_away(
    stream: UnixStream,
    shared: &Shared,
    limits: &Limits,
    peer: Option<PeerCred>,
    reason: String,
) {
    let code = ErrorCode::Unavailable;
    log_refusal(limits, peer, &reason);
    count_error(shared, code);
    let line = Response::failure(Value::Null, ApiError::new(code, reason)).to_line() + "\n";
    let (_, mut write) = stream.into_split();
    let _ = tokio::time::timeout(Duration::from_secs(1), write.write_all(line.as_bytes())).await;
    let _ = write.shutdown().await;
}

fn log_refusal(limits: &Limits, peer: Option<PeerCred>, reason: &str) {
    let (log, suppressed) = limits
        .refusals
        .lock()
        .map(|mut r| r.admit(Instant::now()))
        .unwrap_or((false, 0));
    if suppressed > 0 {
        tracing::warn!(
            suppressed,
            "refused API peers not logged in the last window"
        );
    }
    if log {
        tracing::warn!(?peer, "refused API peer: {reason}");
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

async fn connection(
    stream: UnixStream,
    peer: Option<PeerCred>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    limits: Limits,
) {
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
        log_refusal(&limits, peer, &reason);
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
    // Requests being answered and whether the connection subscribed: while either holds
    // the connection is not idle.
    let busy = Arc::new(AtomicUsize::new(0));
    loop {
        let mut line = Vec::new();
        let mut bounded = (&mut reader).take(MAX_LINE as u64 + 2);
        let idle = async {
            loop {
                tokio::time::sleep(limits.idle).await;
                if busy.load(Ordering::SeqCst) == 0 {
                    return;
                }
            }
        };
        let read = tokio::select! {
            read = bounded.read_until(b'\n', &mut line) => read,
            _ = stop.changed() => break,
            _ = idle => {
                tracing::debug!(?peer, "closing idle API connection");
                break;
            }
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
        handle_line(&line, &shared, &out, uid, &stop, &busy).await;
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
    busy: &Arc<AtomicUsize>,
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
            // A subscriber stays until it goes away: never idle.
            busy.fetch_add(1, Ordering::SeqCst);
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
            busy.fetch_add(1, Ordering::SeqCst);
            let busy = busy.clone();
            tokio::spawn(async move {
                let response = answer.await.unwrap_or_else(|_| {
                    Response::failure(
                        id,
                        ApiError::new(ErrorCode::Internal, "the fencer stopped before answering"),
                    )
                });
                send(&shared, &out, response).await;
                busy.fetch_sub(1, Ordering::SeqCst);
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
