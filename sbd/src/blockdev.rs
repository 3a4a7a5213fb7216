//! Sector-granular access to the shared device: the [`BlockDevice`] trait, [`FileDevice`]
//! for block devices (and regular files, for tests and demos) and [`MemoryDevice`] for
//! unit tests.
//!
//! Like sbd, every I/O is one whole logical sector at `index * sector_size`. A block
//! device is opened `O_RDWR | O_SYNC | O_DIRECT`, its sector size comes from the
//! `BLKSSZGET` ioctl and all transfers go through a 4096-aligned buffer, so no page
//! cache ever hides another node's write. A regular file (which the real sbd refuses)
//! gets 512-byte sectors unless told otherwise and tries `O_DIRECT` too; on a file
//! system without `O_DIRECT` (tmpfs) it falls back to `O_SYNC` only, reported by
//! [`FileDevice::io_mode`]. A block device that refuses `O_DIRECT` is an error, never a
//! silent fallback.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Largest logical sector size supported (Linux block devices use 512 or 4096).
pub const MAX_SECTOR_SIZE: usize = 4096;
/// Smallest logical sector size supported.
pub const MIN_SECTOR_SIZE: usize = 512;
/// Largest span [`BlockDevice::read_sectors`] reads with a single I/O.
pub const MAX_SPAN_READ: usize = 4 * MAX_SECTOR_SIZE;
/// Sector size given to a regular file when none is asked for.
pub const REGULAR_FILE_SECTOR_SIZE: usize = 512;

