//! The rules between the stack's timeouts, each with its source, and the least safe
//! values derived from the others. A rule whose values are not all in the model is
//! skipped. "Unsafe" rules are those whose breach makes fencing fail every time (a fence
//! loop) or lets a node count as fenced while it may still run; the rest are warnings.

use super::model::{DeviceTiming, Model, Val};
use super::{show_ms, Derived, Finding, NamedValue, Severity};

/// sbd(8), `-4`: msgwait "should be twice the watchdog timeout" — the time after which a
/// message written to a slot counts as delivered, or the node has self-fenced.
pub const REF_SBD_MSGWAIT: &str =
    "sbd(8) option -4 (ClusterLabs/sbd man/sbd.8.pod.in@2c43532): msgwait should be twice the watchdog timeout";
/// sbd(8), `-1` and sbd's inquisitor: the majority of devices must be read within the
/// watchdog timeout; a servant is healthy while its last read is younger than I/O +
/// loop timeout (src/sbd-inquisitor.c).
pub const REF_SBD_IO: &str =
    "sbd(8) option -1 and src/sbd-inquisitor.c (ClusterLabs/sbd@2c43532): devices must be read (I/O timeout + loop timeout) within the watchdog timeout";
/// sbd(8), "General cluster properties": stonith-timeout at least twice msgwait; too
/// low for msgwait creates a fencing loop.
pub const REF_SBD_STONITH_TIMEOUT: &str =
    "sbd(8) General cluster properties (ClusterLabs/sbd man/sbd.8.pod.in@2c43532): stonith-timeout at least twice msgwait; lower than msgwait creates a fencing loop";
/// fence_sbd waits msgwait after writing the poison pill: a device timeout not above it
/// can never succeed (ClusterLabs/fence-agents PR 621).
pub const REF_FENCE_SBD: &str =
    "fence_sbd waits msgwait before it reports success (sbd(8) -4; ClusterLabs/fence-agents pull 621)";
/// pacemaker's fencing-watchdog-timeout: must be larger than SBD_WATCHDOG_TIMEOUT or
/// pacemaker refuses to start; negative means twice it.
pub const REF_PCMK_WATCHDOG: &str =
    "pacemaker lib/common/options.c fencing-watchdog-timeout and lib/common/watchdog.c (ClusterLabs/pacemaker@0a519a6e): must be larger than SBD_WATCHDOG_TIMEOUT (else pacemaker shuts down); the automatic value is 2 x SBD_WATCHDOG_TIMEOUT";
/// A watchdog fence is confirmed only once stonith-watchdog-timeout has passed.
pub const REF_WATCHDOG_CONFIRM: &str =
    "pacemaker lib/common/options.c fencing-watchdog-timeout (lost nodes count as self-fenced after this time); palisade src/node/config.rs (timeout above watchdog-timeout)";
/// pacemaker's priority-fencing-delay: "safely twice" the maximum pcmk_delay_base/max.
pub const REF_PCMK_PRIORITY_DELAY: &str =
    "pacemaker lib/common/options.c priority-fencing-delay, doc/sphinx/Pacemaker_Explained/cluster-options.rst (ClusterLabs/pacemaker@0a519a6e): significantly greater than, safely twice, the maximum pcmk_delay_base/max";
/// pacemaker's fencer limits pcmk_delay_base to pcmk_delay_max.
pub const REF_PCMK_DELAY_BASE: &str =
    "pacemaker daemons/fenced/fenced_commands.c (ClusterLabs/pacemaker@0a519a6e): pcmk_delay_base larger than pcmk_delay_max is limited to the maximum";
/// A device delay spends the time the requester waits for the fence.
pub const REF_DELAY_TIMEOUT: &str =
    "pacemaker daemons/fenced/fenced_commands.c (delay before the action) and Pacemaker_Explained fencing.rst pcmk_delay_max; palisade docs/fencer.md (fencing-timeout is the budget of one operation)";
/// corosync.conf(5): "The minimum value for consensus must be 1.2 * token".
pub const REF_COROSYNC_CONSENSUS: &str =
    "corosync.conf(5) consensus (corosync/corosync man/corosync.conf.5@65235a81): the minimum value for consensus must be 1.2 * token";
/// Fencing starts only after the membership changed (token + consensus): crmsh adds
/// them to stonith-timeout (ClusterLabs/crmsh PR 890).
pub const REF_MEMBERSHIP: &str =
    "crmsh sbd timeout model (ClusterLabs/crmsh pull 890): stonith-timeout must also cover token + consensus";
