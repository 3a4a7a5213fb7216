//! Resources on this node: OCF agents run as pacemaker's executor runs them (LSB init
//! scripts and systemd units: [`super::agent_class`]), one actor task per resource
//! instance ([`super::resource_actor`]) that serializes its operations.
//!
//! An operation is `$OCF_ROOT/resource.d/<provider>/<type> <action>` with a clean
//! environment: `OCF_ROOT`, `OCF_RA_VERSION_MAJOR/MINOR`, `OCF_RESOURCE_INSTANCE`,
//! `OCF_RESOURCE_TYPE`, `OCF_RESOURCE_PROVIDER`, `OCF_RESKEY_<param>` for every
//! parameter, `OCF_RESKEY_CRM_meta_{timeout,interval,on_node}` (the timeout is the
//! operation's own), `OCF_RESKEY_CRM_meta_role` for a monitor of one role, a clone's
//! `OCF_RESKEY_CRM_meta_{clone,clone_max,clone_node_max,notify,globally_unique,...}`
//! ([`CloneOf::meta_env`]) and `PALISADE_EPOCH` (the node's view number, for test agents
//! that log it). The instance of a promotable clone also gets `HA_SBIN_DIR` (first in
//! `PATH` too) naming palisade's own `crm_attribute` and `crm_master`
//! ([`super::attributes`]), so the agent's promotion score reaches the scheduler. The
//! agent runs in its own process group; at the operation's timeout the group gets
//! SIGKILL. Exit codes are OCF's 0-9 ([`OcfRc`]).
//!
//! What the actor reports is a [`ResourceEvent`]; recovering a failed instance in place
//! or elsewhere is the scheduler's decision ([`crate::placement`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::agent_class::ClassSettings;
use super::agent_exec;
use super::config::ResourceEntry;
use super::operations::CloneOf;
use crate::placement::config::Role;
use crate::process::Spec;

/// An OCF exit code, or how the agent failed to give one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcfRc {
    /// 0: success / running (not promoted).
    Success,
    /// 1-6: OCF_ERR_GENERIC, _ARGS, _UNIMPLEMENTED, _PERM, _INSTALLED, _CONFIGURED.
    Error(i32),
    /// 7: OCF_NOT_RUNNING.
    NotRunning,
    /// 8: OCF_RUNNING_PROMOTED (running in the promoted role).
    RunningPromoted,
    /// 9: OCF_FAILED_PROMOTED (failed in the promoted role).
    FailedPromoted,
    /// Another code.
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
            8 => OcfRc::RunningPromoted,
            9 => OcfRc::FailedPromoted,
            c => OcfRc::Other(c),
        }
    }

    /// Whether the code says the instance is (or may be) in the promoted role.
    pub fn promoted(&self) -> bool {
        matches!(self, OcfRc::RunningPromoted | OcfRc::FailedPromoted)
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
            OcfRc::RunningPromoted => write!(f, "8 OCF_RUNNING_PROMOTED"),
            OcfRc::FailedPromoted => write!(f, "9 OCF_FAILED_PROMOTED"),
            OcfRc::Error(c) | OcfRc::Other(c) => write!(f, "{c} {}", name(*c)),
            OcfRc::TimedOut => write!(f, "timed out"),
            OcfRc::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// In events: `{"code": 7, "name": "OCF_NOT_RUNNING"}`; no code when the agent gave
/// none (`"timed out"`, `"failed: ..."`).
impl serde::Serialize for OcfRc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let code = match self {
            OcfRc::Success => Some(0),
            OcfRc::NotRunning => Some(7),
            OcfRc::RunningPromoted => Some(8),
            OcfRc::FailedPromoted => Some(9),
            OcfRc::Error(c) | OcfRc::Other(c) => Some(*c),
            OcfRc::TimedOut | OcfRc::Failed(_) => None,
        };
        let text = self.to_string();
        let name = match code {
            Some(c) => text
                .strip_prefix(&format!("{c} "))
                .unwrap_or(&text)
                .to_string(),
            None => text,
        };
        let mut st = s.serialize_struct("OcfRc", 2)?;
        st.serialize_field("code", &code)?;
        st.serialize_field("name", &name)?;
        st.end()
    }
}

