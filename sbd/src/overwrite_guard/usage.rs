//! Who uses a device right now, from what the kernel publishes: mounts
//! (`/proc/self/mountinfo`), active swap (`/proc/swaps`), device-mapper / md devices
//! stacked on it (`/sys/dev/block/MAJ:MIN/holders`), and for a block device an
//! exclusive open (`O_EXCL`, which the kernel refuses while the device is mounted in
//! any mount namespace, used as swap or held by device-mapper or md).
//!
//! A block device is checked with its partitions. A regular file (an image) is checked
//! through the loop devices attached to it (found by their `backing_file` in sysfs and
//! compared by device and inode), and as a swap file.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::format::escape_bytes;

/// A use of the device (or of a partition or loop device over it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The block device in use: the device itself, one of its partitions, or a loop
    /// device attached to the image.
    pub device: String,
    /// `device` is a loop device attached to the image that was asked about.
    pub via_loop: bool,
    pub kind: UsageKind,
}

/// How a device is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageKind {
    /// Mounted (a line of /proc/self/mountinfo), on this mount point.
    Mounted { mount_point: String },
    /// Active swap (a line of /proc/swaps).
    Swap,
    /// Device-mapper or md devices sit on it (sysfs `holders`).
    Held { holders: Vec<String> },
    /// The kernel refused an exclusive open (EBUSY).
    Busy,
}

impl Usage {
    /// What it means for the device or image at `path`: just the kind when `device` is
    /// that path, else which device is used and how.
    pub fn describe_for(&self, path: &str) -> String {
        if self.device == path && !self.via_loop {
            return self.kind.to_string();
        }
        let attached = if self.via_loop {
            " (attached to it)"
        } else {
            ""
        };
        format!("{}{attached} is {}", self.device, self.kind)
    }
}

impl fmt::Display for UsageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageKind::Mounted { mount_point } => write!(f, "mounted on {mount_point}"),
            UsageKind::Swap => f.write_str("active swap"),
            UsageKind::Held { holders } => {
                write!(f, "held by {} (device-mapper or md)", holders.join(", "))
            }
            UsageKind::Busy => f.write_str(
                "busy: the kernel refused an exclusive open (mounted in another mount \
                 namespace, swap, device-mapper or md)",
            ),
        }
    }
}

/// Where the kernel's tables are read (`/proc`, `/sys`): the real ones in production.
#[derive(Debug, Clone)]
pub struct KernelTables {
    pub proc: PathBuf,
    pub sys: PathBuf,
}

impl Default for KernelTables {
    fn default() -> KernelTables {
        KernelTables {
            proc: PathBuf::from("/proc"),
            sys: PathBuf::from("/sys"),
        }
    }
}

/// A block device number as the kernel prints it (`MAJ:MIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevNum {
    pub major: u32,
    pub minor: u32,
}

impl DevNum {
    fn of(rdev: u64) -> DevNum {
        DevNum {
            major: libc::major(rdev),
            minor: libc::minor(rdev),
        }
    }

    /// `MAJ:MIN`.
    pub fn parse(text: &str) -> Option<DevNum> {
        let (major, minor) = text.trim().split_once(':')?;
        Some(DevNum {
            major: major.parse().ok()?,
            minor: minor.parse().ok()?,
        })
    }
}

impl fmt::Display for DevNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// One line of /proc/self/mountinfo, as far as the probe needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub dev: DevNum,
    /// Mount point, octal escapes (`\040`) decoded, then escaped for printing.
    pub mount_point: String,
    /// The mount source (`/dev/sdb1`, ...), decoded; a btrfs mount shows an anonymous
    /// device number, so the source is compared too.
    pub source: String,
}

/// The entries of a mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dev = DevNum::parse(fields.get(2)?)?;
            let mount_point = escape_bytes(&unescape_octal(fields.get(4)?));
            let separator = fields.iter().position(|f| *f == "-")?;
            let source =
                String::from_utf8_lossy(&unescape_octal(fields.get(separator + 2)?)).into_owned();
            Some(MountEntry {
                dev,
                mount_point,
                source,
            })
        })
        .collect()
}

/// The file names of a /proc/swaps text (header line skipped), decoded.
pub fn parse_swaps(text: &str) -> Vec<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| PathBuf::from(std::ffi::OsString::from_vec(unescape_octal(name))))
        .collect()
}

/// Decode the kernel's `\NNN` octal escapes (space, tab, newline, backslash).
fn unescape_octal(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let digits = bytes.get(i + 1..i + 4);
        if bytes[i] == b'\\' {
            if let Some(value) = digits
                .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)))
                .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok())
            {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The uses of the device or image at `path` (empty when it is free).
pub fn find(path: &str, tables: &KernelTables) -> io::Result<Vec<Usage>> {
    let meta = fs::metadata(path)?;
    let file_type = meta.file_type();
    if file_type.is_block_device() {
        let dev = DevNum::of(meta.rdev());
        return block_usage(tables, Path::new(path), path, dev, false);
    }
    if !file_type.is_file() {
        return Ok(Vec::new()); // the device layer refuses it with its own error
    }
    let mut usages = Vec::new();
    let swaps = read_or_empty(&tables.proc.join("swaps"))?;
    for name in parse_swaps(&swaps) {
        if fs::metadata(&name).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino()) {
            usages.push(Usage {
                device: path.to_owned(),
                via_loop: false,
                kind: UsageKind::Swap,
            });
        }
    }
    for (name, dev) in loops_backed_by(tables, meta.dev(), meta.ino())? {
        let node = PathBuf::from("/dev").join(&name);
        let shown = node.display().to_string();
        usages.extend(block_usage(tables, &node, &shown, dev, true)?);
    }
    Ok(usages)
}

