//! The server side of the layer: an accept loop over a Unix listener the caller provides
//! (and a stop signal it controls), one task per connection, requests handed to the
//! service's [`Handler`].
//!
//! Each connection is checked with `SO_PEERCRED` first; an unauthorised peer gets one
//! `unauthorized` line and is disconnected. Requests are read as bounded lines
//! ([`Protocol::MAX_LINE`]); a malformed one gets an error response and the connection
//! stays usable, an over-long one gets `bad-request` and the connection is closed. A
//! handler may answer out of order (a long request does not block others); `id` ties
//! answers to requests. Every response goes out stamped with [`Protocol::VERSION`].
//!
//! No client can lock the others out: the accept loop never waits for a free slot (a
//! connection beyond [`Limits::max_connections`] or beyond [`Limits::per_uid`] for its
//! user gets one `unavailable` line and is closed), and a connection with nothing in
//! flight ([`Conn::busy`]) that sends nothing for [`Limits::idle`] is closed. Refused
//! peers are logged at most [`REFUSAL_LOG_BURST`] times per [`REFUSAL_LOG_WINDOW`] (the
//! handler's [`Handler::refused`] and [`Handler::error`] count them all).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

use super::frame::{read_frame, Frame};
use super::peercred::{authorize, supplementary_groups, AccessPolicy, PeerCred};
use super::wire::{parse_request, ApiError, ErrorCode, Response};
use super::Protocol;

/// Most connections served at once, by default.
pub const MAX_CONNECTIONS: usize = 1024;
/// Refused peers logged per window (the rest are counted and summarised).
pub const REFUSAL_LOG_BURST: u32 = 10;
/// The refusal log window.
pub const REFUSAL_LOG_WINDOW: Duration = Duration::from_secs(60);
/// Lines queued for one connection's writer.
const QUEUE: usize = 1024;

/// A service's side of the server.
pub trait Handler: Send + Sync + Sized + 'static {
    /// The protocol served.
    type Protocol: Protocol;

    /// Answer one request from `conn` (with [`Conn::reply`], now or from a task).
    /// The next request of the connection is read when this returns.
    fn handle(
        &self,
        conn: &Conn<Self>,
        id: Value,
        request: <Self::Protocol as Protocol>::Request,
    ) -> impl Future<Output = ()> + Send;

    /// A peer was refused (not authorized).
    fn refused(&self) {}

    /// An error response goes out (for metrics).
    fn error(&self, _code: ErrorCode) {}
}

