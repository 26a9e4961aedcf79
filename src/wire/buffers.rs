//! Reused byte buffers for encodings that end on the thread that made them.
//!
//! A handler's CBOR reply and a host call's CBOR arguments are both encoded
//! on the loop thread and dropped there once the host's callback returns (the
//! host only borrows them, contract 5). Allocating a fresh `Vec` for each is
//! a `malloc` and a `free` per request on the busiest thread; instead each
//! thread keeps a few emptied buffers and hands them out again.
//!
//! # Protocol
//!
//! 1. [`take`] gives an empty buffer: a kept one, or a new one with room for
//!    a typical small message.
//! 2. The caller fills it and lends it to the host for the length of one
//!    callback.
//! 3. [`give`] empties it and keeps it if it is not too large and the thread
//!    does not already keep enough; otherwise it is freed.
//!
//! A buffer given on another thread than the one that took it is simply kept
//! by that thread (bounded as in step 3). No borrow of the pool is held while
//! a buffer is in use, so re-entrant calls from a callback take their own.

use std::cell::RefCell;

/// Room in a new buffer: a login's `Session`, a host call's arguments.
const NEW_CAPACITY: usize = 64;
/// Larger buffers are freed rather than kept (a 150 KiB payload must not
/// stay resident on the loop thread).
const MAX_KEPT_CAPACITY: usize = 4096;
/// Buffers a thread keeps at most.
const MAX_KEPT: usize = 8;

thread_local! {
    static KEPT: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer (step 1).
pub(crate) fn take() -> Vec<u8> {
    KEPT.try_with(|kept| kept.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Vec::with_capacity(NEW_CAPACITY))
}

/// Returns a buffer for reuse (step 3).
pub(crate) fn give(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > MAX_KEPT_CAPACITY {
        return;
    }
    buffer.clear();
    // A thread being torn down has no pool left: the buffer is freed.
    let _ = KEPT.try_with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < MAX_KEPT {
            kept.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_comes_back_empty_and_large_ones_are_not_kept() {
        let mut buffer = take();
        buffer.extend_from_slice(b"payload");
        let address = buffer.as_ptr();
        give(buffer);
        let again = take();
        assert!(again.is_empty());
        assert_eq!(
            again.as_ptr(),
            address,
            "the kept buffer is handed out again"
        );

        give(Vec::with_capacity(MAX_KEPT_CAPACITY + 1));
        let fresh = take();
        assert!(fresh.capacity() <= MAX_KEPT_CAPACITY);
        give(fresh);
        give(again);
    }

    #[test]
    fn a_thread_keeps_a_bounded_number() {
        let taken: Vec<_> = (0..MAX_KEPT + 4).map(|_| take()).collect();
        taken.into_iter().for_each(give);
        assert_eq!(KEPT.with(|kept| kept.borrow().len()), MAX_KEPT);
    }
}
