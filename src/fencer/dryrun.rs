//! Dry-run fencing (pure): what a fence of a target would do, proven without touching its
//! power. The machine resolves targeting and topology exactly as for a real fence
//! (`machine/probe.rs`), then asks each candidate device only a [`ProbeAction`]: `monitor`
//! (the device answers) and `status` for the target's plug. [`ProbeAction`] has no
//! power-changing variant, and a probe's stdin names its action with
//! [`ProbeAction::as_str`], never with a `pcmk_<action>_action` remap, so a dry run cannot
//! send `off`, `reboot` or `on` to an agent. This module holds the answer's types, the
//! verdict per level and the worst-case time a real fence would spend.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::device::{AgentAction, DeviceSpec};
use super::duration::millis;
use super::machine::{AgentOutcome, AgentStatus};
use super::operation::{FenceAction, RequestId};
use super::plan::{fencing_delay, PlannedLevel};

/// The only actions a dry run sends to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeAction {
    /// Is the device itself reachable?
    Monitor,
    /// Can the device see the target's plug (exit 0 on, 2 off)?
    Status,
}

impl ProbeAction {
    /// Both probes, in the order they are reported.
    pub const ALL: [ProbeAction; 2] = [ProbeAction::Monitor, ProbeAction::Status];

    /// The word written as `action=` on the agent's stdin.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeAction::Monitor => "monitor",
            ProbeAction::Status => "status",
        }
    }

    /// The fencer action whose settings (`pcmk_<action>_timeout`) the probe uses.
    pub fn agent_action(self) -> AgentAction {
        match self {
            ProbeAction::Monitor => AgentAction::Monitor,
            ProbeAction::Status => AgentAction::Status,
        }
    }

    /// Whether `outcome` is a good answer: `monitor` exit 0, `status` exit 0 or 2.
    pub fn passed(self, outcome: &AgentOutcome) -> bool {
        matches!(
            (self, &outcome.status),
            (_, AgentStatus::Exited(0)) | (ProbeAction::Status, AgentStatus::Exited(2))
        )
    }
}

/// The stdin lines of a probe: the device's parameters, `action=<probe>` (never a remap)
/// and, for `status`, the target's `nodename=` and plug.
pub fn probe_stdin(spec: &DeviceSpec, probe: ProbeAction, target: &str) -> Vec<(String, String)> {
    spec.stdin_lines(probe.agent_action(), Some(target))
        .into_iter()
        .map(|(k, v)| {
            if k == "action" {
                (k, probe.as_str().to_string())
            } else {
                (k, v)
            }
        })
        .collect()
}

/// A request to dry-run a fence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRunRequest {
    /// Reply goes to this id.
    pub id: RequestId,
    /// Node that would be fenced.
    pub target: String,
    /// The action a real fence would carry out.
    pub action: FenceAction,
    /// Budget of the probes, and of the real fence for the worst case; `None` =
    /// `fencing-timeout`.
    pub timeout: Option<Duration>,
    /// Extra delay a real request would ask for (counted in the worst case only).
    pub delay: Duration,
}

/// One probe's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeAnswer {
    /// `monitor` or `status`.
    pub action: ProbeAction,
    /// The agent's exit code, if it exited.
    pub exit: Option<i32>,
    /// A good answer (monitor 0, status 0 or 2).
    pub ok: bool,
    /// Short reason: `ok`, `plug on`, `plug off`, `exit 1: <last stderr line>`, ...
    pub reason: String,
}

impl ProbeAnswer {
    /// The answer read from an agent outcome.
    pub fn from_outcome(action: ProbeAction, outcome: &AgentOutcome) -> ProbeAnswer {
        let exit = match outcome.status {
            AgentStatus::Exited(code) => Some(code),
            _ => None,
        };
        let reason = match (action, exit) {
            (ProbeAction::Status, Some(0)) => "plug on".to_string(),
            (ProbeAction::Status, Some(2)) => "plug off".to_string(),
            _ => outcome.summary(),
        };
        ProbeAnswer {
            action,
            exit,
            ok: action.passed(outcome),
            reason,
        }
    }

