//! The host's opaque user data, and invoking a byte callback with it.
//!
//! The function-pointer types themselves are declared once in the
//! `hostcall-abi` crate and re-exported by [`crate::abi`].

use std::ffi::c_void;

use hostcall_abi::FFICallBack;

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
