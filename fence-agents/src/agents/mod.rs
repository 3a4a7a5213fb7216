//! Device families. Each module implements [`crate::PowerDevice`] for one kind of device
//! and declares its agent ([`crate::agent::Agent`]).
pub mod apc_snmp;
// agents-cloud: cloud, virtualisation and fabric agents (issue 13).
pub mod aws;
pub mod cisco_mds;
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
pub mod xvm;
// CLI devices over SSH or telnet (src/cli).
pub mod apc;
pub mod bladecenter;
pub mod cyberpower;
pub mod drac5;
pub mod hpblade;
pub mod rsa;
pub mod wti;
