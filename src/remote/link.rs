//! One helper process and the connection to it, seen from the host.
//!
//! # Protocol
//!
//! 1. **Find** (`process`): the library file is `library_path`, or the file
//!    this library was loaded from (`dladdr`); the helper is
//!    `helper_path`, or `hostcall-helper` beside the library's file, or the
//!    first on PATH. Either missing is an error naming what is missing.
//! 2. **Spawn** (`process`): a socketpair; the helper's end becomes its
//!    stdin and stdout (it moves it off them before loading the library),
//!    stderr is the host's. The resource limits go on its command line; it
//!    applies them before it loads the library. **Connect** (`socket`,
//!    `tcp`): to the running helper at `address`, bounded by
//!    `handshake_timeout_ms` (TCP: Nagle off).
//! 3. **Handshake** (protocol step 1), on the calling thread, bounded by
//!    `handshake_timeout_ms`: a refusal, a wrong version or hash, silence
//!    or an early exit is an error, and a spawned helper is killed and
//!    reaped.
//! 4. **Run**: a writer thread ([`Sink`]) and a reader thread. The reader
//!    hands every message to the context's loop (`Msg::Remote`). When the
//!    connection ends (end-of-file, a read error, a malformed frame) it
//!    reports how (`Msg::RemoteDied`). A spawned helper it first kills — a
//!    no-op for one that is already dead, the end of one that stopped
//!    talking — and waits for *without reaping it* (`waitid` with
//!    `WNOWAIT`, so its pid cannot be reused while this link may still
//!    signal it): the report says how it died. Of a helper reached at an
//!    address it can only say that the connection ended (that helper's
//!    other connections, and its exit status, are not this host's).
//! 5. **Close** ([`Link::close`], loop thread): shut the connection's
//!    sending side down (the helper destroys this connection's context and
//!    closes), wait (bounded) for the reader's report, kill a spawned
//!    helper that is still alive and reap it, and join both threads.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::context::config::{Connect, Isolation, Spawn};
use crate::context::{Msg, Shared};
use crate::isolation::protocol::{self, Down, FrameError, PROTOCOL_VERSION, Up};
use crate::isolation::sink::Sink;
use crate::isolation::stream::Stream;
use crate::library::Library;

/// The helper program's name, beside the library or on PATH.
pub const HELPER: &str = "hostcall-helper";

/// How long [`Link::close`] waits for a helper to end the connection by
/// itself.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// A running helper and its connection.
pub(crate) struct Link {
    pub(crate) sink: Sink,
    /// Which helper of the context this is (1 for the first; each restart
    /// counts one more): `Msg::RemoteDied` names it.
    pub(crate) generation: u64,
    pub(crate) started: Instant,
    /// The helper this link started (`process`); `None` for one reached at
    /// an address.
    child: Option<Child>,
    stream: Stream,
    /// The reader's report that the connection has ended (step 4).
    exited: mpsc::Receiver<()>,
    threads: Vec<JoinHandle<()>>,
}

/// Where the reader's report says the helper was (step 4).
enum Peer {
    /// A child of this process, not reaped before [`Link::close`].
    Child(u32),
    /// A helper at an address: `socket /run/x.sock`, `tcp host:port`.
    Address(String),
}

