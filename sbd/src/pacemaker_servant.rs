//! The pacemaker servant: this node's health as pacemaker sees it, as ClusterLabs sbd's
//! pcmk servant derives it (`compute_status` in sbd-pacemaker.c), reported to the
//! inquisitor once per loop timeout.
//!
//! Sources, all pacemaker's own:
//! * pacemakerd, pinged every loop through libcrmcommon's IPC API ([`pacemakerd`]):
//!   the ping is pacemakerd's start-up trigger with `SBD_SYNC_RESOURCE_STARTUP=yes` and
//!   ends its shutdown; health is only reported while pacemakerd's `last_good` is
//!   younger than the watchdog timeout (else nothing: the servant's liveness ages out),
//!   and a pacemakerd that reports "shutdown complete" is a graceful shutdown;
//! * the CIB's change notifications ([`cib`]): like sbd, the servant subscribes to
//!   `cib_diff_notify` and sends the CIB a synchronous noop every loop (an unanswered
//!   noop or a lost connection: the CIB is unreachable);
//! * the CIB as crm_mon computes it ([`crm_mon`]): sbd feeds its CIB copy to
//!   pacemaker's `cluster_status()`; `crm_mon -1 --output-as=xml` runs that same code
//!   and prints the result. It runs only when the CIB changed (a notification), after
//!   (re)connecting, and every [`REFRESH_EVERY`] as a safety net ([`RefreshPolicy`]);
//!   between those the last answer is assessed again each loop. Where the CIB cannot be
//!   watched (libcrmcommon without the IPC client), crm_mon runs every loop.
//!   Why crm_mon and not libcib + libpe_status: those libraries' structures change
//!   between pacemaker releases, crm_mon's XML is a documented interface.
//!
//! The health table ([`Assessor::assess`], pure): no DC → transient; this node unknown
//! or offline → unhealthy; unclean → unhealthy; pending → transient; partition quorate →
//! online; not quorate with disks → unhealthy (the disk decides); never had quorum yet →
//! online; quorum lost without disks → by `no-quorum-policy`: freeze, stop, demote,
//! ignore → transient (ages out: the node self-fences once the whole cluster had
//! appeared), suicide or unknown → unhealthy. The CIB not reachable (crm_mon failing, no
//! connection, an unanswered noop) → transient ("Disconnected from CIB", as sbd); if this
//! node was shutting down with no resource left running and start-up syncing is off,
//! that is a graceful shutdown (sbd's `pcmk_clean_shutdown`).

pub mod cib;
pub mod crm_mon;
pub mod pacemakerd;

/// pacemaker 2.1's common library (its IPC clients), loaded at run time by [`cib`] and
/// [`pacemakerd`].
const LIBCRMCOMMON: &str = "libcrmcommon.so.34";

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::inquisitor::{ClusterServant, Event, LogLevel, ServantHealth};
use crate::servant::{Reporter, ServantMessage};
use cib::{CibError, CibWatch};
use crm_mon::{ClusterStatus, NoQuorumPolicy};
use pacemakerd::{PacemakerdState, Ping};

/// What the pure part remembers between rounds (sbd's statics).
#[derive(Debug, Clone, Default)]
pub struct Assessor {
    ever_had_quorum: bool,
    /// This node was seen shutting down (sticky, as sbd's `pcmk_shutdown`).
    shutting_down: bool,
    /// ... and had no resource left running (sbd's `pcmk_clean_shutdown`).
    clean_shutdown: bool,
}

impl Assessor {
    /// Health of `local` (case-insensitive, as pacemaker's `pe_find_node`) in `status`;
    /// `disks`: the number of sbd devices.
    pub fn assess(
        &mut self,
        status: &ClusterStatus,
        local: &str,
        disks: usize,
    ) -> (ServantHealth, String) {
        use ServantHealth::*;
        if !status.dc_present {
            return (Transient, "We don't have a DC right now".into());
        }
        let Some(node) = status
            .nodes
            .iter()
            .find(|n| n.name.eq_ignore_ascii_case(local))
        else {
            return (Unhealthy, format!("Node state: {local} is UNKNOWN"));
        };
        let result = if !node.online {
            (Unhealthy, "Node state: OFFLINE".into())
        } else if node.unclean {
            (Unhealthy, "Node state: UNCLEAN".into())
        } else if node.pending {
            (Transient, "Node state: pending".into())
        } else if status.have_quorum {
            self.ever_had_quorum = true;
            (Online, "Node state: online".into())
        } else if disks > 0 {
            (Unhealthy, "Quorum lost".into())
        } else if !self.ever_had_quorum {
            (Online, "We do not have quorum yet".into())
        } else {
            match status.no_quorum_policy {
                NoQuorumPolicy::Freeze => (Transient, "Quorum lost: Freeze resources".into()),
                NoQuorumPolicy::Demote => (
                    Transient,
                    "Quorum lost: Demote promotable resources and stop others".into(),
                ),
                NoQuorumPolicy::Stop => (Transient, "Quorum lost: Stop ALL resources".into()),
                NoQuorumPolicy::Ignore => (Transient, "Quorum lost: Ignore".into()),
                NoQuorumPolicy::Suicide => (Unhealthy, "Quorum lost: Self-fence".into()),
            }
        };
        if node.shutdown {
            self.shutting_down = true;
        }
        if self.shutting_down {
            self.clean_shutdown = node.maintenance || node.resources_running == 0;
        }
        result
    }

