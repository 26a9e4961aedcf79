//! The request path through `demo`'s C entry points.
//!
//! Each input is a script (`hostcall_fuzz::script`: one config byte, then
//! operations) run against a fresh context with `fetch_profile` and
//! `notify` registered (cancellable) to a host fn that records each token:
//! `demo_call` of every declared method (and undeclared names) with
//! well-formed, truncated or raw requests; the native entry points;
//! completions of recorded or invented tokens with every `ret`, later from
//! this thread or inline from inside the host fn, once or twice;
//! re-registrations; event listeners added and removed. The context is
//! destroyed at the end (off the loop thread, so every pending request has
//! had its reply when that returns), and then:
//!
//! * every call that returned `HC_OK` got exactly one reply (a second one
//!   fails at once), and no other call got any;
//! * every status is one the ABI documents for that entry point, and the
//!   one the arguments call for where they decide it (a NULL pointer, an
//!   undeclared name, an invalid `ret`, an invented or spent token, a dead
//!   context); `HC_ERR_PANIC` and `HC_ERR_SHUTTING_DOWN` never come;
//! * each reply is well-formed: its `ret` is the outcome the case calls
//!   for (`RET_OK`; `RET_ERR` for demo's own errors; `RET_SHUTTING_DOWN`
//!   with `context shutting down` at teardown; `RET_INVALID_ARG` for a
//!   request the reference decoder refuses, with exactly `bad request for
//!   '<method>': <its error>`; `RET_PANIC` from `panic_with`), error text is
//!   non-empty UTF-8, a `RET_OK` payload decodes as the method's result, and
//!   `add` and `panic_with` answer what they must;
//! * each token is issued once and accepted at most once; one given to a
//!   cancellable host fn ends exactly once, accepted or cancelled (and the
//!   notifier of the registration that received it is the one told);
//! * a removed listener never runs again, and no callback runs after
//!   `demo_destroy` returns.
//!
//! A failure panics (from the loop thread too: a panic cannot unwind out of
//! an `extern "C"` callback, so it aborts) with the input in hex.

#![no_main]

use std::collections::{HashMap, VecDeque};
use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use hostcall::status::*;
use hostcall::wire::reference;
use hostcall_fuzz::hex;
use hostcall_fuzz::script::{
    self, Abuse, Args, CallId, CallRef, CancelMode, Config, EventName, HostFnName, ListenerRef,
    METHODS, Method, Native, Op, Payload, Plan, Request, Ret, TokenRef,
};
use libfuzzer_sys::fuzz_target;

/// What the `demo_call` of a declared method must reply, decided from the
/// request bytes by the reference decoder.
enum Expect {
    /// A `demo_call` of `METHODS[method]`.
    Call {
        method: usize,
        /// `Err(text)` if the reference decoder refuses the request.
        decoded: Result<Decoded, String>,
    },
    /// `demo_native_version`.
    NativeVersion,
    /// `demo_native_add(a, b)`.
    NativeAdd(i64, i64),
    /// `demo_native_ping_host`; `None` if the text is not UTF-8.
    NativePingHost(Option<String>),
    /// `demo_native_panic_with`; `None` if the text is not UTF-8.
    NativePanicWith(Option<String>),
}

/// The decoded request of a method whose reply depends on its arguments.
enum Decoded {
    Add(i64, i64),
    PanicWith(String),
    SignIn(String),
    Other,
}

/// The reply a request that makes exactly one host call (`login`,
/// `ping_host`, `sign_in`) must give once that call's completion was
/// accepted, worked out from the completion (checked after the destroy,
/// for a reply that is neither a withdrawal's nor teardown's).
#[derive(Debug)]
enum Want {
    /// `RET_OK` and this session.
    Session(demo::Session),
    /// `RET_OK` (ping_host).
    Unit,
    /// `RET_ERR` and exactly this text.
    Text(String),
    /// `RET_ERR` and text starting with this.
    TextPrefix(String),
    /// `RET_ERR_TYPED` and exactly this `SignInError`.
    SignIn(demo::SignInError),
    /// `RET_ERR_TYPED` and `Unavailable` with text starting with this.
    UnavailablePrefix(String),
}

/// One call: what it must reply, its status, the replies it got.
struct CallSlot {
    harness: *const Harness,
    expect: Expect,
    /// Until the entry point returns: `i32::MIN`.
    status: AtomicI32,
    replies: AtomicU32,
    /// Made through a `_cancellable` entry point: its id is in `call_id`.
    cancellable: bool,
    call_id: AtomicU64,
    /// The handler's name (for the text of a `RET_CANCELLED` reply).
    method: &'static str,
    /// `cancel_call`s of it that returned `HC_OK`.
    cancel_ok: AtomicU32,
    /// The reply it got, and what it must be (see [`Want`]).
    reply: Mutex<Option<(c_int, Vec<u8>)>>,
    want: Mutex<Option<Want>>,
}

/// One host fn registration: its `user_data`.
struct RegSlot {
    harness: *const Harness,
    id: usize,
    /// 0 `fetch_profile`, 1 `notify`.
    host_fn: usize,
    /// Registered with a cancel notifier.
    cancellable: bool,
}

/// One event listener: its `user_data`.
struct ListenerSlot {
    harness: *const Harness,
    id: AtomicU64,
    removed: AtomicBool,
}

/// A token the host fns were given, and how it ended.
struct TokenRec {
    token: u64,
    host_fn: usize,
    reg: usize,
    cancellable: bool,
    accepted: u32,
    cancelled: u32,
    /// An inline completion is about to be made from the host fn.
    inline_pending: bool,
    /// This thread completed it while an inline completion was pending.
    contended: bool,
    /// The call (index in `Harness::calls`) whose request it serves, by
    /// `host_call_origin` inside the host fn; `None` for origin 0.
    origin: Option<usize>,
}

#[derive(Default)]
struct Tokens {
    list: Vec<TokenRec>,
    index: HashMap<u64, usize>,
}

/// Everything one input's callbacks point at. Lives until after the
/// context is destroyed.
struct Harness {
    input: String,
    config: Config,
    ctx: AtomicUsize,
    /// A destroy has begun: callbacks may meet the teardown.
    destroying: AtomicBool,
    /// A destroy has returned: no callback may run any more.
    dead: AtomicBool,
    #[allow(
        clippy::vec_box,
        reason = "callbacks hold pointers into the boxes, which must not move"
    )]
    calls: Mutex<Vec<Box<CallSlot>>>,
    #[allow(clippy::vec_box, reason = "as for `calls`")]
    regs: Mutex<Vec<Box<RegSlot>>>,
    #[allow(clippy::vec_box, reason = "as for `calls`")]
    listeners: Mutex<Vec<Box<ListenerSlot>>>,
    tokens: Mutex<Tokens>,
    plans: Mutex<VecDeque<Plan>>,
    replies: Mutex<u64>,
    replied: Condvar,
}

impl Harness {
    fn fail(&self, message: impl std::fmt::Display) -> ! {
        panic!("requests: {message}\n  input: {}", self.input);
    }

    fn ctx(&self) -> *mut c_void {
        self.ctx.load(Ordering::Relaxed) as *mut c_void
    }

