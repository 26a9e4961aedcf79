//! Driving a test library through its C ABI from safe Rust.
//!
//! `Client` wraps the generated `extern "C"` functions of one library;
//! `Sink` collects replies and events, and `HostImpl` turns a Rust closure
//! into a registered host fn. Tests wait on condition variables, never on
//! sleeps.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The entry points of one exported library.
#[derive(Clone, Copy)]
pub struct Abi {
    pub new: unsafe extern "C" fn(*const c_char, usize) -> *mut c_void,
    pub destroy: unsafe extern "C" fn(*mut c_void) -> c_int,
    pub call: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const c_char,
        usize,
        Option<hostcall::FFICallBack>,
        *mut c_void,
    ) -> c_int,
    pub register: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        Option<hostcall::FFIHostFn>,
        Option<hostcall::FFIHostCancelFn>,
        *mut c_void,
    ) -> c_int,
    pub complete: unsafe extern "C" fn(*mut c_void, u64, c_int, *const c_char, usize) -> c_int,
    pub add_listener: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        Option<hostcall::FFICallBack>,
        *mut c_void,
    ) -> u64,
    pub remove_listener: unsafe extern "C" fn(*mut c_void, u64) -> c_int,
    pub last_error: unsafe extern "C" fn(*mut c_char, usize) -> usize,
}

/// A reply or event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub ret: i32,
    pub bytes: Vec<u8>,
    pub thread: std::thread::ThreadId,
}

impl Received {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
    pub fn value<T: serde::de::DeserializeOwned>(&self) -> T {
        assert_eq!(self.ret, 0, "expected RET_OK, got error: {}", self.text());
        hostcall::wire::from_cbor(&self.bytes).expect("reply decodes")
    }
}

/// Collects callbacks keyed by an id carried in `user_data`.
#[derive(Default)]
pub struct Sink {
    got: Mutex<HashMap<u64, Vec<Received>>>,
    changed: Condvar,
}

const WAIT: Duration = Duration::from_secs(30);

impl Sink {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn push(&self, id: u64, received: Received) {
        self.got
            .lock()
            .unwrap()
            .entry(id)
            .or_default()
            .push(received);
        self.changed.notify_all();
    }

    /// Waits until `id` has at least `n` entries; returns them.
    pub fn wait_for(&self, id: u64, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        let mut got = self.got.lock().unwrap();
        loop {
            let have = got.get(&id).map_or(0, Vec::len);
            if have >= n {
                return got[&id].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {n} callbacks on id {id} (have {have})"
            );
            got = self.changed.wait_timeout(got, left).unwrap().0;
        }
    }

    /// Waits until every id in `ids` has exactly one entry... or more.
    pub fn wait_all(&self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            self.wait_for(id, 1);
        }
    }

    pub fn count(&self, id: u64) -> usize {
        self.got.lock().unwrap().get(&id).map_or(0, Vec::len)
    }

    pub fn snapshot(&self) -> HashMap<u64, Vec<Received>> {
        self.got.lock().unwrap().clone()
    }
}

/// Code a test runs inside a callback.
pub type Hook = Box<dyn Fn(&Received) + Send + Sync>;

/// What a callback's `user_data` points at.
pub struct Target {
    pub sink: Arc<Sink>,
    pub id: u64,
    /// Runs inside the callback, after recording (for re-entrancy tests).
    pub then: Option<Hook>,
}

/// The `FFICallBack` for a `Target`: runs its hook, then records.
pub unsafe extern "C" fn on_callback(
    ret: c_int,
    msg: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: `user_data` is a `Target` the test keeps alive for the whole
    // context's life (see `Client`), and `msg` is valid for `len` bytes
    // during this call (contract 5).
    let (target, bytes) = unsafe {
        (
            &*(user_data as *const Target),
            std::slice::from_raw_parts(msg.cast::<u8>(), len).to_vec(),
        )
    };
    let received = Received {
        ret,
        bytes,
        thread: std::thread::current().id(),
    };
    // Run the test's hook first, so a test that waits for the reply also
    // sees the hook's effects.
    if let Some(then) = &target.then {
        then(&received);
    }
    target.sink.push(target.id, received);
}

