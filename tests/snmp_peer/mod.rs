//! The SNMP peer of the SNMP agent tests: Debian's net-snmp `snmpd` on its own loopback
//! port with the stateful pass_persist backend of `tests/fixtures/snmp_pdu.sh` (an APC PDU,
//! an IF-MIB switch, and the same outlets through the Eaton, IBM, Emerson, Intel and Lindy
//! MIBs), plus the helpers that run our agents and ClusterLabs' side by side.
//!
//! Safety: 127.0.0.1 only; each peer is stopped by the PID its own fixture printed.
#![allow(dead_code)]

use crate::common::{
    self, built_binary, output_text, run_agent, start_on_free_port, stop_pid, Mode, Options,
    Outcome, PortPool, LOOPBACK,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// UDP ports of this test process: 18600.. shifted by the process id.
static UDP_PORTS: PortPool = PortPool::new(18600, 50, 20, 30000);

/// A loopback UDP port in 18600.. that nobody holds, distinct within this process.
pub fn free_port() -> u16 {
    UDP_PORTS.udp()
}

/// One snmpd from tests/fixtures/snmp_pdu.sh, stopped by its PID on drop.
pub struct Peer {
    pub port: u16,
    pub dir: PathBuf,
    pid: i32,
}

impl Peer {
    pub fn start() -> Peer {
        Peer::start_as(None)
    }

    /// Start with another sysObjectID (picks another APC model in fence_apc_snmp).
    pub fn start_as(sysobjectid: Option<&str>) -> Peer {
        Peer::start_with(sysobjectid, &[])
    }

    /// A Cisco MDS Fibre Channel switch: ports named `fc1/N` (SW_KIND=fc).
    pub fn start_fc_switch() -> Peer {
        Peer::start_with(Some(".1.3.6.1.4.1.9.12.3.1.3.719"), &[("SW_KIND", "fc")])
    }

    /// Start with another sysObjectID and more fixture environment.
    pub fn start_with(sysobjectid: Option<&str>, env: &[(&str, &str)]) -> Peer {
        let started = start_on_free_port("palisade-test-snmpd", free_port, |port, dir| {
            let out = fixture(dir, port, sysobjectid, env, "start");
            let pid = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .find_map(|w| w.strip_prefix("PID="))
                .and_then(|p| p.parse::<i32>().ok());
            match (out.status.success(), pid) {
                (true, Some(pid)) => Ok(pid),
                _ => Err(output_text(&out)),
            }
        })
        .unwrap_or_else(|e| panic!("could not start snmpd (apt-get install snmpd snmp):\n{e}"));
        Peer {
            port: started.port,
            dir: started.dir,
            pid: started.pid,
        }
    }

    /// 1 = on/up, 2 = off/down, from the backend's state file (no SNMP involved).
    pub fn state(&self, kind: &str, n: u32) -> u32 {
        let text = std::fs::read_to_string(self.dir.join("state")).unwrap_or_default();
        text.lines()
            .find_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w.len() == 3 && w[0] == kind && w[1] == n.to_string())
                    .then(|| w[2].parse().unwrap())
            })
            .unwrap_or(1)
    }

    pub fn outlet_on(&self, n: u32) -> bool {
        self.state("outlet", n) == 1
    }

    pub fn port_up(&self, n: u32) -> bool {
        self.state("port", n) == 1
    }

    /// Put every outlet on and every port up again.
    pub fn reset(&self) {
        let _ = std::fs::remove_file(self.dir.join("state"));
        let _ = std::fs::write(self.dir.join("sets.log"), "");
    }

    /// Switch outlet `n` off behind the agents' back.
    pub fn force_outlet_off(&self, n: u32) {
        let mut lines: Vec<String> = (1..=8)
            .map(|i| {
                format!(
                    "outlet {i} {}",
                    if i == n { 2 } else { self.state("outlet", i) }
                )
            })
            .collect();
        lines.extend((1..=8).map(|i| format!("port {i} {}", self.state("port", i))));
        std::fs::write(self.dir.join("state"), lines.join("\n") + "\n").unwrap();
    }

    /// From now on the first GET of an outlet's/port's state after each SET of it fails
    /// (the backend answers NONE: snmpd says noSuchInstance).
    pub fn make_flaky(&self) {
        std::fs::write(self.dir.join("state.flaky"), "").unwrap();
    }

    /// The failed reads the flaky backend served: `outlet 3`.
    pub fn flaky_reads(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("sets.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("FLAKY"))
            .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// SETs the device executed: `outlet 3 2 <oid>`.
    pub fn sets(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("sets.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("SET"))
            .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
            .collect()
    }

    pub fn base(&self) -> Options {
        Options::new().set("ip", LOOPBACK).set("ipport", self.port)
    }

    /// fence_apc_snmp's defaults: SNMP v1, community private.
    pub fn v1(&self) -> Options {
        self.base()
    }

    pub fn v2c(&self, community: &str) -> Options {
        self.base()
            .set("snmp_version", "2c")
            .set("community", community)
    }

    pub fn v3_sha_aes(&self, password: &str, priv_password: &str) -> Options {
        self.base()
            .set("snmp_version", "3")
            .set("username", "fenceuser")
            .set("password", password)
            .set("snmp_auth_prot", "SHA")
            .set("snmp_sec_level", "authPriv")
            .set("snmp_priv_prot", "AES")
            .set("snmp_priv_passwd", priv_password)
    }

    /// Independent reading through net-snmp's snmpget.
    pub fn snmpget(&self, oid: &str) -> String {
        let out = Command::new("snmpget")
            .args(["-m", "", "-On", "-Oqv", "-v2c", "-c", "public"])
            .arg(format!("{LOOPBACK}:{}", self.port))
            .arg(oid)
            .output()
            .expect("run snmpget");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Our own snmpd only: the PID the fixture printed when it started it.
        stop_pid(self.pid);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn fixture(
    dir: &Path,
    port: u16,
    sysobjectid: Option<&str>,
    env: &[(&str, &str)],
    cmd: &str,
) -> std::process::Output {
    let mut c = Command::new("bash");
    c.arg(common::repo_root().join("tests/fixtures/snmp_pdu.sh"))
        .arg(cmd)
        .env("SNMP_PORT", port.to_string())
        .env("SNMP_DIR", dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    if let Some(id) = sysobjectid {
        c.env("SNMP_SYSOBJECTID", id);
    }
    c.output().expect("run tests/fixtures/snmp_pdu.sh")
}

pub fn apc() -> PathBuf {
    built_binary("fence_apc_snmp")
}

pub fn ifmib() -> PathBuf {
    built_binary("fence_ifmib")
}

pub fn clusterlabs(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.is_file() {
        Some(p)
    } else {
        testkit::skip::optional(format!(
            "{path} not installed (apt-get install fence-agents): comparison not possible"
        ));
        None
    }
}

pub fn run(agent: &Path, mode: Mode, options: Options, action: &str) -> Outcome {
    run_agent(agent, mode, &options.set("action", action))
}

pub const MODES: [Mode; 2] = [Mode::Argv, Mode::Stdin];

/// Run ClusterLabs' agent and ours from the same device state; same exit code and stdout.
pub fn same_as_clusterlabs(peer: &Peer, ours: &Path, theirs: &Path, opts: Options, action: &str) {
    let what = format!("{} {action} {:?}", ours.display(), opts.argv());
    peer.reset();
    let t = run(theirs, Mode::Argv, opts.clone(), action);
    peer.reset();
    let o = run(ours, Mode::Argv, opts, action);
    assert!(!o.stderr.contains("panicked"), "{what}: {o:#?}");
    assert_eq!(
        o.code, t.code,
        "{what}: exit codes differ\nours {o:#?}\ntheirs {t:#?}"
    );
    assert_eq!(
        o.result_lines(),
        t.result_lines(),
        "{what}: stdout differs\nours {o:#?}\ntheirs {t:#?}"
    );
}
