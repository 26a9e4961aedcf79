//! `SmallFn`: a type-erased `FnOnce` that lives inline when it is small.
//!
//! Every request carries a closure holding its decoded arguments from the
//! calling host thread to the loop thread. Boxing it would cost an
//! allocation on the host thread and a free on the loop thread — a
//! cross-thread free, the slow path of most allocators — per request. Most
//! argument lists fit in a few words, so the closure is stored in place and
//! only a large one is boxed.

use std::mem::{ManuallyDrop, MaybeUninit};

/// Words of inline storage (32 bytes on 64-bit targets): two integers, a
/// `String` or a `Vec` fit; requests stay small in the inbox.
const INLINE_WORDS: usize = 4;

type Storage = MaybeUninit<[usize; INLINE_WORDS]>;

/// A `FnOnce(A) -> R + Send + 'static`, inline when it fits.
///
/// Invariant: `storage` holds either the closure itself (when it fits, see
/// [`SmallFn::new`]) or a `Box` of it, and `call`/`drop` are the functions
/// made for exactly that closure type and that storage mode. Exactly one of
/// them runs, once: `call` consumes the closure, `drop` runs only if `call`
/// never did.
pub struct SmallFn<A, R> {
    storage: Storage,
    call: unsafe fn(*mut Storage, A) -> R,
    drop: unsafe fn(*mut Storage),
}

// SAFETY: `new` only accepts `Send` closures; the erased storage holds
// nothing else.
unsafe impl<A, R> Send for SmallFn<A, R> {}

const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>()
}

/// # Safety
/// `storage` holds an `F` written by [`SmallFn::new`]'s inline branch, not
/// yet consumed.
unsafe fn call_inline<F: FnOnce(A) -> R, A, R>(storage: *mut Storage, arg: A) -> R {
    // SAFETY: the caller's obligation; reading moves the closure out, and the
    // `SmallFn` will not touch it again.
    let f = unsafe { storage.cast::<F>().read() };
    f(arg)
}

/// # Safety
/// As for [`call_inline`].
unsafe fn drop_inline<F>(storage: *mut Storage) {
    // SAFETY: the caller's obligation.
    unsafe { storage.cast::<F>().drop_in_place() };
}

/// # Safety
/// `storage` holds the `Box<F>` pointer written by [`SmallFn::new`]'s boxed
/// branch, not yet consumed.
unsafe fn call_boxed<F: FnOnce(A) -> R, A, R>(storage: *mut Storage, arg: A) -> R {
    // SAFETY: the caller's obligation; the box is reclaimed exactly once.
    let f = unsafe { Box::from_raw(storage.cast::<*mut F>().read()) };
    f(arg)
}

/// # Safety
/// As for [`call_boxed`].
unsafe fn drop_boxed<F>(storage: *mut Storage) {
    // SAFETY: the caller's obligation.
    drop(unsafe { Box::from_raw(storage.cast::<*mut F>().read()) });
}

impl<A, R> SmallFn<A, R> {
    /// Stores `f`, inline if it fits in 32 bytes with at most word alignment.
    pub fn new<F: FnOnce(A) -> R + Send + 'static>(f: F) -> Self {
        let mut storage = Storage::uninit();
        if fits::<F>() {
            // SAFETY: `F` fits the storage in size and alignment (checked).
            unsafe { storage.as_mut_ptr().cast::<F>().write(f) };
            Self {
                storage,
                call: call_inline::<F, A, R>,
                drop: drop_inline::<F>,
            }
        } else {
            let boxed = Box::into_raw(Box::new(f));
            // SAFETY: a pointer fits the storage.
            unsafe { storage.as_mut_ptr().cast::<*mut F>().write(boxed) };
            Self {
                storage,
                call: call_boxed::<F, A, R>,
                drop: drop_boxed::<F>,
            }
        }
    }

    /// Calls the closure, consuming it.
    pub fn call(self, arg: A) -> R {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: by the type invariant `call` matches the storage; wrapping
        // `self` in `ManuallyDrop` makes this the one use of the closure.
        unsafe { (this.call)(&mut this.storage, arg) }
    }
}

impl<A, R> Drop for SmallFn<A, R> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `drop` matches the storage, and since
        // we are dropping, `call` never ran.
        unsafe { (self.drop)(&mut self.storage) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn small_closures_are_inline_and_large_ones_boxed() {
        let (a, b) = (3i64, 4i64);
        let small = SmallFn::new(move |c: i64| a + b + c);
        assert!(fits::<[u64; 4]>());
        assert!(fits::<String>());
        assert!(!fits::<[u64; 5]>());
        assert_eq!(small.call(5), 12);
        let big = [7u64; 32];
        let large = SmallFn::new(move |()| big.iter().sum::<u64>());
        assert_eq!(large.call(()), 224);
        let text = String::from("inline");
        assert_eq!(SmallFn::new(move |()| text.len()).call(()), 6);
    }

    #[test]
    fn captured_values_are_dropped_exactly_once() {
        for size in [0usize, 1000] {
            let drops = Arc::new(AtomicUsize::new(0));
            let padding = vec![0u8; size].into_boxed_slice();
            let counted = Counted(drops.clone());
            let called = SmallFn::new(move |()| {
                let _keep = (&counted, padding.len());
            });
            called.call(());
            assert_eq!(drops.load(Ordering::SeqCst), 1, "called, size {size}");

            let counted = Counted(drops.clone());
            let big = [0u64; 16];
            let never_called = SmallFn::new(move |()| {
                let _keep = (&counted, big);
            });
            drop(never_called);
            assert_eq!(
                drops.load(Ordering::SeqCst),
                2,
                "dropped uncalled, size {size}"
            );
        }
    }

    #[test]
    fn a_panicking_closure_is_not_dropped_twice() {
        let drops = Arc::new(AtomicUsize::new(0));
        let counted = Counted(drops.clone());
        let f = SmallFn::new(move |()| {
            let _keep = &counted;
            panic!("inside");
        });
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.call(())));
        assert!(result.is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }
}
