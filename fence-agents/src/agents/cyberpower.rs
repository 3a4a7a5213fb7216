//! `fence_cyberpower_ssh`: CyberPower switched PDUs through their SSH command line, with
//! ClusterLabs' option table, defaults and commands: `oltsta show` (the outlet table),
//! `oltctrl index N act delayon|delayoff`, `exit`.
//!
//! SSH only, as the name says: ClusterLabs' agent has no telnet port either; without
//! `--ssh` this is a usage error. ClusterLabs reads only one-digit outlet numbers
//! (`(\d)`); outlets 10 and up are read whole here.

use std::time::Duration;

use regex::Regex;

use crate::agent::{Agent, Plugs};
use crate::cli::outlets::{pick, Listed, Outlet};
use crate::cli::{self, Console, Dialect};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};
use crate::ssh;

const DIALECT: Dialect = Dialect {
    prompts: r"['\n>', '\nCyberPower >']",
    eol: "\r\n",
};

const OPTIONS: &[OptionSpec] = &[
    ssh::COMMAND_PROMPT.default(DIALECT.prompts),
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
    ssh::SSH_OPTIONS,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    ssh::SSH_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_cyberpower_ssh",
    shortdesc: "Fence agent for CyberPower over ssh",
    longdesc: "fence_cyberpower_ssh is an I/O Fencing agent which can be used with the \
        CyberPower network power switch. It logs into device via ssh and reboots a \
        specified outlet. Lengthy ssh connections should be avoided while a GFS cluster \
        is running because the connection will block any necessary fencing actions.",
    vendor_url: "http://www.cyberpower.com",
    variants: &[],
    options: OPTIONS,
    defaults: &[],
    default_action: "reboot",
    plugs: Plugs::Required { list: true },
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
    if !p.flag("ssh") {
        return Err(UsageError::Invalid(
            "fence_cyberpower_ssh speaks SSH only: add --ssh (-x), or ssh=1 on stdin".into(),
        ));
    }
    cli::validate(p, &DIALECT)
}

/// Outlets of an `oltsta show` answer (`  N   name   On|Off`).
pub fn parse_oltsta(text: &str) -> Vec<Outlet> {
    let Ok(re) = Regex::new(r"^\s*(\d+)\s+(.*?)\s*\b(On|Off)\s*$") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| re.captures(l))
        .map(|c| Outlet {
            id: c[1].to_string(),
            name: c[2].to_string(),
            state: if &c[3] == "On" {
                PowerState::On
            } else {
                PowerState::Off
            },
        })
        .collect()
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let (console, _banner) = cli::open(p, &DIALECT, deadline)?;
    // ClusterLabs waits shell_timeout for every answer, power commands included.
    let (shell_limit, _) = cli::command_limits(p);
    Ok(Box::new(CyberPower {
        console,
        shell_limit,
        listed: Listed::default(),
    }))
}

/// A CyberPower PDU's command line.
pub struct CyberPower {
    console: Console,
    shell_limit: Option<Duration>,
    listed: Listed,
}

impl CyberPower {
    fn outlets(&mut self) -> Result<Vec<Outlet>, DeviceError> {
        let answer = self.console.command("oltsta show", self.shell_limit)?;
        Ok(parse_oltsta(&answer))
    }
}

impl PowerDevice for CyberPower {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.console.set_deadline(deadline);
    }

    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let plug = plug.unwrap_or("");
        if let Some(state) = self.listed.take(plug) {
            return Ok(state);
        }
        pick(&self.outlets()?, plug)
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.listed.clear();
        let act = match to {
            PowerState::On => "delayon",
            PowerState::Off => "delayoff",
        };
        let line = format!("oltctrl index {} act {act}", plug.unwrap_or(""));
        self.console.command(&line, self.shell_limit)?;
        Ok(())
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let outlets = self.outlets()?;
        Ok(self.listed.remember(&outlets))
    }
}

impl Drop for CyberPower {
    fn drop(&mut self) {
        self.console.close("exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oltsta_table() {
        let text = "\n        Index   Name                    Status\n\
                    \x20       1       Outlet1                 On\n\
                    \x20       2       web server              Off\n\
                    \x20       12      Outlet12                On\n";
        let o = parse_oltsta(text);
        assert_eq!(o.len(), 3);
        assert_eq!(o[1].name, "web server");
        assert_eq!(o[1].state, PowerState::Off);
        assert_eq!(o[2].id, "12");
    }
}
