//! The host side of `ping` in every style the benches measure (inline, a
//! sleeping worker, a spinning worker, a queue drained by host threads),
//! completing through hostcall or through the naive design.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use hostcall::FFIHostFn;
use hostcall::status::HC_OK;
use hostcall_testkit::{Ctx, EntryPoints, complete, last_error, payload};

use super::cbor;
use super::handoff::{Mailbox, SpinSlot, TokenQueue};
use super::naive;

/// Where the host sends its completions: a hostcall context or the naive
/// runtime.
#[derive(Clone)]
pub enum Target {
    /// `<lib>_host_complete` of a hostcall context.
    Bridge(&'static EntryPoints, Ctx),
    /// The naive design's lock-remove-send.
    Naive(Arc<naive::Shared>),
}

impl Target {
    /// Completes `token` with `payload` (`RET_OK`); panics if refused.
    #[inline]
    pub fn complete(&self, token: u64, payload: &[u8]) {
        match self {
            Target::Bridge(abi, ctx) => {
                let status = complete(abi, *ctx, token, true, payload);
                assert_eq!(status, HC_OK, "host_complete: {}", last_error(abi));
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
    pub(crate) fn new(target: Target) -> Self {
        Self {
            target,
            mailbox: Mailbox::default(),
            spin: SpinSlot::default(),
            queue: TokenQueue::default(),
            stop: AtomicBool::new(false),
        }
    }

    /// The host fn implementing `style`.
    pub(crate) fn host_fn(style: Style) -> FFIHostFn {
        match style {
            Style::Inline => ping_inline,
            Style::Sleeping => ping_to_mailbox,
            Style::Spinning => ping_to_spinner,
            Style::Queue { .. } => ping_to_queue,
        }
    }

    /// Starts the worker threads of `style`.
    pub(crate) fn spawn_workers(self: &Arc<Self>, style: Style) -> Vec<JoinHandle<()>> {
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
    pub(crate) fn stop(&self, style: Style) {
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
