//! Tests of the process runner: real `/bin/sh` scripts in a temporary directory.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("palisade-process-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("dir");
        Dir(path)
    }

    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        kill_grace: Duration::ZERO,
        output_cap: 1 << 16,
        output_grace: Duration::from_millis(500),
        leftovers: Leftovers::Killed,
    }
}

fn spec(program: PathBuf) -> Spec {
    Spec::clean(
        program,
        Vec::new(),
        vec![("PATH".into(), "/usr/bin:/bin".into())],
    )
}

/// Whether `pid` is gone or a zombie.
fn dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Wait (bounded, generously) until `pid` is dead; whether it died.
async fn dies(pid: i32) -> bool {
    for _ in 0..1000 {
        if dead(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The pid a script wrote to `file` (waiting for the file, bounded).
async fn pid_in(file: &Path) -> i32 {
    for _ in 0..1000 {
        if let Some(pid) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no pid in {}", file.display());
}

#[tokio::test]
async fn exit_code_output_args_env_dir_and_stdin() {
    let dir = Dir::new("basic");
    let p = dir.script(
        "basic",
        "echo \"$1|$HOME|$FOO|$(pwd)\"; cat; echo oops >&2; exit 3",
    );
    let mut s = spec(p);
    s.args = vec!["status".into()];
    s.env.push(("FOO".into(), "bar".into()));
    s.stdin = Some("a=1\nb=2\n".into());
    s.dir = Some(dir.0.clone());
    let out = run(&s, &limits(Duration::from_secs(30)), std::future::pending()).await;
    assert_eq!(out.ended, Ended::Exited(3));
    assert_eq!(
        out.stdout,
        format!("status||bar|{}\na=1\nb=2\n", dir.0.display())
    );
    assert_eq!(out.stderr, "oops\n");

    let p = dir.script("path", "echo \"$PATH\"");
    let mut inherited = spec(p);
    inherited.env_base = EnvBase::Inherited;
    inherited.env.clear();
    let out = run(
        &inherited,
        &limits(Duration::from_secs(30)),
        std::future::pending(),
    )
    .await;
    assert_eq!(out.ended, Ended::Exited(0));
    assert_eq!(
        out.stdout.trim_end(),
        std::env::var("PATH").unwrap_or_default()
    );

    let out = run(
        &spec(dir.0.join("missing")),
        &limits(Duration::from_secs(30)),
        std::future::pending(),
    )
    .await;
    assert!(matches!(out.ended, Ended::SpawnFailed(_)), "{out:?}");

    let p = dir.script("killed", "kill -USR1 $$");
    let out = run(
        &spec(p),
        &limits(Duration::from_secs(30)),
        std::future::pending(),
    )
    .await;
    assert_eq!(out.ended, Ended::Signalled(libc::SIGUSR1));
}

#[tokio::test]
async fn the_timeout_kills_the_whole_group_grandchildren_too() {
    let dir = Dir::new("group");
    let pidfile = dir.0.join("grandchild");
    // The grandchild is started in the background and does not hold the pipes.
    let p = dir.script(
        "tree",
        &format!(
            "sleep 300 </dev/null >/dev/null 2>&1 &\necho $! > {}\nwait",
            pidfile.display()
        ),
    );
    let out = run(
        &spec(p),
        &limits(Duration::from_millis(300)),
        std::future::pending(),
    )
    .await;
    assert_eq!(out.ended, Ended::TimedOut);
    let grandchild = pid_in(&pidfile).await;
    assert!(dies(grandchild).await, "grandchild {grandchild} survived");
}

#[tokio::test]
async fn cancel_stops_the_run_and_an_early_cancel_never_starts_it() {
    let dir = Dir::new("cancel");
    let p = dir.script("hangs", "sleep 300");
    let out = run(
        &spec(p),
        &limits(Duration::from_secs(60)),
        tokio::time::sleep(Duration::from_millis(200)),
    )
    .await;
    assert_eq!(out.ended, Ended::Cancelled);

    let marker = dir.0.join("started");
    let p = dir.script("marks", &format!("touch {}", marker.display()));
    let out = run(
        &spec(p),
        &limits(Duration::from_secs(60)),
        std::future::ready(()),
    )
    .await;
    assert!(matches!(out.ended, Ended::NotStarted(_)), "{out:?}");
    assert!(!marker.exists());
}

#[tokio::test]
async fn output_is_capped_and_the_rest_drained() {
    let dir = Dir::new("cap");
    let p = dir.script(
        "chatty",
        "head -c 200000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero | tr '\\0' b >&2",
    );
    let mut l = limits(Duration::from_secs(30));
    l.output_cap = 1000;
    let out = run(&spec(p), &l, std::future::pending()).await;
    assert_eq!(out.ended, Ended::Exited(0), "the writer was never blocked");
    assert_eq!(out.stdout, "a".repeat(1000));
    assert_eq!(out.stderr, "b".repeat(1000));
}

/// Completes once `file` exists (the script has set its trap).
async fn exists(file: PathBuf) {
    while !file.exists() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn grace_zero_kills_at_once_and_a_grace_sends_sigterm_first() {
    let dir = Dir::new("grace");
    let ready = dir.0.join("ready");
    // Notes SIGTERM and goes on; only SIGKILL ends it. Stopped (cancelled) once its trap
    // is set.
    let stubborn = dir.script(
        "stubborn",
        &format!(
            "trap 'echo term >&2' TERM\ntouch {}\nwhile :; do sleep 1 & wait $!; done",
            ready.display()
        ),
    );
    let out = run(
        &spec(stubborn.clone()),
        &limits(Duration::from_secs(60)),
        exists(ready.clone()),
    )
    .await;
    assert_eq!(out.ended, Ended::Cancelled);
    assert_eq!(out.stderr, "", "grace zero: no SIGTERM");

    std::fs::remove_file(&ready).expect("ready");
    let mut l = limits(Duration::from_secs(60));
    l.kill_grace = Duration::from_secs(3);
    let out = run(&spec(stubborn), &l, exists(ready.clone())).await;
    assert_eq!(out.ended, Ended::Cancelled);
    // (sh may also report its killed `sleep` as "Terminated".)
    assert!(out.stderr.lines().any(|l| l == "term"), "{out:?}");

    // Exits on SIGTERM: its cleanup runs within the grace, the rest of it is not waited.
    std::fs::remove_file(&ready).expect("ready");
    let polite = dir.script(
        "polite",
        &format!(
            "trap 'echo cleaned; exit 0' TERM\ntouch {}\nsleep 300 & wait $!",
            ready.display()
        ),
    );
    // Not the whole grace: a runner that waited out 300 s after the program had exited
    // would hang this test, and the harness's hang is the failure.
    l.kill_grace = Duration::from_secs(300);
    let out = run(&spec(polite), &l, exists(ready)).await;
    assert_eq!(out.ended, Ended::Cancelled);
    assert_eq!(out.stdout, "cleaned\n");
}

#[tokio::test]
async fn leftovers_holding_the_pipes_are_killed_or_left() {
    let dir = Dir::new("leftovers");
    let p = dir.script("leaves", "echo hello; sleep 300 &\necho $!; exit 0");
    let killed = run(
        &spec(p.clone()),
        &limits(Duration::from_secs(30)),
        std::future::pending(),
    )
    .await;
    assert_eq!(killed.ended, Ended::Exited(0));
    let mut lines = killed.stdout.lines();
    assert_eq!(lines.next(), Some("hello"));
    let pid: i32 = lines.next().and_then(|l| l.parse().ok()).expect("pid");
    assert!(dies(pid).await, "leftover {pid} survived");

    let mut l = limits(Duration::from_secs(30));
    l.leftovers = Leftovers::Left;
    let left = run(&spec(p), &l, std::future::pending()).await;
    assert_eq!(left.ended, Ended::Exited(0));
    let pid: i32 = left
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .expect("pid");
    assert!(!dead(pid), "a leftover daemon is left running");
    // Ours: end it.
    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    assert!(dies(pid).await);
}

#[tokio::test]
async fn a_dropped_run_kills_its_group() {
    let dir = Dir::new("drop");
    let pidfile = dir.0.join("pid");
    let p = dir.script(
        "sleeper",
        &format!("echo $$ > {}\nsleep 300", pidfile.display()),
    );
    let s = spec(p);
    let l = limits(Duration::from_secs(60));
    let started = tokio::select! {
        out = run(&s, &l, std::future::pending()) => panic!("ended: {out:?}"),
        pid = pid_in(&pidfile) => pid,
    };
    assert!(
        dies(started).await,
        "the dropped run's program {started} survived"
    );
}
