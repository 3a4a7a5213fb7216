//! `fence_ipmilan` and its ClusterLabs aliases (fence_ipmilanplus, fence_ilo3/4/5,
//! fence_imm, fence_idrac): the option table with the same names and defaults, and how
//! the options become an [`IpmiConfig`]. The BMC itself is spoken to natively by
//! `agents::ipmi`; `--ipmitool-path` and `--use-sudo` are accepted for compatibility
//! and ignored, since no ipmitool process is ever started.

use std::time::Duration;

use crate::agent::{Agent, Plugs, Variant};
use crate::agents::ipmi::{AuthType, IpmiConfig, IpmiDevice, Privilege};
use crate::device::{Deadline, DeviceError, PowerDevice};
use crate::options::{self, Kind, OptionSpec};
use crate::params::{parse_seconds, Params, UsageError, MAX_SECONDS};

const LANPLUS: OptionSpec =
    OptionSpec::flag("lanplus", "Use Lanplus to improve security of connection")
        .short('P')
        .default("0");
const AUTH: OptionSpec = OptionSpec::text("auth", "[auth]", "IPMI Lan Auth type.")
    .short('A')
    .kind(Kind::Select(&["md5", "password", "none"]));
const CIPHER: OptionSpec = OptionSpec::text(
    "cipher",
    "[cipher]",
    "Ciphersuite to use (same as ipmitool -C parameter)",
)
.short('C');
const PRIVLVL: OptionSpec =
    OptionSpec::text("privlvl", "[level]", "Privilege level on IPMI device")
        .short('L')
        .kind(Kind::Select(&[
            "callback",
            "user",
            "operator",
            "administrator",
        ]))
        .default("administrator");
const TARGET: OptionSpec = OptionSpec::text(
    "target",
    "[targetaddress]",
    "Bridge IPMI requests to the remote target address",
);
const HEXADECIMAL_KG: OptionSpec = OptionSpec::text(
    "hexadecimal_kg",
    "[key]",
    "Hexadecimal-encoded Kg key for IPMIv2 authentication",
)
.secret();
const PLUG: OptionSpec = OptionSpec::text(
    "plug",
    "[ip]",
    "IP address or hostname of fencing device (together with --port-as-ip)",
)
.short('n')
.alias("port");
const IPMITOOL_PATH: OptionSpec = OptionSpec::text(
    "ipmitool_path",
    "[path]",
    "Path to ipmitool binary (accepted for compatibility; palisade speaks IPMI natively)",
)
.default("/usr/bin/ipmitool")
.order(200);
const IPMITOOL_TIMEOUT: OptionSpec = OptionSpec::text(
    "ipmitool_timeout",
    "[timeout]",
    "Timeout (sec) for IPMI operation",
)
.default("2")
.order(201);

const OPTIONS: &[OptionSpec] = &[
    AUTH,
    CIPHER,
    HEXADECIMAL_KG,
    options::IP,
    options::IPPORT,
    LANPLUS,
    options::USERNAME,
    options::METHOD,
    options::PASSWORD,
    options::PASSWORD_SCRIPT,
    PLUG,
    PRIVLVL,
    TARGET,
    options::PLUG_SEPARATOR,
    IPMITOOL_PATH,
    options::PORT_AS_IP,
    IPMITOOL_TIMEOUT,
    options::USE_SUDO,
    options::SUDO_PATH,
];

const LANPLUS_ON: &[(&str, &str)] = &[("lanplus", "1")];

