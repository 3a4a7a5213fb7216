//! Resources on this node: OCF agents run as pacemaker's executor runs them (LSB init
//! scripts and systemd units: [`super::agent_class`]), one actor task per resource that
//! serializes its operations.
//!
//! An operation is `$OCF_ROOT/resource.d/<provider>/<type> <action>` with a clean
//! environment: `OCF_ROOT`, `OCF_RA_VERSION_MAJOR/MINOR`, `OCF_RESOURCE_INSTANCE`,
//! `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`, `OCF_RESKEY_<param>` for every
//! parameter, `OCF_RESKEY_CRM_meta_{timeout,interval,on_node}` and `PALISADE_EPOCH` (the
//! node's view number, for test agents that log it). It runs in its own process group;
//! at the operation timeout the group gets SIGKILL. Exit codes are OCF's 0-7 ([`OcfRc`]).
//!
//! The actor first probes (a `monitor` with interval 0) and stops a leftover instance; then
//! it obeys Start/Stop, one attempt each, and runs the recurring monitor while the
//! resource runs. A failed start or monitor leaves it failed (not monitored) until it is
//! told to stop: recovering it in place or elsewhere is the scheduler's decision
//! ([`crate::placement`], failcounts and migration-threshold). A failed stop leaves it
//! failed too; another Stop tries again. Each step is reported to the runner as a
//! [`ResourceEvent`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::agent_class::{ClassSettings, Invocation};
use super::agent_exec;
use super::config::ResourceEntry;

/// An OCF exit code, or how the agent failed to give one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcfRc {
    /// 0: success / running.
    Success,
    /// 1-6: OCF_ERR_GENERIC, _ARGS, _UNIMPLEMENTED, _PERM, _INSTALLED, _CONFIGURED.
    Error(i32),
    /// 7: OCF_NOT_RUNNING.
    NotRunning,
    /// Another code (8/9 are promotable states, unused here).
    Other(i32),
    /// Killed at the operation timeout.
    TimedOut,
    /// Died of a signal, or could not be started.
    Failed(String),
}

impl OcfRc {
    /// An OCF agent's exit code.
    pub fn from_code(code: i32) -> OcfRc {
        match code {
            0 => OcfRc::Success,
            1..=6 => OcfRc::Error(code),
            7 => OcfRc::NotRunning,
            c => OcfRc::Other(c),
        }
    }
}

impl std::fmt::Display for OcfRc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = |c: i32| match c {
            1 => "OCF_ERR_GENERIC",
            2 => "OCF_ERR_ARGS",
            3 => "OCF_ERR_UNIMPLEMENTED",
            4 => "OCF_ERR_PERM",
            5 => "OCF_ERR_INSTALLED",
            6 => "OCF_ERR_CONFIGURED",
            _ => "unknown",
        };
        match self {
            OcfRc::Success => write!(f, "0 OCF_SUCCESS"),
            OcfRc::NotRunning => write!(f, "7 OCF_NOT_RUNNING"),
            OcfRc::Error(c) | OcfRc::Other(c) => write!(f, "{c} {}", name(*c)),
            OcfRc::TimedOut => write!(f, "timed out"),
            OcfRc::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// What the actor tells the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// Startup probe: not running here (or not probe-able: the rc says why).
    ProbedStopped(OcfRc),
    /// Startup probe found it running; it is being stopped (a leftover).
    ProbedRunning,
    /// Start succeeded.
    Started(Duration),
    /// Start failed: the resource is failed here until stopped.
    StartFailed(OcfRc),
    /// Stopped (after a Stop or a leftover).
    Stopped(Duration),
    /// Stop failed: the state is unknown (it may still run).
    StopFailed(OcfRc),
    /// A recurring monitor failed: the resource is failed here until stopped.
    MonitorFailed(OcfRc),
}

/// An event of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEvent {
    pub resource: String,
    pub what: What,
}

/// What the runner asks of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Start,
    Stop,
}

/// The runner's handle on a resource actor.
#[derive(Debug, Clone)]
pub struct ResourceHandle {
    tx: mpsc::UnboundedSender<Order>,
}

impl ResourceHandle {
    /// Ask the actor to start (ignored if it runs).
    pub fn start(&self) {
        let _ = self.tx.send(Order::Start);
    }

    /// Ask the actor to stop (ignored if stopped).
    pub fn stop(&self) {
        let _ = self.tx.send(Order::Stop);
    }
}

