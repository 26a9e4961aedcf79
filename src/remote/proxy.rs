//! The loop thread's side of an isolated context: requests forwarded to the
//! helper, the helper's host calls run as local host calls, and the
//! helper's death turned into one reply per pending request.
//!
//! # Protocol
//!
//! 1. **Request**: a request's task is a [`RemoteRequest`]. Its first poll
//!    numbers it, records where its reply goes and the registry it was
//!    handled with (`pending`), and sends [`Down::Call`]; [`Up::Reply`]
//!    resolves it. Dropped or withdrawn before that (`cancel_call`, or the
//!    context is being destroyed) it leaves `pending` at once and sends
//!    [`Down::Cancel`].
//! 2. **Host call**: [`Up::HostCall`] becomes an ordinary local host call
//!    of the same host fn (a local token, the function the host had
//!    registered when the request it serves was handled — the one
//!    registered last for a task the library spawned —, its cancel
//!    notifier, `host_call_origin` naming the host's call id of the
//!    request), started at once: the host fn runs before the next message
//!    is handled, as it would in process. Its answer goes back as
//!    [`Down::Complete`]. A host call whose request has already left
//!    `pending` (withdrawn) is not run; the helper cancels it when the
//!    withdrawal reaches it. A forwarded host call is cancelled at once —
//!    its future dropped, its token cancelled, the host's notifier run —
//!    on [`Up::HostCancel`], and before its request's reply or withdrawal
//!    is handled, so that no token of a request outlives its reply.
//! 3. **Registration**: each host fn the host registers is registered in
//!    the helper too ([`Down::Register`]), in order with the calls.
//! 4. **Death** (`Msg::RemoteDied` for the running helper): every pending
//!    request is answered `RET_PROCESS_DIED` with how the helper died, and
//!    every local host call it made is cancelled (its notifier runs). Then,
//!    with `restart`, a new helper is started — at once if the dead one had
//!    run for [`STEADY`], else after a back-off that doubles from
//!    [`BACKOFF_MIN`] to [`BACKOFF_MAX`] — and given the registrations;
//!    requests that start meanwhile wait in `backlog` and go to it (or are
//!    answered `RET_PROCESS_DIED` if it cannot be started). Without
//!    `restart`, the context refuses new calls (`HC_ERR_SHUTTING_DOWN`).
//! 5. **Teardown**: when the loop ends, the helper's connection is closed
//!    and the helper reaped ([`Link::close`]).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;

use super::link::Link;
use crate::abi::status::{RET_ERR, RET_OK, RET_PROCESS_DIED};
use crate::context::config::{Connect, Isolation};
use crate::context::event_loop::LoopState;
use crate::context::{MakeRemote, Remote, Shared};
use crate::host_call::{HostCall, Raw};
use crate::isolation::protocol::{Down, Up};
use crate::request::{Failure, Invocation, Registry, Reply, Value};
use crate::wire::Bytes;

/// A helper that ran this long before it died is restarted at once.
pub(crate) const STEADY: Duration = Duration::from_secs(1);
/// The first back-off after a helper died young.
pub(crate) const BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest back-off.
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Where a forwarded request's reply goes, and what its host calls run
/// with.
struct Pending {
    reply: oneshot::Sender<Reply>,
    /// The host's call id of the request (0: not cancellable), for the
    /// origin of the host calls it makes.
    call_id: u64,
    /// The host fns registered when the request was handled: its host calls
    /// use them, as they would in process.
    registry: Option<Rc<Registry>>,
    /// The helper's tokens of its host calls still running on the host.
    host_calls: HashSet<u64>,
}

/// A host call of the helper's, running on the host as a local one.
type Forwarding = Rc<RefCell<Option<Pin<Box<dyn Future<Output = ()>>>>>>;

/// One forwarded host call: its future (taken to cancel it at once), the
/// task that polls it after its start, and our id of the request it
/// serves (0: none).
struct Forwarded {
    future: Forwarding,
    task: tokio::task::AbortHandle,
    origin: u64,
}

/// Polls a forwarded host call; `Ready` once it has finished (or was
/// cancelled). The borrow is held only by the poll itself: the host fn it
/// may invoke can re-enter the entry points, none of which reach it.
fn poll_forwarding(future: &Forwarding, cx: &mut Context<'_>) -> Poll<()> {
    let mut slot = future.borrow_mut();
    let Some(running) = slot.as_mut() else {
        return Poll::Ready(());
    };
    let polled = running.as_mut().poll(cx);
    if polled.is_ready() {
        *slot = None;
    }
    polled
}

