//! `fence_virsh`: virtual machines of a libvirt host, fenced by logging in over SSH and
//! running `virsh` there (`virsh list --all`, `virsh domstate`, `virsh destroy`,
//! `virsh start`), with ClusterLabs' option table, defaults and results.
//!
//! Differences from ClusterLabs, on purpose: each command runs on its own SSH exec
//! channel, so no prompt is needed (`--command-prompt` and the remote shell of the
//! default `--ssh-options` are accepted and unused); domain names are shell-quoted;
//! a failed `virsh start`/`destroy` is reported at once instead of after
//! `--power-timeout` of polling; `list-status` uses the states `virsh list` printed.

use std::collections::HashMap;
use std::time::Duration;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::Params;
use crate::ssh::{self, SshSession};

/// ClusterLabs' default remote shell with a recognisable prompt (unused here; kept so
/// configurations and metadata stay the same).
const DEFAULT_SSH_OPTIONS: &str =
    r#"-t '/bin/bash -c "PS1=\\[EXPECT\\]# /bin/bash --noprofile --norc"'"#;

const OPTIONS: &[OptionSpec] = &[
    ssh::COMMAND_PROMPT.default(r"['\\[EXPECT\\]#']"),
    ssh::IDENTITY_FILE,
    ssh::INET4_ONLY,
    ssh::INET6_ONLY,
    options::IP,
    options::IPPORT,
    options::USERNAME,
    options::PASSWORD,
    options::PASSWORD_SCRIPT,
    options::PLUG,
    ssh::SSH,
    ssh::SSH_OPTIONS.default(DEFAULT_SSH_OPTIONS),
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    ssh::MISSING_AS_OFF,
    options::USE_SUDO,
    ssh::SSH_PATH,
    ssh::SUDO_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_virsh",
    shortdesc: "Fence agent for virsh",
    longdesc: "fence_virsh is an I/O Fencing agent which can be used with the virtual \
        machines managed by libvirt. It logs via ssh to a dom0 and there run virsh \
        command, which does all work. \n\nBy default, virsh needs root account to do \
        properly work. So you must allow ssh login in your sshd_config.\n\nThis \
        implementation speaks SSH itself (libssh2) and runs each virsh command on its \
        own channel; host keys are checked against known_hosts strictly unless \
        --ssh-options says '-o StrictHostKeyChecking=accept-new' or 'no'.",
    vendor_url: "http://libvirt.org",
    variants: &[],
    options: OPTIONS,
    defaults: &[("ipport", "22"), ("ssh", "1")],
    default_action: "reboot",
    plugs: Plugs::Required { list: true },
    needs_address: true,
    needs_login: true,
    needs_password: false,
    can_cycle: false,
    can_diag: false,
    has_status: true,
    validate: ssh::validate,
    connect,
};

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let target = ssh::target(p, 22).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    let session = SshSession::connect(&target, deadline)?;
    let (shell_limit, power_limit) = ssh::command_limits(p);
    Ok(Box::new(VirshHost {
        session,
        sudo: ssh::sudo_prefix(p),
        missing_as_off: p.flag("missing_as_off"),
        shell_limit,
        power_limit,
        listed: HashMap::new(),
    }))
}

/// States virsh prints for a domain that has power (ClusterLabs' list).
const ON_STATES: &[&str] = &["running", "blocked", "idle", "no state", "paused"];

/// Power of a domain from a state word of `virsh domstate` / `virsh list`.
pub fn state_power(state: &str) -> PowerState {
    if ON_STATES.contains(&state.trim().to_ascii_lowercase().as_str()) {
        PowerState::On
    } else {
        PowerState::Off
    }
}

/// What `virsh domstate` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomState {
    Power(PowerState),
    /// `error: failed to get domain`.
    NoDomain,
    /// Another `error:` line.
    Error(String),
}

/// Read the output of `virsh domstate NAME` the way ClusterLabs does: the first line
/// that is an on-state, a missing domain or another error decides; otherwise off.
pub fn parse_domstate(text: &str) -> DomState {
    for line in text.lines().map(str::trim) {
        if ON_STATES.contains(&line.to_ascii_lowercase().as_str()) {
            return DomState::Power(PowerState::On);
        }
        if line.contains("error: failed to get domain") {
            return DomState::NoDomain;
        }
        if line.contains("error:") {
            return DomState::Error(line.to_string());
        }
    }
    DomState::Power(PowerState::Off)
}

/// Domains and their power from `virsh list --all` (rows after the `Id Name State`
/// header; the state may be several words, `shut off`).
pub fn parse_list(text: &str) -> Vec<(String, PowerState)> {
    let mut seen_header = false;
    let mut domains = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 {
            continue;
        }
        if !seen_header {
            seen_header =
                words[0].eq_ignore_ascii_case("id") && words[1].eq_ignore_ascii_case("name");
            continue;
        }
        domains.push((words[1].to_string(), state_power(&words[2..].join(" "))));
    }
    domains
}

