//! One context of a test library, driven from safe Rust, plus everything
//! its callbacks point at.

use std::ffi::{CString, c_void};
use std::sync::{Arc, Mutex};

use hostcall::status::HC_OK;

use crate::abi::{self, Ctx, EntryPoints, last_error};
use crate::host::{HostBody, HostImpl, on_cancel, on_host_fn};
use crate::sink::{Hook, Received, Sink, Target, next_id, on_callback};

/// One context of a test library; destroyed on drop, before the targets and
/// host impls its callbacks point at are freed.
pub struct Client {
    /// The library's entry points.
    pub abi: &'static EntryPoints,
    /// The context.
    pub ctx: Ctx,
    /// Where replies and events land.
    pub sink: Arc<Sink>,
    #[allow(
        clippy::vec_box,
        reason = "callbacks hold pointers into the boxes, which must not move"
    )]
    targets: Mutex<Vec<Box<Target>>>,
    hosts: Mutex<Vec<Arc<HostImpl>>>,
}

impl Client {
    /// A context configured by the CBOR map `config` (empty: defaults), or
    /// `last_error`'s message.
    pub fn new(abi: &'static EntryPoints, config: &[u8]) -> Result<Self, String> {
        // SAFETY: `config` is valid for its length.
        let ctx = unsafe { (abi.new)(config.as_ptr().cast(), config.len()) };
        if ctx.is_null() {
            return Err(last_error(abi));
        }
        Ok(Self {
            abi,
            ctx: Ctx(ctx as usize),
            sink: Sink::new(),
            targets: Mutex::new(Vec::new()),
            hosts: Mutex::new(Vec::new()),
        })
    }

    /// A `user_data` for a callback the test invokes itself (native entry
    /// points): replies land in `self.sink` under `id`.
    pub fn user_data(&self, id: u64) -> *mut c_void {
        self.target(id, None)
    }

    fn target(&self, id: u64, then: Option<Hook>) -> *mut c_void {
        let target = Box::new(Target {
            sink: self.sink.clone(),
            id,
            then,
        });
        let ptr = &*target as *const Target as *mut c_void;
        self.targets.lock().unwrap().push(target);
        ptr
    }

    /// Calls `method` with raw request bytes; replies land in `self.sink`
    /// under `id`. Returns the status.
    pub fn call_raw(&self, method: &str, request: &[u8], id: u64) -> i32 {
        self.call_then(method, request, id, None)
    }

    /// As [`Client::call_raw`], running `then` inside the reply callback.
    pub fn call_then(&self, method: &str, request: &[u8], id: u64, then: Option<Hook>) -> i32 {
        let method = CString::new(method).unwrap();
        let user_data = self.target(id, then);
        // SAFETY: all pointers are valid for the call; `user_data` lives as
        // long as `self` (and so past every callback, see `Drop`).
        unsafe {
            (self.abi.call)(
                self.ctx.ptr(),
                method.as_ptr(),
                request.as_ptr().cast(),
                request.len(),
                Some(on_callback),
                user_data,
            )
        }
    }

    /// As [`Client::call_raw`] through `call_cancellable`: the status, and
    /// the call id when accepted.
    pub fn call_cancellable_raw(&self, method: &str, request: &[u8], id: u64) -> (i32, u64) {
        let method = CString::new(method).unwrap();
        let user_data = self.target(id, None);
        let mut call_id = 0u64;
        // SAFETY: all pointers are valid for the call; `user_data` lives as
        // long as `self`; `call_id` is valid for a write.
        let status = unsafe {
            (self.abi.call_cancellable)(
                self.ctx.ptr(),
                method.as_ptr(),
                request.as_ptr().cast(),
                request.len(),
                Some(on_callback),
                user_data,
                &mut call_id,
            )
        };
        (status, call_id)
    }

    /// `cancel_call(call_id)`; returns the status.
    pub fn cancel(&self, call_id: u64) -> i32 {
        // SAFETY: the context is only looked up.
        unsafe { (self.abi.cancel_call)(self.ctx.ptr(), call_id) }
    }

    /// Calls `method` with CBOR-encoded `args` and waits for the one reply.
    pub fn call<A: serde::Serialize>(&self, method: &str, args: &A) -> Received {
        let id = next_id();
        let status = self.call_raw(method, &hostcall::wire::to_cbor(args).unwrap(), id);
        assert_eq!(status, HC_OK, "{method}: {}", last_error(self.abi));
        self.sink.wait_for(id, 1).remove(0)
    }

    /// Registers host fn `name` running `body`, with a cancel notifier if
    /// `cancellable` (through `register_host_fn_cancellable` either way).
    /// Returns the status and the host impl.
    pub fn register(&self, name: &str, body: HostBody, cancellable: bool) -> (i32, Arc<HostImpl>) {
        let host = Arc::new(HostImpl::new(body));
        let name = CString::new(name).unwrap();
        let cancel = cancellable.then_some(on_cancel as hostcall::FFIHostCancelFn);
        // SAFETY: pointers valid; the `HostImpl` is kept alive by `self`.
        let status = unsafe {
            (self.abi.register_host_fn_cancellable)(
                self.ctx.ptr(),
                name.as_ptr(),
                Some(on_host_fn),
                cancel,
                Arc::as_ptr(&host) as *mut c_void,
            )
        };
        self.hosts.lock().unwrap().push(host.clone());
        (status, host)
    }

    /// Completes `token` with `RET_OK` (`ok`) or `RET_ERR`; returns the
    /// status.
    pub fn complete(&self, token: u64, ok: bool, payload: &[u8]) -> i32 {
        abi::complete(self.abi, self.ctx, token, ok, payload)
    }

    /// Adds a listener for `event`; its events land under `id`. Returns the
    /// listener id (0: refused).
    pub fn listen(&self, event: &str, id: u64) -> u64 {
        let event = CString::new(event).unwrap();
        let user_data = self.target(id, None);
        // SAFETY: pointers valid; the target lives as long as `self`.
        unsafe {
            (self.abi.add_event_listener)(
                self.ctx.ptr(),
                event.as_ptr(),
                Some(on_callback),
                user_data,
            )
        }
    }

    /// Removes a listener; returns the status.
    pub fn unlisten(&self, listener: u64) -> i32 {
        // SAFETY: plain values.
        unsafe { (self.abi.remove_event_listener)(self.ctx.ptr(), listener) }
    }

    /// Destroys the context; returns the status (every time: a second call
    /// reports the context gone).
    pub fn destroy(&self) -> i32 {
        abi::destroy(self.abi, self.ctx)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Ends the context (if a test did not) before the targets and host
        // impls its callbacks point at are freed.
        abi::destroy(self.abi, self.ctx);
    }
}
