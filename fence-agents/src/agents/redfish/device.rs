//! [`RedfishDevice`]: one ComputerSystem of a Redfish service as a [`PowerDevice`].
//!
//! Connecting resolves the system (the `--systems-uri`, or the only member of the
//! Systems collection under `--redfish-uri`; an ambiguous collection is refused with
//! the list of systems) and reads it once, under the login deadline; the first status
//! reuses that read. Power commands POST the system's `#ComputerSystem.Reset` action
//! with the best hard `ResetType` it allows. `list` enumerates the Systems collection.
//! Every later request is bounded by the larger of `--login-timeout` and
//! `--shell-timeout`.

use std::time::Duration;

use serde_json::{json, Value};

use super::endpoint::absolute_path;
use super::http::{Http, Missing};
use super::resource::{self, Intent, ResetAction};
use crate::device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};

/// Pages of a collection followed at most (a service that links pages in a loop).
const MAX_PAGES: usize = 64;

/// One Redfish ComputerSystem.
#[derive(Debug)]
pub struct RedfishDevice {
    http: Http,
    /// Service root path (`--redfish-uri`).
    redfish_uri: String,
    /// The system acted on: given, or found by discovery.
    system_uri: Option<String>,
    /// The system as read while connecting, for the first status.
    fresh: Option<Value>,
    /// The Reset action as last read.
    reset: Option<ResetAction>,
    /// Allowed reset types read from the ActionInfo resource (once).
    action_info_types: Option<Vec<String>>,
    /// The power state last commanded, while waiting for it.
    pending: Option<PowerState>,
    /// Bound of one request after connecting.
    request_timeout: Duration,
}

impl RedfishDevice {
    /// A device for `system_uri` (or discovery when `None`); no traffic yet.
    pub fn new(
        http: Http,
        redfish_uri: &str,
        system_uri: Option<&str>,
        request_timeout: Duration,
    ) -> RedfishDevice {
        RedfishDevice {
            http,
            redfish_uri: absolute_path(redfish_uri),
            system_uri: system_uri.map(absolute_path),
            fresh: None,
            reset: None,
            action_info_types: None,
            pending: None,
            request_timeout,
        }
    }

    /// Resolve and read the system, every request ending by `deadline`.
    pub fn login(&mut self, deadline: Deadline) -> Result<(), DeviceError> {
        let uri = match self.system_uri.clone() {
            Some(uri) => uri,
            None => self.discover(deadline)?,
        };
        let system = self.read_system(&uri, deadline)?;
        self.fresh = Some(system);
        Ok(())
    }

    /// How long the next request may take.
    fn step(&self, deadline: Deadline) -> Duration {
        deadline.bound(self.request_timeout)
    }

    /// The Systems collection's path, from the service root.
    fn systems_collection(&mut self, deadline: Deadline) -> Result<String, DeviceError> {
        let root_uri = self.redfish_uri.clone();
        let root = self
            .http
            .get(&root_uri, self.step(deadline), Missing::Resource)?;
        resource::link(&root, "Systems").ok_or_else(|| {
            DeviceError::Protocol(format!(
                "the service root {root_uri} has no Systems collection; give --systems-uri"
            ))
        })
    }

    /// Every member URI of the Systems collection (all pages).
    fn system_uris(&mut self, deadline: Deadline) -> Result<(String, Vec<String>), DeviceError> {
        let collection = self.systems_collection(deadline)?;
        let mut uris = Vec::new();
        let mut page = Some(collection.clone());
        for _ in 0..MAX_PAGES {
            let Some(path) = page.take() else { break };
            let body = self
                .http
                .get(&path, self.step(deadline), Missing::Resource)?;
            let (members, next) = resource::members(&body).ok_or_else(|| {
                DeviceError::Protocol(format!("{path} is not a collection (no Members)"))
            })?;
            uris.extend(members);
            page = next;
        }
        Ok((collection, uris))
    }

    /// The one system of the service; several are an error naming them all.
    fn discover(&mut self, deadline: Deadline) -> Result<String, DeviceError> {
        let (collection, uris) = self.system_uris(deadline)?;
        match uris.as_slice() {
            [only] => {
                self.system_uri = Some(only.clone());
                Ok(only.clone())
            }
            [] => Err(DeviceError::Protocol(format!(
                "the Systems collection {collection} is empty: no system to fence"
            ))),
            many => Err(DeviceError::Protocol(format!(
                "the Systems collection {collection} holds {} systems ({}); choose one with \
                 --systems-uri",
                many.len(),
                many.join(", ")
            ))),
        }
    }

