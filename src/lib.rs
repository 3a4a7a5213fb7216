//! palisade: the daemon and CLI of a fencing (STONITH) subsystem for Linux HA clusters.
//!
//! The fence agents themselves live in the `fence-agents` crate. Module map:
//! - [`cluster`]: membership, quorum and fence-before-failover decisions (pure).
//! - [`fencer`]: devices, topology, the fencing state machine, agent executor, history.
pub mod cluster;
pub mod fencer;
