//! Opaque handles backed by `Arc`, as rustls-ffi does it.
//!
//! Each C handle type (`wd_client`, `wd_outgoing_invite`, …) is an empty
//! struct that C only ever sees behind a pointer. [`Castable`] ties it to
//! the Rust state it stands for and to exactly one ownership marker (here
//! always [`OwnershipArc`]: the pointer is `Arc::into_raw` of the Rust
//! handle's shared state). A type cannot implement `Castable` twice, so it
//! cannot be handed out one way and taken back another.
//!
//! Every C reference to an invite or conversation is counted in the
//! [`CSide`] the C ABI attaches to it; freeing the last one clears the
//! handle's listener, so no callback runs for a handle the app no longer
//! holds and its `user_data` is released exactly once. The `CSide` also
//! keeps the C strings handed out for the handle's texts, valid as long as
//! the handle.

use std::ffi::{c_char, c_void, CString};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::callback::{call_guarded, defer_releases, wd_release_callback, UserData};
use super::result::{null_parameter, wd_result, FfiResult};
use super::strings::c_string;
use crate::client::{Attached, Kind, Listener};

/// Marks a [`Castable`] whose C pointers are `Arc::into_raw` of its
/// [`Castable::RustType`].
pub(crate) struct OwnershipArc;

/// The kinds of ownership a C pointer can carry (only `Arc` here).
pub(crate) trait OwnershipMarker {}

impl OwnershipMarker for OwnershipArc {}

/// Ties a C handle type to the Rust handle its pointers stand for.
pub(crate) trait Castable {
    /// How C pointers to this type own their target.
    type Ownership: OwnershipMarker;
    /// The Rust handle (`Client`, `OutgoingInvite`, …) a C pointer stands
    /// for.
    type RustType: Clone;
}

/// A [`Castable`] with `Arc` ownership: a C pointer is `Arc::into_raw` of
/// the Rust handle's shared state, so the pointers of every reference to
/// one object are equal.
pub(crate) trait ArcHandle: Castable<Ownership = OwnershipArc> + Sized {
    /// A new strong reference to `handle`'s shared state, as a C pointer.
    fn into_raw(handle: &Self::RustType) -> *const Self;

    /// The C pointer of `handle`, without a new reference.
    fn as_ptr(handle: &Self::RustType) -> *const Self;

    /// Takes over the reference `ptr` as a Rust handle.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`ArcHandle::into_raw`] of this type and that
    /// reference has not been taken over before.
    unsafe fn from_raw(ptr: *const Self) -> Self::RustType;
}

/// An [`ArcHandle`] for an invite or conversation: its C references are
/// counted, and its listener is cleared when the last one is freed.
pub(crate) trait CountedHandle: ArcHandle<RustType: Kind> {}

/// Makes the opaque C handle type `$c` (an empty, non-`repr(C)` struct
/// declared by hand so cbindgen sees it) stand for the Rust handle type
/// `$handle`, whose field `$field` is the `Arc` of its shared state.
macro_rules! arc_handle {
    ($c:ident => $handle:ident . $field:ident) => {
        impl $crate::ffi::handle::Castable for $c {
            type Ownership = $crate::ffi::handle::OwnershipArc;
            type RustType = $handle;
        }

        impl $crate::ffi::handle::ArcHandle for $c {
            fn into_raw(handle: &$handle) -> *const $c {
                ::std::sync::Arc::into_raw(::std::sync::Arc::clone(&handle.$field)).cast()
            }

            fn as_ptr(handle: &$handle) -> *const $c {
                ::std::sync::Arc::as_ptr(&handle.$field).cast()
            }

            unsafe fn from_raw(ptr: *const $c) -> $handle {
                $handle {
                    // SAFETY: per this function's contract, `ptr` is an
                    // `Arc::into_raw` of this field's type whose reference
                    // we now own.
                    $field: unsafe { ::std::sync::Arc::from_raw(ptr.cast()) },
                }
            }
        }
    };
}
pub(crate) use arc_handle;

