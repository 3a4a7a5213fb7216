//! The daemon's metrics and their Prometheus text exposition (format 0.0.4): fencing
//! operations and their latency by action and result, agent runs, failures and latency
//! histograms per device and action, API requests, errors and refused peers. Counting
//! is pure; the daemon shares one `Metrics` behind a mutex.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use crate::fencer::device::AgentAction;
use crate::fencer::health::{DeviceHealth, Health};
use crate::fencer::machine::AgentStatus;
use crate::fencer::operation::{FenceAction, OpResult};

/// Histogram bucket bounds in seconds (agents take from milliseconds to minutes).
pub const BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// A cumulative histogram over [`BUCKETS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    /// Count one observation.
    pub fn observe(&mut self, span: Duration) {
        let secs = span.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter()) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Gauges read at render time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Operations in flight.
    pub operations_in_flight: usize,
    /// Registered devices.
    pub devices: usize,
    /// Agent processes running.
    pub agents_running: usize,
}

/// Device health and target fenceability, copied from the fencer by the core.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthView {
    /// Each checked device's health.
    pub devices: BTreeMap<String, DeviceHealth>,
    /// Each target with a known fencing path: can it be fenced?
    pub targets: BTreeMap<String, bool>,
}

/// Every counter of the daemon.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    operations: BTreeMap<(&'static str, &'static str), u64>,
    operation_seconds: BTreeMap<&'static str, Histogram>,
    merged: u64,
    agent_runs: BTreeMap<(String, &'static str, &'static str), u64>,
    agent_seconds: BTreeMap<(String, &'static str), Histogram>,
    api_requests: BTreeMap<String, u64>,
    api_errors: BTreeMap<String, u64>,
    api_refused: u64,
    metrics_turned_away: u64,
    history_write_failures: u64,
    health_check_failures: BTreeMap<String, u64>,
}

/// The `result` label of an agent run.
pub fn run_result(status: &AgentStatus) -> &'static str {
    match status {
        AgentStatus::Exited(0) => "ok",
        AgentStatus::Exited(2) => "off",
        AgentStatus::TimedOut => "timeout",
        AgentStatus::Exited(_) | AgentStatus::Signalled(_) => "failed",
        AgentStatus::SpawnFailed(_) | AgentStatus::NotStarted(_) => "not_run",
    }
}

impl Metrics {
    /// A fencing operation ended.
    pub fn operation_finished(&mut self, action: FenceAction, result: &OpResult, took: Duration) {
        let outcome = if result.is_done() { "done" } else { "failed" };
        *self
            .operations
            .entry((action.as_str(), outcome))
            .or_default() += 1;
        self.operation_seconds
            .entry(action.as_str())
            .or_default()
            .observe(took);
    }

    /// A request merged into an operation in flight.
    pub fn operation_merged(&mut self) {
        self.merged += 1;
    }

    /// An agent run ended.
    pub fn agent_finished(
        &mut self,
        device: &str,
        action: AgentAction,
        status: &AgentStatus,
        took: Duration,
    ) {
        *self
            .agent_runs
            .entry((device.to_string(), action.as_str(), run_result(status)))
            .or_default() += 1;
        self.agent_seconds
            .entry((device.to_string(), action.as_str()))
            .or_default()
            .observe(took);
    }

    /// An API request of `kind` arrived.
    pub fn api_request(&mut self, kind: &str) {
        *self.api_requests.entry(kind.to_string()).or_default() += 1;
    }

    /// An API request failed with `code`.
    pub fn api_error(&mut self, code: &str) {
        *self.api_errors.entry(code.to_string()).or_default() += 1;
    }

    /// A peer was refused.
    pub fn api_refused(&mut self) {
        self.api_refused += 1;
    }

    /// A metrics connection was closed at once: all slots were taken.
    pub fn metrics_turned_away(&mut self) {
        self.metrics_turned_away += 1;
    }

    /// A device health check ended.
    pub fn health_checked(&mut self, device: &str, ok: bool) {
        let failures = self
            .health_check_failures
            .entry(device.to_string())
            .or_default();
        if !ok {
            *failures += 1;
        }
    }

    /// Writing the history journal failed.
    pub fn history_write_failed(&mut self) {
        self.history_write_failures += 1;
    }

