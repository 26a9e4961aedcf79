//! Where replies land: how many (a [`Counter`]), their decoded sum, and any
//! errors; and the reply callback that records into them.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hostcall::status::RET_OK;
use hostcall_testkit::payload;

use super::cbor;
use super::counter::Counter;

/// Reads a reply's `RET_OK` payload into a number to sum (or `None`: bad).
pub type Decode = fn(&[u8]) -> Option<u64>;

/// Where replies land: how many, their decoded sum, and any errors.
pub struct Replies {
    /// Replies received.
    pub done: Counter,
    errors: AtomicU64,
    sum: AtomicU64,
    first_error: Mutex<Option<String>>,
    decode: Decode,
}

impl Replies {
    /// Replies whose payloads `decode` reads.
    pub fn new(decode: Decode) -> Arc<Self> {
        Arc::new(Self {
            done: Counter::default(),
            errors: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            first_error: Mutex::new(None),
            decode,
        })
    }

    /// Replies whose payload is one unsigned integer.
    pub fn uint() -> Arc<Self> {
        Self::new(cbor::read_uint)
    }

    /// Error replies so far (`RET_ERR`, or a payload that did not decode).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Acquire)
    }

    /// The first error's text.
    pub fn first_error(&self) -> Option<String> {
        self.first_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The sum of the decoded replies.
    pub fn sum(&self) -> u64 {
        self.sum.load(Ordering::Acquire)
    }

    /// Panics if any reply was an error (a broken bench must not report).
    pub fn check(&self) {
        assert_eq!(
            self.errors(),
            0,
            "a reply failed: {}",
            self.first_error().unwrap_or_default()
        );
    }

    fn record(&self, ret: c_int, bytes: &[u8]) {
        let value = if ret == RET_OK {
            (self.decode)(bytes)
        } else {
            None
        };
        self.record_value(ret, value, bytes);
    }

    /// Records a reply already decoded (a native entry point's typed
    /// callback): `value` on success, else `error` is the error text.
    pub fn record_value(&self, ret: c_int, value: Option<u64>, error: &[u8]) {
        let bytes = error;
        match value {
            Some(value) => {
                self.sum.fetch_add(value, Ordering::Relaxed);
            }
            None => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
                if first.is_none() {
                    *first = Some(format!(
                        "ret {ret}: {}",
                        String::from_utf8_lossy(bytes).into_owned()
                    ));
                }
            }
        }
        self.done.add(1);
    }
}

/// The reply callback whose user data is a [`Replies`].
///
/// # Safety
/// `user_data` must point at a live `Replies`; `msg` must be valid for `len`
/// bytes (or NULL with `len == 0`).
pub unsafe extern "C" fn on_reply(
    ret: c_int,
    msg: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: the caller's obligations above; the library passes a payload
    // valid for the duration of the callback.
    let (replies, bytes) = unsafe { (&*user_data.cast::<Replies>(), payload(msg, len)) };
    replies.record(ret, bytes);
}
