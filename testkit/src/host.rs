//! The host side of host fns: a Rust closure registered as one (with its
//! cancel notifier), and a pool of tokens handed from a host fn to host
//! threads.

use std::ffi::{c_char, c_void};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::abi::payload;
use crate::sink::{Received, Sink, WAIT};

/// The host side of a host fn: a closure called with `(token, request)`.
pub type HostBody = Box<dyn Fn(u64, &[u8]) + Send + Sync>;

/// A registered host fn: its body, and the tokens its cancel notifier was
/// told about.
pub struct HostImpl {
    /// Runs on the loop thread for every call.
    pub body: HostBody,
    /// Cancelled tokens, recorded under id 0.
    pub cancelled: Sink,
}

/// The `FFIHostFn` whose `user_data` is a `HostImpl`.
///
/// # Safety
/// `user_data` must point at a live `HostImpl`; `req` must be NULL or valid
/// for reads of `len` bytes during the call.
pub(crate) unsafe extern "C" fn on_host_fn(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: `user_data` is a `HostImpl` kept alive by the `Client`, and
    // `req` is valid for `len` bytes during this call.
    let (host, request) = unsafe { (&*(user_data as *const HostImpl), payload(req, len)) };
    (host.body)(token, request);
}

/// The `FFIHostCancelFn` whose `user_data` is a `HostImpl`.
///
/// # Safety
/// `user_data` must point at a live `HostImpl`.
pub(crate) unsafe extern "C" fn on_cancel(token: u64, user_data: *mut c_void) {
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
    /// A host fn running `body`.
    pub fn new(body: HostBody) -> Self {
        Self {
            body,
            cancelled: Sink::default(),
        }
    }

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

    /// Waits until the cancel notifier was told about `n` tokens; returns
    /// them.
    pub fn wait_cancelled(&self, n: usize) -> Vec<u64> {
        self.cancelled.wait_for(0, n);
        self.cancelled_tokens()
    }
}

/// A queue of tokens (with their requests) handed from a host fn to host
/// threads.
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
    /// Queues `token` and its request.
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

    /// Takes every queued token.
    pub fn drain(&self) -> Vec<(u64, Vec<u8>)> {
        std::mem::take(&mut self.inner.lock().unwrap().tokens)
    }

    /// Wakes every `take` waiter; they return `None` once the pool is empty.
    pub fn close(&self) {
        self.inner.lock().unwrap().closed = true;
        self.changed.notify_all();
    }
}
