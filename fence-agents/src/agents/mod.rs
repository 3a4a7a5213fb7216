//! Device families. Each module implements [`crate::PowerDevice`] for one kind of device
//! and declares its agent ([`crate::agent::Agent`]).
pub mod apc_snmp;
pub mod dummy;
pub mod heuristics_ping;
pub mod ifmib;
pub mod ilo_ssh;
pub mod ipmi;
pub mod ipmilan;
pub mod kdump;
pub mod redfish;
pub mod sbd;
pub mod virsh;
