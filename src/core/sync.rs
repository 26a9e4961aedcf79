//! The synchronisation primitives the concurrent cores are built on.
//!
//! The completion bridge ([`crate::core::inflight`], [`crate::core::inbox`]) and the handle
//! guard ([`crate::core::handle`]) import their atomics and cells from here, so the
//! same code runs on `std` in production and on `loom` under
//! `RUSTFLAGS="--cfg hostcall_loom"`, where every interleaving is explored.

#[cfg(not(hostcall_loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};

#[cfg(hostcall_loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
};

/// A cell whose contents are touched by exactly one thread at a time, by a
/// protocol the owner documents (for the completion bridge: "only the context's
/// loop thread"). Under loom, every access is checked for overlap.
pub(crate) struct OwnedCell<T> {
    #[cfg(not(hostcall_loom))]
    inner: std::cell::UnsafeCell<T>,
    #[cfg(hostcall_loom)]
    inner: loom::cell::UnsafeCell<T>,
}

impl<T> OwnedCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(hostcall_loom))]
            inner: std::cell::UnsafeCell::new(value),
            #[cfg(hostcall_loom)]
            inner: loom::cell::UnsafeCell::new(value),
        }
    }

    /// Runs `f` with exclusive access to the contents.
    ///
    /// # Safety
    /// No other access to this cell may overlap the call: the caller upholds
    /// the owning protocol of the type that embeds the cell. `f` must not reach
    /// this same cell again.
    #[inline]
    pub(crate) unsafe fn with_mut<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(not(hostcall_loom))]
        {
            // SAFETY: exclusivity is the caller's obligation (see `# Safety`).
            f(unsafe { &mut *self.inner.get() })
        }
        #[cfg(hostcall_loom)]
        {
            // SAFETY: as above; loom verifies it.
            self.inner.with_mut(|p| f(unsafe { &mut *p }))
        }
    }
}

/// Gives up the processor while spinning on another thread's progress.
#[cfg(not(hostcall_loom))]
pub(crate) fn yield_now() {
    std::thread::yield_now();
}

/// Gives up the processor while spinning on another thread's progress.
#[cfg(hostcall_loom)]
pub(crate) fn yield_now() {
    loom::thread::yield_now();
}

/// Runs a loom model with a bounded number of preemptions, which finds
/// the interleaving bugs of these small protocols in seconds instead of
/// exploring every schedule for minutes.
#[cfg(all(test, hostcall_loom))]
pub(crate) fn model(test: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(test);
}
