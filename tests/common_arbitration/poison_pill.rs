//! Poison-pill fencing in the arbitration lab (`tests/cluster_sbd.rs`): one shared sbd
//! disk on a loop device (`tests/fixtures/sbd_loop.sh`, an image under /var/tmp),
//! formatted by `palisade-sbd create` with a slot per node; node configurations whose
//! every node is fenced by one agent (`fence_sbd` on that disk); each node's own watcher,
//! `palisade-sbd watch` on the disk (pet-file watchdog, recorded self-fence, fed by the
//! node daemon's health file) or ClusterLabs sbd (`their_sbd.rs`); and a node's "reset":
//! every process of its namespace killed, as a real reset would, through
//! `tests/fixtures/arbitration/fence_netns.sh` (which also writes the `poweroff` line of
//! the shared resource log).
//!
//! Safety: the loop device is this lab's own (detached on drop, only devices backed by its
//! image); processes are killed only inside the lab's own namespaces.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{binary, Lab};
use crate::common_cluster::{repo_root, NodeSection, NodeToml};

/// sbd timeouts written at create: watchdog 3 s, msgwait 6 s (loop 1 s, sbd's default);
/// the watchers run with an I/O timeout of [`PILL_IO_TIMEOUT_S`]. So msgwait covers
/// I/O + loop + watchdog (a node that lost the disk just before the pill has reset by
/// then), is twice the watchdog, and I/O + loop stays below the watchdog: no timing
/// warning from either sbd.
pub const PILL_WATCHDOG_S: u32 = 3;
pub const PILL_MSGWAIT_S: u32 = 6;
pub const PILL_IO_TIMEOUT_S: u32 = 1;

/// Why a loop-device sbd disk cannot be made here, if it cannot.
pub fn loop_disk_unavailable() -> Option<String> {
    if !Path::new("/dev/loop-control").exists() {
        return Some("no loop devices (/dev/loop-control)".into());
    }
    let losetup = Command::new("losetup").arg("--version").output();
    if !losetup.is_ok_and(|o| o.status.success()) {
        return Some("losetup missing (util-linux)".into());
    }
    None
}

/// A shared sbd disk: an image file on a loop device, detached and deleted on drop.
pub struct LoopSbdDisk {
    /// The loop device (`/dev/loopN`).
    pub device: String,
    dir: PathBuf,
}

impl LoopSbdDisk {
    /// Attach an 8 MiB image named after `tag`, write an sbd header (watchdog
    /// [`PILL_WATCHDOG_S`], msgwait [`PILL_MSGWAIT_S`]) and allocate `node1..nodeN`.
    pub fn new(tag: &str, nodes: usize) -> LoopSbdDisk {
        let dir = PathBuf::from(format!("/var/tmp/palisade-sbd-pill-{tag}"));
        let out = Command::new("bash")
            .arg(repo_root().join("tests/fixtures/sbd_loop.sh"))
            .args(["attach", "disk"])
            .env("SBD_LOOP_DIR", &dir)
            .output()
            .expect("run sbd_loop.sh");
        assert!(
            out.status.success(),
            "sbd_loop.sh attach failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let disk = LoopSbdDisk {
            device: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            dir,
        };
        let (wd, msgwait) = (PILL_WATCHDOG_S.to_string(), PILL_MSGWAIT_S.to_string());
        disk.sbd(&["-1", &wd, "-4", &msgwait, "create"]);
        for i in 1..=nodes {
            disk.sbd(&["allocate", &format!("node{i}")]);
        }
        disk
    }

