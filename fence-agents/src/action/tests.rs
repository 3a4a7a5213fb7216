//! Unit tests of the action sequences over an in-process fake device and a fake clock.

use super::*;
use crate::log::MemoryLog;
use std::collections::HashMap;

/// A fake PDU: plugs with states, optional lag before a command takes effect, and a
/// journal of the commands it got.
struct FakeDevice {
    state: HashMap<Option<String>, PowerState>,
    /// Power commands to ignore (a stuck relay), by target state.
    ignore: Vec<PowerState>,
    journal: Vec<String>,
    fail_status: Option<DeviceError>,
    /// A flaky device: the first status read after every power change fails with this.
    flaky_after_change: Option<DeviceError>,
    /// A change happened and its first read has not failed yet.
    flaky_pending: bool,
    /// Every status read, in order: `ok ON`, `err`.
    reads: Vec<String>,
}

impl FakeDevice {
    fn portless(on: bool) -> Self {
        let mut state = HashMap::new();
        state.insert(None, if on { PowerState::On } else { PowerState::Off });
        FakeDevice {
            state,
            ignore: Vec::new(),
            journal: Vec::new(),
            fail_status: None,
            flaky_after_change: None,
            flaky_pending: false,
            reads: Vec::new(),
        }
    }
}

impl PowerDevice for FakeDevice {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        if let Some(e) = self.fail_status.clone() {
            self.reads.push("err".into());
            return Err(e);
        }
        if std::mem::take(&mut self.flaky_pending) {
            if let Some(e) = self.flaky_after_change.clone() {
                self.reads.push("err".into());
                return Err(e);
            }
        }
        let r = self
            .state
            .get(&plug.map(str::to_string))
            .copied()
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.unwrap_or("").into()));
        self.reads.push(match &r {
            Ok(s) => format!("ok {}", s.as_upper()),
            Err(_) => "err".into(),
        });
        r
    }
    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.journal
            .push(format!("set {} {}", plug.unwrap_or("-"), to.as_upper()));
        if !self.ignore.contains(&to) {
            self.state.insert(plug.map(str::to_string), to);
        }
        self.flaky_pending = true;
        Ok(())
    }
    fn power_cycle(&mut self, plug: Option<&str>) -> Result<(), DeviceError> {
        self.journal.push(format!("cycle {}", plug.unwrap_or("-")));
        Ok(())
    }
    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let mut ids: Vec<String> = self.state.keys().flatten().cloned().collect();
        ids.sort();
        Ok(ids
            .into_iter()
            .map(|id| Plug {
                alias: format!("name{id}"),
                id,
            })
            .collect())
    }
}

struct FakeClock {
    now: Instant,
    slept: Duration,
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.now
    }
    fn sleep(&mut self, d: Duration) {
        self.now += d;
        self.slept += d;
    }
}

fn timing() -> Timing {
    Timing {
        delay: Duration::ZERO,
        power_wait: Duration::from_secs(2),
        power_timeout: Duration::from_secs(20),
        login_timeout: Duration::from_secs(5),
        shell_timeout: Duration::from_secs(3),
        status_sleep: Duration::from_secs(1),
        retry_on: 1,
        disable_timeout: false,
    }
}

fn run(
    dev: &mut FakeDevice,
    action: Action,
    method: Method,
    targets: &Targets,
) -> (Result<Done, Failure>, Duration) {
    let mut clock = FakeClock {
        now: Instant::now(),
        slept: Duration::ZERO,
    };
    let mut log = MemoryLog::default();
    let mut seq = Sequence {
        timing: timing(),
        method,
        has_status: true,
        clock: &mut clock,
        log: &mut log,
    };
    let list = if targets == [None] { None } else { Some(true) };
    let r = seq.run(dev, action, targets, list, ",");
    (r, clock.slept)
}

#[test]
fn status_reads_without_commands() {
    let mut d = FakeDevice::portless(false);
    let (r, _) = run(&mut d, Action::Status, Method::OnOff, &[None]);
    assert_eq!(r, Ok(Done::Status(PowerState::Off)));
    assert!(d.journal.is_empty());
}

#[test]
fn off_already_off_sends_nothing() {
    let mut d = FakeDevice::portless(false);
    let (r, slept) = run(&mut d, Action::Off, Method::OnOff, &[None]);
    assert_eq!(r, Ok(Done::Already(PowerState::Off)));
    assert!(d.journal.is_empty());
    assert_eq!(slept, Duration::ZERO);
}

