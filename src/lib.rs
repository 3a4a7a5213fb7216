//! palisade: the daemon and CLI of a fencing (STONITH) subsystem for Linux HA clusters.
//!
//! The fence agents themselves live in the `fence-agents` crate. Module map:
//! - [`fencer`]: devices, topology, the fencing state machine, agent executor, history.
pub mod fencer;
