//! The SNMP options ClusterLabs' SNMP agents share (`--snmp-version`, `--community`,
//! `--snmp-auth-prot`, `--snmp-sec-level`, `--snmp-priv-prot`, `--snmp-priv-passwd`,
//! `--snmp-priv-passwd-script`, and the snmpget/snmpset/snmpwalk paths, which are accepted
//! and ignored since no net-snmp tool is ever run), and how validated options become a
//! [`Security`] and an address.
//!
//! v3 security level when `--snmp-sec-level` is not given: authPriv with a password and a
//! privacy password (as ClusterLabs), authNoPriv with a password only (ClusterLabs would
//! send noAuthNoPriv and ignore the password), else noAuthNoPriv. Protocols default to
//! MD5 and DES as in net-snmp.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::message::Version;
use super::session::{Security, SecurityLevel, Session, SnmpError, UsmUser};
use super::usm::{AuthProtocol, PrivProtocol};
use crate::device::{Deadline, DeviceError};
use crate::options::{self, Kind, OptionSpec};
use crate::params::{Params, UsageError};

/// Retransmit interval of every request (net-snmp's default timeout).
pub const RETRANSMIT: Duration = Duration::from_secs(1);

pub const COMMUNITY: OptionSpec =
    OptionSpec::text("community", "[community]", "Set the community string")
        .short('c')
        .secret();
pub const SNMP_VERSION: OptionSpec =
    OptionSpec::text("snmp_version", "[version]", "Specifies SNMP version to use")
        .short('d')
        .kind(Kind::Select(&["1", "2c", "3"]));
// Choices are lower case: the framework lower-cases a select's value before comparing
// (ClusterLabs prints MD5/SHA, noAuthNoPriv..., DES/AES and compares case-insensitively).
pub const SNMP_AUTH_PROT: OptionSpec =
    OptionSpec::text("snmp_auth_prot", "[prot]", "Set authentication protocol")
        .short('b')
        .kind(Kind::Select(&["MD5", "SHA"]));
pub const SNMP_SEC_LEVEL: OptionSpec =
    OptionSpec::text("snmp_sec_level", "[level]", "Set security level")
        .short('E')
        .kind(Kind::Select(&["noAuthNoPriv", "authNoPriv", "authPriv"]));
pub const SNMP_PRIV_PROT: OptionSpec =
    OptionSpec::text("snmp_priv_prot", "[prot]", "Set privacy protocol")
        .short('B')
        .kind(Kind::Select(&["DES", "AES"]));
pub const SNMP_PRIV_PASSWD: OptionSpec = OptionSpec::text(
    "snmp_priv_passwd",
    "[pass]",
    "Set privacy protocol password",
)
.short('P')
.secret();
pub const SNMP_PRIV_PASSWD_SCRIPT: OptionSpec = OptionSpec {
    metavar: None,
    ..OptionSpec::text(
        "snmp_priv_passwd_script",
        "",
        "Script to run to retrieve privacy password",
    )
    .short('R')
    .secret()
};
pub const SNMPGET_PATH: OptionSpec = OptionSpec::text(
    "snmpget_path",
    "[path]",
    "Path to snmpget binary (accepted for compatibility; palisade speaks SNMP natively)",
)
.default("/usr/bin/snmpget")
.order(1000);
pub const SNMPSET_PATH: OptionSpec = OptionSpec::text(
    "snmpset_path",
    "[path]",
    "Path to snmpset binary (accepted for compatibility; palisade speaks SNMP natively)",
)
.default("/usr/bin/snmpset")
.order(1000);
pub const SNMPWALK_PATH: OptionSpec = OptionSpec::text(
    "snmpwalk_path",
    "[path]",
    "Path to snmpwalk binary (accepted for compatibility; palisade speaks SNMP natively)",
)
.default("/usr/bin/snmpwalk")
.order(1000);

/// The whole option table of an SNMP agent (fence_apc_snmp, fence_ifmib...), in
/// ClusterLabs' order: the SNMP options with the common address, login and plug ones.
pub const AGENT_OPTIONS: &[OptionSpec] = &[
    COMMUNITY,
    options::IP,
    options::IPPORT,
    options::USERNAME,
    options::PASSWORD,
    options::PASSWORD_SCRIPT,
    options::PLUG,
    SNMP_AUTH_PROT,
    SNMP_PRIV_PASSWD,
    SNMP_PRIV_PASSWD_SCRIPT,
    SNMP_PRIV_PROT,
    SNMP_SEC_LEVEL,
    SNMP_VERSION,
    options::PLUG_SEPARATOR,
    options::SEPARATOR,
    SNMPGET_PATH,
    SNMPSET_PATH,
    SNMPWALK_PATH,
];

/// The SNMP version: `--snmp-version`, else (agents without a default, such as
/// fence_emerson) v3 with a user name and v2c without, as ClusterLabs completes it.
fn version(p: &Params) -> Version {
    match p.text("snmp_version") {
        Some("1") => Version::V1,
        Some("2c") => Version::V2c,
        Some("3") => Version::V3,
        _ if p.text("username").is_some() => Version::V3,
        _ => Version::V2c,
    }
}

fn has_priv_password(p: &Params) -> bool {
    p.text("snmp_priv_passwd").is_some() || p.text("snmp_priv_passwd_script").is_some()
}

