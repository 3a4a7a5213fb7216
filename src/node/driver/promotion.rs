//! The I/O of this node's promotion scores: the directories of the shim through which
//! the agents of a promotable clone set them (the machine keeps the scores,
//! [`crate::node::machine::instances`]). Part of [`super`]: nothing is decided here.

use crate::node::attributes;
use crate::node::config::NodeConfig;
use crate::node::events::Event;
use crate::node::resources::PromotionDirs;

/// The promotion-score shim's directories, when a promotable clone is configured (and a
/// warning when they cannot be set up: its agents then fail to report a score).
pub(super) fn promotion_dirs(cfg: &NodeConfig, me: &str) -> (Option<PromotionDirs>, Option<Event>) {
    if !cfg.placement.clones.iter().any(|c| c.promotable) {
        return (None, None);
    }
    let made = std::env::current_exe()
        .and_then(|program| attributes::setup(&cfg.state_dir, cfg.cluster_id, me, &program));
    match made {
        Ok(dirs) => (Some(dirs), None),
        Err(e) => (
            None,
            Some(Event::NoPromotionShim {
                dir: cfg.state_dir.display().to_string(),
                error: e.to_string(),
            }),
        ),
    }
}
