//! `palisade node`: the cluster node daemon that drives the pure cluster core
//! ([`crate::cluster`]) — heartbeats over UDP on one or two rings, quorum, fence before
//! failover, OCF resources — and prints a timeline of what it detects and decides.
//!
//! Module map:
//! - [`config`]: the TOML configuration (pure parse and validation).
//! - [`machine`]: the node machine, pure: membership, the view and its agreement,
//!   quorum, fencing decisions, no-quorum-policy.
//! - [`report`]: the status report datagram (resources running, nodes fenced), HMAC'd.
//! - [`peers`]: the peer book: view gating, fenced incarnations (pure).
//! - [`heartbeat`]: UDP sockets per ring, send and authenticated receive;
//!   [`multicast`] sets up a multicast ring's sockets.
//! - [`resources`]: the OCF agent runner and per-resource actors (monitor, restart);
//!   [`operations`]: per-operation timeouts, monitors by role, clone instances;
//!   [`attributes`]: the `crm_attribute --promotion` shim agents report scores with.
//! - [`agent_class`]: LSB init scripts and systemd units: commands and exit codes (pure);
//!   [`agent_exec`] runs programs and operations of every class.
//! - [`fencing`]: fence requests (fencer API or the node's agent directly), self-fence.
//! - [`events`]: the typed events of the timeline (its text and its JSON records);
//!   [`timeline`]: one line per event, and the JSON lines of `[cluster] events`.
//! - [`tie_breaker`]: the quorum tie-breakers of an exact half: ping targets and the
//!   sbd disk claim.
//! - [`driver`]: the I/O driver, the main loop joining them.
//! - [`control`]: the control socket of `palisade status` & co, a service of the IPC
//!   layer ([`crate::ipc`]): typed requests and answers; [`admin`]: the replicated admin
//!   table its admin commands write; [`status`]: the status snapshot.
//!
//! Exit codes ([`crate::exit::Exit`]): 0 stopped by SIGTERM/SIGINT, 2 bad command line,
//! 3 bad configuration, 7 start-up failure, 20 fenced by a peer (resources stopped),
//! 21 self-fence recorded by the test executor, 1 a self-fence that did not happen.

pub mod admin;
pub mod agent_class;
pub mod agent_exec;
pub mod attributes;
pub mod cluster_state;
pub mod config;
pub mod control;
pub mod driver;
pub mod events;
pub mod fencing;
pub mod heartbeat;
pub mod machine;
pub mod multicast;
pub mod operations;
pub mod peers;
pub mod report;
mod resource_actor;
pub mod resources;
pub mod status;
pub mod tie_breaker;
pub mod timeline;
pub mod transition;

use std::path::Path;

use crate::exit::Exit;
use driver::Ending;

/// Run the node daemon on the configuration `config` (`node`: this node's name, over the
/// configuration's; `check`: validate and exit). The command line is parsed by
/// [`crate::cli`] (`palisade node --config FILE [--node NAME] [--check]`).
pub fn run_daemon(config: &Path, node: Option<&str>, check: bool) -> Exit {
    let cfg = match config::load(config, node) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("palisade node: configuration error: {e}");
            return Exit::Config;
        }
    };
    let timing = crate::check::node_config(&cfg, &config.display().to_string());
    if let Some(refusal) = timing.refusal() {
        eprintln!(
            "palisade node: the configuration's timeouts are unsafe (palisade check --node-config {} explains):\n{refusal}",
            config.display()
        );
        return Exit::Unsafe;
    }
    for w in timing.warnings() {
        eprintln!("palisade node: {w}");
    }
    if check {
        println!(
            "configuration ok: cluster {}, this node {} (id {}), {} node(s), {} ring(s), {} resource(s)",
            cfg.cluster_id,
            cfg.name_of(cfg.me),
            cfg.me,
            cfg.nodes.len(),
            cfg.rings(),
            cfg.resources.len()
        );
        return Exit::Success;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("palisade node: cannot start the runtime: {e}");
            return Exit::Daemon;
        }
    };
    crate::daemon::restrict_umask();
    let forbid = std::env::var_os(watchdog::FORBID_ENV).is_some();
    let result = runtime.block_on(async {
        let stop = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => std::future::pending::<()>().await,
            }
        };
        driver::run(cfg, forbid, stop).await
    });
    match result {
        Ok(Ending::Stopped) => Exit::Success,
        Ok(Ending::FencedByPeer) => Exit::FencedByPeer,
        Ok(Ending::SelfFenced) => Exit::SelfFenced,
        Ok(Ending::SelfFenceFailed) => Exit::SelfFenceFailed,
        Err(e) => {
            eprintln!("palisade node: {e}");
            Exit::Daemon
        }
    }
}
