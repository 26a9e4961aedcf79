//! Shared code of the benches.
//!
//! * [`lib`]: a bench library declared with the hostcall macros (prefix
//!   `bench`): host fn `ping(n) -> n + 1`, handlers `pump(n)` (awaits `ping`
//!   n times in sequence, one call outstanding) and `hold(n)` (starts n
//!   `ping` calls at once).
//! * [`Abi`] / [`Context`]: a library's `extern "C"` entry points, called from
//!   Rust exactly as a C host calls them.
//! * [`Counter`] / [`Replies`]: completion flags the benches wait on — a short
//!   spin, then a condition variable; never a sleep.
//! * [`Host`]: the host side of `ping` in every style the benches measure
//!   (inline, a sleeping worker, a spinning worker, a queue drained by host
//!   threads), completing through hostcall or through [`naive`].
//! * [`Fixture`]: a driver (hostcall context or naive runtime) plus a host.

#![allow(dead_code, reason = "each bench binary uses a different subset")]

pub mod cbor;
pub mod naive;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hostcall::{FFICallBack, FFIHostCancelFn, FFIHostFn};

/// The bench library.
pub mod lib {
    use hostcall::host_fn;

    host_fn! {
        /// Answers `n + 1` (the host decides when and from which thread).
        pub fn ping(n: u64) -> u64;
    }

    /// Awaits `ping` `n` times in sequence (one call outstanding at a time);
    /// returns the sum of the answers.
    #[hostcall::handler]
    pub async fn pump(n: u32) -> Result<u64, String> {
        let mut sum = 0u64;
        for i in 0..n {
            let answer = ping(u64::from(i)).await.map_err(|e| e.to_string())?;
            sum = sum.wrapping_add(answer);
        }
        Ok(sum)
    }

    /// Starts `n` `ping` calls at once (one local task each) and waits for
    /// all of them; returns the sum of the answers.
    #[hostcall::handler]
    pub async fn hold(n: u32) -> Result<u64, String> {
        let tasks: Vec<_> = (0..n)
            .map(|i| tokio::task::spawn_local(ping(u64::from(i))))
            .collect();
        let mut sum = 0u64;
        for task in tasks {
            let answer = task
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
            sum = sum.wrapping_add(answer);
        }
        Ok(sum)
    }

    hostcall::export! {
        prefix = "bench",
        handlers = [pump, hold],
        host_fns = [ping],
    }
}

/// `RET_OK`.
pub const RET_OK: c_int = 0;
/// `HC_OK`.
pub const HC_OK: c_int = 0;

/// The entry points of one exported library (only the public C ABI).
#[derive(Clone, Copy)]
pub struct Abi {
    /// `<lib>_new`.
    pub new: unsafe extern "C" fn(*const c_char, usize) -> *mut c_void,
    /// `<lib>_destroy`.
    pub destroy: unsafe extern "C" fn(*mut c_void) -> c_int,
    /// `<lib>_call`.
    pub call: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *const c_char,
        usize,
        Option<FFICallBack>,
        *mut c_void,
    ) -> c_int,
    /// `<lib>_register_host_fn_cancellable`.
    pub register: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        Option<FFIHostFn>,
        Option<FFIHostCancelFn>,
        *mut c_void,
    ) -> c_int,
    /// `<lib>_host_complete`.
    pub complete: unsafe extern "C" fn(*mut c_void, u64, c_int, *const c_char, usize) -> c_int,
    /// `<lib>_last_error`.
    pub last_error: unsafe extern "C" fn(*mut c_char, usize) -> usize,
}

/// The bench library's entry points.
pub const BENCH_ABI: Abi = Abi {
    new: lib::bench_new,
    destroy: lib::bench_destroy,
    call: lib::bench_call,
    register: lib::bench_register_host_fn_cancellable,
    complete: lib::bench_host_complete,
    last_error: lib::bench_last_error,
};

/// The reference library's entry points.
pub const DEMO_ABI: Abi = Abi {
    new: demo::demo_new,
    destroy: demo::demo_destroy,
    call: demo::demo_call,
    register: demo::demo_register_host_fn_cancellable,
    complete: demo::demo_host_complete,
    last_error: demo::demo_last_error,
};

