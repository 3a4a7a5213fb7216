//! Harness of the arbitration tests (`tests/cluster_mcast.rs`, `tests/cluster_tiebreak.rs`):
//! a lab of network namespaces from `tests/fixtures/cluster/lab.sh` (one per node, a
//! "switch" namespace with a bridge per ring), one `palisade node` per node inside its
//! namespace under `setpriv --bounding-set -sys_boot` with `PALISADE_FORBID_SELF_FENCE=1`,
//! configurations ([`NodeToml`], the one lab builder) with multicast rings, tie-breakers
//! or watchdog fencing, and each node's
//! power behind `tests/fixtures/arbitration/fence_netns.sh` (off = SIGKILL to every
//! process in that node's namespace). The free helpers (`wait_until`, `violations`, ...)
//! come from `tests/common_cluster`.
//!
//! Safety: only namespaces created here (unique prefix) are touched; processes are
//! stopped by the PIDs this harness started; nothing leaves the namespaces.
#![allow(dead_code)]

mod poison_pill;
mod their_sbd;
// Only tests/cluster_sbd.rs uses these.
#[allow(unused_imports)]
pub use poison_pill::*;
#[allow(unused_imports)]
pub use their_sbd::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::common_cluster::{
    fixtures, lab_unavailable, read_events, repo_root, wait_until, Ev, LogLine, NodeToml,
    RingSection, Step,
};

/// What differs between the clusters of these tests.
#[derive(Debug, Clone)]
pub struct Options {
    pub nodes: usize,
    pub rings: usize,
    pub no_quorum_policy: &'static str,
    /// Each node writes the sbd health file [`Lab::health_file`].
    pub health_file: bool,
    /// `[quorum] ping-targets`.
    pub ping_targets: Vec<String>,
    /// `[quorum] tie-breaker-disk` (settled after 600 ms).
    pub tie_breaker_disk: Option<String>,
    /// Watchdog fencing: `[fencing] watchdog-timeout` and `sbd-watchdog-timeout`.
    pub watchdog: Option<(&'static str, &'static str)>,
    /// `[[ring]]` sections (multicast rings).
    pub rings_as: Vec<RingSection>,
    /// Every node gets a fence device (`fence_netns.sh`); without, no device at all.
    pub fence_devices: bool,
    /// Resource preference order (node numbers); empty = every node in order.
    pub allowed: Vec<usize>,
    pub port: u16,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            nodes: 3,
            rings: 1,
            no_quorum_policy: "stop",
            health_file: false,
            ping_targets: Vec::new(),
            tie_breaker_disk: None,
            watchdog: None,
            rings_as: Vec::new(),
            fence_devices: true,
            allowed: Vec::new(),
            port: 5405,
        }
    }
}