    /// Checks that `status` is one of `allowed`.
    fn check(&self, what: &str, status: c_int, allowed: &[c_int]) {
        if !allowed.contains(&status) {
            self.fail(format!(
                "{what} returned {} ({status}); expected one of {:?}",
                name(status),
                allowed.iter().map(|s| name(*s)).collect::<Vec<_>>()
            ));
        }
    }

    /// `errors` if any apply; otherwise `ok`.
    fn expect(&self, errors: &[Option<c_int>], ok: &[c_int]) -> Vec<c_int> {
        let applicable: Vec<c_int> = errors.iter().flatten().copied().collect();
        if applicable.is_empty() {
            ok.to_vec()
        } else {
            applicable
        }
    }

    /// The statuses an accepted request may get: `HC_OK`, or
    /// `HC_ERR_OVERLOADED` when the config bounds pending requests.
    fn accepted(&self) -> &'static [c_int] {
        if self.config == Config::FewPending {
            &[HC_OK, HC_ERR_OVERLOADED]
        } else {
            &[HC_OK]
        }
    }

    fn new_call(&self, expect: Expect, cancellable: bool, method: &'static str) -> *mut c_void {
        let slot = Box::new(CallSlot {
            harness: self,
            expect,
            status: AtomicI32::new(i32::MIN),
            replies: AtomicU32::new(0),
            cancellable,
            call_id: AtomicU64::new(0),
            method,
            cancel_ok: AtomicU32::new(0),
            reply: Mutex::new(None),
            want: Mutex::new(None),
        });
        let ptr = &*slot as *const CallSlot as *mut c_void;
        self.calls.lock().unwrap().push(slot);
        ptr
    }

    /// Records what a call returned.
    fn returned(&self, user_data: *mut c_void, status: c_int) {
        // SAFETY: `user_data` came from `new_call`; the slot lives in
        // `self.calls` until the harness is dropped.
        let slot = unsafe { &*(user_data as *const CallSlot) };
        slot.status.store(status, Ordering::Relaxed);
    }

    fn note_reply(&self) {
        *self.replies.lock().unwrap() += 1;
        self.replied.notify_all();
    }

    /// Waits (a long while) for the call at `user_data` to be replied to.
    fn wait_reply(&self, user_data: *mut c_void) {
        // SAFETY: as in `returned`.
        let slot = unsafe { &*(user_data as *const CallSlot) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut replies = self.replies.lock().unwrap();
        while slot.replies.load(Ordering::Relaxed) == 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(replies);
                self.fail("an accepted `version` call got no reply in 20 s");
            }
            replies = self.replied.wait_timeout(replies, left).unwrap().0;
        }
    }

    /// Registers host fn `host_fn` (0 `fetch_profile`, 1 `notify`) as the
    /// script says, and checks the status.
    fn register(&self, host_fn: HostFnName, cancel: CancelMode, dead: bool) {
        let (index, name) = match host_fn {
            HostFnName::FetchProfile | HostFnName::NullFn => (0, "fetch_profile"),
            HostFnName::Notify => (1, "notify"),
            HostFnName::FindAccount => (2, "find_account"),
            HostFnName::Undeclared => (0, "fetch_everything"),
        };
        let cancellable = cancel == CancelMode::Cancellable;
        let slot = {
            let mut regs = self.regs.lock().unwrap();
            let id = regs.len();
            regs.push(Box::new(RegSlot {
                harness: self,
                id,
                host_fn: index,
                cancellable,
            }));
            &*regs[id] as *const RegSlot as *mut c_void
        };
        let name = CString::new(name).unwrap();
        let func: Option<hostcall::FFIHostFn> = if host_fn == HostFnName::NullFn {
            None
        } else {
            Some(on_host_fn)
        };
        let status = match cancel {
            // SAFETY: `name` is NUL-terminated; `func`, `on_cancel` and the
            // slot stay usable until the context is destroyed (the harness
            // outlives it).
            CancelMode::Plain => unsafe {
                demo::demo_register_host_fn(self.ctx(), name.as_ptr(), func, slot)
            },
            // SAFETY: as above.
            CancelMode::Cancellable => unsafe {
                demo::demo_register_host_fn_cancellable(
                    self.ctx(),
                    name.as_ptr(),
                    func,
                    Some(on_cancel),
                    slot,
                )
            },
            // SAFETY: as above.
            CancelMode::NullCancel => unsafe {
                demo::demo_register_host_fn_cancellable(self.ctx(), name.as_ptr(), func, None, slot)
            },
        };
        let allowed = self.expect(
            &[
                (host_fn == HostFnName::NullFn).then_some(HC_ERR_NULL_ARG),
                (host_fn == HostFnName::Undeclared).then_some(HC_ERR_INVALID_ARG),
                dead.then_some(HC_ERR_INVALID_CONTEXT),
            ],
            &[HC_OK],
        );
        self.check("register_host_fn", status, &allowed);
    }

    /// Completes `token` (known: the index of its record) and checks the
    /// status and the token's accounting. `dead`: the script destroyed the
    /// context. `inline_first`: from inside the host fn, the first
    /// completion of the token.
    fn complete(
        &self,
        token: u64,
        known: Option<usize>,
        ret: Ret,
        payload: &Payload,
        dead: bool,
        inline_first: bool,
    ) {
        let host_fn = known.map_or(0, |i| self.tokens.lock().unwrap().list[i].host_fn);
        let bytes = payload_bytes(payload, host_fn);
        let (ptr, len) = match &bytes {
            Some(bytes) => (bytes.as_ptr(), bytes.len()),
            None => (std::ptr::null(), 5),
        };
        // Spent before the call (accepted or cancelled): refused for sure.
        let spent = known.is_some_and(|i| {
            let mut tokens = self.tokens.lock().unwrap();
            let rec = &mut tokens.list[i];
            if rec.inline_pending && !inline_first {
                rec.contended = true;
            }
            rec.accepted > 0 || rec.cancelled > 0
        });
        // SAFETY: `ptr` is valid for `len` bytes unless NULL.
        let status =
            unsafe { demo::demo_host_complete(self.ctx(), token, ret.code(), ptr.cast(), len) };
        let destroying = self.destroying.load(Ordering::Relaxed);
        // A token may be cancelled or time out before this thread claims it;
        // an inline claim must succeed (checked below), unless contended.
        let racy: &[c_int] = if destroying {
            &[HC_OK, HC_ERR_UNKNOWN_TOKEN, HC_ERR_INVALID_CONTEXT]
        } else {
            &[HC_OK, HC_ERR_UNKNOWN_TOKEN]
        };
        let mut allowed = self.expect(
            &[
                bytes.is_none().then_some(HC_ERR_NULL_ARG),
                matches!(ret, Ret::Invalid(_)).then_some(HC_ERR_INVALID_ARG),
                dead.then_some(HC_ERR_INVALID_CONTEXT),
                (known.is_none() || spent).then_some(HC_ERR_UNKNOWN_TOKEN),
            ],
            racy,
        );
        if destroying {
            // From a host fn the teardown runs: the handle is dead already.
            allowed.push(HC_ERR_INVALID_CONTEXT);
        }
        self.check(&format!("host_complete({token:#x})"), status, &allowed);
        let Some(i) = known else { return };
        let mut tokens = self.tokens.lock().unwrap();
        let rec = &mut tokens.list[i];
        if status == HC_OK {
            rec.accepted += 1;
            if rec.accepted > 1 {
                drop(tokens);
                self.fail(format!("token {token:#x} was accepted twice"));
            }
            if let (Some(call), Some(bytes)) = (rec.origin, &bytes) {
                let calls = self.calls.lock().unwrap();
                *calls[call].want.lock().unwrap() =
                    want(calls[call].method, rec.host_fn, ret, bytes);
            }
            if rec.cancelled > 0 {
                drop(tokens);
                self.fail(format!("token {token:#x} was accepted after its cancel"));
            }
        } else if status == HC_ERR_UNKNOWN_TOKEN
            && inline_first
            && !destroying
            && !spent
            && bytes.is_some()
            && !matches!(ret, Ret::Invalid(_))
            && !rec.contended
        {
            drop(tokens);
            self.fail(format!(
                "an inline completion of token {token:#x}, inside its host fn, was refused"
            ));
        }
    }
}

