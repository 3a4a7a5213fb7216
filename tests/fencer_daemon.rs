//! The daemon as a whole: 32 concurrent fence requests, identical requests merged,
//! history kept across restarts (clean and SIGKILL), unauthorised peers refused,
//! malformed requests answered with errors while the daemon stays up, the event stream,
//! runtime registration, and metrics over the API and loopback HTTP.

mod common_fencer;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common_fencer::*;
use serde_json::{json, Value};

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

fn stdout_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)))
}

#[test]
fn thirty_two_concurrent_fences_all_verified() {
    let files = TempDir::new("conc-files");
    let agent = our_dummy();
    let mut body = String::new();
    let mut states = Vec::new();
    for i in 0..32 {
        let state = status_file(&files, &format!("node{i}"), "on");
        body.push_str(&format!(
            "[[device]]\nname = \"d{i}\"\nagent = \"{}\"\nparams = {{ status_file = \"{}\", pcmk_host_list = \"node{i}\" }}\n",
            agent.display(),
            state.display()
        ));
        states.push(state);
    }
    let daemon = Daemon::start("conc", "", &body);
    // 32 requests on one connection, all sent before any answer is read.
    let stream = UnixStream::connect(&daemon.socket).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    for i in 0..32 {
        let line =
            json!({"v":1,"id":i,"request":"fence","target":format!("node{i}"),"action":"off"});
        writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }
    let mut reader = BufReader::new(stream);
    let mut answered = [false; 32];
    for _ in 0..32 {
        let mut line = String::new();
        reader.read_line(&mut line).expect("answer");
        let v = parse(&line);
        assert_eq!(v["ok"], true, "{line}");
        assert_eq!(v["result"]["status"], "done", "{line}");
        let id = v["id"].as_u64().expect("id") as usize;
        assert_eq!(v["result"]["target"], format!("node{id}"));
        answered[id] = true;
    }
    assert!(answered.iter().all(|a| *a));
    for state in &states {
        assert_eq!(read_state(state), "off", "{}", state.display());
    }
    // Also 32 CLI processes at once.
    for state in &states {
        std::fs::write(state, "on").expect("reset");
    }
    let children: Vec<_> = (0..32)
        .map(|i| {
            Command::new(palisade())
                .args(["fence", &format!("node{i}"), "--action", "off", "--socket"])
                .arg(&daemon.socket)
                .output()
        })
        .collect();
    for (i, out) in children.into_iter().enumerate() {
        let out = out.expect("cli ran");
        assert_eq!(out.status.code(), Some(0), "node{i}: {}", show(&out));
    }
    assert!(states.iter().all(|s| read_state(s) == "off"));
    let history = stdout_json(&daemon.cli(&["history", "--json"]));
    assert_eq!(history["entries"].as_array().map(Vec::len), Some(64));
}

