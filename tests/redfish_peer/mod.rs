//! A Redfish BMC for the tests: sushy-tools' emulator (fake driver) through the committed
//! fixture `tests/fixtures/sushy.sh`, one per test on its own loopback TCP port, HTTPS with
//! a throw-away CA (or plain HTTP), basic auth. Stopped by its PID when dropped.
//!
//! Safety: listens on 127.0.0.1 only; only the emulator's own PID (from the fixture's PID
//! file) is ever signalled.

#![allow(dead_code)] // each test binary uses part of the peer

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{
    output_text, read_pid_file, repo_root, start_on_free_port, stop_pid, Options, PortPool,
    BMC_PASS, BMC_USER, LOOPBACK,
};

/// How the emulated BMC starts.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Number of systems (uuid ...0001 = node1, ...).
    pub systems: u32,
    /// Initial power of every system.
    pub power_on: bool,
    /// Seconds until a power change shows.
    pub delay: u32,
    /// HTTPS (true) or plain HTTP.
    pub tls: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            systems: 1,
            power_on: true,
            delay: 0,
            tls: true,
        }
    }
}

impl Setup {
    pub fn off() -> Setup {
        Setup {
            power_on: false,
            ..Setup::default()
        }
    }

    pub fn systems(self, n: u32) -> Setup {
        Setup { systems: n, ..self }
    }

    pub fn delay(self, s: u32) -> Setup {
        Setup { delay: s, ..self }
    }

    pub fn plain_http(self) -> Setup {
        Setup { tls: false, ..self }
    }
}

/// TCP ports of this test process: 18500.. shifted by the process id.
static TCP_PORTS: PortPool = PortPool::new(18500, 64, 32, 32000);

/// A loopback TCP port nobody listens on now, distinct for every call in this process.
pub fn free_tcp_port() -> u16 {
    TCP_PORTS.tcp()
}

/// The uuid of system `n` (as the fixture names them).
pub fn uuid(n: u32) -> String {
    format!("00000000-0000-0000-0000-{n:012}")
}

/// `/redfish/v1/Systems/<uuid of n>`.
pub fn system_uri(n: u32) -> String {
    format!("/redfish/v1/Systems/{}", uuid(n))
}

/// One running emulator.
pub struct Sushy {
    pub port: u16,
    pub dir: PathBuf,
    pub setup: Setup,
    pid: i32,
}

impl Sushy {
    /// Start an emulator (a few ports are tried if one is taken meanwhile).
    pub fn start(setup: Setup) -> Sushy {
        let started = start_on_free_port("palisade-test-sushy", free_tcp_port, |port, dir| {
            let out = fixture(dir, &setup, &["start", &port.to_string()]);
            if !out.status.success() {
                return Err(output_text(&out));
            }
            Ok(read_pid_file(&dir.join("pid")).expect("sushy pid file after a successful start"))
        })
        .unwrap_or_else(|e| {
            panic!("could not start sushy-emulator (pip install sushy-tools):\n{e}")
        });
        Sushy {
            port: started.port,
            dir: started.dir,
            setup,
            pid: started.pid,
        }
    }

    /// The CA certificate that signed the emulator's server certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// PowerState of system `n` as curl reads it.
    pub fn power(&self, n: u32) -> String {
        let out = fixture(&self.dir, &self.setup, &["power", &n.to_string()]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Wait up to `limit` for system `n` to show `state`; true when it did.
    pub fn wait_power(&self, n: u32, state: &str, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        loop {
            if self.power(n) == state {
                return true;
            }
            if std::time::Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The ResetTypes system `n` was sent, in order.
    pub fn resets(&self, n: u32) -> Vec<String> {
        let id = uuid(n);
        std::fs::read_to_string(self.dir.join("actions.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(system, _)| *system == id)
            .map(|(_, t)| t.to_string())
            .collect()
    }

    /// Every reset request, any system.
    pub fn all_resets(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("actions.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The emulator's request log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("emulator.log")).unwrap_or_default()
    }

    /// `127.0.0.1` (HTTPS) or `http://127.0.0.1` (plain HTTP).
    pub fn ip(&self) -> String {
        if self.setup.tls {
            LOOPBACK.to_string()
        } else {
            format!("http://{LOOPBACK}")
        }
    }

    /// Options reaching system 1 without certificate checks, the usual lab setup.
    pub fn options(&self, action: &str) -> Options {
        self.options_for(action, 1)
    }

    /// Options reaching system `n` by its URI.
    pub fn options_for(&self, action: &str, n: u32) -> Options {
        self.base_options(action)
            .set("systems_uri", system_uri(n))
            .flag("ssl_insecure")
    }

    /// Address and credentials only (no systems_uri, no TLS choice).
    pub fn base_options(&self, action: &str) -> Options {
        Options::new()
            .set("action", action)
            .set("ip", self.ip())
            .set("ipport", self.port)
            .set("username", BMC_USER)
            .set("password", BMC_PASS)
    }
}

impl Drop for Sushy {
    fn drop(&mut self) {
        // Our own child only: the PID the fixture recorded when it started it.
        stop_pid(self.pid);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run `tests/fixtures/sushy.sh` for a state dir and setup.
fn fixture(dir: &std::path::Path, setup: &Setup, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(repo_root().join("tests/fixtures/sushy.sh"))
        .args(args)
        .env("SUSHY_DIR", dir)
        .env("SUSHY_USER", BMC_USER)
        .env("SUSHY_PASS", BMC_PASS)
        .env("SUSHY_SYSTEMS", setup.systems.to_string())
        .env("SUSHY_POWER", if setup.power_on { "On" } else { "Off" })
        .env("SUSHY_DELAY", setup.delay.to_string())
        .env("SUSHY_TLS", if setup.tls { "1" } else { "0" })
        .stdin(Stdio::null())
        .output()
        .expect("run tests/fixtures/sushy.sh")
}
