//! Helpers shared by the daemon tests: work directories, loop devices, our
//! `palisade-sbd watch` as a guarded child process, and sbd disk commands (ours or
//! Debian's). See the safety notes in each test file.
#![allow(dead_code)] // each test crate uses a different part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use watchdog::PetLog;

pub const OURS: &str = env!("CARGO_BIN_EXE_palisade-sbd");
pub const THEIR_SBD: &str = "/usr/sbin/sbd";
/// watchdog 3 s, allocate 1 s, loop 1 s, msgwait 6 s; the daemons run with `-I 1`.
pub const TIMEOUTS: [&str; 8] = ["-1", "3", "-2", "1", "-3", "1", "-4", "6"];
pub const WATCHDOG: Duration = Duration::from_secs(3);
pub const MSGWAIT: Duration = Duration::from_secs(6);
/// CAP_SYS_BOOT's bit in the capability sets.
pub const CAP_SYS_BOOT: u32 = 22;

/// A private directory under /var/tmp (not tmpfs), removed on drop.
pub struct Work {
    pub dir: PathBuf,
}

impl Work {
    pub fn new(test: &str) -> Work {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = PathBuf::from("/var/tmp").join(format!(
            "palisade-sbd-daemon-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create work directory");
        Work { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the daemon tests can run here; when not, a counted skip (a failure under
/// CI=true or as root: `testkit::skip::required`).
pub fn can_run(test: &str, need_debian_sbd: bool) -> bool {
    let skip = |why: &str| {
        testkit::skip::required(format!("sbd daemon test {test}: {why}"));
        false
    };
    if !is_root() {
        return skip("not root (setpriv --bounding-set and losetup need root)");
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        return skip("setpriv missing (util-linux)");
    }
    if need_debian_sbd && !Path::new(THEIR_SBD).exists() {
        return skip("/usr/sbin/sbd missing (apt-get install sbd)");
    }
    true
}

/// A loop device over an image in the work directory (tests/fixtures/sbd_loop.sh).
pub struct LoopDisk {
    pub name: String,
    pub dir: PathBuf,
    pub path: String,
}

pub fn loop_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sbd_loop.sh")
}

impl LoopDisk {
    pub fn attach(work: &Work, name: &str) -> Option<LoopDisk> {
        let out = Command::new("bash")
            .arg(loop_fixture())
            .args(["attach", name])
            .env("SBD_LOOP_DIR", &work.dir)
            .output()
            .ok()?;
        if !out.status.success() {
            testkit::skip::required(format!(
                "no loop device: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
            return None;
        }
        Some(LoopDisk {
            name: name.to_owned(),
            dir: work.dir.clone(),
            path: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        })
    }

    /// Truncate the image under the attached loop device: from now on every O_DIRECT
    /// read of the device fails with EIO (checked on Linux 6.x), as a failing disk would.
    pub fn fail_with_io_errors(&self) {
        let image = self.dir.join(format!("{}.img", self.name));
        std::fs::File::options()
            .write(true)
            .open(&image)
            .and_then(|f| f.set_len(0))
            .unwrap_or_else(|e| panic!("truncate {}: {e}", image.display()));
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(loop_fixture())
            .args(["detach", &self.name])
            .env("SBD_LOOP_DIR", &self.dir)
            .output();
    }
}

/// Run a disk command (ours or Debian's) to completion; returns (code, stdout+stderr).
pub fn disk_command(program: &str, devices: &[&str], args: &[&str]) -> (i32, String) {
    let mut command = Command::new(program);
    if program == THEIR_SBD {
        command
            .args(["-R", "-w", "/dev/null"])
            .env("SBD_WATCHDOG_DEV", "/dev/null")
            .env("SBD_PACEMAKER", "no");
    }
    for device in devices {
        command.args(["-d", device]);
    }
    let out = command
        .args(args)
        .env_remove("SBD_DEVICE")
        .env_remove("SBD_OPTS")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

pub fn must(program: &str, devices: &[&str], args: &[&str]) -> String {
    let (code, text) = disk_command(program, devices, args);
    assert_eq!(code, 0, "{program} {args:?} failed:\n{text}");
    text
}

/// The mailbox word of `node` in `sbd list` of one device.
pub fn listed(program: &str, device: &str, node: &str) -> String {
    let list = must(program, &[device], &["list"]);
    list.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&node))
        .and_then(|f| f.get(2).map(|s| s.to_string()))
        .unwrap_or_else(|| panic!("{node} not listed:\n{list}"))
}

/// Our daemon, running as node1 under setpriv with the test seams.
pub struct Watcher {
    pub child: Child,
    pub pets: PathBuf,
    pub record: PathBuf,
    pub log: PathBuf,
}

impl Watcher {
    pub fn start(
        work: &Work,
        tag: &str,
        devices: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Watcher {
        let pets = work.path(&format!("{tag}.pets"));
        let record = work.path(&format!("{tag}.record"));
        let log = work.path(&format!("{tag}.log"));
        let log_file = std::fs::File::create(&log).expect("create daemon log");
        let mut command = Command::new("/usr/bin/setpriv");
        command.args(["--bounding-set", "-sys_boot", OURS]);
        for device in devices {
            command.args(["-d", device]);
        }
        command
            .args(["-n", "node1", "-I", "1", "-v"])
            .arg("-w")
            .arg(format!("pet-file:{}", pets.display()))
            .arg(format!("--self-fence=record:{}", record.display()))
            .args(args)
            .arg("watch")
            .env_remove("SBD_DEVICE")
            .env_remove("SBD_OPTS")
            .env_remove("SBD_WATCHDOG_DEV")
            .env_remove("SBD_STARTMODE")
            .env("PALISADE_FORBID_SELF_FENCE", "1")
            .env("SBD_PACEMAKER", "no")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file);
        let child = command.spawn().expect("start palisade-sbd watch");
        Watcher {
            child,
            pets,
            record,
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pet_log(&self) -> PetLog {
        PetLog::read(&self.pets).unwrap_or_else(|e| panic!("pet log: {e}\n{}", self.log()))
    }

    pub fn record(&self) -> Option<String> {
        std::fs::read_to_string(&self.record).ok()
    }

    /// Wait until the watchdog is armed; also checks CAP_SYS_BOOT is not in the bounding set.
    pub fn wait_armed(&mut self) {
        let until = Instant::now() + Duration::from_secs(10);
        while PetLog::read(&self.pets).map_or(true, |l| l.armed_at().is_none()) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("daemon exited ({status}) before arming:\n{}", self.log());
            }
            assert!(Instant::now() < until, "not armed in 10 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("daemon /proc status");
        let bounding = status
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .expect("CapBnd line");
        assert_eq!(
            bounding & (1 << CAP_SYS_BOOT),
            0,
            "CAP_SYS_BOOT still bounded"
        );
    }

    /// The exit code if the daemon ends within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let until = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The watcher keeps its watchdog fed: a pet recorded after this call (the 30 s is
    /// only the harness's bound on a watcher that stopped petting), and, judged at that
    /// pet's own recorded time (the program's records, not the test's clock), the
    /// modelled watchdog never ran out between its pets.
    pub fn still_petting(&self) -> bool {
        let before = self.pet_log().last_pet();
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.pet_log();
            if let Some(last) = log.last_pet().filter(|&last| Some(last) > before) {
                return log.fired_at(last).is_none();
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: signalling our own child process by its PID.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill(); // our own child, by its handle
        }
        let _ = self.child.wait();
    }
}

/// Three file-backed sbd disks made by our CLI, node1 allocated.
pub fn three_file_disks(work: &Work) -> Vec<String> {
    let disks: Vec<String> = (0..3)
        .map(|i| work.path(&format!("disk{i}")).display().to_string())
        .collect();
    for disk in &disks {
        std::fs::File::create(disk)
            .and_then(|f| f.set_len(1 << 20))
            .expect("create disk file");
    }
    let refs: Vec<&str> = disks.iter().map(String::as_str).collect();
    must(OURS, &refs, &[&TIMEOUTS[..], &["create"]].concat());
    must(OURS, &refs, &["allocate", "node1"]);
    disks
}

/// Make a file-backed disk unreadable (every read is beyond its end).
pub fn lose(disk: &str) {
    std::fs::File::options()
        .write(true)
        .open(disk)
        .and_then(|f| f.set_len(0))
        .expect("truncate disk");
}
