//! Human-readable output of the CLI (the `--json` form prints the daemon's result as is).

use std::fmt::Write as _;

use crate::api::protocol::{DeviceInfo, FenceResult, QueryResult, TargetHealth, TopologyEntry};
use crate::fencer::dryrun::DryRunReport;
use crate::fencer::duration::Moment;
use crate::fencer::health::Health;
use crate::fencer::history::HistoryEntry;
use crate::fencer::operation::OpResult;

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a Unix-milliseconds moment.
pub fn format_time(at: Moment) -> String {
    let secs = at.0 / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rest = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        (rest / 60) % 60,
        rest % 60
    )
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn result_text(result: &OpResult) -> String {
    match result {
        OpResult::Done { level, devices, .. } if *level == 0 => {
            format!("done (device {})", devices.join(", "))
        }
        OpResult::Done { level, devices, .. } => {
            format!("done (level {level}: {})", devices.join(", "))
        }
        OpResult::Failed { reason } => format!("FAILED: {reason}"),
    }
}

fn warnings(result: &OpResult) -> &[String] {
    match result {
        OpResult::Done { warnings, .. } => warnings,
        OpResult::Failed { .. } => &[],
    }
}

/// `palisade fence`: one line, plus warnings.
pub fn fence(r: &FenceResult) -> String {
    let mut out = format!("{} {}: {}\n", r.target, r.action, result_text(&r.result));
    for w in warnings(&r.result) {
        let _ = writeln!(out, "  warning: {w}");
    }
    out
}

/// `palisade query`.
pub fn query(r: &QueryResult) -> String {
    let mut out = String::new();
    if r.devices.is_empty() {
        let _ = writeln!(out, "no device can fence {} without topology", r.target);
    } else {
        let _ = writeln!(
            out,
            "{} can be fenced by: {}",
            r.target,
            r.devices.join(", ")
        );
    }
    for level in &r.levels {
        let _ = writeln!(out, "  level {}: {}", level.index, level.devices.join(", "));
    }
    if r.fenceable == Some(false) {
        let _ = writeln!(
            out,
            "{} CANNOT BE FENCED: every fencing path has a failing device",
            r.target
        );
    }
    out
}

/// `palisade fence --dry-run`: the verdict, then each level with its devices' answers.
pub fn dry_run(r: &DryRunReport) -> String {
    let mut out = String::new();
    match &r.would_act {
        Some(w) if w.level == 0 => {
            let _ = writeln!(
                out,
                "{} {}: would be fenced by device {}",
                r.target,
                r.action,
                w.devices.join(", ")
            );
        }
        Some(w) => {
            let _ = writeln!(
                out,
                "{} {}: would be fenced through level {} ({})",
                r.target,
                r.action,
                w.level,
                w.devices.join(", ")
            );
        }
        None => {
            let why = r
                .refused
                .as_deref()
                .unwrap_or("no level has every device answering");
            let _ = writeln!(out, "{} {}: WOULD NOT BE FENCED: {why}", r.target, r.action);
        }
    }
    for level in &r.levels {
        let name = if level.index == 0 {
            "device".to_string()
        } else {
            format!("level {}", level.index)
        };
        let _ = writeln!(
            out,
            "  {name}: {} {}",
            level.devices.join(", "),
            if level.ok { "ok" } else { "FAILING" }
        );
        for device in r
            .devices
            .iter()
            .filter(|d| level.devices.contains(&d.device))
        {
            let answers: Vec<String> = device
                .probes
                .iter()
                .map(|p| format!("{} {}", p.action.as_str(), p.reason))
                .collect();
            let plug = device
                .plug
                .as_ref()
                .map(|p| format!(" (plug {p})"))
                .unwrap_or_default();
            let _ = writeln!(out, "    {}{plug}: {}", device.device, answers.join("; "));
        }
        for step in &level.steps {
            let _ = writeln!(
                out,
                "    would run {} {}: delay up to {}, budget {} ({} attempts)",
                step.device,
                step.action,
                seconds(step.delay_ms),
                seconds(step.timeout_ms),
                step.attempts
            );
        }
    }
    let sum: u64 = r
        .levels
        .iter()
        .flat_map(|l| &l.steps)
        .map(|s| s.delay_ms.saturating_add(s.timeout_ms))
        .sum();
    let capped = if r.worst_case_ms < sum {
        " (the operation's deadline: its timeout plus the delays)"
    } else {
        ""
    };
    let _ = writeln!(out, "  worst case: {}{capped}", seconds(r.worst_case_ms));
    out
}

