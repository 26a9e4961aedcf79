//! Context handles: what the host's `void *ctx` really is.
//!
//! A handle is not a pointer. It packs a slot index and a generation into
//! pointer-sized bits: `generation << 32 | (index + 1)`. The slot lives in a
//! process-wide table whose memory is never freed, so looking a handle up never
//! touches freed memory: a destroyed, doubly destroyed or invented handle is
//! recognised and refused (`HC_ERR_INVALID_CONTEXT`).
//!
//! # Protocol
//!
//! 1. **Publish** (`<lib>_new`): take a free slot, store the context (an
//!    `Arc`) and mark the slot `LIVE(g)`. The handle carries `g`.
//! 2. **Enter** (every entry point): increment this thread's guard stripe,
//!    then read the state. Unless it is `LIVE` with the handle's generation,
//!    undo the increment and refuse. While a guard is held the context is not
//!    freed.
//! 3. **Close** (`<lib>_destroy`): CAS `LIVE(g) → CLOSING(g)`. Exactly one
//!    destroy wins; every other one, and every later enter, is refused. The
//!    winner then waits until every stripe reads zero: the entries admitted
//!    before the CAS have left. Entry points never block or call the host
//!    while holding a guard, so the wait is short.
//! 4. **Retire** (same destroy): take the context out, store `FREE(g+1)` and
//!    return the slot to the free list. A slot whose 32-bit generation is used
//!    up is never reused.
//!
//! Steps 2 and 3 are a Dekker pair joined by `SeqCst` fences: either the
//! entering thread sees `CLOSING` or the closing thread sees the stripe
//! increment. Guards are
//! striped per thread so that host threads completing calls concurrently do
//! not fight over one counter's cache line.

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::core::sync::{AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence};

/// Number of guard counters per slot.
pub(crate) const STRIPES: usize = 8;

const FREE: u64 = 0;
const LIVE: u64 = 1;
const CLOSING: u64 = 2;

const fn word(generation: u64, status: u64) -> u64 {
    generation << 2 | status
}

/// Why a handle was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

/// One slot of the handle table.
pub(crate) struct HandleSlot<T> {
    /// `generation << 2 | status`.
    state: AtomicU64,
    /// `Arc::into_raw` of the context while `LIVE` or `CLOSING`; null when
    /// `FREE`. Dereferenced only under a guard (step 2).
    value: AtomicPtr<T>,
    /// Entries currently inside, striped by thread.
    guards: [CachePadded<AtomicUsize>; STRIPES],
}