impl Link {
    /// Steps 1 to 4.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        isolation: &Isolation,
        generation: u64,
    ) -> Result<Link, String> {
        let prefix = shared.library.def().prefix;
        let (stream, mut child, peer) = match &isolation.connect {
            Connect::Spawn(spawn) => {
                let (stream, child) = spawn_helper(shared.library, spawn)?;
                let pid = child.id();
                (stream, Some(child), Peer::Child(pid))
            }
            Connect::Socket(path) => {
                let place = format!("socket {}", path.display());
                let stream = Stream::connect_unix(path)
                    .map_err(|e| format!("could not connect to the helper at {place}: {e}"))?;
                (stream, None, Peer::Address(place))
            }
            Connect::Tcp(address) => {
                let place = format!("tcp {address}");
                let stream = Stream::connect_tcp(address, isolation.handshake_timeout)
                    .map_err(|e| format!("could not connect to the helper at {place}: {e}"))?;
                (stream, None, Peer::Address(place))
            }
        };
        if let Err(problem) = handshake(shared, isolation, &stream) {
            let Some(child) = child.as_mut() else {
                return Err(match &peer {
                    Peer::Address(place) => format!("{problem} ({place})"),
                    Peer::Child(_) => problem,
                });
            };
            let _ = child.kill();
            let status = child.wait().ok();
            return Err(match status.and_then(|s| (!s.success()).then_some(s)) {
                Some(status) if problem.contains("closed") => {
                    format!("{problem}; {}", exit_text(status))
                }
                _ => problem,
            });
        }
        let _ = stream.set_read_timeout(None);
        let _ = stream.set_write_timeout(Some(isolation.handshake_timeout));
        let clone = |what: &str| {
            stream
                .try_clone()
                .map_err(|e| format!("could not duplicate the {what} socket: {e}"))
        };
        let end = |child: Option<Child>| {
            if let Some(mut child) = child {
                let _ = child.kill();
                let _ = child.wait();
            }
        };
        let writer_stream = match clone("writer's") {
            Ok(stream) => stream,
            Err(problem) => {
                end(child);
                return Err(problem);
            }
        };
        let (sink, writer) = match Sink::start(writer_stream, &format!("hostcall-{prefix}-send")) {
            Ok(started) => started,
            Err(e) => {
                end(child);
                return Err(format!("could not start the writer thread: {e}"));
            }
        };
        let (exited_tx, exited) = mpsc::channel();
        let reader = clone("reader's").and_then(|reader_stream| {
            let shared = Arc::downgrade(shared);
            std::thread::Builder::new()
                .name(format!("hostcall-{prefix}-recv"))
                .spawn(move || read_loop(reader_stream, shared, peer, generation, exited_tx))
                .map_err(|e| format!("could not start the reader thread: {e}"))
        });
        let reader = match reader {
            Ok(reader) => reader,
            Err(problem) => {
                sink.close();
                let _ = stream.shutdown(std::net::Shutdown::Both);
                end(child);
                let _ = writer.join();
                return Err(problem);
            }
        };
        tracing::debug!(
            pid = child.as_ref().map(Child::id),
            generation,
            "helper connected"
        );
        Ok(Link {
            sink,
            generation,
            started: Instant::now(),
            child,
            stream,
            exited,
            threads: vec![writer, reader],
        })
    }

    /// Step 5.
    pub(crate) fn close(mut self) {
        self.sink.close();
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        if self.exited.recv_timeout(EXIT_GRACE).is_err() {
            tracing::warn!(
                pid = self.child.as_ref().map(Child::id),
                "the helper did not end the connection within {EXIT_GRACE:?} of its end; dropping it"
            );
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(child) = self.child.as_mut() {
            let _ = child.wait();
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Steps 1 and 2 of `process`: the helper started, its end of the
/// socketpair on its stdin and stdout.
fn spawn_helper(library: &'static Library, spawn: &Spawn) -> Result<(Stream, Child), String> {
    let library_file = match &spawn.library {
        Some(path) => path.clone(),
        None => loaded_from(library)?,
    };
    if !library_file.is_file() {
        return Err(format!(
            "the library file {} does not exist (library_path)",
            library_file.display()
        ));
    }
    let helper = find_helper(spawn.helper.as_deref(), &library_file)?;
    let (ours, theirs) =
        UnixStream::pair().map_err(|e| format!("could not make a socketpair: {e}"))?;
    let theirs_out = theirs
        .try_clone()
        .map_err(|e| format!("could not duplicate the helper's socket: {e}"))?;
    let mut command = Command::new(&helper);
    command
        .arg("--library")
        .arg(&library_file)
        .arg("--prefix")
        .arg(library.def().prefix)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)))
        .stderr(Stdio::inherit());
    let limits = spawn.limits;
    for (flag, limit) in [
        ("--limit-address-space", limits.address_space),
        ("--limit-cpu-seconds", limits.cpu_seconds),
        ("--limit-open-files", limits.open_files),
    ] {
        if let Some(limit) = limit {
            command.arg(flag).arg(limit.to_string());
        }
    }
    let child = command
        .spawn()
        .map_err(|e| format!("could not start the helper {}: {e}", helper.display()))?;
    // `command` holds the helper's ends of the socketpair: dropped here, so
    // that the helper's death reads as end-of-file.
    drop(command);
    tracing::debug!(helper = %helper.display(), pid = child.id(), "helper started");
    Ok((Stream::from(ours), child))
}

/// Step 3.
fn handshake(shared: &Shared, isolation: &Isolation, stream: &Stream) -> Result<(), String> {
    let library = shared.library;
    let def = library.def();
    let interface_hash = library
        .description()
        .map(|d| d.interface_hash)
        .map_err(|e| e.to_string())?;
    let hello = Down::Hello {
        version: PROTOCOL_VERSION,
        prefix: def.prefix.to_owned(),
        interface_hash,
        config: shared.config.for_helper().into(),
        host_fns: def.host_fns.iter().map(|h| h.name.to_owned()).collect(),
        events: def.events.iter().map(|e| e.name.to_owned()).collect(),
    };
    let timeout = isolation.handshake_timeout;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let mut frame = Vec::new();
    protocol::encode(&hello, &mut frame);
    crate::isolation::sink::send_all(stream, &frame)
        .map_err(|e| format!("the helper did not take the handshake: {e}"))?;
    let mut body = Vec::new();
    match protocol::read::<Up>(&mut &*stream, &mut body) {
        Ok(Up::Welcome {
            version,
            interface_hash: theirs,
        }) => {
            if version != PROTOCOL_VERSION {
                Err(format!(
                    "the helper speaks protocol version {version}, this library {PROTOCOL_VERSION}"
                ))
            } else if theirs != interface_hash {
                Err(format!(
                    "the helper's library has interface hash {theirs:#018x}, this one {interface_hash:#018x}"
                ))
            } else {
                Ok(())
            }
        }
        Ok(Up::Refused { reason }) => Err(format!("the helper refused: {reason}")),
        Ok(other) => Err(format!("the helper answered the handshake with {other:?}")),
        Err(FrameError::TimedOut) => Err(format!(
            "the helper did not answer the handshake within {timeout:?} (handshake_timeout_ms)"
        )),
        Err(FrameError::Closed) => {
            Err("the helper closed the connection during the handshake".to_owned())
        }
        Err(problem) => Err(format!("the helper's handshake failed: {problem}")),
    }
}

