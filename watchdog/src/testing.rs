//! In-process test watchdog: [`TestWatchdog`] records every pet with the time of a
//! [`Clock`] you pass in and models expiry like the kernel does (armed at creation, each
//! pet or timeout change restarts the timer, a magic close stops it). A
//! [`TestWatchdogHandle`] kept by the test reads what happened, and can make pets fail.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::device::WatchdogIdentity;
use crate::{timeout_secs, Watchdog, WatchdogError};

/// A source of monotonic time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when the test says so. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Instant>>);

impl ManualClock {
    /// Start at `start`.
    pub fn new(start: Instant) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(start)))
    }

    /// Move forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.0);
        *now += by;
    }

    /// Jump to `to` (must not go backwards; earlier values are ignored).
    pub fn set(&self, to: Instant) {
        let mut now = lock(&self.0);
        if to > *now {
            *now = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *lock(&self.0)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct State {
    armed_at: Instant,
    timeout: Duration,
    deadline: Instant,
    pets: Vec<Instant>,
    fired_at: Option<Instant>,
    disarmed_at: Option<Instant>,
    failing: bool,
}

impl State {
    /// Bring the expiry model up to `now`.
    fn settle(&mut self, now: Instant) {
        if self.fired_at.is_none() && self.disarmed_at.is_none() && now > self.deadline {
            self.fired_at = Some(self.deadline);
        }
    }
}

/// A watchdog that exists only in memory. Cheap to create; see the module docs.
#[derive(Debug)]
pub struct TestWatchdog {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
    identity: WatchdogIdentity,
}

/// The test's view of a [`TestWatchdog`] (cloneable, usable after the watchdog was moved
/// into the code under test or dropped).
#[derive(Debug, Clone)]
pub struct TestWatchdogHandle {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

impl TestWatchdog {
    /// Armed now (per `clock`) with `timeout`.
    pub fn new(timeout: Duration, clock: Arc<dyn Clock>) -> (TestWatchdog, TestWatchdogHandle) {
        let now = clock.now();
        let state = Arc::new(Mutex::new(State {
            armed_at: now,
            timeout,
            deadline: now + timeout,
            pets: Vec::new(),
            fired_at: None,
            disarmed_at: None,
            failing: false,
        }));
        let dog = TestWatchdog {
            state: state.clone(),
            clock: clock.clone(),
            identity: WatchdogIdentity {
                path: PathBuf::from("test:watchdog"),
                driver: "palisade test watchdog".to_string(),
                options: crate::ioctl::WDIOF_SETTIMEOUT
                    | crate::ioctl::WDIOF_MAGICCLOSE
                    | crate::ioctl::WDIOF_KEEPALIVEPING,
                firmware_version: 0,
            },
        };
        (dog, TestWatchdogHandle { state, clock })
    }

    fn live_state(&self) -> Result<(MutexGuard<'_, State>, Instant), WatchdogError> {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        st.settle(now);
        if st.disarmed_at.is_some() {
            return Err(WatchdogError::Disarmed("test:watchdog".to_string()));
        }
        if st.failing {
            return Err(WatchdogError::Io {
                path: "test:watchdog".to_string(),
                operation: "injected failure",
                source: std::io::Error::from_raw_os_error(libc::EIO),
            });
        }
        Ok((st, now))
    }
}

impl Watchdog for TestWatchdog {
    fn keepalive(&mut self) -> Result<(), WatchdogError> {
        let (mut st, now) = self.live_state()?;
        st.pets.push(now);
        st.deadline = now + st.timeout;
        Ok(())
    }

    /// Like the kernel, setting the timeout also restarts the timer.
    fn set_timeout(&mut self, timeout: Duration) -> Result<Duration, WatchdogError> {
        timeout_secs(timeout)?;
        let (mut st, now) = self.live_state()?;
        st.timeout = timeout;
        st.deadline = now + timeout;
        Ok(timeout)
    }

    fn get_timeout(&mut self) -> Result<Duration, WatchdogError> {
        let (st, _) = self.live_state()?;
        Ok(st.timeout)
    }

    fn time_left(&mut self) -> Result<Option<Duration>, WatchdogError> {
        let (st, now) = self.live_state()?;
        Ok(Some(st.deadline.saturating_duration_since(now)))
    }

    fn disarm_with_magic_close(&mut self) -> Result<(), WatchdogError> {
        let (mut st, now) = self.live_state()?;
        st.disarmed_at = Some(now);
        Ok(())
    }

    fn identity(&self) -> &WatchdogIdentity {
        &self.identity
    }
}

impl TestWatchdogHandle {
    fn settled(&self) -> MutexGuard<'_, State> {
        let now = self.clock.now();
        let mut st = lock(&self.state);
        st.settle(now);
        st
    }

    /// When the watchdog was armed.
    pub fn armed_at(&self) -> Instant {
        lock(&self.state).armed_at
    }

    /// Every successful pet, oldest first.
    pub fn pets(&self) -> Vec<Instant> {
        lock(&self.state).pets.clone()
    }

    pub fn pet_count(&self) -> usize {
        lock(&self.state).pets.len()
    }

    pub fn last_pet(&self) -> Option<Instant> {
        lock(&self.state).pets.last().copied()
    }

    /// When the timer ran out (the machine would have been reset), as of the clock's now.
    pub fn fired_at(&self) -> Option<Instant> {
        self.settled().fired_at
    }

    /// Whether the timer has run out, as of the clock's now.
    pub fn has_fired(&self) -> bool {
        self.fired_at().is_some()
    }

    /// When a magic close disarmed it, if it did.
    pub fn disarmed_at(&self) -> Option<Instant> {
        self.settled().disarmed_at
    }

    /// The instant the timer will fire unless petted (meaningless once disarmed).
    pub fn deadline(&self) -> Instant {
        lock(&self.state).deadline
    }

    pub fn timeout(&self) -> Duration {
        lock(&self.state).timeout
    }

    /// The longest interval without a pet, from arming to the last pet (or to now).
    pub fn longest_gap(&self, until_now: bool) -> Duration {
        let st = self.settled();
        let mut prev = st.armed_at;
        let mut longest = Duration::ZERO;
        for &p in &st.pets {
            longest = longest.max(p.saturating_duration_since(prev));
            prev = p;
        }
        if until_now {
            let end = st.disarmed_at.unwrap_or_else(|| self.clock.now());
            longest = longest.max(end.saturating_duration_since(prev));
        }
        longest
    }

    /// Make every following operation fail with EIO (`false` to heal).
    pub fn set_failing(&self, failing: bool) {
        lock(&self.state).failing = failing;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(timeout: u64) -> (ManualClock, TestWatchdog, TestWatchdogHandle, Instant) {
        let t0 = Instant::now();
        let clock = ManualClock::new(t0);
        let (dog, handle) =
            TestWatchdog::new(Duration::from_secs(timeout), Arc::new(clock.clone()));
        (clock, dog, handle, t0)
    }

    #[test]
    fn pets_are_recorded_with_clock_time() {
        let (clock, mut dog, h, t0) = setup(5);
        clock.advance(Duration::from_secs(1));
        dog.keepalive().unwrap();
        clock.advance(Duration::from_millis(1500));
        dog.keepalive().unwrap();
        assert_eq!(
            h.pets(),
            vec![
                t0 + Duration::from_secs(1),
                t0 + Duration::from_millis(2500)
            ]
        );
        assert_eq!(h.last_pet(), Some(t0 + Duration::from_millis(2500)));
        assert_eq!(dog.time_left().unwrap(), Some(Duration::from_secs(5)));
        assert!(!h.has_fired());
    }

    #[test]
    fn fires_exactly_at_the_deadline_after_the_last_pet() {
        let (clock, mut dog, h, t0) = setup(5);
        clock.advance(Duration::from_secs(2));
        dog.keepalive().unwrap();
        clock.advance(Duration::from_secs(5));
        assert!(!h.has_fired(), "at the deadline it has not fired yet");
        clock.advance(Duration::from_millis(1));
        assert_eq!(h.fired_at(), Some(t0 + Duration::from_secs(7)));
        // A pet after firing does not undo it.
        dog.keepalive().unwrap();
        assert_eq!(h.fired_at(), Some(t0 + Duration::from_secs(7)));
        assert!(h.longest_gap(false) >= Duration::from_secs(5));
    }

    #[test]
    fn magic_close_stops_the_timer_and_later_calls_fail() {
        let (clock, mut dog, h, t0) = setup(5);
        clock.advance(Duration::from_secs(3));
        dog.disarm_with_magic_close().unwrap();
        clock.advance(Duration::from_secs(60));
        assert!(!h.has_fired());
        assert_eq!(h.disarmed_at(), Some(t0 + Duration::from_secs(3)));
        assert!(matches!(dog.keepalive(), Err(WatchdogError::Disarmed(_))));
    }

    #[test]
    fn dropping_leaves_the_timer_running() {
        let (clock, dog, h, _) = setup(5);
        drop(dog);
        clock.advance(Duration::from_secs(6));
        assert!(h.has_fired());
        assert_eq!(h.disarmed_at(), None);
    }

    #[test]
    fn set_timeout_restarts_the_timer_and_rejects_fractions() {
        let (clock, mut dog, h, t0) = setup(5);
        clock.advance(Duration::from_secs(4));
        assert_eq!(
            dog.set_timeout(Duration::from_secs(10)).unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(h.deadline(), t0 + Duration::from_secs(14));
        assert!(dog.set_timeout(Duration::from_millis(500)).is_err());
        assert_eq!(dog.get_timeout().unwrap(), Duration::from_secs(10));
    }

    #[test]
    fn injected_failure_makes_pets_fail() {
        let (_clock, mut dog, h, _) = setup(5);
        h.set_failing(true);
        assert!(matches!(dog.keepalive(), Err(WatchdogError::Io { .. })));
        h.set_failing(false);
        dog.keepalive().unwrap();
        assert_eq!(h.pet_count(), 1);
    }
}
