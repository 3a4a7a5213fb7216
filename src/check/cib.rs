//! What the checks need from a pacemaker CIB (`cibadmin -Q` output): the cluster options
//! `stonith-timeout` / `fencing-timeout`, `stonith-watchdog-timeout` /
//! `fencing-watchdog-timeout` and `priority-fencing-delay` (both spellings, the
//! pacemaker 3 name winning, as in palisade's fencer configuration), and each
//! `class="stonith"` primitive's agent, delays and fencing action timeouts.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::fencer::config::canonical_option;
use crate::fencer::duration::parse_duration;
use crate::fencer::hostmap::DelayBase;

/// `stonith-watchdog-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogTimeout {
    /// A span (0 = off).
    Span(Duration),
    /// Negative: twice the local SBD_WATCHDOG_TIMEOUT (lib/common/options.c).
    Auto,
}

/// One fence device of the CIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CibDevice {
    /// The primitive's id.
    pub id: String,
    /// Its type (`fence_sbd`, `fence_ipmilan`...).
    pub agent: String,
    /// The longest `pcmk_delay_base`.
    pub delay_base: Duration,
    /// `pcmk_delay_max`.
    pub delay_max: Duration,
    /// `pcmk_off_timeout`, `pcmk_reboot_timeout` when given.
    pub timeouts: BTreeMap<&'static str, Duration>,
}

/// The CIB's fencing timing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cib {
    /// `stonith-timeout`.
    pub fencing_timeout: Option<Duration>,
    /// `stonith-watchdog-timeout`.
    pub watchdog_timeout: Option<WatchdogTimeout>,
    /// `priority-fencing-delay`.
    pub priority_fencing_delay: Option<Duration>,
    /// The stonith primitives.
    pub devices: Vec<CibDevice>,
}

/// A CIB that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CibError {
    /// Not XML.
    #[error("CIB: not XML: {0}")]
    Xml(String),
    /// Not a CIB.
    #[error("CIB: the root element is <{0}>, not <cib>")]
    Root(String),
    /// A value that is not a span.
    #[error("CIB: {what} = '{value}': {reason}")]
    Value {
        /// Option or device parameter.
        what: String,
        /// As written.
        value: String,
        /// Why.
        reason: String,
    },
}

/// Parse the CIB's XML.
pub fn parse(xml: &str) -> Result<Cib, CibError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| CibError::Xml(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "cib" {
        return Err(CibError::Root(root.tag_name().name().to_string()));
    }
    let mut cib = Cib::default();
    let span = |what: &str, value: &str| {
        parse_duration(value).map_err(|e| CibError::Value {
            what: what.to_string(),
            value: value.to_string(),
            reason: e.to_string(),
        })
    };
    let crm_config = root
        .descendants()
        .filter(|n| n.has_tag_name("crm_config"))
        .flat_map(|c| c.descendants())
        .filter(|n| n.has_tag_name("nvpair"));
    // The pacemaker 3 name wins over the old one whatever the order.
    let mut options: Vec<(bool, &str, &str)> = crm_config
        .filter_map(|n| Some((n.attribute("name")?, n.attribute("value")?)))
        .map(|(name, value)| (name.starts_with("fencing"), name, value))
        .collect();
    options.sort_by_key(|(new, _, _)| *new);
    for (_, name, value) in options {
        let canonical = match name {
            "stonith-watchdog-timeout" | "fencing-watchdog-timeout" => "watchdog",
            other => canonical_option(other).unwrap_or(""),
        };
        match canonical {
            "fencing-timeout" => cib.fencing_timeout = Some(span(name, value)?),
            "priority-fencing-delay" => cib.priority_fencing_delay = Some(span(name, value)?),
            "watchdog" => {
                cib.watchdog_timeout = Some(if value.trim().starts_with('-') {
                    WatchdogTimeout::Auto
                } else {
                    WatchdogTimeout::Span(span(name, value)?)
                })
            }
            _ => {}
        }
    }
    for prim in root
        .descendants()
        .filter(|n| n.has_tag_name("primitive") && n.attribute("class") == Some("stonith"))
    {
        let id = prim.attribute("id").unwrap_or("").to_string();
        let params: BTreeMap<&str, &str> = prim
            .children()
            .filter(|n| n.has_tag_name("instance_attributes"))
            .flat_map(|ia| ia.children())
            .filter(|n| n.has_tag_name("nvpair"))
            .filter_map(|n| Some((n.attribute("name")?, n.attribute("value")?)))
            .collect();
        let what = |key: &str| format!("primitive {id} {key}");
        let delay_base = match params.get("pcmk_delay_base") {
            Some(v) => DelayBase::parse(v)
                .map_err(|e| CibError::Value {
                    what: what("pcmk_delay_base"),
                    value: v.to_string(),
                    reason: e.to_string(),
                })?
                .longest(),
            None => Duration::ZERO,
        };
        let delay_max = match params.get("pcmk_delay_max") {
            Some(v) => span(&what("pcmk_delay_max"), v)?,
            None => Duration::ZERO,
        };
        let mut timeouts = BTreeMap::new();
        for key in ["pcmk_off_timeout", "pcmk_reboot_timeout"] {
            if let Some(v) = params.get(key) {
                timeouts.insert(key, span(&what(key), v)?);
            }
        }
        cib.devices.push(CibDevice {
            agent: prim.attribute("type").unwrap_or("").to_string(),
            id,
            delay_base,
            delay_max,
            timeouts,
        });
    }
    Ok(cib)
}
