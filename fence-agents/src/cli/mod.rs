//! Device command lines (APC, WTI, DRAC, CyberPower, iLO...) over SSH or telnet, with each
//! device's dialogue written once: an agent talks to a [`Console`] (send a line, read
//! until a prompt) and never knows which transport carries it.
//!
//! - this module: the transport seam ([`Link`]: bytes out, bytes in, under a deadline),
//!   choosing SSH or telnet as ClusterLabs does (`--ssh` / `-x`, else telnet; port 22 for
//!   SSH when `--ipport` is not given), the login over telnet (the device asks for the
//!   user name and password itself, as ClusterLabs' `_login_telnet` expects) and the
//!   errors ([`CliError`] → [`DeviceError`]);
//! - [`console`]: the prompt dialogue over any link;
//! - [`outlets`]: outlet tables (pick a plug, list-status from one read);
//! - [`telnet`]: a native telnet client (option negotiation as a pure state machine,
//!   bounded reads);
//! - the SSH link is `ssh::shell` (a libssh2 shell channel with a pseudo-terminal).

pub mod console;
pub mod outlets;
pub mod telnet;

use std::time::Duration;

use regex::Regex;

use crate::device::{Deadline, DeviceError};
use crate::params::{Params, UsageError};
use crate::ssh::{self, SshError, SshSession};
pub use console::Console;

/// Why moving bytes over a link failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// Nothing could be moved before the deadline.
    TimedOut,
    /// The connection is broken.
    Broken(String),
}

/// A byte stream to a device's command line. Implemented by the SSH shell channel
/// (`ssh::shell::SshLink`) and by [`telnet::TelnetLink`].
pub trait Link {
    /// Send all of `bytes` before `deadline`.
    fn send(&mut self, bytes: &[u8], deadline: Deadline) -> Result<(), LinkError>;
    /// Receive some bytes (at least one) before `deadline`; `Ok(0)` = the device closed.
    fn recv(&mut self, buf: &mut [u8], deadline: Deadline) -> Result<usize, LinkError>;
    /// End the session without waiting long for a device that stopped answering.
    fn shutdown(&mut self);
}

/// Why a step on a device's command line failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// Connecting or the SSH login failed.
    #[error(transparent)]
    Ssh(#[from] SshError),
    /// No expected answer in time.
    #[error("{step}: no answer in time (waiting for {wanted}; last output: {last:?})")]
    TimedOut {
        step: String,
        wanted: String,
        last: String,
    },
    /// The connection broke, or the device closed it.
    #[error("{step}: {reason}")]
    Lost { step: String, reason: String },
    /// The device printed far more than any device does.
    #[error("{step}: too much output")]
    TooMuchOutput { step: String },
    /// The device asked for the login again after the password (telnet login).
    #[error("the device refused the login as {user:?} (it asked for the login again)")]
    LoginRefused { user: String },
    /// The device asked for something the options do not hold.
    #[error("the device asks for a {0}, and none was given")]
    Missing(&'static str),
}

impl From<CliError> for DeviceError {
    fn from(e: CliError) -> DeviceError {
        let text = e.to_string();
        match e {
            CliError::Ssh(e) => e.into(),
            CliError::TimedOut { .. } => DeviceError::TimedOut(text),
            CliError::Lost { .. } => DeviceError::ConnectionLost(text),
            CliError::TooMuchOutput { .. } => DeviceError::Protocol(text),
            CliError::LoginRefused { .. } | CliError::Missing(_) => DeviceError::LoginDenied(text),
        }
    }
}

/// How an agent's device is reached, as ClusterLabs declares it per agent.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// ClusterLabs' `--command-prompt` default (a Python list of regexes).
    pub prompts: &'static str,
    /// End of line sent after each command (ClusterLabs' `eol`, "\r\n").
    pub eol: &'static str,
}

/// ClusterLabs' login prompt (`fence_login`'s `re_login_string`, without the `(?!Last )`
/// lookahead: `~/.hushlogin`-less logins are not CLIs).
pub const LOGIN_PROMPT: &str = r"(?i)(login\s*: )|(login name:  )|(username: )|(user name :)";
/// ClusterLabs' password prompt.
pub const PASSWORD_PROMPT: &str = r"(?i)(password)|(pass phrase)";

/// The command prompts `--command-prompt` (or the dialect's default) gives.
pub fn prompts(p: &Params, dialect: &Dialect) -> Result<Vec<Regex>, UsageError> {
    ssh::shell::parse_prompts(p.text("command_prompt").unwrap_or(dialect.prompts))
        .map_err(UsageError::Invalid)
}

