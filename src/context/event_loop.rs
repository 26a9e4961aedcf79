//! The event loop: one thread per context, a tokio current-thread runtime and
//! a `LocalSet` of handler tasks.
//!
//! # Protocol
//!
//! 1. **Start**: [`spawn`] starts the thread, which builds its runtime and
//!    reports back before `<lib>_new` returns.
//! 2. **Dispatch**: one task drains the inbox in batches. A request starts (a
//!    synchronous handler runs at once, an async one becomes a local task
//!    holding the registry as it is now, which it lends to its host calls
//!    while it is polled), a completion is delivered to its waiting host
//!    call, a registration replaces the registry (copy on write). Every
//!    [`BATCH`] messages it yields so handlers keep running.
//! 3. **Idle**: with the inbox empty the dispatcher waits for a wake
//!    (inbox protocol step 3). With isolation it first writes what the
//!    turn queued for the helper (`Remote::flush`; also every [`BATCH`],
//!    and before the thread parks), and a task of the loop's own reads the
//!    helper's connection (`remote::link`). When no task is left to run,
//!    before the runtime parks the thread, [`watch_before_park`] asks the
//!    context's idle policy ([`crate::context::idle`]) how long to watch,
//!    watches the inbox (and the helper's connection) for that long (inbox
//!    protocol step 4: a message arriving in the window costs no OS wake-up
//!    on either side), and tells the policy what it saw; the dispatcher
//!    tells it when a sleep ended in a wake-up.
//! 4. **Teardown**: once `closing` is set the dispatcher returns, leaving the
//!    rest of the inbox unstarted, and any reply still to be sent becomes
//!    `context shutting down`. Dropping the
//!    `LocalSet` drops every handler task: each unanswered request replies
//!    `context shutting down` and each pending host call is cancelled (its
//!    token leaves the table, its cancel notifier runs). Then the inbox is
//!    drained the same way, and the thread exits, releasing the context.
//!
//! If the dispatcher itself ever panicked, the loop marks the context
//! `failed`, tears down as above, and keeps answering whatever still arrives
//! with `context shutting down` until the host destroys the context; the
//! request in hand when it panicked is answered `RET_PANIC` as its reply is
//! dropped during the unwind (`ffi::failed_loop` injects such a panic).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::task::LocalSet;
use tracing::Instrument;

use crate::context::cores::Cores;
use crate::context::idle::{Idle, Outcome};
use crate::context::{MakeRemote, Remote};
use crate::context::{Msg, Shared};
use crate::core::inflight::{Cancel, Completion};
use crate::request::{
    Failure, HostFnEntry, Invocation, Registry, Reply, ReplyTo, Request, Responder, panicked,
    run_sync,
};

/// Messages handled before the dispatcher yields to handler tasks.
const BATCH: usize = 256;

thread_local! {
    static CURRENT: RefCell<Option<Rc<LoopState>>> = const { RefCell::new(None) };
}

/// The loop thread's own state.
///
/// Invariant: a `LoopState` exists only on its context's loop thread (it is
/// neither `Send` nor `Sync`, and only [`run`] creates one). Everything that
/// the in-flight protocol reserves for "the loop thread" is reached through
/// it.
pub(crate) struct LoopState {
    pub(crate) shared: Arc<Shared>,
    /// The registry as of the last registration handled.
    registry: RefCell<Rc<Registry>>,
    /// The registry snapshot of the request whose task is being polled
    /// (lent by its [`RequestTask`] for the poll).
    serving: Cell<Option<Rc<Registry>>>,
    /// The call id of the request whose task is being polled (0: none, or
    /// not a cancellable request).
    serving_call: Cell<u64>,
    /// While a host fn is being invoked: its token and the call id of the
    /// request it serves (`<lib>_host_call_origin`).
    invoking: Cell<Option<(u64, u64)>>,
    /// How long to watch the inbox before sleeping, learnt as the loop runs.
    idle: Cell<Idle>,
    /// Whether a core is spare for a watch (sampled).
    cores: Cell<Cores>,
    /// Numbers requests for the `request` span's `id` (debug logging only).
    next_request: std::cell::Cell<u64>,
    /// The tasks of running cancellable requests, by call id, so a cancel
    /// can drop them.
    cancellable: RefCell<HashMap<u64, tokio::task::AbortHandle>>,
    /// With isolation: the helper's side of the context (`remote::proxy`).
    proxy: Option<Box<dyn Remote>>,
    _not_send: PhantomData<*const ()>,
}

