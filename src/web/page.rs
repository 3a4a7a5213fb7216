//! The status page, pure: a [`Snapshot`] of both daemons rendered as one HTML document
//! (server-side, no script; it reloads itself with a meta refresh). Every row carries its
//! facts as `data-*` attributes (node state, where a resource runs, a fence's result, a
//! device's health) so a browser test reads the same facts a person sees.

use std::fmt::Write;

use serde::Serialize;

use crate::api::protocol::{DeviceInfo, TargetHealth};
use crate::fencer::health::Health;
use crate::fencer::history::HistoryEntry;
use crate::fencer::operation::OpResult;
use crate::node::status::Status;

/// What one source answered: its data, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source<T> {
    /// The answer.
    Answer(T),
    /// The daemon could not be asked (not running, refused, timed out...).
    Unavailable(String),
}

/// Everything the page shows, read from the node daemon and the fencer at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// When it was taken (Unix milliseconds).
    pub taken_ms: u64,
    /// The node daemon's `status`.
    pub cluster: Source<Box<Status>>,
    /// The fencer's newest operations, oldest first.
    pub history: Source<Vec<HistoryEntry>>,
    /// The fencer's devices, with their health.
    pub devices: Source<Vec<DeviceInfo>>,
    /// The targets the fencer knows, and whether some fencing path is healthy.
    pub targets: Source<Vec<TargetHealth>>,
}

