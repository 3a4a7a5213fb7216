//! Running this crate's agent binaries (built by cargo for these tests) the two ways
//! pacemaker and admins do: argv, or `name=value` lines on stdin with an empty argv.
//! Every run is stopped (its own child, by handle) after [`HARD_LIMIT`] so a regression
//! cannot hang the suite; no assertion depends on time.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// No agent run takes longer; it is killed after it.
pub const HARD_LIMIT: Duration = Duration::from_secs(60);

/// Every agent binary of the crate.
pub const AGENTS: &[&str] = &[
    "fence_apc_snmp",
    "fence_dummy",
    "fence_heuristics_ping",
    "fence_ifmib",
    "fence_ilo_ssh",
    "fence_ipmilan",
    "fence_redfish",
    "fence_sbd",
    "fence_virsh",
];

/// The binary cargo built for this test run.
pub fn binary(name: &str) -> PathBuf {
    PathBuf::from(match name {
        "fence_apc_snmp" => env!("CARGO_BIN_EXE_fence_apc_snmp"),
        "fence_dummy" => env!("CARGO_BIN_EXE_fence_dummy"),
        "fence_heuristics_ping" => env!("CARGO_BIN_EXE_fence_heuristics_ping"),
        "fence_ifmib" => env!("CARGO_BIN_EXE_fence_ifmib"),
        "fence_ilo_ssh" => env!("CARGO_BIN_EXE_fence_ilo_ssh"),
        "fence_ipmilan" => env!("CARGO_BIN_EXE_fence_ipmilan"),
        "fence_kdump" => env!("CARGO_BIN_EXE_fence_kdump"),
        "fence_redfish" => env!("CARGO_BIN_EXE_fence_redfish"),
        "fence_sbd" => env!("CARGO_BIN_EXE_fence_sbd"),
        "fence_virsh" => env!("CARGO_BIN_EXE_fence_virsh"),
        other => panic!("no agent binary {other}"),
    })
}

/// What one run left behind.
#[derive(Debug)]
pub struct Ran {
    /// Exit status; `None` when killed by a signal (an abort is SIGABRT).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The messages of the `LEVEL:` records on stderr (`2024-.. ERROR: msg` → `msg`).
    pub fn records(&self, level: &str) -> Vec<String> {
        let tag = format!(" {level}: ");
        self.stderr
            .lines()
            .filter_map(|l| l.split_once(&tag).map(|(_, m)| m.to_string()))
            .collect()
    }
}

/// Run `agent` with `args` (stdin empty), or with `stdin` as its options when given
/// (then `args` should be empty, as pacemaker calls agents).
pub fn run_agent<S: AsRef<OsStr>>(agent: &str, args: &[S], stdin: Option<&str>) -> Ran {
    run_agent_with(agent, args, stdin, |_| {})
}

/// As [`run_agent`], with the command adjusted first (environment, pre_exec...).
pub fn run_agent_with<S: AsRef<OsStr>>(
    agent: &str,
    args: &[S],
    stdin: Option<&str>,
    adjust: impl FnOnce(&mut Command),
) -> Ran {
    let mut cmd = Command::new(binary(agent));
    cmd.args(args)
        .env_remove("PCMK_service")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    adjust(&mut cmd);
    let mut child = cmd.spawn().expect("start the agent");
    let mut input = child.stdin.take().expect("stdin pipe");
    let mut out = child.stdout.take().expect("stdout pipe");
    let mut err = child.stderr.take().expect("stderr pipe");
    let text = stdin.unwrap_or("").to_string();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the agent") {
            break status;
        }
        if started.elapsed() > HARD_LIMIT {
            let _ = child.kill();
            break child.wait().expect("reap the agent");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = writer.join();
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}
