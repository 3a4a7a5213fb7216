//! SBD: poison-pill slots on shared storage, byte-compatible with ClusterLabs sbd.
//!
//! This crate owns the on-disk format ([`format`]: header, slot and mailbox sectors), the
//! block device access, the disk operations and the sbd(8) command line, and the
//! [`inquisitor`] that decides whether to pet the watchdog. The per-device servant and
//! the daemon are planned.
pub mod blockdev;
pub mod cli;
pub mod disk;
pub mod format;
pub mod inquisitor;