/// HTML-escape text (element content and double-quoted attribute values).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn clock(at_ms: u64) -> String {
    let secs = at_ms / 1000;
    format!(
        "{:02}:{:02}:{:02}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}\
table{border-collapse:collapse;min-width:40em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
th{background:#f3f3f3}.bad{background:#fdd}.good{background:#dfd}.warn{background:#ffd}\
.error{color:#a00}ul{margin:0;padding-left:1.2em}small{color:#666}";

fn unavailable(out: &mut String, source: &str, why: &str) {
    let _ = writeln!(
        out,
        "<p class=\"error\" data-source=\"{source}\">cannot read the {source}: {}</p>",
        escape(why)
    );
}

fn cluster_section(out: &mut String, s: &Status) {
    let quorum_class = if s.quorate { "good" } else { "bad" };
    let _ = writeln!(
        out,
        "<section id=\"quorum\" data-quorate=\"{}\" data-view=\"{}\"><p>Cluster {} as seen from \
         <b>{}</b>, view {}{}: <span class=\"{quorum_class}\">{}</span> <small>{}</small></p>",
        s.quorate,
        s.view,
        s.cluster,
        escape(&s.node),
        s.view,
        s.coordinator
            .as_ref()
            .map(|c| format!(", coordinator {}", escape(c)))
            .unwrap_or_default(),
        if s.quorate { "quorate" } else { "NOT quorate" },
        escape(&s.quorum)
    );
    if s.maintenance_mode {
        let _ = writeln!(
            out,
            "<p class=\"warn\" id=\"maintenance\">Maintenance: every resource is left alone.</p>"
        );
    }
    let _ = writeln!(out, "</section>");

    let _ = writeln!(
        out,
        "<h2>Nodes</h2>\n<table id=\"nodes\"><tr><th>node</th><th>state</th><th>admin</th></tr>"
    );
    for n in &s.nodes {
        let class = match n.state.as_str() {
            "online" => "good",
            s if s.contains("fenced") || s == "UNCLEAN" => "bad",
            _ => "warn",
        };
        let mut admin = Vec::new();
        if n.standby {
            admin.push("standby");
        }
        if n.maintenance {
            admin.push("maintenance");
        }
        let _ = writeln!(
            out,
            "<tr class=\"node\" data-node=\"{name}\" data-state=\"{state}\" data-standby=\"{}\" \
             data-maintenance=\"{}\"><td>{name}{}</td><td class=\"{class}\">{state}</td><td>{}</td></tr>",
            n.standby,
            n.maintenance,
            if n.local { " <small>(this node)</small>" } else { "" },
            admin.join(", "),
            name = escape(&n.name),
            state = escape(&n.state),
        );
    }
    let _ = writeln!(out, "</table>");

    let _ = writeln!(
        out,
        "<h2>Resources</h2>\n<table id=\"resources\"><tr><th>resource</th><th>agent</th>\
         <th>where</th><th>scheduler</th></tr>"
    );
    for r in &s.resources {
        let running: Vec<&str> = r
            .instances
            .iter()
            .filter(|i| i.status == "running")
            .map(|i| i.node.as_str())
            .collect();
        let mut cell = String::new();
        for i in &r.instances {
            let _ = write!(
                cell,
                "<span class=\"instance\" data-node=\"{node}\" data-role=\"{role}\" \
                 data-status=\"{status}\">{status} on {node}{}</span> ",
                if i.role == "promoted" {
                    " (promoted)"
                } else {
                    ""
                },
                node = escape(&i.node),
                role = escape(&i.role),
                status = escape(&i.status),
            );
        }
        if r.instances.is_empty() {
            cell.push_str("stopped");
        }
        let _ = writeln!(
            out,
            "<tr class=\"resource\" data-resource=\"{name}\" data-running-on=\"{}\" \
             data-target-role=\"{}\"><td>{name}{}</td><td>{}</td><td>{cell}</td><td><small>{}</small></td></tr>",
            escape(&running.join(",")),
            escape(&r.target_role),
            r.container
                .as_ref()
                .map(|c| format!(" <small>({})</small>", escape(c)))
                .unwrap_or_default(),
            escape(&r.agent),
            escape(&r.decision),
            name = escape(&r.name),
        );
    }
    let _ = writeln!(out, "</table>");
    if !s.failures.is_empty() {
        let _ = writeln!(out, "<h2>Failures</h2>\n<ul id=\"failures\">");
        for f in &s.failures {
            let _ = writeln!(
                out,
                "<li class=\"failure\" data-resource=\"{r}\" data-node=\"{n}\" data-count=\"{}\">{r} on {n}: {} \
                 failure(s), threshold {}</li>",
                f.count,
                f.count,
                f.threshold,
                r = escape(&f.resource),
                n = escape(&f.node),
            );
        }
        let _ = writeln!(out, "</ul>");
    }
}

fn result_words(result: &OpResult) -> (&'static str, String) {
    match result {
        OpResult::Done { level, devices, .. } => (
            "done",
            format!("done by {} (level {level})", devices.join(" + ")),
        ),
        OpResult::Failed { reason } => ("failed", format!("FAILED: {reason}")),
    }
}

fn history_section(out: &mut String, entries: &[HistoryEntry]) {
    let _ = writeln!(
        out,
        "<table id=\"history\"><tr><th>started</th><th>target</th><th>action</th><th>result</th>\
         <th>attempts</th><th>by</th></tr>"
    );
    for e in entries.iter().rev() {
        let r = &e.record;
        let (word, text) = result_words(&r.result);
        let class = if word == "done" { "good" } else { "bad" };
        let mut attempts = String::from("<ul>");
        for a in &r.attempts {
            let _ = write!(
                attempts,
                "<li class=\"attempt\" data-device=\"{device}\" data-ok=\"{}\">L{} {device} {} #{}: {}</li>",
                a.ok,
                a.level,
                a.action,
                a.attempt,
                escape(&a.outcome),
                device = escape(&a.device),
            );
        }
        attempts.push_str("</ul>");
        let _ = writeln!(
            out,
            "<tr class=\"fence\" data-target=\"{target}\" data-action=\"{}\" data-result=\"{word}\" \
             data-started=\"{}\"><td>{} <small>UTC</small></td><td>{target}</td><td>{}</td>\
             <td class=\"{class}\">{}</td><td>{attempts}</td><td><small>{} via {}</small></td></tr>",
            r.action,
            r.started.0,
            clock(r.started.0),
            r.action,
            escape(&text),
            escape(&r.requesters.join(", ")),
            escape(&e.node),
            target = escape(&r.target),
        );
    }
    let _ = writeln!(out, "</table>");
}

fn devices_section(out: &mut String, devices: &[DeviceInfo]) {
    let _ = writeln!(
        out,
        "<table id=\"devices\"><tr><th>device</th><th>agent</th><th>fences</th><th>health</th>\
         <th>last success</th><th>last error</th></tr>"
    );
    for d in devices {
        let health = d.health.as_ref();
        let status = health.map_or(Health::Unknown, |h| h.status);
        let class = match status {
            Health::Healthy => "good",
            Health::Failing => "bad",
            Health::Unknown => "warn",
        };
        let last_success = health
            .and_then(|h| h.last_success)
            .map(|m| format!("{} UTC", clock(m.0)))
            .unwrap_or_default();
        let last_error = health
            .and_then(|h| h.last_error.as_deref())
            .map(escape)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr class=\"device\" data-device=\"{name}\" data-agent=\"{agent}\" data-health=\"{status}\" \
             data-failures=\"{}\"><td>{name}</td><td>{agent}</td><td>{}</td><td class=\"{class}\">{status}</td>\
             <td>{last_success}</td><td><small>{last_error}</small></td></tr>",
            health.map_or(0, |h| h.consecutive_failures),
            escape(&d.hosts.join(", ")),
            name = escape(&d.name),
            agent = escape(&d.agent),
        );
    }
    let _ = writeln!(out, "</table>");
}

fn targets_section(out: &mut String, targets: &[TargetHealth]) {
    let cannot: Vec<&TargetHealth> = targets.iter().filter(|t| !t.fenceable).collect();
    let _ = writeln!(out, "<ul id=\"targets\">");
    for t in targets {
        let _ =
            writeln!(
            out,
            "<li class=\"target\" data-target=\"{name}\" data-fenceable=\"{}\"{}>{name}: {}</li>",
            t.fenceable,
            if t.fenceable { "" } else { " style=\"color:#a00\"" },
            if t.fenceable {
                "can be fenced"
            } else {
                "CANNOT BE FENCED: every fencing path has a failing device"
            },
            name = escape(&t.target),
        );
    }
    let _ = writeln!(out, "</ul>");
    if !cannot.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"bad\" id=\"unfenceable\">{} node(s) cannot be fenced: a failover onto \
             their resources would wait for a fence that cannot happen.</p>",
            cannot.len()
        );
    }
}