macro_rules! typed_callback {
    ($name:ident, $t:ty) => {
        /// A typed native reply: records `value` (as text) or the error text
        /// under the `Target`'s id.
        pub unsafe extern "C" fn $name(
            ret: c_int,
            value: $t,
            err: *const c_char,
            err_len: usize,
            user_data: *mut c_void,
        ) {
            // SAFETY: `user_data` is a live `Target`; `err` is valid for
            // `err_len` bytes when non-null (contract 5).
            let target = unsafe { &*(user_data as *const Target) };
            let bytes = if err.is_null() {
                assert_eq!(ret, 0, "RET_ERR must carry error text");
                value.to_string().into_bytes()
            } else {
                // SAFETY: see above.
                unsafe { std::slice::from_raw_parts(err.cast::<u8>(), err_len) }.to_vec()
            };
            let received = Received {
                ret,
                bytes,
                thread: std::thread::current().id(),
            };
            target.sink.push(target.id, received);
        }
    };
}

typed_callback!(on_i64, i64);
typed_callback!(on_u64, u64);
typed_callback!(on_f64, f64);
typed_callback!(on_bool, bool);

/// The host side of a host fn: a closure called with `(token, request)`.
pub type HostBody = Box<dyn Fn(u64, &[u8]) + Send + Sync>;

pub struct HostImpl {
    pub body: HostBody,
    pub cancelled: Sink,
}

unsafe extern "C" fn on_host_fn(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: `user_data` is a `HostImpl` kept alive by the `Client`, and
    // `req` is valid for `len` bytes during this call.
    let (host, request) = unsafe {
        (
            &*(user_data as *const HostImpl),
            std::slice::from_raw_parts(req.cast::<u8>(), len),
        )
    };
    (host.body)(token, request);
}

unsafe extern "C" fn on_cancel(token: u64, user_data: *mut c_void) {
    // SAFETY: as for `on_host_fn`.
    let host = unsafe { &*(user_data as *const HostImpl) };
    host.cancelled.push(
        0,
        Received {
            ret: 0,
            bytes: token.to_le_bytes().to_vec(),
            thread: std::thread::current().id(),
        },
    );
}

impl HostImpl {
    /// Tokens the cancel notifier was told about, in order.
    pub fn cancelled_tokens(&self) -> Vec<u64> {
        self.cancelled
            .snapshot()
            .remove(&0)
            .unwrap_or_default()
            .iter()
            .map(|r| u64::from_le_bytes(r.bytes[..8].try_into().unwrap()))
            .collect()
    }

    pub fn wait_cancelled(&self, n: usize) -> Vec<u64> {
        self.cancelled.wait_for(0, n);
        self.cancelled_tokens()
    }
}

/// A context handle that can be sent to host threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx(pub usize);

impl Ctx {
    pub fn ptr(self) -> *mut c_void {
        self.0 as *mut c_void
    }
}

/// One context of a test library, plus everything its callbacks point at.
pub struct Client {
    pub abi: Abi,
    pub ctx: Ctx,
    pub sink: Arc<Sink>,
    #[allow(
        clippy::vec_box,
        reason = "callbacks hold pointers into the boxes, which must not move"
    )]
    targets: Mutex<Vec<Box<Target>>>,
    hosts: Mutex<Vec<Arc<HostImpl>>>,
}

