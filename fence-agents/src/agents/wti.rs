//! `fence_wti`: WTI network power switches (NPS, IPS, RSM, MPC, TPS, NBB, VMR) through
//! their command line, over telnet (ClusterLabs' default) or SSH (`--ssh`), with
//! ClusterLabs' option table, defaults and commands: `/S` (the plug table, paged with
//! `Enter:`), `/SG` (plug groups: a group is ON when any of its plugs is), `/on N,y`,
//! `/off N,y`, `/X` to log out. Switches without accounts ask for no login name, or for
//! nothing at all.

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
    prompts: "['RSM>', 'MPC>', 'IPS>', 'TPS>', 'NBB>', 'NPS>', 'VMR>']",
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
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    ssh::SSH_PATH,
    ssh::TELNET_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_wti",
    shortdesc: "Fence agent for WTI",
    longdesc: "fence_wti is an I/O Fencing agent which can be used with the WTI Network \
        Power Switch (NPS). It logs into an NPS via telnet or ssh and boots a specified \
        plug. Lengthy telnet connections to the NPS should be avoided while a GFS cluster \
        is running because the connection will block any necessary fencing actions.",
    vendor_url: "http://www.wti.com",
    variants: &[],
    options: OPTIONS,
    defaults: &[("login_timeout", "10")],
    default_action: "reboot",
    plugs: Plugs::Required { list: true },
    needs_address: true,
    needs_login: false,
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

fn state(word: &str) -> PowerState {
    if word.trim().eq_ignore_ascii_case("on") {
        PowerState::On
    } else {
        PowerState::Off
    }
}

/// The cells of a table row, trimmed and lower-cased (as ClusterLabs compares them).
fn cells(line: &str) -> Vec<String> {
    line.split('|').map(|c| c.trim().to_lowercase()).collect()
}

/// Plugs of a `/S` listing: the rows after the `Plug | Name | Status ...` header and
/// its rule line; the first column is the plug number.
pub fn parse_plugs(listing: &str) -> Vec<Outlet> {
    let mut outlets = Vec::new();
    let mut columns: Option<(usize, usize, usize)> = None;
    let mut width = 0;
    let mut lines = listing.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().to_uppercase().starts_with("PLUG") && line.contains('|') {
            let header = cells(line);
            let find = |name: &str| header.iter().position(|c| c == name);
            columns = match (find("plug"), find("name"), find("status")) {
                (Some(p), Some(n), Some(s)) => Some((p, n, s)),
                _ => None,
            };
            width = header.len();
            lines.next(); // the rule line under the header
            continue;
        }
        let Some((plug, name, status)) = columns else {
            continue;
        };
        if !line.contains('|') {
            continue;
        }
        let row = cells(line);
        if row.len() < width || row[plug].is_empty() {
            continue;
        }
        outlets.push(Outlet {
            id: row[plug].clone(),
            name: row[name].clone(),
            state: state(&row[status]),
        });
    }
    outlets
}

/// Groups of a `/SG` listing: a row naming a group starts it, the rows below with an
/// empty name add their plugs; the group is ON when any of its plugs is.
pub fn parse_groups(listing: &str) -> Vec<Outlet> {
    let mut groups: Vec<Outlet> = Vec::new();
    let mut columns: Option<(usize, usize, usize)> = None;
    let mut lines = listing.lines();
    while let Some(line) = lines.next() {
        if line.trim_start().to_uppercase().starts_with("GROUP NAME") && line.contains('|') {
            let header = cells(line);
            let find = |name: &str| header.iter().position(|c| c == name);
            columns = match (find("group name"), find("plug"), find("status")) {
                (Some(n), Some(p), Some(s)) => Some((n, p, s)),
                _ => None,
            };
            lines.next();
            continue;
        }
        let Some((name, plug, status)) = columns else {
            continue;
        };
        let row = cells(line);
        if !line.contains('|') || row.len() <= name.max(plug).max(status) {
            continue;
        }
        let on = row[status] == "on";
        if !row[name].is_empty() {
            groups.push(Outlet {
                id: row[name].clone(),
                name: row[name].clone(),
                state: if on { PowerState::On } else { PowerState::Off },
            });
        } else if let Some(g) = groups.last_mut() {
            if !row[plug].is_empty() && on {
                g.state = PowerState::On;
            }
        }
    }
    groups
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let (console, _banner) = cli::open(p, &DIALECT, deadline)?;
    let (shell_limit, power_limit) = cli::command_limits(p);
    Ok(Box::new(Wti {
        console,
        shell_limit,
        power_limit,
        listed: Listed::default(),
    }))
}

