//! One agent run from process start to exit status: read options (argv or stdin), answer
//! help/version/metadata, validate, resolve the password, honour `delay`, connect with
//! the deadline, run the action sequence, print the result. [`AgentExit`] and
//! [`RunError::exit`] are the one place where outcomes become exit codes.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::action::{Done, Failure, Sequence, SystemClock};
use crate::agent::{Agent, Invocation, Plugs};
use crate::args::{parse_argv, parse_stdin, utf8_args};
use crate::device::{Deadline, PowerState};
use crate::log::{AgentLog, Level, LogSink};
use crate::metadata;
use crate::params::{Action, Params, UsageError};

/// Exit status of an agent, as ClusterLabs uses them (pacemaker reads 2 from `status`
/// as "off"; every failure is 1, the reason goes to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum AgentExit {
    Success = 0,
    Failure = 1,
    StatusOff = 2,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Options unusable.
    #[error("{0}")]
    Usage(#[from] UsageError),
    /// The action failed on the device.
    #[error("{0}")]
    Action(#[from] Failure),
    /// `--debug-file` cannot be written.
    #[error("Failed: cannot open debug file {path}: {reason}")]
    DebugFile { path: String, reason: String },
    /// `--password-script` did not give a password.
    #[error("Failed: password script failed: {0}")]
    PasswordScript(String),
    /// stdout could not be written.
    #[error("Failed: cannot write result: {0}")]
    Output(String),
}

impl RunError {
    /// The exit status for this error (always 1: ClusterLabs exits 1 on every failure).
    pub fn exit(&self) -> AgentExit {
        AgentExit::Failure
    }
}

/// Entry point of every `fence_*` binary.
pub fn main(agent: &Agent) -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invoked = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| agent.name.to_string());
    let inv = agent.invoked_as(&invoked);
    let under_pacemaker = std::env::var("PCMK_service").is_ok_and(|s| s == "pacemaker-fenced");
    let mut log = AgentLog::early();
    let outcome = utf8_args(&inv.options(), args.get(1..).unwrap_or(&[]))
        .map_err(|e| RunError::Usage(e.into()))
        .and_then(|args| run(&inv, &args, under_pacemaker, &mut log));
    let code = match outcome {
        Ok(code) => code,
        Err(e) => {
            log.log(Level::Error, &e.to_string());
            if matches!(e, RunError::Usage(_)) {
                log.log(Level::Error, "Please use '-h' for usage");
            }
            e.exit()
        }
    };
    std::process::ExitCode::from(code as u8)
}

fn print(lines: &[String]) -> Result<(), RunError> {
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}").map_err(|e| RunError::Output(e.to_string()))?;
    }
    out.flush().map_err(|e| RunError::Output(e.to_string()))
}

