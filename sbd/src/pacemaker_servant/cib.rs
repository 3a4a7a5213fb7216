//! Watching the CIB for changes as ClusterLabs sbd does (it subscribes to
//! `cib_diff_notify`), through pacemaker's own IPC client in `libcrmcommon.so.34`
//! (loaded at run time with [`crate::dynlib`], like [`super::pacemakerd`]): a connection
//! to pacemaker-based's read-only IPC server (`cib_ro`), registered under sbd's client
//! name and subscribed to diff notifications.
//!
//! The watcher says only *that* the CIB changed (any notification), never *what*: the
//! servant then asks crm_mon for the new state, so no CIB structure is parsed here and no
//! pacemaker library structure is read. Each loop the servant also sends a synchronous
//! `noop` (sbd sends one per loop too): a pacemaker-based that is gone, stopped or hung
//! does not answer within the limit, and the CIB counts as unreachable.
//!
//! The messages are the CIB client protocol of pacemaker 2.1 (`lib/cib/cib_native.c`):
//! `register` (answered with a client id), `cib_notify` (type `cib_diff_notify`,
//! activate 1, acknowledged), `noop` (with `cib_sync_call`, answered).

use std::ffi::{c_char, c_int, c_long, c_void, CStr, CString};
use std::sync::OnceLock;
use std::time::Duration;

use crate::dynlib::{DynlibError, Library};

/// pacemaker-based's read-only IPC server (`PCMK__SERVER_BASED_RO`).
const SERVER: &CStr = c"cib_ro";
/// `crm_ipc_client_response` (enum crm_ipc_flags): a reply is expected.
const CLIENT_RESPONSE: c_int = 0x200;
/// `cib_sync_call` (enum cib_call_options).
const CIB_SYNC_CALL: u32 = 0x1000;
/// `cib_scope_local` (enum cib_call_options): answered by this node's CIB alone.
const CIB_SCOPE_LOCAL: u32 = 0x100;
/// sbd's client name (`crm_system_name` of its pacemaker servant).
const CLIENT_NAME: &str = "sbd";
/// The limit of the connection's set-up requests (register, subscribe).
const SETUP_LIMIT: Duration = Duration::from_secs(5);

/// Why the CIB cannot be watched (the CIB counts as unreachable).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CibError {
    #[error("{0}")]
    Library(#[from] DynlibError),
    #[error("cannot connect to the CIB (pacemaker-based's cib_ro)")]
    Connect,
    #[error("the CIB did not accept the registration ({0})")]
    Register(String),
    #[error("the CIB did not accept the diff subscription (rc {0})")]
    Subscribe(c_int),
    #[error("the CIB did not answer a noop within {limit:?} (rc {rc})")]
    Probe { limit: Duration, rc: c_int },
    #[error("the CIB connection was lost")]
    Lost,
}

struct IpcLib {
    new: unsafe extern "C" fn(*const c_char, usize) -> *mut c_void,
    connect: unsafe extern "C" fn(*mut c_void) -> bool,
    close: unsafe extern "C" fn(*mut c_void),
    destroy: unsafe extern "C" fn(*mut c_void),
    connected: unsafe extern "C" fn(*mut c_void) -> bool,
    ready: unsafe extern "C" fn(*mut c_void) -> c_int,
    read: unsafe extern "C" fn(*mut c_void) -> c_long,
    send: unsafe extern "C" fn(*mut c_void, *mut c_void, c_int, i32, *mut *mut c_void) -> c_int,
    string2xml: unsafe extern "C" fn(*const c_char) -> *mut c_void,
    free_xml: unsafe extern "C" fn(*mut c_void),
    element_value: unsafe extern "C" fn(*const c_void, *const c_char) -> *const c_char,
    _lib: Library,
}

