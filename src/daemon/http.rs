//! The metrics listener: `GET /metrics` in the Prometheus text format on a loopback
//! address (everything else: 404), served by the shared HTTP server ([`crate::http`]:
//! bounded heads, at most 64 connections at once, the rest closed and counted in
//! `palisade_metrics_connections_turned_away_total`).

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::Shared;
use crate::http::{Limits, Request, Response};

/// Most metrics connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// The answer to one request.
fn answer(shared: &Shared, request: &Request) -> Response {
    match (request.method.as_str(), request.path.as_str()) {
        ("GET" | "HEAD", "/metrics") => {
            Response::new(200, "text/plain; version=0.0.4", shared.render_metrics())
        }
        _ => Response::text(404, "only GET /metrics is served here\n"),
    }
}

/// Serve until `stop` turns true.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let limits = Limits {
        max_connections: MAX_CONNECTIONS,
        ..Limits::default()
    };
    let counter = shared.clone();
    let turned_away = move || {
        if let Ok(mut m) = counter.metrics.lock() {
            m.metrics_turned_away();
        }
    };
    let handler = Arc::new(move |request: &Request| answer(&shared, request));
    crate::http::serve(listener, limits, handler, turned_away, stop).await;
}