impl Abi {
    /// This thread's last failure message.
    pub fn last_error(&self) -> String {
        let mut buf = [0u8; 512];
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { (self.last_error)(buf.as_mut_ptr().cast(), buf.len()) };
        String::from_utf8_lossy(&buf[..n.min(buf.len() - 1)]).into_owned()
    }
}

/// A context handle that host threads may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ctx(usize);

impl Ctx {
    /// As the C host holds it.
    #[inline]
    pub fn ptr(self) -> *mut c_void {
        self.0 as *mut c_void
    }
}

/// A live context; destroyed on drop (or by [`Context::destroy`]).
///
/// Whatever its callbacks point at must outlive it: declare this field
/// before them in a struct, or destroy it first.
pub struct Context {
    abi: Abi,
    ctx: Ctx,
    live: bool,
}

impl Context {
    /// A context with the default configuration.
    pub fn new(abi: Abi) -> Self {
        Self::with_config(abi, &[])
    }

    /// A context configured by the CBOR map `config`.
    pub fn with_config(abi: Abi, config: &[u8]) -> Self {
        // SAFETY: `config` is valid for its length.
        let ctx = unsafe { (abi.new)(config.as_ptr().cast(), config.len()) };
        assert!(!ctx.is_null(), "<lib>_new failed: {}", abi.last_error());
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
    pub fn abi(&self) -> Abi {
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
            (self.abi.register)(
                self.ctx.ptr(),
                name.as_ptr(),
                Some(func),
                cancel,
                user_data.cast_mut(),
            )
        };
        assert_eq!(status, HC_OK, "register: {}", self.abi.last_error());
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
        assert_eq!(status, HC_OK, "call: {}", self.abi.last_error());
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
        complete(&self.abi, self.ctx, token, payload)
    }

    /// Destroys the context (once); returns the status of `<lib>_destroy`.
    pub fn destroy(&mut self) -> c_int {
        if !std::mem::replace(&mut self.live, false) {
            return HC_OK;
        }
        // SAFETY: the handle is only looked up, never dereferenced.
        unsafe { (self.abi.destroy)(self.ctx.ptr()) }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.destroy();
    }
}

/// `<lib>_host_complete(ctx, token, RET_OK, payload)`.
#[inline]
pub fn complete(abi: &Abi, ctx: Ctx, token: u64, payload: &[u8]) -> c_int {
    // SAFETY: `payload` is valid for its length; the handle is only looked up.
    unsafe {
        (abi.complete)(
            ctx.ptr(),
            token,
            RET_OK,
            payload.as_ptr().cast(),
            payload.len(),
        )
    }
}

/// How long a waiter spins before it blocks: about a thread wake-up or two,
/// so a latency bench's answer is caught without an OS wake-up of its own.
pub const SPIN: Duration = Duration::from_micros(200);