/// The isolated half of a context's loop state (loop thread only).
pub(crate) struct Proxy {
    isolation: Isolation,
    /// The running helper; `None` while it is being restarted, or for good.
    link: RefCell<Option<Link>>,
    /// The generation of the last helper started.
    generation: Cell<u64>,
    next_id: Cell<u64>,
    pending: RefCell<HashMap<u64, Pending>>,
    /// The pending requests that are cancellable: the host's call id → ours.
    by_call: RefCell<HashMap<u64, u64>>,
    /// The helper's host calls still running on the host, by its token.
    host_calls: RefCell<HashMap<u64, Forwarded>>,
    /// Per host fn: `Some(cancellable)` once the host registered it.
    registered: RefCell<Vec<Option<bool>>>,
    /// Frames for the next helper, while none runs (step 4).
    backlog: RefCell<Vec<Down>>,
    backoff: Cell<Duration>,
}

impl Proxy {
    /// The proxy of a context whose first helper is `link`.
    pub(crate) fn new(shared: &Shared, isolation: Isolation, link: Link) -> Self {
        let generation = link.generation;
        Self {
            isolation,
            link: RefCell::new(Some(link)),
            generation: Cell::new(generation),
            next_id: Cell::new(1),
            pending: RefCell::new(HashMap::new()),
            by_call: RefCell::new(HashMap::new()),
            host_calls: RefCell::new(HashMap::new()),
            registered: RefCell::new(vec![None; shared.library.def().host_fns.len()]),
            backlog: RefCell::new(Vec::new()),
            backoff: Cell::new(Duration::ZERO),
        }
    }

    /// Starts reading the running helper's connection on the loop: each
    /// message goes to [`Proxy::receive`] while its helper is the current
    /// one.
    fn attach_link(&self, shared: &Arc<Shared>) {
        let generation = self.generation.get();
        if let Some(link) = self.link.borrow_mut().as_mut() {
            link.attach(shared, move |message| {
                if let Some(state) = LoopState::current()
                    && let Some(proxy) = of(&state)
                    && proxy.generation.get() == generation
                {
                    proxy.receive(&state, message);
                }
            });
        }
    }

    /// Sends `message` to the running helper, or keeps it for the next.
    fn send(&self, message: Down) {
        match &*self.link.borrow() {
            Some(link) => {
                link.sink.send(&message);
            }
            None => self.backlog.borrow_mut().push(message),
        }
    }

    /// Step 3.
    pub(crate) fn register(&self, index: usize, cancellable: bool) {
        if let Some(slot) = self.registered.borrow_mut().get_mut(index) {
            *slot = Some(cancellable);
        }
        self.send(Down::Register {
            index: index as u32,
            cancellable,
        });
    }

    /// Step 1: sends request `method(args)`; its reply arrives on the
    /// receiver.
    fn start(
        &self,
        method: &str,
        args: Vec<u8>,
        call_id: u64,
        registry: Option<Rc<Registry>>,
    ) -> (u64, oneshot::Receiver<Reply>) {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (reply, receiver) = oneshot::channel();
        if call_id != 0 {
            self.by_call.borrow_mut().insert(call_id, id);
        }
        self.pending.borrow_mut().insert(
            id,
            Pending {
                reply,
                call_id,
                registry,
                host_calls: HashSet::new(),
            },
        );
        self.send(Down::Call {
            id,
            method: method.to_owned(),
            args: Bytes(args),
            cancellable: true,
        });
        (id, receiver)
    }

    /// Takes request `id` out of the books (`pending`, `by_call`).
    fn forget(&self, id: u64) -> Option<Pending> {
        let pending = self.pending.borrow_mut().remove(&id)?;
        if pending.call_id != 0 {
            self.by_call.borrow_mut().remove(&pending.call_id);
        }
        Some(pending)
    }

    /// Step 1: request `id` was dropped unanswered (withdrawn, or the
    /// context is being destroyed): the helper is told, and the host calls
    /// it made are cancelled now.
    fn abandon(&self, id: u64) {
        if let Some(pending) = self.forget(id) {
            self.send(Down::Cancel { id });
            for token in pending.host_calls {
                self.cancel_host_call(token);
            }
        }
    }