/// A failed device operation.
#[derive(Debug, thiserror::Error)]
pub enum BlockDevError {
    /// `open(2)` failed (missing path, permissions, `O_DIRECT` refused by a block device).
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The path is a directory, character device, FIFO, ...
    #[error("{path} is neither a block device nor a regular file")]
    UnsupportedKind { path: String },
    /// The `BLKSSZGET` ioctl failed on a block device.
    #[error("{path}: cannot get the logical sector size (BLKSSZGET): {source}")]
    SectorSizeQuery {
        path: String,
        #[source]
        source: io::Error,
    },
    /// A sector size we cannot handle.
    #[error("{path}: sector size {size} is not supported (a power of two from 512 to 4096)")]
    UnsupportedSectorSize { path: String, size: usize },
    /// The device size could not be determined.
    #[error("{path}: cannot determine the device size: {source}")]
    Size {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The sector lies beyond the end of the device.
    #[error("{path}: sector {sector} is beyond the end of the device ({sectors} sectors)")]
    OutOfRange {
        path: String,
        sector: u64,
        sectors: u64,
    },
    /// A write was not exactly one sector long.
    #[error("{path}: write of {len} bytes to sector {sector}; a write must be one sector of {sector_size} bytes")]
    WrongLength {
        path: String,
        sector: u64,
        len: usize,
        sector_size: usize,
    },
    /// A span read into a buffer that is not a whole number of sectors.
    #[error("{path}: a read of {len} bytes is not a whole number of {sector_size}-byte sectors")]
    SpanLength {
        path: String,
        len: usize,
        sector_size: usize,
    },
    #[error("{path}: reading sector {sector} failed: {source}")]
    Read {
        path: String,
        sector: u64,
        #[source]
        source: io::Error,
    },
    #[error("{path}: writing sector {sector} failed: {source}")]
    Write {
        path: String,
        sector: u64,
        #[source]
        source: io::Error,
    },
}

/// A device made of logical sectors, read and written one whole sector at a time.
pub trait BlockDevice {
    /// The device's name for messages (its path).
    fn name(&self) -> &str;
    /// Logical sector size in bytes.
    fn sector_size(&self) -> usize;
    /// Number of whole sectors on the device.
    fn sector_count(&self) -> Result<u64, BlockDevError>;
    /// Read sector `index`; the result is exactly one sector long.
    fn read_sector(&self, index: u64) -> Result<Vec<u8>, BlockDevError>;
    /// Write sector `index`; `data` must be exactly one sector long.
    fn write_sector(&self, index: u64, data: &[u8]) -> Result<(), BlockDevError>;
    /// Read `count` consecutive sectors from `first`, in one I/O where the device can
    /// (spans up to [`MAX_SPAN_READ`] bytes); the result is `count` sectors long.
    fn read_sectors(&self, first: u64, count: u64) -> Result<Vec<u8>, BlockDevError> {
        let len = usize::try_from(count)
            .ok()
            .and_then(|c| c.checked_mul(self.sector_size()))
            .ok_or_else(|| BlockDevError::SpanLength {
                path: self.name().to_owned(),
                len: usize::MAX,
                sector_size: self.sector_size(),
            })?;
        let mut out = vec![0; len];
        self.read_sectors_into(first, &mut out)?;
        Ok(out)
    }
    /// Fill `out`, a whole number of sectors, from sector `first` on, in one I/O where
    /// the device can (spans up to [`MAX_SPAN_READ`] bytes). A [`FileDevice`] reads
    /// straight into an [`AlignedBuffer`], so a caller that keeps one allocates nothing.
    fn read_sectors_into(&self, first: u64, out: &mut [u8]) -> Result<(), BlockDevError> {
        let size = self.sector_size();
        if size == 0 || !out.len().is_multiple_of(size) {
            return Err(BlockDevError::SpanLength {
                path: self.name().to_owned(),
                len: out.len(),
                sector_size: size,
            });
        }
        for (index, chunk) in (first..).zip(out.chunks_mut(size)) {
            chunk.copy_from_slice(&self.read_sector(index)?);
        }
        Ok(())
    }
}

impl<T: BlockDevice + ?Sized> BlockDevice for Box<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn sector_size(&self) -> usize {
        (**self).sector_size()
    }
    fn sector_count(&self) -> Result<u64, BlockDevError> {
        (**self).sector_count()
    }
    fn read_sector(&self, index: u64) -> Result<Vec<u8>, BlockDevError> {
        (**self).read_sector(index)
    }
    fn read_sectors(&self, first: u64, count: u64) -> Result<Vec<u8>, BlockDevError> {
        (**self).read_sectors(first, count)
    }
    fn read_sectors_into(&self, first: u64, out: &mut [u8]) -> Result<(), BlockDevError> {
        (**self).read_sectors_into(first, out)
    }
    fn write_sector(&self, index: u64, data: &[u8]) -> Result<(), BlockDevError> {
        (**self).write_sector(index, data)
    }
}

/// What a [`FileDevice`] was opened on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    BlockDevice,
    RegularFile,
}

/// How a [`FileDevice`] reaches the storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoMode {
    /// `O_DIRECT | O_SYNC`: no page cache, as sbd does.
    Direct,
    /// `O_SYNC` only: a regular file on a file system without `O_DIRECT` (tmpfs).
    /// Fine for one host (tests); not for storage shared between hosts.
    Buffered,
}

/// A block device or regular file accessed by whole sectors.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    path: String,
    sector_size: usize,
    kind: DeviceKind,
    io_mode: IoMode,
}

/// One sector's worth of memory aligned for `O_DIRECT` on any supported sector size.
#[repr(C, align(4096))]
struct AlignedSector([u8; MAX_SECTOR_SIZE]);

/// Alignment of an [`AlignedBuffer`]: enough for `O_DIRECT` on any supported sector size.
pub const BUFFER_ALIGN: usize = 4096;

/// Zeroed heap memory of exactly the length asked for, aligned for `O_DIRECT`
/// ([`BUFFER_ALIGN`]): a round's read touches only the bytes it needs (an idle watch runs
/// with cold caches), and a servant keeps one for all its rounds.
pub struct AlignedBuffer {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
}

// SAFETY: the buffer owns its heap memory exclusively (like a Box<[u8]>); nothing else
// points to it.
unsafe impl Send for AlignedBuffer {}

