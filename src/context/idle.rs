//! The loop thread's idle strategy: after its last piece of work, how long
//! it keeps watching the inbox before it sleeps, and how it learns that
//! window from what it sees.
//!
//! Sleeping costs an OS wake-up (15–60 µs on a small VM) for the next
//! message; watching costs a core. Watching for as long as a wake-up costs
//! bounds the loss either way (the classic spin-then-block rule), but only
//! a loop whose next message usually comes soon should watch at all: an
//! idle context must burn about no CPU, and on a machine with few cores a
//! watching loop takes the core the host's own threads need.
//!
//! # Protocol
//!
//! The policy is plain data owned by the loop thread; [`crate::context::event_loop`]
//! drives it from tokio's park hook (the runtime has no task ready) and from
//! the dispatcher's wake-up.
//!
//! 1. **Decide** ([`Idle::decide`]): the loop is about to park; the policy
//!    answers how long to watch, from zero to the configured bound
//!    (`spin_us`) — zero whenever no core is spare
//!    ([`crate::context::cores`]): more threads are runnable than there are
//!    cores, so a watch would take a core another thread waits for.
//! 2. **Watch** (the event loop): spin on the inbox with CPU pause hints,
//!    looking at the clock every few dozen spins and yielding the core every
//!    few microseconds (as Go's spinning Ms and crossbeam's `Backoff` do:
//!    spin, then `sched_yield`), until a message lands, the window ends, or
//!    the watch sees that another thread wanted the core: a yield that came
//!    back late, or a gap between two clock readings long enough that the
//!    thread was preempted.
//! 3. **Learn** from the watch's [`Outcome`]:
//!    - *arrived after `t`*: the window grows to cover `t` with margin
//!      (twice `t`, and at least what it was): watching paid;
//!    - *ended empty*: the window halves (an idle context stops watching
//!      after a few such watches);
//!    - *contended*: the window drops to a quarter and the watch ends at
//!      once (like glibc's adaptive mutex, which spins less when spinning
//!      has not paid, and the JVM's, which stops spinning for a lock whose
//!      owner is not running).
//! 4. **Sleep, then learn from the wake-up** ([`Idle::slept`],
//!    [`Idle::woke`]): the producer whose message wakes the sleeping loop
//!    stamps the time of its push (only that one producer, which is about to
//!    make a system call anyway). If the message came within the bound of
//!    the loop going to sleep, a watch would have caught it without the
//!    wake-up, so the window grows to cover that gap. The gap is the push's
//!    time, not the wake's: on a small VM a wake-up alone can take longer
//!    than the bound, and a gap measured at the wake would teach the loop
//!    never to watch. A loop that slept for longer learns nothing: the
//!    window it has (or zero) stands.
//!
//! The window is never longer than the bound and never negative; with a
//! bound of zero the loop never watches. Windows below [`FLOOR`] count as
//! zero, so a policy that keeps shrinking ends at "sleep at once".

use std::time::{Duration, Instant};

/// Below this a window is not worth starting: the loop sleeps at once.
pub(crate) const FLOOR: Duration = Duration::from_nanos(500);

/// What a watch saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A message landed this long after the watch began.
    Arrived(Duration),
    /// The window ran out with the inbox empty.
    Empty,
    /// Another thread wanted the core (a late yield or a preemption).
    Contended,
}

/// The loop thread's idle policy (steps 1, 3 and 4). Plain data: the loop
/// thread owns it and no other thread sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Idle {
    /// The configured bound (`spin_us`); zero never watches.
    bound: Duration,
    /// The window the next watch gets.
    window: Duration,
    /// When the loop went to sleep after its last watch (or without one),
    /// until the next wake-up says how long the gap was.
    asleep_since: Option<Instant>,
}

impl Idle {
    /// A policy bounded by `bound`; it starts by watching for the whole
    /// bound, so the first burst of work after start-up is caught.
    pub(crate) fn new(bound: Option<Duration>) -> Self {
        let bound = bound.unwrap_or(Duration::ZERO);
        Self {
            bound,
            window: bound,
            asleep_since: None,
        }
    }

    /// Step 1: how long to watch before sleeping (zero: sleep at once).
    /// With no core to spare ([`crate::context::cores`]) the loop sleeps at
    /// once and the window it learnt stands for when one is.
    ///
    /// The loop is running, so any sleep it had is over: one that ended in
    /// a wake-up for work was learnt from in [`Idle::woke`], and one that
    /// ended otherwise (a timer) says nothing about the gap.
    pub(crate) fn decide(&mut self, spare_core: bool) -> Duration {
        self.asleep_since = None;
        if spare_core {
            self.window()
        } else {
            Duration::ZERO
        }
    }

    /// The window the next watch gets (zero: sleep at once).
    pub(crate) fn window(&self) -> Duration {
        if self.window < FLOOR {
            Duration::ZERO
        } else {
            self.window
        }
    }

    /// Step 3: learns from a watch.
    pub(crate) fn watched(&mut self, outcome: Outcome) {
        self.window = match outcome {
            Outcome::Arrived(after) => self.cover(after),
            Outcome::Empty => self.window / 2,
            Outcome::Contended => self.window / 4,
        };
    }

    /// Step 4: the loop is going to sleep now, at `now`.
    pub(crate) fn slept(&mut self, now: Instant) {
        self.asleep_since = Some(now);
    }