/// sbd's sysconfig, SBD_DELAY_START: wait longer than token + consensus +
/// pcmk_delay_max + msgwait.
pub const REF_SBD_DELAY_START: &str =
    "sbd sysconfig SBD_DELAY_START (ClusterLabs/sbd src/sbd.sysconfig.in@2c43532): safer to wait longer than corosync token + consensus + pcmk_delay_max + msgwait";
/// heartbeat: deadtime must exceed twice keepalive.
pub const REF_HEARTBEAT: &str =
    "heartbeat ha.cf (deadtime <= 2 x keepalive is refused); palisade src/cluster/membership.rs";
/// palisade's node daemon reports health to sbd once per keepalive.
pub const REF_SBD_HEALTH: &str =
    "palisade src/node/runner.rs (health file written every keepalive) and sbd's inquisitor: the watchdog is fed only while the health is fresh";

fn finding(
    severity: Severity,
    rule: &'static str,
    reference: &'static str,
    message: String,
    values: Vec<NamedValue>,
    formula: String,
) -> Finding {
    Finding {
        severity,
        rule,
        reference,
        message,
        values,
        formula,
    }
}

fn nv(name: &str, v: &Val) -> NamedValue {
    NamedValue::of(name, v)
}

fn device_delay(d: &DeviceTiming) -> NamedValue {
    NamedValue {
        name: format!("device {} pcmk_delay_max/base", d.name),
        ms: d.longest_delay_ms(),
        source: d.source.clone(),
    }
}

/// The next whole second above `ms`: the least safe value of a strict inequality.
fn above(ms: u64) -> u64 {
    (ms / 1000 + 1) * 1000
}

/// Every broken rule.
pub fn findings(m: &Model) -> Vec<Finding> {
    let mut out = Vec::new();
    sbd_rules(m, &mut out);
    fencing_timeout_rules(m, &mut out);
    delay_rules(m, &mut out);
    membership_rules(m, &mut out);
    out
}

fn sbd_rules(m: &Model, out: &mut Vec<Finding>) {
    if let (Some(w), Some(mw)) = (&m.sbd_watchdog, &m.sbd_msgwait) {
        if mw.ms < w.ms.saturating_mul(2) {
            out.push(finding(
                Severity::Unsafe,
                "sbd-msgwait",
                REF_SBD_MSGWAIT,
                format!(
                    "sbd msgwait {} is shorter than 2 x watchdog timeout {} = {}: a poison pill counts as delivered while the target may still run",
                    show_ms(mw.ms),
                    show_ms(w.ms),
                    show_ms(w.ms * 2)
                ),
                vec![nv("msgwait", mw), nv("watchdog timeout", w)],
                "msgwait >= 2 x watchdog timeout".into(),
            ));
        }
    }
    if let (Some(w), Some(io), Some(lp)) = (&m.sbd_watchdog, &m.sbd_io, &m.sbd_loop) {
        if io.ms + lp.ms >= w.ms {
            out.push(finding(
                Severity::Unsafe,
                "sbd-io-loop",
                REF_SBD_IO,
                format!(
                    "sbd I/O timeout {} + loop timeout {} is not below the watchdog timeout {}: a slow but healthy device read lets the watchdog reset the node",
                    show_ms(io.ms),
                    show_ms(lp.ms),
                    show_ms(w.ms)
                ),
                vec![nv("I/O timeout", io), nv("loop timeout", lp), nv("watchdog timeout", w)],
                "I/O timeout + loop timeout < watchdog timeout".into(),
            ));
        }
    }
    if let (Some(swt), Some(w)) = (&m.watchdog_fencing_timeout, &m.sbd_watchdog) {
        if swt.ms <= w.ms {
            out.push(finding(
                Severity::Unsafe,
                "watchdog-fencing-timeout",
                REF_PCMK_WATCHDOG,
                format!(
                    "stonith-watchdog-timeout {} is not above the sbd watchdog timeout {}: a lost node counts as fenced before its watchdog surely fired",
                    show_ms(swt.ms),
                    show_ms(w.ms)
                ),
                vec![nv("stonith-watchdog-timeout", swt), nv("sbd watchdog timeout", w)],
                "stonith-watchdog-timeout > SBD_WATCHDOG_TIMEOUT".into(),
            ));
        } else if swt.ms < w.ms.saturating_mul(2) {
            out.push(finding(
                Severity::Warning,
                "watchdog-fencing-margin",
                REF_PCMK_WATCHDOG,
                format!(
                    "stonith-watchdog-timeout {} is below 2 x the sbd watchdog timeout {} = {}",
                    show_ms(swt.ms),
                    show_ms(w.ms),
                    show_ms(w.ms * 2)
                ),
                vec![
                    nv("stonith-watchdog-timeout", swt),
                    nv("sbd watchdog timeout", w),
                ],
                "stonith-watchdog-timeout >= 2 x SBD_WATCHDOG_TIMEOUT".into(),
            ));
        }
    }
    if let (Some(w), Some(ka)) = (&m.sbd_watchdog, &m.keepalive) {
        if m.sbd_health && ka.ms >= w.ms {
            out.push(finding(
                Severity::Unsafe,
                "sbd-health-keepalive",
                REF_SBD_HEALTH,
                format!(
                    "keepalive {} is not below the sbd watchdog timeout {}: sbd sees stale health between two reports and resets a healthy node",
                    show_ms(ka.ms),
                    show_ms(w.ms)
                ),
                vec![nv("keepalive", ka), nv("sbd watchdog timeout", w)],
                "keepalive < sbd watchdog timeout".into(),
            ));
        }
    }
}

