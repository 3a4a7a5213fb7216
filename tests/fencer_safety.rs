//! Fencing that cannot be blocked or made to lie (issue 11, defects 1 and 2), through a
//! running `palisade daemon`:
//! - a request with an enormous delay or timeout is refused, and a request merged into an
//!   operation that waits out a (bounded) delay is answered at its own timeout;
//! - a control character in a target, plug or device parameter never reaches an agent's
//!   stdin (a target `"nodeX\naction=on"` would power the node on while the fencer
//!   reported `off` done): refused at the API and in the configuration;
//! - no client can lock the API out (defect 3): idle connections are closed (a
//!   subscriber is not idle), one user's
//!   connections are capped and the one too many is answered at once, the CLI gives up on
//!   a daemon that never answers (exit 8), a metrics flood is capped;
//! - (defect 9) files are private under umask 000, refused peers are counted but logged
//!   at a bounded rate, `validate` refuses a level naming a missing device, with its line.
//!
//! The agents here are `fence_dummy` and a script that records its stdin; nothing leaves
//! the machine; the daemon is stopped by its PID.

mod common_fencer;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::Duration;

use common_fencer::*;
use serde_json::{json, Value};

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
}

/// A script agent that appends its stdin to `record` and succeeds (`list` prints
/// nothing); the daemon's periodic health checks (`monitor`) are not recorded.
fn recording_agent(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let agent = dir.join("fence_record");
    let record = dir.join("stdin.log");
    write_script(
        &agent,
        &format!(
            "input=$(cat)\ncase \"$input\" in *action=monitor*) exit 0 ;; esac\n\
             printf '%s\\n' \"$input\" >> {}\necho --- >> {}\nexit 0",
            record.display(),
            record.display()
        ),
    );
    (agent, record)
}

#[test]
fn one_request_cannot_block_a_fence() {
    let files = TempDir::new("block-files");
    let state = status_file(&files, "node1", "on");
    let body = format!(
        "[fencing]\nfencing-max-delay = \"5s\"\nfencing-max-timeout = \"10min\"\n\n\
         [[device]]\nname = \"d\"\nagent = \"{}\"\nparams = {{ status_file = \"{}\", pcmk_host_list = \"node1\" }}\n",
        our_dummy().display(),
        state.display()
    );
    let daemon = Daemon::start("block", "", &body);

    // 2400 h of delay, i64::MAX ms, a timeout beyond the limit, a zero timeout: refused.
    for request in [
        json!({"request":"fence","target":"node1","action":"off","delay_ms": 8_640_000_000u64}),
        json!({"request":"fence","target":"node1","action":"off","delay_ms": i64::MAX}),
        json!({"request":"fence","target":"node1","action":"off","timeout_ms": 3_600_001u64}),
        json!({"request":"fence","target":"node1","action":"off","timeout_ms": 0}),
        json!({"request":"query","target":"node1","timeout_ms": u64::MAX}),
    ] {
        let reply = parse(&daemon.raw(&request.to_string()));
        assert_eq!(reply["ok"], false, "{request}: {reply}");
        assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
    }
    // The CLI says so too, with a non-zero exit.
    let out = daemon.cli(&["fence", "node1", "--action", "off", "--delay", "2400h"]);
    assert!(!out.status.success(), "{}", show(&out));
    assert_eq!(read_state(&state), "on", "nothing was fenced");

    // The longest delay allowed holds the operation; a second request merges into it and
    // is answered at its own 2 s timeout, not when the operation ends.
    let held = UnixStream::connect(&daemon.socket).expect("connect");
    (&held)
        .write_all(
            format!(
                "{}\n",
                json!({"id":"held","request":"fence","target":"node1","action":"off","delay_ms":5_000})
            )
            .as_bytes(),
        )
        .expect("send held request");
    let out = daemon.cli(&[
        "fence",
        "node1",
        "--action",
        "off",
        "--timeout",
        "2s",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(124), "timed out: {}", show(&out));
    let answer: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(&out)));
    assert_eq!(answer["status"], "failed", "{answer}");
    assert_eq!(answer["reason"]["kind"], "timed-out", "{answer}");
    assert_eq!(
        read_state(&state),
        "on",
        "still in the first request's delay"
    );

    // The held operation itself still ends (within its bounded delay).
    held.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut line = String::new();
    BufReader::new(&held)
        .read_line(&mut line)
        .expect("held answer");
    let reply = parse(&line);
    assert_eq!(reply["id"], "held", "{reply}");
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["result"]["status"], "done", "{reply}");
    assert_eq!(read_state(&state), "off");
}

