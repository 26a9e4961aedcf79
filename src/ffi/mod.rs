//! The C entry points. `export!` generates one thin `extern "C"` wrapper per
//! function that passes its library's [`Library`] here.
//!
//! Every function:
//!
//! 1. catches panics (contract 4) and turns them into `HC_ERR_PANIC`, `NULL`
//!    or `0`, recording the message for `<lib>_last_error`;
//! 2. checks pointers before touching anything (`HC_ERR_NULL_ARG`);
//! 3. enters the context through its handle (`HC_ERR_INVALID_CONTEXT` for a
//!    destroyed or foreign one) and never blocks or calls the host while the
//!    handle guard is held;
//! 4. copies every byte it is given before returning (contract 5);
//! 5. returns a status, and invokes the callback it was given exactly once if
//!    and only if that status is `HC_OK`.

#[cfg(test)]
mod failed_loop;
mod native;

pub use native::{
    NativeArgError, NativeCall, native_bytes, native_call, native_from_cbor, native_text,
};

use std::cell::RefCell;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crate::abi::status::*;
use crate::abi::{FFICallBack, FFIHostCancelFn, FFIHostFn, UserData};
use crate::context::config::Config;
use crate::context::event_loop::{self, LoopState};
use crate::context::{Msg, Shared};
use crate::core::handle::{Guard, HandleTable};
use crate::core::inflight::{Answer, Completion};
use crate::library::Library;
use crate::remote::proxy::RemoteRequest;
use crate::request::{
    Callback, HostFnEntry, Invocation, ReplyTo, Request, bad_request, panic_text, panicked,
};

/// Every live context of every library in this binary.
static CONTEXTS: HandleTable<Shared> = HandleTable::new();

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_last_error(message: String) {
    tracing::debug!(%message, "entry point refused");
    let _ = LAST_ERROR.try_with(|last| *last.borrow_mut() = message);
}

/// Records why a call failed and returns `status`.
fn fail(status: c_int, message: impl Into<String>) -> c_int {
    set_last_error(format!("{}: {}", status_name(status), message.into()));
    status
}

/// Refuses new work (`HC_ERR_SHUTTING_DOWN`) once the context's loop has
/// failed, or, isolated without restart, its helper is gone for good.
fn accepting(shared: &Shared) -> Result<(), c_int> {
    if shared.is_closing() {
        return Err(fail(
            HC_ERR_SHUTTING_DOWN,
            "the context's event loop has failed",
        ));
    }
    match shared.gone.get() {
        Some(why) => Err(fail(HC_ERR_SHUTTING_DOWN, why.clone())),
        None => Ok(()),
    }
}

/// Counts a new request against `max_pending_requests`, or refuses it
/// with `HC_ERR_OVERLOADED`.
fn admit(shared: &Shared) -> Result<(), c_int> {
    if shared.admit_request() {
        return Ok(());
    }
    Err(fail(
        HC_ERR_OVERLOADED,
        format!(
            "{} requests already pending (max_pending_requests)",
            shared.config.max_pending_requests.unwrap_or_default()
        ),
    ))
}

/// Step 1: runs `body`, turning a panic into `fallback`.
fn guarded<R>(entry: &str, fallback: R, body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|payload| {
        set_last_error(format!("HC_ERR_PANIC: {}", panic_text(entry, &*payload)));
        fallback
    })
}

/// Borrows `len` bytes at `ptr`; NULL is fine only with `len == 0`.
///
/// # Safety
/// Unless NULL, `ptr` must be valid for reads of `len` bytes for `'a`.
unsafe fn bytes<'a>(ptr: *const c_char, len: usize, what: &str) -> Result<&'a [u8], c_int> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(fail(
                HC_ERR_NULL_ARG,
                format!("{what} is NULL but its length is {len}"),
            ))
        };
    }
    // SAFETY: non-null and valid for `len` bytes (caller's obligation).
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}

/// Reads a NUL-terminated UTF-8 name.
///
/// # Safety
/// `ptr` must be NULL or point at a NUL-terminated string.
unsafe fn name<'a>(ptr: *const c_char, what: &str) -> Result<Result<&'a str, String>, c_int> {
    if ptr.is_null() {
        return Err(fail(HC_ERR_NULL_ARG, format!("{what} is NULL")));
    }
    // SAFETY: non-null and NUL-terminated (caller's obligation).
    let raw = unsafe { CStr::from_ptr(ptr) };
    Ok(raw
        .to_str()
        .map_err(|_| format!("{what} is not valid UTF-8: {}", raw.to_string_lossy())))
}

