//! `fence_cisco_mds`: fabric fencing of Fibre Channel ports of Cisco MDS 9000 switches
//! over SNMP, with ClusterLabs' option table and defaults (port 161, default action `off`;
//! `reboot` is not an action of this agent).
//!
//! A plug is a port name `fcA/B` (any case). Its admin status is FC-MGMT-MIB
//! fcmPortAdminStatus at `.1.3.6.1.2.1.75.1.2.2.1.1.(A+21).(B-1)`, the instance ClusterLabs
//! computes: read (1 up = on; 2 down and 3 testing = off) and written (1 on, 2 off).
//! `list` walks ifDescr and prints the `fcA/B` ports with their ifAlias, as ClusterLabs
//! does. A port the switch does not have is an error (ClusterLabs reads it as "OFF"); a
//! plug that is not `fcA/B` is a usage error, as in ClusterLabs.

use std::collections::HashMap;
use std::time::Duration;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::params::{Action, Params, UsageError};
use crate::snmp::config::{self, device_error};
use crate::snmp::{Oid, Session, SnmpError, Value};

/// fcmPortAdminStatus (FC-MGMT-MIB).
const PORT_ADMIN_STATUS: &str = "1.3.6.1.2.1.75.1.2.2.1.1";
/// IF-MIB ifDescr and ifAlias: what `list` prints.
const IF_DESCR: &str = "1.3.6.1.2.1.2.2.1.2";
const IF_ALIAS: &str = "1.3.6.1.2.1.31.1.1.1.18";

/// fcmPortAdminStatus values.
const UP: i64 = 1;
const DOWN: i64 = 2;
const TESTING: i64 = 3;

fn column(text: &str) -> Oid {
    text.parse()
        .unwrap_or_else(|_| unreachable!("MIB OIDs are constants"))
}

/// The `(A, B)` of a port name `fcA/B` (case-insensitive), or `None`.
pub fn port_numbers(plug: &str) -> Option<(u32, u32)> {
    let rest = plug
        .get(..2)?
        .eq_ignore_ascii_case("fc")
        .then(|| &plug[2..])?;
    let (a, b) = rest.split_once('/')?;
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    Some((number(a)?, number(b)?))
}

/// The fcmPortAdminStatus instance of port `fcA/B`: `(A+21).(B-1)`; `None` for a name that
/// is not a port, or port 0 (which has no instance).
pub fn admin_status_oid(plug: &str) -> Option<Oid> {
    let (a, b) = port_numbers(plug)?;
    Some(
        column(PORT_ADMIN_STATUS)
            .child(a.checked_add(21)?)
            .child(b.checked_sub(1)?),
    )
}

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_cisco_mds",
    shortdesc: "Fence agent for Cisco MDS",
    longdesc: "fence_cisco_mds is an I/O Fencing agent which can be used with any Cisco MDS \
        9000 series with SNMP enabled device. Ports are given as fcA/B; their admin status \
        is read and written in the FC-MGMT-MIB. A port the switch does not have is an \
        error. SNMP is spoken natively, without net-snmp tools.",
    vendor_url: "http://www.cisco.com",
    variants: &[],
    options: config::AGENT_OPTIONS,
    defaults: &[("ipport", "161")],
    default_action: "off",
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
    // Fabric fencing: a port is cut off and given back, never "rebooted".
    if p.action == Action::Reboot {
        return Err(UsageError::UnknownAction("reboot".into()));
    }
    if !matches!(p.action, Action::List | Action::Monitor) {
        for plug in p.plugs() {
            if admin_status_oid(&plug).is_none() {
                return Err(UsageError::Invalid(format!("Mangled port number: {plug}")));
            }
        }
    }
    config::validate(p)
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    Ok(Box::new(CiscoMdsDevice {
        session: config::open_session(p, deadline)?,
        operation_timeout: config::operation_timeout(p),
    }))
}

/// One MDS switch reached over SNMP.
pub struct CiscoMdsDevice {
    session: Session,
    operation_timeout: Duration,
}

impl CiscoMdsDevice {
    fn deadline(&self) -> Deadline {
        Deadline::after(self.operation_timeout)
    }

    fn oid(plug: Option<&str>) -> Result<(Oid, String), DeviceError> {
        let plug = plug.unwrap_or_default();
        admin_status_oid(plug)
            .map(|oid| (oid, plug.to_string()))
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.to_string()))
    }

    /// (ifIndex, text) of each row of a string column of the IF-MIB.
    fn walk_text(&mut self, column_text: &str) -> Result<Vec<(u32, String)>, DeviceError> {
        let col = column(column_text);
        let deadline = self.deadline();
        let rows = match self.session.walk(&col, deadline) {
            Ok(rows) => rows,
            Err(SnmpError::NoSuchObject(_)) => Vec::new(),
            Err(e) => return Err(device_error(e)),
        };
        Ok(rows
            .into_iter()
            .filter_map(|(oid, value)| match oid.suffix(&col)? {
                [index] => Some((*index, value.as_text().unwrap_or_else(|| value.to_string()))),
                _ => None,
            })
            .collect())
    }
}

impl PowerDevice for CiscoMdsDevice {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let (oid, plug) = Self::oid(plug)?;
        let deadline = self.deadline();
        let value = match self.session.get(&oid, deadline) {
            Ok(v) => v,
            Err(SnmpError::NoSuchObject(_)) => return Err(DeviceError::NoSuchPlug(plug)),
            Err(e) => return Err(device_error(e)),
        };
        match value.as_integer() {
            Some(UP) => Ok(PowerState::On),
            Some(DOWN | TESTING) => Ok(PowerState::Off),
            _ => Err(DeviceError::Protocol(format!(
                "port {plug} reports fcmPortAdminStatus {value} (1 up, 2 down, 3 testing)"
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let (oid, _) = Self::oid(plug)?;
        let status = match to {
            PowerState::On => UP,
            PowerState::Off => DOWN,
        };
        let deadline = self.deadline();
        self.session
            .set(&oid, Value::Integer(status), deadline)
            .map_err(device_error)
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let ports = self.walk_text(IF_DESCR)?;
        let aliases: HashMap<u32, String> = self.walk_text(IF_ALIAS)?.into_iter().collect();
        Ok(ports
            .into_iter()
            .filter(|(_, name)| name.starts_with("fc") && port_numbers(name).is_some())
            .map(|(index, name)| Plug {
                alias: aliases.get(&index).cloned().unwrap_or_default(),
                id: name,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_map_to_clusterlabs_instances() {
        let s = |p: &str| admin_status_oid(p).map(|o| o.to_string());
        assert_eq!(
            s("fc1/3").as_deref(),
            Some(".1.3.6.1.2.1.75.1.2.2.1.1.22.2")
        );
        assert_eq!(
            s("FC2/1").as_deref(),
            Some(".1.3.6.1.2.1.75.1.2.2.1.1.23.0")
        );
        for bad in [
            "fc1/0", "fc1", "fc/1", "fc1/x", "eth1/1", "fc1/2/3", "fc+1/2", "", "f",
        ] {
            assert_eq!(s(bad), None, "{bad}");
        }
    }
}
