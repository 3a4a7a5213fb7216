//! `palisade web`: a read-only status page for people (nodes, quorum, resources and where
//! they run, fencing history with every attempt, fence devices with their health, and the
//! nodes that cannot be fenced), refreshed by itself.
//!
//! It is a client of both daemons' local sockets (the node daemon's control socket and the
//! fencer's API), so it needs no privilege beyond reading them, and the daemons serve no
//! HTML themselves; it is off unless started (`palisade-web.service`). It listens on
//! loopback by default; on any other address it refuses to start without a token
//! (`--token-file`), which every request must then carry (`Authorization: Bearer TOKEN`
//! or `?token=TOKEN`, kept across the page's own refreshes). HTTP is served by the one
//! server of the crate ([`crate::http`]).
//!
//! - [`page`]: the snapshot and its HTML (pure).
//!
//! Paths: `/` the page, `/status.json` the same snapshot as JSON.

pub mod page;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::protocol::{DevicesResult, HistoryResult, Request as FencerRequest};
use crate::exit::Exit;
use crate::fencer::history::HistoryQuery;
use crate::http::{Limits, Request, Response};
use crate::node::control::{Answer, Request as NodeRequest};
use page::{Snapshot, Source};

/// How long one daemon may take to answer the page.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);
/// Fencing operations shown.
const HISTORY_LIMIT: usize = 50;

/// What `palisade web` serves, and where.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The token every request must carry (required off loopback).
    pub token: Option<String>,
    /// The node daemon's control socket.
    pub node_socket: PathBuf,
    /// The fencer's API socket.
    pub fencer_socket: PathBuf,
    /// Seconds between the page's own reloads (0: never).
    pub refresh_s: u32,
}

/// Why `palisade web` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A non-loopback address without a token.
    #[error("{0} is not a loopback address: give --token-file (every request must then carry the token)")]
    TokenRequired(SocketAddr),
    /// The token file cannot be read, or is empty.
    #[error("token file {path}: {reason}")]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

impl WebError {
    /// The exit code of this failure.
    pub fn exit(&self) -> Exit {
        match self {
            WebError::TokenRequired(_) => Exit::Usage,
            WebError::Token { .. } => Exit::Config,
            WebError::Listen { .. } => Exit::Daemon,
        }
    }
}

