//! Harness of the cluster tests: a lab of network namespaces (one per node, one "switch"
//! with a bridge per ring, `tests/fixtures/cluster/lab.sh`), one `palisade node` daemon per
//! node started inside its namespace under `setpriv --bounding-set -sys_boot` with
//! `PALISADE_FORBID_SELF_FENCE=1`, each node's power behind its own BMC (`bmc.rs`:
//! ipmi_sim whose power-on boots the node in a fresh PID namespace and whose power-off
//! kills it; the nodes fence through `fence_ipmilan`) or, where a scenario needs a switch
//! that does not really cut the power, fence_dummy's status file; and the shared logs:
//! the resource log written by the `palisade:Logger` OCF agent and the merged timeline
//! of every node.
//!
//! Safety: only namespaces created here (unique prefix per cluster) are touched; daemons
//! are stopped by their PID; nothing leaves the namespaces.
#![allow(dead_code)]

mod bmc;
mod disk;
mod events;
mod node_toml;
mod scenario;
// Not every test file uses every helper.
#[allow(unused_imports)]
pub use bmc::*;
#[allow(unused_imports)]
pub use disk::*;
#[allow(unused_imports)]
pub use events::*;
#[allow(unused_imports)]
pub use node_toml::*;
#[allow(unused_imports)]
pub use scenario::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cluster fixtures directory.
pub fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/cluster")
}

/// `target/<profile>/<name>`, next to this test executable's `deps/` directory.
pub fn built_binary(name: &str) -> PathBuf {
    testkit::bins::built(name)
}

/// Why the lab cannot run here, if it cannot (the caller reports it through
/// `testkit::skip::required`: a failure under CI=true or as root, a counted skip elsewhere).
pub fn lab_unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces need root".into());
    }
    let check = Command::new("bash")
        .arg(fixtures().join("lab.sh"))
        .arg("check")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match check {
        Ok(s) if s.success() => None,
        _ => Some("`ip netns` / veth / bridge not usable here (apt-get install iproute2)".into()),
    }
}

/// Poll `cond` every 20 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Unix time in milliseconds (the clock of the logs).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn parse_ms(word: &str) -> Option<u64> {
    let (s, ms) = word.split_once('.')?;
    Some(s.parse::<u64>().ok()? * 1000 + ms.parse::<u64>().ok()?)
}

/// One line of the resource log: `<time> <node> <start|monitor|stop|poweroff> <epoch>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: u64,
    pub node: String,
    pub event: String,
}

/// A resource log file (`<time> <node> <event> ...` lines), in time order; a missing
/// file is an empty log.
pub fn read_log(path: &Path) -> Vec<LogLine> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<LogLine> = text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some(LogLine {
                at: parse_ms(w.first()?)?,
                node: w.get(1)?.to_string(),
                event: w.get(2)?.to_string(),
            })
        })
        .collect();
    lines.sort_by_key(|l| l.at);
    lines
}

/// Nodes whose last log line says the resource runs there (start or monitor).
pub fn running_in(log: Vec<LogLine>) -> Vec<String> {
    let mut on: BTreeMap<String, bool> = BTreeMap::new();
    for l in log {
        on.insert(l.node, matches!(l.event.as_str(), "start" | "monitor"));
    }
    on.into_iter().filter(|(_, r)| *r).map(|(n, _)| n).collect()
}

/// A merged timeline file, in time order.
pub fn read_timeline(path: &Path) -> Vec<Step> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut steps: Vec<Step> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.splitn(4, ' ');
            let at = parse_ms(w.next()?)?;
            Some(Step {
                at,
                node: w.next()?.to_string(),
                kind: w.next()?.to_string(),
                text: w.next().unwrap_or("").trim_start().to_string(),
            })
        })
        .collect();
    steps.sort_by_key(|s| s.at);
    steps
}

