//! `palisade node` as a command (no root needed): usage and configuration errors with
//! their exit codes, `--check`, start-up failures, the self-fence executor guard, and a
//! one-node cluster on loopback that stops a leftover instance of its resource (the
//! Logger OCF test agent), starts it, and stops it on SIGTERM.

#[allow(unused_imports)]
mod common_cluster;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

fn palisade() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    c.arg("node").env("PALISADE_FORBID_SELF_FENCE", "1");
    c
}

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p =
            std::env::temp_dir().join(format!("palisade-node-cli-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        std::fs::write(p.join("key"), "0123456789abcdef0123").expect("key");
        Dir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn config(&self, body: &str) -> PathBuf {
        let text = format!(
            "[cluster]\nid = 3\nkey-file = \"{}\"\nnode = \"solo\"\nport = {}\n{body}",
            self.path("key").display(),
            // Distinct per test of this process (they run in parallel).
            20000 + (std::process::id() % 5000) * 4 + NEXT_PORT.fetch_add(1, Ordering::SeqCst)
        );
        let path = self.path("node.toml");
        std::fs::write(&path, text).expect("config");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const SOLO: &str = "[fencing]\nenabled = false\n\n[[node]]\nname = \"solo\"\nid = 1\naddresses = [\"127.0.0.1\"]\n";

fn run(args: &[&str]) -> Output {
    palisade().args(args).output().expect("run palisade node")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn usage_and_configuration_errors() {
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("--config FILE is required"),
        "{}",
        stderr(&o)
    );
    assert_eq!(run(&["--config", "x", "--bogus"]).status.code(), Some(2));
    assert_eq!(run(&["--help"]).status.code(), Some(0));
    let o = run(&["--config", "/nonexistent/node.toml"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));

    let dir = Dir::new("errors");
    let timers = format!("{SOLO}[timers]\nkeepalive = \"1s\"\ndeadtime = \"2s\"\n");
    let policy = format!("{SOLO}[quorum]\nno-quorum-policy = \"maybe\"\n");
    let cases = [
        (timers.as_str(), "deadtime"),
        (policy.as_str(), "no-quorum-policy"),
        ("", "no [[node]] configured"),
        (
            "[[node]]\nname = \"other\"\nid = 2\naddresses = [\"127.0.0.2\"]\n",
            "'solo' is not a configured",
        ),
        (
            "[[node]]\nname = \"solo\"\nid = 1\naddresses = [\"127.0.0.1\"]\n",
            "fence device",
        ),
        ("garbage = [", "TOML"),
    ];
    for (body, needle) in cases {
        let config = dir.config(body);
        let o = run(&["--config", &config.display().to_string()]);
        assert_eq!(o.status.code(), Some(3), "{body}");
        let err = stderr(&o);
        assert!(
            err.contains(needle) || (needle == "TOML" && err.contains("node.toml")),
            "{body}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let config = dir.config(SOLO);
    let o = run(&["--config", &config.display().to_string(), "--check"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("configuration ok"));
}

#[test]
fn start_up_failures_are_clear() {
    let dir = Dir::new("startup");
    // An address this host does not have: the ring socket cannot be bound.
    let config = dir.config(&SOLO.replace("127.0.0.1", "192.0.2.77"));
    let o = run(&["--config", &config.display().to_string()]);
    assert_eq!(o.status.code(), Some(7));
    assert!(stderr(&o).contains("cannot bind"), "{}", stderr(&o));
    // The test self-fence recorder is refused outside tests.
    let body = format!(
        "[quorum]\nno-quorum-policy = \"fence\"\n{}",
        SOLO.replace(
            "enabled = false",
            &format!(
                "enabled = false\nself-fence = \"record:{}\"",
                dir.path("sf").display()
            )
        )
    );
    let config = dir.config(&body);
    let o = palisade()
        .args(["--config", &config.display().to_string()])
        .env_remove("PALISADE_FORBID_SELF_FENCE")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(7));
    assert!(
        stderr(&o).contains("PALISADE_FORBID_SELF_FENCE"),
        "{}",
        stderr(&o)
    );
    // The kernel executor is refused under cargo: policy fence cannot start here.
    let config = dir.config(&body.replace(
        &format!("self-fence = \"record:{}\"", dir.path("sf").display()),
        "",
    ));
    let o = run(&["--config", &config.display().to_string()]);
    assert_eq!(o.status.code(), Some(7));
    assert!(stderr(&o).contains("kernel self-fence"), "{}", stderr(&o));
}

#[test]
fn one_node_cleans_a_leftover_runs_its_resource_and_stops_it_on_sigterm() {
    let dir = Dir::new("solo");
    let root = dir.path("ocf");
    std::fs::create_dir_all(root.join("resource.d")).expect("ocf root");
    std::os::unix::fs::symlink(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cluster/ocf/resource.d/palisade"),
        root.join("resource.d/palisade"),
    )
    .expect("symlink");
    let log = dir.path("resource.log");
    let body = format!(
        "events = \"{}\"\nocf-root = \"{}\"\n[timers]\nkeepalive = \"100ms\"\ndeadtime = \"500ms\"\ninitdead = \"1s\"\n{SOLO}\n\
         [[resource]]\nname = \"svc\"\nagent = \"ocf:palisade:Logger\"\nparams = {{ log = \"{}\", state = \"{}\" }}\nmonitor-interval = \"100ms\"\n",
        dir.path("events").display(),
        root.display(),
        log.display(),
        dir.path("svc.state").display()
    );
    let config = dir.config(&body);
    // Left running by an earlier life of this node: probed, stopped, then started anew.
    std::fs::write(dir.path("svc.state"), "").expect("leftover state");
    let out = std::fs::File::create(dir.path("out")).expect("out");
    let mut child = palisade()
        .args(["--config", &config.display().to_string()])
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("start");
    // Running: a recurring monitor logged after the start.
    let monitored_after_start = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.find(" start ")
            .is_some_and(|at| text[at..].contains(" monitor "))
    };
    let end = Instant::now() + Duration::from_secs(10);
    while !monitored_after_start() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let started = monitored_after_start();
    // SAFETY: kill(2) on the PID of the child we just started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("wait");
    let timeline = std::fs::read_to_string(dir.path("out")).unwrap_or_default();
    assert!(started, "resource never ran:\n{timeline}");
    assert_eq!(status.code(), Some(0), "{timeline}");
    let text = std::fs::read_to_string(&log).expect("log");
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(events[..3], ["monitor", "stop", "start"], "{text}");
    assert_eq!(events.last(), Some(&"stop"), "{text}");
    let events = common_cluster::read_events(&dir.path("events"));
    let svc = |e: &common_cluster::Ev, kind: &str| e.kind == kind && e.str("resource") == "svc";
    let done =
        |e: &common_cluster::Ev, action: &str| svc(e, "resource_done") && e.str("action") == action;
    let checks: [common_cluster::Check; 6] = [
        ("the leftover probed", &|e| svc(e, "probed_running")),
        ("a quorate view of 1 of 1 votes", &|e| {
            e.verdict() == Some(true) && e.u64("votes") == Some(1) && e.u64("expected") == Some(1)
        }),
        ("svc placed on solo", &|e| {
            svc(e, "placement") && e.str("target") == "solo"
        }),
        ("svc started", &|e| done(e, "start")),
        ("svc stopped", &|e| done(e, "stop")),
        ("the daemon stopped", &|e| e.kind == "stopped"),
    ];
    for (what, check) in checks {
        assert!(events.iter().any(check), "missing {what}:\n{timeline}");
    }
}

#[test]
fn a_quorate_node_keeps_the_sbd_health_file_fresh() {
    let dir = Dir::new("health");
    let health = dir.path("sbd-health");
    let body = format!(
        "sbd-health-file = \"{}\"\n[timers]\nkeepalive = \"100ms\"\ndeadtime = \"500ms\"\ninitdead = \"1s\"\n{SOLO}",
        health.display()
    );
    let config = dir.config(&body);
    let mut child = palisade()
        .args(["--config", &config.display().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start");
    let report = || std::fs::read_to_string(&health).unwrap_or_default();
    let end = Instant::now() + Duration::from_secs(10);
    while !report().starts_with("quorate-healthy") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let first = std::fs::metadata(&health).and_then(|m| m.modified()).ok();
    std::thread::sleep(Duration::from_millis(400));
    let later = std::fs::metadata(&health).and_then(|m| m.modified()).ok();
    // SAFETY: kill(2) on the PID of the child we just started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    let text = report();
    assert!(text.starts_with("quorate-healthy"), "health file: {text:?}");
    // The sbd side parses what we wrote.
    assert_eq!(
        sbd::daemon::health::parse_health(&text),
        Some(sbd::inquisitor::ClusterHealth::QuorateHealthy)
    );
    assert!(
        first.is_some() && later > first,
        "not refreshed: {first:?} {later:?}"
    );
}
