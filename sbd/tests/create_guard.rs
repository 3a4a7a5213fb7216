//! `create` of the real binary against devices that hold data (issue #11, item 8): an
//! image file and a loop device with an ext4 filesystem are refused unless `--force` is
//! given, a mounted one is refused even then, zeroed or sbd devices are created as
//! ClusterLabs scripts expect (`sbd -d DEV create`, no extra option).
//!
//! Needs mkfs.ext4 (e2fsprogs) for the filesystem; the loop device and mount parts also
//! need root, losetup and mount. Without them a part is a counted skip (`SKIPPED:` line),
//! under CI=true or as root a failure (`testkit::skip::required`). Every
//! loop device and mount a test makes is released on drop (also when it fails), in
//! reverse order: unmount, then detach.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{disk_command, is_root, Work, OURS};

const MKFS: &str = "/usr/sbin/mkfs.ext4";

/// An 8 MiB image; ext4 when asked.
fn image(work: &Work, name: &str, ext4: bool) -> PathBuf {
    let path = work.path(name);
    std::fs::write(&path, vec![0u8; 8 << 20]).expect("write image");
    if ext4 {
        let status = Command::new(MKFS)
            .args(["-q", "-F"])
            .arg(&path)
            .status()
            .expect("run mkfs.ext4");
        assert!(status.success(), "mkfs.ext4 failed");
    }
    path
}

/// Whether the image still starts like ext4 (superblock magic at 1080).
fn still_ext4(path: &Path) -> bool {
    let bytes = std::fs::read(path).expect("read image");
    bytes[1080..1082] == [0x53, 0xef]
}

fn create(device: &str, extra: &[&str]) -> (i32, String) {
    disk_command(OURS, &[device], &[&["create"], extra].concat())
}

fn can_format(test: &str) -> bool {
    if Path::new(MKFS).exists() {
        return true;
    }
    testkit::skip::required(format!(
        "{test}: {MKFS} missing (apt-get install e2fsprogs)"
    ));
    false
}

/// A loop device over an image; detached on drop.
struct Loop {
    path: String,
}

impl Loop {
    fn attach(test: &str, image: &Path) -> Option<Loop> {
        if !is_root() {
            testkit::skip::required(format!("the loop device part of {test}: not root"));
            return None;
        }
        let mut last = String::new();
        for _ in 0..10 {
            let out = Command::new("losetup")
                .args(["-f", "--show"])
                .arg(image)
                .output()
                .ok()?;
            if out.status.success() {
                let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                return Some(Loop { path });
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        testkit::skip::required(format!("the loop device part of {test}: losetup: {last}"));
        None
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.path]).status();
    }
}

/// A mount of a loop device; unmounted on drop.
struct Mount {
    dir: PathBuf,
}

impl Mount {
    fn new(test: &str, device: &Loop, dir: PathBuf) -> Option<Mount> {
        std::fs::create_dir_all(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "ext4", &device.path])
            .arg(&dir)
            .output()
            .ok()?;
        if !out.status.success() {
            testkit::skip::required(format!(
                "the mount part of {test}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
        Some(Mount { dir })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn an_ext4_image_is_refused_unless_forced_a_zeroed_one_is_created() {
    let test = "an_ext4_image_is_refused_unless_forced";
    if !can_format(test) {
        return;
    }
    let work = Work::new("guard-image");
    let ext4 = image(&work, "ext4.img", true);
    let path = ext4.display().to_string();
    let (code, out) = create(&path, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("holds an ext2/3/4 filesystem"), "{out}");
    assert!(out.contains("--force"), "names the override: {out}");
    assert!(
        out.contains(&format!("==Device {path} NOT initialized")),
        "{out}"
    );
    assert!(still_ext4(&ext4), "nothing was written");

    let (code, out) = create(&path, &["--force"]);
    assert_eq!(code, 0, "{out}");
    assert!(!still_ext4(&ext4));
    // Now it is an sbd device: created again without a word, as sbd scripts expect.
    let (code, out) = create(&path, &[]);
    assert_eq!(code, 0, "{out}");

    let zeroed = image(&work, "zero.img", false).display().to_string();
    let (code, out) = create(&zeroed, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("Device {zeroed} is initialized.")),
        "{out}"
    );
    // --force is create's only.
    let (code, out) = disk_command(OURS, &[&zeroed], &["dump", "--force"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("--force only applies to create"), "{out}");
}

#[test]
fn a_mounted_loop_device_and_its_image_are_refused_even_forced() {
    let test = "a_mounted_loop_device_and_its_image_are_refused_even_forced";
    if !can_format(test) {
        return;
    }
    let work = Work::new("guard-loop");
    let ext4 = image(&work, "ext4.img", true);
    let image_path = ext4.display().to_string();
    let Some(device) = Loop::attach(test, &ext4) else {
        return;
    };
    // Not mounted: a filesystem signature, which --force overrides (checked below).
    let (code, out) = create(&device.path, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("holds an ext2/3/4 filesystem"), "{out}");

    {
        let Some(mount) = Mount::new(test, &device, work.path("mnt")) else {
            return;
        };
        let mount_point = mount.dir.display().to_string();
        for force in [&[][..], &["--force"][..]] {
            let (code, out) = create(&device.path, force);
            assert_eq!(code, 1, "{force:?}: {out}");
            assert!(
                out.contains(&format!(
                    "{} is in use: mounted on {mount_point};",
                    device.path
                )),
                "{out}"
            );
            assert!(out.contains("--force does not override"), "{out}");
            let (code, out) = create(&image_path, force);
            assert_eq!(code, 1, "{force:?}: {out}");
            assert!(
                out.contains(&format!(
                    "{} (attached to it) is mounted on {mount_point}",
                    device.path
                )),
                "{out}"
            );
        }
        assert!(still_ext4(&ext4), "nothing was written");
    } // unmounted here

    let (code, out) = create(&device.path, &["--force"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = disk_command(OURS, &[&device.path], &["dump"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_zeroed_loop_device_is_created_without_force() {
    let work = Work::new("guard-zero");
    let zeroed = image(&work, "zero.img", false);
    let Some(device) = Loop::attach("a_zeroed_loop_device_is_created_without_force", &zeroed)
    else {
        return;
    };
    let (code, out) = create(&device.path, &[]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = create(&device.path, &[]);
    assert_eq!(code, 0, "an sbd device is re-created without force: {out}");
}