/// Read a token file: its first line, trimmed; an empty token is refused.
pub fn read_token(path: &Path) -> Result<String, WebError> {
    let text = std::fs::read_to_string(path).map_err(|e| WebError::Token {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let token = text.lines().next().unwrap_or_default().trim().to_string();
    if token.len() < 16 {
        return Err(WebError::Token {
            path: path.to_path_buf(),
            reason: "the token must be at least 16 characters".into(),
        });
    }
    Ok(token)
}

/// Whether the configuration may start: a token is required off loopback.
pub fn check(config: &WebConfig) -> Result<(), WebError> {
    if !config.listen.ip().is_loopback() && config.token.is_none() {
        return Err(WebError::TokenRequired(config.listen));
    }
    Ok(())
}

/// Compare without an early exit, so the time taken does not tell how much matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether `request` carries `token` (always, when none is configured).
pub fn authorized(request: &Request, token: Option<&str>) -> bool {
    let Some(token) = token else {
        return true;
    };
    let bearer = request
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "));
    let query = request.query.get("token").map(String::as_str);
    bearer.is_some_and(|t| same(t.trim(), token)) || query.is_some_and(|t| same(t, token))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn unavailable<T>(e: &crate::api::client::ClientError) -> Source<T> {
    Source::Unavailable(e.to_string())
}

/// Ask both daemons (each source may be unavailable on its own).
pub fn snapshot(config: &WebConfig) -> Snapshot {
    let cluster = crate::node::control::Client::connect(&config.node_socket, Some(ASK_TIMEOUT))
        .and_then(|mut c| c.call(&NodeRequest::Status {}));
    let cluster = match cluster {
        Ok(Answer::Status(status)) => Source::Answer(status),
        Ok(other) => Source::Unavailable(format!("unexpected answer {other:?}")),
        Err(e) => Source::Unavailable(e.to_string()),
    };
    let (history, devices, targets) =
        match crate::api::client::Client::connect(&config.fencer_socket, Some(ASK_TIMEOUT)) {
            Ok(mut fencer) => {
                let history = fencer
                    .call_as::<HistoryResult>(&FencerRequest::History(HistoryQuery {
                        limit: Some(HISTORY_LIMIT),
                        ..HistoryQuery::default()
                    }))
                    .map(|h| h.entries);
                let (devices, targets) =
                    match fencer.call_as::<DevicesResult>(&FencerRequest::Devices {}) {
                        Ok(d) => (Source::Answer(d.devices), Source::Answer(d.targets)),
                        Err(e) => (unavailable(&e), unavailable(&e)),
                    };
                (
                    history.map_or_else(|e| unavailable(&e), Source::Answer),
                    devices,
                    targets,
                )
            }
            Err(e) => (unavailable(&e), unavailable(&e), unavailable(&e)),
        };
    Snapshot {
        taken_ms: now_ms(),
        cluster,
        history,
        devices,
        targets,
    }
}

/// The answer to one request.
pub fn answer(config: &WebConfig, request: &Request) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        return Response::text(405, "only GET is served here\n");
    }
    if !authorized(request, config.token.as_deref()) {
        let mut r = Response::text(
            401,
            "a token is required (Authorization: Bearer or ?token=)\n",
        );
        r.headers.push((
            "WWW-Authenticate".into(),
            "Bearer realm=\"palisade\"".into(),
        ));
        return r;
    }
    let mut response = match request.path.as_str() {
        "/" | "/index.html" => Response::new(
            200,
            "text/html; charset=utf-8",
            page::render(&snapshot(config), config.refresh_s),
        ),
        "/status.json" => match serde_json::to_vec(&snapshot(config)) {
            Ok(body) => Response::new(200, "application/json", body),
            Err(e) => Response::text(500, format!("{e}\n")),
        },
        _ => Response::text(404, "not found: try / or /status.json\n"),
    };
    // A read-only page: never framed by another site, never cached, no referrer leak of
    // a token in the address.
    for (name, value) in [
        ("Cache-Control", "no-store"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        (
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'",
        ),
    ] {
        response.headers.push((name.into(), value.into()));
    }
    response
}

/// Serve the page until SIGTERM or SIGINT.
pub fn run(config: WebConfig) -> Result<(), WebError> {
    check(&config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(8)
        .build()
        .map_err(|source| WebError::Listen {
            addr: config.listen,
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| WebError::Listen {
                addr: config.listen,
                source,
            })?;
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            let _ = stop_tx.send(true);
        });
        let _ = crate::systemd::notify(&[
            crate::systemd::State::Ready,
            crate::systemd::State::Status(format!("serving http://{}/", config.listen)),
        ]);
        eprintln!("palisade web: serving http://{}/", config.listen);
        let config = Arc::new(config);
        let handler = Arc::new(move |request: &Request| answer(&config, request));
        crate::http::serve(listener, Limits::default(), handler, || {}, stop).await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn request(path: &str, query: &[(&str, &str)], headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn config(listen: &str, token: Option<&str>) -> WebConfig {
        WebConfig {
            listen: listen.parse().unwrap(),
            token: token.map(str::to_string),
            node_socket: "/nonexistent/node.sock".into(),
            fencer_socket: "/nonexistent/fencer.sock".into(),
            refresh_s: 5,
        }
    }

    #[test]
    fn off_loopback_a_token_is_required() {
        assert!(check(&config("127.0.0.1:7410", None)).is_ok());
        assert!(check(&config("[::1]:7410", None)).is_ok());
        assert!(matches!(
            check(&config("0.0.0.0:7410", None)),
            Err(WebError::TokenRequired(_))
        ));
        assert!(check(&config("0.0.0.0:7410", Some("0123456789abcdef"))).is_ok());
    }

    #[test]
    fn the_token_comes_as_bearer_or_query() {
        let t = Some("0123456789abcdef");
        assert!(authorized(&request("/", &[], &[]), None));
        assert!(!authorized(&request("/", &[], &[]), t));
        assert!(authorized(
            &request("/", &[], &[("authorization", "Bearer 0123456789abcdef")]),
            t
        ));
        assert!(authorized(
            &request("/", &[("token", "0123456789abcdef")], &[]),
            t
        ));
        assert!(!authorized(
            &request("/", &[("token", "0123456789abcdeX")], &[]),
            t
        ));
        assert!(!authorized(&request("/", &[("token", "0123")], &[]), t));
    }

    #[test]
    fn answers_without_daemons_show_why() {
        let c = config("127.0.0.1:7410", Some("0123456789abcdef"));
        assert_eq!(answer(&c, &request("/", &[], &[])).status, 401);
        let ok = request("/status.json", &[("token", "0123456789abcdef")], &[]);
        let r = answer(&c, &ok);
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert!(v["cluster"]["unavailable"].is_string(), "{v}");
        assert!(v["devices"]["unavailable"].is_string(), "{v}");
        assert_eq!(
            answer(&c, &request("/nope", &[("token", "0123456789abcdef")], &[])).status,
            404
        );
    }

    #[test]
    fn short_or_missing_tokens_are_refused() {
        let dir = std::env::temp_dir().join(format!("palisade-web-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let short = dir.join("short");
        std::fs::write(&short, "abc\n").unwrap();
        assert!(matches!(read_token(&short), Err(WebError::Token { .. })));
        let good = dir.join("good");
        std::fs::write(&good, "0123456789abcdef0123\nignored\n").unwrap();
        assert_eq!(read_token(&good).unwrap(), "0123456789abcdef0123");
        assert!(read_token(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
