//! What goes in and out of the [`Fencer`](super::Fencer) state machine, and its private
//! bookkeeping of operations and agent runs.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::fencer::device::AgentAction;
use crate::fencer::dryrun::{DryRunReport, DryRunRequest, ProbeAction, ProbeAnswer};
use crate::fencer::duration::Moment;
use crate::fencer::health::Health;
use crate::fencer::operation::{
    FenceAction, FenceRequest, OpId, OpResult, QueryRequest, RequestId, RunId,
};
use crate::fencer::plan::PlannedLevel;

/// Input to the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Fence (or unfence) a target.
    Fence(FenceRequest),
    /// Which devices can fence a target?
    Query(QueryRequest),
    /// What would fencing a target do? (Resolves like a fence, probes, never fences.)
    DryRun(DryRunRequest),
    /// An agent run ended (after its delay, within its timeout or killed at it).
    AgentDone {
        /// The run.
        run: RunId,
        /// How it ended.
        outcome: AgentOutcome,
    },
    /// Time passed; deadlines may have expired (see [`super::Fencer::poll_deadline`]).
    Tick,
    /// The daemon stops: cancel everything.
    Shutdown,
}

/// How an agent process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum AgentStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed (process group, SIGKILL) at its timeout.
    TimedOut,
    /// Died of this signal.
    Signalled(i32),
    /// Could not be started.
    SpawnFailed(String),
    /// Never handed to the executor: its budget ran out first (busy device, no time left).
    NotStarted(String),
}

/// An agent run's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentOutcome {
    /// Exit status.
    pub status: AgentStatus,
    /// Its standard output (the `list` action's targets).
    pub stdout: String,
    /// Its standard error (the reason of a failure).
    pub stderr: String,
}

impl AgentOutcome {
    /// An outcome with just an exit code (tests, simple drivers).
    pub fn exited(code: i32) -> AgentOutcome {
        AgentOutcome {
            status: AgentStatus::Exited(code),
            stdout: String::new(),
            stderr: String::new(),
        }
    }

    /// One-line description: `ok`, `exit 1: <last stderr line>`, `timed out`...
    pub fn summary(&self) -> String {
        let reason = self
            .stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| {
                let short: String = l.chars().take(200).collect();
                format!(": {short}")
            })
            .unwrap_or_default();
        match &self.status {
            AgentStatus::Exited(0) => "ok".to_string(),
            AgentStatus::Exited(code) => format!("exit {code}{reason}"),
            AgentStatus::TimedOut => "timed out (process group killed)".to_string(),
            AgentStatus::Signalled(sig) => format!("killed by signal {sig}{reason}"),
            AgentStatus::SpawnFailed(why) => format!("cannot run agent: {why}"),
            AgentStatus::NotStarted(why) => format!("not started: {why}"),
        }
    }
}

/// One agent run to carry out: spawn `agent` with no argv and `stdin` lines, after
/// `delay`, killed with its process group after `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRun {
    /// The run's number (for [`Event::AgentDone`]).
    pub run: RunId,
    /// Device name.
    pub device: String,
    /// Agent (`fence_*` name or absolute path).
    pub agent: String,
    /// The fencer's action (the agent may get another via `pcmk_<action>_action`).
    pub action: AgentAction,
    /// Target node, for targeted actions.
    pub target: Option<String>,
    /// `name=value` lines for stdin.
    pub stdin: Vec<(String, String)>,
    /// Wait before starting (fencing delays).
    pub delay: Duration,
    /// Time the agent gets once started.
    pub timeout: Duration,
}

/// Output of the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start an agent run.
    RunAgent(AgentRun),
    /// Kill a running agent (its operation is over); its `AgentDone` is still expected.
    CancelRun(RunId),
    /// Answer a request.
    Reply {
        /// The request.
        request: RequestId,
        /// The answer.
        reply: Reply,
    },
    /// Something subscribers may want to know.
    Notify(Notice),
    /// A finished fencing operation, for the history journal.
    Record(OperationRecord),
    /// A device health check ended, for the history journal and the metrics.
    HealthChecked(HealthRecord),
}

/// An answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The fencing operation ended.
    Fence {
        /// Operation (shared by merged requests).
        op: OpId,
        /// How it ended.
        result: OpResult,
    },
    /// Devices that can fence the target, best first.
    Query {
        /// Device names.
        devices: Vec<String>,
    },
    /// What a fence would do.
    DryRun(DryRunReport),
}