impl<T> HandleSlot<T> {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU64::new(word(1, FREE)),
            value: AtomicPtr::new(std::ptr::null_mut()),
            guards: std::array::from_fn(|_| CachePadded::new(AtomicUsize::new(0))),
        }
    }

    /// Step 1. Returns the generation the handle must carry, or gives the
    /// value back when the slot's generations are used up.
    pub(crate) fn publish(&self, value: Arc<T>) -> Result<u32, Arc<T>> {
        let state = self.state.load(Ordering::Acquire);
        debug_assert_eq!(state & 0b11, FREE);
        let generation = state >> 2;
        if generation > u64::from(u32::MAX) {
            return Err(value);
        }
        self.value
            .store(Arc::into_raw(value).cast_mut(), Ordering::Release);
        self.state.store(word(generation, LIVE), Ordering::Release);
        Ok(generation as u32)
    }

    /// Step 2. On success the caller must call [`HandleSlot::exit`] with the
    /// same stripe; the reference is valid until then.
    pub(crate) fn enter(&self, generation: u32, stripe: usize) -> Result<&T, Invalid> {
        let guard = &self.guards[stripe % STRIPES];
        guard.fetch_add(1, Ordering::Relaxed);
        // The Dekker pair with `close`: our increment, then their state.
        fence(Ordering::SeqCst);
        // Acquire pairs with `publish`'s Release: seeing LIVE(g) means
        // seeing the value published with it.
        if self.state.load(Ordering::Acquire) != word(u64::from(generation), LIVE) {
            guard.fetch_sub(1, Ordering::Release);
            return Err(Invalid);
        }
        let value = self.value.load(Ordering::Acquire);
        // SAFETY: the slot is LIVE with our generation and our guard is
        // counted, so the closer has not passed step 3's wait and the Arc
        // published in step 1 is alive until we `exit`.
        Ok(unsafe { &*value })
    }

    /// Leaves a guard taken by [`HandleSlot::enter`].
    pub(crate) fn exit(&self, stripe: usize) {
        self.guards[stripe % STRIPES].fetch_sub(1, Ordering::Release);
    }

    /// Steps 3 and 4: closes the handle if it is live with `generation` and
    /// `accept` agrees, waits for the admitted entries to leave and hands the
    /// context back. The caller returns the slot to the free list.
    pub(crate) fn close(
        &self,
        generation: u32,
        stripe: usize,
        accept: impl FnOnce(&T) -> bool,
    ) -> Result<Arc<T>, Invalid> {
        let accepted = accept(self.enter(generation, stripe)?);
        self.exit(stripe);
        if !accepted {
            return Err(Invalid);
        }
        let generation = u64::from(generation);
        self.state
            .compare_exchange(
                word(generation, LIVE),
                word(generation, CLOSING),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .map_err(|_| Invalid)?;
        // The Dekker pair with `enter`: our CLOSING, then their increments.
        fence(Ordering::SeqCst);
        for guard in &self.guards {
            // Acquire pairs with `exit`'s Release: what an entry did under
            // its guard happens before we hand the context back.
            while guard.load(Ordering::Acquire) != 0 {
                crate::core::sync::yield_now();
            }
        }
        let value = self.value.swap(std::ptr::null_mut(), Ordering::AcqRel);
        self.state
            .store(word(generation + 1, FREE), Ordering::Release);
        // SAFETY: `value` was produced by `Arc::into_raw` in `publish`, and the
        // CLOSING state plus the drained guards mean no one else can reach it.
        Ok(unsafe { Arc::from_raw(value) })
    }

    /// Whether the slot can be handed out again.
    pub(crate) fn reusable(&self) -> bool {
        self.state.load(Ordering::Acquire) >> 2 <= u64::from(u32::MAX)
    }
}

impl<T> Drop for HandleSlot<T> {
    fn drop(&mut self) {
        let value = self.value.load(Ordering::Acquire);
        if !value.is_null() {
            // SAFETY: a non-null value is the `Arc::into_raw` of a published
            // context that was never closed; `&mut self` proves exclusivity.
            drop(unsafe { Arc::from_raw(value) });
        }
    }
}

/// Packs a slot index and generation into a non-null handle.
pub(crate) fn encode(index: u32, generation: u32) -> *mut std::ffi::c_void {
    let bits = u64::from(generation) << 32 | (u64::from(index) + 1);
    bits as usize as *mut std::ffi::c_void
}

/// Unpacks a handle into `(index, generation)`.
pub(crate) fn decode(handle: *mut std::ffi::c_void) -> Result<(u32, u32), Invalid> {
    let bits = handle as usize as u64;
    let low = (bits & u64::from(u32::MAX)) as u32;
    if low == 0 {
        return Err(Invalid);
    }
    Ok((low - 1, (bits >> 32) as u32))
}

#[cfg(not(target_pointer_width = "64"))]
compile_error!("hostcall handles need 64-bit pointers");

/// Model check of enter-versus-close: an entry that got in reads the
/// context while close waits; close's caller then "frees" it. Loom reports
/// any overlap of the read and the free.
#[cfg(all(test, hostcall_loom))]
mod loom_tests {
    use loom::cell::UnsafeCell;

    use super::*;

