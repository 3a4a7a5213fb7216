//! Shared harness of palisade's integration tests: finding the agent binaries built by
//! `cargo build --workspace --bins`, running an agent (argv or stdin mode) under a hard
//! time limit, and a simulated IPMI BMC (OpenIPMI `ipmi_sim` through the committed
//! fixture `tests/fixtures/ipmi_sim.sh`) on its own loopback port, stopped by PID on drop.
//! Ports and peer processes of every test peer: `testkit::peers`.
//!
//! Safety: everything here talks to 127.0.0.1 only and only ever signals processes it
//! started itself (the simulator's PID from its own PID file, the agent child).
#![allow(dead_code)]

/// One `#[test]` per option mode for a check taking a [`Mode`] (`#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! both_modes {
    ($name:ident, $check:path) => {
        mod $name {
            use super::*;
            #[test]
            fn argv() {
                $check(Mode::Argv)
            }
            #[test]
            fn stdin() {
                $check(Mode::Stdin)
            }
        }
    };
}

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use testkit::peers::{output_text, read_pid_file, start_on_free_port, stop_pid, PortPool};

/// Loopback address every test peer listens on.
pub const LOOPBACK: &str = "127.0.0.1";
/// Credentials of the simulated BMC's administrator.
pub const BMC_USER: &str = "admin";
pub const BMC_PASS: &str = "secret";
/// ClusterLabs' agent, the behaviour baseline (Debian package `fence-agents`).
pub const CLUSTERLABS_IPMILAN: &str = "/usr/sbin/fence_ipmilan";
/// No agent run in the suite may take longer than this; it is killed after it.
pub const AGENT_HARD_LIMIT: Duration = Duration::from_secs(60);

/// Root of the repository (the `palisade` package).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<profile>/<name>`: the binary of the same profile as this test executable
/// (which lives in `target/<profile>/deps/`).
pub fn built_binary(name: &str) -> PathBuf {
    testkit::bins::built(name)
}

/// Our fence_ipmilan, built next to this test binary. `PALISADE_IPMILAN=<path>` points
/// the suite at another binary (e.g. ClusterLabs' own, to check the harness itself).
pub fn our_ipmilan() -> PathBuf {
    match std::env::var_os("PALISADE_IPMILAN") {
        Some(path) => PathBuf::from(path),
        None => built_binary("fence_ipmilan"),
    }
}

/// ClusterLabs' fence_ipmilan when installed; otherwise an optional comparison skipped
/// (counted, never a failure).
pub fn clusterlabs_ipmilan() -> Option<PathBuf> {
    let path = PathBuf::from(CLUSTERLABS_IPMILAN);
    if path.is_file() {
        Some(path)
    } else {
        testkit::skip::optional(format!(
            "{CLUSTERLABS_IPMILAN} not installed (apt-get install fence-agents): side-by-side \
             comparison not possible"
        ));
        None
    }
}

/// How options reach the agent: the command line, or `name=value` lines on stdin with
/// an empty argv (how pacemaker-fenced calls agents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Argv,
    Stdin,
}

/// One agent option by its metadata name (`power_wait`); `None` value = boolean flag.
#[derive(Debug, Clone)]
pub struct Opt {
    pub name: String,
    pub value: Option<String>,
}

/// A set of options rendered either as `--long-name=value` argv or as stdin lines.
#[derive(Debug, Clone, Default)]
pub struct Options(pub Vec<Opt>);

impl Options {
    pub fn new() -> Self {
        Options(Vec::new())
    }

    /// Add `name=value`.
    pub fn set(mut self, name: &str, value: impl ToString) -> Self {
        self.0.push(Opt {
            name: name.to_string(),
            value: Some(value.to_string()),
        });
        self
    }

    /// Add a boolean flag (`--name` / `name=1`).
    pub fn flag(mut self, name: &str) -> Self {
        self.0.push(Opt {
            name: name.to_string(),
            value: None,
        });
        self
    }

