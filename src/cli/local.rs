//! The commands that do not talk to a running daemon: `daemon` (start one), `validate`
//! (check a configuration file, or run an agent's `validate-all`) and `metadata` (an
//! agent's metadata XML), the last two running the agent as `stonith_admin` does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::definition::{DaemonArgs, MetadataArgs, ValidateArgs};
use crate::exit::Exit;
use crate::fencer::config::{parse_config, FencerConfig};
use crate::fencer::duration::format_duration;
use crate::fencer::executor::{resolve_agent, run_agent, Caller};
use crate::fencer::machine::AgentStatus;
use crate::fencer::plan::plan_level;

/// Time an admin task (`metadata`, `validate-all`) may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Read and parse a configuration file, reporting problems on stderr.
pub fn load_config(path: &Path) -> Result<FencerConfig, Exit> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        eprintln!("palisade: cannot read {}: {e}", path.display());
        Exit::Config
    })?;
    parse_config(&text).map_err(|e| {
        eprintln!("palisade: {}: {e}", path.display());
        Exit::Config
    })
}

fn init_logging() {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    let level = std::env::var("PALISADE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let filter = tracing_subscriber::filter::LevelFilter::from_level(level);
    // Under systemd with the output in the journal: structured entries instead of lines.
    if let Some(journal) = crate::systemd::SystemdJournal::open() {
        let _ = tracing_subscriber::registry()
            .with(crate::systemd::JournalLayer::new(journal, "palisade").with_filter(filter))
            .try_init();
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// The configuration `palisade daemon` runs without `--config`: the loopback demo of
/// scripts/demo.sh (a simulated BMC as level 1, a dummy PDU as level 2).
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// `palisade daemon [--config F]`: run until SIGTERM or SIGINT (`socket`: `--socket`,
/// which overrides the configuration's).
pub fn daemon(args: &DaemonArgs, socket: Option<&Path>) -> Exit {
    if args.show_default_config {
        print!("{DEFAULT_CONFIG}");
        return Exit::Success;
    }
    let mut config = match &args.config {
        Some(path) => match load_config(path) {
            Ok(c) => c,
            Err(exit) => return exit,
        },
        None => match parse_config(DEFAULT_CONFIG) {
            Ok(mut c) => {
                // Our own agents are built and installed beside the palisade binary.
                if let Some(dir) = std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(Path::to_path_buf))
                {
                    c.daemon.agent_dirs.insert(0, dir);
                }
                eprintln!(
                    "palisade daemon: no --config, using the embedded default \
                     (palisade daemon --show-default-config prints it)"
                );
                c
            }
            Err(e) => {
                eprintln!("palisade daemon: embedded default configuration: {e}");
                return Exit::Config;
            }
        },
    };
    if let Some(socket) = socket {
        config.daemon.socket = socket.to_path_buf();
    }
    let path = args.config.as_ref().map_or_else(
        || "embedded default".to_string(),
        |p| p.display().to_string(),
    );
    let timing = crate::check::fencer_config(&config, &path);
    if let Some(refusal) = timing.refusal() {
        eprintln!(
            "palisade daemon: refusing to start, the configuration's timeouts are unsafe \
             (palisade check --config {path} explains):\n{refusal}"
        );
        return Exit::Unsafe;
    }
    init_logging();
    for w in config.warnings.iter().chain(&timing.warnings()) {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("palisade daemon: cannot start the runtime: {e}");
            return Exit::Daemon;
        }
    };
    crate::daemon::restrict_umask();
    let result = runtime.block_on(async {
        let listener = crate::daemon::bind_socket(&config)?;
        crate::daemon::run(config, listener, shutdown_signal()).await
    });
    match result {
        Ok(()) => Exit::Success,
        Err(e) => {
            eprintln!("palisade daemon: {e}");
            Exit::Daemon
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// `palisade validate --config F` or `palisade validate --agent A [-o k=v]...` (the
/// definition makes them exclusive and requires one).
pub fn validate(args: &ValidateArgs) -> Exit {
    match (&args.config, &args.agent) {
        (Some(path), _) => validate_config(path),
        (None, Some(agent)) => run_admin(agent, "validate-all", &args.params, true),
        (None, None) => {
            eprintln!("palisade validate: give --config FILE or --agent AGENT [-o key=value]...");
            Exit::Usage
        }
    }
}

/// `palisade metadata --agent A`.
pub fn metadata(args: &MetadataArgs) -> Exit {
    run_admin(&args.agent, "metadata", &[], false)
}

fn validate_config(path: &Path) -> Exit {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let mut report = String::new();
    let mut warnings = config.warnings.clone();
    for device in &config.devices {
        if let Err(e) = resolve_agent(&device.agent, &config.daemon.agent_dirs) {
            warnings.push(format!("device {}: {e}", device.name));
        }
    }
    warnings.extend(timing_warnings(&config));
    warnings.extend(shadowed_levels(&config));
    let _ = writeln!(
        report,
        "{}: {} device(s), {} level(s), fencing-timeout {}",
        path.display(),
        config.devices.len(),
        config.levels.len(),
        format_duration(config.options.timeout)
    );
    for w in &warnings {
        let _ = writeln!(report, "warning: {w}");
    }
    print!("{report}");
    Exit::Success
}

/// Levels whose devices could need more time than `fencing-timeout` allows in total.
fn timing_warnings(config: &FencerConfig) -> Vec<String> {
    let Ok(topology) = config.topology() else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for (selector, levels) in topology.all() {
        let mut total = Duration::ZERO;
        let mut parts = Vec::new();
        for level in &levels {
            let planned = plan_level(level.index, &level.devices, config.options.action);
            let need: Duration = planned
                .steps
                .iter()
                .filter_map(|s| {
                    let device = config.devices.iter().find(|d| d.name == s.device)?;
                    Some(device.action(s.action).timeout)
                })
                .sum();
            total += need;
            parts.push(format!("level {}: {}", level.index, format_duration(need)));
        }
        if levels.len() > 1 && total > config.options.timeout {
            warnings.push(format!(
                "levels for {selector} may need up to {} ({}) but fencing-timeout is {}: \
                 later levels may not get their turn",
                format_duration(total),
                parts.join(", "),
                format_duration(config.options.timeout)
            ));
        }
    }
    warnings
}

/// Known nodes matched by more than one level selector: only the most specific applies
/// (name, then pattern, then attribute), which is easy to miss.
fn shadowed_levels(config: &FencerConfig) -> Vec<String> {
    let Ok(topology) = config.topology() else {
        return Vec::new();
    };
    let mut nodes: Vec<String> = config.nodes.keys().cloned().collect();
    for device in &config.devices {
        nodes.extend(device.host_list.iter().cloned());
        nodes.extend(device.host_map.nodes().map(str::to_string));
    }
    for level in &config.levels {
        if let crate::fencer::topology::TargetSelector::Name(n) = &level.selector {
            nodes.push(n.clone());
        }
    }
    nodes.sort_by_key(|n| n.to_ascii_lowercase());
    nodes.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    let mut warnings = Vec::new();
    for node in nodes {
        let matching = topology.selectors_matching(&node, &config.nodes);
        if matching.len() > 1 {
            let used = topology
                .levels_for(&node, &config.nodes)
                .map(|(s, _)| s.to_string())
                .unwrap_or_default();
            let all: Vec<String> = matching.iter().map(|s| s.to_string()).collect();
            warnings.push(format!(
                "{node} matches the levels of {}; only those of {used} apply (name, then pattern, then attribute)",
                all.join(" and ")
            ));
        }
    }
    warnings
}

fn run_admin(agent: &str, action: &str, params: &[(String, String)], show_stdout: bool) -> Exit {
    let dirs = [PathBuf::from("/usr/sbin")];
    let path = match resolve_agent(agent, &dirs) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("palisade: {e}");
            return Exit::Failed;
        }
    };
    let mut lines: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !k.starts_with("pcmk_") && k != "action")
        .cloned()
        .collect();
    lines.push(("action".to_string(), action.to_string()));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("palisade: cannot start the runtime: {e}");
            return Exit::Failed;
        }
    };
    let outcome = runtime.block_on(run_agent(
        &path,
        &lines,
        ADMIN_TIMEOUT,
        Caller::Admin,
        std::future::pending(),
    ));
    if show_stdout || outcome.status == AgentStatus::Exited(0) {
        print!("{}", outcome.stdout);
    }
    eprint!("{}", outcome.stderr);
    match outcome.status {
        AgentStatus::Exited(0) => {
            if action == "validate-all" {
                println!("{agent}: parameters are valid");
            }
            Exit::Success
        }
        AgentStatus::TimedOut => {
            eprintln!("palisade: {agent} {action} timed out");
            Exit::TimedOut
        }
        other => {
            eprintln!("palisade: {agent} {action} failed: {other:?}");
            Exit::Failed
        }
    }
}

#[cfg(test)]
mod default_config_tests {
    use super::*;

    #[test]
    fn embedded_default_parses_without_warnings() {
        let config = parse_config(DEFAULT_CONFIG).expect("embedded default parses");
        assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    }
}
