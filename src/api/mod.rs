//! The fencer's API: a versioned JSON-lines protocol on a Unix socket, spoken over the
//! IPC layer ([`crate::ipc`]: framing, envelope, peer credentials, server loop, client).
//!
//! - [`protocol`]: requests, results, events of version 1 ([`protocol::FencerApi`]).
//! - [`client`]: the blocking client the CLI and `palisade node` use.
//!
//! The service's handler lives in [`crate::daemon::server`].
pub mod client;
pub mod protocol;