    /// A probe that never ran (device gone, deadline passed, daemon stopping).
    pub fn missing(action: ProbeAction, why: &str) -> ProbeAnswer {
        ProbeAnswer {
            action,
            exit: None,
            ok: false,
            reason: why.to_string(),
        }
    }
}

/// One candidate device's answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceAnswer {
    /// Device name.
    pub device: String,
    /// The plug a real fence would send, if the device takes one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plug: Option<String>,
    /// Both probes passed.
    pub ok: bool,
    /// `monitor`, then `status`.
    pub probes: Vec<ProbeAnswer>,
}

/// The time one step of a real fence may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepBudget {
    /// Device.
    pub device: String,
    /// The agent action a real fence would ask for.
    pub action: AgentAction,
    /// Longest delay before it (`pcmk_delay_base` / `pcmk_delay_max`, the request's
    /// delay on the first fencing step; at most `fencing-max-delay`).
    pub delay_ms: u64,
    /// Its budget, `pcmk_<action>_timeout` (the step's attempts share it).
    pub timeout_ms: u64,
    /// Attempts within that budget (`pcmk_<action>_retries`).
    pub attempts: u32,
}

/// One level of the plan and whether it would act.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelVerdict {
    /// Topology index (0 = no topology: one capable device).
    pub index: u8,
    /// Its devices.
    pub devices: Vec<String>,
    /// Every device of the level answered both probes.
    pub ok: bool,
    /// Its steps with their worst-case time.
    pub steps: Vec<StepBudget>,
}

/// The level a real fence would use now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldAct {
    /// Topology index (0 = no topology).
    pub level: u8,
    /// Its devices.
    pub devices: Vec<String>,
}

/// The answer to a dry run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRunReport {
    /// Target.
    pub target: String,
    /// The action a real fence would carry out.
    pub action: FenceAction,
    /// The first level whose devices all answered, if any.
    pub would_act: Option<WouldAct>,
    /// Every level, in the order a real fence tries them.
    pub levels: Vec<LevelVerdict>,
    /// Each candidate device's answers.
    pub devices: Vec<DeviceAnswer>,
    /// Longest time a real fence would spend: every level failing at its budget, capped
    /// by the operation's deadline (`fencing-timeout` or the request's, plus delays).
    pub worst_case_ms: u64,
    /// Why no device was asked (no device can fence the target, self-fence refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// The worst-case time of a plan, as the machine spends it: each step waits its longest
