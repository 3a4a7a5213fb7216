//! Device health (pure): when each registered device's `monitor` is due
//! (`pcmk_monitor_interval`, jittered from a seeded source so devices sharing an interval
//! spread out; 0 disables), how many checks may run at once, what each device's health
//! is (healthy / failing / unknown, last success, last error, consecutive failures), and
//! which targets can still be fenced (some fencing path, a level or a capable device,
//! has no failing device). The fencer machine owns one [`HealthSchedule`] and runs the
//! checks it hands out through its device slots.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::Moment;

/// Default `pcmk_monitor_interval`.
pub const DEFAULT_MONITOR_INTERVAL: Duration = Duration::from_secs(60);
/// Default `[daemon] health-check-concurrency`: monitors running at once.
pub const DEFAULT_CONCURRENCY: usize = 2;
/// The first check of a device comes within this share (per mille) of its interval.
const FIRST_CHECK_PERMILLE: u64 = 100;
/// Later checks come at the interval, give or take this share (per mille).
const JITTER_PERMILLE: u64 = 100;

/// A device's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// Its last `monitor` succeeded.
    Healthy,
    /// Its last `monitor` failed.
    Failing,
    /// Not checked yet (or checks disabled).
    Unknown,
}

impl Health {
    /// The word used in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Failing => "failing",
            Health::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known about one device's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceHealth {
    /// Healthy, failing or unknown.
    pub status: Health,
    /// `pcmk_monitor_interval` in milliseconds (0 = not checked).
    pub interval_ms: u64,
    /// When the last check ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<Moment>,
    /// When a check last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<Moment>,
    /// The last failure, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Moment>,
    /// Failed checks since the last success.
    pub consecutive_failures: u32,
}

impl DeviceHealth {
    fn new(interval: Duration) -> DeviceHealth {
        DeviceHealth {
            status: Health::Unknown,
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            last_check: None,
            last_success: None,
            last_error: None,
            last_error_at: None,
            consecutive_failures: 0,
        }
    }
}

/// What the journal remembers of a device's checks, restored at start: the last
/// success and error and the failures since; the health itself starts unknown (it may
/// be stale) until the first check, which comes soon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthMemory {
    /// When a check last succeeded.
    pub last_success: Option<Moment>,
    /// The last failure and when.
    pub last_error: Option<(Moment, String)>,
    /// Failed checks since the last success.
    pub consecutive_failures: u32,
}

impl HealthMemory {
    /// Take one journaled check into account (checks come in journal order).
    pub fn remember(&mut self, at: Moment, ok: bool, outcome: &str) {
        if ok {
            self.last_success = Some(at);
            self.consecutive_failures = 0;
        } else {
            self.last_error = Some((at, outcome.to_string()));
            self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        }
    }
}

/// A device's health changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    /// Before.
    pub from: Health,
    /// Now.
    pub to: Health,
}

#[derive(Debug, Clone)]
struct Entry {
    interval: Duration,
    next_due: Moment,
    running: bool,
    health: DeviceHealth,
}

/// Which device's `monitor` is due, and the health each check left.
#[derive(Debug, Clone)]
pub struct HealthSchedule {
    entries: BTreeMap<String, Entry>,
    concurrency: usize,
    rng: u64,
}

impl HealthSchedule {
    /// A schedule running at most `concurrency` checks at once (at least one); `seed`
    /// feeds the jitter.
    pub fn new(concurrency: usize, seed: u64) -> HealthSchedule {
        HealthSchedule {
            entries: BTreeMap::new(),
            concurrency: concurrency.max(1),
            rng: seed,
        }
    }

    /// SplitMix64: a per-mille value.
    fn permille(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        z % 1001
    }

    fn share(span: Duration, permille: u64) -> Duration {
        let ms = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(ms.saturating_mul(permille) / 1000)
    }

    /// Start (or restart, after the device was replaced) checking `device` every
    /// `interval` (zero: never); its health starts unknown. The first check comes within
    /// a tenth of the interval.
    pub fn track(&mut self, device: &str, interval: Duration, now: Moment) {
        let first = self.permille() * FIRST_CHECK_PERMILLE / 1000;
        let running = self.entries.get(device).is_some_and(|e| e.running);
        self.entries.insert(
            device.to_string(),
            Entry {
                interval,
                next_due: now.after(Self::share(interval, first)),
                running,
                health: DeviceHealth::new(interval),
            },
        );
    }

    /// Stop checking `device`.
    pub fn forget(&mut self, device: &str) {
        self.entries.remove(device);
    }

    fn running(&self) -> usize {
        self.entries.values().filter(|e| e.running).count()
    }