fn fencing_timeout_rules(m: &Model, out: &mut Vec<Finding>) {
    let delay = m.longest_device_delay();
    let delay_ms = delay.map_or(0, |(_, ms)| ms);
    for t in &m.fencing_timeouts {
        if let Some(mw) = m.sbd_msgwait.as_ref().filter(|_| m.sbd_disk()) {
            let need = mw.ms + delay_ms;
            if t.ms <= need {
                let mut values = vec![nv("fencing timeout", t), nv("msgwait", mw)];
                values.extend(delay.map(|(d, _)| device_delay(d)));
                out.push(finding(
                    Severity::Unsafe,
                    "fencing-timeout-msgwait",
                    REF_SBD_STONITH_TIMEOUT,
                    format!(
                        "fencing timeout {} is not above msgwait {} + the longest device delay {} = {}: the poison pill can never be confirmed in time (fence loop)",
                        show_ms(t.ms),
                        show_ms(mw.ms),
                        show_ms(delay_ms),
                        show_ms(need)
                    ),
                    values,
                    "fencing timeout > msgwait + max(pcmk_delay_max, pcmk_delay_base)".into(),
                ));
            } else if t.ms < mw.ms.saturating_mul(2) {
                out.push(finding(
                    Severity::Warning,
                    "fencing-timeout-msgwait-margin",
                    REF_SBD_STONITH_TIMEOUT,
                    format!(
                        "fencing timeout {} is below 2 x msgwait {} = {}",
                        show_ms(t.ms),
                        show_ms(mw.ms),
                        show_ms(mw.ms * 2)
                    ),
                    vec![nv("fencing timeout", t), nv("msgwait", mw)],
                    "fencing timeout >= 2 x msgwait".into(),
                ));
            }
        }
        if let Some(swt) = &m.watchdog_fencing_timeout {
            if t.ms <= swt.ms {
                out.push(finding(
                    Severity::Unsafe,
                    "fencing-timeout-watchdog",
                    REF_WATCHDOG_CONFIRM,
                    format!(
                        "fencing timeout {} is not above stonith-watchdog-timeout {}: a watchdog fence times out before it is confirmed (fence loop)",
                        show_ms(t.ms),
                        show_ms(swt.ms)
                    ),
                    vec![nv("fencing timeout", t), nv("stonith-watchdog-timeout", swt)],
                    "fencing timeout > stonith-watchdog-timeout".into(),
                ));
            }
        }
        for d in &m.devices {
            if d.longest_delay_ms() >= t.ms {
                out.push(finding(
                    Severity::Unsafe,
                    "device-delay",
                    REF_DELAY_TIMEOUT,
                    format!(
                        "device {}'s delay {} is not below the fencing timeout {}: a requester waiting the fencing timeout gives up before the device runs (fence loop)",
                        d.name,
                        show_ms(d.longest_delay_ms()),
                        show_ms(t.ms)
                    ),
                    vec![device_delay(d), nv("fencing timeout", t)],
                    "max(pcmk_delay_max, pcmk_delay_base) < fencing timeout".into(),
                ));
            }
        }
        if let (Some(tok), Some(cons)) = (&m.token, &m.consensus) {
            if t.ms < tok.ms + cons.ms {
                out.push(finding(
                    Severity::Warning,
                    "fencing-timeout-membership",
                    REF_MEMBERSHIP,
                    format!(
                        "fencing timeout {} is below corosync token {} + consensus {} = {}",
                        show_ms(t.ms),
                        show_ms(tok.ms),
                        show_ms(cons.ms),
                        show_ms(tok.ms + cons.ms)
                    ),
                    vec![
                        nv("fencing timeout", t),
                        nv("token", tok),
                        nv("consensus", cons),
                    ],
                    "fencing timeout >= token + consensus".into(),
                ));
            }
        }
    }
    if let Some(mw) = &m.sbd_msgwait {
        for d in m.devices.iter().filter(|d| d.sbd) {
            let Some(at) = &d.action_timeout else {
                continue;
            };
            if at.ms <= mw.ms {
                out.push(finding(
                    Severity::Unsafe,
                    "device-timeout-msgwait",
                    REF_FENCE_SBD,
                    format!(
                        "fence_sbd device {}'s action timeout {} is not above msgwait {}: the agent is killed before it can report success (fence loop)",
                        d.name,
                        show_ms(at.ms),
                        show_ms(mw.ms)
                    ),
                    vec![nv(&format!("device {} action timeout", d.name), at), nv("msgwait", mw)],
                    "pcmk_off_timeout / pcmk_reboot_timeout of a fence_sbd device > msgwait".into(),
                ));
            }
        }
    }
}