impl LoopState {
    fn new(shared: Arc<Shared>, proxy: Option<Box<dyn Remote>>) -> Self {
        let host_fns = shared.library.def().host_fns.len();
        let idle = Idle::new(shared.config.spin);
        Self {
            shared,
            registry: RefCell::new(Rc::new(vec![None; host_fns])),
            serving: Cell::new(None),
            serving_call: Cell::new(0),
            invoking: Cell::new(None),
            idle: Cell::new(idle),
            cores: Cell::new(Cores::default()),
            next_request: std::cell::Cell::new(1),
            cancellable: RefCell::new(HashMap::new()),
            proxy,
            _not_send: PhantomData,
        }
    }

    /// With isolation, the helper's side of the context.
    pub(crate) fn proxy(&self) -> Option<&dyn Remote> {
        self.proxy.as_deref()
    }

    /// The registry of the request whose task is being polled, if any.
    pub(crate) fn serving_registry(&self) -> Option<Rc<Registry>> {
        let serving = self.serving.take();
        let copy = serving.clone();
        self.serving.set(serving);
        copy
    }

    /// Runs `f` as if serving the request `call_id` with `registry`: the
    /// origin of the host calls it starts, and the host fns they call
    /// (`None`: the ones registered last, as for a task a handler spawned).
    pub(crate) fn serving_as<R>(
        &self,
        call_id: u64,
        registry: Option<Rc<Registry>>,
        f: impl FnOnce() -> R,
    ) -> R {
        let outer_call = self.serving_call.replace(call_id);
        let outer = self.serving.replace(registry);
        let result = f();
        self.serving.set(outer);
        self.serving_call.set(outer_call);
        result
    }

    /// The loop state of the context whose loop thread this is, if any.
    pub(crate) fn current() -> Option<Rc<LoopState>> {
        CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
    }

    /// The id of the context whose loop thread this is, if any: the
    /// caller's node in the wait-for graph ([`crate::context::waits`]).
    pub(crate) fn current_id() -> Option<u64> {
        CURRENT
            .try_with(|c| c.borrow().as_ref().map(|state| state.shared.id))
            .ok()
            .flatten()
    }

    /// The implementation of host fn `index` for the request being polled
    /// (registered when it started), or else (a task the handler spawned
    /// itself) the one registered last.
    pub(crate) fn host_fn(&self, index: usize) -> Option<HostFnEntry> {
        let serving = self.serving.take();
        let entry = match &serving {
            Some(registry) => registry.get(index).copied().flatten(),
            None => self.registry.borrow().get(index).copied().flatten(),
        };
        self.serving.set(serving);
        entry
    }

    /// Runs `invoke`, the host fn invocation of host call `token`, with
    /// the request it serves on record for [`LoopState::origin`].
    pub(crate) fn invoking(&self, token: u64, invoke: impl FnOnce()) {
        let outer = self
            .invoking
            .replace(Some((token, self.serving_call.get())));
        invoke();
        self.invoking.set(outer);
    }

    /// The call id of the request host call `token` serves, while its host
    /// fn is being invoked; 0 otherwise.
    pub(crate) fn origin(&self, token: u64) -> u64 {
        match self.invoking.get() {
            Some((invoking, call_id)) if invoking == token => call_id,
            _ => 0,
        }
    }

    /// Applies `f` to the idle policy; returns what it returns.
    fn update_idle<R>(&self, f: impl FnOnce(&mut Idle) -> R) -> R {
        let mut idle = self.idle.get();
        let result = f(&mut idle);
        self.idle.set(idle);
        result
    }

    /// In-flight protocol step 1.
    pub(crate) fn allocate(&self) -> Option<u64> {
        // SAFETY: we are on the loop thread (type invariant); `allocate` does
        // not call out, so it cannot re-enter the table.
        unsafe { self.shared.inflight.allocate() }
    }

    /// Takes a delivered completion for `token`, releasing its slot.
    pub(crate) fn take(&self, token: u64) -> Option<Completion> {
        // SAFETY: loop thread (type invariant); the caller owns `token`.
        unsafe { self.shared.inflight.take(token) }
    }

