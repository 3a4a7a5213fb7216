//! `query-watchdog` and `test-watchdog`.
//!
//! `query-watchdog` lists what sysfs says about each watchdog ([`watchdog::probe`]) and
//! never opens a device node: ClusterLabs sbd's version opens every watchdog to ask its
//! identity, which starts the timer, and with `nowayout` has reset machines.
//!
//! `test-watchdog` checks that the configured watchdog (`-w` / `SBD_WATCHDOG_DEV`, timeout
//! `-1` / `SBD_WATCHDOG_TIMEOUT`, `-T` keeps the driver's) really resets the node: arm it,
//! never pet it, wait. It always prints that plan first and does nothing more unless
//! `--force-reset=yes` is given; with `PALISADE_FORBID_SELF_FENCE` set (tests) it never
//! arms a real device, only a `pet-file:` test device. If the node is still up after
//! the timeout plus a grace period, the watchdog does not work: it is disarmed with a
//! magic close and the command fails. ClusterLabs sbd asks "Proceed?" only on a tty
//! and arms at once otherwise.

use std::path::Path;
use std::time::Duration;

use watchdog::{monotonic_now, PetLog, ProbedWatchdog, WatchdogConfig, FORBID_ENV};

use super::{report, Invocation, Runtime};
use crate::daemon::config::watchdog_setting;

/// Extra wait for a hardware watchdog beyond its timeout before calling it broken.
pub const DEVICE_GRACE: Duration = Duration::from_secs(10);
/// Extra wait for the pet-file test device (its expiry is modelled exactly).
pub const PET_FILE_GRACE: Duration = Duration::from_millis(500);

pub(super) fn run_query(rt: &mut Runtime<'_>) -> bool {
    let found = match (rt.probe)() {
        Ok(found) => found,
        Err(e) => {
            report(rt, &e);
            return false;
        }
    };
    if found.is_empty() {
        report(
            rt,
            &"no watchdog found: /sys/class/watchdog lists none (load the driver of the \
              hardware watchdog; softdog only for tests)",
        );
        return false;
    }
    for dog in &found {
        let _ = write!(rt.out, "{}", describe(dog));
    }
    true
}

/// The lines `query-watchdog` prints for one watchdog.
pub fn describe(dog: &ProbedWatchdog) -> String {
    let nodes: Vec<String> = dog
        .dev_nodes
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let nodes = if nodes.is_empty() {
        "no device node".to_owned()
    } else {
        nodes.join(", ")
    };
    let unknown = || "unknown".to_owned();
    let secs = |d: Option<Duration>| d.map_or_else(unknown, |d| format!("{} s", d.as_secs()));
    let mut out = format!("{}: {nodes}\n", dog.name);
    out.push_str(&format!(
        "  identity: {}\n  driver: {}\n",
        dog.identity.clone().unwrap_or_else(unknown),
        dog.driver.clone().unwrap_or_else(unknown)
    ));
    out.push_str(&format!(
        "  timeout: {} (min {}, max {})\n",
        secs(dog.timeout),
        secs(dog.min_timeout),
        secs(dog.max_timeout)
    ));
    let yes_no = |b: Option<bool>| b.map_or_else(unknown, |b| if b { "yes" } else { "no" }.into());
    out.push_str(&format!(
        "  state: {}, nowayout: {}\n",
        dog.state.clone().unwrap_or_else(unknown),
        yes_no(dog.nowayout)
    ));
    let options = dog.option_names();
    if !options.is_empty() {
        out.push_str(&format!("  options: {}\n", options.join(", ")));
    }
    for warning in dog.warnings() {
        out.push_str(&format!("  warning: {warning}\n"));
    }
    out
}