fn has_password(p: &Params) -> bool {
    p.text("password").is_some() || p.text("password_script").is_some()
}

fn level(p: &Params) -> SecurityLevel {
    match p.text("snmp_sec_level") {
        Some("authPriv") => SecurityLevel::AuthPriv,
        Some("authNoPriv") => SecurityLevel::AuthNoPriv,
        Some(_) => SecurityLevel::NoAuthNoPriv,
        None if has_password(p) && has_priv_password(p) => SecurityLevel::AuthPriv,
        None if has_password(p) => SecurityLevel::AuthNoPriv,
        None => SecurityLevel::NoAuthNoPriv,
    }
}

/// The UDP port (`--ipport`, default from the agent's table).
fn port(p: &Params) -> Result<u16, UsageError> {
    let n = p.integer("ipport").unwrap_or(161);
    u16::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| UsageError::Invalid(format!("--ipport {n} is not a UDP port")))
}

/// Check that the options describe a usable SNMP target (before any script runs).
pub fn validate(p: &Params) -> Result<(), UsageError> {
    port(p)?;
    match version(p) {
        Version::V3 => {
            if p.text("username").is_none() {
                return Err(UsageError::NoLogin);
            }
            let level = level(p);
            if level != SecurityLevel::NoAuthNoPriv && !has_password(p) {
                return Err(UsageError::NoPassword);
            }
            if level == SecurityLevel::AuthPriv && !has_priv_password(p) {
                return Err(UsageError::Invalid(
                    "security level authPriv needs --snmp-priv-passwd or --snmp-priv-passwd-script"
                        .into(),
                ));
            }
        }
        v => {
            if p.text("community").is_none() {
                let name = if v == Version::V1 { "1" } else { "2c" };
                return Err(UsageError::Invalid(format!(
                    "You have to enter the community string (--community) for SNMP version {name}"
                )));
            }
        }
    }
    Ok(())
}

/// Run `--snmp-priv-passwd-script` through the shell; its stdout without trailing
/// whitespace is the privacy password.
fn priv_password_from_script(script: &str) -> Result<String, DeviceError> {
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| DeviceError::Protocol(format!("snmp-priv-passwd-script: {e}")))?;
    if !out.status.success() {
        return Err(DeviceError::Protocol(format!(
            "snmp-priv-passwd-script failed: {}",
            out.status
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// How requests are authorised, from validated options (runs the privacy password
/// script when one is given).
pub fn security(p: &Params) -> Result<Security, DeviceError> {
    let v = version(p);
    if v != Version::V3 {
        return Ok(Security::Community {
            version: v,
            community: p.text("community").unwrap_or_default().to_string(),
        });
    }
    let level = level(p);
    let priv_password = match (
        p.text("snmp_priv_passwd"),
        p.text("snmp_priv_passwd_script"),
    ) {
        (Some(pw), _) => pw.to_string(),
        (None, Some(script)) if level == SecurityLevel::AuthPriv => {
            priv_password_from_script(script)?
        }
        _ => String::new(),
    };
    Ok(Security::Usm(UsmUser {
        name: p.text("username").unwrap_or_default().to_string(),
        level,
        auth: match p.text("snmp_auth_prot") {
            Some("SHA") => AuthProtocol::Sha1,
            _ => AuthProtocol::Md5,
        },
        auth_password: p.text("password").unwrap_or_default().to_string(),
        privacy: match p.text("snmp_priv_prot") {
            Some("AES") => PrivProtocol::Aes128,
            _ => PrivProtocol::Des,
        },
        priv_password,
    }))
}

/// The DeviceError an SNMP failure is reported as.
pub fn device_error(e: SnmpError) -> DeviceError {
    use super::message::error_status as es;
    match e {
        SnmpError::Timeout { .. } => DeviceError::TimedOut(e.to_string()),
        SnmpError::Network { .. } | SnmpError::Refused { .. } => {
            DeviceError::ConnectionLost(e.to_string())
        }
        SnmpError::Usm(_) | SnmpError::Config(_) => DeviceError::LoginDenied(e.to_string()),
        SnmpError::Status {
            status:
                es::NO_SUCH_NAME
                | es::READ_ONLY
                | es::NO_ACCESS
                | es::NO_CREATION
                | es::AUTHORIZATION_ERROR
                | es::NOT_WRITABLE,
            ..
        } => DeviceError::InsufficientPrivilege(format!(
            "{e} (read-only community or user, or the object is not writable)"
        )),
        SnmpError::Status { .. } | SnmpError::Malformed(_) | SnmpError::NoSuchObject(_) => {
            DeviceError::Protocol(e.to_string())
        }
    }
}

/// Open a session with the device the options name, by `deadline`.
pub fn open_session(p: &Params, deadline: Deadline) -> Result<Session, DeviceError> {
    let port = port(p).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    let host = p
        .address()
        .ok_or_else(|| DeviceError::ConnectionLost("no device address".into()))?;
    let security = security(p)?;
    Session::open(host, port, security, RETRANSMIT, deadline).map_err(device_error)
}

/// How long one device operation after connecting may take: ClusterLabs gives each
/// snmp command login_timeout + shell_timeout.
pub fn operation_timeout(p: &Params) -> Duration {
    (p.timing.login_timeout + p.timing.shell_timeout).max(Duration::from_secs(1))
}