/// Step 3.
fn enter(library: &'static Library, ctx: *mut c_void) -> Result<Guard<'static, Shared>, c_int> {
    if ctx.is_null() {
        return Err(fail(HC_ERR_NULL_ARG, "ctx is NULL"));
    }
    match CONTEXTS.enter(ctx) {
        Ok(guard) if std::ptr::eq(guard.library, library) => Ok(guard),
        Ok(_) => Err(fail(
            HC_ERR_INVALID_CONTEXT,
            format!(
                "ctx belongs to another library, not '{}'",
                library.def().prefix
            ),
        )),
        Err(_) => Err(fail(
            HC_ERR_INVALID_CONTEXT,
            "ctx is not a live context (destroyed, or never created)",
        )),
    }
}

/// `<lib>_new`.
///
/// # Safety
/// `config` must be NULL or valid for reads of `config_len` bytes.
pub unsafe fn new(
    library: &'static Library,
    config: *const c_char,
    config_len: usize,
) -> *mut c_void {
    guarded("new", std::ptr::null_mut(), || {
        crate::log::init();
        // SAFETY: forwarded caller obligation.
        let Ok(bytes) = (unsafe { bytes(config, config_len, "config") }) else {
            return std::ptr::null_mut();
        };
        let config = match Config::from_cbor(bytes) {
            Ok(config) => config,
            Err(problem) => {
                fail(HC_ERR_INVALID_ARG, problem);
                return std::ptr::null_mut();
            }
        };
        if let Err(problem) = library.description() {
            fail(HC_ERR_INVALID_ARG, problem);
            return std::ptr::null_mut();
        }
        let shared = Arc::new(Shared::new(library, config));
        let proxy = match crate::remote::proxy::connect(&shared) {
            Ok(proxy) => proxy,
            Err(problem) => {
                fail(HC_ERR_INVALID_ARG, format!("isolation: {problem}"));
                return std::ptr::null_mut();
            }
        };
        if let Err(problem) = event_loop::spawn(&shared, proxy) {
            fail(HC_ERR_SHUTTING_DOWN, problem);
            return std::ptr::null_mut();
        }
        match CONTEXTS.insert(Arc::clone(&shared)) {
            Some(handle) => {
                shared
                    .handle
                    .store(handle as usize, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(prefix = library.def().prefix, "context created");
                handle
            }
            None => {
                shut_down(&shared);
                fail(HC_ERR_OVERLOADED, "the process-wide context table is full");
                std::ptr::null_mut()
            }
        }
    })
}

/// Stops the loop and joins it, unless that wait could close a cycle of
/// loop threads waiting for each other (contract 7, [`crate::context::waits`]): its
/// own loop thread, or one that waits (through a chain of destroys and
/// listener removals) for the caller's. Then the thread is detached and
/// tears down as soon as the callback it is in returns.
fn shut_down(shared: &Shared) {
    // Ask before the loop is told to stop: its teardown may run callbacks
    // that destroy the caller's context, and they must see this edge.
    let waiting = crate::context::waits::begin(LoopState::current_id(), shared.id);
    shared.close();
    let thread = shared
        .thread
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    match waiting {
        Some(_waiting) => {
            if let Some(thread) = thread {
                let _ = thread.join();
            }
        }
        None => drop(thread),
    }
}

/// `<lib>_destroy`.
///
/// # Safety
/// Always safe to call: `ctx` is only compared, never dereferenced.
pub unsafe fn destroy(library: &'static Library, ctx: *mut c_void) -> c_int {
    guarded("destroy", HC_ERR_PANIC, || {
        if ctx.is_null() {
            return fail(HC_ERR_NULL_ARG, "ctx is NULL");
        }
        let Ok(shared) = CONTEXTS.close(ctx, |shared| std::ptr::eq(shared.library, library)) else {
            return fail(
                HC_ERR_INVALID_CONTEXT,
                "ctx is not a live context of this library (destroyed, or never created)",
            );
        };
        shut_down(&shared);
        tracing::debug!(prefix = library.def().prefix, "context destroyed");
        HC_OK
    })
}

/// `<lib>_call`.
///
/// # Safety
/// `method` must be NULL or NUL-terminated; `req` NULL or valid for
/// `req_len` bytes.
pub unsafe fn call(
    library: &'static Library,
    ctx: *mut c_void,
    method: *const c_char,
    req: *const c_char,
    req_len: usize,
    callback: Option<FFICallBack>,
    user_data: *mut c_void,
) -> c_int {
    guarded("call", HC_ERR_PANIC, || {
        // SAFETY: forwarded caller obligation; no call id.
        unsafe {
            submit(
                library, ctx, method, req, req_len, callback, user_data, None,
            )
        }
    })
}

/// `<lib>_call_cancellable`: as [`call`], and `*call_id` receives the id
/// `<lib>_cancel_call` takes (protocol of [`crate::request::route`]).
///
/// # Safety
/// As for [`call`]; `call_id` must be NULL or valid for a write.
#[allow(
    clippy::too_many_arguments,
    reason = "the entry point's own arguments, after the library"
)]
pub unsafe fn call_cancellable(
    library: &'static Library,
    ctx: *mut c_void,
    method: *const c_char,
    req: *const c_char,
    req_len: usize,
    callback: Option<FFICallBack>,
    user_data: *mut c_void,
    call_id: *mut u64,
) -> c_int {
    guarded("call_cancellable", HC_ERR_PANIC, || {
        if call_id.is_null() {
            return fail(HC_ERR_NULL_ARG, "call_id is NULL");
        }
        // SAFETY: forwarded caller obligation; `call_id` is valid for a
        // write (checked non-NULL, caller's obligation otherwise).
        unsafe {
            submit(
                library,
                ctx,
                method,
                req,
                req_len,
                callback,
                user_data,
                Some(call_id),
            )
        }
    })
}

