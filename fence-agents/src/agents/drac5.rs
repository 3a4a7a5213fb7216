//! `fence_drac5`: Dell DRAC 5, DRAC/MC and the CMC of blade chassis through their
//! command line (racadm), over telnet (ClusterLabs' default) or SSH (`--ssh`), with
//! ClusterLabs' option table, defaults and commands.
//!
//! The kind is `--drac-version`, else told from the login as ClusterLabs does ("CMC" or
//! "DRAC 5" in the banner, a `DRAC/MC:` prompt; DRAC 5 when nothing says). DRAC 5 powers
//! the one server it sits in: `racadm serveraction powerstatus|powerup|powerdown`. A CMC
//! powers the module `--plug` names (`... -m server-N`; `getmodinfo` lists them); a
//! DRAC/MC likewise (`racadm serveraction -s MODULE ...`, status from `getmodinfo`).
//! Status words ON, "Powering ON" and "Powering OFF" read as on, as in ClusterLabs.

use std::time::Duration;

use regex::Regex;

use crate::agent::{Agent, Plugs};
use crate::cli::outlets::{pick, Listed, Outlet};
use crate::cli::{self, Console, Dialect};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::options::{self, Kind, OptionSpec};
use crate::params::{Action, Params, UsageError};
use crate::ssh;

const DIALECT: Dialect = Dialect {
    prompts: r"['\\$', 'DRAC\\/MC:']",
    eol: "\r\n",
};

const DRAC_VERSION: OptionSpec =
    OptionSpec::text("drac_version", "[version]", "Force DRAC version to use")
        .short('d')
        .kind(Kind::Select(&["DRAC CMC", "DRAC MC", "DRAC 5"]));

const OPTIONS: &[OptionSpec] = &[
    ssh::COMMAND_PROMPT.default(DIALECT.prompts),
    DRAC_VERSION,
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
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    ssh::SSH_PATH,
    ssh::TELNET_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_drac5",
    shortdesc: "Fence agent for Dell DRAC CMC/5",
    longdesc: "fence_drac5 is an I/O Fencing agent which can be used with the Dell Remote \
        Access Card v5 or CMC (DRAC). This device provides remote access to controlling  \
        power to a server. It logs into the DRAC through the telnet/ssh interface of the \
        card. By default, the telnet interface is not  enabled.",
    vendor_url: "http://www.dell.com",
    variants: &[],
    options: OPTIONS,
    defaults: &[],
    default_action: "reboot",
    plugs: Plugs::Optional,
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

/// The kinds of card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind5 {
    Drac5,
    Cmc,
    Mc,
}

/// The kind `--drac-version` names, else what the login shows.
pub fn kind(forced: Option<&str>, banner: &str, prompt_line: &str) -> Kind5 {
    match forced.map(str::to_ascii_uppercase).as_deref() {
        Some("DRAC CMC") => return Kind5::Cmc,
        Some("DRAC MC") => return Kind5::Mc,
        Some("DRAC 5") => return Kind5::Drac5,
        _ => {}
    }
    if banner.contains("CMC") {
        Kind5::Cmc
    } else if banner.contains("DRAC 5") {
        Kind5::Drac5
    } else if prompt_line.contains("DRAC/MC") {
        Kind5::Mc
    } else {
        Kind5::Drac5
    }
}

/// Power from a `powerstatus` answer (`Server power status: ON`, `Powering OFF`...).
pub fn power_word(answer: &str) -> Option<PowerState> {
    let re = Regex::new(r"(?im)(^|: )(ON|OFF|Powering ON|Powering OFF)\s*$").ok()?;
    let word = re.captures(answer)?.get(2)?.as_str().to_ascii_lowercase();
    Some(if word == "off" {
        PowerState::Off
    } else {
        PowerState::On
    })
}

/// Modules of a `getmodinfo` answer.
pub fn modules(kind: Kind5, answer: &str) -> Vec<Outlet> {
    let (pattern, id, state) = match kind {
        Kind5::Mc => (
            r"^\s*([^\s]*)\s*---->\s*(.*?)\s+Present\s*(ON|OFF)\s*.*$",
            2,
            3,
        ),
        _ => (r"^([^\s]*?)\s+Present\s*(ON|OFF)\s*.*$", 1, 2),
    };
    let Ok(re) = Regex::new(pattern) else {
        return Vec::new();
    };
    answer
        .lines()
        .filter_map(|l| re.captures(l))
        .map(|c| Outlet {
            id: c[id].to_string(),
            name: String::new(),
            state: if &c[state] == "ON" {
                PowerState::On
            } else {
                PowerState::Off
            },
        })
        .collect()
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let (console, banner) = cli::open(p, &DIALECT, deadline)?;
    let kind = kind(p.text("drac_version"), &banner, console.matched());
    let plug_free = matches!(
        p.action,
        Action::List | Action::ListStatus | Action::Monitor
    );
    if kind != Kind5::Drac5 && p.plugs().is_empty() && !plug_free {
        return Err(DeviceError::Protocol(
            "Failed: You have to enter module name (-n)".into(),
        ));
    }
    let (shell_limit, power_limit) = cli::command_limits(p);
    Ok(Box::new(Drac {
        console,
        kind,
        shell_limit,
        power_limit,
        listed: Listed::default(),
    }))
}

