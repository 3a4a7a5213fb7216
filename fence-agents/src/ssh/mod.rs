//! SSH for fence agents that log in to a device or host and type commands (fence_virsh,
//! fence_ilo_ssh...), over libssh2 in-process instead of ClusterLabs' `ssh` child driven
//! by pexpect.
//!
//! - this module: the ClusterLabs SSH options (`--ssh`, `--identity-file`,
//!   `--ssh-options`, `--command-prompt`, `-4`/`-6`, `--ssh-path`, `--missing-as-off`...),
//!   turning an agent's [`Params`] into an [`SshTarget`], their validation, the errors
//!   ([`SshError`] → [`DeviceError`]), shell quoting and the `--use-sudo` prefix;
//! - [`session`]: connect, host key check, login, one command per exec channel;
//! - `tcp`: name resolution and TCP connect under the deadline;
//! - [`shell`]: prompt-driven interactive command lines;
//! - [`known_hosts`]: known_hosts files (pure);
//! - [`openssh_options`]: what `--ssh-options` means, read as `ssh` reads it (pure).
//!
//! Host keys are checked strictly by default (only keys in `~/.ssh/known_hosts`,
//! `~/.ssh/known_hosts2`, `/etc/ssh/ssh_known_hosts{,2}`); `--ssh-options='-o
//! StrictHostKeyChecking=accept-new'` records unknown hosts, `=no` turns checking off.
//! (ClusterLabs answers "yes" to ssh's question, i.e. accepts new hosts silently.)

pub mod known_hosts;
pub mod openssh_options;
pub mod session;
pub mod shell;
pub(crate) mod tcp;

use std::path::PathBuf;
use std::time::Duration;

use crate::device::DeviceError;
use crate::options::OptionSpec;
use crate::params::{Params, UsageError};
use openssh_options::{AddressFamily, HostKeyPolicy};
pub use session::{CommandOutput, Credentials, SshSession, SshTarget};

/// `--ssh` / `-x` (old name `secure`).
pub const SSH: OptionSpec = OptionSpec::flag("ssh", "Use SSH connection")
    .short('x')
    .alias("secure");
/// `--identity-file` / `-k`.
pub const IDENTITY_FILE: OptionSpec = OptionSpec::text(
    "identity_file",
    "[filename]",
    "Identity file (private key) for SSH",
)
.short('k');
/// `--ssh-options`.
pub const SSH_OPTIONS: OptionSpec =
    OptionSpec::text("ssh_options", "[options]", "SSH options to use");
/// `--command-prompt` / `-c` (old name `cmd_prompt`).
pub const COMMAND_PROMPT: OptionSpec = OptionSpec::text(
    "command_prompt",
    "[prompt]",
    "Force Python regex for command prompt",
)
.short('c')
.alias("cmd_prompt");
/// `--inet4-only` / `-4`.
pub const INET4_ONLY: OptionSpec =
    OptionSpec::flag("inet4_only", "Forces agent to use IPv4 addresses only").short('4');
/// `--inet6-only` / `-6`.
pub const INET6_ONLY: OptionSpec =
    OptionSpec::flag("inet6_only", "Forces agent to use IPv6 addresses only").short('6');
/// `--ssh-path`: accepted for compatibility; no ssh binary is started.
pub const SSH_PATH: OptionSpec = OptionSpec::text("ssh_path", "[path]", "Path to ssh binary")
    .default("/usr/bin/ssh")
    .order(300);
/// `--telnet-path`: accepted for compatibility; telnet is not spoken.
pub const TELNET_PATH: OptionSpec =
    OptionSpec::text("telnet_path", "[path]", "Path to telnet binary")
        .default("/usr/bin/telnet")
        .order(300);
/// `--sudo-path` in ClusterLabs' metadata place (after `--ssh-path`).
pub const SUDO_PATH: OptionSpec = crate::options::SUDO_PATH.order(300);
/// `--missing-as-off`.
pub const MISSING_AS_OFF: OptionSpec = OptionSpec::flag(
    "missing_as_off",
    "Missing port returns OFF instead of failure",
)
.order(200);