    /// Step 4: the loop woke for a message pushed at `pushed`; if it had
    /// gone to sleep before that, the gap tells whether a watch would have
    /// caught the message. A stamp from before the sleep says nothing.
    pub(crate) fn woke(&mut self, pushed: Instant) {
        if let Some(since) = self.asleep_since.take()
            && let Some(gap) = pushed.checked_duration_since(since)
            && gap <= self.bound
        {
            self.window = self.cover(gap);
        }
    }

    /// The window after work came `after` into the idle period: twice that
    /// (margin for the next gap being a little longer), never less than the
    /// window was, never more than the bound.
    fn cover(&self, after: Duration) -> Duration {
        (after * 2).max(FLOOR * 2).max(self.window).min(self.bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_micros(50);

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn no_bound_never_watches() {
        let mut idle = Idle::new(None);
        assert_eq!(idle.window(), Duration::ZERO);
        idle.watched(Outcome::Arrived(us(1)));
        let t = Instant::now();
        idle.slept(t);
        idle.woke(t + us(1));
        assert_eq!(idle.window(), Duration::ZERO);
    }

    #[test]
    fn an_idle_context_stops_watching_after_a_few_empty_watches() {
        let mut idle = Idle::new(Some(BOUND));
        assert_eq!(idle.window(), BOUND, "starts at the bound");
        let mut watches = 0;
        while idle.window() > Duration::ZERO {
            idle.watched(Outcome::Empty);
            watches += 1;
            assert!(watches < 20, "the window must shrink to nothing");
        }
        // 50 µs halves to below the floor in 7 steps.
        assert_eq!(watches, 7);
        // A context whose next work comes much later learns nothing from it.
        let t = Instant::now();
        idle.slept(t);
        idle.woke(t + Duration::from_secs(1));
        assert_eq!(idle.window(), Duration::ZERO);
    }

    #[test]
    fn work_that_keeps_coming_soon_keeps_the_loop_watching() {
        let mut idle = Idle::new(Some(BOUND));
        for _ in 0..100 {
            idle.watched(Outcome::Arrived(Duration::from_nanos(700)));
        }
        assert_eq!(idle.window(), BOUND, "a window never shrinks on a hit");
        // Gaps that are short, then one long pause: the window halves once
        // and still covers the short gaps.
        idle.watched(Outcome::Empty);
        assert_eq!(idle.window(), BOUND / 2);
        idle.watched(Outcome::Arrived(us(2)));
        assert_eq!(idle.window(), BOUND / 2);
    }

    #[test]
    fn a_shrunk_window_grows_back_to_cover_what_it_sees() {
        let mut idle = Idle::new(Some(BOUND));
        for _ in 0..10 {
            idle.watched(Outcome::Empty);
        }
        assert_eq!(idle.window(), Duration::ZERO);
        // Slept, and the next message came 8 µs later: a watch would have
        // caught it without a wake-up.
        let t = Instant::now();
        idle.slept(t);
        idle.woke(t + us(8));
        assert_eq!(idle.window(), us(16));
        // A hit further in grows it, up to the bound and no further.
        idle.watched(Outcome::Arrived(us(12)));
        assert_eq!(idle.window(), us(24));
        idle.watched(Outcome::Arrived(us(40)));
        assert_eq!(idle.window(), BOUND);
    }

    #[test]
    fn contention_backs_off_faster_than_an_empty_watch() {
        let mut idle = Idle::new(Some(BOUND));
        idle.watched(Outcome::Contended);
        assert_eq!(idle.window(), BOUND / 4);
        idle.watched(Outcome::Contended);
        idle.watched(Outcome::Contended);
        assert!(idle.window() < us(1));
        idle.watched(Outcome::Contended);
        assert_eq!(idle.window(), Duration::ZERO);
    }

    #[test]
    fn no_spare_core_means_no_watch_and_nothing_forgotten() {
        let mut idle = Idle::new(Some(BOUND));
        assert_eq!(idle.decide(false), Duration::ZERO);
        assert_eq!(idle.decide(true), BOUND, "the learnt window stands");
        // A sleep taken for want of a core is learnt from like any other.
        let t = Instant::now();
        idle.decide(false);
        idle.slept(t);
        idle.woke(t + us(3));
        assert_eq!(idle.decide(true), BOUND);
    }

    #[test]
    fn deciding_forgets_a_sleep_that_no_work_ended() {
        let mut idle = Idle::new(Some(BOUND));
        for _ in 0..10 {
            idle.watched(Outcome::Empty);
        }
        let t = Instant::now();
        idle.slept(t);
        // A timer, not a message, ended that sleep: the loop decides again.
        assert_eq!(idle.decide(true), Duration::ZERO);
        idle.woke(t + us(3));
        assert_eq!(idle.window(), Duration::ZERO);
    }

    #[test]
    fn a_stamp_from_before_the_sleep_teaches_nothing() {
        let mut idle = Idle::new(Some(BOUND));
        for _ in 0..10 {
            idle.watched(Outcome::Empty);
        }
        let t = Instant::now();
        idle.slept(t + us(5));
        idle.woke(t);
        assert_eq!(idle.window(), Duration::ZERO);
    }

    #[test]
    fn a_wake_up_without_a_sleep_teaches_nothing() {
        let mut idle = Idle::new(Some(BOUND));
        for _ in 0..10 {
            idle.watched(Outcome::Empty);
        }
        idle.woke(Instant::now());
        assert_eq!(idle.window(), Duration::ZERO);
        // And each sleep is learnt from once.
        let t = Instant::now();
        idle.slept(t);
        idle.woke(t + us(3));
        let learnt = idle.window();
        idle.watched(Outcome::Empty);
        idle.woke(t + us(4));
        assert_eq!(idle.window(), learnt / 2);
    }
}