impl Client {
    pub fn new(abi: Abi, config: &[u8]) -> Result<Self, String> {
        // SAFETY: `config` is valid for its length.
        let ctx = unsafe { (abi.new)(config.as_ptr().cast(), config.len()) };
        if ctx.is_null() {
            return Err(last_error(&abi));
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
    /// under `id`.
    pub fn call_raw(&self, method: &str, request: &[u8], id: u64) -> i32 {
        self.call_then(method, request, id, None)
    }

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

    /// Calls `method` with CBOR-encoded `args` and waits for the one reply.
    pub fn call<A: serde::Serialize>(&self, method: &str, args: &A) -> Received {
        let id = next_id();
        let status = self.call_raw(method, &hostcall::wire::to_cbor(args).unwrap(), id);
        assert_eq!(status, 0, "{method}: {}", last_error(&self.abi));
        self.sink.wait_for(id, 1).remove(0)
    }

    pub fn register(&self, name: &str, body: HostBody, cancellable: bool) -> (i32, Arc<HostImpl>) {
        let host = Arc::new(HostImpl {
            body,
            cancelled: Sink::default(),
        });
        let name = CString::new(name).unwrap();
        let cancel = cancellable.then_some(on_cancel as hostcall::FFIHostCancelFn);
        // SAFETY: pointers valid; the `HostImpl` is kept alive by `self`.
        let status = unsafe {
            (self.abi.register)(
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

    pub fn complete(&self, token: u64, ok: bool, payload: &[u8]) -> i32 {
        complete(&self.abi, self.ctx, token, ok, payload)
    }

    pub fn listen(&self, event: &str, id: u64) -> u64 {
        let event = CString::new(event).unwrap();
        let user_data = self.target(id, None);
        // SAFETY: pointers valid; the target lives as long as `self`.
        unsafe {
            (self.abi.add_listener)(self.ctx.ptr(), event.as_ptr(), Some(on_callback), user_data)
        }
    }

    pub fn unlisten(&self, listener: u64) -> i32 {
        // SAFETY: plain values.
        unsafe { (self.abi.remove_listener)(self.ctx.ptr(), listener) }
    }

    pub fn destroy(&self) -> i32 {
        destroy(&self.abi, self.ctx)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        // Ends the context (if a test did not) before the targets and host
        // impls its callbacks point at are freed.
        destroy(&self.abi, self.ctx);
    }
}

pub fn destroy(abi: &Abi, ctx: Ctx) -> i32 {
    // SAFETY: `ctx` is only looked up, never dereferenced.
    unsafe { (abi.destroy)(ctx.ptr()) }
}

pub fn complete(abi: &Abi, ctx: Ctx, token: u64, ok: bool, payload: &[u8]) -> i32 {
    // SAFETY: `payload` is valid for its length; `ctx` is only looked up.
    unsafe {
        (abi.complete)(
            ctx.ptr(),
            token,
            if ok { 0 } else { 1 },
            payload.as_ptr().cast(),
            payload.len(),
        )
    }
}

pub fn last_error(abi: &Abi) -> String {
    let mut buf = vec![0u8; 512];
    // SAFETY: `buf` is valid for its length.
    let n = unsafe { (abi.last_error)(buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n.min(511));
    String::from_utf8_lossy(&buf).into_owned()
}

pub fn next_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The request of a handler without arguments: an empty CBOR array.
pub const NO_ARGS: [u8; 0] = [];

pub fn cbor<T: serde::Serialize + ?Sized>(value: &T) -> Vec<u8> {
    hostcall::wire::to_cbor(value).unwrap()
}

pub fn config(entries: &[(&str, u64)]) -> Vec<u8> {
    let map: std::collections::BTreeMap<&str, u64> = entries.iter().copied().collect();
    cbor(&map)
}

/// A queue of tokens handed from a host fn to host threads.
#[derive(Default)]
pub struct TokenPool {
    inner: Mutex<PoolInner>,
    changed: Condvar,
}

#[derive(Default)]
struct PoolInner {
    tokens: Vec<(u64, Vec<u8>)>,
    closed: bool,
}

impl TokenPool {
    pub fn push(&self, token: u64, request: &[u8]) {
        self.inner
            .lock()
            .unwrap()
            .tokens
            .push((token, request.to_vec()));
        self.changed.notify_all();
    }

    /// Waits for a token and takes the one `pick` chooses (given the count);
    /// `None` once the pool is closed and empty.
    pub fn take(&self, pick: impl FnOnce(usize) -> usize) -> Option<(u64, Vec<u8>)> {
        let mut inner = self.inner.lock().unwrap();
        loop {
            if !inner.tokens.is_empty() {
                let i = pick(inner.tokens.len());
                return Some(inner.tokens.swap_remove(i));
            }
            if inner.closed {
                return None;
            }
            inner = self.changed.wait(inner).unwrap();
        }
    }

    /// Waits until at least `n` tokens are queued; returns a copy of them.
    pub fn wait_len(&self, n: usize) -> Vec<(u64, Vec<u8>)> {
        let deadline = Instant::now() + WAIT;
        let mut inner = self.inner.lock().unwrap();
        while inner.tokens.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {n} tokens");
            inner = self.changed.wait_timeout(inner, left).unwrap().0;
        }
        inner.tokens.clone()
    }

    pub fn drain(&self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(&mut self.inner.lock().unwrap().tokens)
    }

    /// Wakes every `take` waiter; they return `None` once the pool is empty.
    pub fn close(&self) {
        self.inner.lock().unwrap().closed = true;
        self.changed.notify_all();
    }
}
