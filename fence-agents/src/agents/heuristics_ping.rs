//! `fence_heuristics_ping`: not a fence device but a gate in a fencing level. Placed
//! before the real agent of the same level, it lets that level go on (off/reboot succeed)
//! only when this node still reaches enough of its ping targets; a node cut off from the
//! network then does not shoot its peer. Same options, defaults and words as ClusterLabs'.
//!
//! Semantics (ClusterLabs 4.12.1, read and run): `on` always succeeds (unfencing must
//! not be blocked); `off` probes every target at once — `ping_count` echo requests,
//! `ping_interval` apart, each answered within `ping_timeout`; a target with fewer than
//! `ping_good_count` answers has failed — and succeeds when no more than `ping_maxfail`
//! targets failed ("Failed: Timed out waiting to power OFF" otherwise). `reboot` with the
//! default `--method cycle` is the same probe, tried 1 + retry_on times ("Connection
//! timed out" when all fail); with `onoff` it is off then on. No status: `monitor`
//! succeeds without probing, `status`/`list` are unrecognised actions. No
//! `ping_targets` → off/reboot fail ("ping target required"). A target may be prefixed
//! `inet:` or `inet6:` to pick the address family of a host name.
//!
//! Differences: probes are sent natively ([`crate::icmp`]) instead of by running
//! `/bin/ping`, so the agent works where no ping binary is installed; ping_interval and
//! ping_timeout accept fractions of a second; counts and times are checked up front
//! (a clear usage error instead of a Python traceback); with `delay`, the whole delay
//! passes first and the probe runs after it (ClusterLabs runs the probe inside the end of
//! the delay window), so the answer is as fresh as possible.

use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice, PowerState};
use crate::icmp::{self, Probe};
use crate::log::{AgentLog, Level, LogSink};
use crate::options::{OptionSpec, METHOD, PLUG_SEPARATOR};
use crate::params::{parse_seconds, Params, UsageError};

const PING_COUNT: OptionSpec = OptionSpec::text(
    "ping_count",
    "[number]",
    "The number of ping-probes that is being sent per target",
)
.default("10");
const PING_GOOD_COUNT: OptionSpec = OptionSpec::text(
    "ping_good_count",
    "[number]",
    "The number of positive ping-probes required to account a target as available",
)
.default("8");
const PING_INTERVAL: OptionSpec = OptionSpec::text(
    "ping_interval",
    "[seconds]",
    "The interval in seconds between ping-probes",
)
.default("1");
const PING_TIMEOUT: OptionSpec = OptionSpec::text(
    "ping_timeout",
    "[seconds]",
    "The timeout in seconds till an individual ping-probe is accounted as lost",
)
.default("2");
const PING_MAXFAIL: OptionSpec = OptionSpec::text(
    "ping_maxfail",
    "[number]",
    "The number of failed ping-targets to still account as overall success",
)
.default("0");
const PING_TARGETS: OptionSpec = OptionSpec {
    required: true,
    ..OptionSpec::text(
        "ping_targets",
        "tgt1,[inet6:]tgt2",
        "A comma separated list of ping-targets (optionally prepended by 'inet:' or 'inet6:') to be probed",
    )
    .default("")
};

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_heuristics_ping",
    shortdesc: "Fence agent for ping-heuristic based fencing",
    longdesc: "fence_heuristics_ping uses ping-heuristics to control execution of another fence agent on the same fencing level.\n\nThis is not a fence agent by itself! Its only purpose is to enable/disable another fence agent that lives on the same fencing level but after fence_heuristics_ping.",
    vendor_url: "",
    variants: &[],
    options: &[
        METHOD,
        PING_COUNT,
        PING_GOOD_COUNT,
        PING_INTERVAL,
        PING_MAXFAIL,
        PING_TARGETS,
        PING_TIMEOUT,
        PLUG_SEPARATOR,
    ],
    defaults: &[("method", "cycle")],
    default_action: "reboot",
    plugs: Plugs::None,
    needs_address: false,
    needs_login: false,
    needs_password: false,
    can_cycle: true,
    can_diag: false,
    has_status: false,
    validate,
    connect,
};

/// The probe policy from validated options.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub targets: Vec<String>,
    pub probe: Probe,
    pub good_count: u32,
    pub maxfail: u32,
}

fn count(p: &Params, name: &str, min: u32) -> Result<u32, UsageError> {
    let text = p.text(name).unwrap_or("");
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| *n >= min)
        .ok_or_else(|| {
            UsageError::Invalid(format!(
                "--{} must be a whole number of at least {min}, not '{text}'",
                name.replace('_', "-")
            ))
        })
}

fn seconds(p: &Params, name: &str) -> Result<Duration, UsageError> {
    let text = p.text(name).unwrap_or("");
    parse_seconds(text)
        .ok()
        .filter(|d| !d.is_zero() || name == "ping_interval")
        .ok_or_else(|| {
            UsageError::Invalid(format!(
                "--{} must be a time in seconds (above 0, at most a day), not '{text}'",
                name.replace('_', "-")
            ))
        })
}