/// A running lab; everything is stopped and deleted on drop.
pub struct Lab {
    pub prefix: String,
    pub dir: PathBuf,
    pub options: Options,
    /// (node, what) -> process: "node" daemons, "sbd" watchers.
    children: BTreeMap<(usize, &'static str), Child>,
    up: bool,
}

/// A lab, or None (a counted skip; a failure under CI=true or as root) where namespaces
/// cannot be used.
pub fn lab(tag: &str, options: Options) -> Option<Lab> {
    if let Some(why) = lab_unavailable() {
        testkit::skip::required(format!("arbitration lab: {why}"));
        return None;
    }
    Some(Lab::new(tag, options))
}

/// The test binaries next to this test executable (`target/<profile>/NAME`).
pub fn binary(name: &str) -> PathBuf {
    crate::common_cluster::built_binary(name)
}

impl Lab {
    fn new(tag: &str, options: Options) -> Lab {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("pa{}{tag}{n}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("palisade-arbitration-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("lab dir");
        std::fs::write(dir.join("authkey"), b"palisade-arbitration-key-0123456789").expect("key");
        std::fs::write(dir.join("resource.log"), b"").expect("log");
        let root = dir.join("ocf/resource.d");
        std::fs::create_dir_all(&root).expect("ocf root");
        std::os::unix::fs::symlink(
            fixtures().join("ocf/resource.d/palisade"),
            root.join("palisade"),
        )
        .expect("symlink");
        for i in 1..=options.nodes {
            std::fs::create_dir_all(dir.join(format!("run{i}"))).expect("run dir");
            std::fs::write(dir.join(format!("power{i}")), "on").expect("power");
        }
        let mut lab = Lab {
            prefix,
            dir,
            options,
            children: BTreeMap::new(),
            up: false,
        };
        lab.script(&[
            "up",
            &lab.prefix.clone(),
            &lab.options.nodes.to_string(),
            &lab.options.rings.to_string(),
        ]);
        lab.up = true;
        lab
    }

    fn script(&self, args: &[&str]) {
        let status = Command::new("bash")
            .arg(fixtures().join("lab.sh"))
            .args(args)
            .status()
            .expect("run lab.sh");
        assert!(status.success(), "lab.sh {args:?} failed");
    }

    pub fn netns(&self, i: usize) -> String {
        format!("{}-n{i}", self.prefix)
    }

    pub fn switch(&self) -> String {
        format!("{}-sw", self.prefix)
    }

    /// Node `i`'s address on `ring`.
    pub fn address(i: usize, ring: usize) -> String {
        format!("10.77.{ring}.{i}")
    }

    /// Run `ip ARGS` (in namespaces this lab created).
    pub fn ip(&self, args: &[&str]) -> bool {
        Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Run a command inside node `i`'s namespace; true on success.
    pub fn exec(&self, i: usize, argv: &[&str]) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.netns(i)])
            .args(argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Node `i`'s configuration ([`NodeToml`]).
    pub fn config(&self, i: usize) -> NodeToml {
        let o = &self.options;
        let mut c = NodeToml::lab(&self.dir, 9, i, o.nodes, o.rings);
        c.cluster.port = Some(o.port);
        c.cluster.control_socket = Some(self.dir.join(format!("control{i}.sock")));
        c.cluster.sbd_health_file = o.health_file.then(|| self.health_file(i));
        c.quorum.no_quorum_policy = Some(o.no_quorum_policy.into());
        if !o.ping_targets.is_empty() {
            c.quorum.ping_targets = Some(o.ping_targets.clone());
        }
        if let Some(disk) = &o.tie_breaker_disk {
            c.quorum.tie_breaker_disk = Some(disk.clone());
            c.quorum.disk_settle = Some("600ms".into());
        }
        c.fencing.self_fence = Some(format!(
            "record:{}",
            self.dir.join(format!("self-fence{i}")).display()
        ));
        if let Some((watchdog, sbd)) = o.watchdog {
            c.fencing.watchdog_timeout = Some(watchdog.into());
            c.fencing.sbd_watchdog_timeout = Some(sbd.into());
        }
        if o.fence_devices {
            let agent = repo_root().join("tests/fixtures/arbitration/fence_netns.sh");
            for node in &mut c.nodes {
                let j = node.id;
                node.fenced_by(
                    &agent.display().to_string(),
                    &[
                        ("netns", self.netns(j)),
                        (
                            "status_file",
                            self.dir.join(format!("power{j}")).display().to_string(),
                        ),
                        ("log", self.dir.join("resource.log").display().to_string()),
                    ],
                );
            }
        }
        c.rings = o.rings_as.clone();
        c.logger_service(
            &self.dir.join("resource.log"),
            &self.dir.join(format!("run{i}/service.state")),
            &o.allowed,
        );
        c
    }

    pub(super) fn spawn(
        &mut self,
        i: usize,
        what: &'static str,
        argv: &[&Path],
        env: &[(&str, &str)],
    ) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{what}{i}.out")))
            .expect("output file");
        let err = out.try_clone().expect("output file");
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.netns(i),
            "setpriv",
            "--bounding-set",
            "-sys_boot",
        ])
        .args(argv)
        .env("PALISADE_FORBID_SELF_FENCE", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start a process in the lab");
        self.children.insert((i, what), child);
    }

