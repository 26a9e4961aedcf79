//! Requests: from a decoded call to exactly one reply.
//!
//! # Protocol
//!
//! 1. `<lib>_call` (host thread) finds the handler and runs its generated
//!    `decode`, which turns the CBOR arguments into an [`Invocation`]: a
//!    closure holding the typed arguments. A decode error becomes the
//!    request's error reply instead.
//! 2. The request, owning a [`ReplyTo`], goes through the inbox to the loop.
//! 3. The loop runs a synchronous handler at once; an async one becomes a
//!    local task. Either way a panic is caught and becomes an error reply.
//! 4. The handler's result is encoded and passed to the reply callback, once:
//!    a value, or a [`Failure`] (its error as text, or, for a
//!    library-declared error type, as CBOR with `RET_ERR_TYPED`).
//!    A [`ReplyTo`] that is dropped without replying (its task was dropped
//!    because the context is shutting down) replies `context shutting down`
//!    from its destructor, so every accepted request gets exactly one reply.

mod failure;
mod registry;
pub(crate) mod route;
pub(crate) mod small_fn;

pub use failure::Failure;
pub(crate) use registry::{HostFnEntry, Registry};

use std::any::Any;
use std::fmt::Display;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;

use std::ffi::{c_char, c_int};

use crate::abi::status::{RET_ERR, RET_INVALID_ARG, RET_OK, RET_PANIC, RET_SHUTTING_DOWN};
use crate::abi::{
    FFICallBack, FFICallBackBool, FFICallBackF64, FFICallBackI64, FFICallBackU64, UserData,
};
use small_fn::SmallFn;

/// A handler's successful result, in the form its caller asked for: CBOR
/// for `<lib>_call`, a plain value for a native entry point.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// CBOR bytes (the `<lib>_call` path).
    Cbor(Vec<u8>),
    /// UTF-8 text (native path).
    Text(String),
    /// Raw bytes (native path).
    Bytes(Vec<u8>),
    /// Nothing (native path).
    Unit,
    /// A signed integer (native path).
    I64(i64),
    /// An unsigned integer (native path).
    U64(u64),
    /// A float (native path).
    F64(f64),
    /// A boolean (native path).
    Bool(bool),
}

impl Value {
    /// A short description for logs (never the whole payload).
    pub fn brief(&self) -> String {
        match self {
            Value::Cbor(bytes) => format!("{} bytes of CBOR", bytes.len()),
            Value::Text(text) => format!("{} bytes of text", text.len()),
            Value::Bytes(bytes) => format!("{} bytes", bytes.len()),
            other => format!("{other:?}"),
        }
    }
}

/// What a handler produced: a value, or why it has none.
pub type Reply = Result<Value, Failure>;

/// A decoded request, ready to run on the loop thread. The closure holds
/// the typed arguments; it is stored inline when small ([`SmallFn`]).
pub enum Invocation {
    /// A synchronous handler: runs to completion when called.
    Sync(SmallFn<(), Reply>),
    /// An async handler: given the request's [`Responder`], spawns its
    /// future as a local task.
    Async(SmallFn<Responder, ()>),
    /// The request could not be decoded (or its decoding panicked): this
    /// is the error reply.
    Failed(Failure),
}

impl Invocation {
    /// A synchronous handler call.
    pub fn sync(run: impl FnOnce() -> Reply + Send + 'static) -> Self {
        Invocation::Sync(SmallFn::new(move |()| run()))
    }

    /// An async handler call: `spawn` receives the [`Responder`] and hands it
    /// the handler's future.
    pub fn spawn(spawn: impl FnOnce(Responder) + Send + 'static) -> Self {
        Invocation::Async(SmallFn::new(spawn))
    }
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Invocation::Sync(_) => "Invocation::Sync",
            Invocation::Async(_) => "Invocation::Async",
            Invocation::Failed(_) => "Invocation::Failed",
        })
    }
}

/// Encodes an infallible handler's result as CBOR.
pub fn reply_value<T: Serialize>(value: T) -> Reply {
    crate::wire::to_cbor(&value)
        .map(Value::Cbor)
        .map_err(|e| Failure::error(format!("the result could not be encoded: {e}")))
}

