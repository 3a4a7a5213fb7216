//! Asking agents what they can do: the `metadata` action's list of actions decides a
//! device's default `pcmk_host_check` (pacemaker's rule: `dynamic-list` with a `list`
//! action, else `status`, else `none`) and whether a reboot request must be sent as
//! `off` (agents without `reboot`). Each distinct agent is asked once per call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use crate::fencer::device::DeviceSpec;
use crate::fencer::executor::{resolve_agent, run_agent, Caller};
use crate::fencer::machine::AgentStatus;
use crate::fencer::targeting::metadata_actions;

/// Time a `metadata` run may take.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// The actions `agent` lists in its metadata (None if it cannot be run or lists none).
pub async fn agent_actions(agent: &str, dirs: &[PathBuf]) -> Option<Vec<String>> {
    let path = resolve_agent(agent, dirs).ok()?;
    let lines = vec![("action".to_string(), "metadata".to_string())];
    let outcome = run_agent(
        &path,
        &lines,
        METADATA_TIMEOUT,
        Caller::Fencer,
        std::future::pending(),
    )
    .await;
    match outcome.status {
        AgentStatus::Exited(0) => Some(metadata_actions(&outcome.stdout)).filter(|a| !a.is_empty()),
        _ => None,
    }
}

/// Apply the agents' metadata to `devices` (agents that cannot tell change nothing).
/// Distinct agents are asked in parallel, so startup waits at most one timeout.
pub async fn apply_metadata(devices: &mut [DeviceSpec], dirs: &[PathBuf]) {
    let agents: BTreeSet<String> = devices.iter().map(|d| d.agent.clone()).collect();
    let mut probes = tokio::task::JoinSet::new();
    for agent in agents {
        let dirs = dirs.to_vec();
        probes.spawn(async move {
            let actions = agent_actions(&agent, &dirs).await;
            (agent, actions)
        });
    }
    let mut known: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    while let Some(joined) = probes.join_next().await {
        if let Ok((agent, actions)) = joined {
            known.insert(agent, actions);
        }
    }
    for device in devices.iter_mut() {
        match known.get(&device.agent) {
            Some(Some(actions)) => device.apply_agent_actions(actions),
            _ => tracing::warn!(
                device = %device.name,
                "agent metadata unavailable; defaults kept (pcmk_host_check dynamic-list)"
            ),
        }
    }
}
