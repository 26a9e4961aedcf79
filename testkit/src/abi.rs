//! The entry-point table of one exported library and the plain calls
//! through it.
//!
//! The table is `hostcall::abi::EntryPoints`; `hostcall::export!` fills one
//! per library with its symbols (`<prefix>_new`, …) as
//! `__HOSTCALL_ENTRY_POINTS`. Everything here takes it as
//! `&'static EntryPoints`.

use std::ffi::{c_char, c_int, c_void};

use hostcall::status::{RET_ERR, RET_OK};

pub use hostcall::abi::EntryPoints;

/// A context handle, as a number, so that host threads may hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx(pub usize);

impl Ctx {
    /// The handle as the C host holds it.
    #[inline]
    pub fn ptr(self) -> *mut c_void {
        self.0 as *mut c_void
    }
}

/// `<prefix>_destroy(ctx)`; returns its status.
pub fn destroy(entry: &EntryPoints, ctx: Ctx) -> c_int {
    // SAFETY: `ctx` is only looked up, never dereferenced.
    unsafe { (entry.destroy)(ctx.ptr()) }
}

/// `<prefix>_host_complete(ctx, token, ret, payload)` with any outcome code
/// `ret` (also invalid ones); returns its status.
#[inline]
pub fn complete_with(
    entry: &EntryPoints,
    ctx: Ctx,
    token: u64,
    ret: c_int,
    payload: &[u8],
) -> c_int {
    // SAFETY: `payload` is valid for its length; `ctx` is only looked up.
    unsafe {
        (entry.host_complete)(
            ctx.ptr(),
            token,
            ret,
            payload.as_ptr().cast(),
            payload.len(),
        )
    }
}

/// `<prefix>_host_complete` with `RET_OK` (`ok`) or `RET_ERR`; returns its
/// status.
#[inline]
pub fn complete(entry: &EntryPoints, ctx: Ctx, token: u64, ok: bool, payload: &[u8]) -> c_int {
    complete_with(
        entry,
        ctx,
        token,
        if ok { RET_OK } else { RET_ERR },
        payload,
    )
}

/// This thread's last failure message (`<prefix>_last_error`), cut at 511
/// bytes.
pub fn last_error(entry: &EntryPoints) -> String {
    let mut buf = [0u8; 512];
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { (entry.last_error)(buf.as_mut_ptr().cast(), buf.len()) };
    String::from_utf8_lossy(&buf[..n.min(buf.len() - 1)]).into_owned()
}

/// Borrows a callback's payload (`msg`, `len`).
///
/// # Safety
/// `ptr` must be NULL, or valid for reads of `len` bytes for the returned
/// lifetime.
#[inline]
pub unsafe fn payload<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: non-null and valid for `len` bytes (caller's obligation).
        unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }
    }
}
