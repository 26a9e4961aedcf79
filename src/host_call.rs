//! `HostCall`: the future a `host_fn!` function returns.
//!
//! # Protocol
//!
//! 1. **Create**: the arguments are encoded at once; nothing else happens
//!    until the first poll (futures are lazy).
//! 2. **Start** (first poll, loop thread): refuse at once if there is no
//!    context on this thread, the context is closing, the host fn is not
//!    registered, or `max_in_flight` calls are outstanding. Otherwise allocate
//!    a token and invoke the host fn with no lock held, the token and the
//!    request it serves on record for `<lib>_host_call_origin` meanwhile.
//! 3. **Inline completion**: if the host completed the token from inside the
//!    host fn, the result is already parked in the slot: return it from this
//!    same poll, without a wake-up. Any completion is decoded by
//!    [`HostOutcome`]: `RET_OK` as `T`, `RET_ERR` as [`HostError::Host`],
//!    `RET_ERR_TYPED` as the host fn's declared error type.
//! 4. **Wait**: record the waker (and arm the timeout, if any). Each later
//!    poll takes the parked completion if it has arrived.
//! 5. **Timeout**: cancel exactly as a drop does (step 6) and fail with
//!    [`HostError::TimedOut`]. If the host had already claimed the token, its
//!    answer is on its way and is waited for instead.
//! 6. **Drop** before completion: cancel the token (in-flight protocol step
//!    4). If it was still pending, the host's cancel notifier is invoked.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{FFIHostCancelFn, UserData};
use crate::context::event_loop::LoopState;
use std::ffi::c_int;

use crate::abi::status::{RET_ERR, RET_ERR_TYPED, RET_OK};
use crate::core::inflight::{Answer, Cancel, Completion};
use crate::error::HostError;
use crate::library::HostFnDef;
use crate::library::describe::TypedError;

/// A call into the host, awaiting its typed result.
///
/// Returned by the functions `host_fn!` declares. Runs on the context's loop
/// thread (it is `!Send`); dropping it before it finishes cancels the call.
///
/// `E` is the host fn's declared error type: [`Untyped`] for a host fn
/// declared `-> T` (it yields `Result<T, HostError>`, the host's error text
/// being [`HostError::Host`]), or a [`TypedError`] for one declared
/// `-> Result<T, E>` (it yields `Result<Result<T, E>, HostError>`: the
/// inner error is what the host completed with, `RET_ERR_TYPED`; the outer
/// one is everything else).
#[must_use = "a host call does nothing until it is awaited"]
pub struct HostCall<T, E = Untyped> {
    def: &'static HostFnDef,
    /// `None`: the context's `host_call_timeout_ms`.
    timeout: Option<Option<Duration>>,
    stage: Stage,
    _result: PhantomData<fn() -> (T, E)>,
}

/// The error type of a host fn declared without one: its host fails with
/// text. Has no values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untyped {}

/// What a host call with error type `Self` and success type `T` yields, and
/// how a completion becomes it.
pub trait HostOutcome<T>: Sized + 'static {
    /// `T` for [`Untyped`]; `Result<T, Self>` for a typed error.
    type Output;

    /// The answer the host gave (`ret`: `RET_OK`, `RET_ERR` or
    /// `RET_ERR_TYPED`, as `host_complete` accepted it), decoded.
    #[doc(hidden)]
    fn decode(
        def: &'static HostFnDef,
        ret: c_int,
        payload: &[u8],
    ) -> Result<Self::Output, HostError>;
}

impl<T: DeserializeOwned> HostOutcome<T> for Untyped {
    type Output = T;

    fn decode(def: &'static HostFnDef, ret: c_int, payload: &[u8]) -> Result<T, HostError> {
        match ret {
            RET_OK => value(def, payload),
            RET_ERR_TYPED => Err(HostError::BadReply {
                name: def.name,
                reason: "a typed error (RET_ERR_TYPED) from a host fn that declares no error type"
                    .to_owned(),
            }),
            _ => Err(host_text(payload)),
        }
    }
}

impl<T: DeserializeOwned, E: TypedError> HostOutcome<T> for E {
    type Output = Result<T, E>;

    fn decode(
        def: &'static HostFnDef,
        ret: c_int,
        payload: &[u8],
    ) -> Result<Result<T, E>, HostError> {
        match ret {
            RET_OK => value(def, payload).map(Ok),
            RET_ERR_TYPED => {
                crate::wire::from_cbor(payload)
                    .map(Err)
                    .map_err(|reason| HostError::BadReply {
                        name: def.name,
                        reason: format!("not a valid {}: {reason}", E::NAME),
                    })
            }
            _ => Err(host_text(payload)),
        }
    }
}

