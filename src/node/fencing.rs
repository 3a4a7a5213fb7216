//! Carrying out fence decisions. A lost node is fenced either through the fencer daemon
//! (`palisade daemon`, its API socket: topology, history, merging) or, without a fencer,
//! by running that node's configured agent directly through the fencer's executor (no
//! argv, `key=value` on stdin built by the fencer's device model — `action`, `nodename`
//! and the plug line —, own process group, SIGKILL at the timeout) — exactly as
//! pacemaker-fenced runs agents. Exit 0 of an `off`/`reboot` is taken as confirmed (agents
//! exit 0 only after seeing the power change). Every request ends in a [`FenceResult`].
//!
//! Two kinds of fencing wait on purpose. Watchdog fencing (`[fencing] watchdog-timeout`,
//! pacemaker's stonith-watchdog-timeout): a node without a fence device counts as fenced
//! once that long has passed since the request — its sbd, told by the health file that
//! it lost quorum (or no longer told anything), has stopped feeding the watchdog, which
//! reset it by then. And a poison pill (a [`DeviceKind::PoisonPill`] device,
//! `fence_sbd`): the agent exits after msgwait; the fencer also reads msgwait from the devices' headers and does not confirm
//! the fence before it has passed since the request ([`sbd_msgwait`]).
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

use super::config::{
    DeviceKind, FenceDevice, FenceVia, NodeConfig, SelfFenceMode, WatchdogFencing,
};
use crate::api::client::Client;
use crate::api::protocol::Request;
use crate::cluster::quorum::NodeId;
use crate::fencer::executor::{resolve_agent, run_agent, Caller};
use crate::fencer::machine::AgentStatus;
use crate::fencer::operation::FenceAction;
use crate::fencer::plan::agent_action;

/// How a fence was confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FencedBy {
    /// The power agent exited 0.
    Agent,
    /// A poison pill was written and msgwait has passed since the request.
    PoisonPill,
    /// No device: the node's own watchdog reset it within the watchdog timeout.
    Watchdog,
    /// The fencer daemon reported the operation done.
    Fencer,
}

/// How a node is fenced (the `via` field of a fence request event and its fields).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum FenceRoute {
    /// Asked of the fencer daemon on `socket`.
    FencerApi { socket: String },
    /// The node's fence agent, run directly.
    Agent { agent: String },
    /// No device: the node's own watchdog resets it within `timeout_ms`.
    Watchdog { timeout_ms: u64 },
    /// Nothing can fence it.
    NoDevice,
}

impl std::fmt::Display for FenceRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FenceRoute::FencerApi { socket } => write!(f, "fencer API {socket}"),
            FenceRoute::Agent { agent } => write!(f, "agent {agent}"),
            FenceRoute::Watchdog { timeout_ms } => {
                write!(f, "its watchdog (fenced {timeout_ms}ms after the request)")
            }
            FenceRoute::NoDevice => write!(f, "no device"),
        }
    }
}

/// The end of one fence request, as decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FenceResult {
    /// The node is fenced.
    Fenced {
        /// How that is known.
        how: FencedBy,
        /// Which device / what the fencer said, for the log.
        detail: String,
    },
    /// It is not (the request is retried).
    Failed {
        /// Why, for the log.
        reason: String,
    },
}

impl FenceResult {
    fn failed(reason: impl Into<String>) -> FenceResult {
        FenceResult::Failed {
            reason: reason.into(),
        }
    }

    /// Whether the node is fenced.
    pub fn is_fenced(&self) -> bool {
        matches!(self, FenceResult::Fenced { .. })
    }

    /// The detail or the reason, for the log.
    pub fn text(&self) -> &str {
        match self {
            FenceResult::Fenced { detail, .. } => detail,
            FenceResult::Failed { reason } => reason,
        }
    }
}