/// Read the policy (also the agent's validation).
pub fn policy(p: &Params) -> Result<Policy, UsageError> {
    let probe = Probe {
        count: count(p, "ping_count", 1)?,
        interval: seconds(p, "ping_interval")?,
        timeout: seconds(p, "ping_timeout")?,
    };
    Ok(Policy {
        targets: p
            .text("ping_targets")
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        probe,
        good_count: count(p, "ping_good_count", 0)?,
        maxfail: count(p, "ping_maxfail", 0)?,
    })
}

fn validate(p: &Params) -> Result<(), UsageError> {
    policy(p).map(|_| ())
}

fn connect(p: &Params, _deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let policy = policy(p).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    // The probe's per-target lines go through the agent's own logger (info: shown
    // with -v, always in --debug-file), as ClusterLabs logs them.
    let mut log = AgentLog::with_verbosity(p.quiet, p.verbose);
    if let Some(path) = p.text("debug_file") {
        log.open_debug_file(path)
            .map_err(|e| DeviceError::Protocol(format!("cannot open debug file {path}: {e}")))?;
    }
    Ok(Box::new(PingGate { policy, log }))
}

/// The address to probe for one target: `inet:`/`inet6:` pick the family.
pub fn resolve(target: &str) -> Result<IpAddr, String> {
    let (host, want_v6) = if let Some(h) = target.strip_prefix("inet6:") {
        (h, Some(true))
    } else if let Some(h) = target.strip_prefix("inet:") {
        (h, Some(false))
    } else {
        (target, None)
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match want_v6 {
            Some(v6) if v6 != ip.is_ipv6() => Err(format!("{host} is not of family {target}")),
            _ => Ok(ip),
        };
    }
    let addrs = (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    addrs
        .map(|a| a.ip())
        .find(|ip| want_v6.is_none_or(|v6| ip.is_ipv6() == v6))
        .ok_or_else(|| format!("{host} has no address of the family asked for"))
}

/// How many targets failed the probe (each target probed at the same time).
pub fn failed_targets(policy: &Policy, log: &mut dyn LogSink) -> u32 {
    let results: Vec<(String, Result<u32, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = policy
            .targets
            .iter()
            .map(|t| {
                let probe = policy.probe;
                (
                    t.clone(),
                    s.spawn(move || {
                        resolve(t).and_then(|ip| icmp::ping(ip, probe).map_err(|e| e.to_string()))
                    }),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(t, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err("probe thread failed".into()));
                (t, r)
            })
            .collect()
    });
    let mut failed = 0;
    for (target, result) in results {
        match result {
            Ok(good) if good >= policy.good_count => log.log(
                Level::Info,
                &format!(
                    "ping target {target} received {good} of {}",
                    policy.probe.count
                ),
            ),
            Ok(good) => {
                failed += 1;
                log.log(
                    Level::Info,
                    &format!(
                        "ping target {target} received {good} of {} and thus failed",
                        policy.probe.count
                    ),
                );
            }
            Err(e) => {
                failed += 1;
                log.log(
                    Level::Error,
                    &format!("ping target {target} failed on OS level: {e}"),
                );
            }
        }
    }
    failed
}

/// The gate as a device without status: "on" always passes, "off" and "cycle" pass when
/// the targets answer.
pub struct PingGate {
    policy: Policy,
    log: AgentLog,
}

impl PingGate {
    fn test(&mut self) -> Result<(), DeviceError> {
        if self.policy.targets.is_empty() {
            return Err(DeviceError::Protocol("ping target required".into()));
        }
        let failed = failed_targets(&self.policy, &mut self.log);
        if failed > self.policy.maxfail {
            return Err(DeviceError::TimedOut(format!(
                "{failed} of {} ping targets failed (ping_maxfail {})",
                self.policy.targets.len(),
                self.policy.maxfail
            )));
        }
        Ok(())
    }
}

impl PowerDevice for PingGate {
    fn power_status(&mut self, _plug: Option<&str>) -> Result<PowerState, DeviceError> {
        Err(DeviceError::Unsupported("status"))
    }

    fn set_power(&mut self, _plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        match to {
            // Unfencing is never blocked.
            PowerState::On => Ok(()),
            PowerState::Off => self.test(),
        }
    }

    fn power_cycle(&mut self, _plug: Option<&str>) -> Result<(), DeviceError> {
        self.test()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_pick_their_family() {
        assert_eq!(resolve("127.0.0.1"), Ok("127.0.0.1".parse().unwrap()));
        assert_eq!(resolve("inet6:::1"), Ok("::1".parse().unwrap()));
        assert_eq!(resolve("inet:127.0.0.1"), Ok("127.0.0.1".parse().unwrap()));
        assert!(resolve("inet6:127.0.0.1").is_err());
        assert!(resolve("inet:::1").is_err());
    }
}
