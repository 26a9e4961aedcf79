//! The in-flight table: one slot per host call that is waiting for the host.
//!
//! A token names a slot *and* one use of it: `token = generation << 24 | index`.
//! The slot's state word holds the same generation plus a status, so a token
//! from an earlier use, a token that was already completed and an invented
//! token all fail one compare-and-swap. The table is shared: any thread may
//! claim a token; everything else happens on the context's loop thread.
//!
//! # Protocol
//!
//! 1. **Allocate** (loop thread): take a free index (or grow the table) and
//!    move the slot from `FREE(g)` to `PENDING(g)`. The token `(g, index)` is
//!    handed to the host fn.
//! 2. **Claim** (any thread, `host_complete`): CAS `PENDING(g) → CLAIMED(g)`.
//!    At most one claim per token succeeds; a failed CAS means the token is
//!    unknown, already completed, cancelled or timed out
//!    (`HC_ERR_UNKNOWN_TOKEN`). The winner sends the completion to the loop.
//! 3. **Deliver** (loop thread): the completion is parked in the slot and the
//!    waiting future is woken. If that future is already gone (step 4 lost the
//!    race) the slot is released instead.
//! 4. **Cancel** (loop thread; the future was dropped or timed out): CAS
//!    `PENDING(g) → FREE(g+1)`. On success the host is told through its cancel
//!    notifier and any later claim fails. On failure a claim won: the slot is
//!    marked abandoned and step 3 releases it when the completion arrives.
//! 5. **Release** (loop thread): `→ FREE(g+1)` and the index goes back on the
//!    free list. A slot whose generation would pass [`MAX_GENERATION`] is
//!    retired instead, so no token is ever issued twice in a context's life.
//!
//! Only the loop thread allocates, delivers, cancels and releases, so the
//! free list and each slot's waker and parked completion need no locks: they
//! live in [`OwnedCell`]s owned by the loop thread.

use std::task::Waker;

use crate::core::sync::{AtomicPtr, AtomicU64, Ordering, OwnedCell};

/// Bits of a token that hold the slot index.
pub(crate) const INDEX_BITS: u32 = 24;
/// The largest number of slots a table may hold (and so the largest
/// `max_in_flight`).
pub(crate) const MAX_SLOTS: u32 = (1 << INDEX_BITS) - 1;
/// The largest generation a token can carry (40 bits).
pub(crate) const MAX_GENERATION: u64 = (1 << (64 - INDEX_BITS)) - 1;

const FREE: u64 = 0;
const PENDING: u64 = 1;
const CLAIMED: u64 = 2;
const STATUS_MASK: u64 = 0b11;

/// Slots in the first bucket; bucket `b` holds `FIRST_BUCKET << b`.
const FIRST_BUCKET: u32 = 64;
const BUCKETS: usize = 19;

const fn word(generation: u64, status: u64) -> u64 {
    generation << 2 | status
}

/// Splits a token into `(index, generation)`.
pub(crate) const fn split(token: u64) -> (u32, u64) {
    ((token & MAX_SLOTS as u64) as u32, token >> INDEX_BITS)
}

const fn join(index: u32, generation: u64) -> u64 {
    generation << INDEX_BITS | index as u64
}

/// Bytes copied out of a host's buffer. Small payloads (scalars, short
/// text) live inline: no allocation on the host thread, and no free of
/// another thread's allocation on the loop thread. Inline room is kept to 16
/// bytes so that a whole slot fits one cache line (see [`Slot`]).
pub(crate) type Payload = smallvec::SmallVec<[u8; 16]>;

/// Which of the answers `host_complete` accepts the host gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `RET_OK`: the payload is the CBOR of the result.
    Value,
    /// `RET_ERR`: the payload is the host's UTF-8 error text.
    Error,
    /// `RET_ERR_TYPED`: the payload is the CBOR of the host fn's declared
    /// error type.
    Typed,
}

/// What the host sent back for one token.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Completion {
    /// What kind of answer the payload is.
    pub(crate) answer: Answer,
    /// The bytes, copied out of the host's buffer.
    pub(crate) payload: Payload,
}

/// How a cancellation ended (protocol step 4).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cancel {
    /// The token was still pending: it is gone now and the host must be told.
    Cancelled,
    /// The host had already claimed the token; its completion is on the way
    /// and will release the slot when it arrives.
    Claimed,
    /// The completion had already been delivered; it was discarded.
    Completed,
}

