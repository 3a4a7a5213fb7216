//! Running a `fence_*` agent the way pacemaker-fenced does, through the process runner
//! ([`crate::process`]): the agent path with no arguments, in its own process group, the
//! parameters as `name=value` lines on stdin (written by
//! [`agent_input::stdin_text`](super::agent_input::stdin_text), then stdin closed),
//! `PCMK_service=pacemaker-fenced` added to the daemon's environment; at the timeout (or on
//! cancel) the whole process group gets SIGKILL at once. Exit 0 is success (for `status`:
//! on), 2 is "off" for `status`. The fencer daemon, the admin CLI and the node's direct
//! fencing all run agents here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::machine::{AgentOutcome, AgentStatus};
use crate::process::{self, Ended, EnvBase, Leftovers, Limits, Spec};

/// Most bytes kept of an agent's stdout or stderr (the rest is read and dropped).
pub const OUTPUT_LIMIT: usize = 1 << 20;
/// How long output is still read after the agent exited (leftover children may hold the
/// pipes open; they are then killed with the group).
pub const OUTPUT_GRACE: Duration = Duration::from_secs(2);

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

/// How fence agents are run (see [`crate::process`]): SIGKILL of the group at once at the
/// timeout or on cancel (no grace, as pacemaker-fenced), output capped at
/// [`OUTPUT_LIMIT`], leftovers still holding the pipes after [`OUTPUT_GRACE`] killed.
pub fn agent_limits(timeout: Duration) -> Limits {
    Limits {
        timeout,
        kill_grace: Duration::ZERO,
        output_cap: OUTPUT_LIMIT,
        output_grace: OUTPUT_GRACE,
        leftovers: Leftovers::Killed,
    }
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
    let spec = Spec {
        program: path.to_path_buf(),
        args: Vec::new(),
        env_base: EnvBase::Inherited,
        env: vec![("PCMK_service".to_string(), service.to_string())],
        stdin: Some(text),
        dir: None,
    };
    let ran = process::run(&spec, &agent_limits(timeout), cancel).await;
    let status = match ran.ended {
        Ended::Exited(code) => AgentStatus::Exited(code),
        Ended::Signalled(signal) => AgentStatus::Signalled(signal),
        // The fencer machine treats a cancelled run like one that timed out.
        Ended::TimedOut | Ended::Cancelled => AgentStatus::TimedOut,
        Ended::SpawnFailed(why) => AgentStatus::SpawnFailed(why),
        Ended::NotStarted(why) => AgentStatus::NotStarted(why),
    };
    outcome(status, &ran.stdout, &ran.stderr)
}

fn outcome(status: AgentStatus, stdout: &str, stderr: &str) -> AgentOutcome {
    AgentOutcome {
        status,
        stdout: stdout.to_string(),
        stderr: stderr.to_string(),
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