/// A count that one thread waits on while others add to it: a short spin,
/// then a condition variable (the adder locks only when the waiter sleeps
/// and its target is reached).
#[derive(Default)]
pub struct Counter {
    count: CachePadded<AtomicU64>,
    target: AtomicU64,
    sleeping: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Counter {
    /// Adds `k`; wakes the waiter if its target is reached.
    #[inline]
    pub fn add(&self, k: u64) {
        // SeqCst on `count` and `sleeping` on both sides (a Dekker pair):
        // either the waiter sees the new count, or we see it sleeping.
        let now = self.count.fetch_add(k, Ordering::SeqCst) + k;
        if self.sleeping.load(Ordering::SeqCst) && now >= self.target.load(Ordering::SeqCst) {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.changed.notify_all();
        }
    }

    /// The count.
    #[inline]
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    /// Waits until the count reaches `total`: spins for [`SPIN`], then blocks.
    #[inline]
    pub fn wait_for(&self, total: u64) {
        self.wait_spinning(total, SPIN);
    }

    /// Waits until the count reaches `total`, spinning for up to `spin` first.
    pub fn wait_spinning(&self, total: u64, spin: Duration) {
        if self.get() >= total {
            return;
        }
        let start = Instant::now();
        let mut spins = 0u32;
        while self.get() < total {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() >= spin {
                return self.block_until(total);
            }
            std::hint::spin_loop();
        }
    }

    fn block_until(&self, total: u64) {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.target.store(total, Ordering::SeqCst);
        self.sleeping.store(true, Ordering::SeqCst);
        while self.count.load(Ordering::SeqCst) < total {
            guard = self.changed.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

/// Reads a reply's `RET_OK` payload into a number to sum (or `None`: bad).
pub type Decode = fn(&[u8]) -> Option<u64>;

/// Where replies land: how many, their decoded sum, and any errors.
pub struct Replies {
    /// Replies received.
    pub done: Counter,
    errors: AtomicU64,
    sum: AtomicU64,
    first_error: Mutex<Option<String>>,
    decode: Decode,
}

impl Replies {
    /// Replies whose payloads `decode` reads.
    pub fn new(decode: Decode) -> Arc<Self> {
        Arc::new(Self {
            done: Counter::default(),
            errors: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            first_error: Mutex::new(None),
            decode,
        })
    }

    /// Replies whose payload is one unsigned integer.
    pub fn uint() -> Arc<Self> {
        Self::new(cbor::read_uint)
    }

    /// Error replies so far (`RET_ERR`, or a payload that did not decode).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Acquire)
    }

    /// The first error's text.
    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The sum of the decoded replies.
    pub fn sum(&self) -> u64 {
        self.sum.load(Ordering::Acquire)
    }

    /// Panics if any reply was an error (a broken bench must not report).
    pub fn check(&self) {
        assert_eq!(
            self.errors(),
            0,
            "a reply failed: {}",
            self.first_error().unwrap_or_default()
        );
    }

    fn record(&self, ret: c_int, bytes: &[u8]) {
        let value = if ret == RET_OK {
            (self.decode)(bytes)
        } else {
            None
        };
        self.record_value(ret, value, bytes);
    }

    /// Records a reply already decoded (a native entry point's typed
    /// callback): `value` on success, else `error` is the error text.
    pub fn record_value(&self, ret: c_int, value: Option<u64>, error: &[u8]) {
        let bytes = error;
        match value {
            Some(value) => {
                self.sum.fetch_add(value, Ordering::Relaxed);
            }
            None => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(format!(
                        "ret {ret}: {}",
                        String::from_utf8_lossy(bytes).into_owned()
                    ));
                }
            }
        }
        self.done.add(1);
    }
}

/// The reply callback whose user data is a [`Replies`].
///
/// # Safety
/// `user_data` must point at a live `Replies`; `msg` must be valid for `len`
/// bytes (or NULL with `len == 0`).
pub unsafe extern "C" fn on_reply(
    ret: c_int,
    msg: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: the caller's obligations above; the library passes a payload
    // valid for the duration of the callback.
    let (replies, bytes) = unsafe { (&*user_data.cast::<Replies>(), payload(msg, len)) };
    replies.record(ret, bytes);
}

/// Borrows a callback's payload.
///
/// # Safety
/// `ptr` must be NULL with `len == 0`, or valid for reads of `len` bytes for
/// the returned lifetime.
#[inline]
pub unsafe fn payload<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: non-null and valid for `len` bytes (caller's obligation).
        unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) }
    }
}

/// Where the host sends its completions: a hostcall context or the naive
/// runtime.
#[derive(Clone)]
pub enum Target {
    /// `<lib>_host_complete` of a hostcall context.
    Bridge(Abi, Ctx),
    /// The naive design's lock-remove-send.
    Naive(Arc<naive::Shared>),
}

impl Target {
    /// Completes `token` with `payload` (`RET_OK`); panics if refused.
    #[inline]
    pub fn complete(&self, token: u64, payload: &[u8]) {
        match self {
            Target::Bridge(abi, ctx) => {
                let status = complete(abi, *ctx, token, payload);
                assert_eq!(status, HC_OK, "host_complete: {}", abi.last_error());
            }
            Target::Naive(shared) => {
                assert!(shared.complete(token, payload), "naive: unknown token");
            }
        }
    }