    #[test]
    fn close_waits_for_admitted_entries() {
        crate::core::sync::model(|| {
            let slot = std::sync::Arc::new(HandleSlot::new());
            let generation = slot.publish(Arc::new(UnsafeCell::new(7u32))).ok().unwrap();
            let entrant = {
                let slot = slot.clone();
                loom::thread::spawn(move || match slot.enter(generation, 1) {
                    Ok(value) => {
                        let seen = value.with(|p| unsafe { *p });
                        slot.exit(1);
                        Some(seen)
                    }
                    Err(Invalid) => None,
                })
            };
            let value = slot.close(generation, 0, |_| true).unwrap();
            value.with_mut(|p| unsafe { *p = 0 });
            if let Some(seen) = entrant.join().unwrap() {
                assert_eq!(seen, 7, "an admitted entry saw the live value");
            }
            assert_eq!(slot.enter(generation, 0).err(), Some(Invalid));
        });
    }
}

#[cfg(not(hostcall_loom))]
pub(crate) use table::{Guard, HandleTable};

#[cfg(not(hostcall_loom))]
mod table {
    use std::sync::{Arc, Mutex};

    use super::*;

    const FIRST_BUCKET: u32 = 16;
    const BUCKETS: usize = 27;

    thread_local! {
        static STRIPE: usize = {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        };
    }

    fn stripe() -> usize {
        STRIPE.with(|s| *s)
    }

    fn locate(index: u32) -> Option<(usize, usize)> {
        let n = index.checked_add(FIRST_BUCKET)?;
        let bucket = (31 - n.leading_zeros()) - FIRST_BUCKET.trailing_zeros();
        Some((bucket as usize, (n - (FIRST_BUCKET << bucket)) as usize))
    }

    struct FreeList {
        free: Vec<u32>,
        next: u32,
    }

    /// The process-wide table of handle slots. Its slots are never freed, which
    /// is what makes a stale handle safe to look up.
    pub(crate) struct HandleTable<T> {
        buckets: [AtomicPtr<HandleSlot<T>>; BUCKETS],
        free: Mutex<FreeList>,
    }

