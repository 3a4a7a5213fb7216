//! A native SNMP manager for the SNMP fence agents (fence_apc_snmp, fence_ifmib): no
//! net-snmp process is ever started.
//!
//! Module map:
//! - [`ber`]: BER encoding/decoding and object identifiers.
//! - [`message`]: values, PDUs, v1/v2c community messages, v3 messages and scoped PDUs.
//! - [`usm`]: RFC 3414/3826 crypto: key localisation, HMAC-MD5-96/HMAC-SHA-96, DES-CBC, AES-CFB-128.
//! - [`session`]: one agent over UDP under a deadline: v3 discovery, GET, SET, WALK.
//! - [`config`]: the ClusterLabs SNMP options and how they become a session.
//!
//! Written in-house rather than on the `snmp2` crate: its 0.5 line needs Rust 1.88
//! (edition 2024, let-chains) against this workspace's 1.80, its blocking session
//! fixes one socket timeout at creation (no per-operation deadline), never
//! retransmits, and fails on the first datagram that is not the answer.
pub mod ber;
pub mod config;
pub mod message;
pub mod session;
pub mod usm;

pub use ber::Oid;
pub use message::Value;
pub use session::{Security, SecurityLevel, Session, SnmpError, UsmUser};
