//! Golden files of the metadata XML pacemaker reads, and the compatibility check against
//! ClusterLabs: every parameter the ClusterLabs agent of the same name offers (deprecated
//! aliases included) is offered by ours, with the same type and default.
//!
//! Regenerate the golden files after an intended change: `UPDATE_GOLDEN=1 cargo test -p
//! fence-agents --test metadata_golden`, then review the diff.

use fence_agents::agent::Agent;
use fence_agents::metadata;
use std::path::PathBuf;

fn agents() -> Vec<(&'static str, Agent)> {
    vec![
        ("fence_ipmilan", fence_agents::agents::ipmilan::AGENT),
        ("fence_ilo3", fence_agents::agents::ipmilan::AGENT),
        ("fence_dummy", fence_agents::agents::dummy::AGENT),
        ("fence_sbd", fence_agents::agents::sbd::AGENT),
        ("fence_redfish", fence_agents::agents::redfish::AGENT),
        ("fence_virsh", fence_agents::agents::virsh::AGENT),
        ("fence_ilo_ssh", fence_agents::agents::ilo_ssh::AGENT),
        ("fence_ilo4_ssh", fence_agents::agents::ilo_ssh::AGENT),
        ("fence_apc_snmp", fence_agents::agents::apc_snmp::AGENT),
        ("fence_ifmib", fence_agents::agents::ifmib::AGENT),
        ("fence_eaton_snmp", fence_agents::agents::eaton_snmp::AGENT),
        ("fence_ipdu", fence_agents::agents::ipdu::AGENT),
        ("fence_lindypdu", fence_agents::agents::lindypdu::AGENT),
        ("fence_emerson", fence_agents::agents::emerson::AGENT),
        (
            "fence_intelmodular",
            fence_agents::agents::intelmodular::AGENT,
        ),
        ("fence_ibmblade", fence_agents::agents::ibmblade::AGENT),
        (
            "fence_heuristics_ping",
            fence_agents::agents::heuristics_ping::AGENT,
        ),
        // agents-cloud (issue 13)
        ("fence_cisco_mds", fence_agents::agents::cisco_mds::AGENT),
        ("fence_aws", fence_agents::agents::aws::AGENT),
        ("fence_xvm", fence_agents::agents::xvm::AGENT),
        ("fence_virt", fence_agents::agents::xvm::VIRT_AGENT),
        // CLI devices over SSH or telnet.
        ("fence_apc", fence_agents::agents::apc::AGENT),
        ("fence_wti", fence_agents::agents::wti::AGENT),
        ("fence_drac5", fence_agents::agents::drac5::AGENT),
        (
            "fence_cyberpower_ssh",
            fence_agents::agents::cyberpower::AGENT,
        ),
        ("fence_rsa", fence_agents::agents::rsa::AGENT),
        (
            "fence_bladecenter",
            fence_agents::agents::bladecenter::AGENT,
        ),
        ("fence_hpblade", fence_agents::agents::hpblade::AGENT),
    ]
}

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

#[test]
fn metadata_matches_golden_files() {
    for (name, agent) in agents() {
        let xml = metadata::xml(&agent.invoked_as(name));
        let path = dir("golden").join(format!("{name}.xml"));
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &xml).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 creates it)", path.display()));
        assert_eq!(
            xml,
            golden,
            "{name}: metadata differs from {}",
            path.display()
        );
    }
}

/// `(name, type, default)` of every `<parameter>` in a metadata document.
fn parameters(xml: &str) -> Vec<(String, String, Option<String>)> {
    parameters_full(xml)
        .into_iter()
        .map(|(n, t, d, _)| (n, t, d))
        .collect()
}

/// `(name, type, default, required)` of every `<parameter>`.
fn parameters_full(xml: &str) -> Vec<(String, String, Option<String>, bool)> {
    let attr = |text: &str, key: &str| -> Option<String> {
        let start = text.find(&format!("{key}=\""))? + key.len() + 2;
        let len = text[start..].find('"')?;
        Some(text[start..start + len].to_string())
    };
    xml.split("<parameter ")
        .skip(1)
        .map(|p| {
            let content = &p[p.find("<content").unwrap()..];
            (
                attr(p, "name").unwrap(),
                attr(content, "type").unwrap(),
                attr(content.split('>').next().unwrap(), "default"),
                attr(p, "required").as_deref() == Some("1"),
            )
        })
        .collect()
}

