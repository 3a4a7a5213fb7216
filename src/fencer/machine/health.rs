//! Periodic device health checks inside the machine: the [`HealthSchedule`] says which
//! device's `monitor` is due; the run goes through the device's slots like any other
//! (a check never overtakes a fence's `pcmk_action_limit`); its end updates the
//! device's health, is journaled ([`Action::HealthChecked`]), and a change is announced
//! ([`Notice::DeviceHealth`]), followed by any target whose fenceability changed
//! ([`Notice::TargetFenceable`]). A check that could not get a slot in time (the device
//! was busy fencing) leaves the health as it was.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    Action, AgentOutcome, AgentRun, AgentStatus, Budget, Fencer, HealthRecord, Notice, Purpose,
    RunInfo,
};
use crate::fencer::device::HostCheck;
use crate::fencer::dryrun::{probe_stdin, ProbeAction};
use crate::fencer::duration::Moment;
use crate::fencer::health::{fenceable, DeviceHealth, HealthMemory, HealthSchedule};
use crate::fencer::operation::RunId;
use crate::fencer::topology::TargetSelector;

impl Fencer {
    /// Start checking every registered device (and every device registered later) on
    /// its `pcmk_monitor_interval`, at most `concurrency` at once. Off by default, so
    /// the golden transcripts see no health checks.
    pub fn enable_health_checks(&mut self, concurrency: usize, now: Moment) {
        let mut schedule = HealthSchedule::new(concurrency, self.rng ^ 0x4845_414c_5448);
        for (name, device) in &self.devices {
            schedule.track(name, device.monitor_interval, now);
        }
        self.health = Some(schedule);
        self.seen = self.seen.max(now);
        self.health_generation += 1;
    }

    /// Restore what the journal remembers of each device's checks (see
    /// [`HealthMemory`]); devices no longer registered are ignored.
    pub fn restore_health(&mut self, memory: &BTreeMap<String, HealthMemory>) {
        if let Some(schedule) = &mut self.health {
            for (device, remembered) in memory {
                schedule.restore(device, remembered);
            }
            self.health_generation += 1;
        }
    }

    /// A number that changes whenever a device's health, the devices or the topology
    /// change: what is derived from health (the metrics' view) needs recomputing only
    /// then.
    pub fn health_generation(&self) -> u64 {
        self.health_generation
    }

    /// A device's health (`None`: health checks are off or the device is unknown).
    pub fn device_health(&self, device: &str) -> Option<&DeviceHealth> {
        self.health.as_ref().and_then(|h| h.health(device))
    }

    /// Every target with a known fencing path, and whether some path has no failing
    /// device.
    pub fn fenceability(&self) -> BTreeMap<String, bool> {
        let Some(schedule) = &self.health else {
            return BTreeMap::new();
        };
        self.known_targets()
            .into_iter()
            .filter_map(|target| {
                let paths = self.fencing_paths(&target);
                fenceable(&paths, |d| schedule.status(d)).map(|f| (target, f))
            })
            .collect()
    }

    /// Whether `target` can be fenced as far as health checks know (`None`: no known
    /// path, or health checks are off).
    pub fn target_fenceable(&self, target: &str) -> Option<bool> {
        let schedule = self.health.as_ref()?;
        fenceable(&self.fencing_paths(target), |d| schedule.status(d))
    }

