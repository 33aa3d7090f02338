//! `wd_version`: the version of the library at run time.

use std::ffi::c_char;

use super::panic::ffi_boundary;

/// The version of this library, `"MAJOR.MINOR.PATCH"` (from Cargo.toml).
const VERSION: &std::ffi::CStr = match std::ffi::CStr::from_bytes_with_nul(
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes(),
) {
    Ok(v) => v,
    Err(_) => panic!("the crate version contains a NUL"),
};

/// Returns the version of the library linked at run time as a static,
/// NUL-terminated string `"MAJOR.MINOR.PATCH"` (e.g. `"0.1.0"`); compare
/// it with `WD_VERSION_MAJOR`, `WD_VERSION_MINOR` and `WD_VERSION_PATCH`,
/// the version of the header the program was compiled with.
///
/// Never returns NULL. The string lives as long as the program; do not
/// free it. Callable from any thread, at any time (no client needed),
/// including inside callbacks.
#[no_mangle]
pub extern "C" fn wd_version() -> *const c_char {
    ffi_boundary! {
        VERSION.as_ptr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_cargo() {
        // SAFETY: wd_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(wd_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        let parts: Vec<&str> = env!("CARGO_PKG_VERSION").split('.').collect();
        assert_eq!(parts[0], env!("CARGO_PKG_VERSION_MAJOR"));
        assert_eq!(parts.len(), 3);
    }
}
