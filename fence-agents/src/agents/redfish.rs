//! `fence_redfish`: fencing through a BMC's Redfish API (iDRAC, iLO, XCC, OpenBMC...),
//! with ClusterLabs' option names and defaults. This module holds the option table, the
//! validation of `--ip`/URIs and how the options become a [`RedfishDevice`]; the parts:
//!
//! - `endpoint`: `--ip`/`--ipport` → scheme, host, port; same-origin URLs.
//! - `resource`: reading Redfish JSON; which `ResetType` does what we want.
//! - `http`: the HTTPS exchange (reqwest + rustls), errors in an admin's words.
//! - `device`: [`RedfishDevice`], the [`PowerDevice`] the framework drives.
//!
//! Differences from ClusterLabs' agent: plain HTTP is available by writing the address
//! as `http://host[:port]` (ClusterLabs always uses HTTPS); a Systems collection with
//! several members is refused instead of silently fencing the last one; `--method
//! cycle` is accepted; a BMC that rejects a power command is a failure (ClusterLabs
//! ignores the HTTP status); every request has a timeout.

mod device;
mod endpoint;
pub(crate) mod http;
mod resource;

use std::time::Duration;

pub use device::RedfishDevice;
pub use endpoint::{Endpoint, Scheme};

use crate::agent::{Agent, Plugs};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::log::AgentLog;
use crate::options::{self, OptionSpec};
use crate::params::{Action, Params, UsageError};
use http::{Http, HttpConfig};

const IP: OptionSpec = OptionSpec::text(
    "ip",
    "[ip]",
    "IP address or hostname of fencing device: host, host:port or [ipv6]:port, HTTPS by \
     default; write http://host[:port] for a service without TLS",
)
.short('a')
.alias("ipaddr");
const USERNAME: OptionSpec = OptionSpec {
    required: true,
    ..options::USERNAME
};
const PLUG: OptionSpec = OptionSpec::text(
    "plug",
    "[ip]",
    "IP address or hostname of fencing device (together with --port-as-ip)",
)
.short('n')
.alias("port");
const REDFISH_URI: OptionSpec =
    OptionSpec::text("redfish_uri", "[uri]", "Base or starting Redfish URI")
        .alias("redfish-uri")
        .default("/redfish/v1");
const SYSTEMS_URI: OptionSpec = OptionSpec::text(
    "systems_uri",
    "[uri]",
    "Redfish Systems resource URI, i.e. /redfish/v1/Systems/System.Embedded.1 (default: the \
     only member of the Systems collection)",
)
.alias("systems-uri");
const SSL: OptionSpec =
    OptionSpec::flag("ssl", "Use SSL connection with verifying certificate").short('z');
const GNUTLSCLI_PATH: OptionSpec = OptionSpec::text(
    "gnutlscli_path",
    "[path]",
    "Path to gnutls-cli binary (accepted for compatibility; not used)",
)
.default("/usr/bin/gnutls-cli")
.order(211);

const OPTIONS: &[OptionSpec] = &[
    IP,
    options::IPPORT,
    USERNAME,
    options::PASSWORD,
    options::PASSWORD_SCRIPT,
    REDFISH_URI,
    SYSTEMS_URI,
    SSL,
    options::SSL_SECURE,
    options::SSL_INSECURE,
    options::METHOD,
    PLUG,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    options::PORT_AS_IP,
    GNUTLSCLI_PATH,
];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_redfish",
    shortdesc: "I/O Fencing agent for Redfish",
    longdesc: "fence_redfish is an I/O Fencing agent which can be used with Out-of-Band \
        controllers that support Redfish APIs. These controllers provide remote access to \
        control power on a server. It speaks HTTPS with certificate verification unless \
        --ssl-insecure is given (plain HTTP only for an address written http://host). \
        Without --systems-uri the Systems collection must hold exactly one system. Power \
        off uses ResetType ForceOff, on uses On, --method cycle ForceRestart and diag Nmi \
        (or the closest hard reset type the BMC allows; never a graceful one).",
    vendor_url: "http://www.dmtf.org",
    variants: &[],
    options: OPTIONS,
    defaults: &[("ipport", "443"), ("ssl", "1")],
    default_action: "reboot",
    plugs: Plugs::Systems,
    needs_address: true,
    needs_login: true,
    needs_password: true,
    can_cycle: true,
    can_diag: true,
    has_status: true,
    validate,
    connect,
};

/// Everything the options say about the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub endpoint: Endpoint,
    pub insecure: bool,
    pub redfish_uri: String,
    pub systems_uri: Option<String>,
    /// Bound of each request after connecting.
    pub request_timeout: Duration,
}

/// The service the options describe.
pub fn config(p: &Params) -> Result<Config, UsageError> {
    let ip = p.address().ok_or(UsageError::NoAddress)?;
    let ipport = if p.given("ipport") {
        let port = p
            .integer("ipport")
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| *n != 0)
            .ok_or_else(|| UsageError::Invalid("--ipport must be a port number 1-65535".into()))?;
        Some(port)
    } else {
        None
    };
    let endpoint = Endpoint::parse(ip, ipport).map_err(|e| UsageError::Invalid(e.to_string()))?;
    if endpoint.scheme == Scheme::Http && (p.flag("ssl_secure") || p.flag("ssl_insecure")) {
        return Err(UsageError::Invalid(format!(
            "--ip {ip} asks for plain HTTP, which contradicts --ssl-secure/--ssl-insecure"
        )));
    }
    let timing = p.timing;
    Ok(Config {
        endpoint,
        insecure: p.flag("ssl_insecure"),
        redfish_uri: p.text("redfish_uri").unwrap_or("/redfish/v1").to_string(),
        systems_uri: p.text("systems_uri").map(str::to_string),
        request_timeout: timing.login_timeout.max(timing.shell_timeout),
    })
}

fn validate(p: &Params) -> Result<(), UsageError> {
    config(p).map(|_| ())
}

/// Our own log for request tracing, at the levels and into the debug file the framework
/// uses (which the framework already opened, so a failure here cannot be new; without
/// the file the trace still reaches stderr).
fn request_log(p: &Params) -> AgentLog {
    let mut log = AgentLog::with_verbosity(p.quiet, p.verbose);
    if let Some(path) = p.text("debug_file") {
        let _ = log.open_debug_file(path);
    }
    log
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let cfg = config(p).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    let http = Http::new(
        HttpConfig {
            endpoint: cfg.endpoint.clone(),
            username: p.text("username").unwrap_or_default().to_string(),
            password: p.text("password").unwrap_or_default().to_string(),
            insecure: cfg.insecure,
        },
        request_log(p),
    )?;
    let mut device = RedfishDevice::new(
        http,
        &cfg.redfish_uri,
        cfg.systems_uri.as_deref(),
        cfg.request_timeout,
    );
    // Listing needs no particular system (and must work where discovery is ambiguous).
    if !matches!(p.action, Action::List | Action::ListStatus) {
        device.login(deadline)?;
    }
    Ok(Box::new(device))
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod tests;
