//! `fence_apc_snmp` (also `fence_tripplite_snmp`): outlets of APC and Tripp Lite power
//! distribution units over SNMP, with ClusterLabs' option table and defaults (SNMP v1,
//! community `private`, port 161).
//!
//! The device's model is chosen from sysObjectID.0 the way ClusterLabs chooses it: APC
//! rack PDUs use the rPDU outlet tables (rPDUOutletStatusOutletState to read,
//! rPDUOutletControlOutletCommand to switch), MasterSwitch Plus units address outlets as
//! `switch:outlet`, Tripp Lite units have their own tables, and anything unknown falls
//! back to the MasterSwitch sPDUOutletCtl column, which every APC unit serves.
//!
//! Plugs are outlet numbers (`3`, or `2:3` on a MasterSwitch Plus) or outlet names from
//! the device's own name table. Unlike ClusterLabs, an outlet that does not exist is an
//! error, never "Status: OFF".

use crate::agent::{Agent, Plugs, Variant};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::params::{Params, UsageError};
use crate::snmp::config::{self, device_error};
use crate::snmp::{Oid, Session, SnmpError, Value};

/// sysObjectID.0
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";

/// One family of units: where outlet state, commands and names live.
#[derive(Debug, PartialEq, Eq)]
pub struct Model {
    pub name: &'static str,
    /// Column read for the state; index `.outlet` or `.switch.1.outlet`.
    pub status: &'static str,
    /// Column written to switch.
    pub control: &'static str,
    /// Column of outlet names.
    pub names: &'static str,
    pub state_on: i64,
    pub state_off: i64,
    pub turn_on: i64,
    pub turn_off: i64,
    /// Outlets are addressed as switch:outlet.
    pub has_switches: bool,
}

pub const APC_RPDU: Model = Model {
    name: "APC rPDU",
    status: "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4",
    control: "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4",
    names: "1.3.6.1.4.1.318.1.1.12.3.5.1.1.2",
    state_on: 1,
    state_off: 2,
    turn_on: 1,
    turn_off: 2,
    has_switches: false,
};
pub const APC_MASTER_SWITCH_PLUS: Model = Model {
    name: "APC Master Switch+",
    status: "1.3.6.1.4.1.318.1.1.6.7.1.1.5",
    control: "1.3.6.1.4.1.318.1.1.6.5.1.1.5",
    names: "1.3.6.1.4.1.318.1.1.6.7.1.1.4",
    state_on: 1,
    state_off: 2,
    turn_on: 1,
    turn_off: 3,
    has_switches: true,
};
pub const APC_MASTER_SWITCH: Model = Model {
    name: "APC Master Switch (fallback)",
    status: "1.3.6.1.4.1.318.1.1.4.4.2.1.3",
    control: "1.3.6.1.4.1.318.1.1.4.4.2.1.3",
    names: "1.3.6.1.4.1.318.1.1.4.4.2.1.4",
    state_on: 1,
    state_off: 2,
    turn_on: 1,
    turn_off: 2,
    has_switches: false,
};
pub const APC_MASTER_SWITCH_V6: Model = Model {
    name: "APC Master Switch with firmware v6.x",
    control: "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4",
    ..APC_MASTER_SWITCH
};
pub const TRIPPLITE: Model = Model {
    name: "Tripplite",
    status: "1.3.6.1.4.1.850.10.2.3.5.1.2.1",
    control: "1.3.6.1.4.1.850.10.2.3.5.1.4.1",
    names: "1.3.6.1.4.1.850.10.2.3.5.1.5",
    state_on: 2,
    state_off: 1,
    turn_on: 2,
    turn_off: 1,
    has_switches: false,
};
pub const TRIPPLITE_LX: Model = Model {
    name: "Tripplite LX",
    status: "1.3.6.1.4.1.850.1.1.3.2.3.3.1.1.4.1",
    control: "1.3.6.1.4.1.850.1.1.3.2.3.3.1.1.6.1",
    names: "1.3.6.1.4.1.850.1.1.3.2.3.3.1.1.2.1",
    ..TRIPPLITE
};

/// The model for a sysObjectID value (exact match, else the MasterSwitch fallback).
pub fn model_for(sys_object_id: Option<&Oid>) -> &'static Model {
    const KNOWN: [(&str, &Model); 5] = [
        (".1.3.6.1.4.1.318.1.3.4.5", &APC_RPDU),
        (".1.3.6.1.4.1.318.1.3.4.4", &APC_MASTER_SWITCH_PLUS),
        (".1.3.6.1.4.1.850.1", &TRIPPLITE),
        (".1.3.6.1.4.1.850.1.1.1", &TRIPPLITE_LX),
        (".1.3.6.1.4.1.318.1.3.4.6", &APC_MASTER_SWITCH_V6),
    ];
    let id = sys_object_id.map(Oid::to_string);
    KNOWN
        .iter()
        .find(|(oid, _)| id.as_deref() == Some(*oid))
        .map_or(&APC_MASTER_SWITCH, |(_, model)| *model)
}

/// An outlet's address in the device's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlet {
    pub switch: u32,
    pub outlet: u32,
}