/// Why an SSH step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    /// The device's name did not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    /// No TCP connection could be made.
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    /// A step did not finish within its time limit.
    #[error("{step}: no answer in time")]
    TimedOut { step: String },
    /// The connection broke during a step.
    #[error("{step}: {reason}")]
    Lost { step: String, reason: String },
    /// The SSH protocol failed (handshake, algorithms, channel).
    #[error("{step}: {reason}")]
    Protocol { step: String, reason: String },
    /// Strict checking and the host key is in no known_hosts file.
    #[error(
        "host key of {host} is not known (looked in {files}); check it and add it \
         (ssh-keyscan), or let the first connection record it with \
         --ssh-options='-o StrictHostKeyChecking=accept-new'"
    )]
    HostKeyUnknown { host: String, files: String },
    /// The host is on file with another key: possibly a man-in-the-middle.
    #[error(
        "HOST KEY CHANGED: the key of {host} differs from the one recorded at {at}; \
         refusing to log in (remove the old entry if the change is expected)"
    )]
    HostKeyChanged { host: String, at: String },
    /// The host key is marked `@revoked`.
    #[error("host key of {host} is revoked ({at})")]
    HostKeyRevoked { host: String, at: String },
    /// Every login method was refused.
    #[error("login as {user} refused (tried {tried}; server offers {offered})")]
    AuthRefused {
        user: String,
        tried: String,
        offered: String,
    },
    /// The identity file could not be used (unreadable, not a key, wrong passphrase).
    #[error(
        "cannot use identity file {path} (missing or wrong passphrase -p, or not a private key): {reason}"
    )]
    IdentityFile { path: String, reason: String },
    /// A command printed far more than any device does.
    #[error("{step}: too much output")]
    TooMuchOutput { step: String },
}

impl From<SshError> for DeviceError {
    fn from(e: SshError) -> DeviceError {
        let text = e.to_string();
        match e {
            SshError::TimedOut { .. } => DeviceError::TimedOut(text),
            SshError::Resolve { .. } | SshError::Connect { .. } | SshError::Lost { .. } => {
                DeviceError::ConnectionLost(text)
            }
            SshError::HostKeyUnknown { .. }
            | SshError::HostKeyChanged { .. }
            | SshError::HostKeyRevoked { .. }
            | SshError::AuthRefused { .. }
            | SshError::IdentityFile { .. } => DeviceError::LoginDenied(text),
            SshError::Protocol { .. } | SshError::TooMuchOutput { .. } => {
                DeviceError::Protocol(text)
            }
        }
    }
}

/// Quote one word for a POSIX shell (`'…'`), leaving plain words as they are.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+=,".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// `--use-sudo`: the `--sudo-path` prefix (with its trailing space), else empty.
pub fn sudo_prefix(p: &Params) -> String {
    if p.flag("use_sudo") {
        format!("{} ", p.text("sudo_path").unwrap_or("/usr/bin/sudo"))
    } else {
        String::new()
    }
}

/// Time limits of one command: `(shell_timeout, power_timeout)`, `None` with
/// `disable_timeout` (then the caller's own timeout governs, as in ClusterLabs).
pub fn command_limits(p: &Params) -> (Option<Duration>, Option<Duration>) {
    if p.timing.disable_timeout {
        (None, None)
    } else {
        (Some(p.timing.shell_timeout), Some(p.timing.power_timeout))
    }
}

/// The home directory of the user running the agent.
fn home_dir() -> Option<PathBuf> {
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    // SAFETY: getpwuid returns a pointer into static storage or NULL; we copy the
    // directory out at once and call nothing else that could overwrite it meanwhile.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_dir.is_null() {
            return None;
        }
        let dir = std::ffi::CStr::from_ptr((*pw).pw_dir);
        Some(PathBuf::from(dir.to_string_lossy().into_owned()))
    }
}

/// `~/x` → `$HOME/x`.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Check the SSH options of an agent: a password or identity file is given, the
/// identity file exists, `--ssh-options` is understood, `--ipport` is a TCP port.
pub fn validate(p: &Params) -> Result<(), UsageError> {
    if p.text("password").is_none()
        && p.text("password_script").is_none()
        && p.text("identity_file").is_none()
    {
        return Err(UsageError::Invalid(
            "You have to enter password, password script or identity file".into(),
        ));
    }
    if let Some(file) = p.text("identity_file") {
        if !expand_home(file).is_file() {
            return Err(UsageError::Invalid(format!(
                "Identity file {file} does not exist"
            )));
        }
    }
    if let Some(text) = p.text("ssh_options") {
        openssh_options::parse(text).map_err(|e| UsageError::Invalid(e.to_string()))?;
    }
    port(p, 22)?;
    Ok(())
}

