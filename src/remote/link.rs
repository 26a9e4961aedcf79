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
//! 4. **Run**: a writer thread ([`Sink`], [`Flush::Deferred`]: the loop
//!    flushes what a turn queued at the end of the turn, from its own
//!    thread when the socket takes it) and a reader *task* on the loop
//!    ([`Link::attach`]): the socket is registered with the loop's runtime,
//!    so a frame from the helper wakes the loop itself (no reader thread
//!    to hand it over), and each frame goes straight to the proxy. When the
//!    connection ends (end-of-file, a read error, a malformed frame) the
//!    task reports how (`Msg::RemoteDied`). A spawned helper it first
//!    kills — a no-op for one that is already dead, the end of one that
//!    stopped talking — and waits for *without reaping it* (`waitid` with
//!    `WNOWAIT`, so its pid cannot be reused while this link may still
//!    signal it), on a thread of its own since that wait blocks: the
//!    report says how it died. Of a helper reached at an address it can
//!    only say that the connection ended (that helper's other connections,
//!    and its exit status, are not this host's).
//! 5. **Close** ([`Link::close`], loop thread): mark the link closed (its
//!    reader task then reports nothing), let the writer send what is
//!    queued and shut the sending side down (the helper destroys this
//!    connection's context and closes), read until the helper closes
//!    (bounded), kill a spawned helper that is still alive, wait for the
//!    death report's thread if one runs, reap the helper, and join the
//!    writer.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::context::config::{Connect, Isolation, Spawn};
use crate::context::{Msg, Shared};
use crate::isolation::protocol::{self, Down, FrameError, PROTOCOL_VERSION, Up};
use crate::isolation::sink::{Flush, Sink};
use crate::isolation::stream::Stream;
use crate::library::Library;

/// The helper program's name, beside the library or on PATH.
pub const HELPER: &str = "hostcall-helper";

/// How long [`Link::close`] waits for a helper to end the connection by
/// itself.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// How much the reader task asks the socket for at a time.
const READ_CHUNK: usize = 64 << 10;

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
    /// The reader task's end of the connection and what its report says
    /// of the helper, until [`Link::attach`] starts it.
    reader: Option<(Stream, Peer)>,
    /// What the reader task and [`Link::close`] share.
    watch: Arc<Watch>,
    writer: Option<JoinHandle<()>>,
}

