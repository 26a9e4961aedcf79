//! The inbox: every message bound for a context's loop thread, and the rule
//! that decides when the loop must be woken.
//!
//! Requests, completions and registrations arrive from any thread; the loop
//! drains them in batches. Waking a sleeping thread costs tens of
//! microseconds, so a producer wakes the loop only when the loop said it was
//! about to sleep, and then only one producer does it.
//!
//! # Protocol
//!
//! 1. **Push** (any thread): enqueue the message, then (after a `SeqCst`
//!    fence) look at `sleeping`. If it is set, swap it back to `false`; the one
//!    producer whose swap saw `true` must wake the loop ([`Inbox::push`]
//!    returns `true`).
//! 2. **Drain** (loop thread): pop messages until the queue is empty.
//! 3. **Sleep** (loop thread): set `sleeping`, fence, and look at the queue
//!    again ([`Inbox::prepare_sleep`]). If a message slipped in, clear the flag
//!    and drain again; otherwise wait for a wake.
//!
//! 4. **Spin** (loop thread, just before the thread would park, only while
//!    host calls are outstanding): [`Inbox::begin_spin`] takes the wake-up job
//!    back from producers (clears `sleeping`), so pushes cost producers
//!    nothing; the loop watches the queue for a bounded time and wakes its
//!    own dispatcher when a message lands. When the budget runs out,
//!    [`Inbox::end_spin`] hands the job back with step 3's check.
//!
//! Steps 1 and 3 form a Dekker pair on `SeqCst`: either the producer sees
//! `sleeping` and wakes the loop, or the loop sees the message. The wake is a
//! stored permit (`Notify::notify_one`), so a wake that lands before the loop
//! starts waiting is not lost either. At worst the loop wakes once for a
//! message it already drained.

use crate::core::sync::{AtomicBool, Ordering, fence};

#[cfg(not(hostcall_loom))]
type Queue<T> = crossbeam_queue::SegQueue<T>;

/// Under loom the lock-free queue is replaced by a trivially correct one; the
/// wake protocol around it is what the model checks.
#[cfg(hostcall_loom)]
struct Queue<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

#[cfg(hostcall_loom)]
impl<T> Queue<T> {
    fn new() -> Self {
        Self(loom::sync::Mutex::new(std::collections::VecDeque::new()))
    }
    fn push(&self, value: T) {
        self.0.lock().unwrap().push_back(value);
    }
    fn pop(&self) -> Option<T> {
        self.0.lock().unwrap().pop_front()
    }
    fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
}

/// A multi-producer, single-consumer queue with a lost-wake-free sleep flag.
pub(crate) struct Inbox<T> {
    queue: Queue<T>,
    /// Set by the loop just before it waits; cleared by the one producer
    /// that takes the job of waking it.
    sleeping: AtomicBool,
}

impl<T> Inbox<T> {
    pub(crate) fn new() -> Self {
        Self {
            queue: Queue::new(),
            sleeping: AtomicBool::new(false),
        }
    }

    /// Step 1. Returns `true` when the caller must wake the loop.
    #[inline]
    pub(crate) fn push(&self, message: T) -> bool {
        self.queue.push(message);
        fence(Ordering::SeqCst);
        self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::AcqRel)
    }

    /// Step 2: the next message, if any. Loop thread only.
    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        self.queue.pop()
    }

    /// Step 3. Returns `true` when the queue is empty and the loop may wait;
    /// `false` when it must drain again.
    pub(crate) fn prepare_sleep(&self) -> bool {
        // Swaps rather than stores: every write to `sleeping` is then a
        // read-modify-write, which places it after every earlier write in the
        // modification order (and lets loom model that exactly). It costs
        // nothing here: the loop does this once per sleep.
        self.sleeping.swap(true, Ordering::AcqRel);
        fence(Ordering::SeqCst);
        if self.queue.is_empty() {
            true
        } else {
            self.sleeping.swap(false, Ordering::AcqRel);
            false
        }
    }
}

impl<T> Inbox<T> {
    /// Whether no message is queued. Loop thread only.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Step 4: takes the wake-up job back from producers. Returns `false`
    /// when the loop was not asleep (a producer already took the job, so a
    /// wake-up is on its way): nothing to spin for.
    pub(crate) fn begin_spin(&self) -> bool {
        self.sleeping.swap(false, Ordering::AcqRel)
    }