/// Run one invocation; `args` excludes the program name (empty = options on stdin).
pub fn run(
    inv: &Invocation,
    args: &[String],
    under_pacemaker: bool,
    log: &mut AgentLog,
) -> Result<AgentExit, RunError> {
    let specs = inv.options();
    let raw = if args.is_empty() {
        let mut text = Vec::new();
        std::io::stdin()
            .read_to_end(&mut text)
            .map_err(|e| UsageError::Args(crate::args::ArgsError::Stdin(e.to_string())))?;
        parse_stdin(&specs, &String::from_utf8_lossy(&text))
    } else {
        parse_argv(&specs, args).map_err(UsageError::from)?
    };
    if raw.get("help") == Some("1") {
        print(&[metadata::usage(inv)])?;
        return Ok(AgentExit::Success);
    }
    if raw.get("version") == Some("1") {
        print(&[env!("CARGO_PKG_VERSION").to_string()])?;
        return Ok(AgentExit::Success);
    }
    for w in &raw.warnings {
        log.log(Level::Warning, w);
    }
    let mut params = Params::from_raw(&specs, &raw, inv.agent.default_action, under_pacemaker)?;
    configure_log(log, &params)?;
    log.log(Level::Debug, &format!("{params:?}"));
    match params.action {
        Action::Metadata | Action::Manpage => {
            print(&[metadata::xml(inv)])?;
            return Ok(AgentExit::Success);
        }
        Action::Diag if !inv.agent.can_diag => {
            return Err(UsageError::UnknownAction("diag".into()).into())
        }
        // Without status (ClusterLabs no_status) there is no status, and nothing to list.
        Action::Status | Action::List | Action::ListStatus if !inv.agent.has_status => {
            return Err(UsageError::UnknownAction(params.action.name().into()).into())
        }
        // Fabric agents (default action off) have no reboot, as ClusterLabs.
        Action::Reboot if inv.agent.default_action == "off" => {
            return Err(UsageError::UnknownAction("reboot".into()).into())
        }
        _ => {}
    }
    if let Err(e) = params.check_required(&inv.agent) {
        if params.action == Action::ValidateAll {
            log.log(Level::Error, &e.to_string());
            log.log(Level::Error, "validate-all failed");
            return Ok(AgentExit::Failure);
        }
        return Err(e.into());
    }
    if params.action == Action::ValidateAll {
        return Ok(AgentExit::Success);
    }
    if let Some(script) = params.text("password_script").map(str::to_string) {
        let password = run_password_script(&script)?;
        params.set("password", password);
    }
    if params.action.is_delayed() && params.timing.delay > Duration::ZERO {
        log.log(
            Level::Info,
            &format!("Delay {:?} before fencing", params.timing.delay),
        );
        std::thread::sleep(params.timing.delay);
    }
    let done = act(inv, &params, log)?;
    print(&done.lines())?;
    Ok(match done {
        Done::Status(PowerState::Off) => AgentExit::StatusOff,
        _ => AgentExit::Success,
    })
}

/// Connect and run the action's sequence.
fn act(inv: &Invocation, params: &Params, log: &mut AgentLog) -> Result<Done, RunError> {
    let agent = &inv.agent;
    let targets: Vec<Option<String>> = match agent.plugs {
        Plugs::None | Plugs::Systems => vec![None],
        Plugs::Required { .. } => params.plugs().into_iter().map(Some).collect(),
        Plugs::Optional => match params.plugs() {
            plugs if plugs.is_empty() => vec![None],
            plugs => plugs.into_iter().map(Some).collect(),
        },
    };
    let list_capable = match agent.plugs {
        Plugs::None => None,
        // Only list/list-status enumerate systems; monitor reads power like a port-less agent.
        Plugs::Systems if matches!(params.action, Action::List | Action::ListStatus) => Some(true),
        Plugs::Systems => None,
        Plugs::Required { list } => Some(list),
        Plugs::Optional => Some(true),
    };
    if matches!(params.action, Action::List | Action::ListStatus) && list_capable != Some(true) {
        let done = if list_capable.is_none() {
            Done::NoPlugs
        } else {
            Done::ListUnsupported
        };
        return Ok(done);
    }
    // Connecting is bounded by login_timeout even under pacemaker: a device that does
    // not answer a login in time will not answer later, and failing lets the fencer
    // move on to the next topology level.
    let deadline = Deadline::after(params.timing.login_timeout.max(Duration::from_secs(1)));
    let mut device = (agent.connect)(params, deadline).map_err(Failure::from)?;
    let mut clock = SystemClock;
    let mut seq = Sequence {
        timing: params.timing,
        method: params.method,
        has_status: agent.has_status,
        clock: &mut clock,
        log,
    };
    let sep = params.text("separator").unwrap_or(",").to_string();
    Ok(seq.run(device.as_mut(), params.action, &targets, list_capable, &sep)?)
}

fn configure_log(log: &mut AgentLog, params: &Params) -> Result<(), RunError> {
    *log = AgentLog::with_verbosity(params.quiet, params.verbose);
    if let Some(path) = params.text("debug_file") {
        log.open_debug_file(path).map_err(|e| RunError::DebugFile {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Run `--password-script` through the shell; its stdout, trailing whitespace removed,
/// is the password. The password itself never appears in any argv.
pub fn run_password_script(script: &str) -> Result<String, RunError> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| RunError::PasswordScript(e.to_string()))?;
    if !out.status.success() {
        return Err(RunError::PasswordScript(format!(
            "exit status {}",
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}