    /// GET a system; remember its Reset action when it is the system acted on.
    fn read_system(&mut self, uri: &str, deadline: Deadline) -> Result<Value, DeviceError> {
        let system = self.http.get(uri, self.step(deadline), Missing::System)?;
        if self.system_uri.as_deref() == Some(uri) {
            self.reset = Some(resource::reset_action(&system, uri));
        }
        Ok(system)
    }

    /// The system a call means: the plug (a system URI or an Id in the collection) or
    /// the resolved one.
    fn target(&mut self, plug: Option<&str>) -> Result<String, DeviceError> {
        if let Some(p) = plug {
            if p.starts_with('/') {
                return Ok(p.to_string());
            }
            let collection = self.systems_collection(Deadline::NONE)?;
            return Ok(format!("{}/{p}", collection.trim_end_matches('/')));
        }
        match self.system_uri.clone() {
            Some(uri) => Ok(uri),
            None => self.discover(Deadline::NONE),
        }
    }

    /// The Reset action of `uri` (read again unless known for the system acted on).
    fn reset_of(&mut self, uri: &str) -> Result<ResetAction, DeviceError> {
        if self.system_uri.as_deref() == Some(uri) {
            if let Some(known) = self.reset.clone() {
                return Ok(known);
            }
        }
        let system = self.read_system(uri, Deadline::NONE)?;
        Ok(resource::reset_action(&system, uri))
    }

    /// POST the reset type that does `intent` to the system `plug` means.
    fn reset(&mut self, plug: Option<&str>, intent: Intent) -> Result<(), DeviceError> {
        let uri = self.target(plug)?;
        let action = self.reset_of(&uri)?;
        let allowed = match (&action.allowed, &action.action_info) {
            (Some(list), _) => Some(list.clone()),
            (None, Some(info)) => self.action_info(info),
            (None, None) => None,
        };
        let reset_type = resource::choose_reset(intent, allowed.as_deref()).map_err(|e| {
            let what = match intent {
                Intent::Nmi => "diagnostic interrupt (Nmi)",
                Intent::Cycle => "hard power cycle (ForceRestart/PowerCycle)",
                Intent::On | Intent::Off => "hard power control",
            };
            DeviceError::Protocol(format!("{uri} offers no {what}: {e}"))
        })?;
        let timeout = self.request_timeout;
        self.http
            .post(&action.target, &json!({ "ResetType": reset_type }), timeout)
    }

    /// Allowed reset types from an ActionInfo resource; `None` when it cannot be read
    /// (the canonical types are then sent, as when nothing is advertised).
    fn action_info(&mut self, info: &str) -> Option<Vec<String>> {
        if self.action_info_types.is_none() {
            let timeout = self.request_timeout;
            self.action_info_types = self
                .http
                .get(info, timeout, Missing::Resource)
                .ok()
                .and_then(|v| resource::action_info_reset_types(&v));
        }
        self.action_info_types.clone()
    }
}

impl PowerDevice for RedfishDevice {
    fn power_status(&mut self, plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let system = match (plug, self.fresh.take()) {
            (None, Some(fresh)) => fresh,
            _ => {
                let uri = self.target(plug)?;
                self.read_system(&uri, Deadline::NONE)?
            }
        };
        let word = resource::power_word(&system).ok_or_else(|| {
            DeviceError::Protocol(format!(
                "{} shows no PowerState",
                plug.or(self.system_uri.as_deref()).unwrap_or("the system")
            ))
        })?;
        let pending = if plug.is_none() { self.pending } else { None };
        Ok(resource::power_state(word, pending))
    }

    fn set_power(&mut self, plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        let intent = match to {
            PowerState::On => Intent::On,
            PowerState::Off => Intent::Off,
        };
        self.fresh = None;
        self.reset(plug, intent)?;
        if plug.is_none() {
            self.pending = Some(to);
        }
        Ok(())
    }

    fn power_cycle(&mut self, plug: Option<&str>) -> Result<(), DeviceError> {
        self.fresh = None;
        self.pending = None;
        self.reset(plug, Intent::Cycle)
    }

    fn diag(&mut self, plug: Option<&str>) -> Result<(), DeviceError> {
        self.fresh = None;
        self.reset(plug, Intent::Nmi)
    }

    fn list_plugs(&mut self) -> Result<Vec<Plug>, DeviceError> {
        let (_, uris) = self.system_uris(Deadline::NONE)?;
        let mut plugs = Vec::with_capacity(uris.len());
        for uri in uris {
            let system = self.read_system(&uri, Deadline::NONE)?;
            plugs.push(Plug {
                id: uri,
                alias: resource::system_name(&system),
            });
        }
        Ok(plugs)
    }
}