    /// Step 1: the host withdrew request `call_id` (`cancel_call`).
    pub(crate) fn withdrawn(&self, call_id: u64) {
        let id = self.by_call.borrow().get(&call_id).copied();
        if let Some(id) = id {
            self.abandon(id);
        }
    }

    /// A message from the helper.
    pub(crate) fn receive(&self, state: &Rc<LoopState>, message: Up) {
        match message {
            Up::Reply { id, ret, payload } => {
                let Some(pending) = self.forget(id) else {
                    // Withdrawn (its Cancel crossed this reply): discarded.
                    return;
                };
                // The helper drops what the request still awaited right
                // after its reply; cancelled here first, the host sees its
                // cancels before the reply, never a live token after it.
                for token in pending.host_calls {
                    self.cancel_host_call(token);
                }
                let reply = if ret == RET_OK {
                    Ok(Value::Cbor(payload.0))
                } else {
                    Err(Failure {
                        outcome: ret,
                        payload: payload.0,
                    })
                };
                let _ = pending.reply.send(reply);
            }
            Up::HostCall {
                token,
                index,
                args,
                origin,
            } => self.host_call(state, token, index as usize, args.0, origin),
            Up::HostCancel { token } => self.cancel_host_call(token),
            Up::Event { index, payload } => {
                let shared = &state.shared;
                if !shared.is_closing() && shared.listeners.any(index as usize) {
                    shared.listeners.emit(index as usize, &payload);
                }
            }
            Up::Welcome { .. } | Up::Refused { .. } => {
                tracing::warn!(?message, "the helper repeated its handshake; ignored");
            }
        }
    }

    /// Step 2.
    fn host_call(
        &self,
        state: &Rc<LoopState>,
        token: u64,
        index: usize,
        args: Vec<u8>,
        origin: u64,
    ) {
        let Some(def) = state.shared.library.def().host_fns.get(index) else {
            self.send(Down::Complete {
                token,
                ret: RET_ERR,
                payload: Bytes(
                    format!(
                        "the helper called host fn #{index}, which the library does not declare"
                    )
                    .into_bytes(),
                ),
            });
            return;
        };
        let (call_id, registry) = match self.pending.borrow_mut().get_mut(&origin) {
            Some(pending) => {
                pending.host_calls.insert(token);
                (pending.call_id, pending.registry.clone())
            }
            None if origin != 0 => {
                // Its request was withdrawn here after the helper made the
                // call; the helper cancels it when the withdrawal reaches
                // it. In process the host fn would not run: nor does it.
                self.send(Down::Complete {
                    token,
                    ret: RET_ERR,
                    payload: Bytes(b"the request this host call serves was withdrawn".to_vec()),
                });
                return;
            }
            None => (0, None),
        };
        let call = HostCall::<(), Raw>::from_cbor(def, args).without_timeout();
        let future: Forwarding = Rc::new(RefCell::new(Some(Box::pin(Serving {
            call_id,
            registry,
            future: async move {
                let (ret, payload) = match call.await {
                    Ok(answer) => answer,
                    Err(error) => (RET_ERR, error.to_string().into_bytes()),
                };
                if let Some(state) = LoopState::current()
                    && let Some(proxy) = of(&state)
                {
                    proxy.untrack(token, origin);
                    let ended = proxy.host_calls.borrow_mut().remove(&token);
                    drop(ended);
                    proxy.send(Down::Complete {
                        token,
                        ret,
                        payload: Bytes(payload),
                    });
                }
            },
        }))));
        // Started now, as in process: the host fn runs when the call
        // arrives (it may complete inline), not when a task gets its turn.
        // Its waker is a no-op; the task spawned below is polled once after
        // it is spawned, and sets the real one.
        if poll_forwarding(&future, &mut Context::from_waker(std::task::Waker::noop())).is_ready() {
            return;
        }
        let polled = Rc::clone(&future);
        let task =
            tokio::task::spawn_local(std::future::poll_fn(move |cx| poll_forwarding(&polled, cx)));
        self.host_calls.borrow_mut().insert(
            token,
            Forwarded {
                future,
                task: task.abort_handle(),
                origin,
            },
        );
    }

    /// Cancels the forwarded host call `token` now: its local host call is
    /// dropped (its token cancelled, the host's notifier run) before this
    /// returns.
    fn cancel_host_call(&self, token: u64) {
        let Some(forwarded) = self.host_calls.borrow_mut().remove(&token) else {
            return;
        };
        self.untrack(token, forwarded.origin);
        forwarded.task.abort();
        let future = forwarded.future.borrow_mut().take();
        drop(future);
    }