    /// Long options: `--power-wait=0`, `--lanplus`.
    pub fn argv(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|o| {
                let long = o.name.replace('_', "-");
                match &o.value {
                    Some(v) => format!("--{long}={v}"),
                    None => format!("--{long}"),
                }
            })
            .collect()
    }

    /// Stdin lines: `power_wait=0`, `lanplus=1`.
    pub fn stdin(&self) -> String {
        self.0
            .iter()
            .map(|o| match &o.value {
                Some(v) => format!("{}={v}\n", o.name),
                None => format!("{}=1\n", o.name),
            })
            .collect()
    }
}

/// What one agent run produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Outcome {
    /// stdout lines that carry a result (`Status: …`, `Success: …`, `Failed: …`, `N/A`, …).
    pub fn result_lines(&self) -> Vec<String> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// stderr without Python's noise about the deprecated `pipes` module.
    pub fn stderr_clean(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| !l.contains("DeprecationWarning") && !l.contains("from pipes import"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Assert exit code and that the agent never panicked.
    pub fn expect_code(&self, code: i32, what: &str) -> &Self {
        assert!(
            !self.stderr.contains("panicked"),
            "{what}: the agent panicked:\n{self:#?}"
        );
        assert_eq!(self.code, Some(code), "{what}: wrong exit code:\n{self:#?}");
        self
    }

    /// Assert stdout holds exactly this one result line.
    pub fn expect_line(&self, line: &str, what: &str) -> &Self {
        assert_eq!(
            self.result_lines(),
            vec![line.to_string()],
            "{what}: wrong stdout:\n{self:#?}"
        );
        self
    }
}

/// Run an agent with the options in the given mode (plus extra raw argv in argv mode).
pub fn run_agent(agent: &Path, mode: Mode, options: &Options) -> Outcome {
    match mode {
        Mode::Argv => run_raw(agent, &options.argv(), None, &[]),
        Mode::Stdin => run_raw(agent, &[], Some(&options.stdin()), &[]),
    }
}

/// Run a program with raw argv and optional stdin text, killing it after
/// [`AGENT_HARD_LIMIT`]. `env` adds variables; `PCMK_service` is always cleared
/// unless given, so the agents keep their own timeouts.
pub fn run_raw(
    program: &Path,
    args: &[String],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Outcome {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_remove("PCMK_service")
        .env("LANG", "C")
        .env("LC_ALL", "C")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin was piped");
        // An agent may exit before reading everything (e.g. on a parse error).
        let _ = pipe.write_all(text.as_bytes());
    }
    // Read both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout was piped");
    let mut err = child.stderr.take().expect("stderr was piped");
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut out, &mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for agent") {
            break status;
        }
        if started.elapsed() > AGENT_HARD_LIMIT {
            let _ = child.kill();
            let status = child.wait().expect("reap killed agent");
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    Outcome {
        code: status.code(),
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
        elapsed,
    }
}

/// UDP ports of this test process: 16400.. shifted by the process id.
static UDP_PORTS: PortPool = PortPool::new(16400, 64, 16, 30000);

/// A loopback UDP port nobody is bound to right now, distinct for every call in this
/// process (each test gets its own).
pub fn free_udp_port() -> u16 {
    UDP_PORTS.udp()
}

/// A simulated BMC (`ipmi_sim`) on 127.0.0.1:<own port>, power state in a file.
pub struct Bmc {
    pub port: u16,
    pub dir: PathBuf,
    pid: i32,
}

impl Bmc {
    /// Start a simulator with the given initial power state (true = on).
    pub fn start(power_on: bool) -> Bmc {
        let started = start_on_free_port("palisade-test-ipmisim", free_udp_port, |port, dir| {
            let out = fixture(dir, port, power_on, &["start"]);
            if !out.status.success() {
                return Err(output_text(&out));
            }
            Ok(read_pid_file(&dir.join("ipmi_sim.pid"))
                .expect("ipmi_sim.pid after a successful start"))
        })
        .unwrap_or_else(|e| panic!("could not start ipmi_sim (is openipmi installed?):\n{e}"));
        Bmc {
            port: started.port,
            dir: started.dir,
            pid: started.pid,
        }
    }

    /// Power state as the simulator's backend file says (true = on).
    pub fn power_file(&self) -> bool {
        let text = std::fs::read_to_string(self.dir.join("power")).expect("read power file");
        text.trim() == "1"
    }

    /// Force the simulated power state without IPMI.
    pub fn set_power(&self, on: bool) {
        std::fs::write(self.dir.join("power"), if on { "1\n" } else { "0\n" })
            .expect("write power file");
    }

    /// The BMC's own log of chassis requests (`<time> 0x20 get power`, `… set power 0`).
    pub fn actions(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("actions.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// Only the `set …` requests (power commands the BMC executed).
    pub fn set_actions(&self) -> Vec<String> {
        self.actions()
            .into_iter()
            .filter(|a| a.contains(" set "))
            .collect()
    }

    /// Forget the requests so far.
    pub fn clear_actions(&self) {
        let _ = std::fs::write(self.dir.join("actions.log"), "");
    }

    /// Independent view of the power state: `ipmitool -I lanplus -C 3 chassis power status`.
    pub fn ipmitool_power(&self) -> bool {
        let out = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", LOOPBACK, "-p"])
            .arg(self.port.to_string())
            .args(["-U", BMC_USER, "-P", BMC_PASS, "-N", "1", "-R", "2"])
            .args(["chassis", "power", "status"])
            .output()
            .expect("run ipmitool");
        let text = String::from_utf8_lossy(&out.stdout);
        match text.trim() {
            "Chassis Power is on" => true,
            "Chassis Power is off" => false,
            other => panic!(
                "ipmitool could not read power: {other:?} {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }

    /// Wait up to `limit` for the power file to show `on`; true when it did.
    pub fn wait_power(&self, on: bool, limit: Duration) -> bool {
        let until = Instant::now() + limit;
        loop {
            if self.power_file() == on {
                return true;
            }
            if Instant::now() > until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Options addressing this BMC the way the ClusterLabs docs do (lanplus, cipher 3).
    pub fn options(&self, action: &str) -> Options {
        Options::new()
            .set("action", action)
            .set("ip", LOOPBACK)
            .set("ipport", self.port)
            .set("username", BMC_USER)
            .set("password", BMC_PASS)
            .flag("lanplus")
            .set("cipher", 3)
    }

    /// Short-option argv as an administrator would type it for ClusterLabs' agent.
    pub fn short_argv(&self, action: &str, password: &str) -> Vec<String> {
        [
            "-a",
            LOOPBACK,
            "-u",
            &self.port.to_string(),
            "-l",
            BMC_USER,
            "-p",
            password,
            "-P",
            "-C",
            "3",
            "-o",
            action,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

impl Drop for Bmc {
    fn drop(&mut self) {
        // Our own child only: the PID we read from the fixture's PID file at start.
        stop_pid(self.pid);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Run `tests/fixtures/ipmi_sim.sh` for a given port and state dir.
fn fixture(dir: &Path, port: u16, power_on: bool, args: &[&str]) -> std::process::Output {
    Command::new("bash")
        .arg(repo_root().join("tests/fixtures/ipmi_sim.sh"))
        .args(args)
        .env("IPMISIM_ADDR", LOOPBACK)
        .env("IPMISIM_PORT", port.to_string())
        .env("IPMISIM_USER", BMC_USER)
        .env("IPMISIM_PASS", BMC_PASS)
        .env("IPMISIM_POWER", if power_on { "1" } else { "0" })
        .env("IPMISIM_DIR", dir)
        .stdin(Stdio::null())
        .output()
        .expect("run tests/fixtures/ipmi_sim.sh")
}
