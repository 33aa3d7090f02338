//! Callbacks: the app's `user_data` and its release function.
//!
//! A registered callback is wrapped in a Rust listener closure that owns a
//! `UserData`. The SDK drops that closure exactly once — when it is
//! replaced, cleared, or when the handle's last C reference is freed (for
//! the client's invite callback: when the client is freed), after the
//! callback returns if it is running — and dropping the `UserData` calls
//! `release(user_data)`, so `release` runs exactly once. An invite or
//! conversation handle outlives its client, and so does its callback.

use std::cell::RefCell;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Called by the SDK exactly once when it no longer needs a `user_data`
/// it was given with a callback: the callback was replaced or cleared, or
/// the handle's last reference was freed (for the client's invite
/// callback: the client was freed). It is never
/// called while that callback is running. It may run on any thread (the
/// event thread, or the thread that made the call that dropped the
/// callback, after that call's work is done); it may call SDK functions.
pub type wd_release_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// An app's `user_data` pointer and the function that releases it.
pub(crate) struct UserData {
    ptr: *mut c_void,
    release: wd_release_callback,
}

// SAFETY: the SDK never dereferences `ptr`; it only hands it back to the
// app's callbacks, which run on the event thread (or in `dispatch`), and
// to `release`. The app's documentation contract is that `user_data` may
// be used from those threads.
unsafe impl Send for UserData {}

impl UserData {
    /// Takes ownership of `ptr` (to be released with `release`).
    pub(crate) fn new(ptr: *mut c_void, release: wd_release_callback) -> Self {
        UserData { ptr, release }
    }

    /// The app's pointer, to pass to its callback.
    pub(crate) fn ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let ptr = self.ptr;
            let deferred = DEFERRED.with(|cell| match cell.try_borrow_mut() {
                Ok(mut list) => match list.as_mut() {
                    Some(list) => {
                        list.push((release, ptr));
                        true
                    }
                    None => false,
                },
                Err(_) => false,
            });
            if !deferred {
                call_release(release, ptr);
            }
        }
    }
}

type Release = (unsafe extern "C" fn(*mut c_void), *mut c_void);

fn call_release(release: unsafe extern "C" fn(*mut c_void), ptr: *mut c_void) {
    // SAFETY: `release` is the app's function for this `ptr`, called once
    // (`UserData::drop` took it out of the `Option`).
    unsafe { release(ptr) }
}

thread_local! {
    /// Releases postponed while this thread holds an FFI lock.
    static DEFERRED: RefCell<Option<Vec<Release>>> = const { RefCell::new(None) };
}

/// Runs `f`, postponing every `release` that would run on this thread
/// during it until after `f` (and whatever lock the caller drops after
/// it) is done: a release function may call back into the SDK, so it must
/// never run while an FFI lock is held.
///
/// The returned guard runs the postponed releases when dropped; drop it
/// after releasing the lock.
pub(crate) fn defer_releases() -> DeferGuard {
    let outer = DEFERRED.with(|cell| cell.borrow_mut().replace(Vec::new()));
    DeferGuard { outer }
}

/// Runs the releases postponed by [`defer_releases`] when dropped.
pub(crate) struct DeferGuard {
    outer: Option<Vec<Release>>,
}

impl Drop for DeferGuard {
    fn drop(&mut self) {
        let pending = DEFERRED.with(|cell| {
            let mut slot = cell.borrow_mut();
            match self.outer.take() {
                // Nested: hand ours to the outer scope.
                Some(mut outer) => {
                    outer.extend(slot.take().unwrap_or_default());
                    *slot = Some(outer);
                    Vec::new()
                }
                None => slot.take().unwrap_or_default(),
            }
        });
        for (release, ptr) in pending {
            call_release(release, ptr);
        }
    }
}

/// Calls an app callback from a listener, containing any panic of the
/// wrapper code around it (a C callback itself cannot unwind).
pub(crate) fn call_guarded(f: impl FnOnce()) {
    let _ = catch_unwind(AssertUnwindSafe(f));
}
