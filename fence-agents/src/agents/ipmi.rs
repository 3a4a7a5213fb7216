//! IPMI power control over the network (RMCP+ "lanplus" and IPMI 1.5 "lan"), natively
//! through ipmi-rs: Get Chassis Status and Chassis Control as IPMI messages, no ipmitool.
//!
//! This module owns the device side only; the fence_ipmilan option table, its aliases
//! and defaults live in `agents::ipmilan`.

use std::time::Duration;

/// Everything needed to reach one BMC, already validated by the framework.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// RMCP+ cipher suite; `None` = 3 (or what the BMC offers best among those we speak).
    pub cipher: Option<u8>,
    /// Requested session privilege level.
    pub privilege: Privilege,
    /// IPMI 1.5 authentication type; `None` = best the BMC offers.
    pub auth: Option<AuthType>,
    /// Hexadecimal Kg key (IPMI 2.0 BMC key), if any.
    pub kg: Option<Vec<u8>>,
    /// Bridge requests to this IPMB address (`--target`).
    pub target: Option<u8>,
    /// How long to wait for one reply before retrying (ipmitool's `-N`).
    pub retransmit: Duration,
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