#[test]
fn identical_concurrent_requests_merge() {
    let files = TempDir::new("merge-files");
    let slow = files.join("fence_slow");
    let count = files.join("count");
    write_script(
        &slow,
        &format!(
            "case \"$(cat)\" in *action=metadata*|*action=monitor*) exit 0 ;; esac\necho run >> {}\nsleep 1\nexit 0",
            count.display()
        ),
    );
    let body = format!(
        "[[device]]\nname = \"slow\"\nagent = \"{}\"\nparams = {{ pcmk_host_list = \"node1\" }}\n",
        slow.display()
    );
    let daemon = Daemon::start("merge", "", &body);
    let stream = UnixStream::connect(&daemon.socket).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    for i in 0..5 {
        let line = json!({"id":i,"request":"fence","target":"node1","action":"reboot"});
        writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send");
    }
    let mut reader = BufReader::new(stream);
    let mut ops = Vec::new();
    for _ in 0..5 {
        let mut line = String::new();
        reader.read_line(&mut line).expect("answer");
        let v = parse(&line);
        assert_eq!(v["result"]["status"], "done", "{line}");
        ops.push(v["result"]["op"].clone());
    }
    assert!(
        ops.windows(2).all(|w| w[0] == w[1]),
        "one operation: {ops:?}"
    );
    let runs = std::fs::read_to_string(&count).expect("agent ran");
    assert_eq!(
        runs.lines().count(),
        1,
        "the agent ran once for five requests"
    );
    let history = stdout_json(&daemon.cli(&["history", "--json"]));
    let entries = history["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["requesters"].as_array().map(Vec::len), Some(5));
}

#[test]
fn history_survives_restart_and_crash() {
    let files = TempDir::new("restart-files");
    let state = status_file(&files, "node1", "on");
    let body = format!(
        "[[device]]\nname = \"d\"\nagent = \"{}\"\nparams = {{ status_file = \"{}\", pcmk_host_list = \"node1\" }}\n",
        our_dummy().display(),
        state.display()
    );
    let mut daemon = Daemon::start("restart", "", &body);
    let out = daemon.cli(&["fence", "node1", "--action", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    daemon.stop();
    daemon.spawn();
    let out = daemon.cli(&["fence", "node1", "--action", "on"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    // A crash (SIGKILL) right after an answer: the entry was fsynced before the answer.
    if let Some(mut child) = daemon.child.take() {
        child.kill().expect("kill our daemon");
        child.wait().expect("reap");
    }
    // A torn line as a crash mid-write would leave.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&daemon.history)
        .expect("history file");
    f.write_all(br#"{"v":1,"node":"x","op":99,"tar"#)
        .expect("tear");
    drop(f);
    daemon.spawn();
    let history = stdout_json(&daemon.cli(&["history", "node1", "--json"]));
    let actions: Vec<&str> = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["off", "on"]);
    let ops: Vec<u64> = history["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["op"].as_u64())
        .collect();
    assert!(
        ops[0] < ops[1],
        "operation numbers continue across restarts: {ops:?}"
    );
    assert!(daemon.log().contains("torn_bytes"), "{}", daemon.log());
    let out = daemon.cli(&["history", "--limit", "1", "--action", "on", "--json"]);
    assert_eq!(
        stdout_json(&out)["entries"].as_array().map(Vec::len),
        Some(1)
    );
    let out = daemon.cli(&["history", "--since", "1h", "--json"]);
    assert_eq!(
        stdout_json(&out)["entries"].as_array().map(Vec::len),
        Some(2)
    );
    let out = daemon.cli(&["history", "--until", "1h", "--json"]);
    assert_eq!(
        stdout_json(&out)["entries"].as_array().map(Vec::len),
        Some(0)
    );
}

/// A copy of the CLI any user can run, and `setpriv` to run it as `nobody`.
fn as_nobody(dir: &TempDir) -> Option<(PathBuf, PathBuf)> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = PathBuf::from("/usr/bin/setpriv");
    if !root || !setpriv.is_file() {
        testkit::skip::required(
            "not root or no /usr/bin/setpriv: the run-as-nobody checks cannot run",
        );
        return None;
    }
    let cli = dir.join("palisade");
    std::fs::copy(palisade(), &cli).expect("copy cli");
    Some((setpriv, cli))
}

fn run_as_nobody(setpriv: &PathBuf, cli: &PathBuf, socket: &PathBuf) -> std::process::Output {
    Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(cli)
        .args(["devices", "--socket"])
        .arg(socket)
        .output()
        .expect("run setpriv")
}

#[test]
fn unauthorised_peer_is_refused() {
    let daemon = Daemon::start(
        "auth",
        "socket-mode = \"0666\"\nallowed-group = \"daemon\"",
        "",
    );
    let tools = TempDir::new("auth-tools");
    if let Some((setpriv, cli)) = as_nobody(&tools) {
        let out = run_as_nobody(&setpriv, &cli, &daemon.socket);
        assert_eq!(out.status.code(), Some(5), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("uid 65534") && err.contains("group daemon"),
            "{err}"
        );
    }
    // The daemon is still serving root.
    let out = daemon.cli(&["devices"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let metrics = stdout_json(&daemon.cli(&["metrics", "--json"]));
    if tools.join("palisade").is_file() {
        assert!(
            metrics["text"]
                .as_str()
                .unwrap_or("")
                .contains("palisade_api_refused_total 1"),
            "{metrics}"
        );
    }
}

#[test]
fn allowed_group_admits_its_members() {
    // nobody's primary group is nogroup (65534): allowed by group.
    let daemon = Daemon::start(
        "auth-ok",
        "socket-mode = \"0666\"\nallowed-group = \"65534\"",
        "",
    );
    let tools = TempDir::new("auth-ok-tools");
    if let Some((setpriv, cli)) = as_nobody(&tools) {
        let out = run_as_nobody(&setpriv, &cli, &daemon.socket);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("no devices registered"));
    }
}

#[test]
fn malformed_requests_get_errors_and_the_daemon_stays_up() {
    let mut daemon = Daemon::start("malformed", "", "");
    let stream = UnixStream::connect(&daemon.socket).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let garbage: &[&[u8]] = &[
        b"not json at all\n",
        b"[1,2,3]\n",
        b"{\"id\":1}\n",
        b"{\"id\":2,\"request\":\"self-destruct\"}\n",
        b"{\"id\":3,\"request\":\"fence\"}\n",
        b"{\"id\":4,\"request\":\"fence\",\"target\":\"n\",\"action\":\"explode\"}\n",
        b"{\"id\":5,\"request\":\"devices\",\"extra\":true}\n",
        b"{\"id\":6,\"v\":99,\"request\":\"hello\"}\n",
        b"\xff\xfe\x00binary\n",
        b"{\"id\":7,\"request\":\"register-device\",\"name\":\"x\",\"agent\":\"rm\"}\n",
        b"{\"id\":8,\"request\":\"unregister-device\",\"name\":\"ghost\"}\n",
        b"{\"id\":9,\"request\":\"register-level\",\"target\":{\"by\":\"name\",\"value\":\"n\"},\"index\":0,\"devices\":[\"a\"]}\n",
        b"{\"id\":10,\"request\":\"hello\"}\n",
    ];
    for line in garbage {
        writer.write_all(line).expect("send");
    }
    let mut reader = BufReader::new(stream);
    // Answers may come out of order (registry requests go through the core): by id.
    let mut by_id = std::collections::BTreeMap::new();
    let mut without_id = Vec::new();
    for _ in 0..garbage.len() {
        let mut line = String::new();
        reader.read_line(&mut line).expect("answer");
        let v = parse(&line);
        let code = if v["ok"] == true {
            "ok".to_string()
        } else {
            v["error"]["code"].as_str().unwrap_or("?").to_string()
        };
        match v["id"].as_u64() {
            Some(id) => {
                by_id.insert(id, code);
            }
            None => without_id.push(code),
        }
    }
    assert_eq!(without_id, ["bad-request"; 3]);
    let expected = [
        (1, "bad-request"),
        (2, "bad-request"),
        (3, "bad-request"),
        (4, "bad-request"),
        (5, "bad-request"),
        (6, "unsupported-version"),
        (7, "invalid"),
        (8, "unknown-device"),
        (9, "invalid"),
        (10, "ok"),
    ];
    let got: Vec<(u64, &str)> = by_id.iter().map(|(id, c)| (*id, c.as_str())).collect();
    assert_eq!(got, expected);
    // An over-long line closes that connection only.
    let mut long = UnixStream::connect(&daemon.socket).expect("connect");
    long.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let big = vec![b'x'; 70_000];
    let _ = long.write_all(&big);
    let mut answer = String::new();
    let _ = long.read_to_string(&mut answer);
    assert!(answer.contains("longer than"), "{answer}");
    // A client that vanishes mid-request changes nothing either.
    let mut gone = UnixStream::connect(&daemon.socket).expect("connect");
    gone.write_all(b"{\"request\":\"hel").expect("partial");
    drop(gone);
    assert!(daemon.running(), "daemon died:\n{}", daemon.log());
    let out = daemon.cli(&["devices"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let metrics = stdout_json(&daemon.cli(&["metrics", "--json"]));
    let text = metrics["text"].as_str().unwrap_or("");
    let bad_requests: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("palisade_api_errors_total{code=\"bad-request\"} "))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // 8 above, the over-long line, and maybe the vanished client's partial line.
    assert!(bad_requests >= 9, "{text}");
}

#[test]
fn events_registration_query_and_http_metrics() {
    let files = TempDir::new("events-files");
    let state = status_file(&files, "web1", "on");
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let daemon = Daemon::start(
        "events",
        &format!("metrics-listen = \"127.0.0.1:{port}\""),
        "",
    );
    let events = Command::new(palisade())
        .args(["events", "--count", "5", "--json", "--socket"])
        .arg(&daemon.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("events");
    std::thread::sleep(Duration::from_millis(300));
    let agent = our_dummy();
    let reg = daemon.cli(&[
        "register",
        "web-pdu",
        "--agent",
        agent.to_str().expect("utf-8 path"),
        "-o",
        &format!("status_file={}", state.display()),
        "-o",
        "pcmk_host_map=web1:7",
        "-o",
        "password=hunter2",
        // No health checks: whether one ends before the fence (a `device-health` event)
        // or gives way to it (none) is a race; fencer_health.rs covers their events.
        "-o",
        "pcmk_monitor_interval=0",
    ]);
    assert_eq!(reg.status.code(), Some(0), "{}", show(&reg));
    let devices = daemon.cli(&["devices", "--json"]);
    let d = stdout_json(&devices);
    assert_eq!(d["devices"][0]["params"]["password"], "****");
    assert_eq!(d["devices"][0]["hosts"], json!(["web1"]));
    let q = daemon.cli(&["query", "web1"]);
    assert_eq!(q.status.code(), Some(0), "{}", show(&q));
    assert!(String::from_utf8_lossy(&q.stdout).contains("web-pdu"));
    let q = daemon.cli(&["query", "web9"]);
    assert_eq!(q.status.code(), Some(105), "{}", show(&q));
    let out = daemon.cli(&["fence", "web1", "--action", "off"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(read_state(&state), "off");
    let events = events.wait_with_output().expect("events ended");
    let kinds: Vec<String> = String::from_utf8_lossy(&events.stdout)
        .lines()
        .map(|l| parse(l)["event"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "device-registered",
            "started",
            "attempt-started",
            "attempt-finished",
            "finished"
        ]
    );
    let unreg = daemon.cli(&["unregister", "web-pdu"]);
    assert_eq!(unreg.status.code(), Some(0), "{}", show(&unreg));
    let unreg = daemon.cli(&["unregister", "web-pdu"]);
    assert_eq!(unreg.status.code(), Some(1), "{}", show(&unreg));

    let mut http = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    http.write_all(b"GET /metrics HTTP/1.0\r\n\r\n")
        .expect("request");
    let mut page = String::new();
    http.read_to_string(&mut page).expect("page");
    assert!(page.starts_with("HTTP/1.0 200 OK"), "{page}");
    assert!(
        page.contains(
            "palisade_agent_runs_total{device=\"web-pdu\",action=\"off\",result=\"ok\"} 1"
        ),
        "{page}"
    );
    assert!(page.contains("palisade_agent_run_seconds_bucket{device=\"web-pdu\",action=\"off\""));
    let mut http = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    http.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("request");
    let mut page = String::new();
    http.read_to_string(&mut page).expect("page");
    assert!(page.starts_with("HTTP/1.0 404"), "{page}");
}