    /// Start node `i`'s daemon with its configuration.
    pub fn start(&mut self, i: usize) {
        let config = self.dir.join(format!("node{i}.toml"));
        self.config(i).write(&config);
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_palisade"));
        self.spawn(
            i,
            "node",
            &[&bin, Path::new("node"), Path::new("--config"), &config],
            &[],
        );
    }

    pub fn start_all(&mut self) {
        for i in 1..=self.options.nodes {
            self.start(i);
        }
    }

    /// Node `i`'s diskless `palisade-sbd watch`: a test watchdog (pet file), recorded
    /// self-fence, fed by the node's health file.
    pub fn start_sbd(&mut self, i: usize, watchdog_seconds: u32) {
        let bin = binary("palisade-sbd");
        let name = format!("node{i}");
        let pet = format!("pet-file:{}/pet{i}", self.dir.display());
        let health = format!("--health-file={}", self.health_file(i).display());
        let record = format!("--self-fence=record:{}", self.sbd_record(i).display());
        let timeout = watchdog_seconds.to_string();
        let args: Vec<&str> = vec![
            "-n", &name, "-w", &pet, "-1", &timeout, &health, &record, "watch",
        ];
        let mut argv: Vec<PathBuf> = vec![bin];
        argv.extend(args.iter().map(PathBuf::from));
        let refs: Vec<&Path> = argv.iter().map(PathBuf::as_path).collect();
        self.spawn(i, "sbd", &refs, &[("SBD_PACEMAKER", "yes")]);
    }

    pub fn health_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("health{i}"))
    }

    pub fn sbd_record(&self, i: usize) -> PathBuf {
        self.dir.join(format!("sbd-self-fence{i}"))
    }

    /// Whether the process `what` of node `i` has ended (reaped).
    pub fn ended(&mut self, i: usize, what: &'static str) -> bool {
        self.children
            .get_mut(&(i, what))
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))))
    }

    /// SIGTERM to a process this lab started, SIGKILL after 10 s.
    pub fn stop(&mut self, i: usize, what: &'static str) {
        let Some(mut child) = self.children.remove(&(i, what)) else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            // SAFETY: kill(2) on the PID of a child this lab started and has not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        }
        if !wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_)))
        }) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Nodes `nodes` move to a second switch (a partition where they see each other).
    pub fn split(&self, nodes: &[usize]) {
        let list: Vec<String> = nodes.iter().map(|n| n.to_string()).collect();
        self.script(&["split", &self.prefix, &list.join(" ")]);
    }

    /// Every link of node `i` down.
    pub fn cut(&self, i: usize) {
        self.script(&["cut", &self.prefix, &i.to_string()]);
    }

    /// The resource log, in time order.
    pub fn log(&self) -> Vec<LogLine> {
        crate::common_cluster::read_log(&self.dir.join("resource.log"))
    }

    /// Nodes running the service now, according to the log.
    pub fn running_on(&self) -> Vec<String> {
        crate::common_cluster::running_in(self.log())
    }

    /// The merged timeline, in time order.
    pub fn timeline(&self) -> Vec<Step> {
        crate::common_cluster::read_timeline(&self.dir.join("timeline"))
    }

    pub fn timeline_text(&self, since: u64) -> String {
        crate::common_cluster::timeline_lines(&self.timeline(), since)
    }

    /// The events of every node, in time order.
    pub fn events(&self) -> Vec<Ev> {
        read_events(&self.dir.join("events"))
    }

    /// The last quorum verdict (a `quorum` event) of `node` after `since`.
    pub fn last_verdict(&self, node: usize, since: u64) -> Option<Ev> {
        let name = format!("node{node}");
        self.events()
            .into_iter()
            .rfind(|e| e.at >= since && e.is(&name, "quorum"))
    }

    /// Whether `node`'s last verdict since `since` is quorate.
    pub fn quorate(&self, node: usize, since: u64) -> bool {
        self.last_verdict(node, since)
            .is_some_and(|e| e.verdict() == Some(true))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let keys: Vec<(usize, &'static str)> = self.children.keys().copied().collect();
        for (i, what) in keys {
            self.stop(i, what);
        }
        if self.up {
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
