//! The C function-pointer types of the ABI and the host's opaque user data.

use std::ffi::{c_char, c_int, c_void};

/// A reply or event callback: `(ret, msg, len, user_data)`.
///
/// `msg` points at `len` bytes (CBOR when `ret == RET_OK`, UTF-8 text when
/// `ret == RET_ERR`) that are valid only during the call.
pub type FFICallBack =
    unsafe extern "C" fn(ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void);

/// A native entry point's reply with an `int64_t` result (all signed
/// integer results): `(ret, value, err, err_len, user_data)`. On `RET_OK`
/// `err` is NULL; on `RET_ERR` `value` is 0 and `err` is UTF-8 text valid
/// during the call.
pub type FFICallBackI64 = unsafe extern "C" fn(
    ret: c_int,
    value: i64,
    err: *const c_char,
    err_len: usize,
    user_data: *mut c_void,
);
/// As [`FFICallBackI64`], for unsigned integer results.
pub type FFICallBackU64 = unsafe extern "C" fn(
    ret: c_int,
    value: u64,
    err: *const c_char,
    err_len: usize,
    user_data: *mut c_void,
);
/// As [`FFICallBackI64`], for float results.
pub type FFICallBackF64 = unsafe extern "C" fn(
    ret: c_int,
    value: f64,
    err: *const c_char,
    err_len: usize,
    user_data: *mut c_void,
);
/// As [`FFICallBackI64`], for boolean results.
pub type FFICallBackBool = unsafe extern "C" fn(
    ret: c_int,
    value: bool,
    err: *const c_char,
    err_len: usize,
    user_data: *mut c_void,
);

/// A host fn implementation: `(token, req, req_len, user_data)`.
///
/// Invoked on the context's loop thread; it must return promptly and answer
/// later (or inline) with `<lib>_host_complete(ctx, token, …)`.
pub type FFIHostFn =
    unsafe extern "C" fn(token: u64, req: *const c_char, req_len: usize, user_data: *mut c_void);

/// A host fn's cancel notifier: the call `token` was abandoned by the library
/// (its future was dropped or timed out, or the context is shutting down).
pub type FFIHostCancelFn = unsafe extern "C" fn(token: u64, user_data: *mut c_void);

/// The host's `void *user_data`, carried to the loop thread and handed back.
///
/// The runtime never dereferences it. By registering it, the host promises
/// that its callbacks may receive it on the loop thread; that promise is what
/// makes sending it there sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserData(pub *mut c_void);

// SAFETY: the pointer is opaque to the runtime and only handed back to the
// host's own callbacks, on the thread the threading contract names; the host
// vouches for it being usable there (see the type's documentation).
unsafe impl Send for UserData {}
// SAFETY: as above; the runtime only copies the pointer value.
unsafe impl Sync for UserData {}

/// Invokes a reply or event callback with a byte payload.
pub(crate) fn invoke(callback: FFICallBack, ok: bool, payload: &[u8], user_data: UserData) {
    let ret = if ok {
        crate::abi::status::RET_OK
    } else {
        crate::abi::status::RET_ERR
    };
    // SAFETY: the host registered `callback` for exactly this use; `payload`
    // is valid for `len` bytes for the duration of the call (contract 5).
    unsafe { callback(ret, payload.as_ptr().cast(), payload.len(), user_data.0) };
}