    fn waiting(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.running && !e.interval.is_zero())
    }

    /// When the next check is due (`None`: none is, or every slot is taken; a slot
    /// freed by [`Self::record`] brings it back).
    pub fn next_due(&self) -> Option<Moment> {
        if self.running() >= self.concurrency {
            return None;
        }
        self.waiting().map(|(_, e)| e.next_due).min()
    }

    /// The devices to check now, most overdue first, as many as free slots allow; each
    /// counts as running until its [`Self::record`].
    pub fn take_due(&mut self, now: Moment) -> Vec<String> {
        let free = self.concurrency.saturating_sub(self.running());
        let mut due: Vec<(Moment, String)> = self
            .waiting()
            .filter(|(_, e)| e.next_due <= now)
            .map(|(name, e)| (e.next_due, name.clone()))
            .collect();
        due.sort();
        due.truncate(free);
        let names: Vec<String> = due.into_iter().map(|(_, name)| name).collect();
        for name in &names {
            if let Some(e) = self.entries.get_mut(name) {
                e.running = true;
            }
        }
        names
    }

    /// A check of `device` ended (`error` = `None` on success): free its slot, schedule
    /// the next one at the interval (jittered), update its health. Returns the change,
    /// if its health changed.
    pub fn record(
        &mut self,
        device: &str,
        error: Option<&str>,
        now: Moment,
    ) -> Option<HealthChange> {
        let jitter = self.permille() * 2 * JITTER_PERMILLE / 1000;
        let entry = self.entries.get_mut(device)?;
        entry.running = false;
        let interval = entry.interval;
        let low = Self::share(interval, 1000 - JITTER_PERMILLE);
        entry.next_due = now.after(low + Self::share(interval, jitter));
        let h = &mut entry.health;
        let from = h.status;
        h.last_check = Some(now);
        match error {
            None => {
                h.status = Health::Healthy;
                h.last_success = Some(now);
                h.consecutive_failures = 0;
            }
            Some(why) => {
                h.status = Health::Failing;
                h.last_error = Some(why.to_string());
                h.last_error_at = Some(now);
                h.consecutive_failures = h.consecutive_failures.saturating_add(1);
            }
        }
        (from != h.status).then_some(HealthChange { from, to: h.status })
    }

    /// A check of `device` could not run (its device was busy): free its slot and try
    /// again at the interval; its health stays as it was.
    pub fn skip(&mut self, device: &str, now: Moment) {
        let jitter = self.permille() * 2 * JITTER_PERMILLE / 1000;
        if let Some(entry) = self.entries.get_mut(device) {
            entry.running = false;
            let low = Self::share(entry.interval, 1000 - JITTER_PERMILLE);
            entry.next_due = now.after(low + Self::share(entry.interval, jitter));
        }
    }

    /// Restore what the journal remembers of `device` (not its status: see
    /// [`HealthMemory`]).
    pub fn restore(&mut self, device: &str, memory: &HealthMemory) {
        if let Some(entry) = self.entries.get_mut(device) {
            let h = &mut entry.health;
            h.last_success = memory.last_success;
            h.last_check = memory
                .last_success
                .max(memory.last_error.as_ref().map(|(at, _)| *at));
            h.last_error_at = memory.last_error.as_ref().map(|(at, _)| *at);
            h.last_error = memory.last_error.as_ref().map(|(_, e)| e.clone());
            h.consecutive_failures = memory.consecutive_failures;
        }
    }

    /// A device's health (`None`: not tracked).
    pub fn health(&self, device: &str) -> Option<&DeviceHealth> {
        self.entries.get(device).map(|e| &e.health)
    }

    /// The status of a device (unknown when not tracked).
    pub fn status(&self, device: &str) -> Health {
        self.health(device).map_or(Health::Unknown, |h| h.status)
    }
}