/// Encodes a fallible handler's result as CBOR; `fail` turns its error
/// into the failure (the macro passes the
/// [`Fail`](crate::library::fail::Fail) dispatch).
pub fn reply_result<T: Serialize, E>(
    result: Result<T, E>,
    fail: impl FnOnce(E) -> Failure,
) -> Reply {
    match result {
        Ok(value) => reply_value(value),
        Err(error) => Err(fail(error)),
    }
}

/// Results a native entry point hands back without serialization.
pub trait IntoNative {
    /// The plain value.
    fn into_native(self) -> Value;
}

macro_rules! into_native {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl IntoNative for $t {
            fn into_native(self) -> Value {
                Value::$variant(<$as>::from(self))
            }
        })*
    };
}

into_native! {
    i8 => I64 as i64, i16 => I64 as i64, i32 => I64 as i64, i64 => I64 as i64,
    u8 => U64 as u64, u16 => U64 as u64, u32 => U64 as u64, u64 => U64 as u64,
    f32 => F64 as f64, f64 => F64 as f64, bool => Bool as bool, String => Text as String,
}

impl IntoNative for crate::wire::Bytes {
    fn into_native(self) -> Value {
        Value::Bytes(self.0)
    }
}

impl IntoNative for () {
    fn into_native(self) -> Value {
        Value::Unit
    }
}

/// A native entry point's infallible result.
pub fn native_value<T: IntoNative>(value: T) -> Reply {
    Ok(value.into_native())
}

/// A native entry point's fallible result; `fail` as for [`reply_result`].
pub fn native_result<T: IntoNative, E>(
    result: Result<T, E>,
    fail: impl FnOnce(E) -> Failure,
) -> Reply {
    result.map(IntoNative::into_native).map_err(fail)
}

/// The error text substituted for an empty one, so a `RET_ERR` callback
/// always gets something to show.
const EMPTY_ERROR: &str = "unknown error";

/// The reply a request gets when the context is destroyed before it finished.
pub(crate) const SHUTTING_DOWN: &str = "context shutting down";

/// The callback a reply goes to: the generic one (`FFICallBack`, bytes) or
/// a native entry point's typed one.
#[derive(Debug, Clone, Copy)]
pub enum Callback {
    /// `(ret, msg, len, user_data)`: CBOR, text or raw bytes on success.
    Bytes(FFICallBack),
    /// `(ret, int64_t, err, err_len, user_data)`.
    I64(FFICallBackI64),
    /// `(ret, uint64_t, err, err_len, user_data)`.
    U64(FFICallBackU64),
    /// `(ret, double, err, err_len, user_data)`.
    F64(FFICallBackF64),
    /// `(ret, bool, err, err_len, user_data)`.
    Bool(FFICallBackBool),
}

impl Callback {
    /// Invokes the callback once with `reply`.
    fn invoke(self, reply: Reply, user_data: UserData) {
        let error = |detail: &[u8]| {
            let detail = if detail.is_empty() {
                EMPTY_ERROR.as_bytes()
            } else {
                detail
            };
            (detail.as_ptr().cast::<c_char>(), detail.len())
        };
        let ud = user_data.0;
        // SAFETY (every arm): the host registered this callback with this
        // user data for exactly one reply; the payload and error text are
        // valid for their lengths during the call (contract 5).
        match (self, reply) {
            (Callback::Bytes(cb), Ok(value)) => match value {
                Value::Cbor(bytes) | Value::Bytes(bytes) => {
                    crate::abi::invoke(cb, true, &bytes, user_data);
                    crate::wire::buffers::give(bytes);
                }
                Value::Text(text) => crate::abi::invoke(cb, true, text.as_bytes(), user_data),
                Value::Unit => crate::abi::invoke(cb, true, &[], user_data),
                other => {
                    let text = format!("internal error: a {other:?} reply for a bytes callback");
                    crate::abi::invoke(cb, false, text.as_bytes(), user_data);
                }
            },
            (Callback::Bytes(cb), Err(failure)) => {
                let (ptr, len) = error(&failure.payload);
                // SAFETY: see above.
                unsafe { cb(failure.outcome, ptr, len, ud) }
            }
            (Callback::I64(cb), reply) => {
                let (ret, value, text) = scalar(reply, |v| match v {
                    Value::I64(n) => Some(*n),
                    _ => None,
                });
                let (ptr, len) = text.as_deref().map_or((std::ptr::null(), 0), error);
                // SAFETY: see above.
                unsafe { cb(ret, value, ptr, len, ud) }
            }
            (Callback::U64(cb), reply) => {
                let (ret, value, text) = scalar(reply, |v| match v {
                    Value::U64(n) => Some(*n),
                    _ => None,
                });
                let (ptr, len) = text.as_deref().map_or((std::ptr::null(), 0), error);
                // SAFETY: see above.
                unsafe { cb(ret, value, ptr, len, ud) }
            }
            (Callback::F64(cb), reply) => {
                let (ret, value, text) = scalar(reply, |v| match v {
                    Value::F64(n) => Some(*n),
                    _ => None,
                });
                let (ptr, len) = text.as_deref().map_or((std::ptr::null(), 0), error);
                // SAFETY: see above.
                unsafe { cb(ret, value, ptr, len, ud) }
            }
            (Callback::Bool(cb), reply) => {
                let (ret, value, text) = scalar(reply, |v| match v {
                    Value::Bool(b) => Some(*b),
                    _ => None,
                });
                let (ptr, len) = text.as_deref().map_or((std::ptr::null(), 0), error);
                // SAFETY: see above.
                unsafe { cb(ret, value, ptr, len, ud) }
            }
        }
    }
}

