//! The `palisade daemon`: one tokio runtime running the fencer core, the API server on a
//! Unix socket, the optional loopback metrics listener and the journal thread.
//!
//! - [`core`]: the task that owns the fencer state machine and carries out its actions.
//! - [`server`]: the API handler on the IPC layer's server ([`crate::ipc::server`]).
//! - [`registry`]: device and topology requests.
//! - [`journal`]: the history writer thread (group commit, replies after fsync).
//! - [`metrics`]: counters, histograms, Prometheus text.
//! - [`http`]: `GET /metrics` on loopback.
//! - [`probe`]: agent metadata → default `pcmk_host_check`.
//!
//! [`run`] takes its listener and shutdown future from the caller (mini-redis style), so
//! tests and `main` drive it the same way.

pub mod core;
pub mod http;
pub mod journal;
pub mod metrics;
pub mod probe;
pub mod registry;
pub mod server;

use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::UnixListener;
use tokio::sync::{broadcast, mpsc, watch};

use crate::api::protocol::EventLine;
use crate::fencer::config::FencerConfig;
use crate::fencer::history::{HistoryError, Journal};
use crate::fencer::machine::{Fencer, RegistryError};
use crate::ipc::peercred::{group_id, AccessPolicy, GroupError};
use metrics::{Gauges, HealthView, Metrics};

/// What every part of the daemon shares.
#[derive(Debug)]
pub struct Shared {
    /// Requests for the core.
    pub commands: mpsc::Sender<core::Command>,
    /// Event stream to subscribers.
    pub events: broadcast::Sender<EventLine>,
    /// Counters.
    pub metrics: Mutex<Metrics>,
    /// Gauges, refreshed by the core.
    pub gauges: Mutex<Gauges>,
    /// Device health and target fenceability, refreshed by the core.
    pub health: Mutex<HealthView>,
    /// The history journal (queried by scanning it).
    pub history_path: PathBuf,
    /// This node's name.
    pub node: String,
    /// Who may connect.
    pub policy: AccessPolicy,
    /// Where `fence_*` agents are looked up.
    pub agent_dirs: Vec<PathBuf>,
    /// Idle API connections are closed after this.
    pub api_idle_timeout: std::time::Duration,
    /// Most API connections per user.
    pub api_connections_per_uid: usize,
}

impl Shared {
    /// The metrics in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        let gauges = self.gauges.lock().map(|g| *g).unwrap_or_default();
        let mut text = self
            .metrics
            .lock()
            .map(|m| m.render(gauges))
            .unwrap_or_default();
        if let Ok(view) = self.health.lock() {
            text.push_str(&Metrics::render_health(&view));
        }
        text
    }
}