/// The end of one fence request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceOutcome {
    pub node: NodeId,
    pub result: FenceResult,
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
    /// Watchdog fencing of nodes without a device.
    watchdog: Option<WatchdogFencing>,
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
            watchdog: cfg.fencing.watchdog,
        }
    }

    /// The configured action.
    pub fn action(&self) -> FenceAction {
        self.action
    }

    /// How `node` is fenced, for the timeline and its events.
    pub fn route(&self, node: NodeId) -> FenceRoute {
        match &self.via {
            FenceVia::Api(socket) => FenceRoute::FencerApi {
                socket: socket.display().to_string(),
            },
            FenceVia::Direct => match (self.devices.get(&node), self.watchdog) {
                (Some(d), _) => FenceRoute::Agent {
                    agent: d.spec.agent.clone(),
                },
                (None, Some(w)) => FenceRoute::Watchdog {
                    timeout_ms: u64::try_from(w.timeout.as_millis()).unwrap_or(u64::MAX),
                },
                (None, None) => FenceRoute::NoDevice,
            },
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
            let (result, elapsed) = match &this.via {
                FenceVia::Direct => {
                    tokio::time::sleep(delay).await;
                    let t = Instant::now();
                    let result = this.direct(node, &target).await;
                    (result, t.elapsed())
                }
                FenceVia::Api(socket) => {
                    let t = Instant::now();
                    let socket = socket.clone();
                    let (action, timeout, me) = (this.action, this.timeout, this.me.clone());
                    let target = target.clone();
                    let result = tokio::task::spawn_blocking(move || {
                        api_fence(&socket, &target, action, timeout, delay, &me)
                    })
                    .await
                    .unwrap_or_else(|e| {
                        FenceResult::failed(format!("fencer client task failed: {e}"))
                    });
                    (result, t.elapsed().saturating_sub(delay))
                }
            };
            let _ = tx.send(FenceOutcome {
                node,
                result,
                elapsed,
            });
        });
    }

    async fn direct(&self, node: NodeId, target: &str) -> FenceResult {
        let Some(device) = self.devices.get(&node) else {
            if let Some(w) = self.watchdog {
                tokio::time::sleep(w.timeout).await;
                return FenceResult::Fenced {
                    how: FencedBy::Watchdog,
                    detail: format!(
                        "no fence device: self-fenced by its sbd watchdog within watchdog-timeout {}ms (> sbd watchdog {}ms)",
                        w.timeout.as_millis(),
                        w.sbd_watchdog_timeout.as_millis()
                    ),
                };
            }
            return FenceResult::failed(format!("no fence device configured for {target}"));
        };
        let path = match resolve_agent(&device.spec.agent, &self.agent_dirs) {
            Ok(p) => p,
            Err(e) => return FenceResult::failed(e.to_string()),
        };
        let lines = device
            .spec
            .stdin_lines(agent_action(self.action), Some(target));
        let asked = Instant::now();
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
        let ok = format!("{name} {} ok", self.action.as_str());
        match (outcome.status, &device.kind) {
            (AgentStatus::Exited(0), DeviceKind::PoisonPill { devices }) => FenceResult::Fenced {
                how: FencedBy::PoisonPill,
                detail: poison_pill_wait(devices, asked, ok).await,
            },
            (AgentStatus::Exited(0), DeviceKind::Power) => FenceResult::Fenced {
                how: FencedBy::Agent,
                detail: ok,
            },
            (other, _) => {
                let why = outcome
                    .stderr
                    .trim()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .to_string();
                FenceResult::failed(format!("{name} {}: {other:?} {why}", self.action.as_str()))
            }
        }
    }
}

/// The msgwait of the sbd devices named in `devices` (comma list, as fence_sbd takes
/// it): the largest of the readable headers whose timeouts can confirm a fence
/// (blocking). `Err` if none can be read.
pub fn sbd_msgwait(devices: &str) -> Result<Duration, String> {
    let mut longest = None;
    let mut errors = Vec::new();
    for path in devices.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match sbd::blockdev::FileDevice::open(path)
            .map_err(sbd::disk::DiskError::from)
            .and_then(sbd::disk::SbdDisk::open)
            .and_then(|disk| disk.checked_msgwait())
        {
            // A header whose msgwait is 0 or absurd cannot confirm a poison pill.
            Ok(msgwait) => longest = longest.max(Some(msgwait)),
            Err(e) => errors.push(format!("{path}: {e}")),
        }
    }
    longest.ok_or_else(|| {
        if errors.is_empty() {
            "no devices".to_string()
        } else {
            errors.join("; ")
        }
    })
}