#[test]
fn reboot_is_off_then_on_with_power_wait_each() {
    let mut d = FakeDevice::portless(true);
    let (r, slept) = run(&mut d, Action::Reboot, Method::OnOff, &[None]);
    assert_eq!(r, Ok(Done::Rebooted));
    assert_eq!(d.journal, ["set - OFF", "set - ON"]);
    assert_eq!(slept, Duration::from_secs(4));
}

#[test]
fn reboot_failing_to_power_on_is_a_failure() {
    let mut d = FakeDevice::portless(true);
    d.ignore.push(PowerState::On);
    let (r, _) = run(&mut d, Action::Reboot, Method::OnOff, &[None]);
    assert_eq!(
        r,
        Err(Failure::NotBackOn(Box::new(Failure::Waiting(
            PowerState::On
        ))))
    );
    assert_eq!(d.state[&None], PowerState::Off, "the node was fenced");
}

#[test]
fn off_that_never_arrives_times_out_after_power_timeout() {
    let mut d = FakeDevice::portless(true);
    d.ignore.push(PowerState::Off);
    let (r, slept) = run(&mut d, Action::Off, Method::OnOff, &[None]);
    assert_eq!(r, Err(Failure::Waiting(PowerState::Off)));
    assert_eq!(slept, Duration::from_secs(22), "power_wait + power_timeout");
}

#[test]
fn on_is_retried_retry_on_times() {
    let mut d = FakeDevice::portless(false);
    d.ignore.push(PowerState::On);
    let (r, _) = run(&mut d, Action::On, Method::OnOff, &[None]);
    assert_eq!(r, Err(Failure::Waiting(PowerState::On)));
    assert_eq!(d.journal, ["set - ON", "set - ON"]);
}

#[test]
fn cycle_sends_one_cycle_and_powers_on_an_off_node() {
    let mut d = FakeDevice::portless(true);
    let (r, _) = run(&mut d, Action::Reboot, Method::Cycle, &[None]);
    assert_eq!(r, Ok(Done::Rebooted));
    assert_eq!(d.journal, ["cycle -"]);
    let mut d = FakeDevice::portless(false);
    let (r, _) = run(&mut d, Action::Reboot, Method::Cycle, &[None]);
    assert_eq!(r, Ok(Done::Rebooted));
    assert_eq!(d.journal, ["set - ON"]);
}

#[test]
fn refused_login_is_a_device_failure() {
    let mut d = FakeDevice::portless(true);
    d.fail_status = Some(DeviceError::LoginDenied("bad password".into()));
    let (r, _) = run(&mut d, Action::Reboot, Method::OnOff, &[None]);
    assert!(matches!(
        r,
        Err(Failure::Device(DeviceError::LoginDenied(_)))
    ));
    assert!(d.journal.is_empty());
}

#[test]
fn multi_plug_status_is_on_if_any_and_off_switches_all() {
    let mut d = FakeDevice::portless(true);
    d.state.clear();
    d.state.insert(Some("1".into()), PowerState::Off);
    d.state.insert(Some("2".into()), PowerState::On);
    let targets = [Some("1".to_string()), Some("2".to_string())];
    let (r, _) = run(&mut d, Action::Status, Method::OnOff, &targets);
    assert_eq!(r, Ok(Done::Status(PowerState::On)));
    let (r, _) = run(&mut d, Action::Off, Method::OnOff, &targets);
    assert_eq!(r, Ok(Done::Powered(PowerState::Off)));
    assert_eq!(d.journal, ["set 1 OFF", "set 2 OFF"]);
}

#[test]
fn list_and_list_status_lines() {
    let mut d = FakeDevice::portless(true);
    d.state.clear();
    d.state.insert(Some("1".into()), PowerState::Off);
    d.state.insert(Some("2".into()), PowerState::On);
    let t = [Some("1".to_string())];
    let (r, _) = run(&mut d, Action::List, Method::OnOff, &t);
    assert_eq!(
        r,
        Ok(Done::Listed(vec!["1,name1".into(), "2,name2".into()]))
    );
    let (r, _) = run(&mut d, Action::ListStatus, Method::OnOff, &t);
    assert_eq!(
        r,
        Ok(Done::Listed(vec![
            "1,name1,OFF".into(),
            "2,name2,ON".into()
        ]))
    );
    let mut p = FakeDevice::portless(true);
    let (r, _) = run(&mut p, Action::List, Method::OnOff, &[None]);
    assert_eq!(r.map(|d| d.lines()), Ok(vec!["N/A".to_string()]));
}

