//! The admin commands against a real one-node cluster on loopback (no root needed):
//! `palisade status [--json]`, `explain`, `resource stop|start|cleanup|move`, `node
//! standby|online`, their errors and exit codes, the admin records surviving a restart of
//! the daemon, failcounts and failure-timeout, maintenance (`palisade maintenance on|off`,
//! `palisade node maintenance|ready`). The resources are a group of two `restest:Stubborn` test agents
//! (`tests/fixtures/resources/ocf`), which log start, monitor and stop to a shared file.

#[allow(unused_imports)]
mod common_cluster;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common_cluster::{read_events, Ev};

struct Solo {
    dir: PathBuf,
    child: Option<Child>,
}

impl Solo {
    fn new(tag: &str) -> Solo {
        let dir = std::env::temp_dir().join(format!("palisade-admin-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("ocf/resource.d")).expect("dir");
        std::fs::write(dir.join("key"), "0123456789abcdef0123").expect("key");
        std::os::unix::fs::symlink(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/resources/ocf/resource.d/restest"),
            dir.join("ocf/resource.d/restest"),
        )
        .expect("agents");
        let d = dir.display();
        // Three ports per process: one per test of this file (they run in parallel).
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let port = 26000
            + (std::process::id() % 2000) * 3
            + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 3;
        let config = format!(
            r#"[cluster]
id = 5
key-file = "{d}/key"
node = "solo"
port = {port}
ocf-root = "{d}/ocf"
state-dir = "{d}/state"
control-socket = "{d}/node.sock"
events = "{d}/events"
[timers]
keepalive = "100ms"
deadtime = "500ms"
initdead = "1s"
[fencing]
enabled = false
[[node]]
name = "solo"
id = 1
addresses = ["127.0.0.1"]

[[primitive]]
name = "db"
agent = "ocf:restest:Stubborn"
params = {{ log = "{d}/db.log", state = "{d}/db.state" }}
op = [{{ name = "monitor", interval = "200ms" }}]
meta = {{ failure-timeout = "1s" }}

[[primitive]]
name = "web"
agent = "ocf:restest:Stubborn"
params = {{ log = "{d}/web.log", state = "{d}/web.state", refuse = "{d}/refuse-stop" }}
op = [{{ name = "monitor", interval = "200ms" }}]
meta = {{ migration-threshold = 3 }}

[[group]]
name = "app"
members = ["db", "web"]

[[primitive]]
name = "pool"
agent = "ocf:restest:Stubborn"
params = {{ log = "{d}/pool.log", state = "{d}/pool-@INSTANCE@.state" }}
op = [{{ name = "monitor", interval = "200ms" }}]

[[clone]]
name = "pool-clone"
resource = "pool"
clone-max = 2
clone-node-max = 2
"#
        );
        std::fs::write(dir.join("node.toml"), config).expect("config");
        let mut solo = Solo { dir, child: None };
        solo.start();
        solo
    }

    fn start(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("out"))
            .expect("out");
        let child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["node", "--config"])
            .arg(self.dir.join("node.toml"))
            .env("PALISADE_FORBID_SELF_FENCE", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("start palisade node");
        self.child = Some(child);
    }

    fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        // SAFETY: kill(2) on the PID of the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        child.wait().ok().and_then(|s| s.code())
    }