impl std::fmt::Debug for AlignedBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuffer({} bytes)", self.layout.size())
    }
}

impl AlignedBuffer {
    /// `None` for a zero or absurd length, or when the allocator fails.
    pub fn zeroed(len: usize) -> Option<AlignedBuffer> {
        if len == 0 {
            return None;
        }
        let layout = std::alloc::Layout::from_size_align(len, BUFFER_ALIGN).ok()?;
        // SAFETY: the layout has a non-zero size (checked above).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        std::ptr::NonNull::new(ptr).map(|ptr| AlignedBuffer { ptr, layout })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised (zeroed) bytes owned by
        // this buffer.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` points to `layout.size()` initialised (zeroed) bytes owned by
        // this buffer, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout, freed only here.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

impl FileDevice {
    /// Open a block device (sector size from the kernel) or a regular file (512-byte
    /// sectors).
    pub fn open(path: impl AsRef<Path>) -> Result<FileDevice, BlockDevError> {
        FileDevice::open_with_file_sector_size(path, REGULAR_FILE_SECTOR_SIZE)
    }

    /// Like [`FileDevice::open`], with the sector size a regular file gets (a block
    /// device always uses its own logical sector size).
    pub fn open_with_file_sector_size(
        path: impl AsRef<Path>,
        file_sector_size: usize,
    ) -> Result<FileDevice, BlockDevError> {
        let path_buf: PathBuf = path.as_ref().to_path_buf();
        let name = path_buf.display().to_string();
        let open_error = |source| BlockDevError::Open {
            path: name.clone(),
            source,
        };
        let file_type = std::fs::metadata(&path_buf)
            .map_err(open_error)?
            .file_type();
        let kind = if file_type.is_block_device() {
            DeviceKind::BlockDevice
        } else if file_type.is_file() {
            DeviceKind::RegularFile
        } else {
            return Err(BlockDevError::UnsupportedKind { path: name });
        };
        let (file, io_mode) = match open_rw(&path_buf, libc::O_DIRECT | libc::O_SYNC) {
            Ok(file) => (file, IoMode::Direct),
            Err(e) if kind == DeviceKind::RegularFile && e.raw_os_error() == Some(libc::EINVAL) => {
                (
                    open_rw(&path_buf, libc::O_SYNC).map_err(open_error)?,
                    IoMode::Buffered,
                )
            }
            Err(e) => return Err(open_error(e)),
        };
        let sector_size = match kind {
            DeviceKind::BlockDevice => {
                logical_sector_size(&file).map_err(|source| BlockDevError::SectorSizeQuery {
                    path: name.clone(),
                    source,
                })?
            }
            DeviceKind::RegularFile => file_sector_size,
        };
        if !(MIN_SECTOR_SIZE..=MAX_SECTOR_SIZE).contains(&sector_size)
            || !sector_size.is_power_of_two()
        {
            return Err(BlockDevError::UnsupportedSectorSize {
                path: name,
                size: sector_size,
            });
        }
        Ok(FileDevice {
            file,
            path: name,
            sector_size,
            kind,
            io_mode,
        })
    }

    pub fn kind(&self) -> DeviceKind {
        self.kind
    }

    pub fn io_mode(&self) -> IoMode {
        self.io_mode
    }

    fn offset(&self, index: u64) -> Result<u64, BlockDevError> {
        index
            .checked_mul(self.sector_size as u64)
            .ok_or_else(|| BlockDevError::OutOfRange {
                path: self.path.clone(),
                sector: index,
                sectors: self.sector_count().unwrap_or(0),
            })
    }

    /// One read of `span.len()` bytes (whole sectors, aligned) at sector `first`.
    fn read_span(&self, first: u64, span: &mut [u8]) -> Result<(), BlockDevError> {
        let offset = self.offset(first)?;
        let count = (span.len() / self.sector_size) as u64;
        match self.file.read_exact_at(span, offset) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(self.out_of_range(first.saturating_add(count.saturating_sub(1))))
            }
            Err(source) => Err(BlockDevError::Read {
                path: self.path.clone(),
                sector: first,
                source,
            }),
        }
    }

