//! Running resource agents (the I/O half of [`super::agent_class`]) through the process
//! runner ([`crate::process`]): one program in its own process group with a clean
//! environment, killed (the whole group, SIGKILL at once) at its timeout, its output
//! captured (bounded); and one operation of a resource of any class: OCF agent, LSB init
//! script, or systemctl followed by `is-active` until the unit has settled.
//!
//! The operation is over when the program exits: a daemon an init script leaves behind
//! holding the output pipes does not hold the operation up (its output is read for
//! [`OUTPUT_GRACE`] more, then dropped) and is left running.

use std::path::Path;
use std::time::Duration;

use super::agent_class::{
    lsb_invocation, lsb_rc, settled, systemctl_invocation, systemctl_job_rc, systemctl_verb,
    unit_name, unit_state, SYSTEMD_BOOTED_DIR,
};
use super::config::ResourceEntry;
use super::resources::{agent_command, AgentContext, OcfRc};
use crate::placement::config::AgentClass;
use crate::process::{self, Ended, Leftovers, Limits, Outcome, Spec};

/// Output kept per stream.
const OUTPUT_CAP: usize = 64 * 1024;
/// How long output is still read after the program exited.
pub const OUTPUT_GRACE: Duration = Duration::from_millis(200);
/// Between two `systemctl is-active` while a unit settles.
const SETTLE_POLL: Duration = Duration::from_millis(200);

/// How resource agents are run: SIGKILL of the group at once at the timeout (as
/// pacemaker-execd), output capped at 64 KiB per stream and read for [`OUTPUT_GRACE`]
/// after the exit, daemons left behind left running.
pub fn agent_limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        kill_grace: Duration::ZERO,
        output_cap: OUTPUT_CAP,
        output_grace: OUTPUT_GRACE,
        leftovers: Leftovers::Left,
    }
}

/// The OCF result of a run, mapping an exit code with `map`.
pub fn rc(ran: &Outcome, map: impl FnOnce(i32) -> OcfRc) -> OcfRc {
    match &ran.ended {
        Ended::Exited(code) => map(*code),
        Ended::TimedOut | Ended::Cancelled => OcfRc::TimedOut,
        Ended::Signalled(signal) => OcfRc::Failed(format!("killed by signal {signal}")),
        Ended::SpawnFailed(why) | Ended::NotStarted(why) => OcfRc::Failed(why.clone()),
    }
}

/// Run `spec` (see [`agent_limits`]). Never fails: a program that cannot be started is
/// [`Ended::SpawnFailed`] with `cannot run <program>: <why>`.
pub async fn run_program(spec: &Spec, timeout: Duration) -> Outcome {
    let mut ran = process::run(spec, &agent_limits(timeout), std::future::pending()).await;
    if let Ended::SpawnFailed(why) = &ran.ended {
        ran.ended = Ended::SpawnFailed(format!("cannot run {}: {why}", spec.program.display()));
    }
    ran
}

/// Run one operation of `entry` (`start`, `stop`, `promote`, `demote` or `monitor`,
/// interval 0 for a probe) within that operation's own timeout: the result and the text
/// worth logging on a failure.
pub async fn run_action(
    entry: &ResourceEntry,
    ctx: &AgentContext,
    action: &str,
    interval: Duration,
) -> (OcfRc, String) {
    match entry.class {
        AgentClass::Ocf => {
            let (program, env) = agent_command(entry, ctx, action, interval);
            let spec = Spec::clean(program, vec![action.to_string()], env);
            let ran = run_program(&spec, entry.ops.timeout(action, interval)).await;
            (rc(&ran, OcfRc::from_code), ran.stderr)
        }
        AgentClass::Lsb => {
            let inv = lsb_invocation(&ctx.classes.lsb_dir, &entry.kind, action);
            let ran = run_program(&inv, entry.ops.timeout(action, interval)).await;
            let text = if ran.stderr.trim().is_empty() {
                ran.stdout.clone()
            } else {
                ran.stderr.clone()
            };
            (rc(&ran, |code| lsb_rc(action, code)), text)
        }
        AgentClass::Systemd => run_systemd(entry, ctx, action, interval).await,
    }
}

