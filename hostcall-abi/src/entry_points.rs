//! The entry points every hostcall library exports, `<prefix>_<name>`.
//!
//! Each is declared once below, in Rust, with its documentation and its
//! safety contract. From that one declaration come:
//!
//! 1. [`EntryPoints`], a table of typed function pointers: `export!` emits
//!    one, `__HOSTCALL_ENTRY_POINTS`, filled with the library's symbols, and
//!    the tests and benches call a library through it;
//! 2. [`ENTRY_POINTS`], the same list as data: `export!` emits each symbol
//!    from it (forwarding to `hostcall::ffi::<name>`), and `hostcall-gen`
//!    renders each prototype of `<prefix>.h` from it (C types by
//!    [`crate::ctype`]).
//!
//! The order is the order of the header. The native entry points
//! (`<prefix>_native_<method>`) are per handler and come from
//! [`crate::native`].

use std::ffi::{c_char, c_int, c_void};

use crate::callbacks::{FFICallBack, FFIHostCancelFn, FFIHostFn};
use crate::{Param, Signature};

/// Declares the table type [`EntryPoints`] and the list [`ENTRY_POINTS`].
macro_rules! entry_points {
    ($(
        doc $doc:literal
        safety $safety:literal
        fn $name:ident($($param:ident: $ty:ty),* $(,)?) -> $ret:ty;
    )*) => {
        /// A library's entry points as typed function pointers, one field
        /// per entry point (named by its suffix). `export!` emits one for
        /// each library as `__HOSTCALL_ENTRY_POINTS`.
        #[derive(Debug, Clone, Copy)]
        pub struct EntryPoints {
            $(#[doc = $doc] pub $name: unsafe extern "C" fn($($ty),*) -> $ret,)*
        }

        impl EntryPoints {
            /// The table of a library loaded at run time: `symbol` is
            /// asked for each entry point by its suffix (`new`, `call`, …)
            /// and returns its address, or NULL when the library lacks it
            /// (then this fails with the suffix).
            ///
            /// # Safety
            /// Each non-NULL address `symbol` returns must be that entry
            /// point of one hostcall library, with the signature declared
            /// here, and stay valid while the table is used.
            pub unsafe fn load(
                mut symbol: impl FnMut(&str) -> *const c_void,
            ) -> Result<Self, &'static str> {
                Ok(Self {
                    $($name: {
                        let address = symbol(stringify!($name));
                        if address.is_null() {
                            return Err(stringify!($name));
                        }
                        // SAFETY: the entry point's own address, with the
                        // signature declared here (the caller's
                        // obligation); function and data pointers have
                        // one size on every platform hostcall supports.
                        unsafe {
                            std::mem::transmute::<*const c_void, unsafe extern "C" fn($($ty),*) -> $ret>(
                                address,
                            )
                        }
                    },)*
                })
            }
        }

        /// Every entry point, in the order of the header.
        pub const ENTRY_POINTS: &[Signature] = &[$(Signature {
            name: stringify!($name),
            doc: $doc,
            safety: $safety,
            params: &[$(Param { name: stringify!($param), rust: stringify!($ty) }),*],
            ret: stringify!($ret),
        }),*];
    };
}