fn name(status: c_int) -> &'static str {
    STATUS_CODES
        .iter()
        .find(|code| code.value == status)
        .map_or("an undocumented status", |code| code.name)
}

/// What a request `method` that made one host call (to host fn `host_fn`)
/// must reply once the completion (`ret`, `bytes`) was accepted; `None`
/// for the handlers that make several host calls.
fn want(method: &str, host_fn: usize, ret: Ret, bytes: &[u8]) -> Option<Want> {
    let value: &[u8] = if bytes.is_empty() {
        hostcall::wire::CBOR_NULL
    } else {
        bytes
    };
    let text = String::from_utf8_lossy(bytes).into_owned();
    let untyped = |name: &str| {
        format!(
            "host fn '{name}' sent a malformed reply: a typed error (RET_ERR_TYPED) from a host fn that declares no error type"
        )
    };
    let session = |p: demo::Profile| demo::Session {
        greeting: format!("Hello, {}", p.name),
        user_id: p.user_id,
    };
    Some(match (method, host_fn, ret) {
        ("login", 0, Ret::Ok) => match hostcall::wire::from_cbor::<demo::Profile>(value) {
            Ok(p) => Want::Session(session(p)),
            Err(_) => Want::TextPrefix(
                "host fetch failed: host fn 'fetch_profile' sent a malformed reply: ".into(),
            ),
        },
        ("login", 0, Ret::Err) if !text.is_empty() => {
            Want::Text(format!("host fetch failed: {text}"))
        }
        ("login", 0, Ret::Typed) => {
            Want::Text(format!("host fetch failed: {}", untyped("fetch_profile")))
        }
        ("ping_host", 1, Ret::Ok) => match hostcall::wire::from_cbor::<()>(value) {
            Ok(()) => Want::Unit,
            Err(_) => Want::TextPrefix(
                "host notify failed: host fn 'notify' sent a malformed reply: ".into(),
            ),
        },
        ("ping_host", 1, Ret::Err) if !text.is_empty() => {
            Want::Text(format!("host notify failed: {text}"))
        }
        ("ping_host", 1, Ret::Typed) => {
            Want::Text(format!("host notify failed: {}", untyped("notify")))
        }
        ("sign_in", 2, Ret::Ok) => match hostcall::wire::from_cbor::<demo::Profile>(value) {
            Ok(p) => Want::Session(session(p)),
            Err(_) => {
                Want::UnavailablePrefix("host fn 'find_account' sent a malformed reply: ".into())
            }
        },
        ("sign_in", 2, Ret::Err) if !text.is_empty() => {
            Want::SignIn(demo::SignInError::Unavailable(text))
        }
        ("sign_in", 2, Ret::Typed) => {
            match hostcall::wire::from_cbor::<demo::AccountError>(value) {
                Ok(e) => Want::SignIn(e.into()),
                Err(_) => Want::UnavailablePrefix(
                    "host fn 'find_account' sent a malformed reply: not a valid AccountError: "
                        .into(),
                ),
            }
        }
        _ => return None,
    })
}

/// Whether the reply (`ret`, `bytes`) is what `want` says.
fn wanted(want: &Want, ret: c_int, bytes: &[u8]) -> bool {
    let text = || std::str::from_utf8(bytes).unwrap_or("");
    let typed = || hostcall::wire::from_cbor::<demo::SignInError>(bytes).ok();
    match want {
        Want::Session(s) => {
            ret == RET_OK
                && hostcall::wire::from_cbor::<demo::Session>(bytes)
                    .ok()
                    .as_ref()
                    == Some(s)
        }
        Want::Unit => ret == RET_OK,
        Want::Text(t) => ret == RET_ERR && text() == t,
        Want::TextPrefix(p) => ret == RET_ERR && text().starts_with(p.as_str()),
        Want::SignIn(e) => ret == RET_ERR_TYPED && typed().as_ref() == Some(e),
        Want::UnavailablePrefix(p) => {
            ret == RET_ERR_TYPED
                && matches!(typed(), Some(demo::SignInError::Unavailable(t)) if t.starts_with(p.as_str()))
        }
    }
}

/// The bytes of a completion for host fn `host_fn`; `None` for NULL.
fn payload_bytes(payload: &Payload, host_fn: usize) -> Option<Vec<u8>> {
    let profile = |name: &str, age: u8| {
        hostcall::wire::to_cbor(&demo::Profile {
            user_id: "u".into(),
            name: name.into(),
            age: u32::from(age),
        })
        .unwrap()
    };
    let account = |kind: u8, text: &str, num: u64| {
        hostcall::wire::to_cbor(&match kind % 3 {
            0 => demo::AccountError::NotFound {
                user_id: text.into(),
            },
            1 => demo::AccountError::Locked { until_unix_s: num },
            _ => demo::AccountError::Suspended(text.into(), num),
        })
        .unwrap()
    };
    Some(match payload {
        Payload::Proper(name, age) if host_fn != 1 => profile(name, *age),
        Payload::Account(kind, text, num) => account(*kind, text, *num),
        Payload::Proper(..) => hostcall::wire::CBOR_NULL.to_vec(),
        Payload::Swapped(name, age) if host_fn == 1 => profile(name, *age),
        Payload::Swapped(..) => hostcall::wire::CBOR_NULL.to_vec(),
        Payload::Raw(bytes) => bytes.clone(),
        Payload::Empty => Vec::new(),
        Payload::Text(text) => text.clone().into_bytes(),
        Payload::NullWithLen => return None,
    })
}

/// The text of a reply or error, checked to be what error text must be.
fn error_text(harness: &Harness, bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok("") => harness.fail("a RET_ERR reply with empty text"),
        Ok(text) => text.to_owned(),
        Err(_) => harness.fail(format!("a RET_ERR reply that is not UTF-8: {}", hex(bytes))),
    }
}