/// What the server enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Who may connect.
    pub policy: AccessPolicy,
    /// A connection with nothing in flight that sends nothing this long is closed.
    pub idle: Duration,
    /// Most connections one user may hold at once.
    pub per_uid: usize,
    /// Most connections in all.
    pub max_connections: usize,
}

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
fn take_slot(occupancy: &Arc<Mutex<Occupancy>>, uid: u32, limits: &Limits) -> Result<Slot, String> {
    let service = limits.policy.service;
    let mut o = occupancy
        .lock()
        .map_err(|_| "connection table unavailable".to_string())?;
    if o.total >= limits.max_connections {
        return Err(format!(
            "too many connections to the {service} ({}); try again later",
            limits.max_connections
        ));
    }
    let mine = o.per_uid.get(&uid).copied().unwrap_or(0);
    if mine >= limits.per_uid {
        return Err(format!(
            "too many connections to the {service} from uid {uid} ({}); close some and try again",
            limits.per_uid
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

/// What every connection task shares.
struct Common<H> {
    handler: Arc<H>,
    limits: Limits,
    refusals: Mutex<RefusalLog>,
}

impl<H: Handler> Common<H> {
    fn log_refusal(&self, peer: Option<PeerCred>, reason: &str) {
        let (log, suppressed) = self
            .refusals
            .lock()
            .map(|mut r| r.admit(Instant::now()))
            .unwrap_or((false, 0));
        let service = self.limits.policy.service;
        if suppressed > 0 {
            tracing::warn!(
                suppressed,
                "refused {service} peers not logged in the last window"
            );
        }
        if log {
            tracing::warn!(?peer, "refused {service} peer: {reason}");
        }
    }
}

/// One connection as a handler sees it: where answers go. Clones share the connection
/// (a task answering later holds one).
pub struct Conn<H: Handler> {
    out: mpsc::Sender<String>,
    busy: Arc<AtomicUsize>,
    stop: watch::Receiver<bool>,
    peer: PeerCred,
    handler: Arc<H>,
}

impl<H: Handler> Clone for Conn<H> {
    fn clone(&self) -> Self {
        Conn {
            out: self.out.clone(),
            busy: self.busy.clone(),
            stop: self.stop.clone(),
            peer: self.peer,
            handler: self.handler.clone(),
        }
    }
}

/// While held, the connection is not idle (a request in flight, a subscription).
pub struct Busy(Arc<AtomicUsize>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<H: Handler> Conn<H> {
    /// The peer's credentials.
    pub fn peer(&self) -> PeerCred {
        self.peer
    }

    /// The service's handler.
    pub fn handler(&self) -> &Arc<H> {
        &self.handler
    }

    /// The server's stop signal (turns true, or its sender goes, at shutdown).
    pub fn stop(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Mark the connection busy until the guard drops.
    pub fn busy(&self) -> Busy {
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.busy.clone())
    }

    /// Send a response (stamped with the service's version); false if the connection is gone.
    pub async fn reply(&self, mut response: Response) -> bool {
        response.v = H::Protocol::VERSION;
        if let Some(e) = &response.error {
            self.handler.error(e.code);
        }
        self.out.send(response.to_line()).await.is_ok()
    }

    /// Send another line (an event); false if the connection is gone.
    pub async fn send_line(&self, line: String) -> bool {
        self.out.send(line).await.is_ok()
    }

    /// Completes when the connection's writer is gone.
    pub async fn closed(&self) {
        self.out.closed().await;
    }
}

/// Accept connections on `listener` until `stop` turns true (or its sender goes).
pub async fn serve<H: Handler>(
    listener: UnixListener,
    handler: Arc<H>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let occupancy = Arc::new(Mutex::new(Occupancy::default()));
    let common = Arc::new(Common {
        handler,
        limits,
        refusals: Mutex::new(RefusalLog {
            window_start: Instant::now(),
            logged: 0,
            suppressed: 0,
        }),
    });
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        match accepted {
            Ok((stream, _)) => {
                let peer = peer_of(&stream);
                let uid = peer.map_or(u32::MAX, |p| p.uid);
                let slot = take_slot(&occupancy, uid, &common.limits);
                let common = common.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    match slot {
                        Ok(slot) => {
                            connection(stream, peer, common, stop).await;
                            drop(slot);
                        }
                        Err(reason) => turn_away(stream, &common, peer, reason).await,
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

/// Answer one `unavailable` line and close, without reading anything.
async fn turn_away<H: Handler>(
    stream: UnixStream,
    common: &Common<H>,
    peer: Option<PeerCred>,
    reason: String,
) {
    let code = ErrorCode::Unavailable;
    common.log_refusal(peer, &reason);
    common.handler.error(code);
    let mut response = Response::failure(Value::Null, ApiError::new(code, reason));
    response.v = H::Protocol::VERSION;
    let line = response.to_line() + "\n";
    let (_, mut write) = stream.into_split();
    let _ = tokio::time::timeout(Duration::from_secs(1), write.write_all(line.as_bytes())).await;
    let _ = write.shutdown().await;
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

/// Whether `peer` may connect: None, or why not.
fn refusal(peer: Option<&PeerCred>, policy: &AccessPolicy) -> Option<String> {
    match peer {
        None => Some("cannot read the peer's credentials (SO_PEERCRED)".to_string()),
        Some(p) => authorize(p, &supplementary_groups(p.pid), policy)
            .err()
            .map(|r| r.to_string()),
    }
}

async fn connection<H: Handler>(
    stream: UnixStream,
    peer: Option<PeerCred>,
    common: Arc<Common<H>>,
    mut stop: watch::Receiver<bool>,
) {
    let (read, write) = stream.into_split();
    let (out, lines) = mpsc::channel::<String>(QUEUE);
    let writer = tokio::spawn(write_lines(write, lines));
    let refused = refusal(peer.as_ref(), &common.limits.policy);
    let (Some(peer), None) = (peer, refused.clone()) else {
        let reason = refused.unwrap_or_default();
        common.log_refusal(peer, &reason);
        common.handler.refused();
        let mut response =
            Response::failure(Value::Null, ApiError::new(ErrorCode::Unauthorized, reason));
        response.v = H::Protocol::VERSION;
        let _ = out.send(response.to_line()).await;
        drop(out);
        let _ = writer.await;
        return;
    };
    let conn = Conn {
        out,
        busy: Arc::new(AtomicUsize::new(0)),
        stop: stop.clone(),
        peer,
        handler: common.handler.clone(),
    };
    let max = H::Protocol::MAX_LINE;
    let mut reader = BufReader::new(read);
    loop {
        let idle = async {
            loop {
                tokio::time::sleep(common.limits.idle).await;
                if conn.busy.load(Ordering::SeqCst) == 0 {
                    return;
                }
            }
        };
        let frame = tokio::select! {
            frame = read_frame(&mut reader, max) => frame,
            _ = stop.changed() => break,
            _ = idle => {
                tracing::debug!(?peer, "closing idle {} connection", common.limits.policy.service);
                break;
            }
        };
        let line = match frame {
            Ok(Frame::Line(line)) => line,
            Ok(Frame::Eof) | Err(_) => break,
            Ok(Frame::TooLong) => {
                let error = ApiError::new(
                    ErrorCode::BadRequest,
                    format!("request line longer than {max} bytes; closing"),
                );
                conn.reply(Response::failure(Value::Null, error)).await;
                break;
            }
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_request::<H::Protocol>(&line) {
            Ok((id, request)) => common.handler.handle(&conn, id, request).await,
            Err(rejected) => {
                tracing::debug!("bad request: {}", rejected.error.message);
                conn.reply(Response::failure(rejected.id, rejected.error))
                    .await;
            }
        }
    }
}