    /// Answers `ping(n)` with `n + 1`, encoded as a C host would.
    #[inline]
    pub fn answer_ping(&self, token: u64, n: u64) {
        self.complete(token, cbor::uint(n.wrapping_add(1)).bytes());
    }
}

/// A job for a host worker thread.
#[derive(Clone, Copy)]
pub enum Job {
    /// Answer `ping(n)` for `token`.
    Ping {
        /// The token.
        token: u64,
        /// The argument.
        n: u64,
    },
    /// Exit.
    Stop,
}

/// A one-slot mailbox between two threads that sleep while they wait (the
/// primitive of both the condvar ping-pong baseline and the sleeping host).
pub struct Mailbox<T> {
    slot: Mutex<Option<T>>,
    ready: Condvar,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(None),
            ready: Condvar::new(),
        }
    }
}

impl<T> Mailbox<T> {
    /// Leaves `value` and wakes the receiver.
    #[inline]
    pub fn put(&self, value: T) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        self.ready.notify_one();
    }

    /// Sleeps until a value is there; takes it.
    #[inline]
    pub fn take(&self) -> T {
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = slot.take() {
                return value;
            }
            slot = self.ready.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Tokens handed from the host fn (loop thread) to host threads: a
/// `Mutex<Vec>` that a host thread swaps out whole, so the lock is held for a
/// push or a swap only. The host fn locks, pushes and, when the queue was
/// empty and a host thread sleeps, wakes one.
#[derive(Default)]
pub struct TokenQueue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    items: Vec<(u64, u64)>,
    /// Host threads draining this queue, and how many of them sleep.
    workers: usize,
    sleepers: usize,
    stopped: bool,
}

/// A host thread that swaps out at least this many tokens while others
/// sleep wakes one to help with what comes next.
const HELP_BATCH: usize = 64;

impl TokenQueue {
    /// Queues `(token, n)`; wakes a host thread only if every one sleeps
    /// (an awake one comes back for the queue by itself).
    #[inline]
    pub fn push(&self, token: u64, n: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let wake = state.items.is_empty() && state.sleepers == state.workers;
        state.items.push((token, n));
        drop(state);
        if wake {
            self.ready.notify_one();
        }
    }

    /// Swaps every queued token into `batch` (which must be empty),
    /// sleeping while the queue is empty. `false` once stopped and empty.
    ///
    /// Idle host threads sleep at once rather than spin: on a small machine
    /// a spinning host thread takes the loop thread's core (measured: with 2
    /// cores, spinning 50 µs first cost a fifth of the throughput). The
    /// pushing side wakes one only when all sleep, so a busy pool costs the
    /// loop thread no wake-up syscalls.
    pub fn take(&self, batch: &mut Vec<(u64, u64)>) -> bool {
        debug_assert!(batch.is_empty());
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if !state.items.is_empty() {
                std::mem::swap(&mut state.items, batch);
                let help = batch.len() >= HELP_BATCH && state.sleepers > 0;
                drop(state);
                if help {
                    self.ready.notify_one();
                }
                return true;
            }
            if state.stopped {
                return false;
            }
            state.sleepers += 1;
            state = self.ready.wait(state).unwrap_or_else(|e| e.into_inner());
            state.sleepers -= 1;
        }
    }

    /// Declares `n` more host threads draining the queue.
    fn add_workers(&self, n: usize) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).workers += n;
    }

    /// Wakes every host thread; they exit once the queue is empty.
    pub fn stop(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).stopped = true;
        self.ready.notify_all();
    }
}

/// A spinning host's one-token slot (0 = empty; tokens are never 0).
#[derive(Default)]
pub struct SpinSlot {
    token: CachePadded<AtomicU64>,
    n: AtomicU64,
}

/// The host side of `ping`, in every style; `user_data` of the host fns.
pub struct Host {
    /// Where completions go.
    pub target: Target,
    mailbox: Mailbox<Job>,
    spin: SpinSlot,
    queue: TokenQueue,
    stop: AtomicBool,
}

