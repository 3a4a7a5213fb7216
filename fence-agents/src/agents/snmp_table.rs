//! The device behind the SNMP agents whose unit keeps one row per outlet or blade in a
//! status column and a control column, indexed by the plug number: fence_eaton_snmp,
//! fence_ipdu, fence_emerson, fence_intelmodular, fence_ibmblade. Each agent describes
//! its MIB as a [`Table`]; reading, switching, listing and name lookup are shared here.
//!
//! Unlike ClusterLabs, a plug the unit does not have is an error (never "Status: OFF"),
//! and a state value that is neither the table's "on" nor one of its "off" values is an
//! error rather than "off".

use std::time::Duration;

use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
use crate::snmp::config::device_error;
use crate::snmp::{Oid, Session, SnmpError, Value};

/// Where a plug's object of one column lives: `base.<index>.<suffix>`, the last arc of
/// the index being the plug number plus `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub base: &'static str,
    /// Added to the plug's last number (Eaton Managed ePDUs count outlets from 0: -1;
    /// Eaton Switched ePDUs keep the global command in control row 1: +1).
    pub offset: i64,
    /// Arcs after the index (`.0` of Eaton Switched ePDU scalars).
    pub suffix: &'static [u32],
}

impl Column {
    /// A column indexed by the plug number itself.
    pub const fn plain(base: &'static str) -> Column {
        Column {
            base,
            offset: 0,
            suffix: &[],
        }
    }

    fn base_oid(&self) -> Oid {
        self.base
            .parse()
            .unwrap_or_else(|_| unreachable!("table OIDs are constants"))
    }

    /// The instance of this column for plug `index`; `None` when the offset takes the
    /// plug out of the unit's range (outlet 0 of a unit counting from 0).
    pub fn instance(&self, index: &[u32]) -> Option<Oid> {
        let (last, head) = index.split_last()?;
        let last = u32::try_from(i64::from(*last) + self.offset).ok()?;
        Some(self.base_oid().extend(head).child(last).extend(self.suffix))
    }

    /// The plug index a row of this column belongs to.
    pub fn index_of_row(&self, row: &Oid, arcs: usize) -> Option<Vec<u32>> {
        let rest = row.suffix(&self.base_oid())?;
        if rest.len() != arcs + self.suffix.len() || !rest.ends_with(self.suffix) {
            return None;
        }
        let mut index = rest[..arcs].to_vec();
        let last = index.last_mut()?;
        *last = u32::try_from(i64::from(*last) - self.offset).ok()?;
        Some(index)
    }
}

/// What `list` prints after a plug's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alias {
    /// Nothing (`3,`): blades have no names in these MIBs.
    Empty,
    /// The plug number again (Eaton).
    Id,
    /// The plug's entry in the table's name column.
    Name,
}

/// One unit's MIB as the agent uses it.
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    /// The unit, for messages ("IBM iPDU").
    pub device: &'static str,
    pub status: Column,
    pub control: Column,
    /// Status values meaning on, and off.
    pub on: i64,
    pub off: &'static [i64],
    /// Values written to switch on and off.
    pub turn_on: i64,
    pub turn_off: i64,
    /// Numbers in a plug (1; Emerson's pdu.branch.receptacle: 3).
    pub arcs: usize,
    /// Column walked by `list`.
    pub list: Column,
    /// A `list` row with this value is an outlet the unit does not have (Eaton Switched: 0).
    pub absent: Option<i64>,
    /// Column of outlet names (indexed like the plug), if the unit names outlets.
    pub names: Option<&'static str>,
    pub alias: Alias,
}

impl Table {
    /// A plug given by number (`3`, or `1.1.3` for three-number indexes); `None` when it
    /// is not written as numbers (then it may be a name).
    pub fn parse_number(&self, plug: &str) -> Option<Result<Vec<u32>, DeviceError>> {
        let parts: Vec<&str> = plug.split('.').collect();
        let numeric = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !parts.iter().all(numeric) {
            return None;
        }
        let missing = || DeviceError::NoSuchPlug(plug.to_string());
        if parts.len() != self.arcs {
            return Some(Err(missing()));
        }
        Some(
            parts
                .iter()
                .map(|p| p.parse::<u32>().map_err(|_| missing()))
                .collect(),
        )
    }

