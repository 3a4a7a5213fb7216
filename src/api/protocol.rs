//! The wire protocol of the fencer API (version 1), documented in `docs/fencer-api.md`:
//! JSON lines over a Unix socket, the envelope of the IPC layer ([`crate::ipc::wire`]). A request is one object with `"request": "<kind>"`,
//! an optional `"id"` (any JSON value, echoed back) and `"v": 1` (optional); each gets
//! one response line `{"v":1,"id":..,"ok":true,"result":{..}}` or
//! `{"v":1,"id":..,"ok":false,"error":{"code":"..","message":".."}}`. After `subscribe`,
//! event lines `{"v":1,"at":<unix ms>,"event":"<kind>",..}` follow. Parsing is pure and
//! strict: unknown kinds and unknown fields are errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::fencer::duration::Moment;
use crate::fencer::health::DeviceHealth;
use crate::fencer::history::{HistoryEntry, HistoryQuery};
use crate::fencer::machine::Notice;
use crate::fencer::operation::{FenceAction, OpId, OpResult};
use crate::fencer::topology::{Level, TargetSelector};

pub use crate::ipc::wire::{ApiError, ErrorCode, Rejected, Response};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// Longest request line accepted (bytes, newline excluded).
pub const MAX_LINE: usize = 64 * 1024;

/// The fencer API as a service of the IPC layer ([`crate::ipc`]). Results differ by
/// request kind (`HelloResult`, `FenceResult`, ...): the client's answer is the JSON
/// `result`, read with [`crate::ipc::client::Client::call_as`] or decoded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct FencerApi;

impl crate::ipc::Protocol for FencerApi {
    type Request = Request;
    type Answer = Value;
    const VERSION: u32 = PROTOCOL_VERSION;
    const MAX_LINE: usize = MAX_LINE;
    const MAX_ANSWER: usize = 256 * 1024 * 1024;
    const SERVICE: &'static str = "fencer";
    const START_HINT: &'static str = "is `palisade daemon` running?";
    const EXAMPLES: &'static str = "\"fence\", \"query\", \"devices\"";
}

/// One request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    /// Protocol and daemon version.
    Hello {},
    /// Fence (or unfence with `"action":"on"`) a target; answered when it ends.
    Fence {
        /// Node to fence.
        target: String,
        /// `off`, `reboot` or `on`; default: the configured `fencing-action`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<FenceAction>,
        /// Budget in milliseconds; default: `fencing-timeout`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        /// Extra delay before the first device runs (not counted in the budget).
        #[serde(default, skip_serializing_if = "is_zero")]
        delay_ms: u64,
        /// Who asks (for the history); default: `uid:<peer uid>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requester: Option<String>,
    },
    /// What fencing a target would do, without fencing it: resolves targeting, levels
    /// and delays as `fence` does, then runs only `monitor` and `status` on the
    /// candidate devices (never off, reboot or on). Answered with a
    /// [`crate::fencer::dryrun::DryRunReport`].
    DryRun {
        /// Node that would be fenced.
        target: String,
        /// `off`, `reboot` or `on`; default: the configured `fencing-action`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<FenceAction>,
        /// Budget of the probes (and of the real fence, for the worst case).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        /// The delay a real request would ask for (counted in the worst case only).
        #[serde(default, skip_serializing_if = "is_zero")]
        delay_ms: u64,
    },
    /// Which devices can fence a target (may run `list` / `status` agents).
    Query {
        /// Node asked about.
        target: String,
        /// Budget in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
    },
    /// Registered devices.
    Devices {},
    /// Add or replace a device (pacemaker-style flat parameters, `pcmk_*` included).
    RegisterDevice {
        /// Device name.
        name: String,
        /// `fence_*` name or absolute path.
        agent: String,
        /// Parameters.
        #[serde(default)]
        params: BTreeMap<String, String>,
        /// Priority without topology (higher first).
        #[serde(default)]
        priority: i32,
    },
    /// Remove a device.
    UnregisterDevice {
        /// Device name.
        name: String,
    },
    /// The topology.
    Levels {},
    /// Add or replace a level.
    RegisterLevel {
        /// Which targets: `{"by":"name","value":"node1"}`, `{"by":"pattern","value":"^n"}`,
        /// `{"by":"attribute","value":{"name":"rack","value":"r1"}}`.
        target: TargetSelector,
        /// 1-9.
        index: u32,
        /// Devices that must all succeed.
        devices: Vec<String>,
    },
    /// Remove one level (or all levels of the selector without `index`).
    UnregisterLevel {
        /// Which targets.
        target: TargetSelector,
        /// 1-9.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<u8>,
    },
    /// Fence history (from the journal).
    History(HistoryQuery),
    /// Switch this connection to also receive events.
    Subscribe {},
    /// Prometheus text exposition of the daemon's metrics.
    Metrics {},
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Request {
    /// The kind, as written on the wire (for metrics and logs).
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello {} => "hello",
            Request::Fence { .. } => "fence",
            Request::Query { .. } => "query",
            Request::DryRun { .. } => "dry-run",
            Request::Devices {} => "devices",
            Request::RegisterDevice { .. } => "register-device",
            Request::UnregisterDevice { .. } => "unregister-device",
            Request::Levels {} => "levels",
            Request::RegisterLevel { .. } => "register-level",
            Request::UnregisterLevel { .. } => "unregister-level",
            Request::History(_) => "history",
            Request::Subscribe {} => "subscribe",
            Request::Metrics {} => "metrics",
        }
    }
}

