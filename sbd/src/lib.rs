//! SBD: poison-pill slots on shared storage, byte-compatible with ClusterLabs sbd.
//!
//! This crate will own the on-disk format (header, slot and mailbox sectors), the block
//! device access, the per-device servant, the inquisitor that decides whether to pet the
//! watchdog, and the sbd(8) command line.
pub mod inquisitor;