/// Splits a reply for a typed callback into `(ret, value, error text)`.
fn scalar<T: Default>(
    reply: Reply,
    pick: impl FnOnce(&Value) -> Option<T>,
) -> (c_int, T, Option<Vec<u8>>) {
    match reply {
        Ok(value) => match pick(&value) {
            Some(v) => (RET_OK, v, None),
            None => (
                RET_ERR,
                T::default(),
                Some(
                    format!(
                        "internal error: a {} reply for a typed callback",
                        value.brief()
                    )
                    .into_bytes(),
                ),
            ),
        },
        Err(failure) => (failure.outcome, T::default(), Some(failure.payload)),
    }
}

/// An accepted request on its way to the loop (step 2). Kept small: it is
/// copied into and out of the inbox.
pub(crate) struct Request {
    /// The decoded call (or the decode error to reply with).
    pub(crate) invocation: Invocation,
    /// Where the reply goes; also names the method.
    pub(crate) reply: ReplyTo,
}

/// Where a request's one reply goes: its callback, or (for a cancellable
/// request) the route it shares with `cancel_call`.
enum Target {
    Direct(Callback, UserData),
    Routed(Arc<route::Route>),
}

/// Where a request's one reply goes.
pub(crate) struct ReplyTo {
    /// `None` once the reply was sent.
    target: Option<Target>,
    /// The method this reply answers: its handler's name, by a thin pointer
    /// into the handler's static definition. Every pending request's task
    /// holds a `ReplyTo`; a `&'static str` here (16 bytes, not 8) pushed
    /// `login`'s task past 256 bytes into the allocator's next size
    /// (384 B per pending call, measured by `benches/footprint.rs`).
    method: &'static &'static str,
}

// The size the footprint above depends on: callback, user data, name.
const _: () = assert!(std::mem::size_of::<ReplyTo>() == 32);

impl ReplyTo {
    pub(crate) fn new(
        callback: Callback,
        user_data: UserData,
        method: &'static &'static str,
    ) -> Self {
        Self {
            target: Some(Target::Direct(callback, user_data)),
            method,
        }
    }

    /// A reply through `route` (a cancellable request).
    pub(crate) fn routed(route: Arc<route::Route>) -> Self {
        Self {
            method: route.method,
            target: Some(Target::Routed(route)),
        }
    }

    /// The method this reply answers.
    pub(crate) fn method(&self) -> &'static str {
        self.method
    }

    /// The call id, for a cancellable request.
    pub(crate) fn call_id(&self) -> Option<u64> {
        match &self.target {
            Some(Target::Routed(route)) => Some(route.id),
            _ => None,
        }
    }

    /// Whether the request was withdrawn before it replied (its route's
    /// destination was taken by `cancel_call`).
    pub(crate) fn is_withdrawn(&self) -> bool {
        matches!(&self.target, Some(Target::Routed(route)) if route.is_taken())
    }

    /// Sends the reply (step 4). Loop thread only. `owned` runs first, and
    /// only if this reply is the request's (a withdrawn request's reply goes
    /// nowhere: its cancel owns it), so what it releases is released before
    /// the host sees the reply.
    pub(crate) fn send(mut self, reply: Reply, owned: impl FnOnce()) {
        let target = match self.target.take() {
            Some(Target::Direct(callback, user_data)) => Some((callback, user_data)),
            Some(Target::Routed(route)) => route.take(),
            None => None,
        };
        if let Some((callback, user_data)) = target {
            owned();
            callback.invoke(reply, user_data);
        }
    }
}

