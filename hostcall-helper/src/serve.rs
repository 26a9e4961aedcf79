//! One session: a host's hello, the library context made for it, and the
//! frames between them (protocol of `hostcall::isolation::protocol`). A
//! spawned helper serves one session on its stdin; a listening one
//! (`--socket`, `--tcp`) one per connection, each on its own thread and
//! with its own context of the same library.
//!
//! # Protocol
//!
//! 1. **Hello**: check the version and the prefix; load the library (once
//!    per process: [`served`]) and find every entry point; check the
//!    interface hash; create a context with the host's config; listen to
//!    every event; answer `Welcome`. Any failure is answered `Refused`
//!    with the reason.
//! 2. **Serve**, on this (the main) thread, frame by frame:
//!    * `Call`: `<prefix>_call_cancellable` with the reply forwarder and
//!      the host's request id as user data. The library's call id and the
//!      host's request id are recorded (`Ids`, under its lock, held across
//!      the call so that the reply, which runs on the library's loop
//!      thread, finds them); a refused call is answered at once.
//!    * `Cancel`: `<prefix>_cancel_call` of the library's call id.
//!    * `Register`: `<prefix>_register_host_fn_cancellable` with the host
//!      fn forwarder (and the cancel forwarder when the host has a
//!      notifier), the host fn's index as user data.
//!    * `Complete`: `<prefix>_host_complete` (an answer for a token the
//!      library has given up meanwhile is refused by it, and dropped).
//! 3. **Forwarders** (the library's callbacks, on its loop thread) find
//!    their session through their user data ([`ReplyTo`], [`Target`]) and
//!    each send one frame: `Reply`, `HostCall` (with the host's id of the request
//!    the call serves, from `<prefix>_host_call_origin`), `HostCancel`,
//!    `Event`. They never block: the frames queue in the [`Sink`].
//! 4. **End**: at end-of-file, destroy the context (its pending requests
//!    are answered, its host calls cancelled, all through the forwarders),
//!    then close the sink, which writes what is queued, and join its writer;
//!    the forwarders' targets are freed last (no callback runs after the
//!    destroy).

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use hostcall::abi::EntryPoints;
use hostcall::isolation::protocol::{self, Down, FrameError, PROTOCOL_VERSION, Up};
use hostcall::isolation::sink::{Flush, Sink};
use hostcall::isolation::stream::Stream;
use hostcall::status::*;
use hostcall::wire::Bytes;

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// The host closed the connection.
    Closed,
    /// The hello was refused.
    Refused,
    /// The connection broke (a malformed frame, a read error).
    Broken,
}

/// The library call ids of the host's requests, both ways.
#[derive(Default)]
struct Ids {
    /// Host request id → library call id.
    library: HashMap<u64, u64>,
    /// Library call id → host request id.
    host: HashMap<u64, u64>,
}

/// One connection's context and what its forwarders reach.
struct Session {
    entry: &'static EntryPoints,
    ctx: usize,
    sink: Sink,
    ids: Mutex<Ids>,
}