    pub(crate) fn set_waker(&self, token: u64, waker: &Waker) {
        // SAFETY: loop thread (type invariant); the caller owns `token`.
        unsafe { self.shared.inflight.set_waker(token, waker) }
    }

    /// In-flight protocol step 4.
    pub(crate) fn cancel(&self, token: u64, abandon: bool) -> Cancel {
        // SAFETY: loop thread (type invariant); the caller owns `token`.
        unsafe { self.shared.inflight.cancel(token, abandon) }
    }

    /// In-flight protocol step 3, for a token this thread or another claimed.
    pub(crate) fn deliver(&self, token: u64, completion: Completion) {
        // SAFETY: loop thread (type invariant); the token was claimed and
        // this is its one delivery (the claimer sends exactly one).
        let waker = unsafe { self.shared.inflight.deliver(token, completion) };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn handle(self: &Rc<Self>, message: Msg) {
        match message {
            Msg::Request(request) => self.start(request),
            Msg::Completion { token, completion } => self.deliver(token, completion),
            Msg::Register { index, entry } => {
                let cancellable = entry.cancel.is_some();
                // Copies the registry only while a request still uses it.
                if let Some(slot) = Rc::make_mut(&mut self.registry.borrow_mut()).get_mut(index) {
                    *slot = Some(entry);
                }
                if let Some(proxy) = &self.proxy {
                    proxy.register(index, cancellable);
                }
            }
            Msg::Cancel { id, reply } => self.withdraw(id, reply),
            Msg::RemoteDied(died) => {
                if let Some(proxy) = &self.proxy {
                    let (generation, text) = *died;
                    proxy.died(self, generation, text);
                }
            }
        }
    }

    /// A withdrawn request: its task (if it runs) is dropped — tokio drops
    /// an aborted local task's future on the loop's next turn, and its host
    /// calls' destructors cancel them — and the reply `cancel_call` took is
    /// sent now. The request's pending count is the cancel's to release.
    fn withdraw(&self, id: u64, reply: ReplyTo) {
        if let Some(task) = self.cancellable.borrow_mut().remove(&id) {
            task.abort();
        }
        if let Some(proxy) = &self.proxy {
            proxy.withdrawn(id);
        }
        let text = format!("request '{}' cancelled", reply.method());
        reply.send(
            Err(Failure::new(crate::abi::status::RET_CANCELLED, text)),
            || self.shared.request_done(),
        );
    }

    /// Handles a message after shutdown: requests are answered `context
    /// shutting down` by their `ReplyTo`'s destructor.
    fn discard(&self, message: Msg) {
        match message {
            Msg::Completion { token, completion } => self.deliver(token, completion),
            Msg::Cancel { id, reply } => self.withdraw(id, reply),
            other => drop(other),
        }
    }

    fn start(self: &Rc<Self>, request: Request) {
        let Request { invocation, reply } = request;
        if reply.is_withdrawn() {
            // Cancelled while queued: its `Msg::Cancel` follows and answers.
            return;
        }
        let method = reply.method();
        let span = if tracing::enabled!(tracing::Level::DEBUG) {
            let id = self.next_request.get();
            self.next_request.set(id + 1);
            tracing::debug_span!("request", method, id)
        } else {
            tracing::Span::none()
        };
        match invocation {
            Invocation::Failed(problem) => {
                let _entered = span.enter();
                tracing::debug!(%problem, "request refused");
                self.finish(reply, Err(problem));
            }
            Invocation::Sync(run) => {
                let _entered = span.enter();
                let result = run_sync(method, run);
                self.finish(reply, result);
            }
            Invocation::Async(spawn) => {
                let registry = Rc::clone(&self.registry.borrow());
                let responder = Responder {
                    reply,
                    span,
                    registry,
                };
                // The generated closure only builds the handler's future; if
                // it ever panicked, the responder's `ReplyTo` would answer
                // "panicked" while unwinding.
                let _ = catch_unwind(AssertUnwindSafe(|| spawn.call(responder)));
            }
        }
    }

    fn finish(&self, reply: ReplyTo, result: Reply) {
        // Once destroy has been called every reply still to go out says so,
        // even for a handler that finished in the same turn.
        let result = if self.shared.closing.load(Ordering::Acquire) {
            Err(Failure::new(
                crate::abi::status::RET_SHUTTING_DOWN,
                crate::request::SHUTTING_DOWN,
            ))
        } else {
            result
        };
        match &result {
            Ok(value) => tracing::debug!(reply = %value.brief(), "replied"),
            Err(problem) => tracing::debug!(%problem, "request failed"),
        }
        if let Some(id) = reply.call_id() {
            self.cancellable.borrow_mut().remove(&id);
        }
        // A withdrawn request's reply goes nowhere; its cancel answers it
        // and releases its pending count.
        reply.send(result, || self.shared.request_done());
    }
}

/// Spawning is the loop's half of [`Responder`] (the request path defines
/// the type and carries it): the task it starts lends the request's registry
/// to `LoopState` while it is polled and sends its reply through it.
impl Responder {
    /// Runs `future` as the request's task; `reply` turns its output into
    /// the reply. Taking the two apart (rather than one `async` block that
    /// awaits and converts) keeps the future stored once in the task.
    pub fn spawn<F, M>(self, future: F, reply: M)
    where
        F: std::future::Future + 'static,
        M: FnOnce(F::Output) -> Reply + 'static,
    {
        let Responder {
            reply: to,
            span,
            registry,
        } = self;
        let task = RequestTask {
            handler: future,
            convert: Some(reply),
            reply: Some(to),
            registry: Some(registry),
        };
        let call_id = task.reply.as_ref().and_then(ReplyTo::call_id);
        // Entering even a disabled span on every poll shows up in profiles;
        // only instrument when logging is on.
        let handle = if span.is_disabled() {
            tokio::task::spawn_local(task)
        } else {
            tokio::task::spawn_local(task.instrument(span))
        };
        if let Some(id) = call_id
            && let Some(state) = LoopState::current()
        {
            state
                .cancellable
                .borrow_mut()
                .insert(id, handle.abort_handle());
        }
    }
}

/// An async request's task: the handler's future, then the one reply. A
/// plain struct rather than an `async` block, which would store the
/// handler's future twice (as a captured value and as the awaited one);
/// every pending request is one of these, so its size is what a pending
/// request costs.
struct RequestTask<F, M> {
    /// Structurally pinned: never moved out of a pinned `RequestTask`.
    handler: F,
    /// Turns the handler's output into the reply; taken once.
    convert: Option<M>,
    /// Taken when the reply is sent.
    reply: Option<ReplyTo>,
    /// The request's host fns: lent to [`LoopState::serving`] while the
    /// handler is polled (so `None` only during a poll).
    registry: Option<Rc<Registry>>,
}

impl<F, M> std::future::Future for RequestTask<F, M>
where
    F: std::future::Future,
    M: FnOnce(F::Output) -> Reply,
{
    type Output = ();

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        // SAFETY: `handler` is structurally pinned: it is never moved out,
        // `RequestTask` has no `Drop` impl, and `convert`/`reply` (not
        // pinned) are only taken.
        let this = unsafe { self.get_unchecked_mut() };
        let Some(method) = this.reply.as_ref().map(ReplyTo::method) else {
            return std::task::Poll::Ready(());
        };
        // SAFETY: as above.
        let handler = unsafe { std::pin::Pin::new_unchecked(&mut this.handler) };
        // A panic is caught here and becomes the reply; the panicked future
        // is never polled again (`reply` is gone after this).
        let convert = &mut this.convert;
        // Request tasks run only on their loop thread, inside `run`.
        let state = LoopState::current();
        let call_id = this.reply.as_ref().and_then(ReplyTo::call_id).unwrap_or(0);
        let outer = state.as_ref().and_then(|state| {
            state.serving_call.set(call_id);
            state.serving.replace(this.registry.take())
        });
        let polled = catch_unwind(AssertUnwindSafe(|| match handler.poll(cx) {
            std::task::Poll::Pending => None,
            std::task::Poll::Ready(output) => Some(convert.take().map(|convert| convert(output))),
        }));
        if let Some(state) = &state {
            state.serving_call.set(0);
            this.registry = state.serving.replace(outer);
        }
        let result = match polled {
            Ok(None) => return std::task::Poll::Pending,
            Ok(Some(Some(result))) => result,
            Ok(Some(None)) => Err(Failure::error(format!("handler '{method}' finished twice"))),
            Err(payload) => Err(panicked(method, &*payload)),
        };
        if let (Some(reply), Some(state)) = (this.reply.take(), state) {
            state.finish(reply, result);
        }
        std::task::Poll::Ready(())
    }
}