    /// An admitted entry: dereferences to the context; leaving drops the guard.
    pub(crate) struct Guard<'a, T> {
        slot: &'a HandleSlot<T>,
        value: &'a T,
        stripe: usize,
    }

    impl<T> std::ops::Deref for Guard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.value
        }
    }

    impl<T> Guard<'_, T> {
        /// An owning reference, for an entry point that must block: it drops
        /// the guard (so a destroy can proceed) and keeps the context alive.
        pub(crate) fn to_arc(&self) -> Arc<T> {
            let ptr: *const T = self.value;
            // SAFETY: `ptr` is the `Arc::into_raw` pointer published in the
            // slot, kept alive by our guard; adding a strong count is sound.
            unsafe {
                Arc::increment_strong_count(ptr);
                Arc::from_raw(ptr)
            }
        }
    }

    impl<T> Drop for Guard<'_, T> {
        fn drop(&mut self) {
            self.slot.exit(self.stripe);
        }
    }

    impl<T> HandleTable<T> {
        pub(crate) const fn new() -> Self {
            Self {
                buckets: [const { AtomicPtr::new(std::ptr::null_mut()) }; BUCKETS],
                free: Mutex::new(FreeList {
                    free: Vec::new(),
                    next: 0,
                }),
            }
        }

        fn slot(&self, index: u32) -> Option<&HandleSlot<T>> {
            let (bucket, offset) = locate(index)?;
            let base = self.buckets.get(bucket)?.load(Ordering::Acquire);
            if base.is_null() {
                return None;
            }
            // SAFETY: non-null buckets point at `FIRST_BUCKET << bucket`
            // initialised slots (published with Release in `insert`) that are
            // never freed; `offset` is in range by construction of `locate`.
            Some(unsafe { &*base.add(offset) })
        }

        /// Step 1: stores `value` and returns its handle, or `None` if the
        /// table is exhausted.
        pub(crate) fn insert(&self, value: Arc<T>) -> Option<*mut std::ffi::c_void> {
            let mut value = value;
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                let index = match free.free.pop() {
                    Some(index) => index,
                    None => {
                        let index = free.next;
                        let (bucket, offset) = locate(index)?;
                        if bucket >= BUCKETS {
                            return None;
                        }
                        if offset == 0 {
                            let slots: Box<[HandleSlot<T>]> = (0..FIRST_BUCKET << bucket)
                                .map(|_| HandleSlot::new())
                                .collect();
                            // Leaked on purpose: stale handles may look slots
                            // up for the rest of the process.
                            let base = Box::leak(slots).as_mut_ptr();
                            self.buckets[bucket].store(base, Ordering::Release);
                        }
                        free.next += 1;
                        index
                    }
                };
                let slot = self.slot(index).expect("slot was just made");
                match slot.publish(value) {
                    Ok(generation) => return Some(encode(index, generation)),
                    Err(back) => value = back,
                }
            }
        }

        /// Step 2.
        pub(crate) fn enter(&self, handle: *mut std::ffi::c_void) -> Result<Guard<'_, T>, Invalid> {
            let (index, generation) = decode(handle)?;
            let slot = self.slot(index).ok_or(Invalid)?;
            let stripe = stripe();
            let value = slot.enter(generation, stripe)?;
            Ok(Guard {
                slot,
                value,
                stripe,
            })
        }

        /// Steps 3 and 4.
        pub(crate) fn close(
            &self,
            handle: *mut std::ffi::c_void,
            accept: impl FnOnce(&T) -> bool,
        ) -> Result<Arc<T>, Invalid> {
            let (index, generation) = decode(handle)?;
            let slot = self.slot(index).ok_or(Invalid)?;
            let value = slot.close(generation, stripe(), accept)?;
            if slot.reusable() {
                self.free
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .free
                    .push(index);
            }
            Ok(value)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn stale_double_and_invented_handles_are_refused() {
            let table = HandleTable::<u32>::new();
            let handle = table.insert(Arc::new(7)).unwrap();
            assert_eq!(*table.enter(handle).unwrap(), 7);
            assert!(table.enter(std::ptr::null_mut()).is_err());
            assert!(table.enter(0x1234_5678_9abc as *mut _).is_err());
            let value = table.close(handle, |_| true).unwrap();
            assert_eq!(Arc::strong_count(&value), 1, "the table let go of it");
            assert!(table.enter(handle).is_err());
            assert!(table.close(handle, |_| true).is_err());
            let again = table.insert(Arc::new(8)).unwrap();
            assert_ne!(again, handle, "a reused slot gets a new generation");
            assert!(table.enter(handle).is_err());
            assert_eq!(*table.enter(again).unwrap(), 8);
        }

        #[test]
        fn close_can_be_refused_by_the_owner_check() {
            let table = HandleTable::<u32>::new();
            let handle = table.insert(Arc::new(1)).unwrap();
            assert!(table.close(handle, |v| *v == 2).is_err());
            assert!(
                table.enter(handle).is_ok(),
                "a refused close changes nothing"
            );
        }

        #[test]
        fn a_guard_keeps_the_value_while_close_waits() {
            let table: &'static HandleTable<u32> = Box::leak(Box::new(HandleTable::new()));
            let handle = table.insert(Arc::new(5)).unwrap() as usize;
            let guard = table.enter(handle as *mut _).unwrap();
            let (entered_tx, entered_rx) = std::sync::mpsc::channel();
            let closer = std::thread::spawn(move || {
                entered_tx.send(()).unwrap();
                table.close(handle as *mut _, |_| true).map(|v| *v)
            });
            entered_rx.recv().unwrap();
            assert_eq!(*guard, 5);
            drop(guard);
            assert_eq!(closer.join().unwrap(), Ok(5));
        }

        #[test]
        fn many_threads_enter_while_one_closes() {
            let table: &'static HandleTable<u64> = Box::leak(Box::new(HandleTable::new()));
            for round in 0..50u64 {
                let handle = table.insert(Arc::new(round)).unwrap() as usize;
                let threads: Vec<_> = (0..4)
                    .map(|_| {
                        std::thread::spawn(move || {
                            let mut seen = 0u32;
                            while let Ok(guard) = table.enter(handle as *mut _) {
                                assert_eq!(*guard, round);
                                seen += 1;
                            }
                            seen
                        })
                    })
                    .collect();
                let closed = table.close(handle as *mut _, |_| true).unwrap();
                assert_eq!(*closed, round);
                for thread in threads {
                    thread.join().unwrap();
                }
            }
        }
    }
}