/// The counting and checks every reply shares; the slot.
///
/// # Safety
/// `user_data` must be a `CallSlot` of a live harness.
unsafe fn reply_slot<'a>(user_data: *mut c_void) -> (&'a CallSlot, &'a Harness) {
    // SAFETY: caller's obligation; the harness outlives its slots.
    let (slot, harness) = unsafe {
        let slot = &*(user_data as *const CallSlot);
        (slot, &*slot.harness)
    };
    if harness.dead.load(Ordering::Relaxed) {
        harness.fail("a reply came after demo_destroy returned");
    }
    if slot.replies.fetch_add(1, Ordering::Relaxed) > 0 {
        harness.fail("a call got a second reply");
    }
    (slot, harness)
}

const SHUTTING_DOWN: &str = "context shutting down";

/// The `FFICallBack` of `demo_call` and the untyped native entry points.
unsafe extern "C" fn on_reply(ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void) {
    // SAFETY: every `user_data` given with this callback is a `CallSlot`.
    let (slot, harness) = unsafe { reply_slot(user_data) };
    // SAFETY: `msg` is valid for `len` bytes during the call.
    let bytes = unsafe { std::slice::from_raw_parts(msg.cast::<u8>(), len) };
    *slot.reply.lock().unwrap() = Some((ret, bytes.to_vec()));
    if ret == RET_CANCELLED {
        cancelled_reply(harness, slot, bytes);
        return;
    }
    if ret == RET_ERR_TYPED {
        let Expect::Call {
            method,
            decoded: Ok(Decoded::SignIn(user_id)),
        } = &slot.expect
        else {
            harness.fail(format!(
                "RET_ERR_TYPED from a handler without an error type: {}",
                hex(bytes)
            ));
        };
        match hostcall::wire::from_cbor::<demo::SignInError>(bytes) {
            Ok(e) if user_id.is_empty() == (e == demo::SignInError::EmptyUserId) => {}
            other => harness.fail(format!(
                "{}({user_id:?}) replied RET_ERR_TYPED {}: {other:?}",
                METHODS[*method],
                hex(bytes)
            )),
        }
        harness.note_reply();
        return;
    }
    let ok = match ret {
        RET_OK => true,
        RET_ERR | RET_SHUTTING_DOWN | RET_INVALID_ARG | RET_PANIC => false,
        other => harness.fail(format!("a reply with ret {other}")),
    };
    let text = (!ok).then(|| error_text(harness, bytes));
    if ret == RET_SHUTTING_DOWN {
        if text.as_deref() != Some(SHUTTING_DOWN) {
            harness.fail(format!("RET_SHUTTING_DOWN with the text {text:?}"));
        }
        harness.note_reply();
        return;
    }
    let bad = |why: &str| {
        harness.fail(format!(
            "{why}: ret {ret}, payload {} ({:?})",
            hex(bytes),
            String::from_utf8_lossy(bytes)
        ))
    };
    let decodes = |ok_type: fn(&[u8]) -> bool| {
        if ok && !ok_type(bytes) {
            bad("a RET_OK reply that does not decode as the method's result");
        }
    };
    match &slot.expect {
        Expect::Call {
            method,
            decoded: Err(problem),
        } => {
            let expected = format!("bad request for '{}': {problem}", METHODS[*method]);
            if ret != RET_INVALID_ARG || text.as_deref() != Some(&expected) {
                bad(&format!("expected RET_INVALID_ARG {expected:?}"));
            }
        }
        Expect::Call {
            method,
            decoded: Ok(decoded),
        } => {
            if ret == RET_INVALID_ARG || text.as_ref().is_some_and(|t| t.starts_with("bad request"))
            {
                bad("a request the reference decodes was refused");
            }
            if ret == RET_PANIC && METHODS[*method] != "panic_with" {
                bad("RET_PANIC from a handler that does not panic");
            }
            match (METHODS[*method], decoded) {
                ("version", _) => {
                    if !ok {
                        bad("version failed");
                    }
                    decodes(|b| hostcall::wire::from_cbor::<String>(b).is_ok());
                }
                ("add", Decoded::Add(a, b)) => match a.checked_add(*b) {
                    Some(sum) => {
                        if !ok || hostcall::wire::from_cbor::<i64>(bytes) != Ok(sum) {
                            bad(&format!("expected {a} + {b} = {sum}"));
                        }
                    }
                    None => {
                        let expected = format!("integer overflow: {a} + {b} does not fit in i64");
                        if ret != RET_ERR || text.as_deref() != Some(&expected) {
                            bad(&format!("expected RET_ERR {expected:?}"));
                        }
                    }
                },
                ("login", _) => decodes(|b| hostcall::wire::from_cbor::<demo::Session>(b).is_ok()),
                ("login_many", _) => {
                    decodes(|b| hostcall::wire::from_cbor::<Vec<demo::Session>>(b).is_ok())
                }
                ("first_profile", _) => {
                    decodes(|b| hostcall::wire::from_cbor::<demo::Profile>(b).is_ok())
                }
                ("ping_host", _) => decodes(|b| hostcall::wire::from_cbor::<()>(b).is_ok()),
                ("sign_in", Decoded::SignIn(user_id)) => {
                    if user_id.is_empty() || ret == RET_ERR {
                        bad("sign_in replies RET_OK or RET_ERR_TYPED (EmptyUserId for \"\")");
                    }
                    decodes(|b| hostcall::wire::from_cbor::<demo::Session>(b).is_ok());
                }
                ("panic_with", Decoded::PanicWith(message)) => {
                    let expected = format!("handler 'panic_with' panicked: {message}");
                    if ret != RET_PANIC || text.as_deref() != Some(&expected) {
                        bad(&format!("expected RET_PANIC {expected:?}"));
                    }
                }
                _ => bad("a reply the script did not expect"),
            }
        }
        Expect::NativeVersion => {
            if !ok || std::str::from_utf8(bytes).is_err() {
                bad("native version must reply RET_OK with UTF-8 text");
            }
        }
        Expect::NativePingHost(None) | Expect::NativePanicWith(None) => {
            if ret != RET_INVALID_ARG
                || !text
                    .as_ref()
                    .is_some_and(|t| t.contains("is not valid UTF-8"))
            {
                bad("text that is not UTF-8 must be refused in the reply (RET_INVALID_ARG)");
            }
        }
        Expect::NativePingHost(Some(_)) => {
            if ok && !bytes.is_empty() {
                bad("native ping_host must reply an empty payload");
            }
        }
        Expect::NativePanicWith(Some(message)) => {
            let expected = format!("handler 'panic_with' panicked: {message}");
            if ret != RET_PANIC || text.as_deref() != Some(&expected) {
                bad(&format!("expected RET_PANIC {expected:?}"));
            }
        }
        Expect::NativeAdd(..) => bad("an untyped reply to native add"),
    }
    harness.note_reply();
}

/// Checks a `RET_CANCELLED` reply: only for a cancellable call, with
/// exactly `request '<method>' cancelled`.
fn cancelled_reply(harness: &Harness, slot: &CallSlot, bytes: &[u8]) {
    let expected = format!("request '{}' cancelled", slot.method);
    if !slot.cancellable || bytes != expected.as_bytes() {
        harness.fail(format!(
            "RET_CANCELLED {:?} for a call (cancellable: {}) of '{}'",
            String::from_utf8_lossy(bytes),
            slot.cancellable,
            slot.method
        ));
    }
    harness.note_reply();
}