#[test]
fn every_clusterlabs_parameter_is_offered_with_same_type_and_default() {
    for (name, agent) in agents() {
        if C_AGENTS.contains(&name) {
            continue; // see xvm_offers_every_clusterlabs_parameter
        }
        let reference = dir("fixtures/clusterlabs").join(format!("{name}.metadata.xml"));
        let Ok(theirs) = std::fs::read_to_string(&reference) else {
            continue; // variants share the base agent's reference
        };
        let ours = parameters_full(&metadata::xml(&agent.invoked_as(name)));
        for (pname, ptype, pdefault, prequired) in parameters_full(&theirs) {
            let mine = ours
                .iter()
                .find(|(n, _, _, _)| *n == pname)
                .unwrap_or_else(|| panic!("{name}: ClusterLabs parameter {pname} missing"));
            // A select is a stricter string (ClusterLabs fence_dummy declares `type` as string).
            let same_type = mine.1 == ptype || (ptype == "string" && mine.1 == "select");
            assert!(
                same_type,
                "{name}: {pname} is {} here, {ptype} in ClusterLabs",
                mine.1
            );
            assert_eq!(mine.2, pdefault, "{name}: default of {pname}");
            assert_eq!(mine.3, prequired, "{name}: required of {pname}");
        }
    }
}

/// ClusterLabs agents written in C with their own metadata conventions (every value a
/// string, action not required): compared by parameter name only.
const C_AGENTS: &[&str] = &["fence_xvm", "fence_virt"];

/// fence_xvm and fence_virt offer every parameter of ClusterLabs' C agents with the same
/// default (as text) except `domain` (their deprecated second spelling of the plug, not
/// offered) and fence_virt's `ipaddr`, which has no default here (without it ClusterLabs
/// falls back to serial mode, which we do not support yet).
#[test]
fn xvm_offers_every_clusterlabs_parameter() {
    for (name, agent) in [
        ("fence_xvm", fence_agents::agents::xvm::AGENT),
        ("fence_virt", fence_agents::agents::xvm::VIRT_AGENT),
    ] {
        let theirs = std::fs::read_to_string(
            dir("fixtures/clusterlabs").join(format!("{name}.metadata.xml")),
        )
        .unwrap();
        let ours = parameters(&metadata::xml(&agent.invoked_as(name)));
        for (pname, _, pdefault) in parameters(&theirs) {
            if pname == "domain" {
                continue;
            }
            let mine = ours
                .iter()
                .find(|(n, _, _)| *n == pname)
                .unwrap_or_else(|| panic!("{name}: ClusterLabs parameter {pname} missing"));
            // ClusterLabs writes flags' defaults as "0"; ours have none.
            let flag_zero = pdefault.as_deref() == Some("0") && mine.1 == "boolean";
            let no_default_here = name == "fence_virt" && pname == "ipaddr";
            if !(flag_zero || no_default_here) {
                assert_eq!(mine.2, pdefault, "{name}: default of {pname}");
            }
        }
    }
}

#[test]
fn variants_change_only_their_defaults() {
    let agent = fence_agents::agents::ipmilan::AGENT;
    let ilo3 = parameters(&metadata::xml(&agent.invoked_as("fence_ilo3")));
    let lanplus = ilo3.iter().find(|p| p.0 == "lanplus").unwrap();
    assert_eq!(lanplus.2.as_deref(), Some("1"));
    let wait = ilo3.iter().find(|p| p.0 == "power_wait").unwrap();
    assert_eq!(wait.2.as_deref(), Some("4"));
    let idrac = parameters(&metadata::xml(&agent.invoked_as("fence_idrac")));
    assert_eq!(
        idrac
            .iter()
            .find(|p| p.0 == "lanplus")
            .unwrap()
            .2
            .as_deref(),
        Some("0")
    );
}

/// fence_kdump is ClusterLabs' C agent with its own metadata layout: ours is kept as a
/// golden file and has exactly ClusterLabs' parameters (name, type, default, required).
#[test]
fn kdump_metadata_matches_golden_and_clusterlabs_parameters() {
    let xml = fence_agents::agents::kdump::metadata();
    let path = dir("golden").join("fence_kdump.xml");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &xml).unwrap();
    }
    assert_eq!(xml, std::fs::read_to_string(&path).unwrap());
    let theirs =
        std::fs::read_to_string(dir("fixtures/clusterlabs").join("fence_kdump.metadata.xml"))
            .unwrap();
    assert_eq!(parameters_full(&xml), parameters_full(&theirs));
}