    fn id(index: &[u32]) -> String {
        index
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// One unit reached over SNMP.
pub struct TableDevice {
    session: Session,
    table: &'static Table,
    operation_timeout: Duration,
    /// (index, name) rows of the name column (read once per run).
    names: Option<Vec<(Vec<u32>, String)>>,
}

impl TableDevice {
    pub fn new(session: Session, table: &'static Table, operation_timeout: Duration) -> Self {
        TableDevice {
            session,
            table,
            operation_timeout,
            names: None,
        }
    }

    fn deadline(&self) -> Deadline {
        Deadline::after(self.operation_timeout)
    }

    fn walk(&mut self, column: &Oid) -> Result<Vec<(Oid, Value)>, DeviceError> {
        let deadline = self.deadline();
        match self.session.walk(column, deadline) {
            Ok(rows) => Ok(rows),
            Err(SnmpError::NoSuchObject(_)) => Ok(Vec::new()),
            Err(e) => Err(device_error(e)),
        }
    }

    fn name_table(&mut self) -> Result<&[(Vec<u32>, String)], DeviceError> {
        if self.names.is_none() {
            let mut table = Vec::new();
            if let Some(base) = self.table.names {
                let column = Column::plain(base);
                for (oid, value) in self.walk(&column.base_oid())? {
                    if let Some(index) = column.index_of_row(&oid, self.table.arcs) {
                        table.push((index, value.as_text().unwrap_or_else(|| value.to_string())));
                    }
                }
            }
            self.names = Some(table);
        }
        Ok(self.names.as_deref().unwrap_or_default())
    }

    fn resolve(&mut self, plug: Option<&str>) -> Result<(Vec<u32>, String), DeviceError> {
        let plug = plug.ok_or_else(|| DeviceError::NoSuchPlug(String::new()))?;
        if let Some(index) = self.table.parse_number(plug) {
            return Ok((index?, plug.to_string()));
        }
        self.name_table()?
            .iter()
            .find(|(_, name)| name == plug)
            .map(|(index, _)| (index.clone(), plug.to_string()))
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.to_string()))
    }
}

impl PowerDevice for TableDevice {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let (index, plug) = self.resolve(plug)?;
        let oid = self
            .table
            .status
            .instance(&index)
            .ok_or_else(|| DeviceError::NoSuchPlug(plug.clone()))?;
        let deadline = self.deadline();
        let value = match self.session.get(&oid, deadline) {
            Ok(v) => v,
            Err(SnmpError::NoSuchObject(_)) => return Err(DeviceError::NoSuchPlug(plug)),
            Err(e) => return Err(device_error(e)),
        };
        let t = self.table;
        match value.as_integer() {
            v @ Some(_) if v == t.absent => Err(DeviceError::NoSuchPlug(plug)),
            Some(v) if v == t.on => Ok(PowerState::On),
            Some(v) if t.off.contains(&v) => Ok(PowerState::Off),
            _ => Err(DeviceError::Protocol(format!(
                "plug {plug} reports state {value} ({} reads {} on, {:?} off)",
                t.device, t.on, t.off
            ))),
        }
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let (index, plug) = self.resolve(plug)?;
        let oid = self
            .table
            .control
            .instance(&index)
            .ok_or(DeviceError::NoSuchPlug(plug))?;
        let command = match to {
            PowerState::On => self.table.turn_on,
            PowerState::Off => self.table.turn_off,
        };
        let deadline = self.deadline();
        self.session
            .set(&oid, Value::Integer(command), deadline)
            .map_err(device_error)
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let t = self.table;
        let rows = self.walk(&t.list.base_oid())?;
        let names: Vec<(Vec<u32>, String)> = match t.alias {
            Alias::Name => self.name_table()?.to_vec(),
            _ => Vec::new(),
        };
        Ok(rows
            .iter()
            .filter(|(_, value)| t.absent.is_none() || value.as_integer() != t.absent)
            .filter_map(|(oid, _)| t.list.index_of_row(oid, t.arcs))
            .map(|index| {
                let id = Table::id(&index);
                let alias = match t.alias {
                    Alias::Empty => String::new(),
                    Alias::Id => id.clone(),
                    Alias::Name => names
                        .iter()
                        .find(|(i, _)| *i == index)
                        .map(|(_, name)| name.clone())
                        .unwrap_or_default(),
                };
                Plug { id, alias }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALARS: Column = Column {
        base: "1.3.6.1.4.1.20677.2.6.2",
        offset: 1,
        suffix: &[0],
    };
    const FROM_ZERO: Column = Column {
        base: "1.3.6.1.4.1.534.6.6.6.1.2.2.1.3",
        offset: -1,
        suffix: &[],
    };

    #[test]
    fn instances_apply_offset_and_suffix() {
        assert_eq!(
            SCALARS.instance(&[3]).unwrap().to_string(),
            ".1.3.6.1.4.1.20677.2.6.2.4.0"
        );
        assert_eq!(
            FROM_ZERO.instance(&[1]).unwrap().to_string(),
            ".1.3.6.1.4.1.534.6.6.6.1.2.2.1.3.0"
        );
        assert_eq!(FROM_ZERO.instance(&[0]), None);
        assert_eq!(
            Column::plain("1.2.3")
                .instance(&[1, 1, 4])
                .unwrap()
                .to_string(),
            ".1.2.3.1.1.4"
        );
    }

    #[test]
    fn rows_map_back_to_plug_numbers() {
        let row = |c: &Column, idx: &[u32]| c.base_oid().extend(idx);
        assert_eq!(
            SCALARS.index_of_row(&row(&SCALARS, &[4, 0]), 1),
            Some(vec![3])
        );
        assert_eq!(SCALARS.index_of_row(&row(&SCALARS, &[4, 1]), 1), None);
        assert_eq!(SCALARS.index_of_row(&row(&SCALARS, &[4]), 1), None);
        assert_eq!(
            FROM_ZERO.index_of_row(&row(&FROM_ZERO, &[0]), 1),
            Some(vec![1])
        );
        let plain = Column::plain("1.2.3");
        assert_eq!(
            plain.index_of_row(&row(&plain, &[1, 2, 3]), 3),
            Some(vec![1, 2, 3])
        );
        assert_eq!(plain.index_of_row(&row(&plain, &[1, 2, 3]), 1), None);
    }
}
