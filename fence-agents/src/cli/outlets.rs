//! Outlet tables as PDU command lines print them: one status listing read gives every
//! outlet's name and state. Picking a plug from it (a plug the listing does not show is
//! `NoSuchPlug`), and keeping the states a `list` read so `list-status` asks the device
//! once, not once per outlet.

use std::collections::HashMap;

use crate::device::{DeviceError, Plug, PowerState};

/// One outlet of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlet {
    pub id: String,
    pub name: String,
    pub state: PowerState,
}

/// The state of `plug` in `outlets` (ids compared case-insensitively).
pub fn pick(outlets: &[Outlet], plug: &str) -> Result<PowerState, DeviceError> {
    outlets
        .iter()
        .find(|o| o.id.eq_ignore_ascii_case(plug.trim()))
        .map(|o| o.state)
        .ok_or_else(|| DeviceError::NoSuchPlug(plug.to_string()))
}

/// States read by the last `list`, each answered once.
#[derive(Debug, Default)]
pub struct Listed(HashMap<String, PowerState>);

impl Listed {
    /// Remember the states of a listing and return its plugs.
    pub fn remember(&mut self, outlets: &[Outlet]) -> Vec<Plug> {
        self.0 = outlets.iter().map(|o| (o.id.clone(), o.state)).collect();
        outlets
            .iter()
            .map(|o| Plug {
                id: o.id.clone(),
                alias: o.name.clone(),
            })
            .collect()
    }

    /// The listed state of `plug`, once.
    pub fn take(&mut self, plug: &str) -> Option<PowerState> {
        self.0.remove(plug)
    }

    /// Forget everything (after a power change).
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_and_listed_once() {
        let outlets = vec![
            Outlet {
                id: "1".into(),
                name: "a".into(),
                state: PowerState::On,
            },
            Outlet {
                id: "2".into(),
                name: "b".into(),
                state: PowerState::Off,
            },
        ];
        assert_eq!(pick(&outlets, "2"), Ok(PowerState::Off));
        assert_eq!(
            pick(&outlets, "9"),
            Err(DeviceError::NoSuchPlug("9".into()))
        );
        let mut listed = Listed::default();
        assert_eq!(listed.remember(&outlets)[1].alias, "b");
        assert_eq!(listed.take("1"), Some(PowerState::On));
        assert_eq!(listed.take("1"), None);
    }
}
