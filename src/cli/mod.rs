//! The `palisade` command line: one clap definition of every command, and the code that
//! runs each. `daemon` and `node` start the fencer and the cluster node daemon; the
//! `stonith_admin`-like commands talk to a running fencer; the cluster admin commands
//! talk to the local node daemon; `validate`, `metadata` and `import` work alone. Every
//! command prints readable text, or the daemon's JSON with `--json`; every exit code
//! comes from [`crate::exit::Exit`] (a usage error is [`Exit::Usage`], with clap's message
//! on stderr; `--help` and `--version` print on stdout and exit 0).
//!
//! Module map:
//! - [`definition`]: the commands, options and value parsers (clap derive): the only
//!   parser of the binary's command line.
//! - [`fencer`]: `fence`, `unfence`, `query`, `devices`, `levels`, `register`,
//!   `unregister`, `history`, `events`, `metrics` (the fencer API client);
//!   [`show`] prints their answers.
//! - [`cluster`]: `status`, `resource ...`, `explain`, `maintenance on|off` and
//!   `node standby|online|maintenance|ready` (the node daemon's control socket).
//! - [`local`]: `daemon`, `validate`, `metadata` (no running daemon needed).
//! - [`check`]: `check` (the timing model of the whole stack, [`crate::check`]).
//! - [`import`]: `import` (heartbeat v1 files to a node configuration).
//! - [`generate`]: the hidden `generate completions SHELL` and `generate man DIR`, for
//!   packaging.

pub mod check;
pub mod cluster;
pub mod definition;
pub mod fencer;
pub mod generate;
pub mod import;
pub mod local;
pub mod show;

#[cfg(test)]
mod parse_tests;

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::Parser;

use crate::exit::Exit;
use definition::{Cli, Command, NodeArgs};

pub use fencer::DEFAULT_SOCKET;

/// Run the command line `argv` (the program name first).
pub fn main<I>(argv: I) -> Exit
where
    I: IntoIterator,
    I::Item: Into<OsString> + Clone,
{
    match Cli::try_parse_from(argv) {
        Ok(cli) => run(cli),
        Err(e) => clap_exit(&e),
    }
}

/// Print a clap error (or help, or version) and say how to exit: help and version are
/// [`Exit::Success`] on stdout, the rest [`Exit::Usage`] on stderr.
pub fn clap_exit(e: &clap::Error) -> Exit {
    let _ = e.print();
    if e.use_stderr() {
        Exit::Usage
    } else {
        Exit::Success
    }
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> Exit {
    let socket = cli.socket.as_deref();
    match &cli.command {
        Command::Daemon(args) => local::daemon(args, socket),
        Command::Validate(args) => local::validate(args),
        Command::Check(args) => check::run(args, cli.json),
        Command::Metadata(args) => local::metadata(args),
        Command::Import(args) => import::run(args),
        Command::Node(args) => node(args, &cli),
        Command::Status
        | Command::Resource { .. }
        | Command::Explain(_)
        | Command::Maintenance { .. } => cluster::run(&cli.command, socket, cli.json),
        Command::Web(args) => web(args),
        Command::Generate { what } => generate::run(what),
        Command::Version => {
            println!("palisade {}", env!("CARGO_PKG_VERSION"));
            Exit::Success
        }
        Command::Fence(_)
        | Command::Unfence(_)
        | Command::Query(_)
        | Command::Devices
        | Command::Levels
        | Command::Register(_)
        | Command::Unregister(_)
        | Command::History(_)
        | Command::Events(_)
        | Command::Metrics => fencer::run(&fencer::socket(socket), &cli.command, cli.json),
    }
}

/// `palisade web`: serve the status page until SIGTERM or SIGINT.
fn web(args: &definition::WebArgs) -> Exit {
    let token = match args.token_file.as_deref().map(crate::web::read_token) {
        Some(Ok(token)) => Some(token),
        Some(Err(e)) => {
            eprintln!("palisade web: {e}");
            return e.exit();
        }
        None => None,
    };
    let config = crate::web::WebConfig {
        listen: args.listen,
        token,
        node_socket: cluster::socket(args.node_socket.as_deref()),
        fencer_socket: fencer::socket(args.fencer_socket.as_deref()),
        refresh_s: args.refresh,
    };
    match crate::web::run(config) {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("palisade web: {e}");
            e.exit()
        }
    }
}

/// `palisade node`: an admin subcommand, or the node daemon.
fn node(args: &NodeArgs, cli: &Cli) -> Exit {
    if let Some(admin) = &args.admin {
        return cluster::node_admin(admin, cli.socket.as_deref(), cli.json);
    }
    let Some(config) = &args.config else {
        return clap_exit(&definition::usage_error(
            &["node"],
            ErrorKind::MissingRequiredArgument,
            "--config FILE is required",
        ));
    };
    if cli.socket.is_some() {
        return clap_exit(&definition::usage_error(
            &["node"],
            ErrorKind::ArgumentConflict,
            "--socket is for the admin subcommands; the daemon's control socket is set in its configuration",
        ));
    }
    crate::node::run_daemon(config, args.node.as_deref(), args.check)
}

/// How long the CLI waits for a daemon (fencer or node) to take a request and answer one
/// that is not a fence or query: 15 s, or `$PALISADE_ANSWER_WAIT` seconds.
fn answer_wait_base() -> std::time::Duration {
    const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(15);
    std::env::var("PALISADE_ANSWER_WAIT")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .filter(|s| *s > 0)
        .map_or(ANSWER_WAIT, std::time::Duration::from_secs)
}
