//! `palisade node`: the cluster node daemon that drives the pure cluster core
//! ([`crate::cluster`]) — heartbeats over UDP on one or two rings, quorum, fence before
//! failover, OCF resources — and prints a timeline of what it detects and decides.
//!
//! Module map:
//! - [`config`]: the TOML configuration (pure parse and validation).
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
//! - [`timeline`]: one line per event.
//! - [`tiebreak`]: the quorum tie-breakers of an exact half: [`ping`] targets and the
//!   sbd disk claim ([`tiebreak_disk`]).
//! - [`runner`]: the main loop joining them.
//!
//! Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad command line, 3 bad configuration,
//! 7 start-up failure, 20 fenced by a peer (resources stopped), 21 self-fence recorded by
//! the test executor, 1 a self-fence that did not happen.

pub mod admin;
pub mod agent_class;
pub mod agent_exec;
pub mod attributes;
pub mod cluster_state;
pub mod config;
pub mod control;
pub mod fencing;
pub mod heartbeat;
pub mod multicast;
pub mod operations;
pub mod peers;
pub mod ping;
pub mod report;
mod resource_actor;
pub mod resources;
pub mod runner;
pub mod status;
pub mod tiebreak;
pub mod tiebreak_disk;
pub mod timeline;
pub mod transition;

use std::path::PathBuf;
use std::process::ExitCode;

use runner::Ending;

const USAGE: &str = "\
usage: palisade node --config FILE [--node NAME] [--check]
       palisade node standby|online|maintenance|ready [NODE] [--socket PATH]

  --config FILE   cluster configuration (TOML; see docs/cluster.md)
  --node NAME     this node's name (overrides [cluster] node)
  --check         validate the configuration and exit";

/// Exit code: fenced by a peer.
pub const EXIT_FENCED: u8 = 20;
/// Exit code: self-fence recorded by the test executor.
pub const EXIT_SELF_FENCED: u8 = 21;

struct Args {
    config: PathBuf,
    node: Option<String>,
    check: bool,
}

fn parse_args(words: &[String]) -> Result<Args, String> {
    let mut config = None;
    let mut node = None;
    let mut check = false;
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (w.as_str(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag {
            "--config" | "-c" => config = Some(PathBuf::from(value("--config")?)),
            "--node" | "-n" => node = Some(value("--node")?),
            "--check" => check = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(Args {
        config: config.ok_or("--config FILE is required")?,
        node,
        check,
    })
}

/// Entry point of `palisade node` (`words` after the subcommand): the daemon, or the
/// admin subcommands `standby` / `online` / `maintenance` / `ready` (which talk to a
/// running daemon).
pub fn main(words: &[String]) -> ExitCode {
    if matches!(
        words.first().map(String::as_str),
        Some("standby" | "online" | "maintenance" | "ready")
    ) {
        return crate::cli::node_admin(words).into();
    }
    let args = match parse_args(words) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("palisade node: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let cfg = match config::load(&args.config, args.node.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("palisade node: configuration error: {e}");
            return ExitCode::from(3);
        }
    };
    if args.check {
        println!(
            "configuration ok: cluster {}, this node {} (id {}), {} node(s), {} ring(s), {} resource(s)",
            cfg.cluster_id,
            cfg.name_of(cfg.me),
            cfg.me,
            cfg.nodes.len(),
            cfg.rings(),
            cfg.resources.len()
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("palisade node: cannot start the runtime: {e}");
            return ExitCode::from(7);
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
        runner::run(cfg, forbid, stop).await
    });
    match result {
        Ok(Ending::Stopped) => ExitCode::SUCCESS,
        Ok(Ending::FencedByPeer) => ExitCode::from(EXIT_FENCED),
        Ok(Ending::SelfFenced) => ExitCode::from(EXIT_SELF_FENCED),
        Ok(Ending::SelfFenceFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("palisade node: {e}");
            ExitCode::from(7)
        }
    }
}