impl Drop for ReplyTo {
    /// Dropped unanswered: the task was dropped at teardown (`context shutting
    /// down`), or a panic is unwinding through the code that held it. A
    /// withdrawn request's task, dropped by its cancel, finds nothing to
    /// answer.
    fn drop(&mut self) {
        let target = match self.target.take() {
            Some(Target::Direct(callback, user_data)) => Some((callback, user_data)),
            Some(Target::Routed(route)) => route.take(),
            None => None,
        };
        if let Some((callback, user_data)) = target {
            let failure = if std::thread::panicking() {
                Failure::new(RET_PANIC, format!("handler '{}' panicked", self.method))
            } else {
                Failure::new(RET_SHUTTING_DOWN, SHUTTING_DOWN)
            };
            callback.invoke(Err(failure), user_data);
        }
    }
}

/// What an async handler's invocation receives: everything needed to run
/// its future as a local task and send the one reply (step 3). Handing the
/// future to [`Responder::spawn`] keeps it unboxed: it lives in the task
/// itself. The loop builds it and implements `spawn`
/// (`context::event_loop`), because the task is polled under the
/// loop's state; the request path only carries it.
pub struct Responder {
    pub(crate) reply: ReplyTo,
    pub(crate) span: tracing::Span,
    /// The host fns registered when the request was handled.
    pub(crate) registry: Rc<Registry>,
}

impl std::fmt::Debug for Responder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("method", &self.reply.method())
            .finish()
    }
}

/// The error text of a caught panic.
pub(crate) fn panic_text(method: &str, payload: &(dyn Any + Send)) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    format!("handler '{method}' panicked: {detail}")
}

/// The reply of a caught panic (`RET_PANIC`).
pub(crate) fn panicked(method: &str, payload: &(dyn Any + Send)) -> Failure {
    Failure::new(RET_PANIC, panic_text(method, payload))
}

/// The reply of a request whose arguments do not decode (`RET_INVALID_ARG`).
pub(crate) fn bad_request(method: &str, problem: impl Display) -> Failure {
    Failure::new(
        RET_INVALID_ARG,
        format!("bad request for '{method}': {problem}"),
    )
}

/// Runs a synchronous handler, turning a panic into an error reply.
pub(crate) fn run_sync(method: &str, run: SmallFn<(), Reply>) -> Reply {
    catch_unwind(AssertUnwindSafe(|| run.call(())))
        .unwrap_or_else(|payload| Err(panicked(method, &*payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::HostError;

    #[test]
    fn results_encode_as_cbor_and_errors_as_text() {
        assert_eq!(reply_value(7u8), Ok(Value::Cbor(vec![7])));
        assert_eq!(
            reply_result::<u8, _>(Err("nope"), |e| Failure::of(&e)),
            Err(Failure::error("nope"))
        );
        assert_eq!(
            reply_value(()),
            Ok(Value::Cbor(crate::wire::CBOR_NULL.to_vec()))
        );
        assert_eq!(native_value(7u8), Ok(Value::U64(7)));
        assert_eq!(native_value(-7i32), Ok(Value::I64(-7)));
        assert_eq!(
            native_result::<String, _>(Err("no"), |e| Failure::of(&e)),
            Err(Failure::error("no"))
        );
        let overloaded = HostError::Overloaded {
            name: "f",
            limit: 1,
        };
        let failure = reply_result::<u8, _>(Err(overloaded), |e| Failure::of(&e)).unwrap_err();
        assert_eq!(failure.outcome, crate::abi::status::RET_OVERLOADED);
        assert!(failure.text().contains("overloaded"), "{failure}");
    }

    #[test]
    fn panics_become_error_text() {
        let reply = run_sync("m", SmallFn::new(|()| panic!("boom {}", 1)));
        assert_eq!(
            reply,
            Err(Failure::new(RET_PANIC, "handler 'm' panicked: boom 1"))
        );
        let reply = run_sync("m", SmallFn::new(|()| std::panic::panic_any(5u8)));
        assert_eq!(
            reply,
            Err(Failure::new(
                RET_PANIC,
                "handler 'm' panicked: non-string panic payload"
            ))
        );
    }
}
