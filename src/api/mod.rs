//! The fencer's API: a versioned JSON-lines protocol on a Unix socket, peer credential
//! checks, the server side (accept loop, per-connection tasks) and the client the CLI uses.
//!
//! - [`protocol`]: requests, responses, events; strict pure parsing (version 1).
//! - [`peercred`]: who may talk to the daemon (root, the daemon's user, a configured group).
//! - [`client`]: the blocking client the CLI uses.
//!
//! The server side lives in [`crate::daemon::server`].
pub mod client;
pub mod peercred;
pub mod protocol;
