//! Cross-checks of the RMCP+ derivations against ipmitool through [`MockBmc`], for the
//! cipher suites the OpenIPMI simulator cannot check (see `mock_bmc`). Skipped with a
//! notice when ipmitool is not installed.

use std::process::Command;
use std::time::Duration;

use super::mock_bmc::MockBmc;
use super::{IpmiConfig, IpmiDevice, Privilege};
use crate::device::{Deadline, DeviceError, PowerDevice, PowerState};

fn ipmitool_reads_power_through_mock(suite: u8) {
    if Command::new("ipmitool").arg("-V").output().is_err() {
        eprintln!("NOTICE: ipmitool not installed; suite {suite} cross-check skipped");
        return;
    }
    let bmc = MockBmc::start("admin", "secret", Duration::from_secs(8));
    let out = Command::new("ipmitool")
        .args([
            "-I",
            "lanplus",
            "-C",
            &suite.to_string(),
            "-H",
            "127.0.0.1",
            "-p",
        ])
        .arg(bmc.port.to_string())
        .args(["-U", "admin", "-P", "secret", "-N", "1", "-R", "2"])
        .args(["raw", "0x00", "0x01"])
        .output()
        .expect("run ipmitool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen = bmc.seen();
    assert!(
        seen.rakp3_ok,
        "suite {suite}: ipmitool's RAKP 3 proof differs"
    );
    assert!(
        seen.requests.contains(&(0x00, 0x01)),
        "suite {suite}: no verified Get Chassis Status; seen {seen:?}, ipmitool: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim(),
        "01 00 00 00",
        "suite {suite}: ipmitool output"
    );
}

fn mock_config(port: u16, cipher: Option<u8>) -> IpmiConfig {
    IpmiConfig {
        host: "127.0.0.1".into(),
        port,
        username: "admin".into(),
        password: "secret".into(),
        lanplus: true,
        cipher,
        privilege: Privilege::Administrator,
        auth: None,
        kg: None,
        target: None,
        retransmit: Duration::from_millis(300),
    }
}

fn our_device_reads_power_through_mock(suite: u8) {
    let bmc = MockBmc::start("admin", "secret", Duration::from_secs(5));
    let cfg = mock_config(bmc.port, Some(suite));
    let mut dev =
        IpmiDevice::connect(&cfg, Deadline::after(Duration::from_secs(4))).expect("connect");
    assert_eq!(dev.power_status(None), Ok(PowerState::On), "suite {suite}");
    dev.close();
    assert!(
        bmc.seen().requests.contains(&(0x06, 0x3C)),
        "Close Session sent"
    );
}

#[test]
fn sha256_suite_17_agrees_with_ipmitool() {
    ipmitool_reads_power_through_mock(17);
    our_device_reads_power_through_mock(17);
}

#[test]
fn sha256_suites_15_and_16_agree_with_ipmitool() {
    for suite in [15, 16] {
        ipmitool_reads_power_through_mock(suite);
        our_device_reads_power_through_mock(suite);
    }
}

#[test]
fn md5_suites_7_and_8_agree_with_ipmitool() {
    for suite in [7, 8] {
        ipmitool_reads_power_through_mock(suite);
        our_device_reads_power_through_mock(suite);
    }
}

#[test]
fn sha1_suite_3_agrees_with_ipmitool_through_the_mock_too() {
    ipmitool_reads_power_through_mock(3);
}

#[test]
fn no_cipher_given_falls_back_to_17_when_3_is_not_offered() {
    let bmc = MockBmc::start_refusing("admin", "secret", Duration::from_secs(5), Some(3));
    let mut dev = IpmiDevice::connect(
        &mock_config(bmc.port, None),
        Deadline::after(Duration::from_secs(4)),
    )
    .expect("connect with fallback");
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
    assert_eq!(bmc.seen().suite, Some(17));
    let err = IpmiDevice::connect(
        &mock_config(bmc.port, Some(3)),
        Deadline::after(Duration::from_secs(4)),
    )
    .expect_err("3 was asked for explicitly");
    assert_eq!(
        err,
        DeviceError::Unsupported("cipher suite 3 (not offered by the BMC)")
    );
}
