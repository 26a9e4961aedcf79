//! Blocking waits between loop threads, and the rule that keeps them from
//! closing a cycle.
//!
//! Two entry points may block: `destroy` joins the context's loop thread,
//! and `remove_event_listener` waits for that context's running listener to
//! return. Both wait for *another context's loop thread*, and both may be
//! called from inside a callback, that is on a loop thread. A loop thread
//! that waits for a second one, which waits for the first (directly, or
//! through a chain of such waits), would hang both for ever: context A's
//! reply callback destroys B while B's destroys A, or A's destroys B and
//! B's teardown runs a callback that destroys A.
//!
//! # Protocol
//!
//! The graph's nodes are contexts (each has one loop thread); an edge
//! `C → T` means "C's loop thread is blocked waiting for T's".
//!
//! 1. **Ask** ([`begin`]) before blocking for target context `T`. A caller
//!    on no loop thread may always wait: no loop thread ever waits for a
//!    thread that is not one (the library's own waits are all listed
//!    above), so its wait closes no cycle.
//! 2. A caller on the loop thread of context `C` follows the edges from `T`
//!    under the process-wide lock. If the walk reaches `C` (at once when
//!    `T == C`), waiting would close a cycle: the caller must not wait
//!    ([`begin`] returns `None`). Otherwise the edge `C → T` is recorded and
//!    the caller may wait ([`Waiting`]).
//! 3. **Done**: dropping the [`Waiting`] removes the edge.
//!
//! Asking and recording happen under one lock, so of two loop threads about
//! to wait for each other, the second to ask sees the first one's edge and
//! does not wait. A blocked thread waits for one thing at a time, so each
//! node has at most one outgoing edge and the walk is a chain.
//!
//! The graph is per copy of this crate: each hostcall library linked into a
//! process carries its own, so a cycle through contexts of two *different*
//! libraries is not seen (docs/threading.md says so).

use std::collections::HashMap;
use std::sync::Mutex;

/// Who waits for whom: waiting context id → the context id it waits for.
static EDGES: Mutex<Option<HashMap<u64, u64>>> = Mutex::new(None);

fn edges() -> std::sync::MutexGuard<'static, Option<HashMap<u64, u64>>> {
    // Nothing panics while holding the lock; recover the map regardless.
    EDGES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Permission to block until context `target`'s loop thread lets go; the
/// edge it recorded leaves the graph when this is dropped.
#[derive(Debug)]
pub(crate) struct Waiting {
    /// The waiting context, if the caller is a loop thread.
    waiter: Option<u64>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter
            && let Some(map) = edges().as_mut()
        {
            map.remove(&waiter);
        }
    }
}

/// Steps 1 and 2: may the caller — on the loop thread of context `caller`,
/// or on no loop thread (`None`) — block until context `target`'s loop
/// thread is done? `None` means it must not: that thread is (or is waiting,
/// through a chain, for) the caller's own.
pub(crate) fn begin(caller: Option<u64>, target: u64) -> Option<Waiting> {
    let Some(caller) = caller else {
        return Some(Waiting { waiter: None });
    };
    let mut guard = edges();
    let map = guard.get_or_insert_with(HashMap::new);
    let mut at = target;
    // The walk ends: each step follows the one edge of a node, and the
    // graph has no cycle (this function is what keeps it so).
    loop {
        if at == caller {
            return None;
        }
        match map.get(&at) {
            Some(&next) => at = next,
            None => break,
        }
    }
    let previous = map.insert(caller, target);
    debug_assert!(
        previous.is_none(),
        "a blocked loop thread asked to wait again"
    );
    Some(Waiting {
        waiter: Some(caller),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Context ids are unique in the process; tests take theirs far from
    // the counter `Shared` uses, and apart from each other.
    #[test]
    fn a_loop_thread_never_waits_for_itself() {
        assert!(begin(Some(1_000_001), 1_000_001).is_none());
        assert!(begin(None, 1_000_001).is_some(), "a host thread may wait");
    }

    #[test]
    fn the_wait_that_would_close_a_cycle_is_refused() {
        let (a, b, c) = (2_000_001, 2_000_002, 2_000_003);
        let a_waits = begin(Some(a), b).expect("nothing waits yet");
        assert!(
            begin(Some(b), a).is_none(),
            "b would wait for a, who waits for b"
        );
        let b_waits = begin(Some(b), c).expect("c waits for nobody");
        assert!(
            begin(Some(c), a).is_none(),
            "a → b → c: c must not wait for a"
        );
        assert!(begin(Some(c), b).is_none(), "b → c: c must not wait for b");
        drop(b_waits);
        let c_waits = begin(Some(c), a).expect("b no longer waits: a → b only");
        assert!(begin(Some(b), c).is_none(), "c → a → b");
        drop(c_waits);
        drop(a_waits);
        drop(begin(Some(b), a).expect("nobody waits any more"));
    }
}
