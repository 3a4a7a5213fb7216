//! A thin client of corosync's quorum and cmap services, through the libraries corosync
//! installs (`libquorum.so.5`, `libcmap.so.4`, loaded with [`crate::dynlib`]).
//!
//! [`QuorumClient`] tracks quorum changes (`quorum_trackstart` with current state and
//! changes): each notification carries whether this partition is quorate and its member
//! node IDs. Notifications are delivered on the thread that calls
//! [`QuorumClient::dispatch`] (only after its descriptor became readable), into a
//! thread-local slot that [`QuorumClient::take_update`] empties.
//! [`two_node`] reads `quorum.two_node` from cmap (ClusterLabs sbd distrusts quorum
//! in two-node mode once it saw both nodes).

use std::cell::RefCell;
use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;

use crate::dynlib::{DynlibError, Library};

/// corosync's `CS_OK`.
const CS_OK: c_int = 1;
/// `CS_DISPATCH_ALL`.
const CS_DISPATCH_ALL: c_int = 2;
/// `CS_TRACK_CURRENT | CS_TRACK_CHANGES`.
const TRACK_CURRENT_AND_CHANGES: c_uint = 1 | 2;

type NotifyFn = extern "C" fn(u64, u32, u64, u32, *mut u32);

#[repr(C)]
struct QuorumCallbacks {
    quorum_notify_fn: Option<NotifyFn>,
}

struct QuorumLib {
    initialize: unsafe extern "C" fn(*mut u64, *mut QuorumCallbacks, *mut u32) -> c_int,
    trackstart: unsafe extern "C" fn(u64, c_uint) -> c_int,
    fd_get: unsafe extern "C" fn(u64, *mut c_int) -> c_int,
    dispatch: unsafe extern "C" fn(u64, c_int) -> c_int,
    finalize: unsafe extern "C" fn(u64) -> c_int,
    _lib: Library,
}

struct CmapLib {
    initialize: unsafe extern "C" fn(*mut u64) -> c_int,
    get_uint8: unsafe extern "C" fn(u64, *const std::ffi::c_char, *mut u8) -> c_int,
    finalize: unsafe extern "C" fn(u64) -> c_int,
    _lib: Library,
}

fn quorum_lib() -> Result<&'static QuorumLib, DynlibError> {
    static LIB: OnceLock<Result<QuorumLib, DynlibError>> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = Library::open(&["libquorum.so.5", "libquorum.so"])?;
        // SAFETY: the types are those of corosync 3's quorum.h.
        unsafe {
            Ok(QuorumLib {
                initialize: lib.symbol("quorum_initialize")?,
                trackstart: lib.symbol("quorum_trackstart")?,
                fd_get: lib.symbol("quorum_fd_get")?,
                dispatch: lib.symbol("quorum_dispatch")?,
                finalize: lib.symbol("quorum_finalize")?,
                _lib: lib,
            })
        }
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn cmap_lib() -> Result<&'static CmapLib, DynlibError> {
    static LIB: OnceLock<Result<CmapLib, DynlibError>> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = Library::open(&["libcmap.so.4", "libcmap.so"])?;
        // SAFETY: the types are those of corosync 3's cmap.h.
        unsafe {
            Ok(CmapLib {
                initialize: lib.symbol("cmap_initialize")?,
                get_uint8: lib.symbol("cmap_get_uint8")?,
                finalize: lib.symbol("cmap_finalize")?,
                _lib: lib,
            })
        }
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// One quorum notification: quorate, and the member node IDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumUpdate {
    pub quorate: bool,
    pub members: Vec<u32>,
}

thread_local! {
    static UPDATE: RefCell<Option<QuorumUpdate>> = const { RefCell::new(None) };
}

extern "C" fn on_quorum(_handle: u64, quorate: u32, _ring: u64, entries: u32, list: *mut u32) {
    let members = if list.is_null() {
        Vec::new()
    } else {
        // SAFETY: corosync passes `entries` node IDs at `list` for this call.
        unsafe { std::slice::from_raw_parts(list, entries as usize) }.to_vec()
    };
    UPDATE.with(|u| {
        *u.borrow_mut() = Some(QuorumUpdate {
            quorate: quorate != 0,
            members,
        })
    });
}

/// Why talking to corosync failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorosyncError {
    #[error(transparent)]
    Library(#[from] DynlibError),
    #[error("{call} failed: cs_error {code}")]
    Call { call: &'static str, code: c_int },
}

fn cs(call: &'static str, code: c_int) -> Result<(), CorosyncError> {
    if code == CS_OK {
        Ok(())
    } else {
        Err(CorosyncError::Call { call, code })
    }
}

/// A connection to corosync's quorum service, tracking changes.
pub struct QuorumClient {
    lib: &'static QuorumLib,
    handle: u64,
    fd: c_int,
}

impl QuorumClient {
    pub fn connect() -> Result<QuorumClient, CorosyncError> {
        let lib = quorum_lib()?;
        let mut callbacks = QuorumCallbacks {
            quorum_notify_fn: Some(on_quorum),
        };
        let (mut handle, mut kind) = (0u64, 0u32);
        // SAFETY: valid out pointers; corosync copies the callbacks struct.
        cs("quorum_initialize", unsafe {
            (lib.initialize)(&mut handle, &mut callbacks, &mut kind)
        })?;
        // From here on, drop finalizes the handle.
        let mut client = QuorumClient {
            lib,
            handle,
            fd: -1,
        };
        // SAFETY: a handle quorum_initialize returned.
        cs("quorum_trackstart", unsafe {
            (lib.trackstart)(handle, TRACK_CURRENT_AND_CHANGES)
        })?;
        // SAFETY: as above, `client.fd` is a valid out pointer.
        cs("quorum_fd_get", unsafe {
            (lib.fd_get)(handle, &mut client.fd)
        })?;
        Ok(client)
    }

    /// The descriptor to poll for notifications.
    pub fn fd(&self) -> c_int {
        self.fd
    }

    /// Deliver pending notifications (on this thread); an error means the connection is
    /// gone.
    pub fn dispatch(&mut self) -> Result<(), CorosyncError> {
        // SAFETY: a live handle; callbacks run on this thread during the call.
        cs("quorum_dispatch", unsafe {
            (self.lib.dispatch)(self.handle, CS_DISPATCH_ALL)
        })
    }

    /// The latest notification since the last call, if any.
    pub fn take_update(&mut self) -> Option<QuorumUpdate> {
        UPDATE.with(|u| u.borrow_mut().take())
    }
}

impl Drop for QuorumClient {
    fn drop(&mut self) {
        // SAFETY: a handle quorum_initialize returned, finalized once.
        unsafe { (self.lib.finalize)(self.handle) };
    }
}

/// `quorum.two_node` from cmap (false when absent).
pub fn two_node() -> Result<bool, CorosyncError> {
    let lib = cmap_lib()?;
    let mut handle = 0u64;
    // SAFETY: a valid out pointer.
    cs("cmap_initialize", unsafe { (lib.initialize)(&mut handle) })?;
    let key = c"quorum.two_node";
    let mut value = 0u8;
    // SAFETY: a live handle, a valid key and out pointer.
    let rc = unsafe { (lib.get_uint8)(handle, key.as_ptr(), &mut value) };
    // SAFETY: finalized once.
    unsafe { (lib.finalize)(handle) };
    Ok(rc == CS_OK && value != 0)
}
