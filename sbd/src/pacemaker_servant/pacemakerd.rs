//! Pinging pacemakerd as ClusterLabs sbd does, through pacemaker's own IPC client API in
//! `libcrmcommon.so.34` (pacemaker 2.1, loaded with [`crate::dynlib`]):
//! `pcmk_new_ipc_api(pacemakerd)`, a synchronous connection, and
//! `pcmk_pacemakerd_api_ping` under a name containing `sbd` (`sbd:pcmk`, sbd's own).
//!
//! The ping is what makes pacemakerd, started with `SBD_SYNC_RESOURCE_STARTUP=yes`,
//! proceed ("Received startup-trigger from SBD"), and what lets it finish a shutdown
//! ("Shutdown-complete-state passed to SBD"). Its reply says pacemakerd's state and
//! when its sub-daemons were last all fine (`last_good`); sbd's pacemaker servant only
//! reports health while that is recent.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::sync::OnceLock;

use crate::dynlib::{DynlibError, Library};

/// `pcmk_ipc_pacemakerd` (enum pcmk_ipc_server).
const IPC_PACEMAKERD: c_int = 5;
/// `pcmk_ipc_dispatch_sync`.
const DISPATCH_SYNC: c_int = 2;
/// `pcmk_ipc_event_reply`.
const EVENT_REPLY: c_int = 2;
/// `pcmk_pacemakerd_reply_ping`.
const REPLY_PING: c_int = 1;
/// `pcmk_rc_ok`, `CRM_EX_OK`.
const OK: c_int = 0;
/// The name sbd's pacemaker servant pings with; pacemakerd looks for "sbd" in it.
const IPC_NAME: &std::ffi::CStr = c"sbd:pcmk";

/// pacemakerd's state (enum pcmk_pacemakerd_state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacemakerdState {
    Init,
    StartingDaemons,
    WaitForPing,
    Running,
    ShuttingDown,
    ShutdownComplete,
    Invalid,
}

impl PacemakerdState {
    fn from_raw(raw: c_int) -> PacemakerdState {
        match raw {
            0 => PacemakerdState::Init,
            1 => PacemakerdState::StartingDaemons,
            2 => PacemakerdState::WaitForPing,
            3 => PacemakerdState::Running,
            4 => PacemakerdState::ShuttingDown,
            5 => PacemakerdState::ShutdownComplete,
            _ => PacemakerdState::Invalid,
        }
    }
}

/// A ping reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ping {
    pub state: PacemakerdState,
    /// Unix time pacemakerd's sub-daemons were last all fine (0: never).
    pub last_good: i64,
    /// pacemakerd's status code (0: ok).
    pub status: i32,
}

/// `pcmk_pacemakerd_api_reply_t` for a ping (the union's ping member flattened; the
/// layout is the same on LP64).
#[repr(C)]
struct RawReply {
    reply_type: c_int,
    sys_from: *const c_char,
    state: c_int,
    last_good: libc::time_t,
    status: c_int,
}

type Callback = unsafe extern "C" fn(*mut c_void, c_int, c_int, *mut c_void, *mut c_void);

struct CrmLib {
    new_api: unsafe extern "C" fn(*mut *mut c_void, c_int) -> c_int,
    free_api: unsafe extern "C" fn(*mut c_void),
    register: unsafe extern "C" fn(*mut c_void, Callback, *mut c_void),
    connect: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    disconnect: unsafe extern "C" fn(*mut c_void),
    is_connected: unsafe extern "C" fn(*mut c_void) -> bool,
    ping: unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int,
    _lib: Library,
}

fn crm_lib() -> Result<&'static CrmLib, DynlibError> {
    static LIB: OnceLock<Result<CrmLib, DynlibError>> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = Library::open(&[super::LIBCRMCOMMON])?;
        // SAFETY: the types are those of pacemaker 2.1's ipc.h / ipc_pacemakerd.h.
        unsafe {
            Ok(CrmLib {
                new_api: lib.symbol("pcmk_new_ipc_api")?,
                free_api: lib.symbol("pcmk_free_ipc_api")?,
                register: lib.symbol("pcmk_register_ipc_callback")?,
                connect: lib.symbol("pcmk_connect_ipc")?,
                disconnect: lib.symbol("pcmk_disconnect_ipc")?,
                is_connected: lib.symbol("pcmk_ipc_is_connected")?,
                ping: lib.symbol("pcmk_pacemakerd_api_ping")?,
                _lib: lib,
            })
        }
    })
    .as_ref()
    .map_err(Clone::clone)
}

unsafe extern "C" fn on_event(
    _api: *mut c_void,
    event: c_int,
    status: c_int,
    data: *mut c_void,
    user: *mut c_void,
) {
    if event != EVENT_REPLY || status != OK || data.is_null() || user.is_null() {
        return;
    }
    // SAFETY: for reply events of the pacemakerd API, `data` is its reply struct.
    let reply = unsafe { &*(data as *const RawReply) };
    if reply.reply_type != REPLY_PING {
        return;
    }
    // SAFETY: `user` is the Cell the client registered, alive while it is.
    let slot = unsafe { &*(user as *const Cell<Option<Ping>>) };
    slot.set(Some(Ping {
        state: PacemakerdState::from_raw(reply.state),
        #[allow(clippy::useless_conversion)] // time_t is i64 on LP64 only
        last_good: i64::from(reply.last_good),
        status: reply.status,
    }));
}

/// A pacemakerd IPC client (one thread only).
pub struct Pacemakerd {
    lib: &'static CrmLib,
    api: *mut c_void,
    reply: Box<Cell<Option<Ping>>>,
}

impl Pacemakerd {
    /// Load libcrmcommon and create the client (no connection yet).
    pub fn new() -> Result<Pacemakerd, String> {
        let lib = crm_lib().map_err(|e| e.to_string())?;
        let mut api = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        let rc = unsafe { (lib.new_api)(&mut api, IPC_PACEMAKERD) };
        if rc != OK || api.is_null() {
            return Err(format!("pcmk_new_ipc_api failed: {rc}"));
        }
        let reply = Box::new(Cell::new(None));
        let user = (&*reply as *const Cell<Option<Ping>>).cast_mut().cast();
        // SAFETY: a live api; the Box keeps `user` valid as long as `self`.
        unsafe { (lib.register)(api, on_event, user) };
        Ok(Pacemakerd { lib, api, reply })
    }

    /// Connect if needed and ping; the reply, or why there is none.
    pub fn ping(&mut self) -> Result<Ping, String> {
        // SAFETY: a live api throughout.
        unsafe {
            if !(self.lib.is_connected)(self.api) {
                let rc = (self.lib.connect)(self.api, DISPATCH_SYNC);
                if rc != OK {
                    return Err(format!("cannot connect to pacemakerd (rc {rc})"));
                }
            }
            self.reply.set(None);
            let rc = (self.lib.ping)(self.api, IPC_NAME.as_ptr());
            if rc != OK {
                (self.lib.disconnect)(self.api);
                return Err(format!("ping failed (rc {rc})"));
            }
        }
        self.reply
            .take()
            .ok_or_else(|| "no ping reply from pacemakerd".to_owned())
    }
}

impl Drop for Pacemakerd {
    fn drop(&mut self) {
        // SAFETY: frees the api created in new(), once.
        unsafe { (self.lib.free_api)(self.api) };
    }
}