impl Session {
    fn ctx(&self) -> *mut c_void {
        self.ctx as *mut c_void
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The user data of one call's reply forwarder: boxed for the call,
/// freed by the reply (a call's reply comes exactly once; a refused call
/// frees it at once).
struct ReplyTo {
    session: Arc<Session>,
    /// The host's request id.
    id: u64,
}

/// The user data of a host fn's and an event's forwarders: owned by the
/// session's [`run`], freed after the context is destroyed.
struct Target {
    session: Arc<Session>,
    /// The host fn's or the event's index in the library's description.
    index: u32,
}

/// The library this process serves: loaded once, for every session.
pub struct Served {
    entry: EntryPoints,
}

static SERVED: OnceLock<Result<Served, String>> = OnceLock::new();

/// Loads `library` (`prefix`) the first time; after that, what the first
/// time found. The library stays loaded until the process exits.
pub fn served(library: &Path, prefix: &str) -> Result<&'static Served, String> {
    SERVED
        .get_or_init(|| load(library, prefix))
        .as_ref()
        .map_err(Clone::clone)
}

fn load(library: &Path, prefix: &str) -> Result<Served, String> {
    // SAFETY: loading a library runs its initialisers; the library is one
    // the host itself runs (each session checks the interface hash).
    let loaded = unsafe { libloading::Library::new(library) }
        .map_err(|e| format!("could not load {}: {e}", library.display()))?;
    // SAFETY: each address is the library's symbol `<prefix>_<name>`, a
    // hostcall entry point with the declared signature; `loaded` is leaked
    // below, so the addresses stay valid for the process's life.
    let entry = unsafe {
        EntryPoints::load(|name| {
            let symbol = format!("{prefix}_{name}\0");
            loaded
                .get::<*const c_void>(symbol.as_bytes())
                .map_or(std::ptr::null(), |s| *s)
        })
    };
    let entry = entry.map_err(|missing| {
        format!(
            "{} has no symbol {prefix}_{missing}: not a hostcall library of prefix '{prefix}'",
            library.display()
        )
    })?;
    std::mem::forget(loaded);
    Ok(Served { entry })
}

/// The session's whole life (steps 1 to 4).
pub fn run(connection: Stream, library: &Path, prefix: &str) -> End {
    let mut reader = std::io::BufReader::with_capacity(64 << 10, &connection);
    let mut body = Vec::new();
    let hello = match protocol::read::<Down>(&mut reader, &mut body) {
        Ok(hello @ Down::Hello { .. }) => hello,
        Ok(other) => return refuse(&connection, format!("expected Hello first, got {other:?}")),
        Err(FrameError::Closed) => return End::Closed,
        Err(problem) => return refuse(&connection, format!("the hello: {problem}")),
    };
    let Down::Hello {
        version,
        prefix: host_prefix,
        interface_hash,
        config,
        host_fns,
        events,
    } = hello
    else {
        unreachable!("matched above")
    };
    if version != PROTOCOL_VERSION {
        return refuse(
            &connection,
            format!("the host speaks protocol version {version}, this helper {PROTOCOL_VERSION}"),
        );
    }
    if host_prefix != prefix {
        return refuse(
            &connection,
            format!("the host's library has prefix '{host_prefix}', this helper serves '{prefix}'"),
        );
    }
    let entry = match served(library, prefix) {
        Ok(served) => &served.entry,
        Err(problem) => return refuse(&connection, problem),
    };
    // SAFETY: takes no arguments.
    let theirs = unsafe { (entry.interface_hash)() };
    if theirs != interface_hash {
        return refuse(
            &connection,
            format!(
                "{} has interface hash {theirs:#018x}, the host's library {interface_hash:#018x} \
                 (the host and the helper load different builds of the library)",
                library.display()
            ),
        );
    }
    let writer_stream = match connection.try_clone() {
        Ok(stream) => stream,
        Err(e) => {
            return refuse(
                &connection,
                format!("could not duplicate the connection: {e}"),
            );
        }
    };
    // SAFETY: `config` is valid for its length during the call.
    let ctx = unsafe { (entry.new)(config.as_ptr().cast(), config.len()) };
    if ctx.is_null() {
        let why = last_error(entry);
        return refuse(&connection, format!("{prefix}_new failed: {why}"));
    }
    let (sink, writer) = match Sink::start(writer_stream, "helper-send", Flush::Eager) {
        Ok(started) => started,
        Err(e) => {
            // SAFETY: `ctx` was made above and is not used after this.
            unsafe { (entry.destroy)(ctx) };
            return refuse(&connection, format!("could not start the writer: {e}"));
        }
    };
    let session = Arc::new(Session {
        entry,
        ctx: ctx as usize,
        sink,
        ids: Mutex::new(Ids::default()),
    });
    session.sink.send(&Up::Welcome {
        version: PROTOCOL_VERSION,
        interface_hash,
    });
    // Step 4 frees these, after the destroy.
    let mut targets: Vec<Box<Target>> = Vec::new();
    let mut target = |index: usize| -> *mut c_void {
        targets.push(Box::new(Target {
            session: Arc::clone(&session),
            index: index as u32,
        }));
        // A box's contents do not move when the box does.
        let boxed: &Target = targets.last().expect("just pushed");
        std::ptr::from_ref(boxed).cast_mut().cast()
    };
    for (index, event) in events.iter().enumerate() {
        let Ok(name) = CString::new(event.as_str()) else {
            continue;
        };
        // SAFETY: `name` is NUL-terminated; `on_event` may be called with
        // this user data, a `Target` that outlives the context, on the
        // loop thread for the context's life.
        let id = unsafe {
            (entry.add_event_listener)(session.ctx(), name.as_ptr(), Some(on_event), target(index))
        };
        if id == 0 {
            tracing::warn!(
                event,
                "could not listen to the event: {}",
                last_error(entry)
            );
        }
    }
    let host_fns: Vec<(CString, *mut c_void)> = host_fns
        .iter()
        .enumerate()
        .map(|(index, name)| {
            (
                CString::new(name.as_str()).unwrap_or_default(),
                target(index),
            )
        })
        .collect();
    let end = loop {
        match protocol::read::<Down>(&mut reader, &mut body) {
            Ok(message) => handle(&session, &host_fns, message),
            Err(FrameError::Closed) => break End::Closed,
            Err(problem) => {
                tracing::error!(%problem, "the host's connection broke");
                break End::Broken;
            }
        }
    };
    // Step 4.
    // SAFETY: `ctx` is not used after this; no callback runs after it.
    unsafe { (entry.destroy)(session.ctx()) };
    session.sink.close();
    let _ = writer.join();
    drop(host_fns);
    drop(targets);
    end
}

/// Step 2.
fn handle(session: &Arc<Session>, host_fns: &[(CString, *mut c_void)], message: Down) {
    let entry = &session.entry;
    match message {
        Down::Call {
            id,
            method,
            args,
            cancellable: _,
        } => {
            let Ok(method) = CString::new(method) else {
                reply(
                    session,
                    id,
                    RET_INVALID_ARG,
                    b"the method name holds a NUL byte",
                );
                return;
            };
            let mut call_id = 0u64;
            let reply_to = Box::into_raw(Box::new(ReplyTo {
                session: Arc::clone(session),
                id,
            }));
            let status = {
                let mut ids = session.ids();
                // SAFETY: every pointer is valid for its length during the
                // call; `on_reply` is called once with `reply_to` if the
                // call is accepted, and never if it is refused.
                let status = unsafe {
                    (entry.call_cancellable)(
                        session.ctx(),
                        method.as_ptr(),
                        args.as_ptr().cast(),
                        args.len(),
                        Some(on_reply),
                        reply_to.cast(),
                        &mut call_id,
                    )
                };
                if status == HC_OK {
                    ids.library.insert(id, call_id);
                    ids.host.insert(call_id, id);
                }
                status
            };
            if status != HC_OK {
                // SAFETY: refused, so the library holds no copy of it.
                drop(unsafe { Box::from_raw(reply_to) });
                let ret = match status {
                    HC_ERR_SHUTTING_DOWN => RET_SHUTTING_DOWN,
                    HC_ERR_OVERLOADED => RET_OVERLOADED,
                    _ => RET_ERR,
                };
                reply(session, id, ret, last_error(entry).as_bytes());
            }
        }
        Down::Cancel { id } => {
            let call_id = session.ids().library.get(&id).copied();
            if let Some(call_id) = call_id {
                // SAFETY: `ctx` is only looked up.
                unsafe { (entry.cancel_call)(session.ctx(), call_id) };
            }
        }
        Down::Register { index, cancellable } => {
            let Some((name, target)) = host_fns.get(index as usize) else {
                tracing::warn!(
                    index,
                    "the host registered a host fn the library does not declare"
                );
                return;
            };
            let cancel: Option<hostcall::abi::FFIHostCancelFn> =
                cancellable.then_some(on_host_cancel as _);
            // SAFETY: `name` is NUL-terminated; the forwarders may be
            // called with this user data, a `Target` that outlives the
            // context, on the loop thread for the context's life.
            let status = unsafe {
                (entry.register_host_fn_cancellable)(
                    session.ctx(),
                    name.as_ptr(),
                    Some(on_host_fn),
                    cancel,
                    *target,
                )
            };
            if status != HC_OK {
                tracing::warn!(index, "registering failed: {}", last_error(entry));
            }
        }
        Down::Complete {
            token,
            ret,
            payload,
        } => {
            // SAFETY: `payload` is valid for its length during the call.
            unsafe {
                (entry.host_complete)(
                    session.ctx(),
                    token,
                    ret,
                    payload.as_ptr().cast(),
                    payload.len(),
                )
            };
        }
        Down::Hello { .. } => tracing::warn!("the host sent a second hello; ignored"),
    }
}

fn reply(session: &Session, id: u64, ret: c_int, payload: &[u8]) {
    session.sink.send(&Up::Reply {
        id,
        ret,
        payload: Bytes(payload.to_vec()),
    });
}

/// Answers the hello with `Refused`, writing it before returning.
fn refuse(connection: &Stream, reason: String) -> End {
    tracing::error!(%reason, "refusing the host");
    let mut frame = Vec::new();
    protocol::encode(&Up::Refused { reason }, &mut frame);
    let _ = hostcall::isolation::sink::send_all(connection, &frame);
    End::Refused
}

fn last_error(entry: &EntryPoints) -> String {
    let mut buf = vec![0u8; 1024];
    // SAFETY: `buf` is valid for writes of its length.
    let n = unsafe { (entry.last_error)(buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n.min(buf.len() - 1));
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs a forwarder's body; a panic is logged, never unwound into the
/// library.
fn forward(what: &str, body: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(body)).is_err() {
        tracing::error!(what, "a forwarder panicked; its frame is lost");
    }
}

/// The target a host fn or event forwarder was registered with.
///
/// # Safety
/// `user_data` must be the pointer [`run`] registered: a `Target` it keeps
/// until after the context is destroyed.
unsafe fn target<'a>(user_data: *mut c_void) -> &'a Target {
    // SAFETY: the caller's obligation.
    unsafe { &*user_data.cast::<Target>() }
}

/// Borrows a callback's bytes.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes for `'a`.
unsafe fn bytes<'a>(ptr: *const c_char, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: valid for `len` bytes (the caller's obligation).
        unsafe { std::slice::from_raw_parts(ptr.cast(), len) }
    }
}

