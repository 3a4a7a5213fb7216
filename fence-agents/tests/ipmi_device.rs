//! The native IPMI device (`agents::ipmi::IpmiDevice`) against a real simulated BMC:
//! OpenIPMI's `ipmi_sim`, started through the committed fixture
//! `tests/fixtures/ipmi_sim.sh` on its own loopback port (17600..), power kept in a
//! file. Covers RMCP+ (several cipher suites) and IPMI 1.5 (each auth type), status /
//! off / on / cycle / diag, wrong credentials, privilege limits, an unreachable BMC
//! under a deadline, and session cleanup.
//!
//! Safety: traffic goes to 127.0.0.1 only; the only process ever signalled is the
//! simulator this test started, by the PID from its own PID file.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::peers::{output_text, read_pid_file, start_on_free_port, stop_pid, PortPool};

use fence_agents::agents::ipmi::{AuthType, IpmiConfig, IpmiDevice, Privilege};
use fence_agents::{Deadline, DeviceError, PowerDevice, PowerState};

const LOOPBACK: &str = "127.0.0.1";
const ADMIN: &str = "admin";
const ADMIN_PASS: &str = "secret";
/// The fixture's operator-level account (user 3) and its user-level null user (user 1).
const OPERATOR: &str = "operator";
const OPERATOR_PASS: &str = "oppass";
/// A generous deadline for operations expected to succeed.
const OK_DEADLINE: Duration = Duration::from_secs(10);

/// Ports of this test binary: 17600.. shifted by PID so parallel runs rarely meet.
static UDP_PORTS: PortPool = PortPool::new(17600, 25, 16, 18400);

fn free_udp_port() -> u16 {
    UDP_PORTS.udp()
}

fn fixture_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ipmi_sim.sh")
}

/// One `ipmi_sim` on its own port and state directory; stopped by PID on drop.
struct Sim {
    port: u16,
    dir: PathBuf,
    pid: i32,
    /// Set when this test (not the fixture) spawned ipmi_sim, to reap it.
    child: Option<Child>,
}

impl Sim {
    fn start(power_on: bool) -> Sim {
        let started = start_on_free_port("palisade-ipmi-device", free_udp_port, |port, dir| {
            let out = Command::new("bash")
                .arg(fixture_script())
                .arg("start")
                .env("IPMISIM_ADDR", LOOPBACK)
                .env("IPMISIM_PORT", port.to_string())
                .env("IPMISIM_USER", ADMIN)
                .env("IPMISIM_PASS", ADMIN_PASS)
                .env("IPMISIM_POWER", if power_on { "1" } else { "0" })
                .env("IPMISIM_DIR", dir)
                .stdin(Stdio::null())
                .output()
                .expect("run tests/fixtures/ipmi_sim.sh");
            if !out.status.success() {
                return Err(output_text(&out));
            }
            Ok(read_pid_file(&dir.join("ipmi_sim.pid"))
                .expect("ipmi_sim.pid after a successful start"))
        })
        .unwrap_or_else(|e| {
            panic!("could not start ipmi_sim (apt-get install openipmi ipmitool):\n{e}")
        });
        Sim {
            port: started.port,
            dir: started.dir,
            pid: started.pid,
            child: None,
        }
    }