fn port(p: &Params, default_port: u16) -> Result<u16, UsageError> {
    if !p.given("ipport") {
        return Ok(default_port);
    }
    match p.integer("ipport") {
        Some(n) => u16::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| UsageError::Invalid(format!("--ipport {n} is not a TCP port"))),
        None => Ok(default_port),
    }
}

/// The connection the options describe. `default_port` applies when `--ipport` was
/// not given (22: ClusterLabs uses port 22 whenever SSH is on).
pub fn target(p: &Params, default_port: u16) -> Result<SshTarget, UsageError> {
    let o = match p.text("ssh_options") {
        Some(text) => {
            openssh_options::parse(text).map_err(|e| UsageError::Invalid(e.to_string()))?
        }
        None => Default::default(),
    };
    let identity = p.text("identity_file").map(expand_home);
    let mut identity_files: Vec<PathBuf> = identity.iter().cloned().collect();
    identity_files.extend(o.identity_files.iter().map(|f| expand_home(f)));
    let password = p.text("password").map(str::to_string);
    // With an identity file, ClusterLabs uses -p as the key's passphrase, never as a
    // login password.
    let (passphrase, password) = match identity {
        Some(_) => (password, None),
        None => (password.clone(), password),
    };
    let family = if p.flag("inet6_only") {
        AddressFamily::Inet6
    } else if p.flag("inet4_only") {
        AddressFamily::Inet
    } else {
        o.family.unwrap_or(AddressFamily::Any)
    };
    let files = |given: &Option<Vec<String>>, defaults: &[&str]| -> Vec<PathBuf> {
        match given {
            Some(list) => list.iter().map(|f| expand_home(f)).collect(),
            None => defaults.iter().map(|f| expand_home(f)).collect(),
        }
    };
    Ok(SshTarget {
        host: p.address().ok_or(UsageError::NoAddress)?.to_string(),
        port: port(p, default_port)?,
        username: p.text("username").ok_or(UsageError::NoLogin)?.to_string(),
        credentials: Credentials {
            identity_files,
            passphrase,
            password,
            pubkey_auth: o.pubkey_auth.unwrap_or(true),
            password_auth: o.password_auth.unwrap_or(true),
            kbdint_auth: o.kbdint_auth.unwrap_or(true),
        },
        family,
        host_keys: o.host_keys.unwrap_or(HostKeyPolicy::Strict),
        user_known_hosts: files(
            &o.user_known_hosts,
            &["~/.ssh/known_hosts", "~/.ssh/known_hosts2"],
        ),
        global_known_hosts: files(
            &o.global_known_hosts,
            &["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"],
        ),
        hash_known_hosts: o.hash_known_hosts.unwrap_or(false),
        connect_timeout: o.connect_timeout,
        compression: o.compression.unwrap_or(false),
        algorithms: session::Algorithms {
            ciphers: o.ciphers.clone(),
            macs: o.macs.clone(),
            kex: o.kex.clone(),
            host_keys: o.host_key_algorithms.clone(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("vm1"), "vm1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("x;rm -rf /"), "'x;rm -rf /'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn errors_map_to_clusterlabs_reasons() {
        let denied: DeviceError = SshError::AuthRefused {
            user: "u".into(),
            tried: "password".into(),
            offered: "publickey,password".into(),
        }
        .into();
        assert!(matches!(denied, DeviceError::LoginDenied(_)));
        let changed: DeviceError = SshError::HostKeyChanged {
            host: "h".into(),
            at: "f:1".into(),
        }
        .into();
        assert!(matches!(changed, DeviceError::LoginDenied(_)));
        let slow: DeviceError = SshError::TimedOut { step: "x".into() }.into();
        assert!(matches!(slow, DeviceError::TimedOut(_)));
    }
}