/// Whether a target can be fenced, given its fencing paths (each path: the devices that
/// must all work, a topology level or one capable device): `Some(true)` when some path
/// has no failing device, `Some(false)` when every path has one, `None` when no path is
/// known. Unknown health counts as not failing.
pub fn fenceable(paths: &[Vec<String>], status: impl Fn(&str) -> Health) -> Option<bool> {
    if paths.is_empty() {
        return None;
    }
    Some(
        paths
            .iter()
            .any(|path| !path.is_empty() && path.iter().all(|d| status(d) != Health::Failing)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Moment {
        Moment(n * 1000)
    }

    #[test]
    fn first_checks_are_spread_within_a_tenth_of_the_interval() {
        let mut sched = HealthSchedule::new(8, 7);
        for name in ["a", "b", "c", "d"] {
            sched.track(name, Duration::from_secs(60), s(100));
        }
        let due: Vec<u64> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| sched.entries[*n].next_due.0)
            .collect();
        assert!(
            due.iter().all(|d| (100_000..=106_000).contains(d)),
            "{due:?}"
        );
        let mut distinct = due.clone();
        distinct.dedup();
        assert!(distinct.len() > 1, "jitter spreads them: {due:?}");
        // Same seed, same schedule.
        let mut again = HealthSchedule::new(8, 7);
        for name in ["a", "b", "c", "d"] {
            again.track(name, Duration::from_secs(60), s(100));
        }
        let due2: Vec<u64> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| again.entries[*n].next_due.0)
            .collect();
        assert_eq!(due, due2);
    }

    #[test]
    fn concurrency_bounds_the_checks_and_the_most_overdue_go_first() {
        let mut sched = HealthSchedule::new(2, 1);
        for name in ["a", "b", "c"] {
            sched.track(name, Duration::from_secs(10), s(0));
        }
        sched.track("off", Duration::ZERO, s(0));
        let first = sched.take_due(s(5));
        assert_eq!(first.len(), 2);
        assert_eq!(sched.next_due(), None, "both slots taken");
        assert!(sched.take_due(s(6)).is_empty());
        assert_eq!(
            sched.record(&first[0], None, s(6)),
            Some(HealthChange {
                from: Health::Unknown,
                to: Health::Healthy
            })
        );
        let third = sched.take_due(s(6));
        assert_eq!(third.len(), 1);
        assert!(!first.contains(&third[0]));
        assert!(
            !third.contains(&"off".to_string()),
            "interval 0 is never checked"
        );
        // The next check of a device comes at its interval, give or take a tenth.
        let next = sched.entries[&first[0]].next_due;
        assert!((15_000..=17_000).contains(&next.0), "{next:?}");
    }

    #[test]
    fn failures_count_until_a_success() {
        let mut sched = HealthSchedule::new(1, 3);
        sched.track("bmc", Duration::from_secs(1), s(0));
        assert_eq!(sched.status("bmc"), Health::Unknown);
        let change = sched.record("bmc", Some("exit 1: no route"), s(1));
        assert_eq!(change.map(|c| c.to), Some(Health::Failing));
        assert_eq!(sched.record("bmc", Some("exit 1: no route"), s(2)), None);
        let h = sched.health("bmc").expect("tracked");
        assert_eq!(h.consecutive_failures, 2);
        assert_eq!(h.last_error.as_deref(), Some("exit 1: no route"));
        assert_eq!(h.last_error_at, Some(s(2)));
        assert_eq!(h.last_success, None);
        let change = sched.record("bmc", None, s(3));
        assert_eq!(
            change.map(|c| (c.from, c.to)),
            Some((Health::Failing, Health::Healthy))
        );
        let h = sched.health("bmc").expect("tracked");
        assert_eq!((h.consecutive_failures, h.last_success), (0, Some(s(3))));
        assert_eq!(h.last_error.as_deref(), Some("exit 1: no route"), "kept");
        sched.forget("bmc");
        assert_eq!(sched.record("bmc", None, s(4)), None);
    }

    #[test]
    fn memory_from_the_journal_is_restored_but_not_the_status() {
        let mut memory = HealthMemory::default();
        memory.remember(s(1), true, "ok");
        memory.remember(s(2), false, "exit 1: a");
        memory.remember(s(3), false, "exit 1: b");
        assert_eq!(memory.consecutive_failures, 2);
        let mut sched = HealthSchedule::new(1, 1);
        sched.track("bmc", Duration::from_secs(60), s(10));
        sched.restore("bmc", &memory);
        sched.restore("gone", &memory);
        let h = sched.health("bmc").expect("tracked");
        assert_eq!(h.status, Health::Unknown);
        assert_eq!(h.last_success, Some(s(1)));
        assert_eq!(h.last_check, Some(s(3)));
        assert_eq!(
            (h.last_error.as_deref(), h.last_error_at),
            (Some("exit 1: b"), Some(s(3)))
        );
        // The next failure counts on.
        sched.take_due(s(20));
        sched.record("bmc", Some("exit 1: c"), s(20));
        assert_eq!(sched.health("bmc").map(|h| h.consecutive_failures), Some(3));
    }

    #[test]
    fn a_target_is_unfenceable_only_when_every_path_has_a_failing_device() {
        let paths = vec![
            vec!["bmc".to_string()],
            vec!["pdu-a".into(), "pdu-b".into()],
        ];
        let with = |failing: &'static [&'static str]| {
            move |d: &str| {
                if failing.contains(&d) {
                    Health::Failing
                } else {
                    Health::Healthy
                }
            }
        };
        assert_eq!(fenceable(&paths, with(&[])), Some(true));
        assert_eq!(fenceable(&paths, with(&["bmc"])), Some(true));
        assert_eq!(fenceable(&paths, with(&["bmc", "pdu-b"])), Some(false));
        assert_eq!(fenceable(&paths, |_| Health::Unknown), Some(true));
        assert_eq!(fenceable(&[], with(&[])), None);
    }
}
