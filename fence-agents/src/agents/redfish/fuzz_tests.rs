//! Property tests (fuzzing on stable Rust, issue #16) of the Redfish answer handling:
//! bodies parsed as `Http::get` does (serde_json), then every reader of a parsed resource
//! (collection members and paging, links, the Reset action and its ActionInfo, power
//! words, names, error messages of refused answers) and the endpoint/URI helpers. Inputs:
//! random text, arbitrary JSON, mutations of real answers. Invariants: no panic, a
//! bounded allocation, an error with a message. `PROPTEST_CASES` raises the case count.

use proptest::prelude::*;
use serde_json::Value;
use testkit::fuzz::{self, check};

use super::endpoint::{absolute_path, Endpoint};
use super::http::{status_result, Missing};
use super::resource::{self, Intent};

const CASES: u32 = 256;

const SYSTEM: &str = r##"{"@odata.id":"/redfish/v1/Systems/1","Id":"1","Name":"node1","PowerState":"On",
"Actions":{"#ComputerSystem.Reset":{"target":"/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
"ResetType@Redfish.AllowableValues":["On","ForceOff","GracefulShutdown","ForceRestart","Nmi"],
"@Redfish.ActionInfo":"/redfish/v1/Systems/1/ResetActionInfo"}}}"##;
const COLLECTION: &str = r#"{"Members@odata.count":2,"Members":[{"@odata.id":"/redfish/v1/Systems/1"},
{"@odata.id":"/redfish/v1/Systems/2"}],"Members@odata.nextLink":"/redfish/v1/Systems?$skip=2"}"#;
const ROOT: &str = r#"{"Systems":{"@odata.id":"/redfish/v1/Systems"},"RedfishVersion":"1.6.0"}"#;
const ACTION_INFO: &str =
    r#"{"Parameters":[{"Name":"ResetType","AllowableValues":["On","ForceOff"]}]}"#;
const ERROR: &str = r#"{"error":{"code":"Base.1.0.GeneralError","message":"denied",
"@Message.ExtendedInfo":[{"Message":"no"}]}}"#;

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "On",
            "Off",
            "PoweringOn",
            "PoweringOff",
            "ForceOff",
            "ForceRestart",
            "/redfish/v1",
            "",
            "@odata.id",
        ])
        .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop::sample::select(vec![
            "@odata.id",
            "Members",
            "Members@odata.nextLink",
            "PowerState",
            "Actions",
            "#ComputerSystem.Reset",
            "target",
            "ResetType@Redfish.AllowableValues",
            "@Redfish.ActionInfo",
            "Parameters",
            "Name",
            "AllowableValues",
            "Systems",
            "error",
            "message",
            "@Message.ExtendedInfo",
            "Message",
            "Id",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.prop_map(String::from), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn bodies() -> impl Strategy<Value = String> {
    let real = prop::sample::select(vec![SYSTEM, COLLECTION, ROOT, ACTION_INFO, ERROR])
        .prop_map(String::from);
    prop_oneof![
        1 => "(?s).{0,120}",
        3 => fuzz::mutated_text(real, 6),
        3 => json().prop_map(|v| v.to_string()),
        1 => (1usize..3000).prop_map(|n| "[".repeat(n) + &"]".repeat(n)),
    ]
}

#[test]
fn redfish_answers_never_panic() {
    check("redfish JSON answers", CASES, bodies(), |body| {
        let (parsed, largest) =
            testkit::alloc::largest_during(|| serde_json::from_str::<Value>(&body));
        prop_assert!(largest <= fuzz::memory_bound(body.len(), 64));
        if let Ok(v) = parsed {
            if let Some((members, next)) = resource::members(&v) {
                prop_assert!(members.len() <= body.len());
                let _ = next.map(|n| absolute_path(&n));
            }
            let _ = (resource::link(&v, "Systems"), resource::system_name(&v));
            let word = resource::power_word(&v);
            let _ = word.map(|w| resource::power_state(w, None));
            let reset = resource::reset_action(&v, "/redfish/v1/Systems/1");
            let allowed = resource::action_info_reset_types(&v).or(reset.allowed);
            for intent in [Intent::On, Intent::Off, Intent::Cycle, Intent::Nmi] {
                if let Err(e) = resource::choose_reset(intent, allowed.as_deref()) {
                    prop_assert!(!e.wanted.is_empty());
                }
            }
        }
        let _ = resource::error_message(&body);
        for status in [200u16, 401, 403, 404, 500, 0] {
            if let Err(e) = status_result("GET", "/x", status, body.clone(), "u", Missing::System) {
                prop_assert!(!e.to_string().trim().is_empty());
            }
        }
        Ok(())
    });
}

#[test]
fn endpoints_never_panic() {
    let ip = prop_oneof![
        "(?s).{0,40}",
        fuzz::mutated_text(Just("https://[::1]:8443/".to_string()), 4),
        fuzz::mutated_text(Just("http://127.0.0.1:8000".to_string()), 4),
    ];
    check(
        "redfish::Endpoint::parse",
        CASES,
        (ip, prop::option::of(any::<u16>()), "[ -~]{0,30}"),
        |(ip, port, path)| {
            match Endpoint::parse(&ip, port) {
                Ok(ep) => {
                    let _ = ep.url(&path);
                }
                Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
            }
            let _ = absolute_path(&path);
            Ok(())
        },
    );
}