impl Model {
    fn column(text: &str) -> Oid {
        text.parse()
            .unwrap_or_else(|_| unreachable!("model OIDs are constants"))
    }

    /// The instance of a column for one outlet.
    pub fn instance(&self, column: &str, o: Outlet) -> Oid {
        if self.has_switches {
            Model::column(column).extend(&[o.switch, 1, o.outlet])
        } else {
            Model::column(column).child(o.outlet)
        }
    }

    /// The outlet a row of the name table describes, and its id as `list` prints it.
    pub fn outlet_of_name_row(&self, row: &Oid) -> Option<(Outlet, String)> {
        let index = row.suffix(&Model::column(self.names))?;
        match (self.has_switches, index) {
            (true, [switch, _, outlet]) => Some((
                Outlet {
                    switch: *switch,
                    outlet: *outlet,
                },
                format!("{switch}:{outlet}"),
            )),
            (false, [outlet]) => Some((
                Outlet {
                    switch: 1,
                    outlet: *outlet,
                },
                outlet.to_string(),
            )),
            _ => None,
        }
    }

    /// A plug given by number: `3`, or `2:3` (switch 2, outlet 3). `None` for a name.
    pub fn parse_number(&self, plug: &str) -> Option<Result<Outlet, DeviceError>> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let number = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| DeviceError::NoSuchPlug(plug.to_string()))
        };
        if digits(plug) {
            return Some(number(plug).map(|outlet| Outlet { switch: 1, outlet }));
        }
        let (switch, outlet) = plug.split_once(':')?;
        if !digits(switch) || !digits(outlet) {
            return None;
        }
        Some((|| {
            let o = Outlet {
                switch: number(switch)?,
                outlet: number(outlet)?,
            };
            // A unit without switches has only switch 1.
            if !self.has_switches && o.switch != 1 {
                return Err(DeviceError::NoSuchPlug(plug.to_string()));
            }
            Ok(o)
        })())
    }
}

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_apc_snmp",
    shortdesc: "Fence agent for APC, Tripplite PDU over SNMP",
    longdesc: "fence_apc_snmp is an I/O Fencing agent which can be used with the APC \
        network power switch or Tripplite PDU devices. It switches a specified outlet over \
        SNMP v1, v2c or v3 (noAuthNoPriv, authNoPriv with MD5/SHA, authPriv with DES/AES), \
        speaking SNMP natively without net-snmp tools. Outlets are given by number or by \
        the name the device's outlet table holds; an outlet the device does not have is \
        an error.",
    vendor_url: "http://www.apc.com",
    variants: &[Variant {
        name: "fence_tripplite_snmp",
        shortdesc: "Fence agent for Tripplife over SNMP",
        defaults: &[],
    }],
    options: config::AGENT_OPTIONS,
    defaults: &[
        ("ipport", "161"),
        ("snmp_version", "1"),
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
    let mut session = config::open_session(p, deadline)?;
    let sys_object_id = match session.get(&Model::column(SYS_OBJECT_ID), deadline) {
        Ok(Value::ObjectId(oid)) => Some(oid),
        Ok(_) | Err(SnmpError::NoSuchObject(_)) => None,
        Err(e) => return Err(device_error(e)),
    };
    Ok(Box::new(ApcDevice {
        session,
        model: model_for(sys_object_id.as_ref()),
        operation_timeout: config::operation_timeout(p),
        names: None,
    }))
}

/// One PDU reached over SNMP.
pub struct ApcDevice {
    session: Session,
    model: &'static Model,
    operation_timeout: std::time::Duration,
    /// Outlet names read from the device (once per run).
    names: Option<Vec<(Outlet, String, String)>>,
}

impl ApcDevice {
    fn deadline(&self) -> Deadline {
        Deadline::after(self.operation_timeout)
    }

    /// (outlet, id, name) of every outlet in the device's name table.
    fn name_table(&mut self) -> Result<&[(Outlet, String, String)], DeviceError> {
        if self.names.is_none() {
            let deadline = self.deadline();
            let rows = self
                .session
                .walk(&Model::column(self.model.names), deadline)
                .map_err(device_error)?;
            let table = rows
                .iter()
                .filter_map(|(oid, value)| {
                    let (outlet, id) = self.model.outlet_of_name_row(oid)?;
                    Some((
                        outlet,
                        id,
                        value.as_text().unwrap_or_else(|| value.to_string()),
                    ))
                })
                .collect();
            self.names = Some(table);
        }
        Ok(self.names.as_deref().unwrap_or_default())
    }

    fn resolve(&mut self, plug: Option<&str>) -> Result<(Outlet, String), DeviceError> {
        let plug = plug.ok_or_else(|| DeviceError::NoSuchPlug(String::new()))?;
        if let Some(number) = self.model.parse_number(plug) {
            return Ok((number?, plug.to_string()));
        }
        self.name_table()?
            .iter()
            .find(|(_, _, name)| name == plug)
            .map(|(outlet, _, _)| (*outlet, plug.to_string()))
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.to_string()))
    }
}

