//! Immutable text that is valid both as a Rust `&str` and a C string.

use std::ffi::{CStr, CString};

use super::Error;

/// UTF-8 text without NUL characters, stored NUL-terminated so the C ABI
/// can hand out a pointer to it for as long as the owning handle lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Text(CString);

impl Text {
    /// Takes `s`; `field` names it in the error if it holds a NUL.
    pub(crate) fn new(field: &str, s: String) -> Result<Self, Error> {
        CString::new(s)
            .map(Text)
            .map_err(|_| Error::invalid(field, "must not contain NUL characters"))
    }

    /// Text already checked to hold no NUL (wire fields are validated by
    /// the protocol crate); a NUL would be cut off rather than panic.
    pub(crate) fn from_checked(s: String) -> Self {
        match CString::new(s) {
            Ok(c) => Text(c),
            Err(e) => {
                let mut bytes = e.into_vec();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                bytes.truncate(end);
                Text(CString::new(bytes).expect("NUL removed"))
            }
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Built only from `String`s, so always UTF-8.
        self.0.to_str().unwrap_or_default()
    }

    pub(crate) fn as_c_str(&self) -> &CStr {
        &self.0
    }
}
