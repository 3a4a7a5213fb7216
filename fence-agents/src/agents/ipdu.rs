//! `fence_ipdu`: outlets of IBM iPDUs over SNMP, with ClusterLabs' option table and
//! defaults (SNMP v3, community `private` for v1/v2c).
//!
//! ibmPduOutletState (`.1.3.6.1.4.1.2.6.223.8.2.2.1.11.n`) is read and written (1 on,
//! 0 off); outlet names come from `.1.3.6.1.4.1.2.6.223.8.2.2.1.2.n`. Plugs are outlet
//! numbers or names; `list` prints `n,name`. ClusterLabs uses this table whatever the
//! sysObjectID says, and so do we.

use super::snmp_table::{Alias, Column, Table, TableDevice};
use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::params::{Params, UsageError};
use crate::snmp::config;

const STATE: &str = "1.3.6.1.4.1.2.6.223.8.2.2.1.11";
const NAMES: &str = "1.3.6.1.4.1.2.6.223.8.2.2.1.2";

pub const IPDU: Table = Table {
    device: "IBM iPDU",
    status: Column::plain(STATE),
    control: Column::plain(STATE),
    on: 1,
    off: &[0],
    turn_on: 1,
    turn_off: 0,
    arcs: 1,
    list: Column::plain(NAMES),
    absent: None,
    names: Some(NAMES),
    alias: Alias::Name,
};

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_ipdu",
    shortdesc: "Fence agent for iPDU over SNMP",
    longdesc: "fence_ipdu is an I/O Fencing agent which can be used with the IBM iPDU \
        network power switch. It logs into a device via SNMP and reboots a specified \
        outlet. It supports SNMP v3 with all combinations of authenticity/privacy \
        settings (and v1/v2c), speaking SNMP natively without net-snmp tools. Outlets are \
        given by number or by name; an outlet the device does not have is an error.",
    vendor_url: "http://www.ibm.com",
    variants: &[],
    options: config::AGENT_OPTIONS,
    defaults: &[
        ("ipport", "161"),
        ("snmp_version", "3"),
        ("community", "private"),
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
    Ok(Box::new(TableDevice::new(
        config::open_session(p, deadline)?,
        &IPDU,
        config::operation_timeout(p),
    )))
}
