//! Our `palisade-sbd watch` daemon as a child process, driven from outside: Debian's real
//! sbd writes messages into its slot (reset → recorded self-fence within msgwait, exit →
//! clean stop, test → cleared, no fence), start mode clean refuses a pending reset, and
//! shared disks disappear (1 of 3 lost → keeps petting; 2 of 3 → the pets stop and the
//! starved watchdog is answered by a self-fence; with a healthy cluster reported through
//! the health file the node survives until that report stops).
//!
//! Safety: every daemon runs under `setpriv --bounding-set -sys_boot` (checked in
//! /proc: CAP_SYS_BOOT is gone) with `PALISADE_FORBID_SELF_FENCE=1`, the pet-file test
//! watchdog and the recording self-fence executor; no watchdog device is ever opened.
//! Debian's sbd only runs disk commands (`-R -w /dev/null`, SBD_WATCHDOG_DEV=/dev/null,
//! SBD_PACEMAKER=no), never `watch`. Daemons are killed by their own child handle.
//! Needs root (setpriv, losetup); the Debian part also needs /usr/sbin/sbd. Otherwise
//! each test prints a NOTICE and passes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use watchdog::{monotonic_now, PetLog};

const OURS: &str = env!("CARGO_BIN_EXE_palisade-sbd");
const THEIR_SBD: &str = "/usr/sbin/sbd";
/// watchdog 3 s, allocate 1 s, loop 1 s, msgwait 6 s; the daemons run with `-I 1`.
const TIMEOUTS: [&str; 8] = ["-1", "3", "-2", "1", "-3", "1", "-4", "6"];
const WATCHDOG: Duration = Duration::from_secs(3);
const MSGWAIT: Duration = Duration::from_secs(6);
/// CAP_SYS_BOOT's bit in the capability sets.
const CAP_SYS_BOOT: u32 = 22;

/// A private directory under /var/tmp (not tmpfs), removed on drop.
struct Work {
    dir: PathBuf,
}

