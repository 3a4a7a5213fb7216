//! ClusterLabs-compatible fence agents over one shared framework.
//!
//! Module map:
//! - [`device`]: the `PowerDevice` trait each device family implements, `Deadline`, `DeviceError`.
//! - [`agents`]: one module per device family (IPMI, ...), each a `PowerDevice` plus its option table.
pub mod agents;
pub mod device;

pub use device::{Deadline, DeviceError, Plug, PowerDevice, PowerState};