/// `palisade devices`: a table, each device's health, then the targets that cannot be
/// fenced.
pub fn devices(list: &[DeviceInfo], targets: &[TargetHealth]) -> String {
    if list.is_empty() {
        return "no devices registered\n".to_string();
    }
    let mut rows = vec![[
        "DEVICE".to_string(),
        "AGENT".to_string(),
        "PRIO".to_string(),
        "CHECK".to_string(),
        "LIMIT".to_string(),
        "TARGETS".to_string(),
        "HEALTH".to_string(),
    ]];
    for d in list {
        rows.push([
            d.name.clone(),
            d.agent.clone(),
            d.priority.to_string(),
            d.host_check.clone(),
            d.action_limit.map_or("-".to_string(), |l| l.to_string()),
            if d.hosts.is_empty() {
                "-".to_string()
            } else {
                d.hosts.join(",")
            },
            d.health
                .as_ref()
                .map_or("-".to_string(), |h| h.status.to_string()),
        ]);
    }
    let mut out = table(&rows);
    for d in list {
        let Some(h) = &d.health else { continue };
        if h.status == Health::Healthy && h.consecutive_failures == 0 && h.last_error.is_none() {
            continue;
        }
        let mut line = format!("{}: {}", d.name, h.status);
        if h.consecutive_failures > 0 {
            let _ = write!(line, ", {} failed checks in a row", h.consecutive_failures);
        }
        if let Some(at) = h.last_success {
            let _ = write!(line, ", last success {}", format_time(at));
        }
        if let Some(e) = &h.last_error {
            let _ = write!(line, ", last error: {e}");
        }
        let _ = writeln!(out, "{line}");
    }
    for t in targets.iter().filter(|t| !t.fenceable) {
        let _ = writeln!(
            out,
            "{} CANNOT BE FENCED: every fencing path has a failing device",
            t.target
        );
    }
    out
}

fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}

/// `palisade levels`.
pub fn levels(topology: &[TopologyEntry]) -> String {
    if topology.is_empty() {
        return "no fencing topology\n".to_string();
    }
    let mut out = String::new();
    for entry in topology {
        let _ = writeln!(out, "{}:", entry.target);
        for level in &entry.levels {
            let _ = writeln!(out, "  level {}: {}", level.index, level.devices.join(", "));
        }
    }
    out
}

/// `palisade history`: one line per operation, its attempts indented.
pub fn history(entries: &[HistoryEntry]) -> String {
    if entries.is_empty() {
        return "no fencing history\n".to_string();
    }
    let mut out = String::new();
    for e in entries {
        let r = &e.record;
        let _ = writeln!(
            out,
            "{}  {} {} by {} on {}: {} in {}",
            format_time(r.started),
            r.target,
            r.action,
            r.requesters.join(", "),
            e.node,
            result_text(&r.result),
            seconds(r.finished.0.saturating_sub(r.started.0))
        );
        for a in &r.attempts {
            let _ = writeln!(
                out,
                "    level {} {} {}{} try {}: {} ({})",
                a.level,
                a.device,
                a.action,
                a.plug
                    .as_ref()
                    .map(|p| format!(" plug {p}"))
                    .unwrap_or_default(),
                a.attempt,
                a.outcome,
                seconds(a.finished.0.saturating_sub(a.started.0))
            );
        }
        for w in warnings(&r.result) {
            let _ = writeln!(out, "    warning: {w}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_time(Moment(0)), "1970-01-01 00:00:00");
        assert_eq!(format_time(Moment(951_782_400_000)), "2000-02-29 00:00:00");
        assert_eq!(
            format_time(Moment(1_700_000_000_123)),
            "2023-11-14 22:13:20"
        );
    }

    #[test]
    fn device_table_aligns() {
        let d = DeviceInfo {
            name: "ipmi-node1".into(),
            agent: "fence_ipmilan".into(),
            priority: 0,
            host_check: "static-list".into(),
            hosts: vec!["node1".into()],
            action_limit: Some(1),
            params: Default::default(),
            health: None,
        };
        let text = devices(&[d], &[]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].find("AGENT"), lines[1].find("fence_ipmilan"));
    }
}
