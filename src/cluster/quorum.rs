//! Quorum arithmetic, pure: given the configured nodes and votes, the members of this
//! partition and the tie-breakers' answers, is this partition quorate? Semantics follow
//! corosync votequorum (50% + 1 of expected votes; two_node with wait_for_all;
//! auto_tie_breaker for an exact half) and pacemaker's no-quorum-policy.
//!
//! The property that matters — two disjoint partitions are never both quorate by votes
//! alone — is tested exhaustively over every split of small clusters.

use std::collections::{BTreeMap, BTreeSet};

/// A node's identity in the cluster configuration.
pub type NodeId = u32;

/// What a partition without quorum does (`no-quorum-policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoQuorumPolicy {
    /// Stop all resources in the partition (default).
    Stop,
    /// Keep running what runs; recover nothing from outside the partition.
    Freeze,
    /// Behave as if quorate (dangerous without fencing).
    Ignore,
    /// Fence every node of the partition, this one included (`suicide` is an alias).
    Fence,
    /// Demote promotable resources, stop the others.
    Demote,
}

impl NoQuorumPolicy {
    /// Parse pacemaker's word for it.
    pub fn parse(word: &str) -> Option<NoQuorumPolicy> {
        Some(match word.trim().to_ascii_lowercase().as_str() {
            "stop" => NoQuorumPolicy::Stop,
            "freeze" => NoQuorumPolicy::Freeze,
            "ignore" => NoQuorumPolicy::Ignore,
            "fence" | "suicide" => NoQuorumPolicy::Fence,
            "demote" => NoQuorumPolicy::Demote,
            _ => return None,
        })
    }
}

/// Who wins an exact 50/50 split (`auto_tie_breaker_node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TieBreaker {
    /// No automatic tie-breaker: a half is not quorate (unless an external one says so).
    None,
    /// The half holding the lowest configured node id.
    Lowest,
    /// The half holding the highest configured node id.
    Highest,
    /// The first listed node that is configured decides.
    List(Vec<NodeId>),
}

/// The quorum part of the cluster configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumConfig {
    /// Configured nodes and their votes (default 1 each).
    pub votes: BTreeMap<NodeId, u32>,
    /// Override of the sum of votes.
    pub expected_votes: Option<u32>,
    /// Two-node cluster: quorum is 1 vote by fiat; turns on wait_for_all.
    pub two_node: bool,
    /// `None` = follow two_node.
    pub wait_for_all: Option<bool>,
    pub tie_breaker: TieBreaker,
    pub no_quorum_policy: NoQuorumPolicy,
}

impl QuorumConfig {
    /// Equal votes for `nodes`, no options.
    pub fn simple(nodes: impl IntoIterator<Item = NodeId>) -> QuorumConfig {
        QuorumConfig {
            votes: nodes.into_iter().map(|n| (n, 1)).collect(),
            expected_votes: None,
            two_node: false,
            wait_for_all: None,
            tie_breaker: TieBreaker::None,
            no_quorum_policy: NoQuorumPolicy::Stop,
        }
    }

    /// Expected votes: the override or the sum of configured votes.
    pub fn expected(&self) -> u32 {
        self.expected_votes
            .unwrap_or_else(|| self.votes.values().sum())
    }

    /// True when two_node applies (configured and exactly two nodes, as votequorum).
    pub fn two_node_active(&self) -> bool {
        self.two_node && self.votes.len() == 2
    }

    /// wait_for_all: explicit, or on with two_node.
    pub fn wait_for_all(&self) -> bool {
        self.wait_for_all.unwrap_or(self.two_node_active())
    }

    /// Votes a partition needs: above half of expected, or 1 in a two-node cluster.
    pub fn needed(&self) -> u32 {
        if self.two_node_active() {
            1
        } else {
            self.expected() / 2 + 1
        }
    }
}

/// External tie-breaker answers for this partition; `None` = not configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExternalTieBreakers {
    /// Every configured ping target answered (heartbeat's `ping` node).
    pub ping: Option<bool>,
    /// This node holds the tie-breaker disk (sbd reachable, majority of devices).
    pub disk: Option<bool>,
}