/// The injections of defect 2, each through every door: the fence target, the query
/// target, a registered device's parameter value, a parameter name.
const INJECTED: [&str; 4] = [
    "nodeX\naction=on",
    "nodeX\raction=on",
    "nodeX\0action=on",
    "nodeX\u{85}action=on",
];

#[test]
fn a_control_character_never_reaches_an_agent() {
    let dir = TempDir::new("inject");
    let (agent, record) = recording_agent(&dir);
    let body = format!(
        "[[device]]\nname = \"rec\"\nagent = \"{}\"\nparams = {{ pcmk_host_check = \"none\", pcmk_action_limit = -1 }}\n",
        agent.display()
    );
    let daemon = Daemon::start("inject", "", &body);

    for target in INJECTED {
        for request in [
            json!({"request":"fence","target":target,"action":"off"}),
            json!({"request":"query","target":target}),
            json!({"request":"fence","target":"node1","action":"off","requester":target}),
        ] {
            let reply = parse(&daemon.raw(&request.to_string()));
            assert_eq!(reply["ok"], false, "{request}: {reply}");
            assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
        }
        for params in [
            json!({"pcmk_host_check":"none","port":target}),
            json!({"pcmk_host_check":"none","pcmk_host_list":target}),
            json!({"pcmk_host_check":"none","ip":target}),
        ] {
            let request =
                json!({"request":"register-device","name":"evil","agent":agent,"params":params});
            let reply = parse(&daemon.raw(&request.to_string()));
            assert_eq!(reply["ok"], false, "{request}: {reply}");
            assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
        }
    }
    // `=` in a parameter name moves the split of the line.
    for name in ["action=on", "port=3\naction", "a b", ""] {
        let request =
            json!({"request":"register-device","name":"evil","agent":agent,"params":{name: "1"}});
        let reply = parse(&daemon.raw(&request.to_string()));
        assert_eq!(reply["error"]["code"], "invalid", "{request}: {reply}");
    }
    let devices = parse(&daemon.raw(r#"{"request":"devices"}"#));
    let names: Vec<&str> = devices["result"]["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["rec"], "no evil device registered");
    // Registration asks the agent for its metadata (action=metadata only); nothing else
    // ran.
    let probed = std::fs::read_to_string(&record).unwrap_or_default();
    assert!(
        probed.lines().all(|l| l == "action=metadata" || l == "---"),
        "only metadata probes ran: {probed:?}"
    );
    std::fs::remove_file(&record).ok();

    // A plain target is fenced, and the agent saw exactly one action: off.
    let reply = parse(&daemon.raw(r#"{"request":"fence","target":"nodeX","action":"off"}"#));
    assert_eq!(reply["result"]["status"], "done", "{reply}");
    let stdin = std::fs::read_to_string(&record).expect("record");
    let actions: Vec<&str> = stdin.lines().filter(|l| l.starts_with("action=")).collect();
    assert_eq!(actions, ["action=off"], "{stdin:?}");
    assert!(stdin.lines().any(|l| l == "nodename=nodeX"), "{stdin:?}");
}

#[test]
fn a_configuration_with_a_control_character_is_refused() {
    let dir = TempDir::new("inject-config");
    let (agent, record) = recording_agent(&dir);
    for (key, value) in [
        ("port", "1\naction=on"),
        ("pcmk_host_list", "node1\nnode2"),
        ("ip", "10.0.0.1\r"),
        ("passwd", "a\u{0}b"),
        ("\"action=on\"", "x"),
    ] {
        let config = dir.join("palisade.toml");
        let value = serde_json::to_string(value).expect("toml-compatible string");
        std::fs::write(
            &config,
            format!(
                "[[device]]\nname = \"d\"\nagent = \"{}\"\nparams = {{ {key} = {value} }}\n",
                agent.display()
            ),
        )
        .expect("config");
        let out = Command::new(palisade())
            .args(["validate", "--config"])
            .arg(&config)
            .output()
            .expect("palisade validate");
        assert_eq!(out.status.code(), Some(3), "{key}={value}: {}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains('\0') && !err.contains('\r'),
            "escaped: {err:?}"
        );
    }
    assert!(!record.exists());
}

/// Read from `stream` until it is closed by the daemon (true) or `limit` passes.
fn closed_by_daemon(stream: &mut UnixStream, limit: Duration) -> bool {
    use std::io::Read;
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(_) => return false,
        }
    }
}

#[test]
fn one_user_cannot_take_every_connection() {
    let daemon = Daemon::start(
        "lockout",
        "api-connections-per-uid = 8\napi-idle-timeout = \"10min\"",
        "",
    );
    // Eight connections take this user's share: each is seen served once (a hello), then
    // sends nothing. (The harness's own start-up probes may hold a slot for a moment: a
    // connection turned away meanwhile is simply opened again.)
    let hello = |stream: &UnixStream| -> Value {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut writer = stream;
        writer
            .write_all(b"{\"request\":\"hello\"}\n")
            .expect("send");
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .expect("one line");
        parse(&line)
    };
    let mut idle: Vec<UnixStream> = Vec::new();
    let held = wait_until(Duration::from_secs(10), || {
        let stream = UnixStream::connect(&daemon.socket).expect("connect");
        if hello(&stream)["ok"] == true {
            idle.push(stream);
        }
        idle.len() == 8
    });
    assert!(held, "8 connections held");
    // The ninth is answered `unavailable` at once and closed.
    let ninth = UnixStream::connect(&daemon.socket).expect("connect");
    let reply = hello(&ninth);
    assert_eq!(reply["error"]["code"], "unavailable", "ninth: {reply}");
    // The CLI says so with exit 4 instead of hanging.
    let out = daemon.cli(&["devices", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}\ndaemon log:\n{}",
        show(&out),
        daemon.log()
    );
    // Once they are closed, the API serves this user again.
    drop(idle);
    let serves = wait_until(Duration::from_secs(10), || {
        daemon.cli(&["devices", "--json"]).status.code() == Some(0)
    });
    assert!(serves, "served again after the idle connections closed");
}

#[test]
fn idle_connections_are_closed() {
    let daemon = Daemon::start("idle", "api-idle-timeout = \"1s\"", "");
    let mut idle: Vec<UnixStream> = (0..4)
        .map(|_| UnixStream::connect(&daemon.socket).expect("connect"))
        .collect();
    for stream in &mut idle {
        assert!(
            closed_by_daemon(stream, Duration::from_secs(30)),
            "idle connection closed"
        );
    }
    // A connection waiting for an answer is not idle: a subscriber stays.
    let subscriber = UnixStream::connect(&daemon.socket).expect("connect");
    (&subscriber)
        .write_all(b"{\"id\":1,\"request\":\"subscribe\"}\n")
        .expect("subscribe");
    let mut reader = BufReader::new(&subscriber);
    let mut line = String::new();
    subscriber
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    reader.read_line(&mut line).expect("subscribed");
    assert_eq!(parse(&line)["ok"], true, "{line}");
    // Two idle timeouts later it still gets events.
    std::thread::sleep(Duration::from_millis(2500));
    let out = daemon.cli(&[
        "register",
        "late",
        "--agent",
        &our_dummy().display().to_string(),
        "-o",
        "pcmk_host_list=n1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    line.clear();
    reader.read_line(&mut line).expect("an event");
    assert_eq!(parse(&line)["event"], "device-registered", "{line}");
}

#[test]
fn the_cli_gives_up_on_a_daemon_that_never_answers() {
    let dir = TempDir::new("mute");
    let socket = dir.join("mute.sock");
    // A listener that takes connections and never reads them (a stuck daemon).
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(2) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    for args in [vec!["devices"], vec!["fence", "node1", "--action", "off"]] {
        let out = Command::new(palisade())
            .args(&args)
            .arg("--socket")
            .arg(&socket)
            .env("PALISADE_ANSWER_WAIT", "1")
            .output()
            .expect("palisade");
        assert_eq!(out.status.code(), Some(8), "{args:?}: {}", show(&out));
    }
    holder.join().expect("holder");
}

#[test]
fn a_metrics_flood_is_capped_and_fencing_goes_on() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let files = TempDir::new("flood-files");
    let state = status_file(&files, "node1", "on");
    let body = format!(
        "[[device]]\nname = \"d\"\nagent = \"{}\"\nparams = {{ status_file = \"{}\", pcmk_host_list = \"node1\" }}\n",
        our_dummy().display(),
        state.display()
    );
    let daemon = Daemon::start(
        "flood",
        &format!("metrics-listen = \"127.0.0.1:{port}\""),
        &body,
    );
    // The API socket is bound before the daemon has read its devices' metadata; once it
    // answers, the metrics listener is up too.
    let hello = parse(&daemon.raw(r#"{"request":"hello"}"#));
    assert_eq!(hello["ok"], true, "{hello}");
    // 150 connections that send nothing (the kernel may refuse some under load).
    let flood: Vec<std::net::TcpStream> = (0..150)
        .filter_map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).ok())
        .collect();
    assert!(flood.len() > 100, "only {} connected", flood.len());
    // Beyond the cap of 64 the daemon closes each one as soon as it accepts it, and says
    // so in its metrics (read over the API, which the flood does not touch).
    let turned_away = || -> u64 {
        let metrics = parse(&daemon.raw(r#"{"request":"metrics"}"#));
        metrics["result"]["text"]
            .as_str()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("palisade_metrics_connections_turned_away_total "))
            })
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let expected = (flood.len() - 64) as u64;
    let capped = wait_until(Duration::from_secs(30), || turned_away() >= expected);
    assert!(capped, "turned away {} of {}", turned_away(), flood.len());
    // While 64 slots are held, fencing goes on.
    let reply = parse(&daemon.raw(r#"{"request":"fence","target":"node1","action":"off"}"#));
    assert_eq!(reply["result"]["status"], "done", "{reply}");
}

#[test]
fn files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("umask");
    let socket = dir.join("run/sub/fencer.sock");
    let history = dir.join("lib/sub/history.jsonl");
    let config = dir.join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nsocket = \"{}\"\nhistory = \"{}\"\nnode-name = \"test-self\"\n",
            socket.display(),
            history.display()
        ),
    )
    .expect("config");
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log");
    let mut command = Command::new(palisade());
    command
        .args(["daemon", "--config"])
        .arg(&config)
        .stdout(log.try_clone().expect("dup"))
        .stderr(log);
    // SAFETY: umask is async-signal-safe; the child starts under umask 000.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("daemon");
    // The socket is bound before the journal is opened: wait for both.
    let up = wait_until(Duration::from_secs(10), || {
        UnixStream::connect(&socket).is_ok() && history.exists()
    });
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    };
    let modes = (
        mode(&history),
        mode(history.parent().expect("dir")),
        mode(socket.parent().expect("dir")),
        mode(&socket),
    );
    // SAFETY: the daemon this test started, by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    assert!(up, "daemon came up");
    assert_eq!(
        modes,
        (0o640, 0o755, 0o755, 0o660),
        "journal, its dir, socket dir, socket"
    );
}

#[test]
fn refused_peers_are_counted_but_not_logged_without_limit() {
    // Another user (nobody) may reach the socket (mode 0666) but is not allowed.
    let daemon = Daemon::start("refused", "socket-mode = \"0666\"", "");
    // A copy of the CLI that `nobody` can reach (the build directory may sit under a
    // private directory, as in CI's clone).
    let tools = TempDir::new("refused-tools");
    let cli = tools.join("palisade");
    std::fs::copy(palisade(), &cli).expect("copy cli");
    let script = format!(
        "for i in $(seq 1 60); do {} devices --socket {} >/dev/null 2>&1; done; exit 0",
        cli.display(),
        daemon.socket.display()
    );
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(&script)
        .output()
        .expect("setpriv");
    assert!(out.status.success(), "{}", show(&out));
    let metrics = parse(&daemon.raw(r#"{"request":"metrics"}"#));
    let text = metrics["result"]["text"].as_str().expect("metrics text");
    let refused: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("palisade_api_refused_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("refused counter");
    assert_eq!(refused, 60, "every refusal counted");
    let logged = daemon
        .log()
        .lines()
        .filter(|l| l.contains("refused API peer:"))
        .count();
    assert!(logged <= 10, "{logged} refusal lines logged");
}

#[test]
fn validate_refuses_a_level_with_a_missing_device() {
    let dir = TempDir::new("validate-level");
    let config = dir.join("palisade.toml");
    std::fs::write(
        &config,
        format!(
            "[[device]]\nname = \"pdu\"\nagent = \"{}\"\n\n[[level]]\nindex = 1\ntarget = \"node1\"\ndevices = [\"pdu\", \"ipmi-typo\"]\n",
            our_dummy().display()
        ),
    )
    .expect("config");
    let out = Command::new(palisade())
        .args(["validate", "--config"])
        .arg(&config)
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 8") && err.contains("ipmi-typo"), "{err}");
}

#[test]
fn a_non_utf8_argument_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let bad = std::ffi::OsStr::from_bytes(b"node\xff1");
    for args in [vec![std::ffi::OsStr::new("fence"), bad], vec![bad]] {
        let out = Command::new(palisade())
            .args(&args)
            .output()
            .expect("palisade");
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    }
}
