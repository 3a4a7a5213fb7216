//! Harness of the pacemaker interop lab (`tests/fixtures/pcmk/lab.sh`): a real cluster of
//! corosync 3 and pacemaker 2.1 with 2 or 3 nodes, each in its own network, mount, UTS and PID
//! namespaces, each node's power behind its own ipmi_sim BMC (power off kills the node's
//! PID namespace), pacemaker fencing through the `fence_ipmilan` found at
//! `/usr/sbin/fence_ipmilan` INSIDE the nodes: ours, bind-mounted in the nodes' mount
//! namespaces only (the host's file is never touched), or ClusterLabs' own.
//!
//! Everything the lab starts is ended on drop (`lab.sh down`: BMCs and nodes by their
//! PIDs, then any process left in the lab's own namespaces, then the namespaces), also
//! when the test panics; the work directory is kept after a failure for the logs.
//!
//! Availability: without root (and without `CI=true`) the lab is a counted skip;
//! as root or in CI a missing package or an unusable kernel feature FAILS the test.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The lab script.
pub fn lab_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pcmk/lab.sh")
}

/// `target/<profile>/<name>`, next to this test executable's `deps/` directory.
pub fn built_binary(name: &str) -> PathBuf {
    testkit::bins::built(name)
}

/// Whether the lab can run: `true` run, `false` a counted skip (`testkit::skip`); panics
/// where it must run (root or `CI=true`) but cannot.
pub fn lab_available() -> bool {
    if !testkit::skip::is_root() {
        testkit::skip::required(
            "pacemaker lab: not root (network namespaces, corosync and pacemaker need root)",
        );
        return false;
    }
    let check = Command::new("bash")
        .arg(lab_script())
        .arg("check")
        .stderr(Stdio::inherit())
        .output()
        .expect("run lab.sh check");
    if !check.status.success() {
        testkit::skip::required(format!(
            "pacemaker lab cannot run here: {}install the packages with scripts/test.sh \
             (corosync pacemaker pacemaker-cli-utils fence-agents openipmi ipmitool \
             resource-agents iproute2)",
            String::from_utf8_lossy(&check.stdout)
        ));
        return false;
    }
    true
}

/// Poll `cond` every 250 ms until it holds or `limit` passes (bounded wait on a
/// condition, never a timing assertion).
pub fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Unix time in seconds (the clock of the BMC logs).
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// One XML element: its attributes and (for `<a>text</a>`) its text.
#[derive(Debug, Clone, Default)]
pub struct Element {
    pub attrs: BTreeMap<String, String>,
    pub text: String,
}

impl Element {
    pub fn get(&self, name: &str) -> &str {
        self.attrs.get(name).map(String::as_str).unwrap_or("")
    }
}