/// The page for `snapshot`; it reloads itself every `refresh_s` seconds (0: never).
pub fn render(snapshot: &Snapshot, refresh_s: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">"
    );
    if refresh_s > 0 {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{refresh_s}\">");
    }
    let _ = writeln!(
        out,
        "<title>palisade status</title><style>{STYLE}</style></head>\n<body data-taken=\"{}\">\n\
         <h1>palisade</h1><p><small>read at {} UTC{}</small></p>",
        snapshot.taken_ms,
        clock(snapshot.taken_ms),
        if refresh_s > 0 {
            format!(", refreshed every {refresh_s} s")
        } else {
            String::new()
        }
    );
    match &snapshot.cluster {
        Source::Answer(s) => cluster_section(&mut out, s),
        Source::Unavailable(why) => unavailable(&mut out, "node daemon", why),
    }
    let _ = writeln!(out, "<h2>Fencing history</h2>");
    match &snapshot.history {
        Source::Answer(entries) => history_section(&mut out, entries),
        Source::Unavailable(why) => unavailable(&mut out, "fencer", why),
    }
    let _ = writeln!(out, "<h2>Fence devices</h2>");
    match &snapshot.devices {
        Source::Answer(devices) => devices_section(&mut out, devices),
        Source::Unavailable(why) => unavailable(&mut out, "fencer", why),
    }
    if let Source::Answer(targets) = &snapshot.targets {
        targets_section(&mut out, targets);
    }
    let _ = writeln!(out, "</body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::status::{InstanceLine, NodeLine, ResourceLine};

    fn status() -> Status {
        Status {
            cluster: 7,
            node: "node2".into(),
            view: 4,
            quorate: true,
            quorum: "2 of 3 votes".into(),
            coordinator: Some("node2".into()),
            nodes: vec![
                NodeLine {
                    name: "node1".into(),
                    id: 1,
                    state: "fenced".into(),
                    standby: false,
                    maintenance: false,
                    local: false,
                    unproven: 0,
                },
                NodeLine {
                    name: "node<2>".into(),
                    id: 2,
                    state: "online".into(),
                    standby: true,
                    maintenance: false,
                    local: true,
                    unproven: 0,
                },
            ],
            resources: vec![ResourceLine {
                name: "web".into(),
                agent: "ocf:heartbeat:Dummy".into(),
                container: None,
                target_role: "started".into(),
                instances: vec![InstanceLine {
                    node: "node3".into(),
                    role: "started".into(),
                    status: "running".into(),
                }],
                decision: "keep on node3".into(),
            }],
            ..Status::default()
        }
    }

    #[test]
    fn rows_carry_their_facts_and_text_is_escaped() {
        let snapshot = Snapshot {
            taken_ms: 3_600_000,
            cluster: Source::Answer(Box::new(status())),
            history: Source::Answer(Vec::new()),
            devices: Source::Unavailable("no <socket>".into()),
            targets: Source::Answer(vec![TargetHealth {
                target: "node1".into(),
                fenceable: false,
            }]),
        };
        let page = render(&snapshot, 5);
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        assert!(page.contains("data-node=\"node1\" data-state=\"fenced\""));
        assert!(page
            .contains("data-node=\"node&lt;2&gt;\" data-state=\"online\" data-standby=\"true\""));
        assert!(page.contains("data-resource=\"web\" data-running-on=\"node3\""));
        assert!(page.contains("data-quorate=\"true\""));
        assert!(page.contains("cannot read the fencer: no &lt;socket&gt;"));
        assert!(!page.contains("<socket>"));
        assert!(page.contains("data-target=\"node1\" data-fenceable=\"false\""));
    }

    #[test]
    fn no_refresh_when_zero() {
        let snapshot = Snapshot {
            taken_ms: 0,
            cluster: Source::Unavailable("down".into()),
            history: Source::Unavailable("down".into()),
            devices: Source::Unavailable("down".into()),
            targets: Source::Unavailable("down".into()),
        };
        assert!(!render(&snapshot, 0).contains("http-equiv"));
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
