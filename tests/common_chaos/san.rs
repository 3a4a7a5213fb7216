//! The workload's shared disk, as a SAN LUN seen by several hosts: one ext4 image file
//! and, per node, its own path to it: a FUSE mount of the image (the lab's
//! `stall_disk.py`, direct I/O, so no host cache sits between the nodes) with the node's
//! own loop device over it. Node `i`'s device is the symlink `SAN/disk<i>`, which the
//! `chaos:SharedFs` agent resolves. Per node, the path can be stalled (SIGSTOP to its
//! FUSE daemon: every I/O of that node hangs, the others' go on), resumed, or cut (the
//! FUSE daemon killed, so pending I/O fails and nothing more of that node reaches the
//! image: what a power cut does to a host's HBA) and attached again before a power-on.
//!
//! Safety: only the loop devices, FUSE mounts and daemons made here are touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common_cluster::{fixtures, wait_until};

/// The Python that has Debian's fusepy.
const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Size of the image (MiB).
const IMAGE_MIB: u64 = 32;

/// One node's path to the image.
struct Path1 {
    fuse: Child,
    mountpoint: PathBuf,
    loop_device: String,
    stalled: bool,
}

/// The shared image and every node's path to it.
pub struct San {
    /// Directory of the image, the FUSE mounts, the mount point and the fsck log.
    pub dir: PathBuf,
    paths: BTreeMap<usize, Path1>,
}

impl San {
    /// The image, formatted ext4, in `dir` (created); no node attached yet.
    pub fn new(dir: &Path) -> San {
        std::fs::create_dir_all(dir.join("mnt")).expect("SAN directory");
        let san = San {
            dir: dir.to_path_buf(),
            paths: BTreeMap::new(),
        };
        let image = std::fs::File::create(san.image()).expect("image");
        image.set_len(IMAGE_MIB << 20).expect("image size");
        let mkfs = Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "chaos"])
            .arg(san.image())
            .status()
            .expect("mkfs.ext4");
        assert!(mkfs.success(), "mkfs.ext4 failed");
        std::fs::write(san.fsck_log(), b"").expect("fsck log");
        san
    }

    /// The image file.
    pub fn image(&self) -> PathBuf {
        self.dir.join("san.img")
    }

    /// Where the nodes mount it (each in its own mount namespace).
    pub fn mountpoint(&self) -> PathBuf {
        self.dir.join("mnt")
    }

    /// The fsck log of `chaos:SharedFs` (`<time> <node> fsck <rc>` and `mounted_elsewhere`).
    pub fn fsck_log(&self) -> PathBuf {
        self.dir.join("fsck.log")
    }

    /// Node `i`'s device (a symlink to its loop device).
    pub fn device(&self, i: usize) -> PathBuf {
        self.dir.join(format!("disk{i}"))
    }

    /// Give node `i` a path to the image (nothing if it has one that is not cut).
    pub fn attach(&mut self, i: usize) {
        if self.paths.contains_key(&i) {
            return;
        }
        let mountpoint = self.dir.join(format!("fuse{i}"));
        std::fs::create_dir_all(&mountpoint).expect("FUSE mount point");
        let fuse = Command::new(SYSTEM_PYTHON)
            .arg(fixtures().join("stall_disk.py"))
            .arg(&mountpoint)
            .arg(self.image())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start stall_disk.py");
        let file = mountpoint.join("disk");
        let mut path = Path1 {
            fuse,
            mountpoint,
            loop_device: String::new(),
            stalled: false,
        };
        let mounted = wait_until(Duration::from_secs(10), || file.exists());
        if !mounted {
            release(&mut path);
            panic!("stall_disk.py did not mount {}", file.display());
        }
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&file)
            .output()
            .expect("losetup");
        if !out.status.success() {
            release(&mut path);
            panic!("losetup failed: {out:?}");
        }
        path.loop_device = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let link = self.device(i);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&path.loop_device, &link).expect("device link");
        self.paths.insert(i, path);
    }

    /// Every I/O of node `i` hangs from now on.
    pub fn stall(&mut self, i: usize) {
        if let Some(p) = self.paths.get_mut(&i) {
            // SAFETY: kill(2) on the FUSE daemon this harness started.
            unsafe { libc::kill(p.fuse.id() as i32, libc::SIGSTOP) };
            p.stalled = true;
        }
    }

    /// Whether node `i`'s path is stalled.
    pub fn stalled(&self, i: usize) -> bool {
        self.paths.get(&i).is_some_and(|p| p.stalled)
    }

    /// Node `i`'s I/O goes on.
    pub fn resume(&mut self, i: usize) {
        if let Some(p) = self.paths.get_mut(&i) {
            // SAFETY: as in stall.
            unsafe { libc::kill(p.fuse.id() as i32, libc::SIGCONT) };
            p.stalled = false;
        }
    }

    /// Node `i`'s path is gone (its power is): pending and later I/O fail, none reaches
    /// the image. [`San::attach`] gives it a new one.
    pub fn cut(&mut self, i: usize) {
        if let Some(mut p) = self.paths.remove(&i) {
            release(&mut p);
        }
        let _ = std::fs::remove_file(self.device(i));
    }

    /// Every path cut (after the nodes are off), the files left for inspection.
    pub fn remove(&mut self) {
        let nodes: Vec<usize> = self.paths.keys().copied().collect();
        for i in nodes {
            self.cut(i);
        }
    }
}

/// Kill a path's FUSE daemon (pending requests fail), detach its loop device, unmount.
fn release(p: &mut Path1) {
    let _ = p.fuse.kill();
    // SAFETY: SIGCONT to our FUSE daemon, so a stopped one dies now.
    unsafe { libc::kill(p.fuse.id() as i32, libc::SIGCONT) };
    let _ = p.fuse.wait();
    if !p.loop_device.is_empty() {
        let _ = Command::new("losetup")
            .args(["-d", &p.loop_device])
            .stderr(Stdio::null())
            .status();
    }
    let _ = Command::new("umount")
        .arg("-l")
        .arg(&p.mountpoint)
        .stderr(Stdio::null())
        .status();
}

impl Drop for San {
    fn drop(&mut self) {
        self.remove();
    }
}