#[derive(Default)]
struct SlotLocal {
    waker: Option<Waker>,
    parked: Option<Completion>,
    abandoned: bool,
}

/// One in-flight call. 64 bytes, one cache line: with thousands of calls in
/// flight the table outgrows the caches, and every completion touches its
/// slot (measured: 96-byte slots cost 8% of throughput at 10k in flight).
struct Slot {
    /// `generation << 2 | status`; the only field other threads touch.
    state: AtomicU64,
    /// Loop-thread only.
    local: OwnedCell<SlotLocal>,
}

impl Slot {
    fn new() -> Self {
        Self {
            state: AtomicU64::new(word(1, FREE)),
            local: OwnedCell::new(SlotLocal::default()),
        }
    }
}

struct Owner {
    free: Vec<u32>,
    next: u32,
    outstanding: u32,
}

/// The token-keyed table of host calls awaiting completion.
///
/// Invariant: every method marked `unsafe` runs only on the loop thread of
/// the context that owns the table, and never re-entrantly (none of them calls
/// out). `claim` is the only method for other threads.
pub(crate) struct InFlight {
    /// Bucket `b` points at `FIRST_BUCKET << b` slots, or is null until the
    /// loop thread first needs it. Published with `Release`, never moved or
    /// freed before the table is dropped.
    buckets: [AtomicPtr<Slot>; BUCKETS],
    /// Loop-thread only.
    owner: OwnedCell<Owner>,
    max_in_flight: u32,
    max_generation: u64,
}

// SAFETY: the only state other threads reach is `buckets` (atomics) and each
// slot's `state` (atomic). Every `OwnedCell` is touched only by the loop
// thread, as the invariant on `InFlight` requires of its callers.
unsafe impl Sync for InFlight {}
// SAFETY: the table owns its buckets; moving it between threads moves that
// ownership, and wakers and completions are `Send`.
unsafe impl Send for InFlight {}

fn locate(index: u32) -> (usize, usize) {
    let n = index + FIRST_BUCKET;
    let bucket = (31 - n.leading_zeros()) - FIRST_BUCKET.trailing_zeros();
    (bucket as usize, (n - (FIRST_BUCKET << bucket)) as usize)
}

impl InFlight {
    /// A table admitting at most `max_in_flight` outstanding calls.
    pub(crate) fn new(max_in_flight: u32) -> Self {
        Self::with_max_generation(max_in_flight, MAX_GENERATION)
    }

    /// As [`InFlight::new`], retiring slots after `max_generation` uses (tests
    /// lower it to reach retirement quickly).
    pub(crate) fn with_max_generation(max_in_flight: u32, max_generation: u64) -> Self {
        assert!((1..=MAX_SLOTS).contains(&max_in_flight));
        assert!((1..=MAX_GENERATION).contains(&max_generation));
        Self {
            buckets: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            owner: OwnedCell::new(Owner {
                free: Vec::new(),
                next: 0,
                outstanding: 0,
            }),
            max_in_flight,
            max_generation,
        }
    }