    /// The CIB could not be read. `Some(true)` when that ends a graceful shutdown
    /// (this node was shutting down with nothing running and start-up syncing is off).
    pub fn disconnected(&mut self, sync_resource_startup: bool) -> bool {
        let graceful = self.shutting_down && self.clean_shutdown && !sync_resource_startup;
        self.shutting_down = false;
        self.clean_shutdown = false;
        graceful
    }
}

/// Whether a pacemakerd ping allows reporting health now (sbd: `last_good` within the
/// watchdog timeout, status ok, running or shutting down).
pub fn pacemakerd_ok(ping: &Ping, now_unix: i64, watchdog: Duration) -> bool {
    let age = now_unix - ping.last_good;
    ping.last_good != 0
        && ping.status == 0
        && matches!(
            ping.state,
            PacemakerdState::Running | PacemakerdState::ShuttingDown
        )
        && (0..i64::try_from(watchdog.as_secs()).unwrap_or(i64::MAX)).contains(&age)
}

/// The longest crm_mon is not asked while the CIB says nothing changed (a safety net
/// against a lost notification; sbd re-reads its whole CIB copy periodically too).
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// When the servant asks crm_mon again (pure): after a change of the CIB, after
/// (re)connecting to it, when the last answer is older than `every`, and until an
/// answer came.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    every: Duration,
    last: Option<Instant>,
    dirty: bool,
}

impl RefreshPolicy {
    pub fn new(every: Duration) -> RefreshPolicy {
        RefreshPolicy {
            every,
            last: None,
            dirty: true,
        }
    }

    /// The CIB changed, or the connection to it is new: ask again.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    pub fn due(&self, now: Instant) -> bool {
        self.dirty
            || self
                .last
                .is_none_or(|last| now.saturating_duration_since(last) >= self.every)
    }

    /// crm_mon answered at `now`.
    pub fn refreshed(&mut self, now: Instant) {
        self.dirty = false;
        self.last = Some(now);
    }
}

/// The CIB watch: connected, not (yet), or impossible here (crm_mon every loop).
enum Watch {
    Connected(CibWatch),
    Disconnected,
    Unavailable,
}