/// `<lib>_cancel_call`: withdraws request `call_id` (step 3 of
/// [`crate::request::route`]).
///
/// # Safety
/// None: `ctx` is looked up, never dereferenced.
pub unsafe fn cancel_call(library: &'static Library, ctx: *mut c_void, call_id: u64) -> c_int {
    guarded("cancel_call", HC_ERR_PANIC, || {
        if ctx.is_null() {
            return fail(HC_ERR_NULL_ARG, "ctx is NULL");
        }
        let shared = match enter(library, ctx) {
            Ok(shared) => shared,
            Err(status) => return status,
        };
        let Some((route, callback, user_data)) = shared.routes.cancel(call_id) else {
            return fail(
                HC_ERR_UNKNOWN_TOKEN,
                format!("call {call_id} is unknown or has already replied"),
            );
        };
        shared.send(Msg::Cancel {
            id: call_id,
            reply: ReplyTo::new(callback, user_data, route.method),
        });
        HC_OK
    })
}

/// `call` and `call_cancellable`: checks, decodes and queues the request.
///
/// # Safety
/// As for [`call`]; `call_id`, if given, is valid for a write.
#[allow(
    clippy::too_many_arguments,
    reason = "the entry point's own arguments, forwarded"
)]
unsafe fn submit(
    library: &'static Library,
    ctx: *mut c_void,
    method: *const c_char,
    req: *const c_char,
    req_len: usize,
    callback: Option<FFICallBack>,
    user_data: *mut c_void,
    call_id: Option<*mut u64>,
) -> c_int {
    if ctx.is_null() {
        return fail(HC_ERR_NULL_ARG, "ctx is NULL");
    }
    // SAFETY: forwarded caller obligation.
    let method = match unsafe { name(method, "method") } {
        Ok(method) => method,
        Err(status) => return status,
    };
    let Some(callback) = callback else {
        return fail(HC_ERR_NULL_ARG, "callback is NULL");
    };
    // SAFETY: forwarded caller obligation.
    let request = match unsafe { bytes(req, req_len, "req") } {
        Ok(request) => request,
        Err(status) => return status,
    };
    let shared = match enter(library, ctx) {
        Ok(shared) => shared,
        Err(status) => return status,
    };
    if let Err(status) = accepting(&shared) {
        return status;
    }
    let handler = match method {
        Ok(method) => match library.handler(method) {
            Some(handler) => handler,
            None => {
                return fail(
                    HC_ERR_UNKNOWN_METHOD,
                    format!(
                        "library '{}' has no method '{method}'",
                        library.def().prefix
                    ),
                );
            }
        },
        Err(problem) => return fail(HC_ERR_UNKNOWN_METHOD, problem),
    };
    if let Err(status) = admit(&shared) {
        return status;
    }
    let invocation = if shared.config.isolation.is_some() {
        // The helper decodes and runs it (`remote::proxy`, step 1).
        RemoteRequest::invocation(handler.name, request.to_vec(), |reply| reply)
    } else {
        match catch_unwind(AssertUnwindSafe(|| (handler.decode)(request))) {
            Ok(Ok(invocation)) => invocation,
            Ok(Err(problem)) => Invocation::Failed(bad_request(handler.name, problem)),
            Err(payload) => Invocation::Failed(panicked(handler.name, &*payload)),
        }
    };
    // SAFETY: `call_id` is valid for a write (this function's contract).
    let reply = unsafe {
        reply_to(
            &shared,
            Callback::Bytes(callback),
            UserData(user_data),
            &handler.name,
            call_id,
        )
    };
    shared.send(Msg::Request(Request { invocation, reply }));
    HC_OK
}

