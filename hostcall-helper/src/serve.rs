//! The helper's session: the host's hello, the library's context, and the
//! frames between them (protocol of `hostcall::isolation::protocol`).
//!
//! # Protocol
//!
//! 1. **Hello**: check the version; load the library, find every entry
//!    point, check the prefix and the interface hash; create the context
//!    with the host's config; listen to every event; answer `Welcome`.
//!    Any failure is answered `Refused` with the reason.
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
//! 3. **Forwarders** (the library's callbacks, on its loop thread) each
//!    send one frame: `Reply`, `HostCall` (with the host's id of the request
//!    the call serves, from `<prefix>_host_call_origin`), `HostCancel`,
//!    `Event`. They never block: the frames queue in the [`Sink`].
//! 4. **End**: at end-of-file, destroy the context (its pending requests
//!    are answered, its host calls cancelled, all through the forwarders),
//!    then close the sink, which writes what is queued, and join its writer.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_void};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use hostcall::abi::EntryPoints;
use hostcall::isolation::protocol::{self, Down, FrameError, PROTOCOL_VERSION, Up};
use hostcall::isolation::sink::Sink;
use hostcall::status::*;
use hostcall::wire::Bytes;

/// How a session ended.
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

/// What the forwarders reach: one session per process.
struct Session {
    entry: EntryPoints,
    ctx: usize,
    sink: Sink,
    ids: Mutex<Ids>,
}

static SESSION: OnceLock<Session> = OnceLock::new();

impl Session {
    fn ctx(&self) -> *mut c_void {
        self.ctx as *mut c_void
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, Ids> {
        self.ids.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session's whole life (steps 1 to 4).
pub fn run(connection: UnixStream, library: &Path, prefix: &str) -> End {
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
    // SAFETY: loading a library runs its initialisers; the library is the
    // one the host itself runs (the interface hash is checked below).
    let loaded = match unsafe { libloading::Library::new(library) } {
        Ok(loaded) => loaded,
        Err(e) => {
            return refuse(
                &connection,
                format!("could not load {}: {e}", library.display()),
            );
        }
    };
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
    let entry = match entry {
        Ok(entry) => entry,
        Err(missing) => {
            return refuse(
                &connection,
                format!(
                    "{} has no symbol {prefix}_{missing}: not a hostcall library of prefix '{prefix}'",
                    library.display()
                ),
            );
        }
    };
    // The library stays loaded until the process exits.
    std::mem::forget(loaded);
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
    // SAFETY: `config` is valid for its length during the call.
    let ctx = unsafe { (entry.new)(config.as_ptr().cast(), config.len()) };
    if ctx.is_null() {
        let why = last_error(&entry);
        return refuse(&connection, format!("{prefix}_new failed: {why}"));
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
    let (sink, writer) = match Sink::start(writer_stream, "helper-send") {
        Ok(started) => started,
        Err(e) => return refuse(&connection, format!("could not start the writer: {e}")),
    };
    let session = SESSION.get_or_init(|| Session {
        entry,
        ctx: ctx as usize,
        sink,
        ids: Mutex::new(Ids::default()),
    });
    session.sink.send(&Up::Welcome {
        version: PROTOCOL_VERSION,
        interface_hash,
    });
    for (index, event) in events.iter().enumerate() {
        let Ok(name) = CString::new(event.as_str()) else {
            continue;
        };
        // SAFETY: `name` is NUL-terminated; `on_event` may be called with
        // this user data on the loop thread for the context's life.
        let id = unsafe {
            (entry.add_event_listener)(session.ctx(), name.as_ptr(), Some(on_event), index as _)
        };
        if id == 0 {
            tracing::warn!(
                event,
                "could not listen to the event: {}",
                last_error(&entry)
            );
        }
    }
    let names: Vec<CString> = host_fns
        .iter()
        .map(|name| CString::new(name.as_str()).unwrap_or_default())
        .collect();
    let end = loop {
        match protocol::read::<Down>(&mut reader, &mut body) {
            Ok(message) => handle(session, &names, message),
            Err(FrameError::Closed) => break End::Closed,
            Err(problem) => {
                tracing::error!(%problem, "the host's connection broke");
                break End::Broken;
            }
        }
    };
    // Step 4.
    // SAFETY: `ctx` is only looked up.
    unsafe { (entry.destroy)(session.ctx()) };
    session.sink.close();
    let _ = writer.join();
    end
}

/// Step 2.
fn handle(session: &Session, names: &[CString], message: Down) {
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
            let status = {
                let mut ids = session.ids();
                // SAFETY: every pointer is valid for its length during the
                // call; `on_reply` may be called once with this user data.
                let status = unsafe {
                    (entry.call_cancellable)(
                        session.ctx(),
                        method.as_ptr(),
                        args.as_ptr().cast(),
                        args.len(),
                        Some(on_reply),
                        id as usize as *mut c_void,
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
            let Some(name) = names.get(index as usize) else {
                tracing::warn!(
                    index,
                    "the host registered a host fn the library does not declare"
                );
                return;
            };
            let cancel: Option<hostcall::abi::FFIHostCancelFn> =
                cancellable.then_some(on_host_cancel as _);
            // SAFETY: `name` is NUL-terminated; the forwarders may be
            // called with this user data on the loop thread for the
            // context's life.
            let status = unsafe {
                (entry.register_host_fn_cancellable)(
                    session.ctx(),
                    name.as_ptr(),
                    Some(on_host_fn),
                    cancel,
                    index as usize as *mut c_void,
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
fn refuse(connection: &UnixStream, reason: String) -> End {
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
fn forward(what: &str, body: impl FnOnce(&Session)) {
    let Some(session) = SESSION.get() else {
        return;
    };
    if catch_unwind(AssertUnwindSafe(|| body(session))).is_err() {
        tracing::error!(what, "a forwarder panicked; its frame is lost");
    }
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
    forward("reply", |session| {
        let id = user_data as usize as u64;
        {
            let mut ids = session.ids();
            if let Some(call_id) = ids.library.remove(&id) {
                ids.host.remove(&call_id);
            }
        }
        // SAFETY: the library passes `len` valid bytes for the call.
        reply(session, id, ret, unsafe { bytes(msg, len) });
    });
}

/// Step 3: a host call.
unsafe extern "C" fn on_host_fn(
    token: u64,
    req: *const c_char,
    len: usize,
    user_data: *mut c_void,
) {
    forward("host call", |session| {
        // SAFETY: `ctx` is only compared.
        let call_id = unsafe { (session.entry.host_call_origin)(session.ctx(), token) };
        let origin = if call_id == 0 {
            0
        } else {
            session.ids().host.get(&call_id).copied().unwrap_or(0)
        };
        session.sink.send(&Up::HostCall {
            token,
            index: user_data as usize as u32,
            // SAFETY: the library passes `len` valid bytes for the call.
            args: Bytes(unsafe { bytes(req, len) }.to_vec()),
            origin,
        });
    });
}

/// Step 3: a host call abandoned.
unsafe extern "C" fn on_host_cancel(token: u64, _user_data: *mut c_void) {
    forward("host cancel", |session| {
        session.sink.send(&Up::HostCancel { token });
    });
}

/// Step 3: an event.
unsafe extern "C" fn on_event(_ret: c_int, msg: *const c_char, len: usize, user_data: *mut c_void) {
    forward("event", |session| {
        session.sink.send(&Up::Event {
            index: user_data as usize as u32,
            // SAFETY: the library passes `len` valid bytes for the call.
            payload: Bytes(unsafe { bytes(msg, len) }.to_vec()),
        });
    });
}
