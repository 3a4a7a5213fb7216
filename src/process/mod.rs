//! Running one external program under a deadline: the only place palisade starts agents.
//! Fence agents (for the fencer daemon, the admin CLI and the node's direct fencing, via
//! [`crate::fencer::executor`]) and resource agents (OCF agents, LSB scripts, systemctl,
//! via [`crate::node::agent_exec`]) all run through [`run`].
//!
//! What [`run`] does with a [`Spec`] and its [`Limits`]:
//! - the program runs in its own process group (`setpgid(0, 0)`), so its whole tree can be
//!   signalled at once;
//! - its environment is a clean one or the daemon's own ([`EnvBase`]), plus the given
//!   variables; its stdin is the given text (written, then closed) or `/dev/null`;
//! - stdout and stderr are captured, each to at most [`Limits::output_cap`] bytes (the rest
//!   is read and dropped, so a chatty program never blocks on a full pipe);
//! - **kill policy**, at the timeout or when `cancel` completes: SIGTERM to the group, up to
//!   [`Limits::kill_grace`] for the program to exit, then SIGKILL to the group. With a grace
//!   of zero no SIGTERM is sent: SIGKILL at once (fence agents, as pacemaker-fenced does,
//!   and resource agents, as pacemaker-execd does). The final SIGKILL is sent before the
//!   program is reaped, so the group id cannot have been reused;
//! - after the program ended, its output is read for [`Limits::output_grace`] more;
//!   processes it left behind holding the pipes are then killed with the group or left
//!   running ([`Leftovers`]), and what was read is kept;
//! - a run whose future is dropped before the program was reaped kills the group
//!   (SIGKILL); a run cancelled before it started never starts the program.
//!
//! [`run`] never fails: every end is an [`Ended`].

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// How often the end of the kill grace is checked for an exited program.
const GRACE_POLL: Duration = Duration::from_millis(10);

/// The environment a program starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvBase {
    /// Nothing: only [`Spec::env`].
    Clean,
    /// The daemon's own environment, [`Spec::env`] added on top.
    Inherited,
}

/// One program to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The file executed.
    pub program: PathBuf,
    /// Its arguments (without argv\[0\]).
    pub args: Vec<String>,
    /// What the environment starts from.
    pub env_base: EnvBase,
    /// Variables set on top of [`Spec::env_base`].
    pub env: Vec<(String, String)>,
    /// Text written to stdin (then closed); `None` = `/dev/null`.
    pub stdin: Option<String>,
    /// Working directory; `None` = the daemon's.
    pub dir: Option<PathBuf>,
}

impl Spec {
    /// `program` with `args` in exactly the environment `env`, stdin `/dev/null`.
    pub fn clean(program: PathBuf, args: Vec<String>, env: Vec<(String, String)>) -> Spec {
        Spec {
            program,
            args,
            env_base: EnvBase::Clean,
            env,
            stdin: None,
            dir: None,
        }
    }
}

/// What happens to processes a program leaves behind holding its output pipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftovers {
    /// Killed with the group at the end of the output grace (fence agents: an agent has
    /// nothing to leave running).
    Killed,
    /// Left running, their further output dropped (init scripts start daemons).
    Left,
}

/// The bounds of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the start to the kill.
    pub timeout: Duration,
    /// Between SIGTERM and SIGKILL of the group (zero: SIGKILL at once).
    pub kill_grace: Duration,
    /// Most bytes kept of stdout and of stderr, each.
    pub output_cap: usize,
    /// How long output is still read after the program ended.
    pub output_grace: Duration,
    /// What happens to processes holding the pipes past the output grace.
    pub leftovers: Leftovers,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The program exited with this code.
    Exited(i32),
    /// The program died of this signal (not ours).
    Signalled(i32),
    /// Killed (its group) at the timeout.
    TimedOut,
    /// Killed (its group) because the run was cancelled.
    Cancelled,
    /// The program could not be started (or waited for).
    SpawnFailed(String),
    /// The program was never started: the run was cancelled first.
    NotStarted(String),
}

/// A run's end and its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How it ended.
    pub ended: Ended,
    /// Standard output (capped, lossy UTF-8).
    pub stdout: String,
    /// Standard error (capped, lossy UTF-8).
    pub stderr: String,
}

impl Outcome {
    /// An end without output.
    pub fn bare(ended: Ended) -> Outcome {
        Outcome {
            ended,
            stdout: String::new(),
            stderr: String::new(),
        }
    }
}

/// A started program's process group. Dropped before the program was reaped, it kills
/// the group.
struct Group {
    child: Child,
    pgid: Option<Pid>,
    reaped: bool,
}

