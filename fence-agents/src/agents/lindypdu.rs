//! `fence_lindypdu`: outlets of Lindy PDUs (model 32657 and MIB-compatible units) over
//! SNMP, with ClusterLabs' option table and defaults (SNMP v1, community `public`,
//! `--switch` 1).
//!
//! The unit keeps the state of all outlets of PDU `s` in one string,
//! `.1.3.6.1.4.1.17420.1.2.9.s.13.0` = `"1,1,0,1,..."` (1 on, 0 off, outlet n at position
//! n); switching reads that string, changes one position and writes it back whole, as
//! ClusterLabs does (the MIB offers no per-outlet command). Outlet names are the first
//! comma-separated field of `.1.3.6.1.4.1.17420.1.2.9.s.14.n.0`.
//!
//! Plugs are outlet numbers on `--switch` (`3`), `switch:outlet` as `list` prints them
//! (`1:3`), or outlet names. An outlet the unit does not have is an error.

use std::time::Duration;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::options::{self, OptionSpec};
use crate::params::{Params, UsageError};
use crate::snmp::config::{self, device_error};
use crate::snmp::{Oid, Session, SnmpError, Value};

/// The PDU table: `.s.13.0` outlet states, `.s.14.n.0` outlet descriptions.
const PDU_TABLE: [u32; 10] = [1, 3, 6, 1, 4, 1, 17420, 1, 2, 9];
const STATES: u32 = 13;
const OUTLETS: u32 = 14;

pub const SWITCH: OptionSpec =
    OptionSpec::text("switch", "[id]", "Physical switch number on device").short('s');

/// ClusterLabs' SNMP options plus `--switch`, in its order.
pub const OPTIONS: &[OptionSpec] = &[
    config::COMMUNITY,
    options::IP,
    options::IPPORT,
    options::USERNAME,
    options::PASSWORD,
    options::PASSWORD_SCRIPT,
    options::PLUG,
    config::SNMP_AUTH_PROT,
    config::SNMP_PRIV_PASSWD,
    config::SNMP_PRIV_PASSWD_SCRIPT,
    config::SNMP_PRIV_PROT,
    config::SNMP_SEC_LEVEL,
    config::SNMP_VERSION,
    SWITCH,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    config::SNMPGET_PATH,
    config::SNMPSET_PATH,
    config::SNMPWALK_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_lindypdu",
    shortdesc: "Fence agent for Lindy over SNMP",
    longdesc: "fence_lindypdu is an I/O Fencing agent which can be used with the Lindy \
        PDU network power switch. It logs into a device via SNMP and reboots a specified \
        outlet. It supports SNMP v1 (and v2c, v3) with all combinations of \
        authenticity/privacy settings, speaking SNMP natively without net-snmp tools. \
        Outlets are given by number on --switch, as switch:outlet, or by name; an outlet \
        the device does not have is an error.",
    vendor_url: "http://www.lindy.co.uk",
    variants: &[],
    options: OPTIONS,
    defaults: &[
        ("ipport", "161"),
        ("snmp_version", "1"),
        ("community", "public"),
        ("switch", "1"),
    ],
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

fn switch(p: &Params) -> Result<u32, UsageError> {
    let text = p.text("switch").unwrap_or("1");
    text.parse::<u32>().ok().filter(|s| *s > 0).ok_or_else(|| {
        UsageError::Invalid(format!("--switch {text} is not a PDU number (1, 2, ...)"))
    })
}

fn validate(p: &Params) -> Result<(), UsageError> {
    switch(p)?;
    config::validate(p)
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    Ok(Box::new(LindyDevice {
        session: config::open_session(p, deadline)?,
        switch: switch(p).map_err(|e| DeviceError::Protocol(e.to_string()))?,
        operation_timeout: config::operation_timeout(p),
    }))
}

fn states_oid(switch: u32) -> Oid {
    pdu_column(switch, STATES).child(0)
}

fn pdu_column(switch: u32, column: u32) -> Oid {
    let mut arcs = PDU_TABLE.to_vec();
    arcs.extend([switch, column]);
    Oid::from_arcs(&arcs).unwrap_or_else(|_| unreachable!("Lindy OIDs are constants"))
}

/// A plug written as a number (`3` on the default switch) or `switch:outlet`; `None`
/// when it is neither (then it may be a name).
pub fn parse_number(plug: &str, default_switch: u32) -> Option<Result<(u32, u32), DeviceError>> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let number = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.to_string()))
    };
    if digits(plug) {
        return Some(number(plug).map(|n| (default_switch, n)));
    }
    let (s, n) = plug.split_once(':')?;
    if !digits(s) || !digits(n) {
        return None;
    }
    Some(number(s).and_then(|s| Ok((s, number(n)?))))
}

