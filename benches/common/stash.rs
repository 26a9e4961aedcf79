//! A host fn that keeps every call pending (it only records the tokens),
//! with a counting cancel notifier: for teardown and footprint benches.

use std::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hostcall::{FFIHostCancelFn, FFIHostFn};

use super::counter::Counter;

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
