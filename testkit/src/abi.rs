//! The entry-point table of one exported library and the plain calls
//! through it.
//!
//! A library's table is built once, next to the library, from the symbols
//! `hostcall::export!` generates (`<prefix>_new`, …); everything here takes
//! it as `&'static EntryPoints`.

use std::ffi::{c_char, c_int, c_void};

use hostcall::status::{RET_ERR, RET_OK};
use hostcall::{FFICallBack, FFIHostCancelFn, FFIHostFn};

// Temporary: replaced by `hostcall::abi::EntryPoints` (and each library's
// `__HOSTCALL_ENTRY_POINTS`, emitted by `hostcall::export!`) once that
// lands; the fields and signatures are the same.
/// The `extern "C"` entry points of one exported library, named after their
/// symbols' suffixes (`<prefix>_new` → `new`), with exactly the signatures
/// `hostcall::export!` generates.
pub struct EntryPoints {
    /// `<prefix>_new`.
    pub new: unsafe extern "C" fn(*const c_char, usize) -> *mut c_void,
    /// `<prefix>_destroy`.
    pub destroy: unsafe extern "C" fn(*mut c_void) -> c_int,
    /// `<prefix>_call`.
    pub call: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const c_char,
        usize,
        Option<FFICallBack>,
        *mut c_void,
    ) -> c_int,
    /// `<prefix>_register_host_fn`.
    pub register_host_fn:
        unsafe extern "C" fn(*mut c_void, *const c_char, Option<FFIHostFn>, *mut c_void) -> c_int,
    /// `<prefix>_register_host_fn_cancellable`.
    pub register_host_fn_cancellable: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        Option<FFIHostFn>,
        Option<FFIHostCancelFn>,
        *mut c_void,
    ) -> c_int,
    /// `<prefix>_host_complete`.
    pub host_complete: unsafe extern "C" fn(*mut c_void, u64, c_int, *const c_char, usize) -> c_int,
    /// `<prefix>_add_event_listener`.
    pub add_event_listener:
        unsafe extern "C" fn(*mut c_void, *const c_char, Option<FFICallBack>, *mut c_void) -> u64,
    /// `<prefix>_remove_event_listener`.
    pub remove_event_listener: unsafe extern "C" fn(*mut c_void, u64) -> c_int,
    /// `<prefix>_last_error`.
    pub last_error: unsafe extern "C" fn(*mut c_char, usize) -> usize,
    /// `<prefix>_hostcall_description`.
    pub hostcall_description: unsafe extern "C" fn(*mut usize) -> *const u8,
    /// `<prefix>_interface_hash`.
    pub interface_hash: unsafe extern "C" fn() -> u64,
}

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
