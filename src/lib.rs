//! palisade: the daemon and CLI of a fencing (STONITH) subsystem for Linux HA clusters.
//!
//! The fence agents themselves live in the `fence-agents` crate; this crate will grow the
//! fencer (devices, topology, dispatch, history, API) and the cluster core.