fn delay_rules(m: &Model, out: &mut Vec<Finding>) {
    for d in &m.devices {
        if d.delay_max_ms > 0 && d.delay_base_ms > d.delay_max_ms {
            out.push(finding(
                Severity::Warning,
                "delay-base-over-max",
                REF_PCMK_DELAY_BASE,
                format!(
                    "device {}: pcmk_delay_base {} is above pcmk_delay_max {} (pacemaker limits it to the maximum)",
                    d.name,
                    show_ms(d.delay_base_ms),
                    show_ms(d.delay_max_ms)
                ),
                vec![device_delay(d)],
                "pcmk_delay_base <= pcmk_delay_max".into(),
            ));
        }
    }
    let Some((d, delay)) = m.longest_device_delay() else {
        return;
    };
    for (name, rule, v) in [
        (
            "priority-fencing-delay",
            "priority-fencing-delay",
            &m.priority_fencing_delay,
        ),
        ("race-delay", "race-delay", &m.race_delay),
    ] {
        if let Some(v) = v {
            if v.ms < delay.saturating_mul(2) {
                out.push(finding(
                    Severity::Warning,
                    rule,
                    REF_PCMK_PRIORITY_DELAY,
                    format!(
                        "{name} {} is below 2 x the longest device delay {} = {}: the more important node may lose the fence race",
                        show_ms(v.ms),
                        show_ms(delay),
                        show_ms(delay * 2)
                    ),
                    vec![nv(name, v), device_delay(d)],
                    format!("{name} >= 2 x max(pcmk_delay_base, pcmk_delay_max)"),
                ));
            }
        }
    }
}

fn membership_rules(m: &Model, out: &mut Vec<Finding>) {
    if let (Some(tok), Some(cons)) = (&m.token, &m.consensus) {
        let need = tok.ms.saturating_mul(12) / 10;
        if cons.ms < need {
            out.push(finding(
                Severity::Unsafe,
                "corosync-consensus",
                REF_COROSYNC_CONSENSUS,
                format!(
                    "corosync consensus {} is below 1.2 x token {} = {}",
                    show_ms(cons.ms),
                    show_ms(tok.ms),
                    show_ms(need)
                ),
                vec![nv("consensus", cons), nv("token", tok)],
                "consensus >= 1.2 x token".into(),
            ));
        }
    }
    if let (Some(ds), Some(mw)) = (&m.sbd_delay_start, &m.sbd_msgwait) {
        let need = m.token.as_ref().map_or(0, |v| v.ms)
            + m.consensus.as_ref().map_or(0, |v| v.ms)
            + m.longest_device_delay().map_or(0, |(_, ms)| ms)
            + mw.ms;
        if ds.ms <= need {
            out.push(finding(
                Severity::Warning,
                "sbd-delay-start",
                REF_SBD_DELAY_START,
                format!(
                    "SBD_DELAY_START {} is not above token + consensus + pcmk_delay_max + msgwait = {}: a fast reboot can rejoin while the fence is still being confirmed",
                    show_ms(ds.ms),
                    show_ms(need)
                ),
                vec![nv("SBD_DELAY_START", ds), nv("msgwait", mw)],
                "SBD_DELAY_START > token + consensus + pcmk_delay_max + msgwait".into(),
            ));
        }
    }
    if let (Some(ka), Some(dt)) = (&m.keepalive, &m.deadtime) {
        if dt.ms <= ka.ms.saturating_mul(2) {
            out.push(finding(
                Severity::Unsafe,
                "deadtime-keepalive",
                REF_HEARTBEAT,
                format!(
                    "deadtime {} is not above 2 x keepalive {}: one lost heartbeat declares a running node dead",
                    show_ms(dt.ms),
                    show_ms(ka.ms)
                ),
                vec![nv("deadtime", dt), nv("keepalive", ka)],
                "deadtime > 2 x keepalive".into(),
            ));
        }
    }
}