/// Every `<tag ...>` element of `xml`, in document order. Enough for pacemaker's
/// `--output-as=xml` (attributes in double quotes, no CDATA).
pub fn elements(xml: &str, tag: &str) -> Vec<Element> {
    let open = format!("<{tag}");
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find(&open) {
        let after = &rest[at + open.len()..];
        let Some(first) = after.chars().next() else {
            break;
        };
        if !(first.is_whitespace() || first == '>' || first == '/') {
            rest = after;
            continue;
        }
        let Some(end) = after.find('>') else { break };
        let head = &after[..end];
        let mut el = Element::default();
        let mut attrs = head.trim_end_matches('/');
        while let Some(eq) = attrs.find("=\"") {
            let name = attrs[..eq].trim().to_string();
            let value_start = &attrs[eq + 2..];
            let Some(close) = value_start.find('"') else {
                break;
            };
            el.attrs.insert(name, unescape(&value_start[..close]));
            attrs = &value_start[close + 1..];
        }
        let body = &after[end + 1..];
        if !head.ends_with('/') {
            if let Some(close) = body.find('<') {
                el.text = unescape(body[..close].trim());
            }
        }
        found.push(el);
        rest = body;
    }
    found
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The shared sbd disk of a lab: initialised by `creator` (palisade-sbd or ClusterLabs'
/// sbd) with these header timeouts (seconds).
pub struct SbdDiskSpec {
    pub creator: PathBuf,
    pub watchdog: u32,
    pub msgwait: u32,
}

/// One slot of `sbd list` (sbd(8)'s format, which fence agents parse:
/// `slot<TAB>name<TAB>message<TAB>sender`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbdSlot {
    pub slot: u32,
    pub name: String,
    pub message: String,
    pub sender: String,
}

impl SbdSlot {
    pub fn parse(line: &str) -> Option<SbdSlot> {
        let mut f = line.split('\t');
        Some(SbdSlot {
            slot: f.next()?.trim().parse().ok()?,
            name: f.next()?.trim().to_string(),
            message: f.next()?.trim().to_string(),
            sender: f.next().unwrap_or("").trim().to_string(),
        })
    }
}

/// One line of a BMC's actions.log: `<epoch> bmcK <what...>`.
#[derive(Debug, Clone)]
pub struct BmcAction {
    pub at: f64,
    pub what: String,
}

/// A running lab; everything is ended on drop.
pub struct PcmkLab {
    pub dir: PathBuf,
    pub nodes: usize,
    pub prefix: String,
    up: bool,
}

impl PcmkLab {
    /// Start a lab of `nodes` nodes whose `/usr/sbin/fence_ipmilan` is `agent` (bind
    /// mounted inside the nodes) or ClusterLabs' own (`None`); wait until every node is
    /// online, then configure the CIB with pacemaker's tools (`lab.sh configure`).
    pub fn start(tag: &str, nodes: usize, agent: Option<&Path>) -> PcmkLab {
        let binds: Vec<(PathBuf, &str)> = agent
            .map(|a| (a.to_path_buf(), "/usr/sbin/fence_ipmilan"))
            .into_iter()
            .collect();
        PcmkLab::start_with(tag, nodes, &binds, None)
    }

    /// Start a lab of `nodes` nodes with `binds` (our file, its path inside the nodes)
    /// bind-mounted in the nodes' mount namespaces only. With `sbd_settings` (the text of
    /// the nodes' /etc/default/sbd), every node runs `sbd $SBD_OPTS -p /run/sbd.pid watch`
    /// before pacemakerd as sbd.service does, with those settings in the environment of
    /// both (`lab.sh up ... SBD=1`): `binds` must put palisade-sbd over /usr/sbin/sbd and
    /// the settings must select a pet-file watchdog and the recording self-fence
    /// (lab.sh refuses anything else). Does not wait or configure.
    pub fn start_with(
        tag: &str,
        nodes: usize,
        binds: &[(PathBuf, &str)],
        sbd_settings: Option<&str>,
    ) -> PcmkLab {
        PcmkLab::start_with_disk(tag, nodes, binds, sbd_settings, None)
    }

    /// [`PcmkLab::start_with`], and with `disk` one shared sbd image in the lab directory
    /// (`lab.sh mkdisk`), to which every node attaches its own loop device, seen as
    /// `/dev/sbd` inside the node; `configure` then adds `fence_sbd` as level 2.
    pub fn start_with_disk(
        tag: &str,
        nodes: usize,
        binds: &[(PathBuf, &str)],
        sbd_settings: Option<&str>,
        disk: Option<&SbdDiskSpec>,
    ) -> PcmkLab {
        reap_stale_labs();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("pp{}{tag}{n}", std::process::id() % 100_000);
        let dir = std::env::temp_dir().join(format!("palisade-pcmk-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        let mut lab = PcmkLab {
            dir,
            nodes,
            prefix,
            up: false,
        };
        let bind = binds
            .iter()
            .map(|(src, dst)| format!("{}:{dst}", src.display()))
            .collect::<Vec<_>>()
            .join(" ");
        // From here on, drop ends whatever `up` managed to start.
        std::fs::create_dir_all(&lab.dir).expect("lab dir");
        let _ = std::fs::write(lab.dir.join("owner"), std::process::id().to_string());
        lab.up = true;
        if let Some(settings) = sbd_settings {
            std::fs::write(lab.dir.join("default-sbd"), settings).expect("write default-sbd");
        }
        let image = match disk {
            Some(spec) => {
                let image = lab.dir.join("sbd.img");
                let image = image.display().to_string();
                lab.script(&[
                    "mkdisk",
                    &image,
                    &spec.creator.display().to_string(),
                    &spec.watchdog.to_string(),
                    &spec.msgwait.to_string(),
                ]);
                image
            }
            None => String::new(),
        };
        let net = format!("10.79.{}", n % 200);
        lab.script(&[
            "up",
            &lab.dir_str(),
            &nodes.to_string(),
            &lab.prefix.clone(),
            &net,
            &bind,
            if sbd_settings.is_some() { "1" } else { "" },
            &image,
        ]);
        lab
    }

    /// A file of node `k`'s test devices (`/run/testdev` inside the node, kept on the
    /// host: readable after the node's power went off).
    pub fn testdev_file(&self, k: usize, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(format!("n{k}/testdev/{name}"))).ok()
    }

    /// When a self-fence of node `k`'s sbd powered it off (Unix seconds, oldest first).
    pub fn selffence_power_offs(&self, k: usize) -> Vec<f64> {
        std::fs::read_to_string(self.dir.join(format!("n{k}/selffence.log")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// The slots of the shared sbd disk as node `k` reads them (`sbd -d /dev/sbd list`
    /// inside the node: whichever sbd stands at /usr/sbin/sbd there).
    pub fn sbd_slots(&self, k: usize) -> Option<Vec<SbdSlot>> {
        let out = self.exec_ok(k, &["sbd", "-d", "/dev/sbd", "list"])?;
        Some(out.lines().filter_map(SbdSlot::parse).collect())
    }

    /// A file in node `k`'s private /run (through its PID 1's root), if the node is on.
    pub fn run_file(&self, k: usize, name: &str) -> Option<String> {
        let pid = self.init_pid(k)?;
        std::fs::read_to_string(format!("/proc/{pid}/root/run/{name}")).ok()
    }

    fn dir_str(&self) -> String {
        self.dir.display().to_string()
    }

    /// Run lab.sh with `args`; panics when it fails.
    pub fn script(&self, args: &[&str]) {
        let status = Command::new("bash")
            .arg(lab_script())
            .args(args)
            .stdin(Stdio::null())
            .status()
            .expect("run lab.sh");
        assert!(status.success(), "lab.sh {args:?} failed");
    }

    fn node_cmd(&self, what: &str, k: usize) {
        self.script(&[what, &self.dir_str(), &k.to_string()]);
    }

    /// Configure the CIB (stonith devices, Dummy) with pacemaker's own tools in node1.
    pub fn configure(&self) {
        self.script(&["configure", &self.dir_str()]);
    }

    /// Run `args` inside node `k` (its output; a stopped node gives a failed Output).
    pub fn exec(&self, k: usize, args: &[&str]) -> Output {
        Command::new("bash")
            .arg(lab_script())
            .args(["exec", &self.dir_str(), &k.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run lab.sh exec")
    }

    /// Stdout of `args` in node `k` when it exits 0.
    pub fn exec_ok(&self, k: usize, args: &[&str]) -> Option<String> {
        let out = self.exec(k, args);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Host PID of node `k`'s PID 1, if the node is powered on.
    pub fn init_pid(&self, k: usize) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join(format!("n{k}/node.pid"))).ok()?;
        let unshare: u32 = text.trim().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{unshare}/cmdline")).ok()?;
        let marker = format!("_init\0{}\0{k}\0", self.dir.display());
        if !cmdline
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
        {
            return None;
        }
        let children =
            std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }

    /// Nodes powered on (their PID 1 runs).
    pub fn alive(&self) -> Vec<usize> {
        (1..=self.nodes)
            .filter(|k| self.init_pid(*k).is_some())
            .collect()
    }

    /// `crm_mon -1 --output-as=xml` in node `k`.
    pub fn crm_mon(&self, k: usize) -> Option<String> {
        self.exec_ok(k, &["crm_mon", "-1", "--output-as=xml"])
    }

    /// Nodes that node `k`'s crm_mon shows online, if it answers and has a DC.
    pub fn online_seen_by(&self, k: usize) -> Option<BTreeSet<String>> {
        let xml = self.crm_mon(k)?;
        let dc = elements(&xml, "current_dc");
        if dc.first().map(|d| d.get("present")) != Some("true") {
            return None;
        }
        Some(
            elements(&xml, "node")
                .into_iter()
                .filter(|n| n.get("online") == "true" && n.attrs.contains_key("type"))
                .map(|n| n.get("name").to_string())
                .collect(),
        )
    }

    /// Wait (bounded) until every node is powered on and seen online by all of them.
    pub fn wait_all_online(&self, limit: Duration) -> bool {
        let all: BTreeSet<String> = (1..=self.nodes).map(|k| format!("node{k}")).collect();
        wait_until(limit, || {
            self.alive().len() == self.nodes
                && (1..=self.nodes).all(|k| self.online_seen_by(k).as_ref() == Some(&all))
        })
    }

    /// `crm_resource --locate -r RSC --output-as=xml` in node `k`: nodes running it.
    pub fn locate(&self, k: usize, rsc: &str) -> Option<Vec<String>> {
        let xml = self.exec_ok(
            k,
            &["crm_resource", "--locate", "-r", rsc, "--output-as=xml"],
        )?;
        Some(
            elements(&xml, "node")
                .into_iter()
                .map(|n| n.text)
                .filter(|t| !t.is_empty())
                .collect(),
        )
    }

    /// The Dummy state file of node `k` (in its private /run), if the node is on and
    /// the file exists: its modification time (Dummy's start touches it).
    pub fn dummy_state(&self, k: usize) -> Option<f64> {
        let pid = self.init_pid(k)?;
        let meta = std::fs::metadata(format!("/proc/{pid}/root/run/Dummy-dummy.state")).ok()?;
        let m = meta.modified().ok()?;
        Some(m.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
    }

    /// Nodes whose Dummy state file exists now.
    pub fn dummy_states(&self) -> Vec<usize> {
        (1..=self.nodes)
            .filter(|k| self.dummy_state(*k).is_some())
            .collect()
    }

    /// Node `k`'s BMC actions (the lines the chassis_control script writes).
    pub fn bmc_actions(&self, k: usize) -> Vec<BmcAction> {
        let text = std::fs::read_to_string(self.dir.join(format!("n{k}/bmc/actions.log")))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut w = l.splitn(3, ' ');
                let at = w.next()?.parse().ok()?;
                let _bmc = w.next()?;
                Some(BmcAction {
                    at,
                    what: w.next().unwrap_or("").to_string(),
                })
            })
            .collect()
    }

    /// Every ipmitool run inside a node (ClusterLabs' fence_ipmilan runs ipmitool,
    /// palisade's speaks IPMI itself).
    pub fn ipmitool_runs(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("ipmitool.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `stonith_admin --history TARGET --output-as=xml` in node `k`: its exit status and
    /// the fence events.
    pub fn fence_history(&self, k: usize, target: &str) -> (Option<i32>, Vec<Element>) {
        let out = self.exec(
            k,
            &["stonith_admin", "--history", target, "--output-as=xml"],
        );
        let xml = String::from_utf8_lossy(&out.stdout);
        (out.status.code(), elements(&xml, "fence_event"))
    }

    /// Node `k`'s pacemaker.log.
    pub fn pacemaker_log(&self, k: usize) -> String {
        std::fs::read_to_string(self.dir.join(format!("n{k}/log-pacemaker/pacemaker.log")))
            .unwrap_or_default()
    }

    pub fn cut(&self, k: usize) {
        self.node_cmd("cut", k);
    }

    pub fn heal(&self, k: usize) {
        self.node_cmd("heal", k);
    }

    pub fn kill_corosync(&self, k: usize) {
        self.node_cmd("kill-corosync", k);
    }

    pub fn kill_pacemakerd(&self, k: usize) {
        self.node_cmd("kill-pacemakerd", k);
    }

    /// Node `k`'s CIB stops answering (its pacemaker-based SIGSTOPped; the socket stays
    /// open) / answers again.
    pub fn stop_cib(&self, k: usize) {
        self.node_cmd("stop-cib", k);
    }

    pub fn cont_cib(&self, k: usize) {
        self.node_cmd("cont-cib", k);
    }

    /// Node `k`'s BMC stops answering (its ipmi_sim ends) / answers again.
    pub fn bmc_stop(&self, k: usize) {
        self.node_cmd("bmc-stop", k);
    }

    pub fn bmc_start(&self, k: usize) {
        self.node_cmd("bmc-start", k);
    }

    /// Power node `k` on (as its BMC does), e.g. after a self-fence powered it off.
    pub fn boot(&self, k: usize) {
        self.node_cmd("boot", k);
    }

    /// Everything a failure message needs: crm_mon of the first live node, BMC logs.
    pub fn report(&self) -> String {
        let mut s = String::new();
        if let Some(k) = self.alive().first() {
            let out = self.exec(*k, &["crm_mon", "-1", "-r"]);
            s.push_str(&format!(
                "--- crm_mon (node{k})\n{}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        for k in 1..=self.nodes {
            let log = std::fs::read_to_string(self.dir.join(format!("n{k}/bmc/actions.log")))
                .unwrap_or_default();
            let power: Vec<&str> = log.lines().filter(|l| !l.contains(" get ")).collect();
            s.push_str(&format!("--- bmc{k}\n{}\n", power.join("\n")));
        }
        for k in 1..=self.nodes {
            let offs = self.selffence_power_offs(k);
            if !offs.is_empty() {
                s.push_str(&format!("--- node{k} self-fence power offs at {offs:?}\n"));
            }
        }
        s.push_str(&format!("(logs in {})", self.dir.display()));
        s
    }
}

/// What one failover looked like: the survivor now running Dummy, every moment Dummy
/// ran on two nodes, and when it started on the survivor (its state file's mtime).
pub struct Failover {
    pub survivor: usize,
    pub violations: Vec<String>,
    pub started_at: f64,
}

/// After a fault on `victim` (at `t0`): poll until Dummy runs on a survivor, checking at
/// every sample that no two nodes hold Dummy's state file and that no survivor's
/// crm_resource sees it on two nodes. Panics (with the lab's report) after `limit`.
pub fn follow_failover(lab: &PcmkLab, victim: usize, t0: f64, limit: Duration) -> Failover {
    let mut violations = Vec::new();
    let mut survivor = None;
    let recovered = wait_until(limit, || {
        let states = lab.dummy_states();
        if states.len() > 1 {
            violations.push(format!("+{:.1}s state files on {states:?}", now() - t0));
        }
        let Some(observer) = (1..=lab.nodes).find(|k| *k != victim && lab.init_pid(*k).is_some())
        else {
            return false;
        };
        let Some(located) = lab.locate(observer, "dummy") else {
            return false;
        };
        if located.len() > 1 {
            violations.push(format!(
                "+{:.1}s crm_resource --locate on node{observer}: {located:?}",
                now() - t0
            ));
        }
        let victim_name = format!("node{victim}");
        if let [one] = located.as_slice() {
            if *one != victim_name {
                let k: usize = one.trim_start_matches("node").parse().unwrap_or(0);
                if lab.dummy_state(k).is_some() {
                    survivor = Some(k);
                    return true;
                }
            }
        }
        false
    });
    assert!(
        recovered,
        "Dummy never ran on a survivor after the fault on node{victim}:\n{}",
        lab.report()
    );
    let survivor = survivor.expect("survivor");
    let started_at = lab
        .dummy_state(survivor)
        .expect("state file of the survivor");
    Failover {
        survivor,
        violations,
        started_at,
    }
}

/// Labs left behind by a test process that was killed (no Drop ran): their `owner` PID
/// is gone (or is no longer a pcmk_cluster test). They are ended like on drop.
fn reap_stale_labs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let is_lab = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("palisade-pcmk-pp"));
        let Ok(owner) = std::fs::read_to_string(dir.join("owner")) else {
            continue;
        };
        if !is_lab || !dir.join("env").is_file() {
            continue;
        }
        let alive = std::fs::read(format!("/proc/{}/cmdline", owner.trim())).is_ok_and(|c| {
            let c = String::from_utf8_lossy(&c);
            c.contains("pcmk_cluster") || c.contains("pcmk_sbd")
        });
        if !alive {
            eprintln!("ending a stale pacemaker lab: {}", dir.display());
            let _ = Command::new("bash")
                .arg(lab_script())
                .arg("down")
                .arg(&dir)
                .stdin(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

impl Drop for PcmkLab {
    fn drop(&mut self) {
        if self.up {
            let _ = Command::new("bash")
                .arg(lab_script())
                .args(["down", &self.dir_str()])
                .stdin(Stdio::null())
                .status();
        }
        if std::thread::panicking() {
            eprintln!("pacemaker lab logs kept in {}", self.dir.display());
        } else if std::env::var_os("PALISADE_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
