//! Callbacks collected per id: replies and events as received, and the
//! waits on them — on a condition variable, with a deadline, never a sleep.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hostcall::status::RET_OK;

use crate::abi::payload;

/// How long any wait of the kit waits before it fails the test.
pub const WAIT: Duration = Duration::from_secs(30);

/// A reply or event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The outcome code.
    pub ret: i32,
    /// The payload (CBOR, or error text).
    pub bytes: Vec<u8>,
    /// The thread the callback ran on.
    pub thread: std::thread::ThreadId,
}

impl Received {
    /// The payload as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The payload decoded from CBOR; panics unless it is `RET_OK`.
    pub fn value<T: serde::de::DeserializeOwned>(&self) -> T {
        assert_eq!(
            self.ret,
            RET_OK,
            "expected RET_OK, got error: {}",
            self.text()
        );
        hostcall::wire::from_cbor(&self.bytes).expect("reply decodes")
    }

    /// The typed error decoded from CBOR; panics unless it is
    /// `RET_ERR_TYPED`.
    pub fn typed_error<E: hostcall::TypedError>(&self) -> E {
        assert_eq!(
            self.ret,
            hostcall::status::RET_ERR_TYPED,
            "expected RET_ERR_TYPED, got {}: {}",
            self.ret,
            self.text()
        );
        hostcall::wire::from_cbor(&self.bytes).expect("the typed error decodes")
    }
}

/// Collects callbacks keyed by an id carried in `user_data`.
#[derive(Default)]
pub struct Sink {
    got: Mutex<HashMap<u64, Vec<Received>>>,
    changed: Condvar,
}

impl Sink {
    /// An empty sink, shared.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records `received` under `id` and wakes the waiters.
    pub(crate) fn push(&self, id: u64, received: Received) {
        self.got
            .lock()
            .unwrap()
            .entry(id)
            .or_default()
            .push(received);
        self.changed.notify_all();
    }

    /// Waits until `id` has at least `n` entries; returns them.
    pub fn wait_for(&self, id: u64, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        let mut got = self.got.lock().unwrap();
        loop {
            let have = got.get(&id).map_or(0, Vec::len);
            if have >= n {
                return got[&id].clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {n} callbacks on id {id} (have {have})"
            );
            got = self.changed.wait_timeout(got, left).unwrap().0;
        }
    }

    /// Waits until every id in `ids` has exactly one entry... or more.
    pub fn wait_all(&self, ids: impl IntoIterator<Item = u64>) {
        for id in ids {
            self.wait_for(id, 1);
        }
    }

    /// Entries under `id` so far.
    pub fn count(&self, id: u64) -> usize {
        self.got.lock().unwrap().get(&id).map_or(0, Vec::len)
    }

    /// A copy of everything received.
    pub fn snapshot(&self) -> HashMap<u64, Vec<Received>> {
        self.got.lock().unwrap().clone()
    }
}

/// A fresh id for a call or listener (process-wide, never 0).
pub fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Code a test runs inside a callback.
pub type Hook = Box<dyn Fn(&Received) + Send + Sync>;

/// What a callback's `user_data` points at.
pub struct Target {
    /// Where the callback records.
    pub sink: Arc<Sink>,
    /// Under which id.
    pub id: u64,
    /// Runs inside the callback, after recording (for re-entrancy tests).
    pub then: Option<Hook>,
}

/// The `FFICallBack` for a `Target`: runs its hook, then records.
///
/// # Safety
/// `user_data` must point at a live `Target`; `msg` must be NULL or valid for
/// reads of `len` bytes during the call.
pub unsafe extern "C" fn on_callback(
    ret: c_int,
    msg: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: `user_data` is a `Target` the test keeps alive for the whole
    // context's life (see `Client`), and `msg` is valid for `len` bytes
    // during this call (contract 5).
    let (target, bytes) = unsafe { (&*(user_data as *const Target), payload(msg, len).to_vec()) };
    let received = Received {
        ret,
        bytes,
        thread: std::thread::current().id(),
    };
    // Run the test's hook first, so a test that waits for the reply also
    // sees the hook's effects.
    if let Some(then) = &target.then {
        then(&received);
    }
    target.sink.push(target.id, received);
}

macro_rules! typed_callback {
    ($name:ident, $t:ty) => {
        /// A typed native reply: records `value` (as text) or the error text
        /// under the `Target`'s id.
        ///
        /// # Safety
        /// `user_data` must point at a live `Target`; `err` must be NULL or
        /// valid for reads of `err_len` bytes during the call.
        pub unsafe extern "C" fn $name(
            ret: c_int,
            value: $t,
            err: *const c_char,
            err_len: usize,
            user_data: *mut c_void,
        ) {
            // SAFETY: `user_data` is a live `Target`; `err` is valid for
            // `err_len` bytes when non-null (contract 5).
            let target = unsafe { &*(user_data as *const Target) };
            let bytes = if err.is_null() {
                assert_eq!(ret, RET_OK, "RET_ERR must carry error text");
                value.to_string().into_bytes()
            } else {
                // SAFETY: see above.
                unsafe { std::slice::from_raw_parts(err.cast::<u8>(), err_len) }.to_vec()
            };
            let received = Received {
                ret,
                bytes,
                thread: std::thread::current().id(),
            };
            target.sink.push(target.id, received);
        }
    };
}

typed_callback!(on_i64, i64);
typed_callback!(on_u64, u64);
typed_callback!(on_f64, f64);
typed_callback!(on_bool, bool);