impl PowerDevice for ApcDevice {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let (outlet, plug) = self.resolve(plug)?;
        let oid = self.model.instance(self.model.status, outlet);
        let deadline = self.deadline();
        let value = match self.session.get(&oid, deadline) {
            Ok(v) => v,
            Err(SnmpError::NoSuchObject(_)) => return Err(DeviceError::NoSuchPlug(plug)),
            Err(e) => return Err(device_error(e)),
        };
        match value.as_integer() {
            Some(v) if v == self.model.state_on => Ok(PowerState::On),
            Some(v) if v == self.model.state_off => Ok(PowerState::Off),
            _ => Err(DeviceError::Protocol(format!(
                "outlet {plug} reports state {value} ({} reads {} on, {} off)",
                self.model.name, self.model.state_on, self.model.state_off
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let (outlet, _) = self.resolve(plug)?;
        let oid = self.model.instance(self.model.control, outlet);
        let command = match to {
            PowerState::On => self.model.turn_on,
            PowerState::Off => self.model.turn_off,
        };
        let deadline = self.deadline();
        self.session
            .set(&oid, Value::Integer(command), deadline)
            .map_err(device_error)
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        Ok(self
            .name_table()?
            .iter()
            .map(|(_, id, name)| Plug {
                id: id.clone(),
                alias: name.clone(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_are_chosen_as_clusterlabs_chooses_them() {
        let oid = |s: &str| s.parse::<Oid>().unwrap();
        assert_eq!(model_for(Some(&oid(".1.3.6.1.4.1.318.1.3.4.5"))), &APC_RPDU);
        assert_eq!(
            model_for(Some(&oid(".1.3.6.1.4.1.318.1.3.4.4"))),
            &APC_MASTER_SWITCH_PLUS
        );
        assert_eq!(model_for(Some(&oid(".1.3.6.1.4.1.850.1"))), &TRIPPLITE);
        assert_eq!(
            model_for(Some(&oid(".1.3.6.1.4.1.850.1.1.1"))),
            &TRIPPLITE_LX
        );
        assert_eq!(
            model_for(Some(&oid(".1.3.6.1.4.1.318.1.3.4.6"))),
            &APC_MASTER_SWITCH_V6
        );
        assert_eq!(
            model_for(Some(&oid(".1.3.6.1.4.1.8072.3.2.10"))),
            &APC_MASTER_SWITCH
        );
        assert_eq!(model_for(None), &APC_MASTER_SWITCH);
    }

    #[test]
    fn outlet_instances() {
        let o = Outlet {
            switch: 2,
            outlet: 5,
        };
        assert_eq!(
            APC_RPDU.instance(APC_RPDU.status, o).to_string(),
            ".1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.5"
        );
        assert_eq!(
            APC_MASTER_SWITCH_PLUS
                .instance(APC_MASTER_SWITCH_PLUS.control, o)
                .to_string(),
            ".1.3.6.1.4.1.318.1.1.6.5.1.1.5.2.1.5"
        );
        assert_eq!(
            APC_MASTER_SWITCH_V6
                .instance(APC_MASTER_SWITCH_V6.control, o)
                .to_string(),
            ".1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.5"
        );
    }

    #[test]
    fn plug_numbers_and_switch_notation() {
        let one = |outlet| Outlet { switch: 1, outlet };
        assert_eq!(APC_RPDU.parse_number("3").unwrap().unwrap(), one(3));
        assert_eq!(APC_RPDU.parse_number("1:3").unwrap().unwrap(), one(3));
        assert!(matches!(
            APC_RPDU.parse_number("2:3").unwrap(),
            Err(DeviceError::NoSuchPlug(_))
        ));
        assert_eq!(
            APC_MASTER_SWITCH_PLUS.parse_number("2:3").unwrap().unwrap(),
            Outlet {
                switch: 2,
                outlet: 3
            }
        );
        assert!(APC_RPDU.parse_number("Outlet 3").is_none());
        assert!(APC_RPDU.parse_number("a:3").is_none());
        assert!(matches!(
            APC_RPDU.parse_number("99999999999").unwrap(),
            Err(DeviceError::NoSuchPlug(_))
        ));
    }

    #[test]
    fn name_rows_give_ids_as_list_prints_them() {
        let row = |m: &Model, idx: &[u32]| Model::column(m.names).extend(idx);
        assert_eq!(
            APC_RPDU.outlet_of_name_row(&row(&APC_RPDU, &[4])),
            Some((one(4), "4".to_string()))
        );
        assert_eq!(
            APC_MASTER_SWITCH_PLUS.outlet_of_name_row(&row(&APC_MASTER_SWITCH_PLUS, &[2, 1, 7])),
            Some((
                Outlet {
                    switch: 2,
                    outlet: 7
                },
                "2:7".to_string()
            ))
        );
        assert_eq!(APC_RPDU.outlet_of_name_row(&row(&APC_RPDU, &[4, 1])), None);
        assert_eq!(
            APC_RPDU.outlet_of_name_row(&Model::column(APC_MASTER_SWITCH.names).child(1)),
            None
        );
    }

    fn one(outlet: u32) -> Outlet {
        Outlet { switch: 1, outlet }
    }
}