    fn slot(&self, index: u32) -> Option<&Slot> {
        if index >= MAX_SLOTS {
            return None;
        }
        let (bucket, offset) = locate(index);
        let base = self.buckets[bucket].load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: a non-null bucket pointer was published (Release, paired
        // with the Acquire above) pointing at `FIRST_BUCKET << bucket`
        // initialised slots, lives until `self` is dropped, and `offset` is
        // below that length by construction of `locate`.
        Some(unsafe { &*base.add(offset) })
    }

    /// Step 2: claims `token` for completion. Any thread.
    ///
    /// Returns `false` when the token is not pending: unknown, already claimed,
    /// cancelled, timed out or from an earlier use of the slot.
    pub(crate) fn claim(&self, token: u64) -> bool {
        let (index, generation) = split(token);
        if generation == 0 {
            return false;
        }
        self.slot(index).is_some_and(|slot| {
            slot.state
                .compare_exchange(
                    word(generation, PENDING),
                    word(generation, CLAIMED),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
        })
    }

    /// Step 1: allocates a pending token, or `None` when `max_in_flight`
    /// calls are already outstanding.
    ///
    /// # Safety
    /// Loop thread only (see the invariant on [`InFlight`]).
    pub(crate) unsafe fn allocate(&self) -> Option<u64> {
        // SAFETY: loop thread only, not re-entrant (caller's obligation).
        let index = unsafe {
            self.owner.with_mut(|owner| {
                if owner.outstanding >= self.max_in_flight {
                    return None;
                }
                let index = match owner.free.pop() {
                    Some(index) => index,
                    None => {
                        let index = owner.next;
                        let (bucket, offset) = locate(index);
                        if offset == 0 {
                            let slots: Box<[Slot]> =
                                (0..FIRST_BUCKET << bucket).map(|_| Slot::new()).collect();
                            let base = Box::into_raw(slots).cast::<Slot>();
                            self.buckets[bucket].store(base, Ordering::Release);
                        }
                        owner.next += 1;
                        index
                    }
                };
                owner.outstanding += 1;
                Some(index)
            })
        }?;
        let slot = self.slot(index).expect("allocated slot exists");
        let generation = slot.state.load(Ordering::Relaxed) >> 2;
        debug_assert_eq!(slot.state.load(Ordering::Relaxed) & STATUS_MASK, FREE);
        slot.state
            .store(word(generation, PENDING), Ordering::Release);
        Some(join(index, generation))
    }

    /// Step 5: releases a slot whose current use (`generation`) is over.
    ///
    /// # Safety
    /// Loop thread only; the slot is not `PENDING` (a claim or a successful
    /// cancel ended its use) and nothing else will release it.
    unsafe fn release(&self, index: u32, generation: u64) {
        let slot = self.slot(index).expect("released slot exists");
        let retire = generation >= self.max_generation;
        slot.state.store(self.freed(generation), Ordering::Release);
        // SAFETY: loop thread only (caller's obligation).
        unsafe {
            self.owner.with_mut(|owner| {
                owner.outstanding -= 1;
                if !retire {
                    owner.free.push(index);
                }
            });
        }
    }

    /// The state word of a slot whose use `generation` has ended: free for the
    /// next generation, or (past the last one) a state no token ever matches.
    fn freed(&self, generation: u64) -> u64 {
        word(generation + 1, FREE)
    }

    /// Step 3: hands a claimed token's completion to its waiting future.
    /// Returns the waker to wake; the caller wakes it after this returns.
    ///
    /// # Safety
    /// Loop thread only; `token` was claimed and this is its one delivery.
    pub(crate) unsafe fn deliver(&self, token: u64, completion: Completion) -> Option<Waker> {
        let (index, generation) = split(token);
        let slot = self.slot(index).expect("claimed slot exists");
        debug_assert_eq!(
            slot.state.load(Ordering::Relaxed),
            word(generation, CLAIMED)
        );
        // SAFETY: loop thread only, not re-entrant (caller's obligation).
        let (abandoned, waker) = unsafe {
            slot.local.with_mut(|local| {
                if local.abandoned {
                    local.abandoned = false;
                    (true, None)
                } else {
                    local.parked = Some(completion);
                    (false, local.waker.take())
                }
            })
        };
        if abandoned {
            // SAFETY: the slot is CLAIMED and its future is gone; this is the
            // one release of this use.
            unsafe { self.release(index, generation) };
        }
        waker
    }

    /// Takes the completion parked for `token`, releasing the slot.
    ///
    /// # Safety
    /// Loop thread only; `token` came from [`InFlight::allocate`] and has not
    /// been taken or cancelled yet.
    pub(crate) unsafe fn take(&self, token: u64) -> Option<Completion> {
        let (index, generation) = split(token);
        let slot = self.slot(index)?;
        // SAFETY: loop thread only, not re-entrant (caller's obligation).
        let parked = unsafe {
            slot.local.with_mut(|local| {
                let parked = local.parked.take();
                if parked.is_some() {
                    local.waker = None;
                }
                parked
            })
        }?;
        // SAFETY: a parked completion means the slot is CLAIMED and delivered;
        // taking it ends this use.
        unsafe { self.release(index, generation) };
        Some(parked)
    }

    /// Records the waker to wake when `token`'s completion arrives.
    ///
    /// # Safety
    /// Loop thread only; `token` is allocated and not yet taken or cancelled.
    pub(crate) unsafe fn set_waker(&self, token: u64, waker: &Waker) {
        let (index, _) = split(token);
        if let Some(slot) = self.slot(index) {
            // SAFETY: loop thread only, not re-entrant (caller's obligation).
            unsafe {
                slot.local.with_mut(|local| match &local.waker {
                    Some(current) if current.will_wake(waker) => {}
                    _ => local.waker = Some(waker.clone()),
                });
            }
        }
    }

    /// Step 4: the future awaiting `token` gives up on it. With `abandon`
    /// (the future is going away) a claimed token's slot is left for its
    /// delivery to release; without it (a timeout) a claimed token stays as
    /// it is, so its completion is still delivered.
    ///
    /// # Safety
    /// Loop thread only; `token` is allocated and not yet taken or cancelled
    /// (or was cancelled without `abandon` and came back `Claimed`).
    pub(crate) unsafe fn cancel(&self, token: u64, abandon: bool) -> Cancel {
        let (index, generation) = split(token);
        let slot = self.slot(index).expect("allocated slot exists");
        // SAFETY: loop thread only, not re-entrant (caller's obligation).
        // The waker goes in every case: a timed-out future that keeps waiting
        // registers it again, and a waker left in a released slot would keep
        // its task (and what that task references) alive.
        let delivered = unsafe {
            slot.local.with_mut(|local| {
                local.waker = None;
                abandon && local.parked.take().is_some()
            })
        };
        if delivered {
            // SAFETY: delivered means CLAIMED; this ends the use.
            unsafe { self.release(index, generation) };
            return Cancel::Completed;
        }
        let won = slot
            .state
            .compare_exchange(
                word(generation, PENDING),
                self.freed(generation),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if won {
            // SAFETY: loop thread only. The CAS above already moved the state
            // word on; only the bookkeeping of `release` remains.
            unsafe {
                self.owner.with_mut(|owner| {
                    owner.outstanding -= 1;
                    if generation < self.max_generation {
                        owner.free.push(index);
                    }
                });
            }
            Cancel::Cancelled
        } else {
            if abandon {
                // SAFETY: loop thread only, not re-entrant.
                unsafe {
                    slot.local.with_mut(|local| {
                        local.waker = None;
                        local.abandoned = true;
                    });
                }
            }
            Cancel::Claimed
        }
    }

    /// How many tokens are allocated and not yet released (what the tests
    /// check after each scenario).
    ///
    /// # Safety
    /// Loop thread only.
    #[cfg(test)]
    pub(crate) unsafe fn outstanding(&self) -> u32 {
        // SAFETY: loop thread only (caller's obligation).
        unsafe { self.owner.with_mut(|owner| owner.outstanding) }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        for (bucket, ptr) in self.buckets.iter().enumerate() {
            let base = ptr.load(Ordering::Acquire);
            if !base.is_null() {
                let len = (FIRST_BUCKET << bucket) as usize;
                // SAFETY: `base` came from `Box::<[Slot]>::into_raw` with
                // exactly this length (see `allocate`) and is freed only here,
                // once, with `&mut self` proving no other user remains.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(base, len)) });
            }
        }
    }
}

#[cfg(all(test, not(hostcall_loom)))]
mod tests {
    use super::*;

    fn done(ok: bool, payload: &[u8]) -> Completion {
        Completion {
            answer: if ok { Answer::Value } else { Answer::Error },
            payload: Payload::from_slice(payload),
        }
    }

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(size_of::<Slot>(), 64);
    }

    #[test]
    fn locate_maps_indices_into_doubling_buckets() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        let (bucket, offset) = locate(MAX_SLOTS - 1);
        assert!(bucket < BUCKETS);
        assert!(offset < (FIRST_BUCKET << bucket) as usize);
    }

    #[test]
    fn claim_deliver_take_round_trip() {
        let table = InFlight::new(8);
        // SAFETY: this test thread plays the loop thread throughout.
        unsafe {
            let token = table.allocate().unwrap();
            assert_ne!(token, 0);
            assert!(table.take(token).is_none());
            assert!(table.claim(token));
            assert!(!table.claim(token), "a second claim must fail");
            assert!(table.deliver(token, done(true, b"x")).is_none());
            assert_eq!(table.take(token), Some(done(true, b"x")));
            assert_eq!(table.outstanding(), 0);
            assert!(!table.claim(token), "a late claim must fail");
        }
    }

    #[test]
    fn tokens_are_never_reused() {
        let table = InFlight::new(4);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            // SAFETY: this test thread plays the loop thread throughout.
            unsafe {
                let token = table.allocate().unwrap();
                assert!(seen.insert(token), "token {token:#x} issued twice");
                assert!(table.claim(token));
                table.deliver(token, done(true, b""));
                table.take(token).unwrap();
            }
        }
    }