impl Work {
    fn new(test: &str) -> Work {
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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the daemon tests can run here; prints a NOTICE when not.
fn can_run(test: &str, need_debian_sbd: bool) -> bool {
    let skip = |why: &str| {
        eprintln!("NOTICE: skipping sbd daemon test {test}: {why}");
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
struct LoopDisk {
    name: String,
    dir: PathBuf,
    path: String,
}

fn loop_fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sbd_loop.sh")
}

impl LoopDisk {
    fn attach(work: &Work, name: &str) -> Option<LoopDisk> {
        let out = Command::new("bash")
            .arg(loop_fixture())
            .args(["attach", name])
            .env("SBD_LOOP_DIR", &work.dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "NOTICE: no loop device: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(LoopDisk {
            name: name.to_owned(),
            dir: work.dir.clone(),
            path: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        })
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
fn disk_command(program: &str, devices: &[&str], args: &[&str]) -> (i32, String) {
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

fn must(program: &str, devices: &[&str], args: &[&str]) -> String {
    let (code, text) = disk_command(program, devices, args);
    assert_eq!(code, 0, "{program} {args:?} failed:\n{text}");
    text
}

/// The mailbox word of `node` in `sbd list` of one device.
fn listed(program: &str, device: &str, node: &str) -> String {
    let list = must(program, &[device], &["list"]);
    list.lines()
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&node))
        .and_then(|f| f.get(2).map(|s| s.to_string()))
        .unwrap_or_else(|| panic!("{node} not listed:\n{list}"))
}

/// Our daemon, running as node1 under setpriv with the test seams.
struct Watcher {
    child: Child,
    pets: PathBuf,
    record: PathBuf,
    log: PathBuf,
}

impl Watcher {
    fn start(
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

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn pet_log(&self) -> PetLog {
        PetLog::read(&self.pets).unwrap_or_else(|e| panic!("pet log: {e}\n{}", self.log()))
    }

    fn record(&self) -> Option<String> {
        std::fs::read_to_string(&self.record).ok()
    }

    /// Wait until the watchdog is armed; also checks CAP_SYS_BOOT is not in the bounding set.
    fn wait_armed(&mut self) {
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
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
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

    fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Age of the last pet now.
    fn last_pet_age(&self) -> Duration {
        let last = self.pet_log().last_pet().expect("at least one pet");
        monotonic_now().saturating_sub(last)
    }

    fn sigterm(&self) {
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

#[test]
fn debian_messages_drive_our_watcher() {
    if !can_run("debian_messages", true) {
        return;
    }
    let work = Work::new("debian");
    let Some(disk) = LoopDisk::attach(&work, "disk") else {
        return;
    };
    let dev = disk.path.as_str();
    must(THEIR_SBD, &[dev], &[&TIMEOUTS[..], &["create"]].concat());
    must(THEIR_SBD, &[dev], &["allocate", "node1"]);

    // reset → a recorded reset within msgwait, exit code 21, watchdog left armed.
    let mut watcher = Watcher::start(&work, "reset", &[dev], &[], &[]);
    watcher.wait_armed();
    let sent = Instant::now();
    let dev_owned = dev.to_owned();
    let sender = std::thread::spawn(move || {
        disk_command(
            THEIR_SBD,
            &[&dev_owned],
            &["-n", "node2", "message", "node1", "reset"],
        )
    });
    let code = watcher.wait_exit(MSGWAIT);
    let reacted = sent.elapsed();
    assert_eq!(
        code,
        Some(21),
        "no reset within msgwait:\n{}",
        watcher.log()
    );
    assert!(reacted < MSGWAIT, "{reacted:?}");
    let record = watcher.record().expect("self-fence recorded");
    assert!(record.starts_with("reboot flush reset message"), "{record}");
    assert!(!watcher.pet_log().magic_closed());
    let (code, text) = sender.join().expect("sender thread");
    assert_eq!(code, 0, "their message failed: {text}");
    assert_eq!(listed(THEIR_SBD, dev, "node1"), "reset");
    drop(watcher);

    // Start mode clean refuses to start over the pending reset; nothing armed or fenced.
    let mut refused = Watcher::start(&work, "clean", &[dev], &["-S", "1"], &[]);
    assert_eq!(
        refused.wait_exit(Duration::from_secs(10)),
        Some(1),
        "{}",
        refused.log()
    );
    assert!(
        refused.log().contains("aborting start-up"),
        "{}",
        refused.log()
    );
    assert!(refused.record().is_none());
    assert!(PetLog::read(&refused.pets).map_or(true, |l| l.armed_at().is_none()));
    drop(refused);

    // Start mode always (SBD_STARTMODE) clears it; test → cleared, no fence; exit → clean.
    let mut watcher = Watcher::start(&work, "exit", &[dev], &[], &[("SBD_STARTMODE", "always")]);
    watcher.wait_armed();
    assert_eq!(listed(THEIR_SBD, dev, "node1"), "clear");
    must(
        THEIR_SBD,
        &[dev],
        &["-n", "node2", "message", "node1", "test"],
    );
    assert!(
        watcher.running(),
        "test message stopped the daemon:\n{}",
        watcher.log()
    );
    assert_eq!(listed(THEIR_SBD, dev, "node1"), "clear");
    assert!(
        watcher.log().contains("Received command test"),
        "{}",
        watcher.log()
    );
    assert!(watcher.last_pet_age() < Duration::from_millis(1500));
    let sent = Instant::now();
    must(
        THEIR_SBD,
        &[dev],
        &["-n", "node2", "message", "node1", "exit"],
    );
    assert_eq!(
        watcher.wait_exit(Duration::from_secs(5)),
        Some(0),
        "{}",
        watcher.log()
    );
    assert!(sent.elapsed() < Duration::from_secs(5));
    assert!(
        watcher.pet_log().magic_closed(),
        "no magic close:\n{}",
        watcher.log()
    );
    assert!(watcher.record().is_none());
}

/// Three file-backed sbd disks made by our CLI, node1 allocated.
fn three_file_disks(work: &Work) -> Vec<String> {
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
fn lose(disk: &str) {
    std::fs::File::options()
        .write(true)
        .open(disk)
        .and_then(|f| f.set_len(0))
        .expect("truncate disk");
}

#[test]
fn losing_the_disk_majority_starves_the_watchdog_and_self_fences() {
    if !can_run("majority_lost", false) {
        return;
    }
    let work = Work::new("majority");
    let disks = three_file_disks(&work);
    let refs: Vec<&str> = disks.iter().map(String::as_str).collect();
    let mut watcher = Watcher::start(&work, "w", &refs, &[], &[]);
    watcher.wait_armed();

    // One of three lost: still a majority, pets go on.
    lose(&disks[0]);
    std::thread::sleep(WATCHDOG * 2);
    assert!(watcher.running(), "{}", watcher.log());
    assert!(
        watcher.last_pet_age() < Duration::from_millis(1500),
        "{}",
        watcher.log()
    );
    assert!(watcher.record().is_none());

    // Two of three: the pets stop and the starved watchdog turns into a self-fence.
    let lost_at = monotonic_now();
    lose(&disks[1]);
    let code = watcher.wait_exit(WATCHDOG * 3);
    assert_eq!(code, Some(21), "no self-fence:\n{}", watcher.log());
    let record = watcher.record().expect("self-fence recorded");
    assert!(
        record.starts_with("reboot flush watchdog starved"),
        "{record}"
    );
    let pets = watcher.pet_log();
    let last = pets.last_pet().expect("pets before the loss");
    assert!(
        last < lost_at + Duration::from_millis(1500),
        "pets went on after the majority was lost"
    );
    assert!(
        pets.fired_at(monotonic_now()).is_some(),
        "the watchdog would not fire"
    );
    assert!(!pets.magic_closed());
}

#[test]
fn a_healthy_cluster_keeps_the_node_alive_until_its_reports_stop() {
    if !can_run("cluster_health", false) {
        return;
    }
    let work = Work::new("health");
    let disks = three_file_disks(&work);
    let refs: Vec<&str> = disks.iter().map(String::as_str).collect();
    let health = work.path("health");
    let reporting = Arc::new(AtomicBool::new(true));
    let (flag, file) = (reporting.clone(), health.clone());
    let reporter = std::thread::spawn(move || {
        while flag.load(Ordering::SeqCst) {
            sbd::daemon::health::write_health(
                &file,
                sbd::inquisitor::ClusterHealth::QuorateHealthy,
                "test reporter",
            )
            .expect("write health file");
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let health_arg = format!("--health-file={}", health.display());
    let mut watcher = Watcher::start(
        &work,
        "w",
        &refs,
        &[&health_arg],
        &[("SBD_PACEMAKER", "yes")],
    );
    watcher.wait_armed();
    lose(&disks[0]);
    lose(&disks[1]);
    std::thread::sleep(WATCHDOG * 2);
    assert!(watcher.running(), "{}", watcher.log());
    assert!(
        watcher.last_pet_age() < Duration::from_millis(1500),
        "{}",
        watcher.log()
    );
    assert!(
        watcher.log().contains("surviving on the cluster"),
        "{}",
        watcher.log()
    );

    reporting.store(false, Ordering::SeqCst);
    reporter.join().expect("reporter thread");
    let code = watcher.wait_exit(WATCHDOG * 4);
    assert_eq!(
        code,
        Some(21),
        "no self-fence after the reports stopped:\n{}",
        watcher.log()
    );
    let record = watcher.record().expect("self-fence recorded");
    assert!(
        record.starts_with("reboot flush watchdog starved"),
        "{record}"
    );
}

#[test]
fn sigterm_stops_cleanly_with_magic_close() {
    if !can_run("sigterm", false) {
        return;
    }
    let work = Work::new("sigterm");
    let disks = three_file_disks(&work);
    let refs: Vec<&str> = disks.iter().map(String::as_str).collect();
    let pidfile = work.path("pid");
    let pid_arg = pidfile.display().to_string();
    let mut watcher = Watcher::start(&work, "w", &refs[..1], &["-p", &pid_arg], &[]);
    watcher.wait_armed();
    let pid = std::fs::read_to_string(&pidfile).expect("pid file");
    assert_eq!(pid.trim(), watcher.child.id().to_string());
    watcher.sigterm();
    assert_eq!(
        watcher.wait_exit(Duration::from_secs(3)),
        Some(0),
        "{}",
        watcher.log()
    );
    assert!(watcher.pet_log().magic_closed());
    assert!(!pidfile.exists(), "pid file left behind");
}

#[test]
fn the_record_executor_is_refused_without_the_forbid_variable() {
    if !can_run("record_refused", false) {
        return;
    }
    let work = Work::new("refused");
    let disks = three_file_disks(&work);
    let mut command = Command::new("/usr/bin/setpriv");
    let out = command
        .args([
            "--bounding-set",
            "-sys_boot",
            OURS,
            "-d",
            &disks[0],
            "-n",
            "node1",
        ])
        .arg(format!("-wpet-file:{}", work.path("pets").display()))
        .arg(format!(
            "--self-fence=record:{}",
            work.path("rec").display()
        ))
        .arg("watch")
        .env_remove("PALISADE_FORBID_SELF_FENCE")
        .env("SBD_PACEMAKER", "no")
        .stdin(Stdio::null())
        .output()
        .expect("run palisade-sbd");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PALISADE_FORBID_SELF_FENCE"), "{stderr}");
    assert!(!work.path("pets").exists(), "watchdog armed anyway");
}

#[test]
fn a_stopped_daemon_lets_the_watchdog_expire() {
    if !can_run("sigstop", false) {
        return;
    }
    let work = Work::new("sigstop");
    let disks = three_file_disks(&work);
    let refs: Vec<&str> = disks.iter().map(String::as_str).collect();
    let mut watcher = Watcher::start(&work, "w", &refs, &[], &[]);
    watcher.wait_armed();
    let pid = libc::pid_t::try_from(watcher.child.id()).expect("pid fits");
    // SAFETY: signalling our own child process by its PID.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let stopped_at = monotonic_now();
    std::thread::sleep(WATCHDOG + Duration::from_secs(1));
    let pets = watcher.pet_log();
    let fired = pets
        .fired_at(monotonic_now())
        .expect("the watchdog expired");
    assert!(
        fired <= stopped_at + WATCHDOG,
        "{fired:?} vs {stopped_at:?}"
    );
    // (Dropping the watcher kills the stopped process; the real watchdog would have
    // reset the node by now, whatever the daemon decides once continued.)
}
