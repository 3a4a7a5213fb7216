//! `fence_apc`: APC network power switches (Switched Rack PDUs, MasterSwitch) through
//! their command line, over telnet (ClusterLabs' default) or SSH (`--ssh`), with
//! ClusterLabs' option table, defaults and commands.
//!
//! The firmware is told from the login banner as ClusterLabs does (`v5.`, `v6.`, `v7.`:
//! the AOS command line): `olStatus all` (lines ` N: name: On|Off`), `olOn N`,
//! `olOff N`. Older firmware only offers the numbered menus; those are not driven here
//! (a clear error says so). The `--switch` option and the `switch:plug` notation
//! belong to the menus and are accepted for compatibility.
//!
//! ClusterLabs' SSH default `--ssh-options='-1 -c blowfish'` asks for SSH protocol 1,
//! which no current OpenSSH speaks (ClusterLabs' own agent fails with it); it stays the
//! documented default but is ignored unless given explicitly.

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
    prompts: r"['\n>', '\napc>']",
    eol: "\r\n",
};

/// ClusterLabs' SSH options default for APC (protocol 1, blowfish).
const LEGACY_SSH_OPTIONS: &str = "-1 -c blowfish";

const SWITCH: OptionSpec =
    OptionSpec::text("switch", "[id]", "Physical switch number on device").short('s');

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
    ssh::SSH_OPTIONS.default(LEGACY_SSH_OPTIONS),
    SWITCH,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    ssh::SSH_PATH,
    ssh::TELNET_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_apc",
    shortdesc: "Fence agent for APC over telnet/ssh",
    longdesc: "fence_apc is an I/O Fencing agent which can be used with the APC network \
        power switch. It logs into device via telnet/ssh  and reboots a specified outlet. \
        Lengthy telnet/ssh connections should be avoided while a GFS cluster  is  running  \
        because  the  connection will block any necessary fencing actions.",
    vendor_url: "http://www.apc.com",
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

/// The options as used: the legacy SSH default dropped when not given explicitly.
fn effective(p: &Params) -> Params {
    let mut p = p.clone();
    if !p.given("ssh_options") && p.text("ssh_options") == Some(LEGACY_SSH_OPTIONS) {
        p.set("ssh_options", String::new());
    }
    p
}

fn validate(p: &Params) -> Result<(), UsageError> {
    cli::validate(&effective(p), &DIALECT)
}

/// The AOS major version in a banner, read as ClusterLabs does (`\s*v(\d)*\.`: the
/// digit before the first dot after a `v`).
pub fn firmware_major(banner: &str) -> Option<char> {
    let re = Regex::new(r"\s*v(\d)*\.").ok()?;
    let caps = re.captures(banner)?;
    caps.get(1)?.as_str().chars().last()
}

/// Outlets of an `olStatus all` answer.
pub fn parse_ol_status(text: &str) -> Vec<Outlet> {
    let Ok(re) = Regex::new(r"(?i)^\s*(\d+): (.*): (On|Off)\s*$") else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| re.captures(l))
        .map(|c| Outlet {
            id: c[1].to_string(),
            name: c[2].to_string(),
            state: if c[3].eq_ignore_ascii_case("on") {
                PowerState::On
            } else {
                PowerState::Off
            },
        })
        .collect()
}

/// The outlet number of a plug given as `switch:outlet` (ClusterLabs' old notation).
fn outlet(plug: &str) -> &str {
    plug.split_once(':').map_or(plug, |(_, o)| o)
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let p = effective(p);
    let (console, banner) = cli::open(&p, &DIALECT, deadline)?;
    let (shell_limit, power_limit) = cli::command_limits(&p);
    let apc = Apc {
        console,
        shell_limit,
        power_limit,
        listed: Listed::default(),
    };
    match firmware_major(&banner) {
        Some('5' | '6' | '7') => Ok(Box::new(apc)),
        _ => Err(DeviceError::Protocol(format!(
            "this APC shows no AOS v5/v6/v7 command line (banner {:?}); the older \
                 numbered menus are not supported by this fence_apc",
            banner.trim()
        ))),
    }
}

/// An APC switch's command line.
pub struct Apc {
    console: Console,
    shell_limit: Option<Duration>,
    power_limit: Option<Duration>,
    listed: Listed,
}

impl Apc {
    fn outlets(&mut self) -> Result<Vec<Outlet>, DeviceError> {
        let answer = self.console.command("olStatus all", self.shell_limit)?;
        Ok(parse_ol_status(&answer))
    }
}

impl PowerDevice for Apc {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.console.set_deadline(deadline);
    }

    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let plug = outlet(plug.unwrap_or(""));
        if let Some(state) = self.listed.take(plug) {
            return Ok(state);
        }
        pick(&self.outlets()?, plug)
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.listed.clear();
        let verb = match to {
            PowerState::On => "olOn",
            PowerState::Off => "olOff",
        };
        let line = format!("{verb} {}", outlet(plug.unwrap_or("")));
        self.console.command(&line, self.power_limit)?;
        Ok(())
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let outlets = self.outlets()?;
        Ok(self.listed.remember(&outlets))
    }
}

impl Drop for Apc {
    fn drop(&mut self) {
        self.console.close("exit");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firmware_from_banner() {
        let banner = "Network Management Card AOS      v6.4.0\nRPDU 2g APP  v6.4.0";
        assert_eq!(firmware_major(banner), Some('6'));
        assert_eq!(firmware_major("AOS v3.5.7, PDU APP v3.5.6"), Some('3'));
        assert_eq!(firmware_major("no version here"), None);
    }

    #[test]
    fn ol_status_lines() {
        let text = "E000: Success\n 1: Outlet 1: On\n 2: db-server: Off\n10: x: y: ON \nE102\n";
        let outlets = parse_ol_status(text);
        assert_eq!(outlets.len(), 3);
        assert_eq!(outlets[1].name, "db-server");
        assert_eq!(outlets[1].state, PowerState::Off);
        assert_eq!(outlets[2].id, "10");
        assert_eq!(outlets[2].name, "x: y");
        assert_eq!(outlet("2:5"), "5");
    }
}
