//! Carrying out fence decisions. A lost node is fenced either through the fencer daemon
//! (`palisade daemon`, its API socket: topology, history, merging) or, without a fencer,
//! by running that node's configured agent directly through the fencer's executor (no
//! argv, `key=value` on stdin with `action`, `nodename` and `port`, own process group,
//! SIGKILL at the timeout) — exactly as pacemaker-fenced runs agents. Exit 0 of an
//! `off`/`reboot` is taken as confirmed (agents exit 0 only after seeing the power change).
//!
//! Self-fencing (no-quorum-policy=fence) goes through [`watchdog::SelfFence`]: the kernel
//! executor (sysrq + reboot(2)), which refuses to exist under cargo or with
//! `PALISADE_FORBID_SELF_FENCE` set, or [`FileRecordSelfFence`] for tests, which only
//! appends the decision to a file and is refused unless `PALISADE_FORBID_SELF_FENCE` is
//! set.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use watchdog::{FenceKind, KernelSelfFence, Production, SelfFence, SelfFenceError, FORBID_ENV};

use super::config::{FenceDevice, FenceVia, NodeConfig, SelfFenceMode};
use crate::api::client::Client;
use crate::api::protocol::Request;
use crate::cluster::quorum::NodeId;
use crate::fencer::executor::{resolve_agent, run_agent, Caller};
use crate::fencer::machine::AgentStatus;
use crate::fencer::operation::FenceAction;

/// The end of one fence request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceOutcome {
    pub node: NodeId,
    pub ok: bool,
    /// Which device / what the fencer said, or why it failed.
    pub detail: String,
    /// From the request (after its delay) to the answer.
    pub elapsed: Duration,
}

/// Runs fence requests in the background; outcomes come back on a channel.
#[derive(Debug, Clone)]
pub struct Fencer {
    via: FenceVia,
    action: FenceAction,
    timeout: Duration,
    agent_dirs: Vec<PathBuf>,
    devices: BTreeMap<NodeId, FenceDevice>,
    names: BTreeMap<NodeId, String>,
    me: String,
}

/// The stdin lines for fencing `target` with `device` (pure): the device's parameters,
/// then `action`, `nodename`, and `port` unless the device names its own port/plug.
pub fn agent_lines(
    device: &FenceDevice,
    action: FenceAction,
    target: &str,
) -> Vec<(String, String)> {
    let mut lines: Vec<(String, String)> = device
        .params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "action" | "nodename"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    lines.push(("action".into(), action.as_str().into()));
    lines.push(("nodename".into(), target.into()));
    if !device.params.contains_key("port") && !device.params.contains_key("plug") {
        lines.push(("port".into(), target.into()));
    }
    lines
}

impl Fencer {
    /// From the configuration; `agent_dirs` are searched for agents named without a path
    /// (the directory of the running binary first, then the configured ones).
    pub fn new(cfg: &NodeConfig) -> Fencer {
        let mut agent_dirs = Vec::new();
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
        {
            agent_dirs.push(dir);
        }
        agent_dirs.extend(cfg.fencing.agent_dirs.iter().cloned());
        Fencer {
            via: cfg.fencing.via.clone(),
            action: cfg.fencing.action,
            timeout: cfg.fencing.timeout,
            agent_dirs,
            devices: cfg
                .nodes
                .iter()
                .filter_map(|n| n.fence.clone().map(|f| (n.id, f)))
                .collect(),
            names: cfg.nodes.iter().map(|n| (n.id, n.name.clone())).collect(),
            me: cfg.name_of(cfg.me),
        }
    }

    /// The configured action.
    pub fn action(&self) -> FenceAction {
        self.action
    }

    /// How fencing is done, for the timeline.
    pub fn describe(&self, node: NodeId) -> String {
        match &self.via {
            FenceVia::Api(socket) => format!("fencer API {}", socket.display()),
            FenceVia::Direct => self
                .devices
                .get(&node)
                .map(|d| format!("agent {}", d.agent))
                .unwrap_or_else(|| "no device".into()),
        }
    }

    /// Fence `node` after `delay`; the outcome is sent to `tx`.
    pub fn spawn(&self, node: NodeId, delay: Duration, tx: mpsc::UnboundedSender<FenceOutcome>) {
        let this = self.clone();
        tokio::spawn(async move {
            let target = this
                .names
                .get(&node)
                .cloned()
                .unwrap_or_else(|| format!("node{node}"));
            let (ok, detail, elapsed) = match &this.via {
                FenceVia::Direct => {
                    tokio::time::sleep(delay).await;
                    let t = Instant::now();
                    let (ok, detail) = this.direct(node, &target).await;
                    (ok, detail, t.elapsed())
                }
                FenceVia::Api(socket) => {
                    let t = Instant::now();
                    let socket = socket.clone();
                    let (action, timeout, me) = (this.action, this.timeout, this.me.clone());
                    let target = target.clone();
                    let answer = tokio::task::spawn_blocking(move || {
                        api_fence(&socket, &target, action, timeout, delay, &me)
                    })
                    .await
                    .unwrap_or_else(|e| (false, format!("fencer client task failed: {e}")));
                    (answer.0, answer.1, t.elapsed().saturating_sub(delay))
                }
            };
            let _ = tx.send(FenceOutcome {
                node,
                ok,
                detail,
                elapsed,
            });
        });
    }

