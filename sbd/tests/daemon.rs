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
//! each test is a counted skip (a failure under CI=true or as root).

mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use watchdog::{monotonic_now, PetLog};

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
    let dev_owned = dev.to_owned();
    let sender = std::thread::spawn(move || {
        disk_command(
            THEIR_SBD,
            &[&dev_owned],
            &["-n", "node2", "message", "node1", "reset"],
        )
    });
    // The exit code, the record and the armed watchdog are the point; how soon after the
    // message the watcher acts is a number bench/sbd.sh prints (reset, ours vs theirs),
    // and the 30 s is only the harness's bound on a watcher that ignored the message.
    let code = watcher.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(21), "no reset:\n{}", watcher.log());
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
    assert!(watcher.still_petting(), "{}", watcher.log());
    must(
        THEIR_SBD,
        &[dev],
        &["-n", "node2", "message", "node1", "exit"],
    );
    // The exit code and the magic close are the point; the 30 s is only the harness's
    // bound on a daemon that ignored the message, not a measure of how fast it exits.
    assert_eq!(
        watcher.wait_exit(Duration::from_secs(30)),
        Some(0),
        "{}",
        watcher.log()
    );
    assert!(
        watcher.pet_log().magic_closed(),
        "no magic close:\n{}",
        watcher.log()
    );
    assert!(watcher.record().is_none());
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
    assert!(watcher.still_petting(), "{}", watcher.log());
    assert!(watcher.record().is_none());

    // Two of three: the pets stop and the starved watchdog turns into a self-fence.
    // A watcher that went on petting would never starve: the "watchdog starved" record
    // and the modelled expiry say the pets stopped (the 30 s is only the harness's bound;
    // how soon is a timing question, not asserted here).
    lose(&disks[1]);
    let code = watcher.wait_exit(Duration::from_secs(30));
    assert_eq!(code, Some(21), "no self-fence:\n{}", watcher.log());
    let record = watcher.record().expect("self-fence recorded");
    assert!(
        record.starts_with("reboot flush watchdog starved"),
        "{record}"
    );
    let pets = watcher.pet_log();
    assert!(pets.last_pet().is_some(), "pets before the loss");
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
    assert!(watcher.still_petting(), "{}", watcher.log());
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

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// SIGKILL for the forked daemon this test started, should the test fail before it ends.
struct KillOnDrop(i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if !ended(self.0) {
            // SAFETY: the PID of the daemon this test started, still running.
            unsafe { libc::kill(self.0, libc::SIGKILL) };
        }
    }
}

/// With a PID file `watch` forks as ClusterLabs sbd (systemd Type=forking): the command
/// returns 0 once the daemon armed the watchdog; the PID file names the daemon; SIGTERM
/// to it stops it cleanly (magic close) and removes the PID file.
#[test]
fn with_a_pid_file_watch_forks_and_sigterm_stops_cleanly() {
    if !can_run("sigterm", false) {
        return;
    }
    let work = Work::new("sigterm");
    let disks = three_file_disks(&work);
    let refs: Vec<&str> = disks.iter().map(String::as_str).collect();
    let pidfile = work.path("pid");
    let pid_arg = pidfile.display().to_string();
    let mut watcher = Watcher::start(&work, "w", &refs[..1], &["-p", &pid_arg], &[]);
    assert_eq!(
        watcher.wait_exit(Duration::from_secs(10)),
        Some(0),
        "{}",
        watcher.log()
    );
    let daemon: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    let _guard = KillOnDrop(daemon);
    assert_ne!(
        daemon as u32,
        watcher.child.id(),
        "the daemon is the forked child"
    );
    assert!(
        watcher.pet_log().armed_at().is_some(),
        "returned before arming"
    );
    assert!(!ended(daemon));
    // A second start with the same PID file is refused while the daemon runs.
    let mut second = Watcher::start(&work, "w2", &refs[..1], &["-p", &pid_arg], &[]);
    assert_eq!(second.wait_exit(Duration::from_secs(10)), Some(1));
    // SAFETY: signalling the daemon this test started (its PID file was just written).
    unsafe { libc::kill(daemon, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(10);
    while !ended(daemon) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ended(daemon), "daemon still running after SIGTERM");
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
    // The program's own last pet came before the stop (a stopped process cannot pet), so
    // this bound on its recorded times cannot be broken by a slow machine.
    assert!(
        fired <= stopped_at + WATCHDOG,
        "{fired:?} vs {stopped_at:?}"
    );
    // (Dropping the watcher kills the stopped process; the real watchdog would have
    // reset the node by now, whatever the daemon decides once continued.)
}
