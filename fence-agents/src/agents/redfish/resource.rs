//! What the Redfish resources say, read from their JSON: a system's power state, its
//! Reset action (target and allowed reset types), collection members and links, and the
//! message of a Redfish error body. Also which `ResetType` to send for a fencing intent.
//! Pure functions over `serde_json::Value`, no I/O.

use serde_json::Value;

use crate::device::PowerState;

/// What we want the BMC to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    On,
    Off,
    /// One hard power cycle (`--method cycle`).
    Cycle,
    /// Diagnostic interrupt (action `diag`).
    Nmi,
}

/// The `ResetType`s acceptable for an intent, best first. Graceful types are never
/// acceptable for fencing: the node must lose power whatever its OS does.
/// `PushPowerButton` comes last and only where a momentary press does the job.
fn candidates(intent: Intent) -> &'static [&'static str] {
    match intent {
        Intent::On => &["On", "ForceOn", "PushPowerButton"],
        Intent::Off => &["ForceOff", "PushPowerButton"],
        Intent::Cycle => &["ForceRestart", "PowerCycle"],
        Intent::Nmi => &["Nmi"],
    }
}

/// Why no `ResetType` fits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the BMC allows ResetType {allowed:?}, none of which is {wanted:?}")]
pub struct NoResetType {
    /// What the BMC advertises.
    pub allowed: Vec<String>,
    /// What would have done.
    pub wanted: &'static [&'static str],
}

/// The `ResetType` to send: the best candidate the BMC advertises, or the canonical one
/// (`On`, `ForceOff`, `ForceRestart`, `Nmi`, as ClusterLabs sends) when it advertises
/// nothing.
pub fn choose_reset(
    intent: Intent,
    allowed: Option<&[String]>,
) -> Result<&'static str, NoResetType> {
    let wanted = candidates(intent);
    match allowed {
        None => Ok(wanted[0]),
        Some([]) => Ok(wanted[0]),
        Some(list) => wanted
            .iter()
            .find(|w| list.iter().any(|a| a == *w))
            .copied()
            .ok_or_else(|| NoResetType {
                allowed: list.to_vec(),
                wanted,
            }),
    }
}

/// The `PowerState` word of a system, as the BMC wrote it.
pub fn power_word(system: &Value) -> Option<&str> {
    system
        .get("PowerState")
        .and_then(Value::as_str)
        .map(str::trim)
}

/// The power state the framework should see. `Off` is off and anything else is on, as
/// ClusterLabs reads it, except the transitional states while a command is `pending`:
/// then `PoweringOn`/`PoweringOff` count as "not there yet" (the opposite of the
/// target), so the framework keeps polling. Without a pending command a transitional
/// state counts as on: a node powering off or on is not safely off.
pub fn power_state(word: &str, pending: Option<PowerState>) -> PowerState {
    match word {
        "Off" => PowerState::Off,
        "PoweringOn" | "PoweringOff" => match pending {
            Some(PowerState::On) => PowerState::Off,
            Some(PowerState::Off) | None => PowerState::On,
        },
        _ => PowerState::On,
    }
}

/// A system's `#ComputerSystem.Reset` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetAction {
    /// Where to POST.
    pub target: String,
    /// `ResetType@Redfish.AllowableValues`, when advertised.
    pub allowed: Option<Vec<String>>,
    /// `@Redfish.ActionInfo`: where the allowed values are, when not inline.
    pub action_info: Option<String>,
}

