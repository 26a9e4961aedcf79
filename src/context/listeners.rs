//! Event listeners of one context.
//!
//! Listeners are added and removed from any thread and invoked on the loop
//! thread, never under the table's lock.
//!
//! # Protocol
//!
//! 1. **Add** (any thread): store `(id, event, callback, user data)`; ids count
//!    up from 1 and are never reused.
//! 2. **Emit** (loop thread): snapshot the ids subscribed to the event. For
//!    each id, under the lock, check it is still present and mark it
//!    `invoking`; unlock; call it; relock and clear the mark, waking removers.
//! 3. **Remove** (any thread): delete the entry, then wait while that
//!    listener is being invoked, so that once remove returns the callback is
//!    not running and will never run again: its user data may be freed. The
//!    caller skips the wait where waiting could deadlock: on the loop thread
//!    itself (from inside a callback, where there is nothing to wait for),
//!    or on a loop thread the listener's is waiting for ([`crate::context::waits`]).

use std::sync::{Condvar, Mutex, MutexGuard};

use crate::abi::{FFICallBack, UserData};

struct Listener {
    id: u64,
    event: usize,
    callback: FFICallBack,
    user_data: UserData,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    listeners: Vec<Listener>,
    /// The id being invoked right now (0: none).
    invoking: u64,
    /// Removers waiting for `invoking` to change.
    waiters: usize,
}

/// The listener table.
#[derive(Default)]
pub(crate) struct Listeners {
    inner: Mutex<Inner>,
    idle: Condvar,
}

impl Listeners {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding the lock; recover the data regardless.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Step 1.
    pub(crate) fn add(&self, event: usize, callback: FFICallBack, user_data: UserData) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.listeners.push(Listener {
            id,
            event,
            callback,
            user_data,
        });
        id
    }

    /// Whether anyone listens to `event` (skips encoding when no one does).
    pub(crate) fn any(&self, event: usize) -> bool {
        self.lock().listeners.iter().any(|l| l.event == event)
    }

    /// Step 2, on the loop thread.
    pub(crate) fn emit(&self, event: usize, payload: &[u8]) -> usize {
        let ids: Vec<u64> = self
            .lock()
            .listeners
            .iter()
            .filter(|l| l.event == event)
            .map(|l| l.id)
            .collect();
        let mut delivered = 0;
        for id in ids {
            let target = {
                let mut inner = self.lock();
                let found = inner
                    .listeners
                    .iter()
                    .find(|l| l.id == id)
                    .map(|l| (l.callback, l.user_data));
                if found.is_some() {
                    inner.invoking = id;
                }
                found
            };
            let Some((callback, user_data)) = target else {
                continue;
            };
            crate::abi::invoke(callback, true, payload, user_data);
            delivered += 1;
            let mut inner = self.lock();
            inner.invoking = 0;
            if inner.waiters > 0 {
                self.idle.notify_all();
            }
        }
        delivered
    }

    /// Step 3; without `may_wait` it does not wait for a running listener.
    /// Returns `false` for an unknown id.
    pub(crate) fn remove(&self, id: u64, may_wait: bool) -> bool {
        let mut inner = self.lock();
        let Some(position) = inner.listeners.iter().position(|l| l.id == id) else {
            return false;
        };
        inner.listeners.remove(position);
        if may_wait {
            while inner.invoking == id {
                inner.waiters += 1;
                inner = self.idle.wait(inner).unwrap_or_else(|e| e.into_inner());
                inner.waiters -= 1;
            }
        }
        true
    }
}