/// The `FFICallBackI64` of `demo_native_add`.
unsafe extern "C" fn on_i64(
    ret: c_int,
    value: i64,
    err: *const c_char,
    err_len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: every `user_data` given with this callback is a `CallSlot`.
    let (slot, harness) = unsafe { reply_slot(user_data) };
    let Expect::NativeAdd(a, b) = slot.expect else {
        harness.fail("a typed reply to a call that is not native add");
    };
    if ret == RET_CANCELLED {
        if err.is_null() || value != 0 {
            harness.fail("a cancelled native add needs err text and value 0");
        }
        // SAFETY: `err` is valid for `err_len` bytes during the call.
        let bytes = unsafe { std::slice::from_raw_parts(err.cast::<u8>(), err_len) };
        *slot.reply.lock().unwrap() = Some((ret, bytes.to_vec()));
        cancelled_reply(harness, slot, bytes);
        return;
    }
    *slot.reply.lock().unwrap() = Some((ret, Vec::new()));
    match ret {
        RET_OK => {
            if !err.is_null() || a.checked_add(b) != Some(value) {
                harness.fail(format!(
                    "native add({a}, {b}) replied RET_OK {value} (err NULL: {})",
                    err.is_null()
                ));
            }
        }
        RET_ERR | RET_SHUTTING_DOWN => {
            if err.is_null() || value != 0 {
                harness.fail("a typed failure reply needs err text and value 0");
            }
            // SAFETY: `err` is valid for `err_len` bytes during the call.
            let bytes = unsafe { std::slice::from_raw_parts(err.cast::<u8>(), err_len) };
            let text = error_text(harness, bytes);
            let overflow = format!("integer overflow: {a} + {b} does not fit in i64");
            let fits = a.checked_add(b).is_some();
            let expected = if ret == RET_SHUTTING_DOWN {
                text == SHUTTING_DOWN
            } else {
                !fits && text == overflow
            };
            if !expected {
                harness.fail(format!("native add({a}, {b}) replied ret {ret} {text:?}"));
            }
        }
        other => harness.fail(format!("a typed reply with ret {other}")),
    }
    harness.note_reply();
}

/// The host fn of every registration: records the token, then makes the
/// next planned inline completion, if any.
unsafe extern "C" fn on_host_fn(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: every `user_data` given with this fn is a `RegSlot` of a live
    // harness; `req` is valid for `len` bytes during the call.
    let (reg, harness, request) = unsafe {
        let reg = &*(user_data as *const RegSlot);
        (
            reg,
            &*reg.harness,
            std::slice::from_raw_parts(req.cast::<u8>(), len),
        )
    };
    if harness.dead.load(Ordering::Relaxed) {
        harness.fail("a host fn ran after demo_destroy returned");
    }
    if let Err(problem) = hostcall::wire::from_cbor::<(String,)>(request) {
        harness.fail(format!(
            "the host fn's request {} is not [text]: {problem}",
            hex(request)
        ));
    }
    // SAFETY: plain values.
    let (origin, others) = unsafe {
        (
            demo::demo_host_call_origin(harness.ctx(), token),
            demo::demo_host_call_origin(harness.ctx(), token ^ 1)
                | demo::demo_host_call_origin(harness.ctx(), 0)
                | demo::demo_host_call_origin(std::ptr::null_mut(), token),
        )
    };
    if others != 0 {
        harness.fail(format!(
            "host_call_origin of another token or a NULL ctx, inside the host fn of {token:#x}, was {others}"
        ));
    }
    let origin = (origin != 0).then(|| {
        let calls = harness.calls.lock().unwrap();
        let Some(i) = calls
            .iter()
            .position(|c| c.cancellable && c.call_id.load(Ordering::Relaxed) == origin)
        else {
            drop(calls);
            harness.fail(format!("host_call_origin {origin}: no cancellable call has that id"));
        };
        let uses = match calls[i].method {
            "login" | "login_many" | "first_profile" => 0,
            "ping_host" => 1,
            "sign_in" => 2,
            _ => usize::MAX,
        };
        if uses != reg.host_fn {
            let method = calls[i].method;
            drop(calls);
            harness.fail(format!(
                "host_call_origin {origin} names a '{method}' request, which does not call host fn {}",
                reg.host_fn
            ));
        }
        i
    });
    let plan = harness.plans.lock().unwrap().pop_front();
    let index = {
        let mut tokens = harness.tokens.lock().unwrap();
        if tokens.index.contains_key(&token) {
            drop(tokens);
            harness.fail(format!("token {token:#x} was issued twice"));
        }
        let index = tokens.list.len();
        tokens.list.push(TokenRec {
            token,
            host_fn: reg.host_fn,
            reg: reg.id,
            cancellable: reg.cancellable,
            accepted: 0,
            cancelled: 0,
            inline_pending: plan.is_some(),
            contended: false,
            origin,
        });
        tokens.index.insert(token, index);
        index
    };
    if let Some(plan) = plan {
        harness.complete(token, Some(index), plan.ret, &plan.payload, false, true);
        if plan.twice {
            harness.complete(token, Some(index), plan.ret, &plan.payload, false, false);
        }
        harness.tokens.lock().unwrap().list[index].inline_pending = false;
    }
}

/// The cancel notifier of cancellable registrations.
unsafe extern "C" fn on_cancel(token: u64, user_data: *mut c_void) {
    // SAFETY: as in `on_host_fn`.
    let (reg, harness) = unsafe {
        let reg = &*(user_data as *const RegSlot);
        (reg, &*reg.harness)
    };
    if harness.dead.load(Ordering::Relaxed) {
        harness.fail("a cancel notifier ran after demo_destroy returned");
    }
    let mut tokens = harness.tokens.lock().unwrap();
    let Some(&i) = tokens.index.get(&token) else {
        drop(tokens);
        harness.fail(format!(
            "cancel of token {token:#x}, never given to a host fn"
        ));
    };
    let rec = &mut tokens.list[i];
    rec.cancelled += 1;
    let problem = if rec.reg != reg.id {
        Some("went to another registration than the one that received it")
    } else if rec.cancelled > 1 {
        Some("came twice")
    } else if rec.accepted > 0 {
        Some("came for a token already accepted")
    } else {
        None
    };
    if let Some(problem) = problem {
        drop(tokens);
        harness.fail(format!("the cancel of token {token:#x} {problem}"));
    }
}

/// The event listener callback.
unsafe extern "C" fn on_event(ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void) {
    // SAFETY: every `user_data` given with this callback is a
    // `ListenerSlot` of a live harness; `msg` is valid for `len` bytes.
    let (slot, harness, bytes) = unsafe {
        let slot = &*(user_data as *const ListenerSlot);
        (
            slot,
            &*slot.harness,
            std::slice::from_raw_parts(msg.cast::<u8>(), len),
        )
    };
    if harness.dead.load(Ordering::Relaxed) {
        harness.fail("an event came after demo_destroy returned");
    }
    if slot.removed.load(Ordering::Relaxed) {
        harness.fail(format!(
            "listener {} ran after it was removed",
            slot.id.load(Ordering::Relaxed)
        ));
    }
    match hostcall::wire::from_cbor::<demo::Progress>(bytes) {
        Ok(progress) if ret == RET_OK && 1 <= progress.done && progress.done <= progress.total => {}
        other => harness.fail(format!(
            "a progress event with ret {ret} and payload {}: {other:?}",
            hex(bytes)
        )),
    }
}

