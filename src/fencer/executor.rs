//! Running a `fence_*` agent the way pacemaker-fenced does: fork/exec the agent path with
//! no arguments, in its own process group (`setpgid(0, 0)`), the parameters as
//! `name=value` lines on stdin (then stdin closed), `PCMK_service=pacemaker-fenced` in the
//! environment; at the timeout (or on cancel) the whole process group gets SIGKILL at
//! once. Exit 0 is success (for `status`: on), 2 is "off" for `status`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::machine::{AgentOutcome, AgentStatus};

/// Most bytes kept of an agent's stdout or stderr (the rest is read and dropped).
pub const OUTPUT_LIMIT: usize = 1 << 20;
/// How long output is still read after the agent exited (leftover children may hold the
/// pipes open).
const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// An agent that cannot be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentPathError {
    /// No executable file of that name in the agent directories.
    #[error("agent {agent} not found in {dirs}")]
    NotFound {
        /// The agent name.
        agent: String,
        /// The directories searched.
        dirs: String,
    },
    /// The path exists but is not an executable regular file.
    #[error("agent {0} is not an executable file")]
    NotExecutable(PathBuf),
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The file to execute for `agent`: an absolute path as is, a `fence_*` name in the first
/// of `dirs` that has it.
pub fn resolve_agent(agent: &str, dirs: &[PathBuf]) -> Result<PathBuf, AgentPathError> {
    if agent.starts_with('/') {
        let path = PathBuf::from(agent);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(AgentPathError::NotExecutable(path))
        };
    }
    dirs.iter()
        .map(|d| d.join(agent))
        .find(|p| is_executable(p))
        .ok_or_else(|| AgentPathError::NotFound {
            agent: agent.to_string(),
            dirs: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        })
}

/// How the agent is told who runs it (`PCMK_service`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// Fencing actions: agents then disable their own timeouts, as under pacemaker.
    Fencer,
    /// Admin tasks (`metadata`, `validate-all`), as `stonith_admin` runs them.
    Admin,
}

/// Run `path` with `lines` on stdin; kill its process group after `timeout` or when
/// `cancel` completes. Never fails: a spawn error is an outcome too, and so is a line
/// that [`agent_input`](super::agent_input) refuses (the agent is then not started).
pub async fn run_agent(
    path: &Path,
    lines: &[(String, String)],
    timeout: Duration,
    caller: Caller,
    cancel: impl std::future::Future<Output = ()>,
) -> AgentOutcome {
    let service = match caller {
        Caller::Fencer => "pacemaker-fenced",
        Caller::Admin => "stonith_admin",
    };
    let text = match super::agent_input::stdin_text(lines) {
        Ok(text) => text,
        Err(e) => return outcome(AgentStatus::SpawnFailed(e.to_string()), "", ""),
    };
    let mut command = Command::new(path);
    command
        .env("PCMK_service", service)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return outcome(AgentStatus::SpawnFailed(e.to_string()), "", ""),
    };
    // The group id is the child's pid (process_group(0)); it stays valid until we reap.
    let pgid = child.id().and_then(|id| i32::try_from(id).ok());
    let mut stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let feed = async move {
        if let Some(stdin) = stdin.as_mut() {
            // An agent that exits without reading gives EPIPE: not our failure.
            let _ = stdin.write_all(text.as_bytes()).await;
            let _ = stdin.shutdown().await;
        }
        drop(stdin);
    };
    let out_task = tokio::spawn(read_limited(stdout));
    let err_task = tokio::spawn(read_limited(stderr));

    let status = {
        let wait = async {
            feed.await;
            child.wait().await
        };
        tokio::pin!(wait);
        tokio::pin!(cancel);
        tokio::select! {
            status = &mut wait => match status {
                Ok(s) => exit_status(s),
                Err(e) => AgentStatus::SpawnFailed(format!("wait failed: {e}")),
            },
            _ = tokio::time::sleep(timeout) => AgentStatus::TimedOut,
            _ = &mut cancel => AgentStatus::TimedOut,
        }
    };
    if status == AgentStatus::TimedOut {
        kill_group(pgid);
        let _ = child.wait().await;
    }
    let (stdout, stderr) = tokio::join!(collect(out_task, pgid), collect(err_task, pgid));
    outcome(status, &stdout, &stderr)
}

fn outcome(status: AgentStatus, stdout: &str, stderr: &str) -> AgentOutcome {
    AgentOutcome {
        status,
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
    }
}

fn exit_status(status: std::process::ExitStatus) -> AgentStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => AgentStatus::Exited(code),
        (None, Some(signal)) => AgentStatus::Signalled(signal),
        (None, None) => AgentStatus::Exited(-1),
    }
}

/// SIGKILL to the agent's whole process group.
fn kill_group(pgid: Option<i32>) {
    if let Some(pgid) = pgid.filter(|p| *p > 1) {
        // ESRCH (group already gone) is fine.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

async fn read_limited<R: AsyncRead + Unpin>(pipe: Option<R>) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Output of a pipe reader; if leftover processes keep the pipe open past the grace
/// time, their group is killed and whatever was read is lost.
async fn collect(task: tokio::task::JoinHandle<String>, pgid: Option<i32>) -> String {
    let abort = task.abort_handle();
    match tokio::time::timeout(OUTPUT_GRACE, task).await {
        Ok(Ok(text)) => text,
        Ok(Err(_)) => String::new(),
        Err(_) => {
            kill_group(pgid);
            abort.abort();
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_and_paths() {
        let dir = std::env::temp_dir().join(format!("palisade-exec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let agent = dir.join("fence_test");
        std::fs::write(&agent, "#!/bin/sh\nexit 0\n").expect("write");
        let plain = dir.join("fence_plain");
        std::fs::write(&plain, "not executable").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let dirs = vec![PathBuf::from("/nonexistent"), dir.clone()];
        assert_eq!(resolve_agent("fence_test", &dirs), Ok(agent.clone()));
        assert!(matches!(
            resolve_agent("fence_plain", &dirs),
            Err(AgentPathError::NotFound { .. })
        ));
        assert_eq!(
            resolve_agent(&agent.display().to_string(), &[]),
            Ok(agent.clone())
        );
        assert!(matches!(
            resolve_agent(&plain.display().to_string(), &[]),
            Err(AgentPathError::NotExecutable(_))
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[tokio::test]
    async fn an_injected_line_never_starts_the_agent() {
        let dir = std::env::temp_dir().join(format!("palisade-inject-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let marker = dir.join("started");
        let agent = dir.join("fence_marker");
        std::fs::write(&agent, format!("#!/bin/sh\ncat > {}\n", marker.display())).expect("agent");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        for target in ["nodeX\naction=on", "nodeX\raction=on", "nodeX\0"] {
            let lines = vec![
                ("action".to_string(), "off".to_string()),
                ("port".to_string(), target.to_string()),
            ];
            let outcome = run_agent(
                &agent,
                &lines,
                Duration::from_secs(10),
                Caller::Fencer,
                std::future::pending(),
            )
            .await;
            assert!(
                matches!(outcome.status, AgentStatus::SpawnFailed(_)),
                "{target:?}: {outcome:?}"
            );
            assert!(!marker.exists(), "{target:?}: the agent ran");
        }
        let fine = vec![("action".to_string(), "off".to_string())];
        let outcome = run_agent(
            &agent,
            &fine,
            Duration::from_secs(10),
            Caller::Fencer,
            std::future::pending(),
        )
        .await;
        assert_eq!(outcome.status, AgentStatus::Exited(0));
        assert_eq!(
            std::fs::read_to_string(&marker).expect("stdin written"),
            "action=off\n"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
