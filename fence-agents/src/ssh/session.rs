//! One SSH connection to a fence device over libssh2 (the `ssh2` crate): TCP connect
//! bounded by the deadline, handshake, host key verification against known_hosts files
//! (strict, accept-new or off), public key / password / keyboard-interactive login, and
//! then commands, each on its own exec channel with its output read under a time limit.
//! Interactive CLIs with a prompt are `shell`'s; option handling is `ssh::mod`'s.
//!
//! Secrets (password, passphrase) only ever go to libssh2; no message carries them.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use ssh2::{ExtendedData, HashType, KeyboardInteractivePrompt, MethodType, Prompt, Session};

use super::known_hosts::{self, Verdict};
use super::openssh_options::{algorithm_list, AddressFamily, HostKeyPolicy};
use super::tcp::tcp_connect;
use super::SshError;
use crate::device::Deadline;

/// Most a command may print before it is treated as broken (bytes).
const MAX_OUTPUT: usize = 4 << 20;

/// libssh2 error codes this module tells apart.
const ERROR_SOCKET_NONE: i32 = -1;
const ERROR_BANNER_RECV: i32 = -2;
const ERROR_SOCKET_SEND: i32 = -7;
const ERROR_TIMEOUT: i32 = -9;
const ERROR_SOCKET_DISCONNECT: i32 = -13;
const ERROR_PASSWORD_EXPIRED: i32 = -15;
const ERROR_FILE: i32 = -16;
const ERROR_AUTHENTICATION_FAILED: i32 = -18;
const ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;
const ERROR_SOCKET_TIMEOUT: i32 = -30;
const ERROR_SOCKET_RECV: i32 = -43;

/// How to log in. `Debug` shows which secrets are set, never their text.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Private keys to offer, in order.
    pub identity_files: Vec<PathBuf>,
    /// Passphrase of the identity files.
    pub passphrase: Option<String>,
    /// Password for `password` or `keyboard-interactive` login.
    pub password: Option<String>,
    pub pubkey_auth: bool,
    pub password_auth: bool,
    pub kbdint_auth: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("identity_files", &self.identity_files)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "[set]"))
            .field("password", &self.password.as_ref().map(|_| "[set]"))
            .field("pubkey_auth", &self.pubkey_auth)
            .field("password_auth", &self.password_auth)
            .field("kbdint_auth", &self.kbdint_auth)
            .finish()
    }
}

/// Algorithm choices in OpenSSH list syntax (`None` = libssh2's defaults).
#[derive(Debug, Clone, Default)]
pub struct Algorithms {
    pub ciphers: Option<String>,
    pub macs: Option<String>,
    pub kex: Option<String>,
    pub host_keys: Option<String>,
}

/// Everything needed to open a session.
#[derive(Debug, Clone)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub credentials: Credentials,
    pub family: AddressFamily,
    pub host_keys: HostKeyPolicy,
    /// Searched and, with accept-new, appended to (the first one).
    pub user_known_hosts: Vec<PathBuf>,
    /// Searched only.
    pub global_known_hosts: Vec<PathBuf>,
    /// Record accepted keys hashed (`HashKnownHosts yes`).
    pub hash_known_hosts: bool,
    /// Bound of the TCP connect besides the deadline (`ConnectTimeout`).
    pub connect_timeout: Option<Duration>,
    pub compression: bool,
    pub algorithms: Algorithms,
}

impl SshTarget {
    /// `user@[host]:port` for messages.
    pub fn describe(&self) -> String {
        format!(
            "{}@{}",
            self.username,
            known_hosts::host_token(&self.host, self.port)
        )
    }
}

/// What a remote command printed (stdout and stderr merged, as on a terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandOutput {
    pub text: String,
    pub exit_status: i32,
}

/// An authenticated SSH session.
pub struct SshSession {
    pub(super) session: Session,
    pub(super) peer: String,
}

/// Classify a libssh2 error of one step.
pub(super) fn step_error(step: &str, e: &ssh2::Error) -> SshError {
    let reason = e.message().to_string();
    match e.code() {
        ssh2::ErrorCode::Session(ERROR_TIMEOUT | ERROR_SOCKET_TIMEOUT) => SshError::TimedOut {
            step: step.to_string(),
        },
        ssh2::ErrorCode::Session(
            ERROR_SOCKET_NONE
            | ERROR_BANNER_RECV
            | ERROR_SOCKET_SEND
            | ERROR_SOCKET_DISCONNECT
            | ERROR_SOCKET_RECV,
        ) => SshError::Lost {
            step: step.to_string(),
            reason,
        },
        _ => SshError::Protocol {
            step: step.to_string(),
            reason,
        },
    }
}