/// The request bytes of a call, decoded by the reference as the method's
/// arguments.
fn reference_decode(method: usize, bytes: &[u8]) -> Result<Decoded, String> {
    let names: &[&str] = match method {
        0 => &[],
        1 => &["a", "b"],
        2 | 7 => &["user_id"],
        3 | 4 => &["user_ids"],
        _ => &["message"],
    };
    match method {
        0 => reference::decode_args::<()>(bytes, names).map(|()| Decoded::Other),
        1 => reference::decode_args::<(i64, i64)>(bytes, names).map(|(a, b)| Decoded::Add(a, b)),
        3 | 4 => reference::decode_args::<(Vec<String>,)>(bytes, names).map(|_| Decoded::Other),
        6 => reference::decode_args::<(String,)>(bytes, names).map(|(m,)| Decoded::PanicWith(m)),
        7 => reference::decode_args::<(String,)>(bytes, names).map(|(u,)| Decoded::SignIn(u)),
        _ => reference::decode_args::<(String,)>(bytes, names).map(|_| Decoded::Other),
    }
}

/// The `call_id` pointer of a cancellable call into `user_data`'s slot.
fn call_id_ptr(user_data: *mut c_void, id: CallId) -> *mut u64 {
    // SAFETY: `user_data` is a slot of the harness, which outlives the call.
    let slot = unsafe { &*(user_data as *const CallSlot) };
    match id {
        CallId::Given => slot.call_id.as_ptr(),
        CallId::Null => std::ptr::null_mut(),
    }
}

fn call(
    harness: &Harness,
    method: Method,
    request: &Request,
    dead: bool,
    cancellable: Option<CallId>,
) -> *mut c_void {
    let name = match method {
        Method::Declared(m) => Some(CString::new(METHODS[usize::from(m)]).unwrap()),
        Method::Unknown => Some(CString::new("log_out").unwrap()),
        Method::Empty => Some(CString::default()),
        Method::NotUtf8 => Some(CString::new(vec![0xff, 0xfe]).unwrap()),
        Method::Null => None,
    };
    let bytes = match request {
        Request::WellFormed(args) | Request::NullCallback(args) => Some(args.cbor()),
        Request::Raw(bytes) => Some(bytes.clone()),
        Request::Empty => Some(Vec::new()),
        Request::Truncated(args) => {
            let mut bytes = args.cbor();
            bytes.pop();
            Some(bytes)
        }
        Request::NullWithLen => None,
    };
    let declared = match method {
        Method::Declared(m) => Some(usize::from(m)),
        _ => None,
    };
    let expect = Expect::Call {
        method: declared.unwrap_or(0),
        decoded: match (declared, &bytes) {
            (Some(m), Some(bytes)) => reference_decode(m, bytes),
            _ => Ok(Decoded::Other),
        },
    };
    let user_data = harness.new_call(
        expect,
        cancellable.is_some(),
        declared.map_or("", |m| METHODS[m]),
    );
    let callback: Option<hostcall::FFICallBack> = match request {
        Request::NullCallback(_) => None,
        _ => Some(on_reply),
    };
    let (req, len) = bytes
        .as_ref()
        .map_or((std::ptr::null(), 3), |b| (b.as_ptr(), b.len()));
    // SAFETY: `name` is NUL-terminated or NULL; `req` is valid for `len`
    // bytes or NULL; the slot outlives the context.
    let method_ptr = name.as_ref().map_or(std::ptr::null(), |n| n.as_ptr());
    let status = match cancellable {
        // SAFETY: as above.
        None => unsafe {
            demo::demo_call(
                harness.ctx(),
                method_ptr,
                req.cast(),
                len,
                callback,
                user_data,
            )
        },
        // SAFETY: as above; the call id pointer is the slot's or NULL.
        Some(id) => unsafe {
            demo::demo_call_cancellable(
                harness.ctx(),
                method_ptr,
                req.cast(),
                len,
                callback,
                user_data,
                call_id_ptr(user_data, id),
            )
        },
    };
    harness.returned(user_data, status);
    let allowed = harness.expect(
        &[
            name.is_none().then_some(HC_ERR_NULL_ARG),
            callback.is_none().then_some(HC_ERR_NULL_ARG),
            bytes.is_none().then_some(HC_ERR_NULL_ARG),
            (cancellable == Some(CallId::Null)).then_some(HC_ERR_NULL_ARG),
            dead.then_some(HC_ERR_INVALID_CONTEXT),
            (name.is_some() && declared.is_none()).then_some(HC_ERR_UNKNOWN_METHOD),
        ],
        harness.accepted(),
    );
    harness.check("demo_call", status, &allowed);
    user_data
}

fn native(
    harness: &Harness,
    entry: &Native,
    abuse: Abuse,
    dead: bool,
    cancellable: Option<CallId>,
) {
    let c = cancellable.is_some();
    let null_text = abuse == Abuse::NullText;
    let text = |bytes: &[u8]| {
        if null_text {
            (std::ptr::null(), bytes.len().max(1))
        } else {
            (bytes.as_ptr(), bytes.len())
        }
    };
    let utf8 = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).ok();
    let with_cb = abuse != Abuse::NullCallback;
    let cb = with_cb.then_some(on_reply as hostcall::FFICallBack);
    let (status, texty) = match entry {
        Native::Version => {
            let ud = harness.new_call(Expect::NativeVersion, c, "version");
            let status = match cancellable {
                // SAFETY: plain values; the slot outlives the context.
                None => unsafe { demo::demo_native_version(harness.ctx(), cb, ud) },
                // SAFETY: as above; the call id pointer is the slot's or NULL.
                Some(id) => unsafe {
                    demo::demo_native_version_cancellable(
                        harness.ctx(),
                        cb,
                        ud,
                        call_id_ptr(ud, id),
                    )
                },
            };
            harness.returned(ud, status);
            (status, false)
        }
        Native::Add(a, b) => {
            let ud = harness.new_call(Expect::NativeAdd(*a, *b), c, "add");
            let cb = with_cb.then_some(on_i64 as hostcall::FFICallBackI64);
            let status = match cancellable {
                // SAFETY: plain values; the slot outlives the context.
                None => unsafe { demo::demo_native_add(harness.ctx(), *a, *b, cb, ud) },
                // SAFETY: as above; the call id pointer is the slot's or NULL.
                Some(id) => unsafe {
                    demo::demo_native_add_cancellable(
                        harness.ctx(),
                        *a,
                        *b,
                        cb,
                        ud,
                        call_id_ptr(ud, id),
                    )
                },
            };
            harness.returned(ud, status);
            (status, false)
        }
        Native::PingHost(bytes) => {
            let ud = harness.new_call(Expect::NativePingHost(utf8(bytes)), c, "ping_host");
            let (ptr, len) = text(bytes);
            let status = match cancellable {
                // SAFETY: `ptr` is valid for `len` bytes or NULL; the slot
                // outlives the context.
                None => unsafe {
                    demo::demo_native_ping_host(harness.ctx(), ptr.cast(), len, cb, ud)
                },
                // SAFETY: as above; the call id pointer is the slot's or NULL.
                Some(id) => unsafe {
                    demo::demo_native_ping_host_cancellable(
                        harness.ctx(),
                        ptr.cast(),
                        len,
                        cb,
                        ud,
                        call_id_ptr(ud, id),
                    )
                },
            };
            harness.returned(ud, status);
            (status, true)
        }
        Native::PanicWith(bytes) => {
            let ud = harness.new_call(Expect::NativePanicWith(utf8(bytes)), c, "panic_with");
            let (ptr, len) = text(bytes);
            let status = match cancellable {
                // SAFETY: as above.
                None => unsafe {
                    demo::demo_native_panic_with(harness.ctx(), ptr.cast(), len, cb, ud)
                },
                // SAFETY: as above; the call id pointer is the slot's or NULL.
                Some(id) => unsafe {
                    demo::demo_native_panic_with_cancellable(
                        harness.ctx(),
                        ptr.cast(),
                        len,
                        cb,
                        ud,
                        call_id_ptr(ud, id),
                    )
                },
            };
            harness.returned(ud, status);
            (status, true)
        }
    };
    let allowed = harness.expect(
        &[
            (!with_cb).then_some(HC_ERR_NULL_ARG),
            (null_text && texty).then_some(HC_ERR_NULL_ARG),
            (cancellable == Some(CallId::Null)).then_some(HC_ERR_NULL_ARG),
            dead.then_some(HC_ERR_INVALID_CONTEXT),
        ],
        harness.accepted(),
    );
    harness.check("a native entry point", status, &allowed);
}