/// The error type of a host call whose answer is passed on undecoded, as
/// `(ret, payload)` (an isolated context forwarding the helper's host call,
/// `remote::proxy`). Has no values.
pub(crate) enum Raw {}

impl HostOutcome<()> for Raw {
    type Output = (c_int, Vec<u8>);

    fn decode(
        _def: &'static HostFnDef,
        ret: c_int,
        payload: &[u8],
    ) -> Result<(c_int, Vec<u8>), HostError> {
        Ok((ret, payload.to_vec()))
    }
}

/// A completion, decoded for a call of error type `E`.
fn decode<T, E: HostOutcome<T>>(
    def: &'static HostFnDef,
    completion: Completion,
) -> Result<E::Output, HostError> {
    let ret = match completion.answer {
        Answer::Value => RET_OK,
        Answer::Error => RET_ERR,
        Answer::Typed => RET_ERR_TYPED,
    };
    E::decode(def, ret, &completion.payload)
}

fn value<T: DeserializeOwned>(def: &'static HostFnDef, payload: &[u8]) -> Result<T, HostError> {
    crate::wire::from_cbor(payload).map_err(|reason| HostError::BadReply {
        name: def.name,
        reason,
    })
}

fn host_text(payload: &[u8]) -> HostError {
    HostError::Host(String::from_utf8_lossy(payload).into_owned())
}

enum Stage {
    New(Result<Vec<u8>, String>),
    Waiting(Waiting),
    Done,
}

/// A host call between start and completion. Kept small: every in-flight
/// call holds one, inside its handler's future.
struct Waiting {
    state: Rc<LoopState>,
    token: u64,
    cancel: Option<(FFIHostCancelFn, UserData)>,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Cleared once the token's use is over (taken, or cancelled).
    live: bool,
}

/// The span of one host call; events after the invocation re-enter it.
fn span(def: &HostFnDef, token: u64) -> tracing::Span {
    tracing::debug_span!("host_call", name = def.name, token)
}

impl<T, E: HostOutcome<T>> HostCall<T, E> {
    /// A call of `def` with `args` (a tuple, encoded as a CBOR array).
    pub fn new<A: Serialize>(def: &'static HostFnDef, args: &A) -> Self {
        Self {
            def,
            timeout: None,
            stage: Stage::New(crate::wire::to_cbor(args)),
            _result: PhantomData,
        }
    }

    /// A call of `def` whose arguments are CBOR already.
    pub(crate) fn from_cbor(def: &'static HostFnDef, args: Vec<u8>) -> Self {
        Self {
            def,
            timeout: None,
            stage: Stage::New(Ok(args)),
            _result: PhantomData,
        }
    }

    /// Overrides the context's default timeout for this call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }

    /// Waits for the host without a timeout, whatever the context's default.
    pub fn without_timeout(mut self) -> Self {
        self.timeout = Some(None);
        self
    }

    /// The timeout this call runs under.
    fn timeout(&self, state: &LoopState) -> Option<Duration> {
        self.timeout
            .unwrap_or(state.shared.config.host_call_timeout)
    }

    /// Step 2 (and 3).
    fn start(
        &mut self,
        args: Result<Vec<u8>, String>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<E::Output, HostError>> {
        let name = self.def.name;
        let Some(state) = LoopState::current() else {
            return Poll::Ready(Err(HostError::NoContext { name }));
        };
        let shared = &state.shared;
        if shared.is_closing() {
            return Poll::Ready(Err(HostError::ShuttingDown));
        }
        let Some(index) = shared.library.host_fn_index(self.def) else {
            return Poll::Ready(Err(HostError::NotExported { name }));
        };
        let Some(entry) = state.host_fn(index) else {
            return Poll::Ready(Err(HostError::NotRegistered { name }));
        };
        let args = match args {
            Ok(args) => args,
            Err(reason) => return Poll::Ready(Err(HostError::BadArguments { name, reason })),
        };
        let Some(token) = state.allocate() else {
            return Poll::Ready(Err(HostError::Overloaded {
                name,
                limit: shared.config.max_in_flight,
            }));
        };
        span(self.def, token).in_scope(|| {
            tracing::debug!(len = args.len(), "invoking host fn");
            state.invoking(token, || {
                // SAFETY: the host registered `func` for this host fn; `args`
                // is valid for `len` bytes during the call (contract 5). No
                // lock or borrow is held, so the host may re-enter any entry
                // point.
                unsafe { (entry.func)(token, args.as_ptr().cast(), args.len(), entry.user_data.0) };
            });
        });
        crate::wire::buffers::give(args);
        // Step 3: completed inline, inside the host fn.
        if let Some(completion) = state.take(token) {
            span(self.def, token).in_scope(
                || tracing::debug!(answer = ?completion.answer, "host call completed inline"),
            );
            return Poll::Ready(decode::<T, E>(self.def, completion));
        }
        let deadline = self
            .timeout(&state)
            .map(|after| Box::pin(tokio::time::sleep(after)));
        self.stage = Stage::Waiting(Waiting {
            state,
            token,
            cancel: entry.cancel.map(|cancel| (cancel, entry.user_data)),
            deadline,
            live: true,
        });
        self.poll_waiting(cx)
    }

    /// Steps 4 and 5, polling the waiting stage in place.
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Poll<Result<E::Output, HostError>> {
        let Stage::Waiting(waiting) = &mut self.stage else {
            unreachable!("only called while waiting")
        };
        let result = match waiting.poll(self.def, cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(completion)) => decode::<T, E>(self.def, completion),
            Poll::Ready(Err(TimedOut)) => {
                let after = self
                    .timeout
                    .unwrap_or(waiting.state.shared.config.host_call_timeout)
                    .unwrap_or_default();
                Err(HostError::TimedOut {
                    name: self.def.name,
                    after,
                })
            }
        };
        self.stage = Stage::Done;
        Poll::Ready(result)
    }
}