/// Mounts, swap and holders of a block device and its partitions, then (when nothing
/// was found) an exclusive open of `node`.
fn block_usage(
    tables: &KernelTables,
    node: &Path,
    shown: &str,
    dev: DevNum,
    via_loop: bool,
) -> io::Result<Vec<Usage>> {
    let mut devices = vec![(shown.to_owned(), dev)];
    devices.extend(partitions(tables, dev)?);
    let mounts = parse_mountinfo(&read_table(&tables.proc.join("self/mountinfo"))?);
    let swaps = parse_swaps(&read_or_empty(&tables.proc.join("swaps"))?);
    let mut usages = Vec::new();
    for (device, number) in &devices {
        let usage = |kind| Usage {
            device: device.clone(),
            via_loop,
            kind,
        };
        for mount in &mounts {
            let same_source = || {
                mount.source.starts_with('/')
                    && block_number(Path::new(&mount.source)) == Some(*number)
            };
            if mount.dev == *number || same_source() {
                usages.push(usage(UsageKind::Mounted {
                    mount_point: mount.mount_point.clone(),
                }));
            }
        }
        if swaps.iter().any(|s| block_number(s) == Some(*number)) {
            usages.push(usage(UsageKind::Swap));
        }
        let holders = list_dir(&sys_block(tables, *number).join("holders"))?;
        if !holders.is_empty() {
            usages.push(usage(UsageKind::Held { holders }));
        }
    }
    if usages.is_empty() && exclusive_open_refused(node) {
        usages.push(Usage {
            device: shown.to_owned(),
            via_loop,
            kind: UsageKind::Busy,
        });
    }
    Ok(usages)
}

/// The device number of a block device node, if `path` is one.
fn block_number(path: &Path) -> Option<DevNum> {
    let meta = fs::metadata(path).ok()?;
    meta.file_type()
        .is_block_device()
        .then(|| DevNum::of(meta.rdev()))
}

fn sys_block(tables: &KernelTables, dev: DevNum) -> PathBuf {
    tables.sys.join(format!("dev/block/{dev}"))
}

/// The partitions of a whole disk: `/dev/NAME` and their numbers.
fn partitions(tables: &KernelTables, dev: DevNum) -> io::Result<Vec<(String, DevNum)>> {
    let dir = sys_block(tables, dev);
    let mut found = Vec::new();
    for name in list_dir(&dir)? {
        let sub = dir.join(&name);
        if !sub.join("partition").exists() {
            continue;
        }
        if let Some(number) = fs::read_to_string(sub.join("dev"))
            .ok()
            .and_then(|t| DevNum::parse(&t))
        {
            found.push((format!("/dev/{name}"), number));
        }
    }
    Ok(found)
}

/// Loop devices whose backing file is the file `(dev, ino)`: name and number.
fn loops_backed_by(tables: &KernelTables, dev: u64, ino: u64) -> io::Result<Vec<(String, DevNum)>> {
    let block = tables.sys.join("block");
    let mut found = Vec::new();
    for name in list_dir(&block)? {
        if !name.starts_with("loop") {
            continue;
        }
        let Ok(backing) = fs::read_to_string(block.join(&name).join("loop/backing_file")) else {
            continue; // not attached
        };
        let backing = backing.trim_end_matches('\n');
        let same = fs::metadata(backing).is_ok_and(|m| m.dev() == dev && m.ino() == ino);
        let number = fs::read_to_string(block.join(&name).join("dev"))
            .ok()
            .and_then(|t| DevNum::parse(&t));
        if let (true, Some(number)) = (same, number) {
            found.push((name, number));
        }
    }
    Ok(found)
}

/// Whether opening the block device `node` with `O_EXCL` fails with EBUSY.
fn exclusive_open_refused(node: &Path) -> bool {
    match fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_EXCL)
        .open(node)
    {
        Ok(_) => false,
        Err(e) => e.raw_os_error() == Some(libc::EBUSY),
    }
}

/// Entry names of a directory; none when it does not exist.
fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in entries {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// A kernel table that must be there (mountinfo: without it nothing can be checked).
fn read_table(path: &Path) -> io::Result<String> {
    fs::read_to_string(path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display())))
}

/// A kernel table's text; empty when it does not exist (/proc/swaps without swap
/// support in the kernel).
fn read_or_empty(path: &Path) -> io::Result<String> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io::Error::new(
            e.kind(),
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}
