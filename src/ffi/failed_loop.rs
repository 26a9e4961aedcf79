//! The failed-loop path (`context::event_loop`, the protocol's last
//! paragraph), which no host can reach: the dispatcher is made to panic on
//! a request to the test library's `dispatcher_fault`, and the context must
//! then answer every request exactly once (that one `RET_PANIC`, the
//! others `RET_SHUTTING_DOWN`), refuse new ones with
//! `HC_ERR_SHUTTING_DOWN`, and still be destroyed cleanly.

use std::ffi::{c_char, c_int, c_void};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::abi::status::*;
use crate::context::event_loop::FAULT_METHOD as FAULT;

mod lib {
    hostcall::host_fn! {
        /// Never answered by the test: still pending when the loop fails.
        pub fn hold() -> u64;
    }

    /// Awaits `hold`.
    #[hostcall::handler]
    pub async fn wait_host() -> Result<u64, String> {
        hold().await.map_err(|e| e.to_string())
    }

    /// Never runs: the dispatcher panics on its request first.
    #[hostcall::handler]
    pub fn dispatcher_fault() -> Result<u64, String> {
        Ok(0)
    }

    hostcall::export! {
        prefix = "loopfault",
        handlers = [wait_host, dispatcher_fault],
        host_fns = [hold],
    }
}

/// A reply: its outcome code and text.
type Reply = (c_int, String);

/// What the callbacks saw (replies, host call tokens), and a condition
/// variable to wait on it.
#[derive(Default)]
struct Seen {
    state: Mutex<(Vec<Reply>, Vec<u64>)>,
    changed: Condvar,
}

impl Seen {
    /// Waits (at most 10 s) until `done` holds of the replies and tokens.
    fn wait(&self, what: &str, done: impl Fn(&[Reply], &[u64]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut state = self.state.lock().unwrap();
        while !done(&state.0, &state.1) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "timed out waiting for {what}");
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }
}

unsafe extern "C" fn on_reply(ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void) {
    // SAFETY: the library passes `len` readable bytes (or NULL with 0),
    // and `user_data` is the test's `Seen`, alive until after destroy.
    let (text, seen) = unsafe {
        let bytes = if msg.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(msg.cast::<u8>(), len)
        };
        (
            String::from_utf8_lossy(bytes).into_owned(),
            &*user_data.cast::<Seen>(),
        )
    };
    // Never a panic out of a callback: a poisoned lock is still usable.
    let mut state = seen.state.lock().unwrap_or_else(|e| e.into_inner());
    state.0.push((ret, text));
    drop(state);
    seen.changed.notify_all();
}

unsafe extern "C" fn on_hold(token: u64, _req: *const c_char, _len: usize, user_data: *mut c_void) {
    // SAFETY: `user_data` is the test's `Seen`, alive until after destroy.
    let seen = unsafe { &*user_data.cast::<Seen>() };
    let mut state = seen.state.lock().unwrap_or_else(|e| e.into_inner());
    state.1.push(token);
    drop(state);
    seen.changed.notify_all();
}

/// `loopfault_call(ctx, method, [])` with the reply going to `seen`.
fn call(ctx: *mut c_void, method: &std::ffi::CStr, seen: &Seen) -> c_int {
    let no_args = [0x80u8];
    // SAFETY: a NUL-terminated method, a live buffer, and a `Seen` that
    // outlives the context.
    unsafe {
        lib::loopfault_call(
            ctx,
            method.as_ptr(),
            no_args.as_ptr().cast(),
            no_args.len(),
            Some(on_reply),
            std::ptr::from_ref(seen).cast_mut().cast(),
        )
    }
}

#[test]
fn a_failed_loop_answers_everything_once_and_refuses_new_work() {
    let seen = Seen::default();
    let user_data = std::ptr::from_ref(&seen).cast_mut().cast();
    // SAFETY: no config (defaults).
    let ctx = unsafe { lib::loopfault_new(std::ptr::null(), 0) };
    assert!(!ctx.is_null());
    // SAFETY: a live context, a NUL-terminated name, `seen` outlives it.
    let status =
        unsafe { lib::loopfault_register_host_fn(ctx, c"hold".as_ptr(), Some(on_hold), user_data) };
    assert_eq!(status, HC_OK);

    // A request with a host call pending, then the fault.
    assert_eq!(call(ctx, c"wait_host", &seen), HC_OK);
    seen.wait("the host call", |_, tokens| tokens.len() == 1);
    assert_eq!(call(ctx, c"dispatcher_fault", &seen), HC_OK);
    seen.wait("both replies", |replies, _| replies.len() == 2);

    // New work is refused once the loop has marked the context failed;
    // what was accepted before that is answered, once each.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut accepted = 2;
    loop {
        match call(ctx, c"wait_host", &seen) {
            HC_OK => accepted += 1,
            HC_ERR_SHUTTING_DOWN => break,
            other => panic!("call on a failed context: status {other}"),
        }
        assert!(
            Instant::now() < deadline,
            "the context never refused new work"
        );
        std::thread::yield_now();
    }
    let mut text = [0u8; 256];
    // SAFETY: a buffer of `text.len()` bytes.
    let len = unsafe { lib::loopfault_last_error(text.as_mut_ptr().cast(), text.len()) };
    let text = String::from_utf8_lossy(&text[..len.min(text.len())]).into_owned();
    assert!(text.contains("event loop has failed"), "{text}");
    seen.wait("a reply to every accepted call", |replies, _| {
        replies.len() == accepted
    });

    // SAFETY: a live context, destroyed once, off its loop thread.
    assert_eq!(unsafe { lib::loopfault_destroy(ctx) }, HC_OK);
    assert_eq!(call(ctx, c"wait_host", &seen), HC_ERR_INVALID_CONTEXT);
    let state = seen.state.lock().unwrap();
    assert_eq!(
        state.0.len(),
        accepted,
        "one reply per accepted call, none after destroy"
    );
    // The request in hand when the dispatcher panicked ends as a panic
    // (its reply is dropped while unwinding); every other one, the
    // pending host call's included, as teardown's.
    let panicked = (RET_PANIC, format!("handler '{FAULT}' panicked"));
    assert_eq!(
        state.0.iter().filter(|reply| **reply == panicked).count(),
        1
    );
    for (ret, text) in state.0.iter().filter(|reply| **reply != panicked) {
        assert_eq!(
            (*ret, text.as_str()),
            (RET_SHUTTING_DOWN, "context shutting down")
        );
    }
    assert_eq!(state.1.len(), 1, "no host fn runs on a failed context");
}
