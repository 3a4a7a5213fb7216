//! Shared libraries loaded at run time (`dlopen`), for the cluster stack's client
//! libraries: corosync's libquorum and libcmap ([`crate::cluster_servant`]) and
//! pacemaker's libcrmcommon ([`crate::pacemaker_servant`]).
//!
//! Loading them when a servant starts, not linking them, keeps `palisade-sbd` one binary
//! that runs on any host: disk-only and palisade-cluster nodes need no corosync or
//! pacemaker libraries, and a node with the stack finds the versioned sonames its
//! packages install (no `-dev` packages needed to build). A library is kept loaded for
//! the life of the process.

use std::ffi::{c_void, CStr, CString};

/// A library that could not be loaded, or lacks a symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DynlibError {
    #[error("cannot load {names}: {reason}")]
    Load { names: String, reason: String },
    #[error("{library} has no symbol {symbol}")]
    Symbol { library: String, symbol: String },
}

/// A loaded library (never unloaded).
#[derive(Debug)]
pub struct Library {
    handle: *mut c_void,
    name: String,
}

// SAFETY: a dlopen handle may be used from any thread (dlsym is thread-safe).
unsafe impl Send for Library {}
// SAFETY: as above; the struct has no interior mutability.
unsafe impl Sync for Library {}

fn dlerror() -> String {
    // SAFETY: dlerror returns NULL or a valid C string owned by libdl.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: non-null, NUL-terminated (see above).
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

impl Library {
    /// Load the first of `names` (sonames) that loads.
    pub fn open(names: &[&str]) -> Result<Library, DynlibError> {
        let mut reason = String::from("no name given");
        for name in names {
            let Ok(c_name) = CString::new(*name) else {
                continue;
            };
            // SAFETY: a valid C string; RTLD_NOW resolves everything up front.
            let handle = unsafe { libc::dlopen(c_name.as_ptr(), libc::RTLD_NOW) };
            if !handle.is_null() {
                return Ok(Library {
                    handle,
                    name: (*name).to_owned(),
                });
            }
            reason = dlerror();
        }
        Err(DynlibError::Load {
            names: names.join(" or "),
            reason,
        })
    }

    /// The address of `symbol`.
    ///
    /// # Safety
    /// `T` must be the exact function pointer type of the symbol (an `extern "C" fn`).
    pub unsafe fn symbol<T: Copy>(&self, symbol: &str) -> Result<T, DynlibError> {
        let missing = || DynlibError::Symbol {
            library: self.name.clone(),
            symbol: symbol.to_owned(),
        };
        let c_symbol = CString::new(symbol).map_err(|_| missing())?;
        // SAFETY: handle is a live dlopen handle; c_symbol a valid C string.
        let address = unsafe { libc::dlsym(self.handle, c_symbol.as_ptr()) };
        if address.is_null() || std::mem::size_of::<T>() != std::mem::size_of::<*mut c_void>() {
            return Err(missing());
        }
        // SAFETY: the caller guarantees T is the symbol's function pointer type, which
        // has the size of a pointer (checked above).
        Ok(unsafe { std::mem::transmute_copy::<*mut c_void, T>(&address) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_loads_and_resolves() {
        let lib = Library::open(&["libc.so.6"]).unwrap();
        // SAFETY: getpid's type.
        let getpid: extern "C" fn() -> libc::pid_t = unsafe { lib.symbol("getpid") }.unwrap();
        assert_eq!(getpid() as u32, std::process::id());
        // SAFETY: never called.
        let missing: Result<extern "C" fn(), _> = unsafe { lib.symbol("no_such_symbol_here") };
        assert!(missing.is_err());
    }

    #[test]
    fn a_missing_library_is_an_error() {
        let e = Library::open(&["libpalisade-none.so.0"]).unwrap_err();
        assert!(matches!(e, DynlibError::Load { .. }), "{e}");
    }
}