/// The Reset action of a system read from `system_uri`; a system that names none gets
/// the target every Redfish service uses (`<system>/Actions/ComputerSystem.Reset`).
pub fn reset_action(system: &Value, system_uri: &str) -> ResetAction {
    let action = system
        .get("Actions")
        .and_then(|a| a.get("#ComputerSystem.Reset"));
    let text = |key: &str| {
        action
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let target = text("target").unwrap_or_else(|| {
        format!(
            "{}/Actions/ComputerSystem.Reset",
            system_uri.trim_end_matches('/')
        )
    });
    let allowed = action
        .and_then(|a| a.get("ResetType@Redfish.AllowableValues"))
        .and_then(strings);
    ResetAction {
        target,
        allowed,
        action_info: text("@Redfish.ActionInfo"),
    }
}

/// The allowed `ResetType`s an ActionInfo resource lists.
pub fn action_info_reset_types(info: &Value) -> Option<Vec<String>> {
    info.get("Parameters")?
        .as_array()?
        .iter()
        .find(|p| p.get("Name").and_then(Value::as_str) == Some("ResetType"))?
        .get("AllowableValues")
        .and_then(strings)
}

fn strings(v: &Value) -> Option<Vec<String>> {
    Some(
        v.as_array()?
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
    )
}

/// `resource[key]["@odata.id"]`: a link to another resource.
pub fn link(resource: &Value, key: &str) -> Option<String> {
    resource
        .get(key)?
        .get("@odata.id")?
        .as_str()
        .map(str::to_string)
}

/// A collection's member URIs and the link to its next page, if any.
pub fn members(collection: &Value) -> Option<(Vec<String>, Option<String>)> {
    let list = collection
        .get("Members")?
        .as_array()?
        .iter()
        .filter_map(|m| m.get("@odata.id").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    let next = collection
        .get("Members@odata.nextLink")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some((list, next))
}

/// A system's display name: `Name`, else `Id`, else empty.
pub fn system_name(system: &Value) -> String {
    ["Name", "Id"]
        .iter()
        .find_map(|k| system.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

/// The human part of a Redfish error body (`error.message` and the extended messages),
/// cut to a readable length; `None` when the body holds none.
pub fn error_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let err = v.get("error")?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = err.get("message").and_then(Value::as_str) {
        parts.push(m.trim().to_string());
    }
    if let Some(infos) = err.get("@Message.ExtendedInfo").and_then(Value::as_array) {
        for m in infos
            .iter()
            .filter_map(|i| i.get("Message").and_then(Value::as_str))
        {
            let m = m.trim().to_string();
            if !m.is_empty() && !parts.contains(&m) {
                parts.push(m);
            }
        }
    }
    let text: String = parts.join("; ").chars().take(300).collect();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn canonical_reset_types_when_nothing_is_advertised() {
        assert_eq!(choose_reset(Intent::On, None), Ok("On"));
        assert_eq!(choose_reset(Intent::Off, None), Ok("ForceOff"));
        assert_eq!(choose_reset(Intent::Cycle, Some(&[])), Ok("ForceRestart"));
        assert_eq!(choose_reset(Intent::Nmi, None), Ok("Nmi"));
    }

    #[test]
    fn advertised_values_pick_the_best_hard_type() {
        let allowed = owned(&["GracefulShutdown", "ForceOn", "PowerCycle", "ForceOff"]);
        assert_eq!(choose_reset(Intent::On, Some(&allowed)), Ok("ForceOn"));
        assert_eq!(choose_reset(Intent::Off, Some(&allowed)), Ok("ForceOff"));
        assert_eq!(
            choose_reset(Intent::Cycle, Some(&allowed)),
            Ok("PowerCycle")
        );
        assert!(choose_reset(Intent::Nmi, Some(&allowed)).is_err());
    }

    #[test]
    fn graceful_shutdown_is_never_used_to_fence() {
        let allowed = owned(&["On", "GracefulShutdown", "GracefulRestart"]);
        let err = choose_reset(Intent::Off, Some(&allowed)).unwrap_err();
        assert!(err.to_string().contains("GracefulShutdown"), "{err}");
        assert!(choose_reset(Intent::Cycle, Some(&allowed)).is_err());
        let button = owned(&["GracefulShutdown", "PushPowerButton"]);
        assert_eq!(
            choose_reset(Intent::Off, Some(&button)),
            Ok("PushPowerButton")
        );
        assert_eq!(
            choose_reset(Intent::On, Some(&button)),
            Ok("PushPowerButton")
        );
    }

    #[test]
    fn power_states_and_transitions() {
        use PowerState::*;
        assert_eq!(power_state("On", None), On);
        assert_eq!(power_state("Off", Some(On)), Off);
        assert_eq!(power_state("Paused", None), On);
        // Waiting for on: powering on is not on yet.
        assert_eq!(power_state("PoweringOn", Some(On)), Off);
        assert_eq!(power_state("PoweringOff", Some(On)), Off);
        // Waiting for off: powering off is not off yet.
        assert_eq!(power_state("PoweringOff", Some(Off)), On);
        assert_eq!(power_state("PoweringOn", Some(Off)), On);
        // No command sent: a transitional node is not safely off.
        assert_eq!(power_state("PoweringOff", None), On);
        assert_eq!(power_state("PoweringOn", None), On);
    }

    #[test]
    fn reset_action_inline_and_defaulted() {
        let sys = json!({"PowerState": " On ", "Actions": {"#ComputerSystem.Reset": {
            "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
            "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]}}});
        assert_eq!(power_word(&sys), Some("On"));
        let a = reset_action(&sys, "/redfish/v1/Systems/1");
        assert_eq!(
            a.target,
            "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset"
        );
        assert_eq!(a.allowed, Some(owned(&["On", "ForceOff"])));
        let bare = reset_action(&json!({}), "/redfish/v1/Systems/2/");
        assert_eq!(
            bare.target,
            "/redfish/v1/Systems/2/Actions/ComputerSystem.Reset"
        );
        assert_eq!(bare.allowed, None);
        assert_eq!(power_word(&json!({"PowerState": null})), None);
    }

    #[test]
    fn action_info_lists_reset_types() {
        let sys = json!({"Actions": {"#ComputerSystem.Reset": {
            "target": "/t", "@Redfish.ActionInfo": "/redfish/v1/Systems/1/ResetActionInfo"}}});
        let a = reset_action(&sys, "/s");
        assert_eq!(
            a.action_info.as_deref(),
            Some("/redfish/v1/Systems/1/ResetActionInfo")
        );
        let info = json!({"Parameters": [{"Name": "Other"}, {"Name": "ResetType",
            "AllowableValues": ["ForceOff", "On"]}]});
        assert_eq!(
            action_info_reset_types(&info),
            Some(owned(&["ForceOff", "On"]))
        );
        assert_eq!(action_info_reset_types(&json!({})), None);
    }

    #[test]
    fn collections_and_links() {
        let root = json!({"Systems": {"@odata.id": "/redfish/v1/Systems"}});
        assert_eq!(
            link(&root, "Systems").as_deref(),
            Some("/redfish/v1/Systems")
        );
        assert_eq!(link(&root, "Chassis"), None);
        let coll = json!({"Members": [{"@odata.id": "/a"}, {"bogus": 1}, {"@odata.id": "/b"}],
            "Members@odata.nextLink": "/redfish/v1/Systems?$skip=2"});
        let (list, next) = members(&coll).unwrap();
        assert_eq!(list, owned(&["/a", "/b"]));
        assert_eq!(next.as_deref(), Some("/redfish/v1/Systems?$skip=2"));
        assert_eq!(members(&json!({"error": {}})), None);
        assert_eq!(system_name(&json!({"Id": "1", "Name": "node1"})), "node1");
        assert_eq!(system_name(&json!({"Id": "1"})), "1");
    }

    #[test]
    fn error_bodies_are_summarised() {
        let body = r#"{"error":{"code":"Base.1.0.GeneralError","message":"Fake system x was not found",
            "@Message.ExtendedInfo":[{"Message":"Fake system x was not found"},{"Message":"Try again"}]}}"#;
        assert_eq!(
            error_message(body).as_deref(),
            Some("Fake system x was not found; Try again")
        );
        assert_eq!(error_message("<html>nope</html>"), None);
        assert_eq!(error_message(r#"{"error":{}}"#), None);
    }
}
