//! `fence_eaton_snmp`: outlets of Eaton ePDUs over SNMP v1, v2c or v3, with ClusterLabs'
//! option table and defaults (SNMP v1, community `private`, power_wait 2).
//!
//! The unit's family is chosen from sysObjectID.0 as ClusterLabs chooses it:
//! - Managed ePDU (`.1.3.6.1.4.1.534.6.6.6`): outlets count from 0 in the MIB, so plug
//!   `n` is row `n-1` of the outlet state column, which is also written (1 on, 0 off);
//! - Switched ePDU (Pulizzi; sysObjectID `.1.3.6.1.4.1.20677.1` or `.2`, data under
//!   `.1.3.6.1.4.1.20677.2`): plug `n` reads scalar `6.3.n.0` (1 on, 2 off) and is
//!   switched through `6.2.(n+1).0`, control 1 being the unit's global command; a state
//!   of 0 in the status walk is an outlet the unit does not have.
//!
//! Any other sysObjectID is an error (ClusterLabs fails on it too). Plugs are outlet
//! numbers; `list` prints `n,n`.

use super::snmp_table::{Alias, Column, Table, TableDevice};
use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::params::{Params, UsageError};
use crate::snmp::config::{self, device_error};
use crate::snmp::{Oid, SnmpError, Value};

/// sysObjectID.0
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";

pub const MANAGED: Table = Table {
    device: "Eaton Managed ePDU",
    status: Column {
        base: "1.3.6.1.4.1.534.6.6.6.1.2.2.1.3",
        offset: -1,
        suffix: &[],
    },
    control: Column {
        base: "1.3.6.1.4.1.534.6.6.6.1.2.2.1.3",
        offset: -1,
        suffix: &[],
    },
    on: 1,
    off: &[0],
    turn_on: 1,
    turn_off: 0,
    arcs: 1,
    list: Column {
        base: "1.3.6.1.4.1.534.6.6.6.1.2.2.1.1",
        offset: -1,
        suffix: &[],
    },
    absent: None,
    names: None,
    alias: Alias::Id,
};

pub const SWITCHED: Table = Table {
    device: "Eaton Switched ePDU",
    status: Column {
        base: "1.3.6.1.4.1.20677.2.6.3",
        offset: 0,
        suffix: &[0],
    },
    control: Column {
        base: "1.3.6.1.4.1.20677.2.6.2",
        offset: 1,
        suffix: &[0],
    },
    on: 1,
    off: &[2],
    turn_on: 1,
    turn_off: 2,
    arcs: 1,
    list: Column {
        base: "1.3.6.1.4.1.20677.2.6.3",
        offset: 0,
        suffix: &[0],
    },
    absent: Some(0),
    names: None,
    alias: Alias::Id,
};

/// The table for a sysObjectID value (exact match), as ClusterLabs maps them.
pub fn table_for(sys_object_id: &Oid) -> Option<&'static Table> {
    match sys_object_id.to_string().as_str() {
        ".1.3.6.1.4.1.534.6.6.6" => Some(&MANAGED),
        ".1.3.6.1.4.1.20677.1" | ".1.3.6.1.4.1.20677.2" => Some(&SWITCHED),
        _ => None,
    }
}

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_eaton_snmp",
    shortdesc: "Fence agent for Eaton over SNMP",
    longdesc: "fence_eaton_snmp is an I/O Fencing agent which can be used with the Eaton \
        network power switch. It logs into a device via SNMP and reboots a specified \
        outlet. It supports SNMP v1, v2c and v3 with all combinations of \
        authenticity/privacy settings, speaking SNMP natively without net-snmp tools. \
        Managed ePDUs and Switched ePDUs are told apart by their sysObjectID; an outlet \
        the device does not have is an error.",
    vendor_url: "http://powerquality.eaton.com",
    variants: &[],
    options: config::AGENT_OPTIONS,
    defaults: &[
        ("ipport", "161"),
        ("snmp_version", "1"),
        ("community", "private"),
        ("power_wait", "2"),
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

fn validate(p: &Params) -> Result<(), UsageError> {
    config::validate(p)
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let mut session = config::open_session(p, deadline)?;
    let oid: Oid = SYS_OBJECT_ID
        .parse()
        .map_err(|_| DeviceError::Protocol("bad sysObjectID OID".into()))?;
    let table = match session.get(&oid, deadline) {
        Ok(Value::ObjectId(id)) => table_for(&id).ok_or_else(|| {
            DeviceError::Protocol(format!(
                "sysObjectID {id} is not an Eaton Managed ePDU (.1.3.6.1.4.1.534.6.6.6) \
                 or Switched ePDU (.1.3.6.1.4.1.20677.1, .2)"
            ))
        })?,
        Ok(other) => {
            return Err(DeviceError::Protocol(format!(
                "sysObjectID.0 is {other}, not an object identifier"
            )))
        }
        Err(SnmpError::NoSuchObject(_)) => {
            return Err(DeviceError::Protocol(
                "the device has no sysObjectID.0: cannot tell which Eaton ePDU it is".into(),
            ))
        }
        Err(e) => return Err(device_error(e)),
    };
    Ok(Box::new(TableDevice::new(
        session,
        table,
        config::operation_timeout(p),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_by_sysobjectid() {
        let oid = |s: &str| s.parse::<Oid>().unwrap();
        assert_eq!(table_for(&oid(".1.3.6.1.4.1.534.6.6.6")), Some(&MANAGED));
        assert_eq!(table_for(&oid(".1.3.6.1.4.1.20677.1")), Some(&SWITCHED));
        assert_eq!(table_for(&oid(".1.3.6.1.4.1.20677.2")), Some(&SWITCHED));
        assert_eq!(table_for(&oid(".1.3.6.1.4.1.534.6.6.7")), None);
    }

    #[test]
    fn managed_outlets_count_from_zero_switched_controls_from_two() {
        let s = |c: &Column, n| c.instance(&[n]).unwrap().to_string();
        assert_eq!(s(&MANAGED.status, 1), ".1.3.6.1.4.1.534.6.6.6.1.2.2.1.3.0");
        assert_eq!(s(&MANAGED.control, 8), ".1.3.6.1.4.1.534.6.6.6.1.2.2.1.3.7");
        assert_eq!(MANAGED.status.instance(&[0]), None);
        assert_eq!(s(&SWITCHED.status, 3), ".1.3.6.1.4.1.20677.2.6.3.3.0");
        assert_eq!(s(&SWITCHED.control, 3), ".1.3.6.1.4.1.20677.2.6.2.4.0");
        assert!(matches!(
            MANAGED.parse_number("1.2"),
            Some(Err(DeviceError::NoSuchPlug(_)))
        ));
        assert_eq!(MANAGED.parse_number("Outlet 1"), None);
    }
}
