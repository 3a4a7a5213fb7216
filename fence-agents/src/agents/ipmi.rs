//! IPMI power control over the network (RMCP+ "lanplus" and IPMI 1.5 "lan"), natively:
//! Get Chassis Status and Chassis Control as IPMI messages, no ipmitool.
//!
//! This module owns the device side only ([`IpmiDevice`], a [`PowerDevice`]); the
//! fence_ipmilan option table, its aliases and defaults live in `agents::ipmilan`.
//!
//! Submodules: `cipher` (RMCP+ cipher suites), `crypto` (HMAC, AES, MD5), `wire`
//! (packet formats), `rakp` (RMCP+ handshake), all pure; `transport` (UDP with
//! deadline and retransmission), `login` (IPMI 1.5 and RMCP+ login) and `session`
//! (requests, privilege, logout) do the I/O.
//!
//! Facts: one BMC = one node, so there are no plugs and `list_plugs` is unsupported
//! (the framework prints `N/A`, as ClusterLabs does for port-less agents). Cipher
//! suites 0-3, 6-8 and 15-17 are spoken; with no `--cipher`, 3 is tried, then 17.
//! Suites 0-3 and 6 are tested against OpenIPMI's `ipmi_sim`; 3, 7, 8 and 15-17 are
//! cross-checked against ipmitool through a test BMC (`interop_tests`), since ipmi_sim
//! offers no SHA-256 and derives the MD5 suites' keys unlike ipmitool and FreeIPMI.
//! IPMI 1.5 auth types MD5, straight password and none are spoken (not MD2). The
//! password is never logged or formatted into any message.

mod cipher;
pub(crate) mod crypto;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod interop_tests;
mod login;
#[cfg(test)]
mod mock_bmc;
mod rakp;
mod session;
mod transport;
mod wire;

use std::time::Duration;

use ipmi_rs::connection::{Message, NetFn};

pub use cipher::SUPPORTED_CIPHER_SUITES;

use crate::device::{Deadline, DeviceError, PowerDevice, PowerState};
use session::Session;

/// Everything needed to reach one BMC, already validated by the framework.
#[derive(Clone, PartialEq, Eq)]
pub struct IpmiConfig {
    /// Host name or address of the BMC.
    pub host: String,
    /// UDP port (623).
    pub port: u16,
    /// User name; empty = anonymous/null user.
    pub username: String,
    /// Password; empty allowed.
    pub password: String,
    /// true: IPMI 2.0 RMCP+ (lanplus); false: IPMI 1.5 LAN.
    pub lanplus: bool,
    /// RMCP+ cipher suite; `None` = 3, then 17 if the BMC does not offer 3.
    pub cipher: Option<u8>,
    /// Requested session privilege level.
    pub privilege: Privilege,
    /// IPMI 1.5 authentication type; `None` = best the BMC offers (MD5, password, none).
    pub auth: Option<AuthType>,
    /// Hexadecimal Kg key (IPMI 2.0 BMC key), if any.
    pub kg: Option<Vec<u8>>,
    /// Bridge requests to this IPMB address (`--target`).
    pub target: Option<u8>,
    /// How long to wait for one reply before retrying (ipmitool's `-N`).
    pub retransmit: Duration,
}

impl std::fmt::Debug for IpmiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IpmiConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"[set]")
            .field("lanplus", &self.lanplus)
            .field("cipher", &self.cipher)
            .field("privilege", &self.privilege)
            .field("auth", &self.auth)
            .field("kg", &self.kg.as_ref().map(|_| "[set]"))
            .field("target", &self.target)
            .field("retransmit", &self.retransmit)
            .finish()
    }
}

/// `--privlvl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    Callback,
    User,
    Operator,
    Administrator,
}

/// `--auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Md5,
    Password,
    None,
}

/// Chassis NetFn commands.
const CMD_GET_CHASSIS_STATUS: u8 = 0x01;
const CMD_CHASSIS_CONTROL: u8 = 0x02;

/// Chassis Control request byte (IPMI v2.0 table 28-4; 0x03 hard reset and 0x05 soft
/// shutdown are not used by fencing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChassisControl {
    PowerDown = 0x00,
    PowerUp = 0x01,
    PowerCycle = 0x02,
    DiagnosticInterrupt = 0x04,
}

/// A logged-in session with one BMC, usable as a [`PowerDevice`]. Dropping it (or
/// [`IpmiDevice::close`]) closes the session on the BMC.
#[derive(Debug)]
pub struct IpmiDevice {
    session: Session,
}

impl IpmiDevice {
    /// Log in to the BMC of `cfg` at `cfg.privilege`. Every network step of this call
    /// and of later calls on the device ends by `deadline`.
    pub fn connect(cfg: &IpmiConfig, deadline: Deadline) -> Result<IpmiDevice, DeviceError> {
        Ok(IpmiDevice {
            session: Session::open(cfg, deadline)?,
        })
    }

    /// Close the session on the BMC now.
    pub fn close(mut self) {
        self.session.close();
    }

