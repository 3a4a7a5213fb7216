//! `fence_emerson`: receptacles of Emerson (Liebert) MPX and MPH2 rack PDUs over SNMP,
//! with ClusterLabs' option table and defaults (no default SNMP version: v2c with a
//! community, v3 with a user name; power_wait 5).
//!
//! LIEBERT-GP-PDU-MIB receptacle table, indexed `pdu.branch.receptacle`: the power state
//! `.1.3.6.1.4.1.476.1.42.3.8.50.20.1.95` reads 2 on, 1 off; the control column `.100`
//! takes 1 on, 0 off; names are in `.10`. Plugs are written as that index (`1.1.3`) or by
//! receptacle name; `list` prints `1.1.3,name`.

use super::snmp_table::{Alias, Column, Table, TableDevice};
use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::params::{Params, UsageError};
use crate::snmp::config;

const STATUS: &str = "1.3.6.1.4.1.476.1.42.3.8.50.20.1.95";
const CONTROL: &str = "1.3.6.1.4.1.476.1.42.3.8.50.20.1.100";
const NAMES: &str = "1.3.6.1.4.1.476.1.42.3.8.50.20.1.10";

pub const RECEPTACLES: Table = Table {
    device: "Emerson MPX/MPH2 PDU",
    status: Column::plain(STATUS),
    control: Column::plain(CONTROL),
    on: 2,
    off: &[1],
    turn_on: 1,
    turn_off: 0,
    arcs: 3,
    list: Column::plain(STATUS),
    absent: None,
    names: Some(NAMES),
    alias: Alias::Name,
};

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_emerson",
    shortdesc: "Fence agent for Emerson over SNMP",
    longdesc: "fence_emerson is an I/O Fencing agent which can be used with MPX and MPH2 \
        managed rack PDU. Receptacles are given as pdu.branch.receptacle (1.1.3) or by \
        name; one the device does not have is an error. SNMP v1, v2c and v3 are spoken \
        natively, without net-snmp tools.",
    vendor_url: "http://www.emersonnetworkpower.com",
    variants: &[],
    options: config::AGENT_OPTIONS,
    defaults: &[("ipport", "161"), ("power_wait", "5")],
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
    Ok(Box::new(TableDevice::new(
        config::open_session(p, deadline)?,
        &RECEPTACLES,
        config::operation_timeout(p),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugs_are_three_number_indexes() {
        assert_eq!(
            RECEPTACLES.parse_number("1.1.3").unwrap().unwrap(),
            [1, 1, 3]
        );
        assert!(matches!(
            RECEPTACLES.parse_number("3"),
            Some(Err(DeviceError::NoSuchPlug(_)))
        ));
        assert_eq!(RECEPTACLES.parse_number("web-1"), None);
    }
}
