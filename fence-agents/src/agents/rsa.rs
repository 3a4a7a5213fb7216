//! `fence_rsa`: IBM RSA II management adapters through their command line, over telnet
//! (ClusterLabs' default) or SSH (`--ssh`), with ClusterLabs' option table, defaults and
//! commands: `power state` (`Power: On|Off`), `power on`, `power off`, `exit`.

use std::time::Duration;

use regex::Regex;

use crate::agent::{Agent, Plugs};
use crate::cli::{self, Console, Dialect};
use crate::device::{Deadline, DeviceError, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};
use crate::ssh;

const DIALECT: Dialect = Dialect {
    prompts: "['>']",
    eol: "\r\n",
};

const PLUG: OptionSpec = OptionSpec::text(
    "plug",
    "[ip]",
    "IP address or hostname of fencing device (together with --port-as-ip)",
)
.short('n')
.alias("port");

const OPTIONS: &[OptionSpec] = &[
    ssh::COMMAND_PROMPT.default(DIALECT.prompts),
    ssh::IDENTITY_FILE,
    ssh::INET4_ONLY,
    ssh::INET6_ONLY,
    options::IP,
    options::IPPORT.default("23"),
    options::USERNAME,
    options::PASSWORD,
    options::PASSWORD_SCRIPT,
    PLUG,
    ssh::SSH,
    // "This device will not allow us to login even with LANG=C" (ClusterLabs); an ssh
    // config file has no meaning here, the default is accepted and ignored.
    ssh::SSH_OPTIONS.default("-F /dev/null"),
    options::PLUG_SEPARATOR,
    options::PORT_AS_IP,
    ssh::SSH_PATH,
    ssh::TELNET_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_rsa",
    shortdesc: "Fence agent for IBM RSA",
    longdesc: "fence_rsa is an I/O Fencing agent which can be used with the IBM RSA II \
        management interface. It logs into an RSA II device via telnet and reboots the \
        associated machine. Lengthy telnet connections to the RSA II device should be \
        avoided while a GFS cluster is running because the connection will block any \
        necessary fencing actions.",
    vendor_url: "http://www.ibm.com",
    variants: &[],
    options: OPTIONS,
    defaults: &[("login_timeout", "10")],
    default_action: "reboot",
    plugs: Plugs::None,
    needs_address: true,
    needs_login: true,
    needs_password: false,
    can_cycle: false,
    can_diag: false,
    has_status: true,
    validate,
    connect,
};

fn validate(p: &Params) -> Result<(), UsageError> {
    cli::validate(p, &DIALECT)
}

/// Power from a `power state` answer (`Power: On`); `None` without one.
pub fn power_state(answer: &str) -> Option<PowerState> {
    let re = Regex::new(r"(?i)Power: (.*)").ok()?;
    let word = re
        .captures(answer)?
        .get(1)?
        .as_str()
        .trim()
        .to_ascii_lowercase();
    match word.as_str() {
        "on" => Some(PowerState::On),
        "off" => Some(PowerState::Off),
        _ => None,
    }
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let (console, _banner) = cli::open(p, &DIALECT, deadline)?;
    let (shell_limit, power_limit) = cli::command_limits(p);
    Ok(Box::new(Rsa {
        console,
        shell_limit,
        power_limit,
    }))
}

/// An RSA II's command line.
pub struct Rsa {
    console: Console,
    shell_limit: Option<Duration>,
    power_limit: Option<Duration>,
}

impl PowerDevice for Rsa {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.console.set_deadline(deadline);
    }

    fn power_status(&mut self, _plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let answer = self.console.command("power state", self.shell_limit)?;
        power_state(&answer).ok_or_else(|| {
            DeviceError::Protocol(format!(
                "no power state in the answer to \"power state\": {:?}",
                answer.trim()
            ))
        })
    }

    fn set_power(&mut self, _plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let line = match to {
            PowerState::On => "power on",
            PowerState::Off => "power off",
        };
        self.console.command(line, self.power_limit)?;
        Ok(())
    }
}

impl Drop for Rsa {
    fn drop(&mut self) {
        self.console.close("exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_state_words() {
        assert_eq!(power_state("Power: On\n"), Some(PowerState::On));
        assert_eq!(power_state("power: OFF "), Some(PowerState::Off));
        assert_eq!(power_state("Power: unknown"), None);
        assert_eq!(power_state("syntax error"), None);
    }
}
