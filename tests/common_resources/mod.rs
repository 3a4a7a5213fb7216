//! Harness of the resource tests (`tests/cluster_resources.rs`): the network lab of
//! `common_cluster` (namespaces, links, logs), with `palisade node` daemons this harness
//! starts itself on configurations of its own ([`NodeToml`], the one lab builder): placement sections (primitives, groups,
//! constraints) with real OCF agents (Debian's `ocf:heartbeat:Dummy` and `IPaddr2`, run
//! inside each node's namespace), the `palisade:Logger` test agent and our
//! `restest:Stubborn` (`tests/fixtures/resources/ocf`, a stop that can fail), one control
//! socket and one admin state directory per node, and each node's power behind
//! `tests/fixtures/resources/fence_netns.sh` (power off = SIGKILL to everything in that
//! node's namespace, its volatile state and virtual addresses gone, a `poweroff` line in
//! each resource log). Admin commands go through the real `palisade` CLI.
//!
//! Safety: only the lab's own namespaces are touched; daemons are stopped by PID.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::common_cluster::{lab, repo_root, wait_until, Cluster, Ev, LogLine, NodeToml, Setup};

/// The virtual IP the group tests move around (ring 0's subnet).
pub const VIP: &str = "10.77.0.100";

/// Whether Debian's resource agents are installed (Dummy, IPaddr2).
pub fn heartbeat_agents() -> bool {
    ["Dummy", "IPaddr2"].iter().all(|a| {
        Path::new("/usr/lib/ocf/resource.d/heartbeat")
            .join(a)
            .is_file()
    })
}

/// A lab cluster running the harness's own node configurations.
pub struct ResLab {
    /// The lab (namespaces, directory, logs).
    pub c: Cluster,
    /// Number of nodes.
    pub nodes: usize,
    /// The resource sections of every node's configuration; `{dir}` is the lab
    /// directory and `{run}` the node's volatile directory.
    pub resources: String,
    /// Logger resources (their logs get the power-off lines).
    pub loggers: Vec<String>,
    daemons: BTreeMap<usize, Child>,
}

impl ResLab {
    /// A lab of `nodes` nodes (one ring), or None (a counted skip; a failure under CI=true
    /// or as root) where namespaces or the resource agents are missing.
    pub fn new(tag: &str, nodes: usize, resources: &str, loggers: &[&str]) -> Option<ResLab> {
        if !heartbeat_agents() {
            testkit::skip::required(
                "resource-agents not installed (apt-get install resource-agents)",
            );
            return None;
        }
        let c = lab(
            tag,
            Setup {
                nodes,
                rings: 1,
                power_kills: false,
                ..Setup::default()
            },
        )?;
        let lab = ResLab {
            c,
            nodes,
            resources: resources.to_string(),
            loggers: loggers.iter().map(|s| s.to_string()).collect(),
            daemons: BTreeMap::new(),
        };
        // Our own test agents next to the lab's (restest:Stubborn).
        std::os::unix::fs::symlink(
            repo_root().join("tests/fixtures/resources/ocf/resource.d/restest"),
            lab.c.dir.join("ocf/resource.d/restest"),
        )
        .expect("restest agents");
        for i in 1..=nodes {
            std::fs::write(lab.power_file(i), "on").expect("power file");
            std::fs::create_dir_all(lab.run_dir(i)).expect("run dir");
        }
        for l in &lab.loggers {
            std::fs::write(lab.log_file(l), b"").expect("log");
        }
        Some(lab)
    }

    /// Node `i`'s volatile directory (resource state files).
    pub fn run_dir(&self, i: usize) -> PathBuf {
        self.c.dir.join(format!("run{i}"))
    }