/// Check the options of a CLI agent: SSH's when `--ssh` is on, the prompts always.
pub fn validate(p: &Params, dialect: &Dialect) -> Result<(), UsageError> {
    if p.flag("ssh") {
        ssh::validate(p)?;
    } else {
        telnet_port(p)?;
    }
    prompts(p, dialect).map(|_| ())
}

fn telnet_port(p: &Params) -> Result<u16, UsageError> {
    match p.integer("ipport") {
        Some(n) => u16::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| UsageError::Invalid(format!("--ipport {n} is not a TCP port"))),
        None => Ok(23),
    }
}

/// Log in to the device's command line over SSH (`--ssh`) or telnet, and wait for the
/// first prompt, all before `deadline`. Returns the console and what the device printed
/// before that prompt (its banner: some agents pick a dialect from it).
pub fn open(
    p: &Params,
    dialect: &Dialect,
    deadline: Deadline,
) -> Result<(Console, String), DeviceError> {
    let prompts = prompts(p, dialect).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    if p.flag("ssh") {
        let target = ssh::target(p, 22).map_err(|e| DeviceError::Protocol(e.to_string()))?;
        let session = SshSession::connect(&target, deadline)?;
        let peer = session.peer().to_string();
        let link = ssh::shell::SshLink::open(session, deadline)?;
        let mut console = Console::new(Box::new(link), prompts, dialect.eol, peer);
        let banner =
            console.until_prompt(deadline, "waiting for the command prompt after login")?;
        Ok((console, banner))
    } else {
        let host = p
            .address()
            .ok_or_else(|| DeviceError::Protocol(UsageError::NoAddress.to_string()))?;
        let port = telnet_port(p).map_err(|e| DeviceError::Protocol(e.to_string()))?;
        let family = if p.flag("inet6_only") {
            ssh::openssh_options::AddressFamily::Inet6
        } else if p.flag("inet4_only") {
            ssh::openssh_options::AddressFamily::Inet
        } else {
            ssh::openssh_options::AddressFamily::Any
        };
        let link = telnet::TelnetLink::connect(host, port, family, deadline)?;
        let peer = format!("telnet {host}:{port}");
        let mut console = Console::new(Box::new(link), prompts, dialect.eol, peer);
        let banner = login(
            &mut console,
            p.text("username"),
            p.text("password"),
            deadline,
        )?;
        Ok((console, banner))
    }
}

/// The telnet login: answer the device's login and password questions until its
/// command prompt shows (either question may be absent, as on WTI switches without
/// accounts). A second question after the password means the login was refused.
/// Returns the text before the prompt.
pub fn login(
    console: &mut Console,
    username: Option<&str>,
    password: Option<&str>,
    deadline: Deadline,
) -> Result<String, CliError> {
    let login_re = Regex::new(LOGIN_PROMPT).map_err(|e| CliError::Lost {
        step: "login".into(),
        reason: e.to_string(),
    })?;
    let pass_re = Regex::new(PASSWORD_PROMPT).map_err(|e| CliError::Lost {
        step: "login".into(),
        reason: e.to_string(),
    })?;
    let mut banner = String::new();
    let mut sent_password = false;
    // At most: login, password, a greeting or two, prompt (or one repeat = refusal).
    for _ in 0..6 {
        let (which, before) = console.expect_any(
            &[login_re.clone(), pass_re.clone()],
            deadline,
            "waiting for the login or the command prompt",
        )?;
        banner.push_str(&before);
        match which {
            None => return Ok(banner),
            // "Last login: ..." after the password is a greeting, not a question
            // (ClusterLabs' `(?!Last )`).
            Some(0) if before.to_ascii_lowercase().ends_with("last ") => {}
            Some(0) => {
                if sent_password {
                    return Err(CliError::LoginRefused {
                        user: username.unwrap_or("").to_string(),
                    });
                }
                let user = username.ok_or(CliError::Missing("login name"))?;
                console.send_line(user, deadline)?;
            }
            _ => {
                if sent_password {
                    return Err(CliError::LoginRefused {
                        user: username.unwrap_or("").to_string(),
                    });
                }
                let pass = password.ok_or(CliError::Missing("password"))?;
                console.send_secret_line(pass, deadline)?;
                sent_password = true;
            }
        }
    }
    Err(CliError::LoginRefused {
        user: username.unwrap_or("").to_string(),
    })
}

/// Time limits of one command: `(shell_timeout, power_timeout)` (`None` = no limit).
pub fn command_limits(p: &Params) -> (Option<Duration>, Option<Duration>) {
    ssh::command_limits(p)
}