impl Group {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (the group is gone) is fine.
            let _ = killpg(pgid, signal);
        }
    }

    /// Whether the program has exited (not reaping it, so its pid stays reserved).
    fn has_exited(&self) -> bool {
        let Some(pid) = self.pgid else { return true };
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
        !matches!(waitid(Id::Pid(pid), flags), Ok(WaitStatus::StillAlive))
    }

    /// The kill policy: SIGTERM, up to `grace` for the program to exit, SIGKILL; then reap.
    async fn stop(&mut self, grace: Duration) {
        if !grace.is_zero() {
            self.signal(Signal::SIGTERM);
            let deadline = tokio::time::Instant::now() + grace;
            while !self.has_exited() && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(GRACE_POLL).await;
            }
        }
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait().await;
        self.reaped = true;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if !self.reaped {
            self.signal(Signal::SIGKILL);
        }
    }
}

/// One output pipe read to the end in the background, keeping at most `cap` bytes.
struct Capture {
    kept: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Capture {
    fn start(pipe: Option<impl AsyncRead + Unpin + Send + 'static>, cap: usize) -> Capture {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&kept);
        let task = tokio::spawn(async move {
            let Some(mut pipe) = pipe else { return };
            let mut buf = [0u8; 8192];
            loop {
                match pipe.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Ok(mut kept) = sink.lock() {
                            let room = cap.saturating_sub(kept.len());
                            kept.extend_from_slice(&buf[..n.min(room)]);
                        }
                    }
                }
            }
        });
        Capture { kept, task }
    }

    /// Wait up to `grace` for the end of the pipe; whether it came.
    async fn finish(&mut self, grace: Duration) -> bool {
        let done = tokio::time::timeout(grace, &mut self.task).await.is_ok();
        if !done {
            self.task.abort();
        }
        done
    }

    fn text(&self) -> String {
        self.kept
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

fn ended_of(status: std::process::ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signalled(signal),
        (None, None) => Ended::Exited(-1),
    }
}

/// Run `spec` within `limits`; stop it (the kill policy above) at the timeout or when
/// `cancel` completes.
pub async fn run(spec: &Spec, limits: &Limits, cancel: impl Future<Output = ()>) -> Outcome {
    tokio::pin!(cancel);
    let cancelled_before = tokio::select! {
        biased;
        _ = &mut cancel => true,
        _ = std::future::ready(()) => false,
    };
    if cancelled_before {
        return Outcome::bare(Ended::NotStarted("cancelled before it started".into()));
    }
    let mut command = Command::new(&spec.program);
    command.args(&spec.args);
    if spec.env_base == EnvBase::Clean {
        command.env_clear();
    }
    command
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(dir) = &spec.dir {
        command.current_dir(dir);
    }
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Outcome::bare(Ended::SpawnFailed(e.to_string())),
    };
    // The group id is the child's pid (process_group(0)); it stays valid until reaped.
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .filter(|id| *id > 1)
        .map(Pid::from_raw);
    let mut group = Group {
        child,
        pgid,
        reaped: false,
    };
    let stdin = group.child.stdin.take();
    let mut stdout = Capture::start(group.child.stdout.take(), limits.output_cap);
    let mut stderr = Capture::start(group.child.stderr.take(), limits.output_cap);

    let finished = {
        let text = spec.stdin.as_deref();
        let child = &mut group.child;
        let feed_and_wait = async move {
            if let (Some(mut pipe), Some(text)) = (stdin, text) {
                // A program that exits without reading gives EPIPE: not our failure.
                let _ = pipe.write_all(text.as_bytes()).await;
                let _ = pipe.shutdown().await;
            }
            child.wait().await
        };
        tokio::select! {
            status = feed_and_wait => Ok(status),
            _ = tokio::time::sleep(limits.timeout) => Err(Ended::TimedOut),
            _ = &mut cancel => Err(Ended::Cancelled),
        }
    };
    let ended = match finished {
        Ok(Ok(status)) => {
            group.reaped = true;
            ended_of(status)
        }
        Ok(Err(e)) => {
            group.stop(Duration::ZERO).await;
            Ended::SpawnFailed(format!("wait failed: {e}"))
        }
        Err(stopped) => {
            group.stop(limits.kill_grace).await;
            stopped
        }
    };
    let (out_done, err_done) = tokio::join!(
        stdout.finish(limits.output_grace),
        stderr.finish(limits.output_grace)
    );
    if !(out_done && err_done) && limits.leftovers == Leftovers::Killed {
        group.signal(Signal::SIGKILL);
    }
    Outcome {
        ended,
        stdout: stdout.text(),
        stderr: stderr.text(),
    }
}

#[cfg(test)]
mod tests;
