//! How a token crosses from the host fn (loop thread) to a host thread: a
//! one-slot mailbox between sleeping threads, a token queue drained by a
//! pool of host threads, and a spinning host's one-token slot.

use std::sync::atomic::AtomicU64;
use std::sync::{Condvar, Mutex};

use crossbeam_utils::CachePadded;

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
    pub(crate) fn add_workers(&self, n: usize) {
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
    pub(crate) token: CachePadded<AtomicU64>,
    pub(crate) n: AtomicU64,
}
