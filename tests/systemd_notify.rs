//! Both daemons speak systemd's notification protocol as `Type=notify` units expect: they
//! say `READY=1` once they serve, pet `WATCHDOG=1` from their main loop when
//! `WATCHDOG_USEC` is set for them, and say `STOPPING=1` on SIGTERM. The test plays
//! systemd: it binds the datagram socket named by `NOTIFY_SOCKET` and reads what arrives.
//! Both write to the journal as structured entries (the node its events, the fencer its log;
//! the test's socket stands in for /run/systemd/journal/socket: `PALISADE_JOURNAL_SOCKET`).

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("palisade-notify-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every datagram until `until` matches one of them, or `limit` passes.
fn read_until(sock: &UnixDatagram, limit: Duration, until: &str) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        if let Ok(n) = sock.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = text.lines().any(|l| l == until);
            got.push(text);
            if done {
                break;
            }
        }
    }
    got
}

fn has(messages: &[String], line: &str) -> bool {
    messages.iter().any(|m| m.lines().any(|l| l == line))
}

fn start(args: &[&str], config: &Path, notify: &Path, log: &Path) -> Child {
    let out = std::fs::File::create(log).expect("log");
    let journal = notify.with_file_name("journal.sock");
    Command::new(env!("CARGO_BIN_EXE_palisade"))
        .env("PALISADE_JOURNAL_SOCKET", &journal)
        .args(args)
        .arg(config)
        .env("NOTIFY_SOCKET", notify)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .env("PALISADE_FORBID_SELF_FENCE", "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(out)
        .spawn()
        .expect("start palisade")
}

fn sigterm(child: &mut Child) -> Option<i32> {
    // SAFETY: kill(2) on the PID of the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().ok().and_then(|s| s.code())
}

fn ready_pet_and_stop(tag: &str, args: &[&str], config_text: impl Fn(&Path) -> String) {
    let dir = Dir::new(tag);
    let notify = dir.0.join("notify.sock");
    let sock = UnixDatagram::bind(&notify).expect("bind the notify socket");
    let journal = UnixDatagram::bind(dir.0.join("journal.sock")).expect("bind the journal socket");
    let config = dir.0.join("config.toml");
    std::fs::write(&config, config_text(&dir.0)).expect("config");
    let log = dir.0.join("log");
    let mut child = start(args, &config, &notify, &log);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    let first = read_until(&sock, Duration::from_secs(20), "READY=1");
    assert!(
        has(&first, "READY=1"),
        "no READY=1: {first:?}\n{}",
        log_text()
    );
    assert!(
        first
            .iter()
            .any(|m| m.lines().any(|l| l.starts_with("STATUS="))),
        "no STATUS with READY: {first:?}"
    );
    // WATCHDOG_USEC=400 ms: a pet every 200 ms.
    let pets = read_until(&sock, Duration::from_secs(10), "WATCHDOG=1");
    assert!(
        has(&pets, "WATCHDOG=1"),
        "no WATCHDOG=1: {pets:?}\n{}",
        log_text()
    );

    assert_eq!(sigterm(&mut child), Some(0), "{}", log_text());
    let last = read_until(&sock, Duration::from_millis(500), "STOPPING=1");
    assert!(has(&last, "STOPPING=1"), "no STOPPING=1: {last:?}");
    if tag == "fencer" {
        // The log as structured entries: the ready line carries its socket as a field.
        let entries = read_until(&journal, Duration::from_secs(2), "never");
        let socket = format!("PALISADE_SOCKET={}", dir.0.join("fencer.sock").display());
        assert!(
            entries.iter().any(|e| {
                let lines: Vec<&str> = e.lines().collect();
                lines.contains(&"SYSLOG_IDENTIFIER=palisade")
                    && lines.contains(&socket.as_str())
                    && lines.iter().any(|l| l.starts_with("MESSAGE="))
                    && lines.iter().any(|l| l.starts_with("PRIORITY="))
            }),
            "no structured journal entry: {entries:?}"
        );
    }
    if tag == "node" {
        // Structured entries: one per event, with the event's fields.
        let entries = read_until(&journal, Duration::from_secs(2), "never");
        assert!(
            entries.iter().any(|e| {
                let lines: Vec<&str> = e.lines().collect();
                lines.contains(&"SYSLOG_IDENTIFIER=palisade-node")
                    && lines.contains(&"PALISADE_NODE=solo")
                    && lines.iter().any(|l| l.starts_with("PALISADE_KIND="))
                    && lines.iter().any(|l| l.starts_with("MESSAGE=solo "))
            }),
            "no structured journal entry: {entries:?}"
        );
    }
}

#[test]
fn the_fencer_is_ready_pets_and_stops_as_a_notify_unit() {
    ready_pet_and_stop("fencer", &["daemon", "--config"], |d| {
        format!(
            "[daemon]\nsocket = \"{0}/fencer.sock\"\nhistory = \"{0}/history.jsonl\"\nnode-name = \"self\"\n",
            d.display()
        )
    });
}

#[test]
fn the_node_is_ready_pets_and_stops_as_a_notify_unit() {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let port = 29000
        + (std::process::id() % 2000) * 2
        + NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2;
    ready_pet_and_stop("node", &["node", "--config"], |d| {
        std::fs::write(d.join("key"), b"palisade-test-key-0123456789abcdef").expect("key");
        format!(
            r#"[cluster]
id = 9
key-file = "{d}/key"
node = "solo"
port = {port}
state-dir = "{d}/state"
control-socket = "{d}/node.sock"
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
"#,
            d = d.display()
        )
    });
}