/// The outcome of a timeout that really cancelled the call.
struct TimedOut;

impl Waiting {
    fn take(&mut self, def: &HostFnDef) -> Option<Completion> {
        let completion = self.state.take(self.token)?;
        self.live = false;
        span(def, self.token).in_scope(|| {
            tracing::debug!(
                answer = ?completion.answer,
                len = completion.payload.len(),
                "host call completed"
            )
        });
        Some(completion)
    }

    /// Steps 4 and 5.
    fn poll(
        &mut self,
        def: &HostFnDef,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Completion, TimedOut>> {
        if let Some(completion) = self.take(def) {
            return Poll::Ready(Ok(completion));
        }
        if let Some(sleep) = &mut self.deadline
            && sleep.as_mut().poll(cx).is_ready()
        {
            self.deadline = None;
            if self.cancel_token(def, false) {
                span(def, self.token).in_scope(|| tracing::debug!("host call timed out"));
                return Poll::Ready(Err(TimedOut));
            }
            if let Some(completion) = self.take(def) {
                return Poll::Ready(Ok(completion));
            }
        }
        self.state.set_waker(self.token, cx.waker());
        Poll::Pending
    }

    /// Step 6, and step 5 with `abandon == false`. Returns `true` when the
    /// token was still pending, i.e. the call really was cancelled.
    fn cancel_token(&mut self, def: &HostFnDef, abandon: bool) -> bool {
        match self.state.cancel(self.token, abandon) {
            Cancel::Cancelled => {
                self.live = false;
                if let Some((notify, user_data)) = self.cancel {
                    span(def, self.token).in_scope(|| {
                        tracing::debug!("notifying the host of the cancellation");
                        // SAFETY: the host registered `notify` with this user
                        // data as the cancel notifier of this host fn. No lock
                        // is held.
                        unsafe { notify(self.token, user_data.0) };
                    });
                }
                true
            }
            // The host already answered. Abandoned, its completion releases
            // the slot on arrival; otherwise we keep waiting for it.
            Cancel::Claimed => {
                self.live = !abandon;
                false
            }
            Cancel::Completed => {
                self.live = false;
                false
            }
        }
    }
}

impl<T, E> Drop for HostCall<T, E> {
    /// Step 6: a host call dropped before it finished is cancelled.
    fn drop(&mut self) {
        if let Stage::Waiting(waiting) = &mut self.stage
            && waiting.live
        {
            waiting.cancel_token(self.def, true);
        }
    }
}

impl<T, E: HostOutcome<T>> Future for HostCall<T, E> {
    type Output = Result<E::Output, HostError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match &mut this.stage {
            Stage::Waiting(_) => this.poll_waiting(cx),
            Stage::New(_) => {
                let Stage::New(args) = std::mem::replace(&mut this.stage, Stage::Done) else {
                    unreachable!()
                };
                this.start(args, cx)
            }
            Stage::Done => panic!("HostCall for '{}' polled after it finished", this.def.name),
        }
    }
}

// The stage holds no self-references; pinning is not needed to move it.
impl<T, E> Unpin for HostCall<T, E> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_call_stays_small() {
        // Every in-flight call holds one inside its handler's future.
        assert!(
            size_of::<HostCall<u64>>() <= 96,
            "{}",
            size_of::<HostCall<u64>>()
        );
    }
}