/// How the host answers `ping`.
#[derive(Clone, Copy, Debug)]
pub enum Style {
    /// Inside the host fn, on the loop thread.
    Inline,
    /// A worker thread that sleeps on a condition variable for the token.
    Sleeping,
    /// A worker thread that spins on an atomic for the token.
    Spinning,
    /// `threads` host threads draining a token queue.
    Queue {
        /// How many host threads.
        threads: usize,
    },
}

impl Host {
    fn new(target: Target) -> Self {
        Self {
            target,
            mailbox: Mailbox::default(),
            spin: SpinSlot::default(),
            queue: TokenQueue::default(),
            stop: AtomicBool::new(false),
        }
    }

    /// The host fn implementing `style`.
    fn host_fn(style: Style) -> FFIHostFn {
        match style {
            Style::Inline => ping_inline,
            Style::Sleeping => ping_to_mailbox,
            Style::Spinning => ping_to_spinner,
            Style::Queue { .. } => ping_to_queue,
        }
    }

    /// Starts the worker threads of `style`.
    fn spawn_workers(self: &Arc<Self>, style: Style) -> Vec<JoinHandle<()>> {
        let spawn = |name: String, body: fn(&Host)| {
            let host = Arc::clone(self);
            std::thread::Builder::new()
                .name(name)
                .spawn(move || body(&host))
                .expect("spawn a host thread")
        };
        match style {
            Style::Inline => Vec::new(),
            Style::Sleeping => vec![spawn("host-sleeping".into(), Host::sleeping_worker)],
            Style::Spinning => vec![spawn("host-spinning".into(), Host::spinning_worker)],
            Style::Queue { threads } => {
                self.queue.add_workers(threads);
                (0..threads)
                    .map(|i| spawn(format!("host-queue-{i}"), Host::queue_worker))
                    .collect()
            }
        }
    }

    fn sleeping_worker(&self) {
        while let Job::Ping { token, n } = self.mailbox.take() {
            self.target.answer_ping(token, n);
        }
    }

    fn spinning_worker(&self) {
        loop {
            let token = self.spin.token.load(Ordering::Acquire);
            if token != 0 {
                let n = self.spin.n.load(Ordering::Relaxed);
                self.spin.token.store(0, Ordering::Relaxed);
                self.target.answer_ping(token, n);
            } else if self.stop.load(Ordering::Relaxed) {
                return;
            } else {
                std::hint::spin_loop();
            }
        }
    }

    fn queue_worker(&self) {
        let mut batch = Vec::new();
        while self.queue.take(&mut batch) {
            for (token, n) in batch.drain(..) {
                self.target.answer_ping(token, n);
            }
        }
    }

    /// Stops every worker of `style`.
    fn stop(&self, style: Style) {
        self.stop.store(true, Ordering::Release);
        match style {
            Style::Sleeping => self.mailbox.put(Job::Stop),
            Style::Queue { .. } => self.queue.stop(),
            Style::Inline | Style::Spinning => {}
        }
    }
}

/// Reads a host fn's arguments.
///
/// # Safety
/// `user_data` must point at a live `Host`; `req` must be valid for `len`
/// bytes during the call.
#[inline]
unsafe fn host_args<'a>(req: *const c_char, len: usize, user_data: *mut c_void) -> (&'a Host, u64) {
    // SAFETY: the caller's obligations above.
    let (host, req) = unsafe { (&*user_data.cast::<Host>(), payload(req, len)) };
    let n = cbor::read_one_uint(req).expect("a ping request is [n]");
    (host, n)
}

/// `ping`, answered inside the host fn.
///
/// # Safety
/// As [`host_args`].
unsafe extern "C" fn ping_inline(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `Host` that outlives the context.
    let (host, n) = unsafe { host_args(req, len, user_data) };
    host.target.answer_ping(token, n);
}

/// `ping`, handed to a sleeping worker.
///
/// # Safety
/// As [`host_args`].
unsafe extern "C" fn ping_to_mailbox(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `Host` that outlives the context.
    let (host, n) = unsafe { host_args(req, len, user_data) };
    host.mailbox.put(Job::Ping { token, n });
}