/// Whether systemd is PID 1 on this host (`dir` is [`SYSTEMD_BOOTED_DIR`]).
pub fn systemd_booted(dir: &Path) -> bool {
    dir.is_dir()
}

async fn run_systemd(
    entry: &ResourceEntry,
    ctx: &AgentContext,
    action: &str,
    interval: Duration,
) -> (OcfRc, String) {
    let unit = unit_name(&entry.kind);
    if ctx.classes.needs_booted_systemd() && !systemd_booted(Path::new(SYSTEMD_BOOTED_DIR)) {
        return (
            OcfRc::Failed(format!(
                "systemd is not PID 1 on this host (no {SYSTEMD_BOOTED_DIR}): cannot {action} {unit}"
            )),
            String::new(),
        );
    }
    let systemctl = ctx.classes.systemctl_program();
    let deadline = tokio::time::Instant::now() + entry.ops.timeout(action, interval);
    let left = || deadline.saturating_duration_since(tokio::time::Instant::now());
    if action != "monitor" {
        let ran = run_program(
            &systemctl_invocation(&systemctl, systemctl_verb(action), &unit),
            left(),
        )
        .await;
        let job = match &ran.ended {
            Ended::Exited(code) => systemctl_job_rc(action, *code),
            _ => Some(rc(&ran, OcfRc::from_code)),
        };
        if let Some(rc) = job {
            return (rc, ran.stderr);
        }
    }
    // The job is done (or this is a monitor): read the state until it has settled.
    loop {
        let ran = run_program(
            &systemctl_invocation(&systemctl, "is-active", &unit),
            left(),
        )
        .await;
        let state = match &ran.ended {
            Ended::Exited(_) => unit_state(&ran.stdout),
            _ => return (rc(&ran, OcfRc::from_code), ran.stderr),
        };
        let Some(state) = state else {
            return (
                OcfRc::Error(1),
                format!(
                    "systemctl is-active {unit} printed no state: {}",
                    ran.stderr.trim()
                ),
            );
        };
        if let Some(rc) = settled(action, &state) {
            let why = match (&rc, &state) {
                (OcfRc::Error(_), s) => format!("{unit} is {s} after {action}"),
                _ => String::new(),
            };
            return (rc, why);
        }
        if left() <= SETTLE_POLL {
            return (
                OcfRc::TimedOut,
                format!("{unit} still {state} at the timeout"),
            );
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    fn script(dir: &Path, name: &str, body: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn inv(program: std::path::PathBuf, args: &[&str]) -> Spec {
        Spec::clean(
            program,
            args.iter().map(|a| a.to_string()).collect(),
            vec![("PATH".into(), "/usr/bin:/bin".into())],
        )
    }

    #[test]
    fn programs_end_with_their_exit_not_with_their_pipes() {
        let dir = std::env::temp_dir().join(format!("palisade-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        // Leaves a child holding stdout and stderr for an hour, as a careless init script
        // does. A runner that waited for the pipes to close would hang this test: the
        // harness's hang is the failure (no clock). The leftover is ended by its PID.
        let leftover = dir.join("leftover.pid");
        let p = script(
            &dir,
            "leaves",
            &format!(
                "echo hello; echo oops >&2; sleep 3600 &\necho $! > {}\nexit 3",
                leftover.display()
            ),
        );
        let rt = rt();
        let ran = rt.block_on(run_program(&inv(p, &[]), Duration::from_secs(10)));
        if let Some(pid) = std::fs::read_to_string(&leftover)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // SAFETY: kill(2) on the PID of the sleep this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert_eq!(ran.ended, Ended::Exited(3));
        assert_eq!(ran.stdout, "hello\n");
        assert_eq!(ran.stderr, "oops\n");
        let p = script(&dir, "hangs", "sleep 30");
        let ran = rt.block_on(run_program(&inv(p, &[]), Duration::from_millis(300)));
        assert_eq!(ran.ended, Ended::TimedOut);
        let ran = rt.block_on(run_program(
            &inv(dir.join("missing"), &[]),
            Duration::from_secs(1),
        ));
        assert!(matches!(ran.ended, Ended::SpawnFailed(ref why) if why.contains("cannot run")));
        let p = script(&dir, "env", "echo \"$HOME|$PATH|$1\"");
        let ran = rt.block_on(run_program(&inv(p, &["status"]), Duration::from_secs(5)));
        assert_eq!(ran.stdout, "|/usr/bin:/bin|status\n");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn systemd_without_pid_1_is_a_clear_failure() {
        if systemd_booted(Path::new(SYSTEMD_BOOTED_DIR)) {
            eprintln!("NOTICE: systemd is PID 1 here; the no-systemd case is not tested");
            return;
        }
        let entry = ResourceEntry {
            name: "web".into(),
            class: AgentClass::Systemd,
            provider: String::new(),
            kind: "web".into(),
            params: Default::default(),
            allowed: vec![1],
            priority: 0,
            monitor_interval: Duration::ZERO,
            op_timeout: Duration::from_secs(5),
            max_failures: 1,
            ops: crate::node::operations::Operations::default(),
            clone: None,
        };
        let ctx = AgentContext {
            ocf_root: "/usr/lib/ocf".into(),
            node_name: "n".into(),
            epoch: Default::default(),
            classes: Default::default(),
            promotion: None,
        };
        for action in ["start", "stop", "monitor"] {
            let (rc, _) = rt().block_on(run_action(&entry, &ctx, action, Duration::ZERO));
            match rc {
                OcfRc::Failed(why) => {
                    assert!(why.contains("systemd is not PID 1"), "{why}");
                    assert!(why.contains("web.service"), "{why}");
                }
                other => panic!("{action}: {other}"),
            }
        }
    }

    #[test]
    fn each_operation_runs_within_its_own_timeout() {
        let dir = std::env::temp_dir().join(format!("palisade-optimeout-{}", std::process::id()));
        let agent_dir = dir.join("resource.d/test");
        std::fs::create_dir_all(&agent_dir).expect("dir");
        // start and promote take 2 s; stop is quick.
        script(
            &agent_dir,
            "Slow",
            "case $1 in start|promote) sleep 2; exit 0;; *) exit 0;; esac",
        );
        let ops = crate::node::operations::Operations {
            start: Duration::from_millis(300),
            promote: Duration::from_secs(10),
            stop: Duration::from_millis(300),
            ..Default::default()
        };
        let entry = ResourceEntry {
            name: "slow".into(),
            class: AgentClass::Ocf,
            provider: "test".into(),
            kind: "Slow".into(),
            params: Default::default(),
            allowed: vec![1],
            priority: 0,
            monitor_interval: Duration::ZERO,
            op_timeout: Duration::from_secs(10),
            max_failures: 1,
            ops,
            clone: None,
        };
        let ctx = AgentContext {
            ocf_root: dir.clone(),
            node_name: "n".into(),
            epoch: Default::default(),
            classes: Default::default(),
            promotion: None,
        };
        let rt = rt();
        let run = |action: &str| {
            rt.block_on(run_action(&entry, &ctx, action, Duration::ZERO))
                .0
        };
        // start sleeps 2 s and exits 0: under the entry's 10 s it would succeed, so the
        // TimedOut verdict is start's own 300 ms timeout, no clock needed.
        assert_eq!(run("start"), OcfRc::TimedOut, "start's own 300ms timeout");
        assert_eq!(run("promote"), OcfRc::Success, "promote has 10 s");
        assert_eq!(run("stop"), OcfRc::Success);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