pub(super) fn run_test(invocation: &Invocation, force: bool, rt: &mut Runtime<'_>) -> bool {
    let setting = match watchdog_setting(invocation, rt.env) {
        Ok(setting) => setting,
        Err(e) => {
            report(rt, &e);
            return false;
        }
    };
    let timeout = Duration::from_secs(u64::from(invocation.timeouts.watchdog.max(1)));
    let keep_driver_timeout = invocation.options.iter().any(|(c, _)| *c == 'T');
    let (name, grace) = match &setting {
        WatchdogConfig::Disabled => {
            report(
                rt,
                &"no watchdog configured (-w /dev/null, -W or SBD_WATCHDOG=no): nothing to test",
            );
            return false;
        }
        WatchdogConfig::Device(path) => {
            let facts = device_facts(path, rt);
            let _ = write!(rt.out, "{facts}");
            (path.display().to_string(), DEVICE_GRACE)
        }
        WatchdogConfig::PetFile(path) => {
            let _ = writeln!(
                rt.out,
                "pet-file:{} is a test device: nothing will reset this node",
                path.display()
            );
            (format!("pet-file:{}", path.display()), PET_FILE_GRACE)
        }
    };
    let timeout_words = if keep_driver_timeout {
        "keep the driver's timeout (-T)".to_owned()
    } else {
        format!("set its timeout to {} s", timeout.as_secs())
    };
    let _ = writeln!(
        rt.out,
        "test-watchdog: open {name} (this arms it), {timeout_words}, never pet it, and wait \
         the timeout plus {} s.\nA working watchdog RESETS THIS NODE at the end of its timeout, \
         without any shutdown.",
        grace.as_secs_f32()
    );
    if !force {
        report(
            rt,
            &"refusing to arm the watchdog: give --force-reset=yes to really reset this node",
        );
        return false;
    }
    let is_device = matches!(setting, WatchdogConfig::Device(_));
    if is_device && (rt.env)(FORBID_ENV).is_some() {
        report(
            rt,
            &format_args!("refusing: {FORBID_ENV} is set; tests never arm a real watchdog"),
        );
        return false;
    }
    let armed = setting.arm((!keep_driver_timeout).then_some(timeout));
    let mut dog = match armed {
        Ok(Some(dog)) => dog,
        Ok(None) => return false,
        Err(e) => {
            report(rt, &e);
            return false;
        }
    };
    let wait = dog.get_timeout().unwrap_or(timeout) + grace;
    let _ = writeln!(rt.out, "armed {name}; no more pets. Waiting {wait:?}.");
    let _ = rt.out.flush();
    (rt.pause)(wait);
    if let WatchdogConfig::PetFile(path) = &setting {
        return pet_file_verdict(path, rt);
    }
    report(
        rt,
        &format_args!(
            "this node is still running {wait:?} after {name} was armed: the watchdog does NOT \
             reset it. Disarming it (magic close)."
        ),
    );
    if let Err(e) = dog.disarm_with_magic_close() {
        report(rt, &e);
    }
    false
}

/// What sysfs says about the watchdog behind `path`.
fn device_facts(path: &Path, rt: &Runtime<'_>) -> String {
    let probed = (rt.probe)().unwrap_or_default();
    match probed
        .iter()
        .find(|d| d.dev_nodes.iter().any(|n| n == path))
    {
        Some(dog) => describe(dog),
        None => format!(
            "{}: sysfs lists no watchdog with this device node\n",
            path.display()
        ),
    }
}

/// After the wait on a pet-file device: did its modelled timer run out?
fn pet_file_verdict(path: &Path, rt: &mut Runtime<'_>) -> bool {
    match PetLog::read(path) {
        Ok(log) => match (log.fired_at(monotonic_now()), log.armed_at()) {
            (Some(fired), Some(armed)) => {
                let _ = writeln!(
                    rt.out,
                    "the test watchdog expired {} ms after it was armed; a hardware watchdog \
                     would have reset this node then",
                    fired.saturating_sub(armed).as_millis()
                );
                true
            }
            _ => {
                report(rt, &"the test watchdog has not expired");
                false
            }
        },
        Err(e) => {
            report(rt, &e);
            false
        }
    }
}

#[cfg(test)]
mod tests;
