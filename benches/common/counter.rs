//! The completion flag the benches wait on: a short spin, then a condition
//! variable; never a sleep.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

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

    /// Waits until the count reaches `total`, for at most `limit` (a short
    /// spin first, as [`Counter::wait_for`]); `false` if the time ran out.
    pub fn wait_within(&self, total: u64, limit: Duration) -> bool {
        self.wait_within_spinning(total, SPIN, limit)
    }

    /// As [`Counter::wait_within`], spinning for up to `spin` first (zero:
    /// block at once, for threads that outnumber the cores, whose spinning
    /// would take the CPU from the threads they wait for).
    pub fn wait_within_spinning(&self, total: u64, spin: Duration, limit: Duration) -> bool {
        let start = Instant::now();
        if spin.is_zero() && self.get() < total {
            return self.block_within(total, start + limit);
        }
        let mut spins = 0u32;
        while self.get() < total {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(64) && start.elapsed() >= spin {
                return self.block_within(total, start + limit);
            }
            std::hint::spin_loop();
        }
        true
    }

    fn block_within(&self, total: u64, deadline: Instant) -> bool {
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.target.store(total, Ordering::SeqCst);
        self.sleeping.store(true, Ordering::SeqCst);
        let mut reached = true;
        while self.count.load(Ordering::SeqCst) < total {
            let now = Instant::now();
            if now >= deadline {
                reached = false;
                break;
            }
            guard = self
                .changed
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        self.sleeping.store(false, Ordering::SeqCst);
        reached
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