    fn cli(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(args)
            .arg("--socket")
            .arg(self.dir.join("node.sock"))
            .output()
            .expect("palisade");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, text) = self.cli(args);
        assert_eq!(code, 0, "palisade {args:?}: {text}\n{}", self.out());
        text
    }

    fn out(&self) -> String {
        std::fs::read_to_string(self.dir.join("out")).unwrap_or_default()
    }

    /// Whether the daemon reported an event `f` accepts (`[cluster] events`).
    fn saw(&self, f: impl Fn(&Ev) -> bool) -> bool {
        read_events(&self.dir.join("events")).iter().any(f)
    }

    fn running(&self, name: &str) -> bool {
        self.dir.join(format!("{name}.state")).exists()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(self.ok(&["status", "--json"]).trim()).expect("json")
    }

    fn wait(&self, what: &str, mut cond: impl FnMut(&Solo) -> bool) {
        let end = Instant::now() + Duration::from_secs(15);
        while !cond(self) {
            assert!(Instant::now() < end, "{what}:\n{}", self.out());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last event of a Stubborn log: (event, time).
    fn last(&self, name: &str) -> (String, u64) {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default();
        text.lines()
            .rfind(|l| !l.contains(" monitor "))
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let at = w[0].replace('.', "").parse().unwrap_or(0);
                (w[2].to_string(), at)
            })
            .unwrap_or_default()
    }
}

impl Drop for Solo {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[test]
fn admin_commands_drive_a_one_node_cluster() {
    let mut solo = Solo::new("drive");
    solo.wait("the group never started", |s| {
        s.running("db") && s.running("web")
    });
    let status = solo.status();
    assert_eq!(status["quorate"], true, "{status}");
    assert_eq!(status["nodes"][0]["name"], "solo");
    assert_eq!(status["resources"][0]["container"], "app");
    let text = solo.ok(&["status"]);
    assert!(text.contains("  app:\n    db "), "{text}");
    assert!(text.contains("running on solo"), "{text}");
    let explain = solo.ok(&["explain", "app"]);
    assert!(
        explain.contains("db [ocf:restest:Stubborn in group app] now on solo")
            && explain.contains("web [ocf:restest:Stubborn in group app] now on solo"),
        "{explain}"
    );

    // target-role stopped: web stops before db (reverse group order)
    assert!(solo
        .ok(&["resource", "stop", "app"])
        .contains("target-role stopped"));
    solo.wait("app did not stop", |s| {
        !s.running("db") && !s.running("web")
    });
    let (db, web) = (solo.last("db"), solo.last("web"));
    assert_eq!((db.0.as_str(), web.0.as_str()), ("stop", "stop"));
    assert!(web.1 <= db.1, "web must stop first");
    let status = solo.status();
    assert!(
        status["constraints"]
            .to_string()
            .contains("app: target-role stopped"),
        "{status}"
    );

    // The record survives a restart of the daemon.
    assert_eq!(solo.stop(), Some(0));
    solo.start();
    solo.wait("the daemon did not come back", |s| {
        s.cli(&["status"]).0 == 0
    });
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        !solo.running("db"),
        "target-role stopped was forgotten:\n{}",
        solo.out()
    );
    solo.ok(&["resource", "start", "app"]);
    solo.wait("app did not start again", |s| {
        s.running("db") && s.running("web")
    });

    // standby: the only node runs nothing; online: it runs again
    assert!(solo
        .ok(&["node", "standby"])
        .contains("solo goes to standby"));
    solo.wait("standby did not stop app", |s| {
        !s.running("db") && !s.running("web")
    });
    assert_eq!(solo.status()["nodes"][0]["standby"], true);
    solo.ok(&["node", "online", "solo"]);
    solo.wait("online did not start app", |s| {
        s.running("db") && s.running("web")
    });

    // a monitor failure counts; cleanup forgets it
    std::fs::remove_file(solo.dir.join("web.state")).expect("break web");
    solo.wait("the failure was not counted", |s| {
        s.status()["failures"][0]["count"] == 1
    });
    solo.wait("web was not recovered", |s| s.running("web"));
    assert!(solo
        .ok(&["status"])
        .contains("web on solo: 1 failure(s) of migration-threshold 3"));
    solo.ok(&["resource", "cleanup", "app"]);
    solo.wait("cleanup did not clear the failure", |s| {
        s.status()["failures"] == serde_json::json!([])
    });

