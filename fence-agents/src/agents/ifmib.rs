//! `fence_ifmib`: fabric fencing through any SNMP device with the IF-MIB (managed
//! switches): `off` sets a port's ifAdminStatus to down(2), `on` to up(1); a port in
//! testing(3) counts as off. ClusterLabs' option table and defaults (SNMP v2c, port 161,
//! default action `off`; `reboot` is not an action of this agent).
//!
//! Plugs are interface indexes (`3`) or interface names: ifDescr first, as ClusterLabs
//! matches them, then ifName (short names such as `Gi1/0/3`). `list` prints
//! `ifDescr,ifAlias` per port as ClusterLabs does. A port that does not exist is an
//! error, never "Status: OFF".

use std::collections::HashMap;
use std::time::Duration;

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::params::{Action, Params, UsageError};
use crate::snmp::config::{self, device_error};
use crate::snmp::{Oid, Session, SnmpError, Value};

/// IF-MIB columns.
const IF_DESCR: &str = "1.3.6.1.2.1.2.2.1.2";
const IF_ADMIN_STATUS: &str = "1.3.6.1.2.1.2.2.1.7";
const IF_NAME: &str = "1.3.6.1.2.1.31.1.1.1.1";
const IF_ALIAS: &str = "1.3.6.1.2.1.31.1.1.1.18";

/// ifAdminStatus values.
const UP: i64 = 1;
const DOWN: i64 = 2;
const TESTING: i64 = 3;

fn column(text: &str) -> Oid {
    text.parse()
        .unwrap_or_else(|_| unreachable!("IF-MIB OIDs are constants"))
}

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_ifmib",
    shortdesc: "Fence agent for IF MIB",
    longdesc: "fence_ifmib is an I/O Fencing agent which can be used with any SNMP IF-MIB \
        capable device. \n\nIt was written with managed ethernet switches in mind, in order \
        to fence iSCSI SAN connections. However, there are many devices that support the \
        IF-MIB interface. The agent uses IF-MIB::ifAdminStatus to control the state of an \
        interface. Ports are given by ifIndex or by name (ifDescr, then ifName); a port the \
        device does not have is an error. SNMP is spoken natively, without net-snmp tools.",
    vendor_url: "http://www.ietf.org/wg/concluded/ifmib.html",
    variants: &[],
    options: config::AGENT_OPTIONS,
    defaults: &[("ipport", "161"), ("snmp_version", "2c")],
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
    config::validate(p)
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    Ok(Box::new(IfMibDevice {
        session: config::open_session(p, deadline)?,
        operation_timeout: config::operation_timeout(p),
        by_name: HashMap::new(),
        names_read: false,
    }))
}

/// One IF-MIB device reached over SNMP.
pub struct IfMibDevice {
    session: Session,
    operation_timeout: Duration,
    /// Port names (ifDescr, then ifName where not already taken) → ifIndex.
    by_name: HashMap<String, u32>,
    names_read: bool,
}

/// (ifIndex, text) of each row of a string column.
fn rows(column_oid: &Oid, table: Vec<(Oid, Value)>) -> Vec<(u32, String)> {
    table
        .into_iter()
        .filter_map(|(oid, value)| match oid.suffix(column_oid)? {
            [index] => Some((*index, value.as_text().unwrap_or_else(|| value.to_string()))),
            _ => None,
        })
        .collect()
}

impl IfMibDevice {
    fn deadline(&self) -> Deadline {
        Deadline::after(self.operation_timeout)
    }

    fn walk_names(&mut self, column_text: &str) -> Result<Vec<(u32, String)>, DeviceError> {
        let col = column(column_text);
        let deadline = self.deadline();
        match self.session.walk(&col, deadline) {
            Ok(table) => Ok(rows(&col, table)),
            Err(SnmpError::NoSuchObject(_)) => Ok(Vec::new()),
            Err(e) => Err(device_error(e)),
        }
    }

    /// ifDescr rows, remembered by name for later plug lookups.
    fn descriptions(&mut self) -> Result<Vec<(u32, String)>, DeviceError> {
        let descr = self.walk_names(IF_DESCR)?;
        for (index, name) in &descr {
            self.by_name.insert(name.clone(), *index);
        }
        Ok(descr)
    }

    fn index_of(&mut self, plug: Option<&str>) -> Result<(u32, String), DeviceError> {
        let plug = plug.ok_or_else(|| DeviceError::NoSuchPlug(String::new()))?;
        if !plug.is_empty() && plug.bytes().all(|b| b.is_ascii_digit()) {
            let index = plug
                .parse::<u32>()
                .map_err(|_| DeviceError::NoSuchPlug(plug.to_string()))?;
            return Ok((index, plug.to_string()));
        }
        if let Some(index) = self.by_name.get(plug) {
            return Ok((*index, plug.to_string()));
        }
        if !self.names_read {
            self.names_read = true;
            self.descriptions()?;
            if !self.by_name.contains_key(plug) {
                for (index, name) in self.walk_names(IF_NAME)? {
                    self.by_name.entry(name).or_insert(index);
                }
            }
        }
        self.by_name
            .get(plug)
            .map(|index| (*index, plug.to_string()))
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.to_string()))
    }
}

impl PowerDevice for IfMibDevice {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let (index, plug) = self.index_of(plug)?;
        let deadline = self.deadline();
        let value = match self
            .session
            .get(&column(IF_ADMIN_STATUS).child(index), deadline)
        {
            Ok(v) => v,
            Err(SnmpError::NoSuchObject(_)) => return Err(DeviceError::NoSuchPlug(plug)),
            Err(e) => return Err(device_error(e)),
        };
        match value.as_integer() {
            Some(UP) => Ok(PowerState::On),
            Some(DOWN | TESTING) => Ok(PowerState::Off),
            _ => Err(DeviceError::Protocol(format!(
                "port {plug} reports ifAdminStatus {value} (1 up, 2 down, 3 testing)"
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let (index, _) = self.index_of(plug)?;
        let status = match to {
            PowerState::On => UP,
            PowerState::Off => DOWN,
        };
        let deadline = self.deadline();
        self.session
            .set(
                &column(IF_ADMIN_STATUS).child(index),
                Value::Integer(status),
                deadline,
            )
            .map_err(device_error)
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let descr = self.descriptions()?;
        let aliases: HashMap<u32, String> = self.walk_names(IF_ALIAS)?.into_iter().collect();
        Ok(descr
            .into_iter()
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
    fn rows_take_single_arc_indexes_only() {
        let col = column(IF_DESCR);
        let table = vec![
            (col.child(1), Value::OctetString(b"Gi1/0/1".to_vec())),
            (col.extend(&[2, 9]), Value::OctetString(b"odd".to_vec())),
            (col.child(10), Value::Integer(7)),
        ];
        assert_eq!(
            rows(&col, table),
            vec![(1, "Gi1/0/1".to_string()), (10, "7".to_string())]
        );
    }
}