/// A poison pill counts only once msgwait has passed since it was asked for: the target
/// has then read it and reset, or its watchdog has. fence_sbd waits msgwait itself; this
/// makes sure of it (an agent that returned early is waited for), and says so in `ok`.
async fn poison_pill_wait(devices: &str, asked: Instant, ok: String) -> String {
    let devices = devices.to_string();
    let msgwait = tokio::task::spawn_blocking(move || sbd_msgwait(&devices))
        .await
        .unwrap_or_else(|e| Err(e.to_string()));
    match msgwait {
        Ok(msgwait) => {
            let left = msgwait.saturating_sub(asked.elapsed());
            if !left.is_zero() {
                tokio::time::sleep(left).await;
            }
            format!(
                "{ok} (poison pill: msgwait {}ms passed{})",
                msgwait.as_millis(),
                if left.is_zero() {
                    String::new()
                } else {
                    format!(", waited {}ms more than the agent", left.as_millis())
                }
            )
        }
        Err(e) => format!("{ok} (msgwait not read back: {e}; the agent's own wait stands)"),
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
) -> FenceResult {
    let read_limit = timeout.saturating_mul(2) + delay + Duration::from_secs(10);
    let mut client = match Client::connect(socket, Some(read_limit)) {
        Ok(c) => c,
        Err(e) => return FenceResult::failed(e.to_string()),
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
                FenceResult::Fenced {
                    how: FencedBy::Fencer,
                    detail: format!("fencer: done by {devices}"),
                }
            } else {
                FenceResult::failed(format!("fencer: {result}"))
            }
        }
        Err(e) => FenceResult::failed(format!("fencer: {e}")),
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

    fn device(agent: &str, params: &[(&str, &str)]) -> FenceDevice {
        let params = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        FenceDevice::new(3, agent, &params).expect("valid device")
    }

    fn stdin(device: &FenceDevice, action: FenceAction, target: &str) -> String {
        let lines = device.spec.stdin_lines(agent_action(action), Some(target));
        crate::fencer::agent_input::stdin_text(&lines).expect("clean lines")
    }

    #[test]
    fn agent_stdin_adds_the_target_like_pacemaker() {
        let dummy = device("fence_dummy", &[("status_file", "/tmp/s")]);
        assert_eq!(dummy.kind, DeviceKind::Power);
        assert_eq!(
            stdin(&dummy, FenceAction::Off, "node3"),
            "status_file=/tmp/s\naction=off\nnodename=node3\nport=node3\n"
        );
        // A device naming its own plug (or port) gets no plug line; `action` and
        // `nodename` in the parameters are the fencer's.
        let with_plug = device("fence_ipmilan", &[("plug", "7"), ("action", "on")]);
        assert_eq!(
            stdin(&with_plug, FenceAction::Reboot, "n"),
            "plug=7\naction=reboot\nnodename=n\n"
        );
        let with_port = device("/usr/sbin/fence_ipmilan", &[("port", "4"), ("plug", "7")]);
        assert_eq!(
            stdin(&with_port, FenceAction::Off, "n"),
            "plug=7\nport=4\naction=off\nnodename=n\n"
        );
    }

    #[test]
    fn pcmk_keys_steer_the_stdin_and_never_reach_the_agent() {
        let mapped = device(
            "fence_ipmilan",
            &[
                ("ip", "10.0.0.9"),
                ("pcmk_host_map", "node3:9"),
                ("pcmk_off_action", "reboot"),
            ],
        );
        assert_eq!(
            stdin(&mapped, FenceAction::Off, "node3"),
            "ip=10.0.0.9\naction=reboot\nnodename=node3\nport=9\n"
        );
        let plug_named = device("fence_x", &[("pcmk_host_argument", "plug")]);
        assert_eq!(
            stdin(&plug_named, FenceAction::Off, "n"),
            "action=off\nnodename=n\nplug=n\n"
        );
    }

    #[test]
    fn the_poison_pill_is_a_kind_of_device() {
        let sbd = device("/usr/sbin/fence_sbd", &[("devices", "/dev/a,/dev/b")]);
        assert_eq!(
            sbd.kind,
            DeviceKind::PoisonPill {
                devices: "/dev/a,/dev/b".into()
            }
        );
        assert_eq!(
            device("fence_sbd", &[]).kind,
            DeviceKind::PoisonPill {
                devices: String::new()
            }
        );
        assert_eq!(device("fence_sbdx", &[]).kind, DeviceKind::Power);
        for agent in ["sbd", "bin/fence_x"] {
            assert!(
                matches!(
                    FenceDevice::new(1, agent, &BTreeMap::new()),
                    Err(crate::fencer::device::DeviceError::Agent { .. })
                ),
                "{agent}"
            );
        }
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

    fn sbd_image(tag: &str, msgwait: u32) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("palisade-fencing-{tag}-{}.img", std::process::id()));
        let file = std::fs::File::create(&path).expect("image");
        file.set_len(1 << 20).expect("size");
        let device = sbd::blockdev::FileDevice::open(&path).expect("open");
        let timeouts = sbd::format::DiskTimeouts {
            msgwait,
            ..Default::default()
        };
        sbd::disk::SbdDisk::create(device, timeouts, [3; 16]).expect("create");
        path
    }

    #[test]
    fn msgwait_is_read_from_the_devices() {
        let a = sbd_image("a", 1);
        let b = sbd_image("b", 2);
        let list = format!("{}, {},/nonexistent", a.display(), b.display());
        assert_eq!(sbd_msgwait(&list), Ok(Duration::from_secs(2)));
        assert!(sbd_msgwait("/nonexistent").is_err());
        assert_eq!(sbd_msgwait(""), Err("no devices".into()));
        let _ = std::fs::remove_file(a);
        let _ = std::fs::remove_file(b);
    }

    #[test]
    fn a_header_that_cannot_confirm_a_pill_is_refused() {
        // issue 11, defect 9: msgwait 0 would confirm a pill at once, 0xffffffff never.
        for (tag, msgwait) in [("zero", 0u32), ("huge", u32::MAX)] {
            let path = sbd_image(tag, 1);
            let mut image = std::fs::read(&path).expect("read");
            // msgwait is bytes 28..32 of sector 0, big-endian (sbd/FORMAT.md); the
            // integrity field (256..264) zeroed, as a ClusterLabs header has it.
            image[28..32].copy_from_slice(&msgwait.to_be_bytes());
            image[256..264].fill(0);
            std::fs::write(&path, &image).expect("write");
            let answer = sbd_msgwait(&path.display().to_string());
            assert!(answer.is_err(), "{tag}: {answer:?}");
            let _ = std::fs::remove_file(path);
        }
    }

    #[tokio::test]
    async fn a_poison_pill_counts_only_after_msgwait() {
        let img = sbd_image("pill", 1);
        let asked = Instant::now();
        let text =
            poison_pill_wait(&img.display().to_string(), asked, "fence_sbd off ok".into()).await;
        // A lower bound on a wait the program itself does (msgwait counted from `asked`,
        // taken here before the call): a slow machine only lengthens it, so it cannot flake.
        assert!(asked.elapsed() >= Duration::from_secs(1), "{text}");
        assert!(text.contains("msgwait 1000ms passed"), "{text}");
        let _ = std::fs::remove_file(img);
    }

    #[tokio::test]
    async fn a_node_without_a_device_is_watchdog_fenced_after_the_timeout() {
        let text = r#"
[cluster]
id = 1
key-file = "/k"
node = "a"
sbd-health-file = "/run/h"
[fencing]
watchdog-timeout = "300ms"
sbd-watchdog-timeout = "100ms"
[[node]]
name = "a"
id = 1
addresses = ["127.0.0.1"]
[[node]]
name = "b"
id = 2
addresses = ["127.0.0.2"]
"#;
        let cfg = crate::node::config::parse(text, None, |_| Ok(vec![7u8; 16])).expect("config");
        let fencer = Fencer::new(&cfg);
        assert!(
            matches!(fencer.route(2), FenceRoute::Watchdog { .. }),
            "{}",
            fencer.route(2)
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let asked = Instant::now();
        fencer.spawn(2, Duration::ZERO, tx);
        let out = rx.recv().await.expect("outcome");
        assert!(
            matches!(
                out.result,
                FenceResult::Fenced {
                    how: FencedBy::Watchdog,
                    ..
                }
            ),
            "{out:?}"
        );
        // A lower bound on a wait the fencer itself does (the 300 ms watchdog timeout,
        // counted from after `asked`): a slow machine only lengthens it, so it cannot flake.
        assert!(asked.elapsed() >= Duration::from_millis(300));
        assert!(out.result.text().contains("watchdog"), "{out:?}");
    }
}
