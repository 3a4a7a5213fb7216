//! Why each resource is where it is: the score every node got and what it is made of
//! (location constraints, stickiness, failures, colocations, unavailable nodes), the
//! promotion scores of promotable clones, and the decision — in the spirit of
//! `crm_simulate -s`, but with the reasons spelled out.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::score::Score;

/// One term of a node's score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution {
    /// Its value (zero for a note that does not change the score).
    pub score: Score,
    /// Where it comes from.
    pub reason: String,
}

/// The terms of one node's score.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeScore {
    /// The terms, in the order they were applied.
    pub parts: Vec<Contribution>,
}

impl NodeScore {
    /// Add a term.
    pub fn add(&mut self, score: Score, reason: impl Into<String>) {
        self.parts.push(Contribution {
            score,
            reason: reason.into(),
        });
    }

    /// The sum, with INFINITY arithmetic.
    pub fn total(&self) -> Score {
        self.parts.iter().fold(Score::ZERO, |t, c| t + c.score)
    }
}

/// The explanation of one placed unit (a primitive or a clone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Explanation {
    /// The unit.
    pub resource: String,
    /// What it is (`ocf:heartbeat:IPaddr2 in group web`, `clone of ping`).
    pub kind: String,
    /// Where it runs now (`node1`, `node2 (failed)`), empty when stopped.
    pub current: Vec<String>,
    /// Allocation scores by node (empty when no scoring happened).
    pub scores: BTreeMap<String, NodeScore>,
    /// Promotion scores by node (promotable clones only).
    pub promotion: BTreeMap<String, NodeScore>,
    /// Remarks that are not score terms.
    pub notes: Vec<String>,
    /// The decision, in words.
    pub decision: String,
}

fn signed(score: Score) -> String {
    if score >= Score::ZERO && !score.is_infinity() {
        format!("+{score}")
    } else if score.is_infinity() {
        "+INFINITY".to_string()
    } else {
        score.to_string()
    }
}

fn table(out: &mut String, title: &str, scores: &BTreeMap<String, NodeScore>) {
    if scores.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {title}:");
    for (node, score) in scores {
        let parts: Vec<String> = score
            .parts
            .iter()
            .map(|c| format!("{} {}", c.reason, signed(c.score)))
            .collect();
        let detail = if parts.is_empty() {
            "no preference".to_string()
        } else {
            parts.join(", ")
        };
        let _ = writeln!(out, "    {node}: {} ({detail})", score.total());
    }
}

impl Explanation {
    /// Human-readable text (stable: golden files compare it).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let current = if self.current.is_empty() {
            "stopped".to_string()
        } else {
            format!("on {}", self.current.join(", "))
        };
        let _ = writeln!(out, "{} [{}] now {current}", self.resource, self.kind);
        table(&mut out, "scores", &self.scores);
        table(&mut out, "promotion scores", &self.promotion);
        for note in &self.notes {
            let _ = writeln!(out, "  note: {note}");
        }
        let _ = writeln!(out, "  => {}", self.decision);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_terms_and_totals() {
        let mut node1 = NodeScore::default();
        node1.add(Score::new(50), "location prefer-node1");
        node1.add(Score::new(100), "stickiness");
        let mut node2 = NodeScore::default();
        node2.add(Score::MINUS_INFINITY, "node is in standby");
        let e = Explanation {
            resource: "web".into(),
            kind: "ocf:heartbeat:apache".into(),
            current: vec!["node1".into()],
            scores: [("node1".to_string(), node1), ("node2".to_string(), node2)].into(),
            promotion: BTreeMap::new(),
            notes: Vec::new(),
            decision: "stays on node1".into(),
        };
        assert_eq!(
            e.render(),
            "web [ocf:heartbeat:apache] now on node1\n  scores:\n    node1: 150 (location prefer-node1 +50, stickiness +100)\n    node2: -INFINITY (node is in standby -INFINITY)\n  => stays on node1\n"
        );
    }
}