    // failure-timeout: db's failure is forgotten on its own
    std::fs::remove_file(solo.dir.join("db.state")).expect("break db");
    solo.wait("db's failure was not counted", |s| {
        s.status()["failures"][0]["resource"] == "db"
    });
    solo.wait("db's failure did not expire", |s| {
        s.status()["failures"] == serde_json::json!([])
    });
    assert!(solo.saw(|e| e.kind == "failures_expired" && e.str("resource") == "db"));
    solo.wait("db was not recovered", |s| {
        s.running("db") && s.running("web")
    });

    // a stop that fails (fencing disabled): blocked, shown, and tried again by cleanup
    std::fs::write(solo.dir.join("refuse-stop"), "").expect("refuse");
    solo.ok(&["resource", "stop", "app"]);
    solo.wait("the failed stop is not shown", |s| {
        s.status()["resources"][1]["instances"][0]["status"] == "STOP FAILED"
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(solo.running("db"), "db stops only after web");
    let text = solo.ok(&["status"]);
    assert!(text.contains("STOP FAILED on solo"), "{text}");
    assert!(
        text.contains("fencing is disabled; clean up by hand"),
        "{text}"
    );
    std::fs::remove_file(solo.dir.join("refuse-stop")).expect("accept");
    solo.ok(&["resource", "cleanup", "web"]);
    solo.wait("cleanup did not stop app", |s| {
        !s.running("db") && !s.running("web")
    });
    solo.ok(&["resource", "start", "app"]);
    solo.wait("app did not start after the cleanup", |s| {
        s.running("db") && s.running("web")
    });

    // bad input: clear errors and exit codes
    for (args, code, needle) in [
        (
            &["resource", "move", "app", "nowhere"][..],
            6,
            "no node 'nowhere'",
        ),
        (&["explain", "nosuch"], 6, "no resource 'nosuch'"),
        (
            &["resource", "ban", "ghost", "solo"],
            6,
            "no resource 'ghost'",
        ),
        (&["resource"], 2, "requires a subcommand"),
        (
            &["resource", "wiggle", "app"],
            2,
            "unrecognized subcommand 'wiggle'",
        ),
        (&["node", "standby", "a", "b"], 2, "unexpected argument"),
        (&["status", "extra"], 2, "unexpected argument"),
    ] {
        let (got, text) = solo.cli(args);
        assert_eq!(got, code, "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {text}");
    }
    let unreachable = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["status", "--socket", "/nonexistent/node.sock"])
        .output()
        .expect("palisade");
    assert_eq!(unreachable.status.code(), Some(4));
    assert_eq!(solo.stop(), Some(0));
    assert!(!solo.running("db") && !solo.running("web"));
}

/// Monitor lines in a Stubborn log.
fn monitors(solo: &Solo, name: &str) -> usize {
    std::fs::read_to_string(solo.dir.join(format!("{name}.log")))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" monitor "))
        .count()
}

