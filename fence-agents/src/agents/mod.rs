//! Device families. Each module implements [`crate::PowerDevice`] for one kind of device.
pub mod ipmi;
