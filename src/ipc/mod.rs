//! The one local IPC layer both Unix-socket services use: the fencer API
//! ([`crate::api`], served by [`crate::daemon::server`]) and the node daemon's control
//! socket ([`crate::node::control`]).
//!
//! A service is a [`Protocol`]: its typed request enum (tagged `"request": "<kind>"`),
//! the typed answer its client gets, its version and line limit. The layer does the rest,
//! once for every service:
//! - [`wire`]: the envelope. A request line is the request object plus `"v"` (optional,
//!   checked) and `"id"` (any JSON, echoed); a response line is
//!   `{"v":..,"id":..,"ok":true,"result":..}` or
//!   `{"v":..,"id":..,"ok":false,"error":{"code":"..","message":".."}}`.
//! - [`frame`]: newline framing with a maximum line length, async (server) and blocking
//!   (client).
//! - [`peercred`]: who may connect, from `SO_PEERCRED` (root, the daemon's user, a group).
//! - [`server`]: the accept loop: authorization, a connection cap in all and per user, an
//!   idle timeout, a rate-limited refusal log; requests go to the service's [`Handler`].
//! - [`client`]: the blocking typed client (`call`), with read and write time limits.
//!
//! [`Handler`]: server::Handler

use serde::de::DeserializeOwned;
use serde::Serialize;

pub mod client;
pub mod frame;
pub mod peercred;
pub mod server;
pub mod wire;

/// One service spoken over the layer.
pub trait Protocol: 'static {
    /// The requests, serialized as objects tagged `"request": "<kind>"`.
    type Request: Serialize + DeserializeOwned + Send + 'static;
    /// What a successful call gives the client (the response's `result`).
    type Answer: DeserializeOwned;
    /// The version in `"v"`; a request with another is refused (`unsupported-version`).
    const VERSION: u32;
    /// Longest request line the server accepts (bytes, newline excluded).
    const MAX_LINE: usize;
    /// Longest response or event line the client reads.
    const MAX_ANSWER: usize;
    /// The service's name in messages ("fencer", "node daemon").
    const SERVICE: &'static str;
    /// What to check when the socket cannot be reached (ends a connect error).
    const START_HINT: &'static str;
    /// Example request kinds for the "missing request" error.
    const EXAMPLES: &'static str;
}

#[cfg(test)]
mod tests;
