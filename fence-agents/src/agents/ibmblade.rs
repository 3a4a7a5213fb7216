//! `fence_ibmblade`: blade servers of IBM BladeCenter chassis over SNMP, with
//! ClusterLabs' option table and defaults (SNMP v1; no default community).
//!
//! remoteControlBladePowerState (`.1.3.6.1.4.1.2.3.51.2.22.1.5.1.1.4.n`: 1 on, 0 off) is
//! read, powerOnOffBlade (`.1.3.6.1.4.1.2.3.51.2.22.1.6.1.1.7.n`: 1 on, 0 off) written.
//! Plugs are blade bay numbers; `list` prints `n,`.

use super::snmp_table::{Alias, Column, Table, TableDevice};
use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::params::{Params, UsageError};
use crate::snmp::config;

const POWER_STATE: &str = "1.3.6.1.4.1.2.3.51.2.22.1.5.1.1.4";
const POWER_ON_OFF: &str = "1.3.6.1.4.1.2.3.51.2.22.1.6.1.1.7";

pub const BLADES: Table = Table {
    device: "IBM BladeCenter",
    status: Column::plain(POWER_STATE),
    control: Column::plain(POWER_ON_OFF),
    on: 1,
    off: &[0],
    turn_on: 1,
    turn_off: 0,
    arcs: 1,
    list: Column::plain(POWER_STATE),
    absent: None,
    names: None,
    alias: Alias::Empty,
};

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_ibmblade",
    shortdesc: "Fence agent for IBM BladeCenter over SNMP",
    longdesc: "fence_ibmblade is an I/O Fencing agent which can be used with IBM \
        BladeCenter chassis. It issues SNMP Set request to BladeCenter chassis, rebooting, \
        powering up or down the specified Blade Server. SNMP v1, v2c and v3 are spoken \
        natively, without net-snmp tools; a blade the chassis does not have is an error.",
    vendor_url: "http://www.ibm.com",
    variants: &[],
    options: config::AGENT_OPTIONS,
    defaults: &[("ipport", "161"), ("snmp_version", "1")],
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
        &BLADES,
        config::operation_timeout(p),
    )))
}