    /// Forgets host call `token` of request `origin` (it ended).
    fn untrack(&self, token: u64, origin: u64) {
        if let Some(pending) = self.pending.borrow_mut().get_mut(&origin) {
            pending.host_calls.remove(&token);
        }
    }

    /// Step 4: the helper of `generation` died, as `text` says.
    pub(crate) fn died(&self, state: &Rc<LoopState>, generation: u64, text: String) {
        if generation != self.generation.get() {
            return;
        }
        let Some(link) = self.link.borrow_mut().take() else {
            return;
        };
        let lived = link.started.elapsed();
        link.close();
        tracing::warn!(%text, generation, "the library's helper process died");
        self.fail_pending(&text);
        self.cancel_host_calls();
        if !self.isolation.restart || state.shared.is_closing() {
            let _ = state.shared.gone.set(format!(
                "{text}; the context does not restart it (restart: false)"
            ));
            return;
        }
        let backoff = if lived >= STEADY {
            Duration::ZERO
        } else {
            (self.backoff.get() * 2).clamp(BACKOFF_MIN, BACKOFF_MAX)
        };
        self.backoff.set(backoff);
        self.schedule_restart(state, backoff);
    }

    /// Answers every pending request `RET_PROCESS_DIED`, as `text` says.
    fn fail_pending(&self, text: &str) {
        let pending: Vec<Pending> = self.pending.borrow_mut().drain().map(|(_, p)| p).collect();
        self.by_call.borrow_mut().clear();
        self.backlog.borrow_mut().clear();
        for pending in pending {
            let _ = pending
                .reply
                .send(Err(Failure::new(RET_PROCESS_DIED, text)));
        }
    }

    fn schedule_restart(&self, state: &Rc<LoopState>, after: Duration) {
        if after.is_zero() {
            self.restart(state);
            return;
        }
        tokio::task::spawn_local(async move {
            tokio::time::sleep(after).await;
            if let Some(state) = LoopState::current()
                && let Some(proxy) = of(&state)
            {
                proxy.restart(&state);
            }
        });
    }

    /// Step 4: starts the next helper and hands it what it must know.
    fn restart(&self, state: &Rc<LoopState>) {
        if state.shared.is_closing() {
            return;
        }
        let generation = self.generation.get() + 1;
        self.generation.set(generation);
        match Link::start(&state.shared, &self.isolation, generation) {
            Ok(link) => {
                for (index, cancellable) in self.registered.borrow().iter().enumerate() {
                    if let Some(cancellable) = cancellable {
                        link.sink.send(&Down::Register {
                            index: index as u32,
                            cancellable: *cancellable,
                        });
                    }
                }
                for message in self.backlog.borrow_mut().drain(..) {
                    if !matches!(message, Down::Register { .. }) {
                        link.sink.send(&message);
                    }
                }
                *self.link.borrow_mut() = Some(link);
                self.attach_link(&state.shared);
                tracing::info!(generation, "the library's helper process was started again");
            }
            Err(problem) => {
                let again = match self.isolation.connect {
                    Connect::Spawn(_) => "started",
                    Connect::Socket(_) | Connect::Tcp(_) => "reached",
                };
                let text =
                    format!("library process died, and could not be {again} again: {problem}");
                tracing::warn!(%text);
                self.fail_pending(&text);
                let backoff = (self.backoff.get() * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
                self.backoff.set(backoff);
                self.schedule_restart(state, backoff);
            }
        }
    }

    /// Step 5: the loop's tasks are gone; the host calls the helper made
    /// are cancelled (their notifiers run, as at an in-process teardown),
    /// then the helper is let go.
    pub(crate) fn close(&self) {
        self.cancel_host_calls();
        if let Some(link) = self.link.borrow_mut().take() {
            link.close();
        }
        self.fail_pending(crate::request::SHUTTING_DOWN);
    }

    /// Cancels every forwarded host call now.
    fn cancel_host_calls(&self) {
        let tokens: Vec<u64> = self.host_calls.borrow().keys().copied().collect();
        for token in tokens {
            self.cancel_host_call(token);
        }
    }
}

impl Remote for Proxy {
    fn register(&self, index: usize, cancellable: bool) {
        Proxy::register(self, index, cancellable);
    }

    fn withdrawn(&self, call_id: u64) {
        Proxy::withdrawn(self, call_id);
    }

