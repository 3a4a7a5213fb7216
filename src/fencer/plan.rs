//! Turning "fence X with action A" plus the devices or topology levels that apply into an
//! ordered plan of steps (pure). A level is a list of steps that must all succeed. A
//! reboot through a level of several devices becomes all-off then all-on (so no device
//! powers its outlet back on while another still feeds the target); the "on" half runs
//! only after the target is verified off, and its failure no longer fails the operation.

use std::time::Duration;

use super::device::{AgentAction, DeviceSpec};
use super::operation::FenceAction;

/// One agent action on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Device name.
    pub device: String,
    /// What to ask it.
    pub action: AgentAction,
    /// True for the "on" half of a remapped reboot: the target is already fenced.
    pub after_fenced: bool,
}

impl Step {
    /// Whether the step fences (off or reboot, not the "on" half of a remapped reboot):
    /// only such a step waits for its fencing delay.
    pub fn is_fencing(&self) -> bool {
        matches!(self.action, AgentAction::Off | AgentAction::Reboot) && !self.after_fenced
    }
}

/// The delay before a fencing step on `device`: its `pcmk_delay_base` / `pcmk_delay_max`
/// share for `target` (`random_permille` of the spread; 1000 is the longest), plus the
/// request's delay still `pending`, at most `max_delay` (`fencing-max-delay`). The
/// machine and the dry run's worst case both use this.
pub fn fencing_delay(
    device: &DeviceSpec,
    target: &str,
    random_permille: u32,
    pending: Duration,
    max_delay: Duration,
) -> Duration {
    device
        .delay_for(target, random_permille)
        .saturating_add(pending)
        .min(max_delay)
}

/// One level of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLevel {
    /// Topology index (1-9), or 0 when no topology applies (one capable device).
    pub index: u8,
    /// The devices of the level, in order.
    pub devices: Vec<String>,
    /// Steps, in order.
    pub steps: Vec<Step>,
}

/// The agent action that carries out `action` on a single device.
pub fn agent_action(action: FenceAction) -> AgentAction {
    match action {
        FenceAction::Off => AgentAction::Off,
        FenceAction::Reboot => AgentAction::Reboot,
        FenceAction::On => AgentAction::On,
    }
}

/// Plan one level: every device does the action, in order; a reboot over several
/// devices becomes every device off, then every device on.
pub fn plan_level(index: u8, devices: &[String], action: FenceAction) -> PlannedLevel {
    let step = |device: &String, action: AgentAction, after_fenced: bool| Step {
        device: device.clone(),
        action,
        after_fenced,
    };
    let steps = if action == FenceAction::Reboot && devices.len() > 1 {
        devices
            .iter()
            .map(|d| step(d, AgentAction::Off, false))
            .chain(devices.iter().map(|d| step(d, AgentAction::On, true)))
            .collect()
    } else {
        devices
            .iter()
            .map(|d| step(d, agent_action(action), false))
            .collect()
    };
    PlannedLevel {
        index,
        devices: devices.to_vec(),
        steps,
    }
}

/// Plan from topology levels (ascending index).
pub fn plan_topology(levels: &[(u8, Vec<String>)], action: FenceAction) -> Vec<PlannedLevel> {
    let mut sorted: Vec<&(u8, Vec<String>)> = levels.iter().collect();
    sorted.sort_by_key(|(index, _)| *index);
    sorted
        .into_iter()
        .map(|(index, devices)| plan_level(*index, devices, action))
        .collect()
}

/// Plan without topology: each capable device alone, tried in the given order (the caller
/// sorts by priority).
pub fn plan_devices(devices: &[String], action: FenceAction) -> Vec<PlannedLevel> {
    devices
        .iter()
        .map(|d| plan_level(0, std::slice::from_ref(d), action))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(plan: &[PlannedLevel]) -> Vec<String> {
        plan.iter()
            .map(|l| {
                let steps: Vec<String> = l
                    .steps
                    .iter()
                    .map(|s| {
                        format!(
                            "{}:{}{}",
                            s.device,
                            s.action,
                            if s.after_fenced { "*" } else { "" }
                        )
                    })
                    .collect();
                format!("{} {}", l.index, steps.join(" "))
            })
            .collect()
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reboot_through_multi_device_level_is_all_off_then_all_on() {
        let plan = plan_topology(
            &[(2, names(&["pdu1", "pdu2"])), (1, names(&["ipmi"]))],
            FenceAction::Reboot,
        );
        assert_eq!(
            render(&plan),
            ["1 ipmi:reboot", "2 pdu1:off pdu2:off pdu1:on* pdu2:on*"]
        );
    }

    #[test]
    fn off_and_on_stay_single_actions() {
        let levels = [(1, names(&["a", "b"]))];
        assert_eq!(
            render(&plan_topology(&levels, FenceAction::Off)),
            ["1 a:off b:off"]
        );
        assert_eq!(
            render(&plan_topology(&levels, FenceAction::On)),
            ["1 a:on b:on"]
        );
    }

    #[test]
    fn devices_without_topology_are_alternatives() {
        assert_eq!(
            render(&plan_devices(&names(&["x", "y"]), FenceAction::Reboot)),
            ["0 x:reboot", "0 y:reboot"]
        );
    }
}
