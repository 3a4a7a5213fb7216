//! The SSH peer of the SSH agent tests: an OpenSSH `sshd` on its own loopback port
//! (tests/fixtures/sshd.sh) whose remote side is a stand-in device — a fake `virsh`
//! keeping domain states in files, or a fake iLO command line keeping power in a file.
//! One peer per test, stopped by its PID on drop.
//!
//! Safety: talks to 127.0.0.1 only; signals only the sshd whose PID its own fixture
//! wrote. Needs root (the fixture creates the local test user `palisade-test`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::{
    output_text, read_pid_file, repo_root, start_on_free_port, stop_pid, Options, PortPool,
    LOOPBACK,
};

/// The local account the fixture creates, and its password.
pub const USER: &str = "palisade-test";
pub const PASS: &str = "palisade-test-pw";
/// Passphrase of the fixture's RSA client key.
pub const KEY_PASS: &str = "palisade-key-pw";
/// ClusterLabs' fence_virsh default `--ssh-options` (remote bash with a known prompt).
pub const VIRSH_REMOTE_SHELL: &str =
    r#"-t '/bin/bash -c "PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc"'"#;
/// Host keys not checked, nothing written to root's known_hosts.
pub const NO_HOST_CHECK: &str = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null";

/// What sits behind the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// A shell with the fake `virsh` on PATH.
    Virsh,
    /// The fake iLO CLI as ForceCommand.
    Ilo,
}

/// How the server takes passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordMethod {
    Password,
    KeyboardInteractive,
}

/// TCP ports of this test process: 19600.. shifted by the process id.
static TCP_PORTS: PortPool = PortPool::new(19600, 50, 20, 29000);

/// A free loopback TCP port, distinct for each call in this process.
pub fn free_tcp_port() -> u16 {
    TCP_PORTS.tcp()
}

/// A running test sshd.
pub struct Sshd {
    pub port: u16,
    pub dir: PathBuf,
    pub device: Device,
    pid: i32,
}

impl Sshd {
    pub fn start(device: Device) -> Sshd {
        Sshd::start_with(device, PasswordMethod::Password)
    }

    pub fn start_with(device: Device, method: PasswordMethod) -> Sshd {
        let started = start_on_free_port("palisade-test-sshd", free_tcp_port, |port, dir| {
            let out = Command::new("bash")
                .arg(repo_root().join("tests/fixtures/sshd.sh"))
                .arg("start")
                .env("SSHD_ADDR", LOOPBACK)
                .env("SSHD_PORT", port.to_string())
                .env("SSHD_DIR", dir)
                .env(
                    "SSHD_MODE",
                    match device {
                        Device::Virsh => "virsh",
                        Device::Ilo => "ilo",
                    },
                )
                .env(
                    "SSHD_AUTH",
                    match method {
                        PasswordMethod::Password => "password",
                        PasswordMethod::KeyboardInteractive => "kbdint",
                    },
                )
                .env("SSHD_USER", USER)
                .env("SSHD_PASS", PASS)
                .env("SSHD_KEY_PASS", KEY_PASS)
                .stdin(Stdio::null())
                .output()
                .expect("run tests/fixtures/sshd.sh");
            if !out.status.success() {
                return Err(output_text(&out));
            }
            Ok(read_pid_file(&dir.join("sshd.pid")).expect("sshd.pid after a successful start"))
        })
        .unwrap_or_else(|e| {
            panic!("could not start the test sshd (root and openssh-server needed):\n{e}")
        });
        Sshd {
            port: started.port,
            dir: started.dir,
            device,
            pid: started.pid,
        }
    }

    /// Connection options with password login and the given `--ssh-options`.
    pub fn options(&self, action: &str, ssh_options: &str) -> Options {
        let o = Options::new()
            .set("action", action)
            .set("ip", LOOPBACK)
            .set("ipport", self.port)
            .set("username", USER)
            .set("ssh_options", ssh_options);
        match self.device {
            Device::Virsh => o,
            Device::Ilo => o.flag("ssh"),
        }
    }

    /// Password login, host keys unchecked (ClusterLabs' remote shell for virsh).
    pub fn password_options(&self, action: &str) -> Options {
        self.options(action, &self.unchecked())
            .set("password", PASS)
    }

    /// `--ssh-options` that skip host key checks (plus the virsh remote shell).
    pub fn unchecked(&self) -> String {
        match self.device {
            Device::Virsh => format!("{NO_HOST_CHECK} {VIRSH_REMOTE_SHELL}"),
            Device::Ilo => NO_HOST_CHECK.to_string(),
        }
    }

    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The `ssh-ed25519 AAAA…` text of one of the server's host keys.
    pub fn host_key(&self, kind: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("host_{kind}.pub"))).expect("host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `[127.0.0.1]:port`, as known_hosts files name this server.
    pub fn host_token(&self) -> String {
        format!("[{LOOPBACK}]:{}", self.port)
    }

    /// A domain's state file (`running`, `shut off`, `hang`...).
    pub fn set_vm(&self, name: &str, state: &str) {
        std::fs::write(self.dir.join("vms").join(name), format!("{state}\n"))
            .expect("write domain state");
    }

    pub fn vm(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join("vms").join(name))
            .expect("read domain state")
            .trim()
            .to_string()
    }

    pub fn remove_vm(&self, name: &str) {
        let _ = std::fs::remove_file(self.dir.join("vms").join(name));
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every `virsh …` the remote side ran, in order.
    pub fn virsh_log(&self) -> Vec<String> {
        Sshd::lines(&self.dir.join("virsh.log"))
    }

    /// Only the commands that change something (start, destroy).
    pub fn virsh_changes(&self) -> Vec<String> {
        self.virsh_log()
            .into_iter()
            .filter(|l| l.starts_with("virsh start") || l.starts_with("virsh destroy"))
            .collect()
    }

    pub fn sudo_log(&self) -> Vec<String> {
        Sshd::lines(&self.dir.join("sudo.log"))
    }

    pub fn ilo_power(&self) -> String {
        std::fs::read_to_string(self.dir.join("ilo/power"))
            .expect("read iLO power")
            .trim()
            .to_string()
    }

    pub fn set_ilo_power(&self, on: bool) {
        std::fs::write(
            self.dir.join("ilo/power"),
            if on { "on\n" } else { "off\n" },
        )
        .expect("write iLO power");
    }

    /// Command lines the fake iLO received.
    pub fn ilo_commands(&self) -> Vec<String> {
        Sshd::lines(&self.dir.join("ilo/commands.log"))
    }

    /// The iLO commands that change power.
    pub fn ilo_changes(&self) -> Vec<String> {
        self.ilo_commands()
            .into_iter()
            .filter(|l| !l.starts_with("show") && l != "SMCLP" && !l.is_empty())
            .collect()
    }

    pub fn clear_logs(&self) {
        for f in ["virsh.log", "sudo.log", "ilo/commands.log"] {
            let _ = std::fs::write(self.dir.join(f), "");
        }
    }

    /// A known_hosts file under this server's directory with the given lines.
    pub fn known_hosts(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.join(name);
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        std::fs::write(&path, text).expect("write known_hosts");
        path
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // The sshd this peer started (its PID from the fixture's own PID file).
        stop_pid(self.pid);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
