//! `fence_ilo_ssh` (also fence_ilo3_ssh, fence_ilo4_ssh, fence_ilo5_ssh): HP iLO
//! management processors through their SSH command line (SMASH CLP), with ClusterLabs'
//! option table, defaults and commands: `SMCLP` after login, `show /system1` (status
//! from `EnabledState`), `start /system1`, `power off hard`, `reset /system1 hard`
//! (`--method cycle`), `exit`.
//!
//! SSH only: ClusterLabs falls back to telnet without `--ssh`; here that is a usage
//! error, because telnet is not spoken. Replies carrying a CLP `status=` other than 0
//! are reported as errors at once (ClusterLabs only notices a failed command when the
//! state does not change in time).

use std::time::Duration;

use crate::agent::{Agent, Plugs, Variant};
use crate::cli::{self, Console, Dialect};
use crate::device::{Deadline, DeviceError, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};
use crate::ssh;

const PLUG: OptionSpec = OptionSpec::text(
    "plug",
    "[ip]",
    "IP address or hostname of fencing device (together with --port-as-ip)",
)
.short('n')
.alias("port");

const DEFAULT_PROMPTS: &str = "['MP>', 'hpiLO->']";

const DIALECT: Dialect = Dialect {
    prompts: DEFAULT_PROMPTS,
    eol: "\r",
};

const OPTIONS: &[OptionSpec] = &[
    ssh::COMMAND_PROMPT.default(DEFAULT_PROMPTS),
    ssh::IDENTITY_FILE,
    ssh::INET4_ONLY,
    ssh::INET6_ONLY,
    options::IP,
    options::IPPORT,
    options::USERNAME,
    options::METHOD,
    options::PASSWORD,
    options::PASSWORD_SCRIPT,
    PLUG,
    ssh::SSH,
    ssh::SSH_OPTIONS,
    options::PLUG_SEPARATOR,
    options::PORT_AS_IP,
    ssh::SSH_PATH,
    ssh::TELNET_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_ilo_ssh",
    shortdesc: "Fence agent for HP iLO over SSH",
    longdesc: "fence_ilo_ssh is a fence agent that connects to iLO device. It logs into \
        device via ssh and reboot a specified outlet.\n\nWARNING: The monitor-action is \
        prone to timeouts. Use the fence_ilo-equivalent to avoid this issue.\n\nThis \
        implementation speaks SSH itself (libssh2; --ssh is required, telnet is not \
        supported); host keys are checked against known_hosts strictly unless \
        --ssh-options says '-o StrictHostKeyChecking=accept-new' or 'no'.",
    vendor_url: "http://www.hp.com",
    variants: &[
        Variant {
            name: "fence_ilo3_ssh",
            shortdesc: "Fence agent for HP iLO3 over SSH",
            defaults: &[],
        },
        Variant {
            name: "fence_ilo4_ssh",
            shortdesc: "Fence agent for HP iLO4 over SSH",
            defaults: &[],
        },
        Variant {
            name: "fence_ilo5_ssh",
            shortdesc: "Fence agent for HP iLO5 over SSH",
            defaults: &[],
        },
    ],
    options: OPTIONS,
    defaults: &[("ipport", "23"), ("power_wait", "5")],
    default_action: "reboot",
    plugs: Plugs::None,
    needs_address: true,
    needs_login: true,
    needs_password: false,
    can_cycle: true,
    can_diag: false,
    has_status: true,
    validate,
    connect,
};

fn validate(p: &Params) -> Result<(), UsageError> {
    ssh::validate(p)?;
    if !p.flag("ssh") {
        return Err(UsageError::Invalid(
            "this fence_ilo_ssh speaks SSH only: add --ssh (-x), or ssh=1 on stdin \
             (telnet is not supported)"
                .into(),
        ));
    }
    cli::validate(p, &DIALECT)
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let (shell, _banner) = cli::open(p, &DIALECT, deadline)?;
    let (shell_limit, power_limit) = ssh::command_limits(p);
    let mut ilo = Ilo {
        shell,
        shell_limit,
        power_limit,
    };
    // Integrity MP firmware starts in its menu (MP>); SMCLP switches to the CLP. iLO 2-5
    // are there already and just answer.
    ilo.shell.command("SMCLP", shell_limit)?;
    Ok(Box::new(ilo))
}