/// Progress of operations, for the event stream and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "event")]
pub enum Notice {
    /// A fencing operation began.
    Started {
        /// Operation.
        op: OpId,
        /// Target.
        target: String,
        /// Action.
        action: FenceAction,
        /// Who asked.
        requester: String,
        /// Its budget.
        #[serde(with = "crate::fencer::duration::serde_millis")]
        timeout: Duration,
    },
    /// A request joined an identical operation in flight.
    Merged {
        /// Operation joined.
        op: OpId,
        /// The request.
        request: RequestId,
        /// Who asked.
        requester: String,
    },
    /// A merged request's own timeout passed before its operation ended: it was answered
    /// `timed-out`; the operation goes on for the others.
    MergedTimedOut {
        /// Operation it had joined.
        op: OpId,
        /// The request.
        request: RequestId,
    },
    /// An agent run for a step started (after its delay, if any).
    AttemptStarted {
        /// Operation.
        op: OpId,
        /// Run.
        run: RunId,
        /// Level index (0 = no topology).
        level: u8,
        /// Device.
        device: String,
        /// Agent action.
        action: AgentAction,
        /// 1-based attempt on this step.
        attempt: u32,
    },
    /// An agent run for a step ended.
    AttemptFinished {
        /// Operation.
        op: OpId,
        /// Run.
        run: RunId,
        /// Device.
        device: String,
        /// Agent action.
        action: AgentAction,
        /// Verified success.
        ok: bool,
        /// Outcome in words.
        outcome: String,
        /// Run time including delay, in milliseconds.
        elapsed_ms: u64,
    },
    /// A fencing operation ended.
    Finished {
        /// Operation.
        op: OpId,
        /// Target.
        target: String,
        /// Action.
        action: FenceAction,
        /// Result.
        result: OpResult,
    },
    /// A device was added or replaced.
    DeviceRegistered {
        /// Device name.
        device: String,
    },
    /// A device was removed.
    DeviceUnregistered {
        /// Device name.
        device: String,
    },
    /// Topology levels were added or removed for a selector.
    TopologyChanged {
        /// The selector, as text (`node1`, `~pattern`, `attr=value`).
        target: String,
    },
    /// A device's health changed (its periodic `monitor` started or stopped failing).
    DeviceHealth {
        /// Device name.
        device: String,
        /// Its health now.
        health: Health,
        /// Before.
        previous: Health,
        /// The check's outcome in words.
        outcome: String,
        /// Failed checks since the last success.
        consecutive_failures: u32,
    },
    /// Whether a target can be fenced changed: `false` when every fencing path (every
    /// level, or every capable device) has a failing device.
    TargetFenceable {
        /// The target.
        target: String,
        /// Some path has no failing device.
        fenceable: bool,
    },
}

/// One device health check, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// Device.
    pub device: String,
    /// When the check ended.
    pub at: Moment,
    /// `monitor` exited 0.
    pub ok: bool,
    /// Outcome in words.
    pub outcome: String,
    /// The device's health after it.
    pub health: Health,
    /// Failed checks since the last success.
    pub consecutive_failures: u32,
}

/// One agent run of an operation, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// Level index (0 = no topology).
    pub level: u8,
    /// Device.
    pub device: String,
    /// Agent action.
    pub action: AgentAction,
    /// Plug sent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plug: Option<String>,
    /// 1-based attempt on its step.
    pub attempt: u32,
    /// When the run was started (delay included).
    pub started: Moment,
    /// When it ended.
    pub finished: Moment,
    /// Verified success.
    pub ok: bool,
    /// Outcome in words.
    pub outcome: String,
}

/// A finished fencing operation, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// Operation number (unique within one daemon run).
    pub op: OpId,
    /// Target.
    pub target: String,
    /// Action.
    pub action: FenceAction,
    /// Who asked (several when requests merged).
    pub requesters: Vec<String>,
    /// When the first request arrived.
    pub started: Moment,
    /// When it ended.
    pub finished: Moment,
    /// How it ended.
    pub result: OpResult,
    /// Every agent run, in order.
    pub attempts: Vec<AttemptRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpKind {
    Fence(FenceAction),
    Query,
    /// A dry run of this fence action.
    DryRun(FenceAction),
}