    #[test]
    fn invented_tokens_are_refused() {
        let table = InFlight::new(4);
        // SAFETY: this test thread plays the loop thread throughout.
        let token = unsafe { table.allocate().unwrap() };
        let (index, generation) = split(token);
        assert!(!table.claim(0));
        assert!(!table.claim(join(index, generation + 1)));
        assert!(!table.claim(join(index + 1, generation)));
        assert!(!table.claim(join(MAX_SLOTS, generation)));
        assert!(!table.claim(u64::MAX));
        assert!(table.claim(token));
    }

    #[test]
    fn max_in_flight_bounds_allocation() {
        let table = InFlight::new(2);
        // SAFETY: this test thread plays the loop thread throughout.
        unsafe {
            let a = table.allocate().unwrap();
            let _b = table.allocate().unwrap();
            assert!(table.allocate().is_none());
            assert_eq!(table.cancel(a, true), Cancel::Cancelled);
            assert!(table.allocate().is_some());
        }
    }

    #[test]
    fn cancel_before_claim_refuses_the_late_completion() {
        let table = InFlight::new(2);
        // SAFETY: this test thread plays the loop thread throughout.
        unsafe {
            let token = table.allocate().unwrap();
            assert_eq!(table.cancel(token, true), Cancel::Cancelled);
            assert!(!table.claim(token));
            assert_eq!(table.outstanding(), 0);
        }
    }