    async fn direct(&self, node: NodeId, target: &str) -> (bool, String) {
        let Some(device) = self.devices.get(&node) else {
            return (false, format!("no fence device configured for {target}"));
        };
        let path = match resolve_agent(&device.agent, &self.agent_dirs) {
            Ok(p) => p,
            Err(e) => return (false, e.to_string()),
        };
        let lines = agent_lines(device, self.action, target);
        let outcome = run_agent(
            &path,
            &lines,
            self.timeout,
            Caller::Fencer,
            std::future::pending(),
        )
        .await;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match outcome.status {
            AgentStatus::Exited(0) => (true, format!("{name} {} ok", self.action.as_str())),
            other => {
                let why = outcome
                    .stderr
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_string();
                (
                    false,
                    format!("{name} {}: {other:?} {why}", self.action.as_str()),
                )
            }
        }
    }
}

/// One fence request through the fencer API (blocking).
fn api_fence(
    socket: &std::path::Path,
    target: &str,
    action: FenceAction,
    timeout: Duration,
    delay: Duration,
    me: &str,
) -> (bool, String) {
    let read_limit = timeout.saturating_mul(2) + delay + Duration::from_secs(10);
    let mut client = match Client::connect(socket, Some(read_limit)) {
        Ok(c) => c,
        Err(e) => return (false, e.to_string()),
    };
    let request = Request::Fence {
        target: target.to_string(),
        action: Some(action),
        timeout_ms: Some(u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX)),
        delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
        requester: Some(format!("palisade-node {me}")),
    };
    match client.call(&request) {
        Ok(result) => {
            let done = result.get("status").and_then(|s| s.as_str()) == Some("done");
            let devices = result
                .get("devices")
                .map(|d| d.to_string())
                .unwrap_or_default();
            if done {
                (true, format!("fencer: done by {devices}"))
            } else {
                (false, format!("fencer: {result}"))
            }
        }
        Err(e) => (false, format!("fencer: {e}")),
    }
}

/// Test self-fence executor: appends `<kind> <flush|noflush> <reason>` lines to a file.
#[derive(Debug)]
pub struct FileRecordSelfFence {
    path: PathBuf,
}

impl SelfFence for FileRecordSelfFence {
    fn self_fence(
        &mut self,
        kind: FenceKind,
        flush: bool,
        reason: &str,
    ) -> Result<(), SelfFenceError> {
        let line = format!(
            "{} {} {}\n",
            kind.as_str(),
            if flush { "flush" } else { "noflush" },
            reason.replace('\n', " ")
        );
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|_| SelfFenceError::Refused("cannot append to the self-fence record file"))
    }
}

/// Why no self-fence executor can be had.
#[derive(Debug, thiserror::Error)]
pub enum SelfFenceSetupError {
    /// The kernel executor is refused here (tests, cargo, PALISADE_FORBID_SELF_FENCE).
    #[error("no-quorum-policy=fence needs the kernel self-fence executor: {0}")]
    Kernel(SelfFenceError),
    /// The record executor is only for tests.
    #[error("self-fence = \"record:...\" is refused unless {FORBID_ENV} is set (tests only)")]
    RecordOutsideTests,
}

/// The executor for `mode`; `forbid` is whether PALISADE_FORBID_SELF_FENCE is set.
pub fn self_fencer(
    mode: &SelfFenceMode,
    forbid: bool,
) -> Result<Box<dyn SelfFence + Send>, SelfFenceSetupError> {
    match mode {
        SelfFenceMode::Kernel => Production::claim()
            .map(|p| Box::new(KernelSelfFence::new(p)) as Box<dyn SelfFence + Send>)
            .map_err(SelfFenceSetupError::Kernel),
        SelfFenceMode::Record(path) if forbid => {
            Ok(Box::new(FileRecordSelfFence { path: path.clone() }))
        }
        SelfFenceMode::Record(_) => Err(SelfFenceSetupError::RecordOutsideTests),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_lines_add_target_like_pacemaker() {
        let device = FenceDevice {
            agent: "fence_dummy".into(),
            params: [("status_file".to_string(), "/tmp/s".to_string())].into(),
        };
        let lines = agent_lines(&device, FenceAction::Off, "node3");
        let text = crate::fencer::executor::stdin_text(&lines);
        assert_eq!(
            text,
            "status_file=/tmp/s\naction=off\nnodename=node3\nport=node3\n"
        );
        let with_plug = FenceDevice {
            agent: "fence_ipmilan".into(),
            params: [
                ("plug".to_string(), "7".to_string()),
                ("action".to_string(), "on".to_string()),
            ]
            .into(),
        };
        let text =
            crate::fencer::executor::stdin_text(&agent_lines(&with_plug, FenceAction::Reboot, "n"));
        assert_eq!(text, "plug=7\naction=reboot\nnodename=n\n");
    }

    #[test]
    fn self_fence_executors_are_guarded() {
        let record = SelfFenceMode::Record(PathBuf::from("/tmp/x"));
        assert!(matches!(
            self_fencer(&record, false),
            Err(SelfFenceSetupError::RecordOutsideTests)
        ));
        assert!(self_fencer(&record, true).is_ok());
        assert!(matches!(
            self_fencer(&SelfFenceMode::Kernel, false),
            Err(SelfFenceSetupError::Kernel(_))
        ));
        let path = std::env::temp_dir().join(format!("palisade-selffence-{}", std::process::id()));
        let mut exec = FileRecordSelfFence { path: path.clone() };
        exec.self_fence(FenceKind::Reboot, true, "lost\nquorum")
            .expect("recorded");
        assert_eq!(
            std::fs::read_to_string(&path).expect("read"),
            "reboot flush lost quorum\n"
        );
        std::fs::remove_file(&path).expect("cleanup");
    }
}