#[test]
fn maintenance_leaves_resources_alone_and_probes_them_after() {
    let solo = Solo::new("maint");
    solo.wait("the group never started", |s| {
        s.running("db") && s.running("web")
    });
    assert!(solo
        .ok(&["maintenance", "on"])
        .contains("maintenance-mode on"));
    solo.wait("maintenance is not shown", |s| {
        s.status()["maintenance_mode"] == true
    });
    assert!(solo.ok(&["status"]).contains("MAINTENANCE"));
    // Monitors pause: a service that dies is neither noticed nor restarted, and a
    // target-role stopped stops nothing.
    std::thread::sleep(Duration::from_millis(300));
    let before = monitors(&solo, "db");
    std::fs::remove_file(solo.dir.join("web.state")).expect("kill web");
    solo.ok(&["resource", "stop", "app"]);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(monitors(&solo, "db"), before, "monitored in maintenance");
    assert!(
        solo.running("db"),
        "stopped in maintenance:\n{}",
        solo.out()
    );
    assert!(!solo.running("web"), "restarted in maintenance");
    assert_eq!(solo.status()["failures"], serde_json::json!([]));
    solo.ok(&["resource", "start", "app"]);
    // Off: every resource is probed again; web is found stopped and started.
    assert!(solo
        .ok(&["maintenance", "off"])
        .contains("maintenance-mode off"));
    solo.wait("web was not started after maintenance", |s| {
        s.running("web")
    });
    let reprobed = |r: &str, code: i64| {
        solo.saw(|e| {
            e.kind == "reprobed" && e.str("resource") == r && e.fields["rc"]["code"] == code
        })
    };
    assert!(reprobed("web", 7), "web not found stopped:\n{}", solo.out());
    assert!(reprobed("db", 0), "db not found running:\n{}", solo.out());
    solo.wait("db is not monitored again", |s| {
        monitors(s, "db") > before + 1
    });
    assert_eq!(solo.last("db").0, "start", "db was left running throughout");

    // A node in maintenance: the same, for its resources only.
    assert!(solo
        .ok(&["node", "maintenance"])
        .contains("solo in maintenance"));
    solo.wait("node maintenance is not shown", |s| {
        s.status()["nodes"][0]["maintenance"] == true
    });
    assert!(solo.ok(&["status"]).contains("solo  online maintenance"));
    std::fs::remove_file(solo.dir.join("db.state")).expect("kill db");
    std::thread::sleep(Duration::from_millis(800));
    assert!(!solo.running("db"), "restarted in node maintenance");
    solo.ok(&["node", "ready", "solo"]);
    solo.wait("db was not started after node maintenance", |s| {
        s.running("db") && s.running("web")
    });
    for (args, code, needle) in [
        (
            &["maintenance", "maybe"][..],
            2,
            "unrecognized subcommand 'maybe'",
        ),
        (&["node", "maintenance", "ghost"], 6, "no node 'ghost'"),
    ] {
        let (got, text) = solo.cli(args);
        assert_eq!(got, code, "{args:?}: {text}");
        assert!(text.contains(needle), "{args:?}: {text}");
    }
}

#[test]
fn several_instances_of_a_clone_run_on_one_node() {
    let solo = Solo::new("pool");
    // clone-max 2, clone-node-max 2: both instances on the only node, each with its own
    // identity (OCF_RESOURCE_INSTANCE pool:0 and pool:1, so two state files).
    solo.wait("the pool never started twice", |s| {
        s.running("pool-pool:0") && s.running("pool-pool:1")
    });
    let explain = solo.ok(&["explain", "pool-clone"]);
    assert!(explain.contains("2 of 2 instances on solo x2"), "{explain}");
    let status = solo.status();
    let pool = status["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "pool"))
        .cloned()
        .expect("pool in status");
    assert_eq!(
        pool["instances"].as_array().map(Vec::len),
        Some(2),
        "{pool}"
    );
    // One instance dies: that one is recovered, the other keeps running.
    std::fs::remove_file(solo.dir.join("pool-pool:1.state")).expect("kill pool:1");
    let is = |e: &Ev, kind: &str, r: &str| e.kind == kind && e.str("resource") == r;
    solo.wait("pool:1 was not recovered", |s| {
        s.saw(|e| is(e, "resource_done", "pool:1") && e.str("action") == "start")
            && s.running("pool-pool:1")
    });
    let out = solo.out();
    assert!(solo.saw(|e| is(e, "monitor_failed", "pool:1")), "{out}");
    assert!(
        solo.saw(|e| is(e, "resource_action", "pool:1")
            && e.str("action") == "stop"
            && e.str("reason") == "recover after a failure"),
        "{out}"
    );
    assert!(
        !solo.saw(
            |e| (is(e, "resource_action", "pool:0") && e.str("action") == "stop")
                || is(e, "stop_failed", "pool:0")
        ),
        "{out}"
    );
    assert_eq!(solo.status()["failures"][0]["resource"], "pool");
    assert!(solo.running("pool-pool:0"));
}