fn ipc_lib() -> Result<&'static IpcLib, DynlibError> {
    static LIB: OnceLock<Result<IpcLib, DynlibError>> = OnceLock::new();
    LIB.get_or_init(|| {
        let lib = Library::open(&[super::LIBCRMCOMMON])?;
        // SAFETY: the types are those of pacemaker 2.1's ipc.h and xml.h.
        unsafe {
            Ok(IpcLib {
                new: lib.symbol("crm_ipc_new")?,
                connect: lib.symbol("crm_ipc_connect")?,
                close: lib.symbol("crm_ipc_close")?,
                destroy: lib.symbol("crm_ipc_destroy")?,
                connected: lib.symbol("crm_ipc_connected")?,
                ready: lib.symbol("crm_ipc_ready")?,
                read: lib.symbol("crm_ipc_read")?,
                send: lib.symbol("crm_ipc_send")?,
                string2xml: lib.symbol("string2xml")?,
                free_xml: lib.symbol("free_xml")?,
                element_value: lib.symbol("crm_element_value")?,
                _lib: lib,
            })
        }
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The request texts (pure; attribute names of pacemaker's msg_xml.h).
pub mod request {
    use super::*;

    /// `register`: the CIB answers with this client's id.
    pub fn register() -> String {
        format!(
            r#"<cib_command t="cib" cib_op="register" cib_clientname="{CLIENT_NAME}" cib_callopt="{CIB_SYNC_CALL}"/>"#
        )
    }

    /// Subscribe to (or leave) the diff notifications.
    pub fn notify(active: bool) -> String {
        format!(
            r#"<cib-callback cib_op="cib_notify" cib_notify_type="cib_diff_notify" cib_notify_activate="{}"/>"#,
            u8::from(active)
        )
    }

    /// A synchronous local `noop` (call id `call`).
    pub fn noop(call: u32) -> String {
        format!(
            r#"<cib_command t="cib" cib_op="noop" cib_callid="{call}" cib_callopt="{}"/>"#,
            CIB_SYNC_CALL | CIB_SCOPE_LOCAL
        )
    }
}

/// A registered, subscribed connection to the CIB (one thread only).
pub struct CibWatch {
    lib: &'static IpcLib,
    ipc: *mut c_void,
    calls: u32,
}

/// How a request went: the reply's `cib_op` and `cib_clientid` when asked for.
struct Reply {
    rc: c_int,
    op: Option<String>,
    client_id: Option<String>,
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1)
}

impl CibWatch {
    /// Connect, register and subscribe. Blocks while pacemaker-based does not answer the
    /// connection (libqb's connect has no limit), as sbd's signon does.
    pub fn connect() -> Result<CibWatch, CibError> {
        let lib = ipc_lib()?;
        // SAFETY: a valid C string; 0 = the default buffer size.
        let ipc = unsafe { (lib.new)(SERVER.as_ptr(), 0) };
        if ipc.is_null() {
            return Err(CibError::Connect);
        }
        let mut watch = CibWatch { lib, ipc, calls: 0 };
        // SAFETY: a live client.
        if !unsafe { (lib.connect)(ipc) } {
            return Err(CibError::Connect);
        }
        let reply = watch.send(&request::register(), SETUP_LIMIT);
        if reply.rc <= 0 || reply.op.as_deref() != Some("register") || reply.client_id.is_none() {
            return Err(CibError::Register(format!(
                "rc {}, op {:?}",
                reply.rc, reply.op
            )));
        }
        let reply = watch.send(&request::notify(true), SETUP_LIMIT);
        if reply.rc <= 0 {
            return Err(CibError::Subscribe(reply.rc));
        }
        Ok(watch)
    }

    /// Send `text` and wait up to `limit` for the reply.
    fn send(&mut self, text: &str, limit: Duration) -> Reply {
        let failed = |rc| Reply {
            rc,
            op: None,
            client_id: None,
        };
        let Ok(c_text) = CString::new(text) else {
            return failed(-libc::EINVAL);
        };
        // SAFETY: a valid C string; string2xml returns a new document or NULL.
        let message = unsafe { (self.lib.string2xml)(c_text.as_ptr()) };
        if message.is_null() {
            return failed(-libc::EINVAL);
        }
        let mut reply = std::ptr::null_mut();
        // SAFETY: a live client, a live message, a valid out pointer.
        let rc = unsafe {
            (self.lib.send)(
                self.ipc,
                message,
                CLIENT_RESPONSE,
                millis(limit),
                &mut reply,
            )
        };
        // SAFETY: the message is ours (crm_ipc_send does not take it).
        unsafe { (self.lib.free_xml)(message) };
        let value = |name: &CStr| {
            if reply.is_null() {
                return None;
            }
            // SAFETY: a live reply node and a valid name; the value is owned by the node.
            let v = unsafe { (self.lib.element_value)(reply, name.as_ptr()) };
            // SAFETY: non-null values are NUL-terminated strings of the node.
            (!v.is_null()).then(|| unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
        };
        let answer = Reply {
            rc,
            op: value(c"cib_op"),
            client_id: value(c"cib_clientid"),
        };
        if !reply.is_null() {
            // SAFETY: the reply is ours to free.
            unsafe { (self.lib.free_xml)(reply) };
        }
        answer
    }

    /// Whether notifications arrived since the last call (all are read); `Lost` when
    /// the connection ended.
    pub fn changed(&mut self) -> Result<bool, CibError> {
        let mut any = false;
        loop {
            // SAFETY: a live client; ready() checks the connection before polling.
            let ready = unsafe { (self.lib.ready)(self.ipc) };
            if ready < 0 {
                return Err(CibError::Lost);
            }
            if ready == 0 {
                return Ok(any);
            }
            // SAFETY: connected (ready() > 0 said so); reads one event into its buffer.
            let read = unsafe { (self.lib.read)(self.ipc) };
            if read > 0 {
                any = true;
            } else if read != -c_long::from(libc::EAGAIN) {
                // SAFETY: a live client.
                if !unsafe { (self.lib.connected)(self.ipc) } {
                    return Err(CibError::Lost);
                }
                return Ok(any);
            }
        }
    }

    /// The CIB answers a synchronous noop within `limit`.
    pub fn probe(&mut self, limit: Duration) -> Result<(), CibError> {
        self.calls = self.calls.wrapping_add(1);
        let reply = self.send(&request::noop(self.calls), limit);
        if reply.rc > 0 {
            Ok(())
        } else {
            Err(CibError::Probe {
                limit,
                rc: reply.rc,
            })
        }
    }
}

impl Drop for CibWatch {
    fn drop(&mut self) {
        // SAFETY: the client created in connect(), closed and freed once.
        unsafe {
            (self.lib.close)(self.ipc);
            (self.lib.destroy)(self.ipc);
        }
    }
}