/// Makes the opaque C handle type `$c` stand for the handle kind `$kind`
/// (`OutgoingInvite`, …), with counted C references.
macro_rules! counted_handle {
    ($c:ident => $kind:ident) => {
        impl $crate::ffi::handle::Castable for $c {
            type Ownership = $crate::ffi::handle::OwnershipArc;
            type RustType = $kind;
        }

        impl $crate::ffi::handle::ArcHandle for $c {
            fn into_raw(handle: &$kind) -> *const $c {
                let shared = $crate::client::Kind::shared(handle);
                ::std::sync::Arc::into_raw(::std::sync::Arc::clone(shared)).cast()
            }

            fn as_ptr(handle: &$kind) -> *const $c {
                ::std::sync::Arc::as_ptr($crate::client::Kind::shared(handle)).cast()
            }

            unsafe fn from_raw(ptr: *const $c) -> $kind {
                // SAFETY: per this function's contract, `ptr` is an
                // `Arc::into_raw` of this kind's shared state whose
                // reference we now own.
                $crate::client::Kind::wrap(unsafe { ::std::sync::Arc::from_raw(ptr.cast()) })
            }
        }

        impl $crate::ffi::handle::CountedHandle for $c {}
    };
}
pub(crate) use counted_handle;

/// Which text of a handle a C string is kept for.
#[derive(Clone, Copy)]
pub(crate) enum CText {
    /// The conversation id.
    ConversationId,
    /// The other party's (or the client's own) user id.
    Uid,
    /// The caller's `userData`.
    UserData,
    /// The caller's SDP offer.
    Offer,
    /// The caller's `userData`, as fetched after a push made the invite.
    FetchedUserData,
    /// The caller's SDP offer, as fetched after a push made the invite.
    FetchedOffer,
}

/// What the C ABI keeps with a handle: the count of the app's references
/// and the C strings it handed out.
#[derive(Default)]
pub(crate) struct CSide {
    refs: AtomicUsize,
    texts: [OnceLock<CString>; 6],
}

/// The [`CSide`] kept with a handle.
fn c_side(attached: &Attached) -> &CSide {
    attached
        .get_or_default::<CSide>()
        .expect("the C ABI attaches nothing but a CSide")
}

/// A NUL-terminated copy of `text` kept with the handle (made on first
/// use), valid as long as the handle: the `which` text of the handle
/// `attached` belongs to.
pub(crate) fn kept_c_str(attached: &Attached, which: CText, text: &str) -> *const c_char {
    c_side(attached).texts[which as usize]
        .get_or_init(|| c_string(text))
        .as_ptr()
}

/// As [`kept_c_str`] for an optional text: NULL for `None`.
pub(crate) fn kept_opt_c_str(
    attached: &Attached,
    which: CText,
    text: Option<&str>,
) -> *const c_char {
    text.map_or(std::ptr::null(), |text| kept_c_str(attached, which, text))
}

/// What a `wd_*_set_callback` sets its callback on.
pub(crate) trait Listened {
    /// The listener the SDK takes.
    type Listener;

    /// Installs `listener`; whether events wait for it.
    fn listen(&self, listener: Self::Listener) -> bool;

    /// Removes the listener.
    fn clear(&self);

    /// Delivers the events waiting for a new listener (or queues them).
    fn wake(&self);
}

impl<K: Kind> Listened for K {
    type Listener = Listener<K, K::Event>;

    fn listen(&self, listener: Self::Listener) -> bool {
        self.shared().listen(listener)
    }

    fn clear(&self) {
        self.shared().clear_listener();
    }

    fn wake(&self) {
        self.shared().wake();
    }
}