/// One event line of a subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// Protocol version.
    pub v: u32,
    /// When (Unix milliseconds).
    pub at: Moment,
    /// What happened (`"event": "<kind>"` and its fields).
    #[serde(flatten)]
    pub notice: Notice,
}

/// `hello` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloResult {
    /// Protocol version.
    pub protocol: u32,
    /// Daemon version.
    pub version: String,
    /// This node's name.
    pub node: String,
}

/// `fence` result (also for a request that merged into another's operation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceResult {
    /// Operation number.
    pub op: OpId,
    /// Target.
    pub target: String,
    /// Action.
    pub action: FenceAction,
    /// Outcome (`"status":"done"` or `"failed"`).
    #[serde(flatten)]
    pub result: OpResult,
}

/// `query` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResult {
    /// Target.
    pub target: String,
    /// Devices that can fence it, in the order they would be tried without topology.
    pub devices: Vec<String>,
    /// Topology levels that apply to it, if any.
    #[serde(default)]
    pub levels: Vec<Level>,
    /// Whether some fencing path has no failing device, as the periodic health checks
    /// know (absent: no known path, or health checks off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fenceable: Option<bool>,
}

/// One device in `devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Name.
    pub name: String,
    /// Agent.
    pub agent: String,
    /// Priority.
    pub priority: i32,
    /// `pcmk_host_check`.
    pub host_check: String,
    /// Nodes from `pcmk_host_list` and `pcmk_host_map`.
    pub hosts: Vec<String>,
    /// `pcmk_action_limit` (null = unlimited).
    pub action_limit: Option<u32>,
    /// Agent parameters, secrets masked.
    pub params: BTreeMap<String, String>,
    /// Its health from the periodic `monitor` (absent in register/unregister answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<DeviceHealth>,
}

/// One target in `devices`: can it be fenced, as far as device health knows?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    /// The target (named by a level, a host list or map, or node attributes).
    pub target: String,
    /// Some fencing path (a level, or a capable device) has no failing device; `false`
    /// reads "cannot be fenced".
    pub fenceable: bool,
}

/// `devices` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DevicesResult {
    /// Devices by name.
    pub devices: Vec<DeviceInfo>,
    /// Targets with a known fencing path, and whether they can be fenced.
    #[serde(default)]
    pub targets: Vec<TargetHealth>,
}

/// `levels` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelsResult {
    /// Each selector with its levels.
    pub topology: Vec<TopologyEntry>,
}

/// One selector's levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyEntry {
    /// Which targets.
    pub target: TargetSelector,
    /// Levels, ascending.
    pub levels: Vec<Level>,
}

/// `history` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryResult {
    /// Matching entries, oldest first.
    pub entries: Vec<HistoryEntry>,
}

/// `metrics` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricsResult {
    /// Prometheus text exposition format 0.0.4.
    pub text: String,
}

/// Parse one request line into its `id` and request.
pub fn parse_request(line: &[u8]) -> Result<(Value, Request), Rejected> {
    crate::ipc::wire::parse_request::<FencerApi>(line)
}

/// Whether a parameter holds a secret (its value is never shown by the API).
pub fn is_secret(param: &str) -> bool {
    let p = param.to_ascii_lowercase();
    [
        "pass",
        "secret",
        "token",
        "community",
        "identity_file",
        "key",
    ]
    .iter()
    .any(|s| p.contains(s))
}

#[cfg(test)]
mod tests;
