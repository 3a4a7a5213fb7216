//! palisade: the daemon and CLI of a fencing (STONITH) subsystem for Linux HA clusters.
//!
//! The fence agents themselves live in the `fence-agents` crate. Module map:
//! - [`check`]: `palisade check`: the stack's timing model and the rules between its
//!   timeouts (pure).
//! - [`cluster`]: membership, quorum and fence-before-failover decisions (pure).
//! - [`fencer`]: devices, topology, the fencing state machine, agent executor, history.
//! - [`ipc`]: the local IPC layer of both sockets: JSON lines, versioned envelope, peer
//!   credentials, connection limits, server loop, typed blocking client.
//! - [`api`]: the fencer API over [`ipc`]: requests, results, events (version 1).
//! - [`daemon`]: `palisade daemon`: fencer core task, API handler, journal, metrics.
//! - [`cli`]: the `palisade` command line (daemon, stonith_admin-like tasks).
//! - [`exit`]: the command's exit codes, in one place.
//! - [`http`]: the one small HTTP/1.0 server (metrics, the status page): bounded heads,
//!   capped connections.
//! - [`placement`]: where resources run: scores, constraints, ordered actions, explanations (pure).
//! - [`import`]: heartbeat ha.cf / haresources / authkeys converted to our TOML model (pure).
//! - [`node`]: `palisade node`: the cluster node daemon (heartbeats, quorum, fencing, resources).
//! - [`process`]: the one process runner: every agent (fence or resource) runs through it.
//! - [`web`]: `palisade web`, the read-only status page (a client of both daemons).
//! - [`systemd`]: sd_notify for `Type=notify` units (ready, status, watchdog, stopping).
pub mod api;
pub mod check;
pub mod cli;
pub mod cluster;
pub mod daemon;
pub mod exit;
pub mod fencer;
pub mod http;
pub mod import;
pub mod ipc;
pub mod node;
pub mod placement;
pub mod process;
pub mod systemd;
pub mod web;