/// The body of every `wd_*_set_callback`: a NULL `cb` clears the
/// callback (ignoring `user_data` and `release`); otherwise the listener
/// `wrap` makes of `cb` and the app's `user_data` replaces it. The change
/// is made under the reference lock, so a concurrent free of a handle's
/// last reference cannot clear a callback set through a newer one; events
/// that waited for the callback are delivered after the lock is released
/// (a callback may free its handle).
pub(crate) fn set_callback<T: Listened, F>(
    target: &T,
    cb: Option<F>,
    user_data: *mut c_void,
    release: wd_release_callback,
    wrap: impl FnOnce(F, UserData) -> T::Listener,
) -> wd_result {
    let waiting = with_ref_lock(|| match cb {
        None => {
            target.clear();
            false
        }
        Some(cb) => target.listen(wrap(cb, UserData::new(user_data, release))),
    });
    if waiting {
        target.wake();
    }
    wd_result::Ok
}

/// [`set_callback`] on the invite or conversation behind `ptr` (NULL is
/// NULL_PARAMETER naming `name`): each event goes to
/// `call(cb, user_data, handle, event)`, with `handle` the app's pointer,
/// borrowed for the call.
pub(crate) fn set_handle_callback<C: CountedHandle, F: Copy + Send + 'static>(
    ptr: *mut C,
    name: &str,
    cb: Option<F>,
    user_data: *mut c_void,
    release: wd_release_callback,
    call: impl Fn(F, *mut c_void, *mut C, &<C::RustType as Kind>::Event) + Send + 'static,
) -> wd_result {
    let handle = match handle_from(ptr.cast_const(), name) {
        Ok(handle) => handle,
        Err(code) => return code,
    };
    set_callback(&handle, cb, user_data, release, |cb, user_data| {
        Box::new(move |handle: &C::RustType, event: &_| {
            let ptr = borrowed_ptr::<C>(handle);
            call_guarded(|| call(cb, user_data.ptr(), ptr, event));
        })
    })
}

