//! The lab's shared sbd disk (`Setup::sbd_disk`): a loop device over a file served by
//! `tests/fixtures/cluster/stall_disk.py` (FUSE, Debian python3-fusepy), so a test can
//! stall every I/O on it (SIGSTOP to the FUSE daemon) and release it (SIGCONT); formatted
//! with `palisade-sbd create`; each node runs `palisade-sbd watch` on it in its power
//! domain (node_boot.sh), with cluster integration fed by the node daemon's health file,
//! a pet-file test watchdog and recorded self-fence decisions.
//!
//! Safety: the loop device and mount are this lab's own and are released on drop (after
//! the stall is lifted: I/O on a stalled loop device cannot be interrupted).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{built_binary, fixtures, wait_until, Cluster};

/// The Python that has Debian's fusepy (not a pyenv shim).
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// sbd timeouts written at create: watchdog 2 s, msgwait 4 s.
pub const SBD_WATCHDOG_TIMEOUT_S: u64 = 2;

/// Why a stallable disk cannot be made here, if it cannot.
pub fn shared_disk_unavailable() -> Option<String> {
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    if !Path::new("/dev/loop-control").exists() {
        return Some("no loop devices (/dev/loop-control)".into());
    }
    let fusepy = Command::new(SYSTEM_PYTHON)
        .args(["-c", "import fusepy"])
        .stderr(Stdio::null())
        .status();
    if !fusepy.is_ok_and(|s| s.success()) {
        return Some("python3-fusepy missing (apt-get install python3-fusepy)".into());
    }
    let losetup = Command::new("losetup").arg("--version").output();
    if !losetup.is_ok_and(|o| o.status.success()) {
        return Some("losetup missing (util-linux)".into());
    }
    None
}

/// A stallable shared disk.
pub struct SharedDisk {
    pub device: String,
    mountpoint: PathBuf,
    backing: PathBuf,
    fuse: Child,
}

impl SharedDisk {
    /// Backing file, FUSE mount, loop device, sbd header with a slot per node.
    pub fn new(dir: &Path) -> SharedDisk {
        let backing = dir.join("sbd-disk.img");
        let mountpoint = dir.join("sbd-mnt");
        std::fs::create_dir_all(&mountpoint).expect("mount point");
        let file = std::fs::File::create(&backing).expect("backing file");
        file.set_len(8 << 20).expect("backing size");
        let fuse = Command::new(SYSTEM_PYTHON)
            .arg(fixtures().join("stall_disk.py"))
            .arg(&mountpoint)
            .arg(&backing)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stall_disk.py");
        let file = mountpoint.join("disk");
        let mut disk = SharedDisk {
            device: String::new(),
            mountpoint,
            backing,
            fuse,
        };
        assert!(
            wait_until(Duration::from_secs(10), || file.exists()),
            "stall_disk.py did not mount"
        );
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .expect("losetup");
        assert!(out.status.success(), "losetup failed: {out:?}");
        disk.device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let created = Command::new(built_binary("palisade-sbd"))
            .args(["-d", &disk.device])
            .args([
                "-1",
                &SBD_WATCHDOG_TIMEOUT_S.to_string(),
                "-4",
                "4",
                "create",
            ])
            .output()
            .expect("palisade-sbd create");
        assert!(created.status.success(), "sbd create failed: {created:?}");
        disk
    }

    /// Every I/O on the disk hangs from now on.
    pub fn stall(&self) {
        // SAFETY: kill(2) on the FUSE daemon this harness started.
        unsafe { libc::kill(self.fuse.id() as i32, libc::SIGSTOP) };
    }

    /// The disk answers again.
    pub fn resume(&self) {
        // SAFETY: as in stall.
        unsafe { libc::kill(self.fuse.id() as i32, libc::SIGCONT) };
    }

    /// Loop device detached, FUSE unmounted and stopped, backing file removed.
    pub fn remove(mut self) {
        self.resume();
        let _ = Command::new("losetup").args(["-d", &self.device]).status();
        let _ = Command::new("umount").arg(&self.mountpoint).status();
        if !wait_until(Duration::from_secs(5), || {
            matches!(self.fuse.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.fuse.kill();
            let _ = self.fuse.wait();
        }
        let _ = std::fs::remove_file(&self.backing);
    }
}

impl Cluster {
    /// Node `i`'s sbd health file (written by its daemon every keepalive).
    pub fn sbd_health_file(&self, i: usize) -> PathBuf {
        self.dir.join(format!("sbd-health{i}"))
    }

    /// Where node `i`'s sbd watcher records a self-fence it decided.
    pub fn sbd_self_fence_record(&self, i: usize) -> PathBuf {
        self.dir.join(format!("sbd-self-fence{i}"))
    }

    /// Node `i`'s `palisade-sbd watch` command line (sbd disk only): cluster integration
    /// (-P) on the daemon's health file, pet-file watchdog, recorded self-fence.
    pub(super) fn sbd_watch_command(&self, i: usize) -> Option<String> {
        let disk = self.disk.as_ref()?;
        Some(format!(
            "{} -d {} -n node{i} -P -w pet-file:{} --health-file={} --self-fence=record:{} watch",
            built_binary("palisade-sbd").display(),
            disk.device,
            self.dir.join(format!("watchdog{i}")).display(),
            self.sbd_health_file(i).display(),
            self.sbd_self_fence_record(i).display()
        ))
    }
}