/// `ping`, handed to a spinning worker.
///
/// # Safety
/// As [`host_args`].
unsafe extern "C" fn ping_to_spinner(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `Host` that outlives the context.
    let (host, n) = unsafe { host_args(req, len, user_data) };
    host.spin.n.store(n, Ordering::Relaxed);
    host.spin.token.store(token, Ordering::Release);
}

/// `ping`, queued for host threads.
///
/// # Safety
/// As [`host_args`].
unsafe extern "C" fn ping_to_queue(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `Host` that outlives the context.
    let (host, n) = unsafe { host_args(req, len, user_data) };
    host.queue.push(token, n);
}

/// A host fn that only records its tokens (they stay pending), and a cancel
/// notifier that counts.
pub struct Stash {
    tokens: Mutex<Vec<u64>>,
    /// Host fn invocations seen.
    pub seen: Counter,
    cancelled: AtomicU64,
}

impl Stash {
    /// Room for `n` tokens, reserved up front (so the host side does not
    /// allocate while a footprint is measured).
    pub fn with_capacity(n: usize) -> Arc<Self> {
        Arc::new(Self {
            tokens: Mutex::new(Vec::with_capacity(n)),
            seen: Counter::default(),
            cancelled: AtomicU64::new(0),
        })
    }

    /// Takes the recorded tokens, leaving the (still reserved) buffer empty.
    pub fn take_tokens(&self) -> Vec<u64> {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let taken = tokens.clone();
        tokens.clear();
        taken
    }

    /// Cancellations the library announced.
    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Acquire)
    }

    /// The host fn.
    pub const FN: FFIHostFn = stash_fn;
    /// The cancel notifier.
    pub const CANCEL: FFIHostCancelFn = stash_cancel;
}

/// # Safety
/// `user_data` must point at a live `Stash`.
unsafe extern "C" fn stash_fn(
    token: u64,
    _req: *const c_char,
    _len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `Stash` that outlives the context.
    let stash = unsafe { &*user_data.cast::<Stash>() };
    stash
        .tokens
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(token);
    stash.seen.add(1);
}

/// # Safety
/// `user_data` must point at a live `Stash`.
unsafe extern "C" fn stash_cancel(_token: u64, user_data: *mut c_void) {
    // SAFETY: registered with a `Stash` that outlives the context.
    let stash = unsafe { &*user_data.cast::<Stash>() };
    stash.cancelled.fetch_add(1, Ordering::AcqRel);
}

/// Which design drives the handlers.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    /// A hostcall context of the bench library.
    Bridge,
    /// The naive design.
    Naive,
}

/// A hostcall context or a naive runtime.
pub enum Driver {
    /// hostcall.
    Bridge(Context),
    /// The naive design.
    Naive(naive::Naive),
}

impl Driver {
    /// A fresh driver of `side`.
    pub fn new(side: Side) -> Self {
        match side {
            Side::Bridge => Driver::Bridge(Context::new(BENCH_ABI)),
            Side::Naive => Driver::Naive(naive::Naive::new()),
        }
    }

    /// Where its host sends completions.
    pub fn target(&self) -> Target {
        match self {
            Driver::Bridge(context) => Target::Bridge(context.abi(), context.ctx()),
            Driver::Naive(naive) => Target::Naive(Arc::clone(naive.shared())),
        }
    }

    /// Registers `ping`. `user_data` must outlive the driver.
    pub fn register_ping(
        &self,
        func: FFIHostFn,
        cancel: Option<FFIHostCancelFn>,
        user_data: *const c_void,
    ) {
        match self {
            Driver::Bridge(context) => context.register(c"ping", func, cancel, user_data),
            Driver::Naive(naive) => naive.register(func, user_data.cast_mut()),
        }
    }

    /// Calls `method` (`pump` or `hold`) with `[n]`.
    #[inline]
    pub fn call(&self, method: &CStr, n: u32, replies: &Replies) {
        let request = cbor::one_uint(u64::from(n));
        match self {
            Driver::Bridge(context) => context.call(method, request.bytes(), replies),
            Driver::Naive(naive) => naive
                .call(
                    method.to_str().expect("UTF-8 method"),
                    request.bytes(),
                    on_reply,
                    std::ptr::from_ref(replies).cast_mut().cast(),
                )
                .expect("naive call"),
        }
    }
}