/// Guards the moments a C reference count may reach zero, so that
/// clearing the listener of a handle whose last reference was freed can
/// never remove a listener set through a newer reference. Releases of
/// `user_data` that would run under it are postponed until it is dropped.
static REF_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f` under [`REF_LOCK`], running any `release` it causes afterwards.
pub(crate) fn with_ref_lock<R>(f: impl FnOnce() -> R) -> R {
    // Declared first, dropped last: releases run after the lock is gone.
    let _deferred = defer_releases();
    let _lock = REF_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    f()
}

/// A new Rust handle sharing the object behind the C pointer `ptr` (which
/// stays owned by the caller), or NULL_PARAMETER naming `name`.
///
/// The C caller promises that a non-NULL `ptr` came from this library as
/// a handle of type `C` and has not been freed.
pub(crate) fn handle_from<C: ArcHandle>(ptr: *const C, name: &str) -> FfiResult<C::RustType> {
    if ptr.is_null() {
        return Err(null_parameter(name));
    }
    // SAFETY: `ptr` is a live reference made by `into_raw` (caller
    // contract). We only borrow it: `ManuallyDrop` keeps the count as it
    // was, and the clone is a new strong reference of our own.
    let borrowed = ManuallyDrop::new(unsafe { C::from_raw(ptr) });
    Ok(C::RustType::clone(&borrowed))
}

/// The Rust handle behind the C pointer `ptr`, borrowed for the duration
/// of the call without touching its reference count (for hot getters such
/// as the status queries), or NULL_PARAMETER naming `name`.
///
/// The C caller promises that a non-NULL `ptr` came from this library as
/// a handle of type `C` and is not freed while the call runs — the same
/// promise [`handle_from`] relies on.
pub(crate) fn borrow_handle<C: ArcHandle>(
    ptr: *const C,
    name: &str,
) -> FfiResult<ManuallyDrop<C::RustType>> {
    if ptr.is_null() {
        return Err(null_parameter(name));
    }
    // SAFETY: `ptr` is a live reference made by `into_raw` (caller
    // contract); `ManuallyDrop` keeps us from ever releasing it.
    Ok(ManuallyDrop::new(unsafe { C::from_raw(ptr) }))
}

/// The body of every plain getter export: borrows the handle behind `ptr`
/// (NULL_PARAMETER naming `name`), checks the out-parameter `out`, and
/// writes `read(handle)` to it.
pub(crate) fn read_into<C: ArcHandle, T>(
    ptr: *const C,
    name: &str,
    out: *mut T,
    read: impl FnOnce(&C::RustType) -> T,
) -> wd_result {
    let handle = match borrow_handle(ptr, name) {
        Ok(handle) => handle,
        Err(code) => return code,
    };
    match Out::new(out, "out") {
        Ok(out) => {
            out.set(read(&handle));
            wd_result::Ok
        }
        Err(code) => code,
    }
}

/// The C pointer for `handle`, without creating a reference (for passing
/// to a callback, valid while it runs). It equals the pointer of every C
/// reference to the same object.
pub(crate) fn borrowed_ptr<C: ArcHandle>(handle: &C::RustType) -> *mut C {
    C::as_ptr(handle).cast_mut()
}

/// A new C reference to `handle`, counted in its [`CSide`].
pub(crate) fn into_c<C: CountedHandle>(handle: &C::RustType) -> *mut C {
    refs::<C>(handle).fetch_add(1, Ordering::SeqCst);
    C::into_raw(handle).cast_mut()
}

/// The count of the app's references to `handle`.
fn refs<C: CountedHandle>(handle: &C::RustType) -> &AtomicUsize {
    &c_side(&handle.shared().attached).refs
}

/// A new C reference to `handle` (for the client, whose references are
/// not counted).
pub(crate) fn into_c_uncounted<C: ArcHandle>(handle: &C::RustType) -> *mut C {
    C::into_raw(handle).cast_mut()
}

/// Takes back the C reference `ptr` (non-NULL) without counting.
///
/// The C caller promises that `ptr` came from this library as a handle of
/// type `C` and has not been freed; it gives that reference up here.
pub(crate) fn take_uncounted<C: ArcHandle>(ptr: NonNull<C>) -> C::RustType {
    // SAFETY: `ptr` is one reference made by `into_raw`; the caller hands
    // it over, so we own it now.
    unsafe { C::from_raw(ptr.as_ptr().cast_const()) }
}

/// Frees the C reference `ptr` (NULL is a no-op). When it was the last
/// C reference, the handle's listener is cleared first.
pub(crate) fn free_counted<C: CountedHandle>(ptr: *mut C) {
    let Some(ptr) = NonNull::new(ptr) else {
        return;
    };
    let handle = take_uncounted::<C>(ptr);
    with_ref_lock(|| {
        if refs::<C>(&handle).fetch_sub(1, Ordering::SeqCst) == 1 {
            handle.shared().clear_listener();
        }
    });
    drop(handle);
}

/// An out-parameter: a checked non-NULL pointer written once on success.
pub(crate) struct Out<T> {
    ptr: NonNull<T>,
    _marker: PhantomData<*mut T>,
}

impl<T> Out<T> {
    /// Checks `ptr`, named `name` in the error.
    pub(crate) fn new(ptr: *mut T, name: &str) -> FfiResult<Out<T>> {
        match NonNull::new(ptr) {
            Some(ptr) => Ok(Out {
                ptr,
                _marker: PhantomData,
            }),
            None => Err(null_parameter(name)),
        }
    }

    /// Writes the output.
    pub(crate) fn set(self, value: T) {
        // SAFETY: non-NULL (checked in `new`) and, per the C caller's
        // contract, valid and aligned for a write of `T`. The old value is
        // not read or dropped (`T` is a plain C type).
        unsafe { self.ptr.as_ptr().write(value) }
    }
}