/// The least safe values, from what the model holds.
pub fn derived(m: &Model) -> Vec<Derived> {
    let mut out = Vec::new();
    let delay = m.longest_device_delay().map_or(0, |(_, ms)| ms);
    if let Some(w) = &m.sbd_watchdog {
        if m.sbd_disk() {
            out.push(Derived {
                name: "sbd msgwait".into(),
                min_ms: w.ms * 2,
                formula: format!("2 x watchdog timeout {}", show_ms(w.ms)),
            });
        }
        if m.watchdog_fencing_timeout.is_some() || !m.sbd_disk() {
            out.push(Derived {
                name: "stonith-watchdog-timeout".into(),
                min_ms: w.ms * 2,
                formula: format!("2 x SBD_WATCHDOG_TIMEOUT {}", show_ms(w.ms)),
            });
        }
    }
    let mut terms: Vec<(String, u64)> = Vec::new();
    if let Some(mw) = m.sbd_msgwait.as_ref().filter(|_| m.sbd_disk()) {
        terms.push((format!("2 x msgwait {}", show_ms(mw.ms)), mw.ms * 2));
        terms.push((
            format!("msgwait {} + delay {}", show_ms(mw.ms), show_ms(delay)),
            above(mw.ms + delay),
        ));
    }
    if let Some(swt) = &m.watchdog_fencing_timeout {
        terms.push((
            format!("stonith-watchdog-timeout {}", show_ms(swt.ms)),
            above(swt.ms),
        ));
    }
    if delay > 0 {
        terms.push((format!("device delay {}", show_ms(delay)), above(delay)));
    }
    if let (Some(t), Some(c)) = (&m.token, &m.consensus) {
        terms.push((
            format!("token {} + consensus {}", show_ms(t.ms), show_ms(c.ms)),
            t.ms + c.ms,
        ));
    }
    if let Some(max) = terms.iter().map(|(_, v)| *v).max() {
        let list: Vec<String> = terms.iter().map(|(t, _)| t.clone()).collect();
        out.push(Derived {
            name: "fencing timeout".into(),
            min_ms: max,
            formula: format!("max({})", list.join(", ")),
        });
    }
    if delay > 0 {
        out.push(Derived {
            name: "priority-fencing-delay / race-delay".into(),
            min_ms: delay * 2,
            formula: format!("2 x longest device delay {}", show_ms(delay)),
        });
    }
    if let Some(t) = &m.token {
        out.push(Derived {
            name: "corosync consensus".into(),
            min_ms: t.ms * 12 / 10,
            formula: format!("1.2 x token {}", show_ms(t.ms)),
        });
    }
    if let Some(mw) = &m.sbd_msgwait {
        let tc = m.token.as_ref().map_or(0, |v| v.ms) + m.consensus.as_ref().map_or(0, |v| v.ms);
        out.push(Derived {
            name: "SBD_DELAY_START (when set)".into(),
            min_ms: above(tc + delay + mw.ms),
            formula: format!(
                "token + consensus {} + delay {} + msgwait {}",
                show_ms(tc),
                show_ms(delay),
                show_ms(mw.ms)
            ),
        });
    }
    if let Some(ka) = &m.keepalive {
        out.push(Derived {
            name: "palisade deadtime".into(),
            min_ms: above(ka.ms * 2),
            formula: format!("2 x keepalive {}", show_ms(ka.ms)),
        });
    }
    out
}