    fn chassis_control(&mut self, control: ChassisControl) -> Result<(), DeviceError> {
        let message =
            Message::new_request(NetFn::Chassis, CMD_CHASSIS_CONTROL, vec![control as u8]);
        let reply = self.session.request(&message, "Chassis Control")?;
        match (reply.completion, control) {
            (0, _) => Ok(()),
            // "Invalid command" / "invalid data field": this BMC has no such control.
            (0xC1 | 0xCC, ChassisControl::DiagnosticInterrupt) => {
                Err(DeviceError::Unsupported("diagnostic interrupt"))
            }
            (0xC1 | 0xCC, ChassisControl::PowerCycle) => {
                Err(DeviceError::Unsupported("power cycle"))
            }
            (cc, _) => Err(completion_error("Chassis Control", cc)),
        }
    }
}

impl PowerDevice for IpmiDevice {
    fn power_status(&mut self, _plug: Option<&str>) -> Result<PowerState, DeviceError> {
        let message = Message::new_request(NetFn::Chassis, CMD_GET_CHASSIS_STATUS, Vec::new());
        let reply = self.session.request(&message, "Get Chassis Status")?;
        if reply.completion != 0 {
            return Err(completion_error("Get Chassis Status", reply.completion));
        }
        power_state_of_chassis_status(&reply.data)
    }

    fn set_power(&mut self, _plug: Option<&str>, to: PowerState) -> Result<(), DeviceError> {
        self.chassis_control(match to {
            PowerState::On => ChassisControl::PowerUp,
            PowerState::Off => ChassisControl::PowerDown,
        })
    }

    fn power_cycle(&mut self, _plug: Option<&str>) -> Result<(), DeviceError> {
        self.chassis_control(ChassisControl::PowerCycle)
    }

    fn diag(&mut self, _plug: Option<&str>) -> Result<(), DeviceError> {
        self.chassis_control(ChassisControl::DiagnosticInterrupt)
    }

    fn set_deadline(&mut self, deadline: Deadline) {
        self.session.set_deadline(deadline);
    }

    // list_plugs: the trait's default (Unsupported): a BMC powers exactly one node.
}

/// Power state from a Get Chassis Status response: bit 0 of the current power state byte.
fn power_state_of_chassis_status(data: &[u8]) -> Result<PowerState, DeviceError> {
    match data.first() {
        Some(state) if state & 0x01 != 0 => Ok(PowerState::On),
        Some(_) => Ok(PowerState::Off),
        None => Err(DeviceError::Protocol(
            "empty Get Chassis Status response".into(),
        )),
    }
}

/// The error for a non-zero completion code of `what`.
fn completion_error(what: &str, cc: u8) -> DeviceError {
    if cc == 0xD4 {
        return DeviceError::InsufficientPrivilege(format!(
            "the BMC refused {what}: insufficient privilege level (completion code 0xD4)"
        ));
    }
    DeviceError::Protocol(format!(
        "{what} failed with completion code 0x{cc:02X} ({})",
        completion_text(cc)
    ))
}

/// Generic completion codes (IPMI v2.0 table 5-2).
fn completion_text(cc: u8) -> &'static str {
    match cc {
        0xC0 => "node busy",
        0xC1 => "invalid command",
        0xC2 => "command invalid for this LUN",
        0xC3 => "timeout while processing the command",
        0xC4 => "out of space",
        0xC5 => "reservation cancelled or invalid",
        0xC6 => "request data truncated",
        0xC7 => "request data length invalid",
        0xC8 => "request data field length limit exceeded",
        0xC9 => "parameter out of range",
        0xCA => "cannot return the number of requested bytes",
        0xCB => "requested sensor, data or record not present",
        0xCC => "invalid data field in request",
        0xCD => "command illegal for this sensor or record type",
        0xCE => "command response could not be provided",
        0xCF => "cannot execute duplicated request",
        0xD0..=0xD2 => "response unavailable (SDR update, firmware update or BMC initialising)",
        0xD3 => "destination unavailable",
        0xD4 => "insufficient privilege level",
        0xD5 => "command not supported in the present state",
        0xD6 => "command sub-function disabled or unavailable",
        0xFF => "unspecified error",
        0x80..=0xBE => "command-specific error",
        _ => "unknown completion code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chassis_status_bit_zero_is_power() {
        assert_eq!(
            power_state_of_chassis_status(&[0x01, 0, 0x40]),
            Ok(PowerState::On)
        );
        assert_eq!(
            power_state_of_chassis_status(&[0x60, 0, 0]),
            Ok(PowerState::Off)
        );
        assert!(matches!(
            power_state_of_chassis_status(&[]),
            Err(DeviceError::Protocol(_))
        ));
    }

    #[test]
    fn completion_codes_map_to_device_errors() {
        assert!(matches!(
            completion_error("Chassis Control", 0xD4),
            DeviceError::InsufficientPrivilege(_)
        ));
        let DeviceError::Protocol(text) = completion_error("Chassis Control", 0xCC) else {
            panic!("0xCC is a protocol error");
        };
        assert!(
            text.contains("0xCC") && text.contains("invalid data field"),
            "{text}"
        );
    }

    #[test]
    fn debug_of_config_hides_password_and_kg() {
        let cfg = IpmiConfig {
            host: "bmc".into(),
            port: 623,
            username: "admin".into(),
            password: "hunter2".into(),
            lanplus: true,
            cipher: Some(3),
            privilege: Privilege::Administrator,
            auth: None,
            kg: Some(b"bmckey".to_vec()),
            target: None,
            retransmit: Duration::from_secs(1),
        };
        let text = format!("{cfg:?}");
        assert!(
            !text.contains("hunter2") && !text.contains("bmckey"),
            "{text}"
        );
    }
}
