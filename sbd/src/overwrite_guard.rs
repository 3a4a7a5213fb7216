//! The device safety probe `create` runs before it writes: refuse a device that is in
//! use or holds data someone may still want.
//!
//! ClusterLabs sbd's `create` overwrites whatever the device holds, a mounted filesystem
//! included, without a word. palisade-sbd first looks:
//!
//! * [`usage`]: is the device (one of its partitions, or for an image file a loop device
//!   attached to it) mounted, active swap, held by device-mapper / md, or refused to an
//!   exclusive open? Then `create` is refused, also with `--force`: overwriting storage
//!   under a running user corrupts both. Unmount or release it first.
//! * [`signatures`]: do its first sectors carry a filesystem, swap, LVM2, LUKS or
//!   partition table signature? Then `create` is refused unless `--force` is given.
//!
//! A device whose sector 0 already holds an sbd header, and an all-zero device, are
//! created without asking, so ClusterLabs scripts calling `sbd -d DEV create` keep
//! working.

pub mod signatures;
pub mod usage;

use std::io;

use crate::blockdev::{BlockDevError, BlockDevice};
pub use signatures::Signature;
pub use usage::{KernelTables, Usage, UsageKind};

/// Looks up who uses the device or image at a path (in production [`usage::find`] on
/// the kernel's tables).
pub type UsageProbe<'a> = &'a dyn Fn(&str) -> io::Result<Vec<Usage>>;

/// Why `create` will not overwrite a device.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{path} is in use: {}; create would overwrite it under its user. Unmount or \
         release it first (--force does not override this)",
        usages.iter().map(|u| u.describe_for(path)).collect::<Vec<_>>().join("; ")
    )]
    InUse { path: String, usages: Vec<Usage> },
    #[error(
        "{path} holds {}; create would destroy it. Check that this is the right device; \
         to overwrite it anyway give --force (create --force)",
        list(signatures)
    )]
    HoldsData {
        path: String,
        signatures: Vec<Signature>,
    },
    #[error("{path}: cannot tell whether the device is in use ({source}); not overwriting it")]
    UsageUnknown {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: cannot read the start of the device to check what it holds: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: BlockDevError,
    },
}

fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Check `device`, opened from `path`, before `create` overwrites it. `force` lets a
/// device with a signature through, never one in use.
pub fn check(
    path: &str,
    device: &dyn BlockDevice,
    usage: UsageProbe<'_>,
    force: bool,
) -> Result<(), Refusal> {
    let usages = usage(path).map_err(|source| Refusal::UsageUnknown {
        path: path.to_owned(),
        source,
    })?;
    if !usages.is_empty() {
        return Err(Refusal::InUse {
            path: path.to_owned(),
            usages,
        });
    }
    if force {
        return Ok(());
    }
    let start = read_start(device).map_err(|source| Refusal::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    if signatures::is_sbd(&start) {
        return Ok(());
    }
    let found = signatures::find(&start);
    if found.is_empty() {
        return Ok(());
    }
    Err(Refusal::HoldsData {
        path: path.to_owned(),
        signatures: found,
    })
}

/// The first [`signatures::PROBE_LEN`] bytes of the device, or all of a smaller one.
fn read_start(device: &dyn BlockDevice) -> Result<Vec<u8>, BlockDevError> {
    let sector_size = device.sector_size().max(1);
    let wanted = signatures::PROBE_LEN.div_ceil(sector_size) as u64;
    let count = wanted.min(device.sector_count()?);
    device.read_sectors(0, count)
}

#[cfg(test)]
mod tests;