    /// Step 4, end: hands the wake-up job back (step 3). Returns `true` when
    /// the thread may park; `false` when a message arrived meanwhile, so the
    /// caller must wake the dispatcher itself.
    pub(crate) fn end_spin(&self) -> bool {
        self.prepare_sleep()
    }
}

#[cfg(all(test, not(hostcall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn only_a_sleeping_loop_is_woken() {
        let inbox = Inbox::new();
        assert!(!inbox.push(1), "an awake loop needs no wake");
        assert!(
            !inbox.prepare_sleep(),
            "a pending message cancels the sleep"
        );
        assert_eq!(inbox.pop(), Some(1));
        assert!(inbox.prepare_sleep());
        assert!(inbox.push(2), "the first push after sleep wakes the loop");
        assert!(!inbox.push(3), "later pushes need no second wake");
        assert_eq!(inbox.pop(), Some(2));
        assert_eq!(inbox.pop(), Some(3));
        assert_eq!(inbox.pop(), None);
    }

    #[test]
    fn a_spinning_loop_takes_the_wake_up_job() {
        let inbox = Inbox::new();
        assert!(!inbox.begin_spin(), "an awake loop has no job to take");
        assert!(inbox.prepare_sleep());
        assert!(inbox.begin_spin());
        assert!(
            !inbox.push(1),
            "while the loop spins, producers need not wake it"
        );
        assert!(!inbox.is_empty());
        assert!(
            !inbox.end_spin(),
            "the message arrived: wake the dispatcher yourself"
        );
        assert_eq!(inbox.pop(), Some(1));
        assert!(inbox.prepare_sleep());
        assert!(inbox.begin_spin());
        assert!(inbox.end_spin(), "nothing came: park");
        assert!(
            inbox.push(2),
            "after the spin, producers wake the loop again"
        );
    }
}

/// Model check of the wake rule: with producers racing the loop's decision
/// to sleep, no wake-up is lost (loom reports a deadlock if one is).
#[cfg(all(test, hostcall_loom))]
mod loom_tests {
    use loom::sync::{Arc, Notify};

    use super::*;

    #[test]
    fn no_wake_up_is_lost() {
        crate::core::sync::model(|| {
            let inbox = Arc::new(Inbox::new());
            let notify = Arc::new(Notify::new());
            let producers: Vec<_> = (0..2)
                .map(|i| {
                    let (inbox, notify) = (inbox.clone(), notify.clone());
                    loom::thread::spawn(move || {
                        if inbox.push(i) {
                            notify.notify();
                        }
                    })
                })
                .collect();
            let mut received = 0;
            while received < 2 {
                while inbox.pop().is_some() {
                    received += 1;
                }
                if received < 2 && inbox.prepare_sleep() {
                    notify.wait();
                }
            }
            for producer in producers {
                producer.join().unwrap();
            }
        });
    }

    /// The same with the park-time spin in the middle: the loop takes the
    /// wake-up job, watches the queue a bounded number of times, and either
    /// wakes itself or hands the job back; still no wake-up is lost.
    #[test]
    fn no_wake_up_is_lost_around_a_spin() {
        crate::core::sync::model(|| {
            let inbox = Arc::new(Inbox::new());
            let notify = Arc::new(Notify::new());
            let producer = {
                let (inbox, notify) = (inbox.clone(), notify.clone());
                loom::thread::spawn(move || {
                    if inbox.push(1) {
                        notify.notify();
                    }
                })
            };
            let mut received = 0;
            while received < 1 {
                while inbox.pop().is_some() {
                    received += 1;
                }
                if received == 0 && inbox.prepare_sleep() {
                    if inbox.begin_spin() {
                        let mut arrived = false;
                        for _ in 0..2 {
                            if !inbox.is_empty() {
                                arrived = true;
                                break;
                            }
                            loom::thread::yield_now();
                        }
                        if arrived || !inbox.end_spin() {
                            notify.notify();
                        }
                    }
                    notify.wait();
                }
            }
            producer.join().unwrap();
        });
    }
}