fn listen(harness: &Harness, event: EventName, dead: bool) {
    let slot = Box::new(ListenerSlot {
        harness,
        id: AtomicU64::new(0),
        removed: AtomicBool::new(false),
    });
    let user_data = &*slot as *const ListenerSlot as *mut c_void;
    let name = CString::new(match event {
        EventName::Undeclared => "logged_out",
        _ => "progress",
    })
    .unwrap();
    let cb = (event != EventName::NullCallback).then_some(on_event as hostcall::FFICallBack);
    // SAFETY: `name` is NUL-terminated; the slot outlives the context.
    let id = unsafe { demo::demo_add_event_listener(harness.ctx(), name.as_ptr(), cb, user_data) };
    let should = event == EventName::Progress && !dead;
    if (id != 0) != should {
        harness.fail(format!("add_event_listener({event:?}) returned id {id}"));
    }
    slot.id.store(id, Ordering::Relaxed);
    harness.listeners.lock().unwrap().push(slot);
}

fn unlisten(harness: &Harness, which: ListenerRef, dead: bool) {
    let (id, slot) = match which {
        ListenerRef::Invented(n) => (ListenerRef::invented_id(n), None),
        ListenerRef::Added(n) => {
            let listeners = harness.listeners.lock().unwrap();
            if listeners.is_empty() {
                (ListenerRef::invented_id(0), None)
            } else {
                let slot = &*listeners[usize::from(n) % listeners.len()];
                (
                    slot.id.load(Ordering::Relaxed),
                    Some(slot as *const ListenerSlot),
                )
            }
        }
    };
    // SAFETY: the slot is in `harness.listeners`, which only grows.
    let slot = slot.map(|slot| unsafe { &*slot });
    let live = slot.is_some_and(|s| id != 0 && !s.removed.load(Ordering::Relaxed));
    // SAFETY: plain values.
    let status = unsafe { demo::demo_remove_event_listener(harness.ctx(), id) };
    let allowed = harness.expect(
        &[
            dead.then_some(HC_ERR_INVALID_CONTEXT),
            (!live).then_some(HC_ERR_INVALID_ARG),
        ],
        &[HC_OK],
    );
    harness.check(&format!("remove_event_listener({id})"), status, &allowed);
    if status == HC_OK
        && let Some(slot) = slot
    {
        slot.removed.store(true, Ordering::Relaxed);
    }
}

/// `demo_cancel_call` of a cancellable call the script made (or an invented
/// id); checks the status and counts an `HC_OK`.
fn cancel(harness: &Harness, which: CallRef, dead: bool) {
    let (id, slot) = match which {
        CallRef::Invented(n) => (CallRef::invented_id(n), None),
        CallRef::Issued(n) => {
            let calls = harness.calls.lock().unwrap();
            let issued: Vec<&CallSlot> = calls
                .iter()
                .filter(|c| c.cancellable && c.status.load(Ordering::Relaxed) == HC_OK)
                .map(|c| &**c)
                .collect();
            if issued.is_empty() {
                (CallRef::invented_id(0), None)
            } else {
                let slot = issued[usize::from(n) % issued.len()];
                (
                    slot.call_id.load(Ordering::Relaxed),
                    Some(slot as *const CallSlot),
                )
            }
        }
    };
    // SAFETY: the slot is in `harness.calls`, whose boxes never move.
    let slot = slot.map(|slot| unsafe { &*slot });
    // Replied, or withdrawn already: refused for sure.
    let spent = slot.is_none_or(|s| {
        s.replies.load(Ordering::Relaxed) > 0 || s.cancel_ok.load(Ordering::Relaxed) > 0
    });
    // SAFETY: plain values.
    let status = unsafe { demo::demo_cancel_call(harness.ctx(), id) };
    let allowed = harness.expect(
        &[
            dead.then_some(HC_ERR_INVALID_CONTEXT),
            spent.then_some(HC_ERR_UNKNOWN_TOKEN),
        ],
        &[HC_OK, HC_ERR_UNKNOWN_TOKEN],
    );
    harness.check(&format!("cancel_call({id})"), status, &allowed);
    if status == HC_OK
        && let Some(slot) = slot
    {
        slot.cancel_ok.fetch_add(1, Ordering::Relaxed);
    }
}

fn destroy(harness: &Harness, dead: bool) {
    harness.destroying.store(true, Ordering::Relaxed);
    // SAFETY: `ctx` is only looked up, never dereferenced.
    let status = unsafe { demo::demo_destroy(harness.ctx()) };
    harness.dead.store(true, Ordering::Relaxed);
    let allowed = if dead {
        [HC_ERR_INVALID_CONTEXT]
    } else {
        [HC_OK]
    };
    harness.check("demo_destroy", status, &allowed);
}