    /// The text exposition.
    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::new();
        let header = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        header(
            &mut out,
            "palisade_fence_operations_total",
            "counter",
            "Fencing operations finished, by action and result.",
        );
        for ((action, result), n) in &self.operations {
            let _ = writeln!(
                out,
                "palisade_fence_operations_total{{action=\"{action}\",result=\"{result}\"}} {n}"
            );
        }
        header(
            &mut out,
            "palisade_fence_operation_seconds",
            "histogram",
            "Duration of fencing operations, by action.",
        );
        for (action, h) in &self.operation_seconds {
            h.render(
                &mut out,
                "palisade_fence_operation_seconds",
                &format!("action=\"{action}\""),
            );
        }
        header(
            &mut out,
            "palisade_fence_requests_merged_total",
            "counter",
            "Requests merged into an identical operation in flight.",
        );
        let _ = writeln!(out, "palisade_fence_requests_merged_total {}", self.merged);
        header(
            &mut out,
            "palisade_fence_operations_in_flight",
            "gauge",
            "Fencing operations and queries in flight.",
        );
        let _ = writeln!(
            out,
            "palisade_fence_operations_in_flight {}",
            gauges.operations_in_flight
        );
        header(
            &mut out,
            "palisade_devices",
            "gauge",
            "Registered fence devices.",
        );
        let _ = writeln!(out, "palisade_devices {}", gauges.devices);
        header(
            &mut out,
            "palisade_agents_running",
            "gauge",
            "Agent processes running now.",
        );
        let _ = writeln!(out, "palisade_agents_running {}", gauges.agents_running);
        header(
            &mut out,
            "palisade_agent_runs_total",
            "counter",
            "Agent runs, by device, action and result (ok, off, failed, timeout, not_run).",
        );
        for ((device, action, result), n) in &self.agent_runs {
            let device = escape(device);
            let _ = writeln!(out, "palisade_agent_runs_total{{device=\"{device}\",action=\"{action}\",result=\"{result}\"}} {n}");
        }
        header(
            &mut out,
            "palisade_agent_run_seconds",
            "histogram",
            "Agent run time (delay included), by device and action.",
        );
        for ((device, action), h) in &self.agent_seconds {
            let labels = format!("device=\"{}\",action=\"{action}\"", escape(device));
            h.render(&mut out, "palisade_agent_run_seconds", &labels);
        }
        header(
            &mut out,
            "palisade_api_requests_total",
            "counter",
            "API requests, by kind.",
        );
        for (kind, n) in &self.api_requests {
            let _ = writeln!(
                out,
                "palisade_api_requests_total{{request=\"{}\"}} {n}",
                escape(kind)
            );
        }
        header(
            &mut out,
            "palisade_api_errors_total",
            "counter",
            "API requests answered with an error, by code.",
        );
        for (code, n) in &self.api_errors {
            let _ = writeln!(
                out,
                "palisade_api_errors_total{{code=\"{}\"}} {n}",
                escape(code)
            );
        }
        header(
            &mut out,
            "palisade_api_refused_total",
            "counter",
            "Connections refused by the peer credential check.",
        );
        let _ = writeln!(out, "palisade_api_refused_total {}", self.api_refused);
        header(
            &mut out,
            "palisade_metrics_connections_turned_away_total",
            "counter",
            "Metrics listener connections closed at once because all slots were taken.",
        );
        let _ = writeln!(
            out,
            "palisade_metrics_connections_turned_away_total {}",
            self.metrics_turned_away
        );
        header(
            &mut out,
            "palisade_history_write_failures_total",
            "counter",
            "History journal writes that failed.",
        );
        let _ = writeln!(
            out,
            "palisade_history_write_failures_total {}",
            self.history_write_failures
        );
        header(
            &mut out,
            "palisade_device_health_check_failures_total",
            "counter",
            "Device health checks (periodic monitor) that failed, by device.",
        );
        for (device, n) in &self.health_check_failures {
            let _ = writeln!(
                out,
                "palisade_device_health_check_failures_total{{device=\"{}\"}} {n}",
                escape(device)
            );
        }
        out
    }

    /// The health gauges: per device healthy (1) or failing (0) (absent while unknown),
    /// its consecutive failures and last success time, and per target whether some
    /// fencing path has no failing device.
    pub fn render_health(view: &HealthView) -> String {
        let mut out = String::new();
        let header = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        header(
            &mut out,
            "palisade_device_healthy",
            "1 when the device's last monitor succeeded, 0 when it failed (absent until checked).",
        );
        for (device, h) in &view.devices {
            let value = match h.status {
                Health::Healthy => 1,
                Health::Failing => 0,
                Health::Unknown => continue,
            };
            let _ = writeln!(
                out,
                "palisade_device_healthy{{device=\"{}\"}} {value}",
                escape(device)
            );
        }
        header(
            &mut out,
            "palisade_device_consecutive_failures",
            "Failed monitors of the device since its last success.",
        );
        for (device, h) in &view.devices {
            let _ = writeln!(
                out,
                "palisade_device_consecutive_failures{{device=\"{}\"}} {}",
                escape(device),
                h.consecutive_failures
            );
        }
        header(
            &mut out,
            "palisade_device_last_success_timestamp_seconds",
            "Unix time of the device's last successful monitor (absent until one).",
        );
        for (device, h) in &view.devices {
            if let Some(at) = h.last_success {
                let _ = writeln!(
                    out,
                    "palisade_device_last_success_timestamp_seconds{{device=\"{}\"}} {:.3}",
                    escape(device),
                    at.0 as f64 / 1000.0
                );
            }
        }
        header(
            &mut out,
            "palisade_target_fenceable",
            "1 when some fencing path of the target (a level, or a capable device) has no failing device, else 0.",
        );
        for (target, fenceable) in &view.targets {
            let _ = writeln!(
                out,
                "palisade_target_fenceable{{target=\"{}\"}} {}",
                escape(target),
                u8::from(*fenceable)
            );
        }
        out
    }
}

