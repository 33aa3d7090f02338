//! Strings across the boundary: NUL-terminated UTF-8 in, with size
//! limits; copies out into caller buffers, reporting the size needed.

use std::ffi::{c_char, CString};

use super::result::{fail, null_parameter, wd_result, FfiResult};

/// A NUL-terminated copy of `text` for C, which ends at its first NUL if
/// it holds one (the SDK's texts hold none: ids are checked, and free
/// text with a NUL is refused on its way in).
pub(crate) fn c_string(text: &str) -> CString {
    let end = text.find('\0').unwrap_or(text.len());
    CString::new(&text[..end]).unwrap_or_default()
}

/// Reads the NUL-terminated string at `ptr`, named `name` in errors, of at
/// most `max` bytes (not counting the NUL), as UTF-8.
///
/// NULL is `WD_RESULT_NULL_PARAMETER`; too long or not UTF-8 is
/// `WD_RESULT_INVALID_ARGUMENT`. The C caller promises that a non-NULL
/// `ptr` points to a NUL-terminated string that stays unchanged and alive
/// for the duration of the call (`'a` is that call).
pub(crate) fn str_in<'a>(ptr: *const c_char, name: &str, max: usize) -> FfiResult<&'a str> {
    match opt_str_in(ptr, name, max)? {
        Some(s) => Ok(s),
        None => Err(null_parameter(name)),
    }
}

/// As [`str_in`], but NULL means "absent" (`None`).
pub(crate) fn opt_str_in<'a>(
    ptr: *const c_char,
    name: &str,
    max: usize,
) -> FfiResult<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    let bytes = ptr.cast::<u8>();
    // Find the NUL, reading no further than one byte past the limit.
    let mut len = 0usize;
    loop {
        // SAFETY: `ptr` is non-NULL and, per the C caller's contract,
        // points to a NUL-terminated string; every byte up to and
        // including the first NUL is readable, and we stop at that NUL.
        let byte = unsafe { *bytes.add(len) };
        if byte == 0 {
            break;
        }
        if len == max {
            return Err(fail(
                wd_result::InvalidArgument,
                format_args!("{name}: longer than {max} bytes"),
            ));
        }
        len += 1;
    }
    // SAFETY: the `len` bytes before the NUL were just read above; the
    // string stays alive and unchanged during the call (caller contract).
    let slice = unsafe { std::slice::from_raw_parts(bytes, len) };
    match std::str::from_utf8(slice) {
        Ok(s) => Ok(Some(s)),
        Err(e) => Err(fail(
            wd_result::InvalidArgument,
            format_args!("{name}: not valid UTF-8 (at byte {})", e.valid_up_to()),
        )),
    }
}

/// A caller's buffer for a copied-out string, its arguments checked:
/// `needed` is not NULL, and `buf` is NULL only when `len` is 0 (a size
/// query). Check them with [`CopyOut::new`] before anything else (a
/// handle's state included), then [`CopyOut::write`].
pub(crate) struct CopyOut {
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
}

impl CopyOut {
    /// Checks the copy-out arguments: NULL_PARAMETER naming `needed` or
    /// `buf`.
    pub(crate) fn new(buf: *mut c_char, len: usize, needed: *mut usize) -> FfiResult<CopyOut> {
        if needed.is_null() {
            return Err(null_parameter("needed"));
        }
        if buf.is_null() && len != 0 {
            return Err(null_parameter("buf"));
        }
        Ok(CopyOut { buf, len, needed })
    }

    /// Copies `text` and a terminating NUL into the buffer, storing the
    /// size needed (text plus NUL) in `*needed` on OK and
    /// BUFFER_TOO_SMALL. The buffer is written only on OK.
    pub(crate) fn write(self, text: &[u8]) -> wd_result {
        let size = text.len() + 1;
        // SAFETY: `needed` is non-NULL (checked in `new`) and, per the C
        // caller's contract, points to a writable, aligned `size_t`.
        unsafe { self.needed.write(size) };
        if self.len < size {
            return fail(
                wd_result::BufferTooSmall,
                format_args!("buf: {} bytes given, {size} needed", self.len),
            );
        }
        let dst = self.buf.cast::<u8>();
        // SAFETY: `buf` is non-NULL here (len >= size >= 1, checked in
        // `new`) and, per the C caller's contract, valid for `len` >=
        // `size` byte writes; `text` is Rust memory, so the two cannot
        // overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), dst, text.len());
            dst.add(text.len()).write(0);
        }
        wd_result::Ok
    }
}

/// Copies `text` and a terminating NUL into `buf` (`len` bytes), storing
/// the size needed (text plus NUL) in `*needed`: [`CopyOut::new`] then
/// [`CopyOut::write`].
pub(crate) fn copy_out(text: &[u8], buf: *mut c_char, len: usize, needed: *mut usize) -> wd_result {
    match CopyOut::new(buf, len, needed) {
        Ok(out) => out.write(text),
        Err(code) => code,
    }
}