/// Wait-for-all latch: set once every configured node has been seen at the same time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaitForAll {
    pub all_seen_together: bool,
}

/// The verdict and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub quorate: bool,
    /// Votes of the members.
    pub votes: u32,
    pub expected: u32,
    pub needed: u32,
    /// Human-readable reason, for the log and the timeline.
    pub reason: String,
}

/// Whether [`evaluate`] would ask the external tie-breakers for `members`: an exact
/// half of the expected votes, not quorate by votes (no two_node), no auto_tie_breaker,
/// and wait_for_all satisfied. Only then must the drivers get answers (and the disk
/// disk claim machine take the disk).
pub fn asks_tie_breakers(cfg: &QuorumConfig, members: &BTreeSet<NodeId>, wfa: &WaitForAll) -> bool {
    let votes: u32 = members.iter().filter_map(|n| cfg.votes.get(n)).sum();
    let expected = cfg.expected();
    let all_seen = wfa.all_seen_together || cfg.votes.keys().all(|n| members.contains(n));
    expected > 0
        && votes * 2 == expected
        && votes < cfg.needed()
        && cfg.tie_breaker == TieBreaker::None
        && (!cfg.wait_for_all() || all_seen)
}

/// Decide quorum for a partition of `members` (which must include this node).
pub fn evaluate(
    cfg: &QuorumConfig,
    members: &BTreeSet<NodeId>,
    external: ExternalTieBreakers,
    wfa: &mut WaitForAll,
) -> Verdict {
    let votes: u32 = members.iter().filter_map(|n| cfg.votes.get(n)).sum();
    let expected = cfg.expected();
    let needed = cfg.needed();
    if cfg.votes.keys().all(|n| members.contains(n)) {
        wfa.all_seen_together = true;
    }
    let verdict = |quorate: bool, reason: String| Verdict {
        quorate,
        votes,
        expected,
        needed,
        reason,
    };
    if cfg.wait_for_all() && !wfa.all_seen_together {
        return verdict(
            false,
            "wait_for_all: not every node has been seen together yet".into(),
        );
    }
    if votes >= needed {
        let why = if cfg.two_node_active() {
            format!("two_node: {votes} vote(s) of 2 suffice (fencing settles the race)")
        } else {
            format!("{votes} of {expected} votes, {needed} needed")
        };
        return verdict(true, why);
    }
    // An exact half may be settled by a tie-breaker.
    if votes * 2 == expected && expected > 0 {
        let decider = match &cfg.tie_breaker {
            TieBreaker::None => None,
            TieBreaker::Lowest => cfg.votes.keys().next().copied(),
            TieBreaker::Highest => cfg.votes.keys().next_back().copied(),
            TieBreaker::List(list) => list.iter().copied().find(|n| cfg.votes.contains_key(n)),
        };
        if let Some(node) = decider {
            let holds = members.contains(&node);
            return verdict(
                holds,
                format!(
                    "exact half ({votes} of {expected}): auto_tie_breaker node {node} is {}",
                    if holds { "here" } else { "on the other side" }
                ),
            );
        }
        let answers: Vec<(&str, bool)> = [("ping", external.ping), ("disk", external.disk)]
            .into_iter()
            .filter_map(|(name, a)| a.map(|a| (name, a)))
            .collect();
        if !answers.is_empty() {
            let all = answers.iter().all(|(_, ok)| *ok);
            let list: Vec<String> = answers
                .iter()
                .map(|(n, ok)| format!("{n} {}", if *ok { "ok" } else { "lost" }))
                .collect();
            return verdict(
                all,
                format!(
                    "exact half ({votes} of {expected}): tie-breakers {}",
                    list.join(", ")
                ),
            );
        }
    }
    verdict(
        false,
        format!("{votes} of {expected} votes, {needed} needed"),
    )
}

#[cfg(test)]
mod tests;
