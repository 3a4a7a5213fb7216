//! SBD: poison-pill slots on shared storage, byte-compatible with ClusterLabs sbd.
//!
//! This crate owns the on-disk format ([`format`]: header, slot and mailbox sectors, plus
//! our CRC32 integrity field in bytes sbd leaves zero, [`format::check`]), the block
//! device access, the disk operations and the sbd(8) command line (with `ping`,
//! `query-watchdog` and `test-watchdog`), and the [`inquisitor`] that decides whether to
//! pet the watchdog, the per-device [`servant`]s that read this node's mailbox, the
//! cluster-side servants of sbd's pacemaker integration ([`pacemaker_servant`],
//! [`cluster_servant`]; the stack's libraries are loaded with [`dynlib`]), and the
//! [`daemon`] (`watch`) that drives them. [`overwrite_guard`] keeps `create` off devices
//! that are in use or hold data.
pub mod blockdev;
pub mod cli;
pub mod cluster_servant;
pub mod daemon;
pub mod disk;
pub mod dynlib;
pub mod format;
pub mod inquisitor;
pub mod overwrite_guard;
pub mod pacemaker_servant;
pub mod servant;
