//! A context: the state one `<lib>_new` creates and one `<lib>_destroy` ends.
//!
//! [`Shared`] is what host threads may reach (through a handle guard): the
//! inbox and its wake signal, the in-flight table's claim side, the listener
//! table and the flags. Everything else — the host-fn registry, the handler
//! tasks, the in-flight bookkeeping — belongs to the loop thread
//! ([`event_loop::LoopState`]).
//!
//! This module is the context and the loop thread that serves it:
//!
//! * [`event_loop`]: the loop thread: dispatch, sleep, teardown;
//! * [`idle`]: how long the idle loop thread watches for work before it
//!   sleeps, learnt from what it sees;
//! * [`cores`]: whether the machine has a core to spare for that watch;
//! * [`config`]: the configuration `<lib>_new` takes;
//! * [`listeners`]: the event listener table host threads add to;
//! * [`waits`]: which loop thread waits for which context, so that no wait
//!   closes a cycle.

pub(crate) mod config;
pub(crate) mod cores;
pub(crate) mod event_loop;
pub(crate) mod idle;
pub(crate) mod listeners;
pub(crate) mod waits;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use tokio::sync::Notify;

use crate::context::config::Config;
use crate::context::listeners::Listeners;
use crate::core::inbox::Inbox;
use crate::core::inflight::{Completion, InFlight};
use crate::library::Library;
use crate::request::route::Routes;
use crate::request::{HostFnEntry, ReplyTo, Request};

/// A message for the loop thread.
pub(crate) enum Msg {
    Request(Request),
    /// A claimed token's completion (protocol step 2 → 3 of
    /// [`crate::core::inflight`]).
    Completion {
        token: u64,
        completion: Completion,
    },
    /// Install `entry` as host fn number `index`.
    Register {
        index: usize,
        entry: HostFnEntry,
    },
    /// Request `id` was withdrawn (`cancel_call` took its reply, step 3 of
    /// [`crate::request::route`]): drop its task, answer `reply` with
    /// `RET_CANCELLED`.
    Cancel {
        id: u64,
        reply: ReplyTo,
    },
    /// With isolation: the helper of this generation died, as the text says.
    RemoteDied(Box<(u64, String)>),
}