/// Step 1: starts the loop thread of `shared` (with isolation, serving
/// through the proxy `remote` makes there).
pub(crate) fn spawn(shared: &Arc<Shared>, remote: Option<MakeRemote>) -> Result<(), String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let name = format!("hostcall-{}", shared.library.def().prefix);
    let thread_shared = Arc::clone(shared);
    let handle = std::thread::Builder::new()
        .name(name)
        .spawn(move || run(thread_shared, remote, ready_tx))
        .map_err(|e| format!("could not start the loop thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => {
            *shared.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
            Ok(())
        }
        Ok(Err(problem)) => {
            let _ = handle.join();
            Err(problem)
        }
        Err(_) => {
            let _ = handle.join();
            Err("the loop thread died while starting".to_owned())
        }
    }
}

fn run(
    shared: Arc<Shared>,
    remote: Option<MakeRemote>,
    ready: std::sync::mpsc::SyncSender<Result<(), String>>,
) {
    let proxy = remote.map(|make| make(&shared));
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time();
    if proxy.is_some() {
        // The helper's connection is read on the loop (`remote::link`):
        // the runtime then parks in epoll. Without isolation it parks on a
        // futex, a cheaper wake-up.
        builder.enable_io();
    }
    if shared.config.spin.is_some() || proxy.is_some() {
        // Weak: the runtime must not keep the context alive.
        let hook_shared = Arc::downgrade(&shared);
        builder.on_thread_park(move || {
            if let Some(shared) = hook_shared.upgrade() {
                before_park(&shared);
            }
        });
    }
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            if let Some(proxy) = proxy {
                proxy.close();
            }
            let _ = ready.send(Err(format!("could not build the loop's runtime: {e}")));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let state = Rc::new(LoopState::new(shared, proxy));
    CURRENT.with(|c| *c.borrow_mut() = Some(Rc::clone(&state)));

    let local = LocalSet::new();
    let dispatched = catch_unwind(AssertUnwindSafe(|| {
        local.block_on(&runtime, dispatch(Rc::clone(&state)));
    }));
    if let Err(payload) = &dispatched {
        let text = crate::request::panic_text("<dispatcher>", &**payload);
        tracing::error!(%text, "the event loop failed; the context now refuses all work");
        state.shared.failed.store(true, Ordering::Release);
    }
    {
        // Step 4: dropping the LocalSet drops every handler task.
        let _runtime = runtime.enter();
        drop(local);
        if let Some(proxy) = state.proxy() {
            proxy.close();
        }
    }
    drain_until_closed(&runtime, &state);

    CURRENT.with(|c| c.borrow_mut().take());
    drop(state);
    drop(runtime);
}