    #[test]
    fn cancel_after_claim_waits_for_the_delivery_to_release() {
        let table = InFlight::new(2);
        // SAFETY: this test thread plays the loop thread throughout.
        unsafe {
            let token = table.allocate().unwrap();
            assert!(table.claim(token));
            assert_eq!(table.cancel(token, true), Cancel::Claimed);
            assert_eq!(table.outstanding(), 1, "the slot waits for its completion");
            assert!(table.deliver(token, done(false, b"late")).is_none());
            assert_eq!(table.outstanding(), 0);
            let next = table.allocate().unwrap();
            assert_ne!(next, token);
        }
    }

    #[test]
    fn cancel_after_delivery_discards_the_completion() {
        let table = InFlight::new(2);
        // SAFETY: this test thread plays the loop thread throughout.
        unsafe {
            let token = table.allocate().unwrap();
            assert!(table.claim(token));
            table.deliver(token, done(true, b"v"));
            assert_eq!(table.cancel(token, true), Cancel::Completed);
            assert_eq!(table.outstanding(), 0);
        }
    }

    #[test]
    fn exhausted_slots_are_retired_not_reused() {
        let table = InFlight::with_max_generation(1, 3);
        let mut tokens = Vec::new();
        // SAFETY: this test thread plays the loop thread throughout.
        unsafe {
            for _ in 0..3 {
                let token = table.allocate().unwrap();
                assert_eq!(
                    split(token).0,
                    0,
                    "the one slot is reused while it has generations left"
                );
                tokens.push(token);
                assert_eq!(table.cancel(token, true), Cancel::Cancelled);
            }
            let fresh = table.allocate().unwrap();
            assert_eq!(split(fresh).0, 1, "slot 0 is retired");
            for token in tokens {
                assert!(!table.claim(token));
            }
        }
    }