    fn attach(&self, state: &Rc<LoopState>) {
        self.attach_link(&state.shared);
    }

    fn flush(&self) {
        if let Ok(link) = self.link.try_borrow()
            && let Some(link) = &*link
        {
            link.flush();
        }
    }

    fn input_waiting(&self) -> bool {
        self.link
            .try_borrow()
            .is_ok_and(|link| link.as_ref().is_some_and(Link::input_waiting))
    }

    fn died(&self, state: &Rc<LoopState>, generation: u64, text: String) {
        Proxy::died(self, state, generation, text);
    }

    fn close(&self) {
        Proxy::close(self);
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The proxy of the context whose loop `state` is.
fn of(state: &LoopState) -> Option<&Proxy> {
    state.proxy()?.as_any().downcast_ref()
}

/// Starts a context's first helper (`<lib>_new`, on the host's thread);
/// the loop makes its proxy from what this returns. `None` for a context
/// that is not isolated.
pub(crate) fn connect(shared: &Arc<Shared>) -> Result<Option<MakeRemote>, String> {
    match &shared.config.isolation {
        None => Ok(None),
        Some(isolation) => {
            let link = Link::start(shared, isolation, 1)?;
            let isolation = isolation.clone();
            Ok(Some(Box::new(move |shared: &Shared| {
                Box::new(Proxy::new(shared, isolation, link)) as Box<dyn Remote>
            })))
        }
    }
}

/// A forwarded request's task (step 1).
pub(crate) struct RemoteRequest {
    method: &'static str,
    call_id: u64,
    stage: Stage,
}

enum Stage {
    New(Vec<u8>),
    Sent(u64, oneshot::Receiver<Reply>),
    Done,
}

impl RemoteRequest {
    /// The invocation of an isolated context's request `method(args)` (CBOR
    /// arguments): its task forwards it, and `convert` turns the helper's
    /// reply into the request's.
    pub(crate) fn invocation(
        method: &'static str,
        args: Vec<u8>,
        convert: impl FnOnce(Reply) -> Reply + Send + 'static,
    ) -> Invocation {
        Invocation::spawn(move |responder| {
            let call_id = responder.reply.call_id().unwrap_or(0);
            let request = Self {
                method,
                call_id,
                stage: Stage::New(args),
            };
            responder.spawn(request, convert);
        })
    }
}

impl Future for RemoteRequest {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let this = &mut *self;
        if let Stage::New(_) = this.stage {
            let Stage::New(args) = std::mem::replace(&mut this.stage, Stage::Done) else {
                unreachable!()
            };
            let Some(state) = LoopState::current() else {
                return Poll::Ready(Err(Failure::error("no context on this thread")));
            };
            let Some(proxy) = of(&state) else {
                return Poll::Ready(Err(Failure::error("this context is not isolated")));
            };
            if let Some(why) = state.shared.gone.get() {
                return Poll::Ready(Err(Failure::new(RET_PROCESS_DIED, why.clone())));
            }
            let registry = state.serving_registry();
            let (id, receiver) = proxy.start(this.method, args, this.call_id, registry);
            this.stage = Stage::Sent(id, receiver);
        }
        let Stage::Sent(_, receiver) = &mut this.stage else {
            return Poll::Ready(Err(Failure::error("request polled after it finished")));
        };
        match Pin::new(receiver).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(reply) => {
                this.stage = Stage::Done;
                Poll::Ready(reply.unwrap_or_else(|_| {
                    Err(Failure::new(
                        crate::abi::status::RET_SHUTTING_DOWN,
                        crate::request::SHUTTING_DOWN,
                    ))
                }))
            }
        }
    }
}

impl Drop for RemoteRequest {
    fn drop(&mut self) {
        if let Stage::Sent(id, _) = self.stage
            && let Some(state) = LoopState::current()
            && let Some(proxy) = of(&state)
        {
            proxy.abandon(id);
        }
    }
}

/// A future polled as if serving the request `call_id` with its
/// `registry`: the host calls it starts report that origin and call the
/// host fns registered when the request was handled.
struct Serving<F> {
    call_id: u64,
    registry: Option<Rc<Registry>>,
    future: F,
}

impl<F: Future> Future for Serving<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: never moved out of a
        // pinned `Serving`, which has no `Drop` impl.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        match LoopState::current() {
            Some(state) => {
                state.serving_as(this.call_id, this.registry.clone(), || future.poll(cx))
            }
            None => future.poll(cx),
        }
    }
}