/// Shared by every actor of the node.
#[derive(Debug, Clone)]
pub struct AgentContext {
    pub ocf_root: PathBuf,
    pub node_name: String,
    /// The node's current view number (`PALISADE_EPOCH`).
    pub epoch: Arc<AtomicU64>,
    /// Where LSB scripts and systemctl are.
    pub classes: ClassSettings,
}

/// The agent's path and environment for one operation (pure).
pub fn agent_command(
    entry: &ResourceEntry,
    ctx: &AgentContext,
    action: &str,
    interval: Duration,
) -> (PathBuf, Vec<(String, String)>) {
    let path = ctx
        .ocf_root
        .join("resource.d")
        .join(&entry.provider)
        .join(&entry.kind);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".into());
    set("LANG", "C".into());
    set("OCF_ROOT", ctx.ocf_root.display().to_string());
    set("OCF_RA_VERSION_MAJOR", "1".into());
    set("OCF_RA_VERSION_MINOR", "0".into());
    set("OCF_RESOURCE_INSTANCE", entry.name.clone());
    set("OCF_RESOURCE_TYPE", entry.kind.clone());
    set("OCF_RESOURCE_PROVIDER", entry.provider.clone());
    set("__OCF_ACTION", action.into());
    set(
        "OCF_RESKEY_CRM_meta_timeout",
        entry.op_timeout.as_millis().to_string(),
    );
    set(
        "OCF_RESKEY_CRM_meta_interval",
        interval.as_millis().to_string(),
    );
    set("OCF_RESKEY_CRM_meta_on_node", ctx.node_name.clone());
    set(
        "PALISADE_EPOCH",
        ctx.epoch.load(Ordering::Relaxed).to_string(),
    );
    for (k, v) in &entry.params {
        set(&format!("OCF_RESKEY_{k}"), v.clone());
    }
    (path, env.into_iter().collect())
}

/// Run one OCF operation; never fails (a spawn error is an [`OcfRc::Failed`]).
pub async fn run_operation(
    path: &Path,
    env: &[(String, String)],
    action: &str,
    timeout: Duration,
) -> (OcfRc, String) {
    let inv = Invocation {
        program: path.to_path_buf(),
        args: vec![action.to_string()],
        env: env.to_vec(),
    };
    let ran = agent_exec::run_program(&inv, timeout).await;
    (ran.rc(OcfRc::from_code), ran.stderr)
}

/// Where the resource stands, as the actor knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Stopped,
    Running,
    /// A start, monitor or stop failed: not monitored, waits for a Stop.
    Failed,
}

struct Actor {
    entry: ResourceEntry,
    ctx: AgentContext,
    events: mpsc::UnboundedSender<ResourceEvent>,
    state: State,
}

impl Actor {
    fn send(&self, what: What) {
        let _ = self.events.send(ResourceEvent {
            resource: self.entry.name.clone(),
            what,
        });
    }

    async fn op(&self, action: &str, interval: Duration) -> OcfRc {
        let (rc, stderr) = agent_exec::run_action(&self.entry, &self.ctx, action, interval).await;
        if rc != OcfRc::Success && rc != OcfRc::NotRunning && !stderr.trim().is_empty() {
            let tail: String = stderr
                .trim()
                .lines()
                .last()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            eprintln!("palisade node: {} {action}: {rc}: {tail}", self.entry.name);
        }
        rc
    }

    async fn stop(&mut self) {
        let t = Instant::now();
        match self.op("stop", Duration::ZERO).await {
            OcfRc::Success | OcfRc::NotRunning => {
                self.state = State::Stopped;
                self.send(What::Stopped(t.elapsed()));
            }
            rc => {
                self.state = State::Failed;
                self.send(What::StopFailed(rc));
            }
        }
    }

    async fn start(&mut self) {
        let t = Instant::now();
        match self.op("start", Duration::ZERO).await {
            OcfRc::Success => {
                self.state = State::Running;
                self.send(What::Started(t.elapsed()));
            }
            rc => {
                self.state = State::Failed;
                self.send(What::StartFailed(rc));
            }
        }
    }