impl OpKind {
    /// The fence action whose plan the operation follows (fence or dry run).
    pub fn planned_action(self) -> Option<FenceAction> {
        match self {
            OpKind::Fence(action) | OpKind::DryRun(action) => Some(action),
            OpKind::Query => None,
        }
    }
}

/// Where an operation is.
#[derive(Debug)]
pub(super) enum Phase {
    /// Created, not started (waiting for its turn without `concurrent-fencing`).
    Starting,
    /// Finding capable devices: `pending` still to answer, `capable` so far.
    Resolving {
        pending: BTreeSet<String>,
        capable: BTreeSet<String>,
    },
    /// Running the plan.
    Executing(Execution),
    /// A dry run asking the plan's devices `monitor` and `status`.
    Probing(Probing),
}

/// A dry run's probes.
#[derive(Debug)]
pub(super) struct Probing {
    /// The plan a real fence would follow.
    pub plan: Vec<PlannedLevel>,
    /// Probe runs still out.
    pub pending: BTreeSet<RunId>,
    /// Answers so far, by device and probe.
    pub answers: std::collections::BTreeMap<(String, ProbeAction), ProbeAnswer>,
}

/// Progress through the plan.
#[derive(Debug)]
pub(super) struct Execution {
    pub levels: Vec<PlannedLevel>,
    pub level: usize,
    pub step: usize,
    /// 1-based attempt of the current step.
    pub attempt: u32,
    /// The current step's budget (all its attempts).
    pub step_deadline: Moment,
    /// The current step's run.
    pub run: Option<RunId>,
}

#[derive(Debug)]
pub(super) struct Operation {
    pub id: OpId,
    pub kind: OpKind,
    pub target: String,
    pub requests: Vec<Waiter>,
    pub started: Moment,
    pub deadline: Moment,
    /// Request delay still to apply before the first fencing step.
    pub pending_delay: Duration,
    pub phase: Phase,
    pub attempts: Vec<AttemptRecord>,
    pub last_error: Option<String>,
    pub warnings: Vec<String>,
}

impl Operation {
    pub fn is_fence(&self) -> bool {
        matches!(self.kind, OpKind::Fence(_))
    }

    /// The earliest deadline of a merged request still waiting for its answer.
    pub fn next_waiter_deadline(&self) -> Option<Moment> {
        self.requests
            .iter()
            .filter(|w| !w.answered)
            .filter_map(|w| w.deadline)
            .min()
    }
}

/// A request waiting for an operation's end.
#[derive(Debug)]
pub(super) struct Waiter {
    pub id: RequestId,
    /// Who asked (for the history).
    pub requester: String,
    /// A merged request's own end (its timeout after its own delay); `None` for the
    /// request that started the operation (it ends with the operation's deadline).
    pub deadline: Option<Moment>,
    /// Already answered (a merged request whose own deadline passed).
    pub answered: bool,
}

impl Waiter {
    pub fn first(id: RequestId, requester: String) -> Waiter {
        Waiter {
            id,
            requester,
            deadline: None,
            answered: false,
        }
    }
}

/// Why a run exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// Refresh a device's dynamic list (shared by every waiting operation).
    ListRefresh,
    /// Ask `status` whether the device can fence an operation's target.
    StatusCheck { op: OpId },
    /// The current step of an operation.
    Step { op: OpId },
    /// A dry run's probe (never a power action).
    Probe { op: OpId, probe: ProbeAction },
    /// A periodic device health check (`monitor`).
    HealthCheck,
    /// Its operation is gone; only the slot matters.
    Abandoned,
}

/// How long a run may take once dispatched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Budget {
    /// Up to a fixed end (retries share their step's budget).
    Until(Moment),
    /// `timeout` from when it is dispatched (after its delay), but not past `cap`.
    Span { timeout: Duration, cap: Moment },
}

/// A run the machine knows about (queued for a device slot, or running).
#[derive(Debug, Clone)]
pub(super) struct RunInfo {
    pub purpose: Purpose,
    pub device: String,
    pub queued: bool,
    /// Waiting in the queue past this moment fails the run.
    pub queue_deadline: Moment,
    /// Its budget once dispatched.
    pub budget: Budget,
    /// When it was dispatched (its delay starts then).
    pub dispatched: Moment,
    /// The run to emit (timeout filled in at dispatch).
    pub run: AgentRun,
    /// Level index, attempt and plug (for the journal).
    pub level: u8,
    pub attempt: u32,
    pub plug: Option<String>,
}