#[test]
fn done_lines_match_clusterlabs_words() {
    assert_eq!(Done::Status(PowerState::On).lines(), ["Status: ON"]);
    assert_eq!(
        Done::Already(PowerState::Off).lines(),
        ["Success: Already OFF"]
    );
    assert_eq!(
        Done::Powered(PowerState::On).lines(),
        ["Success: Powered ON"]
    );
    assert_eq!(Done::Rebooted.lines(), ["Success: Rebooted"]);
    assert!(Done::Monitored.lines().is_empty());
}

/// Every kind of failed read the device layers return, each as "the first read after a
/// change fails": off, on and reboot still succeed, with one extra poll per change.
#[test]
fn a_failed_read_after_a_change_is_not_yet_whatever_the_error() {
    let errors = [
        DeviceError::TimedOut("no answer".into()),
        DeviceError::ConnectionLost("reset by peer".into()),
        DeviceError::Protocol("HTTP 503".into()),
        DeviceError::Protocol("truncated output".into()),
        DeviceError::NoSuchPlug("1".into()),
        DeviceError::LoginDenied("session expired".into()),
    ];
    for e in errors {
        let mut d = FakeDevice::portless(true);
        d.flaky_after_change = Some(e.clone());
        let (r, slept) = run(&mut d, Action::Off, Method::OnOff, &[None]);
        assert_eq!(r, Ok(Done::Powered(PowerState::Off)), "{e}");
        assert_eq!(d.reads, ["ok ON", "err", "ok OFF"], "{e}");
        assert_eq!(
            slept,
            Duration::from_secs(3),
            "power_wait + one status_sleep: {e}"
        );

        let (r, _) = run(&mut d, Action::On, Method::OnOff, &[None]);
        assert_eq!(r, Ok(Done::Powered(PowerState::On)), "{e}");

        let mut d = FakeDevice::portless(true);
        d.flaky_after_change = Some(e.clone());
        let (r, _) = run(&mut d, Action::Reboot, Method::OnOff, &[None]);
        assert_eq!(r, Ok(Done::Rebooted), "{e}");
        assert_eq!(d.journal, ["set - OFF", "set - ON"], "{e}");
        assert_eq!(d.reads, ["ok ON", "err", "ok OFF", "err", "ok ON"], "{e}");
    }
}

#[test]
fn a_plug_that_never_existed_fails_at_the_first_read_before_any_switching() {
    let mut d = FakeDevice::portless(true);
    d.flaky_after_change = Some(DeviceError::TimedOut("x".into()));
    let ghost = [Some("99".to_string())];
    for (action, method) in [
        (Action::Off, Method::OnOff),
        (Action::On, Method::OnOff),
        (Action::Reboot, Method::OnOff),
        (Action::Reboot, Method::Cycle),
    ] {
        let (r, _) = run(&mut d, action, method, &ghost);
        assert_eq!(
            r,
            Err(Failure::Device(DeviceError::NoSuchPlug("99".into()))),
            "{action:?}"
        );
    }
    assert!(d.journal.is_empty(), "nothing switched: {:?}", d.journal);
}

#[test]
fn a_device_that_never_reads_again_times_out_waiting() {
    let mut d = FakeDevice::portless(true);
    // Reads fail from the change on: "not yet" until power_timeout, then the usual failure.
    d.flaky_after_change = Some(DeviceError::TimedOut("no answer".into()));
    let mut clock = FakeClock {
        now: Instant::now(),
        slept: Duration::ZERO,
    };
    let mut log = MemoryLog::default();
    let mut seq = Sequence {
        timing: timing(),
        method: Method::OnOff,
        has_status: true,
        clock: &mut clock,
        log: &mut log,
    };
    let mut sticky = StickyFailure(&mut d);
    let r = seq.run(&mut sticky, Action::Off, &[None], None, ",");
    assert_eq!(r, Err(Failure::Waiting(PowerState::Off)));
    assert_eq!(
        clock.slept,
        Duration::from_secs(22),
        "power_wait + power_timeout"
    );
    assert!(
        log.0
            .iter()
            .any(|(_, m)| m.contains("last failed status read: Connection timed out")),
        "{:?}",
        log.0
    );
}

/// Wraps a fake device so that every read after the first power change fails.
struct StickyFailure<'a>(&'a mut FakeDevice);

impl PowerDevice for StickyFailure<'_> {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        if !self.0.journal.is_empty() {
            return Err(DeviceError::TimedOut("no answer".into()));
        }
        self.0.power_status(plug)
    }
    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.0.set_power(plug, to)
    }
}