/// Where an accepted request's reply goes: straight to its callback, or,
/// given `call_id`, through a route `cancel_call` can take, its id written
/// to `*call_id`.
///
/// # Safety
/// `call_id`, if given, is valid for a write.
unsafe fn reply_to(
    shared: &Shared,
    callback: Callback,
    user_data: UserData,
    method: &'static &'static str,
    call_id: Option<*mut u64>,
) -> ReplyTo {
    match call_id {
        None => ReplyTo::new(callback, user_data, method),
        Some(call_id) => {
            let id = shared.routes.next_id();
            // SAFETY: valid for a write (this function's contract); written
            // before the route is in the table, so before any cancel can
            // take the reply and any reply can run.
            unsafe { *call_id = id };
            ReplyTo::routed(shared.routes.open(id, callback, user_data, method))
        }
    }
}

/// `<lib>_register_host_fn`: [`register_host_fn_cancellable`] without a
/// cancel notifier.
///
/// # Safety
/// `name` must be NULL or NUL-terminated. `func` must be safe to call with
/// `user_data` on the loop thread until the context is destroyed.
pub unsafe fn register_host_fn(
    library: &'static Library,
    ctx: *mut c_void,
    host_fn: *const c_char,
    func: Option<FFIHostFn>,
    user_data: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller obligation; no cancel notifier.
    unsafe { register_host_fn_cancellable(library, ctx, host_fn, func, None, user_data) }
}

/// `<lib>_register_host_fn_cancellable`.
///
/// # Safety
/// `name` must be NULL or NUL-terminated. `func` and `cancel` must be safe to
/// call with `user_data` on the loop thread until the context is destroyed.
pub unsafe fn register_host_fn_cancellable(
    library: &'static Library,
    ctx: *mut c_void,
    host_fn: *const c_char,
    func: Option<FFIHostFn>,
    cancel: Option<FFIHostCancelFn>,
    user_data: *mut c_void,
) -> c_int {
    guarded("register_host_fn", HC_ERR_PANIC, || {
        if ctx.is_null() {
            return fail(HC_ERR_NULL_ARG, "ctx is NULL");
        }
        // SAFETY: forwarded caller obligation.
        let host_fn = match unsafe { name(host_fn, "name") } {
            Ok(host_fn) => host_fn,
            Err(status) => return status,
        };
        let Some(func) = func else {
            return fail(HC_ERR_NULL_ARG, "func is NULL");
        };
        let shared = match enter(library, ctx) {
            Ok(shared) => shared,
            Err(status) => return status,
        };
        let host_fn = match host_fn {
            Ok(host_fn) => host_fn,
            Err(problem) => return fail(HC_ERR_INVALID_ARG, problem),
        };
        let Some(index) = library.host_fn_by_name(host_fn) else {
            let declared: Vec<_> = library.def().host_fns.iter().map(|h| h.name).collect();
            return fail(
                HC_ERR_INVALID_ARG,
                format!(
                    "library '{}' declares no host fn '{host_fn}' (declared: {})",
                    library.def().prefix,
                    declared.join(", ")
                ),
            );
        };
        shared.send(Msg::Register {
            index,
            entry: HostFnEntry {
                func,
                cancel,
                user_data: UserData(user_data),
            },
        });
        HC_OK
    })
}