/// The outlet states in the unit's string: `"1,1,0"` → `["1", "1", "0"]`.
pub fn split_states(text: &str) -> Vec<String> {
    text.trim()
        .trim_matches('"')
        .split(',')
        .map(|s| s.trim().to_string())
        .collect()
}

/// One Lindy PDU reached over SNMP.
pub struct LindyDevice {
    session: Session,
    switch: u32,
    operation_timeout: Duration,
}

impl LindyDevice {
    fn deadline(&self) -> Deadline {
        Deadline::after(self.operation_timeout)
    }

    /// (outlet, name) of every outlet of PDU `switch`.
    fn outlets(&mut self, switch: u32) -> Result<Vec<(u32, String)>, DeviceError> {
        let column = pdu_column(switch, OUTLETS);
        let deadline = self.deadline();
        let rows = match self.session.walk(&column, deadline) {
            Ok(rows) => rows,
            Err(SnmpError::NoSuchObject(_)) => Vec::new(),
            Err(e) => return Err(device_error(e)),
        };
        Ok(rows
            .into_iter()
            .filter_map(|(oid, value)| match oid.suffix(&column)? {
                [n, 0] => {
                    let text = value.as_text().unwrap_or_else(|| value.to_string());
                    let name = text.split(',').next().unwrap_or_default().to_string();
                    Some((*n, name))
                }
                _ => None,
            })
            .collect())
    }

    fn resolve(&mut self, plug: Option<&str>) -> Result<(u32, u32, String), DeviceError> {
        let plug = plug.ok_or_else(|| DeviceError::NoSuchPlug(String::new()))?;
        if let Some(number) = parse_number(plug, self.switch) {
            let (s, n) = number?;
            return Ok((s, n, plug.to_string()));
        }
        let switch = self.switch;
        self.outlets(switch)?
            .into_iter()
            .find(|(_, name)| name == plug)
            .map(|(n, _)| (switch, n, plug.to_string()))
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.to_string()))
    }

    /// The state string of PDU `switch`, split, and outlet `n`'s position in it.
    fn states(
        &mut self,
        switch: u32,
        n: u32,
        plug: &str,
    ) -> Result<(Vec<String>, usize), DeviceError> {
        let deadline = self.deadline();
        let value = match self.session.get(&states_oid(switch), deadline) {
            Ok(v) => v,
            Err(SnmpError::NoSuchObject(_)) => {
                return Err(DeviceError::NoSuchPlug(plug.to_string()))
            }
            Err(e) => return Err(device_error(e)),
        };
        let text = value.as_text().ok_or_else(|| {
            DeviceError::Protocol(format!(
                "outlet states of PDU {switch} are {value}, not text"
            ))
        })?;
        let states = split_states(&text);
        let at = usize::try_from(n - 1).unwrap_or(usize::MAX);
        if at >= states.len() {
            return Err(DeviceError::NoSuchPlug(plug.to_string()));
        }
        Ok((states, at))
    }
}

impl PowerDevice for LindyDevice {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let (switch, n, plug) = self.resolve(plug)?;
        let (states, at) = self.states(switch, n, &plug)?;
        match states[at].as_str() {
            "1" => Ok(PowerState::On),
            "0" => Ok(PowerState::Off),
            other => Err(DeviceError::Protocol(format!(
                "outlet {plug} reports state {other:?} (1 on, 0 off)"
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let (switch, n, plug) = self.resolve(plug)?;
        let (mut states, at) = self.states(switch, n, &plug)?;
        states[at] = match to {
            PowerState::On => "1",
            PowerState::Off => "0",
        }
        .to_string();
        let deadline = self.deadline();
        self.session
            .set(
                &states_oid(switch),
                Value::OctetString(states.join(",").into_bytes()),
                deadline,
            )
            .map_err(device_error)
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let switch = self.switch;
        Ok(self
            .outlets(switch)?
            .into_iter()
            .map(|(n, name)| Plug {
                id: format!("{switch}:{n}"),
                alias: name,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugs_by_number_and_switch_notation() {
        assert_eq!(parse_number("3", 1).unwrap().unwrap(), (1, 3));
        assert_eq!(parse_number("2:5", 1).unwrap().unwrap(), (2, 5));
        assert!(matches!(
            parse_number("0", 1).unwrap(),
            Err(DeviceError::NoSuchPlug(_))
        ));
        assert!(parse_number("Outlet 3", 1).is_none());
        assert!(parse_number("a:3", 1).is_none());
    }

    #[test]
    fn state_strings() {
        assert_eq!(split_states("\"1,0, 1\""), ["1", "0", "1"]);
        assert_eq!(states_oid(2).to_string(), ".1.3.6.1.4.1.17420.1.2.9.2.13.0");
    }
}