/// What the loop of an isolated context hands to the helper's side
/// (`remote::proxy`, a layer above this one). Loop thread only: it is made
/// there, by the [`MakeRemote`] `<lib>_new` passes to the loop.
pub(crate) trait Remote {
    /// A host fn was registered (after the loop's own registry took it).
    fn register(&self, index: usize, cancellable: bool);
    /// Request `call_id` was withdrawn (its reply already sent): forget it
    /// now, so that nothing the helper sends for it reaches the host.
    fn withdrawn(&self, call_id: u64);
    /// The helper of `generation` died, as `text` says.
    fn died(&self, state: &std::rc::Rc<event_loop::LoopState>, generation: u64, text: String);
    /// The loop runs (inside its `LocalSet`): start reading the helper's
    /// connection on it.
    fn attach(&self, state: &std::rc::Rc<event_loop::LoopState>);
    /// The end of a turn of the loop: write what it queued for the helper.
    fn flush(&self);
    /// Whether the helper's connection holds something not read yet (the
    /// loop's watch before it sleeps looks).
    fn input_waiting(&self) -> bool;
    /// The loop is ending: close the connection, reap the helper.
    fn close(&self);
    /// The implementation, for its own module to reach.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Makes an isolated context's [`Remote`] on its loop thread (the helper
/// was started, and this captured its connection, on the host's thread).
pub(crate) type MakeRemote = Box<dyn FnOnce(&Shared) -> Box<dyn Remote> + Send>;

/// The part of a context any thread may touch.
pub(crate) struct Shared {
    /// Unique in the process for the life of the process: this context's
    /// node in the wait-for graph ([`crate::context::waits`]).
    pub(crate) id: u64,
    pub(crate) library: &'static Library,
    pub(crate) config: Config,
    pub(crate) inbox: Inbox<Msg>,
    /// Wakes the loop when [`Inbox::push`] says so, or on shutdown.
    pub(crate) wake: Notify,
    /// When the producer that woke the sleeping loop pushed its message, in
    /// nanoseconds after `born` (0: no stamp since the loop last took it).
    /// The loop's idle policy learns the true gap from it, without the
    /// wake-up's own latency ([`crate::context::idle`], step 4).
    woken_at: AtomicU64,
    /// The origin of `woken_at`.
    born: std::time::Instant,
    pub(crate) inflight: InFlight,
    pub(crate) listeners: Listeners,
    /// Set by destroy (or by a failed loop): the loop tears down and no new
    /// host call starts.
    pub(crate) closing: AtomicBool,
    /// Set if the loop's dispatcher panicked: the context refuses new work
    /// (`HC_ERR_SHUTTING_DOWN`) until it is destroyed.
    pub(crate) failed: AtomicBool,
    /// Requests queued or running; counted only when `max_pending_requests`
    /// is set.
    pub(crate) pending: AtomicUsize,
    /// The loop thread, until someone joins (or detaches) it.
    pub(crate) thread: Mutex<Option<JoinHandle<()>>>,
    /// This context's handle (`void *ctx`), once published; lets the loop
    /// thread recognise its own context without entering the handle table.
    pub(crate) handle: std::sync::atomic::AtomicUsize,
    /// Cancellable requests that have not replied.
    pub(crate) routes: Arc<Routes>,
    /// With isolation and no restart: why the library is gone for good
    /// (set once, by the loop); new calls are refused with it.
    pub(crate) gone: std::sync::OnceLock<String>,
}

impl Shared {
    pub(crate) fn new(library: &'static Library, config: Config) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            library,
            inflight: InFlight::new(config.max_in_flight),
            config,
            inbox: Inbox::new(),
            wake: Notify::new(),
            woken_at: AtomicU64::new(0),
            born: std::time::Instant::now(),
            listeners: Listeners::default(),
            closing: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            pending: AtomicUsize::new(0),
            thread: Mutex::new(None),
            handle: std::sync::atomic::AtomicUsize::new(0),
            routes: Arc::new(Routes::default()),
            gone: std::sync::OnceLock::new(),
        }
    }

    /// Queues a message and wakes the loop if it sleeps.
    #[inline]
    pub(crate) fn send(&self, message: Msg) {
        if self.inbox.push(message) {
            // Only the one producer that wakes the loop stamps (it is about
            // to make a system call anyway); released by the wake itself.
            let at = self.born.elapsed().as_nanos() as u64;
            self.woken_at.store(at.max(1), Ordering::Relaxed);
            self.wake.notify_one();
        }
    }

    /// Takes the stamp of the push that woke the loop, if one did since the
    /// last take. Loop thread, after its wake.
    pub(crate) fn take_wake_stamp(&self) -> Option<std::time::Instant> {
        match self.woken_at.swap(0, Ordering::Relaxed) {
            0 => None,
            at => Some(self.born + std::time::Duration::from_nanos(at)),
        }
    }

    /// Whether the context has stopped taking new work.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire) || self.failed.load(Ordering::Acquire)
    }

    /// Starts shutdown: the loop stops at its next turn.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Counts a request against `max_pending_requests`; `false` when full.
    pub(crate) fn admit_request(&self) -> bool {
        match self.config.max_pending_requests {
            None => true,
            Some(max) => {
                if self.pending.fetch_add(1, Ordering::AcqRel) < max {
                    true
                } else {
                    self.pending.fetch_sub(1, Ordering::AcqRel);
                    false
                }
            }
        }
    }

    /// Un-counts a finished request.
    pub(crate) fn request_done(&self) {
        if self.config.max_pending_requests.is_some() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