/// Timeline steps since `since` (Unix ms) as text, one per line.
pub fn timeline_lines(steps: &[Step], since: u64) -> String {
    steps
        .iter()
        .filter(|s| s.at >= since)
        .map(|s| {
            format!(
                "{}.{:03} {} {:<8} {}",
                s.at / 1000,
                s.at % 1000,
                s.node,
                s.kind,
                s.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One timeline line: `<time> <node> <kind> <text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: u64,
    pub node: String,
    pub kind: String,
    pub text: String,
}

/// Intervals during which two nodes ran the resource at once (must be none). A node runs
/// it from a start (or monitor) until its stop or its power-off.
pub fn violations(log: &[LogLine]) -> Vec<String> {
    let mut on: BTreeMap<&str, bool> = BTreeMap::new();
    let mut found = Vec::new();
    let mut lines: Vec<&LogLine> = log.iter().collect();
    lines.sort_by_key(|l| l.at);
    for l in lines {
        match l.event.as_str() {
            "start" | "monitor" => {
                for (n, running) in &on {
                    if *running && *n != l.node {
                        found.push(format!(
                            "{} at {}: {} while {n} runs",
                            l.event, l.at, l.node
                        ));
                    }
                }
                on.insert(&l.node, true);
            }
            "stop" | "poweroff" => {
                on.insert(&l.node, false);
            }
            _ => {}
        }
    }
    found
}

/// How one cluster is set up.
#[derive(Debug, Clone)]
pub struct Setup {
    pub nodes: usize,
    pub rings: usize,
    pub two_node: bool,
    pub no_quorum_policy: &'static str,
    pub race_delay: &'static str,
    /// Each node's power is its own BMC (ipmi_sim): power-on boots the node, power-off
    /// kills every process of it; the nodes fence through fence_ipmilan. Else: fence_dummy
    /// only records "off" and the node lives on (daemons started by the harness).
    pub power_kills: bool,
    /// Resource preference order (node numbers); empty = every node in order.
    pub allowed: Vec<usize>,
    /// Also run Debian's ocf:heartbeat:Dummy next to the Logger, when installed.
    pub with_dummy: bool,
    /// Seconds the power takes to go once a BMC is asked to power off (a slow BMC).
    pub fence_slowness: &'static str,
    /// Fence through a `palisade daemon` (fencer API) in each node's namespace instead of
    /// running the agent directly.
    pub via_fencer: bool,
    /// This node's fence device always fails (`/bin/false`).
    pub broken_fence: Option<usize>,
    /// A shared sbd disk (`disk.rs`: a loop device over a file served by a FUSE daemon
    /// the test can stall) and a `palisade-sbd watch` per node in its power domain, fed
    /// by the node daemon's health file. Needs `power_kills`.
    pub sbd_disk: bool,
    /// Changes node `i`'s configuration after the lab's (a harness's own resources).
    pub configure: Option<fn(&Cluster, usize, &mut NodeToml)>,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            nodes: 3,
            rings: 2,
            two_node: false,
            no_quorum_policy: "stop",
            race_delay: "3s",
            power_kills: true,
            allowed: Vec::new(),
            with_dummy: false,
            fence_slowness: "0",
            via_fencer: false,
            broken_fence: None,
            sbd_disk: false,
            configure: None,
        }
    }
}

/// A running lab cluster; everything is stopped and deleted on drop.
pub struct Cluster {
    pub prefix: String,
    pub dir: PathBuf,
    pub setup: Setup,
    daemons: BTreeMap<usize, Child>,
    fencers: BTreeMap<usize, Child>,
    lab_up: bool,
    /// Nodes powered on through their BMC at least once.
    booted: BTreeSet<usize>,
    /// The shared sbd disk, with `Setup::sbd_disk`.
    pub disk: Option<SharedDisk>,
}

impl Cluster {
    /// Create the namespaces and the files (no daemon started yet).
    pub fn new(tag: &str, setup: Setup) -> Cluster {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("pc{}{tag}{n}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("palisade-cluster-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        let mut cluster = Cluster {
            prefix,
            dir,
            setup,
            daemons: BTreeMap::new(),
            fencers: BTreeMap::new(),
            lab_up: false,
            booted: BTreeSet::new(),
            disk: None,
        };
        cluster.prepare();
        cluster
    }

    fn prepare(&mut self) {
        std::fs::write(
            self.dir.join("authkey"),
            b"palisade-test-key-0123456789abcdef",
        )
        .expect("key");
        std::fs::write(self.dir.join("resource.log"), b"").expect("log");
        // An OCF root with our Logger and Debian's agents side by side.
        let root = self.dir.join("ocf");
        std::fs::create_dir_all(root.join("resource.d")).expect("ocf root");
        symlink(
            &fixtures().join("ocf/resource.d/palisade"),
            &root.join("resource.d/palisade"),
        );
        symlink(
            Path::new("/usr/lib/ocf/resource.d/heartbeat"),
            &root.join("resource.d/heartbeat"),
        );
        symlink(Path::new("/usr/lib/ocf/lib"), &root.join("lib"));
        for i in 1..=self.setup.nodes {
            std::fs::create_dir_all(self.dir.join(format!("run{i}"))).expect("run dir");
            let power = if self.setup.power_kills { "off" } else { "on" };
            std::fs::write(self.power_file(i), power).expect("power file");
        }
        let status = Command::new("bash")
            .arg(fixtures().join("lab.sh"))
            .args(["up", &self.prefix])
            .arg(self.setup.nodes.to_string())
            .arg(self.setup.rings.to_string())
            .status()
            .expect("run lab.sh");
        assert!(status.success(), "lab.sh up failed");
        self.lab_up = true;
        if self.setup.power_kills {
            self.bmcs_up();
        }
        if self.setup.sbd_disk {
            self.disk = Some(SharedDisk::new(&self.dir));
        }
    }

    pub fn netns(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    pub fn power_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("power{i}"))
    }

    /// The power state ("on"/"off"): node_power.sh keeps it with a BMC, fence_dummy without.
    pub fn power(&self, i: usize) -> String {
        std::fs::read_to_string(self.power_file(i))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    pub fn self_fence_record(&self, i: usize) -> PathBuf {
        self.dir.join(format!("self-fence{i}"))
    }

    /// Node `i`'s configuration ([`NodeToml`]).
    fn config(&self, i: usize) -> NodeToml {
        let s = &self.setup;
        let mut c = NodeToml::lab(&self.dir, 7, i, s.nodes, s.rings);
        c.cluster.control_socket = Some(self.dir.join(format!("node{i}.sock")));
        c.cluster.sbd_health_file = s.sbd_disk.then(|| self.sbd_health_file(i));
        c.quorum.two_node = Some(s.two_node);
        c.quorum.no_quorum_policy = Some(s.no_quorum_policy.into());
        c.fencing.race_delay = Some(s.race_delay.into());
        c.fencing.self_fence = Some(format!("record:{}", self.self_fence_record(i).display()));
        if s.via_fencer {
            c.fencing.fencer_socket = Some(self.fencer_socket(i));
        }
        for node in &mut c.nodes {
            let j = node.id;
            if s.via_fencer {
                continue;
            }
            if s.broken_fence == Some(j) {
                node.fence_agent = Some("/bin/false".into());
            } else {
                node.fenced_by(&self.agent(), &self.device_params(j));
            }
        }
        let run = self.dir.join(format!("run{i}"));
        c.logger_service(
            &self.dir.join("resource.log"),
            &run.join("service.state"),
            &s.allowed,
        );
        if s.with_dummy {
            c.resources.push(ResourceSection {
                name: "dummy".into(),
                agent: "ocf:heartbeat:Dummy".into(),
                params: table(&[("state", run.join("dummy.state").display().to_string())]),
                allowed: (!s.allowed.is_empty()).then(|| node_names(&s.allowed)),
                priority: None,
                monitor_interval: Some("1s".into()),
            });
        }
        if let Some(configure) = s.configure {
            configure(self, i, &mut c);
        }
        c
    }

    /// The fence agent: our fence_ipmilan against each node's BMC, or fence_dummy.
    fn agent(&self) -> String {
        let name = if self.setup.power_kills {
            "fence_ipmilan"
        } else {
            "fence_dummy"
        };
        built_binary(name).display().to_string()
    }

    /// Node `j`'s fence device parameters.
    fn device_params(&self, j: usize) -> Vec<(&'static str, String)> {
        if self.setup.power_kills {
            return bmc_params(j);
        }
        vec![("status_file", self.power_file(j).display().to_string())]
    }

    pub fn fencer_socket(&self, i: usize) -> PathBuf {
        self.dir.join(format!("fencer{i}.sock"))
    }

    pub fn fencer_history(&self, i: usize) -> PathBuf {
        self.dir.join(format!("fence-history{i}.jsonl"))
    }

    /// Node `i`'s fencer configuration: a device per other node.
    fn fencer_config(&self, i: usize) -> String {
        let mut doc = toml::Table::new();
        doc.insert(
            "fencing".into(),
            table(&[
                ("fencing-timeout", "20s".into()),
                ("fencing-action", "off".into()),
            ])
            .into(),
        );
        doc.insert(
            "daemon".into(),
            table(&[
                ("socket", self.fencer_socket(i).display().to_string()),
                ("history", self.fencer_history(i).display().to_string()),
                ("node-name", format!("node{i}")),
            ])
            .into(),
        );
        let devices: Vec<toml::Value> = (1..=self.setup.nodes)
            .filter(|j| *j != i)
            .map(|j| {
                let mut params = self.device_params(j);
                params.push(("pcmk_host_list", format!("node{j}")));
                let mut device =
                    table(&[("name", format!("power-node{j}")), ("agent", self.agent())]);
                device.insert("params".into(), table(&params).into());
                device.into()
            })
            .collect();
        doc.insert("device".into(), devices.into());
        toml::to_string(&doc).expect("fencer configuration as TOML")
    }

    /// Node `i`'s fencer, started by the harness inside `i`'s namespace (without a BMC;
    /// with one, node_boot.sh starts it at power-on).
    fn start_fencer(&mut self, i: usize) {
        let config = self.dir.join(format!("fencer{i}.toml"));
        std::fs::write(&config, self.fencer_config(i)).expect("fencer config");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("fencer{i}.out")))
            .expect("fencer output");
        let err = out.try_clone().expect("fencer output");
        use std::os::unix::process::CommandExt;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns(i)])
            .arg(env!("CARGO_BIN_EXE_palisade"))
            .args(["daemon", "--config"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start palisade daemon");
        self.fencers.insert(i, child);
        let socket = self.fencer_socket(i);
        let up = wait_until(Duration::from_secs(10), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        assert!(up, "fencer of node{i} did not come up");
    }

    /// Start node `i`'s daemon inside its namespace (and its fencer first, if used). With
    /// a BMC: power the node on through it (power-cycled first if it is on).
    pub fn start(&mut self, i: usize) {
        self.config(i)
            .write(&self.dir.join(format!("node{i}.toml")));
        if self.setup.power_kills {
            self.bmc_boot(i, true);
            return;
        }
        if self.setup.via_fencer {
            if let Some(mut old) = self.fencers.remove(&i) {
                let _ = old.kill();
                let _ = old.wait();
            }
            self.start_fencer(i);
        }
        let config = self.dir.join(format!("node{i}.toml"));
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("node{i}.out")))
            .expect("output file");
        let err = out.try_clone().expect("output file");
        use std::os::unix::process::CommandExt;
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns(i),
                "setpriv",
                "--bounding-set",
                "-sys_boot",
            ])
            .arg(env!("CARGO_BIN_EXE_palisade"))
            .arg("node")
            .arg("--config")
            .arg(&config)
            .env("PALISADE_FORBID_SELF_FENCE", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start palisade node");
        self.daemons.insert(i, child);
    }

    pub fn start_all(&mut self) {
        for i in 1..=self.setup.nodes {
            self.start(i);
        }
    }

    /// The daemon's exit status if it has ended (reaped), without waiting; with a BMC,
    /// SIGKILL once the node is powered off.
    pub fn exited(&mut self, i: usize) -> Option<ExitStatus> {
        if self.setup.power_kills {
            return self.bmc_exited(i);
        }
        self.daemons
            .get_mut(&i)
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Wait up to `limit` for node `i`'s daemon to end.
    pub fn wait_exit(&mut self, i: usize, limit: Duration) -> Option<ExitStatus> {
        let mut status = None;
        wait_until(limit, || {
            status = self.exited(i);
            status.is_some()
        });
        status
    }

    /// SIGTERM to node `i`'s daemon (by PID); SIGKILL after 10 s. With a BMC the node
    /// stays powered on.
    pub fn stop(&mut self, i: usize) -> Option<ExitStatus> {
        if self.setup.power_kills {
            return self.bmc_stop(i);
        }
        let pid = self.daemons.get(&i)?.id();
        if self.exited(i).is_none() {
            // SAFETY: kill(2) on the PID of a child we started and have not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        let status = self.wait_exit(i, Duration::from_secs(10));
        if status.is_none() {
            if let Some(child) = self.daemons.get_mut(&i) {
                let _ = child.kill();
                return child.wait().ok();
            }
        }
        status
    }

    fn lab(&self, args: &[&str]) {
        let status = Command::new("bash")
            .arg(fixtures().join("lab.sh"))
            .args(args)
            .status()
            .expect("run lab.sh");
        assert!(status.success(), "lab.sh {args:?} failed");
    }

    /// Send `signal` to node `i`'s daemon (by the PID we started it with, or found in
    /// the node's namespace).
    pub fn signal(&mut self, i: usize, signal: i32) {
        if self.setup.power_kills {
            self.bmc_signal(i, signal);
            return;
        }
        if self.exited(i).is_none() {
            if let Some(child) = self.daemons.get(&i) {
                // SAFETY: kill(2) on the PID of a child we started and have not reaped.
                unsafe { libc::kill(child.id() as i32, signal) };
            }
        }
    }

    /// Nodes `nodes` move to a second switch: a partition in which they see each other.
    pub fn split(&self, nodes: &[usize]) {
        let list: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        self.lab(&["split", &self.prefix, &list.join(" ")]);
    }

    /// Every node back on one switch.
    pub fn join(&self) {
        self.lab(&["join", &self.prefix]);
    }

    /// Links of node `i` down: every ring, or one.
    pub fn cut(&self, i: usize, ring: Option<usize>) {
        let (n, r) = (i.to_string(), ring.map(|r| r.to_string()));
        let mut args = vec!["cut", &self.prefix, &n];
        if let Some(r) = &r {
            args.push(r);
        }
        self.lab(&args);
    }

    /// Links of node `i` up again.
    pub fn heal(&self, i: usize, ring: Option<usize>) {
        let (n, r) = (i.to_string(), ring.map(|r| r.to_string()));
        let mut args = vec!["heal", &self.prefix, &n];
        if let Some(r) = &r {
            args.push(r);
        }
        self.lab(&args);
    }

    /// The resource log, in time order.
    pub fn log(&self) -> Vec<LogLine> {
        read_log(&self.dir.join("resource.log"))
    }

    /// Nodes running the resource now, according to the log.
    pub fn running_on(&self) -> Vec<String> {
        running_in(self.log())
    }

    /// The merged timeline of every node, in time order.
    pub fn timeline(&self) -> Vec<Step> {
        read_timeline(&self.dir.join("timeline"))
    }

    /// The events of every node (and the BMCs' power records), in time order.
    pub fn events(&self) -> Vec<Ev> {
        read_events(&self.dir.join("events"))
    }

    /// The timeline as text (for failure messages and the test output).
    pub fn timeline_text(&self, since: u64) -> String {
        timeline_lines(&self.timeline(), since)
    }
}

/// A cluster lab, or None (a counted skip) where namespaces cannot be used; under CI=true
/// or as root that panics instead (`testkit::skip::required`).
pub fn lab(tag: &str, setup: Setup) -> Option<Cluster> {
    if let Some(why) = lab_unavailable() {
        testkit::skip::required(format!("cluster lab: {why}"));
        return None;
    }
    Some(Cluster::new(tag, setup))
}

pub fn node_number(name: &str) -> usize {
    name.trim_start_matches("node").parse().expect("node name")
}

/// The single node running the service once it started (panics with the timeline if not).
pub fn wait_for_owner(c: &Cluster, limit: Duration) -> usize {
    let started = wait_until(limit, || c.running_on().len() == 1);
    assert!(started, "service never started:\n{}", c.timeline_text(0));
    node_number(&c.running_on()[0])
}

/// Panics (with the timeline) if two nodes ever ran the service at once.
pub fn assert_no_violations(c: &Cluster) {
    let v = violations(&c.log());
    assert!(
        v.is_empty(),
        "two nodes ran the service at once: {v:#?}\n{}",
        c.timeline_text(0)
    );
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(disk) = &self.disk {
            disk.resume();
        }
        if self.setup.power_kills && self.lab_up {
            self.bmc_teardown();
        }
        if let Some(disk) = self.disk.take() {
            disk.remove();
        }
        let ids: Vec<usize> = self.daemons.keys().copied().collect();
        for i in ids {
            self.stop(i);
        }
        for (_, mut fencer) in std::mem::take(&mut self.fencers) {
            // SAFETY: kill(2) on the PID of a fencer daemon this harness started.
            unsafe { libc::kill(fencer.id() as i32, libc::SIGTERM) };
            if !wait_until(Duration::from_secs(10), || {
                matches!(fencer.try_wait(), Ok(Some(_)))
            }) {
                let _ = fencer.kill();
                let _ = fencer.wait();
            }
        }
        if self.lab_up {
            let _ = Command::new("bash")
                .arg(fixtures().join("lab.sh"))
                .args(["down", &self.prefix])
                .status();
        }
        if std::env::var_os("PALISADE_KEEP_TEST_DIRS").is_none() && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