/// The agent.
pub const AGENT: Agent = Agent {
    name: "fence_ipmilan",
    shortdesc: "Fence agent for IPMI",
    longdesc: "fence_ipmilan is an I/O Fencing agent which can be used with machines \
        controlled by IPMI. This implementation speaks IPMI 1.5 and IPMI 2.0 RMCP+ \
        (lanplus) natively, without starting ipmitool. WARNING! With -m/method cycle the \
        agent might report success before the node is powered off. You should use \
        -m/method onoff if your fence device works correctly with that option.",
    vendor_url: "",
    variants: &[
        Variant {
            name: "fence_ilo3",
            shortdesc: "Fence agent for HP iLO3",
            defaults: &[("lanplus", "1"), ("power_wait", "4")],
        },
        Variant {
            name: "fence_ilo4",
            shortdesc: "Fence agent for HP iLO4",
            defaults: LANPLUS_ON,
        },
        Variant {
            name: "fence_ilo5",
            shortdesc: "Fence agent for HP iLO5",
            defaults: LANPLUS_ON,
        },
        Variant {
            name: "fence_ipmilanplus",
            shortdesc: "Fence agent for IPMIv2 lanplus",
            defaults: LANPLUS_ON,
        },
        Variant {
            name: "fence_imm",
            shortdesc: "Fence agent for IBM Integrated Management Module",
            defaults: &[],
        },
        Variant {
            name: "fence_idrac",
            shortdesc: "Fence agent for Dell iDRAC",
            defaults: &[],
        },
    ],
    options: OPTIONS,
    defaults: &[("ipport", "623"), ("power_wait", "2")],
    default_action: "reboot",
    plugs: Plugs::None,
    needs_address: true,
    needs_login: false,
    needs_password: false,
    can_cycle: true,
    can_diag: true,
    has_status: true,
    validate,
    connect,
};

fn validate(p: &Params) -> Result<(), UsageError> {
    config(p).map(|_| ())
}

fn connect(p: &Params, deadline: Deadline) -> Result<Box<dyn PowerDevice>, DeviceError> {
    let cfg = config(p).map_err(|e| DeviceError::Protocol(e.to_string()))?;
    Ok(Box::new(IpmiDevice::connect(&cfg, deadline)?))
}

fn parse_u8(text: &str) -> Option<u8> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    if t.is_empty() || !t.len().is_multiple_of(2) || t.len() > 40 {
        return None;
    }
    (0..t.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&t[i..i + 2], 16).ok())
        .collect()
}

/// The BMC connection the options describe.
pub fn config(p: &Params) -> Result<IpmiConfig, UsageError> {
    let cipher = match p.text("cipher") {
        None => None,
        Some(c) => Some(parse_u8(c).filter(|n| *n <= 17).ok_or_else(|| {
            UsageError::Invalid(format!(
                "--cipher must be an IPMI cipher suite number 0-17, not '{c}'"
            ))
        })?),
    };
    let kg = match p.text("hexadecimal_kg") {
        None => None,
        Some(k) => Some(parse_hex(k).ok_or_else(|| {
            UsageError::Invalid("--hexadecimal-kg must be up to 20 bytes in hexadecimal".into())
        })?),
    };
    let target = match p.text("target") {
        None => None,
        Some(t) => Some(parse_u8(t).ok_or_else(|| {
            UsageError::Invalid(format!(
                "--target must be an IPMB address such as 0x82, not '{t}'"
            ))
        })?),
    };
    let retransmit = p
        .text("ipmitool_timeout")
        .map(|t| {
            parse_seconds(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    UsageError::Invalid(format!(
                        "--ipmitool-timeout must be a positive number of seconds up to \
                         {MAX_SECONDS}, not '{t}'"
                    ))
                })
        })
        .transpose()?
        .unwrap_or(Duration::from_secs(2));
    let port = match p.integer("ipport") {
        Some(n) => u16::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| UsageError::Invalid(format!("--ipport {n} is not a UDP port")))?,
        None => 623,
    };
    let privilege = match p.text("privlvl").unwrap_or("administrator") {
        "callback" => Privilege::Callback,
        "user" => Privilege::User,
        "operator" => Privilege::Operator,
        _ => Privilege::Administrator,
    };
    let auth = p.text("auth").map(|a| match a {
        "md5" => AuthType::Md5,
        "password" => AuthType::Password,
        _ => AuthType::None,
    });
    Ok(IpmiConfig {
        host: p.address().unwrap_or_default().to_string(),
        port,
        username: p.text("username").unwrap_or_default().to_string(),
        password: p.text("password").unwrap_or_default().to_string(),
        lanplus: p.flag("lanplus"),
        cipher,
        privilege,
        auth,
        kg,
        target,
        retransmit,
    })
}