/// In the crate's unit tests, a request for a method of this name makes the
/// dispatcher panic, so that the failed-loop path can be driven
/// (`ffi::failed_loop`).
#[cfg(test)]
pub(crate) const FAULT_METHOD: &str = "dispatcher_fault";

/// Steps 2 and 3.
async fn dispatch(state: Rc<LoopState>) {
    let shared = Arc::clone(&state.shared);
    if let Some(proxy) = state.proxy() {
        proxy.attach(&state);
    }
    loop {
        let mut handled = 0;
        while let Some(message) = shared.inbox.pop() {
            if shared.closing.load(Ordering::Acquire) {
                // Destroy was called: nothing queued may start any more.
                state.discard(message);
                return;
            }
            #[cfg(test)]
            if let Msg::Request(request) = &message
                && request.reply.method() == FAULT_METHOD
            {
                panic!("injected dispatcher fault");
            }
            state.handle(message);
            handled += 1;
            if handled == BATCH {
                handled = 0;
                if let Some(proxy) = state.proxy() {
                    proxy.flush();
                }
                tokio::task::yield_now().await;
            }
        }
        if shared.closing.load(Ordering::Acquire) {
            return;
        }
        if let Some(proxy) = state.proxy() {
            proxy.flush();
        }
        if shared.inbox.prepare_sleep() {
            shared.wake.notified().await;
            // The producer's stamp, when a producer woke us (the wake's
            // release/acquire orders it); a shutdown wake has none.
            if let Some(pushed) = shared.take_wake_stamp() {
                state.update_idle(|idle| idle.woke(pushed));
            }
        }
    }
}