/// Point libssh2's per-call timeout at `deadline`; fails once it has passed.
pub(super) fn arm(session: &Session, deadline: Deadline, step: &str) -> Result<(), SshError> {
    match deadline.remaining() {
        None => session.set_timeout(0),
        Some(left) if left.is_zero() => {
            return Err(SshError::TimedOut {
                step: step.to_string(),
            })
        }
        Some(left) => {
            let ms = u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1);
            session.set_timeout(ms);
        }
    }
    Ok(())
}

/// The known_hosts files, read once: `(path, entries)`; missing files are empty.
struct KnownHostsFiles {
    files: Vec<(PathBuf, Vec<known_hosts::Entry>)>,
}

impl KnownHostsFiles {
    fn read(target: &SshTarget) -> KnownHostsFiles {
        let files = target
            .user_known_hosts
            .iter()
            .chain(&target.global_known_hosts)
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                (path.clone(), known_hosts::parse(&text))
            })
            .collect();
        KnownHostsFiles { files }
    }

    fn key_types_for(&self, token: &str) -> Vec<String> {
        let mut types: Vec<String> = Vec::new();
        for (_, entries) in &self.files {
            for t in known_hosts::key_types_for(entries, token) {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
        types
    }

    fn names(&self) -> String {
        let names: Vec<String> = self
            .files
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        if names.is_empty() {
            "no known_hosts file".into()
        } else {
            names.join(", ")
        }
    }
}

fn set_algorithms(
    session: &Session,
    method: MethodType,
    spec: &str,
    what: &str,
) -> Result<(), SshError> {
    let supported = session
        .supported_algs(method)
        .map_err(|e| step_error("listing algorithms", &e))?;
    let list: Vec<String> = algorithm_list(spec, &supported)
        .into_iter()
        .filter(|a| supported.contains(&a.as_str()))
        .collect();
    if list.is_empty() {
        return Err(SshError::Protocol {
            step: format!("choosing {what}"),
            reason: format!(
                "none of {spec:?} is supported here (supported: {})",
                supported.join(",")
            ),
        });
    }
    session
        .method_pref(method, &list.join(","))
        .map_err(|e| step_error(&format!("choosing {what}"), &e))
}

/// Ask for host key algorithms of the key types on file first (as OpenSSH does), so
/// a host known by its ed25519 key is not met with its ECDSA key.
fn prefer_known_key_types(session: &Session, types: &[String]) -> Result<(), SshError> {
    if types.is_empty() {
        return Ok(());
    }
    let first: Vec<&str> = types
        .iter()
        .flat_map(|t| known_hosts::algorithms_for_key_type(t))
        .collect();
    set_algorithms(
        session,
        MethodType::HostKey,
        &format!("^{}", first.join(",")),
        "host key algorithms",
    )
}

impl SshSession {
    /// Connect, verify the host key and log in, all before `deadline`.
    pub fn connect(target: &SshTarget, deadline: Deadline) -> Result<SshSession, SshError> {
        let stream = tcp_connect(&target.into(), deadline)?;
        let mut session = Session::new().map_err(|e| step_error("starting libssh2", &e))?;
        session.set_tcp_stream(stream);
        session.set_compress(target.compression);
        let token = known_hosts::host_token(&target.host, target.port);
        let known = KnownHostsFiles::read(target);
        let a = &target.algorithms;
        for (spec, methods, what) in [
            (
                &a.ciphers,
                [MethodType::CryptCs, MethodType::CryptSc],
                "ciphers",
            ),
            (&a.macs, [MethodType::MacCs, MethodType::MacSc], "MACs"),
        ] {
            if let Some(spec) = spec {
                for m in methods {
                    set_algorithms(&session, m, spec, what)?;
                }
            }
        }
        if let Some(kex) = &a.kex {
            set_algorithms(&session, MethodType::Kex, kex, "key exchange")?;
        }
        match &a.host_keys {
            Some(spec) => set_algorithms(&session, MethodType::HostKey, spec, "host key types")?,
            None => prefer_known_key_types(&session, &known.key_types_for(&token))?,
        }
        let peer = target.describe();
        arm(&session, deadline, "SSH handshake")?;
        session
            .handshake()
            .map_err(|e| step_error(&format!("SSH handshake with {peer}"), &e))?;
        let ssh = SshSession { session, peer };
        ssh.verify_host_key(target, &token, &known)?;
        arm(&ssh.session, deadline, "login")?;
        ssh.login(target)?;
        Ok(ssh)
    }

    fn verify_host_key(
        &self,
        target: &SshTarget,
        token: &str,
        known: &KnownHostsFiles,
    ) -> Result<(), SshError> {
        let (key, _) = self.session.host_key().ok_or_else(|| SshError::Protocol {
            step: "host key".into(),
            reason: "the server sent no host key".into(),
        })?;
        let key = key.to_vec();
        let fingerprint = self
            .session
            .host_key_hash(HashType::Sha256)
            .map(|h| {
                format!(
                    "SHA256:{}",
                    known_hosts::base64_encode(h).trim_end_matches('=')
                )
            })
            .unwrap_or_default();
        let key_type = known_hosts::blob_key_type(&key).unwrap_or_default();
        let described = format!("{token} ({key_type} {fingerprint})");
        let mut changed = None;
        for (path, entries) in &known.files {
            match known_hosts::check(entries, token, &key) {
                Verdict::Known => return Ok(()),
                Verdict::Revoked { line } => {
                    return Err(SshError::HostKeyRevoked {
                        host: described,
                        at: format!("{}:{line}", path.display()),
                    })
                }
                Verdict::Changed { line } => {
                    changed.get_or_insert(format!("{}:{line}", path.display()));
                }
                Verdict::Unknown => {}
            }
        }
        match (target.host_keys, changed) {
            (HostKeyPolicy::Off, _) => Ok(()),
            (_, Some(at)) => Err(SshError::HostKeyChanged {
                host: described,
                at,
            }),
            (HostKeyPolicy::Strict, None) => Err(SshError::HostKeyUnknown {
                host: described,
                files: known.names(),
            }),
            (HostKeyPolicy::AcceptNew, None) => {
                record_host_key(target, token, &key);
                Ok(())
            }
        }
    }

    fn login(&self, target: &SshTarget) -> Result<(), SshError> {
        let user = target.username.as_str();
        let step = format!("login as {user}");
        let offered = match self.session.auth_methods(user) {
            Ok(list) => list.to_string(),
            Err(_) if self.session.authenticated() => return Ok(()),
            Err(e) => return Err(step_error(&step, &e)),
        };
        let creds = &target.credentials;
        let mut tried: Vec<String> = Vec::new();
        let offers = |m: &str| offered.split(',').any(|o| o == m);
        if creds.pubkey_auth && offers("publickey") {
            for key in &creds.identity_files {
                match self.session.userauth_pubkey_file(
                    user,
                    None,
                    key,
                    creds.passphrase.as_deref(),
                ) {
                    Ok(()) if self.session.authenticated() => return Ok(()),
                    Ok(()) => tried.push(format!("public key {}", key.display())),
                    Err(e) => match e.code() {
                        ssh2::ErrorCode::Session(ERROR_FILE) => {
                            return Err(SshError::IdentityFile {
                                path: key.display().to_string(),
                                reason: e.message().to_string(),
                            })
                        }
                        ssh2::ErrorCode::Session(
                            ERROR_AUTHENTICATION_FAILED | ERROR_PUBLICKEY_UNVERIFIED,
                        ) => tried.push(format!("public key {}", key.display())),
                        _ => return Err(step_error(&step, &e)),
                    },
                }
            }
        }
        if let Some(password) = &creds.password {
            if creds.password_auth && offers("password") {
                match self.session.userauth_password(user, password) {
                    Ok(()) if self.session.authenticated() => return Ok(()),
                    Ok(()) => tried.push("password".into()),
                    Err(e) => match e.code() {
                        ssh2::ErrorCode::Session(ERROR_AUTHENTICATION_FAILED) => {
                            tried.push("password".into())
                        }
                        ssh2::ErrorCode::Session(ERROR_PASSWORD_EXPIRED) => {
                            tried.push("password (expired)".into())
                        }
                        _ => return Err(step_error(&step, &e)),
                    },
                }
            } else if creds.kbdint_auth && offers("keyboard-interactive") {
                let mut answer = PasswordAnswer { password };
                match self
                    .session
                    .userauth_keyboard_interactive(user, &mut answer)
                {
                    Ok(()) if self.session.authenticated() => return Ok(()),
                    Ok(()) => tried.push("keyboard-interactive password".into()),
                    Err(e) => match e.code() {
                        ssh2::ErrorCode::Session(ERROR_AUTHENTICATION_FAILED) => {
                            tried.push("keyboard-interactive password".into())
                        }
                        _ => return Err(step_error(&step, &e)),
                    },
                }
            }
        }
        Err(SshError::AuthRefused {
            user: user.to_string(),
            tried: if tried.is_empty() {
                "nothing the server accepts".into()
            } else {
                tried.join(", ")
            },
            offered,
        })
    }

    /// Run `command` on its own exec channel and read everything it prints (stderr
    /// merged into stdout) until it exits, within `limit` (`None` = no limit).
    pub fn run(&self, command: &str, limit: Option<Duration>) -> Result<CommandOutput, SshError> {
        let deadline = limit.map_or(Deadline::NONE, Deadline::after);
        let step = format!("running {command:?} on {}", self.peer);
        arm(&self.session, deadline, &step)?;
        let mut channel = self
            .session
            .channel_session()
            .map_err(|e| step_error(&step, &e))?;
        channel
            .handle_extended_data(ExtendedData::Merge)
            .map_err(|e| step_error(&step, &e))?;
        channel.exec(command).map_err(|e| step_error(&step, &e))?;
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            arm(&self.session, deadline, &step)?;
            match channel.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.len() > MAX_OUTPUT {
                        return Err(SshError::TooMuchOutput { step });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(SshError::TimedOut { step })
                }
                Err(e) => {
                    return Err(SshError::Lost {
                        step,
                        reason: e.to_string(),
                    })
                }
            }
        }
        arm(&self.session, deadline, &step)?;
        channel.wait_close().map_err(|e| step_error(&step, &e))?;
        let exit_status = channel.exit_status().map_err(|e| step_error(&step, &e))?;
        Ok(CommandOutput {
            text: String::from_utf8_lossy(&out).into_owned(),
            exit_status,
        })
    }

    /// `user@[host]:port`.
    pub fn peer(&self) -> &str {
        &self.peer
    }
}

