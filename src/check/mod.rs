//! `palisade check`: one timing model for the whole fencing stack, and the rules that
//! tie its timeouts together. Pure: the caller (the I/O shell in `src/cli/check.rs`)
//! reads the files; this module turns their parsed contents into a [`Model`] and the
//! model into a [`Report`] of derived safe values and [`Finding`]s, each naming the
//! rule, its source, the values and the formula.
//!
//! - [`model`]: the timing model and how each input fills it (palisade's fencer and node
//!   configurations, corosync.conf, the sbd sysconfig, the CIB, an sbd header).
//! - [`rules`]: the rules (each citing where it comes from) and the derived values.
//! - [`corosync`], [`sysconfig`], [`cib`]: readers of the pacemaker stack's files.

pub mod cib;
pub mod corosync;
pub mod model;
pub mod rules;
pub mod sysconfig;

#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::Serialize;

pub use model::{DeviceTiming, Model, Val};

use crate::fencer::duration::format_duration;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Against a recommendation; works, with less margin than advised.
    Warning,
    /// Unsafe: fence loops, or a node counted fenced while it may still run.
    Unsafe,
}

/// One named value a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedValue {
    /// What the value is (`msgwait`, `fencing-timeout`...).
    pub name: String,
    /// In milliseconds.
    pub ms: u64,
    /// Where it was read (file and key), or how it was derived.
    pub source: String,
}

impl NamedValue {
    /// A value from the model.
    pub fn of(name: &str, val: &Val) -> NamedValue {
        NamedValue {
            name: name.to_string(),
            ms: val.ms,
            source: val.source.clone(),
        }
    }
}

/// A rule that a configuration breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Unsafe or warning.
    pub severity: Severity,
    /// The rule's id (`sbd-msgwait`, `corosync-consensus`...).
    pub rule: &'static str,
    /// Where the rule comes from.
    pub reference: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The values involved.
    pub values: Vec<NamedValue>,
    /// The inequality that must hold, e.g. `msgwait >= 2 x watchdog-timeout`.
    pub formula: String,
}

/// A safe value derived from the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derived {
    /// What it is (`sbd msgwait`, `fencing-timeout`...).
    pub name: String,
    /// The least safe value, in milliseconds.
    pub min_ms: u64,
    /// How it is computed, with the numbers.
    pub formula: String,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The model's values, by name.
    pub values: Vec<NamedValue>,
    /// Least safe values.
    pub derived: Vec<Derived>,
    /// Broken rules, unsafe first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is unsafe.
    pub fn is_unsafe(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Unsafe)
    }

    /// The unsafe findings.
    pub fn unsafe_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Unsafe)
    }

    /// What a daemon says when it refuses to start on its own configuration: one line
    /// per unsafe finding (rule, message, formula); `None` when nothing is unsafe.
    pub fn refusal(&self) -> Option<String> {
        let lines: Vec<String> = self
            .unsafe_findings()
            .map(|f| format!("unsafe [{}]: {} (rule: {})", f.rule, f.message, f.formula))
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    /// The warnings, one line each.
    pub fn warnings(&self) -> Vec<String> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| format!("warning [{}]: {}", f.rule, f.message))
            .collect()
    }

    /// The readable text of `palisade check`.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let count = |s| self.findings.iter().filter(|f| f.severity == s).count();
        out.push_str(&format!(
            "palisade check: {} unsafe, {} warning(s)\n",
            count(Severity::Unsafe),
            count(Severity::Warning)
        ));
        if !self.values.is_empty() {
            out.push_str("\nvalues:\n");
            for v in &self.values {
                out.push_str(&format!(
                    "  {:<32} {:>8}  ({})\n",
                    v.name,
                    show_ms(v.ms),
                    v.source
                ));
            }
        }
        if !self.derived.is_empty() {
            out.push_str("\nsafe values:\n");
            for d in &self.derived {
                out.push_str(&format!(
                    "  {:<32} >= {:>8}  = {}\n",
                    d.name,
                    show_ms(d.min_ms),
                    d.formula
                ));
            }
        }
        for f in &self.findings {
            let word = match f.severity {
                Severity::Unsafe => "UNSAFE",
                Severity::Warning => "warning",
            };
            out.push_str(&format!("\n{word} [{}]: {}\n", f.rule, f.message));
            out.push_str(&format!("  rule:   {}\n", f.formula));
            for v in &f.values {
                out.push_str(&format!(
                    "  {:<6}  {} = {} ({})\n",
                    "",
                    v.name,
                    show_ms(v.ms),
                    v.source
                ));
            }
            out.push_str(&format!("  source: {}\n", f.reference));
        }
        out
    }
}

/// A span in milliseconds as configs write it.
pub fn show_ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

/// The rules that apply to one palisade fencer configuration alone.
pub fn fencer_config(cfg: &crate::fencer::config::FencerConfig, path: &str) -> Report {
    let mut model = Model::default();
    model.add_fencer(cfg, path);
    check(&model)
}

/// The rules that apply to one palisade node configuration alone.
pub fn node_config(cfg: &crate::node::config::NodeConfig, path: &str) -> Report {
    let mut model = Model::default();
    model.add_node(cfg, path);
    check(&model)
}

/// Check a model: the derived values and every broken rule.
pub fn check(model: &Model) -> Report {
    let mut findings = rules::findings(model);
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    Report {
        values: model.values(),
        derived: rules::derived(model),
        findings,
    }
}