impl Watch {
    /// Connect if needed, read the notifications, probe with a noop. `Ok(changed)`, or
    /// why the CIB is unreachable (the connection is then dropped, to be made again).
    fn poll(&mut self, probe_limit: Duration) -> Result<bool, String> {
        let mut fresh = false;
        if matches!(self, Watch::Disconnected) {
            match CibWatch::connect() {
                Ok(watch) => {
                    *self = Watch::Connected(watch);
                    fresh = true;
                }
                Err(CibError::Library(e)) => {
                    *self = Watch::Unavailable;
                    return Err(format!("cannot watch the CIB ({e}): crm_mon every loop"));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        let Watch::Connected(watch) = self else {
            return Ok(true);
        };
        let result = watch
            .changed()
            .and_then(|changed| watch.probe(probe_limit).map(|()| changed || fresh));
        if result.is_err() {
            *self = Watch::Disconnected;
        }
        result.map_err(|e| e.to_string())
    }
}

/// How the servant thread runs.
#[derive(Debug, Clone)]
pub struct PacemakerServantSetup {
    /// This node's name in pacemaker (sbd: the lower-cased uname).
    pub local_name: String,
    pub disks: usize,
    pub loop_timeout: Duration,
    pub watchdog_timeout: Duration,
    pub sync_resource_startup: bool,
}

/// Why the servant could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the pacemaker servant thread: {0}")]
pub struct SpawnError(#[from] std::io::Error);

/// Start the servant thread; it ends once `report` returns false (daemon finished).
pub fn spawn(setup: PacemakerServantSetup, report: Reporter) -> Result<(), SpawnError> {
    std::thread::Builder::new()
        .name("sbd-pcmk".into())
        .spawn(move || run(setup, report))?;
    Ok(())
}

/// crm_mon, from /usr/sbin where pacemaker installs it, else from PATH.
fn crm_mon_program() -> &'static str {
    if std::path::Path::new("/usr/sbin/crm_mon").exists() {
        "/usr/sbin/crm_mon"
    } else {
        "crm_mon"
    }
}

/// Run `crm_mon -1 --output-as=xml` with a time limit; its stdout when it exits 0.
fn run_crm_mon(limit: Duration) -> Result<String, String> {
    let mut child = Command::new(crm_mon_program())
        .args(["-1", "--output-as=xml"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run crm_mon: {e}"))?;
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        text
    });
    let end = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = reader.join();
                return Err(format!("crm_mon did not answer within {limit:?}"));
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    if status.success() {
        Ok(text)
    } else {
        Err(format!("crm_mon failed ({status})"))
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn run(setup: PacemakerServantSetup, report: Reporter) {
    let event = |health, detail| {
        ServantMessage::Event(Event::ClusterServant {
            servant: ClusterServant::Pacemaker,
            health,
            detail,
        })
    };
    let mut pacemakerd = match pacemakerd::Pacemakerd::new() {
        Ok(p) => Some(p),
        Err(e) => {
            let level = if setup.sync_resource_startup {
                LogLevel::Error
            } else {
                LogLevel::Warning
            };
            if !report(ServantMessage::Log {
                level,
                message: format!(
                    "pcmk servant: pacemakerd's IPC API is not available ({e}): no start-up \
                     trigger, health from crm_mon alone"
                ),
            }) {
                return;
            }
            None
        }
    };
    let mut assessor = Assessor::default();
    let mut shutdown_reported = false;
    let crm_mon_limit = setup.watchdog_timeout / 2;
    let mut watch = Watch::Disconnected;
    let mut refresh = RefreshPolicy::new(REFRESH_EVERY);
    let mut status: Option<ClusterStatus> = None;
    loop {
        let round = Instant::now();
        let mut pacemakerd_fine = true;
        if let Some(client) = pacemakerd.as_mut() {
            match client.ping() {
                Ok(ping) if ping.state == PacemakerdState::ShutdownComplete => {
                    pacemakerd_fine = false;
                    if !shutdown_reported {
                        shutdown_reported = true;
                        let message = ServantMessage::Event(Event::ClusterShutdown {
                            servant: ClusterServant::Pacemaker,
                        });
                        if !report(message) {
                            return;
                        }
                    }
                }
                Ok(ping) => {
                    shutdown_reported = false;
                    pacemakerd_fine = pacemakerd_ok(&ping, unix_now(), setup.watchdog_timeout);
                    if !pacemakerd_fine {
                        let detail = format!("pacemakerd not ready: {ping:?}");
                        if !report(event(ServantHealth::Transient, detail)) {
                            return;
                        }
                    }
                }
                Err(e) => {
                    pacemakerd_fine = false;
                    let detail = format!("pacemakerd: {e}");
                    if !report(event(ServantHealth::Transient, detail)) {
                        return;
                    }
                }
            }
        }
        if pacemakerd_fine {
            let was_unavailable = matches!(watch, Watch::Unavailable);
            let was_connected = matches!(watch, Watch::Connected(_));
            let polled = watch.poll(crm_mon_limit);
            let now_connected = matches!(watch, Watch::Connected(_));
            let transition = match (&polled, was_connected, now_connected) {
                (_, false, true) => Some((
                    LogLevel::Info,
                    "pcmk servant: watching the CIB (diff notifications)".to_owned(),
                )),
                (Err(e), true, false) => Some((LogLevel::Warning, format!("pcmk servant: {e}"))),
                _ => None,
            };
            if let Some((level, message)) = transition {
                if !report(ServantMessage::Log { level, message }) {
                    return;
                }
            }
            let polled = match polled {
                Err(e) if !was_unavailable && matches!(watch, Watch::Unavailable) => {
                    let log = ServantMessage::Log {
                        level: LogLevel::Warning,
                        message: format!("pcmk servant: {e}"),
                    };
                    if !report(log) {
                        return;
                    }
                    Ok(true)
                }
                other => other,
            };
            let current = match polled {
                Ok(changed) => {
                    if changed {
                        refresh.changed();
                    }
                    let now = Instant::now();
                    if refresh.due(now) {
                        match run_crm_mon(crm_mon_limit)
                            .and_then(|xml| crm_mon::parse(&xml).map_err(|e| e.to_string()))
                        {
                            Ok(fresh) => {
                                refresh.refreshed(now);
                                status = Some(fresh);
                                Ok(())
                            }
                            Err(e) => {
                                refresh.changed();
                                status = None;
                                Err(e)
                            }
                        }
                    } else {
                        Ok(())
                    }
                    .and_then(|()| status.clone().ok_or_else(|| "no status yet".to_owned()))
                }
                Err(e) => {
                    refresh.changed();
                    status = None;
                    Err(e)
                }
            };
            let message = match current {
                Ok(status) => {
                    let (health, detail) = assessor.assess(&status, &setup.local_name, setup.disks);
                    event(health, detail)
                }
                Err(e) => {
                    if assessor.disconnected(setup.sync_resource_startup) {
                        ServantMessage::Event(Event::ClusterShutdown {
                            servant: ClusterServant::Pacemaker,
                        })
                    } else {
                        event(
                            ServantHealth::Transient,
                            format!("Disconnected from CIB: {e}"),
                        )
                    }
                }
            };
            if !report(message) {
                return;
            }
        }
        if let Some(rest) = setup.loop_timeout.checked_sub(round.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

#[cfg(test)]
mod tests;