/// What the actor tells the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// Startup probe: not running here (or not probe-able: the rc says why).
    ProbedStopped(OcfRc),
    /// Startup probe found it running (promoted or not); it is being stopped (a leftover).
    ProbedRunning {
        /// Found in the promoted role (it is demoted first).
        promoted: bool,
    },
    /// Start succeeded.
    Started(Duration),
    /// Start failed: the instance is failed here until stopped.
    StartFailed(OcfRc),
    /// Promote succeeded.
    Promoted(Duration),
    /// Promote failed: failed, and maybe promoted, until demoted and stopped.
    PromoteFailed(OcfRc),
    /// Demote succeeded (the instance may still be failed).
    Demoted(Duration),
    /// Demote failed: failed and maybe still promoted.
    DemoteFailed(OcfRc),
    /// Stopped (after a Stop or a leftover).
    Stopped(Duration),
    /// Stop failed: the state is unknown (it may still run).
    StopFailed(OcfRc),
    /// A recurring monitor failed: failed here until stopped.
    MonitorFailed {
        /// The monitor's result.
        rc: OcfRc,
        /// Whether it is (or may be) in the promoted role.
        promoted: bool,
    },
    /// Probed again when maintenance ended: what runs now.
    Reprobed {
        /// The probe's result.
        rc: OcfRc,
        /// None: not running; Some(promoted): running.
        running: Option<bool>,
        /// Neither running nor cleanly stopped: failed.
        failed: bool,
    },
    /// The agent changed its promotion score (`crm_attribute --promotion`); None: deleted.
    PromotionScore(Option<String>),
}

/// An event of one resource instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceEvent {
    pub resource: String,
    pub what: What,
}

/// What the driver asks of a resource instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Start,
    Stop,
    Promote,
    Demote,
    /// Maintenance on (recurring monitors pause) or off (probe again, then monitor).
    Maintenance(bool),
}

/// The driver's handle on a resource actor.
#[derive(Debug, Clone)]
pub struct ResourceHandle {
    pub(super) tx: mpsc::UnboundedSender<Order>,
}

impl ResourceHandle {
    /// Ask the actor to start (ignored if it runs).
    pub fn start(&self) {
        let _ = self.tx.send(Order::Start);
    }

    /// Ask the actor to stop (ignored if stopped; a promoted instance is demoted first).
    pub fn stop(&self) {
        let _ = self.tx.send(Order::Stop);
    }

    /// Ask the actor to promote (ignored unless it runs unpromoted).
    pub fn promote(&self) {
        let _ = self.tx.send(Order::Promote);
    }

    /// Ask the actor to demote (ignored unless it is promoted).
    pub fn demote(&self) {
        let _ = self.tx.send(Order::Demote);
    }

    /// Maintenance on or off.
    pub fn maintenance(&self, on: bool) {
        let _ = self.tx.send(Order::Maintenance(on));
    }
}

/// Where agents of promotable clones report their promotion score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionDirs {
    /// `HA_SBIN_DIR` of those agents: palisade's `crm_attribute` and `crm_master`.
    pub sbin: PathBuf,
    /// One file per instance holding its score ([`super::attributes`]).
    pub scores: PathBuf,
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
    /// The promotion-score shim (None: not set up; agents keep pacemaker's tools).
    pub promotion: Option<PromotionDirs>,
}

/// The OCF word of a role, as pacemaker passes `CRM_meta_role`.
fn role_word(role: Role) -> &'static str {
    match role {
        Role::Promoted => "Promoted",
        Role::Started => "Unpromoted",
    }
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
    let mut path_var = "/usr/sbin:/usr/bin:/sbin:/bin".to_string();
    let promotable = entry.clone.as_ref().is_some_and(|c| c.promotable);
    if let Some(dirs) = ctx.promotion.as_ref().filter(|_| promotable) {
        path_var = format!("{}:{path_var}", dirs.sbin.display());
        set("HA_SBIN_DIR", dirs.sbin.display().to_string());
        set(
            super::attributes::SCORES_ENV,
            dirs.scores.display().to_string(),
        );
    }
    set("PATH", path_var);
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
        entry.ops.timeout(action, interval).as_millis().to_string(),
    );
    set(
        "OCF_RESKEY_CRM_meta_interval",
        interval.as_millis().to_string(),
    );
    if action == "monitor" && !interval.is_zero() {
        let role = entry
            .ops
            .monitors
            .iter()
            .find(|m| m.interval == interval)
            .and_then(|m| m.role);
        if let Some(role) = role {
            set("OCF_RESKEY_CRM_meta_role", role_word(role).into());
        }
    }
    set("OCF_RESKEY_CRM_meta_on_node", ctx.node_name.clone());
    set(
        "PALISADE_EPOCH",
        ctx.epoch.load(Ordering::Relaxed).to_string(),
    );
    for (k, v) in entry.clone.iter().flat_map(CloneOf::meta_env) {
        set(&k, v);
    }
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
    let spec = Spec::clean(path.to_path_buf(), vec![action.to_string()], env.to_vec());
    let ran = agent_exec::run_program(&spec, timeout).await;
    (agent_exec::rc(&ran, OcfRc::from_code), ran.stderr)
}