/// A WTI switch's command line.
pub struct Wti {
    console: Console,
    shell_limit: Option<Duration>,
    power_limit: Option<Duration>,
    listed: Listed,
}

impl Wti {
    /// A listing command's whole answer, following one `Enter:` page break.
    fn listing(&mut self, command: &str) -> Result<String, DeviceError> {
        let deadline = self.console.deadline(self.shell_limit);
        let next = Regex::new("(?i)Enter: ").map_err(|e| DeviceError::Protocol(e.to_string()))?;
        self.console.send_line(command, deadline)?;
        let step = format!("waiting for the answer to {command:?}");
        let (more, mut text) = self.console.expect_any(&[next], deadline, &step)?;
        if more.is_some() {
            self.console.send_line("", deadline)?;
            text.push_str(&self.console.until_prompt(deadline, &step)?);
        }
        Ok(text)
    }

    fn plugs(&mut self) -> Result<Vec<Outlet>, DeviceError> {
        Ok(parse_plugs(&self.listing("/S")?))
    }

    fn groups(&mut self) -> Result<Vec<Outlet>, DeviceError> {
        Ok(parse_groups(&self.listing("/SG")?))
    }
}

impl PowerDevice for Wti {
    fn set_deadline(&mut self, deadline: Deadline) {
        self.console.set_deadline(deadline);
    }

    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let plug = plug.unwrap_or("").to_lowercase();
        if let Some(state) = self.listed.take(&plug) {
            return Ok(state);
        }
        match pick(&self.plugs()?, &plug) {
            Err(DeviceError::NoSuchPlug(_)) => pick(&self.groups()?, &plug),
            other => other,
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.listed.clear();
        let verb = match to {
            PowerState::On => "/on",
            PowerState::Off => "/off",
        };
        let line = format!("{verb} {},y", plug.unwrap_or(""));
        self.console.command(&line, self.power_limit)?;
        Ok(())
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let mut all = self.plugs()?;
        all.extend(self.groups()?);
        Ok(self.listed.remember(&all))
    }
}

impl Drop for Wti {
    fn drop(&mut self) {
        self.console.close("/X");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &str = "\n\
Plug | Name             | Status | Boot Delay | Password         | Default |\n\
-----+------------------+--------+------------+------------------+---------+\n\
 1   | Web-Server       |   ON   |   0.5 Secs | (undefined)      |   ON    |\n\
 2   | db               |   OFF  |   0.5 Secs | (undefined)      |   ON    |\n\
-----+------------------+--------+------------+------------------+---------+\n";

    const SG: &str = "\n\
 Group Name       | Plug | Name             | Status |\n\
------------------+------+------------------+--------+\n\
 cluster          |  1   | Web-Server       |   OFF  |\n\
                  |  2   | db               |   ON   |\n\
 spare            |  3   | x                |   OFF  |\n";

    #[test]
    fn plug_table() {
        let plugs = parse_plugs(S);
        assert_eq!(plugs.len(), 2);
        assert_eq!(plugs[0].id, "1");
        assert_eq!(plugs[0].name, "web-server");
        assert_eq!(plugs[0].state, PowerState::On);
        assert_eq!(plugs[1].state, PowerState::Off);
        assert!(parse_plugs("IPS> garbage").is_empty());
    }

    #[test]
    fn group_table() {
        let groups = parse_groups(SG);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].id, "cluster");
        assert_eq!(groups[0].state, PowerState::On);
        assert_eq!(groups[1].state, PowerState::Off);
    }
}
