//! Withdrawable requests: where a cancellable request's one reply goes,
//! shared by the request and `<lib>_cancel_call`.
//!
//! 1. `<lib>_call_cancellable` takes a fresh id (never reused in the
//!    context's life), writes it to the caller's `*call_id`, and only then
//!    opens a [`Route`] in the context's [`Routes`] with the reply's
//!    destination — so no cancel can find the request, and no reply can
//!    run, before the caller's id is written. The request's `ReplyTo`
//!    holds the route instead of the destination.
//! 2. Whoever takes the destination out of the route first owns the one
//!    reply, under the route's lock: the request when it replies (its real
//!    reply, or "context shutting down" at teardown), or `cancel_call`.
//! 3. `cancel_call` that took it returns `HC_OK` and queues `Msg::Cancel`:
//!    the loop thread replies `RET_CANCELLED` with the destination it was
//!    handed and aborts the request's task, which tokio drops on its next
//!    turn (its pending host calls are cancelled by their destructors; a
//!    completion that arrives before that is accepted and dropped with the
//!    task, so each token still ends once). A request that replied first
//!    leaves nothing to take: `cancel_call` returns `HC_ERR_UNKNOWN_TOKEN`.
//! 4. Taking the destination also removes the route from the table, so the
//!    table holds only requests that have not replied.
//!
//! A request's pending count (`max_pending_requests`) is released once:
//! by its reply when the request owned it, by the cancel otherwise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::Callback;
use crate::abi::UserData;

/// Where a cancellable request's reply goes until someone takes it.
pub(crate) struct Route {
    /// The request's call id.
    pub(crate) id: u64,
    /// The handler's name, for the cancelled reply's text.
    pub(crate) method: &'static &'static str,
    /// The destination; `None` once taken (step 2).
    target: Mutex<Option<(Callback, UserData)>>,
    /// The table to leave when taken (step 4); weak, so a route held by a
    /// task does not keep a destroyed context's table alive.
    table: Weak<Routes>,
}

impl Route {
    /// Step 2: takes the destination, if no one has; leaves the table.
    pub(crate) fn take(&self) -> Option<(Callback, UserData)> {
        let target = self.target.lock().unwrap_or_else(|e| e.into_inner()).take();
        if target.is_some()
            && let Some(table) = self.table.upgrade()
        {
            table.live().remove(&self.id);
        }
        target
    }

    /// Whether the destination was taken (the request was withdrawn, or
    /// has replied).
    pub(crate) fn is_taken(&self) -> bool {
        self.target
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
    }
}

/// A context's cancellable requests that have not replied, by call id.
#[derive(Default)]
pub(crate) struct Routes {
    next_id: AtomicU64,
    live: Mutex<HashMap<u64, Arc<Route>>>,
}

impl Routes {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Route>>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Step 1, first half: a fresh id, not yet in the table — so the
    /// caller can publish it (`*call_id`) before any cancel can find it.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Step 1, second half: the route of request `id` to `callback`, in the
    /// table from now on.
    pub(crate) fn open(
        self: &Arc<Self>,
        id: u64,
        callback: Callback,
        user_data: UserData,
        method: &'static &'static str,
    ) -> Arc<Route> {
        let route = Arc::new(Route {
            id,
            method,
            target: Mutex::new(Some((callback, user_data))),
            table: Arc::downgrade(self),
        });
        self.live().insert(id, Arc::clone(&route));
        route
    }

    /// Step 3: takes request `id`'s destination for the cancelled reply;
    /// `None` if the id is unknown or the request has replied.
    pub(crate) fn cancel(&self, id: u64) -> Option<(Arc<Route>, Callback, UserData)> {
        let route = self.live().get(&id).cloned()?;
        let (callback, user_data) = route.take()?;
        Some((route, callback, user_data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn ignore(
        _: i32,
        _: *const std::ffi::c_char,
        _: usize,
        _: *mut std::ffi::c_void,
    ) {
    }

    const METHOD: &str = "m";

    #[test]
    fn the_destination_is_taken_once_and_ids_are_fresh() {
        let routes = Arc::new(Routes::default());
        let open = || {
            let id = routes.next_id();
            routes.open(
                id,
                Callback::Bytes(ignore),
                UserData(std::ptr::null_mut()),
                &METHOD,
            )
        };
        let (a, b) = (open(), open());
        assert_ne!(a.id, b.id);
        assert!(a.take().is_some(), "the reply takes it");
        assert!(routes.cancel(a.id).is_none(), "nothing left to cancel");
        assert!(routes.cancel(b.id).is_some(), "the cancel takes it");
        assert!(b.take().is_none(), "the late reply finds it taken");
        assert!(routes.cancel(b.id).is_none() && routes.cancel(999).is_none());
        assert!(routes.live().is_empty(), "taken routes leave the table");
        let c = open();
        assert!(c.id > b.id, "ids are never reused");
    }
}