/// A driver, a host answering `ping` in one style, and the replies.
pub struct Fixture {
    // Field order is drop order: the driver (context) goes first, before the
    // host and replies its callbacks point at.
    driver: Driver,
    host: Arc<Host>,
    replies: Arc<Replies>,
    style: Style,
    workers: Vec<JoinHandle<()>>,
    expected: u64,
}

/// The largest `pump` one request asks for.
const MAX_PUMP: u64 = 1 << 20;

impl Fixture {
    /// `side` driving the bench handlers, the host answering in `style`.
    pub fn new(side: Side, style: Style) -> Self {
        let driver = Driver::new(side);
        let host = Arc::new(Host::new(driver.target()));
        driver.register_ping(Host::host_fn(style), None, Arc::as_ptr(&host).cast());
        let workers = host.spawn_workers(style);
        Self {
            driver,
            host,
            replies: Replies::uint(),
            style,
            workers,
            expected: 0,
        }
    }

    /// Makes `calls` host calls in sequence (one `pump` request per 2²⁰),
    /// one outstanding at a time; returns the wall time.
    pub fn pump(&mut self, calls: u64) -> Duration {
        let start = Instant::now();
        let mut left = calls;
        while left > 0 {
            let n = left.min(MAX_PUMP);
            self.driver.call(c"pump", n as u32, &self.replies);
            self.expected += 1;
            self.replies.done.wait_for(self.expected);
            left -= n;
        }
        let elapsed = start.elapsed();
        self.replies.check();
        elapsed
    }

    /// Issues `requests` `pump(per_request)` requests back to back (all in
    /// flight at once) and waits for every reply; returns the wall time.
    pub fn throughput(&mut self, requests: u32, per_request: u32) -> Duration {
        let start = Instant::now();
        for _ in 0..requests {
            self.driver.call(c"pump", per_request, &self.replies);
        }
        self.expected += u64::from(requests);
        self.replies.done.wait_for(self.expected);
        let elapsed = start.elapsed();
        self.replies.check();
        elapsed
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.host.stop(self.style);
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// Whether to run small: `HOSTCALL_BENCH_QUICK=1`, or criterion's test mode
/// (`cargo bench -- --test`, or a bench binary run without `--bench`).
pub fn quick() -> bool {
    static QUICK: OnceLock<bool> = OnceLock::new();
    *QUICK.get_or_init(|| {
        let env = std::env::var("HOSTCALL_BENCH_QUICK")
            .is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
        let args: Vec<String> = std::env::args().collect();
        let test = args.iter().any(|a| a == "--test");
        let bench = args.iter().any(|a| a == "--bench");
        env || test || !bench
    })
}

/// `full` normally, `small` in quick mode.
pub fn scaled<T>(full: T, small: T) -> T {
    if quick() { small } else { full }
}

/// The criterion settings of every bench binary: short warm-up, 2 s
/// measurements, fewer bootstrap resamples (the whole run fits in minutes).
pub fn criterion() -> criterion::Criterion {
    criterion::Criterion::default()
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .nresamples(20_000)
}

/// Where the benches' own JSON goes: `target/hostcall-bench/`.
pub fn output_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("hostcall-bench")
}

/// The throughput scenario: `(requests, host calls per request)` — 10 000
/// `pump(100)` requests in flight at once, 1M host calls (small when quick).
/// Sets `group` up for it: few long flat samples, counted in host calls.
pub fn throughput_shape(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) -> (u32, u32) {
    let (requests, per_request) = scaled((10_000, 100), (200, 10));
    group
        .sample_size(10)
        .sampling_mode(criterion::SamplingMode::Flat)
        .measurement_time(Duration::from_secs(3))
        .throughput(criterion::Throughput::Elements(
            u64::from(requests) * u64::from(per_request),
        ));
    (requests, per_request)
}
