//! What the first bytes of a device say it holds: the magic numbers of the filesystems,
//! volume managers and partition tables an sbd device is most often confused with.
//! Pure functions on bytes read from the device; each check is ours, written from the
//! formats' public descriptions (offsets as blkid knows them).

use std::fmt;

use crate::format::MAGIC;

/// Bytes from the start of the device the checks need: the btrfs superblock at 64 KiB
/// and the swap signature at the end of a 64 KiB page, rounded up to whole 4 KiB.
pub const PROBE_LEN: usize = 64 * 1024 + 4096;

/// Page sizes whose swap signature is looked for (the signature ends the first page).
const SWAP_PAGE_SIZES: [usize; 5] = [4096, 8192, 16384, 32768, 65536];

/// A known kind of data found on the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signature {
    /// ext2/3/4 superblock magic 0xEF53 (little-endian) at byte 1080.
    Ext,
    /// XFS superblock magic `XFSB` at byte 0.
    Xfs,
    /// btrfs superblock magic `_BHRfS_M` at byte 65600.
    Btrfs,
    /// Linux swap signature `SWAPSPACE2` / `SWAP-SPACE` at the end of the first page.
    Swap { page_size: usize },
    /// LVM2 physical volume label `LABELONE` in one of the first four 512-byte sectors.
    Lvm2 { offset: usize },
    /// LUKS header magic `LUKS\xba\xbe` at byte 0.
    Luks,
    /// GPT header `EFI PART` at byte 512 (or 4096 on 4 KiB-sector disks).
    Gpt { offset: usize },
    /// MBR boot signature 0x55AA at byte 510 with at least one partition entry in use.
    Mbr,
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signature::Ext => f.write_str("an ext2/3/4 filesystem (magic 0xEF53 at byte 1080)"),
            Signature::Xfs => f.write_str("an XFS filesystem (magic \"XFSB\" at byte 0)"),
            Signature::Btrfs => {
                f.write_str("a btrfs filesystem (magic \"_BHRfS_M\" at byte 65600)")
            }
            Signature::Swap { page_size } => write!(
                f,
                "a swap area (signature at byte {}, page size {page_size})",
                page_size - 10
            ),
            Signature::Lvm2 { offset } => write!(
                f,
                "an LVM2 physical volume (label \"LABELONE\" at byte {offset})"
            ),
            Signature::Luks => f.write_str("a LUKS encrypted volume (magic at byte 0)"),
            Signature::Gpt { offset } => {
                write!(f, "a GPT partition table (\"EFI PART\" at byte {offset})")
            }
            Signature::Mbr => f.write_str(
                "a DOS (MBR) partition table or boot sector (0x55AA at byte 510, \
                 partition entries in use)",
            ),
        }
    }
}

/// Whether `bytes` (the start of a device) begin with an sbd header: such a device is
/// overwritten without asking, as ClusterLabs sbd does.
pub fn is_sbd(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Every signature found in `bytes`, the first [`PROBE_LEN`] bytes of the device (or
/// all of it when shorter; checks beyond the end find nothing).
pub fn find(bytes: &[u8]) -> Vec<Signature> {
    let at = |offset: usize, magic: &[u8]| {
        bytes
            .get(offset..offset + magic.len())
            .is_some_and(|b| b == magic)
    };
    let mut found = Vec::new();
    if at(0, b"LUKS\xba\xbe") {
        found.push(Signature::Luks);
    }
    if at(0, b"XFSB") {
        found.push(Signature::Xfs);
    }
    if let Some(offset) = [0, 512, 1024, 1536]
        .into_iter()
        .find(|&o| at(o, b"LABELONE"))
    {
        found.push(Signature::Lvm2 { offset });
    }
    if let Some(offset) = [512, 4096].into_iter().find(|&o| at(o, b"EFI PART")) {
        found.push(Signature::Gpt { offset });
    }
    if at(510, &[0x55, 0xaa]) && (0..4).any(|i| bytes.get(446 + 16 * i + 4) != Some(&0)) {
        found.push(Signature::Mbr);
    }
    if at(1080, &[0x53, 0xef]) {
        found.push(Signature::Ext);
    }
    if at(65600, b"_BHRfS_M") {
        found.push(Signature::Btrfs);
    }
    if let Some(page_size) = SWAP_PAGE_SIZES
        .into_iter()
        .find(|&p| at(p - 10, b"SWAPSPACE2") || at(p - 10, b"SWAP-SPACE"))
    {
        found.push(Signature::Swap { page_size });
    }
    found
}
