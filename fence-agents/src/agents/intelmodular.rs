//! `fence_intelmodular`: compute modules of Intel Modular Server chassis (MFSYS25/35)
//! over SNMP, with ClusterLabs' option table and defaults (no default SNMP version: v2c
//! with a community, v3 with a user name; firmware 2.7 and later only write over v3).
//!
//! One column, `.1.3.6.1.4.1.343.2.19.1.2.10.202.1.1.6.n`, is read (2 on, 0 off) and
//! written (2 on, 3 off). Plugs are blade numbers; `list` prints `n,`.

use super::snmp_table::{Alias, Column, Table, TableDevice};
use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::params::{Params, UsageError};
use crate::snmp::config;

const POWER: &str = "1.3.6.1.4.1.343.2.19.1.2.10.202.1.1.6";

pub const BLADES: Table = Table {
    device: "Intel Modular Server",
    status: Column::plain(POWER),
    control: Column::plain(POWER),
    on: 2,
    off: &[0],
    turn_on: 2,
    turn_off: 3,
    arcs: 1,
    list: Column::plain(POWER),
    absent: None,
    names: None,
    alias: Alias::Empty,
};

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_intelmodular",
    shortdesc: "Fence agent for Intel Modular",
    longdesc: "fence_intelmodular is an I/O Fencing agent which can be used with Intel \
        Modular device (tested on Intel MFSYS25, should work with MFSYS35 as well). \
        \n.P\nNote: Since firmware update version 2.7, SNMP v2 write support is removed, \
        and replaced by SNMP v3 support. So agent now has default SNMP version 3. If you \
        are using older firmware, please supply -d for command line and snmp_version \
        option for your cluster.conf. SNMP is spoken natively, without net-snmp tools; a \
        blade the chassis does not have is an error.",
    vendor_url: "http://www.intel.com",
    variants: &[],
    options: config::AGENT_OPTIONS,
    defaults: &[("ipport", "161")],
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