    fn out_of_range(&self, index: u64) -> BlockDevError {
        BlockDevError::OutOfRange {
            path: self.path.clone(),
            sector: index,
            sectors: self.sector_count().unwrap_or(0),
        }
    }
}

impl BlockDevice for FileDevice {
    fn name(&self) -> &str {
        &self.path
    }

    fn sector_size(&self) -> usize {
        self.sector_size
    }

    fn sector_count(&self) -> Result<u64, BlockDevError> {
        let bytes = (&self.file)
            .seek(SeekFrom::End(0))
            .map_err(|source| BlockDevError::Size {
                path: self.path.clone(),
                source,
            })?;
        Ok(bytes / self.sector_size as u64)
    }

    fn read_sector(&self, index: u64) -> Result<Vec<u8>, BlockDevError> {
        let offset = self.offset(index)?;
        let mut buffer = Box::new(AlignedSector([0; MAX_SECTOR_SIZE]));
        let sector = &mut buffer.0[..self.sector_size];
        match self.file.read_exact_at(sector, offset) {
            Ok(()) => Ok(sector.to_vec()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(self.out_of_range(index)),
            Err(source) => Err(BlockDevError::Read {
                path: self.path.clone(),
                sector: index,
                source,
            }),
        }
    }

    fn read_sectors_into(&self, first: u64, out: &mut [u8]) -> Result<(), BlockDevError> {
        let len = out.len();
        if !len.is_multiple_of(self.sector_size) {
            return Err(BlockDevError::SpanLength {
                path: self.path.clone(),
                len,
                sector_size: self.sector_size,
            });
        }
        if len == 0 {
            return Ok(());
        }
        if len > MAX_SPAN_READ {
            // Too long for one I/O: sector by sector.
            for (index, chunk) in (first..).zip(out.chunks_mut(self.sector_size)) {
                chunk.copy_from_slice(&self.read_sector(index)?);
            }
            return Ok(());
        }
        if (out.as_ptr() as usize).is_multiple_of(BUFFER_ALIGN) {
            return self.read_span(first, out);
        }
        // Not aligned for O_DIRECT: through an aligned buffer of our own.
        let Some(mut buffer) = AlignedBuffer::zeroed(len) else {
            return Err(BlockDevError::Read {
                path: self.path.clone(),
                sector: first,
                source: io::Error::from(io::ErrorKind::OutOfMemory),
            });
        };
        self.read_span(first, buffer.as_mut_slice())?;
        out.copy_from_slice(buffer.as_slice());
        Ok(())
    }

    fn write_sector(&self, index: u64, data: &[u8]) -> Result<(), BlockDevError> {
        if data.len() != self.sector_size {
            return Err(BlockDevError::WrongLength {
                path: self.path.clone(),
                sector: index,
                len: data.len(),
                sector_size: self.sector_size,
            });
        }
        if index >= self.sector_count()? {
            return Err(self.out_of_range(index));
        }
        let offset = self.offset(index)?;
        let mut buffer = Box::new(AlignedSector([0; MAX_SECTOR_SIZE]));
        buffer.0[..self.sector_size].copy_from_slice(data);
        self.file
            .write_all_at(&buffer.0[..self.sector_size], offset)
            .map_err(|source| BlockDevError::Write {
                path: self.path.clone(),
                sector: index,
                source,
            })
    }
}

fn open_rw(path: &Path, flags: libc::c_int) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags)
        .open(path)
}

