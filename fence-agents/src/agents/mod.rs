//! Device families. Each module implements [`crate::PowerDevice`] for one kind of device
//! and declares its agent ([`crate::agent::Agent`]).
pub mod apc_snmp;
pub mod dummy;
pub mod eaton_snmp;
pub mod emerson;
pub mod heuristics_ping;
pub mod ibmblade;
pub mod ifmib;
pub mod ilo_ssh;
pub mod intelmodular;
pub mod ipdu;
pub mod ipmi;
pub mod ipmilan;
pub mod kdump;
pub mod lindypdu;
pub mod redfish;
pub mod sbd;
pub mod snmp_table;
pub mod virsh;
// CLI devices over SSH or telnet (src/cli).
pub mod apc;
pub mod bladecenter;
pub mod cyberpower;
pub mod drac5;
pub mod hpblade;
pub mod rsa;
pub mod wti;