/// Why the daemon could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration's topology is invalid.
    #[error("{0}")]
    Registry(#[from] RegistryError),
    /// The history journal cannot be opened.
    #[error("{0}")]
    History(#[from] HistoryError),
    /// The allowed group does not resolve.
    #[error("[daemon] allowed-group: {0}")]
    Group(#[from] GroupError),
    /// The API socket cannot be set up.
    #[error("API socket {path}: {reason}")]
    Socket {
        /// Socket path.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The metrics listener cannot be bound.
    #[error("metrics listener {addr}: {reason}")]
    Metrics {
        /// Address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The journal thread cannot be started.
    #[error("cannot start the journal thread: {0}")]
    Thread(String),
}

/// Restrict the process umask (clear group and other write bits) whatever the daemon
/// inherited: nothing the daemons create is group- or world-writable, even when started
/// under `umask 000`. Modes that matter are also given explicitly (the journal 0640,
/// directories 0755, the API socket's `socket-mode`).
pub fn restrict_umask() {
    // SAFETY: umask only swaps the process file-creation mask; it cannot fail.
    let old = unsafe { libc::umask(0) };
    // SAFETY: as above.
    unsafe { libc::umask(old | 0o022) };
}

/// This host's name (`/proc/sys/kernel/hostname`), for the self-fencing guard.
pub fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Raise the soft open-files limit to the hard one: every agent run holds three pipes, and
/// hundreds of operations may run at once. Returns the soft limit now in force.
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass, which lives here.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// Bind the API socket: refuse if a daemon answers on it, replace a stale file, create the
/// directory, set the mode and (with `allowed-group`) the group.
pub fn bind_socket(config: &FencerConfig) -> Result<UnixListener, DaemonError> {
    let path = &config.daemon.socket;
    let fail = |reason: String| DaemonError::Socket {
        path: path.clone(),
        reason,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(fail("another daemon is already listening there".into()));
        }
        std::fs::remove_file(path).map_err(|e| fail(format!("cannot remove stale socket: {e}")))?;
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // 0755 whatever the umask: the socket's own mode and group decide who connects.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|e| fail(format!("cannot create directory: {e}")))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| fail(e.to_string()))?;
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(config.daemon.socket_mode),
    )
    .map_err(|e| fail(format!("cannot set mode: {e}")))?;
    if let Some(group) = &config.daemon.allowed_group {
        let gid = group_id(group)?;
        std::os::unix::fs::chown(path, None, Some(gid))
            .map_err(|e| fail(format!("cannot set group {group}: {e}")))?;
    }
    Ok(listener)
}

fn remove_socket(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Run the daemon on `listener` until `shutdown` completes.
pub async fn run(
    mut config: FencerConfig,
    listener: UnixListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    let node = config
        .daemon
        .node_name
        .clone()
        .or_else(host_name)
        .unwrap_or_else(|| "localhost".to_string());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    probe::apply_metadata(&mut config.devices, &config.daemon.agent_dirs).await;
    let mut fencer = Fencer::from_config(&config, Some(node.clone()), seed)?;
    let open_files = raise_fd_limit();
    let group = match &config.daemon.allowed_group {
        Some(name) => Some((name.clone(), group_id(name)?)),
        None => None,
    };
    let (journal, report) = Journal::open(&config.daemon.history)?;
    tracing::info!(
        path = %config.daemon.history.display(),
        entries = report.entries,
        health_checks = report.health,
        skipped = report.skipped,
        torn_bytes = report.torn_bytes,
        "fence history opened"
    );
    fencer.number_operations_from(u64::try_from(report.entries + report.skipped).unwrap_or(0) + 1);
    let (commands, command_rx) = mpsc::channel(1024);
    let (events, _) = broadcast::channel(4096);
    let shared = Arc::new(Shared {
        commands,
        events,
        metrics: Mutex::new(Metrics::default()),
        gauges: Mutex::new(Gauges::default()),
        health: Mutex::new(HealthView::default()),
        history_path: config.daemon.history.clone(),
        node,
        policy: AccessPolicy {
            service: "fencer",
            daemon_uid: nix::unistd::geteuid().as_raw(),
            group,
        },
        agent_dirs: config.daemon.agent_dirs.clone(),
        api_idle_timeout: config.daemon.api_idle_timeout,
        api_connections_per_uid: config.daemon.api_connections_per_uid,
    });
    let (journal_tx, journal_thread) =
        journal::spawn(journal, shared.clone()).map_err(|e| DaemonError::Thread(e.to_string()))?;
    let (stop_tx, stop) = watch::channel(false);

    let mut tasks = Vec::new();
    if let Some(addr) = config.daemon.metrics_listen {
        let listener =
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| DaemonError::Metrics {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })?;
        tasks.push(tokio::spawn(http::serve(
            listener,
            shared.clone(),
            stop.clone(),
        )));
    }
    tasks.push(tokio::spawn(server::serve(
        listener,
        shared.clone(),
        stop.clone(),
    )));
    tracing::info!(
        socket = %config.daemon.socket.display(),
        devices = fencer.devices().len(),
        open_files,
        "palisade fencer ready"
    );

    let clock = core::Clock::start();
    fencer.enable_health_checks(config.daemon.health_check_concurrency, clock.now());
    fencer.restore_health(&report.health_memory);
    let core = core::Core::new(fencer, shared.clone(), clock, journal_tx);
    let mut core_stop = stop.clone();
    let core_shutdown = async move {
        let _ = core_stop.wait_for(|s| *s).await;
    };
    let core_task = tokio::spawn(core.run(command_rx, core_shutdown));
    let _ = crate::systemd::notify(&[
        crate::systemd::State::Ready,
        crate::systemd::State::Status(format!("serving {}", config.daemon.socket.display())),
    ]);

    shutdown.await;
    tracing::info!("shutting down");
    let _ = crate::systemd::notify(&[crate::systemd::State::Stopping]);
    let _ = stop_tx.send(true);
    let _ = core_task.await;
    for task in tasks {
        let _ = task.await;
    }
    drop(shared);
    let _ = tokio::task::spawn_blocking(move || journal_thread.join()).await;
    remove_socket(&config.daemon.socket);
    Ok(())
}