/// What a link's reader task and [`Link::close`] share (step 4, 5).
#[derive(Default)]
struct Watch {
    /// Set by [`Link::close`]: the end the reader task sees is no death.
    closed: AtomicBool,
    /// The thread that kills and waits for a spawned helper (step 4); joined
    /// by [`Link::close`] before it reaps the helper.
    death: Mutex<Option<JoinHandle<()>>>,
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
        let (writer_stream, reader_stream) =
            match clone("writer's").and_then(|w| Ok((w, clone("reader's")?))) {
                Ok(streams) => streams,
                Err(problem) => {
                    end(child);
                    return Err(problem);
                }
            };
        let sink = Sink::start(
            writer_stream,
            &format!("hostcall-{prefix}-send"),
            Flush::Deferred,
        );
        let (sink, writer) = match sink {
            Ok(started) => started,
            Err(e) => {
                end(child);
                return Err(format!("could not start the writer thread: {e}"));
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
            reader: Some((reader_stream, peer)),
            watch: Arc::default(),
            writer: Some(writer),
        })
    }

    /// Step 4: starts the reader task on the loop (inside its `LocalSet`),
    /// handing each message from the helper to `receive`, and flushing the
    /// sink after each read. Once per link; later calls do nothing.
    pub(crate) fn attach(&mut self, shared: &Arc<Shared>, receive: impl Fn(Up) + 'static) {
        let Some((stream, peer)) = self.reader.take() else {
            return;
        };
        let shared = Arc::downgrade(shared);
        let watch = Arc::clone(&self.watch);
        let sink = self.sink.clone();
        let generation = self.generation;
        tokio::task::spawn_local(async move {
            let ended = read_frames(stream, &receive, &sink).await;
            report(ended, shared, peer, generation, &watch);
        });
    }

    /// Step 4: writes what this turn queued.
    pub(crate) fn flush(&self) {
        self.sink.flush();
    }

    /// Whether the helper has sent something not read yet, or closed (the
    /// loop's watch before it sleeps looks).
    pub(crate) fn input_waiting(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: `byte` is valid for a write of one byte; the descriptor is
        // the stream's own, open while `self` lives.
        let peeked = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                std::ptr::from_mut(&mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        peeked >= 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::WouldBlock
    }

    /// Step 5.
    pub(crate) fn close(mut self) {
        self.watch.closed.store(true, Ordering::Release);
        self.sink.close();
        if !drain_until_closed(&self.stream, EXIT_GRACE) {
            tracing::warn!(
                pid = self.child.as_ref().map(Child::id),
                "the helper did not end the connection within {EXIT_GRACE:?} of its end; dropping it"
            );
            if let Some(child) = self.child.as_mut() {
                let _ = child.kill();
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let death = self
            .watch
            .death
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(death) = death {
            let _ = death.join();
        }
        if let Some(child) = self.child.as_mut() {
            let _ = child.wait();
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
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

/// Step 5: reads (and drops) what the helper still sends until it closes
/// the connection; `false` if it has not within `grace`.
fn drain_until_closed(stream: &Stream, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    let mut scratch = vec![0u8; READ_CHUNK];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match std::io::Read::read(&mut &*stream, &mut scratch) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            // Reset or the like: closed all the same.
            Err(_) => return true,
        }
    }
}

/// Step 4, the reader task's loop: frames until the connection ends; how
/// it ended (`None`: end-of-file between frames).
async fn read_frames(stream: Stream, receive: &impl Fn(Up), sink: &Sink) -> Option<FrameError> {
    // SAFETY: a `Stream` owns its descriptor: it stays open, the same
    // one, until the stream is dropped, which is when the `AsyncFd` is.
    let fd = match unsafe { AsyncFd::register_with_interest(stream, Interest::READABLE) } {
        Ok(fd) => fd,
        Err(e) => {
            return Some(FrameError::Io(format!(
                "could not watch the connection: {e}"
            )));
        }
    };
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    loop {
        let mut guard = match fd.readable().await {
            Ok(guard) => guard,
            Err(e) => return Some(FrameError::Io(e.to_string())),
        };
        match guard.try_io(|inner| recv_available(inner.get_ref(), &mut buf)) {
            Err(_would_block) => continue,
            Ok(Ok(0)) => {
                return (!buf.is_empty()).then_some(FrameError::Closed);
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Some(protocol::io_error(e)),
        }
        let mut at = 0;
        loop {
            match protocol::split(&buf[at..]) {
                Ok(Some(len)) => {
                    let body = &buf[at + 4..at + 4 + len];
                    match protocol::decode::<Up>(body) {
                        Ok(message) => receive(message),
                        Err(problem) => return Some(problem),
                    }
                    at += 4 + len;
                }
                Ok(None) => break,
                Err(problem) => return Some(problem),
            }
        }
        buf.drain(..at);
        sink.flush();
    }
}

/// Appends what the socket holds (up to [`READ_CHUNK`]) to `buf` without
/// blocking: how many bytes (0: end-of-file).
fn recv_available(stream: &Stream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    buf.reserve(READ_CHUNK);
    let spare = buf.spare_capacity_mut();
    // SAFETY: `spare` is valid for writes of its length; the descriptor is
    // the stream's own, open while `stream` lives.
    let got = unsafe {
        libc::recv(
            stream.as_raw_fd(),
            spare.as_mut_ptr().cast(),
            spare.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if got < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let got = got as usize;
    // SAFETY: `recv` initialised the first `got` bytes of the spare
    // capacity.
    unsafe { buf.set_len(buf.len() + got) };
    Ok(got)
}

/// Step 4, after the reader task's loop: the death report, unless the link
/// was closed.
fn report(
    ended: Option<FrameError>,
    shared: Weak<Shared>,
    peer: Peer,
    generation: u64,
    watch: &Arc<Watch>,
) {
    if watch.closed.load(Ordering::Acquire) {
        return;
    }
    match peer {
        Peer::Address(place) => {
            let mut text = format!("library process died: its connection ({place}) ended");
            if let Some(problem) = ended {
                text = format!("{text} (it was dropped: {problem})");
            }
            tracing::debug!(%text, "helper ended");
            if let Some(shared) = shared.upgrade() {
                shared.send(Msg::RemoteDied(Box::new((generation, text))));
            }
        }
        Peer::Child(pid) => {
            let mut death = watch.death.lock().unwrap_or_else(|e| e.into_inner());
            let (thread_ended, thread_shared) = (ended.clone(), shared.clone());
            let spawned = std::thread::Builder::new()
                .name("hostcall-helper-death".to_owned())
                .spawn(move || die(pid, thread_ended, &thread_shared, generation));
            match spawned {
                Ok(thread) => *death = Some(thread),
                // Waits here instead: the loop stalls until the helper
                // exits (at once after SIGKILL, but not bounded).
                Err(_) => die(pid, ended, &shared, generation),
            }
        }
    }
}

/// Step 4 for a spawned helper: kills it, waits for it without reaping it,
/// and reports how it died.
fn die(pid: u32, ended: Option<FrameError>, shared: &Weak<Shared>, generation: u64) {
    // SAFETY: `kill` only sends a signal; `pid` is our unreaped child (only
    // `Link::close` reaps it, after joining the thread this runs on), so it
    // names no other process.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let mut text = wait_text(pid);
    if let Some(problem) = ended {
        text = format!("{text} (it was killed: {problem})");
    }
    tracing::debug!(pid, %text, "helper ended");
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