/// `<lib>_host_complete`.
///
/// # Safety
/// `msg` must be NULL or valid for reads of `len` bytes.
pub unsafe fn host_complete(
    library: &'static Library,
    ctx: *mut c_void,
    token: u64,
    ret: c_int,
    msg: *const c_char,
    len: usize,
) -> c_int {
    guarded("host_complete", HC_ERR_PANIC, || {
        if ctx.is_null() {
            return fail(HC_ERR_NULL_ARG, "ctx is NULL");
        }
        // SAFETY: forwarded caller obligation.
        let payload = match unsafe { bytes(msg, len, "msg") } {
            Ok(payload) => payload,
            Err(status) => return status,
        };
        let answer = match ret {
            RET_OK => Answer::Value,
            RET_ERR => Answer::Error,
            RET_ERR_TYPED => Answer::Typed,
            other => {
                return fail(
                    HC_ERR_INVALID_ARG,
                    format!(
                        "ret must be RET_OK ({RET_OK}), RET_ERR ({RET_ERR}) or RET_ERR_TYPED ({RET_ERR_TYPED}), not {other}"
                    ),
                );
            }
        };
        // Completed from this context's own loop thread (typically inline,
        // inside the host fn): the loop's state keeps the context alive, so
        // the handle table is not entered, and the completion is delivered
        // directly, with no queue and no wake-up.
        if let Some(state) = LoopState::current().filter(|state| {
            let shared = &state.shared;
            std::ptr::eq(shared.library, library)
                && shared.handle.load(std::sync::atomic::Ordering::Relaxed) == ctx as usize
                && !shared.closing.load(std::sync::atomic::Ordering::Acquire)
        }) {
            return match claim(&state.shared, token, answer, payload) {
                Ok(completion) => {
                    state.deliver(token, completion);
                    HC_OK
                }
                Err(status) => status,
            };
        }
        let shared = match enter(library, ctx) {
            Ok(shared) => shared,
            Err(status) => return status,
        };
        match claim(&shared, token, answer, payload) {
            Ok(completion) => {
                shared.send(Msg::Completion { token, completion });
                HC_OK
            }
            Err(status) => status,
        }
    })
}

/// In-flight protocol step 2, then the copy of the host's bytes.
fn claim(shared: &Shared, token: u64, answer: Answer, payload: &[u8]) -> Result<Completion, c_int> {
    if !shared.inflight.claim(token) {
        return Err(fail(
            HC_ERR_UNKNOWN_TOKEN,
            format!(
                "token {token:#x} is not awaiting completion (unknown, completed, cancelled or timed out)"
            ),
        ));
    }
    Ok(Completion {
        answer,
        payload: crate::core::inflight::Payload::from_slice(payload),
    })
}

/// `<lib>_host_call_origin`: the call id of the request host call `token`
/// serves, asked from inside its host fn's invocation.
///
/// # Safety
/// None: `ctx` is only compared with the loop's own handle (it is `unsafe`
/// as every entry point's forwarding function is).
pub unsafe fn host_call_origin(library: &'static Library, ctx: *mut c_void, token: u64) -> u64 {
    guarded("host_call_origin", 0, || {
        LoopState::current()
            .filter(|state| {
                // The loop's own handle, and still live: once destroy has
                // been called (even from inside this host fn) it is dead.
                let shared = &state.shared;
                std::ptr::eq(shared.library, library)
                    && shared.handle.load(std::sync::atomic::Ordering::Relaxed) == ctx as usize
                    && !shared.closing.load(std::sync::atomic::Ordering::Acquire)
            })
            .map_or(0, |state| state.origin(token))
    })
}