/// Step 3, before the thread parks (tokio's park hook, on the loop thread,
/// when no task is ready): with isolation, write what the turn queued for
/// the helper; then, with `spin_us`, watch.
fn before_park(shared: &Shared) {
    let Some(state) = LoopState::current() else {
        return;
    };
    if let Some(proxy) = state.proxy() {
        proxy.flush();
    }
    if shared.config.spin.is_some() {
        watch_before_park(shared, &state);
    }
}

/// Step 3: watch the inbox (and, with isolation, the helper's connection)
/// for as long as the idle policy says instead of sleeping at once, and
/// tell the policy what the watch saw.
fn watch_before_park(shared: &Shared, state: &LoopState) {
    if shared.closing.load(Ordering::Acquire) {
        return;
    }
    let now = Instant::now();
    let mut cores = state.cores.get();
    let spare = cores.spare(now);
    state.cores.set(cores);
    let window = state.update_idle(|idle| idle.decide(spare));
    if window.is_zero() {
        state.update_idle(|idle| idle.slept(now));
        return;
    }
    if !shared.inbox.begin_spin() {
        // Not asleep: a producer took the wake-up job, a wake is coming.
        return;
    }
    let proxy = state.proxy();
    let outcome = watch(shared, window, || proxy.is_some_and(|p| p.input_waiting()));
    state.update_idle(|idle| idle.watched(outcome));
    match outcome {
        // A message: its producer saw the watch and left the wake to us.
        Outcome::Arrived(_) if !shared.inbox.is_empty() => shared.wake.notify_one(),
        // The helper's connection has input: the park that follows polls
        // it at once, unless a message came meanwhile.
        Outcome::Arrived(_) => {
            if !shared.inbox.end_spin() {
                shared.wake.notify_one();
            }
        }
        Outcome::Empty | Outcome::Contended => {
            if shared.inbox.end_spin() {
                state.update_idle(|idle| idle.slept(Instant::now()));
            } else {
                // Wakes the dispatcher task; tokio sees the wake and skips
                // the park.
                shared.wake.notify_one();
            }
        }
    }
}

/// Spins between two looks at the clock while watching.
const CHECK_EVERY: u32 = 32;
/// While watching, the loop yields its core this often, so that a thread
/// waiting for this core (the host's worker, on a small machine) gets it.
const YIELD_EVERY: Duration = Duration::from_micros(5);
/// A yield that returns this late means another thread ran on this core.
const YIELD_LATE: Duration = Duration::from_micros(10);
/// A gap this long between two looks at the clock means the thread lost
/// its core (preempted, or the vCPU was taken away).
const PREEMPTED: Duration = Duration::from_micros(20);

/// Idle policy step 2: watches the inbox, and every [`CHECK_EVERY`] spins
/// `input` (whether the helper's connection holds something), for up to
/// `window`, yielding the core every [`YIELD_EVERY`]; stops early when the
/// core is contended.
fn watch(shared: &Shared, window: Duration, input: impl Fn() -> bool) -> Outcome {
    let start = Instant::now();
    let mut looked = start;
    let mut yielded = start;
    let mut spins: u32 = 0;
    loop {
        if !shared.inbox.is_empty() {
            return Outcome::Arrived(start.elapsed());
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(CHECK_EVERY) {
            if input() {
                return Outcome::Arrived(start.elapsed());
            }
            let now = Instant::now();
            if now - looked >= PREEMPTED {
                return Outcome::Contended;
            }
            if now - start >= window || shared.closing.load(Ordering::Acquire) {
                return Outcome::Empty;
            }
            looked = now;
            if now - yielded >= YIELD_EVERY {
                std::thread::yield_now();
                let after = Instant::now();
                if after - now >= YIELD_LATE {
                    return Outcome::Contended;
                }
                (looked, yielded) = (after, after);
            }
        }
        std::hint::spin_loop();
    }
}

/// After the dispatcher: answers what is left in the inbox, and (if the
/// dispatcher failed) whatever still arrives, until the context is closed.
fn drain_until_closed(runtime: &Runtime, state: &LoopState) {
    let shared = &state.shared;
    runtime.block_on(async {
        loop {
            while let Some(message) = shared.inbox.pop() {
                state.discard(message);
            }
            if shared.closing.load(Ordering::Acquire) {
                return;
            }
            if shared.inbox.prepare_sleep() {
                shared.wake.notified().await;
            }
        }
    });
}
