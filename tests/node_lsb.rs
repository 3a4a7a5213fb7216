//! `palisade node` running LSB init scripts and systemd units on a one-node cluster on
//! loopback (no root needed). The LSB service is `tests/fixtures/lsb/palisade-websvc`, a
//! real init script with a pid file and a daemon; the systemd units go through the fake
//! `tests/fixtures/systemd/systemctl`, which records its calls and answers `is-active`.
//! Checked: the probe finds a leftover instance and stops it, start, recurring status,
//! recovery after the daemon is killed, a start that keeps failing is given up, a unit
//! that takes a moment to come up, a unit systemd does not know, and the stops on SIGTERM.

#[allow(unused_imports)]
mod common_cluster;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common_cluster::{read_events, Ev};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

const SERVICE: &str = "palisade-websvc";

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p =
            std::env::temp_dir().join(format!("palisade-node-lsb-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        std::fs::write(p.join("key"), "0123456789abcdef0123").expect("key");
        Dir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// `fixture` linked into `sub` of this directory (the fixtures keep state beside them).
    fn link(&self, sub: &str, fixture: &str) -> PathBuf {
        let dir = self.path(sub);
        std::fs::create_dir_all(&dir).expect("fixture dir");
        let name = Path::new(fixture).file_name().expect("file name");
        let link = dir.join(name);
        std::os::unix::fs::symlink(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(fixture),
            &link,
        )
        .expect("symlink");
        link
    }

    /// A one-node cluster with fast timers; `cluster` goes into [cluster], `resources` last.
    fn config(&self, cluster: &str, resources: &str) -> PathBuf {
        let port =
            30000 + (std::process::id() % 5000) * 4 + NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        let text = format!(
            "[cluster]\nid = 5\nkey-file = \"{}\"\nnode = \"solo\"\nport = {port}\nevents = \"{}\"\n{cluster}\n\
             [timers]\nkeepalive = \"100ms\"\ndeadtime = \"500ms\"\ninitdead = \"1s\"\n\
             [fencing]\nenabled = false\n\n\
             [[node]]\nname = \"solo\"\nid = 1\naddresses = [\"127.0.0.1\"]\n\n{resources}",
            self.path("key").display(),
            self.path("events").display(),
        );
        let path = self.path("node.toml");
        std::fs::write(&path, text).expect("config");
        path
    }
}

impl Dir {
    /// The node's events (`[cluster] events`).
    fn events(&self) -> Vec<Ev> {
        read_events(&self.path("events"))
    }

    /// Whether some event satisfies `f`.
    fn saw(&self, f: impl Fn(&Ev) -> bool) -> bool {
        self.events().iter().any(f)
    }
}

/// Whether `e` says resource `r` finished operation `action` (start, stop).
fn done(e: &Ev, action: &str, r: &str) -> bool {
    e.kind == "resource_done" && e.str("action") == action && e.str("resource") == r
}

/// Whether `e` is a `kind` event of resource `r` whose rc has `code`.
fn failed(e: &Ev, kind: &str, r: &str, code: i64) -> bool {
    e.kind == kind && e.str("resource") == r && e.fields["rc"]["code"] == code
}

/// Whether `e` leaves resource `r` stopped here for `cause`.
fn left_stopped(e: &Ev, r: &str, cause: &str) -> bool {
    e.kind == "left_stopped" && e.str("resource") == r && e.str("cause") == cause
}

impl Drop for Dir {
    fn drop(&mut self) {
        // Never leave a fixture daemon behind, whatever the test did.
        let script = self.path("init.d").join(SERVICE);
        if script.exists() {
            let _ = Command::new(&script).arg("stop").output();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_node(dir: &Dir, config: &Path) -> Child {
    let out = std::fs::File::create(dir.path("out")).expect("out");
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .arg("node")
        .arg("--config")
        .arg(config)
        .env("PALISADE_FORBID_SELF_FENCE", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("start palisade node")
}

/// SIGTERM the node; its exit code and everything it printed.
fn stop_node(dir: &Dir, mut child: Child) -> (Option<i32>, String) {
    // SAFETY: kill(2) on the PID of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    let out = std::fs::read_to_string(dir.path("out")).unwrap_or_default();
    (status.code(), out)
}

fn wait_for(what: impl Fn() -> bool, secs: u64) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while !what() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The `<action> <code>` part of each line of the fixture's log.
fn actions(log: &Path) -> Vec<String> {
    read(log)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string()))
        .collect()
}

/// Whether `seq` appears in `list` in order (not necessarily adjacent).
fn in_order(list: &[String], seq: &[&str]) -> bool {
    let mut it = list.iter();
    seq.iter().all(|want| it.any(|have| have == want))
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}/cmdline")).exists()
        && !read(Path::new(&format!("/proc/{pid}/cmdline"))).is_empty()
}

#[test]
fn an_lsb_service_is_cleaned_started_monitored_recovered_and_stopped() {
    let dir = Dir::new("life");
    let script = dir.link("init.d", &format!("lsb/{SERVICE}"));
    let log = dir.path(&format!("init.d/{SERVICE}.log"));
    let pidfile = dir.path(&format!("init.d/{SERVICE}.pid"));
    let pid = || read(&pidfile).trim().parse::<i32>().ok();
    // Left running by an earlier life of this node.
    let o = Command::new(&script).arg("start").output().expect("start");
    assert!(o.status.success(), "{o:?}");
    let leftover = pid().expect("leftover pid");
    let config = dir.config(
        &format!("lsb-dir = \"{}\"", dir.path("init.d").display()),
        &format!("[[resource]]\nname = \"web\"\nagent = \"lsb:{SERVICE}\"\nmonitor-interval = \"200ms\"\n"),
    );
    let child = start_node(&dir, &config);
    // Probed running, stopped, started anew and watched.
    let cleaned = wait_for(
        || {
            in_order(
                &actions(&log),
                &["start 0", "status 0", "stop 0", "start 0", "status 0"],
            )
        },
        15,
    );
    let first = pid();
    // The daemon dies: status says "dead, pid file left" (1), the node restarts it.
    if let Some(p) = first {
        // SAFETY: kill(2) on the fixture daemon's process group, which this test started.
        unsafe { libc::kill(-p, libc::SIGKILL) };
    }
    let recovered = cleaned
        && wait_for(
            || {
                let a = actions(&log);
                let after = a.iter().position(|x| x == "status 1").map(|i| &a[i..]);
                after.is_some_and(|rest| in_order(rest, &["stop 0", "start 0", "status 0"]))
            },
            15,
        );
    let second = pid();
    let (code, out) = stop_node(&dir, child);
    let log_text = read(&log);
    assert!(cleaned, "never cleaned up and started:\n{log_text}\n{out}");
    assert!(recovered, "never recovered:\n{log_text}\n{out}");
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        actions(&log).last().map(String::as_str),
        Some("stop 0"),
        "{log_text}"
    );
    assert!(!pidfile.exists(), "pid file left after the stop");
    for p in [Some(leftover), first, second].into_iter().flatten() {
        assert!(!pid_alive(p), "daemon {p} still runs");
    }
    assert_ne!(first, second, "not restarted");
    let checks: [common_cluster::Check; 4] = [
        ("a leftover probed", &|e| {
            e.kind == "probed_running" && e.str("resource") == "web"
        }),
        ("web started", &|e| done(e, "start", "web")),
        ("a first monitor failure, restarting", &|e| {
            failed(e, "monitor_failed", "web", 7)
                && e.u64("failures") == Some(1)
                && !e.flag("threshold_reached")
        }),
        ("web stopped", &|e| done(e, "stop", "web")),
    ];
    for (what, check) in checks {
        assert!(dir.saw(check), "missing {what}:\n{out}");
    }
}

#[test]
fn an_lsb_service_that_cannot_start_is_given_up() {
    let dir = Dir::new("fail");
    dir.link("init.d", &format!("lsb/{SERVICE}"));
    std::fs::write(dir.path(&format!("init.d/{SERVICE}.fail-start")), "").expect("fail-start");
    let log = dir.path(&format!("init.d/{SERVICE}.log"));
    let config = dir.config(
        &format!("lsb-dir = \"{}\"", dir.path("init.d").display()),
        // start-failure-is-fatal off: each failed start counts one failure of two.
        &format!(
            "[options]\nstart-failure-is-fatal = false\n\n\
             [[resource]]\nname = \"web\"\nagent = \"lsb:{SERVICE}\"\nmax-failures = 2\n"
        ),
    );
    let child = start_node(&dir, &config);
    let gave_up = wait_for(
        || {
            dir.saw(|e| {
                left_stopped(e, "web", "migration_threshold") && e.u64("failures") == Some(2)
            })
        },
        15,
    );
    let (code, out) = stop_node(&dir, child);
    let log_text = read(&log);
    assert!(gave_up, "{log_text}\n{out}");
    assert_eq!(code, Some(0), "{out}");
    // Probe (not running), then each failed start is cleaned up with a stop.
    assert_eq!(
        actions(&log)[..5],
        ["status 3", "start 1", "stop 0", "start 1", "stop 0"],
        "{log_text}"
    );
    assert!(
        dir.saw(|e| failed(e, "start_failed", "web", 1)
            && e.u64("failures") == Some(1)
            && !e.flag("infinity")),
        "{out}"
    );
    assert!(
        out.contains("refusing to start"),
        "the script's stderr: {out}"
    );
}

#[test]
fn systemd_units_run_through_systemctl() {
    let dir = Dir::new("systemd");
    let systemctl = dir.link("bin", "systemd/systemctl");
    let calls = dir.path("bin/systemctl.log");
    std::fs::create_dir_all(dir.path("bin/units")).expect("units");
    std::fs::write(dir.path("bin/units/ghost.service.absent"), "").expect("absent unit");
    let config = dir.config(
        &format!("systemctl = \"{}\"", systemctl.display()),
        "[[resource]]\nname = \"web\"\nagent = \"systemd:palisade-web\"\nmonitor-interval = \"200ms\"\n\n\
         [[resource]]\nname = \"ghost\"\nagent = \"systemd:ghost.service\"\nmax-failures = 1\n",
    );
    let child = start_node(&dir, &config);
    let web_calls = || -> Vec<String> {
        read(&calls)
            .lines()
            .filter(|l| l.contains("palisade-web"))
            .map(|l| l.trim_start_matches("--no-ask-password ").to_string())
            .collect()
    };
    let unit = "palisade-web.service";
    let probe = format!("is-active {unit}");
    let start = format!("start {unit}");
    let stop = format!("stop {unit}");
    let monitored = wait_for(
        || {
            let c = web_calls();
            c.len() >= 6 && c[..4] == [probe.clone(), start.clone(), probe.clone(), probe.clone()]
        },
        15,
    );
    // start-failure-is-fatal (the default): banned here after its first failed start.
    let gave_up = wait_for(
        || dir.saw(|e| left_stopped(e, "ghost", "start_failure_is_fatal")),
        10,
    );
    let (code, out) = stop_node(&dir, child);
    let all = read(&calls);
    assert!(monitored, "{all}\n{out}");
    assert!(gave_up, "{all}\n{out}");
    assert_eq!(code, Some(0), "{out}");
    // Stopped on SIGTERM, and the stop waits for the unit to be inactive.
    let c = web_calls();
    assert_eq!(c[c.len() - 2..], [stop.clone(), probe.clone()], "{all}");
    assert!(
        all.lines().all(|l| l.starts_with("--no-ask-password ")),
        "{all}"
    );
    assert_eq!(
        read(&dir.path(&format!("bin/units/{unit}"))).trim(),
        "inactive"
    );
    let checks: [common_cluster::Check; 3] = [
        ("web started", &|e| done(e, "start", "web")),
        ("web stopped", &|e| done(e, "stop", "web")),
        ("ghost's start failed, failcount INFINITY", &|e| {
            failed(e, "start_failed", "ghost", 5) && e.flag("infinity")
        }),
    ];
    for (what, check) in checks {
        assert!(dir.saw(check), "missing {what}:\n{out}");
    }
}