/// `<lib>_add_event_listener`. Returns the listener id, or 0 on failure.
///
/// # Safety
/// `event` must be NULL or NUL-terminated; `callback` must be safe to call
/// with `user_data` on the loop thread until it is removed or the context is
/// destroyed.
pub unsafe fn add_event_listener(
    library: &'static Library,
    ctx: *mut c_void,
    event: *const c_char,
    callback: Option<FFICallBack>,
    user_data: *mut c_void,
) -> u64 {
    guarded("add_event_listener", 0, || {
        if ctx.is_null() {
            fail(HC_ERR_NULL_ARG, "ctx is NULL");
            return 0;
        }
        // SAFETY: forwarded caller obligation.
        let Ok(event) = (unsafe { name(event, "event") }) else {
            return 0;
        };
        let Some(callback) = callback else {
            fail(HC_ERR_NULL_ARG, "callback is NULL");
            return 0;
        };
        let Ok(shared) = enter(library, ctx) else {
            return 0;
        };
        let index = match event.map(|event| (event, library.event_index(event))) {
            Ok((_, Some(index))) => index,
            Ok((event, None)) => {
                let declared: Vec<_> = library.def().events.iter().map(|e| e.name).collect();
                fail(
                    HC_ERR_INVALID_ARG,
                    format!(
                        "library '{}' emits no event '{event}' (events: {})",
                        library.def().prefix,
                        declared.join(", ")
                    ),
                );
                return 0;
            }
            Err(problem) => {
                fail(HC_ERR_INVALID_ARG, problem);
                return 0;
            }
        };
        shared.listeners.add(index, callback, UserData(user_data))
    })
}

/// `<lib>_remove_event_listener`. Once it returns `HC_OK` the listener never
/// runs again, and is not running unless waiting for it could deadlock (it
/// runs on the caller's own loop thread, or on one waiting for it).
///
/// # Safety
/// Always safe to call.
pub unsafe fn remove_event_listener(
    library: &'static Library,
    ctx: *mut c_void,
    listener_id: u64,
) -> c_int {
    guarded("remove_event_listener", HC_ERR_PANIC, || {
        let guard = match enter(library, ctx) {
            Ok(guard) => guard,
            Err(status) => return status,
        };
        // Waiting for a running listener must not hold the handle guard, or a
        // destroy issued from that listener would wait for us.
        let shared = guard.to_arc();
        drop(guard);
        // From the listener's own loop thread, or one it waits for, there is
        // nothing to wait for or no waiting allowed (contract 7).
        let waiting = crate::context::waits::begin(LoopState::current_id(), shared.id);
        if shared.listeners.remove(listener_id, waiting.is_some()) {
            HC_OK
        } else {
            fail(
                HC_ERR_INVALID_ARG,
                format!("no listener with id {listener_id}"),
            )
        }
    })
}

/// `<lib>_last_error`: copies this thread's last failure message into `buf`
/// (NUL-terminated, truncated to `cap - 1` bytes) and returns its full length.
///
/// The message is per thread, not per library: `_library` is there because
/// every entry point forwards its library.
///
/// # Safety
/// `buf` must be NULL or valid for writes of `cap` bytes.
pub unsafe fn last_error(_library: &'static Library, buf: *mut c_char, cap: usize) -> usize {
    guarded("last_error", 0, || {
        LAST_ERROR
            .try_with(|last| {
                let last = last.borrow();
                if !buf.is_null() && cap > 0 {
                    let n = last.len().min(cap - 1);
                    // SAFETY: `buf` is valid for `cap` bytes (caller's
                    // obligation) and `n + 1 <= cap`; the source is our own
                    // string, which cannot overlap the host's buffer.
                    unsafe {
                        std::ptr::copy_nonoverlapping(last.as_ptr(), buf.cast::<u8>(), n);
                        *buf.add(n) = 0;
                    }
                }
                last.len()
            })
            .unwrap_or(0)
    })
}

/// `<lib>_hostcall_description`: the library's description as CBOR, valid
/// for the life of the process.
///
/// # Safety
/// `len` must be NULL or valid for a write.
pub unsafe fn hostcall_description(library: &'static Library, len: *mut usize) -> *const u8 {
    guarded("hostcall_description", std::ptr::null(), || {
        let bytes = library.description_cbor();
        if !len.is_null() {
            // SAFETY: valid for a write (caller's obligation).
            unsafe { *len = bytes.len() };
        }
        bytes.as_ptr()
    })
}

/// `<lib>_interface_hash`.
///
/// # Safety
/// None: it reads only the library's static definition (it is `unsafe` as
/// every entry point's forwarding function is).
pub unsafe fn interface_hash(library: &'static Library) -> u64 {
    guarded("interface_hash", 0, || {
        library.description().map_or(0, |desc| desc.interface_hash)
    })
}