    /// A simulator whose BMC key (Kg) is `key`: the fixture writes the configuration,
    /// then ipmi_sim is restarted here with `bmc_key` added to its LAN section.
    fn start_with_bmc_key(key: &str) -> Sim {
        let mut sim = Sim::start(true);
        sim.kill();
        let conf = sim.dir.join("lan.conf");
        let text = std::fs::read_to_string(&conf).expect("read lan.conf");
        let text = text.replacen("  endlan", &format!("    bmc_key \"{key}\"\n  endlan"), 1);
        std::fs::write(&conf, text).expect("write lan.conf");
        let log = std::fs::File::create(sim.dir.join("ipmi_sim.log")).expect("log file");
        let child = Command::new("ipmi_sim")
            .arg("-n")
            .arg("-c")
            .arg(&conf)
            .arg("-f")
            .arg(sim.dir.join("bmc.emu"))
            .arg("-s")
            .arg(sim.dir.join("state"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn ipmi_sim");
        sim.pid = i32::try_from(child.id()).expect("pid fits i32");
        sim.child = Some(child);
        // Ready when ipmitool can log in with the key.
        for _ in 0..100 {
            let ok = Command::new("ipmitool")
                .args(["-I", "lanplus", "-C", "3", "-H", LOOPBACK, "-p"])
                .arg(sim.port.to_string())
                .args([
                    "-U", ADMIN, "-P", ADMIN_PASS, "-k", key, "-N", "1", "-R", "1",
                ])
                .args(["mc", "guid"])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return sim;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "ipmi_sim with a BMC key did not come up on port {}",
            sim.port
        );
    }

    fn power_file(&self) -> bool {
        std::fs::read_to_string(self.dir.join("power"))
            .expect("read power file")
            .trim()
            == "1"
    }

    fn set_power_file(&self, on: bool) {
        std::fs::write(self.dir.join("power"), if on { "1\n" } else { "0\n" })
            .expect("write power file");
    }

    /// The `set ...` requests the BMC's power backend executed, e.g. `set power 0`.
    fn set_actions(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("actions.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
            .filter(|a| a.starts_with("set "))
            .collect()
    }

    fn wait_power(&self, on: bool, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.power_file() == on {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.power_file() == on
    }

    /// Independent reading through ipmitool (lanplus, cipher 3).
    fn ipmitool_power(&self) -> bool {
        let out = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", LOOPBACK, "-p"])
            .arg(self.port.to_string())
            .args(["-U", ADMIN, "-P", ADMIN_PASS, "-N", "1", "-R", "2"])
            .args(["chassis", "power", "status"])
            .output()
            .expect("run ipmitool");
        match String::from_utf8_lossy(&out.stdout).trim() {
            "Chassis Power is on" => true,
            "Chassis Power is off" => false,
            other => panic!("ipmitool could not read power: {other:?}"),
        }
    }

    /// Stop the simulator now (for the "BMC went away" test).
    fn kill(&mut self) {
        // The simulator this test started (by the fixture or here).
        stop_pid(self.pid);
        self.pid = 0;
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(port: u16, lanplus: bool) -> IpmiConfig {
    IpmiConfig {
        host: LOOPBACK.into(),
        port,
        username: ADMIN.into(),
        password: ADMIN_PASS.into(),
        lanplus,
        cipher: lanplus.then_some(3),
        privilege: Privilege::Administrator,
        auth: None,
        kg: None,
        target: None,
        retransmit: Duration::from_millis(500),
    }
}

fn connect(cfg: &IpmiConfig) -> IpmiDevice {
    IpmiDevice::connect(cfg, Deadline::after(OK_DEADLINE))
        .unwrap_or_else(|e| panic!("connect {cfg:?}: {e}"))
}

/// status, off, status, on, status on one session, checked against the BMC's file.
fn off_and_on(sim: &Sim, cfg: &IpmiConfig) {
    let mut dev = connect(cfg);
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
    dev.set_power(None, PowerState::Off).expect("power off");
    assert!(sim.wait_power(false, Duration::from_secs(5)), "BMC not off");
    assert_eq!(dev.power_status(None), Ok(PowerState::Off));
    dev.set_power(None, PowerState::On).expect("power on");
    assert!(sim.wait_power(true, Duration::from_secs(5)), "BMC not on");
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
    assert_eq!(sim.set_actions(), vec!["set power 0", "set power 1"]);
}

#[test]
fn lanplus_status_reads_on_and_off_as_ipmitool_does() {
    let sim = Sim::start(true);
    let mut dev = connect(&config(sim.port, true));
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
    assert!(sim.ipmitool_power());
    sim.set_power_file(false);
    assert_eq!(dev.power_status(None), Ok(PowerState::Off));
    assert!(!sim.ipmitool_power());
    assert!(
        sim.set_actions().is_empty(),
        "status must not command anything"
    );
}

#[test]
fn lanplus_off_and_on_change_the_power() {
    let sim = Sim::start(true);
    off_and_on(&sim, &config(sim.port, true));
}

#[test]
fn lan15_off_and_on_change_the_power() {
    let sim = Sim::start(true);
    off_and_on(&sim, &config(sim.port, false));
}

#[test]
fn lan15_speaks_every_auth_type() {
    let sim = Sim::start(false);
    for auth in [
        None,
        Some(AuthType::Md5),
        Some(AuthType::Password),
        Some(AuthType::None),
    ] {
        let cfg = IpmiConfig {
            auth,
            ..config(sim.port, false)
        };
        let mut dev = connect(&cfg);
        assert_eq!(dev.power_status(None), Ok(PowerState::Off), "{auth:?}");
    }
}

#[test]
fn lanplus_speaks_the_cipher_suites_the_bmc_offers() {
    // Not 7 and 8: OpenIPMI derives the MD5 integrity/AES keys unlike ipmitool and
    // FreeIPMI (whose derivation this device follows, cross-checked in the crate's
    // `interop_tests`); ipmitool fails against ipmi_sim there too.
    let sim = Sim::start(true);
    for cipher in [None, Some(0), Some(1), Some(2), Some(3), Some(6)] {
        let cfg = IpmiConfig {
            cipher,
            ..config(sim.port, true)
        };
        let mut dev = connect(&cfg);
        assert_eq!(
            dev.power_status(None),
            Ok(PowerState::On),
            "cipher {cipher:?}"
        );
    }
}

#[test]
fn cipher_17_not_offered_is_a_clear_error() {
    let sim = Sim::start(true);
    let cfg = IpmiConfig {
        cipher: Some(17),
        ..config(sim.port, true)
    };
    let err = IpmiDevice::connect(&cfg, Deadline::after(OK_DEADLINE)).expect_err("no suite 17");
    assert_eq!(
        err,
        DeviceError::Unsupported("cipher suite 17 (not offered by the BMC)")
    );
    let unknown = IpmiConfig {
        cipher: Some(4),
        ..config(sim.port, true)
    };
    let err = IpmiDevice::connect(&unknown, Deadline::after(OK_DEADLINE)).expect_err("xRC4");
    assert!(
        matches!(&err, DeviceError::Protocol(m) if m.contains("cipher suite 4 is not implemented")),
        "{err:?}"
    );
}

#[test]
fn lanplus_power_cycle_turns_off_then_on() {
    let sim = Sim::start(true);
    let mut dev = connect(&config(sim.port, true));
    dev.power_cycle(None).expect("cycle");
    let until = Instant::now() + Duration::from_secs(5);
    while sim.set_actions().len() < 2 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sim.set_actions(), vec!["set power 0", "set power 1"]);
    // The sim logs the action before its power script writes the state: wait for it.
    assert!(sim.wait_power(true, Duration::from_secs(10)));
}

#[test]
fn diag_is_unsupported_by_this_bmc() {
    let sim = Sim::start(true);
    let mut dev = connect(&config(sim.port, true));
    assert_eq!(
        dev.diag(None),
        Err(DeviceError::Unsupported("diagnostic interrupt"))
    );
    assert!(sim.power_file(), "diag must not change power");
}

#[test]
fn list_is_unsupported_for_a_port_less_device() {
    let sim = Sim::start(true);
    let mut dev = connect(&config(sim.port, true));
    assert!(matches!(dev.list_plugs(), Err(DeviceError::Unsupported(_))));
}

#[test]
fn wrong_password_is_login_denied_and_never_echoed() {
    let sim = Sim::start(true);
    let wrong = "Wr0ngPassw0rd!";
    for lanplus in [true, false] {
        let cfg = IpmiConfig {
            password: wrong.into(),
            ..config(sim.port, lanplus)
        };
        // LoginDenied (not TimedOut at OK_DEADLINE) shows the refusal ended the login.
        let err = IpmiDevice::connect(&cfg, Deadline::after(OK_DEADLINE))
            .expect_err("wrong password must fail");
        assert!(
            matches!(err, DeviceError::LoginDenied(_)),
            "lanplus={lanplus}: {err:?}"
        );
        assert!(!err.to_string().contains(wrong), "password leaked: {err}");
        assert!(!format!("{cfg:?}").contains(wrong), "password in Debug");
    }
    assert!(sim.power_file());
    assert!(sim.set_actions().is_empty());
}

#[test]
fn unknown_user_is_login_denied() {
    let sim = Sim::start(true);
    for lanplus in [true, false] {
        let cfg = IpmiConfig {
            username: "nobody".into(),
            ..config(sim.port, lanplus)
        };
        let err = IpmiDevice::connect(&cfg, Deadline::after(OK_DEADLINE)).expect_err("no user");
        assert!(
            matches!(err, DeviceError::LoginDenied(_)),
            "lanplus={lanplus}: {err:?}"
        );
    }
}

#[test]
fn unreachable_bmc_times_out_within_the_deadline() {
    // The error kind is the check (ignoring the deadline would hang this test; the time
    // is in bench/ipmilan.sh). A port nobody listens on (ICMP unreachable is no answer):
    let port = free_udp_port();
    for lanplus in [true, false] {
        let cfg = config(port, lanplus);
        let err = IpmiDevice::connect(&cfg, Deadline::after(Duration::from_secs(2)))
            .expect_err("nobody answers");
        assert!(matches!(err, DeviceError::TimedOut(_)), "{err:?}");
    }
    // A silent BMC counts what it got: retransmitted every 500 ms until the deadline, so
    // more than one send and never more than the 4 that fit in 2 s (a loaded machine may
    // wake late and manage fewer).
    for lanplus in [true, false] {
        let silent = std::net::UdpSocket::bind((LOOPBACK, 0)).expect("bind a silent port");
        let cfg = config(silent.local_addr().expect("addr").port(), lanplus);
        let err = IpmiDevice::connect(&cfg, Deadline::after(Duration::from_secs(2)))
            .expect_err("nobody answers");
        assert!(matches!(err, DeviceError::TimedOut(_)), "{err:?}");
        silent
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut buf = [0u8; 2048];
        let mut sends = 0;
        while silent.recv(&mut buf).is_ok() {
            sends += 1;
        }
        assert!((2..=4).contains(&sends), "lanplus={lanplus}: {sends} sends");
    }
}

#[test]
fn bmc_gone_after_login_times_out_at_the_deadline() {
    let mut sim = Sim::start(true);
    let cfg = config(sim.port, true);
    let mut dev =
        IpmiDevice::connect(&cfg, Deadline::after(Duration::from_secs(3))).expect("connect");
    sim.kill();
    // The error kind is the check (ignoring the deadline would hang this test).
    let err = dev.power_status(None).expect_err("BMC is gone");
    assert!(matches!(err, DeviceError::TimedOut(_)), "{err:?}");
}

#[test]
fn user_level_session_cannot_control_power() {
    let sim = Sim::start(true);
    for lanplus in [true, false] {
        // The fixture's null user (no name, no password) is limited to User privilege.
        let cfg = IpmiConfig {
            username: String::new(),
            password: String::new(),
            privilege: Privilege::User,
            ..config(sim.port, lanplus)
        };
        let mut dev = connect(&cfg);
        assert_eq!(dev.power_status(None), Ok(PowerState::On));
        let err = dev
            .set_power(None, PowerState::Off)
            .expect_err("user level may not power off");
        assert!(
            matches!(err, DeviceError::InsufficientPrivilege(_)),
            "lanplus={lanplus}: {err:?}"
        );
    }
    assert!(sim.power_file());
    assert!(sim.set_actions().is_empty());
}

#[test]
fn privilege_above_the_users_limit_is_refused() {
    let sim = Sim::start(true);
    let cfg = IpmiConfig {
        username: OPERATOR.into(),
        password: OPERATOR_PASS.into(),
        privilege: Privilege::Administrator,
        ..config(sim.port, false)
    };
    let err = IpmiDevice::connect(&cfg, Deadline::after(OK_DEADLINE)).expect_err("over limit");
    assert!(
        matches!(err, DeviceError::InsufficientPrivilege(_)),
        "{err:?}"
    );
}

#[test]
fn operator_privilege_is_enough_to_fence() {
    let sim = Sim::start(true);
    for lanplus in [true, false] {
        let cfg = IpmiConfig {
            username: OPERATOR.into(),
            password: OPERATOR_PASS.into(),
            privilege: Privilege::Operator,
            ..config(sim.port, lanplus)
        };
        let mut dev = connect(&cfg);
        dev.set_power(None, PowerState::Off)
            .expect("operator may power off");
        assert!(sim.wait_power(false, Duration::from_secs(5)));
        dev.set_power(None, PowerState::On)
            .expect("operator may power on");
        assert!(sim.wait_power(true, Duration::from_secs(5)));
    }
}

#[test]
fn sessions_are_closed_so_logins_never_run_out() {
    // The fixture allows 10 sessions per user; 25 logins in a row only work if each
    // device closes its session when dropped.
    let sim = Sim::start(true);
    for i in 0..25 {
        let lanplus = i % 2 == 0;
        let mut dev = connect(&config(sim.port, lanplus));
        assert_eq!(dev.power_status(None), Ok(PowerState::On), "login {i}");
        if i % 3 == 0 {
            dev.close();
        }
    }
}

#[test]
fn kg_two_key_login_needs_the_right_bmc_key() {
    let sim = Sim::start_with_bmc_key("clusterkey");
    let with_kg = IpmiConfig {
        kg: Some(b"clusterkey".to_vec()),
        ..config(sim.port, true)
    };
    let mut dev = connect(&with_kg);
    assert_eq!(dev.power_status(None), Ok(PowerState::On));
    for kg in [None, Some(b"otherkey".to_vec())] {
        let cfg = IpmiConfig {
            kg,
            ..config(sim.port, true)
        };
        let err = IpmiDevice::connect(&cfg, Deadline::after(OK_DEADLINE)).expect_err("bad Kg");
        assert!(matches!(err, DeviceError::LoginDenied(_)), "{err:?}");
        assert!(!err.to_string().contains("clusterkey"));
    }
}