    #[test]
    fn delivery_wakes_the_registered_waker() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicUsize;
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let table = InFlight::new(2);
        // SAFETY: this test thread plays the loop thread throughout.
        unsafe {
            let token = table.allocate().unwrap();
            table.set_waker(token, &waker);
            assert!(table.claim(token));
            table.deliver(token, done(true, b"")).unwrap().wake();
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn many_threads_race_to_claim_each_token_once() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicUsize;
        let table = Arc::new(InFlight::new(10_000));
        // SAFETY: this test thread plays the loop thread for allocation.
        let tokens: Arc<Vec<u64>> = Arc::new(
            (0..10_000)
                .map(|_| unsafe { table.allocate().unwrap() })
                .collect(),
        );
        let wins = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (table, tokens, wins) = (table.clone(), tokens.clone(), wins.clone());
                std::thread::spawn(move || {
                    // Each thread walks the tokens in its own order.
                    let n = tokens.len();
                    for i in 0..n {
                        let token = tokens[(i * (2 * t + 1) + t * 977) % n];
                        if table.claim(token) {
                            wins.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(wins.load(Ordering::SeqCst), tokens.len());
    }
}

/// Model checks of the claim/cancel/deliver protocol under every
/// interleaving loom can find. Run with
/// `RUSTFLAGS="--cfg hostcall_loom" cargo test --lib --release`.
#[cfg(all(test, hostcall_loom))]
mod loom_tests {
    use loom::sync::Arc;

    use super::*;

    fn done(payload: u8) -> Completion {
        Completion {
            answer: Answer::Value,
            payload: Payload::from_slice(&[payload]),
        }
    }

    /// A host thread that claims `token` and, if it won, sends the
    /// completion (carrying `payload`) to the loop; joins to whether it won.
    fn host_claims(
        table: &Arc<InFlight>,
        token: u64,
        payload: u8,
    ) -> (
        loom::thread::JoinHandle<bool>,
        loom::sync::mpsc::Receiver<Completion>,
    ) {
        let (sender, receiver) = loom::sync::mpsc::channel();
        let table = table.clone();
        let host = loom::thread::spawn(move || {
            let won = table.claim(token);
            if won {
                sender.send(done(payload)).unwrap();
            }
            won
        });
        (host, receiver)
    }

    /// A host thread completes while the loop drops the future: exactly one
    /// side wins, the host is told only if it lost, and the slot is released
    /// exactly once either way.
    #[test]
    fn claim_races_an_abandoning_cancel() {
        crate::core::sync::model(|| {
            let table = Arc::new(InFlight::new(2));
            // SAFETY: the model's main thread plays the loop thread.
            let token = unsafe { table.allocate().unwrap() };
            let (host, receiver) = host_claims(&table, token, 1);
            // SAFETY: loop thread.
            let cancel = unsafe { table.cancel(token, true) };
            let claimed = host.join().unwrap();
            match cancel {
                Cancel::Cancelled => assert!(!claimed, "a cancelled token cannot be claimed"),
                Cancel::Claimed => {
                    assert!(claimed);
                    let completion = receiver.recv().unwrap();
                    // SAFETY: loop thread; the one delivery of the claim.
                    assert!(unsafe { table.deliver(token, completion) }.is_none());
                }
                Cancel::Completed => unreachable!("nothing was delivered yet"),
            }
            // SAFETY: loop thread.
            assert_eq!(unsafe { table.outstanding() }, 0);
            assert!(!table.claim(token), "the token is dead after release");
        });
    }

    /// Two host threads complete the same token: exactly one claim wins.
    #[test]
    fn two_claims_one_winner() {
        crate::core::sync::model(|| {
            let table = Arc::new(InFlight::new(1));
            // SAFETY: the model's main thread plays the loop thread.
            let token = unsafe { table.allocate().unwrap() };
            let claimers: Vec<_> = (0..2)
                .map(|_| {
                    let table = table.clone();
                    loom::thread::spawn(move || table.claim(token))
                })
                .collect();
            let wins = claimers
                .into_iter()
                .map(|c| c.join().unwrap())
                .filter(|won| *won)
                .count();
            assert_eq!(wins, 1);
        });
    }

    /// A timeout (cancel without abandoning) racing a claim: if the claim
    /// won, the completion is still delivered to the waiting future.
    #[test]
    fn a_timeout_losing_to_a_claim_still_gets_the_value() {
        crate::core::sync::model(|| {
            let table = Arc::new(InFlight::new(1));
            // SAFETY: the model's main thread plays the loop thread.
            let token = unsafe { table.allocate().unwrap() };
            let (host, receiver) = host_claims(&table, token, 7);
            // SAFETY: loop thread.
            match unsafe { table.cancel(token, false) } {
                Cancel::Cancelled => {
                    host.join().unwrap();
                    assert!(
                        receiver.try_recv().is_err(),
                        "a cancelled token is never claimed"
                    );
                }
                Cancel::Claimed => {
                    host.join().unwrap();
                    let completion = receiver.recv().unwrap();
                    // SAFETY: loop thread; the one delivery of the claim.
                    unsafe {
                        table.deliver(token, completion);
                        assert_eq!(table.take(token), Some(done(7)));
                    }
                }
                Cancel::Completed => unreachable!(),
            }
            // SAFETY: loop thread.
            assert_eq!(unsafe { table.outstanding() }, 0);
        });
    }
}