    /// Targets named anywhere: topology levels by name, static host lists and maps,
    /// node attributes.
    fn known_targets(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |name: &str| {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_string());
            }
        };
        for (selector, _) in self.topology.all() {
            if let TargetSelector::Name(name) = selector {
                add(&name);
            }
        }
        for device in self.devices.values() {
            device.host_list.iter().for_each(|n| add(n));
            device.host_map.nodes().for_each(&mut add);
        }
        self.nodes.keys().for_each(|n| add(n));
        names.sort();
        names
    }

    /// The ways `target` can be fenced: its topology levels, else each device that can
    /// fence it without asking the agent (static list, or `pcmk_host_check=none`).
    fn fencing_paths(&self, target: &str) -> Vec<Vec<String>> {
        if let Some((_, levels)) = self.topology.levels_for(target, &self.nodes) {
            return levels.into_iter().map(|l| l.devices).collect();
        }
        self.devices
            .values()
            .filter(|d| match d.host_check {
                HostCheck::StaticList => d.lists(target),
                HostCheck::None => true,
                HostCheck::DynamicList | HostCheck::Status => false,
            })
            .map(|d| vec![d.name.clone()])
            .collect()
    }

    /// Track a (re)registered device; forget an unregistered one.
    pub(super) fn health_registry_changed(&mut self, device: &str) {
        let now = self.seen;
        self.health_generation += 1;
        let interval = self.devices.get(device).map(|d| d.monitor_interval);
        if let Some(schedule) = &mut self.health {
            match interval {
                Some(interval) => schedule.track(device, interval, now),
                None => schedule.forget(device),
            }
        }
    }

    /// Submit the checks that are due.
    pub(super) fn run_health_checks(&mut self, now: Moment, out: &mut Vec<Action>) {
        let Some(schedule) = &mut self.health else {
            return;
        };
        let due = schedule.take_due(now);
        for device in due {
            let run_id = self.new_run_id();
            let Some(spec) = self.devices.get(&device) else {
                if let Some(schedule) = &mut self.health {
                    schedule.forget(&device);
                }
                continue;
            };
            let timeout = spec.action(ProbeAction::Monitor.agent_action()).timeout;
            let run = AgentRun {
                run: run_id,
                device: device.clone(),
                agent: spec.agent.clone(),
                action: ProbeAction::Monitor.agent_action(),
                target: None,
                stdin: probe_stdin(spec, ProbeAction::Monitor, ""),
                delay: Duration::ZERO,
                timeout: Duration::ZERO,
            };
            let info = RunInfo {
                purpose: Purpose::HealthCheck,
                device,
                queued: true,
                queue_deadline: now.after(timeout),
                budget: Budget::Span {
                    timeout,
                    cap: now.after(timeout + timeout),
                },
                dispatched: now,
                run,
                level: 0,
                attempt: 1,
                plug: None,
            };
            self.submit_run(info, now, out);
        }
    }

    /// The daemon stops: no more checks; running ones are killed, queued ones dropped.
    pub(super) fn stop_health_checks(&mut self, out: &mut Vec<Action>) {
        if self.health.take().is_none() {
            return;
        }
        let checks: Vec<(RunId, bool, String)> = self
            .runs
            .iter()
            .filter(|(_, r)| r.purpose == Purpose::HealthCheck)
            .map(|(id, r)| (*id, r.queued, r.device.clone()))
            .collect();
        for (id, queued, device) in checks {
            if queued {
                self.runs.remove(&id);
                self.slots_forget_queued(&device, id);
            } else if let Some(info) = self.runs.get_mut(&id) {
                info.purpose = Purpose::Abandoned;
                out.push(Action::CancelRun(id));
            }
        }
    }

    /// A running check of `device` was killed to free its slot for a fence.
    pub(super) fn health_check_preempted(&mut self, device: &str, now: Moment) {
        if let Some(schedule) = &mut self.health {
            schedule.skip(device, now);
        }
    }

    /// A health check ended.
    pub(super) fn on_health_done(
        &mut self,
        device: &str,
        outcome: &AgentOutcome,
        now: Moment,
        out: &mut Vec<Action>,
    ) {
        let Some(schedule) = &mut self.health else {
            return;
        };
        if matches!(outcome.status, AgentStatus::NotStarted(_)) {
            // The device was busy (a fence held its slots): no news about its health.
            schedule.skip(device, now);
            return;
        }
        self.health_generation += 1;
        let ok = ProbeAction::Monitor.passed(outcome);
        let summary = outcome.summary();
        let change = schedule.record(device, (!ok).then_some(summary.as_str()), now);
        let Some(health) = schedule.health(device).cloned() else {
            return;
        };
        out.push(Action::HealthChecked(HealthRecord {
            device: device.to_string(),
            at: now,
            ok,
            outcome: summary.clone(),
            health: health.status,
            consecutive_failures: health.consecutive_failures,
        }));
        if let Some(change) = change {
            out.push(Action::Notify(Notice::DeviceHealth {
                device: device.to_string(),
                health: change.to,
                previous: change.from,
                outcome: summary,
                consecutive_failures: health.consecutive_failures,
            }));
            self.announce_fenceability(out);
        }
    }

    /// After a registry change (devices, levels): the targets whose fenceability changed,
    /// as [`Notice::TargetFenceable`] actions (none while health checks are off).
    pub fn registry_changed(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if self.health.is_some() {
            self.announce_fenceability(&mut out);
        }
        out
    }

    /// Announce every target whose fenceability differs from the last announcement
    /// (a target starts out fenceable).
    pub(super) fn announce_fenceability(&mut self, out: &mut Vec<Action>) {
        let now = self.fenceability();
        for (target, fenceable) in &now {
            let before = self
                .announced_fenceable
                .get(target)
                .copied()
                .unwrap_or(true);
            if before != *fenceable {
                out.push(Action::Notify(Notice::TargetFenceable {
                    target: target.clone(),
                    fenceable: *fenceable,
                }));
            }
        }
        self.announced_fenceable = now;
    }
}