/// Step 4, on the reader thread.
fn read_loop(
    stream: Stream,
    shared: Weak<Shared>,
    peer: Peer,
    generation: u64,
    exited: mpsc::Sender<()>,
) {
    let mut reader = std::io::BufReader::with_capacity(64 << 10, stream);
    let mut body = Vec::new();
    let ended = loop {
        match protocol::read::<Up>(&mut reader, &mut body) {
            Ok(message) => match shared.upgrade() {
                Some(shared) => shared.send(Msg::Remote(Box::new(message))),
                None => break None,
            },
            Err(FrameError::Closed) => break None,
            Err(problem) => break Some(problem),
        }
    };
    let _ = reader.get_ref().shutdown(std::net::Shutdown::Both);
    let mut text = match &peer {
        Peer::Child(pid) => {
            // SAFETY: `kill` only sends a signal; `pid` is our unreaped
            // child (only `Link::close` reaps it, after this thread
            // reports), so it names no other process.
            unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
            wait_text(*pid)
        }
        Peer::Address(place) => {
            format!("library process died: its connection ({place}) ended")
        }
    };
    if let Some(problem) = ended {
        text = match peer {
            Peer::Child(_) => format!("{text} (it was killed: {problem})"),
            Peer::Address(_) => format!("{text} (it was dropped: {problem})"),
        };
    }
    tracing::debug!(%text, "helper ended");
    let _ = exited.send(());
    if let Some(shared) = shared.upgrade() {
        shared.send(Msg::RemoteDied(Box::new((generation, text))));
    }
}

/// Waits for child `pid` to exit without reaping it; how it died.
fn wait_text(pid: u32) -> String {
    loop {
        // SAFETY: an all-zero `siginfo_t` is a valid value to be written.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid for a write; WNOWAIT leaves the child to
        // be reaped by `Link::close`.
        let waited = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if waited == 0 {
            // SAFETY: `waitid` succeeded for WEXITED, so the child fields
            // are set.
            let status = unsafe { info.si_status() };
            return match info.si_code {
                libc::CLD_EXITED => format!("library process died: exit status {status}"),
                _ => format!("library process died: {}", signal_text(status)),
            };
        }
        let error = std::io::Error::last_os_error();
        if error.kind() != std::io::ErrorKind::Interrupted {
            return format!("library process died (its exit status is unknown: {error})");
        }
    }
}

/// `signal 11 (SIGSEGV)`.
pub(crate) fn signal_text(signal: i32) -> String {
    const NAMES: &[(i32, &str)] = &[
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGSYS, "SIGSYS"),
    ];
    match NAMES.iter().find(|(n, _)| *n == signal) {
        Some((_, name)) => format!("signal {signal} ({name})"),
        None => format!("signal {signal}"),
    }
}

/// How a reaped helper ended, for a handshake error.
fn exit_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("it exited with status {code}"),
        (None, Some(signal)) => format!("it died of {}", signal_text(signal)),
        _ => format!("it ended: {status}"),
    }
}

/// The file `library` was loaded from (step 1).
fn loaded_from(library: &'static Library) -> Result<PathBuf, String> {
    // SAFETY: an all-zero `Dl_info` is a valid value to be written.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let address = std::ptr::from_ref(library).cast::<libc::c_void>();
    // SAFETY: `address` points into this library's static data; `info` is
    // valid for a write. `dli_fname`, when set, is a NUL-terminated string
    // owned by the dynamic loader for as long as the object is loaded.
    let found = unsafe { libc::dladdr(address, &mut info) } != 0 && !info.dli_fname.is_null();
    if !found {
        return Err(
            "could not tell which file this library was loaded from; set library_path".to_owned(),
        );
    }
    // SAFETY: checked non-null above; see the previous comment.
    let name = unsafe { std::ffi::CStr::from_ptr(info.dli_fname) };
    let path = PathBuf::from(
        <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(name.to_bytes()),
    );
    std::fs::canonicalize(&path).map_err(|e| {
        format!(
            "this library was loaded from {}, which cannot be found again ({e}); set library_path",
            path.display()
        )
    })
}

/// Step 1: the helper to start.
fn find_helper(configured: Option<&Path>, library_file: &Path) -> Result<PathBuf, String> {
    if let Some(path) = configured {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(format!(
                "the helper {} does not exist (helper_path)",
                path.display()
            ))
        };
    }
    let beside = library_file.with_file_name(HELPER);
    if beside.is_file() {
        return Ok(beside);
    }
    let on_path = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(HELPER))
        .find(|candidate| candidate.is_file());
    on_path.ok_or_else(|| {
        format!(
            "no {HELPER} beside {} or on PATH (build it with `cargo build -p hostcall-helper`, or set helper_path)",
            library_file.display()
        )
    })
}
