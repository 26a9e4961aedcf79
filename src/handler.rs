//! Requests: from a decoded call to exactly one reply.
//!
//! # Protocol
//!
//! 1. `<lib>_call` (host thread) finds the handler and runs its generated
//!    `decode`, which turns the CBOR arguments into an [`Invocation`]: a
//!    closure holding the typed arguments. A decode error becomes the
//!    request's error reply instead.
//! 2. The request, owning a [`ReplyTo`], goes through the inbox to the loop.
//! 3. The loop runs a synchronous handler at once; an async one becomes a
//!    local task. Either way a panic is caught and becomes an error reply.
//! 4. The handler's result is encoded and passed to the reply callback, once.
//!    A [`ReplyTo`] that is dropped without replying (its task was dropped
//!    because the context is shutting down) replies `context shutting down`
//!    from its destructor, so every accepted request gets exactly one reply.

use std::any::Any;
use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;

use crate::abi::{FFICallBack, UserData};

/// What a handler produced: CBOR bytes, or error text.
pub type Reply = Result<Vec<u8>, String>;

/// A decoded request, ready to run on the loop thread.
pub enum Invocation {
    /// A synchronous handler: runs to completion when called.
    Sync(Box<dyn FnOnce() -> Reply + Send>),
    /// An async handler: produces the future to drive.
    Async(Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Reply>>> + Send>),
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Invocation::Sync(_) => "Invocation::Sync",
            Invocation::Async(_) => "Invocation::Async",
        })
    }
}

/// Encodes an infallible handler's result.
pub fn reply_value<T: Serialize>(value: T) -> Reply {
    crate::wire::to_cbor(&value).map_err(|e| format!("the result could not be encoded: {e}"))
}

/// Encodes a fallible handler's result.
pub fn reply_result<T: Serialize, E: Display>(result: Result<T, E>) -> Reply {
    match result {
        Ok(value) => reply_value(value),
        Err(error) => Err(error.to_string()),
    }
}

/// The error text substituted for an empty one, so a `RET_ERR` callback
/// always gets something to show.
const EMPTY_ERROR: &str = "unknown error";

/// The reply a request gets when the context is destroyed before it finished.
pub(crate) const SHUTTING_DOWN: &str = "context shutting down";

/// Where a request's one reply goes.
pub(crate) struct ReplyTo {
    /// `None` once the reply was sent.
    target: Option<(FFICallBack, UserData)>,
}

impl ReplyTo {
    pub(crate) fn new(callback: FFICallBack, user_data: UserData) -> Self {
        Self {
            target: Some((callback, user_data)),
        }
    }

    /// Sends the reply (step 4). Loop thread only.
    pub(crate) fn send(mut self, reply: Reply) {
        if let Some((callback, user_data)) = self.target.take() {
            match reply {
                Ok(bytes) => crate::abi::invoke(callback, true, &bytes, user_data),
                Err(text) => {
                    let text = if text.is_empty() { EMPTY_ERROR } else { &text };
                    crate::abi::invoke(callback, false, text.as_bytes(), user_data);
                }
            }
        }
    }
}

impl Drop for ReplyTo {
    fn drop(&mut self) {
        if let Some((callback, user_data)) = self.target.take() {
            crate::abi::invoke(callback, false, SHUTTING_DOWN.as_bytes(), user_data);
        }
    }
}

/// The error text of a caught panic.
pub(crate) fn panic_text(method: &str, payload: &(dyn Any + Send)) -> String {
    let detail = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload");
    format!("handler '{method}' panicked: {detail}")
}

/// Runs a synchronous handler, turning a panic into an error reply.
pub(crate) fn run_sync(method: &str, run: Box<dyn FnOnce() -> Reply + Send>) -> Reply {
    catch_unwind(AssertUnwindSafe(run)).unwrap_or_else(|payload| Err(panic_text(method, &*payload)))
}

/// Drives an async handler's future, turning a panic into an error reply.
/// After a panic the future is dropped, never polled again.
pub(crate) struct CatchUnwind {
    method: &'static str,
    future: Option<Pin<Box<dyn Future<Output = Reply>>>>,
}

impl CatchUnwind {
    pub(crate) fn new(
        method: &'static str,
        make: Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Reply>>> + Send>,
    ) -> Self {
        match catch_unwind(AssertUnwindSafe(make)) {
            Ok(future) => Self {
                method,
                future: Some(future),
            },
            Err(payload) => {
                let text = panic_text(method, &*payload);
                Self {
                    method,
                    future: Some(Box::pin(std::future::ready(Err(text)))),
                }
            }
        }
    }
}

impl Future for CatchUnwind {
    type Output = Reply;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Reply> {
        let method = self.method;
        let Some(future) = self.future.as_mut() else {
            return Poll::Ready(Err(format!("handler '{method}' polled after it finished")));
        };
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(reply)) => {
                self.future = None;
                Poll::Ready(reply)
            }
            Err(payload) => {
                self.future = None;
                Poll::Ready(Err(panic_text(method, &*payload)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_encode_as_cbor_and_errors_as_text() {
        assert_eq!(reply_value(7u8), Ok(vec![7]));
        assert_eq!(reply_result::<u8, _>(Err("nope")), Err("nope".to_owned()));
        assert_eq!(reply_value(()), Ok(crate::wire::CBOR_NULL.to_vec()));
    }

    #[test]
    fn panics_become_error_text() {
        let reply = run_sync("m", Box::new(|| panic!("boom {}", 1)));
        assert_eq!(reply, Err("handler 'm' panicked: boom 1".to_owned()));
        let reply = run_sync("m", Box::new(|| std::panic::panic_any(5u8)));
        assert_eq!(
            reply,
            Err("handler 'm' panicked: non-string panic payload".to_owned())
        );
    }

    #[test]
    fn async_panics_become_error_text() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let reply = runtime.block_on(CatchUnwind::new(
            "a",
            Box::new(|| {
                Box::pin(async {
                    tokio::task::yield_now().await;
                    panic!("late")
                })
            }),
        ));
        assert_eq!(reply, Err("handler 'a' panicked: late".to_owned()));
    }
}