impl Drop for SshSession {
    fn drop(&mut self) {
        // Say goodbye, but never wait long for a device that stopped answering.
        self.session.set_timeout(500);
        let _ = self.session.disconnect(None, "fence agent done", None);
    }
}

/// Keyboard-interactive: the password for every hidden prompt, nothing for the rest.
struct PasswordAnswer<'a> {
    password: &'a str,
}

impl KeyboardInteractivePrompt for PasswordAnswer<'_> {
    fn prompt<'b>(&mut self, _user: &str, _text: &str, prompts: &[Prompt<'b>]) -> Vec<String> {
        prompts
            .iter()
            .map(|p| {
                if p.echo {
                    String::new()
                } else {
                    self.password.to_string()
                }
            })
            .collect()
    }
}

/// accept-new: append the key to the first user known_hosts file. Failing to record
/// does not stop the login (OpenSSH only warns too).
fn record_host_key(target: &SshTarget, token: &str, key: &[u8]) {
    let Some(path) = target.user_known_hosts.first() else {
        return;
    };
    if path == std::path::Path::new("/dev/null") {
        return;
    }
    let salt = target.hash_known_hosts.then(random_salt).flatten();
    let line = known_hosts::entry_line(token, key, salt.as_ref().map(|s| &s[..]));
    let _ = append_line(path, &line);
}

fn random_salt() -> Option<[u8; 20]> {
    let mut salt = [0u8; 20];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut salt))
        .ok()?;
    Some(salt)
}

fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::DirBuilderExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
    }
    let needs_newline = std::fs::read(path)
        .map(|t| !t.is_empty() && !t.ends_with(b"\n"))
        .unwrap_or(false);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let sep = if needs_newline { "\n" } else { "" };
    writeln!(file, "{sep}{line}")
}