/// Escape a label value (`\`, `"`, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fencer::operation::FailReason;

    #[test]
    fn counts_and_renders() {
        let mut m = Metrics::default();
        let done = OpResult::Done {
            level: 1,
            devices: vec!["d".into()],
            warnings: Vec::new(),
        };
        let failed = OpResult::Failed {
            reason: FailReason::TimedOut,
        };
        m.operation_finished(FenceAction::Reboot, &done, Duration::from_millis(300));
        m.operation_finished(FenceAction::Reboot, &failed, Duration::from_secs(61));
        m.agent_finished(
            "pdu\"1",
            AgentAction::Off,
            &AgentStatus::Exited(0),
            Duration::from_millis(70),
        );
        m.agent_finished(
            "pdu\"1",
            AgentAction::Off,
            &AgentStatus::TimedOut,
            Duration::from_secs(20),
        );
        m.api_request("fence");
        m.api_error("bad-request");
        m.api_refused();
        let text = m.render(Gauges {
            operations_in_flight: 2,
            devices: 3,
            agents_running: 1,
        });
        for line in [
            "palisade_fence_operations_total{action=\"reboot\",result=\"done\"} 1",
            "palisade_fence_operations_total{action=\"reboot\",result=\"failed\"} 1",
            "palisade_fence_operation_seconds_bucket{action=\"reboot\",le=\"0.5\"} 1",
            "palisade_fence_operation_seconds_bucket{action=\"reboot\",le=\"+Inf\"} 2",
            "palisade_fence_operation_seconds_count{action=\"reboot\"} 2",
            "palisade_agent_runs_total{device=\"pdu\\\"1\",action=\"off\",result=\"ok\"} 1",
            "palisade_agent_runs_total{device=\"pdu\\\"1\",action=\"off\",result=\"timeout\"} 1",
            "palisade_agent_run_seconds_bucket{device=\"pdu\\\"1\",action=\"off\",le=\"0.1\"} 1",
            "palisade_agent_run_seconds_bucket{device=\"pdu\\\"1\",action=\"off\",le=\"30\"} 2",
            "palisade_api_requests_total{request=\"fence\"} 1",
            "palisade_api_errors_total{code=\"bad-request\"} 1",
            "palisade_api_refused_total 1",
            "palisade_fence_operations_in_flight 2",
            "palisade_devices 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
        }
        // Every non-comment line is `name{labels} value` or `name value`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let value = l.rsplit(' ').next().expect("value");
            assert!(value.parse::<f64>().is_ok(), "{l}");
        }
    }
}