entry_points! {
    doc "Creates a context from `config`, a CBOR map of the config keys \
         (NULL/0 for defaults); unknown keys are an error. Returns NULL on \
         failure (last_error says why)."
    safety "`config` must be NULL or valid for reads of `config_len` bytes."
    fn new(config: *const c_char, config_len: usize) -> *mut c_void;

    doc "Destroys a context. Pending requests get one RET_SHUTTING_DOWN \"context \
         shutting down\" reply, pending host calls are cancelled, the loop \
         thread is joined and memory is freed. From a callback on the loop \
         thread, teardown finishes when the callback returns. Later use of \
         `ctx` returns HC_ERR_INVALID_CONTEXT."
    safety "None: `ctx` is looked up, never dereferenced."
    fn destroy(ctx: *mut c_void) -> c_int;

    doc "Calls `method` with a CBOR argument array. If and only if this \
         returns HC_OK, `cb` is invoked exactly once, on the loop thread."
    safety "`method` must be NULL or NUL-terminated; `req` NULL or valid for \
            reads of `req_len` bytes."
    fn call(
        ctx: *mut c_void,
        method: *const c_char,
        req: *const c_char,
        req_len: usize,
        cb: Option<FFICallBack>,
        user_data: *mut c_void,
    ) -> c_int;

    doc "As call, and `*call_id` receives the request's id for cancel_call \
         when this returns HC_OK (set before any reply can run). Ids are \
         never reused in a context's life."
    safety "As for call; `call_id` must be valid for a write (NULL is \
            refused with HC_ERR_NULL_ARG)."
    fn call_cancellable(
        ctx: *mut c_void,
        method: *const c_char,
        req: *const c_char,
        req_len: usize,
        cb: Option<FFICallBack>,
        user_data: *mut c_void,
        call_id: *mut u64,
    ) -> c_int;

    doc "Withdraws request `call_id`: its one reply is RET_CANCELLED and the \
         handler's future is dropped on the loop's next turn (the host calls \
         still pending then are cancelled and their cancel notifiers run; \
         one completed before that is accepted and discarded). HC_OK if the request \
         had not replied; HC_ERR_UNKNOWN_TOKEN if the id is unknown or the \
         request has replied (it got its real reply and nothing more). Any \
         thread, any time, including from inside callbacks."
    safety "None: `ctx` is looked up, never dereferenced."
    fn cancel_call(ctx: *mut c_void, call_id: u64) -> c_int;

    doc "Registers the host's implementation of host fn `name` (replacing any)."
    safety "`name` must be NULL or NUL-terminated; `func` must be callable \
            with `user_data` on the loop thread until the context is destroyed."
    fn register_host_fn(
        ctx: *mut c_void,
        name: *const c_char,
        func: Option<FFIHostFn>,
        user_data: *mut c_void,
    ) -> c_int;

    doc "As register_host_fn, plus `cancel`, told when a call is abandoned \
         (dropped, timed out, shutting down)."
    safety "As for register_host_fn; `cancel` may be NULL."
    fn register_host_fn_cancellable(
        ctx: *mut c_void,
        name: *const c_char,
        func: Option<FFIHostFn>,
        cancel: Option<FFIHostCancelFn>,
        user_data: *mut c_void,
    ) -> c_int;

    doc "Completes host call `token` with RET_OK and CBOR, RET_ERR and \
         UTF-8 text, or RET_ERR_TYPED and the CBOR of the host fn's declared \
         error type (any other `ret` is HC_ERR_INVALID_ARG). Any thread, any \
         time, including inline from the host fn. Returns \
         HC_ERR_UNKNOWN_TOKEN for a token that is unknown, already \
         completed, cancelled or timed out."
    safety "`msg` must be NULL or valid for reads of `len` bytes."
    fn host_complete(
        ctx: *mut c_void,
        token: u64,
        ret: c_int,
        msg: *const c_char,
        len: usize,
    ) -> c_int;

    doc "The request host call `token` serves: the call id call_cancellable \
         (or a native entry point's _cancellable form) gave the request whose \
         handler made the call, or 0 when it was made for no cancellable \
         request (a plain call, a task the library spawned). Answers only inside the host fn's invocation for \
         `token`, on the thread running it; 0 anywhere else."
    safety "None: `ctx` is compared, never dereferenced."
    fn host_call_origin(ctx: *mut c_void, token: u64) -> u64;

    doc "Adds a listener for `event`; returns its id, or 0 on failure."
    safety "`event` must be NULL or NUL-terminated; `cb` must be callable \
            with `user_data` on the loop thread until removed or destroyed."
    fn add_event_listener(
        ctx: *mut c_void,
        event: *const c_char,
        cb: Option<FFICallBack>,
        user_data: *mut c_void,
    ) -> u64;

    doc "Removes a listener; once this returns it is not running and never \
         runs again."
    safety "None: `ctx` is looked up, never dereferenced."
    fn remove_event_listener(ctx: *mut c_void, listener_id: u64) -> c_int;

    doc "Copies the calling thread's last failure message into `buf` (always \
         NUL-terminated when cap > 0) and returns its full length."
    safety "`buf` must be NULL or valid for writes of `cap` bytes."
    fn last_error(buf: *mut c_char, cap: usize) -> usize;

    doc "The library's self-description (CBOR), valid for the process's \
         life; `*len` receives its length."
    safety "`len` must be NULL or valid for a write."
    fn hostcall_description(len: *mut usize) -> *const u8;

    doc "The interface hash of the loaded library; generated bindings compare \
         it with the hash they were generated from."
    safety "None."
    fn interface_hash() -> u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_documented() {
        for (i, a) in ENTRY_POINTS.iter().enumerate() {
            assert!(!a.doc.is_empty() && !a.safety.is_empty(), "{}", a.name);
            assert!(ENTRY_POINTS[i + 1..].iter().all(|b| b.name != a.name));
        }
    }

    #[test]
    fn prototypes_read_as_c() {
        let call = ENTRY_POINTS.iter().find(|e| e.name == "call").unwrap();
        assert_eq!(call.c_ret(), "int");
        assert_eq!(
            call.c_params().join(", "),
            "void *ctx, const char *method, const char *req, size_t req_len, \
             FFICallBack cb, void *user_data"
        );
        let hash = ENTRY_POINTS.last().unwrap();
        assert!(hash.params.is_empty());
        assert_eq!(hash.c_ret(), "uint64_t");
    }
}
