//! The peer of the CLI agent tests: a stand-in device command line
//! (tests/fixtures/cli_device.py: APC, WTI, DRAC 5, CMC, CyberPower, IBM RSA II, IBM
//! BladeCenter, HP c7000) behind a real
//! OpenSSH sshd (tests/fixtures/sshd.sh, mode cli) or a real GNU inetutils telnetd
//! (tests/fixtures/telnetd.sh), outlet states in files. One peer per test, stopped by
//! its PID on drop.
//!
//! Safety: talks to 127.0.0.1 only; signals only the daemon whose PID its own fixture
//! wrote. Needs root (the sshd fixture creates a local test user; telnetd runs as root).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::common::{
    output_text, read_pid_file, repo_root, start_on_free_port, stop_pid, Options, PortPool,
    LOOPBACK,
};

/// The device's own account (telnet: the stand-in asks for it itself).
pub const DEVICE_USER: &str = "admin";
pub const DEVICE_PASS: &str = "secret";
/// The sshd fixture's local account and password.
pub const SSH_USER: &str = "palisade-test";
pub const SSH_PASS: &str = "palisade-test-pw";
/// Host keys not checked, nothing written to root's known_hosts.
pub const NO_HOST_CHECK: &str = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null";

/// Which stand-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    Apc,
    Wti,
    Drac5,
    Cmc,
    CyberPower,
    Rsa,
    BladeCenter,
    HpBlade,
}

impl Device {
    pub fn word(self) -> &'static str {
        match self {
            Device::Apc => "apc",
            Device::Wti => "wti",
            Device::Drac5 => "drac5",
            Device::Cmc => "cmc",
            Device::CyberPower => "cyberpower",
            Device::Rsa => "rsa",
            Device::BladeCenter => "bladecenter",
            Device::HpBlade => "hpblade",
        }
    }

    /// The agent that drives it.
    pub fn agent(self) -> &'static str {
        match self {
            Device::Apc => "fence_apc",
            Device::Wti => "fence_wti",
            Device::Drac5 | Device::Cmc => "fence_drac5",
            Device::CyberPower => "fence_cyberpower_ssh",
            Device::Rsa => "fence_rsa",
            Device::BladeCenter => "fence_bladecenter",
            Device::HpBlade => "fence_hpblade",
        }
    }

    /// The outlets the stand-in starts with.
    pub fn outlets(self) -> Vec<&'static str> {
        match self {
            Device::Drac5 | Device::Rsa => vec!["1"],
            Device::Cmc => vec!["server-1", "server-2", "server-3", "server-4"],
            _ => vec!["1", "2", "3", "4"],
        }
    }

    /// A command line that changes power.
    pub fn is_change(self, line: &str) -> bool {
        let l = line.to_ascii_lowercase();
        l.starts_with("olon")
            || l.starts_with("oloff")
            || l.starts_with("/on")
            || l.starts_with("/off")
            || l.starts_with("racadm serveraction power")
                && !l.starts_with("racadm serveraction powerstatus")
            || l.starts_with("oltctrl")
            || l == "power on"
            || l == "power off"
            || l == "power -on"
            || l == "power -off"
            || l.starts_with("poweron ")
            || l.starts_with("poweroff ")
    }
}

/// How the agent reaches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Ssh,
    Telnet,
}

/// TCP ports of this test process: 21600.. shifted by the process id.
static TCP_PORTS: PortPool = PortPool::new(21600, 50, 20, 29000);

/// A running stand-in device.
pub struct CliPeer {
    pub device: Device,
    pub transport: Transport,
    pub port: u16,
    pub dir: PathBuf,
    pid: i32,
}

