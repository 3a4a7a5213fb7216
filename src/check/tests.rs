//! The rules on models built by hand, and the readers on small texts.

use std::time::Duration;

use super::model::{DeviceTiming, Model, Val};
use super::{check, cib, corosync, sysconfig, Severity};

fn secs(s: u64, source: &str) -> Option<Val> {
    Some(Val::new(Duration::from_secs(s), source))
}

fn rules(m: &Model) -> Vec<(&'static str, Severity)> {
    check(m)
        .findings
        .iter()
        .map(|f| (f.rule, f.severity))
        .collect()
}

fn sbd_device(timeout: Option<u64>, delay_max: u64) -> DeviceTiming {
    DeviceTiming {
        name: "sbd".into(),
        source: "test".into(),
        agent: "fence_sbd".into(),
        delay_base_ms: 0,
        delay_max_ms: delay_max * 1000,
        action_timeout: timeout.and_then(|t| secs(t, "test")),
        sbd: true,
    }
}

#[test]
fn a_default_sbd_stack_is_safe() {
    let m = Model {
        sbd_watchdog: secs(5, "h"),
        sbd_msgwait: secs(10, "h"),
        sbd_loop: secs(1, "h"),
        sbd_io: secs(3, "h"),
        fencing_timeouts: vec![Val::new(Duration::from_secs(60), "cib")],
        devices: vec![sbd_device(None, 15)],
        priority_fencing_delay: secs(30, "cib"),
        token: Some(Val::new(Duration::from_millis(3000), "c")),
        consensus: Some(Val::new(Duration::from_millis(3600), "c")),
        ..Model::default()
    };
    assert_eq!(rules(&m), []);
    let report = check(&m);
    assert!(!report.is_unsafe());
    let fencing = report
        .derived
        .iter()
        .find(|d| d.name == "fencing timeout")
        .map(|d| d.min_ms);
    assert_eq!(fencing, Some(26_000));
}

#[test]
fn each_unsafe_pair_is_named() {
    let m = Model {
        sbd_watchdog: secs(10, "h"),
        sbd_msgwait: secs(15, "h"),
        sbd_loop: secs(5, "h"),
        sbd_io: secs(6, "h"),
        fencing_timeouts: vec![Val::new(Duration::from_secs(20), "cib")],
        watchdog_fencing_timeout: secs(10, "cib"),
        devices: vec![sbd_device(Some(12), 30)],
        token: Some(Val::new(Duration::from_millis(5000), "c")),
        consensus: Some(Val::new(Duration::from_millis(5000), "c")),
        keepalive: Some(Val::new(Duration::from_millis(500), "n")),
        deadtime: Some(Val::new(Duration::from_millis(1000), "n")),
        ..Model::default()
    };
    let mut got: Vec<&str> = rules(&m)
        .into_iter()
        .filter(|(_, s)| *s == Severity::Unsafe)
        .map(|(r, _)| r)
        .collect();
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "corosync-consensus",
            "deadtime-keepalive",
            "device-delay",
            "device-timeout-msgwait",
            "fencing-timeout-msgwait",
            "sbd-io-loop",
            "sbd-msgwait",
            "watchdog-fencing-timeout",
        ]
    );
    let report = check(&m);
    assert_eq!(report.findings[0].severity, Severity::Unsafe);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["findings"][0]["severity"], "unsafe");
}

#[test]
fn watchdog_fencing_below_twice_is_a_warning() {
    let m = Model {
        sbd_watchdog: secs(5, "sys"),
        watchdog_fencing_timeout: secs(8, "cib"),
        fencing_timeouts: vec![Val::new(Duration::from_secs(60), "cib")],
        ..Model::default()
    };
    assert_eq!(rules(&m), [("watchdog-fencing-margin", Severity::Warning)]);
}

#[test]
fn corosync_token_coefficient_and_default_consensus() {
    let text = "totem {\n  version: 2\n  token: 5000 # ms\n}\nnodelist {\n  node {\n    nodeid: 1\n  }\n  node {\n    nodeid: 2\n  }\n  node {\n    nodeid: 3\n  }\n}\n";
    let totem = corosync::parse(text).unwrap();
    assert_eq!(totem.nodes, 3);
    assert_eq!(totem.effective_token(), Duration::from_millis(5650));
    let mut m = Model::default();
    m.add_corosync(&totem, "c.conf");
    assert_eq!(m.consensus.map(|c| c.ms), Some(6780));
    assert!(corosync::parse("totem {\n token: soon\n}\n").is_err());
    assert!(corosync::parse("totem {\n").is_err());
}

#[test]
fn sysconfig_values() {
    let text = "# sbd\nSBD_DEVICE=\"/dev/sdb\"\nSBD_WATCHDOG_TIMEOUT=15\nSBD_DELAY_START=yes\nSBD_OPTS=\"-I 5 -v\"\n";
    let s = sysconfig::parse(text).unwrap();
    assert_eq!(s.watchdog_timeout, Some(Duration::from_secs(15)));
    assert_eq!(s.delay_start, sysconfig::DelayStart::Msgwait);
    assert_eq!(s.io_timeout, Duration::from_secs(5));
    assert!(s.has_devices);
    let s = sysconfig::parse("SBD_DELAY_START=90").unwrap();
    assert_eq!(
        s.delay_start,
        sysconfig::DelayStart::Seconds(Duration::from_secs(90))
    );
    assert!(sysconfig::parse("SBD_WATCHDOG_TIMEOUT=5s").is_err());
}

#[test]
fn cib_options_and_devices() {
    let xml = r#"<cib><configuration><crm_config><cluster_property_set id="o">
      <nvpair id="a" name="stonith-timeout" value="30s"/>
      <nvpair id="b" name="fencing-timeout" value="90s"/>
      <nvpair id="c" name="stonith-watchdog-timeout" value="-1"/>
      <nvpair id="d" name="priority-fencing-delay" value="20s"/>
    </cluster_property_set></crm_config><resources>
      <primitive id="sbd" class="stonith" type="fence_sbd"><instance_attributes id="i">
        <nvpair id="e" name="pcmk_delay_max" value="15"/>
        <nvpair id="f" name="pcmk_reboot_timeout" value="45s"/>
      </instance_attributes></primitive>
      <primitive id="web" class="ocf" provider="heartbeat" type="apache"/>
    </resources></configuration></cib>"#;
    let cib = cib::parse(xml).unwrap();
    assert_eq!(cib.fencing_timeout, Some(Duration::from_secs(90)));
    assert_eq!(cib.watchdog_timeout, Some(cib::WatchdogTimeout::Auto));
    assert_eq!(cib.devices.len(), 1);
    assert_eq!(cib.devices[0].delay_max, Duration::from_secs(15));
    let mut m = Model {
        sbd_watchdog: secs(5, "sys"),
        ..Model::default()
    };
    m.add_cib(&cib, "cib.xml");
    assert_eq!(m.watchdog_fencing_timeout.map(|v| v.ms), Some(10_000));
    assert!(cib::parse("<cib><oops></cib>").is_err());
    assert!(cib::parse("<status/>").is_err());
}