    /// Run `palisade-sbd -d DEVICE ARGS`; its stdout (panics on failure).
    pub fn sbd(&self, args: &[&str]) -> String {
        let out = Command::new(binary("palisade-sbd"))
            .args(["-d", &self.device])
            .args(args)
            .env_remove("SBD_DEVICE")
            .stdin(Stdio::null())
            .output()
            .expect("run palisade-sbd");
        assert!(
            out.status.success(),
            "palisade-sbd {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// msgwait in milliseconds, as the header says (`dump`: `Timeout (msgwait)  : N`).
    pub fn msgwait_ms(&self) -> u64 {
        let dump = self.sbd(&["dump"]);
        dump.lines()
            .find(|l| l.contains("Timeout (msgwait)"))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| s * 1000)
            .unwrap_or_else(|| panic!("no msgwait in the dump:\n{dump}"))
    }

    /// The slot line of `node` in `list` (`SLOT\tNODE\tCOMMAND\tSENDER`).
    pub fn slot(&self, node: &str) -> String {
        self.sbd(&["list"])
            .lines()
            .find(|l| l.split('\t').nth(1) == Some(node))
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for LoopSbdDisk {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("tests/fixtures/sbd_loop.sh"))
            .args(["detach", "disk"])
            .env("SBD_LOOP_DIR", &self.dir)
            .output();
    }
}

impl Lab {
    /// Node `i`'s configuration (see [`Lab::config`], built with `fence_devices: false`)
    /// with `fence` setting the device of every `[[node]]` section.
    pub fn config_fenced_by(&self, i: usize, fence: &dyn Fn(&mut NodeSection)) -> NodeToml {
        assert!(
            !self.options.fence_devices,
            "config_fenced_by adds the devices itself"
        );
        let mut config = self.config(i);
        for node in &mut config.nodes {
            fence(node);
        }
        config
    }

    /// Start node `i`'s daemon on `config` (written to `node{i}.toml`).
    pub fn start_configured(&mut self, i: usize, config: &NodeToml) {
        let path = self.dir.join(format!("node{i}.toml"));
        config.write(&path);
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_palisade"));
        self.spawn(
            i,
            "node",
            &[&bin, Path::new("node"), Path::new("--config"), &path],
            &[],
        );
    }

    /// Node `i`'s `palisade-sbd watch` on `device`: pet-file watchdog (`pet{i}`, present
    /// once armed), recorded self-fence ([`Lab::sbd_record`]), cluster integration on the
    /// daemon's health file ([`Lab::health_file`]), I/O timeout [`PILL_IO_TIMEOUT_S`].
    pub fn start_disk_watcher(&mut self, i: usize, device: &str) {
        let argv: Vec<PathBuf> = vec![
            binary("palisade-sbd"),
            "-d".into(),
            device.into(),
            "-n".into(),
            format!("node{i}").into(),
            "-P".into(),
            "-I".into(),
            PILL_IO_TIMEOUT_S.to_string().into(),
            "-w".into(),
            format!("pet-file:{}", self.pet_file(i).display()).into(),
            format!("--health-file={}", self.health_file(i).display()).into(),
            format!("--self-fence=record:{}", self.sbd_record(i).display()).into(),
            "watch".into(),
        ];
        let refs: Vec<&Path> = argv.iter().map(PathBuf::as_path).collect();
        self.spawn(i, "sbd", &refs, &[]);
    }

    /// Node `i`'s test watchdog (a pet file, there once the watcher armed it).
    pub fn pet_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("pet{i}"))
    }

    /// Node `i` "reset": SIGKILL to every process in its namespace (fence_netns.sh, which
    /// then logs `<time> node{i} poweroff 0` to the resource log and marks it off).
    pub fn reset(&self, i: usize) {
        use std::io::Write;
        let mut child = Command::new("bash")
            .arg(repo_root().join("tests/fixtures/arbitration/fence_netns.sh"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("run fence_netns.sh");
        let lines = format!(
            "action=off\nnodename=node{i}\nnetns={}\nstatus_file={}\nlog={}\n",
            self.netns(i),
            self.dir.join(format!("power{i}")).display(),
            self.dir.join("resource.log").display()
        );
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(lines.as_bytes());
        }
        let status = child.wait().expect("fence_netns.sh");
        assert!(status.success(), "could not reset node{i}");
    }
}
