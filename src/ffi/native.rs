//! The native entry points, `<lib>_native_<method>`: C arguments in, a
//! typed callback out, no CBOR on either side. `export!` emits one per
//! handler whose arguments and result are scalars, text or bytes; its
//! wrapper copies each argument with [`native_text`] or [`native_bytes`] and
//! hands them to [`native_call`], which follows the same five steps as
//! every entry point ([`crate::ffi`]). In an isolated context the
//! arguments travel to the helper as CBOR and the result comes back as
//! CBOR, decoded into its native form here.

use std::ffi::{c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{accepting, admit, enter, fail, guarded};
use crate::abi::UserData;
use crate::abi::status::*;
use crate::context::Msg;
use crate::library::{HandlerDef, Library};
use crate::remote::proxy::RemoteRequest;
use crate::request::{
    Callback, Failure, IntoNative, Invocation, Reply, Request, Value, bad_request, panicked,
};

/// Why a native entry point's arguments were refused.
#[derive(Debug)]
pub enum NativeArgError {
    /// A pointer argument was NULL with a non-zero length: `HC_ERR_NULL_ARG`.
    Null(&'static str),
    /// An argument was unusable (text that is not UTF-8): an error reply.
    Invalid(String),
}

/// Copies a native text argument, checking it is UTF-8.
///
/// # Safety
/// Unless NULL, `ptr` must be valid for reads of `len` bytes.
pub unsafe fn native_text(
    ptr: *const c_char,
    len: usize,
    name: &'static str,
) -> Result<String, NativeArgError> {
    // SAFETY: forwarded caller obligation.
    let bytes = unsafe { native_slice(ptr, len, name) }?;
    String::from_utf8(bytes.to_vec())
        .map_err(|e| NativeArgError::Invalid(format!("argument `{name}` is not valid UTF-8: {e}")))
}

/// Copies a native byte-string argument.
///
/// # Safety
/// Unless NULL, `ptr` must be valid for reads of `len` bytes.
pub unsafe fn native_bytes(
    ptr: *const u8,
    len: usize,
    name: &'static str,
) -> Result<crate::wire::Bytes, NativeArgError> {
    // SAFETY: forwarded caller obligation.
    Ok(crate::wire::Bytes(
        unsafe { native_slice(ptr.cast(), len, name) }?.to_vec(),
    ))
}

/// # Safety
/// Unless NULL, `ptr` must be valid for reads of `len` bytes for `'a`.
unsafe fn native_slice<'a>(
    ptr: *const c_char,
    len: usize,
    name: &'static str,
) -> Result<&'a [u8], NativeArgError> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(NativeArgError::Null(name))
        };
    }
    // SAFETY: non-null and valid for `len` bytes (caller's obligation).
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// What a native entry point hands to [`native_call`]: how to read its C
/// arguments, how to run the handler on them in process, and how to turn
/// a CBOR result back into its native form (when the handler runs in a
/// helper process, `isolation`).
pub struct NativeCall<B, I, A>
where
    B: FnOnce() -> Result<A, NativeArgError>,
    I: FnOnce(A) -> Invocation,
{
    /// Copies the C arguments; runs before the entry point returns.
    pub build: B,
    /// The in-process invocation of the handler.
    pub invoke: I,
    /// The native reply of a CBOR result (isolated contexts).
    pub reply: fn(&[u8]) -> Reply,
}

/// The native reply of a handler result that arrived as CBOR (an isolated
/// context's native entry point).
pub fn native_from_cbor<T: IntoNative + DeserializeOwned>(cbor: &[u8]) -> Reply {
    crate::wire::from_cbor::<T>(cbor)
        .map(IntoNative::into_native)
        .map_err(|e| Failure::error(format!("the helper's result does not decode: {e}")))
}

/// A native (zero-serialization) entry point: `<lib>_native_<method>`.
/// `call.build` copies the C arguments before this returns; in process
/// `call.invoke` runs the handler on them, and in an isolated context they
/// travel to the helper as a CBOR argument array instead.
///
/// With `call_id`, the cancellable form
/// (`<lib>_native_<method>_cancellable`): the request's id is written there,
/// as `call_cancellable` does, for `cancel_call`.
///
/// # Safety
/// Whatever `call.build` reads must be valid during the call; `call_id`,
/// if given, is NULL or valid for a write.
pub unsafe fn native_call<B, I, A>(
    library: &'static Library,
    ctx: *mut c_void,
    handler: &'static HandlerDef,
    (callback, user_data): (Option<Callback>, *mut c_void),
    call_id: Option<*mut u64>,
    call: NativeCall<B, I, A>,
) -> c_int
where
    B: FnOnce() -> Result<A, NativeArgError>,
    I: FnOnce(A) -> Invocation,
    A: Serialize,
{
    guarded(handler.name, HC_ERR_PANIC, || {
        if ctx.is_null() {
            return fail(HC_ERR_NULL_ARG, "ctx is NULL");
        }
        if call_id.is_some_and(|p| p.is_null()) {
            return fail(HC_ERR_NULL_ARG, "call_id is NULL");
        }
        let Some(callback) = callback else {
            return fail(HC_ERR_NULL_ARG, "callback is NULL");
        };
        let shared = match enter(library, ctx) {
            Ok(shared) => shared,
            Err(status) => return status,
        };
        if let Err(status) = accepting(&shared) {
            return status;
        }
        let NativeCall {
            build,
            invoke,
            reply,
        } = call;
        let isolated = shared.config.isolation.is_some();
        let invocation = match catch_unwind(AssertUnwindSafe(|| {
            build().map(|args| {
                if isolated {
                    remote(handler, &args, reply)
                } else {
                    invoke(args)
                }
            })
        })) {
            Ok(Ok(invocation)) => invocation,
            Ok(Err(NativeArgError::Null(name))) => {
                return fail(
                    HC_ERR_NULL_ARG,
                    format!("argument `{name}` is NULL but its length is not 0"),
                );
            }
            Ok(Err(NativeArgError::Invalid(problem))) => {
                Invocation::Failed(bad_request(handler.name, problem))
            }
            Err(payload) => Invocation::Failed(panicked(handler.name, &*payload)),
        };
        if let Err(status) = admit(&shared) {
            return status;
        }
        // SAFETY: `call_id` is valid for a write (checked non-NULL above;
        // this function's contract).
        let reply = unsafe {
            super::reply_to(
                &shared,
                callback,
                UserData(user_data),
                &handler.name,
                call_id,
            )
        };
        shared.send(Msg::Request(Request { invocation, reply }));
        HC_OK
    })
}

/// An isolated context's native request: the arguments go to the helper
/// as CBOR (`remote::proxy`, step 1), the result comes back through `reply`.
fn remote<A: Serialize>(
    handler: &'static HandlerDef,
    args: &A,
    reply: fn(&[u8]) -> Reply,
) -> Invocation {
    let args = match crate::wire::to_cbor(args) {
        // The one tuple serde writes as null rather than an array: `()`,
        // a handler without arguments.
        Ok(args) if args == crate::wire::CBOR_NULL => vec![0x80],
        Ok(args) => args,
        Err(problem) => return Invocation::Failed(bad_request(handler.name, problem)),
    };
    RemoteRequest::invocation(handler.name, args, move |result| match result {
        Ok(Value::Cbor(cbor)) => reply(&cbor),
        other => other,
    })
}