/// Start the actor of `entry` (it probes first); its events go to `events`.
pub fn spawn(
    entry: ResourceEntry,
    ctx: AgentContext,
    events: mpsc::UnboundedSender<ResourceEvent>,
) -> ResourceHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(super::resource_actor::run(entry, ctx, events, rx));
    ResourceHandle { tx }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::operations::{Monitor, Operations};

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
            op_timeout: Duration::from_secs(30),
            max_failures: 3,
            ops: Operations {
                start: Duration::from_secs(30),
                monitors: vec![Monitor {
                    role: None,
                    interval: Duration::from_secs(2),
                    timeout: Duration::from_secs(20),
                }],
                ..Operations::default()
            },
            clone: None,
        }
    }

    fn ctx() -> AgentContext {
        AgentContext {
            ocf_root: PathBuf::from("/usr/lib/ocf"),
            node_name: "node1".into(),
            epoch: Arc::new(AtomicU64::new(4)),
            classes: ClassSettings::default(),
            promotion: Some(PromotionDirs {
                sbin: PathBuf::from("/st/sbin"),
                scores: PathBuf::from("/st/scores"),
            }),
        }
    }

    #[test]
    fn command_follows_ocf_conventions() {
        let ctx = ctx();
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
        assert_eq!(env["PATH"], "/usr/sbin:/usr/bin:/sbin:/bin");
        assert!(!env.contains_key("HA_SBIN_DIR"), "not promotable");
        assert!(!env.contains_key("OCF_RESKEY_CRM_meta_clone"));
        // Each operation's own timeout.
        let (_, start) = agent_command(&entry(), &ctx, "start", Duration::ZERO);
        let start: BTreeMap<String, String> = start.into_iter().collect();
        assert_eq!(start["OCF_RESKEY_CRM_meta_timeout"], "30000");
    }

    #[test]
    fn promotable_instances_get_clone_meta_roles_and_the_score_shim() {
        let mut e = entry();
        e.ops.monitors = vec![
            Monitor {
                role: Some(Role::Promoted),
                interval: Duration::from_secs(3),
                timeout: Duration::from_secs(9),
            },
            Monitor {
                role: Some(Role::Started),
                interval: Duration::from_secs(4),
                timeout: Duration::from_secs(8),
            },
        ];
        e.clone = Some(CloneOf {
            clone: "web-clone".into(),
            clone_max: 3,
            clone_node_max: 1,
            promotable: true,
            promoted_max: 1,
            promoted_node_max: 1,
            instance: 2,
        });
        let env = |interval: u64| -> BTreeMap<String, String> {
            agent_command(&e, &ctx(), "monitor", Duration::from_secs(interval))
                .1
                .into_iter()
                .collect()
        };
        let promoted = env(3);
        assert_eq!(promoted["OCF_RESKEY_CRM_meta_role"], "Promoted");
        assert_eq!(promoted["OCF_RESKEY_CRM_meta_timeout"], "9000");
        assert_eq!(promoted["OCF_RESKEY_CRM_meta_clone"], "2");
        assert_eq!(promoted["OCF_RESKEY_CRM_meta_clone_max"], "3");
        assert_eq!(promoted["OCF_RESKEY_CRM_meta_notify"], "false");
        assert_eq!(promoted["HA_SBIN_DIR"], "/st/sbin");
        assert!(promoted["PATH"].starts_with("/st/sbin:"));
        assert_eq!(promoted[crate::node::attributes::SCORES_ENV], "/st/scores");
        let unpromoted = env(4);
        assert_eq!(unpromoted["OCF_RESKEY_CRM_meta_role"], "Unpromoted");
        assert_eq!(unpromoted["OCF_RESKEY_CRM_meta_timeout"], "8000");
        assert!(!env(0).contains_key("OCF_RESKEY_CRM_meta_role"), "probe");
    }

    #[test]
    fn exit_codes_are_named() {
        assert_eq!(OcfRc::from_code(0), OcfRc::Success);
        assert_eq!(OcfRc::from_code(7), OcfRc::NotRunning);
        assert_eq!(OcfRc::from_code(5).to_string(), "5 OCF_ERR_INSTALLED");
        assert_eq!(OcfRc::from_code(42), OcfRc::Other(42));
        assert_eq!(OcfRc::from_code(8), OcfRc::RunningPromoted);
        assert_eq!(OcfRc::from_code(9).to_string(), "9 OCF_FAILED_PROMOTED");
        assert!(OcfRc::from_code(9).promoted() && !OcfRc::Success.promoted());
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
        // stop sleeps 30 s and exits 0: TimedOut (not Success) is the 300 ms timeout
        // ending it; a runner that waited for the sleep anyway would hang this test, and
        // the harness's hang is the failure.
        assert_eq!(run("stop", 300), OcfRc::TimedOut);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