/// The CLP's verdict in a reply: `Err` with its tags when `status=` is not 0.
pub fn clp_status(reply: &str) -> Result<(), String> {
    let field = |name: &str| {
        reply.lines().find_map(|l| {
            let l = l.trim();
            l.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('='))
                .map(str::trim)
        })
    };
    match field("status") {
        Some(code) if code != "0" => {
            let tags: Vec<&str> = [field("status_tag"), field("error_tag")]
                .into_iter()
                .flatten()
                .collect();
            Err(format!("status={code} {}", tags.join(" "))
                .trim()
                .to_string())
        }
        _ => Ok(()),
    }
}

/// Power from a `show /system1` reply (`EnabledState=enabled` → on, other values → off).
pub fn enabled_state(reply: &str) -> Option<PowerState> {
    reply.lines().find_map(|l| {
        let lower = l.trim().to_ascii_lowercase();
        let at = lower.find("enabledstate=")?;
        let value = lower[at + "enabledstate=".len()..].trim();
        Some(if value.starts_with("enabled") {
            PowerState::On
        } else {
            PowerState::Off
        })
    })
}

/// An iLO's command line.
pub struct Ilo {
    shell: Console,
    shell_limit: Option<Duration>,
    power_limit: Option<Duration>,
}

impl Ilo {
    fn clp(&mut self, line: &str, limit: Option<Duration>) -> Result<String, DeviceError> {
        let reply = self.shell.command(line, limit)?;
        clp_status(&reply)
            .map_err(|why| DeviceError::Protocol(format!("iLO refused {line:?}: {why}")))?;
        Ok(reply)
    }
}

impl PowerDevice for Ilo {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.shell.set_deadline(deadline);
    }

    fn power_status(&mut self, _plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let reply = self.clp("show /system1", self.shell_limit)?;
        enabled_state(&reply).ok_or_else(|| {
            DeviceError::Protocol(format!(
                "no EnabledState in the answer to \"show /system1\": {:?}",
                reply.trim()
            ))
        })
    }

    fn set_power(&mut self, _plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let line = match to {
            PowerState::On => "start /system1",
            PowerState::Off => "power off hard",
        };
        self.clp(line, self.power_limit).map(|_| ())
    }

    fn power_cycle(&mut self, _plug: Option<&str>) -> Result<(), DeviceError> {
        self.clp("reset /system1 hard", self.power_limit)
            .map(|_| ())
    }
}

impl Drop for Ilo {
    fn drop(&mut self) {
        self.shell.close("exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "status=0\nstatus_tag=COMMAND COMPLETED\nTue Jan  2 10:00:00 2024\n\n\
        /system1\n  Targets\n  Properties\n    name=ProLiant\n    enabledstate=enabled\n";

    #[test]
    fn status_from_show_system1() {
        assert_eq!(enabled_state(SHOW), Some(PowerState::On));
        assert_eq!(
            enabled_state("    EnabledState=disabled\n"),
            Some(PowerState::Off)
        );
        assert_eq!(enabled_state("status=0\n"), None);
    }

    #[test]
    fn clp_errors_are_reported() {
        assert_eq!(clp_status(SHOW), Ok(()));
        assert_eq!(clp_status("no status line at all"), Ok(()));
        assert_eq!(
            clp_status("status=2\nstatus_tag=COMMAND PROCESSING FAILED\nerror_tag=COMMAND NOT RECOGNIZED\n"),
            Err("status=2 COMMAND PROCESSING FAILED COMMAND NOT RECOGNIZED".into())
        );
    }
}