/// Step 3: a request's reply.
unsafe extern "C" fn on_reply(ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void) {
    // SAFETY: `user_data` is the `ReplyTo` boxed for this call, and the
    // library replies once: this takes it back.
    let reply_to = unsafe { Box::from_raw(user_data.cast::<ReplyTo>()) };
    forward("reply", || {
        let ReplyTo { session, id } = *reply_to;
        {
            let mut ids = session.ids();
            if let Some(call_id) = ids.library.remove(&id) {
                ids.host.remove(&call_id);
            }
        }
        // SAFETY: the library passes `len` valid bytes for the call.
        reply(&session, id, ret, unsafe { bytes(msg, len) });
    });
}

/// Step 3: a host call.
unsafe extern "C" fn on_host_fn(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    // SAFETY: registered with a `Target` by `handle` (`Register`).
    let Target { session, index } = unsafe { target(user_data) };
    forward("host call", || {
        // SAFETY: `ctx` is only compared.
        let call_id = unsafe { (session.entry.host_call_origin)(session.ctx(), token) };
        let origin = if call_id == 0 {
            0
        } else {
            session.ids().host.get(&call_id).copied().unwrap_or(0)
        };
        session.sink.send(&Up::HostCall {
            token,
            index: *index,
            // SAFETY: the library passes `len` valid bytes for the call.
            args: Bytes(unsafe { bytes(req, len) }.to_vec()),
            origin,
        });
    });
}

/// Step 3: a host call abandoned.
unsafe extern "C" fn on_host_cancel(token: u64, user_data: *mut c_void) {
    // SAFETY: registered with a `Target` by `handle` (`Register`).
    let Target { session, .. } = unsafe { target(user_data) };
    forward("host cancel", || {
        session.sink.send(&Up::HostCancel { token });
    });
}

/// Step 3: an event.
unsafe extern "C" fn on_event(_ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void) {
    // SAFETY: listened to with a `Target` by `run`.
    let Target { session, index } = unsafe { target(user_data) };
    forward("event", || {
        session.sink.send(&Up::Event {
            index: *index,
            // SAFETY: the library passes `len` valid bytes for the call.
            payload: Bytes(unsafe { bytes(msg, len) }.to_vec()),
        });
    });
}