/// The logical sector size of an open block device (`BLKSSZGET`).
fn logical_sector_size(file: &File) -> io::Result<usize> {
    let mut size: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one c_int through the pointer, which points to a live
    // local; the fd stays open for the duration of the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::BLKSSZGET as _, &mut size) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(size).map_err(|_| io::Error::other(format!("negative sector size {size}")))
}

/// An in-memory device for tests. Clones share the same storage, so two "nodes" can
/// work on one device; reads and writes can be made to fail.
#[derive(Debug, Clone)]
pub struct MemoryDevice {
    name: String,
    sector_size: usize,
    state: Arc<Mutex<MemoryState>>,
}

#[derive(Debug)]
struct MemoryState {
    data: Vec<u8>,
    fail_reads: bool,
    fail_writes: bool,
    stalled: bool,
    writes: u64,
}

impl MemoryDevice {
    /// A zeroed device of `sectors` sectors of `sector_size` bytes, named `memory`.
    pub fn new(sector_size: usize, sectors: u64) -> MemoryDevice {
        MemoryDevice::named("memory", sector_size, sectors)
    }

    pub fn named(name: &str, sector_size: usize, sectors: u64) -> MemoryDevice {
        let len = usize::try_from(sectors)
            .ok()
            .and_then(|n| n.checked_mul(sector_size))
            .unwrap_or(0);
        MemoryDevice {
            name: name.to_owned(),
            sector_size,
            state: Arc::new(Mutex::new(MemoryState {
                data: vec![0; len],
                fail_reads: false,
                fail_writes: false,
                stalled: false,
                writes: 0,
            })),
        }
    }

    /// Make every following read and/or write fail with an I/O error.
    pub fn set_failing(&self, reads: bool, writes: bool) {
        let mut state = self.lock();
        state.fail_reads = reads;
        state.fail_writes = writes;
    }

    /// Make reads block until cleared again, as on a hung path.
    pub fn set_stalled(&self, stalled: bool) {
        self.lock().stalled = stalled;
    }

    /// A copy of the whole device.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().data.clone()
    }

    /// Number of successful sector writes so far.
    pub fn write_count(&self) -> u64 {
        self.lock().writes
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic in another test thread cannot leave the byte vector inconsistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn range(
        &self,
        state: &MemoryState,
        index: u64,
    ) -> Result<std::ops::Range<usize>, BlockDevError> {
        let sectors = (state.data.len() / self.sector_size.max(1)) as u64;
        if index >= sectors {
            return Err(BlockDevError::OutOfRange {
                path: self.name.clone(),
                sector: index,
                sectors,
            });
        }
        let start = index as usize * self.sector_size;
        Ok(start..start + self.sector_size)
    }
}

impl BlockDevice for MemoryDevice {
    fn name(&self) -> &str {
        &self.name
    }

    fn sector_size(&self) -> usize {
        self.sector_size
    }

    fn sector_count(&self) -> Result<u64, BlockDevError> {
        Ok((self.lock().data.len() / self.sector_size.max(1)) as u64)
    }

    fn read_sector(&self, index: u64) -> Result<Vec<u8>, BlockDevError> {
        while self.lock().stalled {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let state = self.lock();
        if state.fail_reads {
            return Err(BlockDevError::Read {
                path: self.name.clone(),
                sector: index,
                source: io::Error::other("injected read failure"),
            });
        }
        let range = self.range(&state, index)?;
        Ok(state.data[range].to_vec())
    }

    fn write_sector(&self, index: u64, data: &[u8]) -> Result<(), BlockDevError> {
        let mut state = self.lock();
        if state.fail_writes {
            return Err(BlockDevError::Write {
                path: self.name.clone(),
                sector: index,
                source: io::Error::other("injected write failure"),
            });
        }
        if data.len() != self.sector_size {
            return Err(BlockDevError::WrongLength {
                path: self.name.clone(),
                sector: index,
                len: data.len(),
                sector_size: self.sector_size,
            });
        }
        let range = self.range(&state, index)?;
        state.data[range].copy_from_slice(data);
        state.writes += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
