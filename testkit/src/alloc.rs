//! The largest single allocation a closure makes on the current thread, so a property test
//! can bound the memory a parser asks for on hostile input (`Vec::with_capacity(len)` with
//! a length from the wire). A test binary installs the allocator once:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: testkit::alloc::Tracking = testkit::alloc::Tracking;
//! ```
//!
//! Without it installed, [`largest_during`] reports 0.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, recording the largest request made while armed on this thread.
pub struct Tracking;

fn note(size: usize) {
    // try_with: no panic during thread teardown.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; the bookkeeping only touches
// const-initialised thread locals (no allocation, no re-entry).
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract is forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Run `f`, returning its result and the largest single allocation (bytes) it made on
/// this thread.
pub fn largest_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let was = ARMED.with(|a| a.replace(true));
    let before = LARGEST.with(|l| l.replace(0));
    let out = f();
    let largest = LARGEST.with(|l| l.replace(before.max(l.get())));
    ARMED.with(|a| a.set(was));
    (out, largest)
}