/// A libvirt host reached over SSH.
pub struct VirshHost {
    session: SshSession,
    sudo: String,
    missing_as_off: bool,
    shell_limit: Option<Duration>,
    power_limit: Option<Duration>,
    /// States from the last `virsh list`, each used once (list-status).
    listed: HashMap<String, PowerState>,
}

impl VirshHost {
    fn virsh(
        &self,
        args: &str,
        limit: Option<Duration>,
    ) -> Result<ssh::CommandOutput, DeviceError> {
        Ok(self
            .session
            .run(&format!("{}virsh {args}", self.sudo), limit)?)
    }
}

/// The error lines of a command's output, or its last line, for a message.
fn error_text(text: &str) -> String {
    let errors: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.contains("error") || l.contains("not found") || l.starts_with("sudo:"))
        .collect();
    if errors.is_empty() {
        text.trim().lines().last().unwrap_or("").to_string()
    } else {
        errors.join("; ")
    }
}

impl PowerDevice for VirshHost {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let name = plug.unwrap_or_default();
        if let Some(state) = self.listed.remove(name) {
            return Ok(state);
        }
        let out = self.virsh(
            &format!("domstate {}", ssh::shell_quote(name)),
            self.shell_limit,
        )?;
        match parse_domstate(&out.text) {
            DomState::Power(state) if out.exit_status == 0 => Ok(state),
            DomState::NoDomain if self.missing_as_off => Ok(PowerState::Off),
            DomState::NoDomain => Err(DeviceError::NoSuchPlug(name.to_string())),
            DomState::Error(line) => Err(DeviceError::Protocol(format!(
                "virsh domstate {name}: {line}"
            ))),
            DomState::Power(_) => Err(DeviceError::Protocol(format!(
                "virsh domstate {name} failed (exit status {}): {}",
                out.exit_status,
                error_text(&out.text)
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let name = plug.unwrap_or_default();
        self.listed.clear();
        let verb = match to {
            PowerState::On => "start",
            PowerState::Off => "destroy",
        };
        let out = self.virsh(
            &format!("{verb} {}", ssh::shell_quote(name)),
            self.power_limit,
        )?;
        if out.exit_status == 0 {
            return Ok(());
        }
        if out.text.contains("error: failed to get domain") {
            return Err(DeviceError::NoSuchPlug(name.to_string()));
        }
        Err(DeviceError::Protocol(format!(
            "virsh {verb} {name} failed (exit status {}): {}",
            out.exit_status,
            error_text(&out.text)
        )))
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let out = self.virsh("list --all", self.shell_limit)?;
        if out.exit_status != 0 {
            return Err(DeviceError::Protocol(format!(
                "virsh list --all failed (exit status {}): {}",
                out.exit_status,
                error_text(&out.text)
            )));
        }
        let domains = parse_list(&out.text);
        self.listed = domains.iter().cloned().collect();
        Ok(domains
            .into_iter()
            .map(|(id, _)| Plug {
                id,
                alias: String::new(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = " Id   Name                 State\n\
        -----------------------------------\n \
        1    vm1                  running\n \
        -    vm2                  shut off\n \
        2    web-1                paused\n \
        3    db                   no state\n\n";

    #[test]
    fn list_rows_after_the_header() {
        assert_eq!(
            parse_list(LIST),
            vec![
                ("vm1".to_string(), PowerState::On),
                ("vm2".to_string(), PowerState::Off),
                ("web-1".to_string(), PowerState::On),
                ("db".to_string(), PowerState::On),
            ]
        );
        assert!(parse_list("error: failed to connect to the hypervisor\n").is_empty());
    }

    #[test]
    fn domstate_answers() {
        assert_eq!(
            parse_domstate("running\n\n"),
            DomState::Power(PowerState::On)
        );
        assert_eq!(
            parse_domstate("shut off\n"),
            DomState::Power(PowerState::Off)
        );
        assert_eq!(
            parse_domstate("crashed\n"),
            DomState::Power(PowerState::Off)
        );
        assert_eq!(parse_domstate("idle\n"), DomState::Power(PowerState::On));
        assert_eq!(
            parse_domstate("error: failed to get domain 'vm9'\nerror: Domain not found\n"),
            DomState::NoDomain
        );
        assert_eq!(
            parse_domstate("error: failed to connect to the hypervisor\n"),
            DomState::Error("error: failed to connect to the hypervisor".into())
        );
    }

    #[test]
    fn error_text_prefers_error_lines() {
        assert_eq!(
            error_text("x\nerror: Failed to start domain 'a'\nerror: busy\n"),
            "error: Failed to start domain 'a'; error: busy"
        );
        assert_eq!(
            error_text("bash: line 1: virsh: command not found\n"),
            "bash: line 1: virsh: command not found"
        );
    }
}