/// delay, then uses its whole budget; the whole operation ends at its deadline (`timeout`
/// after the start, moved by every delay taken).
pub fn worst_case(
    plan: &[PlannedLevel],
    devices: &BTreeMap<String, DeviceSpec>,
    target: &str,
    request_delay: Duration,
    timeout: Duration,
    max_delay: Duration,
) -> (Vec<Vec<StepBudget>>, Duration) {
    let mut pending = request_delay;
    let mut spent = Duration::ZERO;
    let mut delays = Duration::ZERO;
    let mut budgets = Vec::new();
    for level in plan {
        let mut steps = Vec::new();
        for step in &level.steps {
            let Some(spec) = devices.get(&step.device) else {
                continue;
            };
            let delay = if step.is_fencing() {
                fencing_delay(spec, target, 1000, std::mem::take(&mut pending), max_delay)
            } else {
                Duration::ZERO
            };
            let settings = spec.action(step.action);
            spent = spent.saturating_add(delay).saturating_add(settings.timeout);
            delays = delays.saturating_add(delay);
            steps.push(StepBudget {
                device: step.device.clone(),
                action: step.action,
                delay_ms: millis(delay),
                timeout_ms: millis(settings.timeout),
                attempts: settings.attempts,
            });
        }
        budgets.push(steps);
    }
    (budgets, spent.min(timeout.saturating_add(delays)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fencer::plan::plan_topology;

    fn device(name: &str, params: &[(&str, &str)]) -> (String, DeviceSpec) {
        let raw = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let spec = DeviceSpec::new(name, "fence_x", &raw, 0).expect("valid device");
        (name.to_string(), spec)
    }

    fn render(budgets: &[Vec<StepBudget>], total: Duration) -> Vec<String> {
        let mut lines: Vec<String> = budgets
            .iter()
            .map(|steps| {
                steps
                    .iter()
                    .map(|s| {
                        format!(
                            "{}:{} delay={} timeout={} x{}",
                            s.device, s.action, s.delay_ms, s.timeout_ms, s.attempts
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        lines.push(format!("total={}", millis(total)));
        lines
    }

    #[test]
    fn worst_case_sums_delays_and_budgets_over_levels() {
        let devices: BTreeMap<String, DeviceSpec> = [
            device(
                "bmc",
                &[("pcmk_off_timeout", "8s"), ("pcmk_delay_max", "5s")],
            ),
            device(
                "pdu-a",
                &[("pcmk_off_timeout", "10s"), ("pcmk_off_retries", "3")],
            ),
            device("pdu-b", &[("pcmk_delay_base", "node1:2s")]),
        ]
        .into_iter()
        .collect();
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let plan = plan_topology(
            &[(1, names(&["bmc"])), (2, names(&["pdu-a", "pdu-b"]))],
            FenceAction::Off,
        );
        let (budgets, total) = worst_case(
            &plan,
            &devices,
            "node1",
            Duration::from_secs(1),
            Duration::from_secs(600),
            Duration::from_secs(300),
        );
        assert_eq!(
            render(&budgets, total),
            [
                // The request's delay goes with the first fencing step only.
                "bmc:off delay=6000 timeout=8000 x2",
                "pdu-a:off delay=0 timeout=10000 x3 pdu-b:off delay=2000 timeout=60000 x2",
                "total=86000",
            ]
        );
        // The operation's deadline (its timeout plus the delays) caps the sum.
        let (_, capped) = worst_case(
            &plan,
            &devices,
            "node1",
            Duration::ZERO,
            Duration::from_secs(30),
            Duration::from_secs(300),
        );
        assert_eq!(millis(capped), 30_000 + 5_000 + 2_000);
    }

    #[test]
    fn reboot_over_two_devices_counts_the_on_half_without_delay() {
        let devices: BTreeMap<String, DeviceSpec> = [
            device("a", &[("pcmk_delay_max", "3s"), ("pcmk_on_timeout", "5s")]),
            device(
                "b",
                &[("pcmk_off_timeout", "4s"), ("pcmk_on_timeout", "5s")],
            ),
        ]
        .into_iter()
        .collect();
        let plan = plan_topology(
            &[(1, vec!["a".to_string(), "b".to_string()])],
            FenceAction::Reboot,
        );
        let (budgets, total) = worst_case(
            &plan,
            &devices,
            "n",
            Duration::ZERO,
            Duration::from_secs(3600),
            Duration::from_secs(2),
        );
        assert_eq!(
            render(&budgets, total),
            [
                "a:off delay=2000 timeout=60000 x2 b:off delay=0 timeout=4000 x2 \
                 a:on delay=0 timeout=5000 x2 b:on delay=0 timeout=5000 x2",
                "total=76000",
            ]
        );
    }

    #[test]
    fn probes_never_carry_a_power_action() {
        let (_, spec) = device(
            "d",
            &[
                ("ip", "127.0.0.1"),
                ("pcmk_status_action", "off"),
                ("pcmk_monitor_action", "reboot"),
                ("pcmk_host_map", "node1:4"),
            ],
        );
        let status: Vec<String> = probe_stdin(&spec, ProbeAction::Status, "node1")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            status,
            ["ip=127.0.0.1", "action=status", "nodename=node1", "port=4"]
        );
        let monitor: Vec<String> = probe_stdin(&spec, ProbeAction::Monitor, "node1")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(monitor, ["ip=127.0.0.1", "action=monitor"]);
    }

    #[test]
    fn answers_read_exit_codes() {
        let status =
            |code| ProbeAnswer::from_outcome(ProbeAction::Status, &AgentOutcome::exited(code));
        assert!(status(0).ok && status(0).reason == "plug on");
        assert!(status(2).ok && status(2).reason == "plug off");
        assert!(!status(1).ok);
        let monitor = ProbeAnswer::from_outcome(ProbeAction::Monitor, &AgentOutcome::exited(2));
        assert!(!monitor.ok);
        assert_eq!(monitor.exit, Some(2));
    }
}
