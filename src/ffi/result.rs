//! `wd_result`, its messages, and the detail of this thread's last
//! failure.

use std::cell::RefCell;
use std::ffi::{c_char, CStr};

use super::panic::ffi_boundary;
use super::strings::copy_out;
use crate::client::Error;

/// What every fallible function returns. `WD_RESULT_OK` is 0; new codes
/// are only ever added at the end. `wd_result_message` describes a code,
/// `wd_last_error` gives the detail of this thread's last failure.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[must_use]
pub enum wd_result {
    /// Success; the out-parameters were written.
    Ok = 0,
    /// A pointer parameter that must not be NULL was NULL.
    NullParameter = 1,
    /// An argument broke a rule (bad UTF-8, too long, a bad JSON field,
    /// an unknown enum value); `wd_last_error` names it.
    InvalidArgument = 2,
    /// The call is not valid in the object's current state (e.g. cancel
    /// after accepted); nothing changed.
    InvalidState = 3,
    /// The client has no connection to the server.
    NotConnected = 4,
    /// The caller's buffer is too small; `*needed` holds the size needed.
    BufferTooSmall = 5,
    /// The SDK failed internally (a Rust panic was caught at the boundary).
    Panic = 6,
    /// The server refused the client's token.
    Unauthorized = 7,
    /// The server could not be reached, or the connection broke.
    Network = 8,
    /// The server answered something this SDK does not understand.
    Protocol = 9,
    /// The TLS handshake failed: the server's certificate is not trusted,
    /// has expired, or does not name the host (`wd_last_error` says which).
    Tls = 10,
}

impl wd_result {
    /// Every code, in numeric order.
    pub(crate) const ALL: [wd_result; 11] = [
        wd_result::Ok,
        wd_result::NullParameter,
        wd_result::InvalidArgument,
        wd_result::InvalidState,
        wd_result::NotConnected,
        wd_result::BufferTooSmall,
        wd_result::Panic,
        wd_result::Unauthorized,
        wd_result::Network,
        wd_result::Protocol,
        wd_result::Tls,
    ];

    /// The code with numeric value `value`, if there is one.
    pub(crate) fn from_u32(value: u32) -> Option<wd_result> {
        wd_result::ALL.get(value as usize).copied()
    }

    /// A static description of the code.
    pub(crate) fn message(self) -> &'static CStr {
        match self {
            wd_result::Ok => c"success",
            wd_result::NullParameter => c"a required pointer parameter was NULL",
            wd_result::InvalidArgument => c"an argument is invalid",
            wd_result::InvalidState => c"the call is not valid in the object's current state",
            wd_result::NotConnected => c"the client is not connected to the server",
            wd_result::BufferTooSmall => c"the buffer is too small for the result",
            wd_result::Panic => c"internal error in the SDK (a panic was caught)",
            wd_result::Unauthorized => c"the server refused the credentials",
            wd_result::Network => c"the server could not be reached, or the connection broke",
            wd_result::Protocol => c"the server sent something this SDK does not understand",
            wd_result::Tls => {
                c"the TLS handshake failed (untrusted, expired or wrong-host certificate)"
            }
        }
    }
}

/// The result of an internal step: the error code has already been
/// recorded as this thread's last failure.
pub(crate) type FfiResult<T> = Result<T, wd_result>;

thread_local! {
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Records `detail` as this thread's last failure and returns `code`.
pub(crate) fn fail(code: wd_result, detail: impl std::fmt::Display) -> wd_result {
    let mut text = detail.to_string().into_bytes();
    // The detail is handed out as a C string.
    text.retain(|&b| b != 0);
    LAST_ERROR.with(|cell| {
        if let Ok(mut last) = cell.try_borrow_mut() {
            *last = text;
        }
    });
    code
}

/// Records a NULL pointer parameter named `name`.
pub(crate) fn null_parameter(name: &str) -> wd_result {
    fail(
        wd_result::NullParameter,
        format_args!("{name}: must not be NULL"),
    )
}

/// Maps an SDK error to its code, recording its detail.
pub(crate) fn from_error(error: &Error) -> wd_result {
    let code = match error {
        Error::InvalidArgument { .. } => wd_result::InvalidArgument,
        Error::InvalidState { .. } => wd_result::InvalidState,
        Error::NotConnected => wd_result::NotConnected,
        Error::Unauthorized(_) => wd_result::Unauthorized,
        Error::Network(_) => wd_result::Network,
        Error::Protocol(_) => wd_result::Protocol,
        Error::Tls(_) => wd_result::Tls,
    };
    fail(code, error)
}

/// Unwraps a `Result<T, Error>`, or records the error and returns its
/// code from the enclosing export.
macro_rules! try_sdk {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return $crate::ffi::result::from_error(&err),
        }
    };
}
pub(crate) use try_sdk;

/// Unwraps an [`FfiResult`], or returns its (already recorded) code from
/// the enclosing export.
macro_rules! try_ffi {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
}
pub(crate) use try_ffi;

/// Returns a static, NUL-terminated English description of `result` (a
/// `wd_result` value). Never returns NULL: an unknown value gets a text
/// saying so.
///
/// The text lives as long as the program; do not free it. Callable from
/// any thread, including inside callbacks.
#[no_mangle]
pub extern "C" fn wd_result_message(result: u32) -> *const c_char {
    ffi_boundary! {
        match wd_result::from_u32(result) {
            Some(code) => code.message().as_ptr(),
            None => c"unknown wd_result value".as_ptr(),
        }
    }
}

/// Copies the detail of the last failure of an SDK call on this thread
/// (e.g. `"userData: longer than 8192 bytes"`) into `buf` as a
/// NUL-terminated UTF-8 string; the empty string if no call on this thread
/// has failed yet. The detail stays until the next failure on this thread;
/// successful calls do not clear it, and `wd_last_error` itself never
/// changes it.
///
/// Copy-out rules (as for every function that fills a buffer): `needed`
/// must not be NULL and receives the size including the terminating NUL
/// whenever the result is `WD_RESULT_OK` or `WD_RESULT_BUFFER_TOO_SMALL`;
/// `buf` is written only on `WD_RESULT_OK`; `buf` may be NULL only when
/// `len` is 0 (a size query, answered with `WD_RESULT_BUFFER_TOO_SMALL`).
///
/// Callable from any thread, including inside callbacks.
#[no_mangle]
pub extern "C" fn wd_last_error(buf: *mut c_char, len: usize, needed: *mut usize) -> wd_result {
    ffi_boundary! {
        let detail = LAST_ERROR.with(|cell| cell.try_borrow().map(|v| v.clone()).unwrap_or_default());
        // Failures of this call must not overwrite the detail it reports.
        let saved = detail.clone();
        let result = copy_out(&detail, buf, len, needed);
        if result != wd_result::Ok {
            LAST_ERROR.with(|cell| {
                if let Ok(mut last) = cell.try_borrow_mut() {
                    *last = saved;
                }
            });
        }
        result
    }
}

/// The detail recorded for this thread's last failure (for tests).
#[cfg(test)]
pub(crate) fn last_error() -> String {
    LAST_ERROR.with(|cell| String::from_utf8_lossy(&cell.borrow()).into_owned())
}
