//! The one panic boundary every export runs its body in.
//!
//! A Rust panic must never unwind into C (that is undefined behaviour, and
//! in `extern "C"` functions an abort). [`ffi_boundary!`] runs the body
//! under `catch_unwind`; a panic records its message as this thread's last
//! failure and returns [`PanicValue::panic_value`] for the export's return
//! type: `WD_RESULT_PANIC` for `wd_result`, nothing for `void` (the
//! `_free` functions), a static text for `const char *`.

use std::any::Any;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use super::result::{fail, wd_result};

/// What an export returns when its body panicked.
pub(crate) trait PanicValue {
    /// The value returned to C after a caught panic.
    fn panic_value() -> Self;
}

impl PanicValue for wd_result {
    fn panic_value() -> Self {
        wd_result::Panic
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

impl PanicValue for *const c_char {
    fn panic_value() -> Self {
        c"internal error in the SDK (a panic was caught)".as_ptr()
    }
}

/// Handles a caught panic: records its message and returns the export's
/// panic value.
pub(crate) fn on_panic<T: PanicValue>(payload: Box<dyn Any + Send>) -> T {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    };
    let _ = fail(wd_result::Panic, format_args!("panic: {message}"));
    // Dropping a payload can itself panic; that must not escape either.
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
    T::panic_value()
}

/// Runs the statements of an export's body inside `catch_unwind`.
///
/// The body is a closure body: `return` leaves the export with that value.
/// Every `#[no_mangle]` function in `src/ffi` wraps its whole body in this
/// macro, and nothing else catches panics.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => $crate::ffi::panic::on_panic(payload),
        }
    };
}
pub(crate) use ffi_boundary;