impl CliPeer {
    /// Start the stand-in; `None` when it cannot run here and the skip policy allows a
    /// skip (`testkit::skip::required`: a failure as root or in CI).
    pub fn start(device: Device, transport: Transport) -> Option<CliPeer> {
        let (prefix, script) = match transport {
            Transport::Ssh => ("palisade-cli-sshd", "tests/fixtures/sshd.sh"),
            Transport::Telnet => ("palisade-cli-telnetd", "tests/fixtures/telnetd.sh"),
        };
        let started = start_on_free_port(
            prefix,
            || TCP_PORTS.tcp(),
            |port, dir| {
                let mut cmd = Command::new("bash");
                cmd.arg(repo_root().join(script))
                    .arg("start")
                    .stdin(Stdio::null());
                match transport {
                    Transport::Ssh => cmd
                        .env("SSHD_ADDR", LOOPBACK)
                        .env("SSHD_PORT", port.to_string())
                        .env("SSHD_DIR", dir)
                        .env("SSHD_MODE", "cli")
                        .env("SSHD_CLI_DEVICE", device.word())
                        .env("SSHD_USER", SSH_USER)
                        .env("SSHD_PASS", SSH_PASS),
                    Transport::Telnet => cmd
                        .env("TELNETD_ADDR", LOOPBACK)
                        .env("TELNETD_PORT", port.to_string())
                        .env("TELNETD_DIR", dir)
                        .env("CLI_DEVICE", device.word())
                        .env("CLI_USER", DEVICE_USER)
                        .env("CLI_PASS", DEVICE_PASS),
                };
                let out = cmd.output().expect("run the peer fixture");
                if !out.status.success() {
                    return Err(output_text(&out));
                }
                let pid_file = match transport {
                    Transport::Ssh => dir.join("sshd.pid"),
                    Transport::Telnet => dir.join("listener.pid"),
                };
                Ok(read_pid_file(&pid_file).expect("PID file after a successful start"))
            },
        )
        .map_err(|e| {
            testkit::skip::required(format!(
                "could not start the {transport:?} stand-in {device:?} (root, openssh-server, \
                 inetutils-telnetd and systemd-socket-activate needed):\n{e}"
            ))
        })
        .ok()?;
        Some(CliPeer {
            device,
            transport,
            port: started.port,
            dir: started.dir,
            pid: started.pid,
        })
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.join("cli")
    }

    /// Connection options for `action` (login, transport, and for SSH unchecked host keys).
    pub fn options(&self, action: &str) -> Options {
        let o = Options::new()
            .set("action", action)
            .set("ip", LOOPBACK)
            .set("ipport", self.port);
        match self.transport {
            Transport::Ssh => o
                .flag("ssh")
                .set("username", SSH_USER)
                .set("password", SSH_PASS)
                .set("ssh_options", NO_HOST_CHECK),
            Transport::Telnet => match self.device {
                // The WTI stand-in asks for a password only.
                Device::Wti => o.set("password", DEVICE_PASS),
                _ => o.set("username", DEVICE_USER).set("password", DEVICE_PASS),
            },
        }
    }

    pub fn outlet(&self, id: &str) -> String {
        std::fs::read_to_string(self.state_dir().join("outlets").join(id))
            .expect("read outlet state")
            .trim()
            .to_string()
    }

    pub fn set_outlet(&self, id: &str, on: bool) {
        std::fs::write(
            self.state_dir().join("outlets").join(id),
            if on { "on\n" } else { "off\n" },
        )
        .expect("write outlet state");
    }

    /// Every outlet on.
    pub fn all_on(&self) {
        for o in self.device.outlets() {
            self.set_outlet(o, true);
        }
    }

    /// `id=state` of every outlet.
    pub fn states(&self) -> String {
        self.device
            .outlets()
            .iter()
            .map(|o| format!("{o}={}", self.outlet(o)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Command lines the device received (logins included).
    pub fn commands(&self) -> Vec<String> {
        std::fs::read_to_string(self.state_dir().join("commands.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The command lines that change power.
    pub fn changes(&self) -> Vec<String> {
        self.commands()
            .into_iter()
            .filter(|l| self.device.is_change(l))
            .collect()
    }

    pub fn clear_log(&self) {
        let _ = std::fs::write(self.state_dir().join("commands.log"), "");
    }

    /// After each power change the next status read fails once: `Some("error")` (an
    /// error answer with a prompt) or `Some("truncated")` (part of the answer and a cut
    /// prompt); `None` = a device that always answers.
    pub fn set_flaky(&self, mode: Option<&str>) {
        let path = self.state_dir().join("flaky");
        match mode {
            Some(m) => std::fs::write(&path, m).expect("write flaky"),
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

impl Drop for CliPeer {
    fn drop(&mut self) {
        // The daemon this peer started (its PID from the fixture's own PID file).
        stop_pid(self.pid);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