    /// The shared log of a Logger resource.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.c.dir.join(format!("{name}.log"))
    }

    fn power_file(&self, i: usize) -> PathBuf {
        self.c.dir.join(format!("power{i}"))
    }

    /// Node `i`'s control socket.
    pub fn socket(&self, i: usize) -> PathBuf {
        self.c.dir.join(format!("node{i}.sock"))
    }

    /// Node `i`'s configuration ([`NodeToml`]): the lab's, every node fenced by
    /// `fence_netns.sh`, and the harness's resource sections.
    pub fn config(&self, i: usize) -> NodeToml {
        let dir = self.c.dir.display().to_string();
        let agent = repo_root().join("tests/fixtures/resources/fence_netns.sh");
        let logs: Vec<String> = self
            .loggers
            .iter()
            .map(|l| self.log_file(l).display().to_string())
            .collect();
        let mut c = NodeToml::lab(&self.c.dir, 9, i, self.nodes, 1);
        c.cluster.control_socket = Some(self.socket(i));
        c.quorum.no_quorum_policy = Some("stop".into());
        for node in &mut c.nodes {
            let j = node.id;
            node.fenced_by(
                &agent.display().to_string(),
                &[
                    ("netns", self.c.netns(j)),
                    ("status_file", self.power_file(j).display().to_string()),
                    ("volatile", self.run_dir(j).display().to_string()),
                    ("logs", logs.join(" ")),
                    ("ips", VIP.to_string()),
                ],
            );
        }
        let run = self.run_dir(i).display().to_string();
        c.add_sections(&self.resources.replace("{dir}", &dir).replace("{run}", &run));
        c
    }

    /// Start node `i`'s daemon inside its namespace.
    pub fn start(&mut self, i: usize) {
        let path = self.c.dir.join(format!("res-node{i}.toml"));
        self.config(i).write(&path);
        std::fs::write(self.power_file(i), "on").expect("power on");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.c.dir.join(format!("res-node{i}.out")))
            .expect("output");
        let err = out.try_clone().expect("output");
        use std::os::unix::process::CommandExt;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.c.netns(i),
                "setpriv",
                "--bounding-set",
                "-sys_boot",
            ])
            .arg(env!("CARGO_BIN_EXE_palisade"))
            .arg("node")
            .arg("--config")
            .arg(&path)
            .env("PALISADE_FORBID_SELF_FENCE", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start palisade node");
        self.daemons.insert(i, child);
    }

    /// Start every node.
    pub fn start_all(&mut self) {
        for i in 1..=self.nodes {
            self.start(i);
        }
    }

    /// Node `i`'s daemon exit status, if it ended.
    pub fn exited(&mut self, i: usize) -> Option<ExitStatus> {
        self.daemons
            .get_mut(&i)
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM to node `i`'s daemon (SIGKILL after 10 s).
    pub fn stop(&mut self, i: usize) -> Option<ExitStatus> {
        let child = self.daemons.get_mut(&i)?;
        if child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on the PID of a child this harness started, not yet reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        let mut status = None;
        wait_until(Duration::from_secs(10), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_none() {
            let _ = child.kill();
            status = child.wait().ok();
        }
        status
    }

    /// Cut node `i` off (every link), or heal it.
    pub fn cut(&self, i: usize) {
        self.c.cut(i, None);
    }

    /// Links of node `i` up again.
    pub fn heal(&self, i: usize) {
        self.c.heal(i, None);
    }

    /// The power state the fence agent keeps.
    pub fn power(&self, i: usize) -> String {
        std::fs::read_to_string(self.power_file(i))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Run the `palisade` CLI against node `i`'s daemon: (exit code, stdout + stderr).
    pub fn cli(&self, i: usize, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(args)
            .arg("--socket")
            .arg(self.socket(i))
            .output()
            .expect("run palisade");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    /// Like [`ResLab::cli`], but the command must succeed.
    pub fn admin(&self, i: usize, args: &[&str]) -> String {
        let (code, text) = self.cli(i, args);
        assert_eq!(
            code,
            0,
            "palisade {args:?} failed: {text}\n{}",
            self.c.timeline_text(0)
        );
        text
    }

    /// Node `i`'s status as JSON (None while it does not answer).
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        let (code, text) = self.cli(i, &["status", "--json"]);
        if code != 0 {
            return None;
        }
        serde_json::from_str(text.trim()).ok()
    }

    /// Nodes where a Dummy (or Logger) keeps its state file `run{j}/<file>`.
    pub fn state_on(&self, file: &str) -> Vec<usize> {
        (1..=self.nodes)
            .filter(|j| self.run_dir(*j).join(file).exists())
            .collect()
    }

    /// Nodes whose namespace holds `ip`.
    pub fn ip_on(&self, ip: &str) -> Vec<usize> {
        (1..=self.nodes)
            .filter(|j| {
                let out = Command::new("ip")
                    .args(["-n", &self.c.netns(*j), "-o", "addr", "show"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                out.contains(&format!(" {ip}/"))
            })
            .collect()
    }

    /// A Logger resource's log, in time order.
    pub fn log(&self, name: &str) -> Vec<LogLine> {
        crate::common_cluster::read_log(&self.log_file(name))
    }

    /// Nodes running a Logger resource now, by its log.
    pub fn logger_on(&self, name: &str) -> Vec<String> {
        crate::common_cluster::running_in(self.log(name))
    }

    /// Panics (with the timeline) if two nodes ever ran the Logger resource at once.
    pub fn assert_exclusive(&self, name: &str) {
        let v = crate::common_cluster::violations(&self.log(name));
        assert!(
            v.is_empty(),
            "two nodes ran {name} at once: {v:#?}\n{}",
            self.c.timeline_text(0)
        );
    }

    /// Wait up to `secs` for `cond`; panic with `what` and the timeline if it never holds.
    pub fn expect(&self, secs: u64, what: &str, cond: impl FnMut() -> bool) {
        if !wait_until(Duration::from_secs(secs), cond) {
            panic!("{what}\n{}", self.c.timeline_text(0));
        }
    }

    /// The first event of `node` from `since` (Unix ms) on that `f` accepts, and its
    /// index in the merged events (for ordering).
    pub fn event_since(
        &self,
        since: u64,
        node: &str,
        f: impl Fn(&Ev) -> bool,
    ) -> Option<(usize, Ev)> {
        self.c
            .events()
            .into_iter()
            .enumerate()
            .find(|(_, e)| e.at >= since && e.node == node && f(e))
    }

    /// The index of the first event of `node` that `f` accepts.
    pub fn event(&self, node: &str, f: impl Fn(&Ev) -> bool) -> Option<usize> {
        self.event_since(0, node, f).map(|(i, _)| i)
    }
}

impl Drop for ResLab {
    fn drop(&mut self) {
        let ids: Vec<usize> = self.daemons.keys().copied().collect();
        for i in ids {
            self.stop(i);
        }
        // What a killed node left behind in its namespace (resource agents' children).
        for i in 1..=self.nodes {
            let pids = Command::new("ip")
                .args(["netns", "pids", &self.c.netns(i)])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: kill(2) on a process inside a namespace this test created.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}
