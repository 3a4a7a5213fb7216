//! no-quorum-policy, applied in this one place: what a node does with its resources
//! while its applied view is not quorate. `stop` and `demote` stop every local instance
//! (the scheduler is not asked), `freeze` keeps what runs and starts nothing, `ignore`
//! schedules as if quorate, `fence` (suicide) self-fences when the view is applied. A
//! node in maintenance stops nothing for lack of quorum.

use crate::cluster::quorum::NoQuorumPolicy;

/// What the scheduling step does now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Plan and carry out this node's share.
    Plan,
    /// No plan: stop every local instance ("no quorum").
    StopAll,
    /// No plan: leave everything as it is.
    Hold,
}

/// The scheduling gate for a view that is `quorate` or not, with `maintenance` applying
/// on this node.
pub fn gate(policy: NoQuorumPolicy, quorate: bool, maintenance: bool) -> Gate {
    if quorate || maintenance {
        return Gate::Plan;
    }
    match policy {
        NoQuorumPolicy::Ignore => Gate::Plan,
        NoQuorumPolicy::Stop | NoQuorumPolicy::Demote => Gate::StopAll,
        NoQuorumPolicy::Freeze | NoQuorumPolicy::Fence => Gate::Hold,
    }
}

/// The self-fence a view without quorum asks for (policy `fence` only).
pub fn self_fence(policy: NoQuorumPolicy, quorate: bool) -> Option<String> {
    (!quorate && policy == NoQuorumPolicy::Fence)
        .then(|| "partition lost quorum and no-quorum-policy=fence".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_once() {
        use NoQuorumPolicy::*;
        for (policy, gate_without, fences) in [
            (Stop, Gate::StopAll, false),
            (Demote, Gate::StopAll, false),
            (Freeze, Gate::Hold, false),
            (Ignore, Gate::Plan, false),
            (Fence, Gate::Hold, true),
        ] {
            assert_eq!(gate(policy, true, false), Gate::Plan);
            assert_eq!(gate(policy, false, false), gate_without, "{policy:?}");
            assert_eq!(gate(policy, false, true), Gate::Plan, "maintenance");
            assert_eq!(self_fence(policy, false).is_some(), fences);
            assert!(self_fence(policy, true).is_none());
        }
    }
}