    async fn probe(&mut self) {
        match self.op("monitor", Duration::ZERO).await {
            OcfRc::Success => {
                self.send(What::ProbedRunning);
                self.stop().await;
            }
            rc => self.send(What::ProbedStopped(rc)),
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Order>) {
        self.probe().await;
        let interval = self.entry.monitor_interval;
        let mut next_monitor = tokio::time::Instant::now() + interval;
        loop {
            let monitoring = self.state == State::Running && !interval.is_zero();
            let monitor_due = async {
                if monitoring {
                    tokio::time::sleep_until(next_monitor).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Order::Start) if self.state == State::Stopped => {
                        self.start().await;
                        next_monitor = tokio::time::Instant::now() + interval;
                    }
                    Some(Order::Stop) if self.state != State::Stopped => self.stop().await,
                    Some(_) => {}
                },
                _ = monitor_due => {
                    let rc = self.op("monitor", interval).await;
                    next_monitor = tokio::time::Instant::now() + interval;
                    if rc != OcfRc::Success {
                        self.state = State::Failed;
                        self.send(What::MonitorFailed(rc));
                    }
                }
            }
        }
    }
}

/// Start the actor of `entry` (it probes first); its events go to `events`.
pub fn spawn(
    entry: ResourceEntry,
    ctx: AgentContext,
    events: mpsc::UnboundedSender<ResourceEvent>,
) -> ResourceHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let actor = Actor {
        entry,
        ctx,
        events,
        state: State::Stopped,
    };
    tokio::spawn(actor.run(rx));
    ResourceHandle { tx }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> ResourceEntry {
        ResourceEntry {
            class: crate::placement::config::AgentClass::Ocf,
            name: "web".into(),
            provider: "heartbeat".into(),
            kind: "Dummy".into(),
            params: [("state".to_string(), "/run/x".to_string())].into(),
            allowed: vec![1],
            priority: 0,
            monitor_interval: Duration::from_secs(2),
            op_timeout: Duration::from_secs(20),
            max_failures: 3,
        }
    }

    #[test]
    fn command_follows_ocf_conventions() {
        let ctx = AgentContext {
            ocf_root: PathBuf::from("/usr/lib/ocf"),
            node_name: "node1".into(),
            epoch: Arc::new(AtomicU64::new(4)),
            classes: ClassSettings::default(),
        };
        let (path, env) = agent_command(&entry(), &ctx, "monitor", Duration::from_secs(2));
        assert_eq!(
            path,
            PathBuf::from("/usr/lib/ocf/resource.d/heartbeat/Dummy")
        );
        let env: BTreeMap<String, String> = env.into_iter().collect();
        assert_eq!(env["OCF_ROOT"], "/usr/lib/ocf");
        assert_eq!(env["OCF_RESKEY_state"], "/run/x");
        assert_eq!(env["OCF_RESOURCE_INSTANCE"], "web");
        assert_eq!(env["OCF_RESKEY_CRM_meta_interval"], "2000");
        assert_eq!(env["OCF_RESKEY_CRM_meta_timeout"], "20000");
        assert_eq!(env["OCF_RESKEY_CRM_meta_on_node"], "node1");
        assert_eq!(env["PALISADE_EPOCH"], "4");
    }

    #[test]
    fn exit_codes_are_named() {
        assert_eq!(OcfRc::from_code(0), OcfRc::Success);
        assert_eq!(OcfRc::from_code(7), OcfRc::NotRunning);
        assert_eq!(OcfRc::from_code(5).to_string(), "5 OCF_ERR_INSTALLED");
        assert_eq!(OcfRc::from_code(42), OcfRc::Other(42));
    }

    #[test]
    fn operations_run_with_codes_and_timeouts() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let sh = PathBuf::from("/bin/sh");
        // `sh <action>` runs a file named after the action: use -c through env instead.
        let (rc, _) = rt.block_on(run_operation(&sh, &[], "-c", Duration::from_secs(5)));
        assert!(matches!(rc, OcfRc::Error(2) | OcfRc::Other(_)), "{rc}");
        let missing = PathBuf::from("/nonexistent/agent");
        let (rc, _) = rt.block_on(run_operation(
            &missing,
            &[],
            "start",
            Duration::from_secs(5),
        ));
        assert!(matches!(rc, OcfRc::Failed(_)), "{rc}");
        let dir = std::env::temp_dir().join(format!("palisade-ocf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let agent = dir.join("Agent");
        std::fs::write(
            &agent,
            "#!/bin/sh\ncase $1 in start) exit 0;; monitor) exit 7;; *) sleep 30;; esac\n",
        )
        .expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let run = |action: &str, t: u64| {
            rt.block_on(run_operation(&agent, &[], action, Duration::from_millis(t)))
                .0
        };
        assert_eq!(run("start", 5000), OcfRc::Success);
        assert_eq!(run("monitor", 5000), OcfRc::NotRunning);
        let t = Instant::now();
        assert_eq!(run("stop", 300), OcfRc::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(5));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
