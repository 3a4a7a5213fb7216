//! `fence_bladecenter`: IBM BladeCenter management modules through their command line,
//! over telnet (ClusterLabs' default) or SSH (`--ssh`), with ClusterLabs' option table,
//! defaults and commands: `env -T system:blade[N]` (the prompt becomes
//! `system:blade[N]>`; staying at `system>` means no such blade), `power -state`,
//! `power -on`, `power -off`, `env -T system`; `list -l 2` lists the blades.
//! `--missing-as-off`: a blade that does not exist reads as off and is not switched.

use std::time::Duration;

use regex::Regex;

use crate::agent::{Agent, Plugs};
use crate::cli::{self, Console, Dialect};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};
use crate::ssh;

const DIALECT: Dialect = Dialect {
    prompts: "['system>']",
    eol: "\r\n",
};

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
    options::PLUG,
    ssh::SSH,
    ssh::SSH_OPTIONS,
    ssh::MISSING_AS_OFF,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    ssh::SSH_PATH,
    ssh::TELNET_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_bladecenter",
    shortdesc: "Fence agent for IBM BladeCenter",
    longdesc: "fence_bladecenter is an I/O Fencing agent which can be used with IBM \
        Bladecenters with recent enough firmware that includes telnet support. It logs into \
        a Brocade chasis via telnet or ssh and uses the command line interface to power on \
        and off blades.",
    vendor_url: "http://www.ibm.com",
    variants: &[],
    options: OPTIONS,
    defaults: &[("power_wait", "10")],
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
    cli::validate(p, &DIALECT)
}

/// Blades of a `list -l 2` answer: `blade[N]  name`.
pub fn blades(answer: &str) -> Vec<Plug> {
    let Ok(re) = Regex::new(r"^\s*blade\[(\d+)\]\s+(.*?)\s*$") else {
        return Vec::new();
    };
    answer
        .lines()
        .filter_map(|l| re.captures(l))
        .map(|c| Plug {
            id: c[1].to_string(),
            alias: c[2].to_string(),
        })
        .collect()
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let (console, _banner) = cli::open(p, &DIALECT, deadline)?;
    let (shell_limit, _) = cli::command_limits(p);
    Ok(Box::new(BladeCenter {
        console,
        shell_limit,
        missing_as_off: p.flag("missing_as_off"),
    }))
}

/// A BladeCenter management module's command line.
pub struct BladeCenter {
    console: Console,
    shell_limit: Option<Duration>,
    missing_as_off: bool,
}

impl BladeCenter {
    fn deadline(&self) -> Deadline {
        self.console.deadline(self.shell_limit)
    }

    /// Enter the blade's context; false when the module stays at `system>` (no such blade).
    fn enter(&mut self, blade: &str) -> Result<bool, DeviceError> {
        let deadline = self.deadline();
        let here = Regex::new(&format!(r"system:blade\[{}\]>", regex::escape(blade)))
            .map_err(|e| DeviceError::Protocol(e.to_string()))?;
        self.console
            .send_line(&format!("env -T system:blade[{blade}]"), deadline)?;
        let (which, _) =
            self.console
                .expect_any(&[here], deadline, "waiting for the blade's prompt")?;
        Ok(which.is_some())
    }

    /// Run `line` in the blade's context; the answer's last line.
    fn in_blade(&mut self, blade: &str, line: &str) -> Result<String, DeviceError> {
        let deadline = self.deadline();
        let here = Regex::new(&format!(r"system:blade\[{}\]>", regex::escape(blade)))
            .map_err(|e| DeviceError::Protocol(e.to_string()))?;
        self.console.send_line(line, deadline)?;
        let (which, answer) = self.console.expect_any(
            &[here],
            deadline,
            &format!("waiting for the answer to {line:?}"),
        )?;
        if which.is_none() {
            return Err(DeviceError::Protocol(format!(
                "the blade context was left during {line:?}"
            )));
        }
        self.leave()?;
        Ok(answer
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_string())
    }

    fn leave(&mut self) -> Result<(), DeviceError> {
        self.console.command("env -T system", self.shell_limit)?;
        Ok(())
    }
}

impl PowerDevice for BladeCenter {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.console.set_deadline(deadline);
    }

    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let blade = plug.unwrap_or("");
        if !self.enter(blade)? {
            return if self.missing_as_off {
                Ok(PowerState::Off)
            } else {
                Err(DeviceError::NoSuchPlug(blade.to_string()))
            };
        }
        let last = self.in_blade(blade, "power -state")?;
        match last.to_ascii_lowercase().as_str() {
            "on" => Ok(PowerState::On),
            "off" => Ok(PowerState::Off),
            other => Err(DeviceError::Protocol(format!(
                "blade {blade}: power state {other:?}"
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let blade = plug.unwrap_or("");
        if !self.enter(blade)? {
            return if self.missing_as_off {
                Ok(())
            } else {
                Err(DeviceError::NoSuchPlug(blade.to_string()))
            };
        }
        let line = match to {
            PowerState::On => "power -on",
            PowerState::Off => "power -off",
        };
        self.in_blade(blade, line).map(|_| ())
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        self.leave()?;
        let answer = self.console.command("list -l 2", self.shell_limit)?;
        Ok(blades(&answer))
    }
}

impl Drop for BladeCenter {
    fn drop(&mut self) {
        self.console.close("exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blade_list() {
        let text = "system\n        mm[1]     primary\n        blade[1]  node-a\n        blade[2]  node-b \n        switch[1]\n";
        let b = blades(text);
        assert_eq!(b.len(), 2);
        assert_eq!(b[1].id, "2");
        assert_eq!(b[1].alias, "node-b");
    }
}