/// A DRAC's or CMC's command line.
pub struct Drac {
    console: Console,
    kind: Kind5,
    shell_limit: Option<Duration>,
    power_limit: Option<Duration>,
    listed: Listed,
}

impl Drac {
    fn getmodinfo(&mut self) -> Result<Vec<Outlet>, DeviceError> {
        let answer = self.console.command("getmodinfo", self.power_limit)?;
        Ok(modules(self.kind, &answer))
    }
}

impl PowerDevice for Drac {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.console.set_deadline(deadline);
    }

    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let line = match (self.kind, plug) {
            (Kind5::Drac5, _) => "racadm serveraction powerstatus".to_string(),
            (Kind5::Cmc, Some(m)) => {
                if let Some(state) = self.listed.take(m) {
                    return Ok(state);
                }
                format!("racadm serveraction powerstatus -m {m}")
            }
            (Kind5::Mc, Some(m)) => {
                if let Some(state) = self.listed.take(m) {
                    return Ok(state);
                }
                return pick(&self.getmodinfo()?, m);
            }
            // monitor of a chassis without a module: the chassis answers.
            (_, None) => {
                self.getmodinfo()?;
                return Ok(PowerState::On);
            }
        };
        let answer = self.console.command(&line, self.shell_limit)?;
        power_word(&answer).ok_or_else(|| {
            DeviceError::Protocol(format!(
                "no power status in the answer to {line:?}: {:?}",
                answer.trim()
            ))
        })
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.listed.clear();
        let verb = match to {
            PowerState::On => "powerup",
            PowerState::Off => "powerdown",
        };
        let module = plug.unwrap_or("");
        let line = match self.kind {
            Kind5::Drac5 => format!("racadm serveraction {verb}"),
            Kind5::Cmc => format!("racadm serveraction {verb} -m {module}"),
            Kind5::Mc => format!("racadm serveraction -s {module} {verb}"),
        };
        let answer = self.console.command(&line, self.power_limit)?;
        // ClusterLabs' "double enter" fix: a card that takes CR and LF as two lines
        // answers with an empty prompt first; from then on send CR alone and read the
        // two prompts still due.
        if answer.trim().is_empty() && self.console.eol().len() > 1 {
            let eol = self.console.eol();
            let shorter = eol[..eol.len() - 1].to_string();
            self.console.set_eol(&shorter);
            let deadline = self.console.deadline(self.power_limit);
            self.console.until_prompt(deadline, "the second prompt")?;
            self.console.until_prompt(deadline, "the third prompt")?;
        }
        Ok(())
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        if self.kind == Kind5::Drac5 {
            // One server: nothing to list (ClusterLabs prints "N/A").
            return Ok(Vec::new());
        }
        let modules = self.getmodinfo()?;
        Ok(self.listed.remember(&modules))
    }
}

impl Drop for Drac {
    fn drop(&mut self) {
        self.console.close("exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_from_login() {
        assert_eq!(kind(None, "Welcome to the CMC firmware", "$"), Kind5::Cmc);
        assert_eq!(
            kind(None, "Dell Remote Access Controller 5 (DRAC 5)", ""),
            Kind5::Drac5
        );
        assert_eq!(kind(None, "", "DRAC/MC"), Kind5::Mc);
        assert_eq!(kind(None, "", ""), Kind5::Drac5);
        assert_eq!(kind(Some("drac cmc"), "DRAC 5", ""), Kind5::Cmc);
    }

    #[test]
    fn power_words() {
        assert_eq!(
            power_word("Server power status: ON\n"),
            Some(PowerState::On)
        );
        assert_eq!(
            power_word("Server power status: OFF \n"),
            Some(PowerState::Off)
        );
        assert_eq!(power_word("Powering OFF\n"), Some(PowerState::On));
        assert_eq!(power_word("ERROR: invalid"), None);
    }

    #[test]
    fn getmodinfo_lists() {
        let cmc = "<module>        <presence>      <pwrState>      <health>        <svcTag>\n\
            Chassis         Present         ON              OK              ABC1234\n\
            server-1        Present         ON              OK              S1\n\
            server-2        Present         OFF             OK              S2\n\
            server-3        Not Present     N/A             N/A             N/A\n";
        let m = modules(Kind5::Cmc, cmc);
        assert_eq!(
            m.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
            ["Chassis", "server-1", "server-2"]
        );
        assert_eq!(m[2].state, PowerState::Off);
    }
}
