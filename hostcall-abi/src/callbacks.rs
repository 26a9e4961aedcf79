//! The C function-pointer types of the ABI: what the host hands the library
//! to be called back with.
//!
//! Each type is declared once below; the Rust aliases and the table
//! [`CALLBACKS`] (from which `hostcall.h` declares the C typedefs) come from
//! that one declaration.

use std::ffi::{c_char, c_int, c_void};

use crate::{Param, Signature};

/// Declares each callback type as a Rust alias and lists it in [`CALLBACKS`].
macro_rules! callbacks {
    ($($doc:literal $name:ident($($param:ident: $ty:ty),* $(,)?);)*) => {
        $(#[doc = $doc] pub type $name = unsafe extern "C" fn($($param: $ty),*);)*

        /// Every callback type, in the order the header declares them.
        pub const CALLBACKS: &[Signature] = &[$(Signature {
            name: stringify!($name),
            doc: $doc,
            safety: "",
            params: &[$(Param { name: stringify!($param), rust: stringify!($ty) }),*],
            ret: "()",
        }),*];
    };
}

callbacks! {
    "A reply or event callback: `msg` points at `len` bytes (CBOR when `ret` \
     is RET_OK, UTF-8 text when it is RET_ERR) that are valid only during \
     the call."
    FFICallBack(ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void);

    "A host fn: invoked on the loop thread with the call's CBOR argument \
     array; it must return promptly and answer `token` later (or inline) with \
     `<prefix>_host_complete`."
    FFIHostFn(token: u64, req: *const c_char, req_len: usize, user_data: *mut c_void);

    "Told when the library abandons the call `token`: its future was dropped \
     or timed out, or the context is shutting down."
    FFIHostCancelFn(token: u64, user_data: *mut c_void);

    "The reply of a native entry point with a signed integer result (any \
     width): on RET_OK `value` is the result and `err` is NULL; on RET_ERR \
     `value` is 0 and `err`/`err_len` is UTF-8 text valid only during the call."
    FFICallBackI64(ret: c_int, value: i64, err: *const c_char, err_len: usize, user_data: *mut c_void);

    "As FFICallBackI64, for unsigned integer results."
    FFICallBackU64(ret: c_int, value: u64, err: *const c_char, err_len: usize, user_data: *mut c_void);

    "As FFICallBackI64, for float results (any width, as double)."
    FFICallBackF64(ret: c_int, value: f64, err: *const c_char, err_len: usize, user_data: *mut c_void);

    "As FFICallBackI64, for boolean results."
    FFICallBackBool(ret: c_int, value: bool, err: *const c_char, err_len: usize, user_data: *mut c_void);
}
