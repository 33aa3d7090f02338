//! The C ABI declared in `include/wilddog_video.h` (generated from this
//! module by cbindgen; see `cbindgen.toml`).
//!
//! This layer holds handles, results, strings and callbacks — nothing
//! else. Every export:
//!
//! - is `#[no_mangle] pub extern "C"` and runs its body inside the one
//!   panic boundary, `ffi_boundary!` (in `panic.rs`), so a panic becomes
//!   `WD_RESULT_PANIC` (or is swallowed by `_free` functions) and never
//!   unwinds into C;
//! - checks every pointer it is given: NULL is `WD_RESULT_NULL_PARAMETER`,
//!   never a crash (`_free(NULL)` is a no-op);
//! - reads strings as NUL-terminated UTF-8 with a size limit, and writes
//!   its outputs through trailing out-parameters only on success;
//! - records the detail of a failure for `wd_last_error` on this thread.
//!
//! Handles are `Arc::into_raw` of the Rust handle's shared state, so a
//! callback that is running keeps its object alive after `_free`. Each C
//! reference is counted (in the `CSide` the C ABI attaches to the handle,
//! see `handle.rs`); when the last one is freed the handle's callback is
//! cleared, which releases its `user_data` exactly once.

// Exports are plain `extern "C"` functions taking raw pointers, the way
// rustls-ffi does it: every pointer is checked for NULL before it is used
// (see `handle.rs`, `strings.rs` and the `try_*` macros), and beyond that
// the C caller's promise that a non-NULL pointer is valid is the contract
// stated in each function's documentation. Marking every export `unsafe`
// would change nothing for C callers.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
// The C names (`wd_client`, `wd_result`, …) are the API.
#![allow(non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn)]

mod handle;
mod panic;
mod strings;

pub mod callback;
pub mod client;
pub mod conversation;
pub mod incoming;
pub mod log;
pub mod outgoing;
pub mod push;
pub mod result;
pub mod types;
pub mod version;

#[cfg(test)]
mod tests;