fn run(input: &[u8]) {
    let script = script::decode(input);
    let config = script.config.cbor();
    let harness = Harness {
        input: hex(input),
        config: script.config,
        ctx: AtomicUsize::new(0),
        destroying: AtomicBool::new(false),
        dead: AtomicBool::new(false),
        calls: Mutex::default(),
        regs: Mutex::default(),
        listeners: Mutex::default(),
        tokens: Mutex::default(),
        plans: Mutex::default(),
        replies: Mutex::new(0),
        replied: Condvar::new(),
    };
    // SAFETY: `config` is valid for its length.
    let ctx = unsafe { demo::demo_new(config.as_ptr().cast(), config.len()) };
    if ctx.is_null() {
        harness.fail(format!("demo_new refused config {:?}", script.config));
    }
    harness.ctx.store(ctx as usize, Ordering::Relaxed);
    harness.register(HostFnName::FetchProfile, CancelMode::Cancellable, false);
    harness.register(HostFnName::Notify, CancelMode::Cancellable, false);
    harness.register(HostFnName::FindAccount, CancelMode::Cancellable, false);

    let mut dead = false;
    for op in &script.ops {
        match op {
            Op::Call { method, request } => {
                call(&harness, *method, request, dead, None);
            }
            Op::CallCancellable {
                method,
                request,
                id,
            } => {
                call(&harness, *method, request, dead, Some(*id));
            }
            Op::Native { entry, abuse } => native(&harness, entry, *abuse, dead, None),
            Op::NativeCancellable { entry, abuse, id } => {
                native(&harness, entry, *abuse, dead, Some(*id));
            }
            Op::Cancel(which) => cancel(&harness, *which, dead),
            Op::Origin(token) => {
                let token = match *token {
                    TokenRef::Invented(n) => u64::from(n),
                    TokenRef::Recorded(n) => {
                        let tokens = harness.tokens.lock().unwrap();
                        match tokens.list.len() {
                            0 => 0,
                            len => tokens.list[usize::from(n) % len].token,
                        }
                    }
                };
                // SAFETY: plain values.
                let origin = unsafe { demo::demo_host_call_origin(harness.ctx(), token) };
                if origin != 0 {
                    harness.fail(format!(
                        "host_call_origin({token:#x}) from the script's thread (not the loop's) was {origin}"
                    ));
                }
            }
            Op::Complete {
                token,
                ret,
                payload,
                twice,
            } => {
                let (token, known) = match *token {
                    TokenRef::Invented(n) => (u64::from(n), None),
                    TokenRef::Recorded(n) => {
                        let tokens = harness.tokens.lock().unwrap();
                        if tokens.list.is_empty() {
                            (0, None)
                        } else {
                            let i = usize::from(n) % tokens.list.len();
                            (tokens.list[i].token, Some(i))
                        }
                    }
                };
                for _ in 0..1 + usize::from(*twice) {
                    harness.complete(token, known, *ret, payload, dead, false);
                }
            }
            Op::CompleteAll { ret, payload } => {
                let open: Vec<(u64, usize)> = {
                    let tokens = harness.tokens.lock().unwrap();
                    tokens
                        .list
                        .iter()
                        .enumerate()
                        .filter(|(_, rec)| rec.accepted == 0 && rec.cancelled == 0)
                        .map(|(i, rec)| (rec.token, i))
                        .collect()
                };
                for (token, i) in open {
                    harness.complete(token, Some(i), *ret, payload, dead, false);
                }
            }
            Op::Inline(plan) => harness.plans.lock().unwrap().push_back(plan.clone()),
            Op::Register { host_fn, cancel } => harness.register(*host_fn, *cancel, dead),
            Op::Listen(event) => listen(&harness, *event, dead),
            Op::Unlisten(which) => unlisten(&harness, *which, dead),
            // Round trips of `version` until one brings no new token: the
            // loop may handle queued messages (the first `version` among
            // them) before it polls the tasks they spawned, so one reply can
            // come before an async handler's first host call.
            Op::Sync => {
                let tokens = || harness.tokens.lock().unwrap().list.len();
                for round in 0..5 {
                    let before = tokens();
                    let user_data = call(
                        &harness,
                        Method::Declared(0),
                        &Request::WellFormed(Args::None),
                        dead,
                        None,
                    );
                    // SAFETY: `user_data` is a slot of `harness`.
                    let status = unsafe { &*(user_data as *const CallSlot) }
                        .status
                        .load(Ordering::Relaxed);
                    if status != HC_OK {
                        break;
                    }
                    harness.wait_reply(user_data);
                    if round > 0 && tokens() == before {
                        break;
                    }
                }
            }
            Op::Yield => std::thread::yield_now(),
            Op::Destroy => {
                if !dead {
                    destroy(&harness, false);
                    dead = true;
                }
            }
        }
    }
    destroy(&harness, dead);

    for (i, slot) in harness.calls.lock().unwrap().iter().enumerate() {
        let status = slot.status.load(Ordering::Relaxed);
        let replies = slot.replies.load(Ordering::Relaxed);
        let expected = u32::from(status == HC_OK);
        if replies != expected {
            harness.fail(format!(
                "call #{i} returned {} and got {replies} replies (expected {expected})",
                name(status)
            ));
        }
        let cancel_ok = slot.cancel_ok.load(Ordering::Relaxed);
        let reply = slot.reply.lock().unwrap();
        let cancelled = matches!(*reply, Some((RET_CANCELLED, _)));
        if cancel_ok > 1 || cancelled != (cancel_ok == 1) {
            harness.fail(format!(
                "call #{i} ('{}'): {cancel_ok} cancels returned HC_OK, and the reply was {:?}",
                slot.method,
                reply.as_ref().map(|r| r.0)
            ));
        }
        if let (Some(want), Some((ret, bytes))) = (&*slot.want.lock().unwrap(), &*reply)
            && matches!(*ret, RET_OK | RET_ERR | RET_ERR_TYPED)
            && !wanted(want, *ret, bytes)
        {
            harness.fail(format!(
                "call #{i} ('{}'): its host call's accepted completion calls for {want:?}, the reply was ret {ret} {} ({:?})",
                slot.method,
                hex(bytes),
                String::from_utf8_lossy(bytes)
            ));
        }
    }
    if trace() {
        let calls = harness.calls.lock().unwrap();
        let tokens = harness.tokens.lock().unwrap();
        let ok = calls
            .iter()
            .filter(|c| c.status.load(Ordering::Relaxed) == HC_OK)
            .count();
        let count = |f: fn(&TokenRec) -> bool| tokens.list.iter().filter(|r| f(r)).count();
        eprintln!(
            "requests: {:?}, {} ops: {} calls ({ok} accepted), {} tokens ({} accepted, {} cancelled)",
            script.config,
            script.ops.len(),
            calls.len(),
            tokens.list.len(),
            count(|r| r.accepted > 0),
            count(|r| r.cancelled > 0),
        );
    }
    for rec in &harness.tokens.lock().unwrap().list {
        let ends = rec.accepted + rec.cancelled;
        if rec.cancellable && ends != 1 || !rec.cancellable && rec.cancelled != 0 {
            harness.fail(format!(
                "token {:#x} (cancellable: {}) was accepted {} and cancelled {} times",
                rec.token, rec.cancellable, rec.accepted, rec.cancelled
            ));
        }
    }
}

/// Whether `REQUESTS_TRACE` is set: then each input prints a summary.
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("REQUESTS_TRACE").is_some())
}

fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic. `panic_with` panics on
        // purpose, on the loop thread, and hostcall turns that into an error
        // reply: let those through quietly, abort on anything else.
        let aborting = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_purpose = info
                .location()
                .is_some_and(|l| l.file().replace('\\', "/").ends_with("demo/src/lib.rs"));
            if !on_purpose {
                aborting(info);
            }
        }));
    },
    |data: &[u8]| run(data)
);
