//! A live context of a library, driven from Rust exactly as a C host
//! drives it; every refusal panics (a broken bench must not report).

use std::ffi::{CStr, c_int, c_void};

use hostcall::status::HC_OK;
use hostcall::{FFICallBack, FFIHostCancelFn, FFIHostFn};
use hostcall_testkit::{Ctx, EntryPoints, complete, destroy, last_error};

use super::replies::{Replies, on_reply};

/// A live context; destroyed on drop (or by [`Context::destroy`]).
///
/// Whatever its callbacks point at must outlive it: declare this field
/// before them in a struct, or destroy it first.
pub struct Context {
    abi: &'static EntryPoints,
    ctx: Ctx,
    live: bool,
}

impl Context {
    /// A context with the default configuration.
    pub fn new(abi: &'static EntryPoints) -> Self {
        Self::with_config(abi, &[])
    }

    /// A context configured by the CBOR map `config`.
    pub fn with_config(abi: &'static EntryPoints, config: &[u8]) -> Self {
        // SAFETY: `config` is valid for its length.
        let ctx = unsafe { (abi.new)(config.as_ptr().cast(), config.len()) };
        assert!(!ctx.is_null(), "<lib>_new failed: {}", last_error(abi));
        Self {
            abi,
            ctx: Ctx(ctx as usize),
            live: true,
        }
    }

    /// The handle.
    pub fn ctx(&self) -> Ctx {
        self.ctx
    }

    /// The entry points.
    pub fn abi(&self) -> &'static EntryPoints {
        self.abi
    }

    /// Registers host fn `name`.
    ///
    /// `user_data` must stay valid for `func`/`cancel` until this context is
    /// destroyed.
    pub fn register(
        &self,
        name: &CStr,
        func: FFIHostFn,
        cancel: Option<FFIHostCancelFn>,
        user_data: *const c_void,
    ) {
        // SAFETY: `name` is NUL-terminated; the caller keeps `user_data`
        // alive for the context's life (documented above).
        let status = unsafe {
            (self.abi.register_host_fn_cancellable)(
                self.ctx.ptr(),
                name.as_ptr(),
                Some(func),
                cancel,
                user_data.cast_mut(),
            )
        };
        assert_eq!(status, HC_OK, "register: {}", last_error(self.abi));
    }

    /// `<lib>_call` with reply callback `reply` and its user data.
    ///
    /// `user_data` must stay valid for `reply` until the reply arrives (or
    /// the context is destroyed).
    #[inline]
    pub fn call_with(
        &self,
        method: &CStr,
        request: &[u8],
        reply: FFICallBack,
        user_data: *const c_void,
    ) {
        // SAFETY: `method` is NUL-terminated and `request` valid for its
        // length; the caller keeps `user_data` alive until the reply.
        let status = unsafe {
            (self.abi.call)(
                self.ctx.ptr(),
                method.as_ptr(),
                request.as_ptr().cast(),
                request.len(),
                Some(reply),
                user_data.cast_mut(),
            )
        };
        assert_eq!(status, HC_OK, "call: {}", last_error(self.abi));
    }

    /// `<lib>_call`, the reply going to `replies` (which must outlive the
    /// reply: keep it in an `Arc` the caller holds).
    #[inline]
    pub fn call(&self, method: &CStr, request: &[u8], replies: &Replies) {
        self.call_with(
            method,
            request,
            on_reply,
            std::ptr::from_ref(replies).cast(),
        );
    }

    /// `<lib>_host_complete(ctx, token, RET_OK, payload)`; returns the status.
    #[inline]
    pub fn complete(&self, token: u64, payload: &[u8]) -> c_int {
        complete(self.abi, self.ctx, token, true, payload)
    }

    /// Destroys the context (once); returns the status of `<lib>_destroy`.
    pub fn destroy(&mut self) -> c_int {
        if !std::mem::replace(&mut self.live, false) {
            return HC_OK;
        }
        destroy(self.abi, self.ctx)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.destroy();
    }
}
