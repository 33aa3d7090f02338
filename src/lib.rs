//! wilddog-video: conversation invites (ring someone, they accept or
//! reject, a conversation starts) as a native SDK with a C ABI.
//!
//! Layers, each with one job:
//! - [`engine`]: sans-IO state machines, `(input, now) → (messages, events, timers)`;
//! - [`client`]: one connection to a `wd-signal` server, one I/O thread, one
//!   event thread;
//! - `ffi`: the `extern "C"` surface declared in `include/wilddog_video.h`.

#![warn(missing_docs)]

pub mod client;
pub mod engine;
pub mod ffi;

pub use wd_protocol as protocol;
