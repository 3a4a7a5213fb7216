//! `fence_hpblade`: HP BladeSystem c-Class enclosures (Onboard Administrator) and HP
//! Integrity Superdome X partitions through the OA command line, over telnet
//! (ClusterLabs' default) or SSH (`--ssh`), with ClusterLabs' option table, defaults and
//! commands: `show enclosure info` (the enclosure type decides the dialect), then for
//! blades `show server status N` (`Power: On|Off`), `poweron server N`,
//! `poweroff server N force`, `show server list`; for a Superdome `parstatus -M -p N`,
//! `poweron|poweroff partition N`, `parstatus -P -M`. Lines end in LF alone, as
//! ClusterLabs sends them. `--missing-as-off`: a bay with no status reads as off.

use std::time::Duration;

use regex::Regex;

use crate::agent::{Agent, Plugs};
use crate::cli::outlets::{Listed, Outlet};
use crate::cli::{self, Console, Dialect};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};
use crate::ssh;

const DIALECT: Dialect = Dialect {
    prompts: "['c7000oa>']",
    eol: "\n",
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
    name: "fence_hpblade",
    shortdesc: "Fence agent for HP BladeSystem",
    longdesc: "fence_hpblade is an I/O Fencing agent which can be used with HP BladeSystem \
        and HP Integrity Superdome X. It logs into the onboard administrator of an enclosure \
        via telnet or ssh and uses the command line interface to power blades or partitions \
        on or off.",
    vendor_url: "http://www.hp.com",
    variants: &[],
    options: OPTIONS,
    defaults: &[("login_timeout", "10")],
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

/// The enclosure type of a `show enclosure info` answer, lower-cased (`c7000`,
/// `superdome`...).
pub fn enclosure_type(answer: &str) -> Option<String> {
    let re = Regex::new(r"^\s*Enclosure Type: (\w+)(.*?)\s*$").ok()?;
    answer
        .lines()
        .filter_map(|l| re.captures(l))
        .next_back()
        .map(|c| c[1].to_ascii_lowercase())
}

/// Power of a blade (`show server status`) or partition (`parstatus -M -p`) answer.
pub fn power(superdome: bool, answer: &str) -> Option<PowerState> {
    let pattern = if superdome {
        r"^partition:\d\s+:\w+\s+/(\w+)\s.*$"
    } else {
        r"^\s*Power: (.*?)\s*$"
    };
    let re = Regex::new(pattern).ok()?;
    let word = answer.lines().filter_map(|l| re.captures(l)).next_back()?[1].to_string();
    Some(if superdome {
        if word == "DOWN" {
            PowerState::Off
        } else {
            PowerState::On
        }
    } else if word.eq_ignore_ascii_case("on") {
        PowerState::On
    } else {
        PowerState::Off
    })
}

/// Bays (`show server list`) or partitions (`parstatus -P -M`) with their power.
pub fn instances(superdome: bool, answer: &str) -> Vec<Outlet> {
    let (pattern, id, name, state) = if superdome {
        (
            r"^partition:(\d+)\s+:\w+\s+/(\w+)\s+:OK.*?:(\w+)\s*$",
            1,
            3,
            2,
        )
    } else {
        (
            r"^\s*(\d+)\s+(.*?)\s+(.*?)\s+OK\s+(.*?)\s+(.*?)\s*$",
            1,
            2,
            4,
        )
    };
    let Ok(re) = Regex::new(pattern) else {
        return Vec::new();
    };
    answer
        .lines()
        .filter_map(|l| re.captures(l))
        .map(|c| {
            let word = c[state].to_ascii_lowercase();
            Outlet {
                id: c[id].to_string(),
                name: c[name].to_string(),
                state: if word == "on" || (superdome && word != "down") {
                    PowerState::On
                } else {
                    PowerState::Off
                },
            }
        })
        .collect()
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let (mut console, _banner) = cli::open(p, &DIALECT, deadline)?;
    let (shell_limit, _) = cli::command_limits(p);
    let info = console.command("show enclosure info", shell_limit)?;
    let kind = enclosure_type(&info).ok_or_else(|| {
        DeviceError::Protocol(format!(
            "no \"Enclosure Type:\" in the answer to \"show enclosure info\": {:?}",
            info.trim()
        ))
    })?;
    Ok(Box::new(HpBlade {
        console,
        superdome: kind == "superdome",
        shell_limit,
        missing_as_off: p.flag("missing_as_off"),
        listed: Listed::default(),
    }))
}

/// An Onboard Administrator's command line.
pub struct HpBlade {
    console: Console,
    superdome: bool,
    shell_limit: Option<Duration>,
    missing_as_off: bool,
    listed: Listed,
}

impl PowerDevice for HpBlade {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.console.set_deadline(deadline);
    }

    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let plug = plug.unwrap_or("");
        if let Some(state) = self.listed.take(plug) {
            return Ok(state);
        }
        let line = if self.superdome {
            format!("parstatus -M -p {plug}")
        } else {
            format!("show server status {plug}")
        };
        let answer = self.console.command(&line, self.shell_limit)?;
        match power(self.superdome, &answer) {
            Some(state) => Ok(state),
            None if self.missing_as_off => Ok(PowerState::Off),
            None => Err(DeviceError::NoSuchPlug(plug.to_string())),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.listed.clear();
        let dev = if self.superdome {
            "partition"
        } else {
            "server"
        };
        let plug = plug.unwrap_or("");
        let line = match to {
            PowerState::On => format!("poweron {dev} {plug}"),
            PowerState::Off => format!("poweroff {dev} {plug} force"),
        };
        self.console.command(&line, self.shell_limit)?;
        Ok(())
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let line = if self.superdome {
            "parstatus -P -M"
        } else {
            "show server list"
        };
        let answer = self.console.command(line, self.shell_limit)?;
        let found = instances(self.superdome, &answer);
        Ok(self.listed.remember(&found))
    }
}

impl Drop for HpBlade {
    fn drop(&mut self) {
        self.console.close("exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c7000_answers() {
        assert_eq!(
            enclosure_type(
                "Enclosure Information:\n\tEnclosure Type: BladeSystem c7000 Enclosure G2\n"
            )
            .as_deref(),
            Some("bladesystem")
        );
        assert_eq!(
            power(
                false,
                "Blade #2 Status:\n\tPower: On\n\tCurrent Wattage used: 300\n"
            ),
            Some(PowerState::On)
        );
        assert_eq!(power(false, "Bay 9 is empty\n"), None);
        let list = "Bay Server Name   Serial Number   Status   Power   UID Partner\n\
                    --- ------------- --------------- -------- ------- --- -------\n\
                    \x20 1  node-a       CZ1          OK       On      Off\n\
                    \x20 2  node-b       CZ2          OK       Off     Off\n";
        let found = instances(false, list);
        assert_eq!(found.len(), 2);
        assert_eq!(found[1].name, "node-b");
        assert_eq!(found[1].state, PowerState::Off);
    }

    #[test]
    fn superdome_answers() {
        assert_eq!(
            power(
                true,
                "partition:1     :Active   /DOWN     :OK   :   :name1\n"
            ),
            Some(PowerState::Off)
        );
        let found = instances(
            true,
            "partition:1     :Active   /ACTIVE   :OK   :   :npar1\n",
        );
        assert_eq!(found[0].id, "1");
        assert_eq!(found[0].name, "npar1");
        assert_eq!(found[0].state, PowerState::On);
    }
}
